//! `flow report --json`: the report's data as one JSON document, for people who build their
//! own dashboards. Flows are named by id everywhere (edges, critical path, failure groups).

use flow_graph::{DependencyType, FlowId};
use flow_results::Failure;
use serde::Serialize;

use super::model::Report;
use crate::run_state::FlowState;

/// The document's shape.
#[derive(Debug, Serialize)]
struct Document<'a> {
    workflow: &'a str,
    run_id: &'a str,
    started_at: String,
    wall_ms: f64,
    finished: bool,
    command_line: Option<&'a str>,
    counts: Counts,
    flows: Vec<Flow<'a>>,
    edges: Vec<Edge<'a>>,
    critical_path: Vec<&'a FlowId>,
    failures: Vec<Group<'a>>,
}

/// How many flows are in each state.
#[derive(Debug, Serialize)]
struct Counts {
    pending: usize,
    running: usize,
    completed: usize,
    failed: usize,
    not_run: usize,
    cancelled: usize,
    interrupted: usize,
}

#[derive(Debug, Serialize)]
struct Flow<'a> {
    id: &'a FlowId,
    status: FlowState,
    start_ms: Option<f64>,
    end_ms: Option<f64>,
    duration_ms: Option<f64>,
    attempts: u32,
    exit_code: Option<i32>,
    failure: Option<&'a Failure>,
    layer: u32,
    critical: bool,
    attempt_times: Vec<AttemptTime<'a>>,
    up_to_date_from: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct AttemptTime<'a> {
    attempt: u32,
    start_ms: f64,
    end_ms: f64,
    end: &'a str,
}

#[derive(Debug, Serialize)]
struct Edge<'a> {
    from: &'a FlowId,
    to: &'a FlowId,
    optional: bool,
}

#[derive(Debug, Serialize)]
struct Group<'a> {
    flow: &'a FlowId,
    failure: Option<&'a Failure>,
    exit_code: Option<i32>,
    attempts: u32,
    stdout_tail: &'a str,
    stderr_tail: &'a str,
    downstream: Vec<&'a FlowId>,
}

/// The report as pretty-printed JSON.
pub fn render(report: &Report) -> String {
    let id = |i: usize| &report.flows[i].id;
    let document = Document {
        workflow: &report.workflow,
        run_id: &report.run_id,
        // As `flow run --json`, `flow results --json` and `flow runs --json` write times.
        started_at: report
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        wall_ms: report.wall_ms,
        finished: report.finished,
        command_line: report.command_line.as_deref(),
        counts: Counts {
            pending: report.count(FlowState::Pending),
            running: report.count(FlowState::Running),
            completed: report.count(FlowState::Completed),
            failed: report.count(FlowState::Failed),
            not_run: report.count(FlowState::NotRun),
            cancelled: report.count(FlowState::Cancelled),
            interrupted: report.count(FlowState::Interrupted),
        },
        flows: report
            .flows
            .iter()
            .map(|f| Flow {
                id: &f.id,
                status: f.status,
                start_ms: f.start_ms,
                end_ms: f.end_ms,
                duration_ms: f.shown_duration_ms(),
                attempts: f.attempts,
                exit_code: f.exit_code,
                failure: f.failure.as_ref(),
                layer: f.layer,
                critical: f.critical,
                up_to_date_from: f.up_to_date_from.as_deref(),
                attempt_times: f
                    .attempt_spans
                    .iter()
                    .map(|a| AttemptTime {
                        attempt: a.attempt,
                        start_ms: a.start_ms,
                        end_ms: a.end_ms,
                        end: &a.end,
                    })
                    .collect(),
            })
            .collect(),
        edges: report
            .edges
            .iter()
            .map(|e| Edge {
                from: id(e.parent),
                to: id(e.child),
                optional: e.kind == DependencyType::Optional,
            })
            .collect(),
        critical_path: report.critical_path.iter().map(|&i| id(i)).collect(),
        failures: report
            .failure_groups
            .iter()
            .map(|g| {
                let cause = &report.flows[g.cause];
                Group {
                    flow: &cause.id,
                    failure: cause.failure.as_ref(),
                    exit_code: cause.exit_code,
                    attempts: cause.attempts,
                    stdout_tail: &cause.stdout_tail,
                    stderr_tail: &cause.stderr_tail,
                    downstream: g.downstream.iter().map(|&i| id(i)).collect(),
                }
            })
            .collect(),
    };
    // Serializing these plain structs cannot fail (string keys, finite or null numbers).
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use flow_graph::DependencyType::*;
    use flow_results::FailureKind;
    use flow_results::FlowStatus::*;

    use super::super::model::test_support::{run, Made};
    use super::*;
    use crate::run_state::RunState;

    #[test]
    fn the_document_names_flows_by_id() {
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
                    status: Failed,
                    span: Some((100, 150)),
                    failure: Some(FailureKind::Timeout),
                },
                Made {
                    id: "c",
                    status: Failed,
                    span: None,
                    failure: Some(FailureKind::Upstream {
                        flow: FlowId::new("b").unwrap(),
                    }),
                },
            ],
            &[("a", "b", Required), ("b", "c", Optional)],
        );
        let report = Report::build(&run, RunState::Ended, results, Some(&graph));
        let json: serde_json::Value = serde_json::from_str(&render(&report)).unwrap();
        assert_eq!(json["workflow"], "hand-made");
        let started = json["started_at"].as_str().unwrap();
        assert_eq!(
            started,
            report
                .started_at
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        );
        assert_eq!(json["counts"]["failed"], 1);
        assert_eq!(json["counts"]["not_run"], 1);
        assert_eq!(json["flows"][2]["status"], "not_run");
        assert_eq!(json["flows"][2]["failure"]["kind"], "upstream");
        assert_eq!(json["flows"][1]["id"], "b");
        assert_eq!(json["flows"][1]["duration_ms"], 50.0);
        assert_eq!(json["flows"][1]["failure"]["kind"], "timeout");
        assert_eq!(
            json["edges"][1],
            serde_json::json!({"from": "b", "to": "c", "optional": true})
        );
        assert_eq!(json["critical_path"], serde_json::json!(["a", "b"]));
        assert_eq!(json["failures"][0]["flow"], "b");
        assert_eq!(json["failures"][0]["downstream"], serde_json::json!(["c"]));
        assert!(json["failures"][0]["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("<script>"));
    }
}
