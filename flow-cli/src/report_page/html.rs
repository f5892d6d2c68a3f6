//! The report page: one HTML file with inline CSS, inline SVG and a few lines of inline script
//! (to sort the table), which opens offline in any browser and makes no network request.

use std::fmt::Write;

use flow_results::FailureKind;

use super::escape::Escaped;
use super::format;
use super::model::{FlowEntry, Report};
use super::{dag, timeline};
use crate::run_state::{FlowState, RunState};

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");
/// The most flows of the critical path the summary names; a longer path shows its two ends.
const CRITICAL_PATH_SHOWN: usize = 12;
/// The most failures whose stderr is shown unfolded.
const FAILURES_UNFOLDED: usize = 10;

/// The whole page.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(4096 + report.flows.len() * 900);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>flow report: {} {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        Escaped(&report.workflow),
        Escaped(&report.run_id)
    );
    summary(&mut out, report);
    section(&mut out, "timeline", "Timeline", |out| {
        out.push_str("<p class=\"hint\">One bar per flow from its start to its finish; outlined bars are the critical path, dashed ones were retried (\u{21bb} attempts).</p>\n<div class=\"scroll\">\n");
        timeline::render(out, report);
        out.push_str("</div>\n");
    });
    section(&mut out, "dag", "Dependency graph", |out| {
        out.push_str("<p class=\"hint\">Dashed edges are optional dependencies; outlined nodes are the critical path.</p>\n<div class=\"scroll\">\n");
        dag::render(out, report);
        out.push_str("</div>\n");
    });
    section(&mut out, "failures", "Failures", |out| {
        failures(out, report)
    });
    section(&mut out, "flows", "All flows", |out| table(out, report));
    let _ = write!(out, "<script>\n{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

/// Appends `<section id=ID><h2>TITLE</h2>…</section>`.
fn section(out: &mut String, id: &str, title: &str, body: impl FnOnce(&mut String)) {
    let _ = writeln!(out, "<section id=\"{id}\">\n<h2>{title}</h2>");
    body(out);
    out.push_str("</section>\n");
}

/// The heading and the facts of the run.
fn summary(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "<header id=\"summary\">\n<h1>{} <span class=\"run\">{}</span></h1>\n<dl>",
        Escaped(&report.workflow),
        Escaped(&report.run_id)
    );
    let _ = writeln!(
        out,
        "<dt>Started</dt><dd>{}</dd>",
        report.started_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")
    );
    let _ = writeln!(
        out,
        "<dt>Wall time</dt><dd>{}{}</dd>",
        format::duration(report.wall_ms),
        match report.state {
            RunState::Ended if report.finished => "",
            RunState::Interrupted => " (interrupted: its `flow run` died before the run ended)",
            _ => " (the run did not record its end)",
        }
    );
    out.push_str("<dt>Flows</dt><dd>");
    let _ = write!(out, "{} in all", report.flows.len());
    for status in FlowState::ALL {
        let n = report.count(status);
        if n > 0 {
            // Told apart from the flows a run that is over never started (`not run`), as
            // the counts line of `flow results` tells them.
            let label = match status {
                FlowState::NotRun => "not run (upstream failed)",
                status => report.label(status),
            };
            let _ = write!(out, " <span class=\"chip s-{status}\">{n} {label}</span>");
        }
    }
    out.push_str("</dd>\n");
    if let Some(command) = &report.command_line {
        let _ = writeln!(
            out,
            "<dt>Command</dt><dd><code>{}</code></dd>",
            Escaped(command)
        );
    }
    out.push_str("<dt>Critical path</dt><dd>");
    critical_path(out, report);
    out.push_str("</dd>\n</dl>\n</header>\n");
}

/// The critical path as `a → b → c (12 s of 14 s)`.
fn critical_path(out: &mut String, report: &Report) {
    if report.critical_path.is_empty() {
        out.push_str("none (no flow both started and finished)");
        return;
    }
    let path = &report.critical_path;
    let (head, tail) = if path.len() > CRITICAL_PATH_SHOWN {
        let half = CRITICAL_PATH_SHOWN / 2;
        (&path[..half], &path[path.len() - half..])
    } else {
        (&path[..], &path[path.len()..])
    };
    for (k, &i) in head.iter().enumerate() {
        if k > 0 {
            out.push_str(" \u{2192} ");
        }
        let _ = write!(out, "<code>{}</code>", Escaped(report.flows[i].id.as_str()));
    }
    if !tail.is_empty() {
        let _ = write!(
            out,
            " \u{2192} \u{2026} {} more \u{2026}",
            path.len() - head.len() - tail.len()
        );
    }
    for &i in tail {
        let _ = write!(
            out,
            " \u{2192} <code>{}</code>",
            Escaped(report.flows[i].id.as_str())
        );
    }
    let _ = write!(out, " <span class=\"muted\">({} flows,", path.len());
    let busy: f64 = report
        .critical_path
        .iter()
        .filter_map(|&i| report.flows[i].duration_ms())
        .sum();
    let _ = write!(
        out,
        " {} running of {} wall time)</span>",
        format::duration(busy),
        format::duration(report.wall_ms)
    );
}

