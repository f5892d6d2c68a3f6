//! Task flows on a real process pool, through `FlowContext`. `harness = false`: `main` calls
//! `flow_pool::worker_main` first, as a user's program does, so that the pool can re-execute
//! this binary as its workers; then it runs the checks below in order.

use std::time::Duration;

use flow_core::{CoreError, Flow, FlowContext, FlowId, FlowStatus};
use flow_pool::{worker_main, ProcessPool, TaskRegistry};
use serde_json::{json, Value};

/// The sum of the flow's own input and its parents' outputs, doubled.
fn double_sum(input: Value) -> Result<Value, String> {
    let own = input["input"].as_i64().ok_or("no input")?;
    let parents: i64 = input["parents"]
        .as_object()
        .ok_or("no parents")?
        .values()
        .filter_map(Value::as_i64)
        .sum();
    Ok(json!((own + parents) * 2))
}

/// Ends its worker process with code 3 before answering.
fn exit_3(_: Value) -> Result<Value, String> {
    std::process::exit(3)
}

fn registry() -> TaskRegistry {
    TaskRegistry::new()
        .register("double_sum", double_sum)
        .register("exit_3", exit_3)
}

fn id(s: &str) -> FlowId {
    FlowId::new(s).unwrap()
}

/// A task flow runs in a worker process, gets its input and its parents' outputs, and its
/// output reaches its children and the store; `cleanup` shuts the pool down.
fn a_task_flow_runs_to_success_through_the_context() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let program = std::env::current_exe().expect("current exe");
        let pool = ProcessPool::with_program(registry(), 2, program, Duration::from_secs(5));
        let ctx = FlowContext::builder()
            .process_pool(pool)
            .pool_grace(Duration::from_secs(1))
            .build();
        ctx.register_flow(
            Flow::async_fn(id("start"), |_| async { Ok::<_, String>(json!(1)) }).build(),
        )
        .unwrap();
        ctx.register_flow(
            Flow::task(id("twice"), "double_sum")
                .input(json!(2))
                .requires(id("start"))
                .build(),
        )
        .unwrap();
        ctx.register_flow(
            Flow::task(id("again"), "double_sum")
                .input(json!(0))
                .requires(id("twice"))
                .build(),
        )
        .unwrap();
        let summary = ctx.run().await.unwrap();
        assert!(summary.is_success(), "{summary:?}");
        let twice = ctx
            .store()
            .result(&summary.run_id, &id("twice"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (twice.status, twice.output),
            (FlowStatus::Completed, json!(6))
        );
        let again = ctx
            .store()
            .result(&summary.run_id, &id("again"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (again.status, again.output),
            (FlowStatus::Completed, json!(12))
        );
        ctx.cleanup().await;
        assert!(ctx.flow_ids().is_empty());
    });
}

/// A task whose worker process exits before answering fails with the exit code recorded.
fn a_worker_that_exits_leaves_its_exit_code() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let program = std::env::current_exe().expect("current exe");
        let pool = ProcessPool::with_program(registry(), 1, program, Duration::from_secs(5));
        let ctx = FlowContext::builder().process_pool(pool).build();
        ctx.register_flow(Flow::task(id("quits"), "exit_3").build())
            .unwrap();
        let summary = ctx.run().await.unwrap();
        let quits = ctx
            .store()
            .result(&summary.run_id, &id("quits"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (quits.status, quits.exit_code),
            (FlowStatus::Failed, Some(3))
        );
        ctx.cleanup().await;
    });
}

/// Regression: a task flow naming a task the pool lacks was accepted, and failed with a
/// message that named neither the flow nor whose registry lacked the task.
fn an_unknown_task_is_refused_at_registration_naming_the_flow() {
    let program = std::env::current_exe().expect("current exe");
    let pool = ProcessPool::with_program(registry(), 1, program, Duration::from_secs(5));
    let ctx = FlowContext::builder().process_pool(pool).build();
    let refused = ctx
        .register_flow(Flow::task(id("count"), "not_registered").build())
        .unwrap_err();
    assert!(
        matches!(&refused, CoreError::UnknownTask { flow, task, known }
            if flow.as_str() == "count" && task == "not_registered"
                && known == &["double_sum", "exit_3"]),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(
        message.contains("flow `count` runs task `not_registered`")
            && message.contains("it has `double_sum`, `exit_3`"),
        "{message}"
    );
    assert!(ctx.flow("count").is_none(), "nothing was registered");
}

/// Regression: a task the pool's registry has but the worker's (the one given to
/// `worker_main`) lacks failed as "not registered", naming no flow.
fn a_task_missing_from_the_workers_registry_fails_its_flow_saying_so() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let program = std::env::current_exe().expect("current exe");
        let registry = registry().register("only_in_the_pool", double_sum);
        let pool = ProcessPool::with_program(registry, 1, program, Duration::from_secs(5));
        let ctx = FlowContext::builder().process_pool(pool).build();
        ctx.register_flow(Flow::task(id("count"), "only_in_the_pool").build())
            .unwrap();
        let summary = ctx.run().await.unwrap();
        let count = ctx
            .store()
            .result(&summary.run_id, &id("count"))
            .unwrap()
            .unwrap();
        assert_eq!(count.status, FlowStatus::Failed);
        let message = count.failure.unwrap().message;
        assert!(
            message.starts_with("flow `count` runs task `only_in_the_pool`, but worker process")
                && message.contains("`flow_pool::worker_main` lacks it"),
            "{message}"
        );
        ctx.cleanup().await;
    });
}

/// Regression: after `cleanup`, which shuts the context's pool down, a task flow of the
/// context (or of another context given a clone of the pool) failed with "the pool is shut
/// down and accepts no more tasks", naming neither the flow, nor why, nor what to do.
fn a_task_flow_on_a_pool_shut_down_by_cleanup_says_what_to_do() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let program = std::env::current_exe().expect("current exe");
        let pool = ProcessPool::with_program(registry(), 1, program, Duration::from_secs(5));
        let first = FlowContext::builder().process_pool(pool.clone()).build();
        let second = FlowContext::builder().process_pool(pool).build();
        first.cleanup().await;
        for ctx in [&first, &second] {
            ctx.register_flow(
                Flow::task(id("twice"), "double_sum")
                    .input(json!(1))
                    .build(),
            )
            .unwrap();
            let summary = ctx.run().await.unwrap();
            let twice = ctx
                .store()
                .result(&summary.run_id, &id("twice"))
                .unwrap()
                .unwrap();
            assert_eq!(twice.status, FlowStatus::Failed);
            let message = twice.failure.unwrap().message;
            assert!(
                message.starts_with("flow `twice` runs task `double_sum`, but")
                    && message.contains("`FlowContext::cleanup`")
                    && message.contains("new `ProcessPool`"),
                "{message}"
            );
        }
        second.cleanup().await;
    });
}

fn main() {
    worker_main(&registry());
    a_task_flow_runs_to_success_through_the_context();
    a_worker_that_exits_leaves_its_exit_code();
    an_unknown_task_is_refused_at_registration_naming_the_flow();
    a_task_missing_from_the_workers_registry_fails_its_flow_saying_so();
    a_task_flow_on_a_pool_shut_down_by_cleanup_says_what_to_do();
    eprintln!("tasks: 5 passed");
}
