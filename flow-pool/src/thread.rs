//! [`ThreadExecutor`]: a bounded set of OS threads for blocking work, fed through one channel.
//!
//! # Caveats
//!
//! A thread cannot be killed. On timeout or cancel (or when the caller stops waiting) the
//! caller gets [`TaskFailure::TimedOut`] or [`TaskFailure::Cancelled`] at once and the task's
//! late result is discarded, but the closure runs on until it returns. The
//! [`CancellationToken`] handed to the closure is cancelled at that moment: a long task should
//! check `token.is_cancelled()` between steps and return early. Work that must really be
//! stoppable belongs in a [`ProcessPool`](crate::ProcessPool).
//!
//! Such an *abandoned* closure no longer counts toward the pool's size: a new thread takes
//! its place at once, so that `threads` closures can run at once again, and the abandoned
//! thread ends when its closure returns (it takes no more work). Each abandonment logs a
//! warning, in the caller's span, with the number of abandoned closures still running: there
//! is no cap, each of them holds an OS thread (and what it owns) until it returns. Should the
//! OS refuse the new thread, the pool logs an error, runs one thread short, and tries again at
//! the next task; with no thread left, tasks fail with [`PoolError::ThreadSpawn`].
//!
//! A timeout counts from when the body starts on a thread; a task cancelled (or whose caller
//! went away) while it waits for a free thread is dropped unrun. The wait for a thread is
//! therefore as long as the closures ahead of it take, and no longer than their timeouts:
//! a closure without a timeout keeps its thread for as long as it runs.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::deadline::{deadline_after, sleep_until};
use crate::{PoolError, TaskFailure};

/// A boxed thread task: takes its input and a token that tells it to stop.
pub type ThreadTask =
    Box<dyn FnOnce(Value, CancellationToken) -> Result<Value, String> + Send + 'static>;

/// One unit of work sent to the threads; says what its thread does next.
type Job = Box<dyn FnOnce() -> Next + Send + 'static>;

/// What a pool thread does once a job is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Take the next job.
    Serve,
    /// End: its closure was abandoned, and another thread took its place.
    End,
}

/// A bounded pool of OS threads running blocking closures.
///
/// Threads start with the executor and park on a shared channel; a task costs one channel
/// send, one wake-up and one oneshot back, no thread spawn. A closure abandoned on timeout or
/// cancel is replaced by a new thread (see the module's Caveats). Dropping the executor (all
/// clones) lets the threads finish their current task and exit.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use flow_pool::{CancellationToken, ThreadExecutor};
/// let threads = ThreadExecutor::new(2).unwrap();
/// let out = threads
///     .run(|input, _token| Ok(serde_json::json!(input.as_i64().unwrap_or(0) * 2)),
///          serde_json::json!(21), None, CancellationToken::new())
///     .await
///     .unwrap();
/// assert_eq!(out, serde_json::json!(42));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ThreadExecutor {
    jobs: Sender<Job>,
    pool: Arc<Pool>,
}

impl ThreadExecutor {
    /// Starts `threads` threads (at least one).
    ///
    /// # Errors
    /// [`PoolError::ThreadSpawn`] if the OS refuses a thread.
    pub fn new(threads: usize) -> Result<Self, PoolError> {
        let (jobs, receiver) = channel::<Job>();
        let pool = Arc::new(Pool {
            jobs: Mutex::new(receiver),
            size: threads.max(1),
            serving: AtomicUsize::new(0),
            abandoned: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
        });
        pool.top_up()?;
        Ok(ThreadExecutor { jobs, pool })
    }

    /// The number of threads: how many closures run at once. Abandoned closures still
    /// running are not counted (see the module's Caveats).
    pub fn threads(&self) -> usize {
        self.pool.size
    }

