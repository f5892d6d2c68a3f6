//! HTML escaping of every text a report shows that it did not write itself: flow ids, error
//! messages, output tails, the command line.

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references, so it reads as
/// text inside an element or a quoted attribute, never as markup.
#[cfg(test)]
pub fn escape(text: &str) -> String {
    Escaped(text).to_string()
}

/// A `Display` wrapper that writes its text escaped, for use in `write!`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
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
    fn markup_becomes_text() {
        for (input, expected) in [
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("a & b", "a &amp; b"),
            (r#"x="1" y='2'"#, "x=&quot;1&quot; y=&#39;2&#39;"),
            ("&amp;", "&amp;amp;"),
            ("plain ünïcödé ✓", "plain ünïcödé ✓"),
            ("", ""),
        ] {
            assert_eq!(escape(input), expected, "{input}");
            assert_eq!(Escaped(input).to_string(), expected, "{input}");
        }
    }
}
