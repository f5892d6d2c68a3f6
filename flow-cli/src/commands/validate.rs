//! `flow validate FILE [--set NAME=VALUE]...`: load the workflow and report every problem, or a
//! one-line summary (with how many definitions the flows come from, when a matrix made them).

use crate::cli::FileArg;
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::workflow;

/// Validates the file; the problems come back as the error.
pub fn run(args: &FileArg) -> Result<u8, CliError> {
    let wf = workflow::load_with(&args.file, &args.params.set)?;
    super::brackets::warn(&wf);
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut flows = plural(wf.flows.len(), "flow", "flows");
    if wf.has_matrix() {
        flows.push_str(" from ");
        flows.push_str(&plural(wf.definitions.len(), "definition", "definitions"));
    }
    print_stdout(&format!(
        "{}: ok, workflow `{}` with {flows} and {}\n",
        crate::terminal::path(&args.file),
        crate::terminal::safe(&wf.name),
        plural(wf.graph.dependency_count(), "dependency", "dependencies")
    ))?;
    Ok(0)
}
