//! [`ProcessPool`]: worker processes (this executable re-executed in worker mode) that run
//! registered tasks one at a time, and are killed and replaced when a task crashes, times out
//! or is cancelled.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::deadline::{deadline_after, sleep_until};
use crate::group::{clear_group, stop_group, Signalled, StopPolicy};
use crate::process::protocol::{depth, encode, Outcome, Request, MAX_DEPTH};
use crate::process::registry::TaskRegistry;
use crate::process::talk::{talk, Exchange};
use crate::process::worker::{is_worker_process, WORKER_ENV, WORKER_GRACE_ENV};
use crate::sys::{has_exited, kill_child_when_parent_dies, signal_group, signal_name};
use crate::{PoolError, TaskFailure};

/// The default grace period between SIGTERM and SIGKILL for a worker's group: 1 s (a worker
/// has no SIGTERM handler and dies at once; the grace is for processes the task started).
pub const DEFAULT_WORKER_GRACE: Duration = Duration::from_secs(1);

/// The default time a new worker has to say hello: 60 s. A worker says it as the first thing
/// `main` does (in [`worker_main`](crate::worker_main)); before that come only the program's
/// start (loading and linking a large executable, perhaps from a slow network file system,
/// static constructors of the libraries it links) and whatever `main` does to build the
/// registry: seconds on a slow or overloaded machine, so 60 s leaves a wide margin. A program
/// that does not call `worker_main` first and then waits without writing anything (on its
/// input, in a sleep) is so told within a minute, rather than at its task's timeout or never.
/// Workers that take longer to start, such as ones that load a large model before calling
/// `worker_main`, get more with [`ProcessPool::hello_timeout`].
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(60);

/// A pool of worker processes running functions of a [`TaskRegistry`].
///
/// Workers are started lazily, at most `size` at a time, each running one task at a time, and
/// reused. Each worker is the current executable started again with [`WORKER_ENV`] set, so
/// the program's `main` must call [`worker_main`](crate::worker_main) first. Every worker is
/// in its own process group, which dies with this process (`PR_SET_PDEATHSIG`, whose signal
/// the worker turns into SIGKILL to its group, plus end of input on its pipe). Cloning is cheap; clones share the workers.
///
/// Processes a task starts end with it: when a task returns (a value or an error), the members
/// of its worker's process group other than the worker get SIGTERM, the grace period and
/// SIGKILL, and are reaped, before the worker answers; on a timeout, a cancel or a crash the
/// whole group is stopped. The worker is a child subreaper, so a shell's orphaned background
/// job is found too. A process that left the group (`setsid`, `setpgid`) is not stopped, as
/// for commands.
///
/// # Caveats
/// `PR_SET_PDEATHSIG` fires when the *thread* that started a worker exits. Workers are started
/// from the task calling [`ProcessPool::run`], so call it from a runtime thread that lives as
/// long as the pool (any `tokio` worker thread or `block_on` thread does), not from a
/// short-lived thread.
///
/// A pool may outlive the runtime it started workers in (kept in a static, or shared by
/// tests that each have a runtime): an idle worker of another runtime is not reused but
/// killed and replaced, as that runtime watches its pipes.
///
/// Dropping a [`ProcessPool::run`] future mid-task, or the last clone of a pool with busy
/// workers, kills the worker's group with SIGKILL but cannot wait for it: `tokio` reaps the
/// worker, and processes its task started are reaped by PID 1 (or stay zombies of this
/// process under [`enable_child_subreaper`](crate::enable_child_subreaper)). Cancel through
/// the token and end with [`ProcessPool::shutdown`] to have every process reaped.
#[derive(Debug, Clone)]
pub struct ProcessPool {
    inner: Arc<Inner>,
    /// How long a new worker has to say hello ([`ProcessPool::hello_timeout`]).
    hello_timeout: Duration,
}

#[derive(Debug)]
struct Inner {
    registry: TaskRegistry,
    program: PathBuf,
    size: usize,
    permits: Semaphore,
    idle: Mutex<Vec<Worker>>,
    live: watch::Sender<BTreeSet<u32>>,
    policy: StopPolicy,
    closing: CancellationToken,
    /// The id of the last request sent (each reply must repeat its request's).
    last_request: AtomicU64,
}

