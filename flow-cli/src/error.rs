//! The errors of the `flow` binary, and the exit code each one maps to.

use std::path::PathBuf;

use crate::workflow::Diagnostics;

/// Everything that stops a command before or outside the flows themselves.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The workflow file cannot be read.
    #[error("cannot read workflow file {path}: {source}")]
    ReadWorkflow {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The workflow file has problems; every one is listed, one per line.
    #[error("{0}")]
    InvalidWorkflow(Diagnostics),
    /// The result store cannot be opened or used.
    #[error("result store `{spec}`: {message}")]
    Store {
        /// The store as given (`memory`, `dir:PATH`, `sqlite:PATH`).
        spec: String,
        /// Why.
        message: String,
    },
    /// There is no run to show.
    #[error("no run found in store `{spec}`{detail}")]
    NoRun {
        /// The store.
        spec: String,
        /// Which run was looked for.
        detail: String,
    },
    /// A file or folder could not be created or written.
    #[error("cannot {action} {path}: {source}")]
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
    /// The scheduler refused the workflow or failed.
    #[error("{0}")]
    Run(String),
}

impl CliError {
    /// The process exit code for this error: 2, "bad usage, nothing (more) was run".
    pub fn exit_code(&self) -> u8 {
        2
    }
}
