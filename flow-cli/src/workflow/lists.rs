//! List params where a value takes one item: a path, a flow id, or text a list param is
//! written against (`data/{samples}.csv`), where its items joined by spaces would make one
//! wrong value instead of one per item. Each is refused where it is written.

use super::diagnostic::{Collector, SourceId};
use super::template::{Bound, Value};

/// `path` (a path, or a flow id with `takes` set to [`FLOW_ID`]), bound for `what` in file
/// `source`, unless it holds a list param: it takes one value (the items would be joined
/// into one, with spaces), which is reported where it is written.
pub(super) fn one_value<'r>(
    path: Bound<'r>,
    values: &[Value],
    names: &[String],
    (what, takes): (&str, &str),
    source: SourceId,
    diags: &mut Collector<'_>,
) -> Option<Bound<'r>> {
    let Some(i) = path.list_param(values) else {
        return Some(path);
    };
    diags.error_at(
        source,
        path.span().map_or(0, |s| s.start),
        format!("`{what}`: `{{{}}}` is a list param, and {takes}", names[i]),
    );
    None
}

/// What [`one_value`] says of a path.
pub(super) const PATH: &str =
    "a path takes one value: make one flow per item with a matrix over it, or list the paths";

/// What [`one_value`] says of a flow named in `requires` or `wants`.
pub(super) const FLOW_ID: &str = "a flow id takes one value: list the flows, or name a \
                                  definition with a matrix (all its flows)";

/// Whether `text` (a `command` argument, a `shell` script or an `env` value of flow `flow`,
/// `None` for `[defaults]`, bound for `what` in file `source`) writes no list param against other text; one that does
/// is reported at its placeholder: `cat data/{samples}.csv` would read `data/a` and `b.csv`,
/// and the argument `data/{samples}.csv` would be the one path `data/a b.csv`.
pub(super) fn not_glued(
    text: &Bound<'_>,
    values: &[Value],
    names: &[String],
    (flow, what): (Option<&str>, &str),
    source: SourceId,
    diags: &mut Collector<'_>,
) -> bool {
    let Some((i, at, word)) = text.glued_list_param(values) else {
        return true;
    };
    let name = &names[i];
    let Value::List(items) = &values[i] else {
        return true;
    };
    let joined = word.replace(&format!("{{{name}}}"), &items.join(" "));
    let apart = if what.ends_with(".command") {
        "an argument of its own (one argument per item)"
    } else {
        "a word of its own (`cat {list}` is `cat a b`)"
    };
    let flow = flow.map_or(String::new(), |flow| format!("flow `{flow}`: "));
    diags.error_in_string(
        source,
        text.span(),
        at,
        format!(
            "{flow}the list param `{{{name}}}` is written against other text in `{what}` \
             (`{word}`): its items joined with spaces make `{joined}`, not one value per item; \
             make one flow per item with a matrix over it (`matrix = {{ item = \"{{{name}}}\" \
             }}`, then `{{item}}`), or write `{{{name}}}` as {apart}"
        ),
    );
    false
}

#[cfg(test)]
#[path = "tests_lists.rs"]
mod tests;
