//! A killed run after a failure: the report page names each way a flow did not run apart,
//! and every command gives the run the same status.

mod common;

use common::*;

/// The report page's summary of a killed run with a flow behind a failure and one never
/// started said `1 not run` twice, two chips alike; the first now says `not run (upstream
/// failed)`, as the counts line of `flow results` does.
#[test]
fn a_flow_behind_a_failure_and_one_never_started_are_told_apart_on_the_report_page() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.bad]\ncommand = [\"false\"]\n[flows.behind]\nrequires = [\"bad\"]\n\
         command = [\"true\"]\n[flows.step]\nwants = [\"bad\"]\n\
         shell = \"echo $$ > ready.fifo; exec sleep 300\"\n\
         [flows.after]\nrequires = [\"step\"]\ncommand = [\"true\"]\n",
    );
    kill_run_while_running(dir.path(), &ready, "step");

    let counts = text(&run_in(dir.path(), &["results", "w.toml"]).stdout);
    assert!(counts.contains("1 not run (upstream failed)"), "{counts}");
    let page = text(&run_in(dir.path(), &["report", "w.toml", "-o", "-"]).stdout);
    assert!(
        page.contains("<span class=\"chip s-not_run\">1 not run (upstream failed)</span>"),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"chip s-pending\">1 not run</span>"),
        "{page}"
    );

    // `flow runs --json` said `interrupted` where `flow results --json`, whose status it
    // claims to give, says `failed`.
    let results = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
    assert_eq!(results["status"], "failed", "{results}");
    let runs = json_of(&run_in(dir.path(), &["runs", "w.toml", "--json"]));
    assert_eq!(runs["runs"][0]["status"], results["status"], "{runs}");
}
