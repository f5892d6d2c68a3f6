//! Runs through the public API: data flow, the `jobs` limit, timeouts and retries
//! on tokio's paused clock, flows added during a run, resume, events and the store.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{counted, drain, fail, forever, id, ok, run_started, saved};
use flow_core::{
    CoreError, EventKind, FailureKind, Flow, FlowContext, FlowStatus, RetryPolicy, RunOptions,
};
use flow_results::{MemoryStore, ResultStore};
use serde_json::{json, Value};
use tokio::time::Instant;

/// A flow gets its own input and every completed parent's output.
#[tokio::test]
async fn a_flow_receives_its_input_and_its_parents_outputs() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("x", json!(2)).build()).unwrap();
    ctx.register_flow(ok("y", json!({"v": 3})).build()).unwrap();
    ctx.register_flow(fail("z", "no").build()).unwrap();
    ctx.register_flow(
        Flow::async_fn(id("sum"), |input| async move {
            let parents: Vec<String> = input.parents().map(|(p, _)| p.to_string()).collect();
            Ok::<_, String>(json!({
                "factor": input.input()["factor"],
                "x": input.parent("x"),
                "y": input.parent("y"),
                "parents": parents,
            }))
        })
        .input(json!({"factor": 10}))
        .requires(id("x"))
        .requires(id("y"))
        .optionally_after(id("z"))
        .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    let sum = saved(&ctx, &summary.run_id, "sum");
    assert_eq!(
        sum.output,
        json!({"factor": 10, "x": 2, "y": {"v": 3}, "parents": ["x", "y"]})
    );
}

/// A parent that completed with `null` (what most flows return) is a parent with an output;
/// one that failed behind an optional edge is not.
#[tokio::test]
async fn a_parent_that_returned_null_is_listed_with_null() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("n", Value::Null).build()).unwrap();
    ctx.register_flow(fail("z", "no").build()).unwrap();
    ctx.register_flow(
        Flow::async_fn(id("c"), |input| async move {
            let parents: Vec<String> = input.parents().map(|(p, _)| p.to_string()).collect();
            Ok::<_, String>(json!({
                "parents": parents,
                "n": input.parent("n").map(|v| v.is_null()),
                "z": input.parent("z").is_some(),
            }))
        })
        .requires(id("n"))
        .optionally_after(id("z"))
        .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    let c = saved(&ctx, &summary.run_id, "c");
    assert_eq!(c.output, json!({"parents": ["n"], "n": true, "z": false}));
}

/// No more than `jobs` flows run at once, however many are ready.
#[tokio::test(start_paused = true)]
async fn jobs_bounds_the_flows_running_at_once() {
    let ctx = FlowContext::builder().jobs(3).build();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    for i in 0..20 {
        let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
        ctx.register_flow(
            Flow::async_fn(id(&format!("f{i}")), move |_| {
                let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, String>(Value::Null)
                }
            })
            .build(),
        )
        .unwrap();
    }
    let start = Instant::now();
    let summary = ctx.run().await.unwrap();
    assert!(summary.is_success());
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    // 20 flows of 10 ms, 3 at a time: 7 rounds of virtual time.
    assert_eq!(start.elapsed(), Duration::from_millis(70));
}

/// An attempt over its timeout fails with a timeout; retries follow the backoff, on the
/// paused clock.
#[tokio::test(start_paused = true)]
async fn timeouts_and_fixed_retries_on_the_paused_clock() {
    let ctx = FlowContext::new();
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&attempts);
    ctx.register_flow(
        Flow::async_fn(id("flaky"), move |input| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if input.attempt() < 3 {
                    // Too slow: the 1 s timeout ends it.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                Ok::<_, String>(json!(input.attempt()))
            }
        })
        .timeout(Duration::from_secs(1))
        .retry(RetryPolicy::fixed(2, Duration::from_secs(5)))
        .build(),
    )
    .unwrap();
    ctx.register_flow(
        Flow::async_fn(id("hopeless"), |_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, String>(Value::Null)
        })
        .timeout(Duration::from_millis(500))
        .build(),
    )
    .unwrap();
    let mut events = ctx.subscribe();
    let start = Instant::now();
    let summary = ctx.run().await.unwrap();
    // Two timed-out attempts of 1 s, two pauses of 5 s, then a quick third attempt.
    assert_eq!(start.elapsed(), Duration::from_secs(12));
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let flaky = saved(&ctx, &summary.run_id, "flaky");
    assert_eq!(
        (flaky.status, flaky.attempts, flaky.output),
        (FlowStatus::Completed, 3, json!(3))
    );
    let hopeless = saved(&ctx, &summary.run_id, "hopeless");
    let failure = hopeless.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert!(failure.message.contains("500ms"), "{}", failure.message);
    let retries: Vec<_> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::AttemptFailed {
                attempt,
                retry_in,
                failure,
                ..
            } => Some((attempt, retry_in, failure.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [
            (1, Duration::from_secs(5), FailureKind::Timeout),
            (2, Duration::from_secs(5), FailureKind::Timeout)
        ]
    );
}

