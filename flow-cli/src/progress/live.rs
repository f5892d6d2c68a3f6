//! The live display's line on a terminal: its template, the terminal's width (also where the
//! terminal knows its columns but not its rows, as under `script`), and the names of running
//! flows fitted to what the counts leave of it.

use std::io;
use std::time::Duration;

use indicatif::{FormattedDuration, TermLike};

/// Columns of the bar on a wide terminal, and on a narrow one.
const BAR: std::ops::RangeInclusive<usize> = 10..=30;

/// Columns the line keeps for the rest when it sizes the bar: an 80-column terminal gets the
/// narrowest bar, which leaves room for a running flow's name after the counts.
const NOT_BAR: usize = 70;

/// The width when neither the terminal nor `COLUMNS` says.
const DEFAULT_WIDTH: u16 = 80;

/// The columns of the bar in a terminal `width` columns wide.
pub(super) fn bar_columns(width: u16) -> usize {
    usize::from(width)
        .saturating_sub(NOT_BAR)
        .clamp(*BAR.start(), *BAR.end())
}

/// The line's template: spinner, elapsed time, a bar of `bar` columns, `pos/len`, then the
/// message, which fills the rest of the width (and is cut there).
pub(super) fn template(colour: bool, bar: usize) -> String {
    if colour {
        format!("{{spinner:.cyan}} [{{elapsed_precise}}] {{bar:{bar}.cyan/blue}} {{pos}}/{{len}} {{wide_msg}}")
    } else {
        format!("{{spinner}} [{{elapsed_precise}}] {{bar:{bar}}} {{pos}}/{{len}} {{wide_msg}}")
    }
}

/// Columns the template with a bar of `bar` columns takes before the message, at `elapsed`
/// with `pos` of `len` done.
pub(super) fn before_message(bar: usize, elapsed: Duration, pos: u64, len: u64) -> usize {
    let elapsed = FormattedDuration(elapsed).to_string().len();
    let counter = format!("{pos}/{len}").len();
    // Spinner and space, `[elapsed] `, bar and space, `pos/len` and space.
    2 + elapsed + 3 + bar + 1 + counter + 1
}

/// The width of the terminal on stderr: its columns, else `COLUMNS`, else 80. A terminal that
/// knows its columns but not its rows (`stty cols 200` on a new pseudo-terminal) reads as
/// unknown to `console`, so there `COLUMNS` decides.
pub(super) fn width() -> u16 {
    if let Some((_, columns)) = console::Term::stderr().size_checked() {
        return columns;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
        .unwrap_or(DEFAULT_WIDTH)
}

/// stderr as the display draws on it, [`width`] wide: indicatif's own reading of the width
/// would fall back to 80 wherever `console` cannot tell.
#[derive(Debug)]
pub(super) struct Stderr(console::Term);

impl Stderr {
    pub(super) fn new() -> Self {
        // Buffered, as indicatif's own stderr: each frame goes out in one write, so the line
        // is never seen cleared and not yet redrawn.
        Stderr(console::Term::buffered_stderr())
    }
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        width()
    }

    fn height(&self) -> u16 {
        self.0.size().0
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.write_line(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.write_str(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.0.clear_line()
    }

    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `counts` followed by ` · running: ` and the `running` flows' names, in at most `room`
/// columns: as many whole names as fit, then `+N` for the others; the first name cut with
/// `…` when not even it fits whole; no names when not even that fits (the counts say how
/// many run).
pub(super) fn with_running(counts: &str, running: &[&str], room: usize) -> String {
    const LABEL: &str = " · running: ";
    let used = counts.chars().count() + LABEL.chars().count();
    let Some(left) = room.checked_sub(used).filter(|_| !running.is_empty()) else {
        return counts.to_owned();
    };
    let more = |shown: usize| match running.len() - shown {
        0 => String::new(),
        n => format!(" +{n}"),
    };
    // Names are ids: one column per character.
    let mut names = String::new();
    let mut shown = 0;
    for name in running {
        let sep = if shown == 0 { 0 } else { 2 };
        let longer = names.len() + sep + name.len();
        if longer + more(shown + 1).len() > left {
            break;
        }
        if shown > 0 {
            names.push_str(", ");
        }
        names.push_str(name);
        shown += 1;
    }
    if shown == 0 {
        // `…` and at least one character of the first name.
        let keep = left.saturating_sub(more(1).len() + 1);
        if keep == 0 {
            return counts.to_owned();
        }
        names = running[0].chars().take(keep).chain(['…']).collect();
        shown = 1;
    }
    format!("{counts}{LABEL}{names}{}", more(shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_names_fit_the_room_whole_then_counted_then_cut() {
        let counts = "0 done, 1 running, 1 failed";
        let width = |s: &str| s.chars().count();
        for (running, room, shown) in [
            (
                &["slowpoke"][..],
                200,
                "0 done, 1 running, 1 failed · running: slowpoke",
            ),
            (
                &["slowpoke"],
                47,
                "0 done, 1 running, 1 failed · running: slowpoke",
            ),
            (
                &["slowpoke"],
                46,
                "0 done, 1 running, 1 failed · running: slowpo…",
            ),
            (
                &["slowpoke"],
                41,
                "0 done, 1 running, 1 failed · running: s…",
            ),
            (&["slowpoke"], 40, "0 done, 1 running, 1 failed"),
            (&["slowpoke"], 32, "0 done, 1 running, 1 failed"),
            (&[], 200, "0 done, 1 running, 1 failed"),
            (
                &["a", "bb", "cde"],
                200,
                "0 done, 1 running, 1 failed · running: a, bb, cde",
            ),
            (
                &["a", "bb", "cde"],
                49,
                "0 done, 1 running, 1 failed · running: a, bb, cde",
            ),
            (
                &["a", "bb", "cde"],
                48,
                "0 done, 1 running, 1 failed · running: a, bb +1",
            ),
            (
                &["a", "bb", "cde"],
                46,
                "0 done, 1 running, 1 failed · running: a +2",
            ),
            (
                &["abc", "d"],
                44,
                "0 done, 1 running, 1 failed · running: a… +1",
            ),
        ] {
            let line = with_running(counts, running, room);
            assert_eq!(line, shown, "{running:?} in {room}");
            assert!(width(&line) <= room.max(width(counts)), "{line}");
        }
    }

    #[test]
    fn the_message_starts_where_the_template_leaves_off() {
        // `⠁ [00:00:01] ` + 30 + ` 1/2 `.
        assert_eq!(before_message(30, Duration::from_secs(1), 1, 2), 48);
        assert_eq!(before_message(30, Duration::from_secs(90_000), 10, 100), 54);
        assert_eq!(before_message(10, Duration::from_secs(1), 1, 2), 28);
    }

    #[test]
    fn the_bar_narrows_with_the_terminal_down_to_ten_columns() {
        for (width, bar) in [(200, 30), (100, 30), (99, 29), (81, 11), (80, 10), (40, 10)] {
            assert_eq!(bar_columns(width), bar, "{width} columns");
        }
    }

    #[test]
    fn an_80_column_terminal_shows_a_running_flow_by_name() {
        let room = 80 - before_message(bar_columns(80), Duration::from_secs(5), 3, 12);
        let line = with_running("3 done, 1 running, 1 failed", &["compile"], room);
        assert_eq!(line, "3 done, 1 running, 1 failed · running: compile");
    }
}
