//! Progress from events: subscribe before the run and print each flow as it starts, retries
//! and ends, then the run's totals. A terminal UI or a web dashboard reads the same events.
//!
//! ```text
//! cargo run -p flow-core --example progress
//! ```
#![allow(clippy::print_stdout)] // an example program: it prints what happened

use std::error::Error;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flow_core::{CommandSpec, EventKind, Flow, FlowContext, FlowId, RecvError, RetryPolicy};
use serde_json::json;

fn id(name: &str) -> FlowId {
    FlowId::new(name).expect("a valid flow id")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let ctx = FlowContext::builder().workflow("progress").build();
    ctx.register_flow(Flow::command(id("compile"), CommandSpec::argv(["true"])).build())?;
    // Fails on its first attempt, succeeds on the second.
    let attempts = Arc::new(AtomicU32::new(0));
    ctx.register_flow(
        Flow::async_fn(id("fetch"), move |_input| {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if attempt == 1 {
                    return Err("connection reset".to_owned());
                }
                Ok(json!("fetched"))
            }
        })
        .retry(RetryPolicy::fixed(3, Duration::from_millis(20)))
        .build(),
    )?;
    // Killed by its timeout (with the processes it started).
    ctx.register_flow(
        Flow::command(id("stuck"), CommandSpec::shell("sleep 30"))
            .timeout(Duration::from_millis(300))
            .build(),
    )?;
    ctx.register_flow(
        Flow::async_fn(id("test"), |_input| async { Ok::<_, String>(json!("ok")) })
            .requires(id("compile"))
            .requires(id("fetch"))
            .build(),
    )?;
    // Never starts: its required parent `stuck` fails.
    ctx.register_flow(
        Flow::async_fn(id("deploy"), |_input| async {
            Ok::<_, String>(json!("deployed"))
        })
        .requires(id("test"))
        .requires(id("stuck"))
        .build(),
    )?;

    // Subscribe first: a subscriber sees the events sent after it subscribed.
    let mut events = ctx.subscribe();
    let printer = tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                // Too slow a reader misses events, and is told how many.
                Err(RecvError::Lagged(missed)) => {
                    println!("(missed {missed} events)");
                    continue;
                }
                Err(_) => break,
            };
            match event.kind {
                EventKind::RunStarted { flows, .. } => println!("run started: {flows} flows"),
                EventKind::FlowStarted { flow, attempt } => {
                    println!("{flow}: started (attempt {attempt})");
                }
                EventKind::AttemptFailed {
                    flow,
                    attempt,
                    failure,
                    retry_in,
                } => println!(
                    "{flow}: attempt {attempt} failed ({}), retrying in {retry_in:?}",
                    failure.message
                ),
                EventKind::FlowFinished {
                    flow,
                    status,
                    failure,
                    ..
                } => match failure {
                    Some(failure) => println!("{flow}: {status}: {}", failure.message),
                    None => println!("{flow}: {status}"),
                },
                EventKind::RunFinished { summary } => {
                    let c = summary.counts;
                    println!(
                        "run finished in {:.1?}: {} completed, {} failed",
                        summary.wall_time, c.completed, c.failed
                    );
                    break;
                }
                // Kinds of events added in later versions.
                _ => {}
            }
        }
    });

    let summary = ctx.run().await?;
    printer.await?;
    // A failed flow is part of a run's outcome, not an error of `run`.
    println!("success: {}", summary.is_success());
    Ok(())
}
