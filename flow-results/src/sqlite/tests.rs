//! Unit tests of the SQLite store: errors named as such, and its connection's settings.

use super::*;

#[test]
fn a_full_disk_and_a_held_lock_are_named_as_such() {
    let failure = |code| rusqlite::Error::SqliteFailure(ffi::Error::new(code), None);
    let full = sqlite_error(
        Path::new("f.db"),
        "switch to WAL mode",
        failure(ffi::SQLITE_FULL),
    );
    assert!(
        full.to_string().contains("disk or file system is full"),
        "{full}"
    );
    let busy = sqlite_error(
        Path::new("f.db"),
        "start the schema check",
        failure(ffi::SQLITE_BUSY),
    );
    assert!(
        busy.to_string().contains("locked by another process"),
        "{busy}"
    );
}

#[test]
fn the_connection_runs_in_wal_mode_with_normal_sync_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("x.db")).unwrap();
    let conn = store.conn();
    let pragma = |name: &str| -> String {
        conn.pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| match value {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(text) => text,
                other => format!("{other:?}"),
            })
            .unwrap()
    };
    assert_eq!(pragma("journal_mode"), "wal");
    assert_eq!(pragma("synchronous"), "1"); // NORMAL
    assert_eq!(pragma("foreign_keys"), "1");
    assert_eq!(pragma("ignore_check_constraints"), "1");
    assert_eq!(
        pragma("wal_autocheckpoint"),
        WAL_AUTOCHECKPOINT_PAGES.to_string()
    );
    assert_eq!(pragma("journal_size_limit"), WAL_SIZE_LIMIT.to_string());
    assert_eq!(pragma("cache_size"), (-PAGE_CACHE_KIB).to_string());
    assert_eq!(pragma("user_version"), SCHEMA_VERSION.to_string());
}

/// A finished run is in the database file itself: a copy of the file alone, taken while
/// the store is still open (as `flow run` leaves it to the exit), holds it.
#[test]
fn a_copy_of_the_file_alone_holds_a_finished_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("x.db")).unwrap();
    let mut run = RunRecord::start("w");
    store.begin_run(&run).unwrap();
    let flow = FlowId::new("a").unwrap();
    let result = FlowResult::new(run.run_id.clone(), flow, crate::FlowStatus::Completed);
    store.save_result(&result).unwrap();
    run.finished_at = Some(chrono::Utc::now());
    store.finish_run(&run).unwrap();
    let copy = dir.path().join("copy");
    fs::create_dir(&copy).unwrap();
    fs::copy(dir.path().join("x.db"), copy.join("x.db")).unwrap();
    let read = SqliteStore::open_read_only(copy.join("x.db")).unwrap();
    assert_eq!(read.results(&run.run_id).unwrap(), vec![result]);
    drop(store);
}
