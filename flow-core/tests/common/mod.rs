//! Helpers shared by the integration tests: ids, flows that succeed, fail or wait, and an
//! event log.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flow_core::{
    CoreError, Event, EventKind, EventReceiver, Flow, FlowBuilder, FlowContext, FlowId, FlowStatus,
    RunSummary,
};
use flow_results::{FlowResult, RunId};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// A flow id from a literal.
pub fn id(s: &str) -> FlowId {
    FlowId::new(s).expect("valid test id")
}

/// A flow that completes with `output`.
pub fn ok(name: &str, output: Value) -> FlowBuilder {
    Flow::async_fn(id(name), move |_| {
        let output = output.clone();
        async move { Ok::<_, String>(output) }
    })
}

/// A flow that fails with `message`.
pub fn fail(name: &str, message: &'static str) -> FlowBuilder {
    Flow::async_fn(id(name), move |_| async move { Err::<Value, _>(message) })
}

/// A flow that never ends by itself.
pub fn forever(name: &str) -> FlowBuilder {
    Flow::async_fn(id(name), |_| async {
        std::future::pending::<()>().await;
        Ok::<_, String>(Value::Null)
    })
}

/// A flow that counts its attempts in `counter` and completes with its own id.
pub fn counted(name: &str, counter: Arc<AtomicUsize>) -> FlowBuilder {
    let out = json!(name);
    Flow::async_fn(id(name), move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        let out = out.clone();
        async move { Ok::<_, String>(out) }
    })
}

/// Every event waiting in `events`, without waiting.
pub fn drain(events: &mut EventReceiver) -> Vec<Event> {
    let mut all = Vec::new();
    while let Ok(Some(event)) = events.try_recv() {
        all.push(event);
    }
    all
}

/// The flows that started (first attempt), in order.
pub fn started(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FlowStarted { flow, attempt: 1 } => Some(flow.to_string()),
            _ => None,
        })
        .collect()
}

/// The final status of `flow` from the events.
pub fn finished(events: &[Event], flow: &str) -> Option<FlowStatus> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::FlowFinished {
            flow: f, status, ..
        } if f.as_str() == flow => Some(*status),
        _ => None,
    })
}

/// The result of `flow` in run `run` of `ctx`'s store, which must be there.
pub fn saved(ctx: &FlowContext, run: &RunId, flow: &str) -> FlowResult {
    ctx.store()
        .result(run, &id(flow))
        .unwrap()
        .unwrap_or_else(|| panic!("no result of `{flow}` in run `{run}`"))
}

/// Starts `ctx.run()` on a task and hands it back once `flow` has started (any flow, with
/// `None`), as its event says.
pub async fn run_started(
    ctx: &FlowContext,
    flow: Option<&str>,
) -> JoinHandle<Result<RunSummary, CoreError>> {
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    loop {
        let event = events.recv().await.expect("the run sends events");
        if let EventKind::FlowStarted { flow: started, .. } = event.kind {
            if flow.is_none_or(|flow| started.as_str() == flow) {
                return run;
            }
        }
    }
}

/// `n` property-test cases, scaled as `PROPTEST_CASES` scales proptest's default of 256:
/// `cargo xtask ci --deep` sets 2560, so ten times `n` (a fixed count ignores the variable).
pub fn cases(n: u32) -> u32 {
    let asked: u64 = std::env::var("PROPTEST_CASES").map_or(256, |v| v.parse().unwrap_or(256));
    u32::try_from(u64::from(n) * asked / 256)
        .unwrap_or(u32::MAX)
        .max(1)
}

/// The pid a command writes to `path` as it starts (`echo $$ > PATH`): no event says when.
pub async fn pid_written_to(path: &std::path::Path) -> u32 {
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
        {
            return pid;
        }
        tokio::task::yield_now().await;
    }
}
