//! Where `flow run` runs its commands: locally (the default) or as Slurm jobs
//! (`--executor slurm`), built from the workflow's `[slurm]` table and each flow's
//! `slurm = { ... }`. flow-core only sees a `CommandExecutor`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flow_core::{CancellationToken, CommandExecutor, CommandSpec};
use flow_pool::{
    BoxFuture, CommandOutcome, CommandRunner, ExistingJobs, HeldJob, Hold, LeftJob, PoolError,
    Prepare, SlurmConfig, SlurmExecutor,
};
use nix::fcntl::Flock;
use tokio::sync::watch;

use crate::cli::ExecutorKind;
use crate::error::CliError;
use crate::run_lock;
use crate::store::STATE_DIR;
use crate::terminal;
use crate::workflow::Workflow;

/// How many flows run at once on Slurm by default: the cluster queues what it cannot run.
pub const SLURM_DEFAULT_JOBS: usize = 1000;

/// The executor of one `flow run`.
#[derive(Debug)]
pub enum Executor {
    /// Commands run on this machine, each in its own process group.
    Local(CommandRunner),
    /// Commands run as Slurm batch jobs, with the lock of their job registry (held until the
    /// executor is dropped, at the end of the run).
    Slurm(SlurmExecutor, #[allow(dead_code)] JobsLock),
}

/// The exclusive lock of a Slurm job registry (`.flow/slurm/WORKFLOW/.lock`), held for the
/// whole run: a second run there would take the first one's job records for its own, and
/// cancel its jobs. Each workflow name has its own folder ([`folder_name`]), but two files
/// of the same name share it, so the lock is the folder's, not the store's.
#[derive(Debug)]
pub struct JobsLock {
    _file: Flock<File>,
}

impl JobsLock {
    /// Takes the lock of the registry in `dir` (made if missing), writing this process's id
    /// in it, or says which process holds it.
    fn take(dir: &Path) -> Result<Self, CliError> {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
            action: "create the Slurm job folder",
            path: dir.to_owned(),
            source,
        })?;
        match run_lock::take(&dir.join(".lock"), "slurm-jobs")? {
            Ok(taken) => Ok(JobsLock { _file: taken.file }),
            Err(holder) => {
                let by = match holder {
                    None => "another `flow run`".to_owned(),
                    Some(holder) => format!("another `flow run` (process {})", holder.pid),
                };
                Err(CliError::Run(format!(
                    "the Slurm jobs kept in {} are in use by {by}: wait for it, or stop it \
                     (two runs there would cancel each other's jobs)",
                    crate::terminal::path(dir)
                )))
            }
        }
    }
}

impl Executor {
    /// The executor `kind` for `wf`. A Slurm executor keeps its job registry in
    /// `.flow/slurm/WORKFLOW/` beside the file; with `resume` it adopts the jobs an earlier
    /// (killed) `flow run` left queued or running, or that ended meanwhile.
    ///
    /// # Errors
    /// [`CliError::Run`] when the Slurm state folder cannot be created.
    pub fn new(kind: ExecutorKind, wf: &Workflow, resume: bool) -> Result<Self, CliError> {
        match kind {
            ExecutorKind::Local => Ok(Executor::Local(CommandRunner::new())),
            ExecutorKind::Slurm => {
                let dir = jobs_dir(wf);
                let lock = JobsLock::take(&dir)?;
                let mut config = SlurmConfig::new(dir)
                    .extra_args(wf.slurm.extra.iter().cloned())
                    .existing_jobs(if resume {
                        ExistingJobs::Adopt
                    } else {
                        ExistingJobs::Ignore
                    });
                config.partition.clone_from(&wf.slurm.partition);
                config.account.clone_from(&wf.slurm.account);
                config.qos.clone_from(&wf.slurm.qos);
                for def in &wf.flows {
                    if let Some(resources) = &def.slurm {
                        config = config.flow(def.id.as_str(), resources.clone());
                    }
                }
                SlurmExecutor::new(config)
                    .map(|slurm| Executor::Slurm(slurm, lock))
                    .map_err(|e| CliError::Run(e.to_string()))
            }
        }
    }

