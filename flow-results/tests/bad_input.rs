//! Bad input: corrupt and truncated files, files that are not stores, schemas newer than the
//! code, missing and read-only locations. Each is a clear error naming the path and the
//! problem, never a panic, and the intact records stay readable.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{cases, flow, full_result, run_at};
use flow_results::{open_store, DirStore, ResultStore, SqliteStore, StoreError};

/// Asserts that `err` mentions `path` and every one of `needles`.
fn assert_names(err: &StoreError, path: &Path, needles: &[&str]) {
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "`{message}` does not name {}",
        path.display()
    );
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{message}` does not say `{needle}`"
        );
    }
}

/// A directory store with two results in one run and one more run; returns the folder, the
/// store and the first run's id.
fn dir_store_with_two_results() -> (tempfile::TempDir, DirStore, flow_results::RunId) {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path().join("results")).unwrap();
    let run = run_at("w", 0);
    store.begin_run(&run).unwrap();
    store.begin_run(&run_at("w", 1)).unwrap();
    store
        .save_result(&full_result(&run.run_id, "good"))
        .unwrap();
    store.save_result(&full_result(&run.run_id, "bad")).unwrap();
    (dir, store, run.run_id)
}

fn result_file(store: &DirStore, run: &flow_results::RunId, flow: &str) -> PathBuf {
    store
        .root()
        .join(run.as_str())
        .join("results")
        .join(format!("{flow}.json"))
}

/// Breaks the file of flow `bad` with `damage`, then checks the error and that `good` and the
/// runs stay readable.
fn check_damaged_result(damage: impl FnOnce(&Path), needles: &[&str]) {
    let (_dir, store, run) = dir_store_with_two_results();
    let path = result_file(&store, &run, "bad");
    damage(&path);

    let err = store.result(&run, &flow("bad")).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_names(&err, &path, needles);
    let err = store.results(&run).unwrap_err();
    assert_names(&err, &path, needles);

    assert_eq!(
        store.result(&run, &flow("good")).unwrap(),
        Some(full_result(&run, "good"))
    );
    assert_eq!(store.runs().unwrap().len(), 2);
}

#[test]
fn dir_truncated_result_file() {
    check_damaged_result(
        |path| {
            let bytes = fs::read(path).unwrap();
            fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
        },
        &["corrupt", "truncated"],
    );
}

#[test]
fn dir_empty_result_file() {
    check_damaged_result(|path| fs::write(path, "").unwrap(), &["corrupt", "empty"]);
}

#[test]
fn dir_result_file_that_is_not_json() {
    check_damaged_result(
        |path| fs::write(path, b"\x00\xffgarbage}").unwrap(),
        &["corrupt", "not valid JSON"],
    );
}

#[test]
fn dir_result_file_that_is_json_but_not_a_result() {
    check_damaged_result(
        |path| fs::write(path, r#"{"run_id": "x"}"#).unwrap(),
        &["corrupt", "not a valid record"],
    );
}

#[test]
fn dir_result_file_holding_another_flow() {
    check_damaged_result(
        |path| {
            let good = path.with_file_name("good.json");
            fs::copy(good, path).unwrap();
        },
        &["corrupt", "holds the result of flow `good`"],
    );
}

#[test]
fn dir_corrupt_run_record() {
    let (_dir, store, run) = dir_store_with_two_results();
    let path = store.root().join(run.as_str()).join("run.json");
    fs::write(&path, "{\"run_id\": \"20").unwrap();
    let err = store.run(&run).unwrap_err();
    assert_names(&err, &path, &["corrupt", "truncated"]);
    assert_names(&store.runs().unwrap_err(), &path, &["corrupt"]);
    let other = run_at("w", 1);
    assert_eq!(store.run(&other.run_id).unwrap(), Some(other));
    // The run's results do not depend on its record.
    assert_eq!(store.results(&run).unwrap().len(), 2);
}

#[test]
fn dir_leftover_temporary_files_are_invisible() {
    let (_dir, store, run) = dir_store_with_two_results();
    let results = result_file(&store, &run, "good").with_file_name(".tmp-1-2-half.json");
    fs::write(&results, "{\"half").unwrap();
    fs::create_dir(store.root().join(".tmp-1-3-20260102T030405.000Z-x")).unwrap();
    assert_eq!(store.results(&run).unwrap().len(), 2);
    assert_eq!(store.runs().unwrap().len(), 2);
}

#[test]
fn dir_format_newer_than_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    DirStore::open(&root).unwrap();
    fs::write(root.join("flow-results.json"), r#"{"format": 99}"#).unwrap();
    let err = DirStore::open(&root).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &root, &["version 99", "version 1", "upgrade flow"]);
}

#[test]
fn dir_corrupt_marker_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    DirStore::open(&root).unwrap();
    let marker = root.join("flow-results.json");
    fs::write(&marker, "nonsense").unwrap();
    assert_names(&DirStore::open(&root).unwrap_err(), &marker, &["corrupt"]);
}

#[test]
fn dir_folder_of_something_else() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = DirStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert_names(&err, dir.path(), &["not empty", "flow-results.json"]);
    // An empty folder is adopted.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    DirStore::open(&empty).unwrap();
    assert!(empty.join("flow-results.json").is_file());
}

#[test]
fn dir_path_that_is_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "x").unwrap();
    assert_names(&DirStore::open(&file).unwrap_err(), &file, &["is a file"]);
}

/// A SQLite store with results of flows `good` and `bad`.
fn sqlite_store_with_two_results() -> (tempfile::TempDir, PathBuf, flow_results::RunId) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let store = SqliteStore::open(&path).unwrap();
    let run = run_at("w", 0);
    store.begin_run(&run).unwrap();
    store
        .save_result(&full_result(&run.run_id, "good"))
        .unwrap();
    store.save_result(&full_result(&run.run_id, "bad")).unwrap();
    (dir, path, run.run_id)
}

#[test]
fn sqlite_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    fs::write(&path, "these are my notes, not a database\n".repeat(100)).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert_names(&err, &path, &["not a SQLite database"]);
    // The file is left as it was.
    assert!(fs::read_to_string(&path)
        .unwrap()
        .starts_with("these are my notes"));
}

#[test]
fn sqlite_database_of_another_program() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE accounts (id INTEGER)")
        .unwrap();
    drop(conn);
    assert_names(
        &SqliteStore::open(&path).unwrap_err(),
        &path,
        &["another program"],
    );
}

#[test]
fn sqlite_schema_newer_than_the_code() {
    let (_dir, path, _run) = sqlite_store_with_two_results();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 7).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &path, &["version 7", "version 1"]);
}

#[test]
fn sqlite_corrupt_value_in_a_row() {
    let (_dir, path, run) = sqlite_store_with_two_results();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE results SET output = '{\"cut' WHERE flow_id = 'bad'",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE results SET started_at = 'yesterday' WHERE flow_id = 'good'",
        [],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    let err = store.result(&run, &flow("bad")).unwrap_err();
    assert_names(&err, &path, &["corrupt", "`output`", "flow `bad`"]);
    let err = store.result(&run, &flow("good")).unwrap_err();
    assert_names(&err, &path, &["`started_at`", "`yesterday`"]);
    assert_eq!(store.runs().unwrap().len(), 1);
}

#[test]
fn sqlite_truncated_database_file() {
    let (_dir, path, run) = sqlite_store_with_two_results();
    let len = fs::metadata(&path).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2 + 100).unwrap();
    drop(file);
    // Either the open or the read notices; whichever does names the file.
    let outcome = SqliteStore::open(&path).and_then(|store| store.results(&run).map(drop));
    if let Err(err) = outcome {
        assert_names(&err, &path, &[]);
    }
}

#[test]
fn sqlite_path_that_is_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    assert_names(
        &SqliteStore::open(dir.path()).unwrap_err(),
        dir.path(),
        &["is a folder"],
    );
}

#[test]
fn missing_location() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such");
    for (spec, path) in [
        (
            format!("dir:{}", missing.join("results").display()),
            missing.join("results"),
        ),
        (
            format!("sqlite:{}", missing.join("x.db").display()),
            missing.join("x.db"),
        ),
    ] {
        let err = open_store(&spec).unwrap_err();
        assert!(matches!(err, StoreError::MissingLocation { .. }), "{err:?}");
        assert_names(&err, &path, &["does not exist"]);
        assert!(err
            .to_string()
            .contains(&format!("`{}`", missing.display())));
    }
    assert!(!missing.exists());
}

/// A folder this process cannot create files in: a folder with mode 555 for a normal user;
/// `/sys`, where not even root may create files, when running as root.
fn unwritable_folder(tmp: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let folder = tmp.join("locked");
    fs::create_dir(&folder).unwrap();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o555)).unwrap();
    if fs::write(folder.join("probe"), "x").is_err() {
        folder
    } else {
        PathBuf::from("/sys")
    }
}

#[test]
fn read_only_location() {
    let dir = tempfile::tempdir().unwrap();
    let locked = unwritable_folder(dir.path());
    for path in [
        locked.join("flow-results-test"),
        locked.join("flow-results-test.db"),
    ] {
        let err = if path.extension().is_some() {
            SqliteStore::open(&path).map(drop).unwrap_err()
        } else {
            DirStore::open(&path).map(drop).unwrap_err()
        };
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
        assert_names(&err, &path, &["read-only"]);
        assert!(!path.exists());
    }
}

/// Whatever bytes a result file holds, reading it gives a result or an error, never a panic,
/// and the other result stays readable.
#[test]
fn any_bytes_in_a_result_file_read_without_panic() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let (_dir, store, run) = dir_store_with_two_results();
    let path = result_file(&store, &run, "bad");
    let original = fs::read(&path).unwrap();
    let strategy = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (0..original.len()).prop_map(move |cut| original[..cut].to_vec()),
    ];
    let mut runner = TestRunner::new(Config {
        cases: cases(128),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |bytes| {
            fs::write(&path, &bytes).unwrap();
            if let Err(err) = store.result(&run, &flow("bad")) {
                prop_assert!(err.to_string().contains("bad.json"), "{}", err);
            }
            prop_assert!(store.result(&run, &flow("good")).unwrap().is_some());
            Ok(())
        })
        .unwrap();
}

/// Deletes a SQLite store's file with its `-wal`, `-shm` and `-journal`, as `rm -rf` of its
/// folder would.
fn delete_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = fs::remove_file(name);
    }
}

/// Replaces a SQLite store's file by a copy of it: `cp flow.db copy.db && mv copy.db flow.db`.
fn replace_sqlite(path: &Path) {
    let copy = path.with_file_name("copy.db");
    fs::copy(path, &copy).unwrap();
    fs::rename(&copy, path).unwrap();
}

/// Replaces a directory store's folder by a new store that holds a run of the same id, so
/// that writes by path would land in it.
fn replace_dir(path: &Path) {
    fs::rename(path, path.with_file_name("old")).unwrap();
    let other = DirStore::open(path).unwrap();
    other.begin_run(&run_at("w", 0)).unwrap();
}

/// A store whose file (SQLite) or folder (directory store) is deleted, or replaced by another
/// at its path, while it is open refuses every later write with `StoreError::Replaced`,
/// naming the path and what happened: what it wrote would otherwise go to a deleted file (and
/// be lost while every write said `Ok`) or to another store.
#[test]
fn a_store_deleted_or_replaced_while_open_refuses_every_later_write() {
    type TakeAway = fn(&Path);
    let cases: [(&str, &str, TakeAway, &str); 4] = [
        (
            "sqlite",
            "flow.db",
            delete_sqlite,
            "was deleted while it was open",
        ),
        (
            "sqlite",
            "flow.db",
            replace_sqlite,
            "was replaced by another file or folder at its path",
        ),
        (
            "dir",
            "results",
            |path| fs::remove_dir_all(path).unwrap(),
            "was deleted while it was open",
        ),
        (
            "dir",
            "results",
            replace_dir,
            "was replaced by another file or folder at its path",
        ),
    ];
    for (scheme, name, take_away, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let store = open_store(&format!("{scheme}:{}", path.display())).unwrap();
        let mut run = run_at("w", 0);
        store.begin_run(&run).unwrap();
        store
            .save_results(&[full_result(&run.run_id, "before")])
            .unwrap();
        take_away(&path);
        run.finished_at = Some(common::time(1));
        let refused = [
            store
                .save_results(&[full_result(&run.run_id, "a"), full_result(&run.run_id, "b")])
                .unwrap_err(),
            store
                .save_result(&full_result(&run.run_id, "c"))
                .unwrap_err(),
            store.finish_run(&run).unwrap_err(),
            store.begin_run(&run_at("w", 2)).unwrap_err(),
        ];
        for err in &refused {
            assert!(
                matches!(err, StoreError::Replaced { .. }),
                "{scheme}, {says}: {err:?}"
            );
            assert_names(err, &path, &[says, "open the store again"]);
        }
    }
}
