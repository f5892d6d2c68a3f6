//! The words of a flow that a cancel ended, in one place: a flow cancelled alone
//! (`FlowContext::cancel`) and one cancelled with its run (`cancel_all`, the run's token, a
//! store that refused results) are the same situation and read the same.

use flow_results::{Failure, FailureKind};

/// It had not started: how the driver words [`Ending::NotStarted`](super::Ending::NotStarted).
pub(crate) const BEFORE_START: &str = "cancelled before it started";

/// It was waiting between two attempts.
pub(super) fn waiting_to_retry() -> Failure {
    Failure::new(FailureKind::Cancelled, "cancelled while waiting to retry")
}

/// Its attempt, stopped by the cancel, ended with `failure`: kept when it says how the attempt
/// was cancelled (a command, a task: their executors know), else a cancel that names how it
/// ended (a flow that watches its cancellation and returns an error, a killed command).
pub(super) fn stopped(failure: Failure) -> Failure {
    if failure.kind == FailureKind::Cancelled {
        return failure;
    }
    Failure::new(
        FailureKind::Cancelled,
        format!("cancelled while it ran; it ended: {}", failure.message),
    )
}
