//! The life of runs on one context, through the public API: runs that follow each other or
//! overlap, `cleanup` while a run ends, flows failed before a run, flows joining a resumed run,
//! waiting in a run that is over.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{counted, forever, id, ok, saved};
use flow_core::{CoreError, EventKind, Flow, FlowContext, FlowStatus, RetryPolicy, RunOptions};
use flow_results::{MemoryStore, ResultStore};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// A flow that completes once `rx` fires: keeps a run going while flows join it.
fn gate(name: &str, rx: oneshot::Receiver<()>) -> flow_core::FlowBuilder {
    let rx = Mutex::new(Some(rx));
    Flow::async_fn(id(name), move |_| {
        let rx = rx.lock().unwrap().take();
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
            Ok::<_, String>(Value::Null)
        }
    })
}

async fn until_started(events: &mut flow_core::EventReceiver, flow: &str) {
    loop {
        let event = events.recv().await.unwrap();
        if let EventKind::FlowStarted { flow: f, .. } = &event.kind {
            if f.as_str() == flow {
                return;
            }
        }
    }
}

async fn until_attempt_failed(events: &mut flow_core::EventReceiver) {
    loop {
        if let EventKind::AttemptFailed { .. } = events.recv().await.unwrap().kind {
            return;
        }
    }
}

/// `fail_flow` before a run: "the next run records it failed without starting it".
#[tokio::test]
async fn flows_failed_before_the_run_never_start() {
    let ctx = FlowContext::builder().jobs(4).build();
    let calls = Arc::new(AtomicUsize::new(0));
    ctx.register_flow(counted("a", calls.clone()).build())
        .unwrap();
    ctx.register_flow(counted("b", calls.clone()).build())
        .unwrap();
    ctx.fail_flow("a", "not today").await.unwrap();
    ctx.fail_flow("b", "not today").await.unwrap();
    let summary = ctx.run().await.unwrap();
    let b = saved(&ctx, &summary.run_id, "b");
    assert_eq!(b.status, FlowStatus::Failed);
    assert_eq!(calls.load(SeqCst), 0, "a flow failed before the run ran");
    assert_eq!(b.attempts, 0);
}

/// Resume: a flow joining the resumed run is reused like one registered before it.
#[tokio::test]
async fn a_flow_joining_a_resumed_run_is_reused() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let first = {
        let ctx = FlowContext::builder().store(store.clone()).build();
        ctx.register_flow(ok("a", json!(1)).build()).unwrap();
        ctx.register_flow(counted("b", calls.clone()).requires(id("a")).build())
            .unwrap();
        ctx.run().await.unwrap()
    };
    assert_eq!(calls.load(SeqCst), 1);
    let ctx = FlowContext::builder().store(store.clone()).build();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    let (open, rx) = oneshot::channel();
    ctx.register_flow(gate("gate", rx).build()).unwrap();
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let from = first.run_id.clone();
    let run =
        tokio::spawn(async move { runner.run_with(RunOptions::new().resume_from(from)).await });
    until_started(&mut events, "gate").await;
    ctx.register_flow(counted("b", calls.clone()).requires(id("a")).build())
        .unwrap();
    open.send(()).unwrap();
    let second = run.await.unwrap().unwrap();
    assert_eq!(
        calls.load(SeqCst),
        1,
        "b joined the resumed run and ran again; registered before, it is reused"
    );
    assert_eq!(second.reused, 2);
}

/// Control for the test above: registered before the run, b is reused.
#[tokio::test]
async fn control_a_flow_registered_before_a_resumed_run_is_reused() {
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let make = |calls: Arc<AtomicUsize>| {
        let ctx = FlowContext::builder().store(store.clone()).build();
        ctx.register_flow(ok("a", json!(1)).build()).unwrap();
        ctx.register_flow(counted("b", calls).requires(id("a")).build())
            .unwrap();
        ctx
    };
    let first = make(calls.clone()).run().await.unwrap();
    let second = make(calls.clone())
        .run_with(RunOptions::new().resume_from(first.run_id))
        .await
        .unwrap();
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(second.reused, 2);
}

