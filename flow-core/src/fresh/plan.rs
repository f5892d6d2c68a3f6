//! The dry run: for every flow, in dependency order, whether a run would start it and why,
//! by the same rule a run applies ([`super::check`]). A parent that would run makes its
//! children run too in the plan (what it will write is not known before it runs; the run
//! itself may then find them up to date, when the parent writes the same bytes again).

use flow_graph::{Adjacency, FlowId};
use flow_results::RunId;

use super::check::{check, Known, Reason, Verdict, COMPLETED};
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

    /// How many flows are up to date.
    pub fn up_to_date(&self) -> usize {
        self.flows.iter().filter(|f| f.run.is_none()).count()
    }
}

/// The plan of `flows` (linked by `graph`) against `known`. Blocks (reads files).
pub(crate) fn plan(flows: &[Flow], graph: &Adjacency, known: &Known) -> Plan {
    let n = flows.len();
    // Each flow's token for its children when decided: its outputs' digest, `completed` for
    // a flow without outputs (assumed to complete), `None` while undecided or when it runs.
    let mut verdicts: Vec<Option<Verdict>> = vec![None; n];
    let mut tokens: Vec<Option<String>> = vec![None; n];
    let mut stack: Vec<u32> = Vec::new();
    for root in 0..n as u32 {
        stack.push(root);
        while let Some(&i) = stack.last() {
            if verdicts[i as usize].is_some() {
                stack.pop();
                continue;
            }
            let before = stack.len();
            for link in graph.parents(i) {
                if verdicts[link.flow() as usize].is_none() {
                    stack.push(link.flow());
                }
            }
            if stack.len() > before {
                continue;
            }
            stack.pop();
            let flow = &flows[i as usize];
            let (verdict, token) = decide(flow, graph, i, flows, &verdicts, &tokens, known);
            verdicts[i as usize] = Some(verdict);
            tokens[i as usize] = token;
        }
    }
    let flows = (flows.iter().zip(verdicts))
        .map(|(flow, verdict)| {
            let (run, produced_by) = match verdict {
                Some(Verdict::UpToDate { run_id }) => (None, Some(run_id)),
                Some(Verdict::Run(reason)) => (Some(reason), None),
                None => (Some(Reason::NeverCompleted), None),
            };
            PlannedFlow {
                flow: flow.id.clone(),
                run,
                produced_by,
            }
        })
        .collect();
    Plan { flows }
}

fn decide(
    flow: &Flow,
    graph: &Adjacency,
    i: u32,
    flows: &[Flow],
    verdicts: &[Option<Verdict>],
    tokens: &[Option<String>],
    known: &Known,
) -> (Verdict, Option<String>) {
    if known.freshness.forced(&flow.id) {
        return (Verdict::Run(Reason::Forced), None);
    }
    let mut parents = Vec::new();
    for link in graph.parents(i) {
        let p = link.flow() as usize;
        let runs = matches!(verdicts[p], Some(Verdict::Run(_)));
        let declares = flows[p]
            .data()
            .is_some_and(|d| !d.output_paths().is_empty());
        if runs && declares {
            let parent = flows[p].id.clone();
            return (Verdict::Run(Reason::ParentWillRun { parent }), None);
        }
        let token = tokens[p].clone().unwrap_or_else(|| COMPLETED.to_owned());
        parents.push((flows[p].id.to_string(), token));
    }
    parents.sort_unstable();
    let Some(data) = flow.data() else {
        return (Verdict::Run(Reason::NoOutputs), None);
    };
    let checked = check(flow, data, &parents, known);
    let token = match (&checked.verdict, &checked.entry) {
        (Verdict::UpToDate { .. }, Some(entry)) => Some(entry.outputs.clone()),
        _ => None,
    };
    (checked.verdict, token)
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
    /// # Errors
    /// [`CoreError::Ledger`](crate::CoreError::Ledger) when the ledger cannot be read.
    pub fn plan(&self, freshness: super::Freshness) -> Result<Plan, crate::CoreError> {
        let (flows, graph) = {
            let registry = self.shared.registry();
            (std::sync::Arc::clone(&registry.flows), registry.adjacency())
        };
        let known = Known::load(freshness)?;
        Ok(plan(&flows, &graph, &known))
    }
}
