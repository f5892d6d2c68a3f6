//! The folder and the name of a workflow file read leniently, for the commands that only look
//! at its runs (`results`, `runs`, `logs`, `report`, `prune`) while the file is being fixed:
//! from a file that does not parse, the name is what `toml` could still read of it.

use std::path::{Path, PathBuf};

use super::doc::{self, Table, Value};
use super::{folder, limits, stem};

/// The name of a workflow whose file has problems, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// Its `[workflow] name`.
    Set(String),
    /// The file sets no name: the default, its file's name without the extension.
    Default(String),
    /// The file cannot be parsed, but no line of it looks like it sets a name: the default
    /// is assumed.
    Assumed(String),
    /// The file cannot be parsed where it sets its `[workflow] name`.
    Unreadable,
}

impl Name {
    /// The name, when it is known.
    pub fn known(&self) -> Option<&str> {
        match self {
            Name::Set(name) | Name::Default(name) | Name::Assumed(name) => Some(name),
            Name::Unreadable => None,
        }
    }
}

/// The folder and the name of the workflow file at `path`. `None` when even that cannot be
/// read: the file, or a `workflow` that is not a table or a `name` that is not a string in a
/// file that parses.
pub fn identify(path: &Path) -> Option<(PathBuf, Name)> {
    let text = limits::read_file(path).ok()?;
    let dir = folder(path).ok()?;
    Some((dir, name_in(&doc::with_lf(&text), &stem(path))?))
}

/// The name that `text` sets, with `stem` as the default.
fn name_in(text: &str, stem: &str) -> Option<Name> {
    let (root, errors) = Table::parse_recoverable(text);
    let parsed = errors.is_empty();
    // A value `toml` recovered on a line with an error may not be what was meant.
    let sound = |span: std::ops::Range<usize>| {
        let line_end = text[span.end..]
            .find('\n')
            .map_or(text.len(), |i| span.end + i);
        !(errors.iter().filter_map(|e| e.span()))
            .any(|error| error.start <= line_end && error.end >= span.start)
    };
    let set = match root.get_ref().get("workflow").map(|item| item.get_ref()) {
        Some(Value::Table(table)) => {
            (table.get("name")).map(|name| name.get_ref().as_str().filter(|_| sound(name.span())))
        }
        Some(_) if parsed => return None,
        Some(_) => Some(None),
        None => None,
    };
    match set {
        // Of a name written twice, neither is sure.
        Some(Some(name)) if parsed || name_lines(text).len() <= 1 => {
            Some(Name::Set(name.to_owned()))
        }
        Some(None) if parsed => None,
        _ if parsed => Some(Name::Default(stem.to_owned())),
        _ => {
            let lines = name_lines(text);
            Some(match name_of_lines(&lines) {
                Some(name) if lines.len() == 1 => Name::Set(name),
                _ if lines.is_empty() => Name::Assumed(stem.to_owned()),
                _ => Name::Unreadable,
            })
        }
    }
}

/// The lines of `text` that look like they set the workflow's name, each as a TOML document of
/// its own: `name` under a `[workflow]` header (with that header), or a `workflow.name` or
/// `workflow = {...}` key before any header.
fn name_lines(text: &str) -> Vec<String> {
    let mut header: Option<String> = None;
    let key_of = |line: &str, key: &str| {
        line.strip_prefix(key)
            .is_some_and(|rest| rest.starts_with([' ', '\t', '=', '.']))
    };
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim_start) {
        if let Some(rest) = line.strip_prefix('[') {
            let inner = rest.trim_start_matches('[');
            let inner = inner.split(']').next().unwrap_or(inner);
            header = Some(
                inner
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '"')
                    .collect(),
            );
            continue;
        }
        match header.as_deref() {
            Some("workflow") if key_of(line, "name") || key_of(line, "\"name\"") => {
                lines.push(format!("[workflow]\n{line}"));
            }
            None if key_of(line, "workflow") || key_of(line, "\"workflow\"") => {
                lines.push(line.to_owned());
            }
            _ => {}
        }
    }
    lines
}

/// The name that one of `lines` sets, when exactly one name can be read from them.
fn name_of_lines(lines: &[String]) -> Option<String> {
    let mut names = lines.iter().filter_map(|line| {
        let root = doc::parse(line).ok()?;
        match root.get("workflow")?.get_ref() {
            Value::Table(table) => Some(table.get("name")?.get_ref().as_str()?.to_owned()),
            _ => None,
        }
    });
    let name = names.next()?;
    names.next().is_none().then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_read_where_the_file_lets_it_be_read() {
        let set = |name: &str| Some(Name::Set(name.to_owned()));
        let stem = Some(Name::Default("w".to_owned()));
        let assumed = Some(Name::Assumed("w".to_owned()));
        for (text, name) in [
            ("[flows.a]\nshell = \"x\"\n", stem.clone()),
            ("[workflow]\nname = \"n\"\n", set("n")),
            ("[workflow]\nname = 5\n", None),
            ("workflow = 5\n", None),
            ("[workflow]\njobs = 2\n", stem.clone()),
            // Not TOML: the name is read where it can be.
            (
                "[workflow]\nname = \"n\"\n[flows.a]\nhalf-edited [[[\n",
                set("n"),
            ),
            ("half-edited [[[\n[workflow]\nname = \"n\"\n", set("n")),
            (
                "[flows.a]\nshell = \"x\"\nhalf-edited [[[\n",
                assumed.clone(),
            ),
            (
                "[workflow]\nname = \"n\nhalf-edited [[[\n",
                Some(Name::Unreadable),
            ),
            ("workflow.name = [\n", Some(Name::Unreadable)),
            ("[ workflow ]\n  name=\n", Some(Name::Unreadable)),
            ("x = [\nworkflow.name = \"n\"\n", set("n")),
            (
                "[workflow]\nname = \"n\"\nname = \"m\"\n",
                Some(Name::Unreadable),
            ),
            ("[flows.a]\nname = \"x\nbroken\n", assumed),
        ] {
            assert_eq!(name_in(text, "w"), name, "{text:?}");
        }
    }
}
