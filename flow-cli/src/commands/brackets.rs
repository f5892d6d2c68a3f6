//! Input globs with brackets that match nothing. In flow `[` and `]` match themselves (only
//! `*`, `?` and `**` are wildcards), so `data/[ab]*.csv`, written as in Snakemake or make,
//! reads only files named with brackets: usually none, and the flow runs with its inputs
//! untracked. `flow validate` and `flow run` say so, once per place in the file.

use std::path::Path;

use flow_core::Data;

use crate::terminal;
use crate::workflow::Workflow;

/// One warning per input of a definition that, in one of its flows, is a glob holding `[`
/// that no flow's output matches and no file or folder matches now (files are read: only
/// for such globs). Each names the place, the pattern, the first flow it fails for and how
/// many more, made safe to print.
pub fn warnings(wf: &Workflow) -> Vec<String> {
    let mut out = Vec::new();
    for def in &wf.definitions {
        for (k, place) in def.inputs_at.iter().enumerate() {
            let k = k as u32;
            let mut failing = (wf.flows[def.flows.clone()].iter()).filter(|flow| {
                let input = &flow.inputs[k as usize];
                input.contains('[')
                    && flow.unwritten_globs.contains(&k)
                    && !matches_any(&wf.dir, input)
            });
            let Some(first) = failing.next() else {
                continue;
            };
            let more = match failing.count() {
                0 => String::new(),
                1 => " (and 1 more flow)".to_owned(),
                n => format!(" (and {n} more flows)"),
            };
            out.push(format!(
                "{}: input `{}` of flow `{}`{more} matches no file: in flow `[` and `]` match \
                 themselves, the only wildcards are `*`, `?` and `**`; write one input per \
                 alternative (`a*.csv`, `b*.csv`)",
                terminal::safe(&place.to_string()),
                terminal::safe(&first.inputs[k as usize]),
                first.id,
            ));
        }
    }
    out
}

/// Prints [`warnings`] on stderr, one line each.
pub fn warn(wf: &Workflow) {
    for warning in warnings(wf) {
        terminal::eprint_line(&format!("flow: warning: {warning}"));
    }
}

/// Whether the glob `input`, relative to `dir`, matches a file or folder, as flow-core
/// expands it when it takes a flow's digests ([`Data::glob_may_match`]), or names one as written
/// (a glob that matches nothing is taken as written). A folder that cannot be read counts as a
/// match: nothing is known to be missing.
fn matches_any(dir: &Path, input: &str) -> bool {
    Data::glob_may_match(dir, input) || std::fs::symlink_metadata(dir.join(input)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` as `w.toml` in a folder whose files are `files`.
    fn warnings_of(text: &str, files: &[&str]) -> Vec<String> {
        crate::commands::warnings_of(text, files, warnings)
    }

    #[test]
    fn a_bracket_glob_that_matches_nothing_is_named_at_its_line() {
        let flow =
            |input: &str| format!("[flows.a]\ncommand = [\"true\"]\ninputs = [\"{input}\"]\n");
        // (input, files there, the warning's start or none)
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            (
                "data/[ab]*.csv",
                &["data/a1.csv"],
                Some(
                    "w.toml:3: input `data/[ab]*.csv` of flow `a` matches no file: in flow `[` \
                     and `]` match themselves, the only wildcards are `*`, `?` and `**`",
                ),
            ),
            (
                "data/[ab]*.csv",
                &[],
                Some("w.toml:3: input `data/[ab]*.csv`"),
            ),
            (
                "run[1]/*.fq",
                &["run1/a.fq"],
                Some("w.toml:3: input `run[1]/*.fq`"),
            ),
            // Brackets that match files, or a file named as written: nothing to say.
            ("data/[ab]*.csv", &["data/[ab]1.csv"], None),
            ("run[1]/*.fq", &["run[1]/a.fq"], None),
            ("run[1]/*", &["run[1]/sub/a.fq"], None),
            ("x[1]*", &["x[1]*"], None),
            // No bracket, or no glob (that one must exist when the flow starts).
            ("data/*.csv", &[], None),
            ("data/[ab].csv", &[], None),
        ];
        for &(input, files, expected) in cases {
            let got = warnings_of(&flow(input), files);
            match expected {
                Some(start) => {
                    assert_eq!(got.len(), 1, "{input} {files:?}: {got:?}");
                    assert!(got[0].starts_with(start), "{input} {files:?}: {got:?}");
                }
                None => assert!(got.is_empty(), "{input} {files:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn a_bracket_glob_another_flow_writes_into_is_not_named() {
        let text = "[flows.a]\ncommand = [\"true\"]\noutputs = [\"run[1]/\"]\n\
                    [flows.b]\ncommand = [\"true\"]\ninputs = [\"run[1]/*.fq\"]\n";
        assert_eq!(warnings_of(text, &[]), Vec::<String>::new());
    }

    #[test]
    fn a_matrix_is_named_once_with_the_count_of_the_others_and_safely() {
        let text = "[flows.a]\nmatrix = { s = [\"x\", \"y\", \"z\"] }\ncommand = [\"true\"]\n\
                    inputs = [\"in/{s}/[ab]*\\u001b[31m\"]\n";
        let got = warnings_of(text, &[]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with(
                "w.toml:4: input `in/x/[ab]*\\u{1b}[31m` of flow `a.x` (and 2 more flows) matches"
            ),
            "{got:?}"
        );
    }
}
