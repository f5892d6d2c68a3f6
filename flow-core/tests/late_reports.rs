//! A report for a run whose flows have all ended, made before its `run` call returns (while its
//! last records go to the store), touches that run only: it is refused as it would have been a
//! moment earlier, and never fails a flow of the next run.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use common::{id, ok};
use flow_core::{CoreError, FlowContext, FlowStatus};
use flow_graph::FlowId;
use flow_results::{FlowResult, ResultStore, RunId, RunRecord, SqliteStore, StoreError};
use serde_json::json;
use tokio::sync::oneshot;

/// A SQLite store whose first `finish_run` says it was called, then waits to be let go: the
/// run that called it has ended all its flows but its `run` call has not returned.
#[derive(Debug)]
struct HeldAtFinish {
    inner: SqliteStore,
    held: AtomicBool,
    entered: Mutex<Option<oneshot::Sender<()>>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl ResultStore for HeldAtFinish {
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.inner.begin_run(run)
    }

    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        if !self.held.swap(true, Ordering::SeqCst) {
            if let Some(entered) = self.entered.lock().unwrap().take() {
                let _ = entered.send(());
            }
            let _ = self.release.lock().unwrap().recv();
        }
        self.inner.finish_run(run)
    }

    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError> {
        self.inner.save_result(result)
    }

    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError> {
        self.inner.save_results(results)
    }

    fn result(&self, run: &RunId, flow: &FlowId) -> Result<Option<FlowResult>, StoreError> {
        self.inner.result(run, flow)
    }

    fn results(&self, run: &RunId) -> Result<Vec<FlowResult>, StoreError> {
        self.inner.results(run)
    }

    fn run(&self, run: &RunId) -> Result<Option<RunRecord>, StoreError> {
        self.inner.run(run)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.runs()
    }

    fn latest_run(&self, workflow: &str) -> Result<Option<RunRecord>, StoreError> {
        self.inner.latest_run(workflow)
    }

    fn delete_run(&self, run: &RunId) -> Result<bool, StoreError> {
        self.inner.delete_run(run)
    }

    fn spec(&self) -> String {
        self.inner.spec()
    }
}

#[tokio::test]
async fn a_late_fail_flow_does_not_fail_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (entered_tx, entered) = oneshot::channel();
    let (release, release_rx) = mpsc::channel();
    let store = Arc::new(HeldAtFinish {
        inner: SqliteStore::open(dir.path().join("flow.db")).unwrap(),
        held: AtomicBool::new(false),
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(release_rx),
    });
    let ctx = FlowContext::builder().store(store.clone()).build();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();

    let first = tokio::spawn({
        let ctx = ctx.clone();
        async move { ctx.run().await }
    });
    // The first run's flows have all ended; its `run` call waits for the store.
    entered.await.unwrap();
    assert_eq!(ctx.status("a"), Some(FlowStatus::Completed));
    let err = ctx.fail_flow("a", "too late").await.unwrap_err();
    assert!(
        matches!(
            &err,
            CoreError::AlreadyFinished { flow, status: FlowStatus::Completed } if *flow == id("a")
        ),
        "{err:?}"
    );
    assert_eq!(ctx.status("a"), Some(FlowStatus::Completed));
    release.send(()).unwrap();
    let first = first.await.unwrap().unwrap();
    assert!(first.is_success(), "{first:?}");

    let second = ctx.run().await.unwrap();
    assert!(second.is_success(), "{second:?}");
    let a = store.result(&second.run_id, &id("a")).unwrap().unwrap();
    assert_eq!(a.status, FlowStatus::Completed, "{:?}", a.failure);
}

/// A flow failed by hand once a run is over (its `run` call returned) is still failed by the
/// next run without starting, as documented.
#[tokio::test]
async fn a_fail_flow_after_the_run_returned_fails_the_next_run() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    assert!(ctx.run().await.unwrap().is_success());
    ctx.fail_flow("a", "by hand").await.unwrap();
    let next = ctx.run().await.unwrap();
    assert_eq!(next.counts.failed, 1, "{next:?}");
}
