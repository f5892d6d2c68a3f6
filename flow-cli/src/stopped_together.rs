//! [`StoppedTogether`]: a command killed by a stop signal (SIGTERM, SIGINT, SIGHUP) that
//! reached `flow` too counts as stopped with the run, not as failed. A CI job's timeout or
//! cancel (and `kill` of a process tree) signals every process of the job at once, and a
//! command's end can reach the run a moment before `flow`'s own signal does: without a wait,
//! which of the two came first decided whether the flow was `failed` or `cancelled`, and
//! whether the run was.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flow_core::{CancellationToken, CommandExecutor, CommandSpec};
use flow_pool::{BoxFuture, CommandEnd, CommandOutcome, PoolError, Prepare};

// How long the end of a command a stop signal killed waits for the run to be stopped: the
// window in which stop signals are one stop.
use crate::signals::SAME_STOP;

/// Wraps the run's command executor: the end of a command killed by SIGTERM, SIGINT or
/// SIGHUP is handed on once its attempt is cancelled (the run was stopped by a signal, so
/// the run counts it cancelled, with how it ended), or [`SAME_STOP`] later. Other ends go on
/// at once. Whether `flow` is being stopped cannot be known before its own signal arrives,
/// so a command killed by such a signal while the run goes on (a script's own `kill`) is
/// handed on [`SAME_STOP`] late, then failed as before.
#[derive(Debug)]
pub struct StoppedTogether {
    inner: Arc<dyn CommandExecutor>,
}

impl StoppedTogether {
    /// `inner`, wrapped.
    pub fn new(inner: Arc<dyn CommandExecutor>) -> Self {
        StoppedTogether { inner }
    }
}

/// Whether `signal` is one that stops `flow` too ([`crate::signals::HANDLED`]).
fn stops_flow(signal: i32) -> bool {
    crate::signals::HANDLED
        .iter()
        .any(|&stop| stop as i32 == signal)
}

impl CommandExecutor for StoppedTogether {
    fn run_prepared<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        prepare: Prepare,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        Box::pin(async move {
            let mut outcome = (self.inner)
                .run_prepared(spec, timeout, cancel.clone(), prepare)
                .await;
            if let Ok(ended) = &mut outcome {
                let killed_by = match ended.end {
                    CommandEnd::Signaled(signal) => Some(signal),
                    _ => None,
                };
                if killed_by.is_some_and(stops_flow) && !cancel.is_cancelled() {
                    // The attempt ended when the command did: the wait is not its time.
                    let waiting = Instant::now();
                    let _ = tokio::time::timeout(SAME_STOP, cancel.cancelled()).await;
                    ended.held += waiting.elapsed();
                }
            }
            outcome
        })
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        self.inner.settled()
    }
}

#[cfg(test)]
mod tests {
    use flow_pool::CommandRunner;
    use nix::sys::signal::Signal;

    use super::*;

    /// The end of a command that SIGTERM killed is handed on no sooner than [`SAME_STOP`]
    /// when no stop of the run comes; one that exited is handed on as it is.
    #[tokio::test]
    async fn the_end_of_a_command_a_stop_signal_killed_waits_for_the_runs_stop() {
        let executor = StoppedTogether::new(Arc::new(CommandRunner::new()));
        let killed = CommandSpec::shell("kill -TERM $$");
        let started = Instant::now();
        let outcome = executor
            .run(&killed, None, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(outcome.end, CommandEnd::Signaled(Signal::SIGTERM as i32));
        assert!(started.elapsed() >= SAME_STOP, "{:?}", started.elapsed());
        // The wait is said, so the attempt is timed without it.
        assert!(outcome.held >= SAME_STOP, "{:?}", outcome.held);

        let failed = CommandSpec::shell("exit 3");
        let outcome = executor
            .run(&failed, None, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(outcome.end, CommandEnd::Exited(3));
        assert_eq!(outcome.held, Duration::ZERO);
    }
}
