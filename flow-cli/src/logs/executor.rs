//! [`AttemptLogs`]: the run's command executor, wrapped so that every attempt leaves its
//! times in the run's journal.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use flow_core::{CancellationToken, CommandExecutor, CommandSpec};
use flow_pool::{BoxFuture, CommandOutcome, EnvChange, PoolError, Prepare};

use super::{run_dir, AttemptRecord, Start, JOURNAL};

/// Wraps the executor of a run: after each attempt of a command flow, appends an
/// [`AttemptRecord`] to `ROOT/RUN/attempts.jsonl`. The run, flow and attempt come from the
/// `FLOW_RUN_ID`, `FLOW_ID` and `FLOW_ATTEMPT` variables flow-core sets; the attempt's
/// output files are flow-core's too (its log folder, which must be `ROOT`).
#[derive(Debug)]
pub struct AttemptLogs {
    inner: Arc<dyn CommandExecutor>,
    root: PathBuf,
    /// The log folder of each run, as its first attempt found it.
    journals: Mutex<HashMap<String, Folder>>,
    /// Whether the command of some attempt started (a process or a job existed).
    started: AtomicBool,
    /// Whether attempts go without log files where the run's folder cannot be made.
    without_folder: WithoutFolder,
}

/// A run's log folder.
#[derive(Debug)]
enum Folder {
    /// Made, with its journal open.
    Journal(File),
    /// Made, but its journal cannot be written (said once).
    NoJournal,
    /// It cannot be made (a read-only workflow folder; said once).
    Unwritable,
}

/// What an attempt does when its run's log folder cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutFolder {
    /// Its command gets no log files: only the tails of its output are kept (commands on
    /// this machine).
    NoLogFiles,
    /// Its command keeps its log files (a Slurm job's files are made by the executor, which
    /// says what it could not make).
    KeepLogFiles,
}

impl AttemptLogs {
    /// `inner` with the journal of attempts under `root` (`.flow/logs`, the run's log folder).
    pub fn new(
        inner: Arc<dyn CommandExecutor>,
        root: PathBuf,
        without_folder: WithoutFolder,
    ) -> Self {
        AttemptLogs {
            inner,
            root,
            journals: Mutex::new(HashMap::new()),
            started: AtomicBool::new(false),
            without_folder,
        }
    }

    /// Whether the command of some attempt that ended had started: its process ran (or its
    /// job was submitted), whatever its end. The store learns of a start only from the
    /// flow's result, which a store that refused to begin the run never gets.
    pub fn any_started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// Creates the log folder and the journal of `run` when its first attempt starts, so
    /// that `flow logs --follow` finds the run before any output, with this process's id
    /// (see [`super::writer_alive`]); a folder or journal that cannot be made is said once
    /// per run (the results do not depend on it). A folder that could not be made is tried
    /// again at each attempt, as its cause may have passed (a full disk). Whether the folder
    /// is there.
    fn open_journal(&self, run: &str) -> bool {
        let mut journals = self.journals.lock().unwrap_or_else(PoisonError::into_inner);
        let said = match journals.get(run) {
            Some(Folder::Unwritable) => true,
            Some(_) => return true,
            None => false,
        };
        let dir = run_dir(&self.root, run);
        if let Err(error) = std::fs::create_dir_all(&dir) {
            if said {
                return false;
            }
            match self.without_folder {
                WithoutFolder::NoLogFiles => tracing::warn!(
                    dir = %dir.display(),
                    %error,
                    "cannot make the run's log folder: no log file is written in this run, \
                     only the last lines of each flow's output are kept (in the summary, and \
                     printed by `flow logs FLOW`); make the workflow's folder writable to keep \
                     them whole"
                ),
                // A Slurm job's output files must be there: its attempts fail, each saying so.
                WithoutFolder::KeepLogFiles => tracing::warn!(
                    dir = %dir.display(),
                    %error,
                    "cannot make the run's log folder, where each job's output files go; make \
                     the workflow's folder writable"
                ),
            }
            journals.insert(run.to_owned(), Folder::Unwritable);
            return false;
        }
        let opened = super::note_writer(&dir).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(JOURNAL))
        });
        let folder = match opened {
            Ok(file) => Folder::Journal(file),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot write the attempts journal");
                Folder::NoJournal
            }
        };
        journals.insert(run.to_owned(), folder);
        true
    }

    /// Appends `record` to the journal of `run`, if it could be opened.
    fn journal(&self, run: &str, record: &AttemptRecord) {
        let mut journals = self.journals.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(Folder::Journal(file)) = journals.get_mut(run) else {
            return;
        };
        let mut line = serde_json::to_string(record).unwrap_or_default();
        line.push('\n');
        if let Err(error) = file.write_all(line.as_bytes()) {
            tracing::warn!(run, %error, "cannot write the attempts journal");
        }
    }
}

/// How a command ended, in words, for the journal: `cancelled`, and why the stop took its
/// grace period when SIGTERM did not end it (`cancelled; it did not stop on SIGTERM, ...`).
fn ended(outcome: &CommandOutcome) -> String {
    match outcome.stop {
        Some(stop) if stop.killed() => format!("{}; it {stop}", outcome.end),
        _ => outcome.end.to_string(),
    }
}

