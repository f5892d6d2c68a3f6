//! The dry run: for every flow, in dependency order, whether a run would start it and why,
//! by the same rule a run applies ([`super::check`]). A parent that would run makes its
//! children run too in the plan (what it will write is not known before it runs; the run
//! itself may then find them up to date, when the parent writes the same bytes again). A
//! parent that declares no outputs is the exception: the run checks its children once it has
//! run, so the plan calls them up to date as their files are now, and names that parent
//! ([`PlannedFlow::checked_after`]): what it writes may change them.

use flow_graph::{Adjacency, FlowId};
use flow_results::RunId;

use rayon::prelude::*;

use super::check::{
    gives_a_value, judge, observe, Checked, Known, Observed, Reason, Verdict, COMPLETED,
    NOT_COMPLETED,
};
use crate::flow::Flow;

/// One flow of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedFlow {
    /// The flow.
    pub flow: FlowId,
    /// Why it would run; `None` when it is up to date.
    pub run: Option<Reason>,
    /// For a flow that is up to date, the run that produced its outputs.
    pub produced_by: Option<RunId>,
    /// For a flow that is up to date now: a flow that would run before it (a parent, or a
    /// parent's) and declares no outputs. The run checks this flow again once that one has
    /// run, and what it wrote may make this flow run.
    pub checked_after: Option<FlowId>,
}

/// What a run would do: each flow, in registration order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Every flow.
    pub flows: Vec<PlannedFlow>,
}

impl Plan {
    /// The flows that would run.
    pub fn to_run(&self) -> impl Iterator<Item = &PlannedFlow> {
        self.flows.iter().filter(|f| f.run.is_some())
    }

    /// How many flows are up to date (some of them, perhaps, only until a flow they are
    /// [checked after](PlannedFlow::checked_after) has run).
    pub fn up_to_date(&self) -> usize {
        self.flows.iter().filter(|f| f.run.is_none()).count()
    }
}

/// The plan of `flows` (linked by `graph`) against `known`. Blocks (reads files).
pub(crate) fn plan(flows: &[Flow], graph: &Adjacency, known: &Known) -> Plan {
    let planned = (flows.iter().zip(decide_all(flows, graph, known, false)))
        .map(|(flow, checked)| {
            let (run, produced_by) = match checked.verdict {
                Verdict::UpToDate { run_id } => (None, Some(run_id)),
                Verdict::Run(reason) => (Some(reason), None),
            };
            PlannedFlow {
                flow: flow.id.clone(),
                run,
                produced_by,
                checked_after: None,
            }
        })
        .collect();
    let mut plan = Plan { flows: planned };
    mark_checked_after(&mut plan, flows, graph);
    plan
}

/// Sets [`PlannedFlow::checked_after`] of every flow of `plan` (of `flows`, linked by
/// `graph`): for one that is up to date, the first of its parents that would run and declares
/// no outputs, else the flow the first of its parents checked after one is checked after (a
/// parent of its own is named before one of a parent's: it is nearer to what changes).
pub(crate) fn mark_checked_after(plan: &mut Plan, flows: &[Flow], graph: &Adjacency) {
    for i in parents_first(graph) {
        let after = match plan.flows[i as usize].run {
            Some(_) => None,
            None => {
                let parents = graph.parents(i).iter().map(|link| link.flow() as usize);
                let own = parents.clone().find(|&p| {
                    let declares = (flows[p].data()).is_some_and(|d| !d.output_paths().is_empty());
                    plan.flows[p].run.is_some() && !declares
                });
                match own {
                    Some(p) => Some(flows[p].id.clone()),
                    None => parents
                        .filter(|&p| plan.flows[p].run.is_none())
                        .find_map(|p| plan.flows[p].checked_after.clone()),
                }
            }
        };
        plan.flows[i as usize].checked_after = after;
    }
}

