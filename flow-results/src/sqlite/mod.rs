//! `SqliteStore`: a result store in one SQLite file (the bundled SQLite, no system library).
//!
//! # Durability
//! The database runs in WAL mode with `synchronous = NORMAL`: a committed transaction is in
//! the WAL file, written through the operating system, before the call returns, so it
//! survives the writing process being killed (SIGKILL included, as the crash test checks).
//! It is fsynced at the next checkpoint (every 8192 WAL pages, about 32 MiB), so a power loss
//! or kernel crash may lose the last transactions, but never corrupts the database. `synchronous = FULL` would fsync every
//! commit, at a large cost per result.
//!
//! # Caveats
//! - One connection serves all threads of a process, so reads wait for writes; batch writes
//!   with `save_results` when many results arrive at once.
//! - WAL mode needs the `-wal` and `-shm` files next to the database, so its folder must be
//!   writable and on a local disk (not NFS).

mod codec;
mod schema;

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use flow_graph::FlowId;
use rusqlite::{ffi, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::file_id::FileId;
use crate::nesting::check_depth;
use crate::{FlowResult, ResultStore, RunId, RunRecord, StoreError};

pub(crate) use schema::LATEST as SCHEMA_VERSION;

/// How long a write waits for another process that holds the database lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many prepared statements the connection keeps.
const STATEMENT_CACHE: usize = 16;
/// The page cache, in KiB (SQLite's default is 2 MiB): a batch of 10 000 results fits, so a
/// large transaction does not spill pages to the WAL before it commits.
const PAGE_CACHE_KIB: i64 = 16 * 1024;
/// WAL pages between automatic checkpoints (SQLite's default is 1000). A checkpoint fsyncs
/// twice; with results saved one at a time, the default would checkpoint every few hundred
/// saves, and on a busy disk those fsyncs cost more than the saves themselves.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 8192;
/// After a checkpoint, a WAL file larger than this is truncated back to it, in bytes.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// A result store in one SQLite file.
///
/// One connection behind a mutex serves all threads; statements are prepared once and cached.
/// Every method is one transaction; [`save_results`](ResultStore::save_results) saves all
/// its results in one transaction, all or none. See the module docs for durability.
///
/// After each commit the store checks, with one `stat`, that its path still names the file it
/// opened: a file deleted or replaced while the store is open (SQLite would write on into the
/// deleted file, and everything written since would be lost) makes every write fail with
/// [`StoreError::Replaced`].
///
/// ```
/// use flow_graph::FlowId;
/// use flow_results::{FlowResult, FlowStatus, ResultStore, RunRecord, SqliteStore};
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("results.db"))?;
/// let run = RunRecord::start("nightly");
/// store.begin_run(&run)?;
/// let results: Vec<_> = ["a", "b"]
///     .into_iter()
///     .map(|flow| Ok(FlowResult::new(run.run_id.clone(), FlowId::new(flow)?, FlowStatus::Pending)))
///     .collect::<Result<_, flow_graph::InvalidFlowId>>()?;
/// store.save_results(&results)?;
/// assert_eq!(store.results(&run.run_id)?.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    /// The file opened to write (`None` when opened to read only).
    file: Option<FileId>,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens the database file at `path`, creating it when it does not exist (its folder must),
    /// and brings its schema up to date.
    ///
    /// # Errors
    /// - [`StoreError::MissingLocation`] when the folder does not exist;
    /// - [`StoreError::ReadOnly`] when the file or its folder cannot be written;
    /// - [`StoreError::NotAStore`] when the file is not a SQLite database, or the database of
    ///   another program;
    /// - [`StoreError::SchemaTooNew`] when it was written by a newer flow;
    /// - [`StoreError::Sqlite`] for other SQLite errors.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        check_location(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| sqlite_error(&path, "open the database", e))?;
        let file = FileId::of(&path).map_err(|e| StoreError::read_io("open", &path, e))?;
        configure(&conn, &path)?;
        schema::migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            path,
            file: Some(file),
            conn: Mutex::new(conn),
        })
    }

    /// Opens the existing database file at `path` to read it, writing nothing: no file, no
    /// WAL switch, no migration. It reads while another process writes (WAL readers do not
    /// wait for the writer), on read-only media and as a user who may only read the file;
    /// where SQLite cannot make the WAL's shared-memory file, the file is read as immutable.
    /// Every write through it fails with [`StoreError::ReadOnly`].
    ///
    /// # Errors
    /// - [`StoreError::Io`] when the file does not exist or cannot be read;
    /// - [`StoreError::NotAStore`] when it is not a flow result database;
    /// - [`StoreError::SchemaTooNew`] when it was written by a newer flow, and
    ///   [`StoreError::Sqlite`] when it is older than this flow (open it once to write);
    /// - [`StoreError::Sqlite`] for other SQLite errors.
    pub fn open_read_only(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                return Err(StoreError::NotAStore {
                    path,
                    problem: "it is a folder, not a SQLite database file".to_owned(),
                })
            }
            Ok(_) => {}
            Err(err) => return Err(StoreError::read_io("open", path, err)),
        }
        let conn = match open_read_only_connection(&path, false) {
            // A WAL database whose `-shm` file cannot be made or used (read-only folder or
            // media): nobody can be writing it then, so it is read as immutable.
            Err(err)
                if matches!(
                    err.sqlite_error_code(),
                    Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly)
                ) =>
            {
                open_read_only_connection(&path, true)
            }
            other => other,
        }
        .map_err(|e| sqlite_error(&path, "open the database to read", e))?;
        schema::check_read_only(&conn, &path)?;
        Ok(SqliteStore {
            path,
            file: None,
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection. A panic while it was held cannot leave a transaction open (a dropped
    /// transaction rolls back), so a poisoned lock is still safe to use.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After a commit: `Ok` when the path still names the file the store opened, else
    /// [`StoreError::Replaced`] (what was committed went into a file no one will open again).
    fn check_file(&self) -> Result<(), StoreError> {
        self.file.map_or(Ok(()), |file| file.check(&self.path))
    }

    fn error(&self, action: impl Into<String>, err: rusqlite::Error) -> StoreError {
        sqlite_error(&self.path, action, err)
    }

    /// The error of saving `result`: an unknown run, or the SQLite error.
    fn save_error(&self, result: &FlowResult, err: rusqlite::Error) -> StoreError {
        match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if e.extended_code == ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
            {
                StoreError::UnknownRun {
                    run: result.run_id.clone(),
                    flow: result.flow_id.clone(),
                    store: self.spec(),
                }
            }
            _ => self.error(
                format!(
                    "save the result of flow `{}` in run `{}`",
                    result.flow_id, result.run_id
                ),
                err,
            ),
        }
    }

    /// Writes `run` with `sql`, [`codec::INSERT_RUN`] (a run that exists is refused) or
    /// [`codec::UPSERT_RUN`].
    fn write_run(&self, sql: &str, run: &RunRecord) -> Result<(), StoreError> {
        let conn = self.conn();
        let action = || format!("save run `{}`", run.run_id);
        let mut statement = conn
            .prepare_cached(sql)
            .map_err(|e| self.error(action(), e))?;
        codec::write_run(&mut statement, run).map_err(|err| match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if e.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::RunExists {
                    run: run.run_id.clone(),
                    store: self.spec(),
                }
            }
            _ => self.error(action(), err),
        })?;
        self.check_file()
    }

    /// Runs a query that returns at most one run.
    fn query_run(
        &self,
        sql: &str,
        param: &str,
        action: &str,
    ) -> Result<Option<RunRecord>, StoreError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(sql)
            .map_err(|e| self.error(action, e))?;
        statement
            .query_row([param], |row| codec::run_from_row(&self.path, row))
            .optional()
            .map_err(|e| self.error(action, e))?
            .transpose()
    }
}

