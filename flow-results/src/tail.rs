//! `Tail`: the last 64 KiB of a flow's stdout or stderr, cut on a character boundary.

use std::fmt;

/// The most bytes a [`Tail`] keeps.
pub const MAX_TAIL_BYTES: usize = 64 * 1024;

/// The end of an output stream: at most [`MAX_TAIL_BYTES`] bytes of text, cut at the front on a
/// character boundary, so a result record stays small however much a flow prints.
///
/// Serialized as a plain string; a longer string read back is cut the same way.
///
/// ```
/// use flow_results::{Tail, MAX_TAIL_BYTES};
/// let mut tail = Tail::new("start ");
/// tail.push_str(&"é".repeat(MAX_TAIL_BYTES));
/// assert_eq!(tail.as_str().len(), MAX_TAIL_BYTES);
/// assert!(tail.as_str().starts_with('é'));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Tail(String);

impl Tail {
    /// The last [`MAX_TAIL_BYTES`] of `text`.
    pub fn new(text: impl Into<String>) -> Self {
        let mut text = text.into();
        cut_front(&mut text);
        Tail(text)
    }

    /// The last [`MAX_TAIL_BYTES`] of `bytes`, with invalid UTF-8 replaced by `�`.
    pub fn from_bytes_lossy(bytes: &[u8]) -> Self {
        // Cut first (with room for a character split at the cut), so a huge stream is not
        // converted whole.
        let start = bytes.len().saturating_sub(MAX_TAIL_BYTES + 4);
        Tail::new(String::from_utf8_lossy(&bytes[start..]).into_owned())
    }

    /// Appends `text`, dropping from the front what no longer fits.
    pub fn push_str(&mut self, text: &str) {
        if text.len() >= MAX_TAIL_BYTES {
            *self = Tail::new(text);
        } else {
            self.0.push_str(text);
            cut_front(&mut self.0);
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the tail holds no text.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Drops the front of `text` so that at most [`MAX_TAIL_BYTES`] remain, on a char boundary.
fn cut_front(text: &mut String) {
    if text.len() <= MAX_TAIL_BYTES {
        return;
    }
    let mut start = text.len() - MAX_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.drain(..start);
}

impl fmt::Debug for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Tail {
    fn from(text: &str) -> Self {
        Tail::new(text)
    }
}

impl From<String> for Tail {
    fn from(text: String) -> Self {
        Tail::new(text)
    }
}

impl serde::Serialize for Tail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Tail {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Tail::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(Tail::new("hello").as_str(), "hello");
        assert!(Tail::default().is_empty());
    }

    #[test]
    fn long_text_keeps_its_end_on_a_char_boundary() {
        // 3-byte characters so that the cut point falls inside one.
        let text = format!("{}end", "€".repeat(MAX_TAIL_BYTES));
        let tail = Tail::new(text.clone());
        assert!(tail.as_str().len() <= MAX_TAIL_BYTES);
        assert!(tail.as_str().len() > MAX_TAIL_BYTES - 4);
        assert!(text.ends_with(tail.as_str()));
        assert!(tail.as_str().ends_with("€end"));
    }

    #[test]
    fn pushes_keep_the_bound() {
        let mut tail = Tail::default();
        for i in 0..20_000 {
            tail.push_str(&format!("line {i}\n"));
        }
        assert!(tail.as_str().len() <= MAX_TAIL_BYTES);
        assert!(tail.as_str().ends_with("line 19999\n"));
    }

    #[test]
    fn bytes_are_cut_and_made_valid() {
        let mut bytes = vec![0xff; 10];
        bytes.extend(std::iter::repeat_n(b'a', MAX_TAIL_BYTES * 2));
        let tail = Tail::from_bytes_lossy(&bytes);
        assert_eq!(tail.as_str().len(), MAX_TAIL_BYTES);
        assert_eq!(Tail::from_bytes_lossy(b"ok\xff").as_str(), "ok\u{fffd}");
    }

    #[test]
    fn a_long_string_read_back_is_cut() {
        let json = serde_json::to_string(&"x".repeat(MAX_TAIL_BYTES + 10)).unwrap();
        let tail: Tail = serde_json::from_str(&json).unwrap();
        assert_eq!(tail.as_str().len(), MAX_TAIL_BYTES);
    }
}
