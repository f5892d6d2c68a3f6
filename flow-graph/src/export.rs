//! Exports of a [`FlowGraph`] to Graphviz DOT and Mermaid, optional edges dashed.

use std::fmt::Write;

use crate::{DependencyType, FlowGraph};

impl FlowGraph {
    /// The graph in Graphviz DOT: one node per flow in insertion order, then one edge per
    /// dependency, optional ones with `style=dashed`.
    ///
    /// ```
    /// # use flow_graph::{DependencyType, FlowGraph, FlowId};
    /// let mut g = FlowGraph::new();
    /// g.add_flow(FlowId::new("a")?)?;
    /// g.add_flow(FlowId::new("b")?)?;
    /// g.add_dependency("a", "b", DependencyType::Optional)?;
    /// assert_eq!(g.to_dot(), "digraph flow {\n  \"a\";\n  \"b\";\n  \"a\" -> \"b\" [style=dashed];\n}\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph flow {\n");
        for id in self.flows() {
            let _ = writeln!(out, "  \"{id}\";");
        }
        for (parent, child, dependency) in self.dependencies() {
            let style = match dependency {
                DependencyType::Required => "",
                DependencyType::Optional => " [style=dashed]",
            };
            let _ = writeln!(out, "  \"{parent}\" -> \"{child}\"{style};");
        }
        out.push_str("}\n");
        out
    }

    /// The graph as a Mermaid flowchart: nodes `n0`, `n1`, ... labelled with their ids (an id
    /// such as `a-b` would otherwise read as an arrow), `-->` for required and `-.->` for
    /// optional dependencies.
    pub fn to_mermaid(&self) -> String {
        let flows = self.flows();
        let number: std::collections::HashMap<_, _> = flows
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut out = String::from("flowchart TD\n");
        for (i, id) in flows.iter().enumerate() {
            let _ = writeln!(out, "  n{i}[\"{id}\"]");
        }
        for (parent, child, dependency) in self.dependencies() {
            let arrow = match dependency {
                DependencyType::Required => "-->",
                DependencyType::Optional => "-.->",
            };
            let _ = writeln!(out, "  n{} {arrow} n{}", number[&parent], number[&child]);
        }
        out
    }
}
