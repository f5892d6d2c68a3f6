//! The paths an input glob matches, found as `glob::glob` finds them (the same paths, in the
//! same order), but for any file name: `glob::glob` takes its pattern as text, so a base folder
//! whose name is not UTF-8 made it match nothing, and it skips the files whose names are not
//! UTF-8. Here each path segment is matched on its own (a name that is not UTF-8 as its lossy
//! text, where `*` and `?` match the bytes that are not), and paths stay as the folders name them.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern};

use super::Data;

/// Every path that the input glob `path` (relative to `base` unless absolute) matches: per
/// folder in name order, a folder that `**` matches before what it holds; and whether a
/// folder on the way could not be read (it is passed over). A pattern that does not parse
/// matches nothing.
pub(crate) fn paths(base: &Path, path: &str) -> (Vec<PathBuf>, bool) {
    let (start, rest) = match path.strip_prefix('/') {
        Some(rest) => (PathBuf::from("/"), rest),
        None => (base.to_path_buf(), path),
    };
    let segments: Option<Vec<Segment>> = rest.split_terminator('/').map(Segment::new).collect();
    let mut found = Vec::new();
    let mut unreadable = false;
    if let Some(segments) = segments.filter(|s| !s.is_empty()) {
        let mut walk = Walk {
            segments: &segments,
            folder_only: path.ends_with('/'),
            found: &mut found,
            unreadable: &mut unreadable,
        };
        walk.fill(&start, 0);
    }
    (found, unreadable)
}

/// One segment of a glob: a name, a pattern, or `**`.
enum Segment {
    Name(String),
    Pattern(Pattern),
    Any,
}

impl Segment {
    fn new(text: &str) -> Option<Segment> {
        if text == "**" {
            Some(Segment::Any)
        } else if text.contains(['*', '?', '[', ']']) {
            Pattern::new(&Data::glob_syntax(text))
                .ok()
                .map(Segment::Pattern)
        } else {
            Some(Segment::Name(text.to_owned()))
        }
    }

    /// Whether the name `name` matches this segment (`**`: any).
    fn matches(&self, name: &std::ffi::OsStr) -> bool {
        match self {
            Segment::Name(text) => name == text.as_str(),
            Segment::Pattern(pattern) => {
                pattern.matches_with(&name.to_string_lossy(), MatchOptions::new())
            }
            Segment::Any => true,
        }
    }
}

struct Walk<'a> {
    segments: &'a [Segment],
    folder_only: bool,
    found: &'a mut Vec<PathBuf>,
    unreadable: &'a mut bool,
}

impl Walk<'_> {
    /// What lies under `dir` that matches the segments from `at` on.
    fn fill(&mut self, dir: &Path, at: usize) {
        match &self.segments[at] {
            Segment::Name(name) => {
                let next = dir.join(name);
                let special = name == "." || name == "..";
                let there = if special {
                    is_dir(dir)
                } else {
                    std::fs::symlink_metadata(&next).is_ok()
                };
                if there {
                    self.matched(next, at);
                }
            }
            segment => {
                let children = match children(dir) {
                    Ok(children) => children,
                    Err(e) => {
                        *self.unreadable |= is_dir(dir) && e.kind() != ErrorKind::NotFound;
                        return;
                    }
                };
                // A pattern starting with `.` also matches `.` and `..`, before the rest.
                if let Segment::Pattern(pattern) = segment {
                    if pattern.as_str().starts_with('.') {
                        for special in ["..", "."] {
                            if pattern.matches_with(special, MatchOptions::new()) {
                                self.matched(dir.join(special), at);
                            }
                        }
                    }
                }
                for (child, child_is_dir) in children {
                    self.visit(child, child_is_dir, at);
                }
            }
        }
    }

    /// `path`, known to match the segment `at`.
    fn matched(&mut self, path: PathBuf, at: usize) {
        if at + 1 == self.segments.len() {
            if !self.folder_only || is_dir(&path) {
                self.found.push(path);
            }
        } else {
            self.fill(&path, at + 1);
        }
    }

    /// `path`, found in a folder (`dir`: a folder, links followed), to be matched against
    /// the segment `at`.
    fn visit(&mut self, path: PathBuf, dir: bool, mut at: usize) {
        let last = self.segments.len() - 1;
        if let Segment::Any = self.segments[at] {
            let mut next = at;
            while next < last && matches!(self.segments[next + 1], Segment::Any) {
                next += 1;
            }
            if !dir && next == last {
                return;
            }
            if dir && next == last {
                self.found.push(path.clone());
                self.fill(&path, next);
                return;
            }
            // What `path` holds, for the `**`, comes after what `path` itself matches.
            at = next + 1;
            let name = path.file_name().unwrap_or_default();
            if self.segments[at].matches(name) {
                self.matched(path.clone(), at);
            }
            if dir {
                self.fill(&path, next);
            }
            return;
        }
        let name = path.file_name().unwrap_or_default();
        if self.segments[at].matches(name) {
            self.matched(path, at);
        }
    }
}

/// The entries of the folder `dir` (the current folder when empty), in name order, each with
/// whether it is a folder (a link is followed; other entries cost no `stat`). A folder whose
/// listing fails part way is an error, as a whole.
fn children(dir: &Path) -> std::io::Result<Vec<(PathBuf, bool)>> {
    let read = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut children: Vec<(OsString, PathBuf, bool)> = Vec::new();
    for entry in std::fs::read_dir(read)? {
        let entry = entry?;
        let (name, path) = (entry.file_name(), dir.join(entry.file_name()));
        let kind = entry.file_type()?;
        let is_folder = if kind.is_symlink() {
            is_dir(&path)
        } else {
            kind.is_dir()
        };
        children.push((name, path, is_folder));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(children
        .into_iter()
        .map(|(_, path, is_folder)| (path, is_folder))
        .collect())
}

/// Whether `path` is a folder, following links.
fn is_dir(path: &Path) -> bool {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    /// The same paths as `glob::glob`, in the same order, where it finds them all.
    #[test]
    fn finds_what_the_glob_crate_finds() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for file in [
            "a.csv",
            "b.csv",
            ".h.csv",
            "x/a.csv",
            "x/y/a.csv",
            "x/y/z/b.txt",
            "run[1]/a.fq",
            "run1/a.fq",
        ] {
            let path = d.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "1").unwrap();
        }
        for pattern in [
            "*.csv",
            "?.csv",
            "x/*",
            "x/*/",
            "**/a.csv",
            "x/**",
            "x/**/*.txt",
            "**/**/a.csv",
            "run[1]/*.fq",
            "*/a.fq",
            "./x/../*.csv",
            ".*",
            "nothing/*",
        ] {
            let escaped = Pattern::escape(d.to_str().unwrap());
            let whole = format!("{escaped}/{}", Data::glob_syntax(pattern));
            let expected: Vec<PathBuf> = glob::glob(&whole).unwrap().flatten().collect();
            assert_eq!(paths(d, pattern).0, expected, "{pattern}");
        }
    }

    /// A name that is not UTF-8, of the base folder or of a file, is matched as any other.
    #[test]
    fn names_that_are_not_utf8_match() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join(std::ffi::OsStr::from_bytes(b"w\xff"));
        let latin1 = base.join(std::ffi::OsStr::from_bytes(b"f\xe9.csv"));
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(&latin1, "1").unwrap();
        std::fs::write(base.join("g.csv"), "1").unwrap();
        assert_eq!(
            paths(&base, "*.csv").0,
            [latin1.clone(), base.join("g.csv")]
        );
        assert_eq!(paths(&base, "f?.csv").0, [latin1]);
    }
}
