//! `flow validate FILE`: load the workflow and report every problem, or a one-line summary.

use crate::cli::FileArg;
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::workflow;

/// Validates the file; the problems come back as the error.
pub fn run(args: &FileArg) -> Result<u8, CliError> {
    let wf = workflow::load(&args.file)?;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    print_stdout(&format!(
        "{}: ok, workflow `{}` with {} and {}\n",
        crate::terminal::safe(&args.file.display().to_string()),
        crate::terminal::safe(&wf.name),
        plural(wf.flows.len(), "flow", "flows"),
        plural(wf.graph.dependency_count(), "dependency", "dependencies")
    ))?;
    Ok(0)
}
