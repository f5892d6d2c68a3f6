//! A run stopped by a signal, as `flow run` and the readers of its store show it: stopped,
//! never merely failed, with what failed before the stop still failed on its flow.

mod common;

use common::*;

/// A flow failed, then the user pressed Ctrl-C: the run was stopped (exit code 130), so it
/// is `cancelled` everywhere, and the flow that failed is still `failed`. The next dry run
/// says the flow the stop cancelled before it started was not run, not that it "did not
/// complete".
#[test]
fn a_run_stopped_after_a_failure_is_cancelled_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.a]\nshell = \"echo boom >&2; exit 3\"\n\
         [flows.b]\nwants = [\"a\"]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n\
         [flows.c]\nrequires = [\"b\"]\nshell = \"touch c.txt\"\noutputs = [\"c.txt\"]\n",
    );
    let child = spawn_run(dir.path());
    let sleeper = wait_ready(&ready);
    signal(child.id(), "INT");
    let out = wait_exit(child);
    wait_all_dead(&[sleeper]);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("FAILED a (w.toml:1)"), "{summary}");
    assert!(summary.contains("` cancelled in "), "{summary}");

    let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
    assert_eq!(json["status"], "cancelled", "{json}");
    assert_eq!(flow_entry(&json, "a")["status"], "failed", "{json}");
    assert_eq!(flow_entry(&json, "b")["status"], "cancelled", "{json}");
    let table = text(&run_in(dir.path(), &["results", "w.toml"]).stdout);
    assert!(table.contains("` cancelled in "), "{table}");
    assert!(
        table.contains(": 0 completed, 1 failed, 2 cancelled"),
        "{table}"
    );

    let run = json["run_id"].as_str().unwrap();
    for args in [
        &["run", "-n", "w.toml"][..],
        &["run", "-n", "--resume", "w.toml"],
    ] {
        let plan = text(&run_in(dir.path(), args).stdout);
        let not_run = format!("would run c: not run in run {run} (it never started)\n");
        assert!(plan.contains(&not_run), "{args:?}: {plan}");
    }
    let plan = text(&run_in(dir.path(), &["run", "-n", "--resume", "w.toml"]).stdout);
    assert!(
        plan.contains(&format!("would run b: did not complete in run {run}\n")),
        "{plan}"
    );
}

/// A command that ignores SIGTERM is killed with SIGKILL after its grace period: its flow
/// says so, not only that it timed out, so the user knows why the stop took that long.
#[test]
fn a_command_that_ignores_sigterm_says_it_was_killed_after_its_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.stubborn]\nshell = \"trap '' TERM; sleep 300\"\n\
         timeout = \"100ms\"\nkill_grace = \"200ms\"\n",
    );
    let out = run_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let said = "; it did not stop on SIGTERM, so it was killed (SIGKILL) after its grace \
                period of 200ms";
    assert!(text(&out.stdout).contains(said), "{}", text(&out.stdout));
    let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
    let error = flow_entry(&json, "stubborn")["error"].as_str().unwrap();
    assert!(
        error.starts_with("the command timed out: limit 100ms"),
        "{error}"
    );
    assert!(error.ends_with(said), "{error}");
    // The report's attempt says it too (from the attempts journal).
    let json = json_of(&run_in(dir.path(), &["report", "w.toml", "--json"]));
    let end = &flow_entry(&json, "stubborn")["attempt_times"][0]["end"];
    assert!(end.as_str().unwrap().ends_with(said), "{json}");
}
