//! How one attempt of a flow runs, for each kind: the future the driver polls, and the
//! mapping of each executor's outcome to a result or a [`Failure`].

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use flow_pool::{
    panic_message, CommandEnd, CommandExecutor, CommandOutcome, CommandSpec, PoolError,
    ProcessPool, Stop, TaskFailure, ThreadExecutor,
};
use flow_results::{Failure, FailureKind};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::flow::{AsyncFn, BlockingFn};
use crate::writer::Durable;
use crate::{Data, FlowInput};

/// The removal of a flow's declared outputs before its attempt ([`crate::fresh::clear`]), and
/// the making of the folders they go in ([`crate::fresh::make_folders`]), on a blocking thread
/// once awaited; its error fails the attempt.
pub(crate) type Clearing = BoxFuture<'static, Result<(), String>>;

/// The [`Clearing`] of the outputs `data` declares.
pub(crate) fn clearing(data: Arc<Data>) -> Clearing {
    async move {
        let cleared = tokio::task::spawn_blocking(move || {
            crate::fresh::clear(&data).and_then(|()| crate::fresh::make_folders(&data))
        })
        .await;
        cleared.unwrap_or_else(|e| {
            Err(format!(
                "cannot remove the declared outputs before the attempt (the thread failed): {e}"
            ))
        })
    }
    .boxed()
}

/// Awaits `clear`, if any: the failed attempt when it fails.
async fn cleared(clear: Option<Clearing>) -> Result<(), AttemptEnd> {
    match clear {
        Some(clear) => clear
            .await
            .map_err(|message| AttemptEnd::plain(Err(error(message)))),
        None => Ok(()),
    }
}

/// How one attempt ended.
#[derive(Debug)]
pub(crate) struct AttemptEnd {
    pub(crate) result: Result<Value, Failure>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) stdout_tail: String,
    pub(crate) stderr_tail: String,
    /// The attempt whose work this was, when the executor adopted another attempt's (a Slurm
    /// job of a killed run, on resume): the machine counts it as that one.
    pub(crate) adopted_attempt: Option<u32>,
    /// How long the command ran, when the executor adopted one an earlier process started:
    /// the flow started that long before its end, not when this run asked for it.
    pub(crate) adopted_ran: Option<Duration>,
    /// How long the end was held on its way here after the command ended
    /// ([`CommandOutcome::held`]): the attempt ended that long before the driver heard of it.
    pub(crate) held: Duration,
}

impl AttemptEnd {
    pub(crate) fn plain(result: Result<Value, Failure>) -> Self {
        AttemptEnd {
            result,
            exit_code: None,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            adopted_attempt: None,
            adopted_ran: None,
            held: Duration::ZERO,
        }
    }

    pub(crate) fn cancelled() -> Self {
        Self::plain(Err(Failure::new(FailureKind::Cancelled, "cancelled")))
    }

    /// The attempt as it can be saved: a value nested deeper than a store can read back
    /// fails the flow that returned it (rather than the store's save of the run's results).
    pub(crate) fn storable(mut self) -> Self {
        let too_deep = matches!(&self.result, Ok(value @ (Value::Array(_) | Value::Object(_)))
            if flow_results::output_too_deep(value));
        if too_deep {
            self.result = Err(Failure::new(
                FailureKind::Error,
                format!(
                    "it returned a value nested more than {} levels deep (arrays and objects \
                     inside one another), which no result store can read back: flatten it, or \
                     return it as a JSON string",
                    flow_results::MAX_OUTPUT_DEPTH
                ),
            ));
        }
        self
    }
}

/// The rest of an async flow's attempt after a first poll that was not ready: its timeout
/// (counted from now, the attempt's start) and its cancellation, which drops it.
pub(crate) fn async_in_flight(
    fut: BoxFuture<'static, Result<Value, String>>,
    timeout: Option<Duration>,
    cancel: CancellationToken,
) -> BoxFuture<'static, AttemptEnd> {
    async move {
        let sleep = async {
            match timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            // A panic in a later poll fails the flow, as one in the first poll does.
            result = AssertUnwindSafe(fut).catch_unwind() => AttemptEnd::plain(match result {
                Ok(result) => result.map_err(error),
                Err(panic) => Err(error(panicked(panic.as_ref()))),
            }),
            () = cancel.cancelled() => AttemptEnd::cancelled(),
            () = sleep => AttemptEnd::plain(Err(timed_out(timeout.unwrap_or_default()))),
        }
    }
    .boxed()
}

