//! What becomes of the job an earlier `flow` process left for a flow: adopted (on resume,
//! when it runs the same command and was not cancelled), or cancelled. A record written
//! just before `sbatch` ran, without a job id, is first resolved by its token (the job's
//! `--comment`): the `sbatch` of a killed `flow` may still be running, or have submitted the
//! job after its parent died.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::slurm::commands;
use crate::slurm::poll::JobView;
use crate::slurm::registry::{self, JobRecord};
use crate::slurm::state::JobState;
use crate::slurm::Shared;
use crate::PoolError;

/// How long a resumed run waits for an `sbatch` left running by a killed `flow` to end.
const ORPHAN_SBATCH_WAIT: Duration = Duration::from_secs(120);

/// How often it looks whether that `sbatch` ended.
const ORPHAN_SBATCH_POLL: Duration = Duration::from_millis(50);

/// An adopted job: its registry record, its id (0 when only its status file is left) and
/// its followed view.
pub(super) struct Adopted {
    /// The record; its `attempt` may be a later one than the attempt asked for.
    pub(super) record: JobRecord,
    pub(super) job: u64,
    pub(super) view: watch::Receiver<JobView>,
}

/// Takes over the job of the registry record at `path`, if any: adopts it when `adopt` and
/// it runs the same command (`spec_hash`; for a record of attempt N, `hash_at(N)`, the hash
/// of the command as attempt N runs it: a killed run may have been at any attempt), was not
/// cancelled, and is either still known to Slurm or left a status file; otherwise cancels
/// it (it belongs to a `flow` process that died, and would race the new job for the same
/// outputs) and removes the record.
///
/// # Errors
/// [`PoolError::SlurmCommand`] when `squeue` cannot tell whether a submission whose id was
/// never recorded made a job: submitting again could run the flow twice.
pub(super) async fn take_over(
    shared: &Shared,
    path: &Path,
    flow: &str,
    spec_hash: &str,
    hash_at: impl Fn(u32) -> Option<String>,
    adopt: bool,
) -> Result<Option<Adopted>, PoolError> {
    let Some(mut record) = registry::read(path).await else {
        return Ok(None);
    };
    let job = job_of(shared, path, flow, &mut record).await?;
    let same = match record.attempt.and_then(hash_at) {
        Some(hash) => record.spec_hash == hash,
        None => record.spec_hash == spec_hash,
    };
    if adopt && same {
        if let Some(view) = adoptable(shared, &record, job).await {
            return Ok(Some(Adopted {
                record,
                job: job.unwrap_or(0),
                view,
            }));
        }
    } else if adopt {
        tracing::info!(flow, job, "the command changed since the job was submitted");
    }
    if let Some(job) = job {
        // A job still queued or running holds work (hours of it, maybe): its cancel is told,
        // not only logged.
        if still_live(shared, job).await {
            let why = if adopt {
                "its command changed since it was submitted"
            } else {
                "`flow run --resume` would have adopted it"
            };
            tracing::warn!(
                "cancelling Slurm job {job} of flow `{flow}`, left queued or running by an \
                 earlier `flow run` that died, and running the flow again ({why})"
            );
        } else {
            tracing::info!(
                flow,
                job,
                "cancelling the job left by an earlier run (not adopted)"
            );
        }
        shared.poller.cancel(job);
    }
    registry::remove(path).await;
    Ok(None)
}

/// The job of `record` (read from `path`, of `flow`): its id, or for a record written just
/// before `sbatch` ran, the job found by its token, then also written into the record.
///
/// # Errors
/// [`PoolError::SlurmCommand`] when `squeue` cannot tell whether that submission made a job.
pub(super) async fn job_of(
    shared: &Shared,
    path: &Path,
    flow: &str,
    record: &mut JobRecord,
) -> Result<Option<u64>, PoolError> {
    Ok(match (record.job, record.token.as_deref()) {
        (Some(job), _) => Some(job),
        (None, Some(token)) => {
            let found = find_by_token(shared, flow, token).await?;
            if let Some(job) = found {
                tracing::info!(flow, job, "found the job whose submission was not recorded");
                record.job = Some(job);
                if let Err(error) = registry::write(path, record).await {
                    tracing::warn!(%error, "could not record the job found by its token");
                }
            }
            found
        }
        (None, None) => None,
    })
}