    /// Runs `task` on a pool thread with `input`.
    ///
    /// `timeout` counts from when the body starts on a thread, not while the task waits for
    /// a free one. A task whose `cancel` fires, or whose caller stops waiting (the future is
    /// dropped), before a thread takes it never runs; one whose body runs then is abandoned,
    /// and a new thread takes its place in the pool.
    ///
    /// # Errors
    /// [`TaskFailure::Error`] with the task's error, [`TaskFailure::Panicked`] with the panic
    /// message, [`TaskFailure::TimedOut`] / [`TaskFailure::Cancelled`] at once when `timeout`
    /// passes or `cancel` fires (see the module's Caveats: a body that started finishes on
    /// its own), [`TaskFailure::Pool`] if the executor's threads are gone and none can be
    /// started.
    pub async fn run<F>(
        &self,
        task: F,
        input: Value,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> Result<Value, TaskFailure>
    where
        F: FnOnce(Value, CancellationToken) -> Result<Value, String> + Send + 'static,
    {
        if cancel.is_cancelled() {
            return Err(TaskFailure::Cancelled);
        }
        // Replaces threads the OS refused after an abandonment, if it can now.
        if let Err(error) = self.pool.top_up() {
            if self.pool.serving.load(Ordering::Acquire) == 0 {
                return Err(TaskFailure::Pool(error));
            }
            tracing::warn!(%error, "the thread pool runs short");
        }
        let queued = Instant::now();
        let (reply, answer) = oneshot::channel();
        let (began, started) = oneshot::channel::<()>();
        // The task's own token (cheaper than a child token), cancelled when the caller stops
        // waiting for any reason (timeout, cancel, or the future dropped); the same moment
        // claims the task, so that a thread that takes it later drops it unrun.
        let stake = Stake::new(Arc::clone(&self.pool));
        let (state, task_token) = (Arc::clone(&stake.state), stake.token.clone());
        let job_cancel = cancel.clone();
        let job: Job = Box::new(move || {
            // Whoever moves the task on first wins: this thread (the body runs) or the caller
            // (it never does). The caller's token is checked too, in case its future was not
            // polled since the cancel.
            if job_cancel.is_cancelled()
                || state
                    .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return Next::Serve;
            }
            let _ = began.send(());
            let outcome = catch_unwind(AssertUnwindSafe(|| task(input, task_token)));
            // The caller may have stopped waiting; a late result is dropped here.
            let _ = reply.send(outcome);
            // Unless the caller abandoned the body meanwhile, and a new thread took this
            // one's place.
            match state.compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => Next::Serve,
                Err(_) => Next::End,
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| TaskFailure::Pool(PoolError::ShutDown))?;
        // Waiting for a thread: only a cancel ends this wait (dropping `stake` claims the
        // task).
        tokio::select! {
            biased;
            began = started => match began {
                Ok(()) => {}
                // The thread dropped the job unrun (the cancel came first) or died.
                Err(_) if cancel.is_cancelled() => return Err(TaskFailure::Cancelled),
                Err(_) => return Err(TaskFailure::Pool(PoolError::ShutDown)),
            },
            () = cancel.cancelled() => {
                tracing::debug!(waited = ?queued.elapsed(), "thread task cancelled while queued");
                // A thread may have started the body a moment ago: then it is abandoned.
                stake.let_go("it was cancelled");
                return Err(TaskFailure::Cancelled);
            }
        };
        // On this runtime's clock, which tests may pause; the body started a moment ago.
        let deadline = deadline_after(timeout);
        let stopped = tokio::select! {
            biased;
            outcome = answer => {
                stake.settled();
                return match outcome {
                    Ok(Ok(result)) => result.map_err(TaskFailure::Error),
                    Ok(Err(panic)) => Err(TaskFailure::Panicked(panic_message(panic.as_ref()))),
                    Err(_) => Err(TaskFailure::Pool(PoolError::ShutDown)),
                };
            }
            () = cancel.cancelled() => TaskFailure::Cancelled,
            () = sleep_until(deadline) => TaskFailure::TimedOut(timeout.unwrap_or_default()),
        };
        tracing::debug!(elapsed = ?queued.elapsed(), reason = %stopped, "thread task stopped");
        let why = match &stopped {
            TaskFailure::TimedOut(after) => format!("it timed out after {after:?}"),
            _ => "it was cancelled".to_owned(),
        };
        stake.let_go(&why);
        Err(stopped)
    }

    /// Runs a boxed [`ThreadTask`]; see [`ThreadExecutor::run`].
    ///
    /// # Errors
    /// As [`ThreadExecutor::run`].
    pub async fn run_boxed(
        &self,
        task: ThreadTask,
        input: Value,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> Result<Value, TaskFailure> {
        self.run(task, input, timeout, cancel).await
    }
}

impl Default for ThreadExecutor {
    /// As many threads as the machine's available parallelism.
    ///
    /// # Panics
    /// If the OS refuses to start a thread at all (use [`ThreadExecutor::new`] to handle it).
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        match ThreadExecutor::new(threads) {
            Ok(executor) => executor,
            Err(error) => panic!("cannot start the default thread executor: {error}"),
        }
    }
}

/// The threads of an executor and what it knows of them.
struct Pool {
    /// Where the threads take their jobs.
    jobs: Mutex<Receiver<Job>>,
    /// How many threads serve, abandoned ones not counted.
    size: usize,
    /// The threads that take jobs (started or starting, none abandoned).
    serving: AtomicUsize,
    /// The threads whose closure was abandoned and still runs.
    abandoned: AtomicUsize,
    /// The threads started so far, for their names.
    started: AtomicUsize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("serving", &self.serving.load(Ordering::Relaxed))
            .field("abandoned", &self.abandoned.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Starts threads until `size` serve.
    fn top_up(self: &Arc<Self>) -> Result<(), PoolError> {
        let size = self.size;
        // Each start is claimed first, so that two callers never start the same place twice.
        while self
            .serving
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < size).then_some(n + 1)
            })
            .is_ok()
        {
            let index = self.started.fetch_add(1, Ordering::Relaxed);
            let pool = Arc::clone(self);
            let started = std::thread::Builder::new()
                .name(format!("flow-pool-{index}"))
                .spawn(move || pool.serve());
            if let Err(source) = started {
                self.serving.fetch_sub(1, Ordering::AcqRel);
                return Err(PoolError::ThreadSpawn { source });
            }
        }
        Ok(())
    }

    /// A body was abandoned on its thread (`why`): that thread no longer counts, another
    /// takes its place.
    fn abandoned(self: &Arc<Self>, why: &str) {
        self.serving.fetch_sub(1, Ordering::AcqRel);
        let abandoned = self.abandoned.fetch_add(1, Ordering::AcqRel) + 1;
        tracing::warn!(
            abandoned,
            "a blocking closure was abandoned ({why}) and keeps its thread until it returns; \
             a new thread takes its place ({abandoned} abandoned closures still running)"
        );
        if let Err(error) = self.top_up() {
            tracing::error!(%error, "the thread pool runs one thread short");
        }
    }

    /// The loop of one pool thread: take a job, run it, until the channel closes or its
    /// closure is abandoned.
    fn serve(&self) {
        loop {
            let job = {
                let receiver = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
                receiver.recv()
            };
            let Ok(job) = job else { return };
            if job() == Next::End {
                let left = self.abandoned.fetch_sub(1, Ordering::AcqRel) - 1;
                tracing::debug!(
                    abandoned = left,
                    "an abandoned blocking closure returned; its thread ends"
                );
                return;
            }
        }
    }
}

