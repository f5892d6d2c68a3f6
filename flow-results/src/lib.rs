//! Result records of flow runs and the stores that keep them: in memory, as a directory of
//! JSON files, or in a SQLite file.
//!
//! A [`RunRecord`] describes one run of a workflow; a [`FlowResult`] the outcome of one flow in
//! it (status, output, [`Failure`], exit code, attempts, timestamps, fingerprint for resume,
//! and bounded [`Tail`]s of stdout and stderr). A [`ResultStore`] keeps both and survives the
//! crash of the process that writes it: [`MemoryStore`], [`DirStore`] and [`SqliteStore`],
//! opened by name with [`open_store`].
//!
//! ```
//! use flow_graph::FlowId;
//! use flow_results::{open_store, FlowResult, FlowStatus, RunRecord, StatusCounts};
//!
//! let dir = tempfile::tempdir()?;
//! let store = open_store(&format!("sqlite:{}", dir.path().join("flow.db").display()))?;
//!
//! let mut run = RunRecord::start("nightly");
//! store.begin_run(&run)?;
//! let mut result = FlowResult::new(run.run_id.clone(), FlowId::new("fetch")?, FlowStatus::Completed);
//! result.output = serde_json::json!({"rows": 42});
//! store.save_result(&result)?;
//!
//! run.counts = StatusCounts::of(store.results(&run.run_id)?.iter().map(|r| r.status));
//! run.finished_at = Some(chrono::Utc::now());
//! store.finish_run(&run)?;
//!
//! assert_eq!(store.latest_run("nightly")?, Some(run));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why the store is synchronous
//! [`ResultStore`] has plain blocking methods, not `async` ones. Every real backend blocks:
//! SQLite's API is synchronous and the directory store's durability rests on `fsync`, which
//! blocks too; an `async` trait would only wrap the same blocking calls, hide where they block,
//! and need boxed futures to stay object-safe (`Box<dyn ResultStore>`). A synchronous trait
//! keeps the stores simple, testable without a runtime, and usable by the CLI directly. The
//! async scheduler calls it off its worker threads (`tokio::task::spawn_blocking`, or one writer
//! thread fed by a channel, which also batches results into
//! [`save_results`](ResultStore::save_results)), so a slow disk never stalls other flows.
//!
//! # Crash safety
//! Every write is atomic: after the writing process is killed at any moment, the store opens,
//! every write that returned `Ok` is there, and no record is half-written. [`DirStore`] writes
//! each file to a temporary name, fsyncs it, renames it into place and fsyncs the folder;
//! [`SqliteStore`] commits through SQLite's WAL. The crash test kills a writer with SIGKILL at
//! random moments and checks exactly this.
#![deny(missing_docs)]

mod dir;
mod error;
mod failure;
mod fingerprint;
mod memory;
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
pub use open::{open_store, StoreSpec};
pub use record::{FlowResult, RunRecord};
pub use run_id::RunId;
pub use sqlite::SqliteStore;
pub use status::{FlowStatus, StatusCounts, UnknownStatus};
pub use store::ResultStore;
pub use tail::{Tail, MAX_TAIL_BYTES};

/// The newest format version of a [`DirStore`] this code reads and writes.
pub const DIR_FORMAT_VERSION: i64 = dir::FORMAT;
/// The newest schema version (`PRAGMA user_version`) of a [`SqliteStore`] this code reads and
/// writes.
pub const SQLITE_SCHEMA_VERSION: i64 = sqlite::SCHEMA_VERSION;
