//! How a job ended, in the executor's terms: Slurm's end state and the status file turned
//! into a [`CommandEnd`] or an error naming the flow, and the tails of its output.

use std::path::Path;
use std::time::Duration;

use crate::command::spawn_error::unusable_cwd;
use crate::command::{CommandEnd, CommandSpec};
use crate::slurm::config::SlurmConfig;
use crate::slurm::job::{files_dir, remove_quietly, JobFiles};
use crate::slurm::poll::JobView;
use crate::slurm::state::JobState;
use crate::slurm::wrapper::Status;
use crate::PoolError;

/// How often, and how far apart, a missing status file is looked for again after the job
/// ended (a shared filesystem may show it late).
const STATUS_RETRIES: u32 = 10;
const STATUS_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The end of a job that the executor did not stop, from Slurm's view and the status file.
pub(super) async fn judge(
    flow: &str,
    job: u64,
    files: &JobFiles,
    view: &JobView,
    spec: &CommandSpec,
    timeout: Option<Duration>,
) -> Result<CommandEnd, PoolError> {
    let problem = |state: Option<JobState>, problem: String| PoolError::SlurmJob {
        flow: flow.to_owned(),
        job,
        state,
        problem,
    };
    let from_status = |status: Status| match status {
        Status::Ended(end) => Ok(end),
        Status::NotStarted(errno) => Err(PoolError::Spawn {
            program: spec.program.name().to_owned(),
            source: std::io::Error::from_raw_os_error(errno),
        }),
        Status::NoDirectory(errno) => Err(unusable_cwd(
            spec,
            &spec.cwd.as_deref().map_or_else(
                || "(the submission's) on the compute node".to_owned(),
                |dir| format!("{} on the compute node", dir.display()),
            ),
            &std::io::Error::from_raw_os_error(errno),
        )),
    };
    match view {
        JobView::Ended(line) => match &line.state {
            JobState::Completed | JobState::Failed => {
                match read_status(&files.status, STATUS_RETRIES).await {
                    Some(status) => from_status(status),
                    None if line.state == JobState::Completed => Err(problem(
                        Some(line.state.clone()),
                        format!(
                            "completed, but its status file {} is missing or unreadable: the \
                             log directory must be on a filesystem shared with the compute \
                             nodes",
                            files.status.display()
                        ),
                    )),
                    None => Err(problem(
                        Some(line.state.clone()),
                        format!(
                            "failed before its command could record how it ended (Slurm \
                             reason: {}): the log files {} and {} must be writable from the \
                             compute nodes (a shared filesystem); see also slurmd's log",
                            line.reason,
                            files.stdout.display(),
                            files.stderr.display()
                        ),
                    )),
                }
            }
            JobState::Timeout => match (timeout, line.limit) {
                // The flow's own timeout (Slurm's `--time` is it plus the grace): as if ours
                // had fired first.
                (Some(ours), limit) if limit.is_none_or(|limit| limit >= ours) => {
                    Ok(CommandEnd::TimedOut(ours))
                }
                // Slurm's limit, shorter (`--time` in `extra`) or with no timeout of flow's.
                (ours, limit) => Err(problem(
                    Some(JobState::Timeout),
                    slurm_time_limit(ours, limit),
                )),
            },
            state => Err(problem(
                Some(state.clone()),
                state
                    .problem(&line.nodes)
                    .unwrap_or_else(|| format!("ended in Slurm state {state}")),
            )),
        },
        JobView::Unknown => match read_status(&files.status, 1).await {
            Some(status) => from_status(status),
            None => Err(problem(
                None,
                format!(
                    "is no longer known to Slurm and left no status file at {}",
                    files.status.display()
                ),
            )),
        },
        JobView::Broken(complaint) => Err(PoolError::SlurmCommand {
            program: "squeue".to_owned(),
            message: format!("cannot follow job {job} of flow `{flow}`: {complaint}"),
        }),
        JobView::Waiting | JobView::Live(_) => Err(problem(None, "was left unfollowed".into())),
    }
}

