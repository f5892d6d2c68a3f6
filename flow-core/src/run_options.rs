//! `RunOptions`: the options of one run (resume from an earlier run, a chosen run id).

use flow_results::RunId;

/// Options of one run; see [`FlowContext::run_with`](crate::FlowContext::run_with).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub(crate) resume_from: Option<RunId>,
    pub(crate) run_id: Option<RunId>,
}

impl RunOptions {
    /// Default options: a fresh run id, no resume.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reuse every flow whose result in `run` is completed with the same fingerprint (its
    /// definition and its parents' fingerprints); run the others.
    pub fn resume_from(mut self, run: RunId) -> Self {
        self.resume_from = Some(run);
        self
    }

    /// Use this run id instead of a new one.
    pub fn run_id(mut self, run: RunId) -> Self {
        self.run_id = Some(run);
        self
    }
}
