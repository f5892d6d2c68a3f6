//! `FlowContext` and the scheduler: runs a DAG of flows, on tokio.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod context;
mod error;
mod event;
mod fingerprint;
mod flow;
mod id_index;
mod input;
mod registry;
mod retry;
mod scheduler;
mod summary;

pub use context::{ContextBuilder, FlowContext, RunOptions};
pub use error::CoreError;
pub use event::{Event, EventKind, EventReceiver, RecvError};
pub use flow::{Flow, FlowBuilder, FlowKind};
pub use input::FlowInput;
pub use retry::{Backoff, RetryPolicy};
pub use summary::RunSummary;

pub use flow_graph::{DependencyType, FlowId, InvalidFlowId};
pub use flow_pool::{CancellationToken, CommandExecutor, CommandSpec};
pub use flow_results::{
    Failure, FailureKind, FlowResult, FlowStatus, ResultStore, RunId, StatusCounts,
};