/// Every failed flow that caused failures, with what it took down, then cancelled flows.
fn failures(out: &mut String, report: &Report) {
    if report.failure_groups.is_empty() {
        out.push_str("<p class=\"empty\">No flow failed.</p>\n");
    }
    for (k, group) in report.failure_groups.iter().enumerate() {
        let flow = &report.flows[group.cause];
        let _ = writeln!(
            out,
            "<article class=\"failure\">\n<h3><span class=\"chip s-{}\">{}</span> <code>{}</code></h3>",
            flow.status,
            report.label(flow.status),
            Escaped(flow.id.as_str())
        );
        out.push_str("<dl>");
        if let Some(failure) = &flow.failure {
            let _ = write!(
                out,
                "<dt>Failure</dt><dd>{} <span class=\"muted\">({})</span></dd>",
                Escaped(&failure.message),
                kind_name(&failure.kind)
            );
        }
        if let Some(code) = flow.exit_code {
            let _ = write!(out, "<dt>Exit code</dt><dd>{code}</dd>");
        }
        if let Some(FailureKind::Crashed {
            signal: Some(signal),
        }) = flow.failure.as_ref().map(|f| &f.kind)
        {
            let _ = write!(out, "<dt>Signal</dt><dd>{signal}</dd>");
        }
        let _ = write!(out, "<dt>Attempts</dt><dd>{}</dd>", flow.attempts);
        if let Some(duration) = flow.duration_ms() {
            let _ = write!(out, "<dt>Ran</dt><dd>{}</dd>", format::duration(duration));
        }
        out.push_str("</dl>\n");
        for (stream, tail) in [("stdout", &flow.stdout_tail), ("stderr", &flow.stderr_tail)] {
            if !tail.is_empty() {
                let _ = writeln!(
                    out,
                    "<details{}><summary>End of {stream}</summary><pre>{}</pre></details>",
                    if k < FAILURES_UNFOLDED { " open" } else { "" },
                    Escaped(tail)
                );
            }
        }
        if !group.downstream.is_empty() {
            let _ =
                write!(
                out,
                "<details class=\"downstream\"><summary>{} {} not run because of it</summary><ul>",
                group.downstream.len(),
                if group.downstream.len() == 1 { "flow" } else { "flows" }
            );
            for &i in &group.downstream {
                let _ = write!(
                    out,
                    "<li><code>{}</code></li>",
                    Escaped(report.flows[i].id.as_str())
                );
            }
            out.push_str("</ul></details>\n");
        }
        out.push_str("</article>\n");
    }
    for state in [FlowState::Cancelled, FlowState::Interrupted] {
        ended_without_failing(out, report, state);
    }
}

/// The flows in `state` (cancelled, interrupted), folded, each with its message.
fn ended_without_failing(out: &mut String, report: &Report, state: FlowState) {
    let flows: Vec<&FlowEntry> = report.flows.iter().filter(|f| f.status == state).collect();
    if !flows.is_empty() {
        let _ = write!(
            out,
            "<details class=\"{state}\"><summary>{} {state}</summary><ul>",
            flows.len()
        );
        for flow in flows {
            let _ = write!(out, "<li><code>{}</code>", Escaped(flow.id.as_str()));
            if let Some(failure) = &flow.failure {
                let _ = write!(out, ": {}", Escaped(&failure.message));
            }
            out.push_str("</li>");
        }
        out.push_str("</ul></details>\n");
    }
}

/// A short name for a failure kind.
fn kind_name(kind: &FailureKind) -> &'static str {
    match kind {
        FailureKind::Error => "error",
        FailureKind::Timeout => "timeout",
        FailureKind::Crashed { .. } => "crashed",
        FailureKind::Upstream { .. } => "dependency failed",
        FailureKind::Cancelled => "cancelled",
        _ => "failure",
    }
}

