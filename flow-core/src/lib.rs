//! `FlowContext` and the run state machine with its driver: runs a DAG of flows with required
//! and optional dependencies, failure propagation, retries, events and resume, on tokio.
//!
//! Declare flows (an async closure, a blocking closure, a task on a worker process, or an
//! external command) and their dependencies, call [`FlowContext::run`], and every flow runs
//! as soon as its parents have finished, at most `jobs` at a time. Each flow gets its
//! parents' outputs; a failure fails every flow behind a required dependency, transitively,
//! naming the flow that failed first; results go to a [`ResultStore`] as flows finish; a run
//! can resume from an earlier one, reusing what completed and did not change.
//!
//! ```
//! use flow_core::{Flow, FlowContext, FlowId, FlowStatus};
//! use serde_json::json;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let id = |s: &str| FlowId::new(s).unwrap();
//! let ctx = FlowContext::builder().jobs(4).workflow("example").build();
//! ctx.register_flow(Flow::async_fn(id("fetch"), |_| async { Ok::<_, String>(json!([1, 2, 3])) }).build())?;
//! ctx.register_flow(
//!     Flow::async_fn(id("sum"), |input| async move {
//!         let rows = input.parent("fetch").and_then(|v| v.as_array()).ok_or("no rows")?;
//!         Ok::<_, &str>(json!(rows.iter().filter_map(|v| v.as_i64()).sum::<i64>()))
//!     })
//!     .requires(id("fetch"))
//!     .build(),
//! )?;
//! ctx.register_flow(
//!     Flow::async_fn(id("broken"), |_| async { Err::<serde_json::Value, _>("no network") }).build(),
//! )?;
//! ctx.register_flow(
//!     Flow::async_fn(id("report"), |_| async { Ok::<_, String>(json!("sent")) })
//!         .requires(id("broken"))
//!         .build(),
//! )?;
//!
//! let mut events = ctx.subscribe();
//! let summary = ctx.run().await?;
//! assert_eq!((summary.counts.completed, summary.counts.failed), (2, 2));
//! assert_eq!(ctx.status("report"), Some(FlowStatus::Failed)); // never started
//! let sum = ctx.store().result(&summary.run_id, &id("sum")).unwrap().unwrap();
//! assert_eq!(sum.output, json!(6));
//! assert!(events.try_recv().unwrap().is_some());
//! # Ok::<(), flow_core::CoreError>(())
//! # }).unwrap();
//! ```
//!
//! # Caveats
//! An async flow is polled by the run's driver itself: it must not block the thread (use
//! [`Flow::blocking`] for that). A blocking closure cannot be killed: on timeout or cancel it
//! is abandoned (its flow ends at once) and should watch [`FlowInput::cancellation`].
#![deny(missing_docs)]

mod context;
mod driver;
mod error;
mod event;
mod fingerprint;
mod flow;
mod id_index;
mod input;
mod machine;
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
pub use input::FlowInput;
pub use retry::{Backoff, RetryPolicy};
pub use run_options::RunOptions;
pub use summary::RunSummary;

pub use flow_graph::{DependencyType, FlowId, InvalidFlowId};
pub use flow_pool::{CancellationToken, CommandExecutor, CommandSpec};
pub use flow_results::{
    Failure, FailureKind, FlowResult, FlowStatus, ResultStore, RunId, StatusCounts,
};
