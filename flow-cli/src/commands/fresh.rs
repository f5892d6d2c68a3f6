//! Freshness on the command line: where a workflow's ledger is (beside its store), the
//! options `--force FLOW...` and `--force-all`, and `flow run --dry-run`, which prints what a
//! run would do and why, running and recording nothing.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use flow_core::{Data, FlowContext, FlowId, Freshness, Ledger, Plan, Snapshot};
use flow_results::StoreSpec;

use crate::cli::RunArgs;
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

/// The ledger of a run, being read on another thread while the workflow file is parsed.
pub struct Ahead {
    path: PathBuf,
    reading: std::thread::JoinHandle<Option<Snapshot>>,
}

/// Starts reading the ledger of the run `args` asks for, if it has one, before the
/// workflow file is parsed (the ledger is found from the file's folder alone). The run uses
/// what was read only if nothing was written to the ledger since.
pub fn read_ahead(args: &RunArgs) -> Option<Ahead> {
    let dir = crate::workflow::folder(&args.file).ok()?;
    let path = ledger_path(&crate::store::spec(args.store.as_deref(), &dir).ok()?)?;
    let reading = {
        let path = path.clone();
        std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || match Ledger::read_ahead(&path) {
                Ok(snapshot) => snapshot,
                Err(error) => {
                    // The run reads it again, and says what is wrong then.
                    tracing::debug!(%error, "cannot read the ledger ahead of the run");
                    None
                }
            })
            .ok()?
    };
    Some(Ahead { path, reading })
}

/// Whether any flow of `wf` declares files (only then is there anything to check).
pub fn declares_data(wf: &Workflow) -> bool {
    wf.flows
        .iter()
        .any(|f| !f.inputs.is_empty() || !f.outputs.is_empty())
}

/// The declared files of `def`, if it declares any.
pub fn data_of(def: &FlowDef, wf: &Workflow) -> Option<Data> {
    (!def.inputs.is_empty() || !def.outputs.is_empty()).then(|| {
        Data::new(&wf.dir)
            .inputs(def.inputs.iter().cloned())
            .outputs(def.outputs.iter().cloned())
    })
}

/// The freshness options of a run (or a dry run, reading only) of `wf` on `spec`.
///
/// # Errors
/// [`CliError::UnknownTarget`] for a `--force` naming no flow; [`CliError::Run`] when the
/// ledger cannot be opened.
pub fn freshness(
    args: &RunArgs,
    wf: &Workflow,
    spec: &StoreSpec,
    read_only: bool,
    ahead: Option<Ahead>,
) -> Result<Freshness, CliError> {
    let path = ledger_path(spec);
    let mut ledger = match &path {
        None => Ok(Ledger::in_memory()),
        Some(path) if read_only => Ledger::open_read_only(path),
        Some(path) => Ledger::open(path),
    }
    .map_err(|e| CliError::Run(terminal::chain(&e)))?;
    if let Some(ahead) = ahead.filter(|a| Some(&a.path) == path.as_ref()) {
        if let Ok(Some(snapshot)) = ahead.reading.join() {
            ledger = ledger.with_snapshot(snapshot);
        }
    }
    let mut forced: Vec<FlowId> = Vec::with_capacity(args.force.len());
    for name in &args.force {
        let found = wf.flows.iter().find(|f| f.id.as_str() == name.as_str());
        match found {
            Some(flow) => forced.push(flow.id.clone()),
            None => {
                let def = wf.definitions.iter().find(|d| d.name == *name);
                let Some(def) = def else {
                    return Err(CliError::UnknownTarget {
                        target: name.clone(),
                        file: wf.file.display().to_string(),
                    });
                };
                forced.extend(wf.flows[def.flows.clone()].iter().map(|f| f.id.clone()));
            }
        }
    }
    let mut freshness = Freshness::new(Arc::new(ledger)).force(forced);
    if args.force_all {
        freshness = freshness.force_all();
    }
    Ok(freshness)
}

/// `flow run --dry-run`: prints each flow that would run with its reason, and how many are
/// up to date (or, with `--json`, the plan as one JSON document). Returns 0.
///
/// # Errors
/// When the ledger cannot be read or stdout cannot be written.
pub fn dry_run(
    args: &RunArgs,
    wf: &Workflow,
    ctx: &FlowContext,
    spec: &StoreSpec,
) -> Result<u8, CliError> {
    let freshness = freshness(args, wf, spec, true, None)?;
    let plan = ctx
        .plan(freshness)
        .map_err(|e| CliError::Run(terminal::chain(&e)))?;
    if args.json {
        print_stdout(&format!("{}\n", plan_json(&plan)))?;
    } else {
        print_stdout(&plan_text(&plan))?;
    }
    Ok(0)
}

/// The plan as JSON: `{"dry_run":true,"run":[{"flow","reason",...}],"up_to_date":[{"flow","produced_by"}],"counts":{...}}`.
pub fn plan_json(plan: &Plan) -> String {
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

/// The plan as lines: `would run FLOW: REASON`, then the counts.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    for f in plan.to_run() {
        let reason = f.run.as_ref().map(ToString::to_string).unwrap_or_default();
        let _ = writeln!(out, "would run {}: {}", f.flow, terminal::safe(&reason));
    }
    let _ = writeln!(
        out,
        "dry run: {} would run, {} up to date; nothing was run",
        plan.to_run().count(),
        plan.up_to_date()
    );
    out
}
