//! External commands through the public API: process groups, timeouts, cancellation,
//! output, environment and errors, with real processes.

mod common;

use std::time::{Duration, Instant};

use common::{group_members, proc_info, Fifo};
use flow_pool::{
    enable_child_subreaper, CancellationToken, CommandEnd, CommandExecutor, CommandRunner,
    CommandSpec, ParentDeath, PoolError, Stop,
};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

const GRACE: Duration = Duration::from_millis(300);

fn runner() -> CommandRunner {
    enable_child_subreaper().expect("subreaper");
    CommandRunner::new()
}

/// Runs `spec` with `runner` to its end, with a one-minute timeout as a guard against a hang.
async fn run_with(runner: &CommandRunner, spec: &CommandSpec) -> flow_pool::CommandOutcome {
    runner
        .run(
            spec,
            Some(Duration::from_secs(60)),
            CancellationToken::new(),
        )
        .await
        .unwrap()
}

/// Runs `spec` with a new runner, as [`run_with`].
async fn run_guarded(spec: &CommandSpec) -> flow_pool::CommandOutcome {
    run_with(&runner(), spec).await
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
    // The outcome says so, for the message to say why the stop took the grace period.
    assert_eq!(
        outcome.stop,
        Some(Stop::KilledAfterGrace(Duration::from_millis(200)))
    );
    assert_group_gone(outcome.pid);
}

#[tokio::test]
async fn a_stopped_command_acts_on_sigterm_and_has_its_own_group_and_no_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = Fifo::new();
    // It says which process group it is in and its terminal, stops itself, and says when
    // SIGTERM reaches it.
    let script = format!(
        "trap 'echo term > got; exit 7' TERM; ps -o pgid=,tty= -p $$ > '{}'; kill -STOP $$; \
         sleep 100",
        fifo.path.display()
    );
    let spec = CommandSpec::shell(script)
        .cwd(dir.path())
        .grace(Duration::from_secs(60));
    let cancel = CancellationToken::new();
    let runner = runner();
    let (outcome, group) = tokio::join!(runner.run(&spec, None, cancel.clone()), async {
        let group = fifo.read_line().await;
        // This process is the command's parent: it waits for the stop itself, without
        // reaping anything (WNOWAIT), as the runner waits only for the exit.
        let pgid = group.split_whitespace().next().unwrap();
        let pid = nix::unistd::Pid::from_raw(pgid.parse().unwrap());
        let stopped = tokio::task::spawn_blocking(move || {
            use nix::sys::wait::{waitid, Id, WaitPidFlag};
            waitid(Id::Pid(pid), WaitPidFlag::WSTOPPED | WaitPidFlag::WNOWAIT)
        });
        tokio::time::timeout(Duration::from_secs(60), stopped)
            .await
            .expect("the command never stopped")
            .unwrap()
            .unwrap();
        cancel.cancel();
        group
    });
    let outcome = outcome.unwrap();
    assert_eq!(outcome.end, CommandEnd::Cancelled);
    // SIGCONT followed SIGTERM: the trap ran, rather than SIGKILL after the grace period.
    assert_eq!(outcome.stop, Some(Stop::Term));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("got")).unwrap(),
        "term\n"
    );
    // Its own group, and no terminal that could stop it for reading or writing.
    let group: Vec<&str> = group.split_whitespace().collect();
    assert_eq!(group, [outcome.pid.to_string().as_str(), "?"]);
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
async fn a_silent_command_creates_no_file_and_no_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run-1");
    let runner = runner();
    for spec in [
        CommandSpec::argv(["/bin/true"])
            .stdout_path(run.join("true.out"))
            .stderr_path(run.join("true.err")),
        CommandSpec::argv(["/bin/true"])
            .stdout_path(run.join("both.log"))
            .stderr_path(run.join("both.log")),
        CommandSpec::shell("exit 4")
            .stdout_path(run.join("exit.out"))
            .stderr_path(run.join("exit.err")),
    ] {
        let outcome = runner
            .run(&spec, None, CancellationToken::new())
            .await
            .unwrap();
        assert!(matches!(outcome.end, CommandEnd::Exited(_)), "{outcome:?}");
        assert_eq!(
            (outcome.stdout_tail.as_str(), outcome.stderr_tail.as_str()),
            ("", "")
        );
    }
    assert!(!run.exists(), "a silent command created {}", run.display());

    // Only the stream that was written gets a file.
    let spec = CommandSpec::shell("echo only-err >&2")
        .stdout_path(run.join("err-only.out"))
        .stderr_path(run.join("err-only.err"));
    let outcome = runner
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.stderr_tail, "only-err\n");
    assert!(!run.join("err-only.out").exists());
    assert_eq!(
        std::fs::read_to_string(run.join("err-only.err")).unwrap(),
        "only-err\n"
    );
}

