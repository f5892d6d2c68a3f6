//! `flow prune [FILE] --keep N [--store STORE] [--dry-run]`: deletes all but the N newest
//! runs of each workflow in a store (of FILE's workflow when a file is given): their results
//! in the store, their logs in `.flow/logs/RUN` and their report `.flow/reports/RUN.html`.
//!
//! The newest run of a workflow, which `--resume` reads, is always kept (`--keep` is at
//! least 1). Up-to-date checks read the ledger, not old runs, so they decide as before; a kept
//! result may still name a deleted run as the one that made its files. Each workflow's run
//! lock is held while its runs are deleted, so no `flow run` of it writes meanwhile.

use std::path::Path;

use flow_results::{RunId, RunRecord, StoreSpec};

use crate::cli::PruneArgs;
use crate::commands::print_stdout;
use crate::commands::results::locate;
use crate::error::CliError;
use crate::logs::run_dir;
use crate::{run_lock, store, terminal};

/// What the run lock says while `flow prune` holds it.
pub const LOCK_HOLDER: &str = "prune";

/// Deletes the old runs (or lists them with `--dry-run`); 0 when done.
pub fn run(args: &PruneArgs) -> Result<u8, CliError> {
    let (dir, wf) = locate(args.file.as_deref())?;
    let spec = store::spec(args.store.as_deref(), &dir)?;
    if spec == StoreSpec::Memory {
        return Err(CliError::Run(
            "nothing to prune: the memory store keeps nothing from one `flow` to the next".into(),
        ));
    }
    let results_store = if args.dry_run {
        store::open_for_reading(&spec)?
    } else {
        // As `open_for_reading`: a store that does not exist is not created.
        store::open_for_reading(&spec)?;
        spec.open()
            .map(std::sync::Arc::from)
            .map_err(|e| store::error(&spec, e))?
    };
    let mut runs = results_store.runs().map_err(|e| store::error(&spec, e))?;
    if let Some(wf) = &wf {
        runs.retain(|r| r.workflow == wf.name);
    }
    let old = older_than_newest(runs, args.keep as usize);
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut workflows: Vec<&str> = old.iter().map(|r| r.workflow.as_str()).collect();
    workflows.dedup();
    for workflow in workflows {
        let _lock = if args.dry_run {
            None
        } else {
            run_lock::acquire(&spec, workflow, LOCK_HOLDER)?
        };
        for record in old.iter().filter(|r| r.workflow == workflow) {
            if !args.dry_run {
                results_store
                    .delete_run(&record.run_id)
                    .map_err(|e| store::error(&spec, e))?;
                remove_files(&dir, &record.run_id)?;
            }
            // Said as it is done: a later error leaves the list of what went.
            print_stdout(&format!(
                "{verb} run {} of `{}` (started {})\n",
                record.run_id,
                terminal::safe(&record.workflow),
                record
                    .started_at
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
            ))?;
        }
    }
    let runs = match old.len() {
        1 => "1 run".to_owned(),
        n => format!("{n} runs"),
    };
    print_stdout(&format!(
        "{verb} {runs} of {spec}, kept the {} newest of each workflow\n",
        args.keep
    ))?;
    Ok(0)
}

/// The runs of `runs` that are not among the `keep` newest of their workflow, grouped by
/// workflow, oldest first in each.
fn older_than_newest(mut runs: Vec<RunRecord>, keep: usize) -> Vec<RunRecord> {
    runs.sort_by(|a, b| {
        (a.workflow.as_str(), b.started_at, &b.run_id).cmp(&(
            b.workflow.as_str(),
            a.started_at,
            &a.run_id,
        ))
    });
    let mut old = Vec::new();
    let mut group: Vec<RunRecord> = Vec::new();
    for run in runs {
        if group.first().is_some_and(|r| r.workflow != run.workflow) {
            old.extend(group.drain(..).skip(keep).rev());
        }
        group.push(run);
    }
    old.extend(group.drain(..).skip(keep).rev());
    old
}

/// Removes the log folder and the report of `run` beside the workflow in `dir`, those that
/// exist.
fn remove_files(dir: &Path, run: &RunId) -> Result<(), CliError> {
    let logs = run_dir(&dir.join(store::STATE_DIR).join("logs"), run.as_str());
    let report = crate::report_page::default_path(dir, run);
    for (path, removed) in [
        (&logs, std::fs::remove_dir_all(&logs)),
        (&report, std::fs::remove_file(&report)),
    ] {
        match removed {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                return Err(CliError::Io {
                    action: "remove",
                    path: path.clone(),
                    source,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn record(workflow: &str, minute: u32) -> RunRecord {
        let started = Utc.with_ymd_and_hms(2026, 12, 6, 10, minute, 0).unwrap();
        RunRecord::with_id(RunId::new_at(started), workflow)
    }

    #[test]
    fn all_but_the_newest_of_each_workflow_oldest_first() {
        let runs = vec![
            record("b", 5),
            record("a", 1),
            record("a", 3),
            record("b", 2),
            record("a", 2),
            record("c", 9),
        ];
        let old = |keep| {
            older_than_newest(runs.clone(), keep)
                .iter()
                .map(|r| format!("{}{}", r.workflow, r.started_at.format("%M")))
                .collect::<Vec<_>>()
        };
        assert_eq!(old(1), ["a01", "a02", "b02"]);
        assert_eq!(old(2), ["a01"]);
        assert!(old(3).is_empty());
    }
}
