//! Property tests of `FlowGraph`'s invariants over random sequences of calls.
//!
//! `cargo xtask ci --deep` runs them with ten times the cases (through `PROPTEST_CASES`).

use std::collections::{BTreeSet, HashSet};

use flow_graph::{DependencyType, FlowGraph, FlowId, GraphError};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    AddFlow(u8),
    AddDependency(u8, u8, DependencyType),
    AddDependencies(Vec<(u8, u8, DependencyType)>),
    RemoveFlow(u8),
}

fn dependency_type() -> impl Strategy<Value = DependencyType> {
    prop_oneof![
        Just(DependencyType::Required),
        Just(DependencyType::Optional)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..16).prop_map(Op::AddFlow),
        6 => (0u8..16, 0u8..16, dependency_type()).prop_map(|(a, b, d)| Op::AddDependency(a, b, d)),
        2 => prop::collection::vec((0u8..16, 0u8..16, dependency_type()), 0..6)
            .prop_map(Op::AddDependencies),
        1 => (0u8..16).prop_map(Op::RemoveFlow),
    ]
}

fn name(n: u8) -> String {
    format!("f{n}")
}

/// Everything observable about a graph, to compare before and after a call.
fn snapshot(graph: &FlowGraph) -> (Vec<FlowId>, Vec<(FlowId, FlowId, DependencyType)>) {
    (graph.flows(), graph.dependencies())
}

fn edge_set(graph: &FlowGraph) -> HashSet<(String, String)> {
    graph
        .dependencies()
        .into_iter()
        .map(|(p, c, _)| (p.to_string(), c.to_string()))
        .collect()
}

/// Applies `op`; returns the call's error, if it was refused.
fn apply(graph: &mut FlowGraph, op: &Op) -> Result<(), GraphError> {
    match op {
        Op::AddFlow(n) => graph.add_flow(FlowId::new(name(*n)).unwrap()),
        Op::AddDependency(a, b, d) => graph.add_dependency(&name(*a), &name(*b), *d),
        Op::AddDependencies(batch) => {
            graph.add_dependencies(batch.iter().map(|(a, b, d)| (name(*a), name(*b), *d)))
        }
        Op::RemoveFlow(n) => graph.remove_flow(&name(*n)).map(|_| ()),
    }
}

/// Builds a graph from a random sequence of calls, ignoring refused ones.
fn build(ops: &[Op]) -> FlowGraph {
    let mut graph = FlowGraph::new();
    for op in ops {
        let _ = apply(&mut graph, op);
    }
    graph
}

/// A reference cycle check: repeatedly strip flows with no remaining parent.
fn is_acyclic(graph: &FlowGraph) -> bool {
    let mut remaining: BTreeSet<String> = graph.flows().iter().map(|f| f.to_string()).collect();
    let edges = edge_set(graph);
    loop {
        let free: Vec<String> = remaining
            .iter()
            .filter(|f| !edges.iter().any(|(p, c)| c == *f && remaining.contains(p)))
            .cloned()
            .collect();
        if free.is_empty() {
            return remaining.is_empty();
        }
        for f in free {
            remaining.remove(&f);
        }
    }
}

