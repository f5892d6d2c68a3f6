//! `inputs` and `outputs`: the files a flow reads and writes, read as templates, and, once
//! rendered, the `requires` they imply (an input that is, holds, lies in or matches as a glob
//! another flow's output) and the check that no two flows declare the same output.

use std::collections::BTreeMap;
use std::ops::Range;

use flow_graph::{DependencyType, FlowGraph, FlowId, GraphError};
use rustc_hash::FxHashSet;

use super::diagnostic::{Collector, SourceId};
use super::doc::{self, Value};
use super::parse::Span;
use super::template::Template;
use super::FlowDef;

/// Reads `inputs` or `outputs`: an array of non-empty paths (templates).
pub(super) fn paths(
    item: &Value<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> Vec<Template> {
    let Some(array) = item.as_array() else {
        diags.error(
            span,
            format!(
                "`{what}` must be an array of paths such as [\"data/*.csv\", \"out/\"], found {}",
                doc::type_name(item)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(array.len());
    for value in array.iter() {
        match value.get_ref().as_str() {
            Some(path) => match path_problem(what, path) {
                Some(problem) => diags.error(doc::span(value), problem),
                None => out.push(Template::new(path.to_owned(), doc::span(value))),
            },
            None => diags.error(
                doc::span(value),
                format!(
                    "`{what}` must hold paths (strings), found {}",
                    doc::type_name(value.get_ref())
                ),
            ),
        }
    }
    out
}

/// What is wrong with `path` as an item of `what` (`….inputs` or `….outputs`), as written or
/// as a template renders it: empty, not passable to a program, a glob as an output, a glob
/// that is not valid.
pub(super) fn path_problem(what: &str, path: &str) -> Option<String> {
    if path.is_empty() {
        return Some(format!("`{what}` must not hold an empty path"));
    }
    if let Some(problem) = super::limits::argument_problem(what, path) {
        return Some(problem);
    }
    if !is_glob(path) {
        return None;
    }
    // Escaped: a value from `--set` may hold a line break.
    let shown = path.escape_debug();
    if what.ends_with("outputs") {
        return Some(format!(
            "`{what}`: \"{shown}\" is a glob: outputs are files or folders, not globs"
        ));
    }
    (glob::Pattern::new(path).err())
        .map(|e| format!("`{what}`: \"{shown}\" is not a valid glob: {}", e.msg))
}

/// A rendered path made plain: no `./` segments, no repeated or trailing `/` (a folder's
/// trailing `/` is kept by the caller for display, not for matching).
pub(super) fn normal(path: &str) -> std::borrow::Cow<'_, str> {
    // One pass over the segments (after the empty one before a leading `/`).
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let plain = path == "." || (!path.is_empty() && segments.all(|s| !s.is_empty() && s != "."));
    if plain {
        return std::borrow::Cow::Borrowed(path);
    }
    let absolute = path.starts_with('/');
    let mut out = String::with_capacity(path.len());
    if absolute {
        out.push('/');
    }
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if !out.is_empty() && !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('.');
    }
    std::borrow::Cow::Owned(out)
}

/// A rendered path as a key to match with others: made plain ([`normal`]), `..` resolved
/// lexically, and relative to the workflow's folder `dir` when it is an absolute path in it.
/// A path that leaves the folder keeps its plain form.
pub(super) fn key<'a>(path: &'a str, dir: Option<&str>) -> std::borrow::Cow<'a, str> {
    let plain = normal(path);
    let absolute = plain.starts_with('/');
    let has_parent = plain.split('/').any(|s| s == "..");
    if !absolute && !has_parent {
        return plain;
    }
    // Resolves `..` against the segments before it; `None` when it climbs above the start.
    let resolve = |text: &str| -> Option<Vec<String>> {
        let mut segments: Vec<String> = Vec::new();
        for segment in text.split('/').filter(|s| !s.is_empty() && *s != ".") {
            if segment == ".." {
                segments.pop()?;
            } else {
                segments.push(segment.to_owned());
            }
        }
        Some(segments)
    };
    let Some(segments) = resolve(&plain) else {
        return plain;
    };
    if !absolute {
        return std::borrow::Cow::Owned(if segments.is_empty() {
            ".".to_owned()
        } else {
            segments.join("/")
        });
    }
    match dir.and_then(resolve) {
        Some(base) if segments.starts_with(&base) => {
            let rest = &segments[base.len()..];
            std::borrow::Cow::Owned(if rest.is_empty() {
                ".".to_owned()
            } else {
                rest.join("/")
            })
        }
        _ => std::borrow::Cow::Owned(format!("/{}", segments.join("/"))),
    }
}

