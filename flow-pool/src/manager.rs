//! [`PoolManager`]: the three executors behind one object that tracks tasks by id, cancels
//! them, waits for them, limits each kind, and shuts everything down without leaving a child.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use flow_graph::FlowId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::command::{CommandEnd, CommandOutcome, CommandRunner, CommandSpec};
use crate::process::{ProcessPool, TaskRegistry};
use crate::thread::{ThreadExecutor, ThreadTask};
use crate::{PoolError, TaskFailure};

/// The kinds of task, one per executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskKind {
    /// A closure on the [`ThreadExecutor`].
    Thread,
    /// A registered function in a worker process of the [`ProcessPool`].
    Process,
    /// An external command run by the [`CommandRunner`].
    Command,
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskKind::Thread => "thread",
            TaskKind::Process => "process",
            TaskKind::Command => "command",
        })
    }
}

/// A task for the [`PoolManager`]; its variant is its [`TaskKind`].
pub enum Task {
    /// A closure run on a pool thread.
    Thread(ThreadTask),
    /// The name of a function of the [`TaskRegistry`], run in a worker process.
    Process(String),
    /// An external command (the task's input is not passed to it).
    Command(CommandSpec),
}

impl Task {
    /// A thread task from a closure.
    pub fn thread<F>(task: F) -> Self
    where
        F: FnOnce(Value, CancellationToken) -> Result<Value, String> + Send + 'static,
    {
        Task::Thread(Box::new(task))
    }

    /// The kind of the task.
    pub fn kind(&self) -> TaskKind {
        match self {
            Task::Thread(_) => TaskKind::Thread,
            Task::Process(_) => TaskKind::Process,
            Task::Command(_) => TaskKind::Command,
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Task::Thread(_) => f.write_str("Thread(..)"),
            Task::Process(name) => f.debug_tuple("Process").field(name).finish(),
            Task::Command(spec) => f.debug_tuple("Command").field(spec).finish(),
        }
    }
}

/// What a task that ended well produced.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutput {
    /// The value of a thread or process task.
    Value(Value),
    /// The outcome of a command that ended by itself (any exit code or signal); a command
    /// that timed out or was cancelled is a [`TaskFailure`] instead.
    Command(CommandOutcome),
}

/// How a task ended.
pub type TaskResult = Result<TaskOutput, TaskFailure>;

/// How many tasks of each kind may run at once (`None`: no limit beyond the executor's own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindLimits {
    /// Thread tasks.
    pub thread: Option<usize>,
    /// Process tasks.
    pub process: Option<usize>,
    /// Commands.
    pub command: Option<usize>,
}

/// The executors and limits of a [`PoolManager`].
#[derive(Debug, Clone, Default)]
pub struct PoolConfig {
    /// Threads of the thread executor (`None`: available parallelism).
    pub threads: Option<usize>,
    /// Worker processes (`None`: available parallelism).
    pub processes: Option<usize>,
    /// The functions of process tasks; without it, process tasks are refused.
    pub registry: Option<TaskRegistry>,
    /// Limits per kind.
    pub limits: KindLimits,
}

/// One submitted task.
struct Entry {
    cancel: CancellationToken,
    done: watch::Receiver<bool>,
    result: Arc<Mutex<Option<TaskResult>>>,
}

/// Thread, process and command executors behind task ids: submit, cancel, wait, list, shut
/// down. The task-id semantics of the original `ProcessPoolManager`, with cancels and
/// timeouts that really stop the work.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use flow_graph::FlowId;
/// use flow_pool::{CommandSpec, PoolConfig, PoolManager, Task, TaskOutput};
/// let manager = PoolManager::new(PoolConfig::default()).unwrap();
/// let id = FlowId::new("hello").unwrap();
/// manager
///     .submit(id.clone(), Task::Command(CommandSpec::argv(["echo", "hi"])), serde_json::Value::Null, None)
///     .await
///     .unwrap();
/// let output = manager.wait("hello", None).await.unwrap().unwrap();
/// let TaskOutput::Command(outcome) = output else { panic!("a command") };
/// assert_eq!(outcome.stdout_tail, "hi\n");
/// manager.shutdown(std::time::Duration::from_secs(1)).await;
/// # });
/// ```
#[derive(Debug)]
pub struct PoolManager {
    threads: ThreadExecutor,
    processes: Option<ProcessPool>,
    commands: CommandRunner,
    limits: HashMap<TaskKind, Arc<Semaphore>>,
    entries: Mutex<HashMap<FlowId, Entry>>,
    closed: CancellationToken,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("done", &*self.done.borrow())
            .finish_non_exhaustive()
    }
}