proptest! {
    /// Any sequence of add-flow/add-dependency/remove calls leaves the graph acyclic.
    #[test]
    fn every_sequence_of_calls_leaves_the_graph_acyclic(ops in prop::collection::vec(op(), 0..60)) {
        prop_assert!(is_acyclic(&build(&ops)));
    }

    /// A refused call leaves the graph exactly as it was.
    #[test]
    fn a_refused_call_leaves_the_graph_unchanged(ops in prop::collection::vec(op(), 0..60)) {
        let mut graph = FlowGraph::new();
        for op in &ops {
            let before = snapshot(&graph);
            if apply(&mut graph, op).is_err() {
                prop_assert_eq!(&before, &snapshot(&graph), "after refused {:?}", op);
            }
        }
    }

    /// A reported cycle is a real cycle, and it goes through the rejected edge (or, for a
    /// batch, through at least one edge of the batch).
    #[test]
    fn a_reported_cycle_is_a_real_cycle_through_the_rejected_edge(
        ops in prop::collection::vec(op(), 0..60)
    ) {
        let mut graph = FlowGraph::new();
        for op in &ops {
            let existing = edge_set(&graph);
            let proposed: HashSet<(String, String)> = match op {
                Op::AddDependency(a, b, _) => HashSet::from([(name(*a), name(*b))]),
                Op::AddDependencies(batch) => {
                    batch.iter().map(|(a, b, _)| (name(*a), name(*b))).collect()
                }
                _ => HashSet::new(),
            };
            if let Err(GraphError::Cycle(cycle)) = apply(&mut graph, op) {
                let path: Vec<String> = cycle.path.iter().map(|f| f.to_string()).collect();
                prop_assert!(path.len() >= 2);
                prop_assert_eq!(path.first(), path.last());
                let steps: Vec<(String, String)> =
                    path.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect();
                for step in &steps {
                    prop_assert!(existing.contains(step) || proposed.contains(step), "{:?}", step);
                }
                prop_assert!(steps.iter().any(|s| proposed.contains(s)));
                if let Op::AddDependency(a, b, _) = op {
                    prop_assert_eq!(&steps[0], &(name(*a), name(*b)));
                }
            }
        }
    }

    /// The topological order lists every flow once and puts every parent before its children.
    #[test]
    fn the_topological_order_respects_every_edge(ops in prop::collection::vec(op(), 0..60)) {
        let graph = build(&ops);
        let order: Vec<String> = graph.topological_order().iter().map(|f| f.to_string()).collect();
        prop_assert_eq!(order.len(), graph.len());
        let position = |id: &str| order.iter().position(|o| o == id).unwrap();
        for (p, c) in edge_set(&graph) {
            prop_assert!(position(&p) < position(&c), "{} before {}", p, c);
        }
    }

    /// The failure reach equals a brute-force fixpoint: a flow fails when any required parent
    /// failed.
    #[test]
    fn the_failure_reach_equals_a_brute_force_reference(
        ops in prop::collection::vec(op(), 0..60),
        pick in any::<prop::sample::Index>(),
    ) {
        let graph = build(&ops);
        prop_assume!(!graph.is_empty());
        let flows = graph.flows();
        let start = flows[pick.index(flows.len())].to_string();
        let required: Vec<(String, String)> = graph
            .dependencies()
            .into_iter()
            .filter(|(_, _, d)| *d == DependencyType::Required)
            .map(|(p, c, _)| (p.to_string(), c.to_string()))
            .collect();
        let mut failed: BTreeSet<String> = BTreeSet::from([start.clone()]);
        loop {
            let before = failed.len();
            for (p, c) in &required {
                if failed.contains(p) {
                    failed.insert(c.clone());
                }
            }
            if failed.len() == before {
                break;
            }
        }
        failed.remove(&start);
        let reach: BTreeSet<String> =
            graph.failure_reach(&start).unwrap().iter().map(|f| f.to_string()).collect();
        prop_assert_eq!(reach, failed);
    }

    /// The DOT export lists exactly the graph's edges, dashed exactly when optional.
    #[test]
    fn the_dot_export_lists_exactly_the_graphs_edges(ops in prop::collection::vec(op(), 0..60)) {
        let graph = build(&ops);
        let dot = graph.to_dot();
        let mut exported = BTreeSet::new();
        for line in dot.lines().filter(|l| l.contains("->")) {
            let dashed = line.contains("style=dashed");
            let mut parts = line.trim().trim_end_matches(';').split(" -> ");
            let parent = parts.next().unwrap().trim_matches('"').to_string();
            let child = parts.next().unwrap().split(' ').next().unwrap().trim_matches('"').to_string();
            exported.insert((parent, child, dashed));
        }
        let expected: BTreeSet<_> = graph
            .dependencies()
            .into_iter()
            .map(|(p, c, d)| (p.to_string(), c.to_string(), d == DependencyType::Optional))
            .collect();
        prop_assert_eq!(exported, expected);
    }
}

proptest! {
    /// `Adjacency::from_edges` on any edges, repeats included, lists each pair once with the
    /// type given last, parents and children ascending by index.
    #[test]
    fn the_adjacency_keeps_each_pair_once_with_its_last_type(
        len in 1usize..12,
        edges in prop::collection::vec((0u32..12, 0u32..12, dependency_type()), 0..60),
    ) {
        let edges: Vec<_> = edges
            .into_iter()
            .map(|(p, c, d)| (p % len as u32, c % len as u32, d))
            .collect();
        let mut model = std::collections::BTreeMap::new();
        for &(p, c, d) in &edges {
            model.insert((p, c), d);
        }
        let adjacency = flow_graph::Adjacency::from_edges(len, edges.iter().copied());
        for i in 0..len as u32 {
            let parents: Vec<_> = model
                .iter()
                .filter(|((_, c), _)| *c == i)
                .map(|(&(p, _), &d)| (p, d))
                .collect();
            let mut children: Vec<_> = model
                .iter()
                .filter(|((p, _), _)| *p == i)
                .map(|(&(_, c), &d)| (c, d))
                .collect();
            children.sort_by_key(|&(c, _)| c);
            prop_assert_eq!(adjacency.parents(i), &parents[..]);
            prop_assert_eq!(adjacency.children(i), &children[..]);
        }
    }
}
