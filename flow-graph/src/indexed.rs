//! `IndexedGraph`: a dense, read-only copy of a [`FlowGraph`](crate::FlowGraph) for hot loops.

use crate::{DependencyType, FlowId, Link};

/// A read-only copy of a flow graph with flows numbered `0..len()` in insertion order and
/// adjacency stored in flat arrays, so a scheduler can walk it with plain indices.
#[derive(Debug, Clone, Default)]
pub struct IndexedGraph {
    ids: Vec<FlowId>,
    adjacency: Adjacency,
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
        let adjacency = Adjacency::from_edges(ids.len(), edges);
        IndexedGraph { ids, adjacency }
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
    pub fn parents(&self, i: u32) -> &[Link] {
        self.adjacency.parents(i)
    }

    /// The children of flow `i`, ascending by index.
    pub fn children(&self, i: u32) -> &[Link] {
        self.adjacency.children(i)
    }

    /// The adjacency alone.
    pub fn adjacency(&self) -> &Adjacency {
        &self.adjacency
    }
}

/// The parents and children of flows `0..len()` in flat arrays, without their ids: what a
/// scheduler that keeps the ids elsewhere needs (no copy of them, no reference count each).
/// Each entry is a four-byte [`Link`].
#[derive(Debug, Clone, Default)]
pub struct Adjacency {
    len: usize,
    parent_offsets: Vec<u32>,
    parents: Vec<Link>,
    child_offsets: Vec<u32>,
    children: Vec<Link>,
}

impl Adjacency {
    /// The adjacency of `len` flows from `(parent, child, type)` edges. A pair given more
    /// than once is kept once, with the type given last.
    ///
    /// # Panics
    /// When an edge names an index outside `0..len`, or `len` is above [`Link::MAX_FLOW`].
    pub fn from_edges(
        len: usize,
        edges: impl IntoIterator<Item = (u32, u32, DependencyType)>,
    ) -> Self {
        let edges: Vec<_> = edges.into_iter().collect();
        Adjacency::from_edge_list(len, &edges)
    }

    /// [`from_edges`](Self::from_edges) on a list the caller keeps (nothing is copied).
    ///
    /// Built by two stable bucket passes: the edges by child in the order given, each row then
    /// put in parent order by a stable sort where it is not already (a repeated pair then sits
    /// next to itself, latest last, to be dropped); then by parent, walking those rows in child
    /// order (children ascend). A row is short (a flow's parents), so sorting it is cheaper
    /// than a third pass over every edge.
    ///
    /// # Panics
    /// When an edge names an index outside `0..len`, or `len` is above [`Link::MAX_FLOW`].
    pub fn from_edge_list(len: usize, edges: &[(u32, u32, DependencyType)]) -> Self {
        assert!(
            len <= Link::MAX_FLOW as usize,
            "an adjacency holds at most {} flows",
            Link::MAX_FLOW
        );
        // `Link::new` refuses an index above `Link::MAX_FLOW` (its top bit would read as the
        // edge type), for a child here and a parent below; one outside `0..len` below that
        // panics as a row index (here, or in `transpose` for a parent).
        let mut next = offsets(len, edges.iter().map(|&(_, c, d)| Link::new(c, d).flow()));
        let mut parents = vec![Link::new(0, DependencyType::Required); edges.len()];
        for &(p, c, d) in edges {
            place(&mut next, &mut parents, c, Link::new(p, d));
        }
        let mut parent_offsets = shift_back(next);
        sort_rows_keeping_last(&mut parent_offsets, &mut parents);
        let (child_offsets, children) = transpose(len, &parent_offsets, &parents);
        Adjacency {
            len,
            parent_offsets,
            parents,
            child_offsets,
            children,
        }
    }

    /// The number of flows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no flow.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The parents of flow `i`, ascending by index.
    ///
    /// # Panics
    /// When `i` is not below `len()`.
    pub fn parents(&self, i: u32) -> &[Link] {
        slice(&self.parent_offsets, &self.parents, i)
    }

    /// The children of flow `i`, ascending by index.
    ///
    /// # Panics
    /// When `i` is not below `len()`.
    pub fn children(&self, i: u32) -> &[Link] {
        slice(&self.child_offsets, &self.children, i)
    }
}

fn slice<'a>(offsets: &[u32], items: &'a [Link], i: u32) -> &'a [Link] {
    let i = i as usize;
    match (offsets.get(i), offsets.get(i + 1)) {
        (Some(&from), Some(&to)) => &items[from as usize..to as usize],
        // An empty adjacency (no offsets at all) has nothing for any flow.
        _ if offsets.is_empty() => &[],
        _ => panic!("flow index {i} is outside the graph"),
    }
}

