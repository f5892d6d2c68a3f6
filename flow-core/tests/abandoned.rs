//! Blocking flows abandoned on timeout: a closure that never returns holds no thread of the
//! context's pool, so the flows after it run, in this run and the next.

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{id, saved};
use flow_core::{FailureKind, Flow, FlowContext, RunSummary};
use serde_json::json;

/// `ctx.run()`, which must end: a run waiting for a thread that an abandoned closure holds
/// would otherwise hang instead of failing.
async fn run(ctx: &FlowContext) -> RunSummary {
    match tokio::time::timeout(Duration::from_secs(30), ctx.run()).await {
        Ok(summary) => summary.unwrap(),
        Err(_) => panic!("the run did not end within 30 s: a blocking flow waits for a thread"),
    }
}

/// Regression: with one thread, a blocking flow that timed out kept the thread until its
/// closure returned, and every later blocking flow (its timeout too) waited for it, in this
/// run and the next on the same context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_flow_that_never_returns_does_not_stall_the_later_ones() {
    let ctx = FlowContext::builder().jobs(2).threads(1).build();
    // Every attempt of `stuck` blocks until the test ends (drops `release`).
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let timeout = Duration::from_millis(100);
    ctx.register_flow(
        Flow::blocking(id("stuck"), move |_| {
            let _ = released.lock().unwrap().recv();
            Ok::<_, String>(json!("late"))
        })
        .timeout(timeout)
        .build(),
    )
    .unwrap();
    // Starts once `stuck` has been abandoned, so only a new thread can run it.
    ctx.register_flow(
        Flow::blocking(id("after"), |_| Ok::<_, String>(json!("q")))
            .timeout(Duration::from_secs(2))
            .optionally_after(id("stuck"))
            .build(),
    )
    .unwrap();
    for _ in 0..2 {
        let summary = run(&ctx).await;
        let stuck = saved(&ctx, &summary.run_id, "stuck").failure.unwrap();
        assert_eq!(stuck.kind, FailureKind::Timeout, "{stuck:?}");
        assert_eq!(stuck.message, "the attempt timed out after 100ms");
        assert_eq!(saved(&ctx, &summary.run_id, "after").output, json!("q"));
    }
    drop(release);
}

/// As the docs of `Flow::blocking` say: the retry of a blocking flow that timed out does not
/// wait for the abandoned attempt, so with one thread the second attempt runs while the
/// first still does; each sees its own attempt number and the first its token cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_of_a_blocking_flow_runs_beside_its_abandoned_attempt() {
    let ctx = FlowContext::builder().jobs(1).threads(1).build();
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let (report, reports) = mpsc::channel::<(u32, bool)>();
    let report = Arc::new(Mutex::new(report));
    ctx.register_flow(
        Flow::blocking(id("slow"), move |input| {
            if input.attempt() == 1 {
                // Held until the second attempt has run: it cannot have waited for this one.
                let _ = released.lock().unwrap().recv();
                let cancelled = input.cancellation().is_cancelled();
                let _ = report.lock().unwrap().send((1, cancelled));
                return Ok::<_, String>(json!("late"));
            }
            let _ = report.lock().unwrap().send((input.attempt(), false));
            Ok(json!("second"))
        })
        .timeout(Duration::from_millis(100))
        .retry(flow_core::RetryPolicy::fixed(1, Duration::ZERO))
        .build(),
    )
    .unwrap();
    let summary = run(&ctx).await;
    let slow = saved(&ctx, &summary.run_id, "slow");
    assert_eq!((slow.output, slow.attempts), (json!("second"), 2));
    assert_eq!(reports.recv().unwrap(), (2, false), "the retry ran first");
    drop(release);
    let first = tokio::task::spawn_blocking(move || reports.recv().unwrap());
    assert_eq!(
        first.await.unwrap(),
        (1, true),
        "the abandoned attempt ran on"
    );
}
