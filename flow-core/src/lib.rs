//! `FlowContext` and the run state machine with its driver: runs a DAG of flows, on tokio.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod context;
mod driver;
mod error;
mod event;
mod fingerprint;
mod flow;
mod fresh;
mod home;
mod id_index;
mod input;
mod logs;
mod machine;
mod own_env;
mod registry;
mod request;
mod retry;
mod run_options;
mod shared;
mod summary;
mod wait;
mod writer;

pub use context::{ContextBuilder, FlowContext};
pub use error::CoreError;
pub use event::{Event, EventKind, EventReceiver, RecvError};
pub use flow::{Flow, FlowBuilder, FlowKind};
pub use fresh::{
    Damaged, Data, Freshness, Ledger, Plan, PlannedFlow, Reason, Snapshot, Verdict, STATE_DIR,
};
pub use input::FlowInput;
pub use logs::{log_file, run_log_dir, LogStream};
pub use own_env::OWN_VARIABLES;
pub use retry::{Backoff, RetryPolicy};
pub use run_options::RunOptions;
pub use summary::RunSummary;

pub use flow_graph::{DependencyType, FlowId, InvalidFlowId};
pub use flow_pool::{CancellationToken, CommandExecutor, CommandSpec};
pub use flow_results::{
    Failure, FailureKind, FlowResult, FlowStatus, ResultStore, RunId, StatusCounts,
};
