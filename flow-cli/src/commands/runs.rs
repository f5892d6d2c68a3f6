//! `flow runs [FILE] [--store STORE]`: the runs in a store, oldest first (none: it says so
//! and exits 0).

use crate::cli::RunsArgs;
use crate::commands::executor::left_jobs_note;
use crate::commands::located::{locate, Located};
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::report::{format_ms, RunReport};
use crate::run_state::RunState;
use crate::store;

/// Lists the runs (of FILE's workflow when a file is given).
pub fn run(args: &RunsArgs) -> Result<u8, CliError> {
    let Located { dir, name, .. } = locate(args.file.as_deref())?;
    let spec = store::spec(args.store.as_deref(), &dir)?;
    let Some(results_store) = store::open_if_any(&spec)? else {
        print_stdout(&format!("{}\n", store::no_runs(&spec, name.as_deref())))?;
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
    for r in &runs {
        let flows = match RunState::of(&spec, r) {
            RunState::InProgress => "running".to_owned(),
            // Its `flow run` died (SIGKILL, a crash), or its store refused the run's end (a
            // full disk): either way the store holds no end, and no live run will write one.
            RunState::Interrupted => "interrupted (its end was never recorded)".to_owned(),
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
                let mut s = format!("{} completed", c.completed);
                if reused > 0 {
                    s.push_str(&format!(" ({reused} up to date)"));
                }
                s.push_str(", 0 failed");
                if c.cancelled > 0 {
                    s.push_str(&format!(", {} cancelled", c.cancelled));
                }
                s
            }
            RunState::Ended => {
                let results =
                    (results_store.results(&r.run_id)).map_err(|e| store::error(&spec, e))?;
                RunReport::new(r, RunState::Ended, results, None).counts()
            }
        };
        rows.push([
            r.run_id.to_string(),
            crate::terminal::safe(&r.workflow).into_owned(),
            r.started_at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            r.duration()
                .and_then(|d| u64::try_from(d.num_milliseconds()).ok())
                .map(format_ms)
                .unwrap_or_default(),
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
