//! The registry of a context (flows, graph, pre-run failures, the active run) and the board
//! (each flow's status, published by the scheduler for `wait_for_flows` and `status`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use flow_graph::{DependencyType, FlowGraph, FlowId, IndexedGraph};
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
///
/// The [`FlowGraph`] is built lazily: flows are added to it only when a dependency, a cycle
/// question or a copy of the graph needs it, so that a context of many independent flows
/// never pays for it. Until then `flows` and `index` are the registry.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    graph: FlowGraph,
    /// `flows[..in_graph]` are in `graph`.
    in_graph: usize,
    /// Copy-on-write, so a run takes a snapshot for the price of a reference count.
    pub(crate) flows: Arc<Vec<Flow>>,
    index: HashMap<FlowId, u32, BuildHasherDefault<IdHasher>>,
    /// Flows failed with `fail_flow` outside a run: the next run records them failed.
    pub(crate) pre_failed: Vec<(u32, String)>,
    pub(crate) active: Option<ActiveRun>,
}

impl Registry {
    /// The index of flow `id`.
    pub(crate) fn find(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The index of flow `id`, or an error naming it.
    pub(crate) fn idx(&self, id: &str) -> Result<u32, CoreError> {
        self.find(id)
            .ok_or_else(|| CoreError::UnknownFlow(id.chars().take(200).collect()))
    }

    /// The graph with every registered flow in it.
    pub(crate) fn graph(&mut self) -> &mut FlowGraph {
        if self.in_graph < self.flows.len() {
            if self.graph.is_empty() {
                self.graph = FlowGraph::with_capacity(self.flows.len(), 0);
            }
            for flow in &self.flows[self.in_graph..] {
                // Ids are unique (checked by `add`), so this cannot fail.
                let _ = self.graph.add_flow(flow.id.clone());
            }
            self.in_graph = self.flows.len();
        }
        &mut self.graph
    }

    /// The graph in the scheduler's form.
    pub(crate) fn indexed(&mut self) -> IndexedGraph {
        if self.graph.dependency_count() == 0 {
            let ids = self.flows.iter().map(|f| f.id.clone()).collect();
            return IndexedGraph::from_edges(ids, std::iter::empty());
        }
        self.graph().indexed()
    }

    /// Resolves a new flow's declared parents; refuses a duplicate id, an unknown parent or
    /// the flow itself.
    pub(crate) fn check_new(&self, flow: &Flow) -> Result<Vec<(u32, DependencyType)>, CoreError> {
        if flow.dependencies.is_empty() {
            // The duplicate check is left to `add`, which hashes the id once for both.
            return Ok(Vec::new());
        }
        if self.index.contains_key(&flow.id) {
            return Err(CoreError::DuplicateFlow(flow.id.clone()));
        }
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

    /// Adds a flow that passed [`check_new`](Self::check_new), unless its id is taken (then
    /// nothing changes). Its dependencies all point from existing flows to a flow without
    /// children, so they cannot close a cycle.
    pub(crate) fn add(&mut self, flow: Flow) -> Result<u32, CoreError> {
        let idx = u32::try_from(self.flows.len()).map_err(|_| {
            CoreError::Graph(flow_graph::GraphError::UnknownFlow(
                "more than 4 billion flows".into(),
            ))
        })?;
        match self.index.entry(flow.id.clone()) {
            Entry::Occupied(_) => return Err(CoreError::DuplicateFlow(flow.id)),
            Entry::Vacant(slot) => {
                slot.insert(idx);
            }
        }
        let has_dependencies = !flow.dependencies.is_empty();
        Arc::make_mut(&mut self.flows).push(flow);
        if has_dependencies {
            let flows = Arc::clone(&self.flows);
            let flow = &flows[idx as usize];
            let deps = flow
                .dependencies
                .iter()
                .map(|(p, d)| (p.as_str(), flow.id.as_str(), *d));
            self.graph().add_dependencies(deps)?;
        }
        Ok(idx)
    }

    pub(crate) fn reserve(&mut self, flows: usize) {
        self.index.reserve(flows);
        Arc::make_mut(&mut self.flows).reserve(flows);
    }

    pub(crate) fn clear(&mut self) {
        self.graph = FlowGraph::new();
        self.in_graph = 0;
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