/// One worker process and its pipes.
#[derive(Debug)]
pub(super) struct Worker {
    child: Child,
    /// `None` once closed, to tell the worker to exit.
    pub(super) stdin: Option<ChildStdin>,
    pub(super) stdout: ChildStdout,
    pub(super) pid: u32,
    /// Set once the process was reaped: its pid may then be reused, never signal it again.
    reaped: bool,
    /// Set once its hello was read: it is a worker, not a program that forgot `worker_main`.
    pub(super) greeted: bool,
    /// The runtime it was started in, which watches its pipes and its exit.
    runtime: Option<tokio::runtime::Id>,
    live: watch::Sender<BTreeSet<u32>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.reaped {
            // A run future was dropped mid-task, or the pool itself: kill the whole group;
            // tokio reaps the leader (`kill_on_drop`).
            signal_group(self.pid, Signal::SIGKILL);
        }
        self.live.send_modify(|pids| {
            pids.remove(&self.pid);
        });
    }
}

impl ProcessPool {
    /// A pool of at most `size` workers (at least one) serving `registry`, re-executing the
    /// current executable. No process starts until the first task.
    ///
    /// # Errors
    /// [`PoolError::Spawn`] if the current executable cannot be located,
    /// [`PoolError::NestedWorker`] in a process started as a worker whose `main` did not call
    /// [`worker_main`](crate::worker_main).
    pub fn new(registry: TaskRegistry, size: usize) -> Result<Self, PoolError> {
        if is_worker_process() {
            return Err(PoolError::NestedWorker);
        }
        let program = std::env::current_exe().map_err(|source| PoolError::Spawn {
            program: "the current executable".to_owned(),
            source,
        })?;
        Ok(Self::with_program(
            registry,
            size,
            program,
            DEFAULT_WORKER_GRACE,
        ))
    }

    /// A pool whose workers are `program` (which must call
    /// [`worker_main`](crate::worker_main) with the same registry) and whose stopped workers
    /// get `grace` between SIGTERM and SIGKILL.
    pub fn with_program(
        registry: TaskRegistry,
        size: usize,
        program: PathBuf,
        grace: Duration,
    ) -> Self {
        let size = size.max(1);
        ProcessPool {
            inner: Arc::new(Inner {
                registry,
                program,
                size,
                permits: Semaphore::new(size),
                idle: Mutex::new(Vec::new()),
                live: watch::Sender::new(BTreeSet::new()),
                policy: StopPolicy {
                    grace,
                    hurry: CancellationToken::new(),
                },
                closing: CancellationToken::new(),
                last_request: AtomicU64::new(0),
            }),
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
        }
    }

    /// How long a new worker has to say hello (default [`DEFAULT_HELLO_TIMEOUT`]): a worker
    /// silent for longer is taken for a program that does not call
    /// [`worker_main`](crate::worker_main) first; it is stopped (its group gets SIGTERM, the
    /// grace period, SIGKILL) and reaped, and its task fails with [`PoolError::NotAWorker`].
    /// It counts from the worker's start, within the task's own timeout. It applies to tasks
    /// run through this pool and through clones made from it afterwards.
    #[must_use]
    pub fn hello_timeout(mut self, limit: Duration) -> Self {
        self.hello_timeout = limit;
        self
    }

    /// The most workers that run at once.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// The registry the pool serves.
    pub fn registry(&self) -> &TaskRegistry {
        &self.inner.registry
    }

