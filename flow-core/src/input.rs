//! `FlowInput`: what a flow receives when it runs — its own input and its parents' outputs.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use flow_graph::{Adjacency, FlowId};
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
#[derive(Clone)]
pub struct FlowInput {
    run: Arc<RunShared>,
    /// The flow's index in the run's snapshot (`run.flows`), unless `own` is set.
    idx: u32,
    attempt: u32,
    /// For a flow that is not in the snapshot (registered during the run).
    own: Option<Box<Own>>,
    /// A token of the executor, in place of the run's.
    cancel: Option<CancellationToken>,
}

/// What every input of one run shares, so that making an input costs one reference count
/// whatever the number of parents: the run's id and cancel token, the flows and graph it
/// started with, and each of those flows' output once it completed.
#[derive(Debug)]
pub(crate) struct RunShared {
    pub(crate) run_id: RunId,
    pub(crate) cancel: CancellationToken,
    pub(crate) flows: Arc<dyn FlowTable>,
    pub(crate) graph: Arc<Adjacency>,
    pub(crate) outputs: Outputs,
}

/// The flows of a run's snapshot as their inputs see them: each one's id and own input, by
/// index. (Implemented by the flow list; `FlowInput` needs no more of a flow.)
pub(crate) trait FlowTable: fmt::Debug + Send + Sync {
    /// The id of flow `idx` (below `len()`).
    fn id(&self, idx: u32) -> &FlowId;
    /// The own input of flow `idx` (below `len()`).
    fn input(&self, idx: u32) -> &Value;
}

/// What a flow that completed with `null` gave, shared, so flows without input or output
/// allocate nothing for it.
pub(crate) fn null_value() -> Arc<Value> {
    static SHARED_NULL: OnceLock<Arc<Value>> = OnceLock::new();
    Arc::clone(SHARED_NULL.get_or_init(|| Arc::new(Value::Null)))
}

/// The output of each flow of a run's snapshot, once it completed (set before any child
/// starts). Most flows return `null`: completing with it is one flag, a plain store, with no
/// cell filled and no reference count taken.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    completed: Box<[AtomicBool]>,
    /// An output that is not `null`, set before its flow's flag; the cells are made when the
    /// first such output comes (a run of flows that return nothing never makes them).
    values: OnceLock<Box<[OnceLock<Arc<Value>>]>>,
}

/// What a flow that completed with `null` gave.
static NULL: Value = Value::Null;

impl Outputs {
    /// No output yet for any of `n` flows.
    pub(crate) fn new(n: usize) -> Self {
        Outputs {
            completed: (0..n).map(|_| AtomicBool::new(false)).collect(),
            values: OnceLock::new(),
        }
    }

    /// The number of flows.
    pub(crate) fn len(&self) -> usize {
        self.completed.len()
    }

    /// Flow `i` completed with `output` (`None`: `null`). Only the first call for a flow counts.
    pub(crate) fn set(&self, i: usize, output: Option<Arc<Value>>) {
        if let Some(output) = output.filter(|output| !output.is_null()) {
            let n = self.completed.len();
            let values = self
                .values
                .get_or_init(|| (0..n).map(|_| OnceLock::new()).collect());
            let _ = values[i].set(output);
        }
        // Release: whoever sees the flag also sees the value set before it.
        self.completed[i].store(true, Ordering::Release);
    }

    /// The output of flow `i`, if it completed.
    pub(crate) fn get(&self, i: usize) -> Option<&Value> {
        if !self.completed.get(i)?.load(Ordering::Acquire) {
            return None;
        }
        Some(self.value(i).map_or(&NULL, |output| &**output))
    }

    /// The output of flow `i`, shared, if it completed.
    pub(crate) fn get_shared(&self, i: usize) -> Option<Arc<Value>> {
        if !self.completed.get(i)?.load(Ordering::Acquire) {
            return None;
        }
        Some(self.value(i).map_or_else(null_value, Arc::clone))
    }

    /// The output of flow `i` when it is not `null`.
    fn value(&self, i: usize) -> Option<&Arc<Value>> {
        self.values.get()?.get(i)?.get()
    }
}

/// The input of a flow outside the snapshot, carried whole.
#[derive(Debug, Clone)]
struct Own {
    flow: FlowId,
    input: Arc<Value>,
    parents: Vec<(FlowId, Arc<Value>)>,
}

impl FlowInput {
    /// The input of flow `idx` of the run's snapshot.
    pub(crate) fn shared(run: &Arc<RunShared>, idx: u32, attempt: u32) -> Self {
        FlowInput {
            run: Arc::clone(run),
            idx,
            attempt,
            own: None,
            cancel: None,
        }
    }