/// Whether `path` is written as a glob.
pub(super) fn is_glob(path: &str) -> bool {
    path.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Where a flow's output is written in the workflow files.
pub(super) type Place = (SourceId, Option<Range<usize>>);

/// Adds to `flows` and `graph` the `requires` that inputs and outputs imply, and reports an
/// output that holds the workflow's folder, an output declared by two flows, an input that is the flow's own output, and a cycle the
/// implied edges close; notes in each flow's `unwritten` the inputs (not globs) no flow
/// writes. `places[i][k]` is where output `k` of flow `i` is written; paths are matched as
/// [`key`]s in the workflow's folder `dir`.
pub(super) fn link(
    flows: &mut [FlowDef],
    places: &[Vec<Place>],
    graph: &mut FlowGraph,
    dir: &std::path::Path,
    diags: &mut Collector<'_>,
) {
    if holding_the_folder(flows, places, dir, diags) {
        // What such an output would hold says nothing more.
        return;
    }
    let dir = dir.to_str();
    // Each output (as a key) → (flow, position in its outputs).
    let mut owners: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, flow) in flows.iter().enumerate() {
        for (k, output) in flow.outputs.iter().enumerate() {
            let key = key(output, dir);
            if let Some(&(j, l)) = owners.get(&*key) {
                let (source, span) = &places[i][k];
                let other = diags.place(places[j][l].0, places[j][l].1.as_ref());
                diags.error_at(
                    *source,
                    span.as_ref().map_or(0, |s| s.start),
                    format!(
                        "output `{output}` is declared by flow `{}` here and by flow `{}` at {other}: \
                         a file has one writer",
                        flow.id, flows[j].id
                    ),
                );
                continue;
            }
            owners.insert(key.into_owned(), (i, k));
        }
    }
    overlaps(flows, places, &owners, diags);
    // The first segment of every output: an output that is, holds or lies in an input shares
    // the input's first segment, so an input whose first segment is not here (`in/` when
    // every output is in `out/`) is no flow's output without a search.
    let tops: FxHashSet<&str> = owners.keys().map(|out| top(out)).collect();
    // The writers of the outputs in the workflow's folder, which an input of `.` holds (no
    // output is the folder itself: refused above).
    let mut writers: Vec<usize> = (owners.iter())
        .filter(|(out, _)| in_folder(out))
        .map(|(_, &(j, _))| j)
        .collect();
    writers.sort_unstable();
    writers.dedup();
    let mut edges: Vec<(FlowId, FlowId)> = Vec::new();
    let mut inside = String::new();
    for i in 0..flows.len() {
        let mut parents: Vec<usize> = Vec::new();
        let mut unwritten: Vec<u32> = Vec::new();
        for (k, input) in flows[i].inputs.iter().enumerate() {
            let key = key(input, dir);
            let before = parents.len();
            if key == "." {
                parents.extend_from_slice(&writers);
                if writers.is_empty() {
                    unwritten.push(k as u32);
                }
                continue;
            }
            if is_glob(input) {
                if let Ok(pattern) = glob::Pattern::new(&key) {
                    let options = glob::MatchOptions {
                        require_literal_separator: true,
                        ..glob::MatchOptions::new()
                    };
                    // Only the outputs that begin as the glob does (its text before the first
                    // wildcard) can match it: a range of the sorted outputs.
                    let literal = &key[..key.find(['*', '?', '[']).unwrap_or(key.len())];
                    parents.extend(
                        owners
                            .range::<str, _>((
                                std::ops::Bound::Included(literal),
                                std::ops::Bound::Unbounded,
                            ))
                            .take_while(|(out, _)| out.starts_with(literal))
                            .filter(|(out, _)| pattern.matches_with(out, options))
                            .map(|(_, &(j, _))| j),
                    );
                    // A folder output holding the folder the glob's matches lie in.
                    holders(
                        &owners,
                        &literal[..literal.rfind('/').unwrap_or(0)],
                        &mut parents,
                    );
                }
                continue;
            }
            if !tops.contains(top(&key)) {
                if parents.len() == before {
                    unwritten.push(k as u32);
                }
                continue;
            }
            // The output itself, a folder output holding the input, outputs inside an input
            // folder.
            holders(&owners, &key, &mut parents);
            inside.clear();
            inside.push_str(&key);
            inside.push('/');
            parents.extend(
                owners
                    .range::<str, _>((
                        std::ops::Bound::Included(inside.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .take_while(|(out, _)| out.starts_with(&inside))
                    .map(|(_, &(j, _))| j),
            );
            if parents.len() == before {
                unwritten.push(k as u32);
            }
        }
        flows[i].unwritten = unwritten;
        parents.sort_unstable();
        parents.dedup();
        // The parents it names itself, in a set: an input of `.` may imply thousands.
        let named: FxHashSet<FlowId> = match parents.len() {
            0 => FxHashSet::default(),
            _ => (flows[i].requires.iter().chain(&flows[i].wants).cloned()).collect(),
        };
        for j in parents {
            if j == i {
                let (source, span) = &places[i][0];
                diags.error_at(
                    *source,
                    span.as_ref().map_or(0, |s| s.start),
                    format!(
                        "flow `{}` reads an output of its own as input: a flow's inputs must be \
                         written before it runs",
                        flows[i].id
                    ),
                );
                continue;
            }
            let parent = flows[j].id.clone();
            if named.contains(&parent) {
                continue;
            }
            let flow = &mut flows[i];
            flow.requires.push(parent.clone());
            edges.push((parent, flow.id.clone()));
        }
    }
    if edges.is_empty() || !diags.is_empty() {
        return;
    }
    let batch = edges
        .iter()
        .map(|(p, c)| (p.clone(), c.clone(), DependencyType::Required));
    if let Err(error) = graph.add_dependencies(batch) {
        // Reported at the outputs of a flow of the cycle (every flow of it writes some).
        let mut at = (0, 0);
        let message = match error {
            GraphError::Cycle(cycle) => {
                let first = cycle.path.iter().find_map(|id| {
                    let i = flows.iter().position(|f| &f.id == id)?;
                    places.get(i)?.first()
                });
                if let Some((source, span)) = first {
                    at = (*source, span.as_ref().map_or(0, |s| s.start));
                }
                format!(
                    "the flows' inputs and outputs make a cycle: {cycle}; a flow cannot read \
                     what a flow after it writes"
                )
            }
            other => other.to_string(),
        };
        diags.error_at(at.0, at.1, message);
    }
}

/// Reports each output that is the workflow's folder `dir` or holds it (`.`, `..`, an absolute
/// parent: [`flow_core::Data::holds_base`]), once per place: each attempt starts without its
/// outputs, and a folder holding the workflow is never removed. Whether there was one.
fn holding_the_folder(
    flows: &[FlowDef],
    places: &[Vec<Place>],
    dir: &std::path::Path,
    diags: &mut Collector<'_>,
) -> bool {
    let mut reported: FxHashSet<(SourceId, usize)> = FxHashSet::default();
    for (i, flow) in flows.iter().enumerate() {
        for (k, output) in flow.outputs.iter().enumerate() {
            if !flow_core::Data::holds_base(dir, output) {
                continue;
            }
            let (source, span) = &places[i][k];
            let at = span.as_ref().map_or(0, |s| s.start);
            if !reported.insert((*source, at)) {
                continue;
            }
            diags.error_at(
                *source,
                at,
                format!(
                    "output `{output}` of flow `{}` holds the workflow's folder: each attempt \
                     of a flow starts without its outputs, and this folder is never removed; \
                     declare the files or folders the flow writes (such as `out/`), or a path \
                     outside the folder (such as `../pack.txt`)",
                    flow.id
                ),
            );
        }
    }
    !reported.is_empty()
}

/// Pushes onto `parents` the writer of `path` (a [`key`]) and of each folder holding it, up to
/// its first segment (the workflow's folder is not looked at here).
fn holders(owners: &BTreeMap<String, (usize, usize)>, path: &str, parents: &mut Vec<usize>) {
    let mut at = path;
    while !at.is_empty() {
        if let Some(&(j, _)) = owners.get(at) {
            parents.push(j);
        }
        match at.rfind('/') {
            Some(cut) if cut > 0 => at = &at[..cut],
            _ => break,
        }
    }
}

/// Whether a [`key`] names a path inside the workflow's folder (not the folder itself).
fn in_folder(key: &str) -> bool {
    key != "." && key != ".." && !key.starts_with("../") && !key.starts_with('/')
}

/// The first segment of a [`key`]: `in` of `in/a/b.txt`, `/data` of `/data/x`.
fn top(key: &str) -> &str {
    let start = usize::from(key.starts_with('/'));
    match key[start..].find('/') {
        Some(cut) => &key[..start + cut],
        None => key,
    }
}

/// Reports each output of a flow that lies in a folder another flow declares as output:
/// both would write the same files.
fn overlaps(
    flows: &[FlowDef],
    places: &[Vec<Place>],
    owners: &BTreeMap<String, (usize, usize)>,
    diags: &mut Collector<'_>,
) {
    for (inner, &(i, k)) in owners {
        // The folders holding it, innermost first.
        let mut outer: Option<(&str, (usize, usize))> = None;
        let mut at: &str = inner;
        while let Some(cut) = at.rfind('/').filter(|&cut| cut > 0) {
            at = &at[..cut];
            if let Some(&(j, l)) = owners.get(at).filter(|&&(j, _)| j != i) {
                outer = Some((at, (j, l)));
                break;
            }
        }
        let Some((_, (j, l))) = outer else {
            continue;
        };
        let (source, span) = &places[i][k];
        let other = diags.place(places[j][l].0, places[j][l].1.as_ref());
        diags.error_at(
            *source,
            span.as_ref().map_or(0, |s| s.start),
            format!(
                "output `{}` of flow `{}` lies in output `{}` of flow `{}` at {other}: a file \
                 has one writer",
                flows[i].outputs[k], flows[i].id, flows[j].outputs[l], flows[j].id
            ),
        );
    }
}

#[cfg(test)]
#[path = "tests_data.rs"]
mod tests;