/// An async flow's attempt once `clear` removed its outputs (on a blocking thread, so never
/// polled inline): then as [`async_in_flight`], its timeout counted from then.
pub(crate) fn async_cleared(
    f: AsyncFn,
    input: FlowInput,
    timeout: Option<Duration>,
    cancel: CancellationToken,
    clear: Option<Clearing>,
) -> BoxFuture<'static, AttemptEnd> {
    async move {
        if let Err(end) = cleared(clear).await {
            return end;
        }
        if cancel.is_cancelled() {
            return AttemptEnd::cancelled();
        }
        // A panic in the call fails the flow, as one in a poll does.
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(input))) {
            Ok(fut) => async_in_flight(fut, timeout, cancel).await,
            Err(panic) => async_ready(Err(panicked(panic.as_ref()))),
        }
    }
    .boxed()
}

/// The failure message of an async flow that panicked, worded as the thread executor words a
/// blocking flow's panic: the flow fails, the run goes on.
pub(crate) fn panicked(payload: &(dyn Any + Send)) -> String {
    TaskFailure::Panicked(panic_message(payload)).to_string()
}

/// The end of an async attempt that was ready at its first poll.
pub(crate) fn async_ready(result: Result<Value, String>) -> AttemptEnd {
    AttemptEnd::plain(result.map_err(error))
}

/// A blocking flow's attempt on the thread executor, once `clear` removed its outputs.
pub(crate) fn blocking_attempt(
    threads: ThreadExecutor,
    f: BlockingFn,
    input: FlowInput,
    timeout: Option<Duration>,
    cancel: CancellationToken,
    span: tracing::Span,
    clear: Option<Clearing>,
) -> BoxFuture<'static, AttemptEnd> {
    async move {
        if let Err(end) = cleared(clear).await {
            return end;
        }
        let result = threads
            .run(
                // On its thread, the body's events are in the attempt's span too.
                move |_, token| span.in_scope(|| f(input.with_cancel(token))),
                Value::Null,
                timeout,
                cancel,
            )
            .await;
        AttemptEnd::plain(result.map_err(task_failure))
    }
    .boxed()
}

/// A task flow's attempt on a worker process, once `clear` removed its outputs.
pub(crate) fn task_attempt(
    pool: Option<ProcessPool>,
    task: Arc<str>,
    input: FlowInput,
    timeout: Option<Duration>,
    cancel: CancellationToken,
    clear: Option<Clearing>,
) -> BoxFuture<'static, AttemptEnd> {
    async move {
        let Some(pool) = pool else {
            return AttemptEnd::plain(Err(Failure::new(
                FailureKind::Error,
                format!(
                    "flow `{}` runs task `{task}`, but the context has no process pool: \
                     give one with ContextBuilder::process_pool",
                    input.flow()
                ),
            )));
        };
        if let Err(end) = cleared(clear).await {
            return end;
        }
        let value = input.to_value();
        let result = pool.run(&task, value, timeout, cancel).await;
        let exit_code = match &result {
            Err(TaskFailure::Exited { code }) => Some(*code),
            _ => None,
        };
        let result = result.map_err(|failure| match failure {
            TaskFailure::Pool(
                missing @ (PoolError::UnknownTask { .. } | PoolError::NotInWorker { .. }),
            ) => error(format!(
                "flow `{}` runs task `{task}`, but {missing}",
                input.flow()
            )),
            TaskFailure::Pool(PoolError::ShutDown) => error(format!(
                "flow `{}` runs task `{task}`, but the context's process pool was shut down \
                 (`ProcessPool::shutdown`, which `FlowContext::cleanup` calls, also for every \
                 other context given a clone of the pool): build the context with a new \
                 `ProcessPool` to run task flows",
                input.flow()
            )),
            other => task_failure(other),
        });
        AttemptEnd {
            exit_code,
            ..AttemptEnd::plain(result)
        }
    }
    .boxed()
}

/// A command flow's attempt; `clear` removes its outputs just before the command starts, left
/// to the executor, which leaves it out for work it adopts rather than starts
/// ([`CommandExecutor::run_prepared`]).
pub(crate) fn command_attempt(
    executor: Arc<dyn CommandExecutor>,
    spec: CommandSpec,
    timeout: Option<Duration>,
    cancel: CancellationToken,
    durable: Option<Durable>,
    clear: Option<Clearing>,
) -> BoxFuture<'static, AttemptEnd> {
    async move {
        if let Some(durable) = durable {
            let saved = tokio::select! {
                saved = durable.wait() => saved,
                // A run stopped while this waited (say, because the store refused results):
                // the command never starts, and the attempt says so.
                () = cancel.cancelled() => return not_started(),
            };
            if !saved {
                let message = "not started: the result-store writer is gone, so the results \
                               of its parents may not be saved";
                return AttemptEnd::plain(Err(Failure::new(FailureKind::Error, message)));
            }
        }
        if cancel.is_cancelled() {
            return not_started();
        }
        // The runner creates the log folder with the first byte of output, if any comes.
        let outcome = match clear {
            None => executor.run(&spec, timeout, cancel).await,
            Some(clear) => {
                let prepare =
                    clear.map(|cleared| cleared.map_err(|message| PoolError::Refused { message }));
                executor
                    .run_prepared(&spec, timeout, cancel, prepare.boxed())
                    .await
            }
        };
        match outcome {
            Ok(outcome) => command_end(outcome),
            Err(PoolError::OfAdoptedAttempt { attempt, error }) => AttemptEnd {
                adopted_attempt: Some(attempt),
                ..AttemptEnd::plain(Err(pool_error(&spec, &error)))
            },
            Err(e) => AttemptEnd::plain(Err(pool_error(&spec, &e))),
        }
    }
    .boxed()
}

