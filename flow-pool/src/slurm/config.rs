//! How the Slurm executor submits: cluster-wide options ([`SlurmConfig`]), per-flow
//! resources ([`SlurmResources`]) and what to do with jobs left by an earlier run
//! ([`ExistingJobs`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default time between two `squeue` calls.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The default number of `sbatch` processes that may run at once.
pub const DEFAULT_PARALLEL_SUBMITS: usize = 8;

/// What a flow asks of the cluster: `slurm = { cpus = 2, mem = "4G", partition = "...",
/// extra = [...] }` in a workflow file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmResources {
    /// CPUs for the command (`--cpus-per-task`).
    pub cpus: Option<u32>,
    /// Memory for the command, in Slurm's syntax (`--mem`, e.g. `4G`, `500M`).
    pub mem: Option<String>,
    /// The partition, instead of the workflow's (`--partition`).
    pub partition: Option<String>,
    /// More `sbatch` arguments, after the workflow's, e.g. `["--gres=gpu:1"]`.
    #[serde(default)]
    pub extra: Vec<String>,
}

/// What to do with a flow's job that an earlier `flow` process submitted and did not see
/// end (the process was killed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExistingJobs {
    /// Submit a new job; the old one is left alone (a fresh run).
    #[default]
    Ignore,
    /// Adopt the old job when it was submitted for the same command: wait for it if it is
    /// still queued or running, or read its status file if it ended meanwhile (a resumed
    /// run). Submit anew when it is unknown and left no status.
    Adopt,
}

/// Configuration of a [`SlurmExecutor`](crate::SlurmExecutor).
///
/// ```
/// use std::time::Duration;
/// use flow_pool::{ExistingJobs, SlurmConfig, SlurmResources};
/// let config = SlurmConfig::new(".flow/slurm/orders")
///     .partition("debug")
///     .extra_args(["--exclusive"])
///     .flow("sort", SlurmResources { cpus: Some(4), mem: Some("4G".into()), ..Default::default() })
///     .poll_interval(Duration::from_millis(500))
///     .existing_jobs(ExistingJobs::Adopt);
/// assert_eq!(config.flows["sort"].cpus, Some(4));
/// ```
#[derive(Debug, Clone)]
pub struct SlurmConfig {
    /// A directory of this executor's own: the job of each flow (for adoption), and the
    /// status and output files of commands that name no output file. Must be on a
    /// filesystem the compute nodes share with this machine.
    pub state_dir: PathBuf,
    /// The partition of every job (`--partition`), unless the flow names its own.
    pub partition: Option<String>,
    /// The account charged (`--account`).
    pub account: Option<String>,
    /// The quality of service (`--qos`).
    pub qos: Option<String>,
    /// More `sbatch` arguments for every job.
    pub extra_args: Vec<String>,
    /// Resources per flow id (the `FLOW_ID` of the command's environment).
    pub flows: HashMap<String, SlurmResources>,
    /// Time between two polls of the cluster.
    pub poll_interval: Duration,
    /// How many `sbatch` processes may run at once.
    pub parallel_submits: usize,
    /// Whether to adopt jobs of an earlier run.
    pub existing_jobs: ExistingJobs,
}

impl SlurmConfig {
    /// A configuration keeping its files in `state_dir`, with the cluster's default
    /// partition, account and QOS.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        SlurmConfig {
            state_dir: state_dir.into(),
            partition: None,
            account: None,
            qos: None,
            extra_args: Vec::new(),
            flows: HashMap::new(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            parallel_submits: DEFAULT_PARALLEL_SUBMITS,
            existing_jobs: ExistingJobs::Ignore,
        }
    }

    /// Sets the partition.
    #[must_use]
    pub fn partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = Some(partition.into());
        self
    }

    /// Sets the account.
    #[must_use]
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Sets the QOS.
    #[must_use]
    pub fn qos(mut self, qos: impl Into<String>) -> Self {
        self.qos = Some(qos.into());
        self
    }

    /// Adds `sbatch` arguments for every job.
    #[must_use]
    pub fn extra_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets the resources of one flow.
    #[must_use]
    pub fn flow(mut self, flow: impl Into<String>, resources: SlurmResources) -> Self {
        self.flows.insert(flow.into(), resources);
        self
    }

    /// Sets the time between polls (at least 10 ms).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Sets how many `sbatch` processes may run at once (at least 1).
    #[must_use]
    pub fn parallel_submits(mut self, n_submits: usize) -> Self {
        self.parallel_submits = n_submits.max(1);
        self
    }

    /// Sets what to do with jobs of an earlier run.
    #[must_use]
    pub fn existing_jobs(mut self, existing: ExistingJobs) -> Self {
        self.existing_jobs = existing;
        self
    }
}