/// Where a task is; moved on by its thread (`QUEUED` → `RUNNING` → `DONE`) or by its caller
/// when it stops waiting (`QUEUED` → `CLAIMED`: never runs; `RUNNING` → `ABANDONED`).
const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const CLAIMED: u8 = 3;
const ABANDONED: u8 = 4;

/// The caller's hold on a queued or running task. Let go before the task ended (timeout,
/// cancel, the caller's future dropped), it claims the task so that no thread starts it later,
/// or abandons the running body (a new thread takes its place), and cancels the token a
/// running body was given.
struct Stake {
    pool: Arc<Pool>,
    state: Arc<AtomicU8>,
    token: CancellationToken,
    settled: bool,
}

impl Stake {
    fn new(pool: Arc<Pool>) -> Self {
        Stake {
            pool,
            state: Arc::new(AtomicU8::new(QUEUED)),
            token: CancellationToken::new(),
            settled: false,
        }
    }

    /// The task ended and its result was taken: nothing to claim or cancel.
    fn settled(mut self) {
        self.settled = true;
    }

    /// The caller stops waiting, for the reason `why`.
    fn let_go(mut self, why: &str) {
        self.release(why);
    }

    fn release(&mut self, why: &str) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        // First, so that a body that watches its token may return before it is abandoned.
        self.token.cancel();
        let before = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| match state {
                QUEUED => Some(CLAIMED),
                RUNNING => Some(ABANDONED),
                _ => None,
            });
        if before == Ok(RUNNING) {
            self.pool.abandoned(why);
        }
    }
}

