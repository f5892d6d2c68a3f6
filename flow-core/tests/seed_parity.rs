//! One test (at least) per operation of the seed's `FlowContext`, each stating what the seed
//! did and what flow-core does instead.

mod common;

use std::time::Duration;

use common::{drain, fail, finished, forever, id, ok, run_started, saved, started};
use flow_core::{CoreError, DependencyType::*, EventKind, FailureKind, FlowContext, FlowStatus};
use serde_json::json;

/// Seed: `register_flow` raises `FlowError` for an id already registered.
/// Ours: `CoreError::DuplicateFlow` naming the id; the first flow stays.
#[test]
fn register_flow_refuses_a_duplicate() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    let err = ctx.register_flow(ok("a", json!(2)).build()).unwrap_err();
    assert!(
        matches!(err, CoreError::DuplicateFlow(ref f) if f == "a"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "flow `a` is already registered; pick another id"
    );
    assert_eq!(ctx.flow_ids(), [id("a")]);
}

/// Seed: `register_dependency` raises "flows not found" without naming them, and a cycle
/// is added, detected, then removed. Ours: the error names the missing flow or the cycle,
/// and the graph is never changed by a refused call.
#[test]
fn register_dependency_refuses_unknown_flows_and_cycles() {
    let ctx = FlowContext::new();
    for name in ["a", "b", "c"] {
        ctx.register_flow(ok(name, json!(null)).build()).unwrap();
    }
    let err = ctx.register_dependency("a", "nope", Required).unwrap_err();
    assert!(err.to_string().contains("`nope`"), "{err}");
    ctx.register_dependency("a", "b", Required).unwrap();
    ctx.register_dependency("b", "c", Optional).unwrap();
    let err = ctx.register_dependency("c", "a", Required).unwrap_err();
    assert!(err.to_string().contains("c -> a -> b -> c"), "{err}");
    assert_eq!(ctx.graph().dependency_count(), 2);
    assert_eq!(ctx.graph().dependency("b", "c"), Some(Optional));
    // Declared on the builder: a flow cannot depend on itself or on an unknown flow.
    let err = ctx
        .register_flow(ok("d", json!(null)).requires(id("d")).build())
        .unwrap_err();
    assert!(err.to_string().contains("d -> d"), "{err}");
    let err = ctx
        .register_flow(ok("d", json!(null)).requires(id("zz")).build())
        .unwrap_err();
    assert!(
        matches!(err, CoreError::UnknownFlow(ref f) if f == "zz"),
        "{err}"
    );
    assert!(ctx.flow("d").is_none());
    // A batch with one bad edge adds nothing.
    let err = ctx
        .register_dependencies([("a", "c", Required), ("c", "b", Required)])
        .unwrap_err();
    assert!(matches!(err, CoreError::Graph(_)), "{err}");
    assert_eq!(ctx.graph().dependency_count(), 2);
}

/// Seed: `has_cycle(start)` runs `find_cycle` from `start`. Ours: cycles are refused when
/// they would be made, so it answers for what was registered: every way of adding a
/// dependency is tried with one that would close a cycle (each is refused), and then no flow
/// has a cycle; `would_cycle` answers the useful question. `has_cycle` reads the registered
/// dependencies themselves, so a cycle that slipped through would make it `true` here.
#[test]
fn has_cycle_is_false_and_would_cycle_names_the_cycle() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(null)).build()).unwrap();
    ctx.register_flow(ok("b", json!(null)).requires(id("a")).build())
        .unwrap();
    ctx.register_flow(ok("c", json!(null)).build()).unwrap();
    assert!(!ctx.has_cycle("a").unwrap());
    assert!(ctx.has_cycle("zz").is_err());
    let cycle = ctx.would_cycle("b", "a").unwrap().unwrap();
    assert_eq!(cycle.to_string(), "dependency cycle: b -> a -> b");
    assert!(ctx.would_cycle("a", "b").unwrap().is_none());
    // One at a time, a backward edge, in a batch with forward edges, and a self edge.
    assert!(ctx.register_dependency("b", "a", Required).is_err());
    ctx.register_dependency("b", "c", Required).unwrap();
    let err = ctx
        .register_dependencies([("a", "c", Optional), ("c", "a", Required)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot register the dependency: dependency cycle: a -> c -> a"
    );
    assert!(ctx.register_dependency("c", "c", Required).is_err());
    assert!(ctx
        .register_flow(ok("d", json!(null)).requires(id("d")).build())
        .is_err());
    for flow in ["a", "b", "c"] {
        assert!(!ctx.has_cycle(flow).unwrap(), "{flow}");
    }
    assert_eq!(ctx.graph().dependency_count(), 2);
}

