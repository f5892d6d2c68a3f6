//! Property tests on random DAGs (up to 60 flows, random required and optional edges, random
//! failing flows, random `jobs`), on tokio's paused clock.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cases, drain, id};
use flow_core::{
    DependencyType, Event, EventKind, FailureKind, Flow, FlowContext, FlowStatus, RunOptions,
};
use flow_results::{MemoryStore, ResultStore};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A random DAG: edges only from a lower to a higher index, so it is acyclic.
#[derive(Debug, Clone)]
struct Dag {
    n: usize,
    /// (parent, child, type), parent < child, no duplicates.
    edges: Vec<(usize, usize, DependencyType)>,
    failing: Vec<bool>,
    delays: Vec<u64>,
    jobs: usize,
    /// Flows registered children first, dependencies added afterwards: every edge then
    /// points back in registration order (the driver's other path for fingerprints).
    reversed: bool,
}

fn dag() -> impl Strategy<Value = Dag> {
    (1usize..=60).prop_flat_map(|n| {
        (
            proptest::collection::vec((0..n, 0..n, any::<bool>()), 0..=3 * n),
            proptest::collection::vec(proptest::bool::weighted(0.15), n),
            proptest::collection::vec(0u64..4, n),
            1usize..=8,
            any::<bool>(),
        )
            .prop_map(move |(raw, failing, delays, jobs, reversed)| {
                let mut seen = BTreeSet::new();
                let edges = raw
                    .into_iter()
                    .filter(|&(a, b, _)| a != b)
                    .map(|(a, b, optional)| {
                        let dependency = if optional {
                            DependencyType::Optional
                        } else {
                            DependencyType::Required
                        };
                        (a.min(b), a.max(b), dependency)
                    })
                    .filter(|&(p, c, _)| seen.insert((p, c)))
                    .collect();
                Dag {
                    n,
                    edges,
                    failing,
                    delays,
                    jobs,
                    reversed,
                }
            })
    })
}

fn name(i: usize) -> String {
    format!("f{i}")
}

impl Dag {
    fn parents(&self, c: usize) -> impl Iterator<Item = (usize, DependencyType)> + '_ {
        self.edges
            .iter()
            .filter(move |e| e.1 == c)
            .map(|&(p, _, d)| (p, d))
    }

    /// The reference model: in index order (a topological order), a flow fails when a
    /// required parent did not complete, or when it fails itself.
    fn expected(&self, failing: &[bool]) -> Vec<FlowStatus> {
        let mut status: Vec<FlowStatus> = Vec::with_capacity(self.n);
        for (c, &fails) in failing.iter().enumerate().take(self.n) {
            let blocked = self
                .parents(c)
                .any(|(p, d)| d == DependencyType::Required && status[p] != FlowStatus::Completed);
            status.push(if blocked || fails {
                FlowStatus::Failed
            } else {
                FlowStatus::Completed
            });
        }
        status
    }

    /// A context with the DAG's flows; each counts its runs in `runs`.
    fn context(
        &self,
        store: Arc<dyn ResultStore>,
        failing: &[bool],
        version: &[u32],
        runs: &Arc<Vec<AtomicUsize>>,
    ) -> FlowContext {
        let ctx = FlowContext::builder().jobs(self.jobs).store(store).build();
        let order: Vec<usize> = if self.reversed {
            (0..self.n).rev().collect()
        } else {
            (0..self.n).collect()
        };
        for i in order {
            let (fails, delay, runs) = (failing[i], self.delays[i], Arc::clone(runs));
            let mut flow = Flow::async_fn(id(&name(i)), move |input| {
                runs[i].fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    if fails {
                        Err(format!("flow {i} fails"))
                    } else {
                        Ok(json!(input.parents().len()))
                    }
                }
            })
            .version(version[i].to_string());
            if !self.reversed {
                for (p, d) in self.parents(i) {
                    flow = flow.after(id(&name(p)), d);
                }
            }
            ctx.register_flow(flow.build()).unwrap();
        }
        if self.reversed {
            let edges = self.edges.iter().map(|&(p, c, d)| (name(p), name(c), d));
            ctx.register_dependencies(edges).unwrap();
        }
        ctx
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

/// Checks the event log of one run against the DAG: no flow starts before all its parents
/// finished, at most `jobs` run at once, each flow starts at most once and finishes once.
fn check_events(dag: &Dag, events: &[Event]) -> Result<(), TestCaseError> {
    check_events_of(dag, events, &vec![true; dag.n])
}

