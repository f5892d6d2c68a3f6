//! A store that refuses results mid-run, with a real directory store whose run folder is
//! replaced by a file: the run stops and its summary names the flows whose results are lost.

mod common;

use std::sync::Arc;

use common::{id, ok, run_started};
use flow_core::{Flow, FlowBuilder, FlowContext, FlowStatus};
use flow_results::{DirStore, ResultStore};
use serde_json::json;

/// A flow that completes once it takes a permit of `gate`.
fn gated(name: &str, gate: &Arc<tokio::sync::Semaphore>) -> FlowBuilder {
    let gate = Arc::clone(gate);
    Flow::async_fn(id(name), move |_| {
        let gate = Arc::clone(&gate);
        async move {
            gate.acquire().await.map_err(|e| e.to_string())?.forget();
            Ok::<_, String>(json!(1))
        }
    })
}

#[tokio::test]
async fn a_refused_save_stops_the_run_and_names_the_unsaved_flows() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    let store: Arc<dyn ResultStore> = Arc::new(DirStore::open(&root).unwrap());
    let ctx = FlowContext::builder()
        .store(Arc::clone(&store))
        .jobs(1)
        .build();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    ctx.register_flow(gated("a", &gate).build()).unwrap();
    // `b` starts as soon as `a` completes, before the store refuses `a`'s result, and waits:
    // the refusal stops it. `c` never starts.
    ctx.register_flow(gated("b", &gate).requires(id("a")).build())
        .unwrap();
    ctx.register_flow(ok("c", json!(3)).requires(id("b")).build())
        .unwrap();
    let run = run_started(&ctx, Some("a")).await;
    // The run's results folder becomes a file: every later save fails, for root too.
    let run_id = ctx.active_run().unwrap();
    let results = root.join(run_id.as_str()).join("results");
    if results.exists() {
        std::fs::remove_dir_all(&results).unwrap();
    }
    std::fs::create_dir_all(results.parent().unwrap()).unwrap();
    std::fs::write(&results, "not a folder").unwrap();
    gate.add_permits(1);
    let summary = run.await.unwrap().unwrap();
    assert!(summary.cancelled, "{summary:?}");
    assert!(!summary.store_errors.is_empty());
    assert!(summary.unsaved.contains(&id("a")), "{:?}", summary.unsaved);
    assert!(summary.unsaved.contains(&id("c")), "{:?}", summary.unsaved);
    assert_eq!(ctx.status("b"), Some(FlowStatus::Cancelled));
    assert_eq!(ctx.status("c"), Some(FlowStatus::Cancelled));
}
