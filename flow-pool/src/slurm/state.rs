//! Slurm job states as an enum: parsing `squeue`'s `%T`, which states are still live, and
//! what each end state means for the user.

use std::fmt;

/// The state of a Slurm job, as `squeue -o %T` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for resources or priority (`PENDING`).
    Pending,
    /// Nodes are being prepared (`CONFIGURING`).
    Configuring,
    /// Running (`RUNNING`).
    Running,
    /// Ended, but processes are still being cleaned up on a node (`COMPLETING`).
    Completing,
    /// Suspended or stopped by an administrator (`SUSPENDED`, `STOPPED`).
    Suspended,
    /// Being requeued, resized, signalled or staged out: still live (`REQUEUED`,
    /// `REQUEUE_HOLD`, `REQUEUE_FED`, `RESIZING`, `SIGNALING`, `STAGE_OUT`, `RESV_DEL_HOLD`).
    Transient,
    /// The batch script exited with code 0 (`COMPLETED`).
    Completed,
    /// The batch script exited with a non-zero code or could not start (`FAILED`).
    Failed,
    /// Cancelled with `scancel` or by an administrator (`CANCELLED`).
    Cancelled,
    /// Killed by Slurm at its time limit (`TIMEOUT`).
    Timeout,
    /// Killed for using more memory than it asked for (`OUT_OF_MEMORY`).
    OutOfMemory,
    /// Its node failed (`NODE_FAIL`).
    NodeFail,
    /// Preempted by another job and not requeued (`PREEMPTED`).
    Preempted,
    /// Its node failed to boot (`BOOT_FAIL`).
    BootFail,
    /// It could not end before its `--deadline` (`DEADLINE`).
    Deadline,
    /// Revoked by a federation sibling (`REVOKED`).
    Revoked,
    /// Ended by a requeue-on-exit-code rule (`SPECIAL_EXIT`).
    SpecialExit,
    /// A state this version does not know, as printed (treated as live).
    Other(String),
}

impl JobState {
    /// Parses a state as `squeue -o %T` or `scontrol show job` (`JobState=`) print it.
    pub fn parse(text: &str) -> JobState {
        match text.trim() {
            "PENDING" | "PD" => JobState::Pending,
            "CONFIGURING" | "CF" => JobState::Configuring,
            "RUNNING" | "R" => JobState::Running,
            "COMPLETING" | "CG" => JobState::Completing,
            "SUSPENDED" | "S" | "STOPPED" | "ST" => JobState::Suspended,
            "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESIZING" | "SIGNALING"
            | "STAGE_OUT" | "RESV_DEL_HOLD" => JobState::Transient,
            "COMPLETED" | "CD" => JobState::Completed,
            "FAILED" | "F" => JobState::Failed,
            "CANCELLED" | "CA" => JobState::Cancelled,
            "TIMEOUT" | "TO" => JobState::Timeout,
            "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
            "NODE_FAIL" | "NF" => JobState::NodeFail,
            "PREEMPTED" | "PR" => JobState::Preempted,
            "BOOT_FAIL" | "BF" => JobState::BootFail,
            "DEADLINE" | "DL" => JobState::Deadline,
            "REVOKED" | "RV" => JobState::Revoked,
            "SPECIAL_EXIT" | "SE" => JobState::SpecialExit,
            other => JobState::Other(other.to_owned()),
        }
    }