/// The value `spec` sets for `key`, the last one set.
pub(crate) fn env_value<'a>(spec: &'a CommandSpec, key: &str) -> Option<&'a str> {
    spec.env
        .changes
        .iter()
        .rev()
        .find_map(|change| match change {
            EnvChange::Set(k, v) if k == key => Some(v.as_str()),
            _ => None,
        })
}

/// Whether the command of an attempt that ended with `error` started: not when its program,
/// folder or job could not be started or the executor refused it; otherwise (a worker or a
/// Slurm job that broke) it may have, and may have written logs.
fn start_of(error: &PoolError) -> Start {
    match error {
        PoolError::Spawn { .. }
        | PoolError::EmptyArgv
        | PoolError::OutputFile { .. }
        | PoolError::Refused { .. }
        | PoolError::SlurmSubmit { .. } => Start::Failed,
        _ => Start::Started,
    }
}

impl CommandExecutor for AttemptLogs {
    fn run_prepared<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        prepare: Prepare,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        let attempt = env_value(spec, "FLOW_ATTEMPT").and_then(|n| n.parse().ok());
        let (Some(run), Some(flow), Some(attempt)) = (
            env_value(spec, "FLOW_RUN_ID"),
            env_value(spec, "FLOW_ID"),
            attempt,
        ) else {
            return self.inner.run_prepared(spec, timeout, cancel, prepare);
        };
        // Without a folder, log files cannot be made: not tried (and warned of) per stream.
        let without_logs = (!self.open_journal(run)
            && self.without_folder == WithoutFolder::NoLogFiles)
            .then(|| CommandSpec {
                stdout_path: None,
                stderr_path: None,
                ..spec.clone()
            });
        Box::pin(async move {
            let started_at = Utc::now();
            let spec = without_logs.as_ref().unwrap_or(spec);
            let outcome = self
                .inner
                .run_prepared(spec, timeout, cancel, prepare)
                .await;
            let (end, start) = match &outcome {
                Ok(outcome) => (ended(outcome), Start::Started),
                // How the adopted job ended, as for a job of this run.
                Err(PoolError::OfAdoptedAttempt { error, .. }) => {
                    (error.to_string(), start_of(error))
                }
                Err(error) => (error.to_string(), start_of(error)),
            };
            // The job of a killed run's later attempt, adopted on resume, is that attempt.
            let attempt = match &outcome {
                Ok(CommandOutcome {
                    adopted_attempt: Some(adopted),
                    ..
                })
                | Err(PoolError::OfAdoptedAttempt {
                    attempt: adopted, ..
                }) => *adopted,
                _ => attempt,
            };
            // A cancel that came before the spawn has no process (pid 0).
            let spawned = outcome.as_ref().map_or(true, |outcome| outcome.pid != 0);
            if start == Start::Started && spawned {
                self.started.store(true, Ordering::Relaxed);
            }
            // An end held on its way here (`CommandOutcome::held`) came that long before.
            let held = outcome
                .as_ref()
                .map_or(Duration::ZERO, |outcome| outcome.held);
            let finished_at = Utc::now() - chrono::Duration::from_std(held).unwrap_or_default();
            let record = AttemptRecord {
                flow: flow.to_owned(),
                attempt,
                started_at,
                finished_at,
                end,
                start,
            };
            self.journal(run, &record);
            outcome
        })
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        self.inner.settled()
    }
}

#[cfg(test)]
mod tests {
    use flow_pool::CommandRunner;

    use super::*;

    /// A log folder that could not be made (a full disk, a file in its way) is tried again
    /// at the next attempt: once it can be made, the attempts' output is kept whole again.
    #[tokio::test]
    async fn a_log_folder_that_could_not_be_made_is_tried_again_at_the_next_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let in_the_way = dir.path().join("logs");
        std::fs::write(&in_the_way, "a file where the log folder goes").unwrap();
        let logs = AttemptLogs::new(
            Arc::new(CommandRunner::new()),
            in_the_way.clone(),
            WithoutFolder::NoLogFiles,
        );
        let run_folder = run_dir(&in_the_way, "r1");
        let attempt = |n: u32| {
            CommandSpec::shell("echo out")
                .env("FLOW_RUN_ID", "r1")
                .env("FLOW_ID", "a")
                .env("FLOW_ATTEMPT", n.to_string())
                .stdout_path(run_folder.join(format!("a.{n}.out")))
        };
        let first = attempt(1);
        let outcome = logs.run(&first, None, CancellationToken::new()).await;
        assert_eq!(outcome.unwrap().stdout_tail, "out\n");
        std::fs::remove_file(&in_the_way).unwrap();
        let second = attempt(2);
        let outcome = logs.run(&second, None, CancellationToken::new()).await;
        assert_eq!(outcome.unwrap().stdout_tail, "out\n");
        let kept = std::fs::read_to_string(run_folder.join("a.2.out")).unwrap();
        assert_eq!(kept, "out\n");
        assert!(run_folder.join(JOURNAL).is_file());
    }
}
