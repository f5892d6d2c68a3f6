//! The ledger: for each flow, what its last completed run read and wrote (definition, input,
//! output and parent digests, with the run, exit code, attempts and times that produced
//! them), and the stat cache of every file hashed. An SQLite file beside the result store
//! (WAL: a killed writer leaves it whole), or one in memory.
//!
//! A flow's entry is removed before it runs and written after it completed and its outputs
//! were hashed, so a flow killed mid-run has none and runs again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use flow_results::RunId;
use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHashMap;
use serde_json::Value;

use super::damage::{self, Damaged};
use super::digest::{Digest, Stat, Stats};
use crate::CoreError;

/// What a flow's last completed run read and wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The run that produced the outputs.
    pub run_id: RunId,
    pub exit_code: Option<i32>,
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the flow returned.
    #[serde(default)]
    pub output: Value,
    /// The digest of the definition's fields (hex; each field's in [`EntryFiles`]).
    pub definition: String,
    /// The digest of all input files, of all output files (hex).
    pub inputs: String,
    pub outputs: String,
    /// Each parent with its state then (hex).
    pub parents: Vec<(String, String)>,
    /// The digest of the stats of the input files, of the output files, as they were read
    /// (hex, [`Files::stats`](super::digest::Files::stats)): while they are the same, so are
    /// the files, which are then not looked up one by one.
    #[serde(default)]
    pub input_stats: String,
    #[serde(default)]
    pub output_stats: String,
}

/// Every flow's entry, by flow id (shared: a flow found up to date hands its entry on).
pub(crate) type Entries = FxHashMap<String, Arc<Entry>>;

/// The digests of each file an entry read and wrote (read only to say which one changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntryFiles {
    /// Each field of the definition with its digest (hex).
    #[serde(default)]
    pub definition: Vec<(String, String)>,
    pub inputs: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
}

/// The ledger of one workflow's flows.
#[derive(Debug)]
pub struct Ledger {
    path: String,
    /// The file (`None` in memory).
    file: Option<PathBuf>,
    /// Whether it was opened to write (a dry run's only reads).
    writes: bool,
    conn: Mutex<Connection>,
    /// A second connection, reading the stat cache while the first reads the entries.
    reader: Option<Mutex<Connection>>,
    /// What was read ahead of the run, used if nothing was written since.
    ahead: Mutex<Option<Snapshot>>,
    /// The damaged file found where it was opened or read.
    damaged: Mutex<Option<Damaged>>,
}

/// A ledger's entries and stat cache as read ahead of a run ([`Ledger::read_ahead`]), while
/// the run is set up; the run uses them if nothing was written to the ledger since.
#[derive(Debug)]
pub struct Snapshot {
    /// The connection that read them: its `data_version` tells whether another wrote since.
    conn: Connection,
    version: i64,
    entries: Entries,
    stats: Stats,
}

