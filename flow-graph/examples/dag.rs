//! The DAG on its own: build one, see a cycle refused with the cycle named, ask which flows a
//! failure would take down, and export the graph as Graphviz DOT.
//!
//! ```text
//! cargo run -p flow-graph --example dag
//! cargo run -p flow-graph --example dag | dot -Tsvg > dag.svg   # the DOT part, with Graphviz
//! ```
#![allow(clippy::print_stdout)] // an example program: it prints

use flow_graph::{DependencyType, FlowGraph, FlowId, GraphError};

fn main() -> Result<(), GraphError> {
    let mut graph = FlowGraph::new();
    for name in ["fetch", "holidays", "clean", "model", "report", "publish"] {
        graph.add_flow(FlowId::new(name)?)?;
    }
    // Add many dependencies at once: one cycle check for the batch, all or nothing.
    graph.add_dependencies([
        ("fetch", "clean", DependencyType::Required),
        ("clean", "model", DependencyType::Required),
        ("model", "report", DependencyType::Required),
        ("holidays", "report", DependencyType::Optional),
        ("report", "publish", DependencyType::Required),
    ])?;

    // A dependency that would close a cycle is refused, and the error names the cycle; the
    // graph is left as it was.
    match graph.add_dependency("publish", "clean", DependencyType::Required) {
        Err(GraphError::Cycle(cycle)) => eprintln!("refused: {cycle}"),
        other => panic!("expected a cycle, got {other:?}"),
    }
    // The same question without trying: `would_cycle`.
    if let Some(cycle) = graph.would_cycle("report", "fetch")? {
        eprintln!("would close: {cycle}");
    }

    let order: Vec<&str> = graph
        .topological_order()
        .iter()
        .map(|id| id.as_str())
        .collect();
    eprintln!("order: {}", order.join(", "));

    // What a failure fails: every flow behind it through required dependencies. `report`
    // only optionally needs `holidays`, so a failure there takes nothing down.
    for flow in ["clean", "holidays"] {
        let reach: Vec<String> = graph
            .failure_reach(flow)?
            .iter()
            .map(ToString::to_string)
            .collect();
        eprintln!("a failure of {flow} fails: [{}]", reach.join(", "));
    }

    // Graphviz DOT on stdout (optional dependencies are dashed); `to_mermaid` for Markdown.
    println!("{}", graph.to_dot());
    Ok(())
}
