//! `Links`: the parents and children of every flow of a run, in flat arrays that grow as flows
//! join the run (a joining flow is one more row, never a second structure).

use std::sync::Arc;

use flow_graph::{Adjacency, DependencyType, Link};

/// The end of a list.
const NONE: u32 = u32::MAX;

/// Parents and children by flow index.
///
/// The flows a run starts with are read from the run's `Adjacency` as it is (shared, not
/// copied). A flow that joins is one more row: its parents, all known when it joins, are
/// appended as one slice; it becomes a child of existing flows, whose children added during
/// the run are lists threaded through one array of edges (`first`/`last` per flow, `next` per
/// edge), read after the adjacency's. Either way a flow's children come in the order they
/// were added.
#[derive(Debug)]
pub(crate) struct Links {
    base: Arc<Adjacency>,
    /// Parents of the rows from `base.len()` on: row `base.len() + k` has
    /// `parents[parent_start[k]..parent_start[k + 1]]`.
    parent_start: Vec<u32>,
    parents: Vec<Link>,
    first_child: Vec<u32>,
    last_child: Vec<u32>,
    child: Vec<Link>,
    next_child: Vec<u32>,
}

impl Links {
    /// The links of the flows of `adjacency`.
    pub(crate) fn new(adjacency: Arc<Adjacency>) -> Self {
        Links {
            base: adjacency,
            parent_start: vec![0],
            parents: Vec::new(),
            first_child: Vec::new(),
            last_child: Vec::new(),
            child: Vec::new(),
            next_child: Vec::new(),
        }
    }

    /// The number of flows.
    pub(crate) fn len(&self) -> usize {
        self.base.len() + self.parent_start.len() - 1
    }

    /// Adds a flow with these parents (existing flows); returns its index.
    pub(crate) fn push(&mut self, parents: &[(u32, DependencyType)]) -> u32 {
        let idx = self.len() as u32;
        for &(p, dependency) in parents {
            self.parents.push(Link::new(p, dependency));
            self.push_child(p, Link::new(idx, dependency));
        }
        self.parent_start.push(self.parents.len() as u32);
        idx
    }

    fn push_child(&mut self, p: u32, link: Link) {
        if self.first_child.len() <= p as usize {
            self.first_child.resize(p as usize + 1, NONE);
            self.last_child.resize(p as usize + 1, NONE);
        }
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
        match (i as usize).checked_sub(self.base.len()) {
            None => self.base.parents(i),
            Some(k) => {
                let (from, to) = (self.parent_start[k], self.parent_start[k + 1]);
                &self.parents[from as usize..to as usize]
            }
        }
    }

    fn base_children(&self, p: u32) -> &[Link] {
        if (p as usize) < self.base.len() {
            self.base.children(p)
        } else {
            &[]
        }
    }

    /// The first child of flow `p` as a cursor for [`next_child`](Self::next_child).
    #[inline]
    pub(crate) fn first_child(&self, p: u32) -> Cursor {
        Cursor {
            p,
            k: 0,
            e: self.first_child.get(p as usize).copied().unwrap_or(NONE),
        }
    }

    /// The child at `cursor`, and the cursor moved on; `None` at the end.
    #[inline]
    pub(crate) fn next_child(&self, cursor: Cursor) -> Option<(Link, Cursor)> {
        if let Some(&link) = self.base_children(cursor.p).get(cursor.k as usize) {
            let k = cursor.k + 1;
            return Some((link, Cursor { k, ..cursor }));
        }
        match cursor.e {
            NONE => None,
            e => {
                let e_next = self.next_child[e as usize];
                Some((
                    self.child[e as usize],
                    Cursor {
                        e: e_next,
                        ..cursor
                    },
                ))
            }
        }
    }
}

/// A position in a flow's children: in the adjacency's row, then in the list added since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor {
    p: u32,
    k: u32,
    e: u32,
}

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
        let mut links = Links::new(Arc::new(adjacency));
        assert_eq!(children(&links, 0), [1, 2]);
        assert_eq!(links.parents(2).len(), 2);
        let d = links.push(&[(0, r), (2, DependencyType::Optional)]);
        assert_eq!(d, 3);
        assert_eq!(children(&links, 0), [1, 2, 3]);
        assert_eq!(children(&links, 2), [3]);
        assert_eq!(links.parents(3)[1].dependency(), DependencyType::Optional);
        let mut empty = Links::new(Arc::default());
        assert_eq!(empty.push(&[]), 0);
        assert!(empty.parents(0).is_empty());
    }
}
