//! HTML escaping of every text a report shows that it did not write itself: flow ids, error
//! messages, output tails, the command line.
//!
//! Such text is first made safe for a terminal ([`terminal::safe_output`]): a page written
//! to stdout (`flow report -o -`), or read with `cat`, must not move the cursor or set the
//! window title, so control characters are shown as escapes (`\u{1b}`), never written raw.

use crate::terminal;

/// `text` with control characters shown as escapes (keeping line breaks and tabs) and `&`,
/// `<`, `>`, `"` and `'` replaced by character references, so it reads as text inside an
/// element or a quoted attribute, never as markup or a terminal's command.
#[cfg(test)]
pub fn escape(text: &str) -> String {
    Escaped(text).to_string()
}

/// A `Display` wrapper that writes its text escaped, for use in `write!`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let safe = terminal::safe_output(self.0);
        let mut rest = safe.as_ref();
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_become_text() {
        for (input, expected) in [
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("a & b", "a &amp; b"),
            (r#"x="1" y='2'"#, "x=&quot;1&quot; y=&#39;2&#39;"),
            ("&amp;", "&amp;amp;"),
            ("plain ünïcödé ✓", "plain ünïcödé ✓"),
            (
                "boom \u{1b}]0;T\u{7} \u{1b}[2J\r\n\tnext",
                "boom \\u{1b}]0;T\\u{7} \\u{1b}[2J\\r\n\tnext",
            ),
            ("<\u{1b}[31m>", "&lt;\\u{1b}[31m&gt;"),
            ("", ""),
        ] {
            assert_eq!(escape(input), expected, "{input}");
            assert_eq!(Escaped(input).to_string(), expected, "{input}");
        }
    }
}
