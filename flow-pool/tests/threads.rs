//! The thread executor through the public API: values, errors, panics, timeouts and cancels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use flow_pool::{CancellationToken, TaskFailure, ThreadExecutor};
use futures::FutureExt;
use serde_json::{json, Value};

#[tokio::test]
async fn values_errors_and_panics_come_back() {
    let threads = ThreadExecutor::new(2).unwrap();
    let doubled = threads
        .run(
            |v, _| Ok(json!(v.as_i64().unwrap_or(0) * 2)),
            json!(21),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(doubled, json!(42));

    let failure = threads
        .run(
            |_, _| Err("no good".to_owned()),
            Value::Null,
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, TaskFailure::Error(m) if m == "no good"),
        "{failure:?}"
    );

    let failure = threads
        .run(
            |_, _| panic!("thread boom {}", 7),
            Value::Null,
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, TaskFailure::Panicked(m) if m == "thread boom 7"),
        "{failure:?}"
    );

    // The thread that caught the panic still serves.
    let after = threads
        .run(
            |v, _| Ok(v),
            json!("still here"),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(after, json!("still here"));
}

/// A task that waits for its token, reporting on `stopped` when it saw the cancel.
fn waits_for_token(
    started: mpsc::Sender<()>,
    stopped: mpsc::Sender<()>,
) -> impl FnOnce(Value, CancellationToken) -> Result<Value, String> + Send + 'static {
    move |_, token: CancellationToken| {
        started.send(()).map_err(|e| e.to_string())?;
        while !token.is_cancelled() {
            std::thread::park_timeout(Duration::from_millis(1));
        }
        stopped.send(()).map_err(|e| e.to_string())?;
        Ok(json!("late"))
    }
}

#[tokio::test]
async fn timeout_returns_at_once_and_cancels_the_task_token() {
    let threads = ThreadExecutor::new(1).unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped_rx) = mpsc::channel();
    let failure = threads
        .run(
            waits_for_token(started_tx, stopped_tx),
            Value::Null,
            Some(Duration::from_millis(50)),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(failure, TaskFailure::TimedOut(t) if t == Duration::from_millis(50)));
    started_rx.recv().unwrap();
    // The task saw its token and stopped itself; the only thread is free again.
    tokio::task::spawn_blocking(move || stopped_rx.recv().unwrap())
        .await
        .unwrap();
    let next = threads
        .run(|v, _| Ok(v), json!(1), None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(next, json!(1));
}

#[tokio::test]
async fn cancel_returns_cancelled() {
    let threads = ThreadExecutor::new(1).unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped_rx) = mpsc::channel();
    let cancel = CancellationToken::new();
    let run = threads.run(
        waits_for_token(started_tx, stopped_tx),
        Value::Null,
        None,
        cancel.clone(),
    );
    let (result, ()) = tokio::join!(run, async {
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        cancel.cancel();
    });
    assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
    tokio::task::spawn_blocking(move || stopped_rx.recv().unwrap())
        .await
        .unwrap();

    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let result = threads
        .run(|v, _| Ok(v), Value::Null, None, cancelled)
        .await;
    assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
}

/// Occupies the only thread of `threads` until the returned sender is dropped or sent to;
/// returns once the blocker's body runs.
async fn occupy(threads: &ThreadExecutor) -> (mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let blocker = tokio::spawn({
        let threads = threads.clone();
        async move {
            let body = move |_, _| {
                started_tx.send(()).map_err(|e| e.to_string())?;
                let _ = release_rx.recv();
                Ok(Value::Null)
            };
            let held = threads.run(body, Value::Null, None, CancellationToken::new());
            held.await.unwrap();
        }
    });
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    (release_tx, blocker)
}

/// A body that records that it ran.
fn marks(ran: &Arc<AtomicBool>) -> impl FnOnce(Value, CancellationToken) -> Result<Value, String> {
    let ran = Arc::clone(ran);
    move |v, _| {
        ran.store(true, Ordering::SeqCst);
        Ok(v)
    }
}

/// Waits until the only thread has taken every job queued so far: a job queued now runs
/// after them.
async fn drain(threads: &ThreadExecutor) {
    let done = threads
        .run(
            |v, _| Ok(v),
            json!("drained"),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(done, json!("drained"));
}

#[tokio::test]
async fn the_timeout_counts_from_when_the_body_starts() {
    let threads = ThreadExecutor::new(1).unwrap();
    let (release, blocker) = occupy(&threads).await;
    let timeout = Duration::from_millis(100);
    let ran = Arc::new(AtomicBool::new(false));
    let queued = threads.run(
        marks(&ran),
        json!(7),
        Some(timeout),
        CancellationToken::new(),
    );
    let (result, ()) = tokio::join!(queued, async {
        // The queue wait itself must outlast the timeout: there is no event to await here.
        tokio::time::sleep(timeout * 3).await;
        release.send(()).unwrap();
    });
    assert_eq!(result.unwrap(), json!(7), "the queue wait counted");
    assert!(ran.load(Ordering::SeqCst));
    blocker.await.unwrap();
}

#[tokio::test]
async fn a_task_cancelled_while_queued_never_runs() {
    let threads = ThreadExecutor::new(1).unwrap();
    let (release, blocker) = occupy(&threads).await;
    let ran = Arc::new(AtomicBool::new(false));
    let cancel = CancellationToken::new();
    let queued = threads.run(
        marks(&ran),
        Value::Null,
        Some(Duration::from_secs(60)),
        cancel.clone(),
    );
    let (result, ()) = tokio::join!(queued, async { cancel.cancel() });
    assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
    release.send(()).unwrap();
    blocker.await.unwrap();
    drain(&threads).await;
    assert!(!ran.load(Ordering::SeqCst), "the cancelled task ran later");
}

#[tokio::test]
async fn a_task_whose_caller_went_away_while_queued_never_runs() {
    let threads = ThreadExecutor::new(1).unwrap();
    let (release, blocker) = occupy(&threads).await;
    let ran = Arc::new(AtomicBool::new(false));
    // Polled once (the job is queued), then dropped.
    let queued = threads.run(marks(&ran), Value::Null, None, CancellationToken::new());
    assert!(queued.now_or_never().is_none());
    release.send(()).unwrap();
    blocker.await.unwrap();
    drain(&threads).await;
    assert!(!ran.load(Ordering::SeqCst), "the abandoned task ran later");
}

#[test]
fn default_has_at_least_one_thread() {
    assert!(ThreadExecutor::default().threads() >= 1);
}