/// Every flow, each after its parents (the graph has no cycle).
pub(crate) fn parents_first(graph: &Adjacency) -> Vec<u32> {
    let n = graph.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut stack = Vec::new();
    for root in 0..n as u32 {
        stack.push(root);
        while let Some(&i) = stack.last() {
            if placed[i as usize] {
                stack.pop();
                continue;
            }
            let before = stack.len();
            for link in graph.parents(i) {
                if !placed[link.flow() as usize] {
                    stack.push(link.flow());
                }
            }
            if stack.len() == before {
                placed[i as usize] = true;
                order.push(i);
                stack.pop();
            }
        }
    }
    order
}

/// Each flow's check, in dependency order: the files of every flow are read first, in
/// parallel (they do not depend on the parents); then each flow is judged once its parents
/// are, a parent with declared outputs that would run making it run. A parent without
/// outputs runs every time: the dry run assumes that a command completes (what it gives its
/// children is that it did), and makes the children of any other flow run (what it returns
/// is not known before it runs); a run (`defer`) leaves its children to be checked once it
/// finished (`ParentWillRun`), when its outcome is known.
pub(crate) fn decide_all(
    flows: &[Flow],
    graph: &Adjacency,
    known: &Known,
    defer: bool,
) -> Vec<Checked> {
    let n = flows.len();
    let mut observed: Vec<Option<Observed>> = flows
        .par_iter()
        .map(|flow| observe(flow, flow.data()?, known))
        .collect();
    let mut checked: Vec<Option<Checked>> = Vec::with_capacity(n);
    checked.resize_with(n, || None);
    // Each decided flow's token for its children: its outputs' digest; `completed` (assumed)
    // for a flow without outputs.
    let mut tokens: Vec<Option<String>> = vec![None; n];
    // Whether each decided flow will not complete: the dry run is told which fail before they
    // start (`Freshness::failing`), and a flow that requires one of those is not started.
    let mut fails = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    for root in 0..n as u32 {
        stack.push(root);
        while let Some(&i) = stack.last() {
            if checked[i as usize].is_some() {
                stack.pop();
                continue;
            }
            let before = stack.len();
            for link in graph.parents(i) {
                if checked[link.flow() as usize].is_none() {
                    stack.push(link.flow());
                }
            }
            if stack.len() > before {
                continue;
            }
            stack.pop();
            let own = observed[i as usize].take();
            let walk = Walk {
                flows,
                graph,
                known,
                defer,
            };
            fails[i as usize] = !defer
                && (known.freshness.failing.contains(&flows[i as usize].id)
                    || (graph.parents(i).iter())
                        .any(|link| link.is_required() && fails[link.flow() as usize]));
            let decided = walk.decide(i, &checked, &tokens, &fails, own);
            tokens[i as usize] = match (&decided.verdict, &decided.entry) {
                (Verdict::UpToDate { .. }, Some(entry)) => Some(entry.outputs.clone()),
                _ => None,
            };
            checked[i as usize] = Some(decided);
        }
    }
    checked.into_iter().flatten().collect()
}

/// What every decision of one plan shares.
struct Walk<'a> {
    flows: &'a [Flow],
    graph: &'a Adjacency,
    known: &'a Known,
    defer: bool,
}

