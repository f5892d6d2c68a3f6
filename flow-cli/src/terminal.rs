//! What the terminal allows: colours (each stream's own: off with `NO_COLOR`, `TERM=dumb` or
//! when that stream is not a terminal), whether it redraws a line ([`redraws`]: not
//! `TERM=dumb`), the
//! tracing subscriber on stderr (`-v` levels, `RUST_LOG` overrides), text made safe to print
//! ([`safe`]), and writing to stderr that never panics ([`eprint_line`]).

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use tracing_subscriber::EnvFilter;

/// Whether to colour output written to a stream that is a terminal or not: not with
/// `NO_COLOR` set, nor on a terminal that says it is `dumb` (it shows escape codes as text).
pub fn colour(is_terminal: bool) -> bool {
    colours(
        is_terminal,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

/// [`colour`]'s rule, given `NO_COLOR` and `TERM`. Unlike [`redraws`], a terminal that does not
/// say what it is (no `TERM`) is coloured: nearly every terminal knows the colour codes, while
/// redrawing needs cursor moves a bare terminal may not have.
fn colours(is_terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty) && term != Some(OsStr::new("dumb"))
}

/// Whether to colour stderr.
pub fn colour_stderr() -> bool {
    colour(std::io::stderr().is_terminal())
}

/// Whether to colour stdout.
pub fn colour_stdout() -> bool {
    colour(std::io::stdout().is_terminal())
}

/// Whether a terminal named `term` (`TERM`) can redraw a line in place (move the cursor, clear
/// a line), as `console` and `indicatif` judge it: not one that says it is `dumb` (Emacs'
/// shell, some CI log viewers), nor one that does not say what it is.
pub fn redraws(term: Option<&str>) -> bool {
    term.is_some_and(|term| !term.is_empty() && term != "dumb")
}

/// Installs the log subscriber: warnings by default, as flow's own lines
/// ([`crate::log_line`]); more with each `-v`, or `RUST_LOG`, as detailed log lines (a
/// timestamp, the level, the spans and with `-vv` the module).
pub fn init_logging(verbose: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(match verbose {
            // What the store's writer refuses reaches the run's own lines (the write that
            // stops the run, then the error that ends it): not a third time as a log line.
            0 => "warn,flow_core::writer=off",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }),
    };
    let detailed = verbose > 0 || std::env::var_os("RUST_LOG").is_some_and(|spec| !spec.is_empty());
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| StderrIgnoringErrors)
        .with_ansi(colour_stderr());
    let _ = if detailed {
        lines.with_target(verbose >= 2).try_init()
    } else {
        // Warnings and errors as flow's own lines: no timestamp, level or module path.
        lines
            .fmt_fields(crate::log_line::Readable)
            .event_format(crate::log_line::FlowLine {
                colour: colour_stderr(),
            })
            .try_init()
    };
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
    escape(text, |_| false)
}

/// The end of `text` made safe as [`safe`] makes it, at most `max` characters (at least
/// one): a longer one (an escape takes up to ten characters for one) is cut where one of
/// `text`'s characters begins, after a `…` that says so.
pub fn safe_end(text: &str, max: usize) -> Cow<'_, str> {
    let shown = safe(text);
    if shown.chars().count() <= max {
        return shown;
    }
    let mut kept = 1; // The `…`.
    let mut start = text.len();
    let mut one = [0; 4];
    for (i, c) in text.char_indices().rev() {
        let width = safe(c.encode_utf8(&mut one)).chars().count();
        if kept + width > max {
            break;
        }
        kept += width;
        start = i;
    }
    Cow::Owned(format!("…{}", safe(&text[start..])))
}

/// `path` safe to print, as [`safe`] makes text: the one rule for every path flow prints,
/// in a message of one line or of many (a folder named with a newline and `error:` cannot
/// fake a line of flow's own).
pub fn path(path: &std::path::Path) -> String {
    safe(&path.display().to_string()).into_owned()
}

/// `text` safe to print, keeping its line breaks: each line as [`safe`] makes it.
pub fn safe_lines(text: &str) -> String {
    escape(text, |c| c == '\n').into_owned()
}

/// A command's output made safe for a terminal as [`safe`] makes text, keeping its line
/// breaks and tabs (which only move the cursor forwards) and the zero-width joiners that
/// emoji and many scripts are written with (they reorder nothing).
pub fn safe_output(text: &str) -> Cow<'_, str> {
    escape(text, |c| matches!(c, '\n' | '\t' | '\u{200c}' | '\u{200d}'))
}

/// `text` with the characters that [`needs_escape`] and `keep` does not keep escaped.
fn escape(text: &str, keep: fn(char) -> bool) -> Cow<'_, str> {
    let escaped = |c: char| needs_escape(c) && !keep(c);
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !escaped(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// Turns bytes that arrive in pieces (a file read as it grows) into text: a character cut at
/// the end of a piece waits for the next one ([`Utf8Pieces::finish`] gives what is left);
/// bytes that are not UTF-8 become U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Pieces {
    pending: Vec<u8>,
}

