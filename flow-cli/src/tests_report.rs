//! Tests of report.rs: the `--json` document, the table and the summary of a run.

use super::*;
use flow_results::{Failure, FailureKind, RunId, Tail};

fn id(s: &str) -> FlowId {
    FlowId::new(s).unwrap()
}

fn sample() -> RunReport {
    let run_id = RunId::parse("20261126T153012.123Z-3f9a").unwrap();
    let mut run = RunRecord::with_id(run_id.clone(), "etl");
    run.finished_at = Some(run.started_at + chrono::TimeDelta::milliseconds(2500));
    let mut a = FlowResult::new(run_id.clone(), id("a"), FlowStatus::Completed);
    a.exit_code = Some(0);
    a.attempts = 1;
    a.started_at = Some(run.started_at);
    a.finished_at = Some(run.started_at + chrono::TimeDelta::milliseconds(12));
    let mut b = FlowResult::new(run_id, id("b"), FlowStatus::Failed);
    b.exit_code = Some(3);
    b.attempts = 2;
    b.failure = Some(Failure::new(FailureKind::Error, "exited with code 3"));
    b.stderr_tail = Tail::new("one\ntwo\n");
    RunReport::new(
        &run,
        RunState::Ended,
        vec![b, a],
        Some(&[id("a"), id("b"), id("c")]),
    )
}

#[test]
fn json_has_the_documented_shape() {
    let json: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
    assert_eq!(json["run_id"], "20261126T153012.123Z-3f9a");
    assert_eq!(json["workflow"], "etl");
    assert_eq!(json["status"], "failed");
    let flows = json["flows"].as_array().unwrap();
    let ids: Vec<_> = flows.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(flows[0]["status"], "completed");
    assert_eq!(flows[0]["exit_code"], 0);
    assert_eq!(flows[0]["error"], serde_json::Value::Null);
    assert_eq!(flows[0]["duration_ms"], 12);
    assert_eq!(flows[0]["started_at"], "2026-11-26T15:30:12.123Z");
    assert_eq!(flows[1]["error"], "exited with code 3");
    assert_eq!(flows[1]["attempts"], 2);
    assert_eq!(flows[2]["status"], "pending");
    assert_eq!(flows[0].as_object().unwrap().len(), 11);
}

#[test]
fn table_and_summary_name_every_flow_and_the_failure() {
    let report = sample();
    let table = report.table(false);
    assert!(table.starts_with("FLOW  STATUS"), "{table}");
    assert!(table.contains("b     failed     3     2"), "{table}");
    // Never started in a run that is over: not run, as the counts line says.
    assert!(table.contains("\nc     not run    "), "{table}");
    assert!(
        report.summary(false).contains("1 not run"),
        "{}",
        report.summary(false)
    );
    let summary = report.summary(false);
    assert!(
        summary.contains("FAILED b: exited with code 3\n  stderr:\n  | one\n  | two\n"),
        "{summary}"
    );
    assert!(
        summary.ends_with("failed in 2.50s: 1 completed, 1 failed, 1 not run\n"),
        "{summary}"
    );
}

#[test]
fn table_and_summary_escape_control_characters_from_commands_and_files() {
    let mut report = sample();
    report.workflow = "w\nFAKE completed\u{1b}[31m".to_owned();
    report.flows[1].stderr_tail = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\nok".to_owned();
    report.flows[1].error = Some("exit\r\u{1b}[2K".to_owned());
    let printed = format!("{}{}", report.table(false), report.summary(false));
    assert!(
        !printed.contains('\u{1b}') && !printed.contains('\u{7}'),
        "{printed:?}"
    );
    assert!(!printed.contains('\r'), "{printed:?}");
    assert!(
        printed.contains("| \\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\n"),
        "{printed}"
    );
    assert!(
        printed.contains("`w\\nFAKE completed\\u{1b}[31m`"),
        "{printed}"
    );
}

#[test]
fn summary_shows_a_redrawn_line_as_a_terminal_shows_it() {
    let mut report = sample();
    let bar: String = (1..=50)
        .map(|i| format!("\r[{}] {}%", "#".repeat(i), i * 2))
        .collect();
    report.flows[1].stderr_tail = format!("{bar}\nerror: boom\r\n");
    let summary = report.summary(false);
    assert!(
        summary.contains(&format!(
            "  | …[{}] 100%\n  | error: boom\n",
            "#".repeat(50)
        )),
        "{summary}"
    );
    assert!(!summary.contains("\\r"), "{summary}");
    assert_eq!(crate::summary::redrawn("plain"), "plain");
}

