//! Finding the cycle that a refused batch of dependencies would close.

use daggy::petgraph::Direction;
use daggy::{Dag, NodeIndex};

use crate::graph::Node;
use crate::DependencyType;

/// A cycle in the graph plus the `proposed` edges, as `[a, b, ..., a]`; empty when there is
/// none. The graph itself is acyclic, so any cycle found uses a proposed edge.
pub(crate) fn find_cycle_through_batch(
    dag: &Dag<Node, DependencyType, u32>,
    proposed: &[(NodeIndex<u32>, NodeIndex<u32>)],
) -> Vec<NodeIndex<u32>> {
    let graph = dag.graph();
    let n = graph.node_count();
    let mut extra: Vec<Vec<NodeIndex<u32>>> = vec![Vec::new(); n];
    for &(p, c) in proposed {
        extra[p.index()].push(c);
    }
    let children = |v: NodeIndex<u32>| -> Vec<NodeIndex<u32>> {
        graph
            .neighbors_directed(v, Direction::Outgoing)
            .chain(extra[v.index()].iter().copied())
            .collect()
    };

    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; n];
    // Only nodes touching a proposed edge can start a cycle's search usefully.
    for &(start, _) in proposed {
        if mark[start.index()] != Mark::New {
            continue;
        }
        let mut stack: Vec<(NodeIndex<u32>, Vec<NodeIndex<u32>>)> = vec![(start, children(start))];
        mark[start.index()] = Mark::OnStack;
        while let Some((_, pending)) = stack.last_mut() {
            match pending.pop() {
                Some(next) => match mark[next.index()] {
                    Mark::New => {
                        mark[next.index()] = Mark::OnStack;
                        let next_children = children(next);
                        stack.push((next, next_children));
                    }
                    Mark::OnStack => {
                        let from = stack
                            .iter()
                            .position(|(v, _)| *v == next)
                            .expect("on stack");
                        let mut cycle: Vec<_> = stack[from..].iter().map(|(v, _)| *v).collect();
                        cycle.push(next);
                        return cycle;
                    }
                    Mark::Done => {}
                },
                None => {
                    let (v, _) = stack.pop().expect("non-empty");
                    mark[v.index()] = Mark::Done;
                }
            }
        }
    }
    Vec::new()
}
