//! `RunSummary`: what one run of the DAG did — counts per status, wall time, the run id.

use std::time::Duration;

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{FlowStatus, RunId, StatusCounts};

/// What [`FlowContext::run`](crate::FlowContext::run) returns when the run is over.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The run's id, under which the store keeps its results.
    pub run_id: RunId,
    /// The workflow name of the context.
    pub workflow: String,
    /// How many flows ended in each status (`pending` and `running` are 0 after a run).
    pub counts: StatusCounts,
    /// How many of the completed flows were reused from the resumed run.
    pub reused: u32,
    /// How many flows were not run because they were up to date
    /// ([`RunOptions::skip_up_to_date`](crate::RunOptions::skip_up_to_date)).
    pub up_to_date: u32,
    /// The runs that produced the outputs of the flows that were up to date, oldest first.
    pub produced_by: Vec<RunId>,
    /// When the run started: before it read what it resumes and checked which flows are up
    /// to date.
    pub started_at: DateTime<Utc>,
    /// When the run ended.
    pub finished_at: DateTime<Utc>,
    /// The wall time of the run.
    pub wall_time: Duration,
    /// Whether the run was cancelled ([`FlowContext::cancel_all`](crate::FlowContext::cancel_all)).
    pub cancelled: bool,
    /// Errors of the result store while saving results, as messages. At most 20 are kept. A
    /// refused save stops the run (it is cancelled: what it did next would be lost too).
    pub store_errors: Vec<String>,
    /// Every flow whose result the store could not save (their statuses are in `counts`, but
    /// the store does not have them). Empty when every result was saved.
    pub unsaved: Vec<FlowId>,
}

impl RunSummary {
    /// Whether every flow completed and the store kept every result: a run whose results
    /// the store refused ([`store_errors`](Self::store_errors), [`unsaved`](Self::unsaved))
    /// is no success, even when its flows all completed.
    pub fn is_success(&self) -> bool {
        self.counts.total() == u64::from(self.counts.completed)
            && self.store_errors.is_empty()
            && self.unsaved.is_empty()
    }

    /// The number of flows in `status`.
    pub fn count(&self, status: FlowStatus) -> u32 {
        self.counts.count(status)
    }
}
