//! Result records of flow runs and their stores: memory, a directory of JSON files, SQLite.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod dir;
mod error;
mod failure;
mod file_id;
mod fingerprint;
mod memory;
mod nesting;
mod open;
mod record;
mod run_id;
mod sqlite;
mod status;
mod store;
mod tail;

pub use dir::DirStore;
pub use error::{InvalidRunId, StoreError};
pub use failure::{Failure, FailureKind};
pub use fingerprint::Fingerprint;
pub use memory::MemoryStore;
pub use nesting::{output_too_deep, MAX_OUTPUT_DEPTH};
pub use open::{open_store, StoreSpec};
pub use record::{FlowResult, RunRecord};
pub use run_id::RunId;
pub use sqlite::{immutable_uri, SqliteStore};
pub use status::{FlowStatus, StatusCounts, UnknownStatus};
pub use store::ResultStore;
pub use tail::{Tail, MAX_TAIL_BYTES};

/// The newest format version of a [`DirStore`] this code reads and writes.
pub const DIR_FORMAT_VERSION: i64 = dir::FORMAT;
/// The newest schema version (`PRAGMA user_version`) of a [`SqliteStore`] this code reads and
/// writes.
pub const SQLITE_SCHEMA_VERSION: i64 = sqlite::SCHEMA_VERSION;
