//! [`CommandRunner`]: runs a [`CommandSpec`] in its own process group, streams its output,
//! and stops the whole group on timeout or cancel.

use std::fmt;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::command::launch::{launch, Child, Environment, Launched};
use crate::command::log_file::LogFile;
use crate::command::spec::CommandSpec;
use crate::command::tail::{drain, Tail};
use crate::deadline::{deadline_after, sleep_until};
use crate::group::{clear_group, stop_group, Signalled, Stop, StopPolicy};
use crate::sys::{self, signal_group};
use crate::PoolError;

/// How long a stopped command's output may take to end once its group is gone, before the
/// processes that still hold it (they left the group) are killed.
const HOLDERS_AFTER: Duration = Duration::from_millis(100);

/// A boxed, sendable future, as returned by [`CommandExecutor::run`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What must be done just before a command starts, and only if it starts (see
/// [`CommandExecutor::run_prepared`]), such as removing what an earlier run of it left. A
/// future is lazy: one that is dropped unpolled did nothing.
pub type Prepare = BoxFuture<'static, Result<(), PoolError>>;

/// Nothing to do before a command starts ([`CommandExecutor::run`] passes it on).
pub fn unprepared() -> Prepare {
    Box::pin(std::future::ready(Ok(())))
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandEnd {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal (not by us).
    Signaled(i32),
    /// It ran longer than its timeout and its group was stopped.
    TimedOut(Duration),
    /// It was cancelled and its group was stopped.
    Cancelled,
}

impl CommandEnd {
    /// Whether the command exited with code 0.
    pub fn success(self) -> bool {
        self == CommandEnd::Exited(0)
    }
}

impl fmt::Display for CommandEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandEnd::Exited(code) => write!(f, "exited with code {code}"),
            CommandEnd::Signaled(signal) => {
                write!(f, "killed by {}", crate::sys::signal_name(*signal))
            }
            CommandEnd::TimedOut(after) => write!(f, "timed out after {after:?}"),
            CommandEnd::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// What a finished command left: how it ended, the ends of its output, its pid and how long
/// it ran. By the time you hold one, every process of the command's group is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// How it ended.
    pub end: CommandEnd,
    /// The last `tail_bytes` of stdout, lossy UTF-8. When stdout and stderr go to one file
    /// (same path), both tails are the last `tail_bytes` of the combined stream.
    pub stdout_tail: String,
    /// The last `tail_bytes` of stderr, lossy UTF-8 (the combined stream's, as above, when
    /// both go to one file).
    pub stderr_tail: String,
    /// The process id of the command (also its process group id); 0 if it was cancelled
    /// before it started.
    pub pid: u32,
    /// From just before the spawn to the moment the group was empty.
    pub duration: Duration,
    /// The attempt (`FLOW_ATTEMPT`) whose work this was, when the executor adopted the work
    /// of another attempt than the one asked for: a Slurm job that a killed run's later
    /// attempt submitted, taken over on resume. `None` otherwise.
    pub adopted_attempt: Option<u32>,
    /// Whether the executor followed a command that an earlier process started (a Slurm job
    /// of a killed run, adopted on resume): `duration` then counts from that command's
    /// start, before this run asked for it.
    pub adopted: bool,
    /// How its process group ended when it was stopped (a timeout or a cancel): on SIGTERM,
    /// or killed with SIGKILL. `None` when it ended by itself, or when its executor does not
    /// stop it with signals (a Slurm job is cancelled with `scancel`).
    pub stop: Option<Stop>,
    /// How long a wrapper of the executor held this outcome after the command ended, before
    /// handing it on (`flow` waits a moment for the run's stop when a stop signal killed the
    /// command): whoever times the attempt dates its end back by this much. Zero from an
    /// executor itself.
    pub held: Duration,
}