/// Checks the file's folder and the file with the standard library first, for errors that say
/// precisely what is wrong (SQLite would only say "unable to open database file").
fn check_location(path: &Path) -> Result<(), StoreError> {
    let parent = parent_of(path);
    if !parent.is_dir() {
        return Err(StoreError::MissingLocation {
            path: path.to_path_buf(),
            parent,
        });
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            problem: "it is a folder, not a SQLite database file".to_owned(),
        }),
        Ok(_) => OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(drop)
            .map_err(|e| StoreError::io("open", path, e)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(drop)
            .map_err(|e| StoreError::io("create", path, e)),
        Err(err) => Err(StoreError::read_io("read", path, err)),
    }
}

/// A read-only connection to `path`, `immutable` or not, with the busy timeout set; reading
/// the schema version makes SQLite open the file (and its WAL) now, not at the first query.
fn open_read_only_connection(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        Connection::open_with_flags(immutable_uri(path), flags)
    } else {
        Connection::open_with_flags(path, flags & !OpenFlags::SQLITE_OPEN_URI)
    }?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))?;
    Ok(conn)
}

/// The `file:` URI that opens the SQLite file at `path` as immutable (no lock, no WAL, no
/// shared-memory file: for a file nobody can be writing): absolute, every byte of the path
/// that is not plainly safe percent-encoded, so any file name works.
pub fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for &byte in absolute.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// The folder holding `path` (`.` for a bare name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Sets WAL mode, `synchronous = NORMAL`, foreign keys and the busy timeout.
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sqlite_error(path, "set the busy timeout", e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|err| match err.sqlite_error_code() {
            // WAL mode creates `-wal` and `-shm` files next to the database.
            Some(ErrorCode::CannotOpen) => StoreError::ReadOnly {
                path: parent_of(path),
                source: Box::new(err),
            },
            _ => sqlite_error(path, "switch to WAL mode", err),
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            problem: format!("SQLite cannot use WAL mode on it (journal mode stays `{mode}`)"),
        });
    }
    // The schema's `CHECK (status IN (...))` builds a temporary table each time a row is
    // written (most of the cost of saving a result); this connection writes statuses from
    // `FlowStatus` only, and reading a row checks its status anyway, so it skips the check.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .and_then(|()| conn.pragma_update(None, "ignore_check_constraints", true))
        .and_then(|()| conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB))
        .and_then(|()| conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES))
        .and_then(|()| conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT))
        .map_err(|e| sqlite_error(path, "configure the connection", e))
}

