//! The pool manager through the public API: ids, duplicates, cancel, wait, active tasks,
//! kind limits and a shutdown that leaves no child.

mod common;

use std::time::Duration;

use common::{group_members, Fifo};
use flow_graph::FlowId;
use flow_pool::{
    enable_child_subreaper, CommandSpec, KindLimits, PoolConfig, PoolError, PoolManager, Task,
    TaskFailure, TaskKind, TaskOutput,
};
use serde_json::{json, Value};

fn id(name: &str) -> FlowId {
    FlowId::new(name).unwrap()
}

fn manager(limits: KindLimits) -> PoolManager {
    enable_child_subreaper().unwrap();
    PoolManager::new(PoolConfig {
        threads: Some(2),
        limits,
        ..PoolConfig::default()
    })
    .unwrap()
}

/// A command that reports its pid on `fifo` and then runs until stopped.
fn reporting_sleeper(fifo: &Fifo) -> Task {
    let script = format!(
        "echo $$ > '{}'; sleep 100 & sleep 100; wait",
        fifo.path.display()
    );
    Task::Command(CommandSpec::shell(script).grace(Duration::from_millis(300)))
}

#[tokio::test]
async fn submit_wait_and_results_of_each_kind() {
    let manager = manager(KindLimits::default());
    let task = Task::thread(|v, _| Ok(json!(v.as_i64().unwrap_or(0) + 1)));
    manager
        .submit(id("add"), task, json!(1), None)
        .await
        .unwrap();
    let output = manager
        .wait("add", Some(Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output, TaskOutput::Value(json!(2)));

    let output = manager
        .run(
            id("cmd"),
            Task::Command(CommandSpec::argv(["echo", "hi"])),
            Value::Null,
            None,
        )
        .await
        .unwrap();
    let TaskOutput::Command(outcome) = output else {
        panic!("expected a command outcome, got {output:?}");
    };
    assert_eq!(outcome.stdout_tail, "hi\n");

    let failure = manager
        .run(
            id("slow"),
            Task::Command(CommandSpec::argv(["sleep", "100"]).grace(Duration::from_millis(300))),
            Value::Null,
            Some(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert!(matches!(failure, TaskFailure::TimedOut(_)), "{failure:?}");

    let refused = manager
        .submit(id("proc"), Task::Process("x".into()), Value::Null, None)
        .await;
    assert!(
        matches!(
            refused,
            Err(PoolError::NoExecutor {
                kind: TaskKind::Process
            })
        ),
        "{refused:?}"
    );
    let unknown = manager.wait("never", None).await;
    assert!(
        matches!(unknown, Err(PoolError::NoSuchTask { .. })),
        "{unknown:?}"
    );
    manager.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_running_id_is_refused_and_cancel_stops_it() {
    let manager = manager(KindLimits::default());
    let fifo = Fifo::new();
    manager
        .submit(id("job"), reporting_sleeper(&fifo), Value::Null, None)
        .await
        .unwrap();
    let pid: u32 = fifo.read_line().await.parse().unwrap();
    let again = manager
        .submit(id("job"), reporting_sleeper(&fifo), Value::Null, None)
        .await;
    assert!(
        matches!(&again, Err(PoolError::DuplicateTask { id }) if id == "job"),
        "{again:?}"
    );
    assert_eq!(
        manager.active_tasks().into_iter().collect::<Vec<_>>(),
        vec![id("job")]
    );

    let waited = manager.wait("job", Some(Duration::from_millis(20))).await;
    assert!(
        matches!(waited, Err(PoolError::WaitTimedOut { .. })),
        "{waited:?}"
    );

    manager.cancel("job").await.unwrap();
    assert!(
        group_members(pid).is_empty(),
        "cancel returned with the group alive"
    );
    assert!(manager.active_tasks().is_empty());
    let result = manager.wait("job", None).await.unwrap();
    assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
    manager.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn kind_limits_queue_tasks_of_that_kind() {
    let manager = manager(KindLimits {
        command: Some(1),
        ..KindLimits::default()
    });
    let fifo = Fifo::new();
    manager
        .submit(id("first"), reporting_sleeper(&fifo), Value::Null, None)
        .await
        .unwrap();
    fifo.read_line().await;
    let second = Task::Command(CommandSpec::argv(["echo", "second"]));
    manager
        .submit(id("second"), second, Value::Null, None)
        .await
        .unwrap();
    let waited = manager
        .wait("second", Some(Duration::from_millis(100)))
        .await;
    assert!(
        matches!(waited, Err(PoolError::WaitTimedOut { .. })),
        "second ran beside first"
    );
    // Threads are another kind and are not held up.
    let output = manager
        .run(id("thread"), Task::thread(|v, _| Ok(v)), json!(3), None)
        .await
        .unwrap();
    assert_eq!(output, TaskOutput::Value(json!(3)));
    manager.cancel("first").await.unwrap();
    let second = manager
        .wait("second", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(matches!(second, Ok(TaskOutput::Command(o)) if o.stdout_tail == "second\n"));
    manager.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn shutdown_while_tasks_run_leaves_no_child() {
    let manager = manager(KindLimits::default());
    let mut pids = Vec::new();
    for name in ["a", "b", "c"] {
        let fifo = Fifo::new();
        manager
            .submit(id(name), reporting_sleeper(&fifo), Value::Null, None)
            .await
            .unwrap();
        pids.push(fifo.read_line().await.parse::<u32>().unwrap());
    }
    let ignores_term = Fifo::new();
    let script = format!(
        "trap '' TERM; echo $$ > '{}'; sleep 100",
        ignores_term.path.display()
    );
    let stubborn = Task::Command(CommandSpec::shell(script).grace(Duration::from_secs(100)));
    manager
        .submit(id("stubborn"), stubborn, Value::Null, None)
        .await
        .unwrap();
    pids.push(ignores_term.read_line().await.parse().unwrap());
    manager.shutdown(Duration::from_millis(300)).await;
    for pid in pids {
        let members = group_members(pid);
        assert!(
            members.is_empty(),
            "group {pid} survived shutdown: {members:?}"
        );
    }
    assert!(manager.active_tasks().is_empty());
    let refused = manager
        .submit(id("late"), Task::thread(|v, _| Ok(v)), Value::Null, None)
        .await;
    assert!(matches!(refused, Err(PoolError::ShutDown)), "{refused:?}");
}

/// The repro of a tester: one thread, a task queued behind a busy one with a timeout shorter
/// than the wait. The timeout counts from when its body starts, so it succeeds; a queued task
/// cancelled through the manager never runs.
#[tokio::test]
async fn thread_tasks_queued_behind_a_busy_thread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    let manager = PoolManager::new(PoolConfig {
        threads: Some(1),
        ..PoolConfig::default()
    })
    .unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let busy = Task::thread(move |_, _| {
        started_tx.send(()).map_err(|e| e.to_string())?;
        let _ = release_rx.recv();
        Ok(json!("busy"))
    });
    manager
        .submit(id("busy"), busy, Value::Null, None)
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();

    let ran = Arc::new(AtomicBool::new(false));
    let marker = Arc::clone(&ran);
    let cancelled = Task::thread(move |_, _| {
        marker.store(true, Ordering::SeqCst);
        Ok(Value::Null)
    });
    manager
        .submit(id("cancelled"), cancelled, Value::Null, None)
        .await
        .unwrap();
    // On this current-thread runtime, the submitted task queues its job at the next yield.
    tokio::task::yield_now().await;
    manager.cancel("cancelled").await.unwrap();
    let result = manager.wait("cancelled", None).await.unwrap();
    assert!(matches!(result, Err(TaskFailure::Cancelled)), "{result:?}");
    let timeout = Duration::from_millis(100);
    let short = Task::thread(|_, _| Ok(json!("done in no time")));
    manager
        .submit(id("short"), short, Value::Null, Some(timeout))
        .await
        .unwrap();
    // The queue wait itself must outlast the timeout: there is no event to await here.
    tokio::time::sleep(timeout * 3).await;
    release_tx.send(()).unwrap();
    let output = manager.wait("busy", None).await.unwrap().unwrap();
    assert_eq!(output, TaskOutput::Value(json!("busy")));
    let output = manager.wait("short", None).await.unwrap().unwrap();
    assert_eq!(output, TaskOutput::Value(json!("done in no time")));
    // The only thread took "cancelled" before "short": it dropped it unrun.
    assert!(!ran.load(Ordering::SeqCst), "the cancelled task ran");
    manager.shutdown(Duration::from_secs(5)).await;
}
