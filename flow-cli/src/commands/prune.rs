//! `flow prune [FILE] --keep N [--store STORE] [--dry-run]`: deletes all but the N newest
//! runs of each workflow in a store (of FILE's workflow when a file is given): their results
//! in the store, their logs in `.flow/logs/RUN` and their report `.flow/reports/RUN.html`.
//!
//! The newest run of a workflow, which `--resume` reads, is always kept (`--keep` is at
//! least 1), and so is an older run that ran a flow a kept run found up to date or reused
//! (`flow results` shows that attempt). Up-to-date checks read the ledger, not old runs, so
//! they decide as before. Each workflow's run lock is held while its runs are deleted, so no
//! `flow run` of it writes meanwhile; a workflow that is running is skipped (exit code 1).
//! Then a SQLite store's file is rewritten to give the space back, with every workflow's
//! lock held (not while any of them runs).

use std::path::Path;

use std::collections::{BTreeSet, HashMap, HashSet};

use flow_results::{FlowResult, FlowStatus, ResultStore, RunId, RunRecord, StoreSpec};

use crate::cli::PruneArgs;
use crate::commands::located::{locate_to_prune, Located};
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::logs::run_dir;
use crate::{run_lock, store, terminal};

/// What the run lock says while `flow prune` holds it.
pub const LOCK_HOLDER: &str = "prune";

