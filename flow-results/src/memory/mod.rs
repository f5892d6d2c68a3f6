//! `MemoryStore`: a result store in memory, for tests and for runs that keep nothing.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use flow_graph::FlowId;

use crate::{FlowResult, ResultStore, RunId, RunRecord, StoreError};

/// A result store in memory: fast, shared between threads, gone when dropped.
///
/// ```
/// use flow_graph::FlowId;
/// use flow_results::{FlowResult, FlowStatus, MemoryStore, ResultStore, RunRecord};
///
/// let store = MemoryStore::new();
/// let run = RunRecord::start("nightly");
/// store.begin_run(&run)?;
/// let result = FlowResult::new(run.run_id.clone(), FlowId::new("fetch")?, FlowStatus::Completed);
/// store.save_result(&result)?;
/// assert_eq!(store.results(&run.run_id)?, [result]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    runs: RwLock<BTreeMap<RunId, StoredRun>>,
}

/// A run and its results.
#[derive(Debug)]
struct StoredRun {
    record: RunRecord,
    results: BTreeMap<FlowId, FlowResult>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    // A panic while holding the lock cannot leave a map half-updated (every update is one
    // insert or remove), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<RunId, StoredRun>> {
        self.runs.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<RunId, StoredRun>> {
        self.runs.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn upsert_run(&self, run: &RunRecord) {
        self.write()
            .entry(run.run_id.clone())
            .and_modify(|stored| stored.record = run.clone())
            .or_insert_with(|| StoredRun {
                record: run.clone(),
                results: BTreeMap::new(),
            });
    }

    fn unknown_run(result: &FlowResult) -> StoreError {
        StoreError::UnknownRun {
            run: result.run_id.clone(),
            flow: result.flow_id.clone(),
            store: "memory".to_owned(),
        }
    }
}

impl ResultStore for MemoryStore {
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.upsert_run(run);
        Ok(())
    }

    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.upsert_run(run);
        Ok(())
    }

    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError> {
        let mut runs = self.write();
        let stored = runs
            .get_mut(&result.run_id)
            .ok_or_else(|| Self::unknown_run(result))?;
        stored
            .results
            .insert(result.flow_id.clone(), result.clone());
        Ok(())
    }

    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError> {
        let mut runs = self.write();
        if let Some(orphan) = results.iter().find(|r| !runs.contains_key(&r.run_id)) {
            return Err(Self::unknown_run(orphan));
        }
        for result in results {
            if let Some(stored) = runs.get_mut(&result.run_id) {
                stored
                    .results
                    .insert(result.flow_id.clone(), result.clone());
            }
        }
        Ok(())
    }

    fn result(&self, run: &RunId, flow: &FlowId) -> Result<Option<FlowResult>, StoreError> {
        Ok(self
            .read()
            .get(run)
            .and_then(|stored| stored.results.get(flow).cloned()))
    }

    fn results(&self, run: &RunId) -> Result<Vec<FlowResult>, StoreError> {
        Ok(self
            .read()
            .get(run)
            .map(|stored| stored.results.values().cloned().collect())
            .unwrap_or_default())
    }

    fn run(&self, run: &RunId) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.read().get(run).map(|stored| stored.record.clone()))
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        Ok(self
            .read()
            .values()
            .map(|stored| stored.record.clone())
            .collect())
    }

    fn latest_run(&self, workflow: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self
            .read()
            .values()
            .rev()
            .find(|stored| stored.record.workflow == workflow)
            .map(|stored| stored.record.clone()))
    }

    fn delete_run(&self, run: &RunId) -> Result<bool, StoreError> {
        Ok(self.write().remove(run).is_some())
    }

    fn spec(&self) -> String {
        "memory".to_owned()
    }

    fn persistent(&self) -> bool {
        false
    }
}
