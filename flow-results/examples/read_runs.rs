//! Open a result store and read its runs back: every run with its counts, then each flow of
//! the latest one with its status, duration, output or failure, and the end of its stderr.
//!
//! ```text
//! cargo run -p flow-results --example read_runs                      # a demo store it writes
//! cargo run -p flow-results --example read_runs -- sqlite:examples/.flow/flow.db
//! ```
//!
//! The second form reads what `flow run examples/pipeline.toml` stored (any `memory`,
//! `dir:PATH` or `sqlite:PATH` spec works).
#![allow(clippy::print_stdout)] // an example program: it prints what it read

use std::error::Error;

use flow_graph::FlowId;
use flow_results::{
    open_store, Failure, FailureKind, FlowResult, FlowStatus, ResultStore, RunRecord, StatusCounts,
    Tail,
};

fn main() -> Result<(), Box<dyn Error>> {
    let temp = tempfile::tempdir()?;
    let spec = match std::env::args().nth(1) {
        Some(spec) => spec,
        None => {
            let spec = format!("sqlite:{}", temp.path().join("flow.db").display());
            write_demo_run(&*open_store(&spec)?)?;
            spec
        }
    };

    let store = open_store(&spec)?;
    let runs = store.runs()?;
    println!("{} run(s) in {}", runs.len(), store.spec());
    for run in &runs {
        let c = &run.counts;
        println!(
            "  {} {:<10} {} completed, {} failed, {} cancelled{}",
            run.run_id,
            run.workflow,
            c.completed,
            c.failed,
            c.cancelled,
            if run.finished_at.is_none() {
                " (did not finish)"
            } else {
                ""
            }
        );
    }

    let Some(last) = runs.iter().max_by_key(|run| run.started_at) else {
        return Ok(());
    };
    println!("flows of {}:", last.run_id);
    for result in store.results(&last.run_id)? {
        let took = result
            .duration()
            .map_or("-".to_owned(), |d| format!("{} ms", d.num_milliseconds()));
        let what = match &result.failure {
            // Text that came from a command is escaped: it may hold terminal control codes.
            Some(failure) => format!("{:?}: {}", failure.kind, failure.message.escape_debug()),
            None => result.output.to_string(),
        };
        println!(
            "  {:<8} {:<9} {took:>6}  {what}",
            result.flow_id.as_str(),
            result.status.to_string()
        );
        if let Some(line) = result.stderr_tail.as_str().lines().last() {
            println!("           stderr: {}", line.escape_debug());
        }
    }
    Ok(())
}

/// What flow-core's run driver writes for a run: the run, each flow's result, the totals.
fn write_demo_run(store: &dyn ResultStore) -> Result<(), Box<dyn Error>> {
    let mut run = RunRecord::start("nightly");
    store.begin_run(&run)?;
    let started = chrono::Utc::now();

    let mut fetch = FlowResult::new(
        run.run_id.clone(),
        FlowId::new("fetch")?,
        FlowStatus::Completed,
    );
    fetch.output = serde_json::json!({ "rows": 42 });
    fetch.attempts = 1;
    fetch.started_at = Some(started);
    fetch.finished_at = Some(started + chrono::TimeDelta::milliseconds(1200));

    let mut upload = FlowResult::new(
        run.run_id.clone(),
        FlowId::new("upload")?,
        FlowStatus::Failed,
    );
    upload.failure = Some(Failure::new(FailureKind::Error, "exited with 22"));
    upload.exit_code = Some(22);
    upload.attempts = 3;
    upload.stderr_tail = Tail::new("curl: (22) The requested URL returned error: 503\n");
    store.save_results(&[fetch, upload])?;

    run.counts = StatusCounts::of(store.results(&run.run_id)?.iter().map(|r| r.status));
    run.finished_at = Some(chrono::Utc::now());
    store.finish_run(&run)?;
    Ok(())
}
