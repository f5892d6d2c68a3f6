//! `flow validate FILE [--set NAME=VALUE]...`: load the workflow and report every problem, or a
//! one-line summary (with how many definitions the flows come from, when a matrix made them,
//! and how many flows a bare `flow run FILE` runs, when `default` or `manual` leaves some out).

use crate::cli::FileArg;
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::workflow;

/// Validates the file; the problems come back as the error.
pub fn run(args: &FileArg) -> Result<u8, CliError> {
    let wf = workflow::load_with(&args.file, &args.params.set)?;
    super::brackets::warn(&wf);
    super::interpreter::warn(&wf);
    super::unused_params::warn(&wf);
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut flows = plural(wf.flows.len(), "flow", "flows");
    if wf.has_matrix() {
        flows.push_str(" from ");
        flows.push_str(&plural(wf.definitions.len(), "definition", "definitions"));
    }
    // What a bare `flow run FILE` runs, when `default` or `manual` leaves flows out.
    let bare = match wf.runs(&[])? {
        None => String::new(),
        Some(keep) => match keep.iter().filter(|k| **k).count() {
            0 => "; every flow is `manual`: `flow run` needs targets".to_owned(),
            n => format!(
                "; `flow run` without targets runs {n} of them ({})",
                match wf.default {
                    Some(_) => "`[workflow] default` and what it needs",
                    None => "those not `manual` and what they need",
                }
            ),
        },
    };
    print_stdout(&format!(
        "{}: ok, workflow `{}` with {flows} and {}{bare}\n",
        crate::terminal::path(&args.file),
        crate::terminal::safe(&wf.name),
        plural(wf.graph.dependency_count(), "dependency", "dependencies")
    ))?;
    Ok(0)
}