/// Exponential backoff doubles the pause up to its cap; the last failure is final.
#[tokio::test(start_paused = true)]
async fn exponential_backoff_is_capped() {
    let ctx = FlowContext::new();
    ctx.register_flow(
        fail("never", "still broken")
            .retry(RetryPolicy::exponential(
                4,
                Duration::from_secs(1),
                Duration::from_secs(3),
            ))
            .build(),
    )
    .unwrap();
    let start = Instant::now();
    let summary = ctx.run().await.unwrap();
    // Pauses 1 + 2 + 3 + 3 s.
    assert_eq!(start.elapsed(), Duration::from_secs(9));
    let never = saved(&ctx, &summary.run_id, "never");
    assert_eq!((never.status, never.attempts), (FlowStatus::Failed, 5));
}

/// A flow that, while it runs, registers `child` (after itself) and tries `orphan` (after
/// `broken`); it returns whether `orphan` was refused because `broken` had failed.
fn spawner(ctx: &FlowContext) -> flow_core::FlowBuilder {
    let handle = ctx.clone();
    Flow::async_fn(id("spawner"), move |_| {
        let handle = handle.clone();
        async move {
            handle
                .register_flow(
                    common::ok("child", json!("late"))
                        .requires(id("spawner"))
                        .build(),
                )
                .map_err(|e| e.to_string())?;
            let refused = handle.register_flow(
                common::ok("orphan", json!(1))
                    .requires(id("broken"))
                    .build(),
            );
            Ok::<_, String>(json!(matches!(refused, Err(CoreError::ParentEnded { .. }))))
        }
    })
}

/// A flow added during the run joins it; one that requires a flow that already failed is
/// refused.
#[tokio::test]
async fn flows_registered_during_a_run_join_it() {
    let ctx = FlowContext::new();
    ctx.register_flow(fail("broken", "x").build()).unwrap();
    ctx.register_flow(spawner(&ctx).requires(id("root")).build())
        .unwrap_err();
    // `root` does not exist: nothing was registered.
    assert!(ctx.flow("spawner").is_none());
    ctx.register_flow(ok("root", json!(1)).build()).unwrap();
    ctx.register_flow(
        spawner(&ctx)
            .requires(id("root"))
            .optionally_after(id("broken"))
            .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    assert_eq!(summary.counts.total(), 4);
    let spawner = saved(&ctx, &summary.run_id, "spawner");
    assert_eq!(spawner.output, json!(true));
    let child = saved(&ctx, &summary.run_id, "child");
    assert_eq!(
        (child.status, child.output),
        (FlowStatus::Completed, json!("late"))
    );
    assert!(ctx.flow("orphan").is_none());
    // Dependencies cannot be added to flows of a run in progress, only declared on them.
    let ctx2 = FlowContext::new();
    ctx2.register_flow(forever("a").build()).unwrap();
    ctx2.register_flow(ok("b", json!(1)).build()).unwrap();
    let runner = ctx2.clone();
    let run = tokio::spawn(async move { runner.run().await });
    ctx2.wait_for_flows(&["b"], None).await.unwrap();
    let err = ctx2.register_dependency("a", "b", flow_core::DependencyType::Required);
    assert!(
        matches!(err, Err(CoreError::AlreadyStarted { .. })),
        "{err:?}"
    );
    // The message says why and what to do, not that the flow started.
    let message = err.unwrap_err().to_string();
    assert!(
        message.starts_with(
            "cannot add a dependency to flow `b` while a run is in progress: the dependencies \
             of a run's flows are fixed once it begins; add it before the run starts"
        ),
        "{message}"
    );
    // An unknown flow is named first, parent or child.
    for (parent, child) in [("nope", "b"), ("a", "nope")] {
        let err = ctx2.register_dependency(parent, child, flow_core::DependencyType::Required);
        assert!(
            matches!(&err, Err(CoreError::UnknownFlow(name)) if name == "nope"),
            "{err:?}"
        );
    }
    ctx2.cancel_all();
    run.await.unwrap().unwrap();
}

/// A second run while one is in progress is refused.
#[tokio::test]
async fn one_run_at_a_time() {
    let ctx = FlowContext::new();
    ctx.register_flow(forever("a").build()).unwrap();
    let runner = ctx.clone();
    let mut events = ctx.subscribe();
    let run = tokio::spawn(async move { runner.run().await });
    events.recv().await.unwrap();
    assert!(matches!(ctx.run().await, Err(CoreError::RunInProgress(_))));
    assert!(ctx.active_run().is_some());
    ctx.cancel_all();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.counts.cancelled, 1);
    assert!(ctx.active_run().is_none());
}

