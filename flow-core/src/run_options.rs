//! `RunOptions`: the options of one run (resume from an earlier run, a chosen run id).

use flow_results::RunId;

/// Options of one run; see [`FlowContext::run_with`](crate::FlowContext::run_with).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub(crate) resume_from: Option<RunId>,
    pub(crate) run_id: Option<RunId>,
    pub(crate) freshness: Option<crate::Freshness>,
}

impl RunOptions {
    /// Default options: a fresh run id, no resume.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reuse every flow whose result in `run` is completed with the same fingerprint (its
    /// definition and its parents' fingerprints); run the others. With
    /// [`skip_up_to_date`](Self::skip_up_to_date) too, a flow that declares outputs
    /// ([`FlowBuilder::data`](crate::FlowBuilder::data)) or is forced is not reused from `run`:
    /// the up-to-date rule alone decides whether it runs (its files may have changed since).
    pub fn resume_from(mut self, run: RunId) -> Self {
        self.resume_from = Some(run);
        self
    }

    /// Skip every flow that is up to date (see [`crate::Freshness`]): a flow that declares
    /// outputs ([`FlowBuilder::data`](crate::FlowBuilder::data)) and whose last completed
    /// run had the same definition, the same input digests, outputs still as it wrote them
    /// and parents in the same state. Its earlier result stands; the ones that run record
    /// their digests in the freshness ledger.
    pub fn skip_up_to_date(mut self, freshness: crate::Freshness) -> Self {
        self.freshness = Some(freshness);
        self
    }

    /// Use this run id instead of a new one. It must be new to the store: a store that holds
    /// a run of this id refuses to begin the run again, and the run then fails with
    /// [`CoreError::Store`](crate::CoreError::Store) and writes nothing.
    pub fn run_id(mut self, run: RunId) -> Self {
        self.run_id = Some(run);
        self
    }
}
