//! How a stored run and its flows are shown: the one rule that `flow results` (table and
//! `--json`), `flow runs`, `flow logs` and `flow report` share to tell a run in progress from
//! one whose `flow run` died, and a flow still running from one that never will end.

use flow_results::{FailureKind, FlowResult, FlowStatus, RunRecord, StoreSpec};
use serde::Serialize;

use crate::liveness::{self, Evidence};

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
    /// The state of `run`, kept in the store `spec`: in progress when its workflow's lock file
    /// names it and is held ([`crate::liveness`]), not by a run taking over from it
    /// ([`crate::run_lock::Holder::taker`]). Nothing is locked to look.
    pub fn of(spec: &StoreSpec, run: &RunRecord) -> Self {
        if run.finished_at.is_some() {
            return RunState::Ended;
        }
        let lock_file = crate::run_lock::path(spec, &run.workflow);
        let holds = lock_file.is_some_and(|path| {
            crate::run_lock::named(&path).is_some_and(|holder| {
                // While a run takes over from it, the lock is the taker's, not this run's.
                holder.run == run.run_id.as_str()
                    && holder.taker.is_none()
                    && Evidence {
                        lock: liveness::lock_state(&path),
                        pids: vec![holder.pid],
                        started: Some(run.started_at),
                        processes: Vec::new(),
                    }
                    .alive()
            })
        });
        if holds {
            RunState::InProgress
        } else {
            RunState::Interrupted
        }
    }
}

/// A flow's state as `flow` shows it: its stored [`FlowStatus`], or `not_run` (it failed only
/// because a flow it requires failed), or `interrupted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// Waiting for its dependencies or for a free slot.
    #[default]
    Pending,
    /// Started and not yet finished, in a run in progress (or one that recorded its end
    /// without this flow's: its last write was refused).
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with a failure of its own.
    Failed,
    /// Never started: a flow it requires, directly or through others, failed (the store
    /// keeps it as failed, with an upstream failure naming that flow).
    NotRun,
    /// Stopped, or never started, because the run was cancelled.
    Cancelled,
    /// Still running when its `flow run` died: it will never end.
    Interrupted,
}

impl FlowState {
    /// Every state, in the order of a run's life.
    pub const ALL: [FlowState; 7] = [
        FlowState::Pending,
        FlowState::Running,
        FlowState::Completed,
        FlowState::Failed,
        FlowState::NotRun,
        FlowState::Cancelled,
        FlowState::Interrupted,
    ];

    /// How a flow stored as `result` in a run in state `run` is shown: as stored, except that
    /// a flow that failed because a flow it requires failed was not run, and a flow left
    /// running by an interrupted run is interrupted.
    pub fn of(result: &FlowResult, run: RunState) -> Self {
        let upstream = matches!(
            result.failure.as_ref().map(|f| &f.kind),
            Some(FailureKind::Upstream { .. })
        );
        match result.status {
            FlowStatus::Failed if upstream => FlowState::NotRun,
            FlowStatus::Running if run == RunState::Interrupted => FlowState::Interrupted,
            FlowStatus::Pending => FlowState::Pending,
            FlowStatus::Running => FlowState::Running,
            FlowStatus::Completed => FlowState::Completed,
            FlowStatus::Failed => FlowState::Failed,
            FlowStatus::Cancelled => FlowState::Cancelled,
        }
    }

    /// The lowercase name, as `--json` spells it (and the report's style classes).
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Pending => "pending",
            FlowState::Running => "running",
            FlowState::Completed => "completed",
            FlowState::Failed => "failed",
            FlowState::NotRun => "not_run",
            FlowState::Cancelled => "cancelled",
            FlowState::Interrupted => "interrupted",
        }
    }

    /// The name in words, as tables and pages show it: [`Self::as_str`] with a space for
    /// the underscore (`not run`).
    pub fn label(self) -> &'static str {
        match self {
            FlowState::NotRun => "not run",
            state => state.as_str(),
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

    use flow_graph::FlowId;
    use flow_results::{Failure, RunId};

    fn result(status: FlowStatus, kind: Option<FailureKind>) -> FlowResult {
        let run = RunId::parse("20261126T153012.123Z-3f9a").unwrap();
        let mut result = FlowResult::new(run, FlowId::new("f").unwrap(), status);
        result.failure = kind.map(|kind| Failure::new(kind, "it failed"));
        result
    }

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
            let shown_as = FlowState::of(&result(status, None), run);
            assert_eq!(shown_as, shown, "{status} in {run:?}");
        }
    }

    #[test]
    fn a_flow_failed_only_because_a_flow_it_requires_failed_was_not_run() {
        let upstream = || {
            Some(FailureKind::Upstream {
                flow: FlowId::new("root").unwrap(),
            })
        };
        let of = |status, kind| FlowState::of(&result(status, kind), RunState::Ended);
        assert_eq!(of(FlowStatus::Failed, upstream()), FlowState::NotRun);
        assert_eq!(
            of(FlowStatus::Failed, Some(FailureKind::Error)),
            FlowState::Failed
        );
        // Cancelled with the run, its required parent cancelled: cancelled, as stored.
        assert_eq!(of(FlowStatus::Cancelled, upstream()), FlowState::Cancelled);
        assert_eq!(FlowState::NotRun.as_str(), "not_run");
        assert_eq!(FlowState::NotRun.label(), "not run");
    }

    #[test]
    fn json_and_text_spell_a_state_alike() {
        for state in FlowState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
        }
    }
}