/// The layout of the tables; a ledger of another layout is emptied (its flows run once more).
const VERSION: i64 = 2;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS fresh (flow TEXT PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fresh_files (flow TEXT PRIMARY KEY, files TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stats (path BLOB PRIMARY KEY, size INTEGER NOT NULL,
    mtime INTEGER NOT NULL, ino INTEGER NOT NULL, ctime INTEGER NOT NULL, digest BLOB NOT NULL);
";

impl Ledger {
    /// Opens (or makes, with its folder) the ledger file at `path`. A file SQLite finds
    /// damaged (not a database, or malformed), now or when a run first reads it, is set aside
    /// and a new one made in its place ([`Ledger::damaged`] says so; one found by the read
    /// is also logged as a warning): the ledger is a cache, which running flows again
    /// rebuilds. A file that is locked or cannot be read is not touched.
    ///
    /// # Errors
    /// [`CoreError::Ledger`] when it cannot be opened, or is damaged and cannot be moved.
    pub fn open(path: &Path) -> Result<Self, CoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| error(&shown, e))?;
        }
        let (conn, damaged) = match open_writer(path) {
            Ok(conn) => (conn, None),
            Err(e) if damage::is_damaged(&e) => {
                let moved_to = damage::set_aside(path).map_err(|io| CoreError::Ledger {
                    path: shown.clone(),
                    message: format!(
                        "{e}: the file is damaged, and moving it aside failed ({io}); delete \
                         it (with any -wal and -shm file beside it) and the next run runs its \
                         flows again"
                    ),
                })?;
                let conn = open_writer(path).map_err(|e| damage::sqlite_error(&shown, path, &e))?;
                let problem = e.to_string();
                (
                    conn,
                    Some(Damaged {
                        problem,
                        moved_to: Some(moved_to),
                    }),
                )
            }
            Err(e) => return Err(damage::sqlite_error(&shown, path, &e)),
        };
        let reader = Connection::open_with_flags(path, read_only_flags())
            .ok()
            .map(Mutex::new);
        Ok(Ledger {
            path: shown,
            file: Some(path.to_owned()),
            writes: true,
            conn: Mutex::new(conn),
            reader,
            ahead: Mutex::default(),
            damaged: Mutex::new(damaged),
        })
    }

    /// Opens the ledger file at `path` to read only (a dry run), writing nothing; an empty
    /// ledger in memory when there is no such file, a damaged one ([`Ledger::damaged`]
    /// says so; it is left where it is), or one of another version's layout (a warning says
    /// that the next run empties it).
    ///
    /// # Errors
    /// [`CoreError::Ledger`] when the file cannot be opened.
    pub fn open_read_only(path: &Path) -> Result<Self, CoreError> {
        if !path.exists() {
            return Ok(Self::in_memory());
        }
        let shown = path.display().to_string();
        let mut conn = open_reader(path).map_err(|e| damage::sqlite_error(&shown, path, &e))?;
        let mut read = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()));
        if let Err(e) = &read {
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
            ) && !has_wal(path)
            {
                // SQLite cannot make the WAL's shared-memory file (a read-only folder or
                // medium), and no WAL holds changes the file lacks (an immutable read would
                // not see them): the file alone is read, as immutable.
                conn = open_immutable(path).map_err(|e| damage::sqlite_error(&shown, path, &e))?;
                read = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()));
            }
        }
        match read {
            Ok(()) => {}
            Err(e) if damage::is_damaged(&e) => {
                let ledger = Self::in_memory();
                *lock(&ledger.damaged) = Some(Damaged {
                    problem: e.to_string(),
                    moved_to: None,
                });
                return Ok(ledger);
            }
            Err(e) => return Err(damage::sqlite_error(&shown, path, &e)),
        }
        // Another version's layout is what `Ledger::open` empties: a dry run plans as the
        // run will go, every flow that declares files to run, and says why.
        let layout: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| error(&shown, e))?;
        if layout != VERSION && layout != 0 {
            warn_other_layout(path, layout, "the next run empties it");
            return Ok(Self::in_memory());
        }
        Ok(Ledger {
            path: shown,
            file: Some(path.to_owned()),
            writes: false,
            conn: Mutex::new(conn),
            reader: None,
            ahead: Mutex::default(),
            damaged: Mutex::default(),
        })
    }

    /// The damaged file found where this ledger was opened or read, if any.
    pub fn damaged(&self) -> Option<Damaged> {
        lock(&self.damaged).clone()
    }

    /// A ledger in memory, gone with it.
    pub fn in_memory() -> Self {
        Ledger {
            path: "memory".into(),
            file: None,
            writes: true,
            conn: Mutex::new(empty()),
            reader: None,
            ahead: Mutex::default(),
            damaged: Mutex::default(),
        }
    }

    /// Reads the entries and stat cache of the ledger file at `path`, writing nothing, so
    /// that a run can read them while it sets up (before it holds its lock) and hand them
    /// to [`Ledger::with_snapshot`]. `None` when there is no such file, or one of another
    /// layout (which [`Ledger::open`] empties).
    ///
    /// # Errors
    /// [`CoreError::Ledger`] when the file cannot be read.
    pub fn read_ahead(path: &Path) -> Result<Option<Snapshot>, CoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let shown = path.display().to_string();
        let conn = open_reader(path).map_err(|e| error(&shown, e))?;
        // Taken first: any write from now on changes it.
        let version = data_version(&conn).map_err(|e| error(&shown, e))?;
        let layout: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| error(&shown, e))?;
        if layout != VERSION {
            return Ok(None);
        }
        let entries = read_entries(&conn).map_err(|e| error(&shown, e))?;
        let stats = read_stats(&conn).map_err(|e| error(&shown, e))?;
        Ok(Some(Snapshot {
            conn,
            version,
            entries,
            stats,
        }))
    }

    /// This ledger, whose run starts from `snapshot` (read by [`Ledger::read_ahead`] from
    /// the same file) if nothing was written to the file since it was read.
    #[must_use]
    pub fn with_snapshot(self, snapshot: Snapshot) -> Self {
        *lock(&self.ahead) = Some(snapshot);
        self
    }

    /// The entries and stat cache: those read ahead if the file is as they were read, else
    /// read now (the entries and the stats on two connections at once).
    pub(crate) fn load(&self) -> Result<(Entries, Stats), CoreError> {
        if let Some(ahead) = lock(&self.ahead).take() {
            match data_version(&ahead.conn) {
                Ok(version) if version == ahead.version => {
                    return Ok((ahead.entries, ahead.stats));
                }
                _ => tracing::debug!(ledger = %self.path, "written since it was read ahead"),
            }
        }
        let (entries, stats) = rayon::join(|| read_entries(&self.conn()), || self.read_stats());
        match entries.and_then(|entries| Ok((entries, stats?))) {
            Ok(both) => Ok(both),
            // Damaged past what opening it read: set aside now, the run starting from nothing.
            Err(e) if damage::is_damaged(&e) && self.file.is_some() => {
                self.start_over(e)?;
                Ok((Entries::default(), Stats::default()))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Puts the damaged file aside (or, reading only, leaves it) and goes on with a new one
    /// (an empty one in memory), saying so.
    fn start_over(&self, e: rusqlite::Error) -> Result<(), CoreError> {
        let problem = e.to_string();
        let mut conn = self.conn();
        let mut reader = self.reader.as_ref().map(lock);
        // Closed before the files move: closing a connection deletes its `-wal` file by name.
        *conn = empty();
        if let Some(reader) = reader.as_mut() {
            **reader = empty();
        }
        let moved_to = match (&self.file, self.writes) {
            (Some(file), true) => {
                let moved_to = damage::set_aside(file).map_err(|io| CoreError::Ledger {
                    path: self.path.clone(),
                    message: format!("{e}: the file is damaged, and moving it aside failed ({io})"),
                })?;
                *conn =
                    open_writer(file).map_err(|e| damage::sqlite_error(&self.path, file, &e))?;
                if let Some(reader) = reader.as_mut() {
                    if let Ok(opened) = Connection::open_with_flags(file, read_only_flags()) {
                        **reader = opened;
                    }
                }
                tracing::warn!(
                    "the up-to-date record {} is damaged ({problem}): it was moved to {} and \
                     a new one started, so the flows of this run run again",
                    self.path,
                    moved_to.display()
                );
                Some(moved_to)
            }
            _ => {
                tracing::warn!(
                    "the up-to-date record {:?} is damaged ({problem}): it is read as empty and \
                     left where it is; a run moves it aside",
                    self.path
                );
                None
            }
        };
        *lock(&self.damaged) = Some(Damaged { problem, moved_to });
        Ok(())
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    fn fail(&self, e: rusqlite::Error) -> CoreError {
        let file = self.file.as_deref().unwrap_or(Path::new(&self.path));
        damage::sqlite_error(&self.path, file, &e)
    }

    /// The stat cache.
    fn read_stats(&self) -> rusqlite::Result<Stats> {
        let conn = match &self.reader {
            Some(reader) => lock(reader),
            None => self.conn(),
        };
        read_stats(&conn)
    }

    /// The files of `flow`'s entry.
    pub(crate) fn files(&self, flow: &str) -> Option<EntryFiles> {
        let conn = self.conn();
        let text: Option<String> = conn
            .query_row(
                "SELECT files FROM fresh_files WHERE flow = ?1",
                [flow],
                |row| row.get(0),
            )
            .optional()
            .ok()
            .flatten();
        serde_json::from_str(&text?).ok()
    }

    /// Forgets `flow`'s entry: it is about to run.
    pub(crate) fn forget(&self, flow: &str) -> Result<(), CoreError> {
        self.conn()
            .execute("DELETE FROM fresh WHERE flow = ?1", [flow])
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// Forgets the entries of `flows` in one transaction: they are about to run.
    pub(crate) fn forget_all(&self, flows: &[&str]) -> Result<(), CoreError> {
        if flows.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.fail(e))?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM fresh WHERE flow = ?1")
                .map_err(|e| self.fail(e))?;
            for flow in flows {
                stmt.execute([flow]).map_err(|e| self.fail(e))?;
            }
        }
        tx.commit().map_err(|e| self.fail(e))
    }

    /// Records `flow`'s entry: it completed.
    pub(crate) fn record(
        &self,
        flow: &str,
        entry: &Entry,
        files: &EntryFiles,
    ) -> Result<(), CoreError> {
        let entry = serde_json::to_string(entry).map_err(|e| error(&self.path, e))?;
        let files = serde_json::to_string(files).map_err(|e| error(&self.path, e))?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.fail(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO fresh_files (flow, files) VALUES (?1, ?2)",
            params![flow, files],
        )
        .map_err(|e| self.fail(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO fresh (flow, entry) VALUES (?1, ?2)",
            params![flow, entry],
        )
        .map_err(|e| self.fail(e))?;
        tx.commit().map_err(|e| self.fail(e))
    }

    /// Saves stat cache entries, in one transaction.
    pub(crate) fn save_stats(&self, changed: &[(PathBuf, Stat, Digest)]) -> Result<(), CoreError> {
        use std::os::unix::ffi::OsStrExt;
        if changed.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.fail(e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO stats (path, size, mtime, ino, ctime, digest) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|e| self.fail(e))?;
            for (path, stat, digest) in changed {
                stmt.execute(params![
                    path.as_os_str().as_bytes(),
                    stat.size as i64,
                    stat.mtime_ns,
                    stat.ino as i64,
                    stat.ctime_ns,
                    digest.as_bytes().as_slice()
                ])
                .map_err(|e| self.fail(e))?;
            }
        }
        tx.commit().map_err(|e| self.fail(e))
    }
}

/// Every flow's entry in the ledger `conn` reads (an entry that cannot be read is left out:
/// its flow runs again).
fn read_entries(conn: &Connection) -> rusqlite::Result<Entries> {
    let mut stmt = conn.prepare_cached("SELECT flow, entry FROM fresh")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let rows: Vec<(String, String)> = rows.collect::<Result<_, _>>()?;
    // Parsed on every core: a large workflow has many entries.
    use rayon::prelude::*;
    Ok(rows
        .into_par_iter()
        .filter_map(|(flow, text)| Some((flow, Arc::new(serde_json::from_str(&text).ok()?))))
        .collect::<Vec<_>>()
        .into_iter()
        .collect())
}

/// The stat cache in the ledger `conn` reads.
fn read_stats(conn: &Connection) -> rusqlite::Result<Stats> {
    let mut stmt =
        conn.prepare_cached("SELECT path, size, mtime, ino, ctime, digest FROM stats")?;
    let mut rows = stmt.query([])?;
    let mut out = Stats::with_capacity_and_hasher(1 << 16, Default::default());
    while let Some(row) = rows.next()? {
        let blob = |i| row.get_ref(i).and_then(|v| Ok(v.as_blob()?));
        let path = blob(0)?;
        let Ok(digest) = <[u8; 32]>::try_from(blob(5)?) else {
            continue;
        };
        let stat = Stat {
            size: row.get::<_, i64>(1)? as u64,
            mtime_ns: row.get(2)?,
            ino: row.get::<_, i64>(3)? as u64,
            ctime_ns: row.get(4)?,
        };
        out.insert(path.into(), (stat, Digest::from_bytes(digest)));
    }
    Ok(out)
}

/// SQLite's count of the writes to the database by other connections than `conn`.
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An empty ledger in memory.
fn empty() -> Connection {
    let conn = Connection::open_in_memory().expect("SQLite opens a database in memory");
    conn.execute_batch(SCHEMA)
        .expect("the ledger's schema applies to an empty database");
    conn
}

/// A connection to the ledger file at `path` that writes, with the tables of this layout (a
/// ledger of another layout is emptied).
fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version != VERSION {
        // 0: a new file. Another layout is a cache another version of flow wrote (one
        // restored by a CI job, say): every flow runs again, and the run says why.
        if version != 0 {
            warn_other_layout(path, version, "it is emptied");
        }
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS fresh; DROP TABLE IF EXISTS fresh_files; \
             DROP TABLE IF EXISTS stats; PRAGMA user_version = {VERSION};"
        ))?;
    }
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Warns that the ledger at `path` is of `layout`, another version's, and `what` befalls it.
fn warn_other_layout(path: &Path, layout: i64, what: &str) {
    let which = if layout > VERSION {
        "a newer"
    } else {
        "an older"
    };
    tracing::warn!(
        path = %path.display(),
        "the up-to-date ledger was written by {which} version of flow (layout {layout}, this \
         one uses {VERSION}): {what}, so every flow that declares files runs once more; the \
         other version empties it in turn, so give each version its own CI cache (put \
         `flow --version` in the cache key)"
    );
}

/// A connection to the ledger file at `path` that only reads, waiting for a writer as
/// [`Ledger::open`]'s does.
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, read_only_flags())?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// Whether the WAL beside the database `path` holds frames (changes its file may lack).
fn has_wal(path: &Path) -> bool {
    std::fs::metadata(damage::with_suffix(path, "-wal")).is_ok_and(|m| m.len() > 0)
}

/// A connection to the ledger file at `path` that reads it as immutable: no lock, no WAL, no
/// shared-memory file, for a file nobody can write.
fn open_immutable(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        flow_results::immutable_uri(path),
        read_only_flags() | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
}

/// A connection that only reads; without SQLite's own mutex, since each connection is used
/// under a `Mutex` (its mutex would be taken for every column of every row read).
fn read_only_flags() -> rusqlite::OpenFlags {
    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
}

fn error(path: &str, e: impl std::fmt::Display) -> CoreError {
    CoreError::Ledger {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
#[path = "tests_ledger.rs"]
mod tests;
