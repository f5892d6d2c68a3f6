//! Files a flow reads that a parent gone from the workflow wrote: a matrix flow of a sample
//! deleted since (`count.B` when `data/B.txt` went away), whose output (`counts/B.n`) an input
//! glob of a flow after it (`counts/*.n`) still matches. No flow writes the file any more, so
//! nothing removes it, and the flow goes on reading it as if the sample were there: a
//! warning names it, when the flow is judged (before it would run, and in the dry run).

use std::path::Path;

use flow_graph::FlowId;

use super::check::Known;

/// Warns, once per gone parent, of each file `flow` read when it last completed (as the
/// ledger has it) that one of its parents then, `recorded`, wrote and that is still there
/// in `base`, when that parent is not among its parents now (`parents`, sorted by id) and
/// none of these wrote the file; once per flow of `known`'s run. Reads the ledger only when
/// a parent went away, and the records of the parents of now only when such a file is found.
pub(super) fn warn(
    flow: &FlowId,
    base: &Path,
    recorded: &[(String, String)],
    parents: &[(String, String)],
    known: &Known,
) {
    if recorded == parents {
        return;
    }
    // `parents` is sorted by id: a fan-in of many thousands is looked up, not scanned.
    let mut gone = (recorded.iter().map(|(id, _)| id))
        .filter(|id| parents.binary_search_by(|(p, _)| p.cmp(id)).is_err())
        .peekable();
    if gone.peek().is_none() {
        return;
    }
    let mut warned = known.left_over.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.insert(flow.clone()) {
        return;
    }
    drop(warned);
    let ledger = &known.freshness.ledger;
    let Some(read) = ledger.files(flow.as_str()) else {
        return;
    };
    // Each gone parent with the files it wrote that the flow read and that are still there.
    let left: Vec<(&String, Vec<String>)> = gone
        .filter_map(|parent| {
            let wrote = ledger.files(parent)?;
            let files: Vec<String> = (wrote.outputs.into_keys())
                .filter(|file| read.inputs.contains_key(file) && base.join(file).exists())
                .collect();
            (!files.is_empty()).then_some((parent, files))
        })
        .collect();
    if left.is_empty() {
        return;
    }
    // What the parents of now wrote (a definition renamed: `cnt.B` writes `counts/B.n` now).
    let written: Vec<_> = (parents.iter())
        .filter_map(|(p, _)| ledger.files(p))
        .collect();
    for (parent, files) in left {
        let files: Vec<&String> = (files.iter())
            .filter(|file| !written.iter().any(|w| w.outputs.contains_key(*file)))
            .collect();
        let Some(first) = files.first() else {
            continue;
        };
        let more = match files.len() - 1 {
            0 => String::new(),
            1 => " (and 1 more file)".to_owned(),
            n => format!(" (and {n} more files)"),
        };
        tracing::warn!(
            flow = %flow,
            "flow `{flow}` reads `{first}`{more}, which `{parent}` wrote when it was a parent \
             of `{flow}`; no flow writes it now (a matrix value or a flow went away?), so it is \
             left over from an earlier run: delete it if `{flow}` should not read it"
        );
    }
}
