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

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
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
    /// # Errors
    /// [`TaskFailure::Error`] with the task's error, [`TaskFailure::Panicked`] with the panic
    /// message, [`TaskFailure::TimedOut`] / [`TaskFailure::Cancelled`] at once when `timeout`
    /// passes or `cancel` fires (see the module's Caveats: the thread finishes on its own),
    /// [`TaskFailure::Pool`] if the executor's threads are gone.
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
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        // A token of the task's own (cheaper than a child token): cancelled when the caller
        // stops waiting for any reason (timeout, cancel, or the future dropped).
        let token = CancellationToken::new();
        let task_token = token.clone();
        let job: Job = Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| task(input, task_token)));
            // The caller may have stopped waiting; a late result is dropped here.
            let _ = reply.send(outcome);
        });
        self.jobs
            .send(job)
            .map_err(|_| TaskFailure::Pool(PoolError::ShutDown))?;
        let guard = token.drop_guard();
        let stopped = tokio::select! {
            biased;
            outcome = answer => {
                guard.disarm();
                return match outcome {
                    Ok(Ok(result)) => result.map_err(TaskFailure::Error),
                    Ok(Err(panic)) => Err(TaskFailure::Panicked(panic_message(panic.as_ref()))),
                    Err(_) => Err(TaskFailure::Pool(PoolError::ShutDown)),
                };
            }
            () = cancel.cancelled() => TaskFailure::Cancelled,
            () = sleep_until(deadline_after(timeout)) => TaskFailure::TimedOut(timeout.unwrap_or_default()),
        };
        drop(guard);
        tracing::debug!(elapsed = ?started.elapsed(), reason = %stopped, "thread task abandoned");
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
