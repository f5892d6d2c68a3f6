//! The registry of a context (flows, graph, pre-run failures, the active run) and the board
//! (each flow's status, published by the scheduler for `wait_for_flows` and `status`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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
        flow: Box<Flow>,
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
    pub(crate) flows: Arc<Vec<Flow>>,
    /// Id → index of `flows[..indexed]`, brought up to date on the first lookup after
    /// registrations, so that registering many flows pays for no lookup.
    index: HashMap<FlowId, u32, BuildHasherDefault<IdHasher>>,
    indexed: usize,
    /// Flows failed with `fail_flow` outside a run: the next run records them failed.
    pub(crate) pre_failed: Vec<(u32, String)>,
    pub(crate) active: Option<ActiveRun>,
}

impl Registry {
    /// The index of flow `id`.
    pub(crate) fn find(&mut self, id: &str) -> Option<u32> {
        if self.indexed < self.flows.len() {
            self.index.reserve(self.flows.len() - self.indexed);
            for (i, flow) in self.flows.iter().enumerate().skip(self.indexed) {
                self.index.insert(flow.id.clone(), i as u32);
            }
            self.indexed = self.flows.len();
        }
        self.index.get(id).copied()
    }

    /// The index of flow `id`, or an error naming it.
    pub(crate) fn idx(&mut self, id: &str) -> Result<u32, CoreError> {
        self.find(id)
            .ok_or_else(|| CoreError::UnknownFlow(id.chars().take(200).collect()))
    }

    /// Resolves a new flow's declared parents; refuses an unknown parent or the flow itself.
    /// (A duplicate id is refused by the graph when the flow is added.)
    pub(crate) fn check_new(
        &mut self,
        flow: &Flow,
    ) -> Result<Vec<(u32, DependencyType)>, CoreError> {
        if flow.dependencies.is_empty() {
            return Ok(Vec::new());
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
    pub(crate) fn add(&mut self, flow: Flow) -> Result<u32, CoreError> {
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
        Arc::make_mut(&mut self.flows).push(flow);
        Ok(idx)
    }

    pub(crate) fn reserve(&mut self, flows: usize) {
        if self.graph.is_empty() {
            self.graph = FlowGraph::with_capacity(flows, 0);
        }
        Arc::make_mut(&mut self.flows).reserve(flows);
    }

    pub(crate) fn clear(&mut self) {
        self.graph = FlowGraph::new();
        self.flows = Arc::default();
        self.index.clear();
        self.indexed = 0;
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

/// A fast, non-keyed hasher for the id index (FxHash's multiply-rotate over 8-byte words).
/// Flow ids are chosen by the workflow's author, not by an attacker, so flooding resistance
/// is not needed; the default SipHash costs more than the rest of a registration.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn id_hasher_spreads_similar_ids() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let hashes: std::collections::HashSet<u64> = (0..10_000)
            .map(|i| build.hash_one(format!("n{i}")))
            .collect();
        assert_eq!(hashes.len(), 10_000);
    }
}
