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

/// Sends on its channel when dropped: kept in a thread-local, it says that its thread ended.
struct OnThreadEnd(mpsc::Sender<()>);

impl Drop for OnThreadEnd {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

thread_local! {
    static ON_THREAD_END: std::cell::RefCell<Option<OnThreadEnd>> =
        const { std::cell::RefCell::new(None) };
}

/// A closure that does not return when abandoned: it ignores its token and blocks until the
/// test sends on (or drops) `release`. Its thread will tell `ended` when it ends.
struct Stuck {
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
    ended: mpsc::Receiver<()>,
}

impl Stuck {
    fn new() -> (
        Self,
        impl FnOnce(Value, CancellationToken) -> Result<Value, String> + Send + 'static,
    ) {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let (ended_tx, ended) = mpsc::channel();
        let body = move |_, _| {
            ON_THREAD_END.with(|slot| *slot.borrow_mut() = Some(OnThreadEnd(ended_tx)));
            started_tx.send(()).map_err(|e| e.to_string())?;
            let _ = release_rx.recv();
            Ok(json!("late"))
        };
        (
            Stuck {
                started,
                release,
                ended,
            },
            body,
        )
    }

    /// Waits until the body runs (on a runtime with more than one thread).
    async fn started(&self) {
        let started = &self.started;
        tokio::task::block_in_place(|| started.recv().unwrap());
    }

    /// Lets the closure return, and waits until its thread has ended.
    async fn release_and_see_its_thread_end(self) {
        let Stuck { release, ended, .. } = self;
        release.send(()).unwrap();
        within("the abandoned thread's end", async {
            tokio::task::spawn_blocking(move || ended.recv().unwrap())
                .await
                .unwrap();
        })
        .await;
    }
}

/// `work`, which must end: a test of a pool that keeps a thread busy with an abandoned
/// closure would otherwise hang instead of failing.
async fn within<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), work).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not come within 30 s: a pool thread is still held"),
    }
}

/// Two bodies that each wait for the other: they end only if two threads run them at once.
async fn two_at_once(threads: &ThreadExecutor) {
    let meet = Arc::new(std::sync::Barrier::new(2));
    let body = |meet: Arc<std::sync::Barrier>| {
        move |v, _| {
            meet.wait();
            Ok(v)
        }
    };
    let cancel = CancellationToken::new;
    let (a, b) = within(
        "two bodies at once",
        futures::future::join(
            threads.run(body(Arc::clone(&meet)), json!("a"), None, cancel()),
            threads.run(body(meet), json!("b"), None, cancel()),
        ),
    )
    .await;
    assert_eq!((a.unwrap(), b.unwrap()), (json!("a"), json!("b")));
}

/// Regression: a closure that timed out kept its thread until it returned, so the pool ran
/// one thread short (a pool of one ran nothing more) for as long as it did not return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_closure_gives_its_place_in_the_pool_to_a_new_thread() {
    let threads = ThreadExecutor::new(2).unwrap();
    let mut stuck = Vec::new();
    // More closures abandoned than the pool has threads: each is replaced.
    for _ in 0..3 {
        let (closure, body) = Stuck::new();
        let timeout = Duration::from_millis(20);
        let failure = within(
            "the timeout",
            threads.run(body, Value::Null, Some(timeout), CancellationToken::new()),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(failure, TaskFailure::TimedOut(t) if t == timeout),
            "{failure:?}"
        );
        closure.started().await;
        stuck.push(closure);
    }
    assert_eq!(threads.threads(), 2);
    two_at_once(&threads).await;
    for closure in stuck {
        closure.release_and_see_its_thread_end().await;
    }
    two_at_once(&threads).await;
}

/// Regression: a task queued behind a closure that never returns ran only when it returned;
/// its own timeout, which counts from its start, never ran either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_queued_behind_a_closure_that_times_out_runs_once_it_is_abandoned() {
    let threads = ThreadExecutor::new(1).unwrap();
    let (closure, body) = Stuck::new();
    let timeout = Some(Duration::from_millis(50));
    let (stuck, queued) = within(
        "both tasks",
        futures::future::join(
            threads.run(body, Value::Null, timeout, CancellationToken::new()),
            threads.run(|v, _| Ok(v), json!("q"), timeout, CancellationToken::new()),
        ),
    )
    .await;
    assert!(matches!(stuck, Err(TaskFailure::TimedOut(_))), "{stuck:?}");
    assert_eq!(queued.unwrap(), json!("q"));
    closure.started().await;
    closure.release_and_see_its_thread_end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_closure_gives_its_place_in_the_pool_to_a_new_thread() {
    let threads = ThreadExecutor::new(1).unwrap();
    let (closure, body) = Stuck::new();
    let cancel = CancellationToken::new();
    let (result, _) = within(
        "the cancel",
        futures::future::join(
            threads.run(body, Value::Null, None, cancel.clone()),
            async {
                closure.started().await;
                cancel.cancel();
            },
        ),
    )
    .await;
    assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
    let next = within(
        "the next task",
        threads.run(|v, _| Ok(v), json!(2), None, CancellationToken::new()),
    )
    .await;
    assert_eq!(next.unwrap(), json!(2));
    closure.release_and_see_its_thread_end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_whose_caller_went_away_gives_its_place_in_the_pool_to_a_new_thread() {
    let threads = ThreadExecutor::new(1).unwrap();
    let (closure, body) = Stuck::new();
    let caller = tokio::spawn({
        let threads = threads.clone();
        async move {
            threads
                .run(body, Value::Null, None, CancellationToken::new())
                .await
        }
    });
    closure.started().await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    let next = within(
        "the next task",
        threads.run(|v, _| Ok(v), json!(3), None, CancellationToken::new()),
    )
    .await;
    assert_eq!(next.unwrap(), json!(3));
    closure.release_and_see_its_thread_end().await;
}
