//! The keep-alive of plain progress lines: when a run has printed nothing for a while (a
//! minute), one line names the flows still running and for how long, so a CI system that
//! kills a job after some minutes without output (Travis, GitLab and Jenkins plugins) does not
//! kill a run whose steps are long and quiet.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flow_core::FlowId;

use crate::report::format_ms;

/// How long plain progress stays silent before it says what still runs.
const EVERY: Duration = Duration::from_secs(60);

/// The variable through which tests shorten [`EVERY`] (milliseconds); not documented for
/// users, and `flow`'s own (a workflow cannot set `FLOW_*` variables).
const EVERY_VARIABLE: &str = "FLOW_STILL_RUNNING_EVERY_MS";

/// Running flows named in one line; the others are counted.
const NAMED: usize = 10;

/// How long plain progress waits, silent, before a keep-alive line.
pub(super) fn every() -> Duration {
    std::env::var(EVERY_VARIABLE)
        .ok()
        .and_then(|ms| ms.trim().parse().ok())
        .filter(|&ms| ms > 0)
        .map_or(EVERY, Duration::from_millis)
}

/// The keep-alive line at `now`: the `running` flows (with when their attempt started, in
/// start order, so the longest-running first), those in `queued` marked so, at most
/// [`NAMED`] of them; with none running, how many of `total` flows have finished.
pub(super) fn line(
    running: &[(FlowId, DateTime<Utc>)],
    queued: &BTreeSet<String>,
    finished: usize,
    total: usize,
    now: DateTime<Utc>,
) -> String {
    if running.is_empty() {
        return format!("still running: {finished} of {total} flows finished, none running now");
    }
    let named: Vec<String> = running
        .iter()
        .take(NAMED)
        .map(|(flow, since)| {
            // In whole seconds: the line comes once a minute, not to time the flow.
            let secs = u64::try_from((now - *since).num_seconds()).unwrap_or(0);
            let time = if secs < 60 {
                format!("{secs}s")
            } else {
                format_ms(secs * 1000)
            };
            if queued.contains(flow.as_str()) {
                format!("{flow} (queued, {time})")
            } else {
                format!("{flow} ({time})")
            }
        })
        .collect();
    let mut text = format!("still running: {}", named.join(", "));
    if running.len() > NAMED {
        text.push_str(&format!(" and {} more", running.len() - NAMED));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn id(s: &str) -> FlowId {
        FlowId::new(s).unwrap()
    }

    #[test]
    fn the_line_names_running_flows_longest_first_with_their_time() {
        let running = [(id("fetch"), at(0)), (id("build"), at(189))];
        let queued = BTreeSet::from(["build".to_owned()]);
        assert_eq!(
            line(&running, &queued, 3, 10, at(252)),
            "still running: fetch (4m12s), build (queued, 1m03s)"
        );
        assert_eq!(
            line(&running[1..], &BTreeSet::new(), 3, 10, at(231)),
            "still running: build (42s)"
        );
        // Under a second (a flow just started): 0s, not a time in milliseconds.
        let just = [(id("build"), at(10))];
        let now = at(10) + chrono::Duration::milliseconds(600);
        assert_eq!(
            line(&just, &BTreeSet::new(), 0, 1, now),
            "still running: build (0s)"
        );
    }

    #[test]
    fn the_line_with_no_flow_running_counts_the_finished_ones() {
        assert_eq!(
            line(&[], &BTreeSet::new(), 3, 10, at(0)),
            "still running: 3 of 10 flows finished, none running now"
        );
    }

    #[test]
    fn many_running_flows_are_cut_with_a_count() {
        let running: Vec<_> = (0..12).map(|i| (id(&format!("f{i}")), at(0))).collect();
        let text = line(&running, &BTreeSet::new(), 0, 12, at(60));
        assert!(text.ends_with("f9 (1m00s) and 2 more"), "{text}");
        assert!(!text.contains("f10"), "{text}");
    }
}
