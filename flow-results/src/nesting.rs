//! How deep a result's output may nest: the deepest that every store reads back, and the check
//! each store makes before it writes a result.

use serde_json::Value;

use crate::{FlowResult, StoreError};

/// The most arrays and objects that may nest inside one another in a result's `output` (a
/// number or a string is 0 deep, `[]` is 1, `[[1]]` is 2). Every store reads such a result
/// back; every store refuses to save a deeper one, which it could not.
///
/// serde_json reads at most 127 of them in one document (its recursion limit of 128), and the
/// directory store's file wraps the output in the result's own object, which leaves 126.
pub const MAX_OUTPUT_DEPTH: usize = 126;

/// Checks that every result of `results` can be read back once saved: its output nests at most
/// [`MAX_OUTPUT_DEPTH`] deep. `store` is the store's spec, for the error.
///
/// # Errors
/// [`StoreError::TooDeep`] naming the first result that nests deeper.
pub(crate) fn check_depth<'a>(
    results: impl IntoIterator<Item = &'a FlowResult>,
    store: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    match results
        .into_iter()
        .find(|result| nests_deeper(&result.output, MAX_OUTPUT_DEPTH))
    {
        None => Ok(()),
        Some(result) => Err(StoreError::TooDeep {
            run: result.run_id.clone(),
            flow: result.flow_id.clone(),
            store: store(),
            limit: MAX_OUTPUT_DEPTH,
        }),
    }
}

/// Whether `output` nests deeper than [`MAX_OUTPUT_DEPTH`], so that no store saves it: a
/// scheduler checks a flow's output with it, to fail that flow rather than the store's save.
///
/// ```
/// use flow_results::output_too_deep;
/// use serde_json::{json, Value};
///
/// let deep = (0..200).fold(json!(0), |inner, _| Value::Array(vec![inner]));
/// assert!(output_too_deep(&deep));
/// assert!(!output_too_deep(&json!({"a": [1, 2]})));
/// ```
pub fn output_too_deep(output: &Value) -> bool {
    nests_deeper(output, MAX_OUTPUT_DEPTH)
}

/// Whether arrays and objects nest in `value` more than `limit` deep. Walks with a stack of its
/// own, so no value is too deep for it.
fn nests_deeper(value: &Value, limit: usize) -> bool {
    let nests = |v: &&Value| matches!(v, Value::Array(_) | Value::Object(_));
    if !nests(&value) {
        return false;
    }
    // Arrays and objects only, each with its depth.
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((value, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        match value {
            Value::Array(items) => {
                stack.extend(items.iter().filter(nests).map(|c| (c, depth + 1)));
            }
            Value::Object(map) => {
                stack.extend(map.values().filter(nests).map(|c| (c, depth + 1)));
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FlowStatus, RunId};
    use flow_graph::FlowId;
    use serde_json::json;

    /// `depth` arrays and objects inside one another, alternating, around a number.
    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!(1), |inner, k| {
            if k % 2 == 0 {
                json!([inner])
            } else {
                json!({ "k": inner })
            }
        })
    }

    #[test]
    fn depth_counts_arrays_and_objects_inside_one_another() {
        for (value, depth) in [
            (json!(1), 0),
            (json!("text"), 0),
            (json!([]), 1),
            (json!({}), 1),
            (json!([1, [2], {"a": [3]}]), 3),
            (json!([[[]], {}]), 3),
            (nested(40), 40),
        ] {
            assert!(!nests_deeper(&value, depth), "{value}");
            assert!(depth == 0 || nests_deeper(&value, depth - 1), "{value}");
        }
    }

    /// The limit is what serde_json reads back: a result `MAX_OUTPUT_DEPTH` deep parses as the
    /// directory store's file (the deepest form) and as the SQLite store's column; one level
    /// more does not.
    #[test]
    fn the_limit_is_the_deepest_output_serde_json_reads_back() {
        let run = RunId::parse("20261126T153012.123Z-a").unwrap();
        let mut result = FlowResult::new(run, FlowId::new("deep").unwrap(), FlowStatus::Completed);
        result.output = nested(MAX_OUTPUT_DEPTH);
        check_depth([&result], String::new).unwrap();
        let file = serde_json::to_vec_pretty(&result).unwrap();
        assert_eq!(serde_json::from_slice::<FlowResult>(&file).unwrap(), result);
        let column = serde_json::to_string(&result.output).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&column).unwrap(),
            result.output
        );

        result.output = nested(MAX_OUTPUT_DEPTH + 1);
        let file = serde_json::to_vec_pretty(&result).unwrap();
        let err = serde_json::from_slice::<FlowResult>(&file).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
        let err = check_depth([&result], || "memory".to_owned()).unwrap_err();
        assert!(
            matches!(&err, StoreError::TooDeep { flow, limit: MAX_OUTPUT_DEPTH, .. }
                if flow.as_str() == "deep"),
            "{err:?}"
        );
    }
}
