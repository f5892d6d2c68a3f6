//! Where a command that reads runs (`results`, `runs`, `logs`, `report`, and `prune`, which
//! deletes them) looks: the folder of the workflow file and its workflow's name, also while
//! the file has problems, as its runs are there to be read while it is being fixed.

use std::path::{Path, PathBuf};

use crate::error::CliError;
use crate::terminal;
use crate::workflow::{self, Diagnostics, Name};

/// The folder whose default store and logs to read, and, when a file was given, its
/// workflow's name (when it can be read) and (if the file has no problem) the workflow.
pub struct Located {
    pub dir: PathBuf,
    pub name: Option<String>,
    pub wf: Option<workflow::Workflow>,
}

/// Whether a command may go on without the workflow's name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// It reads runs: without the name, those of every workflow in the file's folder.
    NameIfKnown,
    /// It deletes runs: only those of the file's workflow, so it must know its name.
    Name,
}

/// [`Located`] for `file`, if given, for a command that reads runs.
pub fn locate(file: Option<&Path>) -> Result<Located, CliError> {
    locate_as(file, &[], Needs::NameIfKnown)
}

/// As [`locate`], with the `--set` overrides of the workflow's params.
pub fn locate_with(file: Option<&Path>, sets: &[(String, String)]) -> Result<Located, CliError> {
    locate_as(file, sets, Needs::NameIfKnown)
}

/// As [`locate`], for `flow prune`: an error when the file's workflow name cannot be read.
pub fn locate_to_prune(file: Option<&Path>) -> Result<Located, CliError> {
    locate_as(file, &[], Needs::Name)
}

/// [`Located`] for `file`. A file with problems (that does not even parse, or that does not
/// validate) still gives its folder and, where it can be read, its name, with one line on
/// stderr naming its first problem and whose runs are read.
fn locate_as(
    file: Option<&Path>,
    sets: &[(String, String)],
    needs: Needs,
) -> Result<Located, CliError> {
    let Some(file) = file else {
        return Ok(Located {
            dir: PathBuf::from("."),
            name: None,
            wf: None,
        });
    };
    let diags = match workflow::load_with(file, sets) {
        Ok(wf) => {
            return Ok(Located {
                dir: wf.dir.clone(),
                name: Some(wf.name.clone()),
                wf: Some(wf),
            })
        }
        // A problem of the `--set` values themselves (the file is fine without them) is theirs.
        Err(error @ CliError::InvalidWorkflow(_))
            if !sets.is_empty() && workflow::load_with(file, &[]).is_ok() =>
        {
            return Err(error)
        }
        Err(CliError::InvalidWorkflow(diags)) => diags,
        Err(error) => return Err(error),
    };
    let Some((dir, name)) = workflow::identify(file) else {
        return Err(CliError::InvalidWorkflow(diags));
    };
    let shown = terminal::path(file);
    let problem = first_problem(&diags, &shown);
    let whose = match &name {
        Name::Set(name) => format!("the runs of workflow `{}`", terminal::safe(name)),
        Name::Assumed(name) => format!(
            "the runs of workflow `{}` (named after the file: no `[workflow] name` can be read)",
            terminal::safe(name)
        ),
        Name::Default(name) => format!("the runs of workflow `{}`", terminal::safe(name)),
        Name::Unreadable if needs == Needs::Name => {
            return Err(CliError::Run(format!(
                "{problem}; its `[workflow] name` cannot be read, so which runs are its own is \
                 not known: fix the file first"
            )))
        }
        Name::Unreadable => "the runs of every workflow in its folder's store (its `[workflow] \
                             name` cannot be read)"
            .to_owned(),
    };
    terminal::eprint_line(&format!("flow: warning: {problem}; reading {whose}"));
    Ok(Located {
        dir,
        name: name.known().map(str::to_owned),
        wf: None,
    })
}

/// `FILE has N problems (the first: FILE:LINE:COL: MESSAGE; see `flow validate FILE`)`, safe
/// to print; `shown` is the file made safe.
fn first_problem(diags: &Diagnostics, shown: &str) -> String {
    let n = diags.items.len();
    let (problems, first) = if n == 1 {
        ("problem".to_owned(), String::new())
    } else {
        ("problems".to_owned(), "the first: ".to_owned())
    };
    let item = diags.items.first().map(|d| {
        format!(
            "{}:{}:{}: {}",
            terminal::safe(&d.file),
            d.line,
            d.col,
            terminal::safe(&d.message)
        )
    });
    match item {
        Some(item) => {
            format!("{shown} has {n} {problems} ({first}{item}; see `flow validate {shown}`)")
        }
        None => format!("{shown} has problems (see `flow validate {shown}`)"),
    }
}
