//! A store that refuses results mid-run, with a real directory store whose run folder is
//! replaced by a file: the run stops and its summary names the flows whose results are lost.
//! A store that panics: the run says its results were not saved, and the next run saves its own.
//! A SQLite store whose file a flow deletes or replaces: the same as a refused save.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{id, ok, run_started, saved};
use flow_core::{Flow, FlowBuilder, FlowContext, FlowStatus};
use flow_graph::FlowId;
use flow_results::{
    DirStore, FlowResult, MemoryStore, ResultStore, RunId, RunRecord, SqliteStore, StoreError,
};
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
    // Once the store has begun the run (on the writer thread; it refuses a run folder made
    // before), the run's results folder becomes a file: every later save fails.
    let run_id = ctx.active_run().unwrap();
    while store.run(&run_id).unwrap().is_none() {
        tokio::task::yield_now().await;
    }
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

/// A memory store whose first save of results panics.
#[derive(Debug, Default)]
struct PanicsOnce {
    inner: MemoryStore,
    panicked: AtomicBool,
}

impl ResultStore for PanicsOnce {
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.inner.begin_run(run)
    }
    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.inner.finish_run(run)
    }
    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError> {
        self.inner.save_result(result)
    }
    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError> {
        self.inner.save_results(results)
    }
    fn save_results_owned(&self, results: Vec<FlowResult>) -> Result<(), StoreError> {
        if !self.panicked.swap(true, Ordering::SeqCst) {
            panic!("a store bug (on purpose, in a test)");
        }
        self.inner.save_results_owned(results)
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
        "panics-once".to_owned()
    }
}

#[tokio::test]
async fn a_store_panic_is_a_refused_save_and_the_next_run_saves_its_results() {
    let ctx = FlowContext::builder()
        .store(Arc::new(PanicsOnce::default()))
        .build();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    // The panic is a refused save like any other: the run stops, says why and names the flow
    // whose result is not in the store.
    let first = ctx.run().await.unwrap();
    assert!(
        first.store_errors.iter().any(|e| e.contains(
            "the result store `panics-once` panicked while trying to save results: a store bug"
        )),
        "{first:?}"
    );
    assert_eq!(first.unsaved, vec![id("a")], "{first:?}");
    assert!(ctx
        .store()
        .result(&first.run_id, &id("a"))
        .unwrap()
        .is_none());
    // The next run saves its results.
    let second = ctx.run().await.unwrap();
    assert!(second.is_success(), "{second:?}");
    assert!(second.store_errors.is_empty(), "{second:?}");
    assert_eq!(saved(&ctx, &second.run_id, "a").output, json!(1));
}

/// Deletes a SQLite file with its `-wal`, `-shm` and `-journal`, as `rm -rf` of its folder.
fn delete_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

/// Replaces a SQLite file by a copy of it: `cp flow.db copy.db && mv copy.db flow.db`.
fn replace_sqlite(path: &Path) {
    let copy = path.with_file_name("copy.db");
    std::fs::copy(path, &copy).unwrap();
    std::fs::rename(&copy, path).unwrap();
}

/// A flow that takes the file at `path` away with `take_away` once it takes a permit of
/// `gate`, then completes.
fn taking_away(
    name: &str,
    gate: &Arc<tokio::sync::Semaphore>,
    path: &Path,
    take_away: fn(&Path),
) -> FlowBuilder {
    let path = path.to_path_buf();
    let gate = Arc::clone(gate);
    Flow::async_fn(id(name), move |_| {
        let path = path.clone();
        let gate = Arc::clone(&gate);
        async move {
            gate.acquire().await.map_err(|e| e.to_string())?.forget();
            take_away(&path);
            Ok::<_, String>(json!(1))
        }
    })
}

/// A context writing to a new SQLite file, and the file.
fn sqlite_context(dir: &tempfile::TempDir) -> (FlowContext, PathBuf) {
    let db = dir.path().join("flow.db");
    let store = Arc::new(SqliteStore::open(&db).unwrap());
    (
        FlowContext::builder().workflow("del").store(store).build(),
        db,
    )
}

