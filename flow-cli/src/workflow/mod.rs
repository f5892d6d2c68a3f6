//! The workflow file: its validated model, and [`load`] that reads, parses and checks a file,
//! collecting every problem as a [`Diagnostic`] at its line and column.

mod check;
mod diagnostic;
mod limits;
mod parse;
mod slurm;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flow_graph::{FlowGraph, FlowId};

pub use diagnostic::Diagnostics;

use crate::error::CliError;
pub use slurm::SlurmTable;

/// What a flow runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// A program and its arguments, run without a shell.
    Command(Vec<String>),
    /// A script for `/bin/sh -c`.
    Shell(String),
}

/// One validated flow of a workflow file, with the defaults already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowDef {
    /// The flow's id (its key under `[flows]`).
    pub id: FlowId,
    /// What it runs.
    pub action: Action,
    /// Flows that must complete before this one runs.
    pub requires: Vec<FlowId>,
    /// Flows this one runs after, whatever their outcome.
    pub wants: Vec<FlowId>,
    /// How long one attempt may run; `None` for no limit.
    pub timeout: Option<Duration>,
    /// How many times a failed attempt is retried.
    pub retries: u32,
    /// The pause between attempts.
    pub retry_delay: Duration,
    /// The working directory, absolute.
    pub cwd: PathBuf,
    /// Extra environment variables (defaults, then the flow's own).
    pub env: BTreeMap<String, String>,
    /// What the flow asks of the cluster under `--executor slurm` (`slurm = { ... }`).
    pub slurm: Option<flow_pool::SlurmResources>,
}

/// A validated workflow file.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// `[workflow] name`, or the file's stem.
    pub name: String,
    /// `[workflow] jobs`, if given.
    pub jobs: Option<usize>,
    /// The file, as the user named it.
    pub file: PathBuf,
    /// The absolute folder of the file: relative `cwd`s and the default store start here.
    pub dir: PathBuf,
    /// The flows in file order.
    pub flows: Vec<FlowDef>,
    /// The dependency graph of the flows.
    pub graph: FlowGraph,
    /// The `[slurm]` table (empty when absent).
    pub slurm: SlurmTable,
}

/// Reads, parses and checks the workflow file at `path`.
///
/// # Errors
/// [`CliError::ReadWorkflow`] when the file cannot be read; [`CliError::InvalidWorkflow`] with every problem
/// found otherwise.
pub fn load(path: &Path) -> Result<Workflow, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadWorkflow {
        path: path.to_owned(),
        source,
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).map_err(|source| CliError::ReadWorkflow {
        path: path.to_owned(),
        source,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "workflow".into());
    from_str(&text, &path.display().to_string(), &stem, &dir).map(|mut w| {
        w.file = path.to_owned();
        w
    })
}

/// Parses and checks workflow `text`; `file` names it in diagnostics, `stem` is the default
/// name and `dir` the folder relative paths start from.
///
/// # Errors
/// [`CliError::InvalidWorkflow`] with every problem found.
pub fn from_str(text: &str, file: &str, stem: &str, dir: &Path) -> Result<Workflow, CliError> {
    let mut diags = diagnostic::Collector::new(text);
    let raw = parse::parse(text, &mut diags);
    let graph = check::check(&raw, &mut diags);
    match (raw, graph) {
        (Some(raw), Some(graph)) if diags.is_empty() => {
            Ok(raw.into_workflow(stem, dir, file, graph))
        }
        _ => Err(CliError::InvalidWorkflow(diags.finish(file))),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Loads `text` as `w.toml` in `/tmp/wf`, returning the workflow or the diagnostics text.
    pub(crate) fn load_str(text: &str) -> Result<Workflow, String> {
        from_str(text, "w.toml", "w", Path::new("/tmp/wf")).map_err(|e| e.to_string())
    }
}
