//! Adopting the job an earlier `flow` process left for a flow (on resume), or cancelling it
//! when it is not adopted.

use std::path::Path;

use tokio::sync::watch;

use crate::slurm::poll::JobView;
use crate::slurm::registry::{self, JobRecord};
use crate::slurm::state::JobState;
use crate::slurm::Shared;

/// The job of the registry record at `path`, if it runs the same command (`spec_hash`), was
/// not cancelled, and is either still known to Slurm or left a status file; with its followed
/// view.
pub(super) async fn adopt(
    shared: &Shared,
    path: &Path,
    spec_hash: &str,
) -> Option<(JobRecord, watch::Receiver<JobView>)> {
    let record = registry::read(path).await?;
    if record.spec_hash != spec_hash {
        tracing::info!(
            job = record.job,
            "the command changed since the job was submitted"
        );
        return None;
    }
    let mut view = shared.poller.watch(record.job, false);
    let first = view
        .wait_for(|v| *v != JobView::Waiting)
        .await
        .map(|v| v.clone())
        .ok()?;
    match first {
        // Cancelled while no `flow` watched it (the clean-up after a killed head: `scancel`):
        // it did not do its work, and this run does it again.
        JobView::Ended(line) if line.state == JobState::Cancelled => {
            tracing::info!(
                job = record.job,
                "the job was cancelled meanwhile: submitted again"
            );
            None
        }
        JobView::Live(_) | JobView::Ended(_) => Some((record, view)),
        JobView::Unknown if tokio::fs::try_exists(&record.status).await.unwrap_or(false) => {
            Some((record, view))
        }
        JobView::Unknown | JobView::Broken(_) | JobView::Waiting => None,
    }
}

/// Cancels the job of a left-over registry record that is not adopted: it belongs to a
/// `flow` process that died, and would race the new job for the same outputs.
pub(super) async fn cancel_stale(shared: &Shared, path: &Path, flow: &str) {
    if let Some(record) = registry::read(path).await {
        tracing::info!(
            flow,
            job = record.job,
            "cancelling the job left by an earlier run (not adopted)"
        );
        shared.poller.cancel(record.job);
        registry::remove(path).await;
    }
}
