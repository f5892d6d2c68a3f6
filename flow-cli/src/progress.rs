//! The progress of `flow run`, built on flow-core's event stream: a live indicatif display on
//! a terminal (counts of done, running and failed, and the names of running flows), one plain
//! line per finished flow otherwise (also on a terminal that cannot redraw a line, as with
//! `TERM=dumb`), or nothing (`--quiet`, `--json`); `--progress` chooses between the first two.
//! Plain lines also say which flows still run when nothing was printed for a minute.

mod live;
mod still;

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flow_core::{Event, EventKind, EventReceiver, FlowId, FlowStatus, RecvError};
use flow_results::FailureKind;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{oneshot, watch};

use crate::cli::ProgressChoice;
use crate::report::format_ms;
use crate::terminal;

/// `delay` for "retrying in ...": `500ms` or `1.50s` under a minute, else humantime's
/// parts each with a space between number and unit (`2 m 30 s`, `500000000000 years`).
fn retry_in_text(delay: Duration) -> String {
    if delay < Duration::from_secs(60) {
        return format_ms(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
    }
    let text = humantime::format_duration(delay).to_string();
    let mut out = String::with_capacity(text.len() + 8);
    let mut previous_digit = false;
    for c in text.chars() {
        if previous_digit && c.is_alphabetic() {
            out.push(' ');
        }
        previous_digit = c.is_ascii_digit();
        out.push(c);
    }
    out
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live display on stderr.
    Live,
    /// One line per finished flow on stdout.
    Lines,
    /// Nothing.
    Silent,
}

impl Mode {
    /// The mode of a run: nothing when `silent` (`--quiet`, `--json`), else what `choice`
    /// (`--progress`) says; `auto` is the live display when stdout and stderr are terminals
    /// that can redraw a line ([`terminal::redraws`] of `TERM`), else plain lines.
    pub fn of(choice: ProgressChoice, silent: bool) -> Mode {
        use std::io::IsTerminal;
        let terminals = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let term = std::env::var("TERM").ok();
        Mode::choose(choice, silent, terminals, term.as_deref())
    }

    /// [`Mode::of`] where stdout and stderr are both `terminals` or not, of type `term`.
    fn choose(choice: ProgressChoice, silent: bool, terminals: bool, term: Option<&str>) -> Mode {
        match choice {
            _ if silent => Mode::Silent,
            ProgressChoice::Live => Mode::Live,
            ProgressChoice::Plain => Mode::Lines,
            ProgressChoice::Auto if terminals && terminal::redraws(term) => Mode::Live,
            ProgressChoice::Auto => Mode::Lines,
        }
    }

    /// Whether to colour what this mode writes: the live display and its lines go to stderr,
    /// plain lines to stdout, and each stream is coloured only when it is a terminal.
    pub fn colour(self) -> bool {
        match self {
            Mode::Lines => terminal::colour_stdout(),
            Mode::Live | Mode::Silent => terminal::colour_stderr(),
        }
    }
}

/// Follows the events of one run and shows them.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    colour: bool,
    total: usize,
    finished: usize,
    failed: usize,
    cancelled: usize,
    /// Running flows, with when their current attempt started, in start order.
    running: Vec<(FlowId, DateTime<Utc>)>,
    /// When each flow's first attempt started.
    first_start: HashMap<FlowId, DateTime<Utc>>,
    /// The started flows whose commands wait to start elsewhere (Slurm jobs being
    /// submitted or pending in the queue): shown as queued, not running.
    queued: BTreeSet<String>,
    bar: Option<ProgressBar>,
    /// The bar's columns, fitted to the terminal's width when the display began.
    bar_columns: usize,
    /// When the last line was printed (or the display began).
    last_line: Cell<tokio::time::Instant>,
    /// How long plain lines stay silent before a line names the flows still running.
    still_every: Duration,
}

