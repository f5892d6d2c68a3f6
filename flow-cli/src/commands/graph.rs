//! `flow graph FILE [--format dot|mermaid]`: the dependency graph on stdout.

use crate::cli::{GraphArgs, GraphFormat};
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::workflow;

/// Prints the graph of the file in the chosen format.
pub fn run(args: &GraphArgs) -> Result<u8, CliError> {
    let wf = workflow::load(&args.file)?;
    let text = match args.format {
        GraphFormat::Dot => wf.graph.to_dot(),
        GraphFormat::Mermaid => wf.graph.to_mermaid(),
    };
    print_stdout(&text)?;
    Ok(0)
}