/// A memory store that reports every saved result on a channel, so a test can await a save.
#[derive(Debug)]
struct Reporting {
    inner: MemoryStore,
    saved: tokio::sync::mpsc::UnboundedSender<(String, FlowStatus)>,
    /// Whether `begin_run` fails, as a store on a read-only disk would.
    refuse_begin: bool,
    /// With a lock: a persistent store (saved on the writer thread) whose saves wait while
    /// the test holds the lock, as a slow disk would.
    hold: Option<Arc<std::sync::Mutex<()>>>,
}

impl ResultStore for Reporting {
    fn begin_run(&self, run: &flow_results::RunRecord) -> Result<(), flow_results::StoreError> {
        if self.refuse_begin {
            return Err(flow_results::StoreError::InvalidSpec {
                spec: "reporting".into(),
                problem: "refuses to begin runs",
            });
        }
        self.inner.begin_run(run)
    }
    fn finish_run(&self, run: &flow_results::RunRecord) -> Result<(), flow_results::StoreError> {
        self.inner.finish_run(run)
    }
    fn save_result(
        &self,
        result: &flow_results::FlowResult,
    ) -> Result<(), flow_results::StoreError> {
        self.save_results(std::slice::from_ref(result))
    }
    fn save_results(
        &self,
        results: &[flow_results::FlowResult],
    ) -> Result<(), flow_results::StoreError> {
        let _held = self.hold.as_ref().map(|hold| hold.lock().unwrap());
        self.inner.save_results(results)?;
        for r in results {
            let _ = self.saved.send((r.flow_id.to_string(), r.status));
        }
        Ok(())
    }
    fn result(
        &self,
        run: &flow_results::RunId,
        flow: &flow_core::FlowId,
    ) -> Result<Option<flow_results::FlowResult>, flow_results::StoreError> {
        self.inner.result(run, flow)
    }
    fn results(
        &self,
        run: &flow_results::RunId,
    ) -> Result<Vec<flow_results::FlowResult>, flow_results::StoreError> {
        self.inner.results(run)
    }
    fn run(
        &self,
        run: &flow_results::RunId,
    ) -> Result<Option<flow_results::RunRecord>, flow_results::StoreError> {
        self.inner.run(run)
    }
    fn runs(&self) -> Result<Vec<flow_results::RunRecord>, flow_results::StoreError> {
        self.inner.runs()
    }
    fn latest_run(
        &self,
        workflow: &str,
    ) -> Result<Option<flow_results::RunRecord>, flow_results::StoreError> {
        self.inner.latest_run(workflow)
    }
    fn delete_run(&self, run: &flow_results::RunId) -> Result<bool, flow_results::StoreError> {
        self.inner.delete_run(run)
    }
    fn spec(&self) -> String {
        "reporting memory".into()
    }
    fn persistent(&self) -> bool {
        self.hold.is_some()
    }
}