/// Turns a SQLite error into the [`StoreError`] that says what is wrong with `path`.
pub(crate) fn sqlite_error(
    path: &Path,
    action: impl Into<String>,
    err: rusqlite::Error,
) -> StoreError {
    let path = path.to_path_buf();
    // The WAL's shared-memory file (`-shm`) could not grow: its write found the disk full
    // (or over quota), which SQLite reports only as an I/O error of `xShmMap`.
    if let rusqlite::Error::SqliteFailure(e, _) = &err {
        if e.extended_code == ffi::SQLITE_IOERR_SHMSIZE {
            return StoreError::Full {
                path,
                source: Box::new(err),
            };
        }
    }
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path,
            problem: "it is not a SQLite database".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path,
            problem: "SQLite reports the database disk image is malformed; restore it from a \
                      backup, or move it aside with its -wal and -shm files to start an empty \
                      store (`sqlite3 FILE .recover` may save what it holds)"
                .to_owned(),
        },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly {
            path,
            source: Box::new(err),
        },
        Some(ErrorCode::DiskFull) => StoreError::Full {
            path,
            source: Box::new(err),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path,
            waited_s: BUSY_TIMEOUT.as_secs(),
        },
        _ => StoreError::Sqlite {
            action: action.into(),
            path,
            source: err,
        },
    }
}

