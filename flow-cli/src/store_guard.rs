//! `GuardedStore`: the store of a `flow run`, watched. The first write the store refuses
//! (a full disk, a damaged file, a trigger) is kept and announced, so that the run is
//! stopped at once instead of running on with results that are not being recorded, and
//! the run can end with a message naming the store and the cause. A store whose file or
//! folder was deleted or replaced under the run (the store's own check, at each commit) is
//! remembered apart: the run's results went with it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use flow_graph::FlowId;
use flow_results::{FlowResult, ResultStore, RunId, RunRecord, StoreError};
use rustc_hash::FxHashMap;
use tokio::sync::Notify;

/// A store that keeps the first error of a write and wakes [`GuardedStore::failed`].
#[derive(Debug)]
pub struct GuardedStore {
    inner: Arc<dyn ResultStore>,
    state: Mutex<State>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// The first refused write, with its causes.
    first: Option<String>,
    /// How many writes were refused.
    count: usize,
    /// Whether a result of a flow that started was written (or tried).
    started: bool,
    /// The last record of each flow that the store refused: what the run knew of it.
    refused: FxHashMap<FlowId, FlowResult>,
    /// The store's file or folder, when a write was refused because it was deleted or
    /// replaced while the run wrote into it.
    replaced: Option<PathBuf>,
}

impl GuardedStore {
    /// Watches `inner`.
    pub fn new(inner: Arc<dyn ResultStore>) -> Self {
        GuardedStore {
            inner,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
        }
    }

    /// Returns once a write was refused, with its message.
    pub async fn failed(&self) -> String {
        loop {
            let notified = self.notify.notified();
            if let Some(first) = self.first_error() {
                return first;
            }
            notified.await;
        }
    }

    /// The first refused write, if any.
    pub fn first_error(&self) -> Option<String> {
        self.lock().first.clone()
    }

    /// How many writes were refused.
    pub fn error_count(&self) -> usize {
        self.lock().count
    }

    /// The store's file or folder, if a write was refused because it was deleted or replaced
    /// during the run ([`StoreError::Replaced`]): what the run wrote went with it.
    pub fn replaced(&self) -> Option<PathBuf> {
        self.lock().replaced.clone()
    }

    /// Whether some flow of the run started: a result with a start time was written, or
    /// refused.
    pub fn any_started(&self) -> bool {
        self.lock().started
    }

    /// The last record of `flow` that the store refused, if any: how the run saw it end
    /// (attempts, times, the reason of a failure), which the store does not hold.
    pub fn refused(&self, flow: &FlowId) -> Option<FlowResult> {
        self.lock().refused.get(flow).cloned()
    }

    /// Keeps `results`, which the store refused.
    fn keep_refused(&self, results: impl IntoIterator<Item = FlowResult>) {
        let mut state = self.lock();
        for result in results {
            state.refused.insert(result.flow_id.clone(), result);
        }
    }

    /// Notes whether `results` hold a flow that started.
    fn note_started(&self, results: &[FlowResult]) {
        if results.iter().any(|r| r.started_at.is_some()) {
            self.lock().started = true;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Passes `outcome` on, keeping its error.
    fn watch<T>(&self, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &outcome {
            let mut state = self.lock();
            state.count += 1;
            if let StoreError::Replaced { path, .. } = error {
                state.replaced.get_or_insert_with(|| path.clone());
            }
            if state.first.is_none() {
                state.first = Some(crate::terminal::chain(error));
                drop(state);
                self.notify.notify_waiters();
            }
        }
        outcome
    }
}

impl ResultStore for GuardedStore {
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.watch(self.inner.begin_run(run))
    }

    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.watch(self.inner.finish_run(run))
    }

    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError> {
        self.note_started(std::slice::from_ref(result));
        let outcome = self.inner.save_result(result);
        if outcome.is_err() {
            self.keep_refused([result.clone()]);
        }
        self.watch(outcome)
    }

    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError> {
        self.note_started(results);
        let outcome = self.inner.save_results(results);
        if outcome.is_err() {
            self.keep_refused(results.iter().cloned());
        }
        self.watch(outcome)
    }

    /// Lends the results to the store, so that it keeps those it refuses.
    fn save_results_owned(&self, results: Vec<FlowResult>) -> Result<(), StoreError> {
        self.note_started(&results);
        let outcome = self.inner.save_results(&results);
        if outcome.is_err() {
            self.keep_refused(results);
        }
        self.watch(outcome)
    }

    fn result(&self, run: &RunId, flow: &FlowId) -> Result<Option<FlowResult>, StoreError> {
        self.inner.result(run, flow)
    }

    fn results(&self, run: &RunId) -> Result<Vec<FlowResult>, StoreError> {
        self.inner.results(run)
    }

    fn count_reused(&self, run: &RunId) -> Result<u32, StoreError> {
        self.inner.count_reused(run)
    }

    fn run(&self, run: &RunId) -> Result<Option<RunRecord>, StoreError> {
        self.inner.run(run)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.runs()
    }

    fn latest_run(&self, workflow: &str) -> Result<Option<RunRecord>, StoreError> {
        self.inner.latest_run(workflow)
    }

    fn delete_run(&self, run: &RunId) -> Result<bool, StoreError> {
        self.watch(self.inner.delete_run(run))
    }

    fn spec(&self) -> String {
        self.inner.spec()
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow_results::MemoryStore;

    #[tokio::test]
    async fn the_first_refused_write_is_kept_and_announced() {
        let store = Arc::new(GuardedStore::new(Arc::new(MemoryStore::new())));
        assert_eq!(store.first_error(), None);
        let waiter = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.failed().await }
        });
        let run = RunRecord::start("w");
        let orphan = FlowResult::new(
            run.run_id.clone(),
            FlowId::new("a").unwrap(),
            flow_results::FlowStatus::Completed,
        );
        // A result of a run never begun is refused.
        assert!(store.save_result(&orphan).is_err());
        assert!(store.save_result(&orphan).is_err());
        let first = waiter.await.unwrap();
        assert!(first.contains("flow `a`"), "{first}");
        assert_eq!(store.error_count(), 2);
        // The refused record is kept, as the run saw the flow end.
        assert_eq!(store.refused(&orphan.flow_id), Some(orphan.clone()));
        assert!(store.save_results_owned(vec![orphan.clone()]).is_err());
        assert_eq!(store.error_count(), 3);
        assert_eq!(store.refused(&FlowId::new("b").unwrap()), None);
        assert_eq!(store.replaced(), None);
    }

    #[test]
    fn a_store_deleted_under_it_is_kept_apart_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flow.db");
        let sqlite = flow_results::SqliteStore::open(&path).unwrap();
        let store = GuardedStore::new(Arc::new(sqlite));
        let run = RunRecord::start("w");
        store.begin_run(&run).unwrap();
        assert_eq!(store.replaced(), None);
        std::fs::remove_file(&path).unwrap();
        assert!(store.finish_run(&run).is_err());
        assert_eq!(store.replaced(), Some(path));
        assert!(store.first_error().unwrap().contains("was deleted"));
    }
}
