//! The `ResultStore` trait that every backend implements.

use flow_graph::FlowId;

use crate::{FlowResult, FlowStatus, RunId, RunRecord, StoreError};

/// A place that keeps runs and the results of their flows.
///
/// The trait is synchronous and object-safe: hold a `Box<dyn ResultStore>` or an
/// `Arc<dyn ResultStore>`, share it between threads, and from async code call it through
/// `tokio::task::spawn_blocking` or a writer thread (the crate docs say why).
///
/// Every method is atomic: a reader sees a result either as it was or as it was saved, never
/// half-written, even when the writing process is killed. A method that returns `Ok` has
/// committed its write (see each store for what survives a power loss).
///
/// Results are kept per `(run, flow)`: saving a second result for the same pair replaces the
/// first. A result may only be saved for a run that [`begin_run`](ResultStore::begin_run) has
/// recorded.
pub trait ResultStore: Send + Sync + std::fmt::Debug {
    /// Records a run that starts. A run id names one run: an id the store already holds is
    /// refused, so two runs never share results (a resumed run has an id of its own and reads
    /// the results of the run it resumes). Of two writers that begin the same new id at once,
    /// one succeeds.
    ///
    /// # Errors
    /// [`StoreError::RunExists`] when the store already holds a run with this id (the store is
    /// left as it was); another [`StoreError`] when the store cannot be written.
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Records the final state of a run (its `finished_at` and counts): replaces the run's
    /// record, or creates it when it is missing.
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be written.
    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Saves `result`, replacing the result of the same run and flow. A store never writes a
    /// result it could not read back: an output that nests arrays and objects more than
    /// [`MAX_OUTPUT_DEPTH`](crate::MAX_OUTPUT_DEPTH) deep is refused by every store.
    ///
    /// # Errors
    /// [`StoreError::UnknownRun`] when the run was not begun; [`StoreError::TooDeep`] when the
    /// output nests too deep (nothing is written); another [`StoreError`] when the store
    /// cannot be written.
    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError>;

    /// Saves many results at once, faster than one at a time. The SQLite and memory stores save
    /// all or none; the directory store saves each file atomically but, after a crash in the
    /// middle, may hold only some of them.
    ///
    /// # Errors
    /// As [`save_result`](ResultStore::save_result). A batch with a result whose run was not
    /// begun, or whose output nests too deep, is refused whole in every store: each checks
    /// the whole batch before it writes any of it, so no result of it is saved.
    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError>;

    /// [`save_results`](ResultStore::save_results) for a caller that no longer needs the
    /// results: a store that keeps them in memory takes them without a copy. The default
    /// saves a borrow of them.
    ///
    /// # Errors
    /// As [`save_results`](ResultStore::save_results).
    fn save_results_owned(&self, results: Vec<FlowResult>) -> Result<(), StoreError> {
        self.save_results(&results)
    }

    /// The result of `flow` in `run`, if saved.
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be read or the record is corrupt.
    fn result(&self, run: &RunId, flow: &FlowId) -> Result<Option<FlowResult>, StoreError>;

    /// All results of `run`, ordered by flow id; empty when the run is unknown.
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be read or one of the records is corrupt (the
    /// error names it; [`result`](ResultStore::result) still reads the others).
    fn results(&self, run: &RunId) -> Result<Vec<FlowResult>, StoreError>;

    /// How many results of `run` completed with no attempt (`attempts` 0): the flows whose
    /// result the run reused (from the run it resumed, or up to date) instead of running them.
    /// 0 when the run is unknown. The SQLite store counts them without reading the results
    /// back; the default reads them with [`results`](ResultStore::results).
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be read (or, by default, as
    /// [`results`](ResultStore::results)).
    fn count_reused(&self, run: &RunId) -> Result<u32, StoreError> {
        let results = self.results(run)?;
        let reused = results
            .iter()
            .filter(|r| r.status == FlowStatus::Completed && r.attempts == 0)
            .count();
        Ok(u32::try_from(reused).unwrap_or(u32::MAX))
    }

    /// The record of `run`, if recorded.
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be read or the record is corrupt.
    fn run(&self, run: &RunId) -> Result<Option<RunRecord>, StoreError>;

    /// All runs, oldest first (ordered by [`RunId`], which orders by start time).
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be read or a run record is corrupt.
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError>;

    /// The newest run of `workflow` (the greatest [`RunId`]), if any.
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be read or a run record is corrupt.
    fn latest_run(&self, workflow: &str) -> Result<Option<RunRecord>, StoreError>;

    /// Deletes `run` and all its results; `false` when there was no such run.
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be written.
    fn delete_run(&self, run: &RunId) -> Result<bool, StoreError>;

    /// How many bytes of the store's file hold nothing (the space of deleted runs), and how
    /// many it has in all: what [`compact`](ResultStore::compact) would give back. The
    /// default is `(0, 0)`, for stores whose deletes free the space themselves.
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be read.
    fn unused_bytes(&self) -> Result<(u64, u64), StoreError> {
        Ok((0, 0))
    }

    /// Gives the unused space of the store's file back to the file system. The SQLite store
    /// rewrites its file (`VACUUM`, which waits for the writes of other connections and
    /// makes theirs wait while it runs) and empties its write-ahead log; the default does
    /// nothing.
    ///
    /// # Errors
    /// A [`StoreError`] when the store cannot be rewritten (a full disk, a busy store); what
    /// it holds is unchanged then.
    fn compact(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The spec that opens this store again with
    /// [`open_store`](crate::open_store): `memory`, `dir:PATH` or `sqlite:PATH`.
    fn spec(&self) -> String;

    /// Whether saved results outlive this process (default `true`). A caller that orders its
    /// effects after a save, so that a crash never loses a result whose effects happened,
    /// need not wait for a store that keeps nothing anyway.
    fn persistent(&self) -> bool {
        true
    }
}
