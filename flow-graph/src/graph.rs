//! `FlowGraph`: the DAG of flows, on `daggy`, that refuses every edge closing a cycle.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use daggy::petgraph::visit::EdgeRef;
use daggy::petgraph::Direction;
use daggy::{Dag, NodeIndex, Walker};

use crate::cycle::find_cycle_through_batch;
use crate::{CycleError, DependencyType, FlowId, GraphError};
use rustc_hash::FxHashMap;

/// A node of the DAG: the flow's id and its insertion sequence number, which orders ties.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) id: FlowId,
    pub(crate) seq: u32,
}

/// The DAG of flows: nodes are [`FlowId`]s, an edge `parent -> child` says the child runs after
/// the parent, weighted by its [`DependencyType`].
///
/// The graph is acyclic at all times: a dependency that would close a cycle is refused with a
/// [`CycleError`] that names the cycle, and every refused call leaves the graph exactly as it
/// was. Adding a dependency that already exists updates its type.
///
/// ```
/// use flow_graph::{DependencyType::*, FlowGraph, FlowId};
///
/// let mut graph = FlowGraph::new();
/// for id in ["extract", "lint", "transform", "load"] {
///     graph.add_flow(FlowId::new(id)?)?;
/// }
/// graph.add_dependencies([
///     ("extract", "transform", Required),
///     ("lint", "transform", Optional),
///     ("transform", "load", Required),
/// ])?;
///
/// let err = graph.add_dependency("load", "extract", Required).unwrap_err();
/// assert_eq!(err.to_string(), "dependency cycle: load -> extract -> transform -> load");
///
/// let order: Vec<_> = graph.topological_order().iter().map(|id| id.to_string()).collect();
/// assert_eq!(order, ["extract", "lint", "transform", "load"]);
///
/// // A failure of `extract` fails `transform` and, through it, `load`; one of `lint` fails nothing.
/// assert_eq!(graph.failure_reach("extract")?, ["transform", "load"]);
/// assert!(graph.failure_reach("lint")?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct FlowGraph {
    dag: Dag<Node, DependencyType, u32>,
    index: FxHashMap<FlowId, NodeIndex<u32>>,
    next_seq: u32,
    /// False while no flow was ever removed: node indices are then in insertion order.
    reordered: bool,
}

