//! What a resumed run reuses: the completed results of the run it resumes from; and the dry
//! run of a resumed run, which reuses the same ones.

use std::collections::HashMap;
use std::sync::Arc;

use flow_graph::{Adjacency, FlowId};
use flow_results::{FlowStatus, ResultStore, RunId, StoreError};
use serde_json::Value;

use crate::fingerprint::fill_fingerprints;
use crate::flow::Flow;
use crate::fresh::{mark_checked_after, parents_first, Freshness, Plan, Reason};
use crate::CoreError;

/// What a run resuming from a run may reuse: flow id → (fingerprint, output).
type Reusable = HashMap<FlowId, (u128, Value)>;

/// Reads the completed results of `from`, a run of `workflow`: flow id → (fingerprint, output).
pub(super) async fn load(
    store: Arc<dyn ResultStore>,
    workflow: &str,
    from: RunId,
) -> Result<Reusable, CoreError> {
    let task_from = from.clone();
    let task_store = Arc::clone(&store);
    let loaded = tokio::task::spawn_blocking(move || read(&*task_store, &task_from))
        .await
        .map_err(|e| CoreError::Thread {
            action: "read the results of the run to resume from (the reading thread failed)",
            source: std::io::Error::other(e.to_string()),
        })?;
    reusable(loaded, &*store, workflow, from)
}

/// The workflow of run `from` and its results, `None` when the store has no such run (blocks).
fn read(
    store: &dyn ResultStore,
    from: &RunId,
) -> Result<Option<(String, Vec<flow_results::FlowResult>)>, StoreError> {
    let Some(run) = store.run(from)? else {
        return Ok(None);
    };
    Ok(Some((run.workflow, store.results(from)?)))
}

/// The completed results among `loaded`, each with its fingerprint; refused when `from` is a
/// run of another workflow than `workflow`: its flows are other flows, even where ids match.
fn reusable(
    loaded: Result<Option<(String, Vec<flow_results::FlowResult>)>, StoreError>,
    store: &dyn ResultStore,
    workflow: &str,
    from: RunId,
) -> Result<Reusable, CoreError> {
    let results = match loaded {
        Ok(Some((of, _))) if of != workflow => {
            return Err(CoreError::OtherWorkflow {
                run: from,
                workflow: workflow.to_owned(),
                other: of,
            })
        }
        Ok(Some((_, results))) => results,
        Ok(None) => return Err(CoreError::UnknownRun(from)),
        Err(source) => {
            return Err(CoreError::Store {
                action: format!("read the results of run `{from}` from `{}`", store.spec()),
                source: Box::new(source),
            })
        }
    };
    Ok(results
        .into_iter()
        .filter(|r| r.status == FlowStatus::Completed)
        .filter_map(|r| {
            let fingerprint = r.fingerprint.as_ref()?.as_u128()?;
            Some((r.flow_id, (fingerprint, r.output)))
        })
        .collect())
}

/// Every flow's fingerprint, parents first whatever the registration order.
fn fingerprints(flows: &[Flow], graph: &Adjacency) -> Vec<u128> {
    let mut fingerprints = vec![0; flows.len()];
    let mut stack = Vec::new();
    for flow in 0..flows.len() as u32 {
        fill_fingerprints(
            flow,
            |n| &flows[n as usize],
            |n| graph.parents(n),
            &mut fingerprints,
            &mut stack,
        );
    }
    fingerprints
}

