//! The data a report is drawn from: one entry per flow with its times relative to the start
//! of the run, the dependency edges, each flow's layer, the critical path and the failures
//! grouped by cause. Built once; the HTML page and the JSON document both read it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use flow_graph::{DependencyType, FlowGraph, FlowId};
use flow_results::{Failure, FlowResult, FlowStatus, RunRecord};

use super::critical_path::{critical_path, Span};
use super::failures::{self, FailureGroup, FailureView};
use crate::run_state::{FlowState, RunState};

/// How much of a failed flow's stderr a report keeps: its last lines, at most this many bytes.
const STDERR_TAIL_BYTES: usize = 4 * 1024;
/// ... and at most this many lines.
const STDERR_TAIL_LINES: usize = 40;

/// One flow of the run, as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowEntry {
    /// The flow.
    pub id: FlowId,
    /// Its final (or last known) state; `NotRun` for a flow a failed flow kept from running,
    /// `Pending` for a flow of the workflow with no result, `Interrupted` for one still
    /// running when its run's `flow run` died.
    pub status: FlowState,
    /// When it started (as the store recorded it: with retries, the scheduler keeps the start
    /// of the first attempt), in milliseconds since the report's time origin.
    pub start_ms: Option<f64>,
    /// When it finished, in milliseconds since the origin.
    pub end_ms: Option<f64>,
    /// How many times it was started.
    pub attempts: u32,
    /// The exit code of its process, when it exited.
    pub exit_code: Option<i32>,
    /// Why it failed or was cancelled.
    pub failure: Option<Failure>,
    /// The end of its stdout (for failed flows only, cut to a few lines): where test
    /// runners (pytest, cargo test, go test) say what failed.
    pub stdout_tail: String,
    /// The end of its stderr (for failed flows only, cut to a few lines).
    pub stderr_tail: String,
    /// Its layer in the DAG: 0 for a flow with no dependency, else one more than its
    /// deepest parent.
    pub layer: u32,
    /// Whether it is on the critical path.
    pub critical: bool,
    /// Each ended attempt, in order, from the run's attempts journal (empty when the run
    /// left none).
    pub attempt_spans: Vec<AttemptSpan>,
    /// For a flow not run because it was up to date (or reused by `--resume`): the run that
    /// produced its outputs; its exit code and attempts are that run's.
    pub up_to_date_from: Option<String>,
    /// For such a flow: how long it ran in that run, in milliseconds.
    pub up_to_date_ms: Option<f64>,
}

/// When one attempt of a flow ran, in milliseconds since the report's time origin.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptSpan {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When its command started.
    pub start_ms: f64,
    /// When it ended.
    pub end_ms: f64,
    /// How it ended, in words.
    pub end: String,
}

impl FlowEntry {
    /// How long it ran, in milliseconds, when it started and finished.
    pub fn duration_ms(&self) -> Option<f64> {
        Some(self.end_ms? - self.start_ms?)
    }

    /// How long it ran as the report shows it: for a flow up to date, in the run that
    /// produced its outputs (it took no time in this one); else [`Self::duration_ms`].
    pub fn shown_duration_ms(&self) -> Option<f64> {
        match self.up_to_date_from {
            Some(_) => self.up_to_date_ms,
            None => self.duration_ms(),
        }
    }
}

/// A dependency between two flows of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The index of the parent in [`Report::flows`].
    pub parent: usize,
    /// The index of the child.
    pub child: usize,
    /// Required or optional.
    pub kind: DependencyType,
}

/// Everything a report shows about one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The workflow's name.
    pub workflow: String,
    /// The run.
    pub run_id: String,
    /// The time origin: when the run started (or its first flow, if earlier).
    pub started_at: DateTime<Utc>,
    /// How long the run took in milliseconds: from its record, else until the last flow
    /// finished.
    pub wall_ms: f64,
    /// Whether the run record says the run ended.
    pub finished: bool,
    /// Whether it ended, is in progress or was interrupted.
    pub state: RunState,
    /// The command line that started the run, when known.
    pub command_line: Option<String>,
    /// Every flow: those of the workflow in topological order, then any others of the run.
    pub flows: Vec<FlowEntry>,
    /// The dependencies, by index into `flows`.
    pub edges: Vec<Edge>,
    /// The critical path, by index into `flows`, first flow first.
    pub critical_path: Vec<usize>,
    /// The failed flows, grouped by the flow whose failure caused theirs.
    pub failure_groups: Vec<FailureGroup>,
}

