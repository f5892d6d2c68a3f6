//! The DAG of flow: flow ids, dependencies, cycles, failure reach, DOT and Mermaid.
#![doc = include_str!("../README.md")]
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
