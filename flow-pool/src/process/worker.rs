//! The worker side: [`worker_main`], which a program's `main` calls first.

use std::io::{BufReader, BufWriter};
use std::os::fd::{AsFd, AsRawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::process::leftovers::end_leftovers;
use crate::process::protocol::{
    depth, encode_reply, read_frame_blocking, write_frame_blocking, Outcome, Reply, Request, HELLO,
    MAX_DEPTH,
};
use crate::process::registry::TaskRegistry;
use crate::process::DEFAULT_WORKER_GRACE;
use crate::sys::{enable_child_subreaper, kill_own_group_when_parent_dies};
use crate::thread::panic_message;

/// The environment variable that marks a process started as a pool worker.
pub const WORKER_ENV: &str = "FLOW_POOL_WORKER";

/// The environment variable that gives a worker the grace period (in milliseconds) between
/// SIGTERM and SIGKILL for processes a task left running.
pub(crate) const WORKER_GRACE_ENV: &str = "FLOW_POOL_WORKER_GRACE_MS";

/// The exit code of a worker after a task panicked (the pool replaces it).
const EXIT_AFTER_PANIC: i32 = 101;

/// The exit code of a worker that could not set up or use its pipes.
const EXIT_BROKEN_PIPE: i32 = 70;

/// Whether this process was started as a pool worker (and has not called [`worker_main`],
/// which clears the mark). Such a process refuses to start workers of its own: see
/// [`PoolError::NestedWorker`](crate::PoolError::NestedWorker).
pub fn is_worker_process() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// The worker entry point: call it first in `main`, before starting threads or a runtime.
///
/// If this process was started by a [`ProcessPool`](crate::ProcessPool) as a worker, it
/// serves tasks from `registry` until its parent closes the pipe (or dies), then exits the
/// process: the call does not return. Otherwise it returns at once and `main` goes on.
///
/// A worker first writes a hello on its stdout, which the pool reads before sending a task.
/// If `main` forgets this call, the pool's task fails with [`PoolError::NotAWorker`] naming
/// it, and the worker (the whole program started again) cannot start workers of its own
/// ([`PoolError::NestedWorker`]).
///
/// [`PoolError::NotAWorker`]: crate::PoolError::NotAWorker
/// [`PoolError::NestedWorker`]: crate::PoolError::NestedWorker
///
/// ```no_run
/// fn double(input: serde_json::Value) -> Result<serde_json::Value, String> {
///     Ok(serde_json::json!(input.as_i64().ok_or("expected an integer")? * 2))
/// }
///
/// fn registry() -> flow_pool::TaskRegistry {
///     flow_pool::TaskRegistry::new().register("double", double)
/// }
///
/// fn main() {
///     flow_pool::worker_main(&registry()); // returns only in the parent
///     // ... build a runtime and a ProcessPool::new(registry(), 4) ...
/// }
/// ```
///
/// In the worker, the protocol owns the original stdin and stdout; file descriptor 0 is
/// replaced by `/dev/null` and 1 by stderr, so a task that prints cannot corrupt it.
pub fn worker_main(registry: &TaskRegistry) {
    if !is_worker_process() {
        return;
    }
    // Programs the tasks start must not serve as workers themselves. The process is still
    // single-threaded here (this is the first call in `main`), so changing the environment
    // races with nothing.
    std::env::remove_var(WORKER_ENV);
    let grace = std::env::var(WORKER_GRACE_ENV)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(DEFAULT_WORKER_GRACE, Duration::from_millis);
    std::env::remove_var(WORKER_GRACE_ENV);
    let code = serve(registry, grace);
    std::process::exit(code);
}

/// Serves tasks until end of input; returns the exit code. Processes a task leaves running in
/// the worker's group get SIGTERM, `grace`, SIGKILL before the worker answers.
fn serve(registry: &TaskRegistry, grace: Duration) -> i32 {
    // Orphans of the processes a task starts (a shell's background job) become the worker's
    // children, so that the end of each task finds and reaps them.
    if let Err(error) = enable_child_subreaper() {
        tracing::debug!(%error, "worker cannot be a child subreaper");
    }
    // If the program dies (SIGKILL included), the processes a running task started die
    // with the worker instead of running on as orphans.
    if let Err(error) = kill_own_group_when_parent_dies() {
        tracing::warn!(%error, "worker's group will not die with its parent, only the worker");
    }
    let Some((input, output)) = take_protocol_pipes() else {
        return EXIT_BROKEN_PIPE;
    };
    let mut input = BufReader::new(input);
    let mut output = BufWriter::new(output);
    // The pool reads this before anything else: it tells a worker from a program that does
    // not call `worker_main`.
    if let Err(error) = write_frame_blocking(&mut output, HELLO) {
        tracing::error!(%error, "worker could not send its hello");
        return EXIT_BROKEN_PIPE;
    }
    loop {
        let payload = match read_frame_blocking(&mut input) {
            Ok(Some(payload)) => payload,
            Ok(None) => return 0,
            Err(error) => {
                tracing::error!(%error, "worker could not read its request");
                return EXIT_BROKEN_PIPE;
            }
        };
        let (id, outcome) = match serde_json::from_slice::<Request>(&payload) {
            Err(error) => (0, Outcome::Err(format!("malformed request: {error}"))),
            Ok(request) => (request.id, run_task(registry, request)),
        };
        let panicked = matches!(outcome, Outcome::Panicked(_));
        // In a process the task forked without exec this finds the worker, not its own
        // children, and stops nothing: its reply is refused, and the pool stops the group.
        end_leftovers(grace);
        // Read here, not once at the start: a process the task forked without exec runs
        // this loop too, and must answer with its own pid (which the pool refuses).
        let pid = std::process::id();
        let frame = match encode_reply(&Reply { id, pid, outcome }) {
            Ok(frame) => frame,
            Err(error) => {
                let outcome = Outcome::Err(format!("task output is not JSON: {error}"));
                match encode_reply(&Reply { id, pid, outcome }) {
                    Ok(frame) => frame,
                    Err(_) => return EXIT_BROKEN_PIPE,
                }
            }
        };
        if let Err(error) = write_frame_blocking(&mut output, &frame) {
            tracing::error!(%error, "worker could not send its reply");
            return EXIT_BROKEN_PIPE;
        }
        if panicked {
            return EXIT_AFTER_PANIC;
        }
    }
}

/// Runs the task a request names, catching a panic.
fn run_task(registry: &TaskRegistry, request: Request) -> Outcome {
    let Some(task) = registry.task(&request.task) else {
        return Outcome::UnknownTask(request.task);
    };
    match catch_unwind(AssertUnwindSafe(|| task(request.input))) {
        Ok(Ok(value)) if depth(&value, MAX_DEPTH) > MAX_DEPTH => {
            Outcome::Err(too_deep(&request.task))
        }
        Ok(Ok(value)) => Outcome::Ok(value),
        Ok(Err(message)) => Outcome::Err(message),
        Err(panic) => Outcome::Panicked(panic_message(panic.as_ref())),
    }
}

/// The error of a task whose output nests deeper than the pool can read.
fn too_deep(task: &str) -> String {
    format!(
        "the output of task `{task}` is nested more than {MAX_DEPTH} levels deep (arrays and \
         objects), deeper than the pool can read (serde_json's recursion limit of 128 levels, \
         counting the reply around it); flatten it, or return it as a string"
    )
}

/// Takes the original stdin/stdout for the protocol and points fds 0 and 1 elsewhere.
fn take_protocol_pipes() -> Option<(std::fs::File, std::fs::File)> {
    let input = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let output = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    let null = std::fs::File::open("/dev/null").ok()?;
    nix::unistd::dup2(null.as_raw_fd(), 0).ok()?;
    nix::unistd::dup2(2, 1).ok()?;
    Some((std::fs::File::from(input), std::fs::File::from(output)))
}