impl Report {
    /// Builds the report of `run` (in state `state`) from its `results` and, when the
    /// workflow file is at hand, its dependency `graph` (without it the report has no edges,
    /// layers or critical path beyond single flows).
    pub fn build(
        run: &RunRecord,
        state: RunState,
        results: Vec<FlowResult>,
        graph: Option<&FlowGraph>,
    ) -> Self {
        let origin = results
            .iter()
            .filter_map(|r| r.started_at)
            .chain([run.started_at])
            .min()
            .unwrap_or(run.started_at);
        let ms = |t: DateTime<Utc>| -> f64 {
            (t - origin)
                .num_microseconds()
                .map_or(f64::MAX, |us| us as f64 / 1000.0)
        };

        // Flows: the workflow's in topological order, then the run's others by id. A run that
        // ended recorded every flow it had: a flow of the file without a result joined the
        // file since, and is no part of the report (one in progress has not reached it yet).
        let in_run: std::collections::HashSet<&FlowId> =
            results.iter().map(|r| &r.flow_id).collect();
        let mut order: Vec<FlowId> = graph
            .map(|g| {
                (g.topological_order().into_iter())
                    .filter(|id| state != RunState::Ended || in_run.contains(id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        drop(in_run);
        let mut index: HashMap<FlowId, usize> = order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut by_index: Vec<Option<FlowResult>> = vec![None; order.len()];
        for result in results {
            match index.get(&result.flow_id) {
                Some(&i) => by_index[i] = Some(result),
                None => {
                    index.insert(result.flow_id.clone(), order.len());
                    order.push(result.flow_id.clone());
                    by_index.push(Some(result));
                }
            }
        }

        let edges: Vec<Edge> = graph
            .map(|g| {
                g.dependencies()
                    .into_iter()
                    .filter_map(|(parent, child, kind)| {
                        Some(Edge {
                            parent: *index.get(&parent)?,
                            child: *index.get(&child)?,
                            kind,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
        for edge in &edges {
            parents[edge.child].push(edge.parent);
        }

        let mut flows: Vec<FlowEntry> = order
            .into_iter()
            .zip(by_index)
            .map(|(id, result)| entry(id, result, state, &ms))
            .collect();
        assign_layers(&mut flows, &parents);

        let spans: Vec<Option<Span>> = flows
            .iter()
            .map(|f| {
                Some(Span {
                    start: f.start_ms?,
                    end: f.end_ms?,
                })
            })
            .collect();
        let critical = critical_path(&spans, &parents);
        for &i in &critical {
            flows[i].critical = true;
        }

        let views: Vec<FailureView<'_>> = flows
            .iter()
            .map(|f| FailureView {
                id: &f.id,
                status: f.status,
                kind: f.failure.as_ref().map(|failure| &failure.kind),
            })
            .collect();
        let failure_groups = failures::group(&views);

        let last_end = flows
            .iter()
            .filter_map(|f| f.end_ms.or(f.start_ms))
            .fold(0.0_f64, f64::max);
        let wall_ms = run
            .finished_at
            .map_or(last_end, |end| ms(end).max(last_end));
        Report {
            workflow: run.workflow.clone(),
            run_id: run.run_id.to_string(),
            started_at: origin,
            wall_ms,
            finished: run.finished_at.is_some(),
            state,
            command_line: None,
            flows,
            edges,
            critical_path: critical,
            failure_groups,
        }
    }

    /// Gives each flow the times of its attempts, from the run's attempts journal.
    pub fn add_attempts(&mut self, records: &[crate::logs::AttemptRecord]) {
        let origin = self.started_at;
        let ms = |t: DateTime<Utc>| -> f64 {
            (t - origin)
                .num_microseconds()
                .map_or(f64::MAX, |us| us as f64 / 1000.0)
        };
        let index: HashMap<&str, usize> = self
            .flows
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.as_str(), i))
            .collect();
        let mut spans: Vec<Vec<AttemptSpan>> = vec![Vec::new(); self.flows.len()];
        for record in records {
            if let Some(&i) = index.get(record.flow.as_str()) {
                spans[i].push(AttemptSpan {
                    attempt: record.attempt,
                    start_ms: ms(record.started_at),
                    end_ms: ms(record.finished_at),
                    end: record.end.clone(),
                });
            }
        }
        for (flow, mut spans) in self.flows.iter_mut().zip(spans) {
            spans.sort_by_key(|span| span.attempt);
            flow.attempt_spans = spans;
        }
    }

    /// The name in words of `state` on the page: [`FlowState::label`], but a flow still
    /// pending in a run that is over never started, and is `not run`, as `flow results`'
    /// table says (the JSON keeps `pending`).
    pub fn label(&self, state: FlowState) -> &'static str {
        match state {
            FlowState::Pending if self.state != RunState::InProgress => "not run",
            state => state.label(),
        }
    }

    /// How many flows are in `state`.
    pub fn count(&self, state: FlowState) -> usize {
        self.flows.iter().filter(|f| f.status == state).count()
    }

    /// The number of layers of the DAG.
    pub fn layer_count(&self) -> u32 {
        self.flows.iter().map(|f| f.layer + 1).max().unwrap_or(0)
    }
}

/// The entry of flow `id`, from its result if it has one, in a run in state `run`.
fn entry(
    id: FlowId,
    result: Option<FlowResult>,
    run: RunState,
    ms: &impl Fn(DateTime<Utc>) -> f64,
) -> FlowEntry {
    let Some(result) = result else {
        return FlowEntry {
            id,
            status: FlowState::Pending,
            start_ms: None,
            end_ms: None,
            attempts: 0,
            exit_code: None,
            failure: None,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            layer: 0,
            critical: false,
            attempt_spans: Vec::new(),
            up_to_date_from: None,
            up_to_date_ms: None,
        };
    };
    let (stdout_tail, stderr_tail) = if result.status == FlowStatus::Failed {
        (
            last_lines(result.stdout_tail.as_str()),
            last_lines(result.stderr_tail.as_str()),
        )
    } else {
        (String::new(), String::new())
    };
    FlowEntry {
        id,
        status: FlowState::of(&result, run),
        start_ms: result.started_at.map(ms),
        end_ms: result.finished_at.map(ms),
        attempts: result.attempts,
        exit_code: result.exit_code,
        failure: result.failure,
        stdout_tail,
        stderr_tail,
        layer: 0,
        critical: false,
        attempt_spans: Vec::new(),
        up_to_date_from: None,
        up_to_date_ms: None,
    }
}

/// Gives each flow its layer: one more than its deepest parent. `flows` is in topological
/// order for the flows with edges, so one pass suffices; the bound on rounds only guards
/// against data out of order.
fn assign_layers(flows: &mut [FlowEntry], parents: &[Vec<usize>]) {
    for _round in 0..flows.len().max(1) {
        let mut changed = false;
        for i in 0..flows.len() {
            let layer = parents[i]
                .iter()
                .map(|&p| flows[p].layer + 1)
                .max()
                .unwrap_or(0);
            if layer > flows[i].layer {
                flows[i].layer = layer;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// The last [`STDERR_TAIL_LINES`] lines of `text`, at most [`STDERR_TAIL_BYTES`] bytes, cut
/// on a character boundary.
fn last_lines(text: &str) -> String {
    let text = text.trim_end();
    let mut start = text.len().saturating_sub(STDERR_TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let text = &text[start..];
    let start = text
        .rmatch_indices('\n')
        .nth(STDERR_TAIL_LINES - 1)
        .map_or(0, |(at, _)| at + 1);
    text[start..].to_owned()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Hand-made runs for the tests of the report.

    use chrono::{TimeDelta, TimeZone};
    use flow_results::{FailureKind, RunId};

    use super::*;

    /// A hand-made flow: id, status, start and end in milliseconds after the run's start.
    pub(crate) struct Made<'a> {
        pub id: &'a str,
        pub status: FlowStatus,
        pub span: Option<(i64, i64)>,
        pub failure: Option<FailureKind>,
    }

    /// A run of `flows` with `edges` (parent, child, optional?), starting at a fixed time.
    pub(crate) fn run(
        flows: &[Made<'_>],
        edges: &[(&str, &str, DependencyType)],
    ) -> (RunRecord, Vec<FlowResult>, FlowGraph) {
        let start = Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 0).unwrap();
        let run_id = RunId::with_suffix(start, "test").unwrap();
        let mut run = RunRecord::with_id(run_id.clone(), "hand-made");
        let mut graph = FlowGraph::new();
        let mut results = Vec::new();
        for made in flows {
            let id = FlowId::new(made.id).unwrap();
            graph.add_flow(id.clone()).unwrap();
            let mut result = FlowResult::new(run_id.clone(), id, made.status);
            if let Some((from, to)) = made.span {
                result.started_at = Some(start + TimeDelta::milliseconds(from));
                result.finished_at = Some(start + TimeDelta::milliseconds(to));
                result.attempts = 1;
            }
            if let Some(kind) = &made.failure {
                result.failure = Some(Failure::new(kind.clone(), "it failed"));
                result
                    .stderr_tail
                    .push_str("line 1\n<script>alert(1)</script>\n");
            }
            results.push(result);
        }
        for &(parent, child, kind) in edges {
            graph.add_dependency(parent, child, kind).unwrap();
        }
        let last = flows.iter().filter_map(|f| f.span).map(|s| s.1).max();
        run.finished_at = last.map(|ms| start + TimeDelta::milliseconds(ms));
        (run, results, graph)
    }
}

#[cfg(test)]
#[path = "tests_model.rs"]
mod tests;
