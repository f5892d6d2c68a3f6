//! Executors for flows: threads, worker processes and commands, with timeouts that kill.
#![doc = include_str!("../README.md")]
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
    unprepared, BoxFuture, CommandEnd, CommandExecutor, CommandOutcome, CommandRunner, CommandSpec,
    EnvBase, EnvChange, EnvChanges, ParentDeath, Prepare, Program, DEFAULT_GRACE,
    DEFAULT_TAIL_BYTES,
};
pub use error::{PoolError, TaskFailure};
pub use group::Stop;
pub use manager::{KindLimits, PoolConfig, PoolManager, Task, TaskKind, TaskOutput, TaskResult};
pub use process::{
    is_worker_process, worker_main, ProcessPool, TaskFn, TaskRegistry, DEFAULT_HELLO_TIMEOUT,
    DEFAULT_WORKER_GRACE, WORKER_ENV,
};
pub use slurm::{
    ExistingJobs, HeldJob, Hold, JobState, LeftJob, SlurmConfig, SlurmExecutor, SlurmResources,
    SlurmStats,
};
pub use sys::{
    block, enable_child_subreaper, give_up_controlling_terminal, init_if_pid_one,
    restore_default_action, signal_is_ignored, signal_name, take_pending, unblock, use_short_slice,
    wait_gone, InitOutcome,
};
pub use thread::{panic_message, ThreadExecutor, ThreadTask};
pub use tokio_util::sync::CancellationToken;