/// fail_flow on a flow that joined the run: it is stopped and recorded failed.
#[tokio::test]
async fn fail_flow_on_a_joined_running_flow() {
    let ctx = FlowContext::new();
    let (open, rx) = oneshot::channel();
    ctx.register_flow(gate("gate", rx).build()).unwrap();
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    until_started(&mut events, "gate").await;
    ctx.register_flow(forever("j").build()).unwrap();
    until_started(&mut events, "j").await;
    ctx.fail_flow("j", "by hand").await.unwrap();
    let err = ctx.fail_flow("j", "again").await.unwrap_err();
    assert!(matches!(err, CoreError::AlreadyFinished { .. }), "{err}");
    open.send(()).unwrap();
    let summary = run.await.unwrap().unwrap();
    let j = saved(&ctx, &summary.run_id, "j");
    assert_eq!(j.status, FlowStatus::Failed);
    assert!(j.failure.unwrap().message.contains("by hand"));
}

/// A flow joining after its parent completed gets its output; after it failed, refused.
#[tokio::test]
async fn joining_after_the_parents_finished() {
    let ctx = FlowContext::new();
    let (open, rx) = oneshot::channel();
    ctx.register_flow(gate("gate", rx).build()).unwrap();
    ctx.register_flow(ok("p", json!(41)).build()).unwrap();
    ctx.register_flow(common::fail("q", "no").build()).unwrap();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    let got = ctx.wait_for_flows(&["p", "q"], None).await.unwrap();
    assert_eq!(got[1].1, FlowStatus::Failed);
    ctx.register_flow(
        Flow::async_fn(id("c"), |input| async move {
            Ok::<_, String>(json!(
                input.parent("p").and_then(Value::as_i64).unwrap_or(0) + 1
            ))
        })
        .requires(id("p"))
        .build(),
    )
    .unwrap();
    let refused = ctx
        .register_flow(ok("d", json!(0)).requires(id("q")).build())
        .unwrap_err();
    assert!(
        matches!(refused, CoreError::ParentEnded { .. }),
        "{refused}"
    );
    ctx.register_flow(ok("e", json!(0)).optionally_after(id("q")).build())
        .unwrap();
    let got = ctx.wait_for_flows(&["c", "e"], None).await.unwrap();
    assert_eq!(got[0].1, FlowStatus::Completed);
    assert_eq!(got[1].1, FlowStatus::Completed);
    open.send(()).unwrap();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(saved(&ctx, &summary.run_id, "c").output, json!(42));
}

/// Cancel during a retry wait (a real command, an hour's delay): the run ends now.
#[tokio::test]
async fn cancel_during_a_retry_wait_of_a_command() {
    let ctx = FlowContext::new();
    let spec = flow_core::CommandSpec::shell("exit 3");
    ctx.register_flow(
        Flow::command(id("c"), spec)
            .retry(RetryPolicy::fixed(3, Duration::from_secs(3600)))
            .build(),
    )
    .unwrap();
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    until_attempt_failed(&mut events).await;
    ctx.cancel("c").unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("run ends")
        .unwrap()
        .unwrap();
    let c = saved(&ctx, &summary.run_id, "c");
    assert_eq!((c.status, c.attempts), (FlowStatus::Cancelled, 1));
}

/// cleanup during a retry wait returns and the run ends cancelled.
#[tokio::test]
async fn cleanup_during_a_retry_wait() {
    let ctx = FlowContext::new();
    ctx.register_flow(
        common::fail("f", "no")
            .retry(RetryPolicy::fixed(3, Duration::from_secs(3600)))
            .build(),
    )
    .unwrap();
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    until_attempt_failed(&mut events).await;
    tokio::time::timeout(Duration::from_secs(60), ctx.cleanup())
        .await
        .expect("cleanup returns");
    let summary = run.await.unwrap().unwrap();
    assert!(summary.cancelled);
    assert_eq!(summary.counts.cancelled, 1);
}

