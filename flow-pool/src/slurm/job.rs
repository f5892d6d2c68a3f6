//! One run of a command as a Slurm job: adopt an earlier job or submit one (`adopt.rs`,
//! `submit.rs`), wait for its end while honouring the timeout and the cancel, and hand the
//! end to `ending.rs`, which turns it into a [`CommandOutcome`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::command::{CommandEnd, CommandOutcome, CommandSpec, EnvChange, Prepare};
use crate::deadline::{deadline_after, sleep_until};
use crate::slurm::adopt::{take_over, Adopted};
use crate::slurm::config::{ExistingJobs, SlurmConfig};
use crate::slurm::ending::{judge, tails};
use crate::slurm::poll::{JobView, Poller};
use crate::slurm::reason::{self, Pending};
use crate::slurm::registry;
use crate::slurm::state::JobState;
use crate::slurm::submit::{job_files, submit};
use crate::slurm::{HeldJob, Hold, Shared};
use crate::PoolError;

/// The environment variable naming the flow (set by the scheduler).
const FLOW_ID_VAR: &str = "FLOW_ID";

/// Where the registry records live.
pub(crate) fn records_dir(config: &SlurmConfig) -> PathBuf {
    config.state_dir.join("jobs")
}

/// Where status and output files of commands that name no output file live.
pub(crate) fn files_dir(config: &SlurmConfig) -> PathBuf {
    config.state_dir.join("files")
}

/// The files of one job.
#[derive(Debug, Clone)]
pub(super) struct JobFiles {
    pub(super) status: PathBuf,
    pub(super) stdout: PathBuf,
    pub(super) stderr: PathBuf,
}

/// Why the executor stopped a job.
#[derive(Debug, Clone)]
enum Stop {
    TimedOut(Duration),
    Cancelled,
    /// Slurm keeps it pending for a reason no waiting clears (the reason).
    NeverStarts(String),
}

/// `scancel`s the job if the run is dropped before it saw the job end.
struct JobGuard<'a> {
    poller: &'a Poller,
    job: u64,
    armed: bool,
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            tracing::debug!(job = self.job, "run dropped, cancelling its Slurm job");
            self.poller.cancel(self.job);
        }
    }
}

/// Keeps `flow` in the executor's set of queued flows until cleared or dropped.
struct QueuedMark<'a> {
    set: &'a watch::Sender<BTreeSet<String>>,
    flow: Option<String>,
}

impl<'a> QueuedMark<'a> {
    fn new(set: &'a watch::Sender<BTreeSet<String>>, flow: &str) -> Self {
        set.send_modify(|flows| {
            flows.insert(flow.to_owned());
        });
        QueuedMark {
            set,
            flow: Some(flow.to_owned()),
        }
    }

    fn clear(&mut self) {
        if let Some(flow) = self.flow.take() {
            self.set.send_modify(|flows| {
                flows.remove(&flow);
            });
        }
    }
}

impl Drop for QueuedMark<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Keeps a job in the executor's map of held jobs while it waits for someone to act (Slurm
/// holds it, or its nodes are out of service), until that ends or it is dropped.
struct HeldMark<'a> {
    map: &'a watch::Sender<BTreeMap<u64, HeldJob>>,
    job: Option<u64>,
}

impl HeldMark<'_> {
    /// `job` of `flow` waits for `hold`, for `reason`.
    fn hold(&mut self, job: u64, flow: &str, reason: &str, hold: Hold) {
        let held = HeldJob {
            flow: flow.to_owned(),
            reason: reason.to_owned(),
            hold,
        };
        self.job = Some(job);
        self.map.send_if_modified(|jobs| {
            let changed = jobs.get(&job) != Some(&held);
            jobs.insert(job, held);
            changed
        });
    }

    /// The job is no longer held (or no longer followed).
    fn release(&mut self) {
        if let Some(job) = self.job.take() {
            self.map.send_modify(|jobs| {
                jobs.remove(&job);
            });
        }
    }
}

