//! Files a flow reads that a former parent wrote ([`gone_output_read`]): a matrix flow of a
//! sample deleted since leaves its output, which no flow writes or removes any more, and a
//! fan-in whose input glob still matches it reads it as if the sample were there.

use super::check::Known;
use super::digest::Files;
use crate::flow::Flow;

/// A former parent of `flow` (one of `gone`) that wrote, when it last completed, a file that
/// `flow` reads and that none of its `parents` now wrote (a parent renamed writes the same
/// files), with that file: among `inputs` as read now, else as the flow's entry recorded them
/// (their stats did not change). `None` when the ledger has no files of them.
pub(super) fn gone_output_read<'a>(
    known: &Known,
    flow: &Flow,
    gone: impl Iterator<Item = &'a String>,
    parents: &[(String, String)],
    inputs: Option<&Files>,
) -> Option<(&'a String, String)> {
    let ledger = &known.freshness.ledger;
    let recorded;
    let read: Vec<&String> = match inputs {
        Some(now) => now.digests.keys().collect(),
        None => {
            recorded = ledger.files(flow.id.as_str())?.inputs;
            recorded.keys().collect()
        }
    };
    if read.is_empty() {
        return None;
    }
    // What the parents wrote, read once a former parent's file is found among the inputs.
    let mut current: Option<std::collections::BTreeSet<String>> = None;
    gone.into_iter().find_map(|parent| {
        let written = ledger.files(parent)?.outputs;
        let file = read.iter().find(|file| {
            written.contains_key(file.as_str())
                && !current
                    .get_or_insert_with(|| {
                        (parents.iter())
                            .filter_map(|(p, _)| ledger.files(p))
                            .flat_map(|f| f.outputs.into_keys())
                            .collect()
                    })
                    .contains(file.as_str())
        })?;
        Some((parent, (*file).clone()))
    })
}
