//! `matrix = { axis = ..., ... }` on a flow: the axes as written (a list of values, a
//! `{ glob = "data/{axis}.txt" }` read from the file system like Snakemake's `glob_wildcards`,
//! or `"{param}"` naming a list param), and their values once params are known.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::rc::Rc;

use rustc_hash::FxHashSet;

use super::doc::{self, Value as TomlValue};

use super::diagnostic::{Collector, SourceId};
use super::params::{scalar, Param};
use super::template::{is_name, Scope, Template, Value};

type Span = Option<Range<usize>>;

/// The most flows one definition may expand to.
pub(super) const MAX_EXPANSIONS: usize = 1_000_000;

/// Stands for the axis's own placeholder in a rendered glob pattern (no path holds a NUL).
const WILDCARD: char = '\0';

/// A flow's `matrix` as written.
#[derive(Debug)]
pub(super) struct Matrix {
    /// Where the matrix is written.
    pub span: Span,
    pub axes: Vec<Axis>,
}

/// One axis as written: its name and where its values come from.
#[derive(Debug)]
pub(super) struct Axis {
    pub name: String,
    pub name_span: Span,
    pub values: AxisValues,
}

/// Where an axis takes its values from.
#[derive(Debug)]
pub(super) enum AxisValues {
    /// Written out: each value with where it is.
    List(Vec<(String, Span)>),
    /// Files matching a pattern in which `{axis}` stands for the value.
    Glob(Template),
    /// `"{param}"`: a list param's items.
    Param(Template),
}

/// One value of an axis, with where it comes from in the file.
#[derive(Debug, Clone)]
pub(super) struct AxisValue {
    pub text: String,
    pub span: Span,
    /// Where the value came from, when not from the text at `span`.
    pub origin: Origin,
}

/// Where a matrix value came from, for a message about it.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    /// The file, at the value's span.
    Written,
    /// A `--set NAME=VALUE` of the list param the axis names: the whole argument.
    Set(Rc<str>),
    /// The name of a file matched by the axis's glob: the pattern, its wildcard as `\0`.
    Glob(Rc<str>),
}

impl AxisValue {
    /// Where the value came from, as words to add to a message about it: ` (from the file
    /// `data/a b.fq`)`; empty for a value written in the file.
    pub fn origin(&self) -> String {
        match &self.origin {
            Origin::Written => String::new(),
            Origin::Set(arg) => format!(" (from `{arg}`)"),
            Origin::Glob(pattern) if !pattern.contains(['*', '?']) => format!(
                " (from the file `{}`)",
                pattern.replace(WILDCARD, &self.text).escape_debug()
            ),
            Origin::Glob(pattern) => format!(
                " (from a file matching `{}`)",
                pattern.replace(WILDCARD, &self.text).escape_debug()
            ),
        }
    }
}

/// The flow and output (each as written) of `writers` that writes in the folder where the
/// glob `pattern` has its first wildcard (`chunks/` for `chunks/{c}.fa`): the files it would
/// match come from a flow, too late for a matrix.
fn written_by<'a>(pattern: &str, writers: &[(&'a str, &'a str)]) -> Option<(&'a str, &'a str)> {
    let literal = &pattern[..pattern.find([WILDCARD, '*', '?']).unwrap_or(pattern.len())];
    let folder = &literal[..literal.rfind('/')? + 1];
    let folder = Path::new(folder);
    (writers.iter().copied()).find(|(_, out)| {
        let out = Path::new(out);
        out.starts_with(folder) || folder.starts_with(out)
    })
}

