//! The report's critical path is the longest chain by duration, not the chain that finished
//! last; and every attempt of a retried flow keeps its start and end, in the report's JSON and
//! drawn on its timeline.

mod common;

use std::path::Path;

use chrono::{TimeDelta, TimeZone, Utc};
use flow_graph::FlowId;
use flow_results::{open_store, FlowResult, FlowStatus, RunId, RunRecord};
use serde_json::Value;

use common::flow_in;

fn report_json(dir: &Path) -> Value {
    let out = flow_in(dir, &["report", "w.toml", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A finished flow of `run` that ran from `from` to `to` milliseconds after its start.
fn ran(run: &RunRecord, id: &str, from: i64, to: i64) -> FlowResult {
    let mut result = FlowResult::new(
        run.run_id.clone(),
        FlowId::new(id).unwrap(),
        FlowStatus::Completed,
    );
    result.started_at = Some(run.started_at + TimeDelta::milliseconds(from));
    result.finished_at = Some(run.started_at + TimeDelta::milliseconds(to));
    result.attempts = 1;
    result.exit_code = Some(0);
    result
}

#[test]
fn the_critical_path_is_the_longest_chain_not_the_one_that_finished_last() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.long]\ncommand = [\"true\"]\n\
         [flows.a]\ncommand = [\"true\"]\n\
         [flows.b]\nrequires = [\"a\"]\ncommand = [\"true\"]\n",
    )
    .unwrap();
    // `long` ran 3.6 s; `a` then `b` took 1 s in all but `b` waited for a free job and
    // finished last.
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let mut run = RunRecord::with_id(RunId::with_suffix(start, "w").unwrap(), "w");
    let results = [
        ran(&run, "long", 0, 3600),
        ran(&run, "a", 0, 100),
        ran(&run, "b", 3000, 3900),
    ];
    std::fs::create_dir_all(dir.path().join(".flow")).unwrap();
    let db = dir.path().join(".flow/flow.db");
    let store = open_store(&format!("sqlite:{}", db.display())).unwrap();
    store.begin_run(&run).unwrap();
    store.save_results(&results).unwrap();
    run.finished_at = Some(start + TimeDelta::milliseconds(3900));
    store.finish_run(&run).unwrap();
    drop(store);
    let json = report_json(dir.path());
    assert_eq!(json["critical_path"], serde_json::json!(["long"]));
}

#[test]
fn each_attempt_of_a_retried_flow_is_stored_and_drawn() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        r#"
[flows.flaky]
# Fails twice, then succeeds.
shell = """
n=$(( $(cat count 2>/dev/null || echo 0) + 1 ))
echo $n > count
[ $n -ge 3 ]
"""
retries = 2
retry_delay = "50ms"
"#,
    )
    .unwrap();
    let out = flow_in(dir.path(), &["run", "w.toml", "--report"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = report_json(dir.path());

    let flaky = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "flaky")
        .unwrap();
    let times = flaky["attempt_times"].as_array().unwrap();
    assert_eq!(times.len(), 3, "{flaky}");
    for (k, time) in times.iter().enumerate() {
        assert_eq!(time["attempt"], k as u64 + 1);
        let (start, end) = (
            time["start_ms"].as_f64().unwrap(),
            time["end_ms"].as_f64().unwrap(),
        );
        assert!(start <= end, "{time}");
        if k > 0 {
            let previous_end = times[k - 1]["end_ms"].as_f64().unwrap();
            assert!(
                start >= previous_end + 50.0,
                "the retry delay is between: {flaky}"
            );
        }
    }
    assert_eq!(times[0]["end"], "exited with code 1");
    assert_eq!(times[2]["end"], "exited with code 0");

    let reports: Vec<_> = std::fs::read_dir(dir.path().join(".flow/reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let html = std::fs::read_to_string(&reports[0]).unwrap();
    assert_eq!(
        html.matches("<rect class=\"attempt\"").count(),
        3,
        "one outline per attempt"
    );
    assert!(
        html.contains("<title>flaky: attempt 2, "),
        "the attempt is named"
    );
}
