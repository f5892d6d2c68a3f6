//! One run of a command as a Slurm job: adopt an earlier job or submit one, wait for its
//! end while honouring the timeout and the cancel, and turn Slurm's end state and the
//! status file into a [`CommandOutcome`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::command::{CommandEnd, CommandOutcome, CommandSpec, EnvChange};
use crate::deadline::{deadline_after, sleep_until};
use crate::slurm::commands::{self, JobRequest};
use crate::slurm::config::{ExistingJobs, SlurmConfig};
use crate::slurm::poll::{JobView, Poller};
use crate::slurm::registry::{self, JobRecord};
use crate::slurm::state::JobState;
use crate::slurm::wrapper::{self, Status};
use crate::slurm::Shared;
use crate::PoolError;

/// The environment variable naming the flow (set by the scheduler).
const FLOW_ID_VAR: &str = "FLOW_ID";

/// How often, and how far apart, a missing status file is looked for again after the job
/// ended (a shared filesystem may show it late).
const STATUS_RETRIES: u32 = 10;
const STATUS_RETRY_PAUSE: Duration = Duration::from_millis(100);

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
struct JobFiles {
    status: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// Why the executor stopped a job.
#[derive(Debug, Clone, Copy)]
enum Stop {
    TimedOut(Duration),
    Cancelled,
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
    }
}

