//! The errors of the `flow` binary, the exit code each one maps to, and the JSON error
//! document that `--json` prints for them.

use std::path::PathBuf;

use serde::Serialize;

use crate::terminal;
use crate::workflow::Diagnostics;

/// Everything that stops a command before or outside the flows themselves.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The workflow file cannot be read.
    #[error("cannot read workflow file {}{}: {source}", terminal::path(.path), terminal::safe(.hint))]
    ReadWorkflow {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
        /// ` (a folder: ...)`: what to name instead, or nothing.
        hint: String,
    },
    /// The path given as the workflow file is flow's state folder, lies in it, or is a file
    /// named as it: what it is and what to name instead, made safe to print.
    #[error("{0}")]
    NotWorkflow(String),
    /// The workflow file has problems; every one is listed, one per line.
    #[error("{0}")]
    InvalidWorkflow(Diagnostics),
    /// The result store cannot be opened or used.
    #[error("result store `{}`: {}", terminal::safe(.spec), terminal::safe(.message))]
    Store {
        /// The store as given (`memory`, `dir:PATH`, `sqlite:PATH`).
        spec: String,
        /// Why.
        message: String,
    },
    /// There is no run to show.
    #[error("no run found in store `{}`{detail}", terminal::safe(.spec))]
    NoRun {
        /// The store.
        spec: String,
        /// Which run was looked for.
        detail: String,
    },
    /// A run named by a prefix (`--run 20261207T18`) that begins the ids of several runs.
    #[error(
        "run id `{}` is ambiguous: {count} runs' ids begin with it: {}{} (write more of the id; \
         `flow runs` lists the runs)",
        terminal::safe(.prefix),
        .first.join(", "),
        match count.saturating_sub(.first.len()) { 0 => String::new(), more => format!(" and {more} more") }
    )]
    AmbiguousRun {
        /// What was given.
        prefix: String,
        /// How many run ids begin with it.
        count: usize,
        /// The first of them, oldest first.
        first: Vec<String>,
    },
    /// A file or folder could not be created or written.
    #[error("cannot {action} {}: {source}", terminal::path(.path))]
    Io {
        /// What was being done ("create log folder", ...).
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing to stdout failed (a closed pipe is not reported).
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    /// Another `flow run` (or `flow prune`) of the same workflow is writing to the same store.
    #[error(
        "workflow `{}` is in use in store `{}`: {by} \
         (wait for it, or stop it; a lock left by a dead process is taken over)",
        terminal::safe(.workflow),
        terminal::safe(.spec)
    )]
    Locked {
        /// The workflow.
        workflow: String,
        /// The store.
        spec: String,
        /// Who holds the lock: `run RUN_ID by process PID`, `` `flow prune` by process PID``,
        /// or a `flow` that took it and has not yet written who it is.
        by: String,
        /// The process holding the lock, once it wrote it.
        pid: Option<u32>,
    },
    /// `flow run FILE FLOW...` named a flow the workflow does not have.
    #[error("unknown flow `{target}` on the command line: {file} has no flow or definition of that name{hint}")]
    UnknownTarget {
        /// The target as written.
        target: String,
        /// The workflow file.
        file: String,
        /// ` (did you mean `x`?)`, ` (`t` makes t.a, t.c)` or nothing.
        hint: String,
    },
    /// `--force FLOW` named a flow of the workflow that `flow run FILE TARGET...` leaves out.
    #[error(
        "`--force {flow}`: flow `{flow}` is not among the flows this run considers ({}); \
         name it as a target too, or drop the `--force`",
        if *.bare {
            "without targets: the flows `[workflow] default` names, else every flow that is \
             not `manual`, and their ancestors"
        } else {
            "the targets and their ancestors"
        }
    )]
    ForcedOutsideTargets {
        /// The flow as written.
        flow: String,
        /// Whether the run was given no targets (it runs the workflow's default ones).
        bare: bool,
    },
    /// A bare `flow run FILE` of a workflow whose every flow is `manual = true`.
    #[error(
        "every flow of {} is `manual = true`, and it has no `[workflow] default`: name the \
         flows to run (`flow run {} FLOW...`)",
        terminal::safe(.file),
        terminal::safe(.file)
    )]
    NoTargets {
        /// The workflow file.
        file: String,
    },
    /// The store's file was deleted or replaced while a run wrote into it, so nothing of
    /// the run was kept (exit code 1: flows ran).
    #[error(
        "result store `{spec}`: {path} was deleted or replaced during run {run}, so the run's \
         results were not kept (it ended with {ended}); run the workflow again to record them"
    )]
    StoreGone {
        /// The store.
        spec: String,
        /// Its file.
        path: PathBuf,
        /// The run whose results went with the file.
        run: String,
        /// How the run ended: `N completed, N failed, N cancelled of N flows`.
        ended: String,
    },
    /// The scheduler refused the workflow or failed.
    #[error("{0}")]
    Run(String),
    /// The run was stopped after some of its flows had started (its store refused to
    /// begin it): exit code 1, as flows ran.
    #[error("{0}; flows had started: the run was stopped, and none of its results were kept")]
    Stopped(String),
}

