//! `FlowStatus`, the state of one flow in a run, and `StatusCounts`, how many flows of a run
//! are in each state.

use std::fmt;
use std::str::FromStr;

/// The state of one flow in a run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    /// Waiting for its dependencies or for a free slot.
    Pending,
    /// Started and not yet finished.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with a failure (error, timeout, crash or failed dependency).
    Failed,
    /// Stopped, or never started, because the run was cancelled.
    Cancelled,
}

impl FlowStatus {
    /// Every status, in the order of a run's life.
    pub const ALL: [FlowStatus; 5] = [
        FlowStatus::Pending,
        FlowStatus::Running,
        FlowStatus::Completed,
        FlowStatus::Failed,
        FlowStatus::Cancelled,
    ];

    /// The lowercase name, as stored: `pending`, `running`, `completed`, `failed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Pending => "pending",
            FlowStatus::Running => "running",
            FlowStatus::Completed => "completed",
            FlowStatus::Failed => "failed",
            FlowStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the flow is done for this run (completed, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            FlowStatus::Completed | FlowStatus::Failed | FlowStatus::Cancelled
        )
    }
}

impl fmt::Display for FlowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FlowStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FlowStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus {
                name: s.chars().take(100).collect(),
            })
    }
}

/// A string that names no [`FlowStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flow status `{name}` (expected pending, running, completed, failed or cancelled)")]
pub struct UnknownStatus {
    /// The string (cut to 100 characters).
    pub name: String,
}

/// How many flows of a run are in each [`FlowStatus`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct StatusCounts {
    /// Flows waiting to start.
    pub pending: u32,
    /// Flows running.
    pub running: u32,
    /// Flows that completed.
    pub completed: u32,
    /// Flows that failed.
    pub failed: u32,
    /// Flows that were cancelled.
    pub cancelled: u32,
}

impl StatusCounts {
    /// Counts the statuses of `statuses`.
    ///
    /// ```
    /// use flow_results::{FlowStatus::*, StatusCounts};
    /// let counts = StatusCounts::of([Completed, Completed, Failed]);
    /// assert_eq!((counts.completed, counts.failed, counts.total()), (2, 1, 3));
    /// ```
    pub fn of(statuses: impl IntoIterator<Item = FlowStatus>) -> Self {
        let mut counts = StatusCounts::default();
        for status in statuses {
            counts.add(status);
        }
        counts
    }

    /// Adds one flow in `status` (saturating at `u32::MAX`).
    pub fn add(&mut self, status: FlowStatus) {
        let count = self.count_mut(status);
        *count = count.saturating_add(1);
    }

    /// The number of flows in `status`.
    pub fn count(&self, status: FlowStatus) -> u32 {
        match status {
            FlowStatus::Pending => self.pending,
            FlowStatus::Running => self.running,
            FlowStatus::Completed => self.completed,
            FlowStatus::Failed => self.failed,
            FlowStatus::Cancelled => self.cancelled,
        }
    }

    fn count_mut(&mut self, status: FlowStatus) -> &mut u32 {
        match status {
            FlowStatus::Pending => &mut self.pending,
            FlowStatus::Running => &mut self.running,
            FlowStatus::Completed => &mut self.completed,
            FlowStatus::Failed => &mut self.failed,
            FlowStatus::Cancelled => &mut self.cancelled,
        }
    }

    /// The number of flows counted, in all statuses.
    pub fn total(&self) -> u64 {
        FlowStatus::ALL
            .into_iter()
            .map(|status| u64::from(self.count(status)))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for status in FlowStatus::ALL {
            assert_eq!(status.as_str().parse::<FlowStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
        }
        let err = "done".parse::<FlowStatus>().unwrap_err();
        assert!(err.to_string().contains("`done`"), "{err}");
    }

    #[test]
    fn counts_add_up() {
        let counts = StatusCounts::of(FlowStatus::ALL.into_iter().chain([FlowStatus::Failed]));
        assert_eq!(counts.failed, 2);
        assert_eq!(counts.total(), 6);
        for status in FlowStatus::ALL {
            assert!(counts.count(status) >= 1);
        }
    }
}
