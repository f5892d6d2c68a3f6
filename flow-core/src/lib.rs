//! `FlowContext` and the scheduler: runs a DAG of flows with required and optional
//! dependencies, failure propagation, retries, events and resume, on tokio.