/// `len` bytes of every value, in an order that catches lost, doubled or moved chunks.
fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

#[tokio::test]
async fn files_in_a_new_nested_folder_get_all_of_both_streams_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out_data = pseudo_random_bytes(5 * 1024 * 1024 + 17, 1);
    let err_data = pseudo_random_bytes(3 * 1024 * 1024 + 5, 2);
    let (out_source, err_source) = (dir.path().join("out.bin"), dir.path().join("err.bin"));
    std::fs::write(&out_source, &out_data).unwrap();
    std::fs::write(&err_source, &err_data).unwrap();
    let logs = dir.path().join("logs/run-7/deeper");
    // Both streams written at the same time, each far beyond a pipe's capacity.
    let script = format!(
        "cat '{}' & cat '{}' >&2; wait",
        out_source.display(),
        err_source.display()
    );
    let tail_bytes = 1000;
    let spec = CommandSpec::shell(script)
        .stdout_path(logs.join("cat.out"))
        .stderr_path(logs.join("cat.err"))
        .tail_bytes(tail_bytes);
    let outcome = run_guarded(&spec).await;
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert!(std::fs::read(logs.join("cat.out")).unwrap() == out_data);
    assert!(std::fs::read(logs.join("cat.err")).unwrap() == err_data);
    let tail_of =
        |data: &[u8]| String::from_utf8_lossy(&data[data.len() - tail_bytes..]).into_owned();
    assert_eq!(outcome.stdout_tail, tail_of(&out_data));
    assert_eq!(outcome.stderr_tail, tail_of(&err_data));
}

#[tokio::test]
async fn one_path_for_both_streams_keeps_their_order_and_both_tails_are_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("new/both.log");
    let spec = CommandSpec::shell("echo 1; echo 2 >&2; echo 3")
        .stdout_path(&both)
        .stderr_path(&both);
    let outcome = runner()
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_eq!(std::fs::read_to_string(&both).unwrap(), "1\n2\n3\n");
    assert_eq!(outcome.stdout_tail, "1\n2\n3\n");
    assert_eq!(outcome.stderr_tail, "1\n2\n3\n");

    // A large combined stream arrives whole, in order.
    let spec = CommandSpec::shell("seq 1 300000; seq 300001 400000 >&2; echo end")
        .stdout_path(&both)
        .stderr_path(&both)
        .tail_bytes(4);
    let outcome = run_guarded(&spec).await;
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    let expected: String = (1..=400_000).map(|i| format!("{i}\n")).collect::<String>() + "end\n";
    assert!(std::fs::read_to_string(&both).unwrap() == expected);
    assert_eq!(outcome.stdout_tail, "end\n");
    assert_eq!(outcome.stderr_tail, "end\n");
}

#[tokio::test]
async fn one_file_named_two_ways_for_both_streams_keeps_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
    std::fs::create_dir(dir.path().join("hard")).unwrap();
    std::fs::write(dir.path().join("old.log"), "old\n").unwrap();
    std::fs::hard_link(dir.path().join("old.log"), dir.path().join("hard/old.log")).unwrap();
    // Each pair names one file: through `..`, a linked folder, a hard link, and a folder
    // that does not exist yet; written as two files, one stream would overwrite the other.
    let pairs = [
        ("both.log", "sub/../both.log"),
        ("real/both.log", "link/both.log"),
        ("old.log", "hard/old.log"),
        ("new/both.log", "new/./more/../both.log"),
    ];
    for (stdout, stderr) in pairs {
        let spec = CommandSpec::shell("echo 1; echo 2 >&2; echo 3; echo 4 >&2")
            .stdout_path(dir.path().join(stdout))
            .stderr_path(dir.path().join(stderr));
        let outcome = run_guarded(&spec).await;
        assert_eq!(outcome.end, CommandEnd::Exited(0));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(stdout)).unwrap(),
            "1\n2\n3\n4\n",
            "{stdout} and {stderr}"
        );
        assert_eq!(outcome.stderr_tail, "1\n2\n3\n4\n");
    }
    // Two files stay two files.
    let spec = CommandSpec::shell("echo 1; echo 2 >&2")
        .stdout_path(dir.path().join("sub/a.log"))
        .stderr_path(dir.path().join("link/a.log"));
    run_guarded(&spec).await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sub/a.log")).unwrap(),
        "1\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("real/a.log")).unwrap(),
        "2\n"
    );
}