/// Something that runs commands to the end: locally ([`CommandRunner`]) or, say, through a
/// batch scheduler. Object safe, so the caller need not know which.
pub trait CommandExecutor: Send + Sync + fmt::Debug {
    /// Runs `spec`, stopping it after `timeout` or when `cancel` is cancelled: the same as
    /// [`run_prepared`](Self::run_prepared) with nothing to prepare.
    ///
    /// # Errors
    /// A [`PoolError`] when the command could not be started (see [`CommandRunner::run`]).
    fn run<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        self.run_prepared(spec, timeout, cancel, unprepared())
    }

    /// Runs `spec`, stopping it after `timeout` or when `cancel` is cancelled, awaiting
    /// `prepare` just before the command starts; not at all when the executor follows a
    /// command that an earlier process started instead (a Slurm job adopted on resume, see
    /// [`ExistingJobs::Adopt`](crate::ExistingJobs::Adopt)) or does not start one. When
    /// `prepare` fails, the command does not start and the run returns its error. An
    /// executor that wraps another passes `prepare` on to it.
    ///
    /// # Errors
    /// `prepare`'s error, or a [`PoolError`] when the command could not be started (see
    /// [`CommandRunner::run`]).
    fn run_prepared<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        prepare: Prepare,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>>;

    /// Returns once every command whose `run` future was dropped is gone too (a dropped
    /// future starts stopping its command and leaves the rest to a background task). The
    /// default returns at once, for executors that leave nothing behind; an executor that
    /// wraps another forwards this to it too, else a caller that awaits it to know every
    /// command is gone (as a flow context's cleanup does) may return before the wrapped
    /// executor's commands are.
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// Runs external commands locally, each in its own process group.
///
/// A command never has a controlling terminal. Where this process had one when the runner was
/// made, each command starts a session of its own for that, which the kernel also schedules
/// as a group of its own (an autogroup); a program that never reads from its terminal can
/// give it up first ([`give_up_controlling_terminal`](crate::give_up_controlling_terminal)),
/// and its commands then need only a process group, as they do where there is no terminal
/// at all (CI, cron, services).
///
/// A command whose spec inherits the environment ([`EnvBase::Inherit`]) gets this process's
/// environment as it was when the runner was made ([`CommandRunner::new`]), with the spec's
/// changes: a variable this process sets later (`std::env::set_var`) does not reach the
/// commands; give it in the spec instead. The runner keeps that one copy and starts each
/// command from it, rather than copying the environment at every spawn.
/// Signals: a command starts with the signals this process handles at their default action
/// and those it ignores still ignored, as with `std::process::Command` (SIGPIPE, which Rust
/// programs ignore, goes back to its default). "Ignored" is read when the runner is made,
/// like the environment: a signal this process starts ignoring later is at its default in
/// the commands, and one it no longer ignores is too.
///
/// Cloning is cheap and clones share the environment, the "skip grace" switch
/// ([`CommandRunner::skip_grace`]) and the count of groups being cleared in the background
/// ([`CommandExecutor::settled`]). A limit on how many commands run at once is the caller's
/// business.
///
/// [`EnvBase::Inherit`]: crate::EnvBase::Inherit
#[derive(Debug, Clone)]
pub struct CommandRunner {
    hurry: CancellationToken,
    parent_death: ParentDeath,
    /// How many groups of dropped command futures are still being cleared.
    clearing: Arc<watch::Sender<usize>>,
    /// What commands inherit.
    environment: Environment,
}

impl Default for CommandRunner {
    /// The same as [`CommandRunner::new`]: it takes this process's environment and ignored
    /// signals as they are now.
    fn default() -> Self {
        CommandRunner {
            hurry: CancellationToken::new(),
            parent_death: ParentDeath::default(),
            clearing: Arc::default(),
            environment: Environment::capture(),
        }
    }
}

/// What happens to a running command's leader when this process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParentDeath {
    /// Nothing: the command runs on.
    #[default]
    Ignore,
    /// The leader gets SIGKILL (`PR_SET_PDEATHSIG`, set by the command before its `exec`).
    /// Other members of its group are not covered.
    KillLeader,
}

/// Owns the child while it runs. If the run future is dropped before the group was
/// cleared, it kills the group with SIGKILL and, when a runtime is at hand, reaps the leader
/// and the group's orphans in a background task.
struct GroupGuard {
    child: Option<Child>,
    pgid: u32,
    armed: bool,
    clearing: Arc<watch::Sender<usize>>,
}

/// One group being cleared in the background: counted while it lives.
struct Clearing(Arc<watch::Sender<usize>>);

impl Clearing {
    fn new(count: &Arc<watch::Sender<usize>>) -> Self {
        count.send_modify(|n| *n += 1);
        Clearing(Arc::clone(count))
    }
}

impl Drop for Clearing {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let pgid = self.pgid;
        tracing::debug!(pgid, "command future dropped, killing its group");
        signal_group(pgid, Signal::SIGKILL);
        let (Some(mut child), Ok(runtime)) =
            (self.child.take(), tokio::runtime::Handle::try_current())
        else {
            return; // Dropping the child kills and reaps the leader.
        };
        let clearing = Clearing::new(&self.clearing);
        runtime.spawn(async move {
            let _clearing = clearing;
            let _ = child.wait().await;
            let policy = StopPolicy {
                grace: Duration::ZERO,
                hurry: CancellationToken::new(),
            };
            clear_group(pgid, &policy, Signalled::Term).await;
        });
    }
}

/// Why the runner stopped a command.
enum StopReason {
    TimedOut(Duration),
    Cancelled,
}

impl CommandRunner {
    /// A runner whose commands outlive this process if it dies ([`ParentDeath::Ignore`]) and
    /// inherit this process's environment and ignored signals as they are now.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what happens to running commands when this process dies.
    #[must_use]
    pub fn with_parent_death(mut self, parent_death: ParentDeath) -> Self {
        self.parent_death = parent_death;
        self
    }

