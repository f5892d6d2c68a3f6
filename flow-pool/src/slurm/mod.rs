//! The Slurm executor: runs each command as a Slurm batch job, behind the same
//! [`CommandExecutor`] interface as local commands.
//!
//! Each command is submitted with `sbatch --parsable` (job name = the flow id from the
//! command's `FLOW_ID`, working directory, environment, stdout and stderr to the command's
//! files, `--time` = timeout + grace in whole minutes, `--comment=flow-submit:TOKEN` with a
//! token unique to the submission, recorded in the job registry before `sbatch` runs so
//! that a resumed run finds the job even if `flow` died before `sbatch` answered). The job script is a small `/bin/sh`
//! wrapper that records how the command ended (`exit N`, `signal N`) in a status file beside
//! the logs, so the result survives Slurm forgetting the job. One poller task per executor
//! follows all outstanding jobs with one `squeue` call per poll cycle, and sends pending
//! cancellations as one `scancel`. A timeout or a cancel `scancel`s the job and the run ends
//! once Slurm shows it ended.
//!
//! ```no_run
//! # async fn demo() -> Result<(), flow_pool::PoolError> {
//! use std::time::Duration;
//! use flow_pool::{CancellationToken, CommandSpec, SlurmConfig, SlurmExecutor};
//! let slurm = SlurmExecutor::new(SlurmConfig::new(".flow/slurm/demo").partition("debug"))?;
//! let spec = CommandSpec::shell("hostname")
//!     .env("FLOW_ID", "where")
//!     .stdout_path("logs/where.out")
//!     .stderr_path("logs/where.err");
//! let outcome = slurm.run(&spec, Some(Duration::from_secs(60)), CancellationToken::new()).await?;
//! println!("{} (job {})", outcome.end, outcome.pid);
//! # Ok(()) }
//! ```
//!
//! # Caveats
//!
//! - **Shared filesystem.** The state directory, the log files and the working directory
//!   must be visible under the same paths on this machine and on the compute nodes.
//! - **Grace.** A stopped job gets SIGTERM and, after the cluster's `KillWait`, SIGKILL;
//!   the spec's grace period only lengthens `--time`.
//! - **Signals.** The wrapper tells a death by signal from an exit code with Perl, which
//!   compute nodes nearly always have; without it a signal N reads as exit code 128+N.
//! - **`pid`.** [`CommandOutcome::pid`] holds the Slurm job id (0 when nothing was
//!   submitted).

mod adopt;
mod commands;
mod config;
mod ending;
mod job;
mod left;
mod poll;
mod reason;
mod registry;
mod state;
mod submit;
mod wrapper;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::command::{BoxFuture, CommandExecutor, CommandOutcome, CommandSpec};
use crate::PoolError;

pub use config::{
    ExistingJobs, SlurmConfig, SlurmResources, DEFAULT_PARALLEL_SUBMITS, DEFAULT_POLL_INTERVAL,
};
pub use left::LeftJob;
pub use state::JobState;

/// How many Slurm commands an executor issued so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlurmStats {
    /// `sbatch` calls (one per submitted job).
    pub sbatch_calls: u64,
    /// `squeue` calls (at most one per poll cycle, for all jobs).
    pub squeue_calls: u64,
    /// `scancel` calls (at most one per poll cycle, for all pending cancellations).
    pub scancel_calls: u64,
    /// Poll cycles.
    pub poll_cycles: u64,
    /// The most jobs followed by a single `squeue` call.
    pub max_jobs_per_poll: u64,
}

/// A job that waits for someone to act: Slurm holds it, or the nodes it may run on are out
/// of service. See [`SlurmExecutor::held_jobs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldJob {
    /// The flow (`FLOW_ID`) whose command the job runs.
    pub flow: String,
    /// Slurm's reason for keeping it pending (`JobHeldUser`, `ReqNodeNotAvail`, ...), as
    /// `squeue` printed it.
    pub reason: String,
    /// What it waits for.
    pub hold: Hold,
}

/// What a [`HeldJob`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Hold {
    /// To be released (`scontrol release JOB`): a user or an admin holds it
    /// (`JobHeldUser`, `JobHeldAdmin`).
    Release,
    /// Nodes back in service: those it may run on are down or drained, or its partition is
    /// down (`ReqNodeNotAvail`, `PartitionDown`, ...); `sinfo -R` says why.
    Nodes,
}

