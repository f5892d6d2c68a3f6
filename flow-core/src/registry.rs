//! The registry of a context: its flows, found by id, and their dependencies, with the graph
//! rules (unknown flows, cycles) decided by flow-graph's `FlowGraph`; plus the flows failed
//! before a run and the handle of the run in progress.

use std::sync::Arc;

use flow_graph::{Adjacency, DependencyType, FlowGraph, FlowId};
use flow_results::{FlowStatus, RunId};

use crate::id_index::IdIndex;
use crate::request::ActiveRun;
use crate::shared::Shared;
use crate::{CoreError, Flow};

/// Flows and dependencies of a context.
///
/// Dependencies are kept as a flat list of index pairs, which is all a run needs. The
/// [`FlowGraph`] is the one judge of a dependency that could close a cycle: it is made from the
/// pairs when first needed, and kept in step from then on. While every dependency goes from a
/// flow to one registered after it, registration order is a topological order and no new
/// forward dependency can close a cycle: those are accepted without a check (the fast path of
/// building a large graph), and a context that only registers and runs never makes the graph.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Copy-on-write, so a run takes a snapshot for the price of a reference count.
    pub(crate) flows: Arc<Vec<Flow>>,
    index: IdIndex,
    /// Every dependency in the order given; for a repeated pair the last type wins (the run's
    /// `Adjacency` keeps it once).
    edges: Vec<(u32, u32, DependencyType)>,
    /// Some dependency goes from a flow to one registered before it.
    backward: bool,
    /// The graph, once needed.
    graph: Option<FlowGraph>,
    /// The graph refused some of `edges` when it was made from them: the registry holds a
    /// cycle (which it must never accept).
    cyclic: bool,
    /// Flows failed with `fail_flow` outside a run: the next run records them failed.
    pub(crate) pre_failed: Vec<(u32, String)>,
    /// The run in progress, while it takes requests (new flows, cancels).
    pub(crate) active: Option<ActiveRun>,
    /// A run that takes no more requests (its flows have finished, or `cleanup` detached it)
    /// but is not over: its last results are on their way to the store. No run begins
    /// before it is over, so two runs never share the writer.
    pub(crate) closing: Option<RunId>,
}

impl Registry {
    /// The index of flow `id`.
    pub(crate) fn find(&self, id: &str) -> Option<u32> {
        self.index.find(&self.flows, id)
    }

    /// The index of flow `id`, or an error naming it.
    pub(crate) fn idx(&self, id: &str) -> Result<u32, CoreError> {
        self.find(id)
            .ok_or_else(|| CoreError::UnknownFlow(id.chars().take(200).collect()))
    }

    fn id(&self, idx: u32) -> &FlowId {
        &self.flows[idx as usize].id
    }

    /// The graph with every registered flow and dependency in it.
    pub(crate) fn graph(&mut self) -> &FlowGraph {
        if self.graph.is_none() {
            let mut graph = FlowGraph::with_capacity(self.flows.len(), self.edges.len());
            for flow in self.flows.iter() {
                // Ids are unique (checked by `add`), so this cannot fail.
                let _ = graph.add_flow(flow.id.clone());
            }
            let named = self
                .edges
                .iter()
                .map(|&(p, c, d)| (self.id(p).as_str(), self.id(c).as_str(), d));
            self.cyclic = graph.add_dependencies(named).is_err();
            self.graph = Some(graph);
        }
        self.graph.get_or_insert_with(FlowGraph::new)
    }

