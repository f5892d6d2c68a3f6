//! The SQLite schema, its version in `PRAGMA user_version`, and the forward migrations that
//! bring an older database up to date.
//!
//! Migration `i` takes a database from version `i` to version `i + 1`; all pending ones run in
//! one `BEGIN IMMEDIATE` transaction, so a crash or a second process opening the same file
//! never sees half a migration. A database newer than [`LATEST`] is refused, not guessed at.
//! To change the schema, append a migration; never edit one that has shipped.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::sqlite_error;
use crate::StoreError;

/// `PRAGMA application_id` of a flow result database: "flow" in ASCII.
pub(crate) const APPLICATION_ID: i64 = 0x666C_6F77;

/// Schema version 1: runs and their results.
const V1: &str = "
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY NOT NULL,
    workflow    TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    pending     INTEGER NOT NULL DEFAULT 0,
    running     INTEGER NOT NULL DEFAULT 0,
    completed   INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    cancelled   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX runs_by_workflow ON runs (workflow, run_id);
CREATE TABLE results (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    flow_id     TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    output      TEXT NOT NULL,
    failure     TEXT,
    exit_code   INTEGER,
    attempts    INTEGER NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    fingerprint TEXT,
    job_id      TEXT,
    stdout_tail TEXT NOT NULL,
    stderr_tail TEXT NOT NULL,
    UNIQUE (run_id, flow_id)
);
";

/// The migrations, in order; `MIGRATIONS[i]` goes from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1];

/// The schema version this code writes and the newest it reads.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Checks that the database at `path` is ours (or empty) and not newer than [`LATEST`], then
/// applies the pending migrations.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sqlite_error(path, "start the schema check", e))?;
    let read_pragma = |name: &str| -> Result<i64, StoreError> {
        tx.pragma_query_value(None, name, |row| row.get(0))
            .map_err(|e| sqlite_error(path, "read the schema version", e))
    };
    let application_id = read_pragma("application_id")?;
    let version = read_pragma("user_version")?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            problem: format!(
                "it is the SQLite database of another program (application_id {application_id:#x})"
            ),
        });
    }
    if application_id == 0 {
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(|e| sqlite_error(path, "read the schema", e))?;
        if tables > 0 {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                problem: "it is a SQLite database with tables of another program".to_owned(),
            });
        }
    }
    if version > LATEST {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: LATEST,
        });
    }
    if version == LATEST {
        return Ok(());
    }
    let from = usize::try_from(version).unwrap_or(0);
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tracing::info!(path = %path.display(), to = step + 1, "migrating the result database");
        tx.execute_batch(sql)
            .map_err(|e| sqlite_error(path, "migrate the schema", e))?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .and_then(|()| tx.pragma_update(None, "user_version", LATEST))
        .and_then(|()| tx.commit())
        .map_err(|e| sqlite_error(path, "migrate the schema", e))
}

/// Checks, without writing, that the database at `path` is ours at the version this code
/// reads: [`migrate`]'s checks for a connection that may only read.
pub(crate) fn check_read_only(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let read_pragma = |name: &str| -> Result<i64, StoreError> {
        conn.pragma_query_value(None, name, |row| row.get(0))
            .map_err(|e| sqlite_error(path, "read the schema version", e))
    };
    let application_id = read_pragma("application_id")?;
    let version = read_pragma("user_version")?;
    if application_id != APPLICATION_ID {
        let problem = if application_id == 0 {
            "it has no flow results (no run was saved in it yet)".to_owned()
        } else {
            format!(
                "it is the SQLite database of another program (application_id {application_id:#x})"
            )
        };
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            problem,
        });
    }
    if version > LATEST {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: LATEST,
        });
    }
    if version < LATEST {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            problem: format!(
                "it has format version {version}, older than version {LATEST}: run `flow run` \
                 with it once to upgrade it"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_database_migrates_to_the_latest_version_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new("mem")).unwrap();
        migrate(&mut conn, Path::new("mem")).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, LATEST);
        let id: i64 = conn
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .unwrap();
        assert_eq!(id, APPLICATION_ID);
    }

    #[test]
    fn a_database_of_another_program_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let err = migrate(&mut conn, Path::new("other.db")).unwrap_err();
        assert!(
            err.to_string().contains("tables of another program"),
            "{err}"
        );
    }
}
