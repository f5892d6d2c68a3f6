//! `FlowInput`: what a flow receives when it runs — its own input and its parents' outputs.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use flow_graph::{Adjacency, FlowId, Link};
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
    /// The flow's index in the run's table (`run.flows`).
    idx: u32,
    attempt: u32,
    /// A token of the executor, in place of the run's.
    cancel: Option<CancellationToken>,
}

/// What every input of one run shares, so that making an input costs one reference count
/// whatever the number of parents: the run's id, its cancel token and its flows.
#[derive(Debug)]
pub(crate) struct RunShared {
    pub(crate) run_id: RunId,
    pub(crate) cancel: CancellationToken,
    pub(crate) flows: RunFlows,
}

/// The flows the run started with as their inputs see them: each one's id and own input, by
/// index. (Implemented by the flow list; `FlowInput` needs no more of a flow.)
pub(crate) trait FlowTable: fmt::Debug + Send + Sync {
    /// The id of flow `idx` (below the number of flows).
    fn id(&self, idx: u32) -> &FlowId;
    /// The own input of flow `idx` (below the number of flows).
    fn input(&self, idx: u32) -> &Value;
}

/// Every flow of a run as its inputs see it, by index: id, own input, parents and output.
///
/// One table for every flow: it grows by a row when a flow joins the run, and a row never
/// moves, so inputs read it while it grows. The rows the run started with are the registry's
/// flows and links, shared as they are (nothing is copied per flow); a joining flow's row is
/// appended with its own.
#[derive(Debug)]
pub(crate) struct RunFlows {
    start: Arc<dyn FlowTable>,
    graph: Arc<Adjacency>,
    /// The outputs of the flows the run started with.
    outputs: Outputs,
    /// The flows that joined the run: index `outputs.len() + k`.
    joined: boxcar::Vec<Joined>,
}

/// The row of a flow that joined the run.
#[derive(Debug)]
struct Joined {
    id: FlowId,
    input: Arc<Value>,
    parents: Box<[Link]>,
    output: OnceLock<Arc<Value>>,
}

/// Where a flow's row is.
enum Row<'a> {
    Start(u32),
    Joined(&'a Joined),
}

impl RunFlows {
    /// The `n` flows of `start`, linked by `graph`.
    pub(crate) fn new(start: Arc<dyn FlowTable>, graph: Arc<Adjacency>, n: usize) -> Self {
        RunFlows {
            start,
            graph,
            outputs: Outputs::new(n),
            joined: boxcar::Vec::new(),
        }
    }

    /// Appends the row of a flow that joins the run; it gets the next index.
    pub(crate) fn join(&self, id: FlowId, input: Arc<Value>, parents: &[Link]) -> u32 {
        let k = self.joined.push(Joined {
            id,
            input,
            parents: parents.into(),
            output: OnceLock::new(),
        });
        (self.outputs.len() + k) as u32
    }

    fn row(&self, idx: u32) -> Row<'_> {
        match (idx as usize).checked_sub(self.outputs.len()) {
            None => Row::Start(idx),
            Some(k) => Row::Joined(&self.joined[k]),
        }
    }

    fn id(&self, idx: u32) -> &FlowId {
        match self.row(idx) {
            Row::Start(i) => self.start.id(i),
            Row::Joined(row) => &row.id,
        }
    }

    fn input(&self, idx: u32) -> &Value {
        match self.row(idx) {
            Row::Start(i) => self.start.input(i),
            Row::Joined(row) => &row.input,
        }
    }

    fn parents(&self, idx: u32) -> &[Link] {
        match self.row(idx) {
            Row::Start(i) => self.graph.parents(i),
            Row::Joined(row) => &row.parents,
        }
    }

    /// Flow `idx` completed with `output` (`None`: `null`). Only the first call counts; it
    /// comes before any child of the flow starts.
    pub(crate) fn set_output(&self, idx: u32, output: Option<Arc<Value>>) {
        match self.row(idx) {
            Row::Start(i) => self.outputs.set(i as usize, output),
            Row::Joined(row) => {
                let _ = row.output.set(output.unwrap_or_else(null_value));
            }
        }
    }

    /// The output of flow `idx`, if it completed.
    pub(crate) fn output(&self, idx: u32) -> Option<&Value> {
        match self.row(idx) {
            Row::Start(i) => self.outputs.get(i as usize),
            Row::Joined(row) => row.output.get().map(|output| &**output),
        }
    }
}

/// What a flow that completed with `null` gave, shared, so flows without input or output
/// allocate nothing for it.
pub(crate) fn null_value() -> Arc<Value> {
    static SHARED_NULL: OnceLock<Arc<Value>> = OnceLock::new();
    Arc::clone(SHARED_NULL.get_or_init(|| Arc::new(Value::Null)))
}

/// The output of each flow the run started with, once it completed (set before any child
/// starts). Most flows return `null`: completing with it is one flag, a plain store, with no
/// cell filled and no reference count taken.
#[derive(Debug, Default)]
struct Outputs {
    completed: Box<[AtomicBool]>,
    /// An output that is not `null`, set before its flow's flag; the cells are made when the
    /// first such output comes (a run of flows that return nothing never makes them).
    values: OnceLock<Box<[OnceLock<Arc<Value>>]>>,
}