/// What an error stopped, for the end of the message of an invalid workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// A command that runs flows: "nothing was run".
    Running,
    /// A command that only reads runs: nothing to add (it ran nothing anyway).
    Reading,
}

impl Stopped {
    /// `; nothing was run`, or nothing.
    pub fn suffix(self) -> &'static str {
        match self {
            Stopped::Running => "; nothing was run",
            Stopped::Reading => "",
        }
    }
}

/// One problem of an invalid workflow in the JSON error document.
#[derive(Serialize)]
struct Problem<'a> {
    /// The workflow file, or the file it includes, that the problem is in.
    file: &'a str,
    line: usize,
    column: usize,
    /// The definition (`[flows.NAME]`) the problem is written in, if any.
    flow: Option<&'a str>,
    message: &'a str,
}

/// The JSON error document (see [`CliError::to_json`]).
#[derive(Serialize)]
struct Document<'a> {
    status: &'static str,
    exit_code: u8,
    kind: &'static str,
    message: String,
    problems: Vec<Problem<'a>>,
}

impl Document<'_> {
    fn to_json(&self) -> String {
        // Plain strings and numbers always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The JSON error document of a command line clap refused (`kind` `usage`, exit code 2).
pub fn usage_json(message: &str) -> String {
    Document {
        status: "error",
        exit_code: 2,
        kind: "usage",
        message: message.to_owned(),
        problems: Vec::new(),
    }
    .to_json()
}

impl CliError {
    /// The process exit code for this error: 1 when flows ran ([`CliError::Stopped`],
    /// [`CliError::StoreGone`]), else
    /// 2, "bad usage, nothing was run".
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Stopped(_) | CliError::StoreGone { .. } => 1,
            _ => 2,
        }
    }

    /// A short name of the kind of error, the `kind` of the JSON error document.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::ReadWorkflow { .. } | CliError::NotWorkflow(_) => "read_workflow",
            CliError::InvalidWorkflow(_) => "invalid_workflow",
            CliError::Store { .. } | CliError::StoreGone { .. } => "store",
            CliError::NoRun { .. } => "no_run",
            CliError::AmbiguousRun { .. } => "ambiguous_run",
            CliError::Io { .. } => "io",
            CliError::Output(_) => "output",
            CliError::Locked { .. } => "locked",
            CliError::UnknownTarget { .. } | CliError::ForcedOutsideTargets { .. } => {
                "unknown_target"
            }
            CliError::NoTargets { .. } => "usage",
            CliError::Run(_) => "run",
            CliError::Stopped(_) => "stopped",
        }
    }

    /// The JSON error document that `--json` prints on stdout, on one line:
    /// `{"status":"error","exit_code":2,"kind":"store","message":"...","problems":[]}`, where
    /// `problems` lists an invalid workflow's diagnostics as `{"file","line","column","flow","message"}`
    /// (empty for other errors). A command line that clap refuses has `kind` `usage`. `message` is the whole message, causes included.
    pub fn to_json(&self, stopped: Stopped) -> String {
        let (message, problems) = match self {
            CliError::InvalidWorkflow(diags) => (
                format!(
                    "{} has {} {}{}",
                    diags.file,
                    diags.items.len(),
                    if diags.items.len() == 1 {
                        "problem"
                    } else {
                        "problems"
                    },
                    stopped.suffix()
                ),
                diags
                    .items
                    .iter()
                    .map(|d| Problem {
                        file: &d.file,
                        line: d.line,
                        column: d.col,
                        flow: d.flow.as_deref(),
                        message: &d.message,
                    })
                    .collect(),
            ),
            other => (crate::terminal::chain(other), Vec::new()),
        };
        Document {
            status: "error",
            exit_code: self.exit_code(),
            kind: self.kind(),
            message,
            problems,
        }
        .to_json()
    }
}
