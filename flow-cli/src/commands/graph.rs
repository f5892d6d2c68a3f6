//! `flow graph FILE [--format dot|mermaid] [--collapsed]`: the dependency graph on stdout, one
//! node per flow, or with `--collapsed` one per definition (`[flows.NAME]`).

use std::fmt::Write as _;

use flow_graph::DependencyType;

use crate::cli::{GraphArgs, GraphFormat};
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::workflow::{self, Workflow};

/// Prints the graph of the file in the chosen format.
pub fn run(args: &GraphArgs) -> Result<u8, CliError> {
    let wf = workflow::load_with(&args.file, &args.params.set)?;
    let text = match (args.format, args.collapsed) {
        (GraphFormat::Dot, false) => wf.graph.to_dot(),
        (GraphFormat::Mermaid, false) => wf.graph.to_mermaid(),
        (format, true) => collapsed(&wf, format),
    };
    print_stdout(&text)?;
    Ok(0)
}

/// The graph of definitions: a matrix is one node labelled with its number of flows.
fn collapsed(wf: &Workflow, format: GraphFormat) -> String {
    let label = |d: usize| {
        let def = &wf.definitions[d];
        if def.matrix {
            format!("{} ({} flows)", def.name, def.flows.len())
        } else {
            def.name.clone()
        }
    };
    let edges = wf.definition_edges();
    let mut out = String::new();
    match format {
        GraphFormat::Dot => {
            out.push_str("digraph flow {\n");
            for (d, def) in wf.definitions.iter().enumerate() {
                let _ = writeln!(out, "  \"{}\" [label=\"{}\"];", def.name, label(d));
            }
            for &(p, c, kind) in &edges {
                let style = match kind {
                    DependencyType::Required => "",
                    DependencyType::Optional => " [style=dashed]",
                };
                let (p, c) = (&wf.definitions[p].name, &wf.definitions[c].name);
                let _ = writeln!(out, "  \"{p}\" -> \"{c}\"{style};");
            }
            out.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            out.push_str("flowchart TD\n");
            for d in 0..wf.definitions.len() {
                let _ = writeln!(out, "  n{d}[\"{}\"]", label(d));
            }
            for &(p, c, kind) in &edges {
                let arrow = match kind {
                    DependencyType::Required => "-->",
                    DependencyType::Optional => "-.->",
                };
                let _ = writeln!(out, "  n{p} {arrow} n{c}");
            }
        }
    }
    out
}
