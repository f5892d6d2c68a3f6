//! What a process task leaves behind, through the public API with real processes: a process
//! it forks without exec (whose reply must not pass for the next task's), processes it starts
//! and does not wait for (stopped when the task ends), and a worker killed with the thread
//! that started it (gone from `worker_pids`). `harness = false`: `main` calls
//! `flow_pool::worker_main` first, as a user's program does, then runs the checks in order.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    assert_group_gone, block_on, orphan_ended, proc_info, report_line, run_task as run, sigkill,
    start_role, Fifo, ROLE_ENV,
};
use flow_pool::{
    enable_child_subreaper, wait_gone, worker_main, CancellationToken, PoolError, ProcessPool,
    TaskFailure, TaskRegistry,
};
use serde_json::{json, Value};

fn double(input: Value) -> Result<Value, String> {
    let n = input.as_i64().ok_or("expected an integer")?;
    Ok(json!(n * 2))
}

fn pid(_: Value) -> Result<Value, String> {
    Ok(json!(std::process::id()))
}

/// Forks without exec, as a careless task might. The child returns, so that the worker's
/// loop in it answers the request too (with its own pid); the worker writes both pids to the
/// FIFO named by the input and stays in the task, so that the child's answer is the only one
/// the pool can read. The child returns only once the worker has written them (it closes its
/// end of a pipe then): else the pool, reading the child's answer first, could stop the
/// worker before it writes them, and the test would wait for them in vain.
fn forks_and_both_answer(input: Value) -> Result<Value, String> {
    use std::io::Read;
    let path = input.as_str().ok_or("expected a FIFO path")?;
    let (written, write_end) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    match fork()? {
        None => {
            drop(write_end);
            // End of file once the worker closed its end.
            let _ = std::fs::File::from(written).read(&mut [0_u8; 1]);
            Ok(json!("reply from the forked child"))
        }
        Some(child) => {
            drop(written);
            std::fs::write(path, format!("{} {child}\n", std::process::id()))
                .map_err(|e| e.to_string())?;
            drop(write_end);
            until_killed()
        }
    }
}

/// Forks without exec; the child, which would answer after the worker has (the user's
/// report), waits to be stopped with the task. The pids go to the FIFO named by the input.
fn forks_and_answers_late(input: Value) -> Result<Value, String> {
    let path = input.as_str().ok_or("expected a FIFO path")?;
    match fork()? {
        None => until_killed(),
        Some(child) => {
            std::fs::write(path, format!("{} {child}\n", std::process::id()))
                .map_err(|e| e.to_string())?;
            Ok(json!("reply from the worker"))
        }
    }
}

/// `fork()` without exec: `None` in the child, `Some(child pid)` in the parent.
#[allow(unsafe_code)]
fn fork() -> Result<Option<u32>, String> {
    use nix::unistd::ForkResult;
    // SAFETY: only a worker calls this, from a task, and a worker of this binary is
    // single-threaded (`worker_main` is the first call in `main` and runs tasks on the main
    // thread), so the child starts with every lock free. It then goes on as the worker would.
    match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => Ok(None),
        ForkResult::Parent { child } => Ok(Some(child.as_raw().unsigned_abs())),
    }
}

/// Starts a `sleep` and a shell that starts one in the background and exits, and returns
/// (or, given `"fail"`, fails with) both sleeps' pids, leaving them running.
fn leaves_processes(input: Value) -> Result<Value, String> {
    let direct = Command::new("sleep")
        .arg("3333")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let shell = Command::new("sh")
        .args(["-c", "sleep 3334 >/dev/null 2>&1 & echo $!"])
        .output()
        .map_err(|e| e.to_string())?;
    let orphan = String::from_utf8_lossy(&shell.stdout).trim().to_owned();
    let pids = format!("{} {orphan}", direct.id());
    match input.as_str() {
        Some("fail") => Err(pids),
        _ => Ok(json!(pids)),
    }
}

/// Starts a `sleep` in the worker's process group, reports both pids to the FIFO named by the
/// input, then waits to be killed.
fn spawn_and_sleep(input: Value) -> Result<Value, String> {
    let path = input.as_str().ok_or("expected a FIFO path")?;
    let child = Command::new("sleep")
        .arg("100")
        .spawn()
        .map_err(|e| e.to_string())?;
    std::fs::write(path, format!("{} {}\n", std::process::id(), child.id()))
        .map_err(|e| e.to_string())?;
    until_killed()
}

/// Waits, doing nothing, until a signal ends the process.
fn until_killed() -> ! {
    loop {
        std::thread::park();
    }
}

