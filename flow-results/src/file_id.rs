//! `FileId`: which file or folder a store opened, by device and inode, so that the store can
//! tell, with one `stat` of its path per commit, that the path no longer names it: deleted
//! (`rm -rf .flow`) or replaced by another at that path (a copy moved over it). SQLite writes
//! on into a deleted file, so without this check everything written since would be lost
//! while every write reported success.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::StoreError;

/// A file or folder as it was when the store opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The file or folder that `path` names now (links followed, as SQLite and the standard
    /// library follow them).
    pub(crate) fn of(path: &Path) -> io::Result<FileId> {
        let meta = std::fs::metadata(path)?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// `Ok` when `path` still names this file or folder; else [`StoreError::Replaced`], saying
    /// whether it was deleted or replaced. One `stat` of `path`.
    pub(crate) fn check(self, path: &Path) -> Result<(), StoreError> {
        let change = match FileId::of(path) {
            Ok(now) if now == self => return Ok(()),
            Ok(_) => "replaced by another file or folder at its path",
            Err(err) if err.kind() == io::ErrorKind::NotFound => "deleted",
            Err(err) => return Err(StoreError::read_io("check", path, err)),
        };
        Err(StoreError::Replaced {
            path: path.to_path_buf(),
            change,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_itself_until_it_is_deleted_or_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        std::fs::write(&path, "one").unwrap();
        let id = FileId::of(&path).unwrap();
        id.check(&path).unwrap();
        // Written in place: the same file.
        std::fs::write(&path, "two").unwrap();
        id.check(&path).unwrap();

        let other = dir.path().join("other.db");
        std::fs::write(&other, "three").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let err = id.check(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::Replaced { change, .. } if change.starts_with("replaced")),
            "{err:?}"
        );

        std::fs::remove_file(&path).unwrap();
        let err = id.check(&path).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Replaced {
                    change: "deleted",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("x.db` was deleted"), "{err}");
    }
}
