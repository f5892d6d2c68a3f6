//! [`TaskRegistry`]: the named functions a worker process can run.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// A function a worker process can run: JSON in, JSON or an error message out.
pub type TaskFn = fn(Value) -> Result<Value, String>;

/// Named functions that worker processes can run.
///
/// The parent and its workers are the same executable, so both build the same registry (the
/// parent only uses it to refuse unknown names before sending them).
///
/// ```
/// use flow_pool::TaskRegistry;
/// fn double(input: serde_json::Value) -> Result<serde_json::Value, String> {
///     let n = input.as_i64().ok_or("expected an integer")?;
///     Ok(serde_json::json!(n * 2))
/// }
/// let registry = TaskRegistry::new().register("double", double);
/// assert!(registry.contains("double"));
/// ```
#[derive(Clone, Default)]
pub struct TaskRegistry {
    tasks: BTreeMap<String, TaskFn>,
}

impl TaskRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `task` under `name` (a later registration of the same name replaces it).
    #[must_use]
    pub fn register(mut self, name: impl Into<String>, task: TaskFn) -> Self {
        self.tasks.insert(name.into(), task);
        self
    }

    /// Whether a task of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.tasks.contains_key(name)
    }

    /// The function registered under `name`.
    pub fn task(&self, name: &str) -> Option<TaskFn> {
        self.tasks.get(name).copied()
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tasks.keys().map(String::as_str)
    }
}

impl fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}
