//! Worker processes through the public API, with real processes. `harness = false`: `main`
//! calls `flow_pool::worker_main` first, exactly as a user's program does, so that the pool
//! can re-execute this binary as its workers; then it runs the checks below in order.
//!
//! Started with `FLOW_POOL_TEST_ROLE=parent`, the binary instead plays a parent that owns a
//! pool, for the parent-death check.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    assert_group_gone, block_on, orphan_ended, proc_info, report_line, run_task as run, sigkill,
    start_role, Fifo, ROLE_ENV,
};
use flow_pool::{
    enable_child_subreaper, worker_main, CancellationToken, PoolError, ProcessPool, TaskFailure,
    TaskRegistry,
};
use serde_json::{json, Value};

fn double(input: Value) -> Result<Value, String> {
    let n = input.as_i64().ok_or("expected an integer")?;
    Ok(json!(n * 2))
}

fn fail(_: Value) -> Result<Value, String> {
    Err("bad input".to_owned())
}

fn panics(_: Value) -> Result<Value, String> {
    panic!("boom in a worker")
}

fn aborts(_: Value) -> Result<Value, String> {
    std::process::abort()
}

/// Dies of SIGSEGV without `unsafe`. The standard library's SIGSEGV handler (for stack
/// overflows) resets the default action and returns when the signal is not a guard-page fault,
/// as a real segfault does before the faulting instruction runs again; the second raise then
/// kills the process, as the re-run instruction would.
fn segfaults(_: Value) -> Result<Value, String> {
    use nix::sys::signal::{raise, Signal};
    raise(Signal::SIGSEGV).map_err(|e| e.to_string())?;
    raise(Signal::SIGSEGV).map_err(|e| e.to_string())?;
    Err("still alive after SIGSEGV".to_owned())
}

fn exits(_: Value) -> Result<Value, String> {
    std::process::exit(3)
}

/// Prints to stdout and stderr, which must not disturb the protocol.
#[allow(clippy::print_stdout)]
fn prints(input: Value) -> Result<Value, String> {
    println!("noise on stdout {input}");
    eprintln!("noise on stderr");
    Ok(input)
}

fn pid(_: Value) -> Result<Value, String> {
    Ok(json!(std::process::id()))
}

/// Writes this worker's pid to the FIFO named by the input, then sleeps for a long time.
fn report_and_sleep(input: Value) -> Result<Value, String> {
    let path = input.as_str().ok_or("expected a FIFO path")?;
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(100));
    Ok(Value::Null)
}

/// Starts a `sleep` in the worker's process group, reports both pids, then sleeps.
fn spawn_and_sleep(input: Value) -> Result<Value, String> {
    let path = input.as_str().ok_or("expected a FIFO path")?;
    let child = Command::new("sleep")
        .arg("100")
        .spawn()
        .map_err(|e| e.to_string())?;
    std::fs::write(path, format!("{} {}\n", std::process::id(), child.id()))
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(100));
    Ok(Value::Null)
}

/// Writes this worker's pid to the FIFO `ready`, then holds the worker until a writer opens
/// and closes the FIFO `release`.
fn report_and_hold(input: Value) -> Result<Value, String> {
    let (ready, release) = (input["ready"].as_str(), input["release"].as_str());
    let (ready, release) = ready
        .zip(release)
        .ok_or("expected ready and release FIFOs")?;
    std::fs::write(ready, format!("{}\n", std::process::id())).map_err(|e| e.to_string())?;
    std::fs::read(release).map_err(|e| e.to_string())?;
    Ok(json!("held"))
}

/// Returns its input wrapped in `n` more arrays, `n` being the input's `n`.
fn nests(input: Value) -> Result<Value, String> {
    let n = input["n"].as_u64().ok_or("expected {\"n\": count}")?;
    Ok((0..n).fold(json!(1), |inner, _| json!([inner])))
}

fn registry() -> TaskRegistry {
    TaskRegistry::new()
        .register("nests", nests)
        .register("double", double)
        .register("fail", fail)
        .register("panics", panics)
        .register("aborts", aborts)
        .register("segfaults", segfaults)
        .register("exits", exits)
        .register("pid", pid)
        .register("prints", prints)
        .register("report_and_sleep", report_and_sleep)
        .register("spawn_and_sleep", spawn_and_sleep)
        .register("report_and_hold", report_and_hold)
}