/// `wait_for_flows` returns once the results are in the store, not when the driver has
/// decided them: a store that is slow to save holds the waiter back.
#[tokio::test]
// The lock is the slow disk: held across awaits on purpose, it blocks only the writer thread.
#[allow(clippy::await_holding_lock)]
async fn wait_for_flows_returns_once_the_results_are_saved() {
    let (reports, mut saves) = tokio::sync::mpsc::unbounded_channel();
    let hold = Arc::new(std::sync::Mutex::new(()));
    let store: Arc<dyn ResultStore> = Arc::new(Reporting {
        inner: MemoryStore::new(),
        saved: reports,
        refuse_begin: false,
        hold: Some(Arc::clone(&hold)),
    });
    let ctx = FlowContext::builder().store(store).build();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    ctx.register_flow(fail("b", "no").build()).unwrap();
    let mut events = ctx.subscribe();
    let held = hold.lock().unwrap();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    let waiter = ctx.clone();
    let wait = tokio::spawn(async move { waiter.wait_for_flows(&["a", "b"], None).await });
    let mut ended = 0;
    let mut run_id = None;
    while ended < 2 {
        let event = events.recv().await.unwrap();
        if let EventKind::FlowFinished { .. } = event.kind {
            ended += 1;
        }
        run_id = Some(event.run_id);
    }
    // Both ended, and the driver has published that; the store has not saved them.
    assert_eq!(ctx.status("a"), Some(FlowStatus::Completed));
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        !wait.is_finished(),
        "returned before the results were saved"
    );
    drop(held);
    let statuses = wait.await.unwrap().unwrap();
    assert_eq!(
        statuses,
        vec![
            (id("a"), FlowStatus::Completed),
            (id("b"), FlowStatus::Failed)
        ]
    );
    let run_id = run_id.unwrap();
    assert_eq!(saved(&ctx, &run_id, "a").output, json!(1));
    assert_eq!(saved(&ctx, &run_id, "b").status, FlowStatus::Failed);
    assert!(saves.recv().await.is_some());
    run.await.unwrap().unwrap();
}

/// A run whose future is dropped leaves its unfinished flows cancelled: waiters return.
/// `cleanup` ends a waiter with an error naming the flow it forgot.
#[tokio::test]
async fn waiters_return_when_a_run_is_dropped_or_the_context_cleaned_up() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    ctx.register_flow(forever("f").build()).unwrap();
    let run = run_started(&ctx, Some("f")).await;
    let waiter = ctx.clone();
    let wait = tokio::spawn(async move { waiter.wait_for_flows(&["a", "f"], None).await });
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    assert_eq!(
        wait.await.unwrap().unwrap(),
        vec![
            (id("a"), FlowStatus::Completed),
            (id("f"), FlowStatus::Cancelled)
        ]
    );

    let waiter = ctx.clone();
    ctx.register_flow(forever("g").build()).unwrap();
    let wait = tokio::spawn(async move { waiter.wait_for_flows(&["g"], None).await });
    tokio::task::yield_now().await;
    ctx.cleanup().await;
    assert!(matches!(
        wait.await.unwrap(),
        Err(CoreError::CleanedUp(flow)) if flow.as_str() == "g"
    ));
}

/// A run whose future is dropped ends in the store too: its unfinished flows are recorded
/// cancelled and the run's record is finished, with counts that add up.
#[tokio::test]
async fn a_dropped_run_is_recorded_cancelled_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ResultStore> =
        Arc::new(flow_results::SqliteStore::open(dir.path().join("flow.db")).unwrap());
    let ctx = FlowContext::builder().store(Arc::clone(&store)).build();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    ctx.register_flow(forever("f").build()).unwrap();
    ctx.register_flow(ok("w", json!(2)).requires(id("f")).build())
        .unwrap();
    let run = run_started(&ctx, Some("f")).await;
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    // The context's writer saves the dropped run's records after it is gone, in order: once a
    // later run of the context has begun and finished there, they are saved.
    ctx.cleanup().await;
    ctx.register_flow(ok("later", json!(3)).build()).unwrap();
    let later = ctx.run().await.unwrap();
    let runs = store.runs().unwrap();
    let record = (runs.iter())
        .find(|r| r.run_id != later.run_id)
        .unwrap_or_else(|| panic!("the dropped run is not in the store: {runs:?}"))
        .clone();
    assert!(record.finished_at.is_some(), "{record:?}");
    let c = record.counts;
    assert_eq!(
        (c.completed, c.cancelled, c.pending, c.running, c.failed),
        (1, 2, 0, 0, 0),
        "{record:?}"
    );
    let statuses: Vec<(String, FlowStatus)> = (store.results(&record.run_id).unwrap().iter())
        .map(|r| (r.flow_id.to_string(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("a".to_owned(), FlowStatus::Completed),
            ("f".to_owned(), FlowStatus::Cancelled),
            ("w".to_owned(), FlowStatus::Cancelled)
        ]
    );
}

