//! External commands through the public API: process groups, timeouts, cancellation,
//! output, environment and errors, with real processes.

mod common;

use std::time::{Duration, Instant};

use common::{group_members, proc_info, Fifo};
use flow_pool::{
    enable_child_subreaper, CancellationToken, CommandEnd, CommandExecutor, CommandRunner,
    CommandSpec, PoolError,
};

const GRACE: Duration = Duration::from_millis(300);

fn runner() -> CommandRunner {
    enable_child_subreaper().expect("subreaper");
    CommandRunner::new()
}

fn assert_group_gone(pgid: u32) {
    let members = group_members(pgid);
    assert!(members.is_empty(), "group {pgid} still has {members:?}");
}

#[tokio::test]
async fn timeout_kills_the_whole_group_and_leaves_no_zombie() {
    let spec = CommandSpec::shell("sleep 100 & sleep 100; wait").grace(GRACE);
    let outcome = runner()
        .run(
            &spec,
            Some(Duration::from_millis(200)),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome.end,
        CommandEnd::TimedOut(Duration::from_millis(200))
    );
    assert_group_gone(outcome.pid);
}

#[tokio::test]
async fn two_hundred_timeouts_leave_nothing_behind() {
    let runner = runner();
    let spec = CommandSpec::shell("sleep 100 & sleep 100; wait").grace(GRACE);
    let mut pgids = Vec::new();
    for _ in 0..200 {
        let outcome = runner
            .run(
                &spec,
                Some(Duration::from_millis(5)),
                CancellationToken::new(),
            )
            .await
            .unwrap();
        assert!(
            matches!(outcome.end, CommandEnd::TimedOut(_)),
            "{outcome:?}"
        );
        pgids.push(outcome.pid);
    }
    for pgid in pgids {
        assert_group_gone(pgid);
    }
}

#[tokio::test]
async fn background_job_left_by_a_finished_command_is_stopped() {
    let spec = CommandSpec::shell("sleep 100 & echo $!").grace(GRACE);
    let outcome = runner()
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    let background: u32 = outcome.stdout_tail.trim().parse().unwrap();
    assert_group_gone(outcome.pid);
    assert!(proc_info(background).is_none_or(|info| info.pgrp != outcome.pid));
}

#[tokio::test]
async fn cancel_of_a_running_command_returns_before_the_grace_period() {
    let fifo = Fifo::new();
    let grace = Duration::from_secs(30);
    let script = format!(
        "echo ready > '{}'; sleep 100 & sleep 100; wait",
        fifo.path.display()
    );
    let spec = CommandSpec::shell(script).grace(grace);
    let cancel = CancellationToken::new();
    let runner = runner();
    let run = runner.run(&spec, None, cancel.clone());
    let (outcome, cancelled_at) = tokio::join!(run, async {
        assert_eq!(fifo.read_line().await, "ready");
        cancel.cancel();
        Instant::now()
    });
    let outcome = outcome.unwrap();
    assert_eq!(outcome.end, CommandEnd::Cancelled);
    assert!(
        cancelled_at.elapsed() < grace,
        "cancel waited the whole grace period"
    );
    assert_group_gone(outcome.pid);
}

#[tokio::test]
async fn a_command_ignoring_sigterm_gets_sigkill_after_the_grace_period() {
    let fifo = Fifo::new();
    let script = format!(
        "trap '' TERM; echo ready > '{}'; sleep 100",
        fifo.path.display()
    );
    let spec = CommandSpec::shell(script).grace(Duration::from_millis(200));
    let cancel = CancellationToken::new();
    let runner = runner();
    let (outcome, ()) = tokio::join!(runner.run(&spec, None, cancel.clone()), async {
        fifo.read_line().await;
        cancel.cancel();
    });
    let outcome = outcome.unwrap();
    assert_eq!(outcome.end, CommandEnd::Cancelled);
    assert_group_gone(outcome.pid);
}

#[tokio::test]
async fn exit_code_signal_and_output_tails_are_reported() {
    let runner = runner();
    let spec = CommandSpec::shell("echo out; echo err >&2; exit 3");
    let outcome = runner
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(3));
    assert_eq!(outcome.stdout_tail, "out\n");
    assert_eq!(outcome.stderr_tail, "err\n");

    let spec = CommandSpec::shell("kill -SEGV $$");
    let outcome = runner
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Signaled(11));

    let spec = CommandSpec::argv(["printf", "0123456789"]).tail_bytes(4);
    let outcome = runner
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert!(outcome.end.success());
    assert_eq!(outcome.stdout_tail, "6789");
}

