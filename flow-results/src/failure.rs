//! `Failure`: why a flow did not complete, as a kind a program can match on and a message a
//! user can read.

use flow_graph::FlowId;

/// Why a flow failed or was cancelled.
///
/// Serialized flat: `{"kind": "crashed", "signal": 9, "message": "..."}`.
///
/// ```
/// use flow_results::{Failure, FailureKind};
/// let failure = Failure::new(FailureKind::Crashed { signal: Some(9) }, "worker killed");
/// let json = serde_json::to_string(&failure)?;
/// assert_eq!(json, r#"{"kind":"crashed","signal":9,"message":"worker killed"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// What kind of failure it was.
    #[serde(flatten)]
    pub kind: FailureKind,
    /// What happened, for a user: the error's message, the timeout, the signal's name.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` with `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// The kinds of [`Failure`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The flow returned an error, or its command exited with a non-zero code.
    Error,
    /// The flow ran longer than its timeout and was killed.
    Timeout,
    /// The process running the flow died: killed by `signal`, or without an exit status.
    Crashed {
        /// The signal number that killed it, when known.
        signal: Option<i32>,
    },
    /// A required dependency failed, so the flow did not run.
    Upstream {
        /// The dependency whose failure reached this flow.
        flow: FlowId,
    },
    /// The run was cancelled while the flow was pending or running.
    Cancelled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_json() {
        for kind in [
            FailureKind::Error,
            FailureKind::Timeout,
            FailureKind::Crashed { signal: None },
            FailureKind::Crashed { signal: Some(11) },
            FailureKind::Upstream {
                flow: FlowId::new("fetch").unwrap(),
            },
            FailureKind::Cancelled,
        ] {
            let failure = Failure::new(kind, "it broke");
            let json = serde_json::to_string(&failure).unwrap();
            assert_eq!(
                serde_json::from_str::<Failure>(&json).unwrap(),
                failure,
                "{json}"
            );
        }
    }

    #[test]
    fn upstream_names_the_flow() {
        let failure = Failure::new(
            FailureKind::Upstream {
                flow: FlowId::new("fetch").unwrap(),
            },
            "dependency failed",
        );
        let json = serde_json::to_string(&failure).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"upstream","flow":"fetch","message":"dependency failed"}"#
        );
    }
}
