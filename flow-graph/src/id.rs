//! `FlowId`: the validated name of a flow.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::InvalidFlowId;

/// The longest id a flow may have, in bytes (all allowed characters are ASCII).
pub const MAX_FLOW_ID_LEN: usize = 128;

/// The name of a flow: 1 to [`MAX_FLOW_ID_LEN`] characters of `[A-Za-z0-9_.-]`, not starting
/// with `.` or `-`.
///
/// The rule makes every id safe as a file name, a log name and a Slurm job name, so code that
/// holds a `FlowId` never needs to check or escape it again. Cloning is cheap (a reference
/// count), and a `FlowId` compares, hashes and orders like the string it holds.
///
/// ```
/// use flow_graph::FlowId;
/// let id = FlowId::new("extract.v2").unwrap();
/// assert_eq!(id.as_str(), "extract.v2");
/// assert!(FlowId::new("../etc").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(Arc<str>);

impl FlowId {
    /// Checks `id` against the rule and wraps it.
    ///
    /// # Errors
    /// [`InvalidFlowId`] naming the id and the rule it breaks.
    pub fn new(id: impl AsRef<str>) -> Result<Self, InvalidFlowId> {
        let id = id.as_ref();
        validate(id)?;
        Ok(FlowId(Arc::from(id)))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks `id` against the rule of [`FlowId`] without allocating.
///
/// # Errors
/// [`InvalidFlowId`] naming the id and the rule it breaks.
pub fn validate(id: &str) -> Result<(), InvalidFlowId> {
    let problem = if id.is_empty() {
        Some("it is empty")
    } else if id.len() > MAX_FLOW_ID_LEN {
        Some("it is longer than 128 characters")
    } else if id.starts_with('.') || id.starts_with('-') {
        Some("it starts with `.` or `-`")
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        Some("it has a character other than A-Z a-z 0-9 _ . -")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(InvalidFlowId {
            id: id.chars().take(200).collect(),
            problem,
        }),
    }
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for FlowId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for FlowId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for FlowId {
    type Err = InvalidFlowId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FlowId::new(s)
    }
}

impl TryFrom<&str> for FlowId {
    type Error = InvalidFlowId;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        FlowId::new(s)
    }
}

impl TryFrom<String> for FlowId {
    type Error = InvalidFlowId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        FlowId::new(s)
    }
}

impl PartialEq<str> for FlowId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for FlowId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for FlowId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for FlowId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        FlowId::new(&*s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in [
            "a",
            "A9",
            "extract",
            "x.y-z_1",
            "_private",
            &"a".repeat(128),
        ] {
            assert!(FlowId::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_safe_file_name() {
        for bad in [
            "",
            ".hidden",
            "-flag",
            "a/b",
            "a b",
            "é",
            "a\0",
            "..",
            &"a".repeat(129),
        ] {
            let err = FlowId::new(bad).unwrap_err();
            assert!(err.to_string().contains("A-Z a-z 0-9 _ . -"), "{err}");
        }
    }

    #[test]
    fn error_names_the_id_and_the_problem() {
        let err = FlowId::new("a/b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid flow id `a/b`: it has a character other than A-Z a-z 0-9 _ . - \
             (a flow id is 1 to 128 characters of A-Z a-z 0-9 _ . -, not starting with . or -)"
        );
    }
}