    /// Checks, before anything runs, that executor `kind` can work here: for Slurm, that
    /// `sbatch` is on `PATH` and that `sinfo` reaches the controller.
    ///
    /// # Errors
    /// [`CliError::Run`] (exit code 2) saying what is missing.
    pub fn check(kind: ExecutorKind) -> Result<(), CliError> {
        if kind != ExecutorKind::Slurm {
            return Ok(());
        }
        let unusable = |detail: String| {
            CliError::Run(format!(
                "--executor slurm: {detail}; nothing was run (run without --executor slurm to \
                 use this machine)"
            ))
        };
        slurm_reachable().map_err(unusable)
    }

    /// Before a run on this machine: cancels the Slurm jobs that a `flow run --executor
    /// slurm` of `wf` which died left queued or running (else, on a cluster of several
    /// nodes, they would run on beside this run's commands, writing the same files), says
    /// so in one warning, and returns once Slurm shows them ended. Where Slurm cannot be
    /// reached, it warns that they could not be checked, and keeps them for a later run.
    ///
    /// # Errors
    /// [`CliError::Run`] when another run holds the job folder, or when `squeue` cannot
    /// tell whether a submission that was never recorded made a job.
    pub async fn cancel_left_slurm_jobs(wf: &Workflow) -> Result<(), CliError> {
        let dir = jobs_dir(wf);
        if !SlurmExecutor::has_left_jobs(&dir) {
            return Ok(());
        }
        let _lock = JobsLock::take(&dir)?;
        if let Err(detail) = slurm_reachable() {
            let ids: Vec<String> = (SlurmExecutor::left_jobs(&dir).iter())
                .map(|left| left.job.to_string())
                .collect();
            tracing::warn!(
                "an earlier `flow run --executor slurm` of `{}` died and left Slurm jobs in \
                 {}, which cannot be checked here ({detail}): if they still run, cancel \
                 them (`scancel {}` where Slurm is), as they write what this run writes",
                terminal::safe(&wf.name),
                terminal::path(&dir),
                if ids.is_empty() {
                    "JOB".to_owned()
                } else {
                    ids.join(" ")
                }
            );
            return Ok(());
        }
        let slurm =
            SlurmExecutor::new(SlurmConfig::new(dir)).map_err(|e| CliError::Run(e.to_string()))?;
        let cancelling = |left: &[LeftJob]| tracing::warn!("{}", left_jobs_warning(&wf.name, left));
        (slurm.cancel_left_jobs(cancelling).await).map_err(|e| CliError::Run(e.to_string()))?;
        Ok(())
    }

    /// How many flows run at once when neither `--jobs` nor `[workflow] jobs` says: the
    /// number of CPUs here for local commands; for Slurm, where the head only waits, as
    /// many as the cluster may take ([`SLURM_DEFAULT_JOBS`]).
    pub fn default_jobs(kind: ExecutorKind) -> usize {
        match kind {
            ExecutorKind::Local => std::thread::available_parallelism().map_or(1, |n| n.get()),
            ExecutorKind::Slurm => SLURM_DEFAULT_JOBS,
        }
    }

    /// The executor as flow-core takes it, for the flows of `wf`: under Slurm, an `sbatch`
    /// refusal points at the line of the flow's `slurm = { ... }` (else of its
    /// `[flows.NAME]`), like the errors found when the file is read.
    pub fn command_executor(&self, wf: &Workflow) -> Arc<dyn CommandExecutor> {
        match self {
            Executor::Local(runner) => Arc::new(runner.clone()),
            Executor::Slurm(slurm, _) => {
                let mut places = HashMap::new();
                for def in &wf.definitions {
                    for flow in &wf.flows[def.flows.clone()] {
                        places.insert(flow.id.to_string(), def.slurm_at.to_string());
                    }
                }
                Arc::new(PlacedRefusals {
                    inner: slurm.clone(),
                    places,
                })
            }
        }
    }

    /// The flows whose commands wait in Slurm's queue (submitted or pending), for the
    /// progress display; `None` for local commands, which start at once.
    pub fn queued_flows(&self) -> Option<watch::Receiver<BTreeSet<String>>> {
        match self {
            Executor::Local(_) => None,
            Executor::Slurm(slurm, _) => Some(slurm.queued_flows()),
        }
    }

    /// The jobs Slurm holds (see [`warn_held`]); `None` for local commands.
    pub fn held_jobs(&self) -> Option<watch::Receiver<BTreeMap<u64, HeldJob>>> {
        match self {
            Executor::Local(_) => None,
            Executor::Slurm(slurm, _) => Some(slurm.held_jobs()),
        }
    }