impl PoolManager {
    /// Builds the executors of `config` (threads start now, worker processes lazily).
    ///
    /// # Errors
    /// [`PoolError::ThreadSpawn`], or [`PoolError::Spawn`] if the current executable cannot be
    /// located for worker processes.
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = ThreadExecutor::new(config.threads.unwrap_or(parallelism))?;
        let processes = config
            .registry
            .map(|registry| ProcessPool::new(registry, config.processes.unwrap_or(parallelism)))
            .transpose()?;
        Ok(Self::with_executors(
            threads,
            processes,
            CommandRunner::new(),
            config.limits,
        ))
    }

    /// A manager over executors built by the caller.
    pub fn with_executors(
        threads: ThreadExecutor,
        processes: Option<ProcessPool>,
        commands: CommandRunner,
        limits: KindLimits,
    ) -> Self {
        let limits = [
            (TaskKind::Thread, limits.thread),
            (TaskKind::Process, limits.process),
            (TaskKind::Command, limits.command),
        ]
        .into_iter()
        .map(|(kind, limit)| {
            let permits = limit
                .unwrap_or(Semaphore::MAX_PERMITS)
                .clamp(1, Semaphore::MAX_PERMITS);
            (kind, Arc::new(Semaphore::new(permits)))
        })
        .collect();
        PoolManager {
            threads,
            processes,
            commands,
            limits,
            entries: Mutex::new(HashMap::new()),
            closed: CancellationToken::new(),
        }
    }

    /// The thread executor.
    pub fn threads(&self) -> &ThreadExecutor {
        &self.threads
    }

    /// The worker-process pool, if configured.
    pub fn processes(&self) -> Option<&ProcessPool> {
        self.processes.as_ref()
    }

    /// The command runner.
    pub fn commands(&self) -> &CommandRunner {
        &self.commands
    }

    /// Starts `task` under `id` with `input`; it runs in the background until [`wait`] takes
    /// its result. `timeout` counts from when the task starts running (after waiting for its
    /// kind's limit and for a free thread or worker process: a task cancelled while it waits
    /// never runs; a thread task abandoned while it runs gives its place in the pool to a new
    /// thread).
    ///
    /// An id whose task ended but whose result was never taken is replaced.
    ///
    /// [`wait`]: PoolManager::wait
    ///
    /// # Errors
    /// [`PoolError::DuplicateTask`] if a task with this id is running,
    /// [`PoolError::ShutDown`] after [`shutdown`](PoolManager::shutdown),
    /// [`PoolError::NoExecutor`] for a process task without a registry,
    /// [`PoolError::UnknownTask`] for an unregistered process task.
    pub async fn submit(
        &self,
        id: FlowId,
        task: Task,
        input: Value,
        timeout: Option<Duration>,
    ) -> Result<(), PoolError> {
        if self.closed.is_cancelled() {
            return Err(PoolError::ShutDown);
        }
        let kind = task.kind();
        if let Task::Process(name) = &task {
            let pool = self
                .processes
                .as_ref()
                .ok_or(PoolError::NoExecutor { kind })?;
            if !pool.registry().contains(name) {
                return Err(PoolError::UnknownTask { name: name.clone() });
            }
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.get(&id).is_some_and(|entry| !*entry.done.borrow()) {
            return Err(PoolError::DuplicateTask {
                id: id.as_str().to_owned(),
            });
        }
        let cancel = self.closed.child_token();
        let (done_tx, done) = watch::channel(false);
        let result = Arc::new(Mutex::new(None));
        let work = Work {
            threads: self.threads.clone(),
            processes: self.processes.clone(),
            commands: self.commands.clone(),
            limit: Arc::clone(&self.limits[&kind]),
            cancel: cancel.clone(),
        };
        let slot = Arc::clone(&result);
        let span = tracing::info_span!("task", id = id.as_str(), %kind);
        tokio::spawn(
            async move {
                let started = Instant::now();
                let outcome = work.run(task, input, timeout).await;
                match &outcome {
                    Ok(_) => tracing::info!(duration = ?started.elapsed(), "task succeeded"),
                    Err(failure) => {
                        tracing::info!(duration = ?started.elapsed(), %failure, "task failed");
                    }
                }
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
                let _ = done_tx.send(true);
            }
            .instrument(span),
        );
        entries.insert(
            id,
            Entry {
                cancel,
                done,
                result,
            },
        );
        Ok(())
    }

    /// Submits and waits: the original `submit_task`.
    ///
    /// # Errors
    /// A refused submission as [`TaskFailure::Pool`], or how the task failed.
    pub async fn run(
        &self,
        id: FlowId,
        task: Task,
        input: Value,
        timeout: Option<Duration>,
    ) -> TaskResult {
        let key = id.clone();
        self.submit(id, task, input, timeout).await?;
        self.wait(key.as_str(), None).await?
    }

    /// Cancels the task `id` and returns once it has stopped (its processes are gone); a task
    /// that already ended is left as it is.
    ///
    /// # Errors
    /// [`PoolError::NoSuchTask`] for an unknown id.
    pub async fn cancel(&self, id: &str) -> Result<(), PoolError> {
        let (cancel, mut done) = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = entries
                .get(id)
                .ok_or_else(|| PoolError::NoSuchTask { id: id.to_owned() })?;
            (entry.cancel.clone(), entry.done.clone())
        };
        cancel.cancel();
        let _ = done.wait_for(|done| *done).await;
        Ok(())
    }

    /// Waits for the task `id` to end, at most `timeout`, and takes its result (the id is
    /// then forgotten).
    ///
    /// # Errors
    /// [`PoolError::NoSuchTask`] for an unknown id or a result already taken,
    /// [`PoolError::WaitTimedOut`] if `timeout` passed first (the task keeps running).
    pub async fn wait(&self, id: &str, timeout: Option<Duration>) -> Result<TaskResult, PoolError> {
        let (mut done, result) = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = entries
                .get(id)
                .ok_or_else(|| PoolError::NoSuchTask { id: id.to_owned() })?;
            (entry.done.clone(), Arc::clone(&entry.result))
        };
        let ended = done.wait_for(|done| *done);
        match timeout {
            Some(after) => {
                if tokio::time::timeout(after, ended).await.is_err() {
                    return Err(PoolError::WaitTimedOut {
                        id: id.to_owned(),
                        after,
                    });
                }
            }
            None => {
                let _ = ended.await;
            }
        }
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries
                .get(id)
                .is_some_and(|entry| Arc::ptr_eq(&entry.result, &result))
            {
                entries.remove(id);
            }
        }
        let taken = result.lock().unwrap_or_else(PoisonError::into_inner).take();
        taken.ok_or_else(|| PoolError::NoSuchTask { id: id.to_owned() })
    }

    /// The ids of the tasks submitted and not yet ended.
    pub fn active_tasks(&self) -> BTreeSet<FlowId> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .filter(|(_, entry)| !*entry.done.borrow())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Refuses new tasks, cancels every running one (SIGTERM to their groups), and after
    /// `grace` cuts the remaining grace periods short (SIGKILL); returns once every task has
    /// ended and every worker and command process is gone. Thread tasks end for the caller
    /// at once; see the Caveats of [`ThreadExecutor`] for the threads themselves.
    pub async fn shutdown(&self, grace: Duration) {
        self.closed.cancel();
        let dones: Vec<watch::Receiver<bool>> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|entry| entry.done.clone())
            .collect();
        let tasks_ended = async {
            for mut done in dones {
                let _ = done.wait_for(|done| *done).await;
            }
        };
        let tasks = async {
            tokio::pin!(tasks_ended);
            if tokio::time::timeout(grace, &mut tasks_ended).await.is_err() {
                tracing::debug!("shutdown grace over, killing what is left");
                self.commands.skip_grace();
                tasks_ended.await;
            }
        };
        match &self.processes {
            Some(pool) => {
                tokio::join!(tasks, pool.shutdown(grace));
            }
            None => tasks.await,
        }
        tracing::info!("pool manager shut down");
    }
}

