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
            Some("") => diags.error(
                doc::span(value),
                format!("`{what}` must not hold an empty path"),
            ),
            Some(path) => match super::limits::argument_problem(what, path) {
                Some(problem) => diags.error(doc::span(value), problem),
                None if is_glob(path) && what.ends_with("outputs") => diags.error(
                    doc::span(value),
                    format!(
                        "`{what}`: \"{path}\" is a glob: outputs are files or folders, not globs"
                    ),
                ),
                None => match is_glob(path).then(|| glob::Pattern::new(path)) {
                    Some(Err(e)) => diags.error(
                        doc::span(value),
                        format!("`{what}`: \"{path}\" is not a valid glob: {}", e.msg),
                    ),
                    _ => out.push(Template::new(path.to_owned(), doc::span(value))),
                },
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
/// output declared by two flows, an input that is the flow's own output, and a cycle the
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
    let mut edges: Vec<(FlowId, FlowId)> = Vec::new();
    let mut inside = String::new();
    for i in 0..flows.len() {
        let mut parents: Vec<usize> = Vec::new();
        let mut unwritten: Vec<u32> = Vec::new();
        for (k, input) in flows[i].inputs.iter().enumerate() {
            let key = key(input, dir);
            if is_glob(input) {
                if let Ok(pattern) = glob::Pattern::new(&key) {
                    let options = glob::MatchOptions {
                        require_literal_separator: true,
                        ..glob::MatchOptions::new()
                    };
                    parents.extend(
                        owners
                            .iter()
                            .filter(|(out, _)| pattern.matches_with(out, options))
                            .map(|(_, &(j, _))| j),
                    );
                }
                continue;
            }
            if !tops.contains(top(&key)) {
                unwritten.push(k as u32);
                continue;
            }
            // The output itself, a folder output holding the input, outputs inside an input
            // folder.
            let before = parents.len();
            let mut at: &str = &key;
            loop {
                if let Some(&(j, _)) = owners.get(at) {
                    parents.push(j);
                }
                match at.rfind('/') {
                    Some(cut) if cut > 0 => at = &at[..cut],
                    _ => break,
                }
            }
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
            let flow = &mut flows[i];
            if flow.requires.contains(&parent) || flow.wants.contains(&parent) {
                continue;
            }
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
    let whole = owners.get(".");
    for (inner, &(i, k)) in owners {
        // The folders holding it, innermost first, then the workflow's folder.
        let mut outer: Option<(&str, (usize, usize))> = None;
        let mut at: &str = inner;
        while let Some(cut) = at.rfind('/').filter(|&cut| cut > 0) {
            at = &at[..cut];
            if let Some(&(j, l)) = owners.get(at).filter(|&&(j, _)| j != i) {
                outer = Some((at, (j, l)));
                break;
            }
        }
        if outer.is_none() {
            let in_folder = inner != "."
                && inner != ".."
                && !inner.starts_with("../")
                && !inner.starts_with('/');
            outer = whole
                .filter(|&&(j, _)| j != i && in_folder)
                .map(|&owner| (".", owner));
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
mod tests {
    use super::{key, normal};
    use crate::workflow::test_support::load_str;

    fn requires(text: &str, flow: &str) -> Vec<String> {
        let wf = load_str(text).unwrap();
        let def = wf.flows.iter().find(|f| f.id.as_str() == flow).unwrap();
        assert!(
            def.requires
                .iter()
                .all(|p| wf.graph.dependency(p.as_str(), def.id.as_str()).is_some()),
            "the graph has every edge"
        );
        def.requires.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn the_first_segment_of_a_key() {
        for (key, first) in [
            ("in/a/b.txt", "in"),
            ("in", "in"),
            ("/data/x", "/data"),
            ("/data", "/data"),
            ("é/x.txt", "é"),
            (".", "."),
        ] {
            assert_eq!(super::top(key), first, "{key}");
        }
    }

    #[test]
    fn an_input_folder_holding_an_output_in_a_non_ascii_folder_requires_its_writer() {
        let text = r#"
[flows.write]
command = ["true"]
outputs = ["é/x.txt"]
[flows.read]
command = ["true"]
inputs = ["é", "in/other.txt"]
"#;
        assert_eq!(requires(text, "read"), ["write"]);
    }

    #[test]
    fn an_input_that_is_another_flows_output_requires_it() {
        let text = r#"
[params]
names = ["x", "y"]
[flows.make]
matrix = { n = "{names}" }
command = ["touch", "out/{n}.csv"]
outputs = ["out/{n}.csv"]
[flows.plots]
command = ["true"]
outputs = ["./plots/"]
[flows.one]
command = ["true"]
inputs = ["out/x.csv"]
[flows.all]
command = ["true"]
inputs = ["out/*.csv", "other.txt"]
[flows.folder]
command = ["true"]
inputs = ["plots/a.png", "out"]
[flows.explicit]
command = ["true"]
inputs = ["out/y.csv"]
wants = ["make.y"]
"#;
        assert_eq!(requires(text, "one"), ["make.x"]);
        assert_eq!(requires(text, "all"), ["make.x", "make.y"]);
        assert_eq!(requires(text, "folder"), ["make.x", "make.y", "plots"]);
        assert!(requires(text, "explicit").is_empty(), "a `wants` is kept");
    }

    #[test]
    fn a_bad_glob_is_reported_where_it_is_written() {
        let error =
            load_str("[flows.a]\ncommand = [\"true\"]\ninputs = [\"data/[a.csv\"]\n").unwrap_err();
        assert!(
            error.contains("w.toml:3:11: `flows.a.inputs`: \"data/[a.csv\" is not a valid glob"),
            "{error}"
        );
    }

    #[test]
    fn an_output_declared_twice_names_both_lines() {
        let text = "[flows.a]\ncommand = [\"true\"]\noutputs = [\"x.csv\"]\n\
                    [flows.b]\ncommand = [\"true\"]\noutputs = [\"./x.csv\"]\n";
        let error = load_str(text).unwrap_err();
        assert!(
            error.contains("w.toml:6:")
                && error.contains(
                    "output `./x.csv` is declared by flow `b` here and by flow `a` at w.toml:3:"
                ),
            "{error}"
        );
    }

    #[test]
    fn inputs_and_outputs_that_close_a_cycle_are_refused() {
        let text = "[flows.a]\ncommand = [\"true\"]\ninputs = [\"b.txt\"]\noutputs = [\"a.txt\"]\n\
                    [flows.b]\ncommand = [\"true\"]\ninputs = [\"a.txt\"]\noutputs = [\"b.txt\"]\n\
                    [flows.c]\ncommand = [\"true\"]\ninputs = [\"c.txt\"]\noutputs = [\"c.txt\"]\n";
        let error = load_str(text).unwrap_err();
        assert!(error.contains("reads an output of its own"), "{error}");
        let error = load_str(&text[..text.find("[flows.c]").unwrap()]).unwrap_err();
        assert!(error.contains("make a cycle"), "{error}");
        // At an output of a flow of the cycle, not at the top of the file.
        assert!(error.contains("w.toml:8:12: the flows' inputs"), "{error}");
    }

    #[test]
    fn paths_are_matched_as_keys_in_the_workflow_folder() {
        for (written, matched) in [
            ("out/x.txt", "out/x.txt"),
            ("out/../out/x.txt", "out/x.txt"),
            ("./a/b/../../o.txt", "o.txt"),
            ("a/..", "."),
            ("/tmp/wf/out/x.txt", "out/x.txt"),
            ("/tmp/wf/./out/../out/", "out"),
            ("/tmp/wf", "."),
            ("/tmp/other/../wf/o.txt", "o.txt"),
            ("/tmp/wfx/o.txt", "/tmp/wfx/o.txt"),
            ("/tmp/wfx/../o.txt", "/tmp/o.txt"),
            ("../shared/x.txt", "../shared/x.txt"),
            ("a/../../x.txt", "a/../../x.txt"),
        ] {
            assert_eq!(key(written, Some("/tmp/wf")), matched, "{written}");
        }
    }

    #[test]
    fn an_input_written_another_way_requires_the_flow_that_writes_it() {
        let text = "[flows.w]\ncommand = [\"true\"]\noutputs = [\"out/x.txt\"]\n\
                    [flows.dots]\ncommand = [\"true\"]\ninputs = [\"out/../out/x.txt\"]\n\
                    [flows.abs]\ncommand = [\"true\"]\ninputs = [\"/tmp/wf/out/x.txt\"]\n\
                    [flows.glob]\ncommand = [\"true\"]\ninputs = [\"/tmp/wf/out/*.txt\"]\n\
                    [flows.folder]\ncommand = [\"true\"]\ninputs = [\"/tmp/wf/out\"]\n";
        for flow in ["dots", "abs", "glob", "folder"] {
            assert_eq!(requires(text, flow), ["w"], "{flow}");
        }
    }

    #[test]
    fn one_output_written_two_ways_is_declared_twice() {
        let text = "[flows.a]\ncommand = [\"true\"]\noutputs = [\"o.txt\"]\n\
                    [flows.b]\ncommand = [\"true\"]\noutputs = [\"x/../o.txt\"]\n";
        let error = load_str(text).unwrap_err();
        assert!(
            error.contains(
                "w.toml:6:12: output `x/../o.txt` is declared by flow `b` here and by flow `a` at \
                 w.toml:3:"
            ),
            "{error}"
        );
    }

    #[test]
    fn an_output_inside_another_flows_output_folder_names_both() {
        let text = "[flows.d]\ncommand = [\"true\"]\noutputs = [\"dd/\"]\n\
                    [flows.e]\ncommand = [\"true\"]\noutputs = [\"dd/o.txt\"]\n";
        let error = load_str(text).unwrap_err();
        assert!(
            error.contains(
                "w.toml:6:12: output `dd/o.txt` of flow `e` lies in output `dd/` of flow `d` at \
                 w.toml:3:12: a file has one writer"
            ),
            "{error}"
        );
        let text = "[flows.all]\ncommand = [\"true\"]\noutputs = [\".\"]\n\
                    [flows.b]\ncommand = [\"true\"]\noutputs = [\"b.txt\"]\n";
        let error = load_str(text).unwrap_err();
        assert!(
            error.contains(
                "output `b.txt` of flow `b` lies in output `.` of flow `all` at w.toml:3:"
            ),
            "{error}"
        );
        // One flow may declare a folder and a file in it; an output beside a folder is fine.
        let text = "[flows.d]\ncommand = [\"true\"]\noutputs = [\"dd/\", \"dd/o.txt\"]\n\
                    [flows.e]\ncommand = [\"true\"]\noutputs = [\"dd.txt\", \"ddx/o.txt\"]\n";
        assert!(load_str(text).is_ok());
    }

    #[test]
    fn a_glob_output_is_refused_where_it_is_written() {
        let error =
            load_str("[flows.a]\ncommand = [\"true\"]\noutputs = [\"g*.txt\"]\n").unwrap_err();
        assert!(
            error.contains(
                "w.toml:3:12: `flows.a.outputs`: \"g*.txt\" is a glob: outputs are files or \
                 folders, not globs"
            ),
            "{error}"
        );
    }

    #[test]
    fn the_inputs_no_flow_writes_are_noted_with_their_lines() {
        let text = "[defaults]\ninputs = [\"common.txt\"]\n\
                    [flows.w]\ncommand = [\"true\"]\noutputs = [\"out/\"]\n\
                    [flows.r]\ncommand = [\"true\"]\n\
                    inputs = [\"out/x.txt\", \"src.txt\", \"*.csv\", \"out\"]\n";
        let wf = load_str(text).unwrap();
        assert_eq!(wf.flows[0].unwritten, [0]);
        assert_eq!(wf.flows[1].unwritten, [0, 2]);
        let at: Vec<String> = (wf.definitions[1].inputs_at.iter())
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            at,
            ["w.toml:2", "w.toml:8", "w.toml:8", "w.toml:8", "w.toml:8"]
        );
        let wf = load_str("[flows.r]\ncommand = [\"true\"]\ninputs = [\"a\", \"b*\"]\n").unwrap();
        assert_eq!(wf.flows[0].unwritten, [0]);
    }

    #[test]
    fn paths_are_made_plain() {
        for (written, plain) in [
            ("out/x.csv", "out/x.csv"),
            ("./out//x.csv", "out/x.csv"),
            ("out/plots/", "out/plots"),
            ("/abs/./p", "/abs/p"),
            ("./", "."),
            (".", "."),
            ("", "."),
            ("/", "/"),
            ("out/.", "out"),
            ("//abs//p/", "/abs/p"),
            ("a/..b", "a/..b"),
        ] {
            assert_eq!(normal(written), plain, "{written}");
        }
    }
}
