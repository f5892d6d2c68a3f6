//! Command flows with real processes: environment, log files, exit codes, timeouts and
//! cancellation.

mod common;

use std::time::Duration;

use common::{id, run_started, saved};
use flow_core::{
    log_file, run_log_dir, CommandSpec, FailureKind, Flow, FlowContext, FlowStatus, LogStream,
    RetryPolicy,
};
use serde_json::json;

/// A command sees `FLOW_RUN_ID`, `FLOW_ID` and `FLOW_ATTEMPT`; its output goes to the log
/// folder and its tail to the result.
#[tokio::test]
async fn commands_get_their_ids_and_write_logs() {
    let logs = tempfile::tempdir().unwrap();
    let ctx = FlowContext::builder().log_dir(logs.path()).build();
    ctx.register_flow(
        Flow::command(
            id("hello"),
            CommandSpec::shell(
                "echo \"run=$FLOW_RUN_ID flow=$FLOW_ID attempt=$FLOW_ATTEMPT x=$X\"; echo oops >&2",
            )
            .env("X", "1"),
        )
        .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    assert!(summary.is_success(), "{summary:?}");
    let result = saved(&ctx, &summary.run_id, "hello");
    let expected = format!("run={} flow=hello attempt=1 x=1\n", summary.run_id);
    assert_eq!(result.stdout_tail.as_str(), expected);
    assert_eq!(result.stderr_tail.as_str(), "oops\n");
    assert_eq!(
        (result.exit_code, result.output),
        (Some(0), json!({"exit_code": 0}))
    );
    let dir = logs.path().join(summary.run_id.as_str());
    assert_eq!(
        std::fs::read_to_string(dir.join("hello.1.out")).unwrap(),
        expected
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("hello.1.err")).unwrap(),
        "oops\n"
    );
}

/// Each attempt of a retried command writes its own log files: the output of the failed
/// attempt is still there after the retry succeeded.
#[tokio::test]
async fn a_retry_keeps_the_logs_of_the_attempt_before_it() {
    let logs = tempfile::tempdir().unwrap();
    let ctx = FlowContext::builder().log_dir(logs.path()).build();
    // Fails on its first attempt, succeeds on the second.
    let script = "echo \"attempt $FLOW_ATTEMPT\"; test \"$FLOW_ATTEMPT\" = 2";
    ctx.register_flow(
        Flow::command(id("flaky"), CommandSpec::shell(script))
            .retry(RetryPolicy::fixed(1, Duration::ZERO))
            .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    assert!(summary.is_success(), "{summary:?}");
    assert_eq!(saved(&ctx, &summary.run_id, "flaky").attempts, 2);
    let dir = run_log_dir(logs.path(), summary.run_id.as_str());
    for attempt in [1, 2] {
        let out = log_file(&dir, "flaky", attempt, LogStream::Stdout);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("attempt {attempt}\n"),
            "{}",
            out.display()
        );
        // Nothing was written to stderr: no file.
        assert!(!log_file(&dir, "flaky", attempt, LogStream::Stderr).exists());
    }
}

/// A limit too long to reach (a timeout, a grace period, a blocking flow's timeout) is no
/// limit: the flows run to their end instead of the run panicking on a deadline it cannot hold.
#[tokio::test]
async fn limits_beyond_any_instant_are_no_limits() {
    let ctx = FlowContext::new();
    ctx.register_flow(
        Flow::command(
            id("long"),
            CommandSpec::shell("sleep 0.1 & echo done").grace(Duration::MAX),
        )
        .timeout(Duration::MAX)
        .build(),
    )
    .unwrap();
    ctx.register_flow(
        Flow::blocking(id("block"), |_| Ok::<_, String>(json!(1)))
            .timeout(Duration::MAX)
            .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    assert!(summary.is_success(), "{summary:?}");
    assert_eq!(
        saved(&ctx, &summary.run_id, "long").stdout_tail.as_str(),
        "done\n"
    );
}

/// A non-zero exit fails the flow with the code; a flow that requires it never starts.
#[tokio::test]
async fn a_failing_command_fails_its_dependents() {
    let ctx = FlowContext::new();
    ctx.register_flow(Flow::command(id("bad"), CommandSpec::shell("exit 3")).build())
        .unwrap();
    ctx.register_flow(
        Flow::command(id("after"), CommandSpec::argv(["true"]))
            .requires(id("bad"))
            .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    let bad = saved(&ctx, &summary.run_id, "bad");
    assert_eq!((bad.status, bad.exit_code), (FlowStatus::Failed, Some(3)));
    assert!(bad.failure.unwrap().message.contains("code 3"));
    let after = saved(&ctx, &summary.run_id, "after");
    assert_eq!(after.attempts, 0);
    let missing = ctx.register_flow(
        Flow::command(id("missing"), CommandSpec::argv(["/nonexistent/program"])).build(),
    );
    missing.unwrap();
    let summary = ctx.run().await.unwrap();
    let result = saved(&ctx, &summary.run_id, "missing");
    assert!(
        result
            .failure
            .unwrap()
            .message
            .contains("/nonexistent/program"),
        "the message names the program"
    );
}

/// A command over its timeout is stopped and fails with a timeout.
#[tokio::test]
async fn a_command_over_its_timeout_is_stopped() {
    let ctx = FlowContext::new();
    ctx.register_flow(
        Flow::command(
            id("sleepy"),
            CommandSpec::argv(["sleep", "30"]).grace(Duration::from_millis(100)),
        )
        .timeout(Duration::from_millis(200))
        .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    let result = saved(&ctx, &summary.run_id, "sleepy");
    assert_eq!(result.failure.unwrap().kind, FailureKind::Timeout);
    assert!(summary.wall_time < Duration::from_secs(20));
}

/// Cancel-all stops a running command: it ends cancelled.
#[tokio::test]
async fn cancel_all_stops_a_running_command() {
    let ctx = FlowContext::new();
    ctx.register_flow(
        Flow::command(
            id("sleepy"),
            CommandSpec::argv(["sleep", "30"]).grace(Duration::from_millis(100)),
        )
        .build(),
    )
    .unwrap();
    let run = run_started(&ctx, None).await;
    ctx.cancel_all();
    let summary = run.await.unwrap().unwrap();
    let result = saved(&ctx, &summary.run_id, "sleepy");
    assert_eq!(result.status, FlowStatus::Cancelled);
    assert!(summary.wall_time < Duration::from_secs(20));
}