impl Drop for HeldMark<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// The flow id of a command: its last `FLOW_ID` setting, or `command`.
fn flow_id(spec: &CommandSpec) -> String {
    spec.env
        .changes
        .iter()
        .rev()
        .find_map(|change| match change {
            EnvChange::Set(key, value) if key == FLOW_ID_VAR => Some(value.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "command".to_owned())
}

fn outcome(end: CommandEnd, job: u64, started: Instant) -> CommandOutcome {
    CommandOutcome {
        end,
        stdout_tail: String::new(),
        stderr_tail: String::new(),
        pid: u32::try_from(job).unwrap_or(u32::MAX),
        duration: started.elapsed(),
        adopted_attempt: None,
        adopted: false,
        stop: None,
        held: Duration::ZERO,
    }
}

/// See [`SlurmExecutor::run`](crate::SlurmExecutor::run); `prepare` is awaited before a job
/// is submitted, never for an adopted one.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    spec: &CommandSpec,
    timeout: Option<Duration>,
    cancel: CancellationToken,
    prepare: Prepare,
) -> Result<CommandOutcome, PoolError> {
    let mut started = Instant::now();
    if cancel.is_cancelled() || shared.closing.load(Ordering::SeqCst) {
        return Ok(outcome(CommandEnd::Cancelled, 0, started));
    }
    let flow = flow_id(spec);
    let mut queued_mark = QueuedMark::new(&shared.queued, &flow);
    let config = &shared.config;
    let resources = config.flows.get(&flow);
    let spec_hash = registry::spec_hash(spec, resources, config);
    let record_path = registry::record_path(&config.state_dir, &flow);

    let adopt = config.existing_jobs == ExistingJobs::Adopt;
    let asked = registry::attempt_of(spec);
    let hash_at = |attempt| {
        registry::with_attempt(spec, attempt).map(|at| registry::spec_hash(&at, resources, config))
    };
    let earlier = take_over(shared, &record_path, &flow, &spec_hash, hash_at, adopt).await?;
    // The job of a killed run's other attempt: the outcome says which.
    let mut adopted_attempt = None;
    let (job, files, mut view, was_adopted) = match earlier {
        Some(Adopted { record, job, view }) => {
            adopted_attempt = record.attempt.filter(|attempt| Some(*attempt) != asked);
            tracing::info!(
                flow,
                job,
                attempt = record.attempt,
                "adopted the Slurm job of an earlier run"
            );
            let files = JobFiles {
                status: record.status,
                stdout: record.stdout,
                stderr: record.stderr,
            };
            (job, files, view, true)
        }
        None => {
            // Only now: a left-over job that was not adopted is cancelled already, and an
            // adopted one, which may still be running, is left to what it does.
            prepare.await?;
            // Cancelled while it prepared (a large folder removed): no job.
            if cancel.is_cancelled() || shared.closing.load(Ordering::SeqCst) {
                return Ok(outcome(CommandEnd::Cancelled, 0, started));
            }
            let files = job_files(config, spec, &flow)?;
            let submitted = submit(
                shared,
                spec,
                &flow,
                &files,
                timeout,
                &record_path,
                spec_hash,
            );
            let Some((job, view)) = submitted.await? else {
                return Ok(outcome(CommandEnd::Cancelled, 0, started));
            };
            (job, files, view, false)
        }
    };
    // Job 0: adopted from its status file alone, nothing to cancel.
    let mut guard = JobGuard {
        poller: &shared.poller,
        job,
        armed: job != 0,
    };

    // The timeout counts from when the job started, by Slurm's clock (`squeue %M`): its wait
    // in the queue is the cluster's, not the command's (Slurm's own `--time` counts the same
    // way), and an adopted job keeps the time it ran before this run. `None` until it left
    // the queue; a limit that is no deadline sleeps for ever, as a queued job does.
    let mut deadline = None;
    let mut stop: Option<Stop> = None;
    let mut told_held = false;
    let mut held_mark = HeldMark {
        map: &shared.held,
        job: None,
    };
    let end_view = loop {
        let settled = settled(&view);
        if let Some(end) = settled {
            break end;
        }
        let (queued, reason, used) = match &*view.borrow() {
            JobView::Live(line) if line.state == JobState::Pending => {
                (true, Some(line.reason.clone()), None)
            }
            JobView::Live(line) => (false, None, line.used),
            JobView::Waiting => (true, None, None),
            _ => (false, None, None),
        };
        if deadline.is_none() && !queued {
            queued_mark.clear();
            // By Slurm's clock: an adopted job may have run for long before this run.
            let ran = used.unwrap_or_default();
            if was_adopted {
                started = Instant::now().checked_sub(ran).unwrap_or(started);
            }
            deadline = Some(deadline_after(timeout.map(|t| t.saturating_sub(ran))));
        }
        let pending = reason.as_deref().map(|r| (r, reason::pending(r)));
        match pending {
            Some((why, Pending::Held)) => held_mark.hold(job, &flow, why, Hold::Release),
            Some((why, Pending::NodesDown)) => held_mark.hold(job, &flow, why, Hold::Nodes),
            _ => held_mark.release(),
        }
        match pending {
            Some((why, Pending::Never)) if stop.is_none() => {
                tracing::debug!(
                    flow,
                    job,
                    reason = why,
                    "can never start, cancelling the job"
                );
                stop = Some(Stop::NeverStarts(why.to_owned()));
                shared.poller.cancel(job);
            }
            // Shown to the user through `held_jobs`; logged once for `-v`.
            Some((why, Pending::Held)) if !told_held => {
                told_held = true;
                tracing::info!(flow, job, reason = why, "the Slurm job is held");
            }
            _ => {}
        }
        tokio::select! {
            changed = view.changed() => {
                if changed.is_err() {
                    break JobView::Broken("the Slurm poller stopped".to_owned());
                }
            }
            () = sleep_until(deadline.flatten()), if stop.is_none() => {
                tracing::debug!(flow, job, "timed out, cancelling the job");
                stop = Some(Stop::TimedOut(timeout.unwrap_or_default()));
                shared.poller.cancel(job);
            }
            () = cancel.cancelled(), if stop.is_none() => {
                tracing::debug!(flow, job, "cancelled, cancelling the job");
                stop = Some(Stop::Cancelled);
                shared.poller.cancel(job);
            }
        }
    };
    // An adopted job that had ended already: its duration is Slurm's.
    if let (true, None, JobView::Ended(line)) = (was_adopted, deadline, &end_view) {
        let ran = line.used.unwrap_or_default();
        started = Instant::now().checked_sub(ran).unwrap_or(started);
    }
    // A job that cannot be followed any more is cancelled rather than left behind.
    guard.armed = job != 0 && matches!(end_view, JobView::Broken(_)) && stop.is_none();
    drop(guard);
    drop(held_mark);
    // Cancelled before it was seen to leave the queue, with no output file (Slurm makes
    // them when the job starts): its command never ran, which the outcome tells by pid 0.
    let never_ran = matches!(stop, Some(Stop::Cancelled))
        && deadline.is_none()
        && !exists(&files.stdout).await
        && !exists(&files.stderr).await;

    let end = match stop {
        Some(Stop::TimedOut(after)) => Ok(CommandEnd::TimedOut(after)),
        Some(Stop::Cancelled) => Ok(CommandEnd::Cancelled),
        Some(Stop::NeverStarts(why)) => Err(PoolError::SlurmJob {
            flow: flow.clone(),
            job,
            state: match &end_view {
                JobView::Ended(line) => Some(line.state.clone()),
                _ => None,
            },
            problem: format!(
                "can never start, so it was cancelled: Slurm keeps it pending with reason \
                 {}: {}",
                why.escape_debug(),
                reason::never_hint(&why)
            ),
        }),
        None => judge(&flow, job, &files, &end_view, spec, timeout).await,
    };
    let (stdout_tail, stderr_tail) = tails(config, spec, &files, was_adopted).await;
    registry::remove(&record_path).await;
    if files.status.starts_with(files_dir(config)) {
        remove_quietly(&files.status).await;
    }
    let end = end.map_err(|error| match adopted_attempt {
        Some(attempt) => PoolError::OfAdoptedAttempt {
            attempt,
            error: Box::new(error),
        },
        None => error,
    })?;
    tracing::info!(flow, job, %end, never_ran, "Slurm job ended");
    Ok(CommandOutcome {
        stdout_tail,
        stderr_tail,
        adopted_attempt,
        adopted: was_adopted,
        ..outcome(end, if never_ran { 0 } else { job }, started)
    })
}

async fn exists(path: &Path) -> bool {
    tokio::fs::try_exists(path).await.unwrap_or(true)
}

/// The final view of a job, once it ended (or cannot be followed).
fn settled(view: &watch::Receiver<JobView>) -> Option<JobView> {
    match &*view.borrow() {
        JobView::Waiting | JobView::Live(_) => None,
        end => Some(end.clone()),
    }
}

pub(super) async fn remove_quietly(path: &Path) {
    if let Err(error) = tokio::fs::remove_file(path).await {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), %error, "could not remove a file");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::slurm::config::ExistingJobs;
    use crate::{CommandExecutor, SlurmExecutor};

    /// An executor that adopts, with a record left by an earlier process for flow `f` running
    /// `spec`, whose job left its status file `exit 0` and is no longer known: adopted from
    /// that file alone, so no Slurm command runs.
    async fn left_over(dir: &Path, spec: &CommandSpec) -> SlurmExecutor {
        let config = SlurmConfig::new(dir.join("state")).existing_jobs(ExistingJobs::Adopt);
        let executor = SlurmExecutor::new(config).unwrap();
        let config = &executor.shared.config;
        let status = dir.join("f.status");
        std::fs::write(&status, "exit 0\n").unwrap();
        let record = registry::JobRecord {
            flow: None,
            job: None,
            token: None,
            attempt: None,
            spec_hash: registry::spec_hash(spec, None, config),
            status,
            stdout: dir.join("f.out"),
            stderr: dir.join("f.err"),
        };
        let path = registry::record_path(&config.state_dir, "f");
        registry::write(&path, &record).await.unwrap();
        executor
    }

    /// A `Prepare` that notes it ran in `done`, and fails with `fail` if given.
    fn noted(done: &Arc<AtomicBool>, fail: Option<&str>) -> crate::Prepare {
        let (done, fail) = (Arc::clone(done), fail.map(str::to_owned));
        Box::pin(async move {
            done.store(true, Ordering::SeqCst);
            match fail {
                Some(message) => Err(PoolError::Refused { message }),
                None => Ok(()),
            }
        })
    }

    #[tokio::test]
    async fn an_adopted_job_is_not_prepared_for_and_a_new_one_is_before_its_submission() {
        let dir = tempfile::tempdir().unwrap();
        let spec = CommandSpec::shell("true").env(FLOW_ID_VAR, "f");
        let executor = left_over(dir.path(), &spec).await;
        let prepared = Arc::new(AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let run = executor.run_prepared(&spec, None, cancel.clone(), noted(&prepared, None));
        assert_eq!(run.await.unwrap().end, CommandEnd::Exited(0));
        assert!(
            !prepared.load(Ordering::SeqCst),
            "an adopted job may still be writing"
        );
        // The record is gone with the adopted job: a new one would be submitted, prepared
        // for first (a preparation that fails submits nothing).
        let prepare = noted(&prepared, Some("cannot remove `out`"));
        let error = executor.run_prepared(&spec, None, cancel, prepare).await;
        assert!(prepared.load(Ordering::SeqCst));
        assert_eq!(error.unwrap_err().to_string(), "cannot remove `out`");
        assert_eq!(executor.stats().sbatch_calls, 0);
    }
}