impl FlowGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph with room for `flows` flows and `dependencies` edges.
    pub fn with_capacity(flows: usize, dependencies: usize) -> Self {
        FlowGraph {
            dag: Dag::with_capacity(flows, dependencies),
            index: FxHashMap::with_capacity_and_hasher(flows, Default::default()),
            next_seq: 0,
            reordered: false,
        }
    }

    /// The number of flows.
    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    /// Whether the graph has no flow.
    pub fn is_empty(&self) -> bool {
        self.dag.node_count() == 0
    }

    /// The number of dependencies (edges).
    pub fn dependency_count(&self) -> usize {
        self.dag.edge_count()
    }

    /// Whether a flow with this id is in the graph.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Adds a flow with no dependencies.
    ///
    /// # Errors
    /// [`GraphError::DuplicateFlow`] when the id is already in the graph.
    pub fn add_flow(&mut self, id: FlowId) -> Result<(), GraphError> {
        match self.index.entry(id) {
            Entry::Occupied(taken) => Err(GraphError::DuplicateFlow(taken.key().clone())),
            Entry::Vacant(free) => {
                let seq = self.next_seq;
                self.next_seq = seq.checked_add(1).expect("more than 4 billion flows added");
                let node = Node {
                    id: free.key().clone(),
                    seq,
                };
                free.insert(self.dag.add_node(node));
                Ok(())
            }
        }
    }

    /// Removes a flow and every dependency from or to it.
    ///
    /// # Errors
    /// [`GraphError::UnknownFlow`] when no flow has this id.
    pub fn remove_flow(&mut self, id: &str) -> Result<FlowId, GraphError> {
        let idx = self.node(id)?;
        let node = self.dag.remove_node(idx).expect("indexed node exists");
        self.index.remove(id);
        // petgraph moves the last node into the freed slot: re-point its entry.
        if let Some(moved) = self.dag.node_weight(idx) {
            *self
                .index
                .get_mut(&moved.id)
                .expect("every node is indexed") = idx;
            self.reordered = true;
        }
        Ok(node.id)
    }

    /// Adds (or updates the type of) the dependency `parent -> child`: the child runs after
    /// the parent.
    ///
    /// # Errors
    /// [`GraphError::UnknownFlow`] naming a flow that is not in the graph;
    /// [`GraphError::Cycle`] with the cycle when the edge would close one (a flow depending on
    /// itself is the cycle `a -> a`).
    pub fn add_dependency(
        &mut self,
        parent: &str,
        child: &str,
        dependency: DependencyType,
    ) -> Result<(), GraphError> {
        let (p, c) = (self.node(parent)?, self.node(child)?);
        if let Some(edge) = self.dag.find_edge(p, c) {
            self.dag[edge] = dependency;
            return Ok(());
        }
        match self.dag.add_edge(p, c, dependency) {
            Ok(_) => Ok(()),
            Err(_) => Err(self.cycle_closed_by(p, c).into()),
        }
    }

    /// Adds many dependencies at once, with a single acyclicity check for the whole batch, so
    /// building a large graph is linear in its size. Either every dependency is added or, on
    /// error, none is. Within the batch, the last type given for an edge wins.
    ///
    /// # Errors
    /// As [`add_dependency`](Self::add_dependency); a cycle error names one cycle that the
    /// batch would close.
    pub fn add_dependencies<I, P, C>(&mut self, dependencies: I) -> Result<(), GraphError>
    where
        I: IntoIterator<Item = (P, C, DependencyType)>,
        P: AsRef<str>,
        C: AsRef<str>,
    {
        // Resolve every id first, so an unknown one leaves the graph untouched.
        let iter = dependencies.into_iter();
        let mut batch: Vec<(u32, u32, DependencyType)> = Vec::with_capacity(iter.size_hint().0);
        for (parent, child, dependency) in iter {
            let p = self.node(parent.as_ref())?;
            let c = self.node(child.as_ref())?;
            if p == c {
                return Err(self.cycle_closed_by(p, c).into());
            }
            batch.push((p.index() as u32, c.index() as u32, dependency));
        }
        // Split off the edges that already exist, whose type is only updated, and collapse
        // duplicates within the batch (the last type given wins), in one pass.
        let mut updates = Vec::new();
        let mut new_edges: Vec<(NodeIndex<u32>, NodeIndex<u32>, DependencyType)> =
            Vec::with_capacity(batch.len());
        // Keyed by the pair, hashed as two words: a key packed into one u64 hashed every edge
        // into one child (a fan-in) to the same buckets, and took seconds for 100,000 parents.
        let mut position: FxHashMap<(u32, u32), usize> =
            FxHashMap::with_capacity_and_hasher(batch.len(), Default::default());
        for (p, c, dependency) in batch {
            let (pi, ci) = (NodeIndex::new(p as usize), NodeIndex::new(c as usize));
            if let Some(edge) = self.dag.find_edge(pi, ci) {
                updates.push((edge, dependency));
                continue;
            }
            match position.entry((p, c)) {
                Entry::Occupied(seen) => new_edges[*seen.get()].2 = dependency,
                Entry::Vacant(free) => {
                    free.insert(new_edges.len());
                    new_edges.push((pi, ci, dependency));
                }
            }
        }
        drop(position);
        let added = new_edges.iter().copied();
        if self.dag.add_edges(added).is_err() {
            let proposed: Vec<_> = new_edges.iter().map(|&(p, c, _)| (p, c)).collect();
            let path = find_cycle_through_batch(&self.dag, &proposed);
            return Err(CycleError {
                path: path.into_iter().map(|n| self.dag[n].id.clone()).collect(),
            }
            .into());
        }
        for (edge, dependency) in updates {
            self.dag[edge] = dependency;
        }
        Ok(())
    }

    /// The cycle that `parent -> child` would close, if it would close one.
    ///
    /// # Errors
    /// [`GraphError::UnknownFlow`] naming a flow that is not in the graph.
    pub fn would_cycle(&self, parent: &str, child: &str) -> Result<Option<CycleError>, GraphError> {
        let (p, c) = (self.node(parent)?, self.node(child)?);
        let cycle = self.cycle_closed_by(p, c);
        Ok((!cycle.path.is_empty()).then_some(cycle))
    }

    /// The seed's `has_cycle(start)`: whether a cycle is reachable from `start`.
    ///
    /// The graph refuses every edge that would close a cycle, so this is always `false`; it is
    /// kept so code ported from the seed keeps working. To ask whether a new edge would close
    /// a cycle, use [`would_cycle`](Self::would_cycle).
    ///
    /// # Errors
    /// [`GraphError::UnknownFlow`] when `start` is not in the graph.
    pub fn has_cycle(&self, start: &str) -> Result<bool, GraphError> {
        self.node(start)?;
        Ok(false)
    }

    /// The type of the dependency `parent -> child`, if there is one.
    pub fn dependency(&self, parent: &str, child: &str) -> Option<DependencyType> {
        let (p, c) = (self.index.get(parent)?, self.index.get(child)?);
        self.dag.find_edge(*p, *c).map(|e| self.dag[e])
    }

    /// The parents of a flow with their types, in insertion order of the parents.
    ///
    /// # Errors
    /// [`GraphError::UnknownFlow`] when no flow has this id.
    pub fn parents(&self, id: &str) -> Result<Vec<(FlowId, DependencyType)>, GraphError> {
        self.neighbours(id, Direction::Incoming)
    }

    /// The children of a flow with their types, in insertion order of the children.
    ///
    /// # Errors
    /// [`GraphError::UnknownFlow`] when no flow has this id.
    pub fn children(&self, id: &str) -> Result<Vec<(FlowId, DependencyType)>, GraphError> {
        self.neighbours(id, Direction::Outgoing)
    }

    /// Every flow, in insertion order.
    pub fn flows(&self) -> Vec<FlowId> {
        self.nodes_in_insertion_order()
            .into_iter()
            .map(|n| self.dag[n].id.clone())
            .collect()
    }

    /// Every dependency as `(parent, child, type)`, ordered by parent then child insertion.
    pub fn dependencies(&self) -> Vec<(FlowId, FlowId, DependencyType)> {
        let mut edges: Vec<_> = self
            .dag
            .raw_edges()
            .iter()
            .map(|e| (e.source(), e.target(), e.weight))
            .collect();
        edges.sort_unstable_by_key(|&(p, c, _)| (self.dag[p].seq, self.dag[c].seq));
        edges
            .into_iter()
            .map(|(p, c, d)| (self.dag[p].id.clone(), self.dag[c].id.clone(), d))
            .collect()
    }

    /// The flows with no parent, in insertion order.
    pub fn roots(&self) -> Vec<FlowId> {
        self.filtered(Direction::Incoming)
    }

    /// The flows with no child, in insertion order.
    pub fn leaves(&self) -> Vec<FlowId> {
        self.filtered(Direction::Outgoing)
    }

    /// Every flow, parents before children; among flows that could go next, the one added
    /// first goes first, so the order is the same for the same sequence of calls.
    pub fn topological_order(&self) -> Vec<&FlowId> {
        let graph = self.dag.graph();
        let n = graph.node_count();
        // Children as compressed rows, read once from the edge array in order: walking
        // petgraph's per-node edge lists instead costs a cache miss per edge on large graphs.
        let mut offsets = vec![0u32; n + 1];
        let mut in_degree = vec![0u32; n];
        for edge in graph.raw_edges() {
            offsets[edge.source().index() + 1] += 1;
            in_degree[edge.target().index()] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut children = vec![0u32; graph.edge_count()];
        for edge in graph.raw_edges() {
            let at = &mut fill[edge.source().index()];
            children[*at as usize] = edge.target().index() as u32;
            *at += 1;
        }
        drop(fill);
        let seq = |i: usize| graph[NodeIndex::new(i)].seq;
        let mut ready: BinaryHeap<Reverse<(u32, u32)>> = (0..n)
            .filter(|&i| in_degree[i] == 0)
            .map(|i| Reverse((seq(i), i as u32)))
            .collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse((_, i))) = ready.pop() {
            let i = i as usize;
            order.push(&graph[NodeIndex::new(i)].id);
            for &child in &children[offsets[i] as usize..offsets[i + 1] as usize] {
                let d = &mut in_degree[child as usize];
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse((seq(child as usize), child)));
                }
            }
        }
        debug_assert_eq!(order.len(), n, "the graph is acyclic");
        order
    }

    /// The flows that a failure of `id` fails: its descendants through required dependencies,
    /// transitively, in insertion order. A flow reached only through optional dependencies is
    /// not in the set (it runs anyway); one reached through any all-required path is.
    ///
    /// # Errors
    /// [`GraphError::UnknownFlow`] when no flow has this id.
    pub fn failure_reach(&self, id: &str) -> Result<Vec<FlowId>, GraphError> {
        let start = self.node(id)?;
        let graph = self.dag.graph();
        let mut seen = vec![false; graph.node_count()];
        seen[start.index()] = true;
        let mut queue = VecDeque::from([start]);
        let mut reached = Vec::new();
        while let Some(n) = queue.pop_front() {
            for edge in graph.edges_directed(n, Direction::Outgoing) {
                let child = edge.target();
                if *edge.weight() == DependencyType::Required && !seen[child.index()] {
                    seen[child.index()] = true;
                    reached.push(child);
                    queue.push_back(child);
                }
            }
        }
        reached.sort_unstable_by_key(|&n| graph[n].seq);
        Ok(reached.into_iter().map(|n| graph[n].id.clone()).collect())
    }

    /// A dense, index-based copy of the graph for code that walks it many times (a scheduler):
    /// flows numbered `0..len()` in insertion order, with parents and children as slices.
    pub fn indexed(&self) -> crate::IndexedGraph {
        let order = self.nodes_in_insertion_order();
        let mut dense = vec![0u32; self.dag.node_count()];
        for (i, n) in order.iter().enumerate() {
            dense[n.index()] = i as u32;
        }
        let edges = self.dag.raw_edges().iter().map(|e| {
            (
                dense[e.source().index()],
                dense[e.target().index()],
                e.weight,
            )
        });
        crate::IndexedGraph::from_edges(
            order.iter().map(|&n| self.dag[n].id.clone()).collect(),
            edges,
        )
    }

    pub(crate) fn nodes_in_insertion_order(&self) -> Vec<NodeIndex<u32>> {
        let mut nodes: Vec<_> = self.dag.graph().node_indices().collect();
        if self.reordered {
            nodes.sort_unstable_by_key(|&n| self.dag[n].seq);
        }
        nodes
    }

    fn node(&self, id: &str) -> Result<NodeIndex<u32>, GraphError> {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| GraphError::UnknownFlow(id.chars().take(200).collect()))
    }

    fn neighbours(
        &self,
        id: &str,
        direction: Direction,
    ) -> Result<Vec<(FlowId, DependencyType)>, GraphError> {
        let n = self.node(id)?;
        let mut found: Vec<_> = self
            .dag
            .graph()
            .edges_directed(n, direction)
            .map(|e| {
                let other = if direction == Direction::Outgoing {
                    e.target()
                } else {
                    e.source()
                };
                (other, *e.weight())
            })
            .collect();
        found.sort_unstable_by_key(|&(other, _)| self.dag[other].seq);
        Ok(found
            .into_iter()
            .map(|(other, d)| (self.dag[other].id.clone(), d))
            .collect())
    }

    fn filtered(&self, direction: Direction) -> Vec<FlowId> {
        let graph = self.dag.graph();
        self.nodes_in_insertion_order()
            .into_iter()
            .filter(|&n| graph.neighbors_directed(n, direction).next().is_none())
            .map(|n| graph[n].id.clone())
            .collect()
    }

    /// The cycle `p -> c` would close: `[p, c, ..., p]`, or an empty path when there is none.
    fn cycle_closed_by(&self, p: NodeIndex<u32>, c: NodeIndex<u32>) -> CycleError {
        let path = if p == c {
            vec![p, p]
        } else {
            match self.path(c, p) {
                Some(back) => std::iter::once(p).chain(back).collect(),
                None => Vec::new(),
            }
        };
        CycleError {
            path: path.into_iter().map(|n| self.dag[n].id.clone()).collect(),
        }
    }

    /// A shortest path `from ..= to` along edges, found breadth first.
    fn path(&self, from: NodeIndex<u32>, to: NodeIndex<u32>) -> Option<Vec<NodeIndex<u32>>> {
        let mut came_from: HashMap<NodeIndex<u32>, NodeIndex<u32>> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(n) = queue.pop_front() {
            if n == to {
                let mut path = vec![to];
                let mut at = to;
                while at != from {
                    at = came_from[&at];
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            let mut children = self.dag.children(n);
            while let Some((_, child)) = children.walk_next(&self.dag) {
                if child != from && !came_from.contains_key(&child) {
                    came_from.insert(child, n);
                    queue.push_back(child);
                }
            }
        }
        None
    }
}
