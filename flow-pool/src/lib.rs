//! Executors for flows: a bounded thread pool, fork/exec worker processes and external
//! commands in their own process groups, with timeouts and cancellation that really end the
//! work.
//!
//! - [`ThreadExecutor`]: blocking closures on a fixed set of OS threads.
//! - [`ProcessPool`]: functions of a [`TaskRegistry`] run in worker processes, which are this
//!   executable re-executed in worker mode; `main` must call [`worker_main`] first.
//! - [`CommandRunner`]: external commands ([`CommandSpec`]), each in its own process group,
//!   output streamed to files and a bounded in-memory tail.
//! - [`PoolManager`]: the three behind task ids (submit, cancel, wait, active tasks,
//!   shutdown) with limits per [`TaskKind`].
//!
//! A timeout or a cancel of a process or command sends SIGTERM to its whole process group,
//! waits a grace period, sends SIGKILL, reaps, and checks that the group is empty before the
//! caller hears that the work ended.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use flow_pool::{CancellationToken, CommandEnd, CommandRunner, CommandSpec};
//! let runner = CommandRunner::new();
//! let spec = CommandSpec::shell("echo started; sleep 30").grace(Duration::from_millis(200));
//! let outcome = runner
//!     .run(&spec, Some(Duration::from_millis(200)), CancellationToken::new())
//!     .await
//!     .unwrap();
//! assert_eq!(outcome.end, CommandEnd::TimedOut(Duration::from_millis(200)));
//! assert_eq!(outcome.stdout_tail, "started\n");
//! # });
//! ```
//!
//! # Caveats
//!
//! - **A thread cannot be killed.** A thread task that times out or is cancelled is reported
//!   at once and its late result is discarded, but the closure runs until it returns. It gets
//!   a [`CancellationToken`] that is cancelled at that moment, and should check it between
//!   steps. Use a [`ProcessPool`] for work that must be stoppable.
//! - **Worker processes re-execute this executable.** `main` must call [`worker_main`]
//!   before anything else (before a runtime or threads start); the worker never returns from
//!   it. This is fork *and exec*: a multi-threaded process is never forked without exec.
//! - **Orphans and zombies.** Members of a command's group whose parent died are re-parented
//!   to PID 1, which in some containers never reaps them; call [`enable_child_subreaper`] once
//!   (process-wide, hence opt-in) so this process becomes their parent and reaps them.
//! - **Parent death.** Workers get SIGKILL when the thread that started them exits
//!   (`PR_SET_PDEATHSIG`), and exit at end of input on their pipe; run the pools from
//!   long-lived runtime threads. Commands run on by default if this process is killed (so
//!   that they start with the cheap `posix_spawn`); [`ParentDeath::KillLeader`] kills a
//!   command's leader with this process, but not the rest of its group.
#![deny(missing_docs)]

mod command;
mod deadline;
mod error;
mod group;
mod manager;
mod process;
pub mod slurm;
mod sys;
mod thread;

pub use command::{
    BoxFuture, CommandEnd, CommandExecutor, CommandOutcome, CommandRunner, CommandSpec, EnvBase,
    EnvChange, EnvChanges, ParentDeath, Program, DEFAULT_GRACE, DEFAULT_TAIL_BYTES,
};
pub use error::{PoolError, TaskFailure};
pub use manager::{KindLimits, PoolConfig, PoolManager, Task, TaskKind, TaskOutput, TaskResult};
pub use process::{
    is_worker_process, worker_main, ProcessPool, TaskFn, TaskRegistry, DEFAULT_WORKER_GRACE,
    WORKER_ENV,
};
pub use slurm::{ExistingJobs, JobState, SlurmConfig, SlurmExecutor, SlurmResources, SlurmStats};
pub use sys::{enable_child_subreaper, signal_name};
pub use thread::{panic_message, ThreadExecutor, ThreadTask};
pub use tokio_util::sync::CancellationToken;
