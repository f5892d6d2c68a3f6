//! Submitting a flow's job: its files, its `sbatch` arguments and script, and the `sbatch`
//! call itself, which finishes even if the run that asked for it is dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::command::spawn_error::unusable_cwd;
use crate::command::CommandSpec;
use crate::slurm::commands::{self, JobRequest};
use crate::slurm::config::SlurmConfig;
use crate::slurm::job::{files_dir, remove_quietly, JobFiles};
use crate::slurm::poll::JobView;
use crate::slurm::registry::{self, JobRecord};
use crate::slurm::wrapper;
use crate::slurm::Shared;
use crate::PoolError;

/// A number unique within this process, for file names.
fn nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The status, stdout and stderr files of a new job: the spec's output files (absolute),
/// the status file beside stdout; files in the state directory for what the spec leaves
/// out.
pub(super) fn job_files(
    config: &SlurmConfig,
    spec: &CommandSpec,
    flow: &str,
) -> Result<JobFiles, PoolError> {
    let here = std::env::current_dir().map_err(|source| PoolError::SlurmFile {
        path: PathBuf::from("."),
        source,
    })?;
    let own = files_dir(config);
    let stem = format!("{}.{}", registry::file_stem(flow), nonce());
    let stdout = match &spec.stdout_path {
        Some(path) => commands::absolute(&here, path),
        None => own.join(format!("{stem}.out")),
    };
    let stderr = match &spec.stderr_path {
        Some(path) => commands::absolute(&here, path),
        None => own.join(format!("{stem}.err")),
    };
    let status = match &spec.stdout_path {
        Some(_) => stdout.with_extension("status"),
        None => own.join(format!("{stem}.status")),
    };
    // Slurm opens the output files on the node and fails the job if their folder is missing
    // (a local command's runner makes it with the first byte instead).
    for path in [&status, &stdout, &stderr] {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| PoolError::SlurmFile {
                path: dir.to_owned(),
                source,
            })?;
        }
    }
    Ok(JobFiles {
        status,
        stdout,
        stderr,
    })
}

/// Submits the job and records it in the registry at `record_path`; `None` when the
/// executor is closing. The `sbatch` runs in its own task, so that a run dropped meanwhile
/// still learns the job id and cancels the job.
///
/// The record is written twice: with the submission's token and no job id just before
/// `sbatch` runs (the token is the job's `--comment`), and with the id once `sbatch`
/// answers. A `flow` killed in between leaves the first one, by which a resumed run finds
/// the job (`adopt.rs`) instead of submitting a second one.
pub(super) async fn submit(
    shared: &Arc<Shared>,
    spec: &CommandSpec,
    flow: &str,
    files: &JobFiles,
    timeout: Option<Duration>,
    record_path: &Path,
    spec_hash: String,
) -> Result<Option<(u64, watch::Receiver<JobView>)>, PoolError> {
    let here = std::env::current_dir().map_err(|source| PoolError::SlurmFile {
        path: PathBuf::from("."),
        source,
    })?;
    let cwd = match &spec.cwd {
        Some(dir) => {
            let dir = commands::absolute(&here, dir);
            if let Err(source) = tokio::fs::metadata(&dir).await {
                return Err(unusable_cwd(spec, &dir.display().to_string(), &source));
            }
            dir
        }
        None => here,
    };
    let script = wrapper::script(flow, spec, &cwd, &files.status)?;
    remove_quietly(&files.status).await;
    let token = registry::new_token();
    let comment = registry::comment(&token);
    let args = commands::sbatch_args(
        &shared.config,
        shared.config.flows.get(flow),
        &JobRequest {
            name: flow,
            cwd: &cwd,
            stdout: &files.stdout,
            stderr: &files.stderr,
            time_limit: timeout.map(|after| after + spec.grace),
            comment: &comment,
        },
    );
    let record = JobRecord {
        flow: Some(flow.to_owned()),
        job: None,
        token: Some(token),
        attempt: registry::attempt_of(spec),
        spec_hash,
        status: files.status.clone(),
        stdout: files.stdout.clone(),
        stderr: files.stderr.clone(),
    };
    let record_path = record_path.to_owned();
    if shared.closing.load(Ordering::SeqCst) {
        return Ok(None);
    }
    shared.in_flight.send_modify(|n| *n += 1);
    let (reply, answer) = oneshot::channel();
    let task_shared = Arc::clone(shared);
    let flow = flow.to_owned();
    // The submission finishes even if this run is dropped meanwhile: the task registers the
    // job with the poller, then hands it over, or cancels it when nobody is left to take it.
    tokio::spawn(async move {
        let shared = task_shared;
        let result = match shared.submits.acquire().await {
            Ok(_permit) if !shared.closing.load(Ordering::SeqCst) => {
                submit_recorded(&shared, &flow, &args, &script, &record_path, record)
                    .await
                    .map(Some)
            }
            _ => Ok(None),
        };
        let result = result.map(|job| job.map(|job| (job, shared.poller.watch(job, true))));
        shared.in_flight.send_modify(|n| *n -= 1);
        if let Err(Ok(Some((job, _)))) = reply.send(result) {
            tracing::debug!(flow, job, "run dropped during sbatch, cancelling its job");
            shared.poller.cancel(job);
        }
    });
    answer.await.map_err(|_| PoolError::SlurmCommand {
        program: "sbatch".to_owned(),
        message: "the submission task stopped (the runtime is shutting down)".to_owned(),
    })?
}

/// Records the submission (`record` holds its token), runs `sbatch`, and records the job id
/// it answers; removes the record when `sbatch` submitted nothing.
async fn submit_recorded(
    shared: &Shared,
    flow: &str,
    args: &[String],
    script: &str,
    path: &Path,
    mut record: JobRecord,
) -> Result<u64, PoolError> {
    registry::write(path, &record).await?;
    let job = match sbatch(shared, flow, args, script).await {
        Ok(job) => job,
        Err(error) => {
            // Refused, or not started: no job exists. (When `sbatch` succeeded but printed
            // no id, the record stays, for a resumed run to find the job by its token.)
            if !matches!(&error, PoolError::SlurmSubmit { message, .. } if message.starts_with(NO_ID))
            {
                registry::remove(path).await;
            }
            return Err(error);
        }
    };
    record.job = Some(job);
    if let Err(error) = registry::write(path, &record).await {
        shared.poller.cancel(job);
        return Err(error);
    }
    Ok(job)
}

/// How an `sbatch` that printed no job id is reported.
const NO_ID: &str = "sbatch printed no job id but";

/// Runs `sbatch` for one job and returns its id.
async fn sbatch(
    shared: &Shared,
    flow: &str,
    args: &[String],
    script: &str,
) -> Result<u64, PoolError> {
    shared.counters.sbatch.fetch_add(1, Ordering::Relaxed);
    let out = commands::run("sbatch", args, Some(script)).await?;
    if !out.success {
        return Err(PoolError::SlurmSubmit {
            flow: flow.to_owned(),
            message: commands::complaint("sbatch", &out.stderr),
        });
    }
    let job = commands::parse_job_id(&out.stdout).ok_or_else(|| PoolError::SlurmSubmit {
        flow: flow.to_owned(),
        message: format!("{NO_ID} {:?}", out.stdout.trim()),
    })?;
    if !out.stderr.trim().is_empty() {
        tracing::info!(flow, job, stderr = %out.stderr.trim(), "sbatch warned");
    }
    tracing::debug!(flow, job, "submitted");
    Ok(job)
}
