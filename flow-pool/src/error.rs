//! The crate's two error types: [`PoolError`] for refused calls and [`TaskFailure`] for how a
//! task ended badly.

use std::path::PathBuf;
use std::time::Duration;

/// A call the pool refused or could not carry out (the task did not run, or could not be
/// followed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The program of a command (or the worker executable) could not be started.
    #[error("failed to start `{program}`: {source}")]
    Spawn {
        /// The program as given (`argv[0]`, `/bin/sh` for a script, or the worker executable).
        program: String,
        /// The operating system's reason (not found, permission denied, ...).
        #[source]
        source: std::io::Error,
    },
    /// The executor declined to start the command, for the reason given (a wrapper that
    /// checks what a command needs before it starts, or a [`Prepare`](crate::Prepare) that
    /// failed).
    #[error("{message}")]
    Refused {
        /// Why, as the flow's failure shows it.
        message: String,
    },
    /// A command had an empty argv.
    #[error("the command has an empty argv: give at least the program to run")]
    EmptyArgv,
    /// An output file of a command could not be opened or read.
    #[error("failed to open output file {}: {source}", path.display())]
    OutputFile {
        /// The file named in the command.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Talking to a worker process failed in a way that is not the task's fault.
    #[error("worker process {pid} I/O failed: {source}")]
    WorkerIo {
        /// The worker's process id.
        pid: u32,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The worker process answered with something that is not a valid message.
    #[error("worker process {pid} broke the protocol: {problem}")]
    Protocol {
        /// The worker's process id.
        pid: u32,
        /// What was wrong.
        problem: String,
    },
    /// A worker process did not answer as one: its program's `main` does not call
    /// [`worker_main`](crate::worker_main) first.
    #[error(
        "`{program}` (pid {pid}) did not start as a flow-pool worker: {problem}; its `main` \
         must call `flow_pool::worker_main(&registry)` first, before a runtime, threads or \
         any output"
    )]
    NotAWorker {
        /// The worker executable.
        program: String,
        /// The process id it had.
        pid: u32,
        /// What it did instead of the worker's hello.
        problem: String,
    },
    /// This process was started as a worker but did not call
    /// [`worker_main`](crate::worker_main), so it refuses to start workers of its own: each
    /// would be the program started again, starting workers in turn without end.
    #[error(
        "this process was started as a flow-pool worker, but its `main` did not call \
         `flow_pool::worker_main(&registry)` first; it refuses to start workers of its own \
         (each would start more, without end)"
    )]
    NestedWorker,
    /// A process task's input nests arrays and objects deeper than a worker can read.
    #[error(
        "the input of task `{task}` is nested more than {limit} levels deep (arrays and \
         objects), deeper than a worker can read (serde_json's recursion limit of 128 \
         levels, counting the request around the input); flatten it, or pass it as a \
         string or a file"
    )]
    InputTooDeep {
        /// The task's name.
        task: String,
        /// The deepest input a worker reads.
        limit: usize,
    },
    /// No function of that name is registered in the pool's
    /// [`TaskRegistry`](crate::TaskRegistry) (the one given to the
    /// [`ProcessPool`](crate::ProcessPool) or [`PoolManager`](crate::PoolManager)).
    #[error(
        "no task named `{name}` is registered in the process pool's task registry; register \
         it there, and in the registry the program passes to `flow_pool::worker_main`"
    )]
    UnknownTask {
        /// The name asked for.
        name: String,
    },
    /// The pool's registry has the task but the worker's does not: the program's `main`
    /// passed [`worker_main`](crate::worker_main) another registry than the pool's.
    #[error(
        "worker process {pid} has no task named `{name}`: the registry its program passed to \
         `flow_pool::worker_main` lacks it, although the process pool's registry has it; \
         build both from the same function"
    )]
    NotInWorker {
        /// The name asked for.
        name: String,
        /// The worker's process id.
        pid: u32,
    },
    /// A task with this id is already running in the [`PoolManager`](crate::PoolManager).
    #[error("task `{id}` is already running; wait for it or cancel it first")]
    DuplicateTask {
        /// The task id.
        id: String,
    },
    /// No task with this id is known to the [`PoolManager`](crate::PoolManager) (never
    /// submitted, or its result was already taken).
    #[error("no task `{id}` is known: it was never submitted or its result was already taken")]
    NoSuchTask {
        /// The task id.
        id: String,
    },
    /// Waiting for a task gave up; the task keeps running.
    #[error("gave up waiting for task `{id}` after {after:?}; it is still running")]
    WaitTimedOut {
        /// The task id.
        id: String,
        /// How long the wait lasted.
        after: Duration,
    },
    /// The task kind has no executor in this [`PoolManager`](crate::PoolManager) (for
    /// example a process task without a task registry).
    #[error("this pool manager has no {kind} executor; configure one before submitting")]
    NoExecutor {
        /// The kind of task.
        kind: crate::TaskKind,
    },
    /// The pool has been shut down and accepts no more work.
    #[error("the pool is shut down and accepts no more tasks")]
    ShutDown,
    /// A thread of the thread executor could not be started.
    #[error("failed to start a thread-executor thread: {source}")]
    ThreadSpawn {
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// `sbatch` refused the job of a command (bad partition or account, impossible request).
    #[error("sbatch refused the job of flow `{flow}`: {message}")]
    SlurmSubmit {
        /// The flow id (the job name).
        flow: String,
        /// Slurm's message.
        message: String,
    },
    /// A Slurm job ended without its command running to its end (out of memory, node
    /// failure, preemption, cancelled outside flow, ...), or its end cannot be known.
    #[error("Slurm job {job} of flow `{flow}` {problem}")]
    SlurmJob {
        /// The flow id (the job name).
        flow: String,
        /// The Slurm job id.
        job: u64,
        /// The job's end state, when Slurm still knew the job.
        state: Option<crate::slurm::JobState>,
        /// What happened, completing "Slurm job N of flow `x` ...".
        problem: String,
    },
    /// The work of another attempt than the one asked for, which the executor adopted (a
    /// Slurm job of a killed run's later attempt, on resume), ended with `error`.
    #[error("the adopted job of attempt {attempt} failed")]
    OfAdoptedAttempt {
        /// That attempt (its `FLOW_ATTEMPT`).
        attempt: u32,
        /// How it ended.
        #[source]
        error: Box<PoolError>,
    },
    /// A Slurm program (`squeue`, `sbatch`) kept failing.
    #[error("`{program}` failed: {message}")]
    SlurmCommand {
        /// The program.
        program: String,
        /// Slurm's message.
        message: String,
    },
    /// A file of the Slurm executor (job record, state directory) could not be written.
    #[error("failed to write Slurm executor file {}: {source}", path.display())]
    SlurmFile {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// How a task ended badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskFailure {
    /// The task ran and returned an error.
    #[error("the task returned an error: {0}")]
    Error(String),
    /// The task panicked; the message of the panic.
    #[error("the task panicked: {0}")]
    Panicked(String),
    /// The task ran longer than its timeout and was stopped.
    #[error("the task timed out after {0:?} and was stopped")]
    TimedOut(Duration),
    /// The task was cancelled and was stopped.
    #[error("the task was cancelled")]
    Cancelled,
    /// The worker process running the task was killed by a signal.
    #[error("the worker process was killed by signal {signal} ({name})")]
    Crashed {
        /// The signal number.
        signal: i32,
        /// The signal's name, e.g. `SIGSEGV`.
        name: String,
    },
    /// The worker process running the task exited before answering.
    #[error("the worker process exited with code {code} before answering")]
    Exited {
        /// The exit code.
        code: i32,
    },
    /// The task's input or output could not be encoded as JSON.
    #[error("the task's input or output is not valid JSON: {0}")]
    Json(String),
    /// The pool refused the task or could not run it (see [`PoolError`]).
    #[error(transparent)]
    Pool(#[from] PoolError),
}

impl TaskFailure {
    /// Whether the failure came from a timeout or a cancellation (the task did not fail on
    /// its own).
    pub fn is_stopped(&self) -> bool {
        matches!(self, TaskFailure::TimedOut(_) | TaskFailure::Cancelled)
    }
}