/// Cancel-all stops running flows and records the others cancelled; the store has a
/// "running" record while a flow runs and the final one after.
#[tokio::test]
async fn cancel_all_and_running_records() {
    let (saved, mut saves) = tokio::sync::mpsc::unbounded_channel();
    let store: Arc<dyn ResultStore> = Arc::new(Reporting {
        inner: MemoryStore::new(),
        saved,
        refuse_begin: false,
        hold: None,
    });
    let ctx = FlowContext::builder()
        .store(Arc::clone(&store))
        .jobs(1)
        .build();
    ctx.register_flow(forever("a").build()).unwrap();
    ctx.register_flow(ok("b", json!(1)).build()).unwrap();
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    let run_id = loop {
        if let EventKind::RunStarted { .. } = events.recv().await.unwrap().kind {
            break ctx.active_run().unwrap();
        }
    };
    assert_eq!(
        saves.recv().await.unwrap(),
        ("a".to_owned(), FlowStatus::Running)
    );
    let running = store.result(&run_id, &id("a")).unwrap().unwrap();
    assert_eq!(running.status, FlowStatus::Running);
    assert!(running.started_at.is_some() && running.finished_at.is_none());
    ctx.cancel_all();
    let summary = run.await.unwrap().unwrap();
    assert!(summary.cancelled);
    assert_eq!(summary.counts.cancelled, 2);
    let b = store.result(&run_id, &id("b")).unwrap().unwrap();
    assert_eq!((b.status, b.attempts), (FlowStatus::Cancelled, 0));
    let record = store.run(&run_id).unwrap().unwrap();
    assert_eq!(record.counts.cancelled, 2);
    assert!(record.finished_at.is_some());
}

/// A store that cannot begin the run fails the run with an error naming the run and the
/// store; the flows are cancelled.
#[tokio::test]
async fn a_store_that_cannot_begin_fails_the_run() {
    let (saved, _saves) = tokio::sync::mpsc::unbounded_channel();
    let store: Arc<dyn ResultStore> = Arc::new(Reporting {
        inner: MemoryStore::new(),
        saved,
        refuse_begin: true,
        hold: None,
    });
    let ctx = FlowContext::builder().store(store).build();
    ctx.register_flow(forever("a").build()).unwrap();
    let err = ctx.run().await.unwrap_err();
    assert!(matches!(err, CoreError::Store { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("the result store failed to begin run `"),
        "{message}"
    );
    assert!(message.ends_with("in `reporting memory`"), "{message}");
    assert!(ctx.active_run().is_none());
    assert_eq!(ctx.status("a"), Some(FlowStatus::Cancelled));
}

/// Resume reuses completed, unchanged flows with their outputs, and runs the failed ones,
/// the changed ones and everything downstream of them.
#[tokio::test]
async fn resume_runs_only_the_unfinished_and_the_changed() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let broken = Arc::new(AtomicBool::new(true));
    let counters: Vec<Arc<AtomicUsize>> = (0..5).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    // a -> b -> c, a -> d (flaky), d -> e, a -> e
    let build = |version: &str| {
        let ctx = FlowContext::builder().store(Arc::clone(&store)).build();
        ctx.register_flow(counted("a", Arc::clone(&counters[0])).build())
            .unwrap();
        ctx.register_flow(
            counted("b", Arc::clone(&counters[1]))
                .version(version)
                .requires(id("a"))
                .build(),
        )
        .unwrap();
        ctx.register_flow(
            Flow::async_fn(id("c"), {
                let counter = Arc::clone(&counters[2]);
                move |input| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move { Ok::<_, String>(json!([input.parent("b"), input.parent("a")])) }
                }
            })
            .requires(id("b"))
            .build(),
        )
        .unwrap();
        let flag = Arc::clone(&broken);
        let counter = Arc::clone(&counters[3]);
        ctx.register_flow(
            Flow::async_fn(id("d"), move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                let fail = flag.load(Ordering::SeqCst);
                async move {
                    if fail {
                        Err("flaky".to_owned())
                    } else {
                        Ok(json!("d"))
                    }
                }
            })
            .requires(id("a"))
            .build(),
        )
        .unwrap();
        ctx.register_flow(
            Flow::async_fn(id("e"), {
                let counter = Arc::clone(&counters[4]);
                move |input| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move { Ok::<_, String>(json!([input.parent("a"), input.parent("d")])) }
                }
            })
            .requires(id("d"))
            .requires(id("a"))
            .build(),
        )
        .unwrap();
        ctx
    };
    let counts = || {
        counters
            .iter()
            .map(|c| c.swap(0, Ordering::SeqCst))
            .collect::<Vec<_>>()
    };

    let first = build("1").run().await.unwrap();
    assert_eq!((first.counts.completed, first.counts.failed), (3, 2));
    assert_eq!(counts(), [1, 1, 1, 1, 0]);

    broken.store(false, Ordering::SeqCst);
    let ctx = build("1");
    let second = ctx
        .run_with(RunOptions::new().resume_from(first.run_id.clone()))
        .await
        .unwrap();
    assert!(second.is_success());
    assert_eq!(second.reused, 3);
    assert_eq!(counts(), [0, 0, 0, 1, 1]);
    let e = saved(&ctx, &second.run_id, "e");
    assert_eq!(e.output, json!(["a", "d"]), "a reused output is handed on");
    let c = saved(&ctx, &second.run_id, "c");
    assert_eq!(
        c.output,
        json!(["b", null]),
        "a reused flow keeps its output"
    );

    // Changing b re-runs b and c only.
    let third = build("2")
        .run_with(RunOptions::new().resume_from(second.run_id.clone()))
        .await
        .unwrap();
    assert!(third.is_success());
    assert_eq!(counts(), [0, 1, 1, 0, 0]);

    let unknown = flow_results::RunId::new_now();
    let err = build("2")
        .run_with(RunOptions::new().resume_from(unknown))
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::UnknownRun(_)), "{err}");
}

