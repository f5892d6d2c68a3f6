//! The registry of a context (flows, graph, pre-run failures, the active run) and the board
//! (each flow's status, published by the scheduler for `wait_for_flows` and `status`).

use std::sync::Arc;

use flow_graph::{Adjacency, DependencyType, FlowGraph};

use crate::id_index::IdIndex;
use crate::request::ActiveRun;
use crate::{CoreError, Flow};

/// Flows and dependencies of a context.
///
/// Dependencies are kept as a flat list of index pairs with children lists for the cycle
/// checks, which is all a run needs; the [`FlowGraph`] (named cycles, `has_cycle`, a copy
/// for the caller) is made from them only when asked for, and then kept in step. So a
/// context that only registers and runs never builds it.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Copy-on-write, so a run takes a snapshot for the price of a reference count.
    pub(crate) flows: Arc<Vec<Flow>>,
    index: IdIndex,
    /// Every dependency in the order given; for a repeated pair the last type wins (the
    /// scheduler's `Adjacency` keeps it once).
    edges: Vec<(u32, u32, DependencyType)>,
    /// The children of each flow for the cycle checks, as linked lists through `edges`:
    /// `first[p]` is p's latest edge, `next[e]` the edge of the same parent before `e`
    /// (`NONE` ends a list). No allocation per flow; `first` grows on demand. Made only
    /// when a check first needs them (`lists`), which is never while every edge goes
    /// forward, and kept in step with `edges` from then on.
    first: Vec<u32>,
    next: Vec<u32>,
    lists: bool,
    /// Some edge goes from a flow to one registered before it. While none does, the
    /// registration order is a topological order, and a new edge that goes forward cannot
    /// close a cycle: no walk or count is needed to know.
    backward: bool,
    /// Scratch marks of the reachability walk, with the current stamp.
    marks: Vec<u32>,
    stamp: u32,
    /// The graph, once someone asked for it.
    graph: Option<FlowGraph>,
    /// Flows failed with `fail_flow` outside a run: the next run records them failed.
    pub(crate) pre_failed: Vec<(u32, String)>,
    pub(crate) active: Option<ActiveRun>,
}

/// The end of a list.
const NONE: u32 = u32::MAX;

/// Ids looked up before in the same call: a small direct-mapped table placed by the string's
/// address, so finding a flow named again with the same string costs a comparison, not a hash.
/// A hit is checked against the flow it found: a string at the very address and length of
/// that flow's own id *is* that id (the flow holds it, so nothing else can live there), which
/// is the case when the caller names flows with clones of their `FlowId`s; any other string
/// is compared with the id's text (the caller's string may be gone and its address reused).
struct RecentIds {
    slots: Vec<RecentId>,
    /// `64 - log2(slots.len())`: the slot is the top bits of the address times a constant.
    shift: u32,
}

#[derive(Clone, Copy)]
struct RecentId {
    ptr: usize,
    len: u32,
    idx: u32,
}

impl RecentIds {
    /// A table sized for a call of `dependencies` dependencies.
    fn new(dependencies: usize) -> Self {
        let size = (dependencies * 2).next_power_of_two().clamp(4, 4096);
        let empty = RecentId {
            ptr: 0,
            len: 0,
            idx: 0,
        };
        RecentIds {
            slots: vec![empty; size],
            shift: 64 - size.trailing_zeros(),
        }
    }

