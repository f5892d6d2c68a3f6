//! [`ThreadExecutor`]: a fixed set of OS threads for blocking work, fed through one channel.
//!
//! # Caveats
//!
//! A thread cannot be killed. On timeout or cancel the caller gets
//! [`TaskFailure::TimedOut`] or [`TaskFailure::Cancelled`] at once and the task's late result
//! is discarded, but the thread keeps running the closure until it returns; until then it
//! does not take new work. The [`CancellationToken`] handed to the closure is cancelled at
//! that moment: a long task should check `token.is_cancelled()` between steps and return
//! early. Work that must really be stoppable belongs in a [`ProcessPool`](crate::ProcessPool).
//!
//! A timeout counts from when the body starts on a thread; a task cancelled (or whose caller
//! went away) while it waits for a free thread is dropped unrun.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// One unit of work sent to the threads.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// A bounded pool of OS threads running blocking closures.
///
/// Threads start with the executor and park on a shared channel; a task costs one channel
/// send, one wake-up and one oneshot back, no thread spawn. Dropping the executor (all
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
    threads: usize,
}

impl ThreadExecutor {
    /// Starts `threads` threads (at least one).
    ///
    /// # Errors
    /// [`PoolError::ThreadSpawn`] if the OS refuses a thread.
    pub fn new(threads: usize) -> Result<Self, PoolError> {
        let threads = threads.max(1);
        let (jobs, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("flow-pool-{index}"))
                .spawn(move || serve(&receiver))
                .map_err(|source| PoolError::ThreadSpawn { source })?;
        }
        Ok(ThreadExecutor { jobs, threads })
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `task` on a pool thread with `input`.
    ///
    /// `timeout` counts from when the body starts on a thread, not while the task waits for
    /// a free one. A task whose `cancel` fires, or whose caller stops waiting (the future is
    /// dropped), before a thread takes it never runs.
    ///
    /// # Errors
    /// [`TaskFailure::Error`] with the task's error, [`TaskFailure::Panicked`] with the panic
    /// message, [`TaskFailure::TimedOut`] / [`TaskFailure::Cancelled`] at once when `timeout`
    /// passes or `cancel` fires (see the module's Caveats: a body that started finishes on
    /// its own), [`TaskFailure::Pool`] if the executor's threads are gone.
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
        let queued = Instant::now();
        let (reply, answer) = oneshot::channel();
        let (began, started) = oneshot::channel::<()>();
        // The task's own token (cheaper than a child token), cancelled when the caller stops
        // waiting for any reason (timeout, cancel, or the future dropped); the same moment
        // claims the task, so that a thread that takes it later drops it unrun.
        let stake = Stake::new();
        let (claimed, task_token) = (Arc::clone(&stake.claimed), stake.token.clone());
        let job_cancel = cancel.clone();
        let job: Job = Box::new(move || {
            // Whoever claims first wins: this thread (the body runs) or the caller (it never
            // does). The caller's token is checked too, in case its future was not polled
            // since the cancel.
            if job_cancel.is_cancelled() || claimed.swap(true, Ordering::AcqRel) {
                return;
            }
            let _ = began.send(());
            let outcome = catch_unwind(AssertUnwindSafe(|| task(input, task_token)));
            // The caller may have stopped waiting; a late result is dropped here.
            let _ = reply.send(outcome);
        });
        self.jobs
            .send(job)
            .map_err(|_| TaskFailure::Pool(PoolError::ShutDown))?;
        // Waiting for a thread: only a cancel ends this wait (dropping `stake` claims the task).
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
        drop(stake);
        tracing::debug!(elapsed = ?queued.elapsed(), reason = %stopped, "thread task abandoned");
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

/// The caller's hold on a queued or running task. Dropped before the task ended (timeout,
/// cancel, the caller's future dropped), it claims the task so that no thread starts it later,
/// and cancels the token a running body was given.
struct Stake {
    claimed: Arc<AtomicBool>,
    token: CancellationToken,
    settled: bool,
}

impl Stake {
    fn new() -> Self {
        Stake {
            claimed: Arc::new(AtomicBool::new(false)),
            token: CancellationToken::new(),
            settled: false,
        }
    }

    /// The task ended and its result was taken: nothing to claim or cancel.
    fn settled(mut self) {
        self.settled = true;
    }
}

impl Drop for Stake {
    fn drop(&mut self) {
        if !self.settled {
            self.claimed.store(true, Ordering::Release);
            self.token.cancel();
        }
    }
}

/// The loop of one pool thread: take a job, run it, until the channel closes.
fn serve(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let receiver = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            receiver.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
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
