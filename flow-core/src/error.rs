//! `CoreError`: everything a `FlowContext` call can refuse or fail at.

use std::time::Duration;

use flow_graph::{FlowId, GraphError};
use flow_results::{FlowStatus, RunId, StoreError};

/// The error of every fallible flow-core call. Flow failures are not errors: they are results
/// (see [`RunSummary`](crate::RunSummary)); these are the calls that could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A flow with this id is already registered.
    #[error("flow `{0}` is already registered; pick another id")]
    DuplicateFlow(FlowId),
    /// A call named a flow that is not registered.
    #[error("unknown flow `{0}`: register it first")]
    UnknownFlow(String),
    /// Registering the dependency or flow was refused by the graph (a cycle, most often);
    /// nothing was changed.
    #[error("cannot register the dependency: {0}")]
    Graph(#[source] GraphError),
    /// A flow was registered during a run with a required dependency on a flow that already
    /// failed or was cancelled in that run; nothing was changed.
    #[error(
        "cannot register flow `{flow}` during the run: it requires flow `{parent}`, which \
         already ended {status} in this run"
    )]
    ParentEnded {
        /// The flow being registered.
        flow: FlowId,
        /// The parent that already ended without completing.
        parent: FlowId,
        /// How the parent ended.
        status: FlowStatus,
    },
    /// `register_dependency` was called while a run is in progress: the dependencies of the
    /// flows in a run are fixed once it begins, whether the child has started or not.
    #[error(
        "cannot add a dependency to flow `{flow}` while a run is in progress: {state}; add it \
         before the run starts, or give a flow registered during the run its parents on its \
         builder (`FlowBuilder::requires`, `optionally_after` or `after`)"
    )]
    AlreadyStarted {
        /// The child of the refused dependency.
        flow: FlowId,
        /// Why: "the dependencies of a run's flows are fixed once it begins".
        state: &'static str,
    },
    /// `fail_flow` named a flow that has already ended in the current run.
    #[error("cannot fail flow `{flow}`: it already ended {status} in this run")]
    AlreadyFinished {
        /// The flow.
        flow: FlowId,
        /// How it ended.
        status: FlowStatus,
    },
    /// `wait_for_flows` gave up.
    #[error(
        "timed out after {after:?} waiting for flows; still unfinished: {}",
        list(unfinished)
    )]
    WaitTimeout {
        /// How long the wait lasted.
        after: Duration,
        /// The flows that had not finished, in the order they were asked for.
        unfinished: Vec<FlowId>,
    },
    /// A run was started while another run of the same context is in progress.
    #[error("run `{0}` is already in progress in this context; wait for it to finish")]
    RunInProgress(RunId),
    /// `resume_from` named a run the result store does not have.
    #[error("cannot resume from run `{0}`: the result store has no such run")]
    UnknownRun(RunId),
    /// `resume_from` named a run of another workflow (another name in the same store): its
    /// results are those of other flows, even where their ids are the same, so none is
    /// reused; nothing ran.
    #[error(
        "cannot resume workflow `{workflow}` from run `{run}`: that run is of workflow \
         `{other}`, whose flows are not these even where their ids match; resume from a run \
         of `{workflow}`"
    )]
    OtherWorkflow {
        /// The run named by `resume_from`.
        run: RunId,
        /// The workflow of the context that would resume.
        workflow: String,
        /// The workflow that run is of.
        other: String,
    },
    /// The result store failed at the start or the end of a run.
    #[error("the result store failed to {action}")]
    Store {
        /// What was being done, e.g. "begin run `...`".
        action: String,
        /// The store's error.
        #[source]
        source: Box<StoreError>,
    },
    /// `wait_for_flows_in_run` asked for a flow that has no finished result in a run that is
    /// over.
    #[error("flow `{flow}` did not finish in run `{run}`, which is over")]
    NotInRun {
        /// The flow asked for.
        flow: FlowId,
        /// The run, over.
        run: RunId,
    },
    /// The record of what flows last wrote (up-to-date checks) cannot be read or written.
    #[error("the up-to-date record {path} failed: {message}")]
    Ledger {
        /// The record's file (`memory` for one in memory).
        path: String,
        /// What failed.
        message: String,
    },
    /// A flow declares an output that is its base folder or holds it (`.`, `..`, an absolute
    /// parent): the outputs of a flow are removed before each attempt, so it is refused.
    #[error(
        "flow `{flow}` declares output `{output}`, which holds its folder {}: each attempt \
         starts without its outputs, so that folder would be removed; declare the files or \
         folders it writes instead (such as `out/`)",
        .base.display()
    )]
    OutputHoldsBase {
        /// The flow.
        flow: FlowId,
        /// The output as declared.
        output: String,
        /// The base folder of its declared files.
        base: std::path::PathBuf,
    },
    /// A command flow's spec sets (or removes) a variable that flow sets itself for every
    /// attempt of a command (`FLOW_ID`, `FLOW_RUN_ID`, `FLOW_ATTEMPT`): its value would never
    /// reach the command; nothing was changed.
    #[error(
        "flow `{flow}` sets `{variable}` in its command's environment, which flow sets itself \
         for every command (FLOW_ID, FLOW_RUN_ID, FLOW_ATTEMPT): its value would never reach \
         the command; give the variable another name"
    )]
    OwnVariable {
        /// The flow.
        flow: FlowId,
        /// The variable its spec changes.
        variable: &'static str,
    },
    /// A task flow names a task that the context's process pool's registry does not have;
    /// nothing was changed.
    #[error(
        "flow `{flow}` runs task `{task}`, which the process pool's task registry does not \
         have ({}); register it in the registry given to the pool and in the one the program \
         passes to `flow_pool::worker_main`",
        registered(known)
    )]
    UnknownTask {
        /// The flow.
        flow: FlowId,
        /// The task it names.
        task: String,
        /// The tasks the pool's registry has, sorted.
        known: Vec<String>,
    },
    /// `cleanup` forgot the flows a `wait_for_flows` was waiting for.
    #[error("flow `{0}` was removed by `cleanup` while being waited for")]
    CleanedUp(FlowId),
    /// The driver of the current run is gone (its run future was dropped).
    #[error("the run ended before the request for flow `{0}` could be handled")]
    RunGone(FlowId),
    /// A thread needed by the run could not be started or failed.
    #[error("failed to {action}")]
    Thread {
        /// What failed, e.g. "start the result-store writer thread".
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

fn list(ids: &[FlowId]) -> String {
    let shown: Vec<&str> = ids.iter().take(20).map(FlowId::as_str).collect();
    let mut s = shown.join(", ");
    if ids.len() > shown.len() {
        s.push_str(&format!(" and {} more", ids.len() - shown.len()));
    }
    s
}

/// The tasks of a registry, as [`CoreError::UnknownTask`] lists them.
fn registered(known: &[String]) -> String {
    if known.is_empty() {
        return "it has none".to_owned();
    }
    let shown: Vec<String> = known
        .iter()
        .take(20)
        .map(|task| format!("`{task}`"))
        .collect();
    let more = known.len() - shown.len();
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("it has {}{more}", shown.join(", "))
}

impl From<GraphError> for CoreError {
    fn from(error: GraphError) -> Self {
        match error {
            GraphError::DuplicateFlow(id) => CoreError::DuplicateFlow(id),
            GraphError::UnknownFlow(id) => CoreError::UnknownFlow(id),
            other => CoreError::Graph(other),
        }
    }
}
