//! The DAG of the run: flows in layers, coloured by status, optional dependencies dashed, the
//! critical path outlined.
//!
//! Up to [`DAG_DRAWING_LIMIT`] flows it is drawn as inline SVG. The layout (layers, order in a
//! layer to cut crossings, edge routes) comes from the `layout-rs` crate; its own SVG writer is
//! not used: a small [`RenderBackend`] only collects where each node and edge went, and the SVG
//! is written here, so nodes carry status classes and tooltips and every label is escaped.
//! Beyond the limit the page lists the flows layer by layer instead.

use std::fmt::Write;

use flow_graph::DependencyType;
use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::escape::Escaped;
use super::model::Report;
use super::timeline::tooltip;

/// The most flows drawn as a graph; beyond, the DAG is a list by layer.
pub const DAG_DRAWING_LIMIT: usize = 300;
/// The most nodes the layout may place: flows plus one bend point per layer that an edge
/// skips. Its time grows faster than linearly with them (about 0.25 s for 400 in a release
/// build, 2 s for 1,200), so a graph of a few flows with very long edges is listed too.
pub const LAYOUT_NODE_LIMIT: usize = 450;

const FONT_SIZE: usize = 12;
const MARGIN: f64 = 10.0;

/// Appends the DAG to `out`: an `<svg>`, or a list by layer for large runs.
pub fn render(out: &mut String, report: &Report) {
    if report.flows.is_empty() {
        out.push_str("<p class=\"empty\">The run has no flows.</p>\n");
        return;
    }
    let layout_nodes = layout_nodes(report);
    if report.flows.len() <= DAG_DRAWING_LIMIT && layout_nodes <= LAYOUT_NODE_LIMIT {
        // layout-rs asserts on what it considers impossible; a report should still come out.
        let laid_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| layout(report)));
        match laid_out {
            Ok(drawing) => return drawing.write_svg(out, report),
            Err(_) => tracing::warn!("the graph layout failed; listing the flows by layer"),
        }
    } else {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} flows{} are too many to draw; here they are layer by layer (a flow's layer is one more than its deepest dependency's).</p>",
            report.flows.len(),
            if report.flows.len() <= DAG_DRAWING_LIMIT { " with such long edges" } else { "" }
        );
    }
    render_list(out, report);
}

/// How many nodes the layout would place: the flows, and a bend point on every layer an edge
/// passes over.
fn layout_nodes(report: &Report) -> usize {
    let bends: usize = report
        .edges
        .iter()
        .map(|e| {
            let span = report.flows[e.child]
                .layer
                .saturating_sub(report.flows[e.parent].layer);
            span.saturating_sub(1) as usize
        })
        .sum();
    report.flows.len() + bends
}

/// The flows as a list by layer.
fn render_list(out: &mut String, report: &Report) {
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); report.layer_count() as usize];
    for (i, flow) in report.flows.iter().enumerate() {
        layers[flow.layer as usize].push(i);
    }
    out.push_str("<ol class=\"layers\" start=\"0\">\n");
    for members in &layers {
        let _ = write!(
            out,
            "<li><span class=\"count\">{} flows</span> ",
            members.len()
        );
        for &i in members {
            let flow = &report.flows[i];
            let _ = write!(
                out,
                "<span class=\"chip s-{}{}\" title=\"",
                flow.status,
                if flow.critical { " crit" } else { "" }
            );
            tooltip(out, report, flow);
            let _ = write!(out, "\">{}</span> ", Escaped(flow.id.as_str()));
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ol>\n");
}

/// Where the layout put things.
#[derive(Debug, Default)]
struct Drawing {
    /// Per flow: top-left corner and size.
    nodes: Vec<Option<(Point, Point)>>,
    /// Per edge: the path as layout-rs gives it: (point, control point) pairs.
    edges: Vec<Option<Vec<(Point, Point)>>>,
}

/// Lays the report's graph out with layout-rs.
fn layout(report: &Report) -> Drawing {
    let mut graph = VisualGraph::new(Orientation::TopToBottom);
    let look = StyleAttr::new(
        layout::core::color::Color::new(0x000000ff),
        1,
        None,
        4,
        FONT_SIZE,
    );
    let handles: Vec<_> = report
        .flows
        .iter()
        .enumerate()
        .map(|(i, flow)| {
            let label = flow.id.as_str();
            let width = label.chars().count() as f64 * 7.2 + 24.0;
            let element = Element::create_with_properties(
                ShapeKind::new_box(label),
                look.clone(),
                Orientation::TopToBottom,
                Point::new(width, 28.0),
                i.to_string(),
            );
            graph.add_node(element)
        })
        .collect();
    for (k, edge) in report.edges.iter().enumerate() {
        let style = match edge.kind {
            DependencyType::Required => LineStyleKind::Normal,
            DependencyType::Optional => LineStyleKind::Dashed,
        };
        let arrow = Arrow::with_properties(
            LineEndKind::None,
            LineEndKind::Arrow,
            style,
            "",
            &look,
            k.to_string(),
            &None,
            &None,
        );
        graph.add_edge(arrow, handles[edge.parent], handles[edge.child]);
    }
    let mut drawing = Drawing {
        nodes: vec![None; report.flows.len()],
        edges: vec![None; report.edges.len()],
    };
    graph.do_it(false, false, false, &mut drawing);
    drawing
}

impl RenderBackend for Drawing {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        let index = properties.and_then(|p| p.parse::<usize>().ok());
        if let Some(slot) = index.and_then(|i| self.nodes.get_mut(i)) {
            *slot = Some((xy, size));
        }
    }

    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        _head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        let index = properties.and_then(|p| p.parse::<usize>().ok());
        if let Some(slot) = index.and_then(|i| self.edges.get_mut(i)) {
            *slot = Some(path.to_vec());
        }
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}