#[tokio::test]
async fn an_output_file_that_cannot_be_created_does_not_fail_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "").unwrap();
    let spec = CommandSpec::shell("echo out; echo err >&2")
        .stdout_path(not_a_folder.join("x.out"))
        .stderr_path(dir.path().join("x.err"));
    let outcome = runner()
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_eq!(outcome.stdout_tail, "out\n");
    assert_eq!(outcome.stderr_tail, "err\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("x.err")).unwrap(),
        "err\n"
    );
}

#[tokio::test]
async fn an_output_path_naming_no_file_is_refused_before_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let spec = CommandSpec::shell(format!("touch '{}'", marker.display())).stdout_path("/");
    let error = runner()
        .run(&spec, None, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PoolError::OutputFile { path, .. } if path.as_os_str() == "/"),
        "{error:?}"
    );
    assert!(!marker.exists());
}

#[tokio::test]
async fn a_stopped_command_leaves_what_it_wrote_in_its_file() {
    let fifo = Fifo::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run/stopped.out");
    let script = format!(
        "echo before; echo ready > '{}'; sleep 100",
        fifo.path.display()
    );
    let spec = CommandSpec::shell(script).stdout_path(&out).grace(GRACE);
    let cancel = CancellationToken::new();
    let runner = runner();
    let (outcome, ()) = tokio::join!(runner.run(&spec, None, cancel.clone()), async {
        assert_eq!(fifo.read_line().await, "ready");
        cancel.cancel();
    });
    let outcome = outcome.unwrap();
    assert_eq!(outcome.end, CommandEnd::Cancelled);
    assert_eq!(outcome.stdout_tail, "before\n");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "before\n");
    assert_group_gone(outcome.pid);
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

/// Runs `spec` with `runner`, which must refuse to start it: the error.
async fn error_of(runner: &CommandRunner, spec: &CommandSpec) -> PoolError {
    runner
        .run(spec, None, CancellationToken::new())
        .await
        .unwrap_err()
}

/// Runs `spec` with `runner`, as [`run_with`], and returns its stdout tail.
async fn stdout_of(runner: &CommandRunner, spec: &CommandSpec) -> String {
    run_with(runner, spec).await.stdout_tail
}

#[tokio::test]
async fn commands_inherit_the_environment_the_runner_was_made_with() {
    // Variables unique to this test: nothing else reads them.
    std::env::set_var("FLOW_POOL_TEST_BEFORE", "before");
    std::env::set_var("FLOW_POOL_TEST_GONE", "inherited");
    let runner = runner();
    std::env::set_var("FLOW_POOL_TEST_AFTER", "after");
    let script = "echo \"${FLOW_POOL_TEST_BEFORE-unset}|${FLOW_POOL_TEST_AFTER-unset}|\
                  ${FLOW_POOL_TEST_GONE-unset}|${FLOW_POOL_TEST_SET-unset}\"";
    let spec = CommandSpec::shell(script);
    assert_eq!(
        stdout_of(&runner, &spec).await,
        "before|unset|inherited|unset\n"
    );
    // Changes apply in order, the last one to a key wins; a set overrides what is inherited.
    let spec = CommandSpec::shell(script)
        .env("FLOW_POOL_TEST_BEFORE", "overridden")
        .env_remove("FLOW_POOL_TEST_GONE")
        .env("FLOW_POOL_TEST_SET", "first")
        .env_remove("FLOW_POOL_TEST_SET")
        .env("FLOW_POOL_TEST_SET", "last");
    assert_eq!(
        stdout_of(&runner, &spec).await,
        "overridden|unset|unset|last\n"
    );
    // A runner made now sees the later variable.
    assert_eq!(
        stdout_of(&CommandRunner::new(), &CommandSpec::shell(script)).await,
        "before|after|inherited|unset\n"
    );
    // A variable whose value holds a NUL byte cannot be given to a program.
    let spec = CommandSpec::argv(["/bin/true"]).env("BAD", "a\0b");
    let error = error_of(&runner, &spec).await;
    assert!(error.to_string().contains("BAD"), "{error}");
}