/// Blocking flows run on the thread executor and get the same input.
#[tokio::test]
async fn blocking_flows_run_on_threads() {
    let ctx = FlowContext::builder().threads(2).build();
    ctx.register_flow(ok("n", json!(20)).build()).unwrap();
    ctx.register_flow(
        Flow::blocking(id("double"), |input| {
            let n = input.parent("n").and_then(Value::as_i64).ok_or("no n")?;
            Ok::<_, &str>(json!(
                n * 2 + i64::from(std::thread::current().name().is_some())
            ))
        })
        .requires(id("n"))
        .build(),
    )
    .unwrap();
    ctx.register_flow(
        Flow::blocking(id("panics"), |_| -> Result<Value, String> {
            panic!("kaboom")
        })
        .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    let double = saved(&ctx, &summary.run_id, "double");
    assert_eq!(double.output, json!(41));
    let panics = saved(&ctx, &summary.run_id, "panics");
    assert!(panics.failure.unwrap().message.contains("kaboom"));
}

/// An async flow that panics, when called or later while it runs, fails as a blocking flow
/// that panics does: the run goes on, its required children fail behind it.
#[tokio::test]
async fn a_panicking_async_flow_fails_and_the_run_goes_on() {
    let ctx = FlowContext::new();
    ctx.register_flow(
        Flow::async_fn(
            id("at_call"),
            |_| -> std::future::Ready<Result<Value, String>> { panic!("kaboom at call") },
        )
        .build(),
    )
    .unwrap();
    ctx.register_flow(
        Flow::async_fn(id("in_poll"), |_| async {
            tokio::task::yield_now().await;
            panic!("kaboom in poll");
            #[allow(unreachable_code)]
            Ok::<_, String>(Value::Null)
        })
        .build(),
    )
    .unwrap();
    ctx.register_flow(ok("child", json!(1)).requires(id("in_poll")).build())
        .unwrap();
    ctx.register_flow(ok("other", json!(2)).build()).unwrap();
    let summary = ctx.run().await.unwrap();
    for (flow, message) in [("at_call", "kaboom at call"), ("in_poll", "kaboom in poll")] {
        let failure = saved(&ctx, &summary.run_id, flow).failure.unwrap();
        assert_eq!(failure.kind, FailureKind::Error);
        assert!(failure.message.contains("panicked"), "{failure:?}");
        assert!(failure.message.contains(message), "{failure:?}");
    }
    assert_eq!(
        saved(&ctx, &summary.run_id, "child").failure.unwrap().kind,
        FailureKind::Upstream {
            flow: id("in_poll")
        }
    );
    assert_eq!(saved(&ctx, &summary.run_id, "other").output, json!(2));
}

/// A task flow without a process pool fails and says how to fix it.
#[tokio::test]
async fn a_task_flow_needs_a_process_pool() {
    let ctx = FlowContext::new();
    ctx.register_flow(Flow::task(id("t"), "double").build())
        .unwrap();
    let summary = ctx.run().await.unwrap();
    let t = saved(&ctx, &summary.run_id, "t");
    assert!(
        t.failure
            .unwrap()
            .message
            .contains("ContextBuilder::process_pool"),
        "the message names the fix"
    );
}

/// Events carry increasing sequence numbers; a run starts and finishes with one event each.
#[tokio::test]
async fn events_are_numbered_and_framed_by_the_run() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    ctx.register_flow(ok("b", json!(1)).requires(id("a")).build())
        .unwrap();
    let mut events = ctx.subscribe();
    let summary = ctx.run().await.unwrap();
    let events = drain(&mut events);
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(matches!(
        events.first().unwrap().kind,
        EventKind::RunStarted { flows: 2, .. }
    ));
    match &events.last().unwrap().kind {
        EventKind::RunFinished { summary: s } => assert_eq!(s, &summary),
        other => panic!("last event {other:?}"),
    }
    assert!(events.iter().all(|e| e.run_id == summary.run_id));

    // The same events as a stream, which ends when the context is gone.
    let stream = ctx.subscribe().into_stream();
    ctx.run().await.unwrap();
    drop(ctx);
    let kinds: Vec<_> = futures::StreamExt::collect::<Vec<_>>(stream).await;
    assert_eq!(
        kinds.len(),
        6,
        "run started, 2 x (started, finished), run finished"
    );
    assert!(kinds.iter().all(Result::is_ok));
}

