//! `flow run` when its files are damaged or taken away: a store deleted or replaced while the
//! run writes into it stops the run (the store refuses the next write, as for a full disk),
//! which ends with exit code 1 and says its results were not kept, and the run still refuses
//! the next one of its workflow; a damaged up-to-date record is moved
//! aside with a warning and the run goes on, one that cannot be opened is a store error.

mod common;

use std::path::Path;

use common::{fifo, json_of, run_in, spawn_run, text, wait_exit, wait_ready, write};

/// A workflow whose flow `wipe` takes away the store the run writes into (`script`), and a
/// flow that runs after it. `wipe` requires a first flow, so it starts once that flow's
/// result is in the store, and so once the store has begun the run: a command without
/// parents may start before that, and then the store refuses to begin the run instead.
fn store_taken_away(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        &format!(
            "[flows.first]\nshell = \"true\"\n\n\
             [flows.wipe]\nshell = {script:?}\nrequires = [\"first\"]\n\n\
             [flows.after]\nshell = \"echo after\"\nrequires = [\"wipe\"]\n"
        ),
    );
    dir
}

#[test]
fn a_store_deleted_during_the_run_ends_it_with_exit_1_saying_its_results_were_not_kept() {
    let dir = store_taken_away("rm -rf .flow");
    let out = run_in(dir.path(), &["run", "w.toml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The store refuses the first write after the deletion, which stops the run: `after`
    // does not run for nothing.
    assert!(
        stderr.contains("flow.db was deleted or replaced during run")
            && stderr.contains("results were not kept (it ended with ")
            && stderr.contains("0 failed, ")
            && stderr.contains(" cancelled of 3 flows")
            && stderr.contains("stopping the run"),
        "{stderr}"
    );
    assert!(
        !text(&out.stdout).contains("completed in"),
        "{}",
        text(&out.stdout)
    );

    let dir = store_taken_away("rm -rf .flow");
    let out = run_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["status"], "error", "{json}");
    assert_eq!(json["kind"], "store", "{json}");
    assert_eq!(json["exit_code"], 1, "{json}");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("was deleted or replaced during run"),
        "{json}"
    );
}

#[test]
fn a_store_replaced_by_a_copy_during_the_run_ends_it_with_exit_1() {
    let dir = store_taken_away("cp .flow/flow.db .flow/copy.db && mv .flow/copy.db .flow/flow.db");
    let out = run_in(dir.path(), &["run", "w.toml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("was deleted or replaced"), "{stderr}");
    // A run that leaves its store alone still succeeds, and the next one is recorded.
    let dir = store_taken_away("true");
    let out = run_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_run_whose_lock_file_was_deleted_still_refuses_the_next_run_of_its_workflow() {
    // The run stops once its store refuses a write, but `wipe` ignores SIGTERM and waits for
    // `go` (its grace is longer than the test), so the run is alive until then.
    let dir =
        store_taken_away("trap '' TERM; rm -rf .flow && echo up > ready && cat go > /dev/null");
    let toml = dir.path().join("w.toml");
    let workflow = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        workflow.replacen("[flows.wipe]\n", "[flows.wipe]\nkill_grace = \"10m\"\n", 1),
    )
    .unwrap();
    let ready = fifo(dir.path(), "ready");
    let go = fifo(dir.path(), "go");
    let first = spawn_run(dir.path());
    wait_ready(&ready);
    let out = run_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["kind"], "locked", "{json}");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("whose lock file")
            && json["message"]
                .as_str()
                .unwrap()
                .contains("was deleted while it runs"),
        "{json}"
    );
    std::fs::write(&go, "go\n").unwrap();
    let out = wait_exit(first);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was deleted or replaced during run"),
        "{stderr}"
    );
    // Its end frees the lock: the next run is not refused (its first flow takes the store
    // away again).
    std::fs::remove_file(&ready).unwrap();
    let ready = fifo(dir.path(), "ready");
    let next = spawn_run(dir.path());
    wait_ready(&ready);
    std::fs::write(&go, "go\n").unwrap();
    assert_eq!(wait_exit(next).status.code(), Some(1));
}

const DECLARED: &str = "[flows.a]\nshell = \"echo a > a.txt\"\noutputs = [\"a.txt\"]\n";

/// A folder whose one flow ran and was recorded, with the up-to-date record then overwritten
/// with bytes that are not a database (its `-wal` and `-shm` files removed).
fn damaged_record() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", DECLARED);
    let out = run_in(dir.path(), &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = dir.path().join(".flow");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(state.join(format!("flow.fresh.db{suffix}")));
    }
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(state.join("flow.fresh.db"), &garbage).unwrap();
    (dir, garbage)
}

