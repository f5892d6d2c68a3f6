//! Freshness on the command line: where a workflow's ledger is (beside its store), and the
//! options `--force FLOW...` and `--force-all` (`flow run --dry-run` is in
//! [`super::dry_run`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flow_core::{Data, FlowId, Freshness, Ledger};
use flow_results::{ResultStore, RunRecord, StoreSpec};

use crate::cli::RunArgs;
use crate::commands::ahead::LedgerAhead;
use crate::error::CliError;
use crate::terminal;
use crate::workflow::{FlowDef, Workflow};

/// The ledger file of a store: `NAME.fresh.db` beside an SQLite store file, `fresh.db` in a
/// directory store; `None` for the memory store (its ledger is in memory too).
pub fn ledger_path(spec: &StoreSpec) -> Option<PathBuf> {
    match spec {
        StoreSpec::Memory => None,
        StoreSpec::Dir(dir) => Some(dir.join("fresh.db")),
        StoreSpec::Sqlite(file) => {
            let stem = file
                .file_stem()
                .map_or_else(|| "flow".into(), |s| s.to_string_lossy().into_owned());
            Some(file.with_file_name(format!("{stem}.fresh.db")))
        }
    }
}

/// Whether any flow of `wf` declares files (only then is there anything to check).
pub fn declares_data(wf: &Workflow) -> bool {
    wf.flows
        .iter()
        .any(|f| !f.inputs.is_empty() || !f.outputs.is_empty())
}

/// The declared files of `def`, if it declares any.
pub fn data_of(def: &FlowDef, wf: &Workflow) -> Option<Data> {
    (!def.inputs.is_empty() || !def.outputs.is_empty())
        .then(|| Data::shared(&wf.dir, Arc::clone(&def.inputs), Arc::clone(&def.outputs)))
}

/// The flows `--force NAME` names in `wf`: the flow, or every flow of the definition.
fn forced_flows<'a>(wf: &'a Workflow, name: &str) -> Option<impl Iterator<Item = FlowId> + 'a> {
    let range = match wf.flows.iter().position(|f| f.id.as_str() == name) {
        Some(i) => i..i + 1,
        None => wf
            .definitions
            .iter()
            .find(|d| d.name == name)?
            .flows
            .clone(),
    };
    Some(wf.flows[range].iter().map(|f| f.id.clone()))
}

/// Checks that every `--force` names a flow or definition of `wf` (the whole file, before
/// the targets are kept).
///
/// # Errors
/// [`CliError::UnknownTarget`] naming the first that does not.
pub fn check_forced(args: &RunArgs, wf: &Workflow) -> Result<(), CliError> {
    match (args.force.iter()).find(|name| forced_flows(wf, name).is_none()) {
        Some(name) => Err(wf.unknown_target(name)),
        None => Ok(()),
    }
}

/// The freshness options of a run (or a dry run, reading only) of `wf` on `spec`.
///
/// # Errors
/// [`CliError::ForcedOutsideTargets`] for a `--force` naming no flow of `wf` (checked against
/// the whole file first: [`check_forced`]); [`CliError::Store`] when the ledger cannot be
/// opened (a damaged one is moved aside, with a warning, and a new one made).
pub fn freshness(
    args: &RunArgs,
    wf: &Workflow,
    spec: &StoreSpec,
    read_only: bool,
    ahead: Option<LedgerAhead>,
) -> Result<Freshness, CliError> {
    let path = ledger_path(spec);
    let mut ledger = match &path {
        None => Ok(Ledger::in_memory()),
        Some(path) if read_only => Ledger::open_read_only(path),
        Some(path) => Ledger::open(path),
    }
    .map_err(|e| CliError::Store {
        spec: spec.to_string(),
        message: terminal::chain(&e),
    })?;
    if let (Some(damaged), Some(path)) = (ledger.damaged(), &path) {
        warn_damaged(path, &damaged);
    }
    if let Some(ahead) = ahead.filter(|a| Some(&a.path) == path.as_ref()) {
        ledger = ledger.with_snapshot(ahead.snapshot);
    }
    let mut forced: Vec<FlowId> = Vec::with_capacity(args.force.len());
    for name in &args.force {
        match forced_flows(wf, name) {
            Some(flows) => forced.extend(flows),
            None => {
                return Err(CliError::ForcedOutsideTargets {
                    flow: name.clone(),
                    bare: args.targets.is_empty(),
                })
            }
        }
    }
    let mut freshness = Freshness::new(Arc::new(ledger)).force(forced);
    if args.force_all {
        freshness = freshness.force_all();
    }
    Ok(freshness)
}

/// Says on stderr that the ledger file at `path` was damaged, and what follows from it.
fn warn_damaged(path: &Path, damaged: &flow_core::Damaged) {
    let what = format!(
        "the up-to-date record {} is damaged ({})",
        terminal::safe(&path.display().to_string()),
        terminal::safe(&damaged.problem)
    );
    match &damaged.moved_to {
        Some(aside) => tracing::warn!(
            "{what}: it was moved to {} and a new one started, so flows with declared files \
             run again this time (it holds only what they last read and wrote; delete the old \
             file when you no longer need it)",
            terminal::safe(&aside.display().to_string())
        ),
        None => tracing::warn!(
            "{what}: this plan takes every flow as never run; the next run moves the file \
             aside and runs them again"
        ),
    }
}

/// A store opened to read, with the latest run of a workflow in it (the run a `--resume`
/// would resume from).
pub type Resumed = (Arc<dyn ResultStore>, RunRecord);

/// The store of `spec`, opened to read, with the latest run of `wf` in it, for a dry run;
/// `None` when nothing was run with this store yet.
///
/// # Errors
/// When the store cannot be read.
pub fn latest_run(spec: &StoreSpec, wf: &Workflow) -> Result<Option<Resumed>, CliError> {
    let Some(store) = crate::store::open_if_any(spec)? else {
        return Ok(None);
    };
    let latest = store
        .latest_run(&wf.name)
        .map_err(|e| crate::store::error(spec, e))?;
    Ok(latest.map(|run| (store, run)))
}