/// What a background task needs to run.
struct Work {
    threads: ThreadExecutor,
    processes: Option<ProcessPool>,
    commands: CommandRunner,
    limit: Arc<Semaphore>,
    cancel: CancellationToken,
}

impl Work {
    async fn run(self, task: Task, input: Value, timeout: Option<Duration>) -> TaskResult {
        let _permit = tokio::select! {
            permit = self.limit.acquire_owned() => permit.map_err(|_| PoolError::ShutDown)?,
            () = self.cancel.cancelled() => return Err(TaskFailure::Cancelled),
        };
        match task {
            Task::Thread(task) => self
                .threads
                .run(task, input, timeout, self.cancel)
                .await
                .map(TaskOutput::Value),
            Task::Process(name) => {
                let pool = self.processes.ok_or(PoolError::NoExecutor {
                    kind: TaskKind::Process,
                })?;
                pool.run(&name, input, timeout, self.cancel)
                    .await
                    .map(TaskOutput::Value)
            }
            Task::Command(spec) => {
                let outcome = self.commands.run(&spec, timeout, self.cancel).await?;
                match outcome.end {
                    CommandEnd::TimedOut(after) => Err(TaskFailure::TimedOut(after)),
                    CommandEnd::Cancelled => Err(TaskFailure::Cancelled),
                    CommandEnd::Exited(_) | CommandEnd::Signaled(_) => {
                        Ok(TaskOutput::Command(outcome))
                    }
                }
            }
        }
    }
}
