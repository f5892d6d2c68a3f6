//! `IndexedGraph`: a dense, read-only copy of a [`FlowGraph`](crate::FlowGraph) for hot loops.

use crate::{DependencyType, FlowId};

/// A read-only copy of a flow graph with flows numbered `0..len()` in insertion order and
/// adjacency stored in flat arrays, so a scheduler can walk it with plain indices.
#[derive(Debug, Clone, Default)]
pub struct IndexedGraph {
    ids: Vec<FlowId>,
    parent_offsets: Vec<u32>,
    parents: Vec<(u32, DependencyType)>,
    child_offsets: Vec<u32>,
    children: Vec<(u32, DependencyType)>,
}

impl IndexedGraph {
    /// Builds the copy from flow ids (index = position) and `(parent, child, type)` edges.
    ///
    /// # Panics
    /// When an edge names an index outside `ids`.
    pub fn from_edges(
        ids: Vec<FlowId>,
        edges: impl IntoIterator<Item = (u32, u32, DependencyType)>,
    ) -> Self {
        let edges: Vec<_> = edges.into_iter().collect();
        let n = ids.len();
        let (parent_offsets, parents) = csr(n, edges.iter().map(|&(p, c, d)| (c, p, d)));
        let (child_offsets, children) = csr(n, edges.iter().copied());
        IndexedGraph {
            ids,
            parent_offsets,
            parents,
            child_offsets,
            children,
        }
    }

    /// The number of flows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is no flow.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The id of flow `i`.
    pub fn id(&self, i: u32) -> &FlowId {
        &self.ids[i as usize]
    }

    /// Every id, by index.
    pub fn ids(&self) -> &[FlowId] {
        &self.ids
    }

    /// The parents of flow `i`, ascending by index.
    pub fn parents(&self, i: u32) -> &[(u32, DependencyType)] {
        slice(&self.parent_offsets, &self.parents, i)
    }

    /// The children of flow `i`, ascending by index.
    pub fn children(&self, i: u32) -> &[(u32, DependencyType)] {
        slice(&self.child_offsets, &self.children, i)
    }
}

fn slice<'a>(
    offsets: &[u32],
    items: &'a [(u32, DependencyType)],
    i: u32,
) -> &'a [(u32, DependencyType)] {
    let i = i as usize;
    &items[offsets[i] as usize..offsets[i + 1] as usize]
}

/// Compressed rows: `offsets[k]..offsets[k + 1]` indexes the targets of row `k`.
fn csr(
    n: usize,
    edges: impl Iterator<Item = (u32, u32, DependencyType)> + Clone,
) -> (Vec<u32>, Vec<(u32, DependencyType)>) {
    let mut offsets = vec![0u32; n + 1];
    for (row, _, _) in edges.clone() {
        offsets[row as usize + 1] += 1;
    }
    for k in 0..n {
        offsets[k + 1] += offsets[k];
    }
    let mut fill = offsets.clone();
    let mut items = vec![(0u32, DependencyType::Required); offsets[n] as usize];
    for (row, target, d) in edges {
        let at = &mut fill[row as usize];
        items[*at as usize] = (target, d);
        *at += 1;
    }
    for k in 0..n {
        items[offsets[k] as usize..offsets[k + 1] as usize].sort_unstable_by_key(|e| e.0);
    }
    (offsets, items)
}
