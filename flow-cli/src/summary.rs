//! The closing summary of a run's report, printed by `flow run` and `flow results`: the flows
//! that failed by themselves, each with the ends of its output, then one line of counts.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::report::{status_colour, FlowReport, RunReport};
use crate::run_state::FlowState;
use crate::terminal;

/// The most lines of each stream's tail the summary shows for a failed flow.
const TAIL_LINES: usize = 10;

/// The most characters a line of a stdout or stderr tail takes in the summary, escapes
/// included: as many as the bytes of a tail (`flow run` keeps 8 KiB), so printable text is
/// shown whole, and a line of control bytes, each escaped as up to ten characters, no longer.
const TAIL_LINE_CHARS: usize = 8 * 1024;

/// The most failed flows shown with their output; the others are named in one line (a
/// thousand failed samples would print fifteen thousand lines).
const SHOWN_FAILURES: usize = 20;

impl RunReport {
    /// The closing summary: each flow that failed by itself with the last lines of its stdout
    /// and of its stderr (each under its stream's name and log file; a stream it wrote nothing
    /// to is not shown) and the flows it kept from running, the first [`SHOWN_FAILURES`] of
    /// them, the others named in one line; then each flow the run's stop cancelled after it
    /// started (`STOPPED`), alike; then one line of counts.
    pub fn summary(&self, colour: bool) -> String {
        let mut out = String::new();
        let failures: Vec<&FlowReport> = self.own_failures().collect();
        // A run stopped (a CI job's timeout) says what was running then, and its output.
        let stopped: Vec<&FlowReport> = self.stopped_as_they_ran().collect();
        let failed = terminal::red("FAILED", colour);
        let stop = terminal::yellow("STOPPED", colour);
        for (flows, label) in [(failures, &failed), (stopped, &stop)] {
            for f in flows.iter().take(SHOWN_FAILURES) {
                self.failure(&mut out, f, label, colour);
            }
            if let Some(more) = flows.get(SHOWN_FAILURES..).filter(|more| !more.is_empty()) {
                let ids: Vec<&str> = more.iter().map(|f| f.id.as_str()).collect();
                let _ = writeln!(
                    out,
                    "{label} {} more flows: {} (`flow logs FLOW` prints the output of each)",
                    ids.len(),
                    terminal::safe(&list_some(&ids, 8))
                );
            }
        }
        let counts = self.counts();
        let status = status_colour(self.status.as_str(), colour);
        let wall = self
            .wall_ms
            .map(|ms| format!(" in {}", crate::report::format_ms(ms)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "run {} of `{}` {status}{wall}: {counts}",
            self.run_id,
            terminal::safe(&self.workflow)
        );
        out
    }

    /// The lines of the failed (or stopped) flow `f`, under `label`: its error, the tails of
    /// its output, the flows it kept from running.
    fn failure(&self, out: &mut String, f: &FlowReport, label: &str, colour: bool) {
        let error = terminal::safe(f.error.as_deref().unwrap_or("failed"));
        let id = f.named();
        let _ = writeln!(out, "{label} {id}: {error}");
        let tails = [
            ("stdout", &f.stdout_tail, &f.stdout_log),
            ("stderr", &f.stderr_tail, &f.stderr_log),
        ];
        let mut shown = false;
        for (stream, tail, log) in tails {
            let tail = crate::report::last_lines(tail, TAIL_LINES);
            if tail.trim().is_empty() {
                continue;
            }
            shown = true;
            let label = match log {
                Some(log) => format!("{stream} (log: {}):", terminal::safe(log)),
                None => format!("{stream}:"),
            };
            let _ = writeln!(out, "  {}", terminal::dim(&label, colour));
            for line in tail.lines() {
                let line = redrawn(line);
                let line = terminal::safe_end(&line, TAIL_LINE_CHARS);
                let _ = writeln!(out, "  {}", terminal::dim(&format!("| {line}"), colour));
            }
        }
        // Output that is not in the tails (blank lines only) is still in the log.
        if let (false, Some(log)) = (shown, &f.log) {
            let log = terminal::safe(log);
            let _ = writeln!(out, "  {}", terminal::dim(&format!("log: {log}"), colour));
        }
        let kept: Vec<&str> = (self.flows.iter())
            .filter(|d| {
                d.status == FlowState::NotRun && d.upstream.as_deref() == Some(f.id.as_str())
            })
            .map(|d| d.id.as_str())
            .collect();
        if !kept.is_empty() {
            let _ = writeln!(
                out,
                "  not run because `{}` failed: {}",
                f.id,
                list_some(&kept, 8)
            );
        }
    }
}

/// What a terminal shows of `line`, a line of output that may redraw itself, as a progress
/// bar does: a `\r` that ends it (as in `\r\n`) is dropped, and of a line a `\r` goes back
/// over, only the text after the last one is kept, after a `…` that says the front is cut (the
/// whole line is in the log), so fifty redraws of a bar are not fifty bars in the summary.
pub(crate) fn redrawn(line: &str) -> Cow<'_, str> {
    let line = line.trim_end_matches('\r');
    match line.rfind('\r') {
        Some(i) => Cow::Owned(format!("…{}", &line[i + 1..])),
        None => Cow::Borrowed(line),
    }
}

/// The first `n` of `items`, comma-separated, and how many more there are.
fn list_some(items: &[&str], n: usize) -> String {
    let mut text = items.iter().take(n).copied().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        let _ = write!(text, " and {} more", items.len() - n);
    }
    text
}