#[tokio::test]
async fn output_files_receive_everything_and_the_tail_is_their_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let err = dir.path().join("err.log");
    let spec = CommandSpec::shell("seq 1 1000; echo oops >&2")
        .stdout_path(&out)
        .stderr_path(&err)
        .tail_bytes(9);
    let outcome = runner()
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    let all = std::fs::read_to_string(&out).unwrap();
    assert!(all.starts_with("1\n2\n3\n"));
    assert_eq!(all.lines().count(), 1000);
    assert_eq!(outcome.stdout_tail, "999\n1000\n");
    assert_eq!(std::fs::read_to_string(&err).unwrap(), "oops\n");
    assert_eq!(outcome.stderr_tail, "oops\n");

    let both = dir.path().join("both.log");
    let spec = CommandSpec::shell("echo a; echo b >&2; echo c")
        .stdout_path(&both)
        .stderr_path(&both);
    runner()
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&both).unwrap(), "a\nb\nc\n");
}

#[tokio::test]
async fn environment_and_working_directory_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let spec = CommandSpec::shell("echo \"$FLOW_A|${HOME-unset}|$(pwd)\"")
        .env("FLOW_A", "set")
        .env_remove("HOME")
        .cwd(dir.path());
    let outcome = runner()
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(
        outcome.stdout_tail,
        format!("set|unset|{}\n", cwd.display())
    );

    let spec = CommandSpec::argv(["/usr/bin/env"])
        .env_clear()
        .env("ONLY", "1");
    let outcome = runner()
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.stdout_tail, "ONLY=1\n");
}

#[tokio::test]
async fn missing_or_forbidden_programs_are_errors_naming_them() {
    let runner = runner();
    let spec = CommandSpec::argv(["/definitely/not/here", "x"]);
    let error = runner
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(error, PoolError::Spawn { .. }), "{error:?}");
    assert!(
        error.to_string().contains("/definitely/not/here"),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let spec = CommandSpec::argv([script.display().to_string()]);
    let error = runner
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap_err();
    let PoolError::Spawn { program, source } = &error else {
        panic!("expected a spawn error, got {error:?}");
    };
    assert_eq!(program, &script.display().to_string());
    assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);

    let error = runner
        .run(
            &CommandSpec::argv(Vec::<String>::new()),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, PoolError::EmptyArgv));

    let spec = CommandSpec::argv(["true"]).cwd(dir.path().join("missing"));
    let error = runner
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
}

#[tokio::test]
async fn the_runner_works_through_the_object_safe_trait() {
    let executor: Box<dyn CommandExecutor> = Box::new(runner());
    let spec = CommandSpec::argv(["echo", "via trait"]);
    let outcome = executor
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.stdout_tail, "via trait\n");
}

#[tokio::test]
async fn a_cancel_before_start_spawns_nothing() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcome = runner()
        .run(&CommandSpec::argv(["sleep", "100"]), None, cancel)
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Cancelled);
    assert_eq!(outcome.pid, 0);
}

#[tokio::test]
async fn dropping_the_run_future_kills_the_group() {
    let fifo = Fifo::new();
    let script = format!(
        "echo $$ > '{}'; sleep 100 & sleep 100; wait",
        fifo.path.display()
    );
    let spec = CommandSpec::shell(script).grace(GRACE);
    let runner = runner();
    let pid: u32 = tokio::select! {
        _ = runner.run(&spec, None, CancellationToken::new()) => panic!("the command ended"),
        line = fifo.read_line() => line.parse().unwrap(),
    };
    // The group got SIGKILL when the future was dropped and is reaped by a background task
    // (zombies included), so follow it with a bounded probe (a guard against hangs, not a
    // timing assertion).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !group_members(pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "group {pid} survived its dropped future"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_process_escaping_the_group_with_the_pipe_does_not_hang_the_run() {
    // `setsid` takes the sleep out of the group (and the session) but it keeps stdout open:
    // the run must still end once the group is empty, after a bounded wait for the pipe.
    let marker = format!("30.{}", std::process::id());
    let spec =
        CommandSpec::shell(format!("setsid sleep {marker} &")).grace(Duration::from_millis(200));
    let outcome = runner()
        .run(
            &spec,
            Some(Duration::from_secs(60)),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_group_gone(outcome.pid);
    for pid in common::pids_with_cmdline(&["sleep", &marker]) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[tokio::test]
async fn stdout_and_stderr_are_drained_together() {
    // Both streams far beyond a pipe's capacity, written alternately: reading one only
    // would deadlock.
    let script = "i=0; while [ $i -lt 200 ]; do head -c 4096 /dev/zero; head -c 4096 /dev/zero >&2; i=$((i+1)); done; echo done; echo done >&2";
    let outcome = runner()
        .run(
            &CommandSpec::shell(script),
            Some(Duration::from_secs(60)),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert!(outcome.stdout_tail.ends_with("done\n"));
    assert!(outcome.stderr_tail.ends_with("done\n"));
}
