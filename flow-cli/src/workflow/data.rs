//! `inputs` and `outputs`: the files a flow reads and writes, read as templates, and, once
//! rendered and compared as [`key`]s, the `requires` they imply (an input that is, holds, lies
//! in or matches as a glob another flow's output, or a glob matching a folder that holds one),
//! which a `wants` of the same flow contradicts, and the checks that no two flows declare the
//! same output and that no output holds the workflow's folder or flow's own files.

use std::collections::BTreeMap;
use std::ops::Bound::{Included, Unbounded};
use std::ops::Range;

use flow_core::Data;
use flow_graph::{DependencyType, FlowGraph, FlowId, GraphError};
use rustc_hash::{FxHashMap, FxHashSet};

use super::diagnostic::{Collector, SourceId};
use super::doc::{self, Value};
use super::owned::holding_own;
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
    if !Data::is_glob(path) {
        return None;
    }
    // Escaped: a value from `--set` may hold a line break.
    let shown = path.escape_debug();
    if what.ends_with("outputs") {
        return Some(format!(
            "`{what}`: \"{shown}\" is a glob: outputs are files or folders, not globs"
        ));
    }
    (pattern(path).err()).map(|e| format!("`{what}`: \"{shown}\" is not a valid glob: {}", e.msg))
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

/// A rendered path as a key to match with others, the one form in which paths are compared:
/// made plain ([`normal`]) and its `..` resolved lexically from the workflow's folder `dir`
/// (absolute and free of links: [`super::folder`] resolves them). A path in the folder is
/// relative to it (`.` for the folder itself), one outside it absolute (`../x` in `/p/wf` is
/// `/p/x`). No file is looked at, so `link/..` is the folder whatever `link` leads to. Without
/// `dir` (not UTF-8), a relative path that climbs out of the folder keeps its plain form.
pub(super) fn key<'a>(path: &'a str, dir: Option<&str>) -> std::borrow::Cow<'a, str> {
    let plain = normal(path);
    let absolute = plain.starts_with('/');
    if !absolute && !plain.split('/').any(|s| s == "..") {
        return plain;
    }
    let base = (dir.filter(|d| d.starts_with('/'))).map(|d| resolve(Vec::new(), d).0);
    let joined = |segments: &[&str]| match segments {
        [] => ".".to_owned(),
        _ => segments.join("/"),
    };
    let (segments, climbed) = match &base {
        Some(base) if !absolute => resolve(base.clone(), &plain),
        _ => resolve(Vec::new(), &plain),
    };
    let key = match &base {
        None if !absolute => {
            if climbed {
                drop(segments);
                return plain;
            }
            joined(&segments)
        }
        Some(base) if segments.starts_with(base) => joined(&segments[base.len()..]),
        _ => format!("/{}", segments.join("/")),
    };
    std::borrow::Cow::Owned(key)
}

/// `start` followed by the segments of `path`, each `..` taking off the one before it (above
/// the first, nothing: above `/` is `/`); and whether a `..` found nothing to take off.
fn resolve<'s>(mut start: Vec<&'s str>, path: &'s str) -> (Vec<&'s str>, bool) {
    let mut climbed = false;
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if segment == ".." {
            climbed |= start.pop().is_none();
        } else {
            start.push(segment);
        }
    }
    (start, climbed)
}

/// The glob `path` as the `glob` crate reads it (its brackets match themselves).
fn pattern(path: &str) -> Result<glob::Pattern, glob::PatternError> {
    glob::Pattern::new(&Data::glob_syntax(path))
}

/// Where a flow's output is written in the workflow files.
pub(super) type Place = (SourceId, Option<Range<usize>>);

/// An output: its flow, and its position in the flow's outputs.
type Owner = (usize, usize);

