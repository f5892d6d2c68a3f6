//! The workflow file: its validated model, and [`load_with`] that reads, parses and checks a file
//! (with the files it includes), expands its matrices, and collects every problem as a
//! diagnostic at its file, line and column.

mod check;
mod data;
mod diagnostic;
mod doc;
mod expand;
mod expand_env;
mod identify;
mod ids;
mod include;
mod keys;
mod limits;
mod lists;
mod matrix;
mod owned;
mod params;
mod parse;
mod process;
mod rendered;
mod slurm;
mod slurm_extra;
mod targets;
mod template;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_literal;
#[cfg(test)]
mod tests_matrix;
#[cfg(test)]
mod tests_matrix_values;
#[cfg(test)]
mod tests_state_folder;
mod unused;
mod values;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flow_graph::{DependencyType, FlowGraph, FlowId};

pub use check::closest_name;
pub use diagnostic::Diagnostics;
pub use identify::{identify, Name};
pub use params::parse_set;
pub use process::default_interpreter;

use crate::error::CliError;
pub use slurm::SlurmTable;

/// What a flow runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// A program and its arguments, run without a shell.
    Command(Vec<String>),
    /// A script, run by the flow's `interpreter`.
    Shell(String),
}

/// One validated flow of a workflow file, with the defaults already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowDef {
    /// The flow's id (its key under `[flows]`).
    pub id: FlowId,
    /// What it runs.
    pub action: Action,
    /// The files, folders and globs it reads, relative to the workflow's folder (`inputs`,
    /// after `[defaults] inputs`).
    pub inputs: Arc<[String]>,
    /// The files and folders it writes (`outputs`).
    pub outputs: Arc<[String]>,
    /// The positions in `inputs` of the paths (not globs) that no flow declares as output:
    /// they must exist when the flow starts.
    pub unwritten: Vec<u32>,
    /// The positions in `inputs` of the globs that match no flow's output (nor lie in one,
    /// nor may hold one): only files already there can match them.
    pub unwritten_globs: Vec<u32>,
    /// Flows that must complete before this one runs (with those whose outputs are its
    /// inputs).
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
    /// Extra environment variables (defaults, then the flow's own), with `${VAR}` expanded
    /// from the environment the flow gets, sorted by name; shared by the flows of a matrix
    /// whose environment does not use its values.
    pub env: Arc<[(String, String)]>,
    /// What the flow asks of the cluster under `--executor slurm` (`slurm = { ... }`).
    pub slurm: Option<flow_pool::SlurmResources>,
    /// The time between SIGTERM and SIGKILL when the flow is stopped (`kill_grace`); the
    /// runner's default when `None`.
    pub kill_grace: Option<Duration>,
    /// What runs a `shell` script, the script coming last (`interpreter`, else
    /// [`process::default_interpreter`]).
    pub interpreter: Arc<[String]>,
}

/// One `[flows.NAME]` of the file: a flow, or with a matrix, one flow per combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The key under `[flows]`.
    pub name: String,
    /// Its flows, as indices into [`Workflow::flows`].
    pub flows: Range<usize>,
    /// Whether it has a `matrix`.
    pub matrix: bool,
    /// `manual = true`: a bare `flow run FILE` runs its flows only when a flow it runs needs
    /// them.
    pub manual: bool,
    /// Where each of its flows' `inputs` is written, `[defaults] inputs` first.
    pub inputs_at: Arc<[Line]>,
    /// Where each of its flows' `outputs` is written.
    pub outputs_at: Arc<[Line]>,
    /// Where its `slurm = { ... }` is written, else its `[flows.NAME]`: what an `sbatch`
    /// refusal of its jobs points at.
    pub slurm_at: Line,
    /// Where its `[flows.NAME]` is written: what a failure of one of its flows points at.
    pub at: Line,
}

/// A line of the workflow file or of a file it includes, shown as `FILE:LINE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The file, as diagnostics name it.
    pub file: Arc<str>,
    /// 1-based.
    pub line: u32,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[cfg(test)]
