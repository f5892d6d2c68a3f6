//! The errors of flow-graph: one enum for the graph, and the two errors it wraps.

use std::fmt;

use crate::FlowId;

/// A string that breaks the rule of [`FlowId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid flow id `{id}`: {problem} (a flow id is 1 to 128 characters of A-Z a-z 0-9 _ . -, \
     not starting with . or -)"
)]
pub struct InvalidFlowId {
    /// The rejected id (cut to 200 characters).
    pub id: String,
    /// Which part of the rule it breaks.
    pub problem: &'static str,
}

/// A dependency that would close a cycle, with the cycle it would close.
///
/// `path` starts and ends with the same flow: `[a, b, c, a]` displays as `a -> b -> c -> a`,
/// and every consecutive pair is an edge (existing or proposed) of the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CycleError {
    /// The flows of the cycle in order, the first repeated at the end.
    pub path: Vec<FlowId>,
}

impl fmt::Display for CycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dependency cycle: ")?;
        for (i, id) in self.path.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            f.write_str(id.as_str())?;
        }
        Ok(())
    }
}

/// Everything a [`FlowGraph`](crate::FlowGraph) call can refuse. A refused call leaves the
/// graph exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A flow with this id is already in the graph.
    #[error("flow `{0}` is already registered")]
    DuplicateFlow(FlowId),
    /// A call named a flow that is not in the graph.
    #[error("unknown flow `{0}`")]
    UnknownFlow(String),
    /// A dependency would close a cycle.
    #[error(transparent)]
    Cycle(#[from] CycleError),
    /// A string is not a valid flow id.
    #[error(transparent)]
    InvalidId(#[from] InvalidFlowId),
}