/// Deletes the old runs (or lists them with `--dry-run`); 0 when done, 1 when a workflow
/// was skipped because it is running.
pub fn run(args: &PruneArgs) -> Result<u8, CliError> {
    let Located { dir, name, .. } = locate_to_prune(args.file.as_deref())?;
    let spec = store::spec(args.store.as_deref(), &dir)?;
    if spec == StoreSpec::Memory {
        return Err(CliError::Run(
            "nothing to prune: the memory store keeps nothing from one `flow` to the next".into(),
        ));
    }
    let opened = if args.dry_run {
        store::open_for_reading(&spec)
    } else {
        store::open_existing(&spec)
    };
    let results_store = match opened {
        // A project that has not run yet: no runs, as `flow runs` says, and no error.
        Err(CliError::NoRun { .. }) => {
            let none = store::no_runs(&spec, name.as_deref());
            print_stdout(&format!("{none}: nothing to prune\n"))?;
            return Ok(0);
        }
        opened => opened?,
    };
    let mut runs = results_store.runs().map_err(|e| store::error(&spec, e))?;
    let in_store: BTreeSet<String> = runs.iter().map(|r| r.workflow.clone()).collect();
    if let Some(name) = &name {
        runs.retain(|r| &r.workflow == name);
    }
    let mut old = older_than_newest(runs.clone(), args.keep as usize);
    let needed = producers(&*results_store, &runs, &old);
    old.retain(|r| !needed.contains(&r.run_id));
    for run in &needed {
        print_stdout(&format!(
            "kept run {run} too: it ran flows that kept runs found up to date or reused\n"
        ))?;
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut workflows: Vec<&str> = old.iter().map(|r| r.workflow.as_str()).collect();
    workflows.dedup();
    let (mut deleted, mut busy) = (0, 0);
    for workflow in workflows {
        let _lock = if args.dry_run {
            None
        } else {
            match run_lock::borrow(&spec, workflow, LOCK_HOLDER) {
                Ok(lock) => lock,
                Err(error @ CliError::Locked { .. }) => {
                    // The others are pruned all the same; the exit code says one was not.
                    busy += 1;
                    terminal::eprint_line(&format!("flow prune: skipped: {error}"));
                    continue;
                }
                Err(error) => return Err(error),
            }
        };
        for record in old.iter().filter(|r| r.workflow == workflow) {
            if !args.dry_run {
                results_store
                    .delete_run(&record.run_id)
                    .map_err(|e| store::error(&spec, e))?;
                remove_files(&dir, &record.run_id)?;
            }
            deleted += 1;
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
    let runs = match deleted {
        1 => "1 run".to_owned(),
        n => format!("{n} runs"),
    };
    let skipped = match busy {
        0 => String::new(),
        1 => "; skipped 1 workflow that is running".to_owned(),
        n => format!("; skipped {n} workflows that are running"),
    };
    let of = match &name {
        Some(name) => format!("workflow `{}`", terminal::safe(name)),
        None => "each workflow".to_owned(),
    };
    print_stdout(&format!(
        "{verb} {runs} of {}, kept the {} newest of {of}{skipped}\n",
        terminal::safe(&spec.to_string()),
        args.keep
    ))?;
    if !args.dry_run {
        compact(&*results_store, &spec, &in_store)?;
    }
    Ok(if busy > 0 { 1 } else { 0 })
}

/// Gives the space of deleted runs back to the file system (a SQLite store rewrites its
/// file) when at least a tenth of the file is unused, holding the run lock of every workflow
/// in the store meanwhile, so that no run of theirs waits for it. When one of them is
/// running, or the rewrite fails (it needs as much free space as the file keeps), says so
/// and leaves the file as it is: the space is then used again by later runs.
fn compact(
    results: &dyn ResultStore,
    spec: &StoreSpec,
    workflows: &BTreeSet<String>,
) -> Result<(), CliError> {
    let StoreSpec::Sqlite(path) = spec else {
        return Ok(()); // A folder store's deletes freed the space; memory keeps nothing.
    };
    let (unused, all) = results.unused_bytes().map_err(|e| store::error(spec, e))?;
    if unused == 0 || unused < all / 10 {
        return Ok(()); // Not worth rewriting the whole file for.
    }
    let mut locks = Vec::with_capacity(workflows.len());
    for workflow in workflows {
        match run_lock::borrow(spec, workflow, LOCK_HOLDER) {
            Ok(lock) => locks.push(lock),
            Err(CliError::Locked { .. }) => {
                terminal::eprint_line(&format!(
                    "flow prune: {} keeps its {} unused while `{}` runs; `flow prune` again \
                     once it ended gives the space back",
                    terminal::path(path),
                    size_text(unused),
                    terminal::safe(workflow)
                ));
                return Ok(());
            }
            Err(error) => return Err(error),
        }
    }
    let before = size_on_disk(path);
    if let Err(error) = results.compact() {
        terminal::eprint_line(&format!(
            "flow prune: warning: {} keeps its size: {}",
            terminal::path(path),
            terminal::safe(&terminal::chain(&error))
        ));
        return Ok(());
    }
    print_stdout(&format!(
        "compacted {}: {} before, {} now\n",
        terminal::path(path),
        size_text(before),
        size_text(size_on_disk(path))
    ))
}

/// The bytes a SQLite file and its write-ahead log take.
fn size_on_disk(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path, Path::new(&wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// `bytes` for a person: `512 KiB`, `3.4 MiB`, `1.2 GiB`.
fn size_text(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB * KIB {
        format!("{} KiB", (b / KIB).ceil())
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    }
}

/// The runs of `old` that a kept run (one of `runs` not in `old`) needs: for each flow it
/// completed without an attempt (up to date, or reused by `--resume`), the earlier run that
/// ran it, found as `flow results` finds the attempt it shows
/// ([`producer_candidates`](crate::report::producer_candidates)). A run the store cannot read
/// is passed over.
fn producers(store: &dyn ResultStore, runs: &[RunRecord], old: &[RunRecord]) -> BTreeSet<RunId> {
    let old: HashSet<&RunId> = old.iter().map(|r| &r.run_id).collect();
    let is_old = |run: &RunId| old.contains(run);
    // Each run's results, read once.
    let mut results: HashMap<RunId, Vec<FlowResult>> = HashMap::new();
    let mut needed = BTreeSet::new();
    for kept in runs.iter().filter(|r| !is_old(&r.run_id)) {
        let mut wanted: Vec<String> = results_of(&mut results, store, &kept.run_id)
            .iter()
            .filter(|r| r.status == FlowStatus::Completed && r.attempts == 0)
            .map(|r| r.flow_id.to_string())
            .collect();
        let earlier =
            crate::report::producer_candidates(runs, kept.run_id.as_str(), &kept.workflow);
        for run in earlier {
            if wanted.is_empty() {
                break;
            }
            let ran = results_of(&mut results, store, &run.run_id);
            let before = wanted.len();
            wanted.retain(|flow| {
                !ran.iter().any(|r| {
                    r.flow_id.as_str() == flow
                        && r.status == FlowStatus::Completed
                        && r.attempts > 0
                })
            });
            if wanted.len() < before && is_old(&run.run_id) {
                needed.insert(run.run_id.clone());
            }
        }
    }
    needed
}

/// The results of `run` in `store`, read the first time only (none when it cannot be read).
fn results_of<'a>(
    cache: &'a mut HashMap<RunId, Vec<FlowResult>>,
    store: &dyn ResultStore,
    run: &RunId,
) -> &'a [FlowResult] {
    cache
        .entry(run.clone())
        .or_insert_with(|| store.results(run).unwrap_or_default())
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
