//! The store of a run lies outside every flow's outputs: each attempt starts without them.

use std::path::Path;

use flow_results::StoreSpec;

use crate::commands::fresh;
use crate::error::CliError;
use crate::run_lock;
use crate::workflow::Workflow;

/// Refuses a run whose store (with `--store`), its ledger or a lock file is, or lies in, a
/// flow's output: each attempt starts without its outputs, which would remove them. (The
/// default store lies in `.flow/`, which no output may hold: see `workflow::data`.)
pub fn check(spec: &StoreSpec, wf: &Workflow) -> Result<(), CliError> {
    let store = match spec {
        StoreSpec::Sqlite(path) | StoreSpec::Dir(path) => path.clone(),
        StoreSpec::Memory => return Ok(()),
    };
    let ledger = fresh::ledger_path(spec);
    let lock = run_lock::path(spec, &wf.name);
    let paths: Vec<&Path> = std::iter::once(store.as_path())
        .chain(ledger.as_deref())
        .chain(lock.as_deref())
        .collect();
    let Some((flow, output, at)) = wf.output_holding(&paths) else {
        return Ok(());
    };
    let at = at.map_or_else(String::new, |at| format!(" ({}:{})", at.file, at.line));
    Err(CliError::Store {
        spec: spec.to_string(),
        message: format!(
            "output `{output}` of flow `{flow}`{at} holds the store's files: each attempt of a \
             flow starts without its outputs, which would remove them; keep the store outside \
             the outputs"
        ),
    })
}