/// A run asked for while `cleanup` waits for the cancelled run to end is refused (two runs
/// never share the writer); once cleanup returns, the next run saves its results, and its
/// command flow starts once its parent's result is in the store.
#[tokio::test]
async fn a_run_asked_for_while_cleanup_waits_is_refused_and_the_next_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        flow_results::open_store(&format!("sqlite:{}", dir.path().join("flow.db").display()))
            .unwrap();
    let ctx = FlowContext::builder().store(Arc::from(store)).build();
    ctx.register_flow(forever("hold").build()).unwrap();
    let mut run1 = Box::pin(ctx.run());
    assert!(futures::poll!(&mut run1).is_pending());
    let mut cleanup = Box::pin(ctx.cleanup());
    assert!(futures::poll!(&mut cleanup).is_pending());
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    ctx.register_flow(
        Flow::command(id("b"), flow_core::CommandSpec::shell("true"))
            .requires(id("a"))
            .build(),
    )
    .unwrap();
    let refused = ctx.run().await;
    assert!(
        matches!(refused, Err(CoreError::RunInProgress(_))),
        "{refused:?}"
    );
    let (first, ()) = tokio::join!(run1, cleanup);
    assert_eq!(
        saved(&ctx, &first.unwrap().run_id, "hold").status,
        FlowStatus::Cancelled
    );
    let second = tokio::time::timeout(Duration::from_secs(30), ctx.run())
        .await
        .expect("run 2 ends")
        .unwrap();
    assert_eq!(
        saved(&ctx, &second.run_id, "b").status,
        FlowStatus::Completed
    );
}

/// `wait_for_flows_in_run` for a run that is over, asked while a later run is in progress:
/// the statuses come from the store; a flow that did not take part is an error naming it.
#[tokio::test]
async fn waiting_in_a_run_that_is_over() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    let first = flow_results::RunId::new_now();
    ctx.run_with(RunOptions::new().run_id(first.clone()))
        .await
        .unwrap();
    let (open, rx) = oneshot::channel();
    ctx.register_flow(gate("gate", rx).build()).unwrap();
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    until_started(&mut events, "gate").await;
    let waited = ctx
        .wait_for_flows_in_run(&first, &["a"], Some(Duration::from_secs(30)))
        .await;
    let absent = ctx
        .wait_for_flows_in_run(&first, &["a", "gate"], Some(Duration::from_secs(30)))
        .await;
    open.send(()).unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(waited.unwrap(), vec![(id("a"), FlowStatus::Completed)]);
    assert!(
        matches!(&absent, Err(CoreError::NotInRun { flow, run }) if flow.as_str() == "gate" && *run == first),
        "{absent:?}"
    );
}

/// A run whose future is dropped (its task aborted), then `cleanup`: the command it started
/// must be gone when cleanup returns.
#[tokio::test]
async fn cleanup_after_a_dropped_run_returns_once_its_processes_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let ctx = FlowContext::new();
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    ctx.register_flow(Flow::command(id("sleeper"), flow_core::CommandSpec::shell(&script)).build())
        .unwrap();
    let run = common::run_started(&ctx, Some("sleeper")).await;
    let pid = common::pid_written_to(&pid_file).await;
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    ctx.cleanup().await;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty(), "process {pid} outlived cleanup: {stat}");
}

/// Two tasks calling `run` on one context (one gets `RunInProgress` while the other runs): a
/// run that starts as the previous one returns must not share the writer with it. Every run
/// that returned a summary has each of its flows' results saved under its own id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_runs_from_two_tasks_keep_their_results() {
    let ctx = FlowContext::new();
    for i in 0..20 {
        ctx.register_flow(ok(&format!("f{i}"), json!(i)).build())
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut ran = Vec::new();
            for _ in 0..2000 {
                match ctx.run().await {
                    Ok(summary) => ran.push(summary.run_id),
                    Err(CoreError::RunInProgress(_)) => tokio::task::yield_now().await,
                    Err(other) => panic!("{other}"),
                }
            }
            ran
        }));
    }
    let mut runs = Vec::new();
    for task in tasks {
        runs.extend(task.await.unwrap());
    }
    let mut missing = 0;
    for run in &runs {
        let results = ctx.store().results(run).unwrap();
        if results.len() != 20 || results.iter().any(|r| r.status != FlowStatus::Completed) {
            missing += 1;
        }
    }
    assert_eq!(
        missing,
        0,
        "{missing} of {} runs lost or mixed results",
        runs.len()
    );
}