/// The table of all flows, sortable by clicking a column's heading.
fn table(out: &mut String, report: &Report) {
    out.push_str("<table class=\"sortable\">\n<thead><tr><th data-sort=\"text\">Flow</th><th data-sort=\"num\">Status</th><th data-sort=\"num\">Start</th><th data-sort=\"num\">Duration</th><th data-sort=\"num\">Attempts</th><th data-sort=\"num\">Exit</th></tr></thead>\n<tbody>\n");
    for flow in &report.flows {
        let status_rank = FlowState::ALL
            .iter()
            .position(|&s| s == flow.status)
            .unwrap_or(0);
        let _ = write!(
            out,
            "<tr{}><td><code>{}</code></td><td data-v=\"{status_rank}\"><span class=\"chip s-{}\">{}</span></td>",
            if flow.critical { " class=\"crit\"" } else { "" },
            Escaped(flow.id.as_str()),
            flow.status,
            match &flow.up_to_date_from {
                Some(run) => format!("up to date (from run {})", Escaped(run)),
                None => report.label(flow.status).to_owned(),
            }
        );
        cell_ms(out, flow.start_ms);
        cell_ms(out, flow.shown_duration_ms());
        let _ = write!(out, "<td data-v=\"{0}\">{0}</td>", flow.attempts);
        match flow.exit_code {
            Some(code) => {
                let _ = write!(out, "<td data-v=\"{code}\">{code}</td>");
            }
            None => out.push_str("<td data-v=\"-999999\"></td>"),
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// A table cell with a time in milliseconds, sortable by its value; empty when unknown.
fn cell_ms(out: &mut String, ms: Option<f64>) {
    match ms {
        Some(ms) => {
            let _ = write!(out, "<td data-v=\"{ms:.3}\">{}</td>", format::duration(ms));
        }
        None => out.push_str("<td data-v=\"-1\"></td>"),
    }
}

#[cfg(test)]
mod tests {
    use flow_graph::{DependencyType::*, FlowId};
    use flow_results::FlowStatus::*;

    use super::super::model::test_support::{run, Made};
    use super::*;
    use crate::run_state::RunState;

    fn page() -> String {
        let (run, results, graph) = run(
            &[
                Made {
                    id: "fetch",
                    status: Failed,
                    span: Some((0, 100)),
                    failure: Some(FailureKind::Crashed { signal: Some(9) }),
                },
                Made {
                    id: "parse",
                    status: Failed,
                    span: None,
                    failure: Some(FailureKind::Upstream {
                        flow: FlowId::new("fetch").unwrap(),
                    }),
                },
                Made {
                    id: "other",
                    status: Completed,
                    span: Some((0, 300)),
                    failure: None,
                },
                Made {
                    id: "stop",
                    status: Cancelled,
                    span: None,
                    failure: Some(FailureKind::Cancelled),
                },
            ],
            &[("fetch", "parse", Required), ("other", "parse", Optional)],
        );
        let mut report = Report::build(&run, RunState::Ended, results, Some(&graph));
        report.command_line = Some("flow run 'x<y>.toml'".into());
        render(&report)
    }

    #[test]
    fn the_page_has_every_section() {
        let page = page();
        for needle in [
            "<section id=\"timeline\">",
            "<section id=\"dag\">",
            "<section id=\"failures\">",
            "<section id=\"flows\">",
            "<svg class=\"timeline\"",
            "<svg class=\"dag\"",
            "<article class=\"failure\">",
            "<dt>Signal</dt><dd>9</dd>",
            "1 flow not run because of it",
            "<span class=\"chip s-not_run\">1 not run (upstream failed)</span>",
            "1 cancelled",
            "flow run &#39;x&lt;y&gt;.toml&#39;",
        ] {
            assert!(page.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn flow_output_is_text_not_markup() {
        let page = page();
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(
            page.matches("<script").count(),
            1,
            "only the page's own script"
        );
    }

    #[test]
    fn the_page_loads_nothing_from_anywhere() {
        let page = page();
        for needle in [
            "http://", "https://", "src=", "href=", "@import", "url(//", "url(http",
        ] {
            assert!(!page.contains(needle), "found {needle}");
        }
    }

    #[test]
    fn a_long_critical_path_shows_its_two_ends() {
        let names: Vec<String> = (0..20).map(|i| format!("step{i}")).collect();
        let made: Vec<Made<'_>> = names
            .iter()
            .zip(0..)
            .map(|(id, i)| Made {
                id,
                status: Completed,
                span: Some((i * 10, i * 10 + 10)),
                failure: None,
            })
            .collect();
        let edges: Vec<_> = names
            .windows(2)
            .map(|w| (w[0].as_str(), w[1].as_str(), Required))
            .collect();
        let (run, results, graph) = run(&made, &edges);
        let report = Report::build(&run, RunState::Ended, results, Some(&graph));
        let page = render(&report);
        assert!(
            page.contains(
                "<code>step5</code> \u{2192} \u{2026} 8 more \u{2026} \u{2192} <code>step14</code>"
            ),
            "{page}"
        );
        assert!(
            page.contains("(20 flows, 200 ms running of 200 ms wall time)"),
            "{page}"
        );
        let summary = &page[..page.find("</header>").unwrap()];
        assert!(!summary.contains("<code>step6</code>"), "{summary}");
    }
}
