//! `flow results [FILE] [--store STORE] [--run RUN_ID] [--json]`: one stored run as a table
//! or as the JSON of `flow run --json`. Exits 0 whatever the run's outcome, and when there is
//! no run yet (it says so; `--json` prints `null`); a run asked for by id must exist.

use flow_graph::FlowId;
use flow_results::RunRecord;

use crate::cli::ResultsArgs;
use crate::commands::executor::left_jobs_note;
use crate::commands::located::{locate_with, Located};
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::report::RunReport;
use crate::run_state::RunState;
use crate::{store, terminal};

/// Shows the run.
pub fn run(args: &ResultsArgs) -> Result<u8, CliError> {
    let Located { dir, name, wf } = locate_with(args.file.as_deref(), &args.params.set)?;
    let spec = store::spec(args.store.as_deref(), &dir)?;
    // A run asked for by id must be there; the latest may not be yet.
    let results_store = match &args.run {
        Some(_) => store::open_for_reading(&spec)?,
        None => match store::open_if_any(&spec)? {
            Some(results_store) => results_store,
            None => return no_runs(args, &spec, name.as_deref()),
        },
    };
    let run: RunRecord = match &args.run {
        Some(text) => crate::run_prefix::stored_run(&*results_store, &spec, text, name.as_deref())?,
        None => {
            match latest(&*results_store, name.as_deref()).map_err(|e| store::error(&spec, e))? {
                Some(run) => run,
                None => return no_runs(args, &spec, name.as_deref()),
            }
        }
    };
    let results = results_store
        .results(&run.run_id)
        .map_err(|e| store::error(&spec, e))?;
    // A finished run lists its own flows: a run of some targets (`flow run FILE FLOW`) had
    // only those and their ancestors, not every flow of the file.
    let recorded: std::collections::HashSet<&str> =
        results.iter().map(|r| r.flow_id.as_str()).collect();
    // The file's flows are the run's only when it is the run's workflow.
    let wf = wf.filter(|w| w.name == run.workflow);
    let order: Option<Vec<FlowId>> = wf.as_ref().map(|w| {
        (w.flows.iter())
            .filter(|f| run.finished_at.is_none() || recorded.contains(f.id.as_str()))
            .map(|f| f.id.clone())
            .collect()
    });
    let state = RunState::of(&spec, &run);
    let mut report = RunReport::new(&run, state, results, order.as_deref());
    let logs_root = dir.join(store::STATE_DIR).join("logs");
    report.attach_logs(&logs_root);
    // A failure names where its flow is defined, as `flow run` does, when the file defines it.
    if let Some(wf) = &wf {
        report.attach_places(wf);
    }
    report.attach_reused(&*results_store, &logs_root);
    if args.json {
        print_stdout(&format!("{}\n", report.to_json()))?;
    } else {
        let colour = terminal::colour_stdout();
        // A killed run under Slurm: its jobs may run on.
        let note = (state == RunState::Interrupted)
            .then(|| left_jobs_note(&dir, &run.workflow))
            .flatten()
            .map(|note| format!("{note}\n"))
            .unwrap_or_default();
        print_stdout(&format!(
            "{}\n{}{note}",
            report.table(colour),
            report.summary(colour)
        ))?;
    }
    Ok(0)
}

/// Says that `spec` holds no run of `workflow` yet (`null`, the document of no run, with
/// `--json`): a project that has not run is no error.
fn no_runs(
    args: &ResultsArgs,
    spec: &flow_results::StoreSpec,
    workflow: Option<&str>,
) -> Result<u8, CliError> {
    match args.json {
        true => print_stdout("null\n")?,
        false => print_stdout(&format!("{}\n", store::no_runs(spec, workflow)))?,
    }
    Ok(0)
}

/// The latest run of `workflow`, or of any workflow.
fn latest(
    store: &dyn flow_results::ResultStore,
    workflow: Option<&str>,
) -> Result<Option<RunRecord>, flow_results::StoreError> {
    match workflow {
        Some(name) => store.latest_run(name),
        None => Ok(store
            .runs()?
            .into_iter()
            .max_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)))),
    }
}