/// Whether `squeue` shows `job` queued or running.
pub(super) async fn still_live(shared: &Shared, job: u64) -> bool {
    let mut view = shared.poller.watch(job, false);
    view.wait_for(|v| *v != JobView::Waiting)
        .await
        .is_ok_and(|v| matches!(*v, JobView::Live(_)))
}

/// The view of the earlier job if it can be adopted.
async fn adoptable(
    shared: &Shared,
    record: &JobRecord,
    job: Option<u64>,
) -> Option<watch::Receiver<JobView>> {
    let status_left = tokio::fs::try_exists(&record.status).await.unwrap_or(false);
    let Some(job) = job else {
        // Submitted, never recorded, and no longer known to Slurm: its status file, if it
        // wrote one, is all that is left of it.
        return status_left.then(|| watch::channel(JobView::Unknown).1);
    };
    let mut view = shared.poller.watch(job, false);
    let first = view
        .wait_for(|v| *v != JobView::Waiting)
        .await
        .map(|v| v.clone())
        .ok()?;
    match first {
        // Cancelled while no `flow` watched it (the clean-up after a killed head: `scancel`):
        // it did not do its work, and this run does it again.
        JobView::Ended(line) if line.state == JobState::Cancelled => {
            tracing::info!(job, "the job was cancelled meanwhile: submitted again");
            None
        }
        JobView::Live(_) | JobView::Ended(_) => Some(view),
        JobView::Unknown if status_left => Some(view),
        JobView::Unknown | JobView::Broken(_) | JobView::Waiting => None,
    }
}

/// The job submitted for `flow` with `token`, once no `sbatch` carrying the token runs any
/// more.
async fn find_by_token(shared: &Shared, flow: &str, token: &str) -> Result<Option<u64>, PoolError> {
    let comment = registry::comment(token);
    wait_for_orphan_sbatch(flow, &comment).await;
    shared.counters.squeue.fetch_add(1, Ordering::Relaxed);
    let failed = |message: String| PoolError::SlurmCommand {
        program: "squeue".to_owned(),
        message: format!(
            "cannot tell whether the job an earlier run was submitting for flow `{flow}` \
             exists ({message}); run again once `squeue` works, so that it is not run twice"
        ),
    };
    let out = commands::run("squeue", &commands::squeue_named_args(flow), None)
        .await
        .map_err(|error| failed(error.to_string()))?;
    if !out.success {
        return Err(failed(commands::complaint("squeue", &out.stderr)));
    }
    Ok(commands::job_with_comment(&out.stdout, &comment))
}

/// Waits (polling: another process's end cannot be awaited) while an `sbatch` whose
/// arguments hold `--comment=COMMENT` runs on this machine: the `sbatch` of a killed `flow`
/// (it has its own process group, and survives) that may yet submit the job. Looks in
/// `/proc`; elsewhere it returns at once.
async fn wait_for_orphan_sbatch(flow: &str, comment: &str) {
    let arg = format!("--comment={comment}");
    let since = Instant::now();
    let mut told = false;
    while sbatch_running(&arg).await {
        if since.elapsed() >= ORPHAN_SBATCH_WAIT {
            tracing::warn!(
                flow,
                "an sbatch of an earlier run is still running after {}s; looking for its job \
                 anyway",
                ORPHAN_SBATCH_WAIT.as_secs()
            );
            return;
        }
        if !told {
            tracing::info!(flow, "waiting for the sbatch of an earlier run to end");
            told = true;
        }
        tokio::time::sleep(ORPHAN_SBATCH_POLL).await;
    }
}

/// Whether a process on this machine has `arg` among its arguments.
async fn sbatch_running(arg: &str) -> bool {
    let Ok(mut entries) = tokio::fs::read_dir("/proc").await else {
        return false;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = tokio::fs::read(entry.path().join("cmdline")).await {
            if cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) {
                return true;
            }
        }
    }
    false
}
