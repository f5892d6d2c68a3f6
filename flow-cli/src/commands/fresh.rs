//! Freshness on the command line: where a workflow's ledger is (beside its store), the
//! options `--force FLOW...` and `--force-all`, and `flow run --dry-run`, which prints what a
//! run would do and why, running and recording nothing.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use flow_core::{Data, FlowContext, FlowId, Freshness, Ledger, Plan};
use flow_results::{ResultStore, RunId, StoreSpec};

use crate::cli::RunArgs;
use crate::commands::ahead::LedgerAhead;
use crate::commands::inputs::Unwritten;
use crate::commands::print_stdout;
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
        Some(name) => Err(CliError::UnknownTarget {
            target: name.clone(),
            file: wf.file.display().to_string(),
        }),
        None => Ok(()),
    }
}

/// The freshness options of a run (or a dry run, reading only) of `wf` on `spec`.
///
/// # Errors
/// [`CliError::ForcedOutsideTargets`] for a `--force` naming no flow of `wf` (checked against
/// the whole file first: [`check_forced`]); [`CliError::Run`] when the ledger cannot be
/// opened.
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
    .map_err(|e| CliError::Run(terminal::chain(&e)))?;
    if let Some(ahead) = ahead.filter(|a| Some(&a.path) == path.as_ref()) {
        ledger = ledger.with_snapshot(ahead.snapshot);
    }
    let mut forced: Vec<FlowId> = Vec::with_capacity(args.force.len());
    for name in &args.force {
        match forced_flows(wf, name) {
            Some(flows) => forced.extend(flows),
            None => return Err(CliError::ForcedOutsideTargets { flow: name.clone() }),
        }
    }
    let mut freshness = Freshness::new(Arc::new(ledger)).force(forced);
    if args.force_all {
        freshness = freshness.force_all();
    }
    Ok(freshness)
}

/// A store opened to read, with the run a `--resume` would resume from.
pub type Resumed = (Arc<dyn ResultStore>, RunId);

/// The store of `spec`, opened to read, with the latest run of `wf` in it, for a dry run
/// with `--resume`; `None` when nothing was run with this store yet.
///
/// # Errors
/// When the store cannot be read.
pub fn latest_run(spec: &StoreSpec, wf: &Workflow) -> Result<Option<Resumed>, CliError> {
    let store = match crate::store::open_for_reading(spec) {
        Ok(store) => store,
        Err(CliError::NoRun { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let latest = store
        .latest_run(&wf.name)
        .map_err(|e| crate::store::error(spec, e))?;
    Ok(latest.map(|run| (store, run.run_id)))
}

/// `flow run --dry-run`: prints each flow that would run with its reason, and how many are
/// up to date (or, with `--json`, the plan as one JSON document). Returns 0.
///
/// # Errors
/// When the ledger cannot be read or stdout cannot be written.
pub fn dry_run(
    args: &RunArgs,
    wf: &Arc<Workflow>,
    ctx: &FlowContext,
    spec: &StoreSpec,
    resume_from: Option<&RunId>,
) -> Result<u8, CliError> {
    let freshness = freshness(args, wf, spec, true, None)?;
    let plan = match resume_from {
        Some(from) => ctx.plan_resumed(freshness, from),
        None => ctx.plan(freshness),
    }
    .map_err(|e| CliError::Run(terminal::chain(&e)))?;
    let unwritten = Unwritten::of(wf);
    let fails = |flow: &FlowId| unwritten.problem(flow.as_str());
    if args.json {
        print_stdout(&format!("{}\n", plan_json(&plan, fails)))?;
    } else {
        print_stdout(&plan_text(&plan, fails))?;
    }
    Ok(0)
}

/// The plan as JSON: `{"dry_run":true,"run":[{"flow","reason",...}],"up_to_date":[{"flow","produced_by"}],"counts":{...}}`;
/// a flow that would run but fail at once (`fails`: why) has `"fails": "WHY"`.
pub fn plan_json(plan: &Plan, fails: impl Fn(&FlowId) -> Option<String>) -> String {
    let run: Vec<_> = plan
        .to_run()
        .map(|f| {
            let mut entry = serde_json::to_value(&f.run).unwrap_or_default();
            if let Some(map) = entry.as_object_mut() {
                map.insert("flow".into(), f.flow.as_str().into());
                map.insert(
                    "text".into(),
                    f.run.as_ref().map(ToString::to_string).into(),
                );
                if let Some(why) = fails(&f.flow) {
                    map.insert("fails".into(), why.into());
                }
            }
            entry
        })
        .collect();
    let fresh: Vec<_> = plan
        .flows
        .iter()
        .filter(|f| f.run.is_none())
        .map(|f| {
            serde_json::json!({
                "flow": f.flow.as_str(),
                "produced_by": f.produced_by.as_ref().map(|r| r.as_str()),
            })
        })
        .collect();
    serde_json::json!({
        "dry_run": true,
        "run": run,
        "up_to_date": fresh,
        "counts": {"run": plan.to_run().count(), "up_to_date": plan.up_to_date()},
    })
    .to_string()
}

/// The plan as lines: `would run FLOW: REASON` (`would fail FLOW: WHY` for a flow that
/// would fail at once: `fails`), then the counts.
pub fn plan_text(plan: &Plan, fails: impl Fn(&FlowId) -> Option<String>) -> String {
    let mut out = String::new();
    for f in plan.to_run() {
        let reason = f.run.as_ref().map(ToString::to_string).unwrap_or_default();
        match fails(&f.flow) {
            Some(why) => {
                let _ = writeln!(out, "would fail {}: {}", f.flow, terminal::safe(&why));
            }
            None => {
                let _ = writeln!(out, "would run {}: {}", f.flow, terminal::safe(&reason));
            }
        }
    }
    let _ = writeln!(
        out,
        "dry run: {} would run, {} up to date; nothing was run",
        plan.to_run().count(),
        plan.up_to_date()
    );
    out
}
