//! The timeline: a Gantt chart as inline SVG, with a bar per flow from its start to its finish,
//! coloured by status, outlined when on the critical path, dashed when the flow was retried
//! (with each attempt outlined inside), over a time axis.
//!
//! Up to [`ROWS_PER_FLOW_LIMIT`] flows get a row each, labelled; beyond that, bars are packed
//! into rows of concurrency slots (a bar goes in the first row free at its start), which keeps
//! the chart as tall as the run was wide.

use std::fmt::Write;

use super::escape::Escaped;
use super::format;
use super::model::{FlowEntry, Report};

/// The most flows that get one labelled row each.
pub const ROWS_PER_FLOW_LIMIT: usize = 300;

const WIDTH: f64 = 1100.0;
const ROW_HEIGHT: f64 = 18.0;
const BAR_HEIGHT: f64 = 12.0;
const AXIS_HEIGHT: f64 = 24.0;

/// Appends the timeline's `<svg>` to `out`.
pub fn render(out: &mut String, report: &Report) {
    // Flows that started, in order of start (then of the report).
    let mut started: Vec<usize> = (0..report.flows.len())
        .filter(|&i| report.flows[i].start_ms.is_some())
        .collect();
    started.sort_by(|&a, &b| {
        let (a_start, b_start) = (report.flows[a].start_ms, report.flows[b].start_ms);
        a_start
            .partial_cmp(&b_start)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if started.is_empty() {
        out.push_str("<p class=\"empty\">No flow started in this run.</p>\n");
        return;
    }
    let per_flow = started.len() <= ROWS_PER_FLOW_LIMIT;
    let rows: Vec<usize> = if per_flow {
        (0..started.len()).collect()
    } else {
        slots(report, &started)
    };
    let n_rows = rows.iter().max().map_or(0, |&r| r + 1);
    let label_width = if per_flow {
        label_width(report, &started)
    } else {
        70.0
    };
    let span = report.wall_ms.max(1.0);
    let plot = WIDTH - label_width - 40.0;
    let x = |ms: f64| label_width + (ms.clamp(0.0, span) / span) * plot;
    let height = AXIS_HEIGHT + n_rows as f64 * ROW_HEIGHT + 6.0;

    let _ = writeln!(
        out,
        "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"Timeline of the run\">"
    );
    // Time axis with grid lines.
    let step = format::tick_step(span, 10);
    let mut tick = 0.0;
    while tick <= span + 0.5 {
        let tx = x(tick);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{tx:.1}\" y1=\"{AXIS_HEIGHT}\" x2=\"{tx:.1}\" y2=\"{height:.0}\"/><text class=\"tick\" x=\"{tx:.1}\" y=\"14\">{}</text>",
            format::duration(tick)
        );
        tick += step;
    }
    if !per_flow {
        for row in 0..n_rows {
            let y = AXIS_HEIGHT + row as f64 * ROW_HEIGHT + 13.0;
            let _ = write!(
                out,
                "<text class=\"slot\" x=\"4\" y=\"{y:.0}\">slot {}</text>",
                row + 1
            );
        }
        out.push('\n');
    }
    for (&i, &row) in started.iter().zip(&rows) {
        let flow = &report.flows[i];
        let y = AXIS_HEIGHT + row as f64 * ROW_HEIGHT;
        let start = flow.start_ms.unwrap_or(0.0);
        let end = flow.end_ms.unwrap_or(report.wall_ms);
        let (x0, x1) = (x(start), x(end));
        let width = (x1 - x0).max(1.5);
        if per_flow {
            let _ = write!(
                out,
                "<text class=\"label\" x=\"{:.0}\" y=\"{:.0}\">{}</text>",
                label_width - 6.0,
                y + 13.0,
                Escaped(flow.id.as_str())
            );
        }
        let _ = write!(
            out,
            "<rect class=\"bar s-{}{}{}\" x=\"{x0:.1}\" y=\"{:.0}\" width=\"{width:.1}\" height=\"{BAR_HEIGHT}\" rx=\"2\"><title>",
            flow.status,
            if flow.critical { " crit" } else { "" },
            if flow.attempts > 1 { " retried" } else { "" },
            y + 3.0
        );
        tooltip(out, report, flow);
        out.push_str("</title></rect>");
        // Each attempt of a retried flow, outlined inside its bar.
        if flow.attempt_spans.len() > 1 {
            for attempt in &flow.attempt_spans {
                let (a0, a1) = (x(attempt.start_ms), x(attempt.end_ms));
                let _ = write!(
                    out,
                    "<rect class=\"attempt\" x=\"{a0:.1}\" y=\"{:.0}\" width=\"{:.1}\" height=\"{}\"><title>{}: attempt {}, {} for {}: {}</title></rect>",
                    y + 5.0,
                    (a1 - a0).max(1.0),
                    BAR_HEIGHT - 4.0,
                    Escaped(flow.id.as_str()),
                    attempt.attempt,
                    format::duration(attempt.start_ms),
                    format::duration(attempt.end_ms - attempt.start_ms),
                    Escaped(&attempt.end)
                );
            }
        }
        if flow.attempts > 1 {
            let _ = write!(
                out,
                "<text class=\"retries\" x=\"{:.1}\" y=\"{:.0}\">\u{21bb}{}</text>",
                x0 + width + 3.0,
                y + 13.0,
                flow.attempts
            );
        }
        out.push('\n');
    }
    out.push_str("</svg>\n");
}

/// The hover text of a flow: id, status, when, how long, attempts.
pub fn tooltip(out: &mut String, report: &Report, flow: &FlowEntry) {
    let _ = write!(
        out,
        "{}: {}",
        Escaped(flow.id.as_str()),
        report.label(flow.status)
    );
    if let Some(start) = flow.start_ms {
        let _ = write!(out, ", started at {}", format::duration(start));
    }
    if let Some(duration) = flow.shown_duration_ms() {
        let _ = write!(out, ", ran {}", format::duration(duration));
    }
    if flow.attempts > 1 {
        let _ = write!(out, ", {} attempts", flow.attempts);
    }
    if flow.critical {
        out.push_str(", on the critical path");
    }
}

/// Width of the label column: enough for the longest id shown (about 7 px a character).
fn label_width(report: &Report, started: &[usize]) -> f64 {
    let longest = started
        .iter()
        .map(|&i| report.flows[i].id.as_str().chars().count())
        .max()
        .unwrap_or(0);
    (longest as f64 * 7.0 + 16.0).clamp(60.0, 320.0)
}

/// The row of each flow in `started` (sorted by start) when rows are concurrency slots: the
/// first row whose last bar ended by the flow's start.
fn slots(report: &Report, started: &[usize]) -> Vec<usize> {
    let mut row_ends: Vec<f64> = Vec::new();
    started
        .iter()
        .map(|&i| {
            let flow = &report.flows[i];
            let start = flow.start_ms.unwrap_or(0.0);
            let end = flow.end_ms.unwrap_or(report.wall_ms).max(start);
            match row_ends.iter().position(|&row_end| row_end <= start) {
                Some(row) => {
                    row_ends[row] = end;
                    row
                }
                None => {
                    row_ends.push(end);
                    row_ends.len() - 1
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use flow_graph::DependencyType::Required;
    use flow_results::FlowStatus::*;

    use super::super::model::test_support::{run, Made};
    use super::*;
    use crate::run_state::RunState;

    #[test]
    fn slots_reuse_rows_that_are_free() {
        let (run, results, _) = run(
            &[
                Made {
                    id: "a",
                    status: Completed,
                    span: Some((0, 10)),
                    failure: None,
                },
                Made {
                    id: "b",
                    status: Completed,
                    span: Some((0, 5)),
                    failure: None,
                },
                Made {
                    id: "c",
                    status: Completed,
                    span: Some((5, 10)),
                    failure: None,
                },
                Made {
                    id: "d",
                    status: Completed,
                    span: Some((10, 20)),
                    failure: None,
                },
            ],
            &[],
        );
        let report = Report::build(&run, RunState::Ended, results, None);
        let started: Vec<usize> = vec![0, 1, 2, 3];
        assert_eq!(slots(&report, &started), [0, 1, 1, 0]);
    }

    #[test]
    fn bars_are_coloured_by_status_and_escaped() {
        let (run, results, graph) = run(
            &[
                Made {
                    id: "a",
                    status: Completed,
                    span: Some((0, 10)),
                    failure: None,
                },
                Made {
                    id: "b",
                    status: Failed,
                    span: Some((10, 20)),
                    failure: Some(flow_results::FailureKind::Error),
                },
                Made {
                    id: "never",
                    status: Pending,
                    span: None,
                    failure: None,
                },
            ],
            &[("a", "b", Required)],
        );
        let report = Report::build(&run, RunState::Ended, results, Some(&graph));
        let mut out = String::new();
        render(&mut out, &report);
        assert_eq!(out.matches("<rect class=\"bar").count(), 2, "{out}");
        assert!(out.contains("s-failed crit"), "{out}");
        assert!(!out.contains(">never<"), "{out}");
    }
}