fn registry() -> TaskRegistry {
    TaskRegistry::new()
        .register("double", double)
        .register("pid", pid)
        .register("forks_and_both_answer", forks_and_both_answer)
        .register("forks_and_answers_late", forks_and_answers_late)
        .register("leaves_processes", leaves_processes)
        .register("spawn_and_sleep", spawn_and_sleep)
}

fn main() {
    worker_main(&registry());
    if std::env::var(ROLE_ENV).as_deref() == Ok("parent") {
        return play_parent();
    }
    enable_child_subreaper().expect("subreaper");
    common::run_checks(&[
        (
            "a_reply_from_a_forked_child_retires_the_worker",
            a_reply_from_a_forked_child_retires_the_worker,
        ),
        (
            "a_late_reply_of_a_forked_child_shifts_no_result",
            a_late_reply_of_a_forked_child_shifts_no_result,
        ),
        (
            "processes_a_task_leaves_end_with_it",
            processes_a_task_leaves_end_with_it,
        ),
        (
            "a_task_only_the_pools_registry_has_is_named_as_such",
            a_task_only_the_pools_registry_has_is_named_as_such,
        ),
        (
            "sigkill_of_the_program_ends_what_its_task_started",
            sigkill_of_the_program_ends_what_its_task_started,
        ),
        (
            "a_worker_killed_with_its_thread_leaves_worker_pids",
            a_worker_killed_with_its_thread_leaves_worker_pids,
        ),
    ]);
}

fn pool(size: usize) -> ProcessPool {
    let program = std::env::current_exe().expect("current exe");
    ProcessPool::with_program(registry(), size, program, Duration::from_millis(300))
}

