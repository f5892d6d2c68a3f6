//! A command's definition as the up-to-date rule hashes it: with the flow's base folder (the
//! workflow's folder) written as a mark rather than as its path, so that a project moved or
//! checked out elsewhere, with its `.flow` folder, finds its flows up to date, as make does.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use flow_pool::{EnvChange, EnvChanges};

/// What stands for the base folder in the hashed form. No environment value or path holds a
/// NUL byte, so no value that is written out can hash like one that holds the base folder.
const MARK: &str = "\0";

/// `text` with each occurrence of `base` that stands as a whole path written as [`MARK`]: at
/// the start of `text` or after a `:` (a list of paths, as in `PATH`), and followed by the
/// end, a `/` or a `:`. `/data/x` with base `/data` becomes `MARK/x`; `/old/data` does not
/// change (a folder outside the base that only ends like it).
fn marked<'a>(text: &'a str, base: &str) -> Cow<'a, str> {
    if !text.contains(base) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut at_start = true;
    while !rest.is_empty() {
        let whole = rest
            .strip_prefix(base)
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

/// The base folder as text, when it can be marked: an absolute path other than `/`, in UTF-8.
fn base_text(base: &Path) -> Option<&str> {
    let text = base.to_str()?.trim_end_matches('/');
    (base.is_absolute() && !text.is_empty()).then_some(text)
}

/// `env` with the base folder marked in each value it sets.
pub(super) fn env(env: &EnvChanges, base: &Path) -> EnvChanges {
    let Some(base) = base_text(base) else {
        return env.clone();
    };
    EnvChanges {
        base: env.base,
        changes: (env.changes.iter())
            .map(|change| match change {
                EnvChange::Set(key, value) => {
                    EnvChange::Set(key.clone(), marked(value, base).into_owned())
                }
                EnvChange::Remove(key) => EnvChange::Remove(key.clone()),
            })
            .collect(),
    }
}

/// `cwd` with the base folder marked.
pub(super) fn cwd(cwd: Option<&Path>, base: &Path) -> Option<PathBuf> {
    let cwd = cwd?;
    match (base_text(base), cwd.to_str()) {
        (Some(base), Some(text)) => Some(PathBuf::from(marked(text, base).into_owned())),
        _ => Some(cwd.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_marked_only_where_it_stands_as_a_whole_path() {
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
    fn a_base_that_is_relative_or_the_root_marks_nothing() {
        for base in [".", "data", "/", ""] {
            let env = EnvChanges {
                base: flow_pool::EnvBase::Inherit,
                changes: vec![EnvChange::Set("D".into(), "/w/p".into())],
            };
            assert_eq!(super::env(&env, Path::new(base)), env, "{base:?}");
        }
        assert_eq!(
            cwd(Some(Path::new("/w/p/sub")), Path::new("/w/p/")),
            Some(PathBuf::from("\0/sub"))
        );
    }
}
