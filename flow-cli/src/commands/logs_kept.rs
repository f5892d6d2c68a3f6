//! `flow logs FLOW` when the latest run that ran the flow left no log files of it (deleted,
//! not restored with a CI cache that kept only the store, or never written: a workflow folder
//! `flow run` could not write): the end of its output that the run's store kept, under a note
//! that says so, instead of an earlier run's logs shown as if they were the latest, or "it has
//! not run".

use std::io::IsTerminal;
use std::path::Path;

use flow_graph::FlowId;
use flow_results::{FlowResult, ResultStore};

use crate::error::CliError;
use crate::terminal;

/// The record of `flow` in the newest run of `store` (of workflow `name`, when known) that is
/// newer than `logged`, the newest run with log files of the flow under `root`, and in which
/// the flow made an attempt and ended (one still running may not have written yet); `None`
/// when the logs found are the latest.
pub(super) fn newer_than_logs(
    store: &dyn ResultStore,
    name: Option<&str>,
    flow: &str,
    logged: Option<&str>,
) -> Option<FlowResult> {
    let flow = FlowId::new(flow).ok()?;
    let mut runs = store.runs().ok()?;
    runs.retain(|r| name.is_none_or(|name| r.workflow == name));
    runs.sort_unstable_by(|a, b| b.run_id.as_str().cmp(a.run_id.as_str()));
    runs.iter()
        .take_while(|r| logged.is_none_or(|logged| r.run_id.as_str() > logged))
        .find_map(|r| {
            let result = store.result(&r.run_id, &flow).ok()??;
            (result.attempts > 0 && result.status.is_finished()).then_some(result)
        })
}

/// Prints the tails of `result` (stdout's to stdout, stderr's to stderr; made safe on a
/// terminal unless `raw`) under a note naming the run, where its logs were looked for
/// (`root`), and the earlier run with logs of the flow (`logged`).
pub(super) fn print(
    result: &FlowResult,
    root: &Path,
    logged: Option<&str>,
    raw: bool,
) -> Result<u8, CliError> {
    let run = result.run_id.as_str();
    let earlier = logged
        .map(|logged| {
            format!(
                "; `--run {}` prints the logs of the earlier run",
                terminal::safe(logged)
            )
        })
        .unwrap_or_default();
    let kept = if result.stdout_tail.is_empty() && result.stderr_tail.is_empty() {
        "the store kept no output of it"
    } else {
        "these are the last lines of its stdout and stderr that the store kept"
    };
    super::logs::eprintln_note(&format!(
        "flow `{}` ran in run {run} (attempt {}), but its log files are not in {} (deleted, \
         not restored, or never written: see that run's warnings); {kept}{earlier}",
        result.flow_id,
        result.attempts,
        terminal::path(&flow_core::run_log_dir(root, run))
    ));
    let streams = [
        (result.stdout_tail.as_str(), std::io::stdout().is_terminal()),
        (result.stderr_tail.as_str(), std::io::stderr().is_terminal()),
    ];
    for (k, (tail, is_terminal)) in streams.into_iter().enumerate() {
        let shown = match is_terminal && !raw {
            true => terminal::safe_output(tail),
            false => tail.into(),
        };
        super::log_printer::write_to(k, shown.as_bytes())?;
    }
    Ok(0)
}