/// The report: a SQLite store deleted during a library run lost every result, yet the run
/// said it succeeded. The store notices at its next commit, so, as for a full disk, the run
/// stops, says why and names the flows whose results are lost, and is no success.
#[tokio::test]
async fn a_sqlite_store_deleted_or_replaced_mid_run_stops_it_naming_the_unsaved_flows() {
    type TakeAway = fn(&Path);
    let ways: [(TakeAway, &str); 2] = [
        (delete_sqlite, "was deleted"),
        (replace_sqlite, "was replaced by another file"),
    ];
    for (take_away, says) in ways {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, db) = sqlite_context(&dir);
        // s0 -> s1 -> s2 -> s3: s1 takes the file away once s0's result is in it; s2 waits
        // for a gate that nothing opens, so only the store's refusal of s1's result ends the
        // run.
        let go = Arc::new(tokio::sync::Semaphore::new(0));
        let never = Arc::new(tokio::sync::Semaphore::new(0));
        ctx.register_flow(ok("s0", json!(0)).build()).unwrap();
        ctx.register_flow(
            taking_away("s1", &go, &db, take_away)
                .requires(id("s0"))
                .build(),
        )
        .unwrap();
        ctx.register_flow(gated("s2", &never).requires(id("s1")).build())
            .unwrap();
        ctx.register_flow(ok("s3", json!(3)).requires(id("s2")).build())
            .unwrap();
        let run = run_started(&ctx, Some("s1")).await;
        ctx.wait_for_flows(&["s0"], None).await.unwrap();
        go.add_permits(1);
        let summary = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the refused save stops the run")
            .unwrap()
            .unwrap();
        assert!(!summary.is_success(), "{says}: {summary:?}");
        assert!(summary.cancelled, "{says}: {summary:?}");
        let named = format!("{}` {says}", db.display());
        assert!(
            summary.store_errors.iter().any(|e| e.contains(&named)),
            "{says}: {summary:?}"
        );
        for flow in ["s1", "s2", "s3"] {
            assert!(summary.unsaved.contains(&id(flow)), "{flow}: {summary:?}");
        }
        assert_eq!(ctx.status("s1"), Some(FlowStatus::Completed));
        assert_eq!(ctx.status("s3"), Some(FlowStatus::Cancelled));
    }
}

/// The report's own case: every flow completes, but the last one deletes the store, so its
/// result, and the run's end, are not kept. The run is no success.
#[tokio::test]
async fn a_run_whose_last_result_the_store_lost_is_no_success() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, db) = sqlite_context(&dir);
    let go = Arc::new(tokio::sync::Semaphore::new(0));
    ctx.register_flow(ok("s0", json!(0)).build()).unwrap();
    ctx.register_flow(ok("s1", json!(1)).requires(id("s0")).build())
        .unwrap();
    ctx.register_flow(ok("s2", json!(2)).requires(id("s1")).build())
        .unwrap();
    ctx.register_flow(
        taking_away("s3", &go, &db, delete_sqlite)
            .requires(id("s2"))
            .build(),
    )
    .unwrap();
    let run = run_started(&ctx, Some("s3")).await;
    ctx.wait_for_flows(&["s2"], None).await.unwrap();
    go.add_permits(1);
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.counts.completed, 4, "{summary:?}");
    assert!(!summary.is_success(), "{summary:?}");
    assert_eq!(summary.unsaved, vec![id("s3")], "{summary:?}");
    assert!(
        summary
            .store_errors
            .iter()
            .any(|e| e.contains("was deleted while it was open")),
        "{summary:?}"
    );
    // The save and the run's end were refused for the same reason: said once.
    let mut errors = summary.store_errors.clone();
    errors.dedup();
    assert_eq!(errors, summary.store_errors, "{summary:?}");
}
