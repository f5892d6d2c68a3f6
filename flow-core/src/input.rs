//! `FlowInput`: what a flow receives when it runs — its own input and its parents' outputs.

use std::sync::Arc;

use flow_graph::FlowId;
use flow_results::RunId;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

/// What one attempt of a flow receives: its own input (the seed's `input_data`), the outputs
/// of its parents that completed (parent id → JSON value), and a cancellation token.
///
/// A parent behind an optional dependency that failed has no output, so it is absent.
///
/// ```
/// use flow_core::FlowInput;
/// # fn f(input: FlowInput) {
/// let threshold = input.input()["threshold"].as_f64();
/// for (parent, output) in input.parents() {
///     println!("{parent} gave {output}");
/// }
/// # let _ = threshold;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FlowInput {
    pub(crate) flow: FlowId,
    pub(crate) run_id: RunId,
    pub(crate) attempt: u32,
    pub(crate) input: Arc<Value>,
    pub(crate) parents: Vec<(FlowId, Arc<Value>)>,
    pub(crate) cancel: Arc<CancellationToken>,
}

impl FlowInput {
    /// The id of the flow that runs.
    pub fn flow(&self) -> &FlowId {
        &self.flow
    }

    /// The id of the run.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The attempt number, 1 for the first attempt.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The flow's own input, as given to [`FlowBuilder::input`](crate::FlowBuilder::input)
    /// (`null` when none was given).
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// The output of parent `id`, if it is a parent that completed.
    pub fn parent(&self, id: &str) -> Option<&Value> {
        self.parents
            .iter()
            .find(|(parent, _)| parent.as_str() == id)
            .map(|(_, output)| &**output)
    }

    /// Every completed parent and its output, in the order the parents were registered.
    pub fn parents(&self) -> impl ExactSizeIterator<Item = (&FlowId, &Value)> {
        self.parents.iter().map(|(id, output)| (id, &**output))
    }

    /// Cancelled when this attempt should stop: the run was cancelled (blocking, task and
    /// command flows also see a cancel of this one flow here; an async flow is simply
    /// dropped). Long-running blocking work should check it.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The input as one JSON value, `{"flow": id, "input": ..., "parents": {id: output, ...}}`:
    /// what a task on a worker process receives.
    pub fn to_value(&self) -> Value {
        let parents: Map<String, Value> = self
            .parents
            .iter()
            .map(|(id, output)| (id.to_string(), Value::clone(output)))
            .collect();
        serde_json::json!({
            "flow": self.flow.as_str(),
            "input": *self.input,
            "parents": parents,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_found_by_id_and_serialised() {
        let input = FlowInput {
            flow: FlowId::new("c").unwrap(),
            run_id: RunId::new_now(),
            attempt: 1,
            input: Arc::new(serde_json::json!({"k": 1})),
            parents: vec![(FlowId::new("a").unwrap(), Arc::new(Value::from(3)))],
            cancel: Arc::new(CancellationToken::new()),
        };
        assert_eq!(input.parent("a"), Some(&Value::from(3)));
        assert_eq!(input.parent("b"), None);
        assert_eq!(
            input.to_value(),
            serde_json::json!({"flow": "c", "input": {"k": 1}, "parents": {"a": 3}})
        );
    }
}