    /// Slurm's name of the state, e.g. `OUT_OF_MEMORY`.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Pending => "PENDING",
            JobState::Configuring => "CONFIGURING",
            JobState::Running => "RUNNING",
            JobState::Completing => "COMPLETING",
            JobState::Suspended => "SUSPENDED",
            JobState::Transient => "REQUEUED",
            JobState::Completed => "COMPLETED",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Timeout => "TIMEOUT",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::NodeFail => "NODE_FAIL",
            JobState::Preempted => "PREEMPTED",
            JobState::BootFail => "BOOT_FAIL",
            JobState::Deadline => "DEADLINE",
            JobState::Revoked => "REVOKED",
            JobState::SpecialExit => "SPECIAL_EXIT",
            JobState::Other(name) => name,
        }
    }

    /// Whether the job has ended and nothing of it runs any more. `COMPLETING` is not an
    /// end: processes of the job may still be alive on its node.
    pub fn is_ended(&self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::Failed
                | JobState::Cancelled
                | JobState::Timeout
                | JobState::OutOfMemory
                | JobState::NodeFail
                | JobState::Preempted
                | JobState::BootFail
                | JobState::Deadline
                | JobState::Revoked
                | JobState::SpecialExit
        )
    }

    /// For an end state in which the command did not run to its own end, what happened, in
    /// words a user understands (completes "Slurm job 12 of flow `x` ..."). `None` for
    /// `COMPLETED` and `FAILED`, whose status file tells how the command ended, for
    /// `TIMEOUT` (a timeout of the flow's, or Slurm's own limit: `ending.rs` tells which) and for
    /// live states.
    pub fn problem(&self, nodes: &str) -> Option<String> {
        let on = if nodes.is_empty() || nodes == "(null)" {
            String::new()
        } else {
            format!(" on {nodes}")
        };
        let text = match self {
            JobState::OutOfMemory => format!(
                "ran out of memory{on} and was killed (Slurm state OUT_OF_MEMORY): ask for more \
                 with the flow's `slurm = {{ mem = ... }}`"
            ),
            JobState::NodeFail => format!(
                "was lost because its node failed{on} (Slurm state NODE_FAIL); the command may \
                 not have finished: run the flow again"
            ),
            JobState::Preempted => format!(
                "was preempted{on} by a job of higher priority and not requeued (Slurm state \
                 PREEMPTED): use a partition or QOS without preemption, or retries"
            ),
            JobState::BootFail => {
                format!("never started because its node failed to boot{on} (Slurm state BOOT_FAIL)")
            }
            JobState::Deadline => "could not end before its deadline and was removed (Slurm \
                                   state DEADLINE)"
                .to_owned(),
            JobState::Cancelled => "was cancelled outside flow, by `scancel` or an \
                                    administrator (Slurm state CANCELLED)"
                .to_owned(),
            JobState::Revoked => "was revoked by another cluster of the federation (Slurm \
                                  state REVOKED)"
                .to_owned(),
            JobState::SpecialExit => {
                "ended in Slurm state SPECIAL_EXIT (held after a requeue rule)".to_owned()
            }
            _ => return None,
        };
        Some(text)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::JobState;

    #[test]
    fn every_end_state_is_parsed_and_ended() {
        for name in [
            "COMPLETED",
            "FAILED",
            "CANCELLED",
            "TIMEOUT",
            "OUT_OF_MEMORY",
            "NODE_FAIL",
            "PREEMPTED",
            "BOOT_FAIL",
            "DEADLINE",
        ] {
            let state = JobState::parse(name);
            assert!(state.is_ended(), "{name} should be an end state");
            assert_eq!(state.as_str(), name);
        }
    }

    #[test]
    fn live_states_are_not_ended() {
        for name in [
            "PENDING",
            "CONFIGURING",
            "RUNNING",
            "COMPLETING",
            "SUSPENDED",
            "REQUEUED",
        ] {
            assert!(!JobState::parse(name).is_ended(), "{name} is live");
        }
        assert_eq!(
            JobState::parse("NEW_STATE"),
            JobState::Other("NEW_STATE".into())
        );
        assert!(!JobState::parse("NEW_STATE").is_ended());
    }

    #[test]
    fn problems_name_the_cause_and_the_state() {
        let oom = JobState::OutOfMemory.problem("node7").unwrap();
        assert!(oom.contains("ran out of memory on node7"), "{oom}");
        assert!(oom.contains("mem"), "{oom}");
        let lost = JobState::NodeFail.problem("(null)").unwrap();
        assert!(
            lost.contains("node failed") && lost.contains("NODE_FAIL"),
            "{lost}"
        );
        for state in [
            JobState::Preempted,
            JobState::BootFail,
            JobState::Deadline,
            JobState::Cancelled,
        ] {
            let text = state.problem("").unwrap();
            assert!(text.contains(state.as_str()), "{text}");
        }
        assert_eq!(JobState::Completed.problem(""), None);
        assert_eq!(JobState::Failed.problem(""), None);
        assert_eq!(JobState::Timeout.problem(""), None);
    }
}
