//! Per-attempt logs: each attempt of a command flow writes its stdout and stderr to its own
//! `.flow/logs/RUN/FLOW.N.out` and `.err` (flow-core's rule for its log folder:
//! [`flow_core::log_file`]), and its start, end and outcome to the run's `attempts.jsonl`
//! ([`AttemptLogs`]); `flow logs` and the report read them back ([`attempts`],
//! [`log_files`]).

mod executor;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
pub use flow_core::{log_file, run_log_dir as run_dir, LogStream};
use serde::{Deserialize, Serialize};

pub(crate) use executor::env_value;
pub use executor::{AttemptLogs, WithoutFolder};

/// The file, in a run's log folder, where each attempt's times are appended.
const JOURNAL: &str = "attempts.jsonl";

/// The file, in a run's log folder, that holds the process id of its `flow run`: readers
/// that the run's store cannot tell (a run on `--store memory`) see from it whether the run
/// may still write logs.
const PID_FILE: &str = "flow.pid";

/// Whether the `flow run` that writes the logs in `run_dir` is alive (the process it names,
/// by [`crate::liveness`]'s rule, against the start of the run the folder is named after);
/// `None` when the folder does not say which process it is.
pub fn writer_alive(run_dir: &Path) -> Option<bool> {
    let pid = writer(run_dir)?;
    let started = (run_dir.file_name().and_then(|name| name.to_str()))
        .and_then(|name| flow_results::RunId::parse(name).ok())
        .map(|run| run.started_at());
    let evidence = crate::liveness::Evidence {
        pids: vec![pid],
        started,
        ..Default::default()
    };
    Some(evidence.alive())
}

/// The process id of the `flow run` that writes (or wrote) the logs in `run_dir`, as noted.
pub fn writer(run_dir: &Path) -> Option<u32> {
    let pid = std::fs::read_to_string(run_dir.join(PID_FILE)).ok()?;
    pid.trim().parse().ok()
}

/// Notes this process as the writer of the logs in `run_dir` (see [`writer_alive`]).
///
/// # Errors
/// The file's, when it cannot be written.
pub fn note_writer(run_dir: &Path) -> std::io::Result<()> {
    std::fs::write(run_dir.join(PID_FILE), format!("{}\n", std::process::id()))
}

/// One ended attempt, as `attempts.jsonl` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The flow.
    pub flow: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the command was started.
    pub started_at: DateTime<Utc>,
    /// When its process group was gone.
    pub finished_at: DateTime<Utc>,
    /// How it ended, in words ("exited with code 6", "timed out after 1s", ...).
    pub end: String,
    /// Whether its command started at all (a journal written before this was noted reads
    /// as [`Start::Started`]).
    #[serde(default)]
    pub start: Start,
}

/// Whether an attempt's command started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// It started (whatever its end).
    #[default]
    Started,
    /// It never started (a program not found, a missing working directory, a job `sbatch`
    /// refused): the attempt's `end` says why, and it has no logs.
    Failed,
}

/// Every ended attempt recorded in `run_dir`, in the order they ended (none when the run has
/// no journal; unreadable lines are skipped).
pub fn attempts(run_dir: &Path) -> Vec<AttemptRecord> {
    let Ok(text) = std::fs::read_to_string(run_dir.join(JOURNAL)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The attempts of `flow` whose stdout or stderr file exists in `run_dir`, in order.
pub fn logged_attempts(run_dir: &Path, flow: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    let prefix = format!("{flow}.");
    let mut found: Vec<u32> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&prefix)?;
            let (number, stream) = rest.split_once('.')?;
            LogStream::BOTH
                .iter()
                .any(|s| s.extension() == stream)
                .then_some(())?;
            number.parse().ok()
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The names of the files in `run_dir` (a link counts as what it leads to); none when it
/// cannot be read.
pub fn files_in(run_dir: &Path) -> rustc_hash::FxHashSet<std::ffi::OsString> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Default::default();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| match entry.file_type() {
            Ok(kind) if kind.is_symlink() => entry.path().is_file(),
            Ok(kind) => kind.is_file(),
            Err(_) => false,
        })
        .map(|entry| entry.file_name())
        .collect()
}

/// The existing log files of attempt `attempt` of `flow`: stdout's, then stderr's.
pub fn log_files(run_dir: &Path, flow: &str, attempt: u32) -> Vec<PathBuf> {
    LogStream::BOTH
        .into_iter()
        .map(|stream| log_file(run_dir, flow, attempt, stream))
        .filter(|path| path.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::files_in;

    /// Files and links to files are listed; folders, links to nothing and a folder that is
    /// not there are not.
    #[test]
    fn files_in_lists_the_files_of_a_run_folder() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        assert!(files_in(&run).is_empty());
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("a.1.out"), "x").unwrap();
        std::fs::create_dir(run.join("b.1.err")).unwrap();
        std::fs::write(dir.path().join("elsewhere"), "y").unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), run.join("c.1.out")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nothing"), run.join("d.1.out")).unwrap();
        let mut names: Vec<_> = files_in(&run).into_iter().collect();
        names.sort();
        assert_eq!(names, ["a.1.out", "c.1.out"]);
    }
}
