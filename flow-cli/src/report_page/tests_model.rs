//! Tests of model.rs: the report's flows, edges, layers, critical path and failures.

use flow_results::FailureKind;

use super::test_support::{run, Made};
use super::*;
use DependencyType::*;
use FlowStatus::*;

fn ids(report: &Report, indexes: &[usize]) -> Vec<String> {
    indexes
        .iter()
        .map(|&i| report.flows[i].id.to_string())
        .collect()
}

#[test]
fn builds_layers_critical_path_and_failure_groups() {
    let (run, results, graph) = run(
        &[
            Made {
                id: "a",
                status: Completed,
                span: Some((0, 100)),
                failure: None,
            },
            Made {
                id: "b",
                status: Completed,
                span: Some((100, 900)),
                failure: None,
            },
            Made {
                id: "c",
                status: Failed,
                span: Some((100, 200)),
                failure: Some(FailureKind::Error),
            },
            Made {
                id: "d",
                status: Failed,
                span: None,
                failure: Some(FailureKind::Upstream {
                    flow: FlowId::new("c").unwrap(),
                }),
            },
            Made {
                id: "e",
                status: Completed,
                span: Some((900, 1000)),
                failure: None,
            },
        ],
        &[
            ("a", "b", Required),
            ("a", "c", Required),
            ("c", "d", Required),
            ("b", "e", Required),
            ("c", "e", Optional),
        ],
    );
    let report = Report::build(&run, RunState::Ended, results, Some(&graph));
    let layer = |id: &str| report.flows.iter().find(|f| f.id == id).unwrap().layer;
    assert_eq!(
        [layer("a"), layer("b"), layer("c"), layer("d"), layer("e")],
        [0, 1, 1, 2, 2]
    );
    assert_eq!(report.layer_count(), 3);
    assert_eq!(ids(&report, &report.critical_path), ["a", "b", "e"]);
    assert_eq!(report.failure_groups.len(), 1);
    let group = &report.failure_groups[0];
    assert_eq!(ids(&report, &[group.cause]), ["c"]);
    assert_eq!(ids(&report, &group.downstream), ["d"]);
    assert_eq!(report.wall_ms, 1000.0);
    assert_eq!(
        (
            report.count(FlowState::Completed),
            report.count(FlowState::Failed),
            report.count(FlowState::NotRun)
        ),
        (3, 1, 1)
    );
    assert_eq!(report.edges.len(), 5);
    let c = report.flows.iter().find(|f| f.id == "c").unwrap();
    assert!(
        c.stderr_tail.contains("<script>"),
        "kept raw; escaped when drawn"
    );
}

#[test]
fn a_flow_added_to_the_file_after_a_run_that_ended_is_left_out() {
    let (run, mut results, graph) = run(
        &[
            Made {
                id: "a",
                status: Completed,
                span: Some((0, 10)),
                failure: None,
            },
            Made {
                id: "b",
                status: Completed,
                span: Some((10, 20)),
                failure: None,
            },
        ],
        &[("a", "b", Required)],
    );
    results.retain(|r| r.flow_id != "b");
    let report = Report::build(&run, RunState::Ended, results, Some(&graph));
    let names: Vec<&str> = report.flows.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(names, ["a"]);
    assert!(report.edges.is_empty());
}

#[test]
fn flows_missing_from_a_run_in_progress_or_the_workflow_are_both_shown() {
    let (run, mut results, graph) = run(
        &[
            Made {
                id: "a",
                status: Completed,
                span: Some((0, 10)),
                failure: None,
            },
            Made {
                id: "b",
                status: Completed,
                span: Some((10, 20)),
                failure: None,
            },
        ],
        &[("a", "b", Required)],
    );
    results.retain(|r| r.flow_id != "b");
    results.push(FlowResult::new(
        run.run_id.clone(),
        FlowId::new("old").unwrap(),
        Completed,
    ));
    let report = Report::build(&run, RunState::InProgress, results, Some(&graph));
    let names: Vec<&str> = report.flows.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(names, ["a", "b", "old"]);
    assert_eq!(report.flows[1].status, FlowState::Pending);
    assert_eq!(report.edges.len(), 1);
}

#[test]
fn without_a_workflow_there_are_no_edges() {
    let (run, results, _) = run(
        &[
            Made {
                id: "a",
                status: Completed,
                span: Some((0, 10)),
                failure: None,
            },
            Made {
                id: "b",
                status: Completed,
                span: Some((10, 30)),
                failure: None,
            },
        ],
        &[],
    );
    let report = Report::build(&run, RunState::Ended, results, None);
    assert!(report.edges.is_empty());
    assert_eq!(ids(&report, &report.critical_path), ["b"]);
}

#[test]
fn stderr_keeps_the_last_lines() {
    let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
    let tail = last_lines(&text);
    assert!(tail.starts_with("line 60\n"), "{tail}");
    assert!(tail.ends_with("line 99"), "{tail}");
    let long = "é".repeat(10_000);
    assert!(last_lines(&long).len() <= STDERR_TAIL_BYTES);
}