/// The files in `.flow` whose names start with `flow.fresh.db.damaged-`.
fn set_aside(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir.join(".flow"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            (p.file_name().unwrap().to_string_lossy()).starts_with("flow.fresh.db.damaged-")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_damaged_up_to_date_record_is_moved_aside_with_a_warning_and_the_run_goes_on() {
    for extra in [&["--force-all"][..], &[]] {
        let (dir, garbage) = damaged_record();
        let mut args = vec!["run", "w.toml", "--json"];
        args.extend(extra);
        let out = run_in(dir.path(), &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {stderr}");
        assert!(
            stderr.contains("flow.fresh.db is damaged (file is not a database)")
                && stderr.contains("it was moved to")
                && stderr.contains("flows with declared files run again this time"),
            "{stderr}"
        );
        let json = json_of(&out);
        assert_eq!(
            json["flows"][0]["attempts"], 1,
            "the flow ran again: {json}"
        );
        let aside = set_aside(dir.path());
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(std::fs::read(&aside[0]).unwrap(), garbage, "kept as it was");
        // The new record works: the flow is up to date now, and nothing is said.
        let out = run_in(dir.path(), &["run", "w.toml", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
        let again = json_of(&out);
        assert_eq!(again["flows"][0]["reused_from"], json["run_id"], "{again}");
    }
}

#[test]
fn a_dry_run_on_a_damaged_up_to_date_record_plans_every_flow_and_moves_nothing() {
    let (dir, garbage) = damaged_record();
    let out = run_in(dir.path(), &["run", "w.toml", "-n"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is damaged") && stderr.contains("the next run moves the file aside"),
        "{stderr}"
    );
    assert!(set_aside(dir.path()).is_empty());
    let file = dir.path().join(".flow/flow.fresh.db");
    assert_eq!(std::fs::read(file).unwrap(), garbage);
}

#[test]
fn an_up_to_date_record_that_cannot_be_opened_is_a_store_error_and_stays_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", DECLARED);
    std::fs::create_dir_all(dir.path().join(".flow/flow.fresh.db")).unwrap();
    let out = run_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["kind"], "store", "{json}");
    let message = json["message"].as_str().unwrap();
    assert!(
        message.contains("flow.fresh.db failed: unable to open database file")
            && message.contains("Is a directory"),
        "{message}"
    );
    assert!(dir.path().join(".flow/flow.fresh.db").is_dir());
    assert!(set_aside(dir.path()).is_empty());
    // The dry run, which opens it to read only, names the cause too.
    let out = run_in(dir.path(), &["run", "w.toml", "-n"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Is a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_up_to_date_record_malformed_past_its_first_page_is_moved_aside_when_read() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", DECLARED);
    let out = run_in(dir.path(), &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Every page in the file itself, then all but the first overwritten.
    let file = dir.path().join(".flow/flow.fresh.db");
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 4096, "{} bytes", bytes.len());
    bytes[4096..].fill(0xAB);
    std::fs::write(&file, &bytes).unwrap();

    let out = run_in(dir.path(), &["run", "w.toml", "-n"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let plan = text(&out.stdout);
    assert!(plan.contains("would run a: never completed"), "{plan}");
    assert!(
        stderr.contains("malformed") && stderr.contains("it is read as empty and left where it is"),
        "{stderr}"
    );
    assert!(set_aside(dir.path()).is_empty());

    let out = run_in(dir.path(), &["run", "w.toml", "--json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("malformed") && stderr.contains("it was moved to"),
        "{stderr}"
    );
    let json = json_of(&out);
    assert_eq!(json["flows"][0]["attempts"], 1, "{json}");
    let aside = set_aside(dir.path());
    assert!(!aside.is_empty(), "nothing moved aside");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), bytes, "kept as it was");
    let out = run_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json_of(&out)["flows"][0]["reused_from"], json["run_id"]);
}

/// A result store truncated (a full disk during a copy, a bad restore) is an error that says
/// what to do with it, not only that it is malformed; it is left where it is.
#[test]
fn a_truncated_result_store_says_how_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", DECLARED);
    let out = run_in(dir.path(), &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = dir.path().join(".flow");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(state.join(format!("flow.db{suffix}")));
    }
    let db = state.join("flow.db");
    let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    file.set_len(5000).unwrap();
    drop(file);
    for args in [&["runs", "w.toml"][..], &["run", "w.toml", "-q"]] {
        let out = run_in(dir.path(), args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("flow.db` is corrupt")
                && stderr.contains("restore it from a backup, or move it aside with its -wal"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 5000);
}

/// A CI cache restored from a job that ran another version of flow holds its up-to-date
/// ledger: it is emptied (every flow runs again), and the run says why.
#[test]
fn a_ledger_of_another_version_of_flow_is_emptied_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.a]\nshell = \"echo a > a.txt\"\noutputs = [\"a.txt\"]\n",
    );
    let first = run_in(dir.path(), &["run", "w.toml", "-q"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let ledger = dir.path().join(".flow/flow.fresh.db");
    let conn = rusqlite::Connection::open(&ledger).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);

    // A dry run plans what the run will do, says why, and leaves the file as it is.
    let dry = run_in(dir.path(), &["run", "w.toml", "-n"]);
    let stderr = text(&dry.stderr);
    assert!(dry.status.success(), "{stderr}");
    assert!(
        text(&dry.stdout).contains("1 would run, 0 up to date"),
        "{}",
        text(&dry.stdout)
    );
    assert!(
        stderr.contains("(layout 99, this one uses 2): the next run empties it"),
        "{stderr}"
    );
    let conn = rusqlite::Connection::open(&ledger).unwrap();
    let layout: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(layout, 99);
    drop(conn);

    let out = run_in(dir.path(), &["run", "w.toml", "--json"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        json_of(&out)["flows"][0]["reused_from"],
        serde_json::Value::Null
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("the up-to-date ledger was written by a newer version of flow (layout 99"),
        "{stderr}"
    );
    assert!(
        stderr.contains("put `flow --version` in the cache key"),
        "{stderr}"
    );
    // Emptied once: the next run finds `a` up to date, quietly.
    let again = run_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(text(&again.stderr), "");
    assert_ne!(
        json_of(&again)["flows"][0]["reused_from"],
        serde_json::Value::Null
    );
}
