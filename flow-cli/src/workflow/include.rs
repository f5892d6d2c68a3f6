//! `include = ["common.toml"]`: reads the files a workflow includes (and those they include),
//! each a diagnostic source of its own, and merges their params and flows into the workflow.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::diagnostic::{Collector, SourceId};
use super::doc::{self, Item};
use super::params;
use super::parse::{self, RawFlow, RawWorkflow, Role};
use super::template::not_filled_in;

type Span = Option<Range<usize>>;

/// Reads `include = [...]`: an array of file paths.
pub(super) fn parse_list(item: &Item<'_>, diags: &mut Collector<'_>) -> Vec<(String, Span)> {
    let span = doc::span(item);
    let item = item.get_ref();
    let Some(array) = item.as_array() else {
        diags.error(
            span,
            format!(
                "`include` must be an array of files such as [\"common.toml\"], found {}",
                doc::type_name(item)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(array.len());
    for value in array.iter() {
        match value.get_ref().as_str() {
            // Files are included before the params (which they may hold) are known.
            Some(path) => match not_filled_in("include", path) {
                Some(problem) => diags.error(
                    doc::span(value),
                    format!(
                        "{problem}: write the file's path itself (files are included before \
                         the params, which they may set, are known)"
                    ),
                ),
                None if !path.trim().is_empty() => out.push((path.to_owned(), doc::span(value))),
                None => diags.error(doc::span(value), "`include` holds an empty file name"),
            },
            None => diags.error(
                doc::span(value),
                format!(
                    "`include` must hold file names (strings), found {}",
                    doc::type_name(value.get_ref())
                ),
            ),
        }
    }
    out
}

/// Reads every file `raw` (the workflow file `file`, in folder `dir`) includes, recursively,
/// and puts their params and flows into `raw`, ahead of its own flows, and their paths into
/// `raw.included`.
pub(super) fn read_all(raw: &mut RawWorkflow, file: &str, dir: &Path, diags: &mut Collector<'_>) {
    if raw.includes.is_empty() {
        return;
    }
    let main = dir.join(Path::new(file).file_name().unwrap_or_default());
    let mut reader = Reader {
        stack: vec![std::fs::canonicalize(&main).unwrap_or(main)],
        seen: Vec::new(),
        flows: Vec::new(),
        params: Vec::new(),
    };
    let includes = std::mem::take(&mut raw.includes);
    reader.include(includes, 0, file, dir, diags);
    params::merge(&mut raw.params, reader.params, diags);
    reader.flows.append(&mut raw.flows);
    raw.flows = reader.flows;
    raw.included = reader.seen.into_iter().map(|(path, _)| path).collect();
}

struct Reader {
    /// The files being read, outermost first (a file on it cannot be included again).
    stack: Vec<PathBuf>,
    /// Every file included so far, with where its include is written.
    seen: Vec<(PathBuf, String)>,
    flows: Vec<RawFlow>,
    params: Vec<params::Param>,
}

impl Reader {
    /// Reads the `includes` of the file `from` (named `from_name`, in folder `from_dir`).
    fn include(
        &mut self,
        includes: Vec<(String, Span)>,
        from: SourceId,
        from_name: &str,
        from_dir: &Path,
        diags: &mut Collector<'_>,
    ) {
        for (path, span) in includes {
            let at = span.as_ref().map_or(0, |s| s.start);
            let full = from_dir.join(&path);
            let canonical = match std::fs::canonicalize(&full) {
                Ok(c) => c,
                Err(e) => {
                    diags.error_at(from, at, format!("cannot read included file `{path}`: {e}"));
                    continue;
                }
            };
            if let Some(i) = self.stack.iter().position(|p| *p == canonical) {
                let cycle: Vec<String> = self.stack[i..]
                    .iter()
                    .chain([&canonical])
                    .map(|p| {
                        p.file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect();
                diags.error_at(from, at, format!("include cycle: {}", cycle.join(" -> ")));
                continue;
            }
            let here = diags.place(from, span.as_ref());
            if let Some((_, first)) = self.seen.iter().find(|(p, _)| *p == canonical) {
                diags.error_at(
                    from,
                    at,
                    format!("`{path}` is included twice: here and at {first}"),
                );
                continue;
            }
            self.seen.push((canonical.clone(), here));
            let text: Rc<str> = match super::limits::read_file(&canonical) {
                Ok(text) => doc::with_lf(&text).into(),
                Err(e) => {
                    diags.error_at(from, at, format!("cannot read included file `{path}`: {e}"));
                    continue;
                }
            };
            let name = match Path::new(from_name).parent() {
                Some(parent) => parent.join(&path).display().to_string(),
                None => path.clone(),
            };
            let source = diags.add_source(name.clone(), Rc::clone(&text));
            let before = diags.set_current(source);
            let parsed = parse::parse(&text, Role::Included, source, diags);
            diags.set_current(before);
            let Some(mut sub) = parsed else {
                continue;
            };
            let sub_dir = canonical.parent().unwrap_or(Path::new("/")).to_owned();
            self.stack.push(canonical);
            let nested = std::mem::take(&mut sub.includes);
            self.include(nested, source, &name, &sub_dir, diags);
            self.stack.pop();
            params::merge(&mut self.params, sub.params, diags);
            self.flows.append(&mut sub.flows);
        }
    }
}