/// [`check_events`] for a run that holds only the `present` flows of the DAG.
fn check_events_of(dag: &Dag, events: &[Event], present: &[bool]) -> Result<(), TestCaseError> {
    let index = |flow: &flow_core::FlowId| -> usize { flow.as_str()[1..].parse().unwrap() };
    let mut finished_at = vec![None; dag.n];
    let mut started = vec![false; dag.n];
    let mut running = 0usize;
    for event in events {
        match &event.kind {
            EventKind::FlowStarted { flow, attempt } => {
                let c = index(flow);
                prop_assert_eq!(*attempt, 1);
                prop_assert!(!started[c], "{} started twice", flow);
                started[c] = true;
                for (p, _) in dag.parents(c) {
                    prop_assert!(
                        finished_at[p].is_some_and(|seq| seq < event.seq),
                        "{} started before its parent f{} finished",
                        flow,
                        p
                    );
                }
                running += 1;
                prop_assert!(running <= dag.jobs, "{} flows run at once", running);
            }
            EventKind::FlowFinished { flow, .. } => {
                let c = index(flow);
                prop_assert!(finished_at[c].is_none(), "{} finished twice", flow);
                finished_at[c] = Some(event.seq);
                if started[c] {
                    running -= 1;
                }
            }
            _ => {}
        }
    }
    for (i, finished) in finished_at.iter().enumerate() {
        prop_assert_eq!(finished.is_some(), present[i], "f{} finished", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    /// The statuses of a run equal the reference model; the event log respects the
    /// dependencies and `jobs`; a flow behind a required edge of a failure fails with the
    /// name of an ancestor that failed on its own, without starting; `wait_for_flows`
    /// returns the final statuses of its flows once they are all finished.
    #[test]
    fn runs_match_the_reference_model(dag in dag(), waits in proptest::collection::vec(any::<u64>(), 0..4)) {
        let rt = runtime();
        let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
        let runs = counters(dag.n);
        let ctx = dag.context(Arc::clone(&store), &dag.failing, &vec![0; dag.n], &runs);
        let expected = dag.expected(&dag.failing);
        let (summary, events, waited) = rt.block_on(async {
            let mut events = ctx.subscribe();
            let waiters: Vec<_> = waits
                .iter()
                .map(|mask| {
                    let ids: Vec<String> = (0..dag.n).filter(|i| mask >> (i % 64) & 1 == 1).map(name).collect();
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        let statuses = ctx.wait_for_flows(&ids, None).await.unwrap();
                        let now: Vec<_> = ids.iter().map(|i| ctx.status(i).unwrap()).collect();
                        (statuses, now)
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            let summary = ctx.run().await.unwrap();
            let mut waited = Vec::new();
            for w in waiters {
                waited.push(w.await.unwrap());
            }
            (summary, drain(&mut events), waited)
        });
        for i in 0..dag.n {
            let result = store.result(&summary.run_id, &id(&name(i))).unwrap().unwrap();
            prop_assert_eq!(result.status, expected[i], "flow f{}", i);
            let ran = runs[i].load(Ordering::SeqCst);
            match result.failure.map(|f| f.kind) {
                Some(FailureKind::Upstream { flow }) => {
                    prop_assert_eq!(ran, 0, "f{} ran behind a failed parent", i);
                    let root: usize = flow.as_str()[1..].parse().unwrap();
                    prop_assert!(dag.failing[root] && root < i);
                }
                Some(_) => prop_assert!(dag.failing[i] && ran == 1),
                None => prop_assert_eq!(ran, 1),
            }
        }
        check_events(&dag, &events)?;
        for (statuses, now) in waited {
            for ((flow, status), seen) in statuses.iter().zip(now) {
                let i: usize = flow.as_str()[1..].parse().unwrap();
                prop_assert_eq!(*status, expected[i]);
                prop_assert!(seen.is_finished());
            }
        }
    }

    /// Resuming after a partial run executes exactly the flows that did not complete, the
    /// changed ones and everything downstream of one of those; all the others are reused.
    #[test]
    fn resume_runs_exactly_the_unfinished_and_the_changed(
        dag in dag(),
        changed in proptest::collection::vec(proptest::bool::weighted(0.1), 60),
    ) {
        let rt = runtime();
        let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
        let runs = counters(dag.n);
        let first_ctx = dag.context(Arc::clone(&store), &dag.failing, &vec![0; dag.n], &runs);
        let first = rt.block_on(first_ctx.run()).unwrap();
        let completed = dag.expected(&dag.failing);

        let version: Vec<u32> = (0..dag.n).map(|i| u32::from(changed[i])).collect();
        // Not completed, changed, or below a flow that runs through any edge: a parent that
        // runs again may give its children something new (parents come first in the DAG).
        let mut must_run = vec![false; dag.n];
        for c in 0..dag.n {
            must_run[c] = completed[c] != FlowStatus::Completed
                || changed[c]
                || dag.parents(c).any(|(p, _)| must_run[p]);
        }
        let runs = counters(dag.n);
        let second_ctx = dag.context(Arc::clone(&store), &vec![false; dag.n], &version, &runs);
        let second = rt
            .block_on(second_ctx.run_with(RunOptions::new().resume_from(first.run_id.clone())))
            .unwrap();
        prop_assert!(second.is_success());
        for i in 0..dag.n {
            prop_assert_eq!(runs[i].load(Ordering::SeqCst), usize::from(must_run[i]), "flow f{}", i);
        }
        let reused = must_run.iter().filter(|r| !**r).count();
        prop_assert_eq!(second.reused as usize, reused);
    }
}

/// A flow of the DAG made to run: it sleeps `delay` ms, then fails or returns the number of
/// its parents that completed.
fn flow_of(dag: &Dag, i: usize) -> flow_core::FlowBuilder {
    let (fails, delay) = (dag.failing[i], dag.delays[i]);
    let mut flow = Flow::async_fn(id(&name(i)), move |input| async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if fails {
            Err(format!("flow {i} fails"))
        } else {
            Ok(json!(input.parents().len()))
        }
    });
    for (p, d) in dag.parents(i) {
        flow = flow.after(id(&name(p)), d);
    }
    flow
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    /// Flows that join a run in progress (the DAG's flows from `split` on, registered one by
    /// one while the first ones run) follow the same rules as the others: no flow starts
    /// before its parents finished, never more than `jobs` at once, and the final statuses
    /// equal the reference model. A flow whose required parent already failed is refused at
    /// registration (the model must call it failed), and then so is every flow naming it.
    #[test]
    fn flows_joining_a_run_follow_the_same_rules(
        dag in dag(),
        split in 0usize..60,
        pauses in proptest::collection::vec(0u64..3, 60),
    ) {
        let split = split % (dag.n + 1);
        let rt = runtime();
        let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
        let ctx = FlowContext::builder().jobs(dag.jobs).store(Arc::clone(&store)).build();
        for i in 0..split {
            ctx.register_flow(flow_of(&dag, i).build()).unwrap();
        }
        // The run lasts until every flow that joins it has been registered: flow `n` (no
        // edges) waits for that.
        let (joined, gate) = tokio::sync::oneshot::channel::<()>();
        let gate = std::sync::Mutex::new(Some(gate));
        let gate_flow = Flow::async_fn(id(&name(dag.n)), move |_| {
            let gate = gate.lock().unwrap().take();
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                }
                Ok::<_, String>(Value::Null)
            }
        });
        ctx.register_flow(gate_flow.build()).unwrap();
        let expected = dag.expected(&dag.failing);
        let (summary, events, present) = rt.block_on(async {
            let mut events = ctx.subscribe();
            let runner = ctx.clone();
            let run = tokio::spawn(async move { runner.run().await });
            let mut present = vec![true; dag.n + 1];
            for i in split..dag.n {
                tokio::time::sleep(Duration::from_millis(pauses[i])).await;
                match ctx.register_flow(flow_of(&dag, i).build()) {
                    Ok(()) => {}
                    Err(flow_core::CoreError::ParentEnded { .. } | flow_core::CoreError::UnknownFlow(_)) => {
                        present[i] = false;
                    }
                    Err(other) => panic!("f{i}: {other}"),
                }
            }
            joined.send(()).unwrap();
            let summary = run.await.unwrap().unwrap();
            (summary, drain(&mut events), present)
        });
        let mut full = dag.clone();
        full.n += 1;
        full.failing.push(false);
        check_events_of(&full, &events, &present)?;
        for i in 0..dag.n {
            let result = store.result(&summary.run_id, &id(&name(i))).unwrap();
            match result {
                Some(result) => prop_assert_eq!(result.status, expected[i], "flow f{}", i),
                None => {
                    // Refused: a required parent had failed, or a parent was refused itself.
                    prop_assert!(!present[i], "f{} joined but has no result", i);
                    let parent_refused = dag.parents(i).any(|(p, _)| !present[p]);
                    prop_assert!(
                        expected[i] == FlowStatus::Failed || parent_refused,
                        "f{} was refused", i
                    );
                }
            }
        }
        let joined_flows = present.iter().filter(|p| **p).count();
        prop_assert_eq!(summary.counts.total(), joined_flows as u64);
    }
}

/// The output of a flow is handed to its children even when it was reused.
#[test]
fn outputs_flow_through_a_reused_run() {
    let rt = runtime();
    let store: Arc<dyn ResultStore> = Arc::new(MemoryStore::new());
    let make = || {
        let ctx = FlowContext::builder().store(Arc::clone(&store)).build();
        ctx.register_flow(common::ok("a", json!({"n": 7})).build())
            .unwrap();
        ctx.register_flow(
            Flow::async_fn(id("b"), |input| async move {
                Ok::<_, String>(input.parent("a").cloned().unwrap_or(Value::Null))
            })
            .requires(id("a"))
            .version("2")
            .build(),
        )
        .unwrap();
        ctx
    };
    let first = rt.block_on(make().run()).unwrap();
    let ctx = make();
    let second = rt
        .block_on(ctx.run_with(RunOptions::new().resume_from(first.run_id)))
        .unwrap();
    assert_eq!(second.reused, 2);
    let b = store.result(&second.run_id, &id("b")).unwrap().unwrap();
    assert_eq!(b.output, json!({"n": 7}));
}