/// A cancel made by a flow as it starts stops the run before the next flow starts, even when
/// that one was already due (all of them ready and slots for all).
#[tokio::test]
async fn no_flow_starts_after_a_cancel_made_as_the_first_one_started() {
    let ctx = FlowContext::builder().jobs(100).build();
    let started = Arc::new(AtomicUsize::new(0));
    let canceller = ctx.clone();
    let counter = Arc::clone(&started);
    ctx.register_flow(
        Flow::async_fn(id("f0"), move |_| {
            counter.fetch_add(1, SeqCst);
            canceller.cancel_all();
            async { Ok::<_, String>(Value::Null) }
        })
        .build(),
    )
    .unwrap();
    for i in 1..50 {
        let counter = Arc::clone(&started);
        ctx.register_flow(
            Flow::async_fn(id(&format!("f{i}")), move |_| {
                counter.fetch_add(1, SeqCst);
                async { Ok::<_, String>(Value::Null) }
            })
            .build(),
        )
        .unwrap();
    }
    let summary = ctx.run().await.unwrap();
    assert_eq!(started.load(SeqCst), 1, "flows started after the cancel");
    assert_eq!(ctx.status("f1").unwrap(), FlowStatus::Cancelled);
    assert!(!summary.is_success());
}

/// A run whose token was cancelled before it was called starts no flow: every flow is
/// recorded cancelled (a cancel made by `cancel_all` then would reach no run).
#[tokio::test]
async fn a_run_whose_token_is_cancelled_already_starts_no_flow() {
    let ctx = FlowContext::builder().build();
    let started = Arc::new(AtomicUsize::new(0));
    for i in 0..3 {
        let counter = Arc::clone(&started);
        ctx.register_flow(
            Flow::async_fn(id(&format!("f{i}")), move |_| {
                counter.fetch_add(1, SeqCst);
                async { Ok::<_, String>(Value::Null) }
            })
            .build(),
        )
        .unwrap();
    }
    let token = flow_core::CancellationToken::new();
    token.cancel();
    let summary = ctx
        .run_with(RunOptions::new().cancel_on(token))
        .await
        .unwrap();
    assert_eq!(started.load(SeqCst), 0, "flows started after the cancel");
    assert!(summary.cancelled);
    assert_eq!(summary.counts.cancelled, 3);
    let results = ctx.store().results(&summary.run_id).unwrap();
    assert!(results.iter().all(|r| r.status == FlowStatus::Cancelled));
    assert_eq!(results.len(), 3);
}

/// A run given the id of a run the store already holds is refused, in every store, and the
/// stored run keeps its record and its results: the second run writes nothing.
#[tokio::test]
async fn a_run_id_the_store_holds_is_refused_and_the_stored_run_stays() {
    let dir = tempfile::tempdir().unwrap();
    for spec in [
        "memory".to_owned(),
        format!("dir:{}", dir.path().join("results").display()),
        format!("sqlite:{}", dir.path().join("results.db").display()),
    ] {
        let store: Arc<dyn ResultStore> = Arc::from(flow_results::open_store(&spec).unwrap());
        let first = flow_results::RunId::new_now();
        let ctx = FlowContext::builder()
            .store(Arc::clone(&store))
            .workflow("w1")
            .build();
        ctx.register_flow(ok("a", json!(1)).build()).unwrap();
        ctx.register_flow(ok("b", json!(2)).build()).unwrap();
        ctx.run_with(RunOptions::new().run_id(first.clone()))
            .await
            .unwrap();
        let record = store.run(&first).unwrap().unwrap();
        let results = store.results(&first).unwrap();
        assert_eq!(results.len(), 2, "{spec}");

        let other = FlowContext::builder()
            .store(Arc::clone(&store))
            .workflow("w2")
            .build();
        other
            .register_flow(common::fail("a", "no").build())
            .unwrap();
        let err = other
            .run_with(RunOptions::new().run_id(first.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::Store { .. }), "{spec}: {err}");
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("already holds a run"), "{spec}: {cause}");
        assert!(cause.contains(first.as_str()), "{spec}: {cause}");
        assert_eq!(store.run(&first).unwrap(), Some(record), "{spec}");
        assert_eq!(store.results(&first).unwrap(), results, "{spec}");
        assert_eq!(store.runs().unwrap().len(), 1, "{spec}");
    }
}
