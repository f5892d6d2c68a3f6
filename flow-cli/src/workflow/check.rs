//! The dependency checks of the expanded flows: every reference names a flow (one-to-one), a
//! definition (all its flows: fan-in) or a flow made from the same matrix values; a
//! reference is not in both `requires` and `wants`; and there is no cycle (each reported with
//! its path at the reference that closes it). Builds the [`FlowGraph`], and notes where a
//! `wants` names a flow itself, which an input of the same flow may contradict (data.rs).

use flow_graph::{DependencyType, FlowGraph, FlowId, GraphError};
use rustc_hash::{FxHashMap, FxHashSet};

use super::data::Place;
use super::diagnostic::Collector;
use super::expand::Def;
use super::template::{Template, Value};

/// At most this many distinct cycles are reported.
const MAX_CYCLES: usize = 20;

/// The dependencies of the expanded flows.
pub(super) struct Deps {
    pub graph: FlowGraph,
    /// Each flow's required parents, in the order written.
    pub requires: Vec<Vec<FlowId>>,
    /// Each flow's optional parents.
    pub wants: Vec<Vec<FlowId>>,
    /// Where `wants` names a parent itself (not its definition), by (child, parent) index.
    pub wants_at: FxHashMap<(u32, u32), Place>,
}

/// One dependency edge between flows (indices into the ids), with the reference it is from.
struct Edge {
    parent: u32,
    child: u32,
    kind: DependencyType,
    site: u32,
    /// Whether the reference names the parent itself, not its definition.
    named: bool,
}

/// What a reference names.
enum Target {
    /// These flows: one flow, named itself (`true`), or every flow of a definition.
    Flows(std::ops::Range<usize>, bool),
    /// A definition that made no flows: its own problem is reported already.
    Skip,
    Unknown,
}