    /// The local runner, whose grace a second Ctrl-C cuts (a fresh, unused one for Slurm,
    /// where the cluster's `KillWait` is the grace).
    pub fn runner(&self) -> CommandRunner {
        match self {
            Executor::Local(runner) => runner.clone(),
            Executor::Slurm(..) => CommandRunner::new(),
        }
    }

    /// The last word after the scheduler returned: when a signal interrupted the run,
    /// `scancel` whatever job of the run may still be queued or running, and wait until
    /// Slurm shows none left.
    pub async fn finish(&self, interrupted: bool) {
        if let (Executor::Slurm(slurm, _), true) = (self, interrupted) {
            slurm.cancel_all().await;
        }
        if let Executor::Slurm(slurm, _) = self {
            let stats = slurm.stats();
            tracing::info!(
                sbatch = stats.sbatch_calls,
                squeue = stats.squeue_calls,
                scancel = stats.scancel_calls,
                poll_cycles = stats.poll_cycles,
                max_jobs_per_poll = stats.max_jobs_per_poll,
                "Slurm commands issued"
            );
        }
    }
}

/// The Slurm executor, with `sbatch` refusals put at the line of their flow's Slurm options
/// (`w.toml:7: sbatch refused the job of flow `x`: ...`).
#[derive(Debug)]
struct PlacedRefusals {
    inner: SlurmExecutor,
    /// `FILE:LINE` per flow id.
    places: HashMap<String, String>,
}

impl CommandExecutor for PlacedRefusals {
    fn run_prepared<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        prepare: Prepare,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        Box::pin(async move {
            let result = self
                .inner
                .run_prepared(spec, timeout, cancel, prepare)
                .await;
            result.map_err(|error| match &error {
                PoolError::SlurmSubmit { flow, .. } => match self.places.get(flow) {
                    Some(place) => PoolError::Refused {
                        message: format!("{place}: {error}"),
                    },
                    None => error,
                },
                _ => error,
            })
        })
    }
}

/// Warns on stderr, once per job and what it waits for, of each job that waits for someone
/// to act (`held`, from [`Executor::held_jobs`]: Slurm holds it, or its nodes are out of
/// service) as flow warns of other things during a run ([`held_warning`]), whatever the
/// progress display; returns when the executor is gone.
pub async fn warn_held(mut held: watch::Receiver<BTreeMap<u64, HeldJob>>) {
    let mut told = BTreeSet::new();
    loop {
        let lines: Vec<String> = (held.borrow_and_update().iter())
            .filter(|(job, held)| told.insert((**job, held.hold)))
            .map(|(job, held)| held_warning(*job, held))
            .collect();
        for line in lines {
            terminal::eprint_line(&line);
        }
        if held.changed().await.is_err() {
            return;
        }
    }
}

/// What to tell of `job`, which waits for someone to act: which flow, what it waits for,
/// Slurm's reason, and what to do.
fn held_warning(job: u64, held: &HeldJob) -> String {
    let (flow, reason) = (terminal::safe(&held.flow), terminal::safe(&held.reason));
    match held.hold {
        Hold::Nodes => format!(
            "flow: warning: Slurm job {job} of flow `{flow}` waits for nodes that are down or \
             drained (Slurm reason {reason}): it will not start, and the run waits for it, \
             until they are back in service (`sinfo -R` says why they are out; an admin \
             returns a node with `scontrol update nodename=NODE state=resume`), or stop the \
             run (Ctrl-C) to cancel it"
        ),
        _ => format!(
            "flow: warning: Slurm job {job} of flow `{flow}` is held (Slurm reason {reason}): \
             it will not start, and the run waits for it, until it is released; release it \
             with `scontrol release {job}`, or stop the run (Ctrl-C) to cancel it"
        ),
    }
}

/// The folder of the Slurm job registry of `wf`.
fn jobs_dir(wf: &Workflow) -> PathBuf {
    jobs_dir_of(&wf.dir, &wf.name)
}

/// The folder of the Slurm job registry of workflow `name` in folder `dir`.
fn jobs_dir_of(dir: &Path, name: &str) -> PathBuf {
    (dir.join(STATE_DIR).join("slurm")).join(folder_name(name))
}

/// How many left jobs [`left_jobs_note`] names; it counts the others.
const NOTED_JOBS: usize = 8;