/// A command attempt cancelled before its command started: no process, no output, no log.
fn not_started() -> AttemptEnd {
    AttemptEnd::plain(Err(Failure::new(
        FailureKind::Cancelled,
        "cancelled before its command started",
    )))
}

/// For an exit code a shell gives for a reason of its own, the words that say so: 127 for a
/// command not found, 126 for one it could not run, 128 + N for one signal N killed (137 is
/// SIGKILL, most often the kernel's out-of-memory killer), which the bare number does not
/// tell. Empty for others.
fn shell_says(code: i32) -> String {
    match code {
        127 => return " (as a shell reports a command it did not find: see its stderr)".to_owned(),
        126 => {
            return " (as a shell reports a command it found but could not run: not \
                    executable?)"
                .to_owned()
        }
        _ => {}
    }
    match code - 128 {
        9 => " (128 + 9: as a shell reports a command killed by SIGKILL, which the kernel's \
               out-of-memory killer sends)"
            .to_owned(),
        signal @ 1..=31 => format!(
            " (128 + {signal}: as a shell reports a command killed by {})",
            flow_pool::signal_name(signal)
        ),
        _ => String::new(),
    }
}

fn command_end(outcome: CommandOutcome) -> AttemptEnd {
    let (result, exit_code) = match outcome.end {
        // The run was stopped before the executor started the command (as while its outputs
        // were cleared): there was no process.
        CommandEnd::Cancelled if outcome.pid == 0 => return not_started(),
        CommandEnd::Exited(0) => (Ok(serde_json::json!({"exit_code": 0})), Some(0)),
        CommandEnd::Exited(code) => (
            Err(Failure::new(
                FailureKind::Error,
                format!("the command exited with code {code}{}", shell_says(code)),
            )),
            Some(code),
        ),
        CommandEnd::Signaled(signal) => (
            Err(Failure::new(
                FailureKind::Crashed {
                    signal: Some(signal),
                },
                // Not flow's own SIGKILL (that ends a timeout or a cancel, said as such).
                match signal {
                    9 => format!(
                        "the command was {} (not sent by flow: most often the kernel's \
                         out-of-memory killer)",
                        outcome.end
                    ),
                    _ => format!("the command was {}", outcome.end),
                },
            )),
            None,
        ),
        CommandEnd::TimedOut(limit) => (
            Err(Failure::new(
                FailureKind::Timeout,
                format!(
                    "the command timed out: limit {limit:?}, stopped after {:.2}s{}",
                    outcome.duration.as_secs_f64(),
                    killed(outcome.stop)
                ),
            )),
            None,
        ),
        CommandEnd::Cancelled => (
            Err(Failure::new(
                FailureKind::Cancelled,
                format!("the command was cancelled{}", killed(outcome.stop)),
            )),
            None,
        ),
    };
    AttemptEnd {
        result,
        exit_code,
        stdout_tail: outcome.stdout_tail,
        stderr_tail: outcome.stderr_tail,
        adopted_attempt: outcome.adopted_attempt,
        adopted_ran: outcome.adopted.then_some(outcome.duration),
        held: outcome.held,
    }
}

/// What a stopped command's message adds when SIGTERM did not end it.
fn killed(stop: Option<Stop>) -> String {
    match stop {
        Some(stop) if stop.killed() => format!("; it {stop}"),
        _ => String::new(),
    }
}

fn pool_error(spec: &CommandSpec, error: &PoolError) -> Failure {
    let _ = spec;
    Failure::new(FailureKind::Error, error.to_string())
}

fn error(message: String) -> Failure {
    Failure::new(FailureKind::Error, message)
}

fn timed_out(limit: Duration) -> Failure {
    Failure::new(
        FailureKind::Timeout,
        format!("the attempt timed out after {limit:?}"),
    )
}