#[test]
fn summary_of_a_stopped_run_shows_what_was_running_and_its_output() {
    let run_id = RunId::parse("20261126T153012.123Z-3f9a").unwrap();
    let mut run = RunRecord::with_id(run_id.clone(), "ci");
    run.finished_at = Some(run.started_at + chrono::TimeDelta::milliseconds(40));
    let cancelled = |flow: &str, attempts, message: &str| {
        let mut r = FlowResult::new(run_id.clone(), id(flow), FlowStatus::Cancelled);
        r.attempts = attempts;
        r.failure = Some(Failure::new(FailureKind::Cancelled, message));
        r
    };
    let mut test = cancelled("test", 1, "the command was cancelled");
    test.stdout_tail = Tail::new("running test 41 of 90\n");
    let package = cancelled("package", 0, "cancelled before it started");
    let summary = RunReport::new(
        &run,
        RunState::Ended,
        vec![test, package],
        Some(&[id("test"), id("package")]),
    )
    .summary(false);
    assert!(
        summary.starts_with(
            "STOPPED test: the command was cancelled\n  stdout:\n  | running test 41 of 90\n"
        ),
        "{summary}"
    );
    assert!(!summary.contains("package"), "{summary}");
}

#[test]
fn last_lines_keeps_the_end() {
    assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
    assert_eq!(last_lines("a\nb", 5), "a\nb");
    assert_eq!(last_lines("", 3), "");
    assert_eq!(format_ms(45), "45ms");
    assert_eq!(format_ms(1234), "1.23s");
    assert_eq!(format_ms(75_000), "1m15s");
}

/// A run where `x` failed and kept `y` and `z` (which requires `y`) from running.
fn kept_from_running() -> RunReport {
    let run_id = RunId::parse("20261126T153012.123Z-3f9a").unwrap();
    let mut run = RunRecord::with_id(run_id.clone(), "etl");
    run.finished_at = Some(run.started_at + chrono::TimeDelta::milliseconds(40));
    let mut x = FlowResult::new(run_id.clone(), id("x"), FlowStatus::Failed);
    x.exit_code = Some(1);
    x.attempts = 1;
    x.failure = Some(Failure::new(FailureKind::Error, "exited with code 1"));
    let not_run = |flow: &str| {
        let mut r = FlowResult::new(run_id.clone(), id(flow), FlowStatus::Failed);
        r.failure = Some(Failure::new(
            FailureKind::Upstream { flow: id("x") },
            "required flow `x` failed",
        ));
        r
    };
    let results = vec![x, not_run("y"), not_run("z")];
    RunReport::new(
        &run,
        RunState::Ended,
        results,
        Some(&[id("x"), id("y"), id("z")]),
    )
}

#[test]
fn a_flow_kept_from_running_by_a_failure_is_not_run_in_json_as_in_text() {
    let report = kept_from_running();
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["flows"][0]["status"], "failed");
    assert_eq!(json["flows"][0]["upstream"], serde_json::Value::Null);
    for flow in &json["flows"].as_array().unwrap()[1..] {
        assert_eq!(flow["status"], "not_run", "{flow}");
        assert_eq!(flow["upstream"], "x", "{flow}");
        assert_eq!(flow["attempts"], 0, "{flow}");
    }
    let table = report.table(false);
    assert!(
        table.contains("y     not run        0            not run: upstream `x` failed"),
        "{table}"
    );
    let summary = report.summary(false);
    assert!(
        summary.contains("  not run because `x` failed: y, z\n"),
        "{summary}"
    );
    assert!(
        summary.ends_with(": 0 completed, 1 failed, 2 not run (upstream failed)\n"),
        "{summary}"
    );
    assert_eq!(report.failure_lines(false).lines().count(), 1);
}

#[test]
fn the_run_that_ran_a_reused_flow_is_looked_for_in_its_workflow_first_then_in_others() {
    let run = |minute: u32, workflow: &str| {
        let id = RunId::parse(&format!("20261126T15{minute:02}00.000Z-{workflow}")).unwrap();
        RunRecord::with_id(id, workflow)
    };
    let runs = [
        run(1, "old"),
        run(2, "new"),
        run(3, "other"),
        run(4, "old"),
        run(5, "new"),
        run(6, "new"),
    ];
    let this = runs[4].run_id.as_str();
    let order: Vec<&str> = producer_candidates(&runs, this, "new")
        .iter()
        .map(|r| r.run_id.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "20261126T150200.000Z-new",
            "20261126T150400.000Z-old",
            "20261126T150300.000Z-other",
            "20261126T150100.000Z-old",
        ]
    );
}