impl crate::FlowContext {
    /// What [`run_with`](crate::FlowContext::run_with) with
    /// [`resume_from(from)`](crate::RunOptions::resume_from) and
    /// [`skip_up_to_date(freshness)`](crate::RunOptions::skip_up_to_date) would do now: the
    /// [`plan`](crate::FlowContext::plan), where a flow that declares no outputs and is not
    /// forced is reused (up to date, produced by `from`) when `from` completed it with the
    /// same fingerprint and none of its parents would run; else it would run after them
    /// ([`Reason::ParentMayComplete`] when that depends on how a parent that did not complete
    /// in `from` ends now). Reads the context's store; runs and records nothing.
    ///
    /// Blocks while it reads the store, the ledger and the files: call it from a blocking
    /// thread (`tokio::task::spawn_blocking`) or outside async code.
    ///
    /// # Errors
    /// [`CoreError::UnknownRun`] when the store has no run `from`;
    /// [`CoreError::OtherWorkflow`] when `from` is a run of another workflow;
    /// [`CoreError::Store`] when it cannot be read; [`CoreError::Ledger`] when the ledger
    /// cannot be read.
    pub fn plan_resumed(&self, freshness: Freshness, from: &RunId) -> Result<Plan, CoreError> {
        let store = Arc::clone(&self.shared.options.store);
        let workflow = &self.shared.options.workflow;
        let loaded = read(&*store, from);
        // The flows that started in `from` (an attempt ran), whatever their end.
        let started: std::collections::HashSet<FlowId> = match &loaded {
            Ok(Some((_, results))) => (results.iter())
                .filter(|r| r.attempts > 0)
                .map(|r| r.flow_id.clone())
                .collect(),
            _ => std::collections::HashSet::new(),
        };
        let reuse = reusable(loaded, &*store, workflow, from.clone())?;
        let (flows, graph) = {
            let registry = self.shared.registry();
            (Arc::clone(&registry.flows), registry.adjacency())
        };
        let mut plan = self.plan(freshness.clone())?;
        let fingerprints = fingerprints(&flows, &graph);
        // Parents first: a flow is reused only when none of its parents runs, as in the run.
        for i in parents_first(&graph) {
            let flow = &flows[i as usize];
            let same =
                matches!(reuse.get(&flow.id), Some((old, _)) if *old == fingerprints[i as usize]);
            let runs = |link: &&flow_graph::Link| plan.flows[link.flow() as usize].run.is_some();
            let id = |link: &flow_graph::Link| flows[link.flow() as usize].id.clone();
            if freshness.judges(flow) {
                continue;
            }
            if !same {
                // It runs, as the plan says; the reason the plan gives a flow without outputs
                // ("runs every time") is not the resume's.
                let reason = match (reuse.get(&flow.id), graph.parents(i).iter().find(runs)) {
                    (None, _) if started.contains(&flow.id) => {
                        Reason::NotCompletedIn { run: from.clone() }
                    }
                    (None, _) => Reason::NotStartedIn { run: from.clone() },
                    (Some(_), Some(link)) => Reason::ParentWillRun { parent: id(link) },
                    (Some(_), None) => Reason::ChangedSince { run: from.clone() },
                };
                let planned = &mut plan.flows[i as usize];
                if matches!(planned.run, Some(Reason::NoOutputs)) {
                    planned.run = Some(reason);
                }
                continue;
            }
            // A parent that runs and completed in the resumed run gives it something else
            // whatever its end; one that did not complete there does only if it completes now.
            let completed_there =
                |link: &&flow_graph::Link| reuse.contains_key(&flows[link.flow() as usize].id);
            let parents = graph.parents(i);
            let surely = parents.iter().filter(runs).find(completed_there);
            let maybe = parents.iter().find(runs);
            let planned = &mut plan.flows[i as usize];
            match (surely, maybe) {
                (Some(link), _) => planned.run = Some(Reason::ParentWillRun { parent: id(link) }),
                (None, Some(link)) => {
                    planned.run = Some(Reason::ParentMayComplete { parent: id(link) });
                }
                (None, None) => {
                    planned.run = None;
                    planned.produced_by = Some(from.clone());
                }
            }
        }
        // Which flows now run decides which up-to-date flows are checked again after one.
        mark_checked_after(&mut plan, &flows, &graph);
        Ok(plan)
    }
}
