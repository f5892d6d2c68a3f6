//! What the terminal allows: colours (off with `NO_COLOR` or when not a terminal), the
//! tracing subscriber on stderr (`-v` levels, `RUST_LOG` overrides), text made safe to print
//! ([`safe`]), and writing to stderr that never panics ([`eprint_line`]).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use tracing_subscriber::EnvFilter;

/// Whether to colour output written to a stream that is a terminal or not.
pub fn colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether to colour stderr.
pub fn colour_stderr() -> bool {
    colour(std::io::stderr().is_terminal())
}

/// Installs the log subscriber: warnings by default, more with each `-v`, or `RUST_LOG`.
pub fn init_logging(verbose: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| StderrIgnoringErrors)
        .with_ansi(colour_stderr())
        .with_target(verbose >= 2)
        .try_init();
}

/// `text` in bold red when `on`.
pub fn red(text: &str, on: bool) -> String {
    paint(text, "1;31", on)
}

/// `text` in green when `on`.
pub fn green(text: &str, on: bool) -> String {
    paint(text, "32", on)
}

/// `text` in yellow when `on`.
pub fn yellow(text: &str, on: bool) -> String {
    paint(text, "33", on)
}

/// `text` dimmed when `on`.
pub fn dim(text: &str, on: bool) -> String {
    paint(text, "2", on)
}

fn paint(text: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// `text` safe to print on a terminal: every control character (newlines included, so a text
/// cannot fake a line of output) and every Unicode character that reorders text is written as
/// an escape (`\n`, `\u{1b}`), so text from a command or a file can neither move the cursor,
/// change colours or the window title, nor fake a table row. Other text is borrowed as it is.
pub fn safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` safe to print, keeping its line breaks: each line as [`safe`] makes it.
pub fn safe_lines(text: &str) -> String {
    text.split('\n').map(safe).collect::<Vec<_>>().join("\n")
}

/// Control characters, and the format characters that reorder or hide text (bidirectional
/// overrides and isolates, zero-width marks).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `error` and its causes, joined by `: ` (the chain a user needs to act on it).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their cause in their own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Writes `line` and a newline to stderr. A closed or full stderr is not an error: there is
/// nowhere left to say so, and the exit code still tells how the command ended.
pub fn eprint_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// stderr for the log subscriber, dropping write errors instead of panicking on them.
struct StderrIgnoringErrors;

impl std::io::Write for StderrIgnoringErrors {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_escapes_control_and_reordering_characters_only() {
        for (text, shown) in [
            ("plain text, ünïcode", "plain text, ünïcode"),
            ("a\nFAKE completed", "a\\nFAKE completed"),
            (
                "\u{1b}]0;PWNED\u{7}\u{1b}[2J",
                "\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J",
            ),
            ("tab\there\r", "tab\\there\\r"),
            ("\u{202e}evil\u{9b}", "\\u{202e}evil\\u{9b}"),
            ("nul\0", "nul\\u{0}"),
        ] {
            assert_eq!(safe(text), shown, "{text:?}");
        }
        assert!(matches!(safe("ok"), Cow::Borrowed(_)));
        assert_eq!(safe_lines("one\u{1b}[2J\ntwo"), "one\\u{1b}[2J\ntwo");
    }

    #[test]
    fn chain_names_every_cause_once() {
        let io = std::io::Error::other("disk full");
        let outer = std::io::Error::other(Wrapper(io));
        assert_eq!(chain(&outer), "saving failed: disk full");
    }

    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("saving failed")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
