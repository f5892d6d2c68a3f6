//! A flow's *home* (its workflow's folder, [`Flow::home`](crate::Flow::home)) written as a
//! mark rather than as its path wherever a command's definition holds it as a whole path, so
//! that a project moved or checked out elsewhere, with its `.flow` folder, keeps its flows'
//! definitions: up to date for the up-to-date rule (`fresh`), as make does, and reused by a
//! resume (`fingerprint`). Both hash what this module gives them: one rule.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use flow_pool::{CommandSpec, EnvChange, EnvChanges};

/// What stands for the home in the hashed form. No environment value or path holds a NUL
/// byte, so no value that is written out can hash like one that holds the home.
const MARK: &str = "\0";

/// `text` with each occurrence of `home` that stands as a whole path written as [`MARK`]: at
/// the start of `text` or after a `:` (a list of paths, as in `PATH`), and followed by the
/// end, a `/` or a `:`. `/data/x` with home `/data` becomes `MARK/x`; `/old/data` does not
/// change (a folder outside the home that only ends like it).
fn marked<'a>(text: &'a str, home: &str) -> Cow<'a, str> {
    if !text.contains(home) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut at_start = true;
    while !rest.is_empty() {
        let whole = rest
            .strip_prefix(home)
            .filter(|after| at_start && matches!(after.bytes().next(), None | Some(b'/' | b':')));
        match whole {
            Some(after) => {
                out.push_str(MARK);
                rest = after;
                at_start = false;
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
                at_start = c == ':';
            }
        }
    }
    Cow::Owned(out)
}

/// The home as text, when it can be marked: an absolute path other than `/`, in UTF-8.
fn home_text(home: &Path) -> Option<&str> {
    let text = home.to_str()?.trim_end_matches('/');
    (home.is_absolute() && !text.is_empty()).then_some(text)
}

/// `env` with the home marked in each value it sets.
pub(crate) fn env(env: &EnvChanges, home: &Path) -> EnvChanges {
    let Some(home) = home_text(home) else {
        return env.clone();
    };
    EnvChanges {
        base: env.base,
        changes: (env.changes.iter())
            .map(|change| match change {
                EnvChange::Set(key, value) => {
                    EnvChange::Set(key.clone(), marked(value, home).into_owned())
                }
                other => other.clone(),
            })
            .collect(),
    }
}

/// `path` with the home marked (as written when either is not UTF-8).
pub(crate) fn path<'a>(path: &'a Path, home: &Path) -> Cow<'a, Path> {
    match (home_text(home), path.to_str()) {
        (Some(home), Some(text)) => match marked(text, home) {
            Cow::Borrowed(_) => Cow::Borrowed(path),
            Cow::Owned(text) => Cow::Owned(PathBuf::from(text)),
        },
        _ => Cow::Borrowed(path),
    }
}

/// `cwd` with the home marked.
pub(crate) fn cwd(cwd: Option<&Path>, home: &Path) -> Option<PathBuf> {
    cwd.map(|cwd| path(cwd, home).into_owned())
}

/// `spec` with the home marked in its environment values and its paths (working directory,
/// output files): the form a flow's fingerprint hashes.
pub(crate) fn command(spec: &CommandSpec, home: &Path) -> CommandSpec {
    let file = |file: &Option<PathBuf>| file.as_deref().map(|f| path(f, home).into_owned());
    CommandSpec {
        env: env(&spec.env, home),
        cwd: cwd(spec.cwd.as_deref(), home),
        stdout_path: file(&spec.stdout_path),
        stderr_path: file(&spec.stderr_path),
        ..spec.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_is_marked_only_where_it_stands_as_a_whole_path() {
        let table = [
            ("/w/p", "\0"),
            ("/w/p/", "\0/"),
            ("/w/p/data/a.csv", "\0/data/a.csv"),
            ("/bin:/w/p/bin:/usr/bin", "/bin:\0/bin:/usr/bin"),
            ("/w/p:/w/p", "\0:\0"),
            ("/w/pq", "/w/pq"),
            ("/x/w/p/data", "/x/w/p/data"),
            ("-o/w/p", "-o/w/p"),
            ("plain", "plain"),
            ("", ""),
            ("é:/w/p", "é:\0"),
        ];
        for (text, expected) in table {
            assert_eq!(marked(text, "/w/p"), expected, "{text:?}");
        }
    }

    #[test]
    fn a_home_that_is_relative_or_the_root_marks_nothing() {
        for home in [".", "data", "/", ""] {
            let env = EnvChanges {
                base: flow_pool::EnvBase::Inherit,
                changes: vec![EnvChange::Set("D".into(), "/w/p".into())],
            };
            assert_eq!(super::env(&env, Path::new(home)), env, "{home:?}");
        }
        assert_eq!(
            cwd(Some(Path::new("/w/p/sub")), Path::new("/w/p/")),
            Some(PathBuf::from("\0/sub"))
        );
    }

    /// The definition a resume compares (the fingerprint's) follows the same rule as the
    /// up-to-date one: the home's path is no part of it, a path outside it is.
    #[test]
    fn a_flow_moved_with_its_home_keeps_its_definition() {
        use crate::{Data, Flow, FlowId};
        let at = |home: &str, outside: &str| {
            let spec = CommandSpec::shell("true")
                .env("FLOW_WORKFLOW_DIR", home)
                .env("SEARCH", format!("/bin:{home}/bin:{outside}"))
                .cwd(format!("{home}/sub"))
                .stdout_path(format!("{home}/out.log"));
            let id = FlowId::new("a").unwrap();
            let plain = Flow::command(id.clone(), spec.clone());
            let with_data = Flow::command(id, spec).data(Data::new(home).outputs(["x"]));
            [
                plain.home(Path::new(home)).build().definition(),
                with_data.build().definition(),
            ]
        };
        let first = at("/w/p", "/opt");
        assert_eq!(at("/elsewhere/p2", "/opt"), first);
        assert_ne!(at("/w/p", "/usr"), first, "a path outside the home counts");
        let unmarked = |home: &str| {
            let spec = CommandSpec::shell("true").env("FLOW_WORKFLOW_DIR", home);
            Flow::command(FlowId::new("a").unwrap(), spec)
                .build()
                .definition()
        };
        assert_ne!(
            unmarked("/w/p"),
            unmarked("/elsewhere/p2"),
            "no home, no mark"
        );
    }
}