/// Parses `matrix = { ... }` of a flow; `what` is `flows.NAME.matrix`.
pub(super) fn parse(
    item: &TomlValue<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> Option<Matrix> {
    let Some(table) = item.as_table() else {
        diags.error(
            span,
            format!(
                "`{what}` must be a table of axes such as {{ sample = [\"a\", \"b\"] }}, found {}",
                doc::type_name(item)
            ),
        );
        return None;
    };
    if table.is_empty() {
        diags.error(
            span,
            format!("`{what}` has no axis: add one such as sample = [\"a\", \"b\"]"),
        );
        return None;
    }
    let mut axes = Vec::with_capacity(table.len());
    for (name, item) in table.iter() {
        let (name, name_span) = (name.get_ref().as_ref(), doc::key_span(name));
        let value_span = doc::span(item);
        let item = item.get_ref();
        if !is_name(name) {
            diags.error(
                name_span,
                format!(
                    "invalid matrix axis name `{name}`: use letters, digits and `_`, not starting \
                     with a digit (templates write it as `{{{name}}}`)"
                ),
            );
            continue;
        }
        if let Some(values) = axis_values(item, &format!("{what}.{name}"), value_span, name, diags)
        {
            axes.push(Axis {
                name: name.to_owned(),
                name_span,
                values,
            });
        }
    }
    Some(Matrix { span, axes })
}

fn axis_values(
    item: &TomlValue<'_>,
    what: &str,
    span: Span,
    axis: &str,
    diags: &mut Collector<'_>,
) -> Option<AxisValues> {
    let expected = format!(
        "a list such as [\"a\", \"b\"], {{ glob = \"data/{{{axis}}}.txt\" }} or \"{{list_param}}\""
    );
    if let Some(array) = item.as_array() {
        let mut values: Vec<(String, Span)> = Vec::with_capacity(array.len());
        let mut seen = FxHashSet::default();
        for v in array.iter() {
            match scalar(v.get_ref()) {
                Some((text, _)) if !seen.insert(text.clone()) => diags.error(
                    doc::span(v),
                    format!("`{what}` has the value `{text}` twice"),
                ),
                Some((text, _)) => values.push((text, doc::span(v))),
                None => diags.error(
                    doc::span(v),
                    format!(
                        "`{what}` must hold strings, numbers or bools, found {}",
                        doc::type_name(v.get_ref())
                    ),
                ),
            }
        }
        if array.is_empty() {
            diags.error(
                span,
                format!("`{what}` is empty: an axis needs at least one value"),
            );
            return None;
        }
        return Some(AxisValues::List(values));
    }
    if let Some(s) = item.as_str() {
        let template = Template::new(s.to_owned(), span.clone());
        if template.single_var().is_some() {
            return Some(AxisValues::Param(template));
        }
        diags.error(
            span,
            format!("`{what}` must be {expected}, found a string that is not one `{{param}}`"),
        );
        return None;
    }
    let Some(table) = item.as_table() else {
        diags.error(
            span,
            format!(
                "`{what}` must be {expected}, found {}",
                doc::type_name(item)
            ),
        );
        return None;
    };
    let mut glob = None;
    for (key, value) in table.iter() {
        let value_span = doc::span(value);
        let (key, key_span) = (key.get_ref().as_ref(), doc::key_span(key));
        match (key, value.get_ref().as_str()) {
            ("glob", Some(pattern)) => {
                glob = Some(Template::new(pattern.to_owned(), value_span));
            }
            ("glob", None) => diags.error(
                value_span,
                format!(
                    "`{what}.glob` must be a string such as \"data/{{{axis}}}.txt\", found {}",
                    doc::type_name(value.get_ref())
                ),
            ),
            _ => super::keys::unknown_key_error(
                diags,
                key_span,
                key,
                &format!("`{what}`"),
                &["glob"],
            ),
        }
    }
    if glob.is_none() && table.is_empty() {
        diags.error(span, format!("`{what}` must be {expected}"));
    }
    glob.map(AxisValues::Glob)
}

/// The values of `axis` (of the flow named `flow`, in `source`): a param's items or the
/// matches of a glob in `dir`. Reports what is wrong and returns `None` then.
pub(super) fn values(
    axis: &Axis,
    flow: &str,
    params: (&[Param], &[Value], &[String]),
    writers: &[(&str, &str)],
    dir: &Path,
    source: SourceId,
    diags: &mut Collector<'_>,
) -> Option<Vec<AxisValue>> {
    let (param_defs, param_values, param_names) = params;
    let what = format!("flows.{flow}.matrix.{}", axis.name);
    if let Some(p) = param_defs.iter().find(|p| p.name == axis.name) {
        let other = diags.place(p.source, p.span.as_ref());
        diags.error_at(
            source,
            axis.name_span.as_ref().map_or(0, |s| s.start),
            format!(
                "matrix axis `{}` of flow `{flow}` has the name of the param at {other}: rename one",
                axis.name
            ),
        );
        return None;
    }
    match &axis.values {
        AxisValues::List(values) => Some(
            values
                .iter()
                .map(|(text, span)| AxisValue {
                    text: text.clone(),
                    span: span.clone(),
                    origin: Origin::Written,
                })
                .collect(),
        ),
        AxisValues::Param(template) => {
            let scope = Scope {
                params: param_names,
                axes: &[],
                elsewhere: &[],
            };
            let bound = template.bind(scope, &what, source, diags)?;
            let i = bound.single_param()?;
            let span = template.span.clone();
            // A value from the command line is named as such: the file's may be fine.
            let arg = (param_defs.iter().find(|p| p.name == param_names[i]))
                .and_then(|p| p.set.as_deref())
                .map(|text| Rc::<str>::from(format!("--set {}={text}", param_names[i])));
            let set = arg
                .as_ref()
                .map_or_else(String::new, |arg| format!(" (from `{arg}`)"));
            let origin = arg.map_or(Origin::Written, Origin::Set);
            let items = match &param_values[i] {
                Value::List(items) => items.clone(),
                Value::One(one) => vec![one.clone()],
            };
            if items.is_empty() {
                let at = span.as_ref().map_or(0, |s| s.start);
                diags.error_at(
                    source,
                    at,
                    format!("`{what}`: param `{}` is an empty list{set}", param_names[i]),
                );
                return None;
            }
            let mut seen = BTreeSet::new();
            if let Some(twice) = items.iter().find(|item| !seen.insert(item.as_str())) {
                let at = span.as_ref().map_or(0, |s| s.start);
                diags.error_at(
                    source,
                    at,
                    format!(
                        "`{what}`: param `{}` has the value `{twice}` twice{set}",
                        param_names[i]
                    ),
                );
                return None;
            }
            Some(
                items
                    .into_iter()
                    .map(|text| AxisValue {
                        text,
                        span: span.clone(),
                        origin: origin.clone(),
                    })
                    .collect(),
            )
        }
        AxisValues::Glob(template) => {
            let axes = [axis.name.clone()];
            let scope = Scope {
                params: param_names,
                axes: &axes,
                elsewhere: &[],
            };
            let what_glob = format!("{what}.glob");
            let bound = template.bind(scope, &what_glob, source, diags)?;
            // A path takes one value: a list param would make one pattern of all its items.
            let takes = (&*what_glob, super::lists::PATH);
            let bound =
                super::lists::one_value(bound, param_values, param_names, takes, source, diags)?;
            let pattern = bound.render(param_values, &[&WILDCARD.to_string()]);
            let at = template.span.as_ref().map_or(0, |s| s.start);
            if pattern.matches(WILDCARD).count() != 1 {
                diags.error_at(
                    source,
                    at,
                    format!(
                        "`{what}.glob` must name `{{{}}}` once, where the value is in the file names",
                        axis.name
                    ),
                );
                return None;
            }
            let found = glob(&pattern, dir);
            let origin = Origin::Glob(Rc::from(pattern.as_str()));
            if found.is_empty() {
                let shown = pattern.replace(WILDCARD, &format!("{{{}}}", axis.name));
                let written = written_by(&pattern, writers).map_or(String::new(), |(flow, out)| {
                    format!(
                        ": `{out}` is written by flow `{flow}`, but a matrix is made when the \
                         workflow is read, before any flow runs; list the values, or make the \
                         files first with a workflow of their own"
                    )
                });
                diags.error_at(
                    source,
                    at,
                    format!(
                        "`{what}.glob` \"{shown}\" matches no file (looked from {}){written}",
                        dir.display()
                    ),
                );
                return None;
            }
            Some(
                found
                    .into_iter()
                    .map(|text| AxisValue {
                        text,
                        span: template.span.clone(),
                        origin: origin.clone(),
                    })
                    .collect(),
            )
        }
    }
}

/// The values the wildcard takes in the paths matching `pattern` (relative to `dir` unless
/// absolute), sorted. In a pattern's path segments, `*` is any run of characters and `?` one
/// character; neither crosses a `/`, and neither matches a leading `.`. A name that is not
/// UTF-8 is matched as its lossy text.
fn glob(pattern: &str, dir: &Path) -> Vec<String> {
    let (base, rest) = match pattern.strip_prefix('/') {
        Some(rest) => (Path::new("/"), rest),
        None => (dir, pattern),
    };
    let segments: Vec<Vec<char>> = rest
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(|s| s.chars().collect())
        .collect();
    let mut found = BTreeSet::new();
    walk(base, &segments, None, &mut found);
    found.into_iter().collect()
}

fn walk(dir: &Path, segments: &[Vec<char>], value: Option<&str>, found: &mut BTreeSet<String>) {
    let Some((segment, rest)) = segments.split_first() else {
        if let Some(value) = value {
            found.insert(value.to_owned());
        }
        return;
    };
    if !segment.iter().any(|c| matches!(*c, '*' | '?' | WILDCARD)) {
        let next = dir.join(segment.iter().collect::<String>());
        if (rest.is_empty() && next.exists()) || next.is_dir() {
            walk(&next, rest, value, found);
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        // A name that is not UTF-8 is matched as its lossy text: a value taken from it is
        // refused where flow ids are checked, never silently left out.
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && segment.first() != Some(&'.') {
            continue;
        }
        let chars: Vec<char> = name.chars().collect();
        let mut captured = None;
        if !matches(segment, &chars, &mut captured) {
            continue;
        }
        let captured: Option<String> = captured.map(|r| chars[r].iter().collect());
        let value = captured.as_deref().or(value);
        if rest.is_empty() || entry.path().is_dir() {
            walk(&entry.path(), rest, value, found);
        }
    }
}

/// Whether `name` matches the segment pattern `p`, setting `captured` to the wildcard's
/// characters (the longest match, as a regular expression's `.+`).
fn matches(p: &[char], name: &[char], captured: &mut Option<Range<usize>>) -> bool {
    fn go(p: &[char], n: &[char], at: usize, captured: &mut Option<Range<usize>>) -> bool {
        let Some((&first, rest)) = p.split_first() else {
            return at == n.len();
        };
        match first {
            '*' => (at..=n.len()).rev().any(|k| go(rest, n, k, captured)),
            WILDCARD => (at + 1..=n.len()).rev().any(|k| {
                let ok = go(rest, n, k, captured);
                if ok {
                    *captured = Some(at..k);
                }
                ok
            }),
            '?' => at < n.len() && go(rest, n, at + 1, captured),
            c => at < n.len() && n[at] == c && go(rest, n, at + 1, captured),
        }
    }
    go(p, name, 0, captured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_takes_the_wildcard_from_matching_paths() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "data/a.fastq",
            "data/b.fastq",
            "data/c.txt",
            "data/.hidden.fastq",
            "runs/r1/x.out",
            "runs/r2/y.out",
            "runs/r3/z.err",
        ] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let w = WILDCARD;
        assert_eq!(glob(&format!("data/{w}.fastq"), dir.path()), ["a", "b"]);
        assert_eq!(glob(&format!("runs/{w}/*.out"), dir.path()), ["r1", "r2"]);
        assert_eq!(
            glob(&format!("./runs/r?/{w}.*"), dir.path()),
            ["x", "y", "z"]
        );
        let absolute = format!("{}/data/{w}.txt", dir.path().display());
        assert_eq!(glob(&absolute, Path::new("/nonexistent")), ["c"]);
        assert!(glob(&format!("nothing/{w}"), dir.path()).is_empty());
    }

    #[test]
    fn the_wildcard_is_greedy_and_not_empty() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        let mut captured = None;
        let pattern = chars(&format!("{WILDCARD}_*.fq"));
        assert!(matches(&pattern, &chars("a_b_1.fq"), &mut captured));
        assert_eq!(captured, Some(0..3));
        assert!(!matches(&pattern, &chars("_1.fq"), &mut captured));
    }
}
