//! flow-pool on its own: a command whose timeout kills it *and* the processes it started,
//! then a [`PoolManager`] used as the seed's `ProcessPoolManager` — tasks on threads, on
//! worker processes and as commands, submitted under ids, waited for, cancelled, listed and
//! shut down.
//!
//! ```text
//! cargo run -p flow-pool --example pool_manager
//! ```
#![allow(clippy::print_stdout)] // an example program: it prints what happened

use std::error::Error;
use std::time::Duration;

use flow_graph::FlowId;
use flow_pool::{
    CancellationToken, CommandEnd, CommandRunner, CommandSpec, PoolConfig, PoolManager, Task,
    TaskFailure, TaskOutput, TaskRegistry,
};
use serde_json::{json, Value};

/// A function for worker processes (JSON in, JSON out): work that may crash or hang is
/// safer in a process of its own, which a timeout can kill.
fn fib(input: Value) -> Result<Value, String> {
    let n = input.as_u64().ok_or("expected a number")?;
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    Ok(json!(a))
}

fn registry() -> TaskRegistry {
    TaskRegistry::new().register("fib", fib)
}

fn id(name: &str) -> FlowId {
    FlowId::new(name).expect("a valid task id")
}

fn main() -> Result<(), Box<dyn Error>> {
    // Worker processes are this program started again: serve tasks there, return here.
    flow_pool::worker_main(&registry());
    // Become the parent of orphaned grandchildren, so that they are reaped, not left as
    // zombies (in containers PID 1 often reaps nothing).
    flow_pool::enable_child_subreaper()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        timeout_kills_the_tree().await?;
        manager().await
    })
}

async fn timeout_kills_the_tree() -> Result<(), Box<dyn Error>> {
    // The shell starts a background `sleep` (a grandchild of ours) and prints its pid.
    let spec = CommandSpec::shell("sleep 60 & echo $!; wait").grace(Duration::from_millis(200));
    let timeout = Some(Duration::from_millis(300));
    let outcome = CommandRunner::new()
        .run(&spec, timeout, CancellationToken::new())
        .await?;
    assert_eq!(
        outcome.end,
        CommandEnd::TimedOut(Duration::from_millis(300))
    );
    // SIGTERM went to the command's whole process group, then SIGKILL after the grace;
    // `run` returned once the group was empty.
    let grandchild = outcome.stdout_tail.trim();
    let alive = std::path::Path::new("/proc").join(grandchild).exists();
    println!(
        "command: {:?} after {:.1?}; background sleep {grandchild} alive: {alive}",
        outcome.end, outcome.duration
    );
    Ok(())
}

async fn manager() -> Result<(), Box<dyn Error>> {
    // The seed's ProcessPoolManager(max_threads=2, max_processes=2).
    let manager = PoolManager::new(PoolConfig {
        threads: Some(2),
        processes: Some(2),
        registry: Some(registry()),
        ..PoolConfig::default()
    })?;

    // submit_task: a closure on a thread, a registered function on a worker process, a
    // command; each under its id, with its input and an optional timeout.
    let sum = Task::thread(|input, _cancel| {
        let numbers = input.as_array().ok_or("expected an array")?;
        Ok(json!(numbers.iter().filter_map(Value::as_i64).sum::<i64>()))
    });
    manager
        .submit(id("sum"), sum, json!([1, 2, 3]), None)
        .await?;
    manager
        .submit(id("fib"), Task::Process("fib".into()), json!(50), None)
        .await?;
    let slow = Task::Command(CommandSpec::shell("sleep 60"));
    manager
        .submit(
            id("slow"),
            slow,
            Value::Null,
            Some(Duration::from_secs(120)),
        )
        .await?;
    println!("active tasks: {:?}", manager.active_tasks());

    // wait_for_task, then take each result.
    for task in ["sum", "fib"] {
        match manager.wait(task, Some(Duration::from_secs(30))).await? {
            Ok(TaskOutput::Value(value)) => println!("{task}: {value}"),
            Ok(TaskOutput::Command(outcome)) => println!("{task}: {:?}", outcome.end),
            Err(failure) => println!("{task} failed: {failure}"),
        }
    }

    // cancel_task: returns once the command's processes are gone.
    manager.cancel("slow").await?;
    let slow = manager.wait("slow", None).await?;
    println!(
        "slow: {}",
        slow.err()
            .as_ref()
            .map_or("ended".into(), TaskFailure::to_string)
    );

    // shutdown: refuses new tasks, stops running ones, ends the worker processes.
    manager.shutdown(Duration::from_secs(1)).await;
    println!(
        "after shutdown, active tasks: {}",
        manager.active_tasks().len()
    );
    Ok(())
}