/// See [`SlurmExecutor::run`](crate::SlurmExecutor::run).
pub(crate) async fn run(
    shared: &Arc<Shared>,
    spec: &CommandSpec,
    timeout: Option<Duration>,
    cancel: CancellationToken,
) -> Result<CommandOutcome, PoolError> {
    let started = Instant::now();
    if cancel.is_cancelled() || shared.closing.load(Ordering::SeqCst) {
        return Ok(outcome(CommandEnd::Cancelled, 0, started));
    }
    let flow = flow_id(spec);
    let config = &shared.config;
    let resources = config.flows.get(&flow);
    let spec_hash = registry::spec_hash(spec, resources, config);
    let record_path = registry::record_path(&config.state_dir, &flow);

    let adopted = match config.existing_jobs {
        ExistingJobs::Adopt => adopt(shared, &record_path, &spec_hash).await,
        ExistingJobs::Ignore => None,
    };
    if adopted.is_none() {
        cancel_stale(shared, &record_path, &flow).await;
    }
    let (job, files, mut view, was_adopted) = match adopted {
        Some((record, view)) => {
            tracing::info!(
                flow,
                job = record.job,
                "adopted the Slurm job of an earlier run"
            );
            let files = JobFiles {
                status: record.status,
                stdout: record.stdout,
                stderr: record.stderr,
            };
            (record.job, files, view, true)
        }
        None => {
            let files = job_files(config, spec, &flow)?;
            let Some((job, view)) = submit(shared, spec, &flow, &files, timeout).await? else {
                return Ok(outcome(CommandEnd::Cancelled, 0, started));
            };
            let record = JobRecord {
                job,
                spec_hash,
                status: files.status.clone(),
                stdout: files.stdout.clone(),
                stderr: files.stderr.clone(),
            };
            if let Err(error) = registry::write(&record_path, &record).await {
                shared.poller.cancel(job);
                return Err(error);
            }
            (job, files, view, false)
        }
    };
    let mut guard = JobGuard {
        poller: &shared.poller,
        job,
        armed: true,
    };

    // The timeout counts from when the job leaves the queue: its wait there is the
    // cluster's, not the command's (Slurm's own `--time` counts the same way). `None` until
    // then; a limit that is no deadline sleeps for ever, as a queued job does.
    let mut deadline = None;
    let mut stop: Option<Stop> = None;
    let end_view = loop {
        let settled = settled(&view);
        if let Some(end) = settled {
            break end;
        }
        let queued = matches!(
            *view.borrow(),
            JobView::Waiting | JobView::Live(JobState::Pending)
        );
        if deadline.is_none() && !queued {
            deadline = Some(deadline_after(timeout));
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
    // A job that cannot be followed any more is cancelled rather than left behind.
    guard.armed = matches!(end_view, JobView::Broken(_)) && stop.is_none();
    drop(guard);

    let end = match stop {
        Some(Stop::TimedOut(after)) => Ok(CommandEnd::TimedOut(after)),
        Some(Stop::Cancelled) => Ok(CommandEnd::Cancelled),
        None => judge(&flow, job, &files, &end_view, spec, timeout, started).await,
    };
    let (stdout_tail, stderr_tail) = tails(config, spec, &files, was_adopted).await;
    registry::remove(&record_path).await;
    if files.status.starts_with(files_dir(config)) {
        remove_quietly(&files.status).await;
    }
    let end = end?;
    tracing::info!(flow, job, %end, "Slurm job ended");
    Ok(CommandOutcome {
        stdout_tail,
        stderr_tail,
        ..outcome(end, job, started)
    })
}

/// The final view of a job, once it ended (or cannot be followed).
fn settled(view: &watch::Receiver<JobView>) -> Option<JobView> {
    match &*view.borrow() {
        JobView::Waiting | JobView::Live(_) => None,
        end => Some(end.clone()),
    }
}

/// The job of the registry record at `path`, if it runs the same command (`spec_hash`), was
/// not cancelled, and is either still known to Slurm or left a status file; with its followed
/// view.
async fn adopt(
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
async fn cancel_stale(shared: &Shared, path: &Path, flow: &str) {
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
fn job_files(config: &SlurmConfig, spec: &CommandSpec, flow: &str) -> Result<JobFiles, PoolError> {
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

/// Submits the job; `None` when the executor is closing. The `sbatch` runs in its own task,
/// so that a run dropped meanwhile still learns the job id and cancels the job.
async fn submit(
    shared: &Arc<Shared>,
    spec: &CommandSpec,
    flow: &str,
    files: &JobFiles,
    timeout: Option<Duration>,
) -> Result<Option<(u64, watch::Receiver<JobView>)>, PoolError> {
    let here = std::env::current_dir().map_err(|source| PoolError::SlurmFile {
        path: PathBuf::from("."),
        source,
    })?;
    let cwd = match &spec.cwd {
        Some(dir) => {
            let dir = commands::absolute(&here, dir);
            if let Err(source) = tokio::fs::metadata(&dir).await {
                return Err(PoolError::Spawn {
                    program: format!("{} (in directory {})", spec.program.name(), dir.display()),
                    source,
                });
            }
            dir
        }
        None => here,
    };
    let script = wrapper::script(flow, spec, &cwd, &files.status)?;
    remove_quietly(&files.status).await;
    let args = commands::sbatch_args(
        &shared.config,
        shared.config.flows.get(flow),
        &JobRequest {
            name: flow,
            cwd: &cwd,
            stdout: &files.stdout,
            stderr: &files.stderr,
            time_limit: timeout.map(|after| after + spec.grace),
        },
    );
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
                sbatch(&shared, &flow, &args, &script).await.map(Some)
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
        message: format!("sbatch printed no job id but {:?}", out.stdout.trim()),
    })?;
    if !out.stderr.trim().is_empty() {
        tracing::info!(flow, job, stderr = %out.stderr.trim(), "sbatch warned");
    }
    tracing::debug!(flow, job, "submitted");
    Ok(job)
}

/// The end of a job that the executor did not stop, from Slurm's view and the status file.
async fn judge(
    flow: &str,
    job: u64,
    files: &JobFiles,
    view: &JobView,
    spec: &CommandSpec,
    timeout: Option<Duration>,
    started: Instant,
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
        Status::NoDirectory(errno) => Err(PoolError::Spawn {
            program: format!(
                "{} (in directory {} on the compute node)",
                spec.program.name(),
                spec.cwd.as_deref().map_or_else(
                    || "of the submission".to_owned(),
                    |dir| dir.display().to_string()
                )
            ),
            source: std::io::Error::from_raw_os_error(errno),
        }),
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
            JobState::Timeout => Ok(CommandEnd::TimedOut(timeout.unwrap_or(started.elapsed()))),
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
async fn tails(
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
                    Ok(_) => {}
                }
            }
        }
        result.push(file_tail(from, spec.tail_bytes).await);
    }
    for path in [&files.stdout, &files.stderr] {
        if path.starts_with(&own) {
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

async fn remove_quietly(path: &Path) {
    if let Err(error) = tokio::fs::remove_file(path).await {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), %error, "could not remove a file");
        }
    }
}