/// The line that tells of the Slurm jobs that a killed `flow run --executor slurm` of
/// workflow `name` in folder `dir` left (`None` when it left none), for a look at the
/// workflow while none of its runs goes on (a run that goes on has its jobs there too):
/// whether they still run only `squeue` can say, and what the next run does with them.
pub fn left_jobs_note(dir: &Path, name: &str) -> Option<String> {
    let left = SlurmExecutor::left_jobs(&jobs_dir_of(dir, name));
    if left.is_empty() {
        return None;
    }
    let named = some_jobs(&left, NOTED_JOBS, |left| {
        format!("{} (flow `{}`)", left.job, terminal::safe(&left.flow))
    });
    let ids: Vec<String> = left.iter().map(|left| left.job.to_string()).collect();
    let (jobs, them, flows) = match left.len() {
        1 => ("job", "it", "its flow"),
        _ => ("jobs", "them", "their flows"),
    };
    Some(format!(
        "note: a `flow run --executor slurm` of `{}` that was killed left Slurm {jobs} {}, \
         which may still be queued or running (`squeue -j {}`): `flow run --executor slurm \
         --resume` adopts {them} instead of running {flows} again; a run on this machine \
         cancels {them} first",
        terminal::safe(name),
        named,
        ids.join(",")
    ))
}

/// The first `n` of `left`, each as `each` writes it, then how many more: `1, 2, 3 more`.
fn some_jobs(left: &[LeftJob], n: usize, each: impl Fn(&LeftJob) -> String) -> String {
    let mut named: Vec<String> = left.iter().take(n).map(each).collect();
    if left.len() > n {
        named.push(format!("{} more", left.len() - n));
    }
    named.join(", ")
}

/// `Ok` when `sbatch` is on `PATH` and `sinfo` reaches the controller, else what is missing.
fn slurm_reachable() -> Result<(), String> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("sbatch").is_file()));
    if !on_path {
        return Err("`sbatch` is not on PATH (Slurm's commands must be installed here)".into());
    }
    let probe = std::process::Command::new("sinfo")
        .args(["--noheader", "--format=%P"])
        .stdin(std::process::Stdio::null())
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "Slurm is not reachable: `sinfo` failed ({}): {}",
                out.status,
                crate::report::last_lines(stderr.trim(), 3)
            ))
        }
        Err(e) => Err(format!("cannot run `sinfo`: {e}")),
    }
}

/// How many cancelled jobs [`left_jobs_warning`] names; it counts the others.
const NAMED_JOBS: usize = 4;

/// What to tell of the jobs `left` of workflow `name`, cancelled before a run on this machine.
fn left_jobs_warning(name: &str, left: &[LeftJob]) -> String {
    let named = some_jobs(left, NAMED_JOBS, |left| {
        format!("{} of flow `{}`", left.job, terminal::safe(&left.flow))
    });
    let (jobs, it) = match left.len() {
        1 => ("Slurm job", "it"),
        _ => ("Slurm jobs", "they"),
    };
    format!(
        "cancelling {jobs} {}, left queued or running by an earlier `flow run --executor \
         slurm` of `{}` that died: this run runs the flows on this machine, and {it} would \
         write the same files (`flow run --executor slurm --resume` adopts such jobs \
         instead); no flow starts until Slurm shows {it} ended",
        named,
        terminal::safe(name),
    )
}