/// The counts of a run still going call its running and pending flows so; once it ended, a
/// flow left running is one whose end was not recorded, and one left pending never ran.
#[test]
fn counts_of_a_run_still_going_say_running_and_pending() {
    let run_id = RunId::parse("20261126T153012.123Z-3f9a").unwrap();
    let going = RunRecord::with_id(run_id.clone(), "etl");
    let mut ended = going.clone();
    ended.finished_at = Some(ended.started_at + chrono::TimeDelta::milliseconds(5));
    let a = FlowResult::new(run_id, id("a"), FlowStatus::Running);
    let order = [id("a"), id("b")];
    let report = |run: &RunRecord, state| RunReport::new(run, state, vec![a.clone()], Some(&order));
    assert_eq!(
        report(&going, RunState::InProgress).counts(),
        "0 completed, 0 failed, 1 running, 1 pending"
    );
    assert_eq!(
        report(&ended, RunState::Ended).counts(),
        "0 completed, 0 failed, 1 not recorded as finished, 1 not run"
    );
}

#[test]
fn the_summary_shows_each_stream_that_has_output_with_its_log() {
    let out = Some("r/b.1.out");
    let err = Some("r/b.1.err");
    let eleven: String = (1..=11).map(|n| format!("{n}\n")).collect();
    let ten: String = (2..=11).map(|n| format!("  | {n}\n")).collect();
    // stdout, stderr, their log files, and what the summary shows under the FAILED line.
    let table = [
        ("", "", None, None, String::new()),
        (
            "x\n",
            "",
            out,
            None,
            "  stdout (log: r/b.1.out):\n  | x\n".to_owned(),
        ),
        (
            "",
            "w\n",
            None,
            err,
            "  stderr (log: r/b.1.err):\n  | w\n".to_owned(),
        ),
        (
            "x\n",
            "w\n",
            out,
            err,
            "  stdout (log: r/b.1.out):\n  | x\n  stderr (log: r/b.1.err):\n  | w\n".to_owned(),
        ),
        ("\n\n", "", out, None, "  log: r/b.1.out\n".to_owned()),
        (
            eleven.as_str(),
            "",
            out,
            None,
            format!("  stdout (log: r/b.1.out):\n{ten}"),
        ),
    ];
    for (stdout, stderr, stdout_log, stderr_log, shown) in table {
        let mut report = sample();
        let b = &mut report.flows[1];
        b.stdout_tail = stdout.to_owned();
        b.stderr_tail = stderr.to_owned();
        b.stdout_log = stdout_log.map(str::to_owned);
        b.stderr_log = stderr_log.map(str::to_owned);
        b.log = stderr_log.or(stdout_log).map(str::to_owned);
        let summary = report.summary(false);
        let counts = format!("{}\n", summary.lines().last().unwrap_or_default());
        let block = (summary.strip_prefix("FAILED b: exited with code 3\n"))
            .and_then(|rest| rest.strip_suffix(&counts))
            .unwrap_or_else(|| panic!("{summary}"));
        assert_eq!(
            block.trim_end_matches('\n'),
            shown.trim_end_matches('\n'),
            "{stdout:?} {stderr:?}"
        );
    }
}

/// A thousand failed samples would print fifteen thousand lines: the first twenty failed
/// flows are shown with their output, the others named in one line.
#[test]
fn the_summary_shows_twenty_failures_and_names_the_others_in_one_line() {
    let run_id = RunId::parse("20261126T153012.123Z-3f9a").unwrap();
    let run = RunRecord::with_id(run_id.clone(), "etl");
    let results: Vec<FlowResult> = (0..25)
        .map(|i| {
            let mut r =
                FlowResult::new(run_id.clone(), id(&format!("s{i:02}")), FlowStatus::Failed);
            r.failure = Some(Failure::new(FailureKind::Error, "exited with code 1"));
            r.stderr_tail = Tail::new("no such sample\n");
            r
        })
        .collect();
    let summary = RunReport::new(&run, RunState::Ended, results, None).summary(false);
    let shown = summary.matches(": exited with code 1\n  stderr:\n  | no such sample\n");
    assert_eq!(shown.count(), 20, "{summary}");
    assert!(summary.contains("FAILED s19: "), "{summary}");
    assert!(!summary.contains("FAILED s20: "), "{summary}");
    assert!(
        summary.contains(
            "FAILED 5 more flows: s20, s21, s22, s23, s24 (`flow logs FLOW` prints the output of \
             each)\n"
        ),
        "{summary}"
    );
    assert!(summary.ends_with("25 failed\n"), "{summary}");
}

/// One rule for how an ended run is said to have ended, whether it is read from its flows'
/// results or from its record's counts (`flow runs`).
#[test]
fn an_ended_run_is_stopped_failed_or_completed_by_one_rule() {
    use super::RunStatus::{self, *};
    // (cancelled, failed, never started) -> status
    for (cancelled, failed, never_started, status) in [
        (false, false, false, Completed),
        (true, false, false, Cancelled),
        (true, true, false, Cancelled),
        (false, true, false, Failed),
        (false, true, true, Failed),
        (false, false, true, Cancelled),
    ] {
        assert_eq!(
            RunStatus::ended(cancelled, failed, never_started),
            status,
            "{cancelled} {failed} {never_started}"
        );
    }
}