/// What a flow that completed with `null` gave.
static NULL: Value = Value::Null;

impl Outputs {
    /// No output yet for any of `n` flows.
    fn new(n: usize) -> Self {
        Outputs {
            completed: (0..n).map(|_| AtomicBool::new(false)).collect(),
            values: OnceLock::new(),
        }
    }

    /// The number of flows.
    fn len(&self) -> usize {
        self.completed.len()
    }

    /// Flow `i` completed with `output` (`None`: `null`). Only the first call for a flow counts.
    fn set(&self, i: usize, output: Option<Arc<Value>>) {
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
    fn get(&self, i: usize) -> Option<&Value> {
        if !self.completed.get(i)?.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.values
                .get()
                .and_then(|values| values.get(i)?.get())
                .map_or(&NULL, |output| &**output),
        )
    }
}

impl FlowInput {
    /// The input of attempt `attempt` of flow `idx` of the run.
    pub(crate) fn new(run: &Arc<RunShared>, idx: u32, attempt: u32) -> Self {
        FlowInput {
            run: Arc::clone(run),
            idx,
            attempt,
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
        self.run.flows.id(self.idx)
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
        self.run.flows.input(self.idx)
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
        let flows = &self.run.flows;
        flows.parents(self.idx).iter().filter_map(move |link| {
            let p = link.flow();
            Some((flows.id(p), flows.output(p)?))
        })
    }

    /// A token cancelled when the run is cancelled and, for a blocking, task or command
    /// flow, when the attempt times out or the flow is cancelled or failed by hand.
    ///
    /// An async flow's attempt is stopped by dropping its future, and its token is the run's
    /// (a token per attempt would cost every flow an allocation, though most end at their
    /// first poll): work it spawned apart from its future is stopped with the run, not with
    /// the attempt.
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
    use flow_graph::DependencyType::{Optional, Required};

    /// Flows by id, each with its index as its input.
    #[derive(Debug)]
    struct Flows(Vec<(FlowId, Value)>);

    impl FlowTable for Flows {
        fn id(&self, idx: u32) -> &FlowId {
            &self.0[idx as usize].0
        }
        fn input(&self, idx: u32) -> &Value {
            &self.0[idx as usize].1
        }
    }

    fn id(s: &str) -> FlowId {
        FlowId::new(s).unwrap()
    }

    /// A run that started with `a` and `b` (b requires a), joined by `c` (requires a, wants
    /// b) and then `d` (requires c).
    fn run() -> Arc<RunShared> {
        let start = Flows(vec![(id("a"), Value::from(0)), (id("b"), Value::from(1))]);
        let graph = Adjacency::from_edge_list(2, &[(0, 1, Required)]);
        let run = Arc::new(RunShared {
            run_id: RunId::new_now(),
            cancel: CancellationToken::new(),
            flows: RunFlows::new(Arc::new(start), Arc::new(graph), 2),
        });
        let parents = [Link::new(0, Required), Link::new(1, Optional)];
        let c = run
            .flows
            .join(id("c"), Arc::new(serde_json::json!({"k": 1})), &parents);
        assert_eq!(c, 2);
        let d = run
            .flows
            .join(id("d"), null_value(), &[Link::new(2, Required)]);
        assert_eq!(d, 3);
        run
    }

    #[test]
    fn a_flow_that_joined_the_run_is_a_row_like_the_others() {
        let run = run();
        let b = FlowInput::new(&run, 1, 1);
        let c = FlowInput::new(&run, 2, 1);
        let d = FlowInput::new(&run, 3, 2);
        assert_eq!((b.flow().as_str(), b.input()), ("b", &Value::from(1)));
        assert_eq!(
            (c.flow().as_str(), d.flow().as_str(), d.attempt()),
            ("c", "d", 2)
        );
        // No parent completed yet.
        assert_eq!(b.parents().len() + c.parents().len() + d.parents().len(), 0);

        run.flows.set_output(0, Some(Arc::new(Value::from(3))));
        run.flows.set_output(2, None);
        assert_eq!(b.parent("a"), Some(&Value::from(3)));
        assert_eq!(c.parent("a"), Some(&Value::from(3)));
        // `b` has not completed (an optional parent that failed is absent the same way).
        assert_eq!(c.parent("b"), None);
        assert_eq!(d.parent("c"), Some(&Value::Null));
        assert_eq!(
            c.to_value(),
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
        assert_eq!(outputs.get(3), None);
        // The first output counts.
        outputs.set(1, Some(Arc::new(Value::from(8))));
        assert_eq!(outputs.get(1), Some(&Value::from(7)));
    }

    #[test]
    fn rows_appended_while_inputs_read_them_do_not_move() {
        let run = run();
        let c = FlowInput::new(&run, 2, 1);
        let id_before: *const FlowId = c.flow();
        for i in 0..1000 {
            run.flows.join(id(&format!("e{i}")), null_value(), &[]);
        }
        assert!(std::ptr::eq(id_before, c.flow()));
    }
}
