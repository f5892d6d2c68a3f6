//! The registry of a context (flows, graph, pre-run failures, the active run) and the board
//! (each flow's status, published by the scheduler for `wait_for_flows` and `status`).

use std::collections::HashMap;
use std::sync::Arc;

use flow_graph::{DependencyType, FlowGraph, FlowId};
use flow_results::{FlowStatus, RunId};
use tokio::sync::{mpsc, oneshot};

use crate::{CoreError, Flow};

/// A request to the scheduler of the active run.
#[derive(Debug)]
pub(crate) enum Command {
    /// A flow registered during the run, with its parents by index.
    Register {
        idx: u32,
        flow: Arc<Flow>,
        parents: Vec<(u32, DependencyType)>,
    },
    /// Cancel one flow.
    Cancel(u32),
    /// Cancel the whole run.
    CancelAll,
    /// Fail one flow with a reason.
    Fail {
        idx: u32,
        reason: String,
        reply: oneshot::Sender<Result<(), CoreError>>,
    },
}

/// The run in progress.
#[derive(Debug)]
pub(crate) struct ActiveRun {
    pub(crate) run_id: RunId,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
}

/// Flows and dependencies of a context.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) graph: FlowGraph,
    /// Copy-on-write, so a run takes a snapshot for the price of a reference count.
    pub(crate) flows: Arc<Vec<Arc<Flow>>>,
    pub(crate) index: HashMap<FlowId, u32>,
    /// Flows failed with `fail_flow` outside a run: the next run records them failed.
    pub(crate) pre_failed: Vec<(u32, String)>,
    pub(crate) active: Option<ActiveRun>,
}

impl Registry {
    pub(crate) fn idx(&self, id: &str) -> Result<u32, CoreError> {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| CoreError::UnknownFlow(id.chars().take(200).collect()))
    }

    /// Resolves a new flow's declared parents; refuses a duplicate id or an unknown parent.
    pub(crate) fn check_new(&self, flow: &Flow) -> Result<Vec<(u32, DependencyType)>, CoreError> {
        if self.index.contains_key(&flow.id) {
            return Err(CoreError::DuplicateFlow(flow.id.clone()));
        }
        let mut parents = Vec::with_capacity(flow.dependencies.len());
        for (parent, dependency) in &flow.dependencies {
            if *parent == flow.id {
                return Err(CoreError::Graph(flow_graph::GraphError::Cycle(
                    flow_graph::CycleError {
                        path: vec![flow.id.clone(), flow.id.clone()],
                    },
                )));
            }
            parents.push((self.idx(parent.as_str())?, *dependency));
        }
        Ok(parents)
    }

    /// Adds a checked flow. Its dependencies all point from existing flows to a flow without
    /// children, so they cannot close a cycle.
    pub(crate) fn add(&mut self, flow: Arc<Flow>) -> Result<u32, CoreError> {
        let idx = u32::try_from(self.flows.len()).map_err(|_| {
            CoreError::Graph(flow_graph::GraphError::UnknownFlow(
                "more than 4 billion flows".into(),
            ))
        })?;
        self.graph.add_flow(flow.id.clone())?;
        if !flow.dependencies.is_empty() {
            let deps = flow
                .dependencies
                .iter()
                .map(|(p, d)| (p.as_str(), flow.id.as_str(), *d));
            self.graph.add_dependencies(deps)?;
        }
        self.index.insert(flow.id.clone(), idx);
        Arc::make_mut(&mut self.flows).push(flow);
        Ok(idx)
    }

    pub(crate) fn clear(&mut self) {
        self.graph = FlowGraph::new();
        self.flows = Arc::default();
        self.index.clear();
        self.pre_failed.clear();
    }
}

/// Each flow's status, by index, as last published.
#[derive(Debug, Default)]
pub(crate) struct Board {
    /// The run whose scheduler may publish here.
    pub(crate) run: Option<RunId>,
    pub(crate) states: Vec<FlowStatus>,
}