fn main() {
    worker_main(&registry());
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("parent") => return play_parent(),
        Ok("command-parent") => return play_command_parent(),
        _ => {}
    }
    enable_child_subreaper().expect("subreaper");
    let checks: &[(&str, fn())] = &[
        (
            "a_task_runs_and_its_worker_is_reused",
            a_task_runs_and_its_worker_is_reused,
        ),
        (
            "errors_and_unknown_names_are_reported",
            errors_and_unknown_names_are_reported,
        ),
        (
            "abort_segfault_panic_exit_fail_only_their_task",
            abort_segfault_panic_exit_fail_only_their_task,
        ),
        (
            "timeout_kills_the_worker_group_and_the_pool_recovers",
            timeout_kills_the_worker_group_and_the_pool_recovers,
        ),
        (
            "cancel_stops_a_running_worker",
            cancel_stops_a_running_worker,
        ),
        (
            "a_task_queued_behind_a_busy_worker_gets_its_whole_timeout",
            a_task_queued_behind_a_busy_worker_gets_its_whole_timeout,
        ),
        ("shutdown_leaves_no_worker", shutdown_leaves_no_worker),
        (
            "a_pool_serves_one_runtime_after_another",
            a_pool_serves_one_runtime_after_another,
        ),
        (
            "printing_tasks_and_big_values_keep_the_protocol",
            printing_tasks_and_big_values_keep_the_protocol,
        ),
        (
            "values_nested_too_deep_are_refused_with_a_reason",
            values_nested_too_deep_are_refused_with_a_reason,
        ),
        (
            "many_tasks_share_a_bounded_set_of_workers",
            many_tasks_share_a_bounded_set_of_workers,
        ),
        (
            "sigkill_of_the_parent_ends_its_workers",
            sigkill_of_the_parent_ends_its_workers,
        ),
        (
            "sigkill_of_the_parent_ends_a_kill_leader_command",
            sigkill_of_the_parent_ends_a_kill_leader_command,
        ),
    ];
    common::run_checks(checks);
}

fn pool(size: usize) -> ProcessPool {
    let program = std::env::current_exe().expect("current exe");
    ProcessPool::with_program(registry(), size, program, Duration::from_millis(300))
}