/// Seed: `get_flow(id)` returns the flow or `None`. Ours: `flow(id)`, same.
#[test]
fn flow_looks_up_by_id() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(1)).input(json!({"k": 2})).tag("t").build())
        .unwrap();
    let flow = ctx.flow("a").unwrap();
    assert_eq!(flow.input(), &json!({"k": 2}));
    assert_eq!(flow.tags(), ["t"]);
    assert!(ctx.flow("b").is_none());
}

/// Seed: `get_instance()` returns the one `FlowContext`, and constructing another raises.
/// Ours: `FlowContext::global()` is one process-wide context; owned contexts are also fine.
#[test]
fn global_is_one_context() {
    let a = FlowContext::global();
    let b = FlowContext::global();
    assert!(std::ptr::eq(a, b));
    a.register_flow(ok("global-parity", json!(1)).build())
        .unwrap();
    assert!(b.flow("global-parity").is_some());
    assert!(FlowContext::new().flow("global-parity").is_none());
}

/// Seed: `fail_flow(id, reason)` sets the status and saves a FAILED result with the reason
/// (an unknown id is ignored silently). Ours: during a run a running flow is stopped and
/// saved failed with the reason; outside a run the flow shows failed and the next run
/// records it; an unknown id is an error.
#[tokio::test]
async fn fail_flow_records_the_reason() {
    let ctx = FlowContext::new();
    ctx.register_flow(forever("slow").build()).unwrap();
    ctx.register_flow(ok("after", json!(1)).requires(id("slow")).build())
        .unwrap();
    ctx.register_flow(ok("done", json!(1)).build()).unwrap();
    assert!(matches!(
        ctx.fail_flow("nope", "x").await,
        Err(CoreError::UnknownFlow(_))
    ));
    let run = run_started(&ctx, None).await;
    ctx.wait_for_flows(&["done"], None).await.unwrap();
    let err = ctx.fail_flow("done", "too late").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot fail flow `done`: it already ended completed in this run"
    );
    ctx.fail_flow("slow", "operator said so").await.unwrap();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.counts.failed, 2);
    let slow = saved(&ctx, &summary.run_id, "slow");
    assert_eq!(slow.status, FlowStatus::Failed);
    assert_eq!(slow.failure.unwrap().message, "operator said so");
    // The run is over: failing the flow again is accepted, and marks it for the next run.
    let again = ctx.fail_flow("slow", "x").await;
    assert!(
        again.is_ok(),
        "outside a run it marks the flow for the next run"
    );
    assert_eq!(ctx.status("slow"), Some(FlowStatus::Failed));
    let summary = ctx.run().await.unwrap();
    let slow = saved(&ctx, &summary.run_id, "slow");
    assert_eq!((slow.status, slow.attempts), (FlowStatus::Failed, 0));
}

/// Seed: `handle_flow_failure` fails the direct required dependents only (one level), and
/// skips optional ones. Ours: the failure reaches every flow behind required edges,
/// transitively, naming the flow that failed first; none of them starts; flows behind an
/// optional edge run.
#[tokio::test]
async fn failure_propagates_transitively_and_spares_optional_dependents() {
    let ctx = FlowContext::new();
    ctx.register_flow(fail("a", "boom").build()).unwrap();
    ctx.register_flow(ok("b", json!(1)).requires(id("a")).build())
        .unwrap();
    ctx.register_flow(ok("c", json!(1)).requires(id("b")).build())
        .unwrap();
    ctx.register_flow(ok("d", json!(1)).optionally_after(id("b")).build())
        .unwrap();
    let mut events = ctx.subscribe();
    let summary = ctx.run().await.unwrap();
    let events = drain(&mut events);
    assert_eq!(started(&events), ["a", "d"]);
    for (flow, status) in [
        ("a", FlowStatus::Failed),
        ("b", FlowStatus::Failed),
        ("c", FlowStatus::Failed),
        ("d", FlowStatus::Completed),
    ] {
        assert_eq!(finished(&events, flow), Some(status), "{flow}");
    }
    for flow in ["b", "c"] {
        let result = ctx
            .store()
            .result(&summary.run_id, &id(flow))
            .unwrap()
            .unwrap();
        let failure = result.failure.unwrap();
        assert_eq!(
            failure.kind,
            FailureKind::Upstream { flow: id("a") },
            "{flow}"
        );
        assert_eq!(failure.message, "required flow `a` failed");
        assert_eq!(result.attempts, 0);
    }
    let a = saved(&ctx, &summary.run_id, "a");
    assert_eq!(a.failure.unwrap().message, "boom");
}

