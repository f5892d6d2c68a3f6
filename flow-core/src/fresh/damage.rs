//! A damaged ledger file. The ledger is a cache of what flows last read and wrote, which a
//! run rebuilds by running them again, so a file SQLite finds damaged (not a database, or
//! malformed) is set aside (`NAME.damaged-TIME`, with its `-wal` and `-shm` files) rather
//! than blocking every run. Only those two errors set a file aside: one that is locked,
//! unreadable or cannot be opened is left where it is, and its error says why.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use crate::CoreError;

/// A ledger file that SQLite found damaged ([`Ledger::damaged`](super::Ledger::damaged)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Damaged {
    /// What SQLite said of it.
    pub problem: String,
    /// Where it was moved, by [`Ledger::open`](super::Ledger::open) or when a run first read
    /// it; `None` for a ledger opened to read only, which moves nothing (it reads as empty).
    pub moved_to: Option<PathBuf>,
}

/// The files SQLite keeps beside a database in WAL mode (or with a rollback journal).
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Whether `error` says the file is damaged: not a database, or a malformed one.
pub(super) fn is_damaged(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

/// Moves the damaged file at `path` to `NAME.damaged-TIME` beside it (a free name), and its
/// `-wal`, `-shm` and `-journal` files with it (a new file must not replay the old one's
/// log). Returns where the file went.
pub(super) fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut aside = path.with_file_name(format!("{name}.damaged-{stamp}"));
    for n in 2.. {
        if std::fs::symlink_metadata(&aside).is_err() {
            break;
        }
        aside = path.with_file_name(format!("{name}.damaged-{stamp}-{n}"));
    }
    std::fs::rename(path, &aside)?;
    for suffix in COMPANIONS {
        let from = with_suffix(path, suffix);
        if std::fs::symlink_metadata(&from).is_ok() {
            std::fs::rename(&from, with_suffix(&aside, suffix))?;
        }
    }
    Ok(aside)
}

/// `path` with `suffix` added to its file name (`-wal`, `-shm`).
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The ledger error of SQLite's `error` on the file at `path` (shown as `shown`), saying
/// what to do: a damaged file can be deleted, at the cost of running its flows again; a
/// file SQLite cannot open gets the operating system's reason (a full table of open files,
/// a permission), which SQLite's own message leaves out.
pub(super) fn sqlite_error(shown: &str, path: &Path, error: &rusqlite::Error) -> CoreError {
    let message = if is_damaged(error) {
        format!(
            "{error}: the file is damaged; it holds only what flows last read and wrote, so \
             that a run can skip those that are up to date: delete it (with any -wal and -shm \
             file beside it) and the next run runs its flows again"
        )
    } else if matches!(
        error.sqlite_error_code(),
        // A folder in the file's place opens to read, and then fails as an I/O error.
        Some(ErrorCode::CannotOpen | ErrorCode::SystemIoFailure)
    ) {
        match why_not_opened(path) {
            Some(os) => format!("{error}: {os}"),
            None => error.to_string(),
        }
    } else {
        error.to_string()
    };
    CoreError::Ledger {
        path: shown.to_owned(),
        message,
    }
}

/// Why the operating system will not open the file at `path` (or, where it does not exist,
/// its folder) to read, or, failing that, to read and write (a folder in its place), if it
/// will not.
fn why_not_opened(path: &Path) -> Option<std::io::Error> {
    if std::fs::symlink_metadata(path).is_err() {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty())?;
        return std::fs::File::open(folder).err();
    }
    let read = std::fs::File::open(path).err();
    read.or_else(|| {
        let both = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path);
        both.err()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_file_goes_aside_with_its_log_and_a_second_one_gets_another_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.db");
        std::fs::write(&path, "not sqlite").unwrap();
        std::fs::write(dir.path().join("fresh.db-wal"), "log").unwrap();
        let first = set_aside(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "not sqlite");
        assert_eq!(
            std::fs::read_to_string(with_suffix(&first, "-wal")).unwrap(),
            "log"
        );
        assert!(!dir.path().join("fresh.db-wal").exists());
        std::fs::write(&path, "again").unwrap();
        let second = set_aside(&path).unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read_to_string(&second).unwrap(), "again");
    }
}
