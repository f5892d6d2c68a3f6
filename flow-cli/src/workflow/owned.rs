//! Outputs no flow may declare, as each attempt starts without its outputs: the workflow's
//! folder or one holding it, and flow's own files (`.flow/`, the workflow file, the files it
//! includes). Reported at the output's place, once per place.

use rustc_hash::FxHashSet;

use super::data::{key, Place};
use super::diagnostic::{Collector, SourceId};
use super::FlowDef;

/// A file or folder of flow's own that no output may be or hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    /// The state folder `.flow` beside the workflow file (store, ledger, locks, logs); no
    /// output may lie in it either.
    StateFolder,
    WorkflowFile,
    IncludedFile,
}

/// The files of flow's own, as [`key`]s in the workflow's folder `dir`: the state folder,
/// then `files` (the workflow file first, then the files it includes).
fn own_files(dir: Option<&str>, files: &[&std::path::Path]) -> Vec<(String, Own)> {
    let mut own = vec![(crate::store::STATE_DIR.to_owned(), Own::StateFolder)];
    for (n, file) in files.iter().enumerate() {
        let what = if n == 0 {
            Own::WorkflowFile
        } else {
            Own::IncludedFile
        };
        // A path that is not UTF-8 cannot be written as an output either.
        if let Some(path) = file.to_str() {
            own.push((key(path, dir).into_owned(), what));
        }
    }
    own
}

/// The first of `own` ([`own_files`]) that `output` (a [`key`]) is or holds, or lies in when
/// that is the state folder; with whether it lies in it.
fn held<'o>(output: &str, own: &'o [(String, Own)]) -> Option<(&'o str, Own, bool)> {
    let within = |inner: &str, outer: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('/'))
    };
    own.iter().find_map(|(path, what)| {
        if output == path || within(path, output) {
            Some((path.as_str(), *what, false))
        } else if *what == Own::StateFolder && within(output, path) {
            Some((path.as_str(), *what, true))
        } else {
            None
        }
    })
}

/// Reports each output that is the workflow's folder `dir` or holds it (`.`, `..`, an absolute
/// parent: [`flow_core::Data::holds_base`]), or is or holds one of flow's own files
/// ([`own_files`]), or lies in the state folder, once per place: each attempt starts without
/// its outputs, and none of these is ever removed. Whether there was one.
pub(super) fn holding_own(
    flows: &[FlowDef],
    places: &[Vec<Place>],
    dir: &std::path::Path,
    files: &[&std::path::Path],
    diags: &mut Collector<'_>,
) -> bool {
    let text = dir.to_str();
    let own = own_files(text, files);
    // What is wrong with `output`, what is never removed, and what to declare instead.
    let problem = |output: &str| {
        if flow_core::Data::holds_base(dir, output) {
            let instead = "declare the files or folders the flow writes (such as `out/`), or a \
                           path outside the folder (such as `../pack.txt`)";
            let whose = "holds the workflow's folder".to_owned();
            return Some((whose, "this folder is", instead));
        }
        let written = key(output, text);
        let (path, what, inside) = held(&written, &own)?;
        // The file itself, or a folder that holds it.
        let is = if written == path { "is" } else { "holds" };
        let whose = match (what, inside) {
            (Own::StateFolder, false) => {
                format!("holds flow's own files (`{path}/`, its store and logs)")
            }
            (Own::StateFolder, true) => {
                format!("lies in flow's own folder `{path}/` (its store and logs)")
            }
            (Own::WorkflowFile, _) => format!("{is} the workflow file `{path}`"),
            (Own::IncludedFile, _) => format!("{is} the included file `{path}`"),
        };
        let instead = "declare the files or folders the flow writes (such as `out/`)";
        Some((whose, "flow's own files are", instead))
    };
    let mut reported: FxHashSet<(SourceId, usize)> = FxHashSet::default();
    for (i, flow) in flows.iter().enumerate() {
        for (k, output) in flow.outputs.iter().enumerate() {
            let Some((whose, never, instead)) = problem(output) else {
                continue;
            };
            let (source, span) = &places[i][k];
            let at = span.as_ref().map_or(0, |s| s.start);
            if !reported.insert((*source, at)) {
                continue;
            }
            diags.error_at(
                *source,
                at,
                format!(
                    "output `{output}` of flow `{}` {whose}: each attempt of a flow starts \
                     without its outputs, and {never} never removed; {instead}",
                    flow.id
                ),
            );
        }
    }
    !reported.is_empty()
}

impl super::Workflow {
    /// The first output that is or holds one of `paths` (files or folders that the run needs,
    /// such as the store given with `--store`; relative to the current folder), compared as
    /// [`key`]s: the flow, the output as written and where it is written.
    pub fn output_holding(
        &self,
        paths: &[&std::path::Path],
    ) -> Option<(&flow_graph::FlowId, &str, Option<&super::Line>)> {
        let dir = self.dir.to_str();
        let own: Vec<(String, Own)> = (paths.iter())
            .filter_map(|path| std::path::absolute(path).ok()?.to_str().map(str::to_owned))
            // Not the state folder: an output may lie in a store's folder, not hold it.
            .map(|path| (key(&path, dir).into_owned(), Own::WorkflowFile))
            .collect();
        for (i, flow) in self.flows.iter().enumerate() {
            for (k, output) in flow.outputs.iter().enumerate() {
                if held(&key(output, dir), &own).is_some() {
                    let at = (self.definitions.iter())
                        .find(|d| d.flows.contains(&i))
                        .and_then(|d| d.outputs_at.get(k));
                    return Some((&flow.id, output, at));
                }
            }
        }
        None
    }
}
