//! The errors of flow-results: [`StoreError`] for every store operation, and [`InvalidRunId`]
//! for a string that is not a run id.

use std::io;
use std::path::PathBuf;

use flow_graph::FlowId;

use crate::RunId;

/// A string that is not a [`RunId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid run id `{id}`: {problem} (a run id is a UTC time like 20261126T153012.123Z, a \
     dash, and 1 to 32 characters of a-z 0-9)"
)]
pub struct InvalidRunId {
    /// The rejected id (cut to 200 characters).
    pub id: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// What went wrong in a result store. Every variant names the store location, the file or the
/// run it is about, so the message alone tells a user where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `open_store` got a spec whose scheme it does not know.
    #[error(
        "unknown result store `{spec}`: the scheme `{scheme}` is not one of `memory`, \
         `dir:PATH`, `sqlite:PATH`"
    )]
    UnknownScheme {
        /// The whole spec as given.
        spec: String,
        /// The part before the first `:` (the whole spec when it has no `:`).
        scheme: String,
    },

    /// A spec with a known scheme but no usable path, e.g. `dir:`.
    #[error("invalid result store `{spec}`: {problem}")]
    InvalidSpec {
        /// The whole spec as given.
        spec: String,
        /// What is wrong with it.
        problem: &'static str,
    },

    /// The folder that should hold the store does not exist (stores create their own file or
    /// folder, but not the folders above it).
    #[error("cannot open result store `{path}`: the folder `{parent}` does not exist")]
    MissingLocation {
        /// The store's path.
        path: PathBuf,
        /// The missing folder above it.
        parent: PathBuf,
    },

    /// The store's location cannot be written: read-only file system or no permission.
    #[error(
        "cannot write to result store `{path}`: it is read-only or this user may not write it"
    )]
    ReadOnly {
        /// The file or folder that refused the write.
        path: PathBuf,
        /// The error of the operating system or SQLite.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The disk or file system holding the store is full.
    #[error(
        "no space left for result store `{path}`: the disk or file system is full (free space, \
         or use another store)"
    )]
    Full {
        /// The file or folder that could not grow.
        path: PathBuf,
        /// The error of the operating system or SQLite.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Another process held the store's lock for longer than a write waits.
    #[error(
        "result store `{path}` is locked by another process (waited {waited_s} s for it): retry \
         when that process is done"
    )]
    Busy {
        /// The database file.
        path: PathBuf,
        /// How long the write waited, in seconds.
        waited_s: u64,
    },

    /// The store's file (SQLite) or folder (a directory store) was deleted, or replaced by
    /// another at its path, while the store had it open: what was written since did not reach
    /// the store at that path (SQLite writes on into a deleted file, which is gone once it is
    /// closed). Stores check this once per commit; the store refuses every write from then on.
    #[error(
        "result store `{path}` was {change} while it was open, so results saved since are not \
         in it: open the store again (in a `flow run`: run the workflow again) and save them \
         again; keep the store's folder out of clean-ups (`rm -rf`, `git clean`) while it is in use"
    )]
    Replaced {
        /// The store's file or folder.
        path: PathBuf,
        /// What happened to it: `deleted`, or `replaced by another file or folder at its path`.
        change: &'static str,
    },

    /// A file-system operation failed.
    #[error("failed to {action} `{path}`")]
    Io {
        /// What the store was doing, e.g. "write the result file".
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The error of the operating system.
        #[source]
        source: io::Error,
    },

    /// A record on disk cannot be read back: truncated, not JSON, or not the record it should
    /// be. Other records stay readable; delete or restore this file to repair the store.
    #[error("result store file `{path}` is corrupt: {problem}")]
    Corrupt {
        /// The corrupt file (for SQLite: the database file).
        path: PathBuf,
        /// What is wrong, e.g. "EOF while parsing an object at line 1 column 80".
        problem: String,
    },

    /// The path exists but is not a store of this kind: not a SQLite database, a SQLite
    /// database of another program, or a non-empty folder that is not a result directory.
    #[error("`{path}` is not a flow result store: {problem}")]
    NotAStore {
        /// The file or folder.
        path: PathBuf,
        /// Why not.
        problem: String,
    },

    /// The store was written by a newer version of flow, with a format this version cannot
    /// read.
    #[error(
        "result store `{path}` has format version {found}, newer than version {supported} that \
         this flow understands: upgrade flow, or use another store"
    )]
    SchemaTooNew {
        /// The store's file or folder.
        path: PathBuf,
        /// The version found in the store.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },

    /// A result was saved for a run that was never begun with `begin_run`.
    #[error(
        "cannot save the result of flow `{flow}`: run `{run}` is not in the result store `{store}` \
         (call begin_run first)"
    )]
    UnknownRun {
        /// The run the result belongs to.
        run: RunId,
        /// The flow of the result.
        flow: FlowId,
        /// The store's location.
        store: String,
    },

    /// `begin_run` was given the id of a run the store already holds. A run id names one run:
    /// beginning it again would mix a second run's results with the first one's, so the store
    /// refuses it and changes nothing.
    #[error(
        "cannot begin run `{run}`: the result store `{store}` already holds a run with this id \
         (every run needs an id of its own, a resumed run too; delete the old run to use its \
         id again)"
    )]
    RunExists {
        /// The run that was begun again.
        run: RunId,
        /// The store's location.
        store: String,
    },

    /// A result's output nests arrays and objects more than
    /// [`MAX_OUTPUT_DEPTH`](crate::MAX_OUTPUT_DEPTH) deep: a store could not read it back, so
    /// none saves it.
    #[error(
        "cannot save the result of flow `{flow}` in run `{run}` in the result store `{store}`: \
         its output is nested more than {limit} levels deep (arrays and objects inside one \
         another), deeper than the store could read back; flatten the output, or return it as \
         a JSON string"
    )]
    TooDeep {
        /// The run the result belongs to.
        run: RunId,
        /// The flow of the result.
        flow: FlowId,
        /// The store's location.
        store: String,
        /// How deep an output may nest.
        limit: usize,
    },

    /// A run in the memory store already holds as many results as it can index.
    #[error(
        "cannot save the result of flow `{flow}`: run `{run}` already holds {limit} results, the          most the memory store keeps for one run (use a `dir:` or `sqlite:` store)"
    )]
    RunFull {
        /// The run.
        run: RunId,
        /// The flow of the result that did not fit.
        flow: FlowId,
        /// How many results a run can hold.
        limit: usize,
    },

    /// A SQLite operation failed for a reason other than those above.
    #[error("SQLite failed to {action} in `{path}`")]
    Sqlite {
        /// What the store was doing, e.g. "save the result of flow `x`".
        action: String,
        /// The database file.
        path: PathBuf,
        /// The error of SQLite.
        #[source]
        source: rusqlite::Error,
    },

    /// A record could not be encoded as JSON.
    #[error("cannot encode {record} as JSON")]
    Encode {
        /// Which record, e.g. "the result of flow `x` in run `y`".
        record: String,
        /// The error of the encoder.
        #[source]
        source: serde_json::Error,
    },

    /// The store panicked (a bug in it): its caller caught the panic and goes on.
    #[error("the result store `{store}` panicked while trying to {action}: {message}")]
    Panicked {
        /// The store's spec.
        store: String,
        /// What it was asked to do, e.g. "save results".
        action: &'static str,
        /// The panic's message.
        message: String,
    },
}

