//! `MemoryStore`: a result store in memory, for tests and for runs that keep nothing.
//!
//! Built to hold the 100 000 results of a large run in little memory and time: each run keeps
//! its results as compact records (see `compact`) in a vector indexed by a hash table of flow
//! ids (see `table`); saving appends, and the index catches up when someone reads; a batch
//! takes the lock once. Reading takes the write lock, since it may catch the index up.

mod compact;
mod table;

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use flow_graph::FlowId;

use self::table::{RunResults, MAX_RESULTS};
use crate::nesting::check_depth;
use crate::{FlowResult, ResultStore, RunId, RunRecord, StoreError};

/// The most results a run's counts at `begin_run` make room for in advance.
const MAX_CAPACITY_HINT: usize = 1 << 20;

/// A result store in memory: fast, shared between threads, gone when dropped.
///
/// A result takes about 90 bytes (more when it has an output, a failure or output tails);
/// reading results back rebuilds each [`FlowResult`], equal to the one saved.
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
    results: RunResults,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    // A panic while holding the lock cannot leave a map half-updated (a batch is checked
    // before anything is written, and each result is one push or one replacement), so a
    // poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<RunId, StoredRun>> {
        self.runs.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<RunId, StoredRun>> {
        self.runs.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StoredRun {
    /// A run without results.
    fn new(run: &RunRecord) -> Self {
        StoredRun {
            record: run.clone(),
            // A scheduler that begins a run with its flows counted as pending gets room for
            // all of their results at once (within reason: the count is only a hint).
            results: RunResults::with_capacity(
                usize::try_from(run.counts.total()).map_or(0, |n| n.min(MAX_CAPACITY_HINT)),
            ),
        }
    }
}

/// Checks that every result of `batch` (results of one run) can be saved in `runs`, in which a
/// run holds at most `limit` results, and nests no deeper than the other stores read back,
/// without changing anything.
fn check(
    runs: &BTreeMap<RunId, StoredRun>,
    batch: &[FlowResult],
    limit: usize,
) -> Result<(), StoreError> {
    let first = &batch[0];
    let Some(stored) = runs.get(&first.run_id) else {
        return Err(StoreError::UnknownRun {
            run: first.run_id.clone(),
            flow: first.flow_id.clone(),
            store: "memory".to_owned(),
        });
    };
    // Counted as if every result were new: a batch is refused whole or saved whole.
    if stored.results.len().saturating_add(batch.len()) > limit {
        return Err(StoreError::RunFull {
            run: first.run_id.clone(),
            flow: first.flow_id.clone(),
            limit,
        });
    }
    // What the other stores could not read back, this one refuses too.
    check_depth(batch, || "memory".to_owned())
}

impl ResultStore for MemoryStore {
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        match self.write().entry(run.run_id.clone()) {
            Entry::Occupied(_) => Err(StoreError::RunExists {
                run: run.run_id.clone(),
                store: self.spec(),
            }),
            Entry::Vacant(entry) => {
                entry.insert(StoredRun::new(run));
                Ok(())
            }
        }
    }

    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.write()
            .entry(run.run_id.clone())
            .and_modify(|stored| stored.record = run.clone())
            .or_insert_with(|| StoredRun::new(run));
        Ok(())
    }

    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError> {
        self.save_results(std::slice::from_ref(result))
    }

    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError> {
        self.save_results_owned(results.to_vec())
    }

    fn save_results_owned(&self, results: Vec<FlowResult>) -> Result<(), StoreError> {
        // A scheduler's batch is one run: split it where the run changes, so each run is
        // looked up once per stretch rather than once per result.
        let same_run = |a: &FlowResult, b: &FlowResult| a.run_id == b.run_id;
        let mut runs = self.write();
        for batch in results.chunk_by(same_run) {
            check(&runs, batch, MAX_RESULTS)?;
        }
        // Each run is looked up once per stretch of its results, and each result is moved
        // once, into its compact record.
        let mut stored: Option<&mut StoredRun> = None;
        let total = results.len();
        for (k, result) in results.into_iter().enumerate() {
            if stored
                .as_ref()
                .is_none_or(|s| s.record.run_id != result.run_id)
            {
                stored = runs.get_mut(&result.run_id);
                if let Some(s) = &mut stored {
                    s.results.reserve(total - k);
                }
            }
            // Always there: `check` found every run.
            if let Some(s) = &mut stored {
                s.results.save(result);
            }
        }
        Ok(())
    }

    fn result(&self, run: &RunId, flow: &FlowId) -> Result<Option<FlowResult>, StoreError> {
        Ok(self.write().get_mut(run).and_then(|stored| {
            stored.results.catch_up();
            stored.results.get(run, flow)
        }))
    }

    fn results(&self, run: &RunId) -> Result<Vec<FlowResult>, StoreError> {
        Ok(self
            .write()
            .get_mut(run)
            .map(|stored| {
                stored.results.catch_up();
                stored.results.all(run)
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlowStatus;

    fn result(run: &RunRecord, flow: &str) -> FlowResult {
        FlowResult::new(
            run.run_id.clone(),
            FlowId::new(flow).unwrap(),
            FlowStatus::Completed,
        )
    }

    #[test]
    fn a_batch_may_mix_runs() {
        let store = MemoryStore::new();
        let (a, b) = (RunRecord::start("a"), RunRecord::start("b"));
        store.begin_run(&a).unwrap();
        store.begin_run(&b).unwrap();
        let mut again = result(&a, "x");
        again.attempts = 2;
        let batch = [
            result(&a, "x"),
            result(&b, "x"),
            result(&b, "y"),
            result(&a, "y"),
            again,
        ];
        store.save_results(&batch).unwrap();
        let a_results = store.results(&a.run_id).unwrap();
        assert_eq!(a_results, [batch[4].clone(), batch[3].clone()]);
        let b_results = store.results(&b.run_id).unwrap();
        assert_eq!(b_results, [batch[1].clone(), batch[2].clone()]);
    }

    #[test]
    fn a_run_begun_with_counts_takes_any_number_of_results() {
        let store = MemoryStore::new();
        let mut run = RunRecord::start("w");
        run.counts.pending = 3;
        store.begin_run(&run).unwrap();
        let batch: Vec<_> = (0..10).map(|i| result(&run, &format!("f{i}"))).collect();
        store.save_results(&batch).unwrap();
        assert_eq!(store.results(&run.run_id).unwrap(), batch);
        // A huge count is only a hint: it does not allocate room for all of it.
        let mut huge = RunRecord::start("huge");
        huge.counts.pending = u32::MAX;
        huge.counts.failed = u32::MAX;
        store.begin_run(&huge).unwrap();
        store.save_result(&result(&huge, "f")).unwrap();
        assert_eq!(store.results(&huge.run_id).unwrap().len(), 1);
    }

    #[test]
    fn a_full_run_refuses_the_whole_batch() {
        let store = MemoryStore::new();
        let run = RunRecord::start("w");
        store.begin_run(&run).unwrap();
        store.save_result(&result(&run, "a")).unwrap();
        let runs = store.read();
        let batch = [result(&run, "b"), result(&run, "c")];
        check(&runs, &batch, 3).unwrap();
        let err = check(&runs, &batch, 2).unwrap_err();
        assert!(
            matches!(err, StoreError::RunFull { limit: 2, .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("flow `b`"), "{message}");
        assert!(message.contains(run.run_id.as_str()), "{message}");
    }
}