impl Drawing {
    /// Writes the SVG of the laid-out graph.
    fn write_svg(&self, out: &mut String, report: &Report) {
        let (mut min, mut max) = (
            Point::new(f64::MAX, f64::MAX),
            Point::new(f64::MIN, f64::MIN),
        );
        let mut grow = |p: Point| {
            min = Point::new(min.x.min(p.x), min.y.min(p.y));
            max = Point::new(max.x.max(p.x), max.y.max(p.y));
        };
        for &(xy, size) in self.nodes.iter().flatten() {
            grow(xy);
            grow(xy.add(size));
        }
        for path in self.edges.iter().flatten() {
            for &(a, b) in path {
                grow(a);
                grow(b);
            }
        }
        if min.x > max.x {
            return;
        }
        let (width, height) = (max.x - min.x + 2.0 * MARGIN, max.y - min.y + 2.0 * MARGIN);
        let (dx, dy) = (MARGIN - min.x, MARGIN - min.y);
        let _ = writeln!(
            out,
            "<svg class=\"dag\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"Dependency graph of the run\">"
        );
        out.push_str("<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" class=\"head\"/></marker><marker id=\"head-crit\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" class=\"head-crit\"/></marker></defs>\n");
        let on_path: Vec<(usize, usize)> = report
            .critical_path
            .windows(2)
            .map(|pair| (pair[0], pair[1]))
            .collect();
        for (edge, path) in report.edges.iter().zip(&self.edges) {
            let Some(path) = path.as_ref().filter(|p| p.len() >= 2) else {
                continue;
            };
            let critical = on_path.contains(&(edge.parent, edge.child));
            let _ = write!(
                out,
                "<path class=\"edge{}{}\" marker-end=\"url(#{})\" d=\"M{:.1} {:.1}C{:.1} {:.1} {:.1} {:.1} {:.1} {:.1}",
                if edge.kind == DependencyType::Optional { " optional" } else { "" },
                if critical { " crit" } else { "" },
                if critical { "head-crit" } else { "head" },
                path[0].0.x + dx,
                path[0].0.y + dy,
                path[0].1.x + dx,
                path[0].1.y + dy,
                path[1].0.x + dx,
                path[1].0.y + dy,
                path[1].1.x + dx,
                path[1].1.y + dy,
            );
            for point in &path[2..] {
                let _ = write!(
                    out,
                    "S{:.1} {:.1} {:.1} {:.1}",
                    point.0.x + dx,
                    point.0.y + dy,
                    point.1.x + dx,
                    point.1.y + dy
                );
            }
            let _ = writeln!(
                out,
                "\"><title>{} \u{2192} {} ({})</title></path>",
                Escaped(report.flows[edge.parent].id.as_str()),
                Escaped(report.flows[edge.child].id.as_str()),
                edge.kind
            );
        }
        for (flow, node) in report.flows.iter().zip(&self.nodes) {
            let Some((xy, size)) = node else { continue };
            let _ = write!(
                out,
                "<g class=\"node s-{}{}\"><title>",
                flow.status,
                if flow.critical { " crit" } else { "" }
            );
            tooltip(out, report, flow);
            let _ = writeln!(
                out,
                "</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"5\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
                xy.x + dx,
                xy.y + dy,
                size.x,
                size.y,
                xy.x + dx + size.x / 2.0,
                xy.y + dy + size.y / 2.0 + 4.0,
                Escaped(flow.id.as_str())
            );
        }
        out.push_str("</svg>\n");
    }
}

