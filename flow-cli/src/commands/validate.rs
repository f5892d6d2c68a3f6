//! `flow validate FILE`: load the workflow and report every problem, or a one-line summary.

use crate::cli::FileArg;
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::workflow;

/// Validates the file; the problems come back as the error.
pub fn run(args: &FileArg) -> Result<u8, CliError> {
    let wf = workflow::load(&args.file)?;
    print_stdout(&format!(
        "{}: ok, workflow `{}` with {} flows and {} dependencies\n",
        args.file.display(),
        wf.name,
        wf.flows.len(),
        wf.graph.dependency_count()
    ))?;
    Ok(0)
}
