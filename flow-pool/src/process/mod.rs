//! Worker processes: the [`TaskRegistry`] of functions, the [`ProcessPool`] that runs them,
//! the worker entry point [`worker_main`] and the pipe protocol between them.

mod leftovers;
mod pool;
mod protocol;
mod registry;
mod talk;
mod worker;

pub use pool::{ProcessPool, DEFAULT_HELLO_TIMEOUT, DEFAULT_WORKER_GRACE};
pub use registry::{TaskFn, TaskRegistry};
pub use worker::{is_worker_process, worker_main, WORKER_ENV};
