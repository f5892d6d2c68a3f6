//! The flow DAG: validated flow ids, dependency types, cycle detection that names the cycle,
//! topological order, the set of flows a failure reaches, and DOT/Mermaid export.
//!
//! This is the bottom layer of flow. It knows nothing of tokio, processes or files: no async,
//! no I/O, and it depends only on `daggy` and `thiserror` (plus `serde` behind the `serde`
//! feature, for [`FlowId`] and [`DependencyType`]).
//!
//! ```
//! use flow_graph::{DependencyType, FlowGraph, FlowId};
//!
//! let mut graph = FlowGraph::new();
//! graph.add_flow(FlowId::new("fetch")?)?;
//! graph.add_flow(FlowId::new("build")?)?;
//! graph.add_dependency("fetch", "build", DependencyType::Required)?;
//! assert_eq!(graph.topological_order(), ["fetch", "build"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod cycle;
mod dependency;
mod error;
mod export;
mod graph;
mod id;
mod indexed;
mod link;

pub use dependency::DependencyType;
pub use error::{CycleError, GraphError, InvalidFlowId};
pub use graph::FlowGraph;
pub use id::{validate as validate_flow_id, FlowId, MAX_FLOW_ID_LEN};
pub use indexed::{Adjacency, IndexedGraph};
pub use link::Link;