/// Seed: `wait_for_flows` polls every 100 ms while holding the status lock, raises
/// "not found" for an unknown id and a timeout error listing all ids. Ours: it wakes on
/// progress (no polling), checks ids first, and the timeout error names only the flows
/// still unfinished.
#[tokio::test(start_paused = true)]
async fn wait_for_flows_is_event_driven_and_names_the_unfinished() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("quick", json!(1)).build()).unwrap();
    ctx.register_flow(forever("stuck").build()).unwrap();
    let err = ctx
        .wait_for_flows(&["quick", "nope"], None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CoreError::UnknownFlow(ref f) if f == "nope"),
        "{err}"
    );
    assert!(ctx
        .wait_for_flows::<&str>(&[], None)
        .await
        .unwrap()
        .is_empty());

    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    let statuses = ctx.wait_for_flows(&["quick"], None).await.unwrap();
    assert_eq!(statuses, [(id("quick"), FlowStatus::Completed)]);
    let err = ctx
        .wait_for_flows(&["quick", "stuck"], Some(Duration::from_secs(5)))
        .await
        .unwrap_err();
    match &err {
        CoreError::WaitTimeout { unfinished, after } => {
            assert_eq!(unfinished, &[id("stuck")]);
            assert_eq!(*after, Duration::from_secs(5));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("still unfinished: stuck"), "{err}");
    ctx.cancel_all();
    let summary = run.await.unwrap().unwrap();
    assert!(summary.cancelled);
    assert_eq!(
        ctx.wait_for_flows(&["stuck"], None).await.unwrap(),
        [(id("stuck"), FlowStatus::Cancelled)]
    );
}

/// Seed: `cleanup` shuts the pool down and clears everything. Ours too, and a second call
/// is harmless.
#[tokio::test]
async fn cleanup_clears_and_can_be_called_twice() {
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    ctx.run().await.unwrap();
    ctx.cleanup().await;
    assert!(ctx.flow("a").is_none());
    assert!(ctx.flow_ids().is_empty());
    ctx.cleanup().await;
    ctx.register_flow(ok("a", json!(2)).build()).unwrap();
    assert!(ctx.run().await.unwrap().is_success());

    // During a run: the run is cancelled and detached, and the context is usable at once.
    ctx.register_flow(forever("slow").build()).unwrap();
    let run = run_started(&ctx, None).await;
    ctx.cleanup().await;
    ctx.register_flow(ok("fresh", json!(3)).build()).unwrap();
    let old = run.await.unwrap().unwrap();
    assert!(old.cancelled);
    let summary = ctx.run().await.unwrap();
    assert_eq!((summary.counts.total(), summary.counts.completed), (1, 1));
}

/// Seed: `shutdown(wait=True)` returns once the pool's work is over. Ours: `cleanup` returns
/// once the cancelled run is over, so a command it started is killed and reaped by then.
#[tokio::test]
async fn cleanup_returns_once_the_runs_processes_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let ctx = FlowContext::new();
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    let spec = flow_core::CommandSpec::shell(&script);
    ctx.register_flow(flow_core::Flow::command(id("sleeper"), spec).build())
        .unwrap();
    let run = run_started(&ctx, Some("sleeper")).await;
    let pid = common::pid_written_to(&pid_file).await;
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    ctx.cleanup().await;
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} outlived cleanup"
    );
    assert!(run.await.unwrap().unwrap().cancelled);
}

/// Seed: none (one run at a time, no run ids). Ours: `wait_for_flows_in_run` waits for the
/// flows of one run, so called before that run has even started it does not answer with the
/// statuses of the run before (`wait_for_flows` would: `a` completed then).
#[tokio::test]
async fn waiting_for_flows_of_one_run_ignores_the_run_before() {
    let ctx = FlowContext::new();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let gate = std::sync::Arc::clone(&permits);
    ctx.register_flow(
        flow_core::Flow::async_fn(id("a"), move |_| {
            let gate = std::sync::Arc::clone(&gate);
            async move {
                gate.acquire().await.map_err(|e| e.to_string())?.forget();
                Ok::<_, String>(json!(1))
            }
        })
        .build(),
    )
    .unwrap();
    let first = ctx.run().await.unwrap();
    assert_eq!(ctx.status("a"), Some(FlowStatus::Completed));
    let second = flow_core::RunId::new_now();
    let (waiter, scoped) = (ctx.clone(), second.clone());
    let wait =
        tokio::spawn(async move { waiter.wait_for_flows_in_run(&scoped, &["a"], None).await });
    let runner = ctx.clone();
    let options = flow_core::RunOptions::new().run_id(second.clone());
    let run = tokio::spawn(async move { runner.run_with(options).await });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!wait.is_finished(), "answered with the run before");
    permits.add_permits(1);
    let statuses = wait.await.unwrap().unwrap();
    assert_eq!(statuses, [(id("a"), FlowStatus::Completed)]);
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.run_id, second);
    assert_ne!(first.run_id, second);
}