#[cfg(test)]
mod tests {
    use flow_graph::DependencyType::*;
    use flow_results::FlowStatus::*;

    use super::super::model::test_support::{run, Made};
    use super::*;
    use crate::run_state::RunState;

    #[test]
    fn every_flow_and_edge_is_drawn() {
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
                    status: Completed,
                    span: Some((10, 50)),
                    failure: None,
                },
                Made {
                    id: "c",
                    status: Failed,
                    span: Some((10, 20)),
                    failure: Some(flow_results::FailureKind::Error),
                },
                Made {
                    id: "d",
                    status: Completed,
                    span: Some((50, 60)),
                    failure: None,
                },
            ],
            &[
                ("a", "b", Required),
                ("a", "c", Required),
                ("b", "d", Required),
                ("c", "d", Optional),
            ],
        );
        let report = Report::build(&run, RunState::Ended, results, Some(&graph));
        let mut out = String::new();
        render(&mut out, &report);
        assert_eq!(out.matches("<g class=\"node").count(), 4, "{out}");
        assert_eq!(out.matches("<path class=\"edge").count(), 4, "{out}");
        assert_eq!(out.matches("class=\"edge optional").count(), 1, "{out}");
        assert_eq!(out.matches("class=\"edge crit").count(), 2, "a→b→d: {out}");
        assert!(out.contains("<g class=\"node s-failed\">"), "{out}");
        assert!(!out.contains("NaN"), "{out}");
    }

    #[test]
    fn large_runs_are_listed_by_layer() {
        let names: Vec<String> = (0..=DAG_DRAWING_LIMIT).map(|i| format!("f{i}")).collect();
        let made: Vec<Made<'_>> = names
            .iter()
            .map(|id| Made {
                id,
                status: Completed,
                span: Some((0, 1)),
                failure: None,
            })
            .collect();
        let edges: Vec<(&str, &str, DependencyType)> = names
            .windows(2)
            .take(3)
            .map(|w| (w[0].as_str(), w[1].as_str(), Required))
            .collect();
        let (run, results, graph) = run(&made, &edges);
        let report = Report::build(&run, RunState::Ended, results, Some(&graph));
        let mut out = String::new();
        render(&mut out, &report);
        assert!(!out.contains("<svg"), "{out}");
        assert_eq!(out.matches("<li>").count(), 4, "layers 0 to 3");
        assert_eq!(out.matches("class=\"chip").count(), DAG_DRAWING_LIMIT + 1);
    }

    #[test]
    fn a_few_flows_with_very_long_edges_are_listed_too() {
        // A chain of 40 where the first flow also feeds every other: 741 bend points.
        let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let made: Vec<Made<'_>> = names
            .iter()
            .map(|id| Made {
                id,
                status: Completed,
                span: Some((0, 1)),
                failure: None,
            })
            .collect();
        let mut edges = Vec::new();
        for i in 1..names.len() {
            edges.push((names[i - 1].as_str(), names[i].as_str(), Required));
            if i > 1 {
                edges.push((names[0].as_str(), names[i].as_str(), Optional));
            }
        }
        let (run, results, graph) = run(&made, &edges);
        let report = Report::build(&run, RunState::Ended, results, Some(&graph));
        assert!(layout_nodes(&report) > LAYOUT_NODE_LIMIT);
        let mut out = String::new();
        render(&mut out, &report);
        assert!(!out.contains("<svg"), "{out}");
        assert!(out.contains("40 flows with such long edges"), "{out}");
        assert_eq!(out.matches("<li>").count(), 40);
    }

    #[test]
    fn without_edges_every_flow_is_still_drawn() {
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
                    status: Running,
                    span: None,
                    failure: None,
                },
                Made {
                    id: "c",
                    status: Pending,
                    span: None,
                    failure: None,
                },
            ],
            &[],
        );
        let report = Report::build(&run, RunState::Ended, results, None);
        let mut out = String::new();
        render(&mut out, &report);
        assert_eq!(out.matches("<g class=\"node").count(), 3, "{out}");
        assert!(!out.contains("<path class=\"edge"), "{out}");
    }
}
