//! `flow run` when its files are damaged or taken away: a store deleted or replaced while the
//! run writes into it ends the run with exit code 1 and says its results were not kept.

mod common;

use common::{json_of, run_in, text, write};

/// A workflow whose first flow takes away the store the run writes into (`script`), and a
/// second flow that runs after it.
fn store_taken_away(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        &format!(
            "[flows.wipe]\nshell = {script:?}\n\n[flows.after]\nshell = \"echo after\"\nrequires = [\"wipe\"]\n"
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
    assert!(
        stderr.contains("flow.db was deleted or replaced during run")
            && stderr.contains("results were not kept (it ended with 2 completed, 0 failed"),
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