/// What to say of a job Slurm ended at its time limit `limit` (`None`: not known) when the
/// flow's own timeout, `ours`, was not what ended it; completes "Slurm job 12 of flow `x` ...".
fn slurm_time_limit(ours: Option<Duration>, limit: Option<Duration>) -> String {
    let limit = limit.map_or_else(String::new, |limit| {
        let secs = limit.as_secs();
        format!(" of {}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    });
    let why = match ours {
        Some(ours) => format!(", before the flow's own timeout of {}s", ours.as_secs_f64()),
        None => ", not by a timeout of flow's (the flow has none)".to_owned(),
    };
    format!(
        "was stopped by Slurm at its time limit{limit} (Slurm state TIMEOUT){why}: raise the \
         limit (`--time` in the flow's `slurm = {{ extra = [...] }}`, or the partition's \
         default), or give the flow a `timeout`, which sets it"
    )
}

/// The status file's content, looked for up to `tries` times.
async fn read_status(path: &Path, tries: u32) -> Option<Status> {
    for attempt in 0..tries.max(1) {
        if attempt > 0 {
            tokio::time::sleep(STATUS_RETRY_PAUSE).await;
        }
        if let Ok(text) = tokio::fs::read_to_string(path).await {
            if let Some(status) = Status::parse(&text) {
                return Some(status);
            }
            tracing::warn!(path = %path.display(), "unreadable status file");
        }
    }
    None
}

/// The tails of the job's output; an adopted job's output is first copied to this run's
/// files, and the executor's own output files are removed.
pub(super) async fn tails(
    config: &SlurmConfig,
    spec: &CommandSpec,
    files: &JobFiles,
    was_adopted: bool,
) -> (String, String) {
    let own = files_dir(config);
    let mut result = Vec::new();
    for (from, wanted) in [
        (&files.stdout, spec.stdout_path.as_ref()),
        (&files.stderr, spec.stderr_path.as_ref()),
    ] {
        if let (true, Some(wanted)) = (was_adopted, wanted) {
            if wanted != from {
                match tokio::fs::copy(from, wanted).await {
                    // A job cancelled before it started wrote nothing.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => tracing::warn!(from = %from.display(), to = %wanted.display(),
                        %error, "could not copy the adopted job's output"),
                    // As a local command's: a stream never written to leaves no file.
                    Ok(0) => remove_quietly(wanted).await,
                    Ok(_) => {}
                }
            }
        }
        result.push(file_tail(from, spec.tail_bytes).await);
    }
    for path in [&files.stdout, &files.stderr] {
        // Slurm creates both files, written to or not; as with a local command, a stream the
        // job never wrote to leaves no file (an older file there was truncated by Slurm).
        let empty = tokio::fs::metadata(path).await.is_ok_and(|m| m.len() == 0);
        if path.starts_with(&own) || empty {
            remove_quietly(path).await;
        }
    }
    let stderr = result.pop().unwrap_or_default();
    let stdout = result.pop().unwrap_or_default();
    (stdout, stderr)
}

/// The last `capacity` bytes of the file at `path`, lossy UTF-8 (empty when unreadable, and
/// when there is no file: a job cancelled before it started wrote nothing).
async fn file_tail(path: &Path, capacity: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let read = async {
        let mut file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        let keep = u64::try_from(capacity).unwrap_or(u64::MAX).min(len);
        file.seek(std::io::SeekFrom::Start(len - keep)).await?;
        let mut bytes = Vec::new();
        file.take(keep).read_to_end(&mut bytes).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&bytes).into_owned())
    };
    read.await.unwrap_or_else(|error| {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), %error, "could not read the job's output");
        }
        String::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurms_time_limit_is_not_called_a_timeout_of_flows() {
        let minute = Some(Duration::from_secs(60));
        let text = slurm_time_limit(None, Some(Duration::from_secs(3725)));
        assert!(
            text.starts_with(
                "was stopped by Slurm at its time limit of 1:02:05 (Slurm state TIMEOUT)"
            ) && text.contains("the flow has none"),
            "{text}"
        );
        let text = slurm_time_limit(Some(Duration::from_secs(600)), minute);
        assert!(
            text.contains("limit of 0:01:00")
                && text.contains("before the flow's own timeout of 600s"),
            "{text}"
        );
        let text = slurm_time_limit(None, None);
        assert!(
            text.starts_with("was stopped by Slurm at its time limit (Slurm"),
            "{text}"
        );
    }
}