    /// The input of a flow that is not in the run's snapshot.
    pub(crate) fn detached(
        run: &Arc<RunShared>,
        flow: FlowId,
        attempt: u32,
        input: Arc<Value>,
        parents: Vec<(FlowId, Arc<Value>)>,
    ) -> Self {
        FlowInput {
            run: Arc::clone(run),
            idx: 0,
            attempt,
            own: Some(Box::new(Own {
                flow,
                input,
                parents,
            })),
            cancel: None,
        }
    }

    /// Replaces the cancellation token (an executor's own).
    pub(crate) fn with_cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The flow this input is for.
    pub fn flow(&self) -> &FlowId {
        match &self.own {
            Some(own) => &own.flow,
            None => self.run.flows.id(self.idx),
        }
    }

    /// The run this attempt belongs to.
    pub fn run_id(&self) -> &RunId {
        &self.run.run_id
    }

    /// Which attempt this is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The flow's own input (`null` when none was given).
    pub fn input(&self) -> &Value {
        match &self.own {
            Some(own) => &own.input,
            None => self.run.flows.input(self.idx),
        }
    }

    /// The output of parent `id`, if it is a parent that completed.
    pub fn parent(&self, id: &str) -> Option<&Value> {
        self.parent_list()
            .find(|(parent, _)| parent.as_str() == id)
            .map(|(_, output)| output)
    }

    /// The parents that completed and their outputs.
    pub fn parents(&self) -> impl ExactSizeIterator<Item = (&FlowId, &Value)> {
        self.parent_list().collect::<Vec<_>>().into_iter()
    }

    fn parent_list(&self) -> impl Iterator<Item = (&FlowId, &Value)> {
        let (own, shared) = match &self.own {
            Some(own) => (own.parents.as_slice(), &[][..]),
            None => (&[][..], self.run.graph.parents(self.idx)),
        };
        let run = &*self.run;
        own.iter()
            .map(|(id, output)| (id, &**output))
            .chain(shared.iter().filter_map(move |link| {
                let p = link.flow();
                let output = run.outputs.get(p as usize)?;
                Some((run.flows.id(p), output))
            }))
    }

    /// A token cancelled when the attempt times out or the flow or run is cancelled.
    pub fn cancellation(&self) -> &CancellationToken {
        self.cancel.as_ref().unwrap_or(&self.run.cancel)
    }

    /// The input as one JSON value: `{"flow": ID, "input": INPUT, "parents": {ID: OUTPUT}}`,
    /// as a worker-process task receives it.
    pub fn to_value(&self) -> Value {
        let parents: Map<String, Value> = self
            .parent_list()
            .map(|(id, output)| (id.to_string(), output.clone()))
            .collect();
        serde_json::json!({
            "flow": self.flow().as_str(),
            "input": self.input(),
            "parents": parents,
        })
    }
}

impl fmt::Debug for FlowInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowInput")
            .field("flow", self.flow())
            .field("run_id", self.run_id())
            .field("attempt", &self.attempt)
            .field("input", self.input())
            .field("parents", &self.parent_list().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoFlows;

    impl FlowTable for NoFlows {
        fn id(&self, idx: u32) -> &FlowId {
            unreachable!("no flow {idx}")
        }
        fn input(&self, idx: u32) -> &Value {
            unreachable!("no flow {idx}")
        }
    }

    #[test]
    fn parents_are_found_by_id_and_serialised() {
        let run = Arc::new(RunShared {
            run_id: RunId::new_now(),
            cancel: CancellationToken::new(),
            flows: Arc::new(NoFlows),
            graph: Arc::default(),
            outputs: Outputs::default(),
        });
        let input = FlowInput::detached(
            &run,
            FlowId::new("c").unwrap(),
            1,
            Arc::new(serde_json::json!({"k": 1})),
            vec![(FlowId::new("a").unwrap(), Arc::new(Value::from(3)))],
        );
        assert_eq!(input.parent("a"), Some(&Value::from(3)));
        assert_eq!(input.parent("b"), None);
        assert_eq!(
            input.to_value(),
            serde_json::json!({"flow": "c", "input": {"k": 1}, "parents": {"a": 3}})
        );
    }

    #[test]
    fn an_output_is_there_once_its_flow_completed_and_null_is_an_output() {
        let outputs = Outputs::new(3);
        assert_eq!(outputs.get(0), None);
        outputs.set(0, None);
        outputs.set(1, Some(Arc::new(Value::from(7))));
        outputs.set(2, Some(Arc::new(Value::Null)));
        assert_eq!(outputs.get(0), Some(&Value::Null));
        assert_eq!(outputs.get(1), Some(&Value::from(7)));
        assert_eq!(outputs.get(2), Some(&Value::Null));
        assert_eq!(outputs.get_shared(1).as_deref(), Some(&Value::from(7)));
        assert_eq!(outputs.get_shared(0).as_deref(), Some(&Value::Null));
        assert_eq!(outputs.get(3), None);
        // The first output counts.
        outputs.set(1, Some(Arc::new(Value::from(8))));
        assert_eq!(outputs.get(1), Some(&Value::from(7)));
    }
}