    /// The process ids of the live workers, busy or idle. An idle worker that died (killed
    /// with the thread that started it, say) is left out; a busy one leaves the list when its
    /// task's call sees it die, which is at once.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.forget_dead_idle();
        self.inner.live.borrow().iter().copied().collect()
    }

    /// Takes idle workers that died off the live list. They are left unreaped (zombies hold
    /// their pids, which could otherwise name another process's group) until
    /// [`take_worker`](Self::take_worker) or [`shutdown`](Self::shutdown) reaps them and clears
    /// their groups.
    fn forget_dead_idle(&self) {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for worker in idle.iter().filter(|worker| has_exited(worker.pid)) {
            self.inner.live.send_modify(|pids| {
                pids.remove(&worker.pid);
            });
        }
    }

    /// Runs the registered task `task` with `input` on a worker. `timeout` counts from when a
    /// worker is free for the task (the start of a new worker included), not while the task
    /// waits for one behind the pool's busy workers: only `cancel` ends that wait. A task that
    /// times out has its worker killed, so a task waits at most as long as the timeouts of the
    /// tasks ahead of it (only tasks without a timeout keep their workers for as long as they
    /// run). `input` and the output may nest arrays and objects at most 126 levels deep
    /// (serde_json's recursion limit, less the message around them).
    ///
    /// On timeout or cancel the worker's group gets SIGTERM, the grace period and SIGKILL, is
    /// reaped, and the worker is replaced by the next task; the call returns once it is gone.
    /// A worker that crashes or exits fails only this task and is replaced. Processes the task
    /// left running in the worker's group are stopped before the call returns.
    ///
    /// # Errors
    /// [`TaskFailure::Error`] (the task's error), [`TaskFailure::Panicked`],
    /// [`TaskFailure::Crashed`] (naming the signal), [`TaskFailure::Exited`] (the code),
    /// [`TaskFailure::TimedOut`], [`TaskFailure::Cancelled`], and [`TaskFailure::Pool`] with
    /// [`PoolError::UnknownTask`] naming a task the pool's registry lacks,
    /// [`PoolError::NotInWorker`] for one the worker's registry (the one its program passed
    /// to [`worker_main`](crate::worker_main)) lacks, [`PoolError::Protocol`] for a reply that
    /// does not answer the request (the worker is retired), [`PoolError::InputTooDeep`]
    /// for an input nested deeper than a worker reads, [`PoolError::ShutDown`],
    /// [`PoolError::NotAWorker`] when the program does not call
    /// [`worker_main`](crate::worker_main) first (a new worker writes something other than
    /// its hello, or closes its output, or is silent for longer than
    /// [`hello_timeout`](Self::hello_timeout)), [`PoolError::NestedWorker`] in such a
    /// program's own worker, or a worker that could not be started or talked to.
    pub async fn run(
        &self,
        task: &str,
        input: Value,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> Result<Value, TaskFailure> {
        let inner = &self.inner;
        if !inner.registry.contains(task) {
            return Err(PoolError::UnknownTask {
                name: task.to_owned(),
            }
            .into());
        }
        if depth(&input, MAX_DEPTH) > MAX_DEPTH {
            return Err(PoolError::InputTooDeep {
                task: task.to_owned(),
                limit: MAX_DEPTH,
            }
            .into());
        }
        let started = Instant::now();
        if inner.closing.is_cancelled() {
            return Err(PoolError::ShutDown.into());
        }
        if cancel.is_cancelled() {
            return Err(TaskFailure::Cancelled);
        }
        // While the task waits for a free worker, only a cancel ends the wait: its timeout
        // counts from when it has one, as a thread task's counts from its body's start.
        let _permit = tokio::select! {
            permit = inner.permits.acquire() => permit.map_err(|_| PoolError::ShutDown)?,
            () = cancel.cancelled() => return Err(TaskFailure::Cancelled),
            () = inner.closing.cancelled() => return Err(TaskFailure::Cancelled),
        };
        let deadline = deadline_after(timeout);
        let stop = async {
            tokio::select! {
                () = sleep_until(deadline) => TaskFailure::TimedOut(timeout.unwrap_or_default()),
                () = cancel.cancelled() => TaskFailure::Cancelled,
                () = inner.closing.cancelled() => TaskFailure::Cancelled,
            }
        };
        tokio::pin!(stop);
        let id = inner.last_request.fetch_add(1, Ordering::Relaxed) + 1;
        let request = encode(&Request {
            id,
            task: task.to_owned(),
            input,
        })
        .map_err(|error| TaskFailure::Json(error.to_string()))?;
        let mut worker = self.take_worker().await?;
        let span = tracing::info_span!("worker_task", task, pid = worker.pid);
        async {
            let exchange = tokio::select! {
                exchange = talk(&mut worker, id, &request, &inner.program, self.hello_timeout) => exchange,
                failure = &mut stop => Exchange::Stopped(failure),
            };
            let result = self.settle(worker, exchange).await;
            tracing::info!(ok = result.is_ok(), duration = ?started.elapsed(), "worker task ended");
            result
        }
        .instrument(span)
        .await
    }

    /// Turns the exchange into the task's result, returning or retiring the worker.
    async fn settle(&self, mut worker: Worker, exchange: Exchange) -> Result<Value, TaskFailure> {
        let policy = &self.inner.policy;
        match exchange {
            Exchange::Replied(Outcome::Ok(value)) => {
                self.give_back(worker).await;
                Ok(value)
            }
            Exchange::Replied(Outcome::Err(message)) => {
                self.give_back(worker).await;
                Err(TaskFailure::Error(message))
            }
            Exchange::Replied(Outcome::UnknownTask(name)) => {
                let pid = worker.pid;
                self.give_back(worker).await;
                Err(PoolError::NotInWorker { name, pid }.into())
            }
            Exchange::Replied(Outcome::Panicked(message)) => {
                retire(&mut worker, policy).await;
                Err(TaskFailure::Panicked(message))
            }
            Exchange::Stopped(failure) => {
                let status = stop_group(&mut worker.child, worker.pid, policy)
                    .await
                    .status;
                worker.reaped = true;
                tracing::debug!(?status, reason = %failure, "worker stopped");
                Err(failure)
            }
            Exchange::Broken(problem) => {
                let status = stop_group(&mut worker.child, worker.pid, policy)
                    .await
                    .status;
                worker.reaped = true;
                tracing::warn!(?status, %problem, "worker retired");
                Err(problem.into())
            }
            Exchange::Lost(problem) => {
                let status = tokio::select! {
                    status = worker.child.wait() => status.ok(),
                    () = tokio::time::sleep(policy.grace) => None,
                };
                let status = match status {
                    Some(status) => {
                        worker.reaped = true;
                        clear_group(worker.pid, policy, Signalled::Nothing).await;
                        Some(status)
                    }
                    None => {
                        let status = stop_group(&mut worker.child, worker.pid, policy)
                            .await
                            .status;
                        worker.reaped = true;
                        status
                    }
                };
                tracing::info!(?status, ?problem, "worker died during its task");
                match (problem, status) {
                    (
                        Some(PoolError::NotAWorker {
                            program,
                            pid,
                            problem,
                        }),
                        Some(status),
                    ) => {
                        let problem = format!("{problem}, and ended with {status}");
                        Err(PoolError::NotAWorker {
                            program,
                            pid,
                            problem,
                        }
                        .into())
                    }
                    (Some(problem), _) => Err(problem.into()),
                    (None, Some(status)) => Err(death_of(status)),
                    (None, None) => Err(TaskFailure::Crashed {
                        signal: Signal::SIGKILL as i32,
                        name: signal_name(Signal::SIGKILL as i32),
                    }),
                }
            }
        }
    }

    /// An idle live worker, or a new one.
    async fn take_worker(&self) -> Result<Worker, PoolError> {
        loop {
            let candidate = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let Some(mut worker) = candidate else { break };
            if worker.runtime != current_runtime() {
                end_elsewhere_started(worker, &self.inner.policy).await;
                continue;
            }
            match worker.child.try_wait() {
                Ok(None) => return Ok(worker),
                Ok(Some(status)) => {
                    worker.reaped = true;
                    tracing::debug!(
                        pid = worker.pid,
                        ?status,
                        "idle worker had died, replacing it"
                    );
                    clear_group(worker.pid, &self.inner.policy, Signalled::Nothing).await;
                }
                Err(error) => tracing::warn!(pid = worker.pid, %error, "cannot check idle worker"),
            }
        }
        self.spawn_worker()
    }

    fn spawn_worker(&self) -> Result<Worker, PoolError> {
        let inner = &self.inner;
        // A worker whose `main` forgot `worker_main` would start the program again, which
        // would start it again, ...: refuse, and let the pool that started it tell why.
        if is_worker_process() {
            return Err(PoolError::NestedWorker);
        }
        let mut command = tokio::process::Command::new(&inner.program);
        command
            .env(WORKER_ENV, "1")
            .env(WORKER_GRACE_ENV, inner.policy.grace.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true);
        kill_child_when_parent_dies(command.as_std_mut(), Signal::SIGKILL);
        let spawn_error = |source| PoolError::Spawn {
            program: inner.program.display().to_string(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let pid = child.id().unwrap_or(0);
        let pipes = (child.stdin.take(), child.stdout.take());
        let (Some(stdin), Some(stdout)) = pipes else {
            return Err(spawn_error(std::io::Error::other("worker pipes missing")));
        };
        inner.live.send_modify(|pids| {
            pids.insert(pid);
        });
        tracing::debug!(pid, "worker started");
        Ok(Worker {
            child,
            stdin: Some(stdin),
            stdout,
            pid,
            reaped: false,
            greeted: false,
            runtime: current_runtime(),
            live: inner.live.clone(),
        })
    }

    /// Makes a worker that finished its task idle again, or ends it if the pool is closing.
    async fn give_back(&self, mut worker: Worker) {
        if self.inner.closing.is_cancelled() {
            retire(&mut worker, &self.inner.policy).await;
            return;
        }
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(worker);
    }

    /// Stops the pool: refuses new tasks, cancels running ones (their groups get SIGTERM),
    /// cuts grace periods short after `grace`, ends idle workers, and returns once every
    /// worker process is gone.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.closing.cancel();
        inner.permits.close();
        let idle: Vec<Worker> =
            std::mem::take(&mut *inner.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for mut worker in idle {
            if worker.runtime == current_runtime() {
                retire(&mut worker, &inner.policy).await;
            } else {
                end_elsewhere_started(worker, &inner.policy).await;
            }
        }
        let mut live = inner.live.subscribe();
        let all_gone = live.wait_for(BTreeSet::is_empty);
        if tokio::time::timeout(grace, all_gone).await.is_err() {
            inner.policy.hurry.cancel();
            let _ = live.wait_for(BTreeSet::is_empty).await;
        }
        tracing::debug!("process pool shut down");
    }
}

/// Ends a worker that is not running a task: closes its input (it exits at end of input),
/// waits the grace period, then stops its group.
async fn retire(worker: &mut Worker, policy: &StopPolicy) {
    drop(worker.stdin.take());
    let exited = tokio::select! {
        status = worker.child.wait() => status.ok(),
        () = tokio::time::sleep(policy.grace) => None,
        () = policy.hurry.cancelled() => None,
    };
    match exited {
        Some(_) => {
            clear_group(worker.pid, policy, Signalled::Nothing).await;
        }
        None => {
            stop_group(&mut worker.child, worker.pid, policy).await;
        }
    }
    worker.reaped = true;
}

/// The runtime this is called in, if any.
fn current_runtime() -> Option<tokio::runtime::Id> {
    tokio::runtime::Handle::try_current()
        .ok()
        .map(|handle| handle.id())
}

/// Ends an idle worker started in another runtime (a pool kept in a static, or shared by
/// tests that each have a runtime). That runtime watches its pipes and its exit and may be
/// gone, or not driven now, so neither is used: its group gets SIGKILL, its end is awaited by
/// its pid, and it is reaped.
async fn end_elsewhere_started(mut worker: Worker, policy: &StopPolicy) {
    let pid = worker.pid;
    tracing::debug!(pid, "idle worker of another runtime, replacing it");
    signal_group(pid, Signal::SIGKILL);
    let grace = policy.grace;
    let _ = tokio::task::spawn_blocking(move || crate::sys::wait_gone(&[pid], grace)).await;
    if let Ok(Some(_)) = worker.child.try_wait() {
        worker.reaped = true;
        clear_group(pid, policy, Signalled::Nothing).await;
    }
}

/// How a worker's death fails its task.
fn death_of(status: ExitStatus) -> TaskFailure {
    match (status.signal(), status.code()) {
        (Some(signal), _) => TaskFailure::Crashed {
            signal,
            name: signal_name(signal),
        },
        (None, Some(code)) => TaskFailure::Exited { code },
        (None, None) => TaskFailure::Exited { code: -1 },
    }
}