/// Reports each definition with a matrix whose name is also the id of another definition's
/// flow: a reference names a flow or a definition, and such a name would mean two things.
pub(super) fn names_one_thing(
    defs: &[Def<'_>],
    index: &FxHashMap<FlowId, u32>,
    diags: &mut Collector<'_>,
) {
    // A definition without a matrix whose name another made is an id made twice (ids.rs).
    for def in defs.iter().filter(|d| d.is_matrix()) {
        let Some(&i) = index.get(def.raw.name.as_str()) else {
            continue;
        };
        if def.flows.contains(&(i as usize)) {
            continue;
        }
        let maker = defs.iter().find(|d| d.flows.contains(&(i as usize)));
        let maker = maker.map_or(def.raw.name.as_str(), |d| d.raw.name.as_str());
        diags.error_at(
            def.raw.source,
            def.raw.name_span.as_ref().map_or(0, |s| s.start),
            format!(
                "`{}` names both a flow of definition `{maker}` and this definition with a \
                 matrix, so `requires`, `wants` and targets could not tell which is meant: \
                 rename one",
                def.raw.name
            ),
        );
    }
}

/// Resolves every reference of `defs` (whose flows are `ids`, found by `index`; the
/// definitions found by name with `by_name`) with the param `values`, and builds the graph.
pub(super) fn dependencies(
    defs: &[Def<'_>],
    ids: &[FlowId],
    index: &FxHashMap<FlowId, u32>,
    by_name: &FxHashMap<&str, usize>,
    values: &[Value],
    diags: &mut Collector<'_>,
) -> Deps {
    let resolve = |name: &str| -> Target {
        if let Some(&i) = index.get(name) {
            let i = i as usize;
            return Target::Flows(i..i + 1, true);
        }
        match by_name.get(name) {
            Some(&d) if defs[d].ok && !defs[d].flows.is_empty() => {
                Target::Flows(defs[d].flows.clone(), false)
            }
            Some(_) => Target::Skip,
            None => Target::Unknown,
        }
    };
    let mut edges: Vec<Edge> = Vec::new();
    let mut sites: Vec<(usize, &Template)> = Vec::new();
    let mut axes = Vec::new();
    for (d, def) in defs.iter().enumerate() {
        if def.flows.is_empty() {
            continue;
        }
        // Each reference as written, with its list.
        let mut seen: Vec<(&str, &'static str)> = Vec::new();
        for (list, kind, bound, written) in [
            (
                "requires",
                DependencyType::Required,
                &def.requires,
                &def.raw.requires,
            ),
            (
                "wants",
                DependencyType::Optional,
                &def.wants,
                &def.raw.wants,
            ),
        ] {
            for (bound, template) in bound.iter().zip(written) {
                let text = template.text.as_str();
                if let Some(&(_, previous)) = seen.iter().find(|(seen, _)| *seen == text) {
                    if previous != list {
                        let message = format!(
                            "flow `{}` lists `{}` in both `requires` and `wants`: keep one",
                            def.raw.name, template.text
                        );
                        diags.error_at(def.raw.source, start(template), message);
                    }
                    continue;
                }
                if def.requires.len() + def.wants.len() > 1 {
                    seen.push((text, list));
                }
                let Some(bound) = bound else {
                    continue;
                };
                let site = u32::try_from(sites.len()).expect("fewer than 4 billion references");
                sites.push((d, template));
                let mut push = |parents: std::ops::Range<usize>, named: bool, child: usize| {
                    for parent in parents {
                        edges.push(Edge {
                            parent: parent as u32,
                            child: child as u32,
                            kind,
                            site,
                            named,
                        });
                    }
                };
                if !bound.uses_axes() {
                    let name = bound.render(values, &[]);
                    match resolve(&name) {
                        Target::Flows(parents, named) => {
                            for child in def.flows.clone() {
                                push(parents.clone(), named, child);
                            }
                        }
                        Target::Skip => {}
                        Target::Unknown => unknown(def, list, template, &name, None, defs, diags),
                    }
                    continue;
                }
                let mut missing: Option<(String, usize)> = None;
                let mut n_missing = 0;
                for (k, child) in def.expansions() {
                    def.combination(k, &mut axes);
                    let name = bound.render(values, &axes);
                    match resolve(&name) {
                        Target::Flows(parents, named) => push(parents, named, child),
                        Target::Skip => {}
                        Target::Unknown => {
                            n_missing += 1;
                            missing.get_or_insert((name, child));
                        }
                    }
                }
                if let Some((name, child)) = missing {
                    let at = Some((ids[child].as_str(), n_missing - 1));
                    unknown(def, list, template, &name, at, defs, diags);
                }
            }
        }
    }
    // A parent that one reference requires and another wants (one names a definition, the
    // other one of its flows) is required: the stronger dependency counts.
    if edges.iter().any(|e| e.kind == DependencyType::Optional) {
        let required: FxHashSet<(u32, u32)> = (edges.iter())
            .filter(|e| e.kind == DependencyType::Required)
            .map(|e| (e.parent, e.child))
            .collect();
        edges.retain(|e| {
            e.kind == DependencyType::Required || !required.contains(&(e.parent, e.child))
        });
    }
    let mut graph = FlowGraph::with_capacity(ids.len(), edges.len());
    for id in ids {
        // Every id was added to the index once, so none is a duplicate.
        let _ = graph.add_flow(id.clone());
    }
    add_edges(&mut graph, ids, &mut edges, &sites, defs, diags);
    let wants_at = (edges.iter())
        .filter(|e| e.named && e.kind == DependencyType::Optional)
        .map(|e| {
            let (d, template) = sites[e.site as usize];
            let place = (defs[d].raw.source, template.span.clone());
            ((e.child, e.parent), place)
        })
        .collect();
    let mut requires = vec![Vec::new(); ids.len()];
    let mut wants = vec![Vec::new(); ids.len()];
    for e in &edges {
        let parents = match e.kind {
            DependencyType::Required => &mut requires[e.child as usize],
            DependencyType::Optional => &mut wants[e.child as usize],
        };
        parents.push(ids[e.parent as usize].clone());
    }
    for parents in requires.iter_mut().chain(wants.iter_mut()) {
        dedup_in_order(parents);
    }
    Deps {
        graph,
        requires,
        wants,
        wants_at,
    }
}

fn start(template: &Template) -> usize {
    template.span.as_ref().map_or(0, |s| s.start)
}

/// Removes repeated ids, keeping the first of each.
fn dedup_in_order(ids: &mut Vec<FlowId>) {
    if ids.len() <= 16 {
        let mut i = 1;
        while i < ids.len() {
            if ids[..i].contains(&ids[i]) {
                ids.remove(i);
            } else {
                i += 1;
            }
        }
        return;
    }
    let mut seen = FxHashSet::default();
    seen.reserve(ids.len());
    ids.retain(|id| seen.insert(id.clone()));
}

/// Reports a reference of `def` in `list` that names no flow; `at`, for a reference with
/// matrix values, is the first flow whose reference is unknown and how many more have one.
fn unknown(
    def: &Def<'_>,
    list: &str,
    template: &Template,
    name: &str,
    at: Option<(&str, usize)>,
    defs: &[Def<'_>],
    diags: &mut Collector<'_>,
) {
    let flow = &def.raw.name;
    let mut message = match flow_graph::validate_flow_id(name) {
        Err(e) => format!("in `{list}` of flow `{flow}`: {e}"),
        Ok(()) => format!("flow `{flow}` {list} unknown flow `{name}`"),
    };
    if let Some((first, more)) = at {
        message.push_str(&format!(" (for its flow `{first}`"));
        if more > 0 {
            message.push_str(&format!(" and {more} more"));
        }
        message.push(')');
    } else if let Some(close) = closest(name, defs) {
        message.push_str(&format!(" (did you mean `{close}`?)"));
    }
    diags.error_at(def.raw.source, start(template), message);
}

/// Adds the edges in one batch; on a cycle, reports it at the reference that closes it, drops
/// every edge of that reference and tries again, so every independent cycle is reported (up
/// to [`MAX_CYCLES`]).
fn add_edges(
    graph: &mut FlowGraph,
    ids: &[FlowId],
    edges: &mut Vec<Edge>,
    sites: &[(usize, &Template)],
    defs: &[Def<'_>],
    diags: &mut Collector<'_>,
) {
    for _ in 0..MAX_CYCLES {
        let batch = edges
            .iter()
            .map(|e| (&ids[e.parent as usize], &ids[e.child as usize], e.kind));
        match graph.add_dependencies(batch) {
            Ok(()) => return,
            Err(GraphError::Cycle(cycle)) => {
                let n = cycle.path.len();
                let (parent, child) = if n >= 2 {
                    (cycle.path[n - 2].as_str(), cycle.path[n - 1].as_str())
                } else {
                    ("", "")
                };
                let site = edges
                    .iter()
                    .find(|e| ids[e.parent as usize] == *parent && ids[e.child as usize] == *child)
                    .map(|e| e.site);
                let Some(site) = site else {
                    diags.error_at(0, 0, cycle.to_string());
                    return;
                };
                let (d, template) = sites[site as usize];
                diags.error_at(defs[d].raw.source, start(template), cycle.to_string());
                edges.retain(|e| e.site != site);
            }
            Err(e) => {
                // Every name was checked above; report rather than panic if that changes.
                diags.error_at(0, 0, e.to_string());
                return;
            }
        }
    }
}

/// The definition name closest to `name` by edit distance, if it is close enough to be a typo.
fn closest<'a>(name: &str, defs: &'a [Def<'_>]) -> Option<&'a str> {
    closest_name(
        name,
        (defs.iter())
            .filter(|d| d.raw.id.is_some())
            .map(|d| d.raw.name.as_str()),
    )
}

/// The name among `names` closest to `name` by edit distance (a swap of two neighbouring
/// letters is one edit), if it is close enough to be a typo: at most one edit in three, and
/// never every letter of either name (`m` is not a typo of `x`). A name that differs only in
/// case is closest of all, however short (`B` for `b`).
pub fn closest_name<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).max(1);
    let letters = name.chars().count();
    names
        .map(|n| match n.eq_ignore_ascii_case(name) {
            true => (0, n),
            false => (strsim::osa_distance(name, n), n),
        })
        .filter(|(d, n)| *d <= limit && *d < letters.min(n.chars().count()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::closest_name;

    #[test]
    fn a_typo_finds_the_closest_name_and_a_different_name_none() {
        let names = ["extract", "load", "merge", "trim", "m", "ab"];
        for (typo, expect) in [
            ("extarct", Some("extract")),
            ("mrege", Some("merge")),
            ("loads", Some("load")),
            ("trm", Some("trim")),
            ("report", None),
            ("", None),
            ("x", None),
            ("ba", Some("ab")),
            // Only the case differs: closest, also for a name of one letter.
            ("M", Some("m")),
            ("Merge", Some("merge")),
            ("AB", Some("ab")),
        ] {
            assert_eq!(closest_name(typo, names.into_iter()), expect, "{typo}");
        }
    }
}