/// Seed: the pool's `cancel_task(id)` cancels a future (a thread keeps running). Ours:
/// `cancel(id)` ends a running flow cancelled (an async flow is dropped), and the flows
/// that require it end cancelled without starting.
#[tokio::test]
async fn cancel_one_flow() {
    let ctx = FlowContext::new();
    ctx.register_flow(forever("slow").build()).unwrap();
    ctx.register_flow(ok("next", json!(1)).requires(id("slow")).build())
        .unwrap();
    ctx.register_flow(ok("other", json!(1)).build()).unwrap();
    let mut events = ctx.subscribe();
    let runner = ctx.clone();
    let run = tokio::spawn(async move { runner.run().await });
    loop {
        let event = events.recv().await.unwrap();
        if matches!(&event.kind, EventKind::FlowStarted { flow, .. } if flow == "slow") {
            break;
        }
    }
    ctx.cancel("slow").unwrap();
    let summary = run.await.unwrap().unwrap();
    assert_eq!((summary.counts.completed, summary.counts.cancelled), (1, 2));
    let next = saved(&ctx, &summary.run_id, "next");
    assert_eq!(
        next.failure.unwrap().kind,
        FailureKind::Upstream { flow: id("slow") }
    );
    assert!(ctx.cancel("nope").is_err());
}

/// Seed: `fail_flow` marks any flow failed (a flow not yet started included); `cancel_task`
/// only reaches a running task. Ours, during a run, on flows that have not started: a waiting
/// flow failed by request never starts and takes its required children with it; a waiting flow
/// cancelled by request is cancelled, its required children too.
#[tokio::test]
async fn fail_flow_and_cancel_reach_flows_still_waiting() {
    let ctx = FlowContext::new();
    ctx.register_flow(forever("gate").build()).unwrap();
    for (name, parent) in [("b", "gate"), ("c", "b"), ("d", "gate"), ("e", "d")] {
        ctx.register_flow(ok(name, json!(1)).requires(id(parent)).build())
            .unwrap();
    }
    let run = run_started(&ctx, None).await;
    ctx.fail_flow("b", "not today").await.unwrap();
    ctx.cancel("d").unwrap();
    let statuses = ctx
        .wait_for_flows(&["b", "c", "d", "e"], None)
        .await
        .unwrap();
    assert_eq!(
        statuses.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [
            FlowStatus::Failed,
            FlowStatus::Failed,
            FlowStatus::Cancelled,
            FlowStatus::Cancelled
        ]
    );
    assert_eq!(ctx.status("gate"), Some(FlowStatus::Running));
    ctx.cancel("gate").unwrap();
    let summary = run.await.unwrap().unwrap();
    let b = saved(&ctx, &summary.run_id, "b");
    assert_eq!(
        (b.attempts, b.failure.unwrap().message.as_str()),
        (0, "not today")
    );
    let c = saved(&ctx, &summary.run_id, "c").failure.unwrap();
    assert_eq!(c.kind, FailureKind::Upstream { flow: id("b") });
    let e = saved(&ctx, &summary.run_id, "e").failure.unwrap();
    assert_eq!(e.kind, FailureKind::Upstream { flow: id("d") });
    assert_eq!(summary.counts.cancelled, 3);
}

/// Seed: `wait_for_flows` of an empty set returns at once. Ours: the same, and a run of no
/// flows completes at once with zero counts, and is recorded.
#[tokio::test]
async fn an_empty_run_succeeds_with_nothing_counted() {
    let ctx = FlowContext::new();
    let summary = ctx.run().await.unwrap();
    assert!(summary.is_success());
    assert_eq!(summary.counts.total(), 0);
    assert!(ctx.store().run(&summary.run_id).unwrap().is_some());
    let none: [&str; 0] = [];
    assert!(ctx.wait_for_flows(&none, None).await.unwrap().is_empty());
}