impl Drop for Stake {
    fn drop(&mut self) {
        self.release("its caller went away");
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use serde_json::json;

    use super::*;

    fn counts(threads: &ThreadExecutor) -> (usize, usize) {
        let pool = &threads.pool;
        (
            pool.serving.load(Ordering::Acquire),
            pool.abandoned.load(Ordering::Acquire),
        )
    }

    /// A caller that lets go of a task abandons it only if its body runs: a queued task is
    /// claimed (never runs) and a finished one is left as it is, the pool unchanged.
    #[test]
    fn letting_go_abandons_only_a_running_body() {
        let threads = ThreadExecutor::new(2).unwrap();
        for (before, after, abandoned) in [
            (QUEUED, CLAIMED, 0),
            (RUNNING, ABANDONED, 1),
            (DONE, DONE, 0),
        ] {
            let stake = Stake::new(Arc::clone(&threads.pool));
            let state = Arc::clone(&stake.state);
            state.store(before, Ordering::Release);
            stake.let_go("a test");
            assert_eq!(state.load(Ordering::Acquire), after, "from {before}");
            // The pool is full again at once, whatever happened.
            assert_eq!(counts(&threads), (2, abandoned), "from {before}");
            // Undo the count of the pretend abandonment: no thread will end for it.
            threads.pool.abandoned.store(0, Ordering::Release);
        }
    }

    /// Sends its thread's name when dropped: kept in a thread-local, it says that the thread
    /// ended.
    struct OnThreadEnd(mpsc::Sender<Option<String>>);

    impl Drop for OnThreadEnd {
        fn drop(&mut self) {
            let _ = self
                .0
                .send(std::thread::current().name().map(str::to_owned));
        }
    }

    thread_local! {
        static ON_THREAD_END: std::cell::RefCell<Option<OnThreadEnd>> =
            const { std::cell::RefCell::new(None) };
    }

    /// An abandoned thread ends once its closure returns, and the pool keeps its size.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_counts_an_abandoned_thread_until_its_closure_returns() {
        let threads = ThreadExecutor::new(1).unwrap();
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let (ended_tx, ended) = mpsc::channel();
        let body = move |_, _| {
            ON_THREAD_END.with(|slot| *slot.borrow_mut() = Some(OnThreadEnd(ended_tx)));
            started_tx.send(()).map_err(|e| e.to_string())?;
            let _ = release_rx.recv();
            Ok(Value::Null)
        };
        let cancel = CancellationToken::new();
        let run = threads.run(body, Value::Null, None, cancel.clone());
        let (result, ()) = tokio::join!(run, async {
            tokio::task::block_in_place(|| started.recv().unwrap());
            cancel.cancel();
        });
        assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
        assert_eq!(counts(&threads), (1, 1));
        // The replacement serves, under the next name.
        let on = threads
            .run(
                |_, _| Ok(json!(std::thread::current().name())),
                Value::Null,
                None,
                CancellationToken::new(),
            )
            .await
            .unwrap();
        assert_eq!(on, json!("flow-pool-1"));
        release.send(()).unwrap();
        let name = tokio::task::block_in_place(|| ended.recv().unwrap());
        assert_eq!(name.as_deref(), Some("flow-pool-0"));
        assert_eq!(counts(&threads), (1, 0));
    }
}
