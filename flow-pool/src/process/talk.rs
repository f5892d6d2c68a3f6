//! One exchange with a worker: its hello (when new), the request, and the reply, which must
//! answer that request and come from that worker.

use std::path::Path;
use std::time::Duration;

use crate::process::pool::Worker;
use crate::process::protocol::{decode_reply, read_frame, read_hello, write_frame, Outcome};
use crate::{PoolError, TaskFailure};

/// What happened to a task sent to a worker.
pub(super) enum Exchange {
    /// The worker answered the request.
    Replied(Outcome),
    /// The worker closed its pipe, or could not be talked to.
    Lost(Option<PoolError>),
    /// The worker broke the protocol while still running: it cannot be trusted with another
    /// task, and its group is stopped.
    Broken(PoolError),
    /// The task was stopped (timeout, cancel, a silent new worker).
    Stopped(TaskFailure),
}

/// Reads a new worker's hello (for at most `hello_timeout`), sends the request `id` (encoded
/// in `request`) and reads the reply.
pub(super) async fn talk(
    worker: &mut Worker,
    id: u64,
    request: &[u8],
    program: &Path,
    hello_timeout: Duration,
) -> Exchange {
    let pid = worker.pid;
    if !worker.greeted {
        let hello = tokio::time::timeout(hello_timeout, read_hello(&mut worker.stdout));
        let Ok(hello) = hello.await else {
            // Still running, and silent: stopped and reaped like a task that timed out.
            return Exchange::Stopped(
                PoolError::NotAWorker {
                    program: program.display().to_string(),
                    pid,
                    problem: silent_for(hello_timeout),
                }
                .into(),
            );
        };
        match hello {
            Ok(Ok(())) => worker.greeted = true,
            Ok(Err(got)) => {
                return Exchange::Lost(Some(PoolError::NotAWorker {
                    program: program.display().to_string(),
                    pid,
                    problem: instead_of_hello(&got),
                }))
            }
            Err(error) => return Exchange::Lost(Some(PoolError::WorkerIo { pid, source: error })),
        }
    }
    let Some(stdin) = worker.stdin.as_mut() else {
        return Exchange::Lost(None);
    };
    if let Err(error) = write_frame(stdin, request).await {
        return if error.kind() == std::io::ErrorKind::BrokenPipe {
            Exchange::Lost(None)
        } else {
            Exchange::Lost(Some(PoolError::WorkerIo { pid, source: error }))
        };
    }
    match read_frame(&mut worker.stdout).await {
        Ok(Some(payload)) => match decode_reply(&payload) {
            Ok(reply) if reply.id == id && reply.pid == pid => Exchange::Replied(reply.outcome),
            Ok(reply) => Exchange::Broken(PoolError::Protocol {
                pid,
                problem: mismatch(id, pid, reply.id, reply.pid),
            }),
            Err(problem) => Exchange::Broken(PoolError::Protocol { pid, problem }),
        },
        Ok(None) => Exchange::Lost(None),
        Err(error) => Exchange::Lost(Some(PoolError::WorkerIo { pid, source: error })),
    }
}

/// Why a reply that answers another request, or comes from another process, is refused.
fn mismatch(id: u64, pid: u32, got_id: u64, got_pid: u32) -> String {
    let from = if got_pid == pid {
        "the worker".to_owned()
    } else {
        format!("process {got_pid}, not the worker")
    };
    format!(
        "a reply to request {got_id} came from {from}, while request {id} was in flight; a \
         process that a task forked without exec (and that kept the worker's pipes) may have \
         answered: the worker and its process group were stopped"
    )
}

/// What a program wrote where a worker's hello belongs, for [`PoolError::NotAWorker`].
fn instead_of_hello(got: &[u8]) -> String {
    if got.is_empty() {
        return "it closed its stdout without a word (it exited, or closed it)".to_owned();
    }
    let text: String = String::from_utf8_lossy(got).chars().take(60).collect();
    format!(
        "it wrote \"{}\" where the worker's hello belongs",
        text.escape_debug()
    )
}

/// Why a worker that did not say hello within `limit` is not taken for one, for
/// [`PoolError::NotAWorker`].
fn silent_for(limit: Duration) -> String {
    format!(
        "it wrote nothing for {limit:?} where the worker's hello belongs, and was stopped (a \
         worker that takes longer to start needs a longer `ProcessPool::hello_timeout`)"
    )
}