#[tokio::test]
async fn a_variable_name_that_cannot_be_in_an_environment_is_refused() {
    let runner = runner();
    // `A=B` would reach the program as `A` set to `B=c`, and an empty name as a nameless
    // entry: neither is what the spec says, so the command does not start.
    for (key, why) in [("FLOW_POOL_TEST_A=B", "`=`"), ("", "empty")] {
        let spec = CommandSpec::shell("echo \"${FLOW_POOL_TEST_A-unset}\"").env(key, "c");
        let error = error_of(&runner, &spec).await.to_string();
        assert!(
            error.contains("environment variable name") && error.contains(why),
            "{key:?}: {error}"
        );
        let spec = CommandSpec::argv(["/bin/true"]).env_remove(key);
        let error = error_of(&runner, &spec).await.to_string();
        assert!(error.contains(why), "{key:?}: {error}");
    }
}

#[tokio::test]
async fn a_program_name_is_looked_up_in_the_path_the_command_gets() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let write = |folder: &str, name: &str, mode: u32| {
        let folder = dir.path().join(folder);
        std::fs::create_dir_all(&folder).unwrap();
        let file = folder.join(name);
        std::fs::write(
            &file,
            format!(
                "#!/bin/sh\necho {folder}/{name} \"$@\"\n",
                folder = folder.file_name().unwrap().to_string_lossy()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("a", "greet", 0o644); // found first, but not executable: skipped
    write("b", "greet", 0o755);
    write("a", "denied", 0o644);
    std::fs::create_dir_all(dir.path().join("b/folder")).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().join("a").display(),
        dir.path().join("b").display()
    );
    let runner = runner();
    let spec = CommandSpec::argv(["greet", "there"]).env("PATH", &path);
    assert_eq!(stdout_of(&runner, &spec).await, "b/greet there\n");
    // A relative folder of PATH is taken from the command's working directory.
    let spec = CommandSpec::argv(["greet"])
        .env("PATH", "b")
        .cwd(dir.path());
    assert_eq!(stdout_of(&runner, &spec).await, "b/greet\n");
    // Also when the working directory is relative itself (to this process's).
    let here = tempfile::tempdir_in(".").unwrap();
    std::fs::create_dir_all(here.path().join("b")).unwrap();
    std::fs::copy(dir.path().join("b/greet"), here.path().join("b/greet")).unwrap();
    let relative = here.path().file_name().unwrap();
    let spec = CommandSpec::argv(["greet"]).env("PATH", "b").cwd(relative);
    assert_eq!(stdout_of(&runner, &spec).await, "b/greet\n");
    // Only a file without permission: permission denied; nothing: not found.
    for (name, kind) in [
        ("denied", std::io::ErrorKind::PermissionDenied),
        ("folder", std::io::ErrorKind::PermissionDenied),
        ("nowhere", std::io::ErrorKind::NotFound),
    ] {
        let spec = CommandSpec::argv([name]).env("PATH", &path);
        let error = runner
            .run(&spec, None, CancellationToken::new())
            .await
            .unwrap_err();
        let PoolError::Spawn { program, source } = &error else {
            panic!("expected a spawn error, got {error:?}");
        };
        assert_eq!((program.as_str(), source.kind()), (name, kind));
    }
}

#[tokio::test]
async fn a_script_without_a_shebang_is_run_by_the_shell_as_execvp_does() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plain");
    std::fs::write(&script, "echo \"ran with $1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let by_name = CommandSpec::argv(["plain", "x"]).env("PATH", dir.path().display().to_string());
    let by_path = CommandSpec::argv([script.display().to_string(), "y".into()]);
    for parent_death in [ParentDeath::Ignore, ParentDeath::KillLeader] {
        let runner = runner().with_parent_death(parent_death);
        assert_eq!(
            stdout_of(&runner, &by_name).await,
            "ran with x\n",
            "{parent_death:?}"
        );
        assert_eq!(
            stdout_of(&runner, &by_path).await,
            "ran with y\n",
            "{parent_death:?}"
        );
    }
}

#[tokio::test]
async fn a_command_starts_with_no_signal_blocked_and_sigpipe_not_ignored() {
    // This test process ignores SIGPIPE (Rust's runtime does): the command must not.
    let spec = CommandSpec::argv(["/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    for parent_death in [ParentDeath::Ignore, ParentDeath::KillLeader] {
        let runner = runner().with_parent_death(parent_death);
        let status = stdout_of(&runner, &spec).await;
        let mask = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0, "{parent_death:?}: {status}");
        let sigpipe = 1 << (SIGPIPE - 1);
        assert_eq!(mask("SigIgn:") & sigpipe, 0, "{parent_death:?}: {status}");
    }
}

/// SIGPIPE's number on Linux.
const SIGPIPE: u32 = 13;

#[tokio::test]
async fn a_command_killed_with_its_parent_gets_the_same_program_and_environment() {
    let runner = runner().with_parent_death(ParentDeath::KillLeader);
    let spec = CommandSpec::argv(["env"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("ONLY", "1");
    let env = stdout_of(&runner, &spec).await;
    let mut lines: Vec<&str> = env.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["ONLY=1", "PATH=/usr/bin:/bin"]);
    let dir = tempfile::tempdir().unwrap();
    let spec = CommandSpec::shell("echo \"$0 $(pwd)\"").cwd(dir.path());
    assert_eq!(
        stdout_of(&runner, &spec).await,
        format!("/bin/sh {}\n", dir.path().canonicalize().unwrap().display())
    );
}

#[tokio::test]
async fn missing_or_forbidden_programs_are_errors_naming_them() {
    let runner = runner();
    let spec = CommandSpec::argv(["/definitely/not/here", "x"]);
    let error = error_of(&runner, &spec).await;
    assert!(matches!(error, PoolError::Spawn { .. }), "{error:?}");
    assert!(
        error.to_string().contains("/definitely/not/here"),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let spec = CommandSpec::argv([script.display().to_string()]);
    let error = error_of(&runner, &spec).await;
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
    let error = error_of(&runner, &spec).await;
    assert!(
        error.to_string().contains("its working directory")
            && error.to_string().contains("missing does not exist"),
        "{error}"
    );

    // A folder, and a script whose `#!` interpreter is missing, are named as such (execve
    // says only "Permission denied" and "No such file or directory").
    use std::os::unix::fs::PermissionsExt;
    let crlf = dir.path().join("crlf.sh");
    std::fs::write(&crlf, "#!/bin/sh\r\necho hi\r\n").unwrap();
    std::fs::set_permissions(&crlf, std::fs::Permissions::from_mode(0o755)).unwrap();
    let error = error_of(&runner, &CommandSpec::argv([crlf.display().to_string()])).await;
    assert!(error.to_string().contains("names `/bin/sh\\r`"), "{error}");
    let script = dir.path().join("orphan.py");
    std::fs::write(&script, "#!/no/such/python3 -u\nprint(1)\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A script not made executable, and a program not installed, say what to do.
    let plain = dir.path().join("build.sh");
    std::fs::write(&plain, "echo hi\n").unwrap();
    for (program, says) in [
        (
            plain.display().to_string(),
            "it is not executable: `chmod +x` it, or run it with its interpreter",
        ),
        (
            "no-such-program-flow".to_owned(),
            "no such program in the folders of PATH (is it installed?)",
        ),
        (
            dir.path().display().to_string(),
            "it is a folder, not a program",
        ),
        (
            script.display().to_string(),
            "its `#!` line names `/no/such/python3`, which is not found",
        ),
    ] {
        let error = error_of(&runner, &CommandSpec::argv([program.clone()])).await;
        assert!(error.to_string().contains(says), "{program}: {error}");
    }
    // `build.sh`, without `./`, is looked for in PATH only: the one in the working directory
    // is named, with how to run it.
    let spec = CommandSpec::argv(["build.sh"]).cwd(dir.path());
    let error = error_of(&runner, &spec).await.to_string();
    assert!(
        error.contains(
            "no such program in the folders of PATH; for the file in the working directory, \
             write `./build.sh`"
        ),
        "{error}"
    );
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

/// A command whose `sleep MARKER` leaves its group (and session) with `setsid`, keeping
/// stdout: the command ends only once the sleep runs in its own session (a FIFO in `dir`
/// says so), so that stopping the group cannot catch it before it escaped.
fn escaping(marker: &str, dir: &std::path::Path) -> CommandSpec {
    CommandSpec::shell(format!(
        "mkfifo escaped; setsid sh -c 'echo $$ > escaped.pid; echo > escaped; \
         exec sleep {marker}' & read _ < escaped"
    ))
    .cwd(dir)
}

/// The escaped process of the command run in `dir`: the pid it wrote in `escaped.pid`
/// before it signalled the FIFO (the same pid once it has become the `sleep`; looking it up
/// by its command line could miss it in the middle of its `exec`), else the `sleep` with
/// `marker`.
fn escaped_pids(marker: &str, dir: &std::path::Path) -> Vec<u32> {
    let written = std::fs::read_to_string(dir.join("escaped.pid")).ok();
    let written = written.and_then(|pid| pid.trim().parse::<u32>().ok());
    let mut pids: Vec<u32> = written.filter(|&pid| alive(pid)).into_iter().collect();
    for pid in common::pids_with_cmdline(&["sleep", marker]) {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    state.is_some_and(|state| state != "Z")
}

/// Kills the escaped process of [`escaping`] with this marker when dropped, so that a test
/// that fails (a panic in its guard) does not leave it behind for its whole sleep.
struct KillEscaped(String, std::path::PathBuf);

impl Drop for KillEscaped {
    fn drop(&mut self) {
        // A kill by pid reaches the shell also if it has become the sleep meanwhile.
        for pid in escaped_pids(&self.0, &self.1) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Runs [`escaping`] (its sleep lasting `seconds`) with `grace` on `runner`: it must end by
/// itself, its group gone. The escaped process is killed before the checks, and also when
/// the run panics.
async fn run_escaping(runner: &CommandRunner, seconds: u32, grace: Duration) {
    let marker = format!("{seconds}.{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let escaped = KillEscaped(marker.clone(), dir.path().to_owned());
    let outcome = run_with(runner, &escaping(&marker, dir.path()).grace(grace)).await;
    drop(escaped);
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_group_gone(outcome.pid);
}

#[tokio::test]
async fn a_process_escaping_the_group_with_the_pipe_does_not_hang_the_run() {
    // `setsid` takes the sleep out of the group (and the session) but it keeps stdout open:
    // the run must still end once the group is empty, after a bounded wait for the pipe.
    run_escaping(&runner(), 30, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_hurried_runner_does_not_wait_for_a_pipe_an_escaped_process_holds() {
    // As above, but with a grace period (and a sleep) longer than the guard of `run_with`:
    // after `skip_grace` (a second Ctrl-C), the run ends once the group is empty.
    let runner = runner();
    runner.skip_grace();
    run_escaping(&runner, 3100, Duration::from_secs(600)).await;
}

#[tokio::test]
async fn stdout_and_stderr_are_drained_together() {
    // Both streams far beyond a pipe's capacity, written alternately: reading one only
    // would deadlock.
    let script = "i=0; while [ $i -lt 200 ]; do head -c 4096 /dev/zero; head -c 4096 /dev/zero >&2; i=$((i+1)); done; echo done; echo done >&2";
    let outcome = run_guarded(&CommandSpec::shell(script)).await;
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert!(outcome.stdout_tail.ends_with("done\n"));
    assert!(outcome.stderr_tail.ends_with("done\n"));
}

#[tokio::test]
async fn a_stopped_command_takes_along_the_escaped_process_that_holds_its_output() {
    // The escaped sleep keeps stdout open. After the timeout, the runner does not wait the
    // grace period (longer than the guard below) for it: it kills it and ends.
    let marker = format!("301.{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let spec = CommandSpec::shell(format!(
        "mkfifo escaped; setsid sh -c 'echo $$ > escaped.pid; echo > escaped; \
         exec sleep {marker}' & read _ < escaped; exec sleep 100"
    ))
    .cwd(dir.path())
    .grace(Duration::from_secs(600));
    let runner = runner();
    let run = runner.run(
        &spec,
        Some(Duration::from_millis(300)),
        CancellationToken::new(),
    );
    let outcome = tokio::time::timeout(Duration::from_secs(60), run).await;
    // Killed, it may still be exiting when the run returns: its pipe closes before it is a
    // zombie. Its end is awaited; the sleep, left running, would outlast the guard.
    let escaped = escaped_pids(&marker, dir.path());
    let ended = flow_pool::wait_gone(&escaped, Duration::from_secs(10));
    for &pid in &escaped {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let outcome = outcome
        .expect("the run waited for the escaped process")
        .unwrap();
    assert_eq!(
        outcome.end,
        CommandEnd::TimedOut(Duration::from_millis(300))
    );
    assert!(ended, "the escaped process {escaped:?} lives");
    assert_group_gone(outcome.pid);
}
