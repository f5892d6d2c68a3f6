//! Atomic, durable file writes for the directory store: write a temporary file, fsync it,
//! rename it over the target, fsync the folder.
//!
//! A reader sees the old file or the new one, never a mix, whenever the writer dies: `rename`
//! replaces the name in one step, and the temporary file is complete before it is renamed.
//! The two fsyncs make the new file survive a power loss once the write returns.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::StoreError;

/// Names of temporary files and folders start with this. Flow ids and run ids cannot start
/// with `.`, so a temporary name never looks like a record.
const TEMP_PREFIX: &str = ".tmp-";

/// A string no other call in any running process returns: the process id and a counter.
pub(crate) fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// Whether `name` is that of a temporary file or folder (invisible to readers).
pub(crate) fn is_temporary(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with(TEMP_PREFIX)
}

/// A fresh temporary name in `dir` for a file that will become `name`.
pub(crate) fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}{}-{name}", unique()))
}

/// Writes `bytes` to a new temporary file in `dir` and fsyncs it; returns its path.
///
/// The caller renames it into place with [`publish`] and then calls [`sync_dir`].
pub(crate) fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let temp = temp_path(dir, name);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_data()
        });
    match written {
        Ok(()) => Ok(temp),
        Err(err) => {
            remove_quietly(&temp);
            Err(err)
        }
    }
}

/// Renames the temporary file `temp` to `target`, removing it when that fails.
pub(crate) fn publish(temp: &Path, target: &Path) -> io::Result<()> {
    fs::rename(temp, target).inspect_err(|_| remove_quietly(temp))
}

/// Fsyncs the folder `dir`, which makes renames and new entries in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Atomically and durably replaces `dir/name` with `bytes`.
pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let target = dir.join(name);
    let temp =
        write_temp(dir, name, bytes).map_err(|e| StoreError::io("write", target.clone(), e))?;
    publish(&temp, &target).map_err(|e| StoreError::io("rename into place", target, e))?;
    sync_dir(dir).map_err(|e| StoreError::io("fsync the folder", dir, e))
}

/// A temporary file or folder older than this was left by a writer that died: no write takes
/// that long.
const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// Removes the temporary files and folders in `dir` that a crashed writer left behind (those
/// older than [`STALE_AFTER`]). Failures are only logged: leftovers are invisible to readers.
pub(crate) fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| {
                now.duration_since(modified)
                    .is_ok_and(|age| age > STALE_AFTER)
            });
        if stale {
            let path = entry.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Ok(()) => tracing::debug!(path = %path.display(), "removed a stale temporary"),
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "cannot remove a stale temporary");
                }
            }
        }
    }
}

/// Removes a temporary file after a failed write; a failure is only logged, since the file is
/// invisible to readers anyway.
pub(crate) fn remove_quietly(path: &Path) {
    if let Err(err) = fs::remove_file(path) {
        if err.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), %err, "cannot remove a temporary file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), "a.json", b"one").unwrap();
        write_file(dir.path(), "a.json", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("a.json")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.json"]);
    }

    #[test]
    fn only_stale_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(".tmp-1-1-a.json");
        let fresh = dir.path().join(".tmp-1-2-a.json");
        let record = dir.path().join("a.json");
        for path in [&old, &fresh, &record] {
            fs::write(path, "x").unwrap();
        }
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        let old_record = File::options().write(true).open(&record).unwrap();
        old_record.set_modified(an_hour_ago).unwrap();
        remove_stale_temporaries(dir.path());
        assert!(!old.exists());
        assert!(fresh.exists());
        assert!(record.exists());
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = write_file(&missing, "a.json", b"x").unwrap_err();
        assert!(err.to_string().contains("nope/a.json"), "{err}");
    }
}