    /// `fail_flow` of flow `idx` with no run taking requests: the next run records it failed
    /// without starting it. A flow of a run that is closing (its flows have all ended, its
    /// `run` call has not returned) ended in that run: refused as the run would have refused
    /// it a moment earlier, and never handed on to the next run.
    pub(crate) fn fail_outside_run(
        &mut self,
        shared: &Shared,
        idx: u32,
        reason: String,
    ) -> Result<(), CoreError> {
        let mut board = shared.board();
        let failed_by_hand = self.pre_failed.iter().any(|&(i, _)| i == idx);
        if let Some(closing) = self
            .closing
            .as_ref()
            .filter(|&r| board.run.as_ref() == Some(r))
        {
            let status = board.states.get(idx as usize).copied();
            if let Some(status) = status.filter(|s| s.is_finished() && !failed_by_hand) {
                let flow = self.id(idx).clone();
                tracing::debug!(
                    run = %closing, %flow, %status,
                    "fail_flow after the run's flows ended: refused, not applied to the next run"
                );
                return Err(CoreError::AlreadyFinished { flow, status });
            }
        }
        self.pre_failed.retain(|(i, _)| *i != idx);
        self.pre_failed.push((idx, reason));
        if board.states.len() < self.flows.len() {
            board.states.resize(self.flows.len(), FlowStatus::Pending);
        }
        board.states[idx as usize] = FlowStatus::Failed;
        drop(board);
        shared.board_changed.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Whether a cycle is reachable from `start` in the registered dependencies (never, as
    /// every dependency that would close one is refused).
    pub(crate) fn has_cycle(&mut self, start: &str) -> Result<bool, CoreError> {
        let found = self.graph().has_cycle(start)?;
        Ok(found || self.cyclic)
    }

    /// Whether every dependency goes from a flow to one registered after it, so that the
    /// registration order is a topological order.
    pub(crate) fn in_topological_order(&self) -> bool {
        !self.backward
    }

    /// The dependencies in the run's form (flows by index, as in `flows`).
    pub(crate) fn adjacency(&self) -> Adjacency {
        Adjacency::from_edge_list(self.flows.len(), &self.edges)
    }

    /// Resolves a new flow's declared parents; refuses a duplicate id, an unknown parent or
    /// the flow itself.
    pub(crate) fn check_new(&self, flow: &Flow) -> Result<Vec<(u32, DependencyType)>, CoreError> {
        if flow.dependencies().is_empty() {
            // The duplicate check is left to `add`, which hashes the id once for both.
            return Ok(Vec::new());
        }
        if self.index.find(&self.flows, flow.id.as_str()).is_some() {
            return Err(CoreError::DuplicateFlow(flow.id.clone()));
        }
        let mut parents = Vec::with_capacity(flow.dependencies().len());
        for (parent, dependency) in flow.dependencies() {
            if *parent == flow.id {
                return Err(CoreError::Graph(flow_graph::GraphError::Cycle(
                    flow_graph::CycleError {
                        path: vec![flow.id.clone(), flow.id.clone()],
                    },
                )));
            }
            parents.push((self.idx(parent.as_str())?, *dependency));
        }
        // A parent named twice counts once, with the type given last, as in a run's graph
        // (`Adjacency`), so a flow joining a run is treated as it would be before it; the
        // parents ascend, as an adjacency row does.
        parents.sort_by_key(|&(p, _)| p);
        parents.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        Ok(parents)
    }

    /// Adds a flow that passed [`check_new`](Self::check_new) with the parents it returned,
    /// unless its id is taken (then nothing changes). Its dependencies all point from
    /// existing flows to a flow without children, so they cannot close a cycle.
    pub(crate) fn add(
        &mut self,
        flow: Flow,
        parents: &[(u32, DependencyType)],
    ) -> Result<u32, CoreError> {
        let idx = u32::try_from(self.flows.len()).map_err(|_| {
            CoreError::Graph(flow_graph::GraphError::UnknownFlow(
                "more than 4 billion flows".into(),
            ))
        })?;
        if !self.index.insert(&self.flows, flow.id.as_str(), idx) {
            return Err(CoreError::DuplicateFlow(flow.id));
        }
        if let Some(graph) = &mut self.graph {
            let _ = graph.add_flow(flow.id.clone());
            let flows = &self.flows;
            let named = parents
                .iter()
                .map(|&(p, d)| (flows[p as usize].id.as_str(), flow.id.as_str(), d));
            let _ = graph.add_dependencies(named);
        }
        Arc::make_mut(&mut self.flows).push(flow);
        self.edges.extend(parents.iter().map(|&(p, d)| (p, idx, d)));
        Ok(idx)
    }

    /// Adds dependencies given by name, all or none: an unknown flow or a cycle is an error
    /// (flow-graph's) and leaves everything as it was.
    ///
    /// While every dependency so far went forward in registration order, a batch of forward
    /// dependencies between known flows is taken as it comes (it cannot close a cycle); any
    /// other batch is handed to flow-graph whole.
    pub(crate) fn add_dependencies<I, P, C>(&mut self, dependencies: I) -> Result<(), CoreError>
    where
        I: IntoIterator<Item = (P, C, DependencyType)>,
        P: AsRef<str>,
        C: AsRef<str>,
    {
        let mut items = dependencies.into_iter();
        let before = self.edges.len();
        self.edges.reserve(items.size_hint().0);
        if !self.backward {
            while let Some((p, c, d)) = items.next() {
                match (self.find(p.as_ref()), self.find(c.as_ref())) {
                    (Some(pi), Some(ci)) if pi < ci => self.edges.push((pi, ci, d)),
                    _ => {
                        // Not a forward dependency between known flows: flow-graph decides
                        // on the whole batch.
                        let taken: Vec<(FlowId, FlowId, DependencyType)> = self.edges[before..]
                            .iter()
                            .map(|&(p, c, d)| (self.id(p).clone(), self.id(c).clone(), d))
                            .collect();
                        self.edges.truncate(before);
                        let named =
                            taken
                                .iter()
                                .map(|(p, c, d)| (p.as_str().to_owned(), c.as_str().to_owned(), *d))
                                .chain(std::iter::once((
                                    p.as_ref().to_owned(),
                                    c.as_ref().to_owned(),
                                    d,
                                )))
                                .chain(items.map(|(p, c, d)| {
                                    (p.as_ref().to_owned(), c.as_ref().to_owned(), d)
                                }))
                                .collect();
                        return self.add_checked(named);
                    }
                }
            }
            if let Some(graph) = &mut self.graph {
                let flows = &self.flows;
                let named = self.edges[before..].iter().map(|&(p, c, d)| {
                    (
                        flows[p as usize].id.as_str(),
                        flows[c as usize].id.as_str(),
                        d,
                    )
                });
                let _ = graph.add_dependencies(named);
            }
            return Ok(());
        }
        let named = items
            .map(|(p, c, d)| (p.as_ref().to_owned(), c.as_ref().to_owned(), d))
            .collect();
        self.add_checked(named)
    }

    /// Adds a batch that flow-graph accepts, or returns its error.
    fn add_checked(
        &mut self,
        named: Vec<(String, String, DependencyType)>,
    ) -> Result<(), CoreError> {
        self.graph();
        if let Some(graph) = &mut self.graph {
            graph.add_dependencies(named.iter().map(|(p, c, d)| (p, c, *d)))?;
        }
        for (p, c, d) in &named {
            // Accepted by the graph, so both are known.
            if let (Some(p), Some(c)) = (self.find(p), self.find(c)) {
                self.backward |= p > c;
                self.edges.push((p, c, *d));
            }
        }
        Ok(())
    }

    pub(crate) fn reserve(&mut self, flows: usize) {
        self.index.reserve(&self.flows, flows);
        Arc::make_mut(&mut self.flows).reserve(flows);
    }

    pub(crate) fn clear(&mut self) {
        self.flows = Arc::default();
        self.index.clear();
        self.edges.clear();
        self.backward = false;
        self.graph = None;
        self.cyclic = false;
        self.pre_failed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow_graph::FlowId;
    use proptest::prelude::*;

    fn registry(n: u32) -> Registry {
        let mut registry = Registry::default();
        for i in 0..n {
            let id = FlowId::new(format!("f{i}")).unwrap();
            let flow = Flow::async_fn(id, |_| async { Ok::<_, String>(serde_json::Value::Null) });
            registry.add(flow.build(), &[]).unwrap();
        }
        registry
    }

    /// The dependencies of a run's graph, as flow-graph lists them.
    fn indexed_edges(registry: &mut Registry) -> Vec<(FlowId, FlowId, DependencyType)> {
        let adjacency = registry.adjacency();
        let id = |i: u32| registry.flows[i as usize].id.clone();
        let mut edges = Vec::new();
        for c in 0..adjacency.len() as u32 {
            for link in adjacency.parents(c) {
                edges.push((id(link.flow()), id(c), link.dependency()));
            }
        }
        edges.sort();
        edges
    }

    fn dependency() -> impl Strategy<Value = (u32, u32, bool)> {
        (0..12u32, 0..12u32, any::<bool>())
    }

    proptest! {
        /// Batches of any size (one at a time or many: both cycle checks) are accepted or
        /// refused exactly as flow-graph accepts or refuses them, with the same error, and
        /// afterwards both hold the same dependencies (repeats: the last type wins).
        #[test]
        fn dependencies_match_flow_graph(
            batches in prop::collection::vec(prop::collection::vec(dependency(), 0..20), 1..12)
        ) {
            let mut registry = registry(12);
            let mut model = FlowGraph::new();
            for i in 0..12 {
                model.add_flow(FlowId::new(format!("f{i}")).unwrap()).unwrap();
            }
            for batch in batches {
                let named: Vec<(String, String, DependencyType)> = batch
                    .iter()
                    .map(|&(p, c, optional)| {
                        let d = if optional { DependencyType::Optional } else { DependencyType::Required };
                        (format!("f{p}"), format!("f{c}"), d)
                    })
                    .collect();
                let expected = model
                    .add_dependencies(named.iter().map(|(p, c, d)| (p.as_str(), c.as_str(), *d)))
                    .map_err(|e| CoreError::from(e).to_string());
                let got = registry.add_dependencies(named).map_err(|e| e.to_string());
                prop_assert_eq!(got, expected);
            }
            let mut want = model.dependencies();
            want.sort();
            prop_assert_eq!(indexed_edges(&mut registry), want.clone());
            let mut built = registry.graph().dependencies();
            built.sort();
            prop_assert_eq!(built, want);
        }
    }

    #[test]
    fn unknown_flow_and_cycle_change_nothing() {
        let mut registry = registry(3);
        let r = DependencyType::Required;
        registry
            .add_dependencies(vec![("f0", "f1", r), ("f1", "f2", r)])
            .unwrap();
        let error = registry
            .add_dependencies(vec![("f0", "f2", r), ("f2", "f0", r)])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            CoreError::from(flow_graph::GraphError::Cycle(flow_graph::CycleError {
                path: ["f0", "f2", "f0"].map(|s| FlowId::new(s).unwrap()).to_vec(),
            }))
            .to_string()
        );
        let error = registry
            .add_dependencies(vec![("f0", "nope", r)])
            .unwrap_err();
        assert!(
            matches!(error, CoreError::UnknownFlow(ref id) if id == "nope"),
            "{error:?}"
        );
        assert_eq!(indexed_edges(&mut registry).len(), 2);
    }

    /// Owned names are dropped as the batch is read: each is found by its own text, short or
    /// long.
    #[test]
    fn names_given_as_owned_strings_find_their_own_flow() {
        for prefix in ["f", "a-flow-with-a-name-longer-than-twenty-bytes-"] {
            let mut registry = Registry::default();
            for i in 0..40 {
                let id = FlowId::new(format!("{prefix}{i}")).unwrap();
                let flow =
                    Flow::async_fn(id, |_| async { Ok::<_, String>(serde_json::Value::Null) });
                registry.add(flow.build(), &[]).unwrap();
            }
            let r = DependencyType::Required;
            let pairs: Vec<(u32, u32)> =
                (0..39).flat_map(|i| [(i, i + 1), (i / 2, i + 1)]).collect();
            let named = pairs
                .iter()
                .map(|&(p, c)| (format!("{prefix}{p}"), format!("{prefix}{c}"), r));
            registry.add_dependencies(named).unwrap();
            let mut want: Vec<(u32, u32, DependencyType)> =
                pairs.iter().map(|&(p, c)| (p, c, r)).collect();
            want.sort();
            want.dedup();
            let mut got = registry.edges.clone();
            got.sort();
            got.dedup();
            assert_eq!(got, want, "{prefix}");
        }
    }
}
