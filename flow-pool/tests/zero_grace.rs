//! A grace period of zero (`kill_grace = "0s"`: kill at once) is what was asked: a command
//! stopped so was not "killed after ignoring SIGTERM", whichever of its exit on SIGTERM and
//! the zero wait came first.

use std::time::Duration;

use flow_pool::{CancellationToken, CommandEnd, CommandRunner, CommandSpec};

/// Before: about one stop in three said "did not stop on SIGTERM, so it was killed (SIGKILL)
/// after its grace period of 0ns" of a `sleep` that SIGTERM ends.
#[tokio::test]
async fn a_zero_grace_period_never_says_sigterm_was_not_enough() {
    let runner = CommandRunner::new();
    let spec = CommandSpec::shell("sleep 20").grace(Duration::ZERO);
    let limit = Duration::from_millis(50);
    let runs = (0..24).map(|_| runner.run(&spec, Some(limit), CancellationToken::new()));
    for outcome in futures::future::join_all(runs).await {
        let outcome = outcome.unwrap();
        assert_eq!(outcome.end, CommandEnd::TimedOut(limit));
        let stop = outcome.stop.expect("a stopped command says how it ended");
        assert!(!stop.killed(), "{stop}");
        assert!(!stop.to_string().contains("did not stop"), "{stop}");
    }
}