/// Runs commands as Slurm batch jobs. Cloning is cheap; clones share the poller.
#[derive(Debug, Clone)]
pub struct SlurmExecutor {
    shared: Arc<Shared>,
}

/// What the clones of an executor share.
#[derive(Debug)]
struct Shared {
    config: SlurmConfig,
    counters: Arc<poll::Counters>,
    poller: poll::Poller,
    submits: Semaphore,
    /// How many `sbatch` calls are in flight.
    in_flight: watch::Sender<usize>,
    /// Set by [`SlurmExecutor::cancel_all`]: nothing more is submitted.
    closing: AtomicBool,
    /// The flows whose jobs have not started yet (see [`SlurmExecutor::queued_flows`]).
    queued: watch::Sender<BTreeSet<String>>,
    /// The jobs Slurm holds, by job id (see [`SlurmExecutor::held_jobs`]).
    held: watch::Sender<BTreeMap<u64, HeldJob>>,
}

impl SlurmExecutor {
    /// An executor with `config`, creating its state directory (a relative one is taken
    /// from the current directory, now). Jobs are watched by a task started on the first
    /// run, so runs must happen inside a tokio runtime.
    ///
    /// # Errors
    /// [`PoolError::SlurmFile`] when the state directory cannot be created.
    pub fn new(mut config: SlurmConfig) -> Result<Self, PoolError> {
        if config.state_dir.is_relative() {
            let here = std::env::current_dir().map_err(|source| PoolError::SlurmFile {
                path: config.state_dir.clone(),
                source,
            })?;
            config.state_dir = here.join(&config.state_dir);
        }
        for dir in [job::records_dir(&config), job::files_dir(&config)] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| PoolError::SlurmFile { path: dir, source })?;
        }
        let counters = Arc::new(poll::Counters::default());
        let poller = poll::Poller::new(config.poll_interval, Arc::clone(&counters));
        let submits = Semaphore::new(config.parallel_submits.max(1));
        Ok(SlurmExecutor {
            shared: Arc::new(Shared {
                config,
                counters,
                poller,
                submits,
                in_flight: watch::Sender::new(0),
                closing: AtomicBool::new(false),
                queued: watch::Sender::new(BTreeSet::new()),
                held: watch::Sender::new(BTreeMap::new()),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SlurmConfig {
        &self.shared.config
    }

    /// How many Slurm commands were issued so far.
    pub fn stats(&self) -> SlurmStats {
        let c = &self.shared.counters;
        SlurmStats {
            sbatch_calls: c.sbatch.load(Ordering::Relaxed),
            squeue_calls: c.squeue.load(Ordering::Relaxed),
            scancel_calls: c.scancel.load(Ordering::Relaxed),
            poll_cycles: c.cycles.load(Ordering::Relaxed),
            max_jobs_per_poll: c.max_jobs_per_poll.load(Ordering::Relaxed),
        }
    }

    /// The flows (`FLOW_ID`s) whose runs are under way but whose jobs have not started:
    /// being submitted, or pending in Slurm's queue (waiting for resources or priority, or
    /// held). A run's flow leaves the set when Slurm shows its job out of the queue, or when
    /// the run ends. A display can tell these from the flows that really run.
    pub fn queued_flows(&self) -> watch::Receiver<BTreeSet<String>> {
        self.shared.queued.subscribe()
    }

    /// The jobs of this executor's runs that wait for someone to act, by job id, with their
    /// flow, Slurm's reason and what they wait for ([`Hold`]): jobs Slurm holds (reason
    /// `JobHeldUser`, `JobHeldAdmin`, ...: `--hold`, `scontrol hold`), which wait until
    /// someone releases them (`scontrol release JOB`), and jobs whose nodes are down or
    /// drained, or whose partition is down, which wait until an admin brings them back.
    /// Their runs wait with them; the executor only tells. A job leaves the map when Slurm
    /// shows it no longer waiting so, or when its run ends. A program shows these to its
    /// user.
    pub fn held_jobs(&self) -> watch::Receiver<BTreeMap<u64, HeldJob>> {
        self.shared.held.subscribe()
    }

    /// Cancels every job of this executor (queued, running, or being submitted) with as
    /// few `scancel` calls as possible, refuses new runs (they end cancelled at once), and
    /// returns once Slurm shows none of the jobs queued, running or completing. The runs
    /// waiting for those jobs end [`Cancelled`](crate::CommandEnd::Cancelled) only when
    /// they were cancelled themselves; call this on Ctrl-C or SIGTERM, after cancelling
    /// the runs, as the last word before exiting.
    pub async fn cancel_all(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.poller.cancel_all().await;
        let mut in_flight = self.shared.in_flight.subscribe();
        let _ = in_flight.wait_for(|n| *n == 0).await;
        self.shared.poller.cancel_all().await;
    }

    /// Whether the job registry of an executor with state directory `state_dir` names a
    /// job: one that a `flow` process which died left (a run forgets each job once it
    /// ended). Creates nothing, and runs no Slurm command.
    pub fn has_left_jobs(state_dir: &Path) -> bool {
        left::any_record(&job::records_dir(&SlurmConfig::new(state_dir)))
    }

    /// The jobs the registry of an executor with state directory `state_dir` names by id,
    /// by job id: left by `flow` processes that died, or followed by one that runs now.
    /// Runs no Slurm command, so it cannot tell whether they still run.
    pub fn left_jobs(state_dir: &Path) -> Vec<LeftJob> {
        left::named(&job::records_dir(&SlurmConfig::new(state_dir)))
    }

    /// Cancels every job of the registry that Slurm shows still queued or running (left by
    /// a `flow` process that died; see [`has_left_jobs`](Self::has_left_jobs)), forgets every
    /// job of the registry, and returns those it cancelled once Slurm shows each ended (a job
    /// gets the cluster's `KillWait` between SIGTERM and SIGKILL); `cancelling` is called
    /// with them (if any) before it waits. For a run that does the flows' work elsewhere (on
    /// this machine), which those jobs would otherwise do beside it, writing the same files.
    ///
    /// # Errors
    /// [`PoolError::SlurmCommand`] when `squeue` cannot tell whether a submission whose id
    /// was never recorded made a job (the registry keeps it, and the jobs not looked at yet).
    pub async fn cancel_left_jobs(
        &self,
        cancelling: impl FnOnce(&[LeftJob]),
    ) -> Result<Vec<LeftJob>, PoolError> {
        left::cancel(
            &self.shared,
            &job::records_dir(&self.shared.config),
            cancelling,
        )
        .await
    }

    /// Runs `spec` as a Slurm job to its end.
    ///
    /// The job is `scancel`led after `timeout` (ending [`TimedOut`](crate::CommandEnd)) or
    /// when `cancel` is cancelled (ending [`Cancelled`](crate::CommandEnd)), and the run
    /// returns once Slurm shows the job ended. Dropping the future `scancel`s the job.
    /// With [`ExistingJobs::Adopt`], a job submitted for the same command by an earlier
    /// process is adopted instead of submitting a new one, also the job of another attempt
    /// (`FLOW_ATTEMPT`) of the flow: then [`CommandOutcome::adopted_attempt`] (or, for an
    /// error, [`PoolError::OfAdoptedAttempt`]) says which.
    ///
    /// # Errors
    /// [`PoolError::SlurmSubmit`] when `sbatch` refuses the job, with Slurm's message;
    /// [`PoolError::SlurmJob`] when the job ended without its command running to its end
    /// (out of memory, node failure, preemption, cancelled by someone else, ...), or Slurm
    /// keeps it pending for a reason no waiting clears (`PartitionConfig`, ...: the job is
    /// cancelled). A held job (`JobHeldUser`, `JobHeldAdmin`) is waited for, and shown in
    /// [`held_jobs`](Self::held_jobs) while held;
    /// [`PoolError::Spawn`] when a Slurm program is missing or the command could not be
    /// started on the node; [`PoolError::SlurmCommand`] when `squeue` kept failing;
    /// [`PoolError::SlurmFile`] when the executor's files cannot be written;
    /// [`PoolError::EmptyArgv`].
    pub async fn run(
        &self,
        spec: &CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> Result<CommandOutcome, PoolError> {
        job::run(&self.shared, spec, timeout, cancel, crate::unprepared()).await
    }
}

impl CommandExecutor for SlurmExecutor {
    /// `prepare` is awaited before a job is submitted, and left out when a job of an earlier
    /// process is adopted instead ([`ExistingJobs::Adopt`]): that job may be writing still.
    fn run_prepared<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        prepare: crate::Prepare,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        Box::pin(job::run(&self.shared, spec, timeout, cancel, prepare))
    }
}