impl Progress {
    /// A display of `total` flows.
    pub fn new(mode: Mode, total: usize, colour: bool) -> Self {
        let bar_columns = live::bar_columns(live::width());
        let bar = (mode == Mode::Live).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(total as u64),
                ProgressDrawTarget::term_like_with_hz(Box::new(live::Stderr::new()), 10),
            );
            if let Ok(style) = ProgressStyle::with_template(&live::template(colour, bar_columns)) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            terminal::print_above(Some(bar.clone()));
            bar
        });
        Progress {
            mode,
            colour,
            total,
            finished: 0,
            failed: 0,
            cancelled: 0,
            running: Vec::new(),
            first_start: HashMap::new(),
            queued: BTreeSet::new(),
            bar,
            bar_columns,
            last_line: Cell::new(tokio::time::Instant::now()),
            still_every: still::every(),
        }
    }

    /// Consumes events until the run finishes, the context is gone, or `run_over` comes (a
    /// run that failed to start emits no `RunFinished`); then shows what is still queued.
    /// `queued`, when given, names the started flows whose commands have not started yet
    /// (the Slurm executor's [`queued_flows`](flow_pool::SlurmExecutor::queued_flows)).
    /// Plain lines that were silent for [`still::every`] print the flows still running.
    pub async fn follow(
        mut self,
        mut events: EventReceiver,
        run_over: oneshot::Receiver<()>,
        mut queued: Option<watch::Receiver<BTreeSet<String>>>,
    ) {
        let mut run_over = std::pin::pin!(run_over);
        // One timer for the run, moved on when a line is printed (not one made per event).
        let silent_long = tokio::time::sleep_until(self.last_line.get() + self.still_every);
        let mut silent_long = std::pin::pin!(silent_long);
        loop {
            let due = self.last_line.get() + self.still_every;
            if silent_long.deadline() != due {
                silent_long.as_mut().reset(due);
            }
            let queued_changed = async {
                match &mut queued {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            let received = tokio::select! {
                biased;
                received = events.recv() => received,
                open = queued_changed => {
                    match &mut queued {
                        Some(rx) if open => {
                            self.queued = rx.borrow_and_update().clone();
                            self.refresh();
                        }
                        _ => queued = None,
                    }
                    continue;
                }
                _ = &mut run_over => {
                    while let Ok(Some(event)) = events.try_recv() {
                        self.on_event(&event);
                    }
                    break;
                }
                () = &mut silent_long, if self.mode == Mode::Lines => {
                    self.line(&still::line(
                        &self.running,
                        &self.queued,
                        self.finished,
                        self.total,
                        Utc::now(),
                    ));
                    continue;
                }
            };
            match received {
                Ok(event) => {
                    let done = matches!(event.kind, EventKind::RunFinished { .. });
                    self.on_event(&event);
                    if done {
                        break;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!("progress display missed {n} events");
                }
                Err(_) => break,
            }
        }
        self.finish();
    }

    fn on_event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::RunStarted {
                flows,
                resumed_from,
                ..
            } => {
                self.total = *flows;
                if let Some(bar) = &self.bar {
                    bar.set_length(*flows as u64);
                }
                if let Some(from) = resumed_from {
                    self.line(&format!(
                        "resuming run {from}: completed flows are not run again"
                    ));
                }
            }
            EventKind::FlowStarted { flow, attempt } => {
                self.first_start.entry(flow.clone()).or_insert(event.at);
                self.running.retain(|(id, _)| id != flow);
                self.running.push((flow.clone(), event.at));
                if *attempt > 1 && self.mode == Mode::Lines {
                    self.line(&format!("           {flow}: attempt {attempt}"));
                }
            }
            EventKind::AttemptFailed {
                flow,
                attempt,
                failure,
                retry_in,
            } => {
                self.running.retain(|(id, _)| id != flow);
                let text = format!(
                    "{} {flow}: attempt {attempt} failed ({}), retrying in {}",
                    terminal::yellow("retry", self.colour),
                    terminal::safe(&failure.message),
                    retry_in_text(*retry_in)
                );
                self.line(&text);
            }
            EventKind::FlowFinished {
                flow,
                status,
                failure,
                reused,
                ..
            } => {
                self.running.retain(|(id, _)| id != flow);
                self.finished += 1;
                let upstream = match failure.as_ref().map(|f| &f.kind) {
                    Some(FailureKind::Upstream { flow }) if *status == FlowStatus::Failed => {
                        Some(flow)
                    }
                    _ => None,
                };
                let label = match status {
                    FlowStatus::Completed if *reused => terminal::dim("up to date", self.colour),
                    FlowStatus::Completed => terminal::green("completed", self.colour),
                    FlowStatus::Failed if upstream.is_some() => {
                        terminal::dim("not run  ", self.colour)
                    }
                    FlowStatus::Failed => {
                        self.failed += 1;
                        terminal::red("FAILED   ", self.colour)
                    }
                    FlowStatus::Cancelled => {
                        self.cancelled += 1;
                        terminal::yellow("cancelled", self.colour)
                    }
                    other => other.to_string(),
                };
                let time = self
                    .first_start
                    .get(flow)
                    .and_then(|t| u64::try_from((event.at - *t).num_milliseconds()).ok())
                    .map(|ms| format!(" ({})", format_ms(ms)))
                    .unwrap_or_default();
                let why = match (status, failure, upstream) {
                    (_, _, Some(root)) => format!(": upstream `{root}` failed"),
                    (FlowStatus::Completed, _, _) | (_, None, _) => String::new(),
                    (_, Some(f), None) => format!(": {}", terminal::safe(&f.message)),
                };
                let width = self.total.to_string().len();
                match self.mode {
                    Mode::Lines => self.line(&format!(
                        "[{:>width$}/{}] {label} {flow}{time}{why}",
                        self.finished, self.total
                    )),
                    // On a terminal, failures stay visible above the display.
                    Mode::Live if *status == FlowStatus::Failed && upstream.is_none() => {
                        self.line(&format!("{label} {flow}{time}{why}"))
                    }
                    _ => {}
                }
            }
            EventKind::RunFinished { .. } => {}
            _ => {}
        }
        self.refresh();
    }

    fn refresh(&self) {
        if let Some(bar) = &self.bar {
            let pos = self.finished as u64;
            bar.set_position(pos);
            let before = live::before_message(
                self.bar_columns,
                bar.elapsed(),
                pos,
                bar.length().unwrap_or(pos),
            );
            let room = usize::from(live::width()).saturating_sub(before);
            bar.set_message(self.message(room));
        }
    }

    /// The live message, in at most `room` columns: counts, then the running flows,
    /// longest-running first, as many as fit. Started flows whose commands wait in a queue
    /// (Slurm) are counted as queued, not running.
    fn message(&self, room: usize) -> String {
        let (queued, running): (Vec<&FlowId>, Vec<&FlowId>) = self
            .running
            .iter()
            .map(|(id, _)| id)
            .partition(|id| self.queued.contains(id.as_str()));
        let mut msg = format!(
            "{} done, {} running",
            self.finished.saturating_sub(self.failed + self.cancelled),
            running.len(),
        );
        if !queued.is_empty() {
            msg.push_str(&format!(", {} queued", queued.len()));
        }
        msg.push_str(&format!(", {} failed", self.failed));
        if self.cancelled > 0 {
            msg.push_str(&format!(", {} cancelled", self.cancelled));
        }
        let names: Vec<&str> = running.iter().map(|id| id.as_str()).collect();
        live::with_running(&msg, &names, room)
    }

    fn line(&self, text: &str) {
        match self.mode {
            Mode::Silent => {}
            Mode::Live => terminal::eprint_line(text),
            Mode::Lines => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
        }
        self.last_line.set(tokio::time::Instant::now());
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            terminal::print_above(None);
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow_core::{Failure, FailureKind, RunId};

    fn event(kind: EventKind) -> Event {
        Event {
            seq: 0,
            run_id: RunId::parse("20261126T153012.123Z-3f9a").unwrap(),
            at: Utc::now(),
            kind,
        }
    }

    fn id(s: &str) -> FlowId {
        FlowId::new(s).unwrap()
    }

    #[test]
    fn the_live_display_needs_two_terminals_that_redraw_unless_chosen() {
        use ProgressChoice::{Auto, Live, Plain};
        // --progress, --quiet or --json, stdout and stderr terminals, TERM: the mode.
        let table = [
            (Auto, false, true, Some("xterm-256color"), Mode::Live),
            (Auto, false, true, Some("dumb"), Mode::Lines),
            (Auto, false, true, Some(""), Mode::Lines),
            (Auto, false, true, None, Mode::Lines),
            (Auto, false, false, Some("xterm"), Mode::Lines),
            (Auto, true, true, Some("xterm"), Mode::Silent),
            (Live, false, false, Some("dumb"), Mode::Live),
            (Live, true, true, Some("xterm"), Mode::Silent),
            (Plain, false, true, Some("xterm"), Mode::Lines),
            (Plain, true, false, None, Mode::Silent),
        ];
        for (choice, silent, terminals, term, mode) in table {
            assert_eq!(
                Mode::choose(choice, silent, terminals, term),
                mode,
                "{choice:?} {silent} {terminals} {term:?}"
            );
        }
    }

    #[test]
    fn flows_waiting_in_a_queue_are_queued_not_running() {
        let mut p = Progress::new(Mode::Silent, 3, false);
        for name in ["a", "b", "c"] {
            p.on_event(&event(EventKind::FlowStarted {
                flow: id(name),
                attempt: 1,
            }));
        }
        p.queued = ["a".to_owned(), "c".to_owned()].into();
        assert_eq!(
            p.message(200),
            "0 done, 1 running, 2 queued, 0 failed · running: b"
        );
        p.queued.clear();
        assert_eq!(
            p.message(200),
            "0 done, 3 running, 0 failed · running: a, b, c"
        );
    }

    #[test]
    fn the_message_counts_done_running_failed_and_names_running_flows() {
        let mut p = Progress::new(Mode::Silent, 4, false);
        for name in ["a", "b", "c"] {
            p.on_event(&event(EventKind::FlowStarted {
                flow: id(name),
                attempt: 1,
            }));
        }
        assert_eq!(
            p.message(200),
            "0 done, 3 running, 0 failed · running: a, b, c"
        );
        p.on_event(&event(EventKind::FlowFinished {
            flow: id("b"),
            status: FlowStatus::Completed,
            failure: None,
            attempts: 1,
            reused: false,
        }));
        p.on_event(&event(EventKind::FlowFinished {
            flow: id("a"),
            status: FlowStatus::Failed,
            failure: Some(Failure::new(FailureKind::Error, "exit 1")),
            attempts: 1,
            reused: false,
        }));
        assert_eq!(p.message(200), "1 done, 1 running, 1 failed · running: c");
        p.on_event(&event(EventKind::FlowFinished {
            flow: id("c"),
            status: FlowStatus::Cancelled,
            failure: None,
            attempts: 1,
            reused: false,
        }));
        assert_eq!(p.message(200), "1 done, 0 running, 1 failed, 1 cancelled");
    }

    #[test]
    fn running_flows_are_named_as_running_not_after_the_failed_count() {
        let mut p = Progress::new(Mode::Silent, 2, false);
        for name in ["bad", "slowpoke"] {
            p.on_event(&event(EventKind::FlowStarted {
                flow: id(name),
                attempt: 1,
            }));
        }
        p.on_event(&event(EventKind::FlowFinished {
            flow: id("bad"),
            status: FlowStatus::Failed,
            failure: Some(Failure::new(FailureKind::Error, "exit 1")),
            attempts: 1,
            reused: false,
        }));
        // 200 columns leave 152 for the message after the bar; 80 leave 32.
        let message = p.message(152);
        assert_eq!(message, "0 done, 1 running, 1 failed · running: slowpoke");
        assert_eq!(
            p.message(45),
            "0 done, 1 running, 1 failed · running: slowp…"
        );
        assert_eq!(p.message(32), "0 done, 1 running, 1 failed");
    }

    #[test]
    fn retry_delays_read_with_a_space_between_number_and_unit() {
        assert_eq!(retry_in_text(Duration::from_millis(500)), "500ms");
        assert_eq!(retry_in_text(Duration::from_secs(150)), "2 m 30 s");
        let years = retry_in_text(Duration::from_secs(500_000_000_000 * 31_557_600));
        assert!(years.starts_with("500000000000 years"), "{years}");
    }

    #[test]
    fn many_running_flows_are_cut_with_a_count() {
        let mut p = Progress::new(Mode::Silent, 20, false);
        for i in 0..10 {
            p.on_event(&event(EventKind::FlowStarted {
                flow: id(&format!("f{i}")),
                attempt: 1,
            }));
        }
        assert_eq!(
            p.message(200),
            "0 done, 10 running, 0 failed · running: f0, f1, f2, f3, f4, f5, f6, f7, f8, f9"
        );
        assert!(
            p.message(60).ends_with("f0, f1, f2, f3 +6"),
            "{}",
            p.message(60)
        );
    }
}
