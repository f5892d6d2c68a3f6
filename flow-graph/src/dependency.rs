//! `DependencyType`: the weight of an edge of the flow graph.

use std::fmt;

/// How a child depends on its parent (the seed's `REQUIRED` and `OPTIONAL`).
///
/// Either way the child starts only after the parent has finished. A failure of the parent
/// fails a `Required` child without starting it; an `Optional` child runs anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum DependencyType {
    /// The child needs the parent to complete; a failure of the parent fails the child.
    Required,
    /// The child runs after the parent whatever the parent's outcome.
    Optional,
}

impl fmt::Display for DependencyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DependencyType::Required => "required",
            DependencyType::Optional => "optional",
        })
    }
}
