//! How a stored run and its flows are shown: the one rule that `flow results` (table and
//! `--json`), `flow runs`, `flow logs` and `flow report` share to tell a run in progress from
//! one whose `flow run` died, and a flow still running from one that never will end.

use flow_results::{FlowStatus, RunRecord, StoreSpec};
use serde::Serialize;

/// Whether a stored run has ended, as a reader of its store can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// It recorded its end.
    Ended,
    /// It has no end yet and a live `flow run` holds its workflow's lock for it.
    InProgress,
    /// It has no end and no live `flow run` holds the lock for it: its process died
    /// (SIGKILL, a crash) and the run will never end.
    Interrupted,
}

impl RunState {
    /// The state of `run`, kept in the store `spec`.
    pub fn of(spec: &StoreSpec, run: &RunRecord) -> Self {
        if run.finished_at.is_some() {
            RunState::Ended
        } else if crate::run_lock::holder(spec, &run.workflow)
            .is_some_and(|h| h.run == run.run_id.as_str())
        {
            RunState::InProgress
        } else {
            RunState::Interrupted
        }
    }
}

/// A flow's state as `flow` shows it: its stored [`FlowStatus`], or `interrupted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// Waiting for its dependencies or for a free slot.
    Pending,
    /// Started and not yet finished, in a run in progress (or one that recorded its end
    /// without this flow's: its last write was refused).
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with a failure.
    Failed,
    /// Stopped, or never started, because the run was cancelled.
    Cancelled,
    /// Still running when its `flow run` died: it will never end.
    Interrupted,
}

impl FlowState {
    /// Every state, in the order of a run's life.
    pub const ALL: [FlowState; 6] = [
        FlowState::Pending,
        FlowState::Running,
        FlowState::Completed,
        FlowState::Failed,
        FlowState::Cancelled,
        FlowState::Interrupted,
    ];

    /// How a flow stored as `status` in a run in state `run` is shown: as stored, except that
    /// a flow left running by an interrupted run is interrupted.
    pub fn of(status: FlowStatus, run: RunState) -> Self {
        match status {
            FlowStatus::Running if run == RunState::Interrupted => FlowState::Interrupted,
            FlowStatus::Pending => FlowState::Pending,
            FlowStatus::Running => FlowState::Running,
            FlowStatus::Completed => FlowState::Completed,
            FlowStatus::Failed => FlowState::Failed,
            FlowStatus::Cancelled => FlowState::Cancelled,
        }
    }

    /// The lowercase name, as `--json` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Pending => "pending",
            FlowState::Running => "running",
            FlowState::Completed => "completed",
            FlowState::Failed => "failed",
            FlowState::Cancelled => "cancelled",
            FlowState::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for FlowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_flow_left_running_by_an_interrupted_run_is_interrupted() {
        use FlowStatus::*;
        use RunState::*;
        for (status, run, shown) in [
            (Running, Interrupted, FlowState::Interrupted),
            (Running, InProgress, FlowState::Running),
            (Running, Ended, FlowState::Running),
            (Completed, Interrupted, FlowState::Completed),
            (Failed, Interrupted, FlowState::Failed),
            (Pending, Interrupted, FlowState::Pending),
            (Cancelled, Ended, FlowState::Cancelled),
        ] {
            assert_eq!(FlowState::of(status, run), shown, "{status} in {run:?}");
        }
    }

    #[test]
    fn json_and_text_spell_a_state_alike() {
        for state in FlowState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
        }
    }
}
