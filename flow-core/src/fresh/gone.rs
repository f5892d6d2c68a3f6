//! Files a flow reads that a former parent wrote ([`gone_outputs_read`]): a matrix flow of a
//! sample deleted since leaves its output, which no flow writes or removes any more, and a
//! fan-in whose input glob still matches it reads it as if the sample were there. Only a flow
//! with declared outputs is looked at: the ledger keeps no entry, so no former parents, of
//! one without.

use super::check::{Known, Reason};
use super::digest::Files;
use crate::flow::Flow;

/// [`Reason::GoneParentsOutputRead`] when `flow`, whose parents were `before` when it last
/// completed and are `parents` now, reads files a former parent wrote ([`gone_outputs_read`]).
pub(super) fn reason(
    known: &Known,
    flow: &Flow,
    before: &[(String, String)],
    parents: &[(String, String)],
    inputs: Option<&Files>,
) -> Option<Reason> {
    if before == parents {
        return None;
    }
    let gone = (before.iter())
        .filter(|(b, _)| !parents.iter().any(|(p, _)| p == b))
        .map(|(b, _)| b);
    let read = gone_outputs_read(known, flow, gone, parents, inputs);
    (!read.is_empty()).then_some(Reason::GoneParentsOutputRead { read })
}

/// The files `flow` reads that a former parent of it (one of `gone`) wrote when it last
/// completed and that none of its `parents` now wrote (a parent renamed writes the same
/// files), each with that parent, in the order of `gone`, then of the files: among `inputs`
/// as read now, else as the flow's entry recorded them (their stats did not change). Empty
/// when the ledger has no files of them.
fn gone_outputs_read<'a>(
    known: &Known,
    flow: &Flow,
    gone: impl Iterator<Item = &'a String>,
    parents: &[(String, String)],
    inputs: Option<&Files>,
) -> Vec<(String, String)> {
    let ledger = &known.freshness.ledger;
    let recorded;
    let read: Vec<&String> = match inputs {
        Some(now) => now.digests.keys().collect(),
        None => match ledger.files(flow.id.as_str()) {
            Some(files) => {
                recorded = files.inputs;
                recorded.keys().collect()
            }
            None => return Vec::new(),
        },
    };
    if read.is_empty() {
        return Vec::new();
    }
    // What the parents wrote, read once a former parent's file is found among the inputs.
    let mut current: Option<std::collections::BTreeSet<String>> = None;
    let mut found = Vec::new();
    for parent in gone {
        let Some(written) = ledger.files(parent).map(|f| f.outputs) else {
            continue;
        };
        for file in read
            .iter()
            .filter(|file| written.contains_key(file.as_str()))
        {
            let current = current.get_or_insert_with(|| {
                (parents.iter())
                    .filter_map(|(p, _)| ledger.files(p))
                    .flat_map(|f| f.outputs.into_keys())
                    .collect()
            });
            if !current.contains(file.as_str()) {
                found.push((parent.clone(), (*file).clone()));
            }
        }
    }
    found
}

/// How many of a list of files a message names; it says how many more there are.
const NAMED: usize = 3;

/// `files` (each with the former parent that wrote it, [`gone_outputs_read`]) for a message:
/// "`counts/B.txt` (written by `count.B`)", the first [`NAMED`] of them, then "and N more".
pub(crate) fn listed(files: &[(String, String)]) -> String {
    let mut text = String::new();
    for (k, (parent, file)) in files.iter().take(NAMED).enumerate() {
        if k > 0 {
            text.push_str(", ");
        }
        text.push_str(&format!("`{file}` (written by `{parent}`)"));
    }
    if files.len() > NAMED {
        text.push_str(&format!(" and {} more", files.len() - NAMED));
    }
    text
}

#[cfg(test)]
mod tests {
    /// The first three files are named, then how many more.
    #[test]
    fn listed_names_the_first_three_and_how_many_more() {
        let files = |n: usize| -> Vec<(String, String)> {
            (0..n)
                .map(|k| (format!("c.{k}"), format!("{k}.txt")))
                .collect()
        };
        let one = "`0.txt` (written by `c.0`)";
        let three = "`0.txt` (written by `c.0`), `1.txt` (written by `c.1`), `2.txt` (written \
                     by `c.2`)";
        for (n, says) in [
            (1, one.to_owned()),
            (3, three.to_owned()),
            (4, format!("{three} and 1 more")),
            (10, format!("{three} and 7 more")),
        ] {
            assert_eq!(super::listed(&files(n)), says, "{n}");
        }
    }
}