/// Adds to `flows` and `graph` the `requires` that inputs and outputs imply, and reports an
/// output that holds the workflow's folder or flow's own files (`.flow/`, the workflow file
/// and the included `files`: [`holding_own`]), an output declared by two flows, an input that is
/// the flow's own output, a `wants` that names the writer of an input (`wants_at`: where a
/// `wants` names a flow itself, by (child, parent)), and a cycle the implied edges close;
/// notes in each flow's `unwritten` the inputs (not globs) no flow writes, and in
/// `unwritten_globs` the globs that match no flow's output. `places[i][k]` is
/// where output `k` of flow `i` is written; paths are matched as [`key`]s in the workflow's
/// folder `dir`.
pub(super) fn link(
    flows: &mut [FlowDef],
    places: &[Vec<Place>],
    wants_at: &FxHashMap<(u32, u32), Place>,
    graph: &mut FlowGraph,
    dir: &std::path::Path,
    files: &[&std::path::Path],
    diags: &mut Collector<'_>,
) {
    if holding_own(flows, places, dir, files, diags) {
        // What such an output would hold says nothing more.
        return;
    }
    let dir = dir.to_str();
    // Each output (as a key) → its owner.
    let mut owners: BTreeMap<String, Owner> = BTreeMap::new();
    for (i, flow) in flows.iter().enumerate() {
        for (k, output) in flow.outputs.iter().enumerate() {
            let key = key(output, dir);
            if let Some(&(j, l)) = owners.get(&*key) {
                let (source, span) = &places[i][k];
                let other = diags.place(places[j][l].0, places[j][l].1.as_ref());
                let message = match i == j {
                    // `outputs = ["a.txt", "./a.txt"]`: one flow, one file, written twice.
                    true => format!(
                        "flow `{}` declares output `{output}` twice (also as `{}` at \
                         {other}): declare it once",
                        flow.id, flow.outputs[l]
                    ),
                    false => format!(
                        "output `{output}` is declared by flow `{}` here and by flow `{}` at \
                         {other}: a file has one writer",
                        flow.id, flows[j].id
                    ),
                };
                diags.error_at(*source, span.as_ref().map_or(0, |s| s.start), message);
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
    // The writers of the outputs in the workflow's folder (with one output each), which an
    // input of `.` holds (no output is the folder itself: refused above).
    let mut writers: Vec<Owner> = (owners.iter())
        .filter(|(out, _)| in_folder(out))
        .map(|(_, &owner)| owner)
        .collect();
    writers.sort_unstable();
    writers.dedup_by_key(|&mut (j, _)| j);
    let mut edges: Vec<(FlowId, FlowId)> = Vec::new();
    let known = Known {
        places,
        wants_at,
        dir,
    };
    let mut reported = FxHashSet::default();
    let mut own_reads = OwnReads::default();
    let mut inside = String::new();
    for i in 0..flows.len() {
        // Each output an input needs, with the input.
        let mut parents: Vec<(Owner, u32)> = Vec::new();
        let mut unwritten: Vec<u32> = Vec::new();
        let mut unwritten_globs: Vec<u32> = Vec::new();
        for (k, input) in flows[i].inputs.iter().enumerate() {
            let k = k as u32;
            let key = key(input, dir);
            let before = parents.len();
            if key == "." {
                parents.extend(writers.iter().map(|&owner| (owner, k)));
                if writers.is_empty() {
                    unwritten.push(k);
                }
                continue;
            }
            if Data::is_glob(input) {
                glob_writers(&owners, flows, &key, k, &mut parents);
                if parents.len() == before {
                    unwritten_globs.push(k);
                }
                continue;
            }
            if !tops.contains(top(&key)) {
                if parents.len() == before {
                    unwritten.push(k);
                }
                continue;
            }
            // The output itself, a folder output holding the input, outputs inside an input
            // folder.
            holders(&owners, &key, k, &mut parents);
            inside.clear();
            inside.push_str(&key);
            inside.push('/');
            parents.extend(
                owners
                    .range::<str, _>((Included(inside.as_str()), Unbounded))
                    .take_while(|(out, _)| out.starts_with(&inside))
                    .map(|(_, &owner)| (owner, k)),
            );
            if parents.len() == before {
                unwritten.push(k);
            }
        }
        flows[i].unwritten = unwritten;
        flows[i].unwritten_globs = unwritten_globs;
        // One output per parent: the first its inputs need.
        parents.sort_by_key(|&((j, _), _)| j);
        parents.dedup_by_key(|&mut ((j, _), _)| j);
        let mut seen = Seen {
            wants: &mut reported,
            own_reads: &mut own_reads,
        };
        require(flows, i, &parents, &known, &mut seen, &mut edges, diags);
    }
    own_reads.report(diags);
    if edges.is_empty() || !diags.is_empty() {
        return;
    }
    // A parent that was wanted becomes required: the edge's type is replaced.
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

/// What [`require`] reads: where the outputs are written and where a `wants` names a flow
/// itself (see [`link`]), and the workflow's folder.
struct Known<'a> {
    places: &'a [Vec<Place>],
    wants_at: &'a FxHashMap<(u32, u32), Place>,
    dir: Option<&'a str>,
}

/// What [`require`] has reported so far, so that the flows of a matrix sharing a line report
/// it once: the places of the `wants` reported, and the outputs read by their own flows.
struct Seen<'a> {
    wants: &'a mut FxHashSet<(SourceId, usize)>,
    own_reads: &'a mut OwnReads,
}

/// Flows reading an output of their own, by the place of that output: the message of the
/// first flow, and how many more flows (of the same matrix) do the same there.
#[derive(Default)]
struct OwnReads(BTreeMap<(SourceId, usize), (String, usize)>);

impl OwnReads {
    /// Notes that flow `id` reads its own output `output` (written at `place`) through its
    /// input `input`.
    fn note(&mut self, place: &Place, id: &FlowId, input: &str, output: &str, dir: Option<&str>) {
        let at = (place.0, place.1.as_ref().map_or(0, |s| s.start));
        if let Some((_, more)) = self.0.get_mut(&at) {
            *more += 1;
            return;
        }
        let how = if key(input, dir) == key(output, dir) {
            format!("its input `{input}` is its output `{output}`")
        } else {
            format!("its input `{input}` covers its output `{output}`")
        };
        let message = format!(
            "flow `{id}` reads an output of its own as input: {how}, and a flow's inputs must \
             be written before it runs"
        );
        self.0.insert(at, (message, 0));
    }

    /// Reports each place once, with how many more flows read their own output there.
    fn report(self, diags: &mut Collector<'_>) {
        for ((source, at), (mut message, more)) in self.0 {
            if more > 0 {
                let flows = if more == 1 { "flow" } else { "flows" };
                message.push_str(&format!(" (and {more} more {flows} of this definition)"));
            }
            diags.error_at(source, at, message);
        }
    }
}

/// Makes flow `i` require the writers of the outputs its inputs need (`parents`: each output
/// with the input, one per writer, by writer), pushing the new edges onto `edges`: a parent
/// it requires already is left as it is, one a `wants` of a definition names is moved from
/// `wants` to `requires`, and a `wants` that names the parent itself is reported at its place,
/// once per place (`seen`); reading an output of its own is an error, noted at that output
/// (once per place, reported when every flow is linked).
fn require(
    flows: &mut [FlowDef],
    i: usize,
    parents: &[(Owner, u32)],
    known: &Known<'_>,
    seen: &mut Seen<'_>,
    edges: &mut Vec<(FlowId, FlowId)>,
    diags: &mut Collector<'_>,
) {
    if parents.is_empty() {
        return;
    }
    // In sets: an input of `.` may imply thousands of parents.
    let required: FxHashSet<FlowId> = flows[i].requires.iter().cloned().collect();
    let wanted: FxHashSet<FlowId> = flows[i].wants.iter().cloned().collect();
    let mut upgraded: FxHashSet<FlowId> = FxHashSet::default();
    for &((j, l), k) in parents {
        let flow = &flows[i];
        if j == i {
            let (input, output) = (&flow.inputs[k as usize], &flow.outputs[l]);
            (seen.own_reads).note(&known.places[i][l], &flow.id, input, output, known.dir);
            continue;
        }
        let parent = &flows[j].id;
        if required.contains(parent) {
            continue;
        }
        if let Some((source, span)) = known.wants_at.get(&(i as u32, j as u32)) {
            let at = span.as_ref().map_or(0, |s| s.start);
            if seen.wants.insert((*source, at)) {
                let (input, output) = (&flow.inputs[k as usize], &flows[j].outputs[l]);
                let what = if key(input, known.dir) == key(output, known.dir) {
                    format!("which `{parent}` writes")
                } else {
                    format!("which covers `{output}` that `{parent}` writes")
                };
                diags.error_at(
                    *source,
                    at,
                    format!(
                        "flow `{}` reads `{input}`, {what}, so it requires `{parent}`: remove \
                         `{parent}` from `wants` or the input",
                        flow.id
                    ),
                );
            }
            continue;
        }
        if wanted.contains(parent) {
            upgraded.insert(parent.clone());
        }
        let parent = parent.clone();
        edges.push((parent.clone(), flow.id.clone()));
        flows[i].requires.push(parent);
    }
    if !upgraded.is_empty() {
        flows[i].wants.retain(|p| !upgraded.contains(p));
    }
}

/// Pushes onto `parents` (with input `k`) the writers a glob input, as a [`key`], needs: of
/// each output it matches (`res/a.txt` for `res/*.txt`), of each output in a path it matches
/// (`res/A/n.txt` for `res/*` or `r*`), of each folder output the matches may lie in: one
/// holding the folder of its first wildcard (`res/` for `res/*/n.txt`) or one written as a
/// folder that its first segments match (`res/A/` for `res/*/n.txt`; a file cannot hold a
/// match).
fn glob_writers(
    owners: &BTreeMap<String, Owner>,
    flows: &[FlowDef],
    glob: &str,
    k: u32,
    parents: &mut Vec<(Owner, u32)>,
) {
    let Ok(pattern) = pattern(glob) else {
        return;
    };
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    // Only the outputs that begin as the glob does (its text before the first wildcard) can
    // match it or lie in a match, or match its first segments: a range of the sorted outputs.
    let literal = &glob[..glob.find(['*', '?']).unwrap_or(glob.len())];
    // The glob's first segments, from the first with a wildcard on: `res/*` of `res/*/n.txt`.
    let first = literal.rfind('/').map_or(0, |cut| cut + 1);
    let leading: Vec<glob::Pattern> = (glob[first..].match_indices('/'))
        .filter_map(|(cut, _)| self::pattern(&glob[..first + cut]).ok())
        .collect();
    let relative = !glob.starts_with('/');
    let range = owners.range::<str, _>((Included(literal), Unbounded));
    for (out, &(j, l)) in range.take_while(|(out, _)| out.starts_with(literal)) {
        if relative && out.starts_with('/') {
            continue;
        }
        let lies_in = || {
            (out[literal.len()..].match_indices('/'))
                .map(|(cut, _)| &out[..literal.len() + cut])
                .any(|folder| !folder.is_empty() && pattern.matches_with(folder, options))
        };
        let holds = || {
            let written = flows[j].outputs[l].as_str();
            (written.ends_with('/') || written.ends_with("/."))
                && leading.iter().any(|p| p.matches_with(out, options))
        };
        if pattern.matches_with(out, options) || lies_in() || holds() {
            parents.push(((j, l), k));
        }
    }
    // A folder output holding the folder the glob's matches lie in.
    holders(
        owners,
        &literal[..literal.rfind('/').unwrap_or(0)],
        k,
        parents,
    );
}

/// Pushes onto `parents` (with input `k`) the writer of `path` (a [`key`]) and of each folder
/// holding it, up to its first segment (the workflow's folder is not looked at here).
fn holders(owners: &BTreeMap<String, Owner>, path: &str, k: u32, parents: &mut Vec<(Owner, u32)>) {
    let mut at = path;
    while !at.is_empty() {
        if let Some(&owner) = owners.get(at) {
            parents.push((owner, k));
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
    owners: &BTreeMap<String, Owner>,
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
#[cfg(test)]
#[path = "tests_data_own.rs"]
mod tests_own;
#[cfg(test)]
#[path = "tests_data_paths.rs"]
mod tests_paths;
