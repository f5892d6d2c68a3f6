//! `Link`: one entry of an adjacency row — the flow at the other end of an edge and the
//! edge's type, packed in four bytes.

use std::fmt;

use crate::DependencyType;

/// The bit that marks an optional dependency; the others hold the flow index.
const OPTIONAL: u32 = 1 << 31;

/// The flow at the other end of an edge (an index below 2^31) and the edge's
/// [`DependencyType`], in four bytes: half the size of `(u32, DependencyType)`, so that the
/// rows of a large graph take half the memory.
///
/// ```
/// use flow_graph::{DependencyType, Link};
///
/// let link = Link::new(7, DependencyType::Optional);
/// assert_eq!((link.flow(), link.dependency()), (7, DependencyType::Optional));
/// assert_eq!(link, (7, DependencyType::Optional));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Link(u32);

impl Link {
    /// The largest flow index a link can hold.
    pub const MAX_FLOW: u32 = OPTIONAL - 1;

    /// A link to flow `flow` along an edge of type `dependency`.
    ///
    /// # Panics
    /// When `flow` is above [`Link::MAX_FLOW`].
    pub fn new(flow: u32, dependency: DependencyType) -> Self {
        assert!(
            flow <= Self::MAX_FLOW,
            "flow index {flow} does not fit in a link (at most {})",
            Self::MAX_FLOW
        );
        Link::packed(flow, dependency)
    }

    /// [`Link::new`] for a caller that knows `flow` fits (at most [`Link::MAX_FLOW`]).
    pub(crate) fn packed(flow: u32, dependency: DependencyType) -> Self {
        debug_assert!(flow <= Self::MAX_FLOW);
        match dependency {
            DependencyType::Required => Link(flow),
            DependencyType::Optional => Link(flow | OPTIONAL),
        }
    }

    /// The flow at the other end.
    pub fn flow(self) -> u32 {
        self.0 & !OPTIONAL
    }

    /// The type of the edge.
    pub fn dependency(self) -> DependencyType {
        if self.is_required() {
            DependencyType::Required
        } else {
            DependencyType::Optional
        }
    }

    /// Whether the edge is a required dependency.
    pub fn is_required(self) -> bool {
        self.0 & OPTIONAL == 0
    }

    /// The flow and the type, as a pair.
    pub fn get(self) -> (u32, DependencyType) {
        (self.flow(), self.dependency())
    }
}

impl From<(u32, DependencyType)> for Link {
    fn from((flow, dependency): (u32, DependencyType)) -> Self {
        Link::new(flow, dependency)
    }
}

impl PartialEq<(u32, DependencyType)> for Link {
    fn eq(&self, other: &(u32, DependencyType)) -> bool {
        self.get() == *other
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Link")
            .field(&self.flow())
            .field(&self.dependency())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_keeps_its_flow_and_type() {
        for flow in [0, 1, 12345, Link::MAX_FLOW] {
            for dependency in [DependencyType::Required, DependencyType::Optional] {
                let link = Link::new(flow, dependency);
                assert_eq!(link.get(), (flow, dependency));
                assert_eq!(link.is_required(), dependency == DependencyType::Required);
            }
        }
        assert_eq!(std::mem::size_of::<Link>(), 4);
    }

    #[test]
    fn a_flow_index_too_large_is_refused() {
        let refused =
            std::panic::catch_unwind(|| Link::new(Link::MAX_FLOW + 1, DependencyType::Required))
                .expect_err("a flow index above MAX_FLOW is refused");
        let message = refused
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| refused.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(message.contains("does not fit in a link"), "{message}");
    }
}
