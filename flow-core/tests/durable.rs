//! A command flow starts only once its parents' results are committed to a persistent store:
//! each command looks for its parents in a list that the store appends to only after its
//! commit returned, on a store slow enough that a command started early would not find them.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::id;
use flow_core::{CommandSpec, Flow, FlowContext, FlowStatus};
use flow_graph::FlowId;
use flow_results::{FlowResult, ResultStore, RunId, RunRecord, SqliteStore, StoreError};

/// A SQLite store that takes `delay` more per save (a slow disk) and, once a save has
/// committed, appends the ids of the finished flows it saved to `committed`, one a line.
#[derive(Debug)]
struct Witnessed {
    inner: SqliteStore,
    committed: PathBuf,
    delay: Duration,
}

impl ResultStore for Witnessed {
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.inner.begin_run(run)
    }

    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.inner.finish_run(run)
    }

    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError> {
        self.save_results(std::slice::from_ref(result))
    }

    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError> {
        // Slow disk: the commit returns this much later than it would.
        std::thread::sleep(self.delay);
        self.inner.save_results(results)?;
        let mut lines = String::new();
        for result in results.iter().filter(|r| r.status.is_finished()) {
            lines.push_str(result.flow_id.as_str());
            lines.push('\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.committed)
            .expect("the list of committed flows can be written");
        file.write_all(lines.as_bytes())
            .expect("the list of committed flows can be written");
        Ok(())
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

/// A command flow that succeeds only if every parent in `parents` is in the committed list.
fn checks_parents(name: &str, parents: &[&str], committed: &std::path::Path) -> Flow {
    let mut script = String::from("true");
    for parent in parents {
        script.push_str(&format!(" && grep -qx {parent} \"$COMMITTED\""));
    }
    let spec = CommandSpec::shell(script).env("COMMITTED", committed.to_string_lossy());
    let mut flow = Flow::command(id(name), spec);
    for parent in parents {
        flow = flow.requires(id(parent));
    }
    flow.build()
}

/// Layers of commands, each requiring commands of the layer above, some of which ended long
/// before and some just before: every command finds all its parents committed when it
/// starts, whichever batch their records went to the store in.
#[tokio::test]
async fn a_command_starts_only_after_its_parents_results_are_committed() {
    let dir = tempfile::tempdir().unwrap();
    let committed = dir.path().join("committed");
    let store = Witnessed {
        inner: SqliteStore::open(dir.path().join("flow.db")).unwrap(),
        committed: committed.clone(),
        delay: Duration::from_millis(20),
    };
    let ctx = FlowContext::builder()
        .store(Arc::new(store))
        .jobs(2)
        .build();
    let mut expected = Vec::new();
    for layer in 0..4 {
        for k in 0..4 {
            let name = format!("l{layer}_{k}");
            let parents: Vec<String> = if layer == 0 {
                Vec::new()
            } else {
                // The parent just above and the first of the layer above (ended earlier).
                let mut parents = vec![format!("l{}_{k}", layer - 1)];
                if k != 0 {
                    parents.push(format!("l{}_0", layer - 1));
                }
                parents
            };
            let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
            ctx.register_flow(checks_parents(&name, &parents, &committed))
                .unwrap();
            expected.push(name);
        }
    }
    let summary = ctx.run().await.unwrap();
    for name in &expected {
        assert_eq!(
            ctx.status(name),
            Some(FlowStatus::Completed),
            "flow `{name}` started before its parents were committed: {summary:?}"
        );
    }
    assert!(summary.is_success(), "{summary:?}");
}

/// A result held back to be saved with others is saved while the run goes on, not only
/// when it ends: a flow that completed beside a long one is in the store soon after.
#[tokio::test]
async fn a_held_result_is_saved_while_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ResultStore> =
        Arc::new(SqliteStore::open(dir.path().join("flow.db")).unwrap());
    let ctx = FlowContext::builder()
        .store(Arc::clone(&store))
        .jobs(2)
        .build();
    ctx.register_flow(Flow::command(id("quick"), CommandSpec::shell("true")).build())
        .unwrap();
    ctx.register_flow(Flow::command(id("long"), CommandSpec::shell("exec sleep 300")).build())
        .unwrap();
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    let run_id = loop {
        let event = events.recv().await.unwrap();
        if let flow_core::EventKind::FlowFinished { flow, .. } = &event.kind {
            assert_eq!(flow.as_str(), "quick");
            break event.run_id;
        }
    };
    // The store cannot be awaited: it is read until the result is there (or the guard ends).
    let guard = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let saved = store.result(&run_id, &id("quick")).unwrap();
        if saved.is_some_and(|r| r.status == FlowStatus::Completed) {
            break;
        }
        assert!(
            std::time::Instant::now() < guard,
            "the result of `quick` was not saved while `long` ran"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(ctx.status("long"), Some(FlowStatus::Running));
    ctx.cancel_all();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.counts.cancelled, 1, "{summary:?}");
}

/// A command whose run is stopped while it waits for its parents' results to be committed
/// never starts, and its attempt says so (not that "the command" was cancelled).
#[tokio::test]
async fn a_command_stopped_while_its_parents_are_saved_never_starts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Witnessed {
        inner: SqliteStore::open(dir.path().join("flow.db")).unwrap(),
        committed: dir.path().join("committed"),
        // The parent's commit takes this long: the child waits for it when the run stops.
        delay: Duration::from_secs(2),
    };
    let store = Arc::new(store);
    let ctx = FlowContext::builder()
        .store(Arc::clone(&store) as Arc<dyn ResultStore>)
        .build();
    let marker = dir.path().join("child-ran");
    ctx.register_flow(Flow::command(id("parent"), CommandSpec::shell("true")).build())
        .unwrap();
    let touch = CommandSpec::argv(["touch".to_owned(), marker.to_string_lossy().into_owned()]);
    ctx.register_flow(
        Flow::command(id("child"), touch)
            .requires(id("parent"))
            .build(),
    )
    .unwrap();
    let run = common::run_started(&ctx, Some("child")).await;
    ctx.cancel_all();
    let summary = run.await.unwrap().unwrap();
    let run_id = summary.run_id.clone();
    assert_eq!(summary.counts.cancelled, 1, "{summary:?}");
    assert!(
        !marker.exists(),
        "the child's command ran after the run stopped"
    );
    let child = store.result(&run_id, &id("child")).unwrap().unwrap();
    assert_eq!(child.status, FlowStatus::Cancelled);
    let failure = child.failure.expect("a cancelled flow says why");
    assert_eq!(failure.message, "cancelled before its command started");
}