impl Utf8Pieces {
    /// The text of what came so far, but for a character cut at its end.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let complete = self.pending.len() - cut_at_end(&self.pending);
        let text = String::from_utf8_lossy(&self.pending[..complete]).into_owned();
        self.pending.drain(..complete);
        text
    }

    /// What is left: a cut character, as U+FFFD.
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is not complete yet.
fn cut_at_end(bytes: &[u8]) -> usize {
    // A character is at most 4 bytes: its start is among the last 3 if it is cut.
    let from = bytes.len().saturating_sub(3);
    let Some(start) = (from..bytes.len()).rev().find(|&i| bytes[i] & 0xC0 != 0x80) else {
        return 0;
    };
    match std::str::from_utf8(&bytes[start..]) {
        Err(error) if error.valid_up_to() == 0 && error.error_len().is_none() => {
            bytes.len() - start
        }
        _ => 0,
    }
}

/// Control characters, and the format characters that reorder or hide text (bidirectional
/// overrides and isolates, zero-width marks).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
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

/// Writes `line` and a newline to stderr, above the live display if one is on screen. A
/// closed or full stderr is not an error: there is nowhere left to say so, and the exit code
/// still tells how the command ended.
pub fn eprint_line(line: &str) {
    above_display(|| {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    });
}

/// stderr for the log subscriber, dropping write errors instead of panicking on them.
struct StderrIgnoringErrors;

/// The live progress display while it is on screen: what is printed on stderr
/// ([`eprint_line`], log lines) goes above it.
static LIVE_DISPLAY: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// Lines printed on stderr go above `bar` from now on (`None`: straight to stderr again).
pub fn print_above(bar: Option<indicatif::ProgressBar>) {
    *LIVE_DISPLAY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = bar;
}

/// Runs `write` (which writes to stderr) with the live display, when one is on screen,
/// cleared meanwhile and drawn again below what it wrote.
fn above_display(write: impl FnOnce()) {
    let live = LIVE_DISPLAY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    match live {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

impl std::io::Write for StderrIgnoringErrors {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        above_display(|| {
            let _ = std::io::stderr().write_all(buf);
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn colours_need_a_terminal_that_is_not_dumb_and_no_no_color() {
        let os = |s: &'static str| Some(std::ffi::OsStr::new(s));
        for (tty, no_color, term, expected) in [
            (true, None, os("xterm"), true),
            (true, None, None, true),
            (true, os(""), os("xterm"), true),
            (true, os("1"), os("xterm"), false),
            (true, None, os("dumb"), false),
            (false, None, os("xterm"), false),
        ] {
            assert_eq!(
                super::colours(tty, no_color, term),
                expected,
                "{tty} {no_color:?} {term:?}"
            );
        }
    }

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
    fn safe_end_cuts_after_escaping_and_keeps_whole_escapes() {
        for (text, max, shown) in [
            ("abc", 3, "abc"),
            ("abcd", 3, "…cd"),
            ("\0\0", 10, "\\u{0}\\u{0}"),
            ("\0\0", 9, "…\\u{0}"),
            ("a\0", 6, "a\\u{0}"),
            ("ab\0", 6, "…\\u{0}"),
            ("\0", 3, "…"),
            ("€€€", 2, "…€"),
        ] {
            assert_eq!(safe_end(text, max), shown, "{text:?} {max}");
            assert!(safe_end(text, max).chars().count() <= max);
        }
        assert!(matches!(safe_end("ok", 2), Cow::Borrowed(_)));
    }

    #[test]
    fn safe_output_keeps_lines_and_tabs_only() {
        for (text, shown) in [
            ("a\tb\nc\n", "a\tb\nc\n"),
            ("50%\r100%\n", "50%\\r100%\n"),
            ("\u{1b}[31mred\u{1b}[0m", "\\u{1b}[31mred\\u{1b}[0m"),
            ("\u{1b}]0;PWNED\u{7}", "\\u{1b}]0;PWNED\\u{7}"),
            ("\u{2067}txt.exe", "\\u{2067}txt.exe"),
            ("\u{61c}x", "\\u{61c}x"),
            ("👨\u{200d}👩", "👨\u{200d}👩"),
            ("a\u{200b}b", "a\\u{200b}b"),
        ] {
            assert_eq!(safe_output(text), shown, "{text:?}");
        }
    }

    #[test]
    fn utf8_pieces_wait_for_a_cut_character_and_replace_bad_bytes() {
        let euro = "€".as_bytes(); // three bytes
        let table: &[(&[&[u8]], &str, &str)] = &[
            (&[b"ab", b"cd"], "abcd", ""),
            (&[&euro[..1], &euro[1..2], &euro[2..]], "€", ""),
            (&[b"x\xff", b"y"], "x\u{fffd}y", ""),
            (&[b"\xff\xfe"], "\u{fffd}\u{fffd}", ""),
            (&[b"end", &euro[..2]], "end", "\u{fffd}"),
            (&[&euro[..2], b"z"], "\u{fffd}z", ""),
        ];
        for (pieces, text, rest) in table {
            let mut decoder = Utf8Pieces::default();
            let got: String = pieces.iter().map(|p| decoder.push(p)).collect();
            assert_eq!(got, *text, "{pieces:?}");
            assert_eq!(decoder.finish(), *rest, "{pieces:?}");
        }
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