impl Walk<'_> {
    /// Flow `i`, whose parents are decided (`checked`, `tokens`, and whether they will not
    /// complete, `fails`), with its files `observed`.
    fn decide(
        &self,
        i: u32,
        checked: &[Option<Checked>],
        tokens: &[Option<String>],
        fails: &[bool],
        observed: Option<Observed>,
    ) -> Checked {
        let Walk {
            flows,
            graph,
            known,
            defer,
        } = *self;
        let flow = &flows[i as usize];
        let run = Checked::run;
        if known.freshness.forced(&flow.id) {
            return run(Reason::Forced);
        }
        let mut parents = Vec::new();
        for link in graph.parents(i) {
            let p = link.flow() as usize;
            if fails[p] {
                parents.push((flows[p].id.to_string(), NOT_COMPLETED.to_owned()));
                continue;
            }
            let runs = matches!(&checked[p], Some(c) if matches!(c.verdict, Verdict::Run(_)));
            let declares = flows[p]
                .data()
                .is_some_and(|d| !d.output_paths().is_empty());
            // What a parent will write, or return, is known once it ran; and so is whether
            // one that did not complete when this flow last ran completes now (if it fails
            // again, this flow is up to date).
            let failed_last = || {
                (known.entries.get(flow.id.as_str())).is_some_and(|entry| {
                    (entry.parents.iter())
                        .any(|(id, token)| id == flows[p].id.as_str() && token == NOT_COMPLETED)
                })
            };
            if runs && !declares && !defer && failed_last() {
                let parent = flows[p].id.clone();
                return run(Reason::ParentMayComplete { parent });
            }
            if runs && (declares || defer || gives_a_value(&flows[p])) {
                let parent = flows[p].id.clone();
                return run(Reason::ParentWillRun { parent });
            }
            let token = tokens[p].clone().unwrap_or_else(|| COMPLETED.to_owned());
            parents.push((flows[p].id.to_string(), token));
        }
        parents.sort_unstable();
        let Some(data) = flow.data() else {
            return run(Reason::NoOutputs);
        };
        judge(flow, data, &parents, known, observed)
    }
}

impl crate::FlowContext {
    /// What [`run_with`](crate::FlowContext::run_with) with
    /// [`skip_up_to_date(freshness)`](crate::RunOptions::skip_up_to_date) would do now: each
    /// registered flow, up to date (with the run that produced its outputs) or to run (with
    /// why). Runs and records nothing.
    ///
    /// Blocks while it reads the ledger and the files whose stats changed: call it from a
    /// blocking thread (`tokio::task::spawn_blocking`) or outside async code.
    ///
    /// A flow the ledger has no record of, but which the latest run of the workflow in the
    /// context's store ran without completing it, is to run because it "did not complete in
    /// run R" ([`Reason::NotCompletedIn`]; [`Reason::NotStartedIn`] when it never started
    /// there), not because it "never completed".
    ///
    /// # Errors
    /// [`CoreError::Ledger`](crate::CoreError::Ledger) when the ledger cannot be read.
    pub fn plan(&self, freshness: super::Freshness) -> Result<Plan, crate::CoreError> {
        let (flows, graph) = {
            let registry = self.shared.registry();
            (std::sync::Arc::clone(&registry.flows), registry.adjacency())
        };
        let known = Known::load(freshness)?;
        let mut plan = plan(&flows, &graph, &known);
        self.name_unfinished(&mut plan);
        Ok(plan)
    }

    /// Gives the flows of `plan` that "never completed" but were run, without completing, by
    /// the workflow's latest run in the store, that run as their reason. A store that cannot
    /// be read changes nothing.
    fn name_unfinished(&self, plan: &mut Plan) {
        let never = |p: &&mut PlannedFlow| matches!(p.run, Some(Reason::NeverCompleted));
        if !plan.flows.iter_mut().any(|p| never(&p)) {
            return;
        }
        let store = &self.shared.options.store;
        let Ok(Some(latest)) = store.latest_run(self.workflow()) else {
            return;
        };
        let Ok(results) = store.results(&latest.run_id) else {
            return;
        };
        // Whether each flow the run did not complete started there.
        let unfinished: rustc_hash::FxHashMap<&str, bool> = (results.iter())
            .filter(|r| r.status != flow_results::FlowStatus::Completed)
            .map(|r| (r.flow_id.as_str(), r.attempts > 0))
            .collect();
        for planned in plan.flows.iter_mut().filter(never) {
            let run = latest.run_id.clone();
            match unfinished.get(planned.flow.as_str()) {
                Some(true) => planned.run = Some(Reason::NotCompletedIn { run }),
                Some(false) => planned.run = Some(Reason::NotStartedIn { run }),
                None => {}
            }
        }
    }
}