impl ResultStore for SqliteStore {
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.write_run(codec::INSERT_RUN, run)
    }

    /// Saves the finished run, then moves what the WAL holds into the database file (a
    /// passive checkpoint: it waits for no reader and leaves the pages readers still use), so
    /// that a copy of the file alone holds the run. A checkpoint that fails changes nothing
    /// saved: the WAL keeps the run, as it does after a crash.
    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.write_run(codec::UPSERT_RUN, run)?;
        let checkpoint = self
            .conn()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(error) = checkpoint {
            tracing::debug!(%error, path = %self.path.display(), "no checkpoint after the run");
        }
        Ok(())
    }

    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError> {
        check_depth([result], || self.spec())?;
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(codec::UPSERT_RESULT)
            .map_err(|e| self.save_error(result, e))?;
        codec::upsert_result(&mut statement, result).map_err(|e| self.save_error(result, e))?;
        self.check_file()
    }

    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError> {
        check_depth(results, || self.spec())?;
        let mut conn = self.conn();
        let action = || format!("save {} results", results.len());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(action(), e))?;
        {
            let mut statement = tx
                .prepare_cached(codec::UPSERT_RESULT)
                .map_err(|e| self.error(action(), e))?;
            for result in results {
                codec::upsert_result(&mut statement, result)
                    .map_err(|e| self.save_error(result, e))?;
            }
        }
        tx.commit().map_err(|e| self.error(action(), e))?;
        self.check_file()
    }

    fn result(&self, run: &RunId, flow: &FlowId) -> Result<Option<FlowResult>, StoreError> {
        let conn = self.conn();
        let action = || format!("read the result of flow `{flow}` in run `{run}`");
        let mut statement = conn
            .prepare_cached(codec::SELECT_RESULT)
            .map_err(|e| self.error(action(), e))?;
        statement
            .query_row([run.as_str(), flow.as_str()], |row| {
                codec::result_from_row(&self.path, row)
            })
            .optional()
            .map_err(|e| self.error(action(), e))?
            .transpose()
    }

    fn results(&self, run: &RunId) -> Result<Vec<FlowResult>, StoreError> {
        let conn = self.conn();
        let action = || format!("read the results of run `{run}`");
        let mut statement = conn
            .prepare_cached(codec::SELECT_RESULTS)
            .map_err(|e| self.error(action(), e))?;
        let rows = statement
            .query_map([run.as_str()], |row| {
                codec::result_from_row(&self.path, row)
            })
            .map_err(|e| self.error(action(), e))?;
        let mut results = Vec::new();
        for row in rows {
            results.push(row.map_err(|e| self.error(action(), e))??);
        }
        Ok(results)
    }

    /// Counts in SQL: the results are not read back.
    fn count_reused(&self, run: &RunId) -> Result<u32, StoreError> {
        let conn = self.conn();
        let action = || format!("count the reused results of run `{run}`");
        let mut statement = conn
            .prepare_cached(codec::COUNT_REUSED)
            .map_err(|e| self.error(action(), e))?;
        statement
            .query_row([run.as_str()], |row| row.get(0))
            .map_err(|e| self.error(action(), e))
    }

    fn run(&self, run: &RunId) -> Result<Option<RunRecord>, StoreError> {
        self.query_run(
            codec::SELECT_RUN,
            run.as_str(),
            &format!("read run `{run}`"),
        )
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let conn = self.conn();
        let action = "list the runs";
        let mut statement = conn
            .prepare_cached(codec::SELECT_RUNS)
            .map_err(|e| self.error(action, e))?;
        let rows = statement
            .query_map([], |row| codec::run_from_row(&self.path, row))
            .map_err(|e| self.error(action, e))?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(row.map_err(|e| self.error(action, e))??);
        }
        Ok(runs)
    }

    fn latest_run(&self, workflow: &str) -> Result<Option<RunRecord>, StoreError> {
        self.query_run(
            codec::SELECT_LATEST_RUN,
            workflow,
            &format!("find the latest run of workflow `{workflow}`"),
        )
    }

    fn delete_run(&self, run: &RunId) -> Result<bool, StoreError> {
        let conn = self.conn();
        let action = || format!("delete run `{run}`");
        let mut statement = conn
            .prepare_cached("DELETE FROM runs WHERE run_id = ?1")
            .map_err(|e| self.error(action(), e))?;
        let deleted = statement
            .execute([run.as_str()])
            .map_err(|e| self.error(action(), e))?;
        self.check_file()?;
        Ok(deleted > 0)
    }

    fn unused_bytes(&self) -> Result<(u64, u64), StoreError> {
        let conn = self.conn();
        let pragma = |name: &str| -> Result<u64, StoreError> {
            conn.pragma_query_value(None, name, |row| row.get(0))
                .map_err(|e| self.error(format!("read `PRAGMA {name}`"), e))
        };
        let page = pragma("page_size")?;
        Ok((
            page * pragma("freelist_count")?,
            page * pragma("page_count")?,
        ))
    }

    fn compact(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute_batch("VACUUM")
            .map_err(|e| self.error("compact the database (VACUUM)", e))?;
        // The rewritten pages went through the WAL: move them into the file and empty it.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.error("empty the write-ahead log after VACUUM", e))?;
        self.check_file()
    }

    fn spec(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

#[cfg(test)]
mod tests;
