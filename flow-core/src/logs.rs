//! Where a command flow's output goes when the context has a log folder
//! ([`ContextBuilder::log_dir`](crate::ContextBuilder::log_dir)): one file per attempt and
//! stream, `<log_dir>/<run_id>/<flow>.<attempt>.out` and `.err`. Readers of the logs (such as
//! `flow logs`) find them with the same functions.

use std::path::{Path, PathBuf};

/// One of a command's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output, in `<flow>.<attempt>.out`.
    Stdout,
    /// Standard error, in `<flow>.<attempt>.err`.
    Stderr,
}

impl LogStream {
    /// Both streams, stdout first.
    pub const BOTH: [LogStream; 2] = [LogStream::Stdout, LogStream::Stderr];

    /// The file name's extension: `out` or `err`.
    pub fn extension(self) -> &'static str {
        match self {
            LogStream::Stdout => "out",
            LogStream::Stderr => "err",
        }
    }
}

/// The log folder of run `run_id` under `log_dir`.
pub fn run_log_dir(log_dir: &Path, run_id: &str) -> PathBuf {
    log_dir.join(run_id)
}

/// The file of `stream` for attempt `attempt` (1 for the first) of `flow`, in a run's log
/// folder ([`run_log_dir`]).
///
/// ```
/// use std::path::Path;
/// use flow_core::{log_file, LogStream};
/// let file = log_file(Path::new(".flow/logs/r1"), "build", 2, LogStream::Stderr);
/// assert_eq!(file, Path::new(".flow/logs/r1/build.2.err"));
/// ```
pub fn log_file(run_log_dir: &Path, flow: &str, attempt: u32, stream: LogStream) -> PathBuf {
    run_log_dir.join(format!("{flow}.{attempt}.{}", stream.extension()))
}
