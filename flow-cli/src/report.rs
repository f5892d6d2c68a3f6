//! The report of one run, shared by `flow run` and `flow results`: the JSON document of
//! `--json` and the table (its closing summary is `summary.rs`'s).

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use flow_graph::FlowId;
use flow_results::{FailureKind, FlowResult, FlowStatus, ResultStore, RunRecord};
use serde::Serialize;

use crate::run_state::{FlowState, RunState};
use crate::terminal;

/// How a run ended, as `--json` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every flow completed.
    Completed,
    /// Some flow failed.
    Failed,
    /// The run was stopped (a signal, a store that refused a write): the flows it had not
    /// finished were cancelled. A flow that failed before the stop is still failed.
    Cancelled,
    /// The run has not finished: it is in progress.
    Running,
    /// The run never finished: its `flow run` died (SIGKILL, a crash, a store that could not
    /// record its end).
    Interrupted,
}

impl RunStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Running => "running",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// How a run that ended is said to have ended, from whether some of its flows were
    /// cancelled, failed (or did not run behind a failure), or never started: stopped (the
    /// user stopped it, also after a failure, whose flows stay failed), failed, stopped
    /// before some flows started, or completed.
    pub fn ended(cancelled: bool, failed: bool, never_started: bool) -> Self {
        if cancelled {
            RunStatus::Cancelled
        } else if failed {
            RunStatus::Failed
        } else if never_started {
            RunStatus::Cancelled
        } else {
            RunStatus::Completed
        }
    }
}

/// One flow in the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlowReport {
    /// The flow.
    pub id: String,
    /// How it ended (`not_run` when a flow it requires failed, `pending` when it has no
    /// result, `interrupted` when its run's `flow run` died while it ran).
    pub status: FlowState,
    /// The exit code of its command's last attempt, when it exited.
    pub exit_code: Option<i32>,
    /// What happened, when it did not complete.
    pub error: Option<String>,
    /// How many attempts were made.
    pub attempts: u32,
    /// When the first attempt started (RFC 3339).
    pub started_at: Option<String>,
    /// When the flow ended (RFC 3339).
    pub finished_at: Option<String>,
    /// `finished_at - started_at`, in milliseconds.
    pub duration_ms: Option<u64>,
    /// The log file of the last attempt: its stderr's, else its stdout's, when it wrote any.
    pub log: Option<String>,
    /// The failed flow that kept this one from running (it did not run itself): the first
    /// that failed on its own, of those it requires directly or through others.
    pub upstream: Option<String>,
    /// The run whose result was reused instead of running the flow (`--resume`); exit code,
    /// attempts, times and duration are then that run's.
    pub reused_from: Option<String>,
    /// The last lines of stdout (not in the JSON).
    #[serde(skip)]
    pub stdout_tail: String,
    /// The last lines of stderr (not in the JSON).
    #[serde(skip)]
    pub stderr_tail: String,
    /// The last attempt's stdout log file, when it wrote any (not in the JSON).
    #[serde(skip)]
    pub stdout_log: Option<String>,
    /// The last attempt's stderr log file, when it wrote any (not in the JSON).
    #[serde(skip)]
    pub stderr_log: Option<String>,
    /// Where the flow is defined (`FILE:LINE`), when the workflow was read (not in the JSON).
    #[serde(skip)]
    pub defined_at: Option<String>,
}

/// The report of one run: the `--json` document.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// How the run ended.
    pub status: RunStatus,
    /// Every flow: in file order when the workflow is known, else in the store's order.
    pub flows: Vec<FlowReport>,
    /// Wall time of the run in milliseconds, when it finished (not in the JSON).
    #[serde(skip)]
    pub wall_ms: Option<u64>,
}