/// Dropping the run future cancels the run: the context is free for the next run at once,
/// and the dropped run's command is stopped.
#[tokio::test]
async fn dropping_the_run_cancels_it() {
    let ctx = FlowContext::new();
    ctx.register_flow(
        Flow::command(
            id("sleepy"),
            flow_core::CommandSpec::argv(["sleep", "30"]).grace(Duration::from_millis(100)),
        )
        .build(),
    )
    .unwrap();
    let mut events = ctx.subscribe();
    {
        let run = ctx.run();
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => panic!("the run cannot end by itself"),
            _ = async {
                while !matches!(events.recv().await.unwrap().kind, EventKind::FlowStarted { .. }) {}
            } => {}
        }
    }
    assert!(ctx.active_run().is_none());
    // The next run starts at once; cancelling it stops its command too.
    let started = Instant::now();
    let run = run_started(&ctx, None).await;
    ctx.cancel_all();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.counts.cancelled, 1);
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// `cancel_all` at the very instant a retry comes due starts no new attempt: the flow ends
/// cancelled after its one attempt (the timer and the cancel race; the cancel wins).
#[tokio::test(start_paused = true)]
async fn cancel_all_as_a_retry_comes_due_starts_no_attempt() {
    for _ in 0..20 {
        let ctx = FlowContext::new();
        let attempts = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&attempts);
        ctx.register_flow(
            Flow::async_fn(id("f"), move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
                async { Err::<Value, _>("boom") }
            })
            .retry(RetryPolicy::fixed(5, Duration::from_secs(10)))
            .build(),
        )
        .unwrap();
        let mut events = ctx.subscribe();
        let runner = ctx.clone();
        let run = tokio::spawn(async move { runner.run().await });
        while !matches!(
            events.recv().await.unwrap().kind,
            EventKind::AttemptFailed { .. }
        ) {}
        // The paused clock moves to the instant the backoff ends.
        tokio::time::advance(Duration::from_secs(10)).await;
        ctx.cancel_all();
        let summary = run.await.unwrap().unwrap();
        let f = saved(&ctx, &summary.run_id, "f");
        assert_eq!(
            (f.status, attempts.load(Ordering::SeqCst)),
            (FlowStatus::Cancelled, 1)
        );
    }
}

