//! The flow ids of the definitions: `NAME` for one without a matrix, `NAME.v1.v2…` for each
//! combination of a matrix, and the ids made twice (values holding a `.` that join into the
//! same id, or a combination that is another definition's flow). Every id made twice is
//! reported, once per pair of places in the file (a matrix and the definition that made the
//! id first), with the ids it made twice.

use std::collections::hash_map::Entry;

use flow_graph::FlowId;
use rustc_hash::FxHashMap;

use super::diagnostic::Collector;
use super::expand::Def;

/// At most this many ids made twice are named in one diagnostic; the others are counted.
const MAX_NAMED: usize = 3;

/// Why `part` cannot follow a `.` in a flow id, if it cannot (flow-graph's rule for ids).
pub(super) fn id_part_problem(part: &str) -> Option<&'static str> {
    if part.is_empty() {
        return Some("it is empty");
    }
    flow_graph::validate_flow_id(&format!("x{part}"))
        .err()
        .map(|e| e.problem)
}

/// An id that a combination made when another flow had it already.
struct Twice {
    id: FlowId,
    /// The combination that made it again.
    k: usize,
    /// The flow that has it (an index into the ids).
    first: usize,
}

/// Adds the flows of definition `d` to `ids` and `index`, setting its range of flows. An id
/// that is invalid is reported once for the definition; each id already taken is left out
/// (its combination gets no flow) and reported with the others taken from the same
/// definition. The definition is incomplete then ([`Def::ok`] false).
pub(super) fn add_flows(
    defs: &mut [Def<'_>],
    d: usize,
    ids: &mut Vec<FlowId>,
    index: &mut FxHashMap<FlowId, u32>,
    diags: &mut Collector<'_>,
) {
    let first = ids.len();
    if !defs[d].ok {
        defs[d].flows = first..first;
        return;
    }
    let def = &defs[d];
    let flow = def.raw;
    let mut ok = true;
    let mut twice = Vec::new();
    if def.is_matrix() {
        let mut id = String::new();
        let mut combination = Vec::new();
        for k in 0..def.flows.len() {
            def.combination(k, &mut combination);
            id.clear();
            id.push_str(&flow.name);
            for value in &combination {
                id.push('.');
                id.push_str(value);
            }
            let new = match FlowId::new(&id) {
                Ok(new) => new,
                Err(e) => {
                    let span = flow.matrix.as_ref().and_then(|m| m.span.clone());
                    diags.error_at(
                        flow.source,
                        span.map_or(0, |s| s.start),
                        format!("flow `{}`: {e}", flow.name),
                    );
                    ok = false;
                    break;
                }
            };
            if let Err((id, first)) = insert(new, ids, index) {
                twice.push(Twice { id, k, first });
            }
        }
    } else if let Some(id) = &flow.id {
        if let Err((id, first)) = insert(id.clone(), ids, index) {
            twice.push(Twice { id, k: 0, first });
        }
    }
    let def = &mut defs[d];
    def.flows = first..ids.len();
    def.skipped = twice.iter().map(|t| t.k).collect();
    def.ok = ok && twice.is_empty();
    report(defs, d, &twice, diags);
}

/// Adds `id`; when a flow has it already, returns it with that flow's index instead.
fn insert(
    id: FlowId,
    ids: &mut Vec<FlowId>,
    index: &mut FxHashMap<FlowId, u32>,
) -> Result<(), (FlowId, usize)> {
    let n = u32::try_from(ids.len()).expect("fewer than 4 billion flows");
    match index.entry(id) {
        Entry::Vacant(free) => {
            ids.push(free.key().clone());
            free.insert(n);
            Ok(())
        }
        Entry::Occupied(taken) => Err((taken.key().clone(), *taken.get() as usize)),
    }
}

/// Reports the ids definition `d` made `twice`: one diagnostic per definition that made them
/// first (this one, for two combinations of its matrix), at its matrix (or its name).
fn report(defs: &[Def<'_>], d: usize, twice: &[Twice], diags: &mut Collector<'_>) {
    let flow = defs[d].raw;
    let span = flow.matrix.as_ref().and_then(|m| m.span.clone());
    let at = span
        .or_else(|| flow.name_span.clone())
        .map_or(0, |s| s.start);
    // The definitions that made them first, in the order met, each with its ids.
    let mut by_owner: Vec<(usize, Vec<&Twice>)> = Vec::new();
    for t in twice {
        let owner = if defs[d].flows.start <= t.first {
            d
        } else {
            (defs.iter().position(|o| o.flows.contains(&t.first))).unwrap_or(d)
        };
        match by_owner.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, list)) => list.push(t),
            None => by_owner.push((owner, vec![t])),
        }
    }
    for (owner, list) in by_owner {
        let message = if owner == d {
            within(&defs[d], &list)
        } else {
            let other = &defs[owner].raw;
            let place = diags.place(other.source, other.name_span.as_ref());
            let what = match list.as_slice() {
                [one] => format!("flow id `{}` is", one.id),
                _ => format!("flow ids {} are", named(&list, |t| format!("`{}`", t.id))),
            };
            format!(
                "{what} made twice: by flow `{}` here and by flow `{}` at {place}",
                flow.name, other.name
            )
        };
        diags.error_at(flow.source, at, message);
    }
}

/// The message for the ids that two combinations of the matrix of `def` both make.
fn within(def: &Def<'_>, list: &[&Twice]) -> String {
    let axes = def.raw.matrix.as_ref().map_or(&[][..], |m| &m.axes[..]);
    let mut values = Vec::new();
    let mut show = |k: usize| {
        def.combination(k, &mut values);
        let pairs: Vec<String> = (axes.iter().zip(&values))
            .map(|(axis, value)| format!("{} = {value}", axis.name))
            .collect();
        format!("`{}`", pairs.join(", "))
    };
    let mut from = |t: &Twice| {
        // The combination of the flow that has it: the flows are the combinations left in.
        let first = def
            .expansions()
            .find(|&(_, i)| i == t.first)
            .map(|(k, _)| k);
        let first = first.map_or_else(String::new, &mut show);
        format!("from {first} and from {}", show(t.k))
    };
    let what = match list {
        [one] => format!("flow id `{}` twice, {}", one.id, from(one)),
        _ => format!(
            "{} flow ids twice: {}",
            list.len(),
            named(list, |t| format!("`{}` ({})", t.id, from(t)))
        ),
    };
    format!(
        "the matrix of flow `{}` makes {what}: values holding a `.` join into one id, change one",
        def.raw.name
    )
}

/// The first [`MAX_NAMED`] of `list` shown by `show`, and how many more there are.
fn named(list: &[&Twice], mut show: impl FnMut(&Twice) -> String) -> String {
    let shown: Vec<String> = list.iter().take(MAX_NAMED).map(|t| show(t)).collect();
    match list.len().checked_sub(MAX_NAMED) {
        Some(more @ 1..) => format!("{} and {more} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}

#[cfg(test)]
#[path = "tests_ids.rs"]
mod tests;