    #[inline]
    fn slot(&self, id: &str) -> usize {
        // Fibonacci hashing: ids allocated one after another (a fixed stride apart) spread
        // over the whole table.
        let key = (id.as_ptr() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (key >> self.shift) as usize
    }

    /// The index in `flows` of `id`, if this string was looked up before.
    #[inline]
    fn get(&self, id: &str, flows: &[Flow]) -> Option<u32> {
        let slot = &self.slots[self.slot(id)];
        if slot.ptr != id.as_ptr() as usize || slot.len as usize != id.len() {
            return None;
        }
        let own = flows.get(slot.idx as usize)?.id.as_str();
        let same = own.len() == id.len() && (own.as_ptr() == id.as_ptr() || own == id);
        same.then_some(slot.idx)
    }

    #[inline]
    fn put(&mut self, id: &str, idx: Option<u32>) -> Option<u32> {
        if let (Some(idx), Ok(len)) = (idx, u32::try_from(id.len())) {
            let slot = self.slot(id);
            self.slots[slot] = RecentId {
                ptr: id.as_ptr() as usize,
                len,
                idx,
            };
        }
        idx
    }
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

    /// The graph with every registered flow and dependency in it.
    pub(crate) fn graph(&mut self) -> &FlowGraph {
        let (flows, edges) = (&self.flows, &self.edges);
        self.graph.get_or_insert_with(|| {
            let mut graph = FlowGraph::with_capacity(flows.len(), edges.len());
            for flow in flows.iter() {
                // Ids are unique (checked by `add`), so this cannot fail.
                let _ = graph.add_flow(flow.id.clone());
            }
            let named = edges.iter().map(|&(p, c, d)| {
                (
                    flows[p as usize].id.as_str(),
                    flows[c as usize].id.as_str(),
                    d,
                )
            });
            // Checked acyclic when they were added.
            let _ = graph.add_dependencies(named);
            graph
        })
    }

    /// Whether every dependency goes from a flow to one registered after it, so that the
    /// registration order is a topological order.
    pub(crate) fn in_topological_order(&self) -> bool {
        !self.backward
    }

    /// The dependencies in the scheduler's form (flows by index, as in `flows`).
    pub(crate) fn adjacency(&self) -> Adjacency {
        Adjacency::from_edge_list(self.flows.len(), &self.edges)
    }

    /// Resolves a new flow's declared parents; refuses a duplicate id, an unknown parent or
    /// the flow itself.
    pub(crate) fn check_new(&self, flow: &Flow) -> Result<Vec<(u32, DependencyType)>, CoreError> {
        if flow.dependencies.is_empty() {
            // The duplicate check is left to `add`, which hashes the id once for both.
            return Ok(Vec::new());
        }
        if self.index.find(&self.flows, flow.id.as_str()).is_some() {
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
        for &(p, d) in parents {
            self.push_edge(p, idx, d);
        }
        Ok(idx)
    }

    /// Adds dependencies given by name, all or none: an unknown flow or a cycle is an error
    /// (named by flow-graph) and leaves everything as it was.
    ///
    /// The batch is resolved as it comes and not kept: only its index pairs are, in `edges`.
    /// A batch small next to the graph is checked edge by edge (a walk from the child); once it
    /// is not, the check waits for its end (one Kahn count), as flow-graph's would. Neither
    /// runs while every edge goes forward in registration order.
    pub(crate) fn add_dependencies<I, P, C>(&mut self, dependencies: I) -> Result<(), CoreError>
    where
        I: IntoIterator<Item = (P, C, DependencyType)>,
        P: AsRef<str>,
        C: AsRef<str>,
    {
        let mut items = dependencies.into_iter();
        let before = self.edges.len();
        let backward_before = self.backward;
        let hint = items.size_hint().0;
        self.edges.reserve(hint);
        if self.lists {
            self.next.reserve(hint);
        }
        // Dependencies often name a flow again with the very same string (a child and its
        // parents, a chain, a hub): those are found without hashing.
        let mut recent = RecentIds::new(hint);
        // Deferred once the batch reaches a sixteenth of the flows and edges there were.
        let defer_at = (self.flows.len() + before).div_ceil(16);
        let mut deferred = false;
        let mut closes_cycle = false;
        for (p, c, d) in items.by_ref() {
            let (p_name, c_name) = (p.as_ref(), c.as_ref());
            let (p, c) = match (
                self.find_recent(&mut recent, p_name),
                self.find_recent(&mut recent, c_name),
            ) {
                (Some(p), Some(c)) if p != c => (p, c),
                // flow-graph resolves ids in order and stops at the first unknown one (or
                // a flow made its own parent).
                _ => {
                    let failing = (p_name.to_owned(), c_name.to_owned(), d);
                    return self.refuse(
                        before,
                        backward_before,
                        Some(failing),
                        std::iter::empty::<(P, C, DependencyType)>(),
                    );
                }
            };
            self.backward |= p > c;
            deferred |= self.edges.len() - before + 1 >= defer_at;
            closes_cycle = !deferred && self.backward && self.reaches(c, p);
            self.push_edge(p, c, d);
            if closes_cycle {
                break;
            }
        }
        if closes_cycle || (deferred && self.backward && !self.acyclic()) {
            return self.refuse(before, backward_before, None, items);
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
        Ok(())
    }

    /// The index of `id`, through the ids this call looked up before (see [`RecentIds`]).
    #[inline]
    fn find_recent(&self, recent: &mut RecentIds, id: &str) -> Option<u32> {
        recent
            .get(id, &self.flows)
            .or_else(|| recent.put(id, self.find(id)))
    }

    /// Undoes the batch added since `before` and returns the error flow-graph gives for it:
    /// the edges added so far, then `failing` (the item that stopped it) or the items not yet
    /// read, replayed on a copy of the graph as it was.
    fn refuse<P: AsRef<str>, C: AsRef<str>>(
        &mut self,
        before: usize,
        backward_before: bool,
        failing: Option<(String, String, DependencyType)>,
        rest: impl Iterator<Item = (P, C, DependencyType)>,
    ) -> Result<(), CoreError> {
        let flows = &self.flows;
        let mut named: Vec<(String, String, DependencyType)> = self.edges[before..]
            .iter()
            .map(|&(p, c, d)| {
                (
                    flows[p as usize].id.to_string(),
                    flows[c as usize].id.to_string(),
                    d,
                )
            })
            .collect();
        named.extend(failing);
        named.extend(rest.map(|(p, c, d)| (p.as_ref().to_owned(), c.as_ref().to_owned(), d)));
        self.undo(before, backward_before);
        let mut graph = self.graph().clone();
        graph.add_dependencies(named)?;
        // Not reached: the batch was refused because flow-graph refuses it too.
        Err(CoreError::Graph(flow_graph::GraphError::UnknownFlow(
            "a dependency that could not be added".into(),
        )))
    }

    #[inline]
    fn push_edge(&mut self, p: u32, c: u32, d: DependencyType) {
        if !self.lists {
            self.edges.push((p, c, d));
            return;
        }
        if self.first.len() <= p as usize {
            self.first.resize(self.flows.len(), NONE);
        }
        let head = self.first[p as usize];
        self.first[p as usize] = self.edges.len() as u32;
        self.next.push(head);
        self.edges.push((p, c, d));
    }

    /// Makes the children lists from `edges`, unless they are made already.
    fn make_lists(&mut self) {
        if self.lists {
            return;
        }
        self.first.clear();
        self.first.resize(self.flows.len(), NONE);
        self.next.clear();
        self.next.reserve(self.edges.capacity());
        for (e, &(p, _, _)) in self.edges.iter().enumerate() {
            self.next.push(self.first[p as usize]);
            self.first[p as usize] = e as u32;
        }
        self.lists = true;
    }

    /// The children of `p` (latest first, with repeats); the lists must be made.
    fn children(&self, p: u32) -> impl Iterator<Item = u32> + '_ {
        let mut e = self.first.get(p as usize).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            if e == NONE {
                return None;
            }
            let child = self.edges[e as usize].1;
            e = self.next[e as usize];
            Some(child)
        })
    }