/// Where each of `n` rows starts, from the row of every item: `starts[k]` is the start of row
/// `k`, and `starts[n]` the number of items. [`place`] then moves each start forward as it
/// fills the row, and [`shift_back`] gives the starts again.
fn offsets(n: usize, rows: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut starts = vec![0u32; n + 1];
    for row in rows {
        starts[row as usize + 1] += 1;
    }
    for k in 0..n {
        starts[k + 1] += starts[k];
    }
    starts
}

/// Puts `item` at the next free place of `row` (items of a row keep the order they came in).
fn place(next: &mut [u32], items: &mut [Link], row: u32, item: Link) {
    let at = &mut next[row as usize];
    items[*at as usize] = item;
    *at += 1;
}

/// After every item is placed, `next[k]` is where row `k + 1` starts: shifted one place,
/// the starts again.
fn shift_back(mut next: Vec<u32>) -> Vec<u32> {
    next.pop();
    next.insert(0, 0);
    next
}

/// The rows of `n` compressed rows turned over: an item `t` of row `r` becomes the item `r`
/// of row `t`. Rows are walked in order, so each new row ascends (and keeps the order of
/// items with the same target).
fn transpose(n: usize, offsets: &[u32], items: &[Link]) -> (Vec<u32>, Vec<Link>) {
    let mut next = self::offsets(n, items.iter().map(|link| link.flow()));
    let mut turned = vec![Link::new(0, DependencyType::Required); items.len()];
    for r in 0..n {
        for &link in &items[offsets[r] as usize..offsets[r + 1] as usize] {
            let back = Link::packed(r as u32, link.dependency());
            place(&mut next, &mut turned, link.flow(), back);
        }
    }
    (shift_back(next), turned)
}

/// Rows up to this long are sorted by insertion (most rows: a flow has a few parents).
const SHORT_ROW: usize = 16;

/// A stable sort by target for a short row, with no work on a row that already ascends.
fn insertion_sort(cells: &mut [Link]) {
    for k in 1..cells.len() {
        let cell = cells[k];
        let mut at = k;
        while at > 0 && cells[at - 1].flow() > cell.flow() {
            cells[at] = cells[at - 1];
            at -= 1;
        }
        cells[at] = cell;
    }
}

/// Puts each row in ascending order of target (a stable sort, only where the row does not
/// ascend already) and drops every repeat of a target but the last given.
fn sort_rows_keeping_last(offsets: &mut [u32], targets: &mut Vec<Link>) {
    let mut kept = 0usize;
    let mut start = 0usize;
    for row in 0..offsets.len().saturating_sub(1) {
        let end = offsets[row + 1] as usize;
        let cells = &mut targets[start..end];
        // Stable: repeats of a target keep the order they were given in, latest last.
        if cells.len() <= SHORT_ROW {
            insertion_sort(cells);
        } else if !cells.windows(2).all(|w| w[0].flow() < w[1].flow()) {
            cells.sort_by_key(|link| link.flow());
        }
        for k in start..end {
            if k + 1 < end && targets[k + 1].flow() == targets[k].flow() {
                continue;
            }
            targets[kept] = targets[k];
            kept += 1;
        }
        start = end;
        // Fits: `kept` never exceeds the old offset.
        offsets[row + 1] = kept as u32;
    }
    targets.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacency_lists_parents_and_children_by_index() {
        let r = DependencyType::Required;
        let o = DependencyType::Optional;
        let adjacency = Adjacency::from_edges(4, [(2, 3, r), (0, 3, o), (0, 1, r)]);
        assert_eq!(adjacency.len(), 4);
        assert_eq!(adjacency.parents(3), [(0, o), (2, r)]);
        assert_eq!(adjacency.children(0), [(1, r), (3, o)]);
        assert!(adjacency.parents(0).is_empty() && adjacency.children(3).is_empty());
        assert!(Adjacency::default().is_empty());
        // A repeated pair is kept once, with the type given last.
        let repeated = Adjacency::from_edges(3, [(0, 2, r), (1, 2, r), (0, 2, o), (0, 1, o)]);
        assert_eq!(repeated.parents(2), [(0, o), (1, r)]);
        assert_eq!(repeated.children(0), [(1, o), (2, o)]);
        assert!(Adjacency::default().parents(7).is_empty());
    }

    #[test]
    fn a_child_index_with_the_type_bit_set_is_refused() {
        let child = Link::MAX_FLOW + 2;
        let refused = std::panic::catch_unwind(|| {
            Adjacency::from_edges(3, [(0, child, DependencyType::Required)])
        })
        .expect_err("a child index above MAX_FLOW is refused");
        let message = refused
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| refused.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(message.contains("does not fit in a link"), "{message}");
    }
}