/// `name` as one folder name, a different one for each name: a name of only ASCII letters,
/// digits, `-`, `_` and `.` (not only dots) is kept as it is (so the folders of earlier
/// versions stay where they were); any other has its other characters made `_` (`workflow`
/// when nothing is left) and `+` and the first 16 hex digits of the BLAKE3 digest of the
/// exact name added: `rna/seq` becomes `rna_seq+…`, never `rna_seq`, which a kept name would
/// be, as a kept name never holds `+`.
fn folder_name(name: &str) -> String {
    let kept = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.chars().all(kept) && !name.trim_matches('.').is_empty() {
        return name.to_owned();
    }
    let readable: String = name
        .chars()
        .map(|c| if kept(c) { c } else { '_' })
        .collect();
    let readable = if readable.trim_matches('.').is_empty() {
        "workflow"
    } else {
        &readable
    };
    let digest = blake3::hash(name.as_bytes()).to_hex();
    format!("{readable}+{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::test_support::load_str;

    #[test]
    fn the_slurm_executor_takes_the_workflow_options() {
        let mut wf = load_str(
            "[slurm]\npartition = \"debug\"\nextra = [\"--exclusive\"]\n\
             [flows.a]\ncommand = [\"true\"]\nslurm = { cpus = 2 }\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        wf.dir = dir.path().to_owned();
        let Executor::Slurm(slurm, _) = Executor::new(ExecutorKind::Slurm, &wf, true).unwrap()
        else {
            panic!("expected the Slurm executor");
        };
        let config = slurm.config();
        assert_eq!(config.partition.as_deref(), Some("debug"));
        assert_eq!(config.extra_args, ["--exclusive"]);
        assert_eq!(config.flows["a"].cpus, Some(2));
        assert_eq!(config.existing_jobs, ExistingJobs::Adopt);
        assert_eq!(config.state_dir, dir.path().join(".flow/slurm/w"));
        assert!(matches!(
            Executor::new(ExecutorKind::Local, &wf, false).unwrap(),
            Executor::Local(_)
        ));
    }

    #[test]
    fn workflow_names_become_folder_names() {
        assert_eq!(folder_name("orders"), "orders");
        assert_eq!(folder_name("rna_seq.v2-1"), "rna_seq.v2-1");
        assert!(folder_name("a/b c").starts_with("a_b_c+"), "readable");
        assert!(folder_name("..").starts_with("workflow+"));
        assert_eq!(folder_name("a/b c").len(), "a_b_c+".len() + 16);
    }

    #[test]
    fn a_held_job_is_told_with_its_flow_reason_and_remedy_made_safe() {
        let held = HeldJob {
            flow: "align".into(),
            reason: "JobHeldUser\u{1b}[2J".into(),
            hold: Hold::Release,
        };
        assert_eq!(
            held_warning(42, &held),
            "flow: warning: Slurm job 42 of flow `align` is held (Slurm reason \
             JobHeldUser\\u{1b}[2J): it will not start, and the run waits for it, until it \
             is released; release it with `scontrol release 42`, or stop the run (Ctrl-C) to \
             cancel it"
        );
    }

    /// Regression: a job waiting for a drained node waited without a word.
    #[test]
    fn a_job_waiting_for_nodes_out_of_service_is_told_with_what_to_do() {
        let held = HeldJob {
            flow: "align".into(),
            reason: "ReqNodeNotAvail, UnavailableNodes:vm".into(),
            hold: Hold::Nodes,
        };
        assert_eq!(
            held_warning(42, &held),
            "flow: warning: Slurm job 42 of flow `align` waits for nodes that are down or \
             drained (Slurm reason ReqNodeNotAvail, UnavailableNodes:vm): it will not start, \
             and the run waits for it, until they are back in service (`sinfo -R` says why \
             they are out; an admin returns a node with `scontrol update nodename=NODE \
             state=resume`), or stop the run (Ctrl-C) to cancel it"
        );
    }

    #[test]
    fn the_left_jobs_warning_names_jobs_and_flows_made_safe() {
        let left = |job, flow: &str| LeftJob {
            flow: flow.into(),
            job,
        };
        let one = left_jobs_warning("w", &[left(12, "a\u{1b}[2J")]);
        assert!(
            one.starts_with(
                "cancelling Slurm job 12 of flow `a\\u{1b}[2J`, left queued or running by an \
                 earlier `flow run --executor slurm` of `w` that died: this run runs the flows \
                 on this machine, and it would write the same files"
            ),
            "{one}"
        );
        let many: Vec<LeftJob> = (1..=6).map(|job| left(job, "f")).collect();
        let text = left_jobs_warning("w", &many);
        assert!(
            text.starts_with(
                "cancelling Slurm jobs 1 of flow `f`, 2 of flow `f`, 3 of flow `f`, 4 of flow \
                 `f`, 2 more, left queued or running"
            ) && text.ends_with("no flow starts until Slurm shows they ended"),
            "{text}"
        );
    }

    /// Regression: `rna/seq` and `rna_seq` shared a Slurm job folder (and so a run of one
    /// took or cancelled the other's jobs).
    #[test]
    fn different_workflow_names_never_share_a_folder() {
        let names = [
            "rna_seq", "rna/seq", "rna seq", "rna\\seq", "rna_seq+", "", ".", "..", "workflow",
        ];
        let folders: rustc_hash::FxHashSet<String> =
            names.iter().map(|name| folder_name(name)).collect();
        assert_eq!(folders.len(), names.len(), "{folders:?}");
        for folder in &folders {
            assert!(
                !folder.contains('/') && !folder.trim_matches('.').is_empty(),
                "{folder}"
            );
        }
    }
}
