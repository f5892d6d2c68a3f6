//! The graph checks of a parsed workflow: duplicate-free dependencies that name known flows,
//! and no cycle (each cycle reported with its path), building the [`FlowGraph`].

use std::collections::HashMap;
use std::ops::Range;

use flow_graph::{DependencyType, FlowGraph, GraphError};

use super::diagnostic::Collector;
use super::parse::{RawFlow, RawRef, RawWorkflow};

/// At most this many distinct cycles are reported.
const MAX_CYCLES: usize = 20;

/// One dependency edge that passed the name checks, with where it is written.
struct Edge<'a> {
    parent: &'a str,
    child: &'a str,
    kind: DependencyType,
    span: Option<Range<usize>>,
}

/// Checks the dependencies of `raw` and builds its graph. Returns `None` when there is nothing
/// to check (a syntax error); the graph otherwise, built from the edges that passed.
pub(super) fn check(raw: &Option<RawWorkflow>, diags: &mut Collector<'_>) -> Option<FlowGraph> {
    let raw = raw.as_ref()?;
    // Every key written under [flows], valid id or not: a reference to an invalid key was
    // reported with the key already.
    let declared: HashMap<&str, bool> = raw
        .flows
        .iter()
        .map(|f| (f.name.as_str(), f.id.is_some()))
        .collect();
    let mut graph = FlowGraph::with_capacity(raw.flows.len(), 0);
    for flow in &raw.flows {
        if let Some(id) = &flow.id {
            // Keys of a TOML table are unique, so this cannot be a duplicate.
            let _ = graph.add_flow(id.clone());
        }
    }
    let mut edges = Vec::new();
    for flow in &raw.flows {
        if flow.id.is_none() {
            continue;
        }
        let mut seen: HashMap<&str, &'static str> = HashMap::new();
        for (list, kind, refs) in [
            ("requires", DependencyType::Required, &flow.requires),
            ("wants", DependencyType::Optional, &flow.wants),
        ] {
            for r in refs {
                if let Some(previous) = seen.insert(r.name.as_str(), list) {
                    if previous != list {
                        diags.error(
                            r.span.clone(),
                            format!(
                                "flow `{}` lists `{}` in both `requires` and `wants`: keep one",
                                flow.name, r.name
                            ),
                        );
                    }
                    continue;
                }
                if check_ref(flow, list, r, &declared, raw, diags) {
                    edges.push(Edge {
                        parent: &r.name,
                        child: &flow.name,
                        kind,
                        span: r.span.clone(),
                    });
                }
            }
        }
    }
    add_edges(&mut graph, edges, diags);
    Some(graph)
}

/// Whether reference `r` in `flow`'s `list` names a known flow; reports it otherwise.
fn check_ref(
    flow: &RawFlow,
    list: &str,
    r: &RawRef,
    declared: &HashMap<&str, bool>,
    raw: &RawWorkflow,
    diags: &mut Collector<'_>,
) -> bool {
    match declared.get(r.name.as_str()) {
        Some(true) => true,
        Some(false) => false,
        None => {
            let message = match flow_graph::validate_flow_id(&r.name) {
                Err(e) => format!("in `{list}` of flow `{}`: {e}", flow.name),
                Ok(()) => {
                    let verb = if list == "requires" {
                        "requires"
                    } else {
                        "wants"
                    };
                    let mut m = format!("flow `{}` {verb} unknown flow `{}`", flow.name, r.name);
                    if let Some(close) = closest(&r.name, raw) {
                        m.push_str(&format!(" (did you mean `{close}`?)"));
                    }
                    m
                }
            };
            diags.error(r.span.clone(), message);
            false
        }
    }
}

/// Adds the edges in one batch; on a cycle, reports it at the edge that closes it, drops that
/// edge and tries again, so every independent cycle is reported (up to [`MAX_CYCLES`]).
fn add_edges(graph: &mut FlowGraph, mut edges: Vec<Edge<'_>>, diags: &mut Collector<'_>) {
    for _ in 0..MAX_CYCLES {
        let batch = edges.iter().map(|e| (e.parent, e.child, e.kind));
        match graph.add_dependencies(batch) {
            Ok(()) => return,
            Err(GraphError::Cycle(cycle)) => {
                let n = cycle.path.len();
                let (parent, child) = if n >= 2 {
                    (cycle.path[n - 2].as_str(), cycle.path[n - 1].as_str())
                } else {
                    ("", "")
                };
                let at = edges
                    .iter()
                    .position(|e| e.parent == parent && e.child == child);
                let span = at.and_then(|i| edges[i].span.clone());
                diags.error(span, cycle.to_string());
                match at {
                    Some(i) => {
                        edges.swap_remove(i);
                    }
                    None => return,
                }
            }
            Err(e) => {
                // Every name was checked above; report rather than panic if that changes.
                diags.error(None, e.to_string());
                return;
            }
        }
    }
}

/// The declared flow id closest to `name` by edit distance, if it is close enough to be a typo.
fn closest<'a>(name: &str, raw: &'a RawWorkflow) -> Option<&'a str> {
    let limit = (name.len() / 3).max(1);
    raw.flows
        .iter()
        .filter(|f| f.id.is_some())
        .map(|f| (edit_distance(name, &f.name), f.name.as_str()))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("extract", "extract"), 0);
        assert_eq!(edit_distance("extarct", "extract"), 2);
        assert_eq!(edit_distance("load", "loads"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
