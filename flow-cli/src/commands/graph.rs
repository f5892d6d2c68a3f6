//! `flow graph FILE [--format dot|mermaid] [--collapsed]`: the dependency graph on stdout, one
//! node per flow, or with `--collapsed` one per definition (`[flows.NAME]`). The flows a bare
//! `flow run FILE` leaves out (`manual`, or not reached from `[workflow] default`) are dotted.

use std::fmt::Write as _;

use flow_graph::DependencyType;

use crate::cli::{GraphArgs, GraphFormat};
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::workflow::{self, Workflow};

/// Prints the graph of the file in the chosen format.
pub fn run(args: &GraphArgs) -> Result<u8, CliError> {
    let wf = workflow::load_with(&args.file, &args.params.set)?;
    let bare = wf.runs(&[])?;
    let text = match (args.format, args.collapsed) {
        (GraphFormat::Dot, false) => wf.graph.to_dot(),
        (GraphFormat::Mermaid, false) => wf.graph.to_mermaid(),
        (format, true) => collapsed(&wf, format),
    };
    let text = match bare {
        Some(keep) => left_out(text, &wf, &keep, args),
        None => text,
    };
    print_stdout(&text)?;
    Ok(0)
}

/// `text` with the nodes of the flows that a bare `flow run` leaves out (those not in `keep`)
/// dotted: with `--collapsed`, a definition none of whose flows it runs.
fn left_out(mut text: String, wf: &Workflow, keep: &[bool], args: &GraphArgs) -> String {
    // Node numbers (Mermaid) and names (DOT), in the order the graph writes them.
    let out: Vec<(usize, &str)> = if args.collapsed {
        (wf.definitions.iter().enumerate())
            .filter(|(_, d)| !keep[d.flows.clone()].contains(&true))
            .map(|(n, d)| (n, d.name.as_str()))
            .collect()
    } else {
        let index: rustc_hash::FxHashMap<&str, usize> = (wf.flows.iter().enumerate())
            .map(|(i, f)| (f.id.as_str(), i))
            .collect();
        (wf.graph.flows().iter().enumerate())
            .filter(|(_, id)| !keep[index[id.as_str()]])
            .map(|(n, id)| (n, wf.flows[index[id.as_str()]].id.as_str()))
            .collect()
    };
    if out.is_empty() {
        return text;
    }
    const WHY: &str = "dotted: left out of `flow run` without targets (manual, or not needed \
                       by [workflow] default)";
    match args.format {
        GraphFormat::Dot => {
            text.truncate(text.trim_end().trim_end_matches('}').len());
            let _ = writeln!(text, "  // {WHY}");
            for (_, name) in &out {
                let _ = writeln!(text, "  \"{name}\" [style=dotted];");
            }
            text.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            let _ = writeln!(text, "  %% {WHY}");
            text.push_str("  classDef left_out stroke-dasharray: 2 3\n");
            let nodes: Vec<String> = out.iter().map(|(n, _)| format!("n{n}")).collect();
            let _ = writeln!(text, "  class {} left_out", nodes.join(","));
        }
    }
    text
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