impl FlowDef {
    /// The value of environment variable `name` in [`Self::env`].
    pub fn env_var(&self, name: &str) -> Option<&str> {
        let i = self
            .env
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()?;
        Some(&self.env[i].1)
    }
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
    /// The definitions the flows come from, in file order (included files first).
    pub definitions: Vec<Definition>,
    /// `[workflow] default`: the flows and definitions a bare `flow run FILE` runs (each
    /// names one; checked).
    pub default: Option<Vec<String>>,
    /// The params of the workflow file that no template uses, with their lines.
    pub unused_params: Vec<(String, Line)>,
}

impl Workflow {
    /// Where each flow is defined (its definition's `[flows.NAME]` line), by flow id.
    pub fn places(&self) -> rustc_hash::FxHashMap<&str, &Line> {
        (self.definitions.iter())
            .flat_map(|def| {
                (self.flows[def.flows.clone()].iter()).map(|f| (f.id.as_str(), &def.at))
            })
            .collect()
    }

    /// Whether any definition has a matrix.
    pub fn has_matrix(&self) -> bool {
        self.definitions.iter().any(|d| d.matrix)
    }

    /// The dependencies between definitions (indices into [`Self::definitions`]): one
    /// `(parent, child, type)` per pair with a dependency between their flows, required when
    /// any of them is, sorted by child then parent.
    pub fn definition_edges(&self) -> Vec<(usize, usize, DependencyType)> {
        let mut def_of = rustc_hash::FxHashMap::default();
        def_of.reserve(self.flows.len());
        for (d, def) in self.definitions.iter().enumerate() {
            for flow in &self.flows[def.flows.clone()] {
                def_of.insert(flow.id.as_str(), d);
            }
        }
        let mut edges = std::collections::BTreeMap::new();
        for (child, def) in self.definitions.iter().enumerate() {
            for flow in &self.flows[def.flows.clone()] {
                let required = flow.requires.iter().map(|p| (p, DependencyType::Required));
                let optional = flow.wants.iter().map(|p| (p, DependencyType::Optional));
                for (parent, kind) in required.chain(optional) {
                    let edge = edges
                        .entry((child, def_of[parent.as_str()]))
                        .or_insert(kind);
                    if kind == DependencyType::Required {
                        *edge = kind;
                    }
                }
            }
        }
        edges.into_iter().map(|((c, p), k)| (p, c, k)).collect()
    }
}

/// Reads, parses and checks the workflow file at `path`, with the `--set NAME=VALUE`
/// overrides of params.
///
/// # Errors
/// [`CliError::NotWorkflow`] for flow's state folder `.flow` (or a path in it, or a file named
/// so); [`CliError::ReadWorkflow`] when the file cannot be read; [`CliError::InvalidWorkflow`]
/// with every problem found otherwise (an override of an unknown param or with a value of the
/// wrong type is one).
pub fn load_with(path: &Path, sets: &[(String, String)]) -> Result<Workflow, CliError> {
    if let Some(error) = state_folder(path) {
        return Err(error);
    }
    let text = limits::read_file(path).map_err(|source| CliError::ReadWorkflow {
        path: path.to_owned(),
        hint: read_hint(path, &source),
        source,
    })?;
    let dir = folder(path)?;
    let stem = stem(path);
    from_str_with(&text, &path.display().to_string(), &stem, &dir, sets).map(|mut w| {
        w.file = path.to_owned();
        w
    })
}

/// The name of a workflow whose file sets none: the file's name without its extension.
pub(crate) fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "workflow".into())
}

/// The absolute folder of the workflow file at `path` ([`Workflow::dir`]).
///
/// # Errors
/// [`CliError::ReadWorkflow`] when the folder does not exist.
pub fn folder(path: &Path) -> Result<PathBuf, CliError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(dir).map_err(|source| CliError::ReadWorkflow {
        path: path.to_owned(),
        source,
        hint: String::new(),
    })
}