impl StoreError {
    /// Wraps the I/O error of a read.
    pub(crate) fn read_io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Self {
        StoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Wraps the I/O error of a write, turning "permission denied" and "read-only file system"
    /// into [`StoreError::ReadOnly`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        // ENOSPC and EDQUOT: the device or the user's quota is full.
        const NO_SPACE: [i32; 2] = [28, 122];
        let path = path.into();
        if source
            .raw_os_error()
            .is_some_and(|code| NO_SPACE.contains(&code))
        {
            StoreError::Full {
                path,
                source: Box::new(source),
            }
        } else if is_read_only(&source) {
            StoreError::ReadOnly {
                path,
                source: Box::new(source),
            }
        } else {
            StoreError::Io {
                action,
                path,
                source,
            }
        }
    }
}

/// Whether `error` says the location may not be written.
fn is_read_only(error: &io::Error) -> bool {
    // EROFS has its own kind only in newer Rust; compare the raw code as well.
    const EROFS: i32 = 30;
    error.kind() == io::ErrorKind::PermissionDenied || error.raw_os_error() == Some(EROFS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_can_cross_threads_and_be_boxed() {
        fn assert_send_sync_static<T: Send + Sync + 'static>() {}
        assert_send_sync_static::<StoreError>();
        assert_send_sync_static::<InvalidRunId>();
    }

    #[test]
    fn a_full_device_is_named_as_such() {
        let err = StoreError::io("write", "/x/y.json", io::Error::from_raw_os_error(28));
        assert!(err
            .to_string()
            .starts_with("no space left for result store `/x/y.json`"));
    }

    #[test]
    fn a_denied_write_is_a_read_only_error_but_a_denied_read_is_not() {
        let denied = || io::Error::from(io::ErrorKind::PermissionDenied);
        let err = StoreError::io("write", "/x/y.json", denied());
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot write to result store `/x/y.json`: it is read-only or this user may not \
             write it"
        );
        let err = StoreError::read_io("read", "/x/y.json", denied());
        assert_eq!(err.to_string(), "failed to read `/x/y.json`");
    }
}