/// Regression: replies were not matched to requests, so a forked child's reply passed for
/// the task's, and every later task on that worker got the previous one's answer.
fn a_reply_from_a_forked_child_retires_the_worker() {
    block_on(async {
        let pool = pool(1);
        let fifo = Fifo::new();
        let input = json!(fifo.path.display().to_string());
        let guard = Some(Duration::from_secs(60));
        let running = pool.run(
            "forks_and_both_answer",
            input,
            guard,
            CancellationToken::new(),
        );
        let (result, line) = tokio::join!(running, fifo.read_line());
        let mut pids = line.split_whitespace().map(|p| p.parse::<u32>().unwrap());
        let (worker, child) = (pids.next().unwrap(), pids.next().unwrap());
        let failure = result.unwrap_err();
        assert!(
            matches!(&failure, TaskFailure::Pool(PoolError::Protocol { pid, .. }) if *pid == worker),
            "{failure:?}"
        );
        let message = failure.to_string();
        assert!(
            message.contains(&format!("came from process {child}, not the worker"))
                && message.contains("forked without exec"),
            "{message}"
        );
        assert_group_gone(worker);
        assert!(proc_info(child).is_none(), "the forked child survived");
        assert!(!pool.worker_pids().contains(&worker));
        assert_eq!(run(&pool, "double", json!(6)).await.unwrap(), json!(12));
        let next = run(&pool, "pid", Value::Null).await.unwrap();
        assert_ne!(next, json!(worker), "the worker was replaced");
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

/// The user's report: a forked child that answers after the worker did is stopped with the
/// task, so the tasks after it get their own answers.
fn a_late_reply_of_a_forked_child_shifts_no_result() {
    block_on(async {
        let pool = pool(1);
        let fifo = Fifo::new();
        let input = json!(fifo.path.display().to_string());
        let (result, line) = tokio::join!(
            run(&pool, "forks_and_answers_late", input),
            fifo.read_line()
        );
        assert_eq!(result.unwrap(), json!("reply from the worker"));
        let mut pids = line.split_whitespace().map(|p| p.parse::<u32>().unwrap());
        let (worker, child) = (pids.next().unwrap(), pids.next().unwrap());
        assert!(
            proc_info(child).is_none(),
            "the forked child outlived its task"
        );
        for n in 0..5 {
            assert_eq!(run(&pool, "double", json!(n)).await.unwrap(), json!(n * 2));
        }
        assert_eq!(run(&pool, "pid", Value::Null).await.unwrap(), json!(worker));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

/// Regression: a task's background processes ran on beside later tasks until the pool shut
/// down. They are stopped and reaped when the task ends, and the worker serves on.
fn processes_a_task_leaves_end_with_it() {
    block_on(async {
        let pool = pool(1);
        let worker = run(&pool, "pid", Value::Null).await.unwrap();
        for how in ["ok", "fail"] {
            let pids = match run(&pool, "leaves_processes", json!(how)).await {
                Ok(Value::String(pids)) if how == "ok" => pids,
                Err(TaskFailure::Error(pids)) if how == "fail" => pids,
                other => panic!("{how}: {other:?}"),
            };
            for pid in pids.split_whitespace() {
                let pid: u32 = pid.parse().unwrap();
                let info = proc_info(pid);
                assert!(info.is_none(), "{how}: {pid} outlived its task: {info:?}");
            }
            assert_eq!(run(&pool, "pid", Value::Null).await.unwrap(), worker);
            assert_eq!(pool.worker_pids(), [worker.as_u64().unwrap() as u32]);
        }
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

/// Regression: `worker_pids` listed a worker killed (`PR_SET_PDEATHSIG`) when the thread that
/// started it exited, until the next task found it dead.
fn a_worker_killed_with_its_thread_leaves_worker_pids() {
    let pool = pool(1);
    let worker = std::thread::spawn({
        let pool = pool.clone();
        move || block_on(async { run(&pool, "pid", Value::Null).await })
    })
    .join()
    .unwrap()
    .unwrap();
    let worker = u32::try_from(worker.as_u64().unwrap()).unwrap();
    // The guard bounds a hang; the wait ends with the worker's death.
    assert!(
        wait_gone(&[worker], Duration::from_secs(60)),
        "worker {worker} outlived the thread that started it"
    );
    assert!(
        !pool.worker_pids().contains(&worker),
        "{:?} lists the dead worker {worker}",
        pool.worker_pids()
    );
    block_on(async {
        assert_eq!(run(&pool, "double", json!(3)).await.unwrap(), json!(6));
        let info = proc_info(worker);
        assert!(info.is_none(), "worker {worker} was not reaped: {info:?}");
        assert_eq!(pool.worker_pids().len(), 1);
        pool.shutdown(Duration::from_secs(5)).await;
    });
    assert!(pool.worker_pids().is_empty());
}

/// Regression: a task in the pool's registry but not in the one given to `worker_main` was
/// reported as "not registered", as if the pool lacked it.
fn a_task_only_the_pools_registry_has_is_named_as_such() {
    block_on(async {
        let program = std::env::current_exe().expect("current exe");
        let registry = registry().register("only_in_the_pool", double);
        let pool = ProcessPool::with_program(registry, 1, program, Duration::from_millis(300));
        let failure = run(&pool, "only_in_the_pool", json!(1)).await.unwrap_err();
        let worker = pool.worker_pids()[0];
        assert!(
            matches!(&failure, TaskFailure::Pool(PoolError::NotInWorker { name, pid })
                if name == "only_in_the_pool" && *pid == worker),
            "{failure:?}"
        );
        let message = failure.to_string();
        assert!(
            message.contains("`flow_pool::worker_main` lacks it")
                && message.contains("the process pool's registry has it"),
            "{message}"
        );
        let failure = run(&pool, "in_neither", json!(1)).await.unwrap_err();
        assert!(
            failure.to_string().contains("process pool's task registry"),
            "{failure}"
        );
        // The worker serves on.
        assert_eq!(run(&pool, "double", json!(2)).await.unwrap(), json!(4));
        assert_eq!(pool.worker_pids(), [worker]);
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

/// The parent role: a pool whose one task starts a `sleep` in its worker's group; prints the
/// worker's and the sleep's pids on stdout, then waits to be killed.
fn play_parent() {
    block_on(async {
        let pool = pool(1);
        let fifo = Fifo::new();
        let input = json!(fifo.path.display().to_string());
        let busy = run(&pool, "spawn_and_sleep", input);
        let report = async { report_line(&fifo.read_line().await) };
        let _ = tokio::join!(busy, report);
    });
}

/// Regression: when the program was SIGKILLed during a task, its worker died
/// (`PR_SET_PDEATHSIG`) but the processes the task started ran on as orphans.
fn sigkill_of_the_program_ends_what_its_task_started() {
    let (mut parent, line) = start_role("parent");
    let mut pids = line.split_whitespace().map(|p| p.parse::<u32>().unwrap());
    let (worker, child) = (pids.next().unwrap(), pids.next().unwrap());
    sigkill(&mut parent);
    // The worker first: once it is reaped, its child is this process's (a subreaper) too.
    // The guards bound a hang; they are not timing assertions.
    assert!(
        orphan_ended(worker, Duration::from_secs(10)),
        "worker {worker} outlived its program"
    );
    assert!(
        orphan_ended(child, Duration::from_secs(10)),
        "the task's process {child} outlived its program"
    );
}