fn rfc3339(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl FlowReport {
    /// Whether this run reused the flow (up to date, or by `--resume`): it completed without
    /// an attempt here, or its original result is attached.
    pub(crate) fn reused(&self) -> bool {
        self.reused_from.is_some() || self.completed_without_attempt()
    }

    /// Completed with no attempt in this run: reused, its original result not attached.
    fn completed_without_attempt(&self) -> bool {
        self.status == FlowState::Completed && self.attempts == 0
    }

    /// The report of a stored result of a run in state `run`.
    pub fn from_result(r: &FlowResult, run: RunState) -> Self {
        FlowReport {
            id: r.flow_id.to_string(),
            status: FlowState::of(r, run),
            exit_code: r.exit_code,
            error: r.failure.as_ref().map(|f| f.message.clone()),
            attempts: r.attempts,
            started_at: rfc3339(r.started_at),
            finished_at: rfc3339(r.finished_at),
            duration_ms: r
                .duration()
                .and_then(|d| u64::try_from(d.num_milliseconds()).ok()),
            log: None,
            upstream: match r.failure.as_ref().map(|f| &f.kind) {
                Some(FailureKind::Upstream { flow }) => Some(flow.to_string()),
                _ => None,
            },
            reused_from: None,
            stdout_tail: r.stdout_tail.as_str().to_owned(),
            stderr_tail: r.stderr_tail.as_str().to_owned(),
            stdout_log: None,
            stderr_log: None,
            defined_at: None,
        }
    }

    /// The report of a flow without a result.
    pub fn pending(id: &FlowId) -> Self {
        FlowReport {
            id: id.to_string(),
            ..FlowReport::default()
        }
    }

    /// Its id, and where it is defined when known: `a (w.toml:3)`, made safe to print.
    pub(crate) fn named(&self) -> String {
        match &self.defined_at {
            Some(at) => terminal::safe(&format!("{} ({at})", self.id)).into_owned(),
            None => terminal::safe(&self.id).into_owned(),
        }
    }
}

impl RunReport {
    /// The report of `run` (in state `state`) from its stored `results`. With `order` (the
    /// workflow's flows), the flows come in that order and flows without a result are listed
    /// as pending; results of flows not in `order` come after.
    pub fn new(
        run: &RunRecord,
        state: RunState,
        mut results: Vec<FlowResult>,
        order: Option<&[FlowId]>,
    ) -> Self {
        let flows = match order {
            Some(order) => {
                let mut by_id: std::collections::HashMap<FlowId, FlowResult> =
                    results.drain(..).map(|r| (r.flow_id.clone(), r)).collect();
                let mut flows: Vec<FlowReport> = order
                    .iter()
                    .map(|id| match by_id.remove(id) {
                        Some(r) => FlowReport::from_result(&r, state),
                        None => FlowReport::pending(id),
                    })
                    .collect();
                let mut rest: Vec<FlowResult> = by_id.into_values().collect();
                rest.sort_by(|a, b| a.flow_id.cmp(&b.flow_id));
                flows.extend(rest.iter().map(|r| FlowReport::from_result(r, state)));
                flows
            }
            None => {
                results.sort_by(|a, b| {
                    (a.started_at.is_none(), a.started_at, &a.flow_id).cmp(&(
                        b.started_at.is_none(),
                        b.started_at,
                        &b.flow_id,
                    ))
                });
                results
                    .iter()
                    .map(|r| FlowReport::from_result(r, state))
                    .collect()
            }
        };
        let any = |s: FlowState| flows.iter().any(|f| f.status == s);
        let failed = any(FlowState::Failed) || any(FlowState::NotRun);
        let status = if run.finished_at.is_some() {
            RunStatus::ended(any(FlowState::Cancelled), failed, any(FlowState::Pending))
        } else if failed {
            RunStatus::Failed
        } else if state == RunState::Interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Running
        };
        RunReport {
            run_id: run.run_id.to_string(),
            workflow: run.workflow.clone(),
            status,
            wall_ms: run
                .duration()
                .and_then(|d| u64::try_from(d.num_milliseconds()).ok()),
            flows,
        }
    }

    /// Names where each flow `wf` defines is defined (`FILE:LINE`), for its failure's line.
    pub fn attach_places(&mut self, wf: &crate::workflow::Workflow) {
        let places = wf.places();
        for flow in &mut self.flows {
            flow.defined_at = places.get(flow.id.as_str()).map(ToString::to_string);
        }
    }

    /// Fills each flow's `log` (and the log file of each stream) from the run's folder under
    /// `logs_root` (`.flow/logs`).
    pub fn attach_logs(&mut self, logs_root: &std::path::Path) {
        use crate::logs::{log_file, LogStream};
        let folder = crate::logs::run_dir(logs_root, &self.run_id);
        // One listing of the folder rather than a lookup per flow and stream: most commands
        // write nothing, and 20,000 lookups of missing files took 70 ms after a run.
        let files = crate::logs::files_in(&folder);
        for flow in &mut self.flows {
            if flow.attempts == 0 {
                continue;
            }
            let file = |stream| {
                let path = log_file(&folder, &flow.id, flow.attempts, stream);
                let listed = path.file_name().is_some_and(|name| files.contains(name));
                listed.then(|| path.display().to_string())
            };
            flow.stdout_log = file(LogStream::Stdout);
            flow.stderr_log = file(LogStream::Stderr);
            flow.log = flow.stderr_log.clone().or_else(|| flow.stdout_log.clone());
        }
    }

    /// Fills `reused_from` of each flow a resumed run reused (completed without an attempt),
    /// with the exit code, attempts, times and log of the earlier run that ran it (looked for
    /// in `store` in the order of [`producer_candidates`]). A store that cannot be read leaves
    /// the flows as they are.
    pub fn attach_reused(&mut self, store: &dyn ResultStore, logs_root: &std::path::Path) {
        self.attach_reused_from(store, logs_root, None);
    }

    /// As [`Self::attach_reused`], looking only at the runs `only` when given (the runs
    /// that produced the outputs of the flows a run found up to date, whatever their
    /// workflow), not every earlier run.
    pub fn attach_reused_from(
        &mut self,
        store: &dyn ResultStore,
        logs_root: &std::path::Path,
        only: Option<&[flow_results::RunId]>,
    ) {
        let mut wanted: Vec<usize> = (0..self.flows.len())
            .filter(|&k| self.flows[k].completed_without_attempt())
            .collect();
        if wanted.is_empty() {
            return;
        }
        let Ok(runs) = store.runs() else { return };
        let mut candidates = producer_candidates(&runs, &self.run_id, &self.workflow);
        if let Some(only) = only {
            candidates.retain(|r| only.contains(&r.run_id));
        }
        for run in candidates {
            let Ok(results) = store.results(&run.run_id) else {
                continue;
            };
            let by_id: std::collections::HashMap<&str, &FlowResult> =
                results.iter().map(|r| (r.flow_id.as_str(), r)).collect();
            wanted.retain(|&k| {
                let flow = &mut self.flows[k];
                match by_id.get(flow.id.as_str()) {
                    Some(r) if r.status == FlowStatus::Completed && r.attempts > 0 => {
                        let mut original = FlowReport::from_result(r, RunState::Ended);
                        let folder = crate::logs::run_dir(logs_root, run.run_id.as_str());
                        original.log = crate::logs::log_files(&folder, &original.id, r.attempts)
                            .last()
                            .map(|path| path.display().to_string());
                        original.reused_from = Some(run.run_id.to_string());
                        *flow = original;
                        false
                    }
                    _ => true,
                }
            });
            if wanted.is_empty() {
                break;
            }
        }
    }

    /// How many flows are in `status`.
    pub fn count(&self, status: FlowState) -> usize {
        self.flows.iter().filter(|f| f.status == status).count()
    }

    /// The JSON document, on one line.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and enums cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The flows as an aligned table.
    pub fn table(&self, colour: bool) -> String {
        let mut rows: Vec<[String; 6]> = vec![[
            "FLOW".into(),
            "STATUS".into(),
            "EXIT".into(),
            "TRIES".into(),
            "TIME".into(),
            "ERROR".into(),
        ]];
        // A flow still pending once the run is over never started: "not run", as the
        // counts line says.
        let over = self.status != RunStatus::Running;
        for f in &self.flows {
            let status = match f.status {
                _ if f.reused_from.is_some() => "up to date",
                FlowState::Pending if over => "not run",
                status => status.label(),
            };
            let note = match (&f.reused_from, &f.upstream) {
                (Some(run), _) => format!("from run {run}"),
                (None, Some(root)) if f.status == FlowState::NotRun => {
                    format!("not run: upstream `{root}` failed")
                }
                (None, _) => f.error.clone().unwrap_or_default(),
            };
            rows.push([
                terminal::safe(&f.id).into_owned(),
                status.to_owned(),
                f.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                f.attempts.to_string(),
                f.duration_ms.map(format_ms).unwrap_or_default(),
                terminal::safe(&note).into_owned(),
            ]);
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for (i, row) in rows.iter().enumerate() {
            let mut line = String::new();
            for (k, cell) in row.iter().enumerate() {
                let pad = widths[k] - cell.chars().count();
                let text = if i > 0 && k == 1 {
                    status_colour(cell, colour)
                } else {
                    cell.clone()
                };
                line.push_str(&text);
                if k + 1 < row.len() {
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The flows that failed by themselves (those kept from running by a failed parent are
    /// [`FlowState::NotRun`]).
    pub(crate) fn own_failures(&self) -> impl Iterator<Item = &FlowReport> {
        self.flows.iter().filter(|f| f.status == FlowState::Failed)
    }

    /// The flows the run's stop cancelled after they started (an attempt ran): the summary
    /// shows them under `STOPPED`; those cancelled before they started are not.
    pub(crate) fn stopped_as_they_ran(&self) -> impl Iterator<Item = &FlowReport> {
        (self.flows.iter()).filter(|f| f.status == FlowState::Cancelled && f.attempts > 0)
    }

    /// One line per flow that failed by itself, with its log files (stdout's and stderr's,
    /// those it wrote): what `--quiet` prints.
    pub fn failure_lines(&self, colour: bool) -> String {
        let mut out = String::new();
        for f in self.own_failures() {
            let error = terminal::safe(f.error.as_deref().unwrap_or("failed"));
            let logs: Vec<_> = match (&f.stdout_log, &f.stderr_log) {
                (None, None) => f.log.iter().map(|log| terminal::safe(log)).collect(),
                (out, err) => (out.iter().chain(err))
                    .map(|log| terminal::safe(log))
                    .collect(),
            };
            let log = match logs.as_slice() {
                [] => String::new(),
                [one] => format!(" (log: {one})"),
                many => format!(" (logs: {})", many.join(", ")),
            };
            let _ = writeln!(
                out,
                "{} {}: {error}{log}",
                terminal::red("FAILED", colour),
                f.named()
            );
        }
        out
    }

    /// How many flows ended how, in words: `1 completed, 1 failed, 1 not run (upstream
    /// failed)`. A flow that did not run because a parent failed is not counted as failed.
    pub fn counts(&self) -> String {
        let reused = self.flows.iter().filter(|f| f.reused()).count();
        let mut counts = format!("{} completed", self.count(FlowState::Completed));
        if reused > 0 {
            let _ = write!(counts, " ({reused} up to date)");
        }
        let _ = write!(counts, ", {} failed", self.own_failures().count());
        // In a run still going, running and pending flows are just that; once it ended, a
        // flow left running is one whose end the store did not record (its last write was
        // refused), and one left pending never ran.
        let going = self.status == RunStatus::Running;
        for (n, name) in [
            (self.count(FlowState::Cancelled), "cancelled"),
            (self.count(FlowState::NotRun), "not run (upstream failed)"),
            (
                self.count(FlowState::Running),
                if going {
                    "running"
                } else {
                    "not recorded as finished"
                },
            ),
            (self.count(FlowState::Interrupted), "interrupted"),
            (
                self.count(FlowState::Pending),
                if going { "pending" } else { "not run" },
            ),
        ] {
            if n > 0 {
                let _ = write!(counts, ", {n} {name}");
            }
        }
        if reused > 0 && reused == self.flows.len() {
            counts.push_str("; nothing ran: every flow is up to date");
        }
        counts
    }
}

/// Where to look, in order, for the run that ran a flow that run `run_id` of `workflow` reused
/// (completed without an attempt): the earlier runs of `workflow`, newest first, then the
/// earlier runs of other workflows, newest first. The ledger that finds a flow up to date is
/// the store's, by flow id: the run that wrote its files may be of the workflow under its old
/// name, or of another workflow of the same folder with a flow of the same id and definition.
/// `flow results`, `flow report` and `flow prune` (which keeps those runs) follow this order.
pub fn producer_candidates<'a>(
    runs: &'a [RunRecord],
    run_id: &str,
    workflow: &str,
) -> Vec<&'a RunRecord> {
    let mut earlier: Vec<&RunRecord> = (runs.iter())
        .filter(|r| r.run_id.as_str() < run_id)
        .collect();
    earlier.sort_by(|a, b| {
        let other = |r: &RunRecord| r.workflow != workflow;
        (other(a), b.run_id.as_str()).cmp(&(other(b), a.run_id.as_str()))
    });
    earlier
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> &str {
    let text = text.trim_end_matches('\n');
    let mut start = text.len();
    for _ in 0..n {
        match text[..start].rfind('\n') {
            Some(i) => start = i,
            None => return text,
        }
    }
    &text[start + 1..]
}

pub(crate) fn status_colour(status: &str, colour: bool) -> String {
    match status {
        "completed" => terminal::green(status, colour),
        "failed" => terminal::red(status, colour),
        "cancelled" | "running" | "interrupted" => terminal::yellow(status, colour),
        _ => status.to_owned(),
    }
}

/// `1234` as `1.23s`, `45` as `45ms`, `75000` as `1m15s`.
pub fn format_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
#[path = "tests_report.rs"]
mod tests;
