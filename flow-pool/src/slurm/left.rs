//! The jobs a `flow` process that died left in the registry, cancelled for a run that does
//! their work elsewhere (on the machine it runs on): they would run on beside it, writing the
//! same files. A run removes each record once its job ended, so any record left belongs to a
//! process that died.

use std::path::Path;

use crate::slurm::adopt::{job_of, still_live};
use crate::slurm::poll::JobView;
use crate::slurm::registry;
use crate::slurm::Shared;
use crate::PoolError;

/// A job that a `flow` process which died left queued or running (see
/// [`SlurmExecutor::cancel_left_jobs`](crate::SlurmExecutor::cancel_left_jobs)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftJob {
    /// The flow (`FLOW_ID`) whose command the job runs.
    pub flow: String,
    /// The Slurm job id.
    pub job: u64,
}

/// Whether the registry in `records` holds any record.
pub(super) fn any_record(records: &Path) -> bool {
    !registry::records_in(records).is_empty()
}

/// The jobs the records in `records` name by id (a record written just before its `sbatch`
/// ran names none), by job id; no Slurm command runs.
pub(super) fn named(records: &Path) -> Vec<LeftJob> {
    let mut left: Vec<LeftJob> = (registry::records_in(records).into_iter())
        .filter_map(|path| {
            let record = registry::read_now(&path)?;
            Some(LeftJob {
                flow: record.flow.clone().unwrap_or_else(|| stem(&path)),
                job: record.job?,
            })
        })
        .collect();
    left.sort_by_key(|left| left.job);
    left
}

/// The flow of an older record, without one: its file name, which is the flow id unless it
/// had to change.
fn stem(path: &Path) -> String {
    (path.file_stem())
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Cancels the job of every record in `records` that Slurm shows queued or running, removes
/// the records, and returns those jobs once Slurm shows each ended; calls `cancelling` with
/// them (if any) before it waits.
///
/// # Errors
/// [`PoolError::SlurmCommand`] when `squeue` cannot tell whether a submission whose id was
/// never recorded made a job; its record is kept, and so are those not looked at yet.
pub(super) async fn cancel(
    shared: &Shared,
    records: &Path,
    cancelling: impl FnOnce(&[LeftJob]),
) -> Result<Vec<LeftJob>, PoolError> {
    let mut left = Vec::new();
    for path in registry::records_in(records) {
        let Some(mut record) = registry::read(&path).await else {
            continue;
        };
        let flow = record.flow.clone().unwrap_or_else(|| stem(&path));
        if let Some(job) = job_of(shared, &path, &flow, &mut record).await? {
            if still_live(shared, job).await {
                shared.poller.cancel(job);
                left.push((path, LeftJob { flow, job }));
                continue;
            }
        }
        registry::remove(&path).await;
    }
    let left_jobs: Vec<LeftJob> = left.iter().map(|(_, left)| left.clone()).collect();
    if !left_jobs.is_empty() {
        cancelling(&left_jobs);
    }
    // A record goes once its job ended: a `flow` killed meanwhile leaves it to the next run.
    for (path, left) in &left {
        let mut view = shared.poller.watch(left.job, false);
        let _ = view
            .wait_for(|view| !matches!(view, JobView::Waiting | JobView::Live(_)))
            .await;
        registry::remove(path).await;
    }
    Ok(left_jobs)
}
