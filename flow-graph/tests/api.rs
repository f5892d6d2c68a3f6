//! The public API of flow-graph, case by case.

use flow_graph::{DependencyType::*, FlowGraph, FlowId, GraphError};

fn graph(flows: &[&str]) -> FlowGraph {
    let mut graph = FlowGraph::new();
    for id in flows {
        graph.add_flow(FlowId::new(id).unwrap()).unwrap();
    }
    graph
}

#[test]
fn a_duplicate_flow_is_an_error_naming_it() {
    let mut g = graph(&["a"]);
    let err = g.add_flow(FlowId::new("a").unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "flow `a` is already registered");
}

#[test]
fn an_unknown_flow_is_an_error_naming_it() {
    let mut g = graph(&["a"]);
    let err = g.add_dependency("a", "x", Required).unwrap_err();
    assert_eq!(err, GraphError::UnknownFlow("x".into()));
    assert_eq!(err.to_string(), "unknown flow `x`");
    let err = g.add_dependencies([("a", "a2", Required)]).unwrap_err();
    assert_eq!(err.to_string(), "unknown flow `a2`");
}

#[test]
fn a_self_dependency_is_a_cycle_of_one() {
    let mut g = graph(&["a"]);
    let err = g.add_dependency("a", "a", Required).unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle: a -> a");
    let err = g.add_dependencies([("a", "a", Optional)]).unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle: a -> a");
}

#[test]
fn a_cycle_is_named_in_order() {
    let mut g = graph(&["a", "b", "c"]);
    g.add_dependency("a", "b", Required).unwrap();
    g.add_dependency("b", "c", Required).unwrap();
    let err = g.add_dependency("c", "a", Optional).unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle: c -> a -> b -> c");
    assert!(g.would_cycle("c", "a").unwrap().is_some());
    assert!(g.would_cycle("a", "c").unwrap().is_none());
    assert!(!g.has_cycle("a").unwrap());
}

#[test]
fn a_batch_closing_a_cycle_adds_nothing_and_names_the_cycle() {
    let mut g = graph(&["a", "b", "c", "d"]);
    g.add_dependency("c", "d", Required).unwrap();
    let err = g
        .add_dependencies([
            ("a", "b", Required),
            ("b", "c", Required),
            ("d", "a", Required),
        ])
        .unwrap_err();
    let GraphError::Cycle(cycle) = err else {
        panic!("{err}")
    };
    assert_eq!(cycle.path.len(), 5);
    assert_eq!(g.dependency_count(), 1);
}

#[test]
fn adding_an_existing_dependency_updates_its_type() {
    let mut g = graph(&["a", "b"]);
    g.add_dependency("a", "b", Required).unwrap();
    g.add_dependency("a", "b", Optional).unwrap();
    assert_eq!(g.dependency("a", "b"), Some(Optional));
    g.add_dependencies([("a", "b", Optional), ("a", "b", Required)])
        .unwrap();
    assert_eq!(g.dependency("a", "b"), Some(Required));
    assert_eq!(g.dependency_count(), 1);
}

#[test]
fn removing_a_flow_removes_its_edges_and_keeps_the_rest_addressable() {
    let mut g = graph(&["a", "b", "c", "d"]);
    g.add_dependencies([
        ("a", "b", Required),
        ("b", "c", Required),
        ("c", "d", Optional),
    ])
    .unwrap();
    g.remove_flow("a").unwrap();
    assert_eq!(g.flows(), ["b", "c", "d"]);
    assert_eq!(
        g.parents("d").unwrap(),
        [(FlowId::new("c").unwrap(), Optional)]
    );
    assert_eq!(
        g.children("b").unwrap(),
        [(FlowId::new("c").unwrap(), Required)]
    );
    assert_eq!(g.topological_order(), ["b", "c", "d"]);
    assert_eq!(
        g.remove_flow("a").unwrap_err().to_string(),
        "unknown flow `a`"
    );
}

#[test]
fn topological_ties_follow_insertion_order() {
    let mut g = graph(&["z", "y", "x", "w"]);
    g.add_dependency("x", "y", Required).unwrap();
    assert_eq!(g.topological_order(), ["z", "x", "y", "w"]);
    assert_eq!(g.roots(), ["z", "x", "w"]);
    assert_eq!(g.leaves(), ["z", "y", "w"]);
}

#[test]
fn failure_reach_follows_required_paths_only() {
    // a -req-> b -req-> c ; a -opt-> d -req-> e ; d -req-> c
    let mut g = graph(&["a", "b", "c", "d", "e"]);
    g.add_dependencies([
        ("a", "b", Required),
        ("b", "c", Required),
        ("a", "d", Optional),
        ("d", "e", Required),
        ("d", "c", Required),
    ])
    .unwrap();
    assert_eq!(g.failure_reach("a").unwrap(), ["b", "c"]);
    assert_eq!(g.failure_reach("d").unwrap(), ["c", "e"]);
}

#[test]
fn mermaid_quotes_ids_that_would_read_as_arrows() {
    let mut g = graph(&["a-b", "c"]);
    g.add_dependency("a-b", "c", Optional).unwrap();
    assert_eq!(
        g.to_mermaid(),
        "flowchart TD\n  n0[\"a-b\"]\n  n1[\"c\"]\n  n0 -.-> n1\n"
    );
}

#[test]
fn the_indexed_copy_numbers_flows_in_insertion_order() {
    let mut g = graph(&["a", "b", "c"]);
    g.add_dependencies([("a", "c", Required), ("b", "c", Optional)])
        .unwrap();
    let ix = g.indexed();
    assert_eq!(ix.id(2).as_str(), "c");
    assert_eq!(ix.parents(2), [(0, Required), (1, Optional)]);
    assert_eq!(ix.children(0), [(2, Required)]);
    assert!(ix.children(2).is_empty());
}
