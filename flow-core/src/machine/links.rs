//! `Links`: the parents and children of every flow of a run, in flat arrays that grow as flows
//! join the run (a joining flow is one more row, never a second structure).

use flow_graph::{Adjacency, DependencyType, Link};

/// The end of a list.
const NONE: u32 = u32::MAX;

/// Parents and children by flow index.
///
/// A flow's parents are all known when it becomes a row, so they are one contiguous slice
/// (rows appended in order). Its children grow as flows join, so each flow's children are a
/// list threaded through one array of edges (`first`/`last` per flow, `next` per edge), kept
/// in the order they were added: ascending for the rows a run starts with.
#[derive(Debug, Default)]
pub(crate) struct Links {
    parent_start: Vec<u32>,
    parents: Vec<Link>,
    first_child: Vec<u32>,
    last_child: Vec<u32>,
    child: Vec<Link>,
    next_child: Vec<u32>,
}

impl Links {
    /// The links of the flows of `adjacency`.
    pub(crate) fn new(adjacency: &Adjacency) -> Self {
        let n = adjacency.len();
        let mut links = Links {
            parent_start: Vec::with_capacity(n + 1),
            parents: Vec::new(),
            first_child: Vec::with_capacity(n),
            last_child: Vec::with_capacity(n),
            child: Vec::new(),
            next_child: Vec::new(),
        };
        links.parent_start.push(0);
        for i in 0..n as u32 {
            links.parents.extend_from_slice(adjacency.parents(i));
            links.parent_start.push(links.parents.len() as u32);
            links.first_child.push(NONE);
            links.last_child.push(NONE);
        }
        links.child.reserve(links.parents.len());
        links.next_child.reserve(links.parents.len());
        for p in 0..n as u32 {
            for &link in adjacency.children(p) {
                links.push_child(p, link);
            }
        }
        links
    }

    /// The number of flows.
    pub(crate) fn len(&self) -> usize {
        self.first_child.len()
    }

    /// Adds a flow with these parents (existing flows); returns its index.
    pub(crate) fn push(&mut self, parents: &[(u32, DependencyType)]) -> u32 {
        if self.parent_start.is_empty() {
            self.parent_start.push(0);
        }
        let idx = self.len() as u32;
        self.first_child.push(NONE);
        self.last_child.push(NONE);
        for &(p, dependency) in parents {
            self.parents.push(Link::new(p, dependency));
            self.push_child(p, Link::new(idx, dependency));
        }
        self.parent_start.push(self.parents.len() as u32);
        idx
    }

    fn push_child(&mut self, p: u32, link: Link) {
        let e = self.child.len() as u32;
        self.child.push(link);
        self.next_child.push(NONE);
        match self.last_child[p as usize] {
            NONE => self.first_child[p as usize] = e,
            last => self.next_child[last as usize] = e,
        }
        self.last_child[p as usize] = e;
    }

    /// The parents of flow `i`.
    pub(crate) fn parents(&self, i: u32) -> &[Link] {
        let (from, to) = (
            self.parent_start[i as usize],
            self.parent_start[i as usize + 1],
        );
        &self.parents[from as usize..to as usize]
    }

    /// The first child of flow `p` as a cursor for [`next_child`](Self::next_child).
    #[inline]
    pub(crate) fn first_child(&self, p: u32) -> Cursor {
        Cursor(self.first_child[p as usize])
    }

    /// The child at `cursor`, and the cursor moved on; `None` at the end.
    #[inline]
    pub(crate) fn next_child(&self, cursor: Cursor) -> Option<(Link, Cursor)> {
        match cursor.0 {
            NONE => None,
            e => Some((self.child[e as usize], Cursor(self.next_child[e as usize]))),
        }
    }
}

/// A position in a list of children.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor(u32);

#[cfg(test)]
mod tests {
    use super::*;

    fn children(links: &Links, p: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cursor = links.first_child(p);
        while let Some((link, next)) = links.next_child(cursor) {
            out.push(link.flow());
            cursor = next;
        }
        out
    }

    #[test]
    fn rows_of_a_graph_and_rows_that_join_read_alike() {
        let r = DependencyType::Required;
        let adjacency = Adjacency::from_edges(3, [(0, 2, r), (1, 2, r), (0, 1, r)]);
        let mut links = Links::new(&adjacency);
        assert_eq!(children(&links, 0), [1, 2]);
        assert_eq!(links.parents(2).len(), 2);
        let d = links.push(&[(0, r), (2, DependencyType::Optional)]);
        assert_eq!(d, 3);
        assert_eq!(children(&links, 0), [1, 2, 3]);
        assert_eq!(children(&links, 2), [3]);
        assert_eq!(links.parents(3)[1].dependency(), DependencyType::Optional);
        let mut empty = Links::default();
        assert_eq!(empty.push(&[]), 0);
        assert!(empty.parents(0).is_empty());
    }
}
