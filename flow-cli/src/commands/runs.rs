//! `flow runs [FILE] [--store STORE] [--json]`: the runs in a store, oldest first (none: it
//! says so and exits 0; `--json` prints `{"runs":[]}`).

use chrono::SecondsFormat;
use serde::Serialize;

use crate::cli::RunsArgs;
use crate::commands::executor::left_jobs_note;
use crate::commands::located::{locate, Located};
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::report::{format_ms, RunReport, RunStatus};
use crate::run_state::RunState;
use crate::store;

/// Lists the runs (of FILE's workflow when a file is given).
pub fn run(args: &RunsArgs) -> Result<u8, CliError> {
    let Located { dir, name, .. } = locate(args.file.as_deref())?;
    let spec = store::spec(args.store.as_deref(), &dir)?;
    let Some(results_store) = store::open_if_any(&spec)? else {
        if args.json {
            print_stdout("{\"runs\":[]}\n")?;
        } else {
            print_stdout(&format!("{}\n", store::no_runs(&spec, name.as_deref())))?;
        }
        return Ok(0);
    };
    let mut runs = results_store.runs().map_err(|e| store::error(&spec, e))?;
    if let Some(name) = &name {
        runs.retain(|r| &r.workflow == name);
    }
    runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
    let mut rows: Vec<[String; 5]> = vec![[
        "RUN".into(),
        "WORKFLOW".into(),
        "STARTED".into(),
        "TIME".into(),
        "FLOWS".into(),
    ]];
    let mut entries = Vec::with_capacity(runs.len());
    // The status of a run without an end, as `flow results --json` gives it (`failed` once
    // a flow failed), only for `--json`: the table says it runs or was interrupted.
    let status_of = |r: &flow_results::RunRecord, state, otherwise| {
        if !args.json {
            return Ok(otherwise);
        }
        let results = (results_store.results(&r.run_id)).map_err(|e| store::error(&spec, e))?;
        Ok::<_, CliError>(RunReport::new(r, state, results, None).status)
    };
    for r in &runs {
        let state = RunState::of(&spec, r);
        let (status, counts, text) = match state {
            RunState::InProgress => (
                status_of(r, state, RunStatus::Running)?,
                None,
                "running".to_owned(),
            ),
            // Its `flow run` died (SIGKILL, a crash), or its store refused the run's end (a
            // full disk): either way the store holds no end, and no live run will write one.
            RunState::Interrupted => (
                status_of(r, state, RunStatus::Interrupted)?,
                None,
                "interrupted (its end was never recorded)".to_owned(),
            ),
            // Without failures, the run's record has the counts, and the store counts the
            // flows up to date (reused) without reading the results back. With failures, they
            // are counted as the run's summary counts them (a flow whose parent failed did not
            // run, it did not fail), from the run's results: read only then, so that listing
            // many large runs stays quick.
            RunState::Ended if r.counts.failed == 0 => {
                let c = &r.counts;
                let reused = match c.completed {
                    0 => 0,
                    _ => (results_store.count_reused(&r.run_id))
                        .map_err(|e| store::error(&spec, e))?,
                };
                let mut text = format!("{} completed", c.completed);
                if reused > 0 {
                    text.push_str(&format!(" ({reused} up to date)"));
                }
                text.push_str(", 0 failed");
                if c.cancelled > 0 {
                    text.push_str(&format!(", {} cancelled", c.cancelled));
                }
                let counts = Counts {
                    completed: c.completed as usize,
                    up_to_date: reused as usize,
                    failed: 0,
                    not_run: 0,
                    cancelled: c.cancelled as usize,
                };
                let status = RunStatus::ended(c.cancelled > 0, false, c.pending > 0);
                (status, Some(counts), text)
            }
            RunState::Ended => {
                let results =
                    (results_store.results(&r.run_id)).map_err(|e| store::error(&spec, e))?;
                let report = RunReport::new(r, RunState::Ended, results, None);
                (report.status, Some(Counts::of(&report)), report.counts())
            }
        };
        let entry = Entry {
            run_id: r.run_id.to_string(),
            workflow: r.workflow.clone(),
            started_at: r.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            finished_at: (r.finished_at).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            duration_ms: r
                .duration()
                .and_then(|d| u64::try_from(d.num_milliseconds()).ok()),
            status,
            counts,
            text,
        };
        entries.push(entry);
    }
    if args.json {
        // Plain strings, numbers and enums always serialize.
        let json = serde_json::to_string(&Document { runs: &entries }).unwrap_or_default();
        print_stdout(&format!("{json}\n"))?;
        return Ok(0);
    }
    for (r, entry) in runs.iter().zip(&entries) {
        let flows = entry.text.clone();
        rows.push([
            r.run_id.to_string(),
            crate::terminal::safe(&r.workflow).into_owned(),
            r.started_at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            entry.duration_ms.map(format_ms).unwrap_or_default(),
            flows,
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (k, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if k + 1 < row.len() {
                line.push_str(&" ".repeat(widths[k] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if runs.is_empty() {
        out = format!("{}\n", store::no_runs(&spec, name.as_deref()));
    }
    // The latest run was killed under Slurm: its jobs may run on.
    let killed = runs
        .last()
        .filter(|r| RunState::of(&spec, r) == RunState::Interrupted);
    if let Some(note) = killed.and_then(|r| left_jobs_note(&dir, &r.workflow)) {
        out.push_str(&note);
        out.push('\n');
    }
    print_stdout(&out)?;
    Ok(0)
}

/// The `--json` document: `{"runs":[...]}`, oldest first.
#[derive(Serialize)]
struct Document<'a> {
    runs: &'a [Entry],
}

/// One run in the `--json` document.
#[derive(Serialize)]
struct Entry {
    run_id: String,
    workflow: String,
    /// RFC 3339, as `flow results --json` writes times.
    started_at: String,
    /// `null` while it runs or when its end was never recorded.
    finished_at: Option<String>,
    duration_ms: Option<u64>,
    /// As in `flow results --json`: completed, failed, cancelled, running, interrupted.
    status: RunStatus,
    /// How many flows ended how, once the run ended; `null` before.
    counts: Option<Counts>,
    /// The table's FLOWS cell (not in the JSON).
    #[serde(skip)]
    text: String,
}

/// How many flows of an ended run ended how (a flow is counted once: `up_to_date` flows are
/// also `completed`; `not_run` ones, whose required parent failed, are not `failed`).
#[derive(Serialize)]
struct Counts {
    completed: usize,
    up_to_date: usize,
    failed: usize,
    not_run: usize,
    cancelled: usize,
}

impl Counts {
    /// The counts of `report`, as its summary counts them.
    fn of(report: &RunReport) -> Self {
        use crate::run_state::FlowState;
        Counts {
            completed: report.count(FlowState::Completed),
            up_to_date: report.flows.iter().filter(|f| f.reused()).count(),
            failed: report.count(FlowState::Failed),
            not_run: report.count(FlowState::NotRun),
            cancelled: report.count(FlowState::Cancelled),
        }
    }
}
