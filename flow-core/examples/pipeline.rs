//! The seed's typical use, in Rust: register flows of each kind (a command, a task on a worker
//! process, a blocking closure, async closures) with required and optional dependencies, run
//! them, wait for some while the run goes on, read the results back from the SQLite file, and
//! resume after a failure so that only what did not complete runs again.
//!
//! ```text
//! cargo run -p flow-core --example pipeline            # in a fresh temporary folder
//! cargo run -p flow-core --example pipeline -- DIR     # or in DIR (DIR/flow.db is the store)
//! ```
#![allow(clippy::print_stdout)] // an example program: it prints what happened

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flow_core::{Flow, FlowContext, FlowId, FlowStatus, ResultStore, RetryPolicy, RunOptions};
use flow_pool::{CommandSpec, ProcessPool, TaskRegistry};
use flow_results::SqliteStore;
use serde_json::{json, Value};

/// A function for worker processes: JSON in, JSON out. It gets
/// `{"flow": ID, "input": INPUT, "parents": {ID: OUTPUT}}` (see `FlowInput::to_value`).
fn count_words(input: Value) -> Result<Value, String> {
    let path = input["input"]["path"]
        .as_str()
        .ok_or("no `path` in the input")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(json!(text.split_whitespace().count()))
}

/// The functions worker processes can run. Parent and workers are the same program, so both
/// build the same registry.
fn registry() -> TaskRegistry {
    TaskRegistry::new().register("count_words", count_words)
}

fn id(name: &str) -> FlowId {
    FlowId::new(name).expect("a valid flow id")
}

fn main() -> Result<(), Box<dyn Error>> {
    // A worker process is this program started again: it serves tasks and never returns from
    // here. This must come first, before the runtime starts threads.
    flow_pool::worker_main(&registry());

    let temp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or(temp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir)?;
    tokio::runtime::Runtime::new()?.block_on(pipeline(&dir))
}

async fn pipeline(dir: &Path) -> Result<(), Box<dyn Error>> {
    let db = dir.join("flow.db");
    let ctx = FlowContext::builder()
        .workflow("pipeline")
        .jobs(4)
        .store(Arc::new(SqliteStore::open(&db)?))
        .process_pool(ProcessPool::new(registry(), 2)?)
        .build();

    // A command, in its own process group; killed with its children on timeout or cancel.
    let data = dir.join("data.txt");
    ctx.register_flow(
        Flow::command(
            id("download"),
            CommandSpec::shell("printf 'alpha beta\\ngamma delta epsilon\\n' > data.txt").cwd(dir),
        )
        .timeout(Duration::from_secs(30))
        .build(),
    )?;
    // A task on a worker process (a crash or a timeout kills the worker, not this program).
    ctx.register_flow(
        Flow::task(id("count_words"), "count_words")
            .input(json!({ "path": data }))
            .requires(id("download"))
            .build(),
    )?;
    // A blocking closure on the thread pool: file I/O, a C library, heavy computing.
    let path = data.clone();
    ctx.register_flow(
        Flow::blocking(id("checksum"), move |_input| {
            let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
            Ok::<_, String>(json!(bytes.iter().map(|&b| u64::from(b)).sum::<u64>()))
        })
        .requires(id("download"))
        .build(),
    )?;
    // An async closure that fails, retried twice, 10 ms apart: nothing answers.
    ctx.register_flow(
        Flow::async_fn(id("holidays"), |_input| async {
            Err::<Value, _>("calendar server unreachable")
        })
        .retry(RetryPolicy::fixed(2, Duration::from_millis(10)))
        .build(),
    )?;
    // Required parents must complete; an optional one only has to finish, however it ends.
    ctx.register_flow(
        Flow::async_fn(id("report"), |input| async move {
            let words = input.parent("count_words").ok_or("no word count")?;
            let checksum = input.parent("checksum").ok_or("no checksum")?;
            let holidays = input
                .parent("holidays")
                .cloned()
                .unwrap_or(json!("unknown"));
            Ok::<_, String>(json!({ "words": words, "checksum": checksum, "holidays": holidays }))
        })
        .requires(id("count_words"))
        .requires(id("checksum"))
        .optionally_after(id("holidays"))
        .build(),
    )?;
    // A command that fails until someone approves the report (creates the file `approved`).
    ctx.register_flow(
        Flow::command(
            id("publish"),
            CommandSpec::shell("test -f approved").cwd(dir),
        )
        .requires(id("report"))
        .build(),
    )?;

    // Run in the background, and wait for two flows meanwhile: once `wait_for_flows`
    // returns, their results are in the store.
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    let statuses = ctx
        .wait_for_flows(&["count_words", "checksum"], Some(Duration::from_secs(60)))
        .await?;
    for (flow, status) in &statuses {
        println!("waited for {flow}: {status}");
    }
    let first = run.await??;
    print_summary("first run", &ctx, &first);
    // A flow behind a failed *required* parent fails without starting; `report` ran because
    // `holidays` is only optional for it. `publish` failed on its own.
    assert_eq!(ctx.status("publish"), Some(FlowStatus::Failed));

    // Fix the cause and resume: completed flows whose definition and inputs did not change
    // are reused from the first run; the others run again.
    std::fs::write(dir.join("approved"), "yes")?;
    let second = ctx
        .run_with(RunOptions::new().resume_from(first.run_id.clone()))
        .await?;
    print_summary("resumed run", &ctx, &second);

    // Shut the worker processes down and forget the flows (the seed's `cleanup`).
    ctx.cleanup().await;

    // Everything is in the SQLite file: open it again, as another program would.
    let store = SqliteStore::open(&db)?;
    let latest = store.latest_run("pipeline")?.ok_or("no run in the store")?;
    println!("stored runs: {}", store.runs()?.len());
    // A reused result keeps the first run's output and counts 0 attempts in this run.
    for result in store.results(&latest.run_id)? {
        let detail = match &result.failure {
            Some(failure) => failure.message.clone(),
            None => result.output.to_string(),
        };
        println!(
            "  {:<12} {:<10} attempts {}  {detail}",
            result.flow_id.as_str(),
            result.status.to_string(),
            result.attempts
        );
    }
    Ok(())
}

fn print_summary(label: &str, ctx: &FlowContext, summary: &flow_core::RunSummary) {
    let c = &summary.counts;
    println!(
        "{label} {}: {} completed ({} reused), {} failed, {} cancelled",
        summary.run_id, c.completed, summary.reused, c.failed, c.cancelled
    );
    for flow in ctx.flow_ids() {
        let status = ctx.status(flow.as_str()).unwrap_or(FlowStatus::Pending);
        println!("  {flow}: {status}");
    }
}