/// The failure of a thread or worker-process task.
pub(crate) fn task_failure(failure: TaskFailure) -> Failure {
    match failure {
        TaskFailure::Error(message) => Failure::new(FailureKind::Error, message),
        TaskFailure::TimedOut(limit) => timed_out(limit),
        TaskFailure::Cancelled => Failure::new(FailureKind::Cancelled, "cancelled"),
        TaskFailure::Crashed { signal, .. } => Failure::new(
            FailureKind::Crashed {
                signal: Some(signal),
            },
            failure.to_string(),
        ),
        other => Failure::new(FailureKind::Error, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_ends_map_to_results() {
        let outcome = |end| CommandOutcome {
            end,
            stdout_tail: "out".into(),
            stderr_tail: String::new(),
            pid: 1,
            duration: Duration::ZERO,
            adopted_attempt: None,
            adopted: false,
            stop: None,
            held: Duration::ZERO,
        };
        let ok = command_end(outcome(CommandEnd::Exited(0)));
        assert_eq!(ok.result.unwrap(), serde_json::json!({"exit_code": 0}));
        assert_eq!(ok.stdout_tail, "out");
        let failed = command_end(outcome(CommandEnd::Exited(3)));
        assert_eq!(failed.exit_code, Some(3));
        assert_eq!(
            failed.result.unwrap_err().message,
            "the command exited with code 3"
        );
        let piped = command_end(outcome(CommandEnd::Exited(141))).result;
        assert_eq!(
            piped.unwrap_err().message,
            "the command exited with code 141 (128 + 13: as a shell reports a command \
             killed by SIGPIPE)"
        );
        let killed = command_end(outcome(CommandEnd::Signaled(9)));
        assert_eq!(
            killed.result.unwrap_err().kind,
            FailureKind::Crashed { signal: Some(9) }
        );
        let late = command_end(outcome(CommandEnd::TimedOut(Duration::from_secs(2))));
        assert_eq!(late.result.unwrap_err().kind, FailureKind::Timeout);
        let stopped = command_end(outcome(CommandEnd::Cancelled));
        assert_eq!(stopped.result.unwrap_err().kind, FailureKind::Cancelled);
    }

    /// A stopped command that did not end on SIGTERM says so: that is why its stop took the
    /// grace period.
    #[test]
    fn a_command_that_ignored_sigterm_says_it_was_killed_after_the_grace_period() {
        let stopped = |end, stop| CommandOutcome {
            end,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            pid: 1,
            duration: Duration::from_millis(5_010),
            adopted_attempt: None,
            adopted: false,
            stop: Some(stop),
            held: Duration::ZERO,
        };
        let grace = Stop::KilledAfterGrace(Duration::from_secs(5));
        let message = |end, stop| command_end(stopped(end, stop)).result.unwrap_err().message;
        assert_eq!(
            message(CommandEnd::Cancelled, grace),
            "the command was cancelled; it did not stop on SIGTERM, so it was killed (SIGKILL) \
             after its grace period of 5s"
        );
        assert_eq!(
            message(CommandEnd::TimedOut(Duration::from_secs(1)), grace),
            "the command timed out: limit 1s, stopped after 5.01s; it did not stop on SIGTERM, \
             so it was killed (SIGKILL) after its grace period of 5s"
        );
        assert_eq!(
            message(CommandEnd::Cancelled, Stop::Term),
            "the command was cancelled"
        );
    }

    /// The runner's answer when the run was stopped before the command started (while its
    /// outputs were cleared, say): no process (`pid` 0), so the attempt did not start.
    #[test]
    fn a_command_cancelled_before_it_started_says_so() {
        let end = |pid| CommandOutcome {
            end: CommandEnd::Cancelled,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            pid,
            duration: Duration::ZERO,
            adopted_attempt: None,
            adopted: false,
            stop: None,
            held: Duration::ZERO,
        };
        let unstarted = command_end(end(0)).result.unwrap_err();
        assert_eq!(
            unstarted,
            Failure::new(
                FailureKind::Cancelled,
                "cancelled before its command started"
            )
        );
        let stopped = command_end(end(42)).result.unwrap_err();
        assert_eq!(stopped.message, "the command was cancelled");
    }

    #[test]
    fn task_failures_map_to_kinds() {
        assert_eq!(
            task_failure(TaskFailure::Error("x".into())),
            Failure::new(FailureKind::Error, "x")
        );
        assert_eq!(
            task_failure(TaskFailure::TimedOut(Duration::from_secs(1))).kind,
            FailureKind::Timeout
        );
        assert_eq!(
            task_failure(TaskFailure::Panicked("boom".into())).kind,
            FailureKind::Error
        );
    }
}
