//! A run whose `flow run` was killed with SIGKILL, as every reader shows it: the flows it left
//! running are interrupted in `flow results` (table and `--json`) and `flow report` (page and
//! `--json`) alike, never "running".

mod common;

use common::*;

#[test]
fn a_flow_left_running_by_a_killed_run_is_interrupted_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.quick]\ncommand = [\"true\"]\n\
         [flows.step]\nrequires = [\"quick\"]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n",
    );
    let child = spawn_run(dir.path());
    let sleeper = wait_ready(&ready);
    // The store learns that a flow started a moment after it starts: kill the run once it
    // is recorded running, as a run killed in the middle of its work would be.
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
        if flow_entry(&json, "step")["status"] == "running" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {json}"
        );
    }
    signal(child.id(), "KILL");
    wait_exit(child);
    wait_all_dead(&[sleeper]);

    let table = text(&run_in(dir.path(), &["results", "w.toml"]).stdout);
    assert!(table.contains("step   interrupted"), "{table}");
    assert!(table.contains(", 1 interrupted\n"), "{table}");

    let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
    assert_eq!(json["status"], "interrupted", "{json}");
    assert_eq!(flow_entry(&json, "step")["status"], "interrupted", "{json}");
    assert_eq!(flow_entry(&json, "quick")["status"], "completed", "{json}");

    let page = text(&run_in(dir.path(), &["report", "w.toml", "-o", "-"]).stdout);
    assert!(
        page.contains("<span class=\"chip s-interrupted\">1 interrupted</span>"),
        "{page}"
    );
    for running in ["chip s-running", "bar s-running", "node s-running"] {
        assert!(!page.contains(running), "{page}");
    }
    assert!(page.contains("<summary>1 interrupted</summary>"), "{page}");

    let json = json_of(&run_in(dir.path(), &["report", "w.toml", "--json"]));
    assert_eq!(flow_entry(&json, "step")["status"], "interrupted", "{json}");
    assert_eq!(json["counts"]["running"], 0, "{json}");
    assert_eq!(json["counts"]["interrupted"], 1, "{json}");
}
