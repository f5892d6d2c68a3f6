//! A run resumes only from a run of its own workflow: two workflows sharing a store may share
//! flow ids, and a run of one reusing the other's results would take unrelated outputs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::counted;
use flow_core::{CoreError, FlowContext, Freshness, Ledger, RunOptions};
use flow_results::{ResultStore, SqliteStore};

fn context(store: &Arc<dyn ResultStore>, workflow: &str, runs: &Arc<AtomicUsize>) -> FlowContext {
    let ctx = FlowContext::builder()
        .store(Arc::clone(store))
        .workflow(workflow)
        .build();
    ctx.register_flow(counted("build", Arc::clone(runs)).build())
        .unwrap();
    ctx
}

#[tokio::test]
async fn resuming_from_a_run_of_another_workflow_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ResultStore> =
        Arc::new(SqliteStore::open(dir.path().join("flow.db")).unwrap());
    let (nightly_runs, weekly_runs) = (Arc::default(), Arc::default());
    let nightly = context(&store, "nightly", &nightly_runs);
    let done = nightly.run().await.unwrap();
    assert!(done.is_success());

    let weekly = context(&store, "weekly", &weekly_runs);
    let err = weekly
        .run_with(RunOptions::new().resume_from(done.run_id.clone()))
        .await
        .unwrap_err();
    match &err {
        CoreError::OtherWorkflow {
            run,
            workflow,
            other,
        } => {
            assert_eq!(run, &done.run_id);
            assert_eq!((workflow.as_str(), other.as_str()), ("weekly", "nightly"));
        }
        other => panic!("expected OtherWorkflow, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("`weekly`") && message.contains("`nightly`"),
        "{message}"
    );
    // Nothing ran, nothing was recorded, nothing was reused.
    assert_eq!(weekly_runs.load(Ordering::SeqCst), 0);
    assert_eq!(store.runs().unwrap().len(), 1);

    // The dry run of a resume refuses it alike.
    let freshness = Freshness::new(Arc::new(Ledger::in_memory()));
    let err = weekly.plan_resumed(freshness, &done.run_id).unwrap_err();
    assert!(matches!(err, CoreError::OtherWorkflow { .. }), "{err}");

    // A run of its own workflow is resumed as before.
    let again = nightly
        .run_with(RunOptions::new().resume_from(done.run_id.clone()))
        .await
        .unwrap();
    assert_eq!((again.reused, nightly_runs.load(Ordering::SeqCst)), (1, 1));
}