    /// Cuts the grace period of every command this runner (or a clone) is stopping, now and
    /// from now on: groups get SIGKILL right after SIGTERM. Used by a shutdown whose own grace
    /// period ran out.
    pub fn skip_grace(&self) {
        self.hurry.cancel();
    }

    /// Runs `spec` to its end.
    ///
    /// stdout and stderr are pipes read while the command runs, into the bounded in-memory
    /// tails and, for a stream with a path in the spec, into that file, so neither memory nor
    /// a full pipe grows with the output. The file is created when the command first writes
    /// to the stream (with its missing parent folders); a command that writes nothing leaves
    /// no file (and no folder; an older file at that path stays as it was). A file that
    /// cannot be created or written is reported with `tracing::warn!` and skipped: the
    /// command goes on and its tail is complete. When `stdout_path` and `stderr_path` name the
    /// same file (the same path, or the same file name reached another way: `..`, a linked
    /// folder), the command gets one pipe as both stdout and stderr, so the file keeps the
    /// order in which they were written, and both tails are the tail of that combined stream.
    ///
    /// When `timeout` passes or `cancel` is cancelled, the group gets SIGTERM, the spec's
    /// grace period, then SIGKILL. Whether the command ended by itself or was stopped,
    /// any member left in its group is stopped the same way, and the outcome is returned only
    /// once the group is empty. Dropping the future kills the group with SIGKILL.
    ///
    /// # Errors
    /// [`PoolError::Spawn`] naming the program with the OS error (not found, permission
    /// denied, bad working directory, no pipe), [`PoolError::EmptyArgv`],
    /// [`PoolError::OutputFile`] for an output path that names no file (such as `/` or
    /// `logs/..`; checked without touching the file system).
    pub async fn run(
        &self,
        spec: &CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> Result<CommandOutcome, PoolError> {
        let started = Instant::now();
        if cancel.is_cancelled() {
            return Ok(CommandOutcome {
                end: CommandEnd::Cancelled,
                stdout_tail: String::new(),
                stderr_tail: String::new(),
                pid: 0,
                duration: started.elapsed(),
                adopted_attempt: None,
                adopted: false,
                stop: None,
                held: Duration::ZERO,
            });
        }
        for path in [&spec.stdout_path, &spec.stderr_path].into_iter().flatten() {
            check_output_path(path)?;
        }
        let Launched {
            child,
            stdout,
            stderr,
        } = launch(spec, &self.environment, self.parent_death)?;
        let pid = child.id();
        let combined_output = stderr.is_none();
        let stdout_file = spec.stdout_path.as_deref().map(LogFile::new);
        // Combined, stderr goes into stdout's pipe and file.
        let stderr_file = match &spec.stderr_path {
            Some(path) if !combined_output => Some(LogFile::new(path)),
            _ => None,
        };
        let guard = GroupGuard {
            child: Some(child),
            pgid: pid,
            armed: true,
            clearing: Arc::clone(&self.clearing),
        };
        let span = tracing::info_span!("command", pid, program = spec.program.name());
        async move {
            let mut guard = guard;
            tracing::debug!("started");
            let mut stdout_tail = Tail::new(spec.tail_bytes);
            let mut stderr_tail = Tail::new(spec.tail_bytes);
            let (cleared, cleared_rx) = oneshot::channel::<CommandEnd>();
            // The pipes' inodes, taken while their descriptors are surely ours.
            let inodes = [
                sys::pipe_inode(stdout.as_raw_fd()),
                stderr
                    .as_ref()
                    .and_then(|pipe| sys::pipe_inode(pipe.as_raw_fd())),
            ];
            // The pipes are read in this same future while the command runs, so a full pipe
            // never blocks the command; once the group is gone they get at most `limit` to
            // reach their end (a process that escaped the group may still hold them). When
            // the command was stopped (its timeout, a cancel), what still holds them after a
            // moment is killed first: a stop leaves nothing running.
            let limit = spec.grace.max(HOLDERS_AFTER);
            let read_output = async {
                let drains = async {
                    tokio::join!(
                        drain(Some(stdout), &mut stdout_tail, stdout_file),
                        drain(stderr, &mut stderr_tail, stderr_file)
                    )
                };
                // Resolves with how long it waited once the group was gone; `None` for a
                // hurried stop (`skip_grace`), which waits for nobody and so cannot tell
                // whether anything still holds the pipes.
                let give_up = async {
                    let stopped = matches!(
                        cleared_rx.await,
                        Ok(CommandEnd::TimedOut(_) | CommandEnd::Cancelled)
                    );
                    let cleared_at = Instant::now();
                    if stopped && !self.hurry.is_cancelled() {
                        tokio::select! {
                            () = tokio::time::sleep(HOLDERS_AFTER) => {}
                            () = self.hurry.cancelled() => {}
                        }
                        let inodes: Vec<u64> = inodes.into_iter().flatten().collect();
                        let _ = tokio::task::spawn_blocking(move || {
                            sys::kill_pipe_holders(&inodes, started);
                        })
                        .await;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(limit) => Some(cleared_at.elapsed()),
                        () = self.hurry.cancelled() => None,
                    }
                };
                tokio::select! {
                    _ = drains => {}
                    // Whatever it resolves with: a pattern that did not match would make
                    // `select!` wait on for the pipes.
                    waited = give_up => if let Some(waited) = waited {
                        let waited = Duration::from_millis(waited.as_millis() as u64);
                        tracing::warn!(
                            command_pid = pid,
                            command = spec.program.name(),
                            "a process that left the command's group still holds its output \
                             {waited:?} after the group ended; the rest of that output is not kept"
                        );
                    }
                }
            };
            let wait_and_clear = async {
                let end = match guard.child.as_mut() {
                    Some(child) => self.wait_and_clear(child, spec, timeout, &cancel).await,
                    // Not reached: the guard holds the child.
                    None => (CommandEnd::Cancelled, None),
                };
                let _ = cleared.send(end.0);
                end
            };
            let ((end, stop), ()) = tokio::join!(wait_and_clear, read_output);
            guard.armed = false;
            let stdout_tail = stdout_tail.to_string_lossy();
            let stderr_tail = if combined_output {
                stdout_tail.clone()
            } else {
                stderr_tail.to_string_lossy()
            };
            let duration = started.elapsed();
            tracing::info!(%end, ?duration, "command ended");
            Ok(CommandOutcome {
                end,
                stdout_tail,
                stderr_tail,
                pid,
                duration,
                adopted_attempt: None,
                adopted: false,
                stop,
                held: Duration::ZERO,
            })
        }
        .instrument(span)
        .await
    }

    /// Waits for the leader to exit, the timeout or the cancel; stops the group in the
    /// latter cases (and says how it ended then); returns once the group is empty.
    async fn wait_and_clear(
        &self,
        child: &mut Child,
        spec: &CommandSpec,
        timeout: Option<Duration>,
        cancel: &CancellationToken,
    ) -> (CommandEnd, Option<Stop>) {
        let pid = child.id();
        let policy = StopPolicy {
            grace: spec.grace,
            hurry: self.hurry.clone(),
        };
        let deadline = deadline_after(timeout);
        // In this order: a command that already exited when its timeout or a cancel came
        // ended by itself, and says so.
        let natural = tokio::select! {
            biased;
            status = child.wait() => Ok(status),
            () = sleep_until(deadline) => Err(StopReason::TimedOut(timeout.unwrap_or_default())),
            () = cancel.cancelled() => Err(StopReason::Cancelled),
        };
        match natural {
            Ok(status) => {
                clear_group(pid, &policy, Signalled::Nothing).await;
                let end = match status {
                    Ok(status) => end_of(status),
                    Err(error) => {
                        tracing::warn!(%error, "could not read the exit status");
                        CommandEnd::Signaled(Signal::SIGKILL as i32)
                    }
                };
                (end, None)
            }
            Err(reason) => {
                let stopped = stop_group(child, pid, &policy).await;
                tracing::debug!(?stopped, "stopped");
                let end = match reason {
                    StopReason::TimedOut(after) => CommandEnd::TimedOut(after),
                    StopReason::Cancelled => CommandEnd::Cancelled,
                };
                (end, Some(stopped.stop))
            }
        }
    }
}

impl CommandExecutor for CommandRunner {
    fn run_prepared<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        prepare: Prepare,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        Box::pin(async move {
            prepare.await?;
            CommandRunner::run(self, spec, timeout, cancel).await
        })
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        let mut clearing = self.clearing.subscribe();
        Box::pin(async move {
            let _ = clearing.wait_for(|&n| n == 0).await;
        })
    }
}

/// The end of a command that exited by itself.
fn end_of(status: ExitStatus) -> CommandEnd {
    match (status.code(), status.signal()) {
        (Some(code), _) => CommandEnd::Exited(code),
        (None, Some(signal)) => CommandEnd::Signaled(signal),
        (None, None) => CommandEnd::Exited(-1),
    }
}

/// Refuses an output path that can never be a file (`/`, `logs/..`, an empty path), without
/// touching the file system.
fn check_output_path(path: &std::path::Path) -> Result<(), PoolError> {
    if path.file_name().is_some() {
        return Ok(());
    }
    Err(PoolError::OutputFile {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file: give a file name such as `logs/build.out`",
        ),
    })
}
