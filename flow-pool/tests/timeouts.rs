//! Timeouts of shell commands in a process that is *not* a child subreaper (its own test
//! binary: the setting is process-wide): grandchildren killed with the shell become zombies
//! of PID 1, which may reap them late, and the outcome must not wait for that.

mod common;

use std::time::Duration;

use common::group_members;
use flow_pool::{CancellationToken, CommandEnd, CommandRunner, CommandSpec};

#[tokio::test]
async fn a_shell_stopped_by_sigterm_is_reported_within_100ms_of_its_deadline() {
    let limit = Duration::from_millis(300);
    for script in [
        "sleep 20",
        "sleep 20; echo never",
        "sleep 20 | cat",
        "sh -c 'sleep 20; echo never'; echo never",
    ] {
        let outcome = CommandRunner::new()
            .run(
                &CommandSpec::shell(script),
                Some(limit),
                CancellationToken::new(),
            )
            .await
            .unwrap();
        assert_eq!(outcome.end, CommandEnd::TimedOut(limit), "{script}");
        let late = outcome.duration.saturating_sub(limit);
        assert!(
            late < Duration::from_millis(100),
            "`{script}` was reported {late:?} after its deadline"
        );
        let running: Vec<_> = group_members(outcome.pid)
            .into_iter()
            .filter(|member| member.state != 'Z')
            .collect();
        assert!(running.is_empty(), "`{script}` left {running:?} running");
    }
}