fn a_task_runs_and_its_worker_is_reused() {
    block_on(async {
        let pool = pool(2);
        assert_eq!(run(&pool, "double", json!(21)).await.unwrap(), json!(42));
        let first = run(&pool, "pid", Value::Null).await.unwrap();
        let second = run(&pool, "pid", Value::Null).await.unwrap();
        assert_eq!(first, second, "an idle worker is reused");
        assert_ne!(
            first,
            json!(std::process::id()),
            "the task ran in another process"
        );
        assert_eq!(pool.worker_pids().len(), 1, "workers start lazily");
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

/// A pool kept in a static or shared by tests outlives the runtime that started its workers:
/// an idle worker's pipes belong to that runtime, so the next runtime gets a new worker.
fn a_pool_serves_one_runtime_after_another() {
    let pool = pool(1);
    let current_thread = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    let first = current_thread()
        .block_on(run(&pool, "pid", Value::Null))
        .unwrap();
    for n in 0..2 {
        let doubled = current_thread().block_on(run(&pool, "double", json!(n)));
        assert_eq!(doubled.unwrap(), json!(n * 2), "in runtime {n}");
    }
    assert_eq!(block_on(run(&pool, "double", json!(4))).unwrap(), json!(8));
    assert_eq!(
        current_thread()
            .block_on(run(&pool, "double", json!(5)))
            .unwrap(),
        json!(10)
    );
    current_thread().block_on(pool.shutdown(Duration::from_secs(5)));
    assert!(pool.worker_pids().is_empty());
    let first = first.as_u64().expect("a pid") as u32;
    assert_group_gone(first);
}

fn errors_and_unknown_names_are_reported() {
    block_on(async {
        let pool = pool(1);
        let failure = run(&pool, "fail", Value::Null).await.unwrap_err();
        assert!(
            matches!(&failure, TaskFailure::Error(m) if m == "bad input"),
            "{failure:?}"
        );
        let failure = run(&pool, "double", json!("not a number"))
            .await
            .unwrap_err();
        assert!(matches!(&failure, TaskFailure::Error(m) if m == "expected an integer"));
        let failure = run(&pool, "no_such_task", Value::Null).await.unwrap_err();
        assert!(
            matches!(&failure, TaskFailure::Pool(PoolError::UnknownTask { name }) if name == "no_such_task"),
            "{failure:?}"
        );
        assert!(failure.to_string().contains("no_such_task"));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

fn abort_segfault_panic_exit_fail_only_their_task() {
    block_on(async {
        let pool = pool(1);
        let failure = run(&pool, "aborts", Value::Null).await.unwrap_err();
        assert!(
            matches!(&failure, TaskFailure::Crashed { signal: 6, name } if name == "SIGABRT"),
            "{failure:?}"
        );
        assert_eq!(run(&pool, "double", json!(1)).await.unwrap(), json!(2));

        let failure = run(&pool, "segfaults", Value::Null).await.unwrap_err();
        assert!(
            matches!(&failure, TaskFailure::Crashed { signal: 11, name } if name == "SIGSEGV"),
            "{failure:?}"
        );
        assert_eq!(run(&pool, "double", json!(2)).await.unwrap(), json!(4));

        let failure = run(&pool, "panics", Value::Null).await.unwrap_err();
        assert!(
            matches!(&failure, TaskFailure::Panicked(m) if m == "boom in a worker"),
            "{failure:?}"
        );
        assert_eq!(run(&pool, "double", json!(3)).await.unwrap(), json!(6));

        let failure = run(&pool, "exits", Value::Null).await.unwrap_err();
        assert!(
            matches!(failure, TaskFailure::Exited { code: 3 }),
            "{failure:?}"
        );
        assert_eq!(run(&pool, "double", json!(4)).await.unwrap(), json!(8));
        assert_eq!(
            pool.worker_pids().len(),
            1,
            "dead workers are replaced, not piled up"
        );
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

fn timeout_kills_the_worker_group_and_the_pool_recovers() {
    block_on(async {
        let pool = pool(1);
        // Warm the worker so the timed task starts at once.
        let warm = run(&pool, "pid", Value::Null).await.unwrap();
        let fifo = Fifo::new();
        let input = json!(fifo.path.display().to_string());
        let timeout = Duration::from_secs(1);
        let run_timed = pool.run(
            "spawn_and_sleep",
            input,
            Some(timeout),
            CancellationToken::new(),
        );
        let (result, line) = tokio::join!(run_timed, fifo.read_line());
        let failure = result.unwrap_err();
        assert!(
            matches!(failure, TaskFailure::TimedOut(t) if t == timeout),
            "{failure:?}"
        );
        let mut pids = line.split_whitespace().map(|p| p.parse::<u32>().unwrap());
        let (worker, grandchild) = (pids.next().unwrap(), pids.next().unwrap());
        assert_eq!(json!(worker), warm);
        assert_group_gone(worker);
        assert!(
            proc_info(grandchild).is_none_or(|info| info.pgrp != worker),
            "the task's child survived"
        );
        assert!(!pool.worker_pids().contains(&worker));
        let next = run(&pool, "pid", Value::Null).await.unwrap();
        assert_ne!(next, json!(worker), "the killed worker was replaced");
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

fn cancel_stops_a_running_worker() {
    block_on(async {
        let pool = pool(1);
        let fifo = Fifo::new();
        let input = json!(fifo.path.display().to_string());
        let cancel = CancellationToken::new();
        let running = pool.run("report_and_sleep", input, None, cancel.clone());
        let (result, worker) = tokio::join!(running, async {
            let line = fifo.read_line().await;
            cancel.cancel();
            line.parse::<u32>().unwrap()
        });
        assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
        assert_group_gone(worker);
        assert_eq!(run(&pool, "double", json!(5)).await.unwrap(), json!(10));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

/// A user's repro: one worker, three tasks of 1 s with a timeout of 1.5 s; the last two
/// failed "timed out" though one ran 0.5 s and the other never ran. The timeout counts from
/// when a worker is free for the task, not while it waits for one.
fn a_task_queued_behind_a_busy_worker_gets_its_whole_timeout() {
    block_on(async {
        let pool = pool(1);
        let (ready, release) = (Fifo::new(), Fifo::new());
        let input = json!({
            "ready": ready.path.display().to_string(),
            "release": release.path.display().to_string(),
        });
        let busy = tokio::spawn({
            let pool = pool.clone();
            async move { run(&pool, "report_and_hold", input).await }
        });
        ready.read_line().await;
        // Long enough for the task's round trip to its worker on a loaded machine: the test
        // is of when the timeout starts, not of how fast a worker answers.
        let timeout = Duration::from_secs(1);
        let queued = tokio::spawn({
            let pool = pool.clone();
            async move {
                let cancel = CancellationToken::new();
                pool.run("double", json!(4), Some(timeout), cancel).await
            }
        });
        // The queue wait itself must outlast the timeout: there is no event to await here.
        tokio::time::sleep(timeout * 3).await;
        let path = release.path.clone();
        tokio::task::spawn_blocking(move || std::fs::write(path, "go\n"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(busy.await.unwrap().unwrap(), json!("held"));
        let result = queued.await.unwrap();
        assert_eq!(result.unwrap(), json!(8), "the queued task timed out");
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

fn shutdown_leaves_no_worker() {
    block_on(async {
        let pool = pool(2);
        let fifo = Fifo::new();
        let input = json!(fifo.path.display().to_string());
        let busy = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run("report_and_sleep", input, None, CancellationToken::new())
                    .await
            }
        });
        let busy_pid: u32 = fifo.read_line().await.parse().unwrap();
        let pids = pool.worker_pids();
        assert!(pids.contains(&busy_pid));
        pool.shutdown(Duration::from_millis(300)).await;
        assert!(pool.worker_pids().is_empty());
        for pid in pids {
            assert_group_gone(pid);
        }
        let result = busy.await.unwrap();
        assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
        let refused = run(&pool, "double", json!(1)).await;
        assert!(
            matches!(refused, Err(TaskFailure::Pool(PoolError::ShutDown))),
            "{refused:?}"
        );
    });
}

/// The parent role: a pool with one busy and one idle worker, their pids printed on stdout,
/// then waiting to be killed.
fn play_parent() {
    block_on(async {
        let pool = pool(2);
        let fifo = Fifo::new();
        let input = json!(fifo.path.display().to_string());
        let busy = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run("report_and_sleep", input, None, CancellationToken::new())
                    .await
            }
        });
        let busy_pid = fifo.read_line().await;
        let idle_pid = run(&pool, "pid", Value::Null).await.unwrap();
        report_line(&format!("{busy_pid} {idle_pid}"));
        let _ = busy.await;
    });
}

fn sigkill_of_the_parent_ends_its_workers() {
    let (mut parent, line) = start_role("parent");
    let workers: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "{line}");
    sigkill(&mut parent);
    for worker in workers {
        assert!(
            orphan_ended(worker, Duration::from_secs(1)),
            "worker {worker} outlived its parent by 1 s"
        );
    }
}

/// The command-parent role: runs a command with `ParentDeath::KillLeader`, prints its pid,
/// then waits to be killed.
fn play_command_parent() {
    block_on(async {
        let fifo = Fifo::new();
        let script = format!("echo $$ > '{}'; exec sleep 100", fifo.path.display());
        let spec = flow_pool::CommandSpec::shell(script);
        let runner =
            flow_pool::CommandRunner::new().with_parent_death(flow_pool::ParentDeath::KillLeader);
        let run = runner.run(&spec, None, CancellationToken::new());
        let report = async { report_line(&fifo.read_line().await) };
        let _ = tokio::join!(run, report);
    });
}

fn sigkill_of_the_parent_ends_a_kill_leader_command() {
    let (mut parent, line) = start_role("command-parent");
    let leader: u32 = line.trim().parse().unwrap();
    sigkill(&mut parent);
    // The guard bounds a hang; it is not a timing assertion.
    assert!(
        orphan_ended(leader, Duration::from_secs(10)),
        "command {leader} outlived its parent"
    );
}

fn printing_tasks_and_big_values_keep_the_protocol() {
    block_on(async {
        let pool = pool(1);
        let value = json!({"list": (0..1000).collect::<Vec<_>>()});
        assert_eq!(run(&pool, "prints", value.clone()).await.unwrap(), value);
        let big = json!("x".repeat(2 * 1024 * 1024));
        assert_eq!(run(&pool, "prints", big.clone()).await.unwrap(), big);
        assert_eq!(run(&pool, "double", json!(7)).await.unwrap(), json!(14));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

fn many_tasks_share_a_bounded_set_of_workers() {
    block_on(async {
        let pool = pool(2);
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..40 {
            let pool = pool.clone();
            tasks.spawn(async move { (n, run(&pool, "double", json!(n)).await) });
        }
        while let Some(joined) = tasks.join_next().await {
            let (n, result) = joined.unwrap();
            assert_eq!(result.unwrap(), json!(n * 2));
        }
        assert!(pool.worker_pids().len() <= 2, "{:?}", pool.worker_pids());
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

/// serde_json reads at most 127 levels; the request or reply around a value takes one.
fn values_nested_too_deep_are_refused_with_a_reason() {
    block_on(async {
        let pool = pool(1);
        let nested = |levels: usize| (0..levels).fold(json!(1), |inner, _| json!([inner]));
        // The deepest input that reaches the worker, and one level more.
        let deepest = json!({"n": 1, "pad": nested(125)});
        assert_eq!(run(&pool, "nests", deepest).await.unwrap(), json!([1]));
        let failure = run(&pool, "nests", json!({"n": 1, "pad": nested(126)}))
            .await
            .unwrap_err();
        assert!(
            matches!(&failure, TaskFailure::Pool(PoolError::InputTooDeep { task, limit: 126 })
                if task == "nests"),
            "{failure:?}"
        );
        let message = failure.to_string();
        assert!(
            message.contains("nested more than 126 levels deep"),
            "{message}"
        );
        // An output too deep for the pool to read is the task's error, and the worker serves on.
        assert_eq!(
            run(&pool, "nests", json!({"n": 126})).await.unwrap(),
            nested(126)
        );
        let failure = run(&pool, "nests", json!({"n": 127})).await.unwrap_err();
        assert!(
            matches!(&failure, TaskFailure::Error(m) if m.contains("output of task `nests` is nested more than 126")),
            "{failure:?}"
        );
        assert_eq!(run(&pool, "double", json!(4)).await.unwrap(), json!(8));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}
