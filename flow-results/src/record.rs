//! The records a store keeps: `FlowResult`, the outcome of one flow in one run, and
//! `RunRecord`, one run of a workflow.

use chrono::{DateTime, TimeDelta, Utc};
use flow_graph::FlowId;
use serde_json::Value;

use crate::{Failure, Fingerprint, FlowStatus, RunId, StatusCounts, Tail};

/// The outcome of one flow in one run. A store keeps one per `(run_id, flow_id)`; saving again
/// replaces it (a flow goes pending → running → completed).
///
/// ```
/// use flow_graph::FlowId;
/// use flow_results::{FlowResult, FlowStatus, RunId};
///
/// let mut result = FlowResult::new(RunId::new_now(), FlowId::new("fetch")?, FlowStatus::Completed);
/// result.output = serde_json::json!({"rows": 42});
/// result.stdout_tail.push_str("fetched 42 rows\n");
/// assert_eq!(result.duration(), None); // no timestamps yet
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlowResult {
    /// The run this result belongs to.
    pub run_id: RunId,
    /// The flow.
    pub flow_id: FlowId,
    /// Where the flow is.
    pub status: FlowStatus,
    /// What the flow returned (`null` when nothing, or not yet).
    #[serde(default)]
    pub output: Value,
    /// Why it failed or was cancelled; `None` when it did not.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// The exit code of the flow's process, for commands and worker processes that exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// How many times the flow was started (1 + retries); 0 while it never started.
    #[serde(default)]
    pub attempts: u32,
    /// When its first attempt started, so that a retried flow's time spans every attempt
    /// and the pauses between them; `None` while the flow never started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When the flow finished; `None` while it is pending or running.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// A digest of the flow's inputs and definition: a resumed run skips a flow whose
    /// completed result has the same fingerprint.
    #[serde(default)]
    pub fingerprint: Option<Fingerprint>,
    /// The Slurm job id, for a flow run as a batch job.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The end of the flow's standard output.
    #[serde(default)]
    pub stdout_tail: Tail,
    /// The end of the flow's standard error.
    #[serde(default)]
    pub stderr_tail: Tail,
}

impl FlowResult {
    /// A result of `flow_id` in `run_id` in `status`, with everything else empty.
    pub fn new(run_id: RunId, flow_id: FlowId, status: FlowStatus) -> Self {
        FlowResult {
            run_id,
            flow_id,
            status,
            output: Value::Null,
            failure: None,
            exit_code: None,
            attempts: 0,
            started_at: None,
            finished_at: None,
            fingerprint: None,
            job_id: None,
            stdout_tail: Tail::default(),
            stderr_tail: Tail::default(),
        }
    }

    /// How long the flow ran, retries included: `finished_at - started_at`, when both are
    /// known.
    pub fn duration(&self) -> Option<TimeDelta> {
        Some(self.finished_at? - self.started_at?)
    }
}

/// One run of a workflow: when it started and ended, and how many of its flows ended in each
/// state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub run_id: RunId,
    /// The name of the workflow that ran.
    pub workflow: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the run ended; `None` while it runs (or when it was interrupted).
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// How many flows are in each state, as of the last `finish_run` (or `begin_run`).
    #[serde(default)]
    pub counts: StatusCounts,
}

impl RunRecord {
    /// A run of `workflow` starting now, with a new [`RunId`].
    pub fn start(workflow: impl Into<String>) -> Self {
        let now = Utc::now();
        RunRecord {
            run_id: RunId::new_at(now),
            workflow: workflow.into(),
            started_at: now,
            finished_at: None,
            counts: StatusCounts::default(),
        }
    }

    /// A run of `workflow` with a given id, started at the time the id carries.
    pub fn with_id(run_id: RunId, workflow: impl Into<String>) -> Self {
        RunRecord {
            started_at: run_id.started_at(),
            run_id,
            workflow: workflow.into(),
            finished_at: None,
            counts: StatusCounts::default(),
        }
    }

    /// How long the run took, when it has finished.
    pub fn duration(&self) -> Option<TimeDelta> {
        Some(self.finished_at? - self.started_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FailureKind;

    #[test]
    fn a_full_result_round_trips_through_json() {
        let run = RunRecord::start("nightly");
        let mut result = FlowResult::new(
            run.run_id.clone(),
            FlowId::new("build").unwrap(),
            FlowStatus::Failed,
        );
        result.output = serde_json::json!({"a": [1, 2.5, "x"], "b": null});
        result.failure = Some(Failure::new(FailureKind::Timeout, "ran over 10s"));
        result.exit_code = Some(-1);
        result.attempts = 3;
        result.started_at = Some(run.started_at);
        result.finished_at = Some(run.started_at + TimeDelta::milliseconds(1500));
        result.fingerprint = Some("sha256:abc".into());
        result.job_id = Some("12345".into());
        result.stdout_tail = Tail::new("out");
        result.stderr_tail = Tail::new("err");
        let json = serde_json::to_string(&result).unwrap();
        assert_eq!(serde_json::from_str::<FlowResult>(&json).unwrap(), result);
        assert_eq!(result.duration(), Some(TimeDelta::milliseconds(1500)));
    }

    #[test]
    fn a_run_started_with_an_id_takes_its_time() {
        let id = RunId::parse("20261126T153012.123Z-3f9a").unwrap();
        let run = RunRecord::with_id(id.clone(), "w");
        assert_eq!(run.started_at, id.started_at());
        assert_eq!(run.duration(), None);
    }
}
