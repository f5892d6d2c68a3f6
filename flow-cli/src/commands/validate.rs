//! `flow validate FILE [--set NAME=VALUE]... [--json]`: load the workflow and report every
//! problem, or a one-line summary (with how many definitions the flows come from, when a
//! matrix made them, and how many flows a bare `flow run FILE` runs, when `default` or
//! `manual` leaves some out); with `--json`, the same as one document.

use serde::Serialize;

use crate::cli::ValidateArgs;
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::workflow;

/// Validates the file; the problems come back as the error.
pub fn run(args: &ValidateArgs) -> Result<u8, CliError> {
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
    let kept = wf.runs(&[])?;
    if args.json {
        let summary = Summary {
            status: "ok",
            file: &args.file.to_string_lossy(),
            workflow: &wf.name,
            flows: wf.flows.len(),
            definitions: wf.definitions.len(),
            dependencies: wf.graph.dependency_count(),
            runs_without_targets: kept
                .as_ref()
                .map_or(wf.flows.len(), |keep| keep.iter().filter(|k| **k).count()),
            problems: [],
        };
        // Plain strings and numbers always serialize.
        let json = serde_json::to_string(&summary).unwrap_or_default();
        print_stdout(&format!("{json}\n"))?;
        return Ok(0);
    }
    let bare = match kept {
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

/// The `--json` document of a valid file. An invalid one prints the error document
/// ([`CliError::to_json`]), whose `problems` list each one.
#[derive(Serialize)]
struct Summary<'a> {
    status: &'static str,
    /// The file as given.
    file: &'a str,
    /// The workflow's name.
    workflow: &'a str,
    /// How many flows the file defines (with every matrix value).
    flows: usize,
    /// How many `[flows.NAME]` definitions make them.
    definitions: usize,
    /// How many dependencies there are between flows.
    dependencies: usize,
    /// How many flows a bare `flow run FILE` runs (`default` and `manual` leave some out).
    runs_without_targets: usize,
    /// None: the shape of the error document's.
    problems: [(); 0],
}
