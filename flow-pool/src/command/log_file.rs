//! [`LogFile`]: a command's output file, created only when the first byte arrives.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// A copy of one output stream in a file that is created (truncated) on the first non-empty
/// chunk, with its missing parent folders if needed: a command that writes nothing costs no
/// file-system call at all.
///
/// Writes are plain synchronous `write`s (they land in the page cache). A file that cannot
/// be created or written is reported once with `tracing::warn!` and then skipped: the file is
/// only a copy of the stream, so the command is neither blocked nor failed by it.
#[derive(Debug)]
pub(crate) struct LogFile<'a> {
    path: &'a Path,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Nothing written yet, so no file either.
    NotCreated,
    /// Created and writable.
    Open(File),
    /// Creating or writing failed (already reported); further output is not copied.
    Failed,
}

impl<'a> LogFile<'a> {
    /// A log file at `path`, not created yet.
    pub(crate) fn new(path: &'a Path) -> Self {
        LogFile {
            path,
            state: State::NotCreated,
        }
    }

    /// Appends `chunk`, creating the file first if this is the first non-empty chunk.
    pub(crate) fn write(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        if matches!(self.state, State::NotCreated) {
            self.state = match create(self.path) {
                Ok(file) => State::Open(file),
                Err(error) => {
                    tracing::warn!(
                        path = %self.path.display(),
                        %error,
                        "could not create the command's log file: only the last lines of its output are kept, \
                         for the summary"
                    );
                    State::Failed
                }
            };
        }
        if let State::Open(file) = &mut self.state {
            if let Err(error) = file.write_all(chunk) {
                tracing::warn!(
                    path = %self.path.display(),
                    %error,
                    "could not write the command's log file: of the rest of its output, only the last \
                     lines are kept, for the summary"
                );
                self.state = State::Failed;
            }
        }
    }
}

/// Whether the output paths `a` and `b` name one file, so that the two streams must share
/// one pipe and one open file (two would each truncate it and overwrite each other's bytes):
/// the same path; else, for the same file name, when both exist, the same file (through
/// `..`, a linked folder or a hard link), or when one does not, the same place once the
/// missing folders are made. A path is looked up only when the two differ as written and
/// end in the same file name.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    // Two file names are two files (a link under another name is not looked for), so the
    // usual pair, `x.out` and `x.err`, costs no lookup at each command's start.
    if a.file_name() != b.file_name() {
        return false;
    }
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return (x.dev(), x.ino()) == (y.dev(), y.ino());
    }
    matches!((place(a), place(b)), (Some(x), Some(y)) if x == y)
}

/// Where a file at `path` would be created: its deepest existing ancestor resolved (links,
/// `..`), then the rest of the path as written, where `..` leaves a folder that
/// [`create`] makes (a new folder is no link).
fn place(path: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut at = path;
    let mut base = loop {
        let lookup = if at.as_os_str().is_empty() {
            Path::new(".")
        } else {
            at
        };
        if let Ok(base) = lookup.canonicalize() {
            break base;
        }
        rest.push(at.components().next_back()?);
        at = at.parent()?;
    };
    for component in rest.into_iter().rev() {
        match component {
            Component::ParentDir => {
                base.pop();
            }
            Component::CurDir => {}
            other => base.push(other),
        }
    }
    Some(base)
}

/// Creates (truncates) the file at `path`; when its folder is missing, creates the folder
/// and its parents and tries once more.
fn create(path: &Path) -> std::io::Result<File> {
    match File::create(path) {
        Err(error) if error.kind() == ErrorKind::NotFound => {
            match path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                Some(parent) => std::fs::create_dir_all(parent)?,
                None => return Err(error),
            }
            File::create(path)
        }
        result => result,
    }
}

#[cfg(test)]
mod tests {
    use super::LogFile;

    #[test]
    fn no_file_until_the_first_byte_then_everything_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.log");
        let mut file = LogFile::new(&path);
        file.write(b"");
        assert!(!dir.path().join("a").exists());
        file.write(b"one ");
        file.write(b"");
        file.write(b"two");
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"one two");
    }

    #[test]
    fn an_existing_file_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(&path, "old content that is longer").unwrap();
        let mut file = LogFile::new(&path);
        file.write(b"new");
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_file_that_cannot_be_created_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-folder");
        std::fs::write(&blocker, "").unwrap();
        let path = blocker.join("out.log");
        let mut file = LogFile::new(&path);
        file.write(b"lost");
        file.write(b"still no panic");
        assert!(!path.exists());
        assert_eq!(std::fs::read(&blocker).unwrap(), b"");
    }
}