/// The names of the `.toml` files in `dir`, sorted.
fn toml_files(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut names: Vec<String> = (entries.filter(|e| e.path().is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    names
}

/// Why `path` is no workflow file, when it is flow's state folder `.flow` (a folder so named
/// holding `flow.db` or `logs`: `flow run .flow`), lies in one (`.flow/flow.db`), or is a file
/// named `.flow` (the state folder beside it could not be made); with the workflow files
/// beside that folder to name instead.
fn state_folder(path: &Path) -> Option<CliError> {
    let parts: Vec<_> = path.components().collect();
    let k = (parts.iter()).rposition(|c| c.as_os_str() == crate::store::STATE_DIR)?;
    let state: PathBuf = parts[..=k].iter().collect();
    let last = k + 1 == parts.len();
    if last && !path.exists() {
        return None;
    }
    // A folder named so that holds no store or logs is some other folder.
    let holds_state = state.join("flow.db").is_file() || state.join("logs").is_dir();
    if !holds_state && (!last || path.is_dir()) {
        return None;
    }
    let beside = state.parent().filter(|p| !p.as_os_str().is_empty());
    let files: Vec<String> = (toml_files(beside.unwrap_or(Path::new("."))).iter())
        .take(5)
        .map(|name| {
            format!(
                "`{}`",
                crate::terminal::path(&beside.unwrap_or(Path::new("")).join(name))
            )
        })
        .collect();
    let instead = match files.len() {
        0 => String::new(),
        _ => format!(", as {}", files.join(" or ")),
    };
    let shown = crate::terminal::path(path);
    let message = if last && path.is_file() {
        format!(
            "{shown}: a workflow file may not be named `.flow`, the name of the folder beside \
             it where flow keeps its results, ledger and logs: rename it{}",
            match beside {
                Some(dir) => format!(
                    ", as `{}`",
                    crate::terminal::path(&dir.join("workflow.toml"))
                ),
                None => ", as `workflow.toml`".to_owned(),
            }
        )
    } else if last {
        format!(
            "{shown} is flow's state folder (the results, ledger and logs of the workflows \
             beside it), not a workflow file: name the workflow file{instead}"
        )
    } else {
        format!(
            "{shown} lies in flow's state folder `{}` (the results, ledger and logs of the \
             workflows beside it), not a workflow file: name the workflow file{instead}",
            crate::terminal::path(&state)
        )
    };
    Some(CliError::NotWorkflow(message))
}

/// What to name instead of a workflow file that cannot be read: for a folder (the project
/// rather than its workflow file), the `.toml` files in it; for a file that does not exist, the
/// one of its folder whose name is close (a misspelling); else nothing.
fn read_hint(path: &Path, source: &std::io::Error) -> String {
    if path.is_dir() {
        let files: Vec<String> = (toml_files(path).iter())
            .map(|name| format!("`{}`", path.join(name).display()))
            .collect();
        return match files.len() {
            0 => " (a folder: name the workflow file)".to_owned(),
            1..=5 => format!(
                " (a folder: name the workflow file, as {})",
                files.join(" or ")
            ),
            n => format!(" (a folder: name the workflow file; {n} `.toml` files are in it)"),
        };
    }
    if source.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let names = toml_files(dir.unwrap_or(Path::new(".")));
    let typed = path.file_name().map(|n| n.to_string_lossy().into_owned());
    match typed.and_then(|t| check::closest_name(&t, names.iter().map(String::as_str))) {
        Some(close) => format!(
            " (did you mean `{}`?)",
            path.with_file_name(close).display()
        ),
        None => String::new(),
    }
}

/// Parses and checks workflow `text` with the params' defaults; `file` names it in
/// diagnostics, `stem` is the default name and `dir` the folder relative paths (cwd, globs,
/// included files) start from.
///
/// # Errors
/// [`CliError::InvalidWorkflow`] with every problem found.
#[cfg_attr(not(test), allow(dead_code))]
pub fn from_str(text: &str, file: &str, stem: &str, dir: &Path) -> Result<Workflow, CliError> {
    from_str_with(text, file, stem, dir, &[])
}

/// As [`from_str`], with the `--set` overrides `sets`.
///
/// # Errors
/// [`CliError::InvalidWorkflow`] with every problem found.
pub fn from_str_with(
    text: &str,
    file: &str,
    stem: &str,
    dir: &Path,
    sets: &[(String, String)],
) -> Result<Workflow, CliError> {
    let text = doc::with_lf(text);
    let mut diags = diagnostic::Collector::new(&text);
    diags.name_workflow_file(file);
    let workflow = parse::parse(&text, parse::Role::Main, 0, &mut diags).and_then(|mut raw| {
        include::read_all(&mut raw, file, dir, &mut diags);
        expand::workflow(raw, sets, stem, dir, file, &mut diags)
    });
    match workflow {
        Some(workflow) if diags.is_empty() => Ok(workflow),
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
