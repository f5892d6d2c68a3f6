//! `RunOptions`: the options of one run (resume from an earlier run, a chosen run id, skip
//! what is up to date, a token that cancels it).

use std::future::Future;

use flow_results::RunId;
use tokio_util::sync::CancellationToken;

/// Options of one run; see [`FlowContext::run_with`](crate::FlowContext::run_with).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub(crate) resume_from: Option<RunId>,
    pub(crate) run_id: Option<RunId>,
    pub(crate) freshness: Option<crate::Freshness>,
    pub(crate) cancel: Option<CancellationToken>,
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
    /// `run` must be a run of the context's workflow ([`ContextBuilder::workflow`](
    /// crate::ContextBuilder::workflow)): a run of another workflow is refused
    /// ([`CoreError::OtherWorkflow`](crate::CoreError::OtherWorkflow)), as its flows are other
    /// flows even where their ids are the same.
    ///
    /// Resuming a run whose process was killed (SIGKILL, a crash): the commands it was running
    /// may still run, since a command outlives a killed process (flow-pool's
    /// [`ParentDeath`](flow_pool::ParentDeath); worker processes do not), and the resumed run
    /// starts a new attempt of their flows beside them. Stop them first: each carries the
    /// killed run's id in its `FLOW_RUN_ID` variable (`flow run` does so, and kills them with
    /// a watchdog process when it is killed itself).
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

    /// Cancel the run, as [`FlowContext::cancel_all`](crate::FlowContext::cancel_all) does,
    /// once `token` is cancelled. Unlike `cancel_all`, which reaches only a run in progress,
    /// the token also reaches a run that is still getting ready (reading the run it resumes
    /// from, checking what is up to date: it stops waiting for those) and one whose token
    /// was cancelled before it was called: no flow of it starts, and it is recorded with
    /// every flow cancelled.
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Whether the run's token ([`cancel_on`](Self::cancel_on)) is cancelled.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// What `work` gives, or `None` if the run's token is cancelled first (`work` is dropped
    /// then, and with it the wait for its blocking threads).
    pub(crate) async fn unless_cancelled<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        match &self.cancel {
            Some(token) => tokio::select! {
                biased;
                () = token.cancelled() => None,
                done = work => Some(done),
            },
            None => Some(work.await),
        }
    }

    /// Use this run id instead of a new one. It must be new to the store: a store that holds
    /// a run of this id refuses to begin the run again, and the run then fails with
    /// [`CoreError::Store`](crate::CoreError::Store) and writes nothing.
    pub fn run_id(mut self, run: RunId) -> Self {
        self.run_id = Some(run);
        self
    }
}