/// A flow that watches its cancellation and returns an error when told to stop is recorded
/// cancelled, whether it was cancelled alone or with the whole run, and is not retried.
#[tokio::test]
async fn a_flow_that_stops_when_cancelled_is_recorded_cancelled() {
    for alone in [true, false] {
        let ctx = FlowContext::new();
        ctx.register_flow(
            Flow::async_fn(id("coop"), |input| async move {
                input.cancellation().cancelled().await;
                Err::<Value, _>("stopped on request")
            })
            .retry(RetryPolicy::fixed(3, Duration::from_secs(1)))
            .build(),
        )
        .unwrap();
        let run = run_started(&ctx, None).await;
        if alone {
            ctx.cancel("coop").unwrap();
        } else {
            ctx.cancel_all();
        }
        let summary = run.await.unwrap().unwrap();
        let coop = saved(&ctx, &summary.run_id, "coop");
        assert_eq!(
            (coop.status, coop.attempts),
            (FlowStatus::Cancelled, 1),
            "alone: {alone}"
        );
        assert_eq!(coop.failure.unwrap().kind, FailureKind::Cancelled);
    }
}

/// A parent named twice, required and then optional, counts once with the type given last:
/// the same before the run and for a flow that joins it.
#[tokio::test]
async fn a_parent_named_twice_counts_once_with_its_last_type() {
    let declared = || {
        ok("c", json!(1))
            .requires(id("bad"))
            .optionally_after(id("bad"))
            .build()
    };
    let ctx = FlowContext::new();
    ctx.register_flow(fail("bad", "x").build()).unwrap();
    ctx.register_flow(declared()).unwrap();
    let summary = ctx.run().await.unwrap();
    assert_eq!(
        saved(&ctx, &summary.run_id, "c").status,
        FlowStatus::Completed
    );

    let ctx = FlowContext::new();
    let gate = Arc::new(tokio::sync::Notify::new());
    let opened = Arc::clone(&gate);
    ctx.register_flow(
        Flow::async_fn(id("bad"), move |_| {
            let opened = Arc::clone(&opened);
            async move {
                opened.notified().await;
                Err::<Value, _>("x")
            }
        })
        .build(),
    )
    .unwrap();
    let run = run_started(&ctx, Some("bad")).await;
    ctx.register_flow(declared()).unwrap();
    gate.notify_one();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(
        saved(&ctx, &summary.run_id, "c").status,
        FlowStatus::Completed
    );
}

/// A run given an id that names another time (as a test's reproducible id does) is stored
/// with the time it really started.
#[tokio::test]
async fn a_chosen_run_id_does_not_set_the_run_start() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let ctx = FlowContext::builder().store(Arc::clone(&store)).build();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    let first = ctx.run().await.unwrap();
    let old = chrono::DateTime::parse_from_rfc3339("2001-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let chosen = flow_results::RunId::with_suffix(old, "test").unwrap();
    let before = chrono::Utc::now();
    let summary = ctx
        .run_with(RunOptions::new().run_id(chosen.clone()))
        .await
        .unwrap();
    let record = store.run(&chosen).unwrap().unwrap();
    assert!(record.started_at >= before, "{record:?}");
    assert_eq!(record.started_at, summary.started_at);
    assert!(record.duration().unwrap() < chrono::TimeDelta::minutes(1));
    assert_ne!(first.run_id, chosen);
}

/// A flow that returns a value nested deeper than a store can read back fails, alone: the
/// rest of the run is saved and goes on.
#[tokio::test]
async fn a_value_too_deep_to_store_fails_only_its_flow() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ResultStore> =
        Arc::new(flow_results::SqliteStore::open(dir.path().join("flow.db")).unwrap());
    let ctx = FlowContext::builder().store(Arc::clone(&store)).build();
    let deep = (0..200).fold(json!(0), |inner, _| Value::Array(vec![inner]));
    ctx.register_flow(ok("deep", deep).build()).unwrap();
    ctx.register_flow(ok("fine", json!([[1]])).build()).unwrap();
    ctx.register_flow(ok("after", json!(1)).optionally_after(id("deep")).build())
        .unwrap();
    let summary = ctx.run().await.unwrap();
    assert!(summary.store_errors.is_empty(), "{summary:?}");
    let deep = saved(&ctx, &summary.run_id, "deep");
    assert_eq!(deep.status, FlowStatus::Failed);
    let message = deep.failure.unwrap().message;
    assert!(
        message.contains("nested more than 126 levels deep"),
        "{message}"
    );
    assert_eq!(saved(&ctx, &summary.run_id, "fine").output, json!([[1]]));
    assert_eq!(
        saved(&ctx, &summary.run_id, "after").status,
        FlowStatus::Completed
    );
}