    /// Removes the edges added after the first `len`, and restores `backward` as it was then.
    fn undo(&mut self, len: usize, backward: bool) {
        self.backward = backward;
        if !self.lists {
            self.edges.truncate(len);
            return;
        }
        while self.edges.len() > len {
            if let (Some((p, _, _)), Some(before)) = (self.edges.pop(), self.next.pop()) {
                self.first[p as usize] = before;
            }
        }
    }

    /// Whether `to` can be reached from `from` along children.
    fn reaches(&mut self, from: u32, to: u32) -> bool {
        self.make_lists();
        if self.children(from).next().is_none() {
            return false;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
        if self.marks.len() < self.flows.len() {
            self.marks.resize(self.flows.len(), 0);
        }
        let (mut marks, stamp) = (std::mem::take(&mut self.marks), self.stamp);
        let mut stack = vec![from];
        marks[from as usize] = stamp;
        let mut found = false;
        while let Some(n) = stack.pop() {
            if n == to {
                found = true;
                break;
            }
            for k in self.children(n) {
                if marks[k as usize] != stamp {
                    marks[k as usize] = stamp;
                    stack.push(k);
                }
            }
        }
        self.marks = marks;
        found
    }

    /// Whether the whole graph is acyclic (Kahn's count).
    fn acyclic(&mut self) -> bool {
        self.make_lists();
        let n = self.flows.len();
        let mut indegree = vec![0u32; n];
        for &(_, c, _) in &self.edges {
            indegree[c as usize] += 1;
        }
        let mut stack: Vec<u32> = (0..n as u32)
            .filter(|&i| indegree[i as usize] == 0)
            .collect();
        let mut seen = 0usize;
        while let Some(i) = stack.pop() {
            seen += 1;
            for c in self.children(i) {
                let d = &mut indegree[c as usize];
                *d -= 1;
                if *d == 0 {
                    stack.push(c);
                }
            }
        }
        seen == n
    }

    pub(crate) fn reserve(&mut self, flows: usize) {
        self.index.reserve(&self.flows, flows);
        Arc::make_mut(&mut self.flows).reserve(flows);
    }

    pub(crate) fn clear(&mut self) {
        self.flows = Arc::default();
        self.index.clear();
        self.edges.clear();
        self.first.clear();
        self.next.clear();
        self.lists = false;
        self.backward = false;
        self.graph = None;
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

    /// The dependencies of the scheduler's graph, as flow-graph lists them.
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

    /// The children lists are made only when the first backward edge needs a check: that
    /// check sees every forward edge added before it (one call at a time, so no Kahn count),
    /// and a refused batch made before the lists leaves the edges as they were.
    #[test]
    fn a_first_backward_edge_sees_the_forward_edges_before_it() {
        let mut registry = registry(6);
        let r = DependencyType::Required;
        for i in 0..5 {
            let (p, c) = (format!("f{i}"), format!("f{}", i + 1));
            registry
                .add_dependencies([(p.as_str(), c.as_str(), r)])
                .unwrap();
        }
        assert!(!registry.lists);
        let error = registry
            .add_dependencies([("f0", "f5", r), ("f1", "nope", r)])
            .unwrap_err();
        assert!(matches!(error, CoreError::UnknownFlow(_)), "{error:?}");
        assert_eq!(registry.edges.len(), 5);
        assert!(!registry.lists);
        let error = registry.add_dependencies([("f4", "f2", r)]).unwrap_err();
        assert!(registry.lists);
        assert_eq!(
            error.to_string(),
            CoreError::from(flow_graph::GraphError::Cycle(flow_graph::CycleError {
                path: ["f4", "f2", "f3", "f4"]
                    .map(|s| FlowId::new(s).unwrap())
                    .to_vec(),
            }))
            .to_string()
        );
        registry
            .add_dependencies([("f5", "f1", DependencyType::Optional)])
            .unwrap_err();
        registry.add_dependencies([("f3", "f0", r)]).unwrap_err();
        let flow = Flow::async_fn(FlowId::new("f6").unwrap(), |_| async {
            Ok::<_, String>(serde_json::Value::Null)
        });
        registry.add(flow.build(), &[(5, r)]).unwrap();
        registry.add_dependencies([("f6", "f0", r)]).unwrap_err();
        registry
            .add_dependencies([("f2", "f0", DependencyType::Optional)])
            .unwrap_err();
        registry.add_dependencies([("f6", "f1", r)]).unwrap_err();
        registry
            .add_dependencies([("f0", "f6", r), ("f1", "f6", r)])
            .unwrap();
        assert_eq!(indexed_edges(&mut registry).len(), 8);
    }

    /// Naming flows with their own ids (clones of the `FlowId`s they were registered with) finds
    /// them by address; a prefix of such an id, at the same address, is still its own flow.
    #[test]
    fn a_flow_named_by_its_own_id_or_a_prefix_of_it() {
        let mut registry = registry(12);
        let ids: Vec<FlowId> = registry.flows.iter().map(|f| f.id.clone()).collect();
        let r = DependencyType::Required;
        let named = [
            (ids[10].as_str(), ids[11].as_str(), r),
            (&ids[10].as_str()[..2], ids[11].as_str(), r),
            (ids[10].as_str(), ids[11].as_str(), r),
            (&ids[11].as_str()[..2], ids[10].as_str(), r),
        ];
        registry.add_dependencies(named).unwrap();
        let mut got = registry.edges.clone();
        got.sort();
        got.dedup();
        assert_eq!(got, vec![(1, 10, r), (1, 11, r), (10, 11, r)]);
    }

    /// Owned names are dropped as the batch is read, so a later name may sit where an earlier
    /// one did: each is still found by its own text, short (kept in the cache) or long.
    #[test]
    fn names_that_reuse_an_address_find_their_own_flow() {
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
