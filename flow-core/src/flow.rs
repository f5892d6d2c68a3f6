//! `Flow` and its builder: what a flow runs (async closure, blocking closure, worker-process
//! task or external command), its input, timeout, retries, tags and dependencies.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flow_graph::{DependencyType, FlowId};
use flow_pool::CommandSpec;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;

use crate::fingerprint::{hash_value, StableHasher};
use crate::{FlowInput, RetryPolicy};

/// The boxed form of an async flow.
pub(crate) type AsyncFn =
    Arc<dyn Fn(FlowInput) -> BoxFuture<'static, Result<Value, String>> + Send + Sync>;
/// The boxed form of a blocking flow.
pub(crate) type BlockingFn = Arc<dyn Fn(FlowInput) -> Result<Value, String> + Send + Sync>;

/// What a flow runs.
#[derive(Clone)]
pub(crate) enum Work {
    Async(AsyncFn),
    Blocking(BlockingFn),
    Task(Arc<str>),
    Command(Arc<CommandSpec>),
}

/// The kind of a flow: where its work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FlowKind {
    /// An async closure polled by the run's driver on tokio.
    Async,
    /// A blocking closure on flow-pool's thread executor.
    Blocking,
    /// A task registered in flow-pool's task registry, run on a worker process.
    Task,
    /// An external command, in its own process group.
    Command,
}

impl FlowKind {
    /// The lowercase name: `async`, `blocking`, `task`, `command`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Async => "async",
            FlowKind::Blocking => "blocking",
            FlowKind::Task => "task",
            FlowKind::Command => "command",
        }
    }
}

impl fmt::Display for FlowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One unit of work of a DAG, made with [`Flow::async_fn`], [`Flow::blocking`],
/// [`Flow::task`] or [`Flow::command`] and the [`FlowBuilder`] they return.
///
/// ```
/// use std::time::Duration;
/// use flow_core::{Flow, FlowId, RetryPolicy};
/// use serde_json::json;
///
/// let fetch = Flow::async_fn(FlowId::new("fetch")?, |input| async move {
///     Ok::<_, String>(json!({"rows": input.input()["limit"]}))
/// })
/// .input(json!({"limit": 10}))
/// .timeout(Duration::from_secs(30))
/// .retry(RetryPolicy::fixed(2, Duration::from_secs(1)))
/// .tag("io")
/// .build();
/// assert_eq!(fetch.id(), "fetch");
/// # Ok::<(), flow_core::InvalidFlowId>(())
/// ```
#[derive(Clone)]
pub struct Flow {
    pub(crate) id: FlowId,
    pub(crate) work: Work,
    pub(crate) input: Arc<Value>,
    /// Timeout, retries, tags, version, data and the dependencies declared with the flow;
    /// `None` while all are at their defaults (none declared), which keeps a plain flow small
    /// (large graphs hold many, and each byte of them is memory touched for the first time).
    pub(crate) settings: Option<Box<Settings>>,
    /// The stable hash of everything above except the dependencies, as two words.
    pub(crate) definition: [u64; 2],
}

/// The less common settings of a flow.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) tags: Vec<String>,
    pub(crate) version: Option<String>,
    pub(crate) data: Option<Arc<crate::Data>>,
    /// The folder given with [`FlowBuilder::home`].
    pub(crate) home: Option<Arc<Path>>,
    /// Not part of the definition's hash: a flow's parents count through their fingerprints.
    pub(crate) dependencies: Vec<(FlowId, DependencyType)>,
}

static DEFAULT_SETTINGS: std::sync::LazyLock<Settings> =
    std::sync::LazyLock::new(Settings::default);

impl Flow {
    /// A flow running an async closure on tokio. The closure gets a [`FlowInput`] and returns
    /// the flow's output or an error (any `Display`able type; its text becomes the failure
    /// message).
    ///
    /// The run's driver polls the future itself (no task is spawned per flow), so it must not
    /// block: put blocking work in [`Flow::blocking`], or `tokio::spawn` it and await the
    /// handle. A timeout or cancel drops the future, and with it what the future owns; a task
    /// it spawned runs on unless the future aborts it when dropped (tokio-util's
    /// `AbortOnDropHandle` does): a dropped `JoinHandle` leaves its task running.
    pub fn async_fn<F, Fut, E>(id: FlowId, f: F) -> FlowBuilder
    where
        F: Fn(FlowInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, E>> + Send + 'static,
        E: fmt::Display,
    {
        let f: AsyncFn = Arc::new(move |input| {
            f(input)
                .map(|result| result.map_err(|error| error.to_string()))
                .boxed()
        });
        FlowBuilder::new(id, Work::Async(f))
    }

    /// A flow running a blocking closure on flow-pool's thread executor. A timeout or cancel
    /// cancels [`FlowInput::cancellation`] and the flow ends at once; the closure should
    /// check the token and return. Until it does, it holds an OS thread of its own, outside
    /// the [`threads`](crate::ContextBuilder::threads) of the pool: a new thread takes its
    /// place, so later blocking flows do not wait for it. Neither does the flow's retry: after
    /// a timeout the next attempt may run while the abandoned one still does (they differ in
    /// [`FlowInput::attempt`]), and once the flow has ended its dependents start meanwhile.
    pub fn blocking<F, E>(id: FlowId, f: F) -> FlowBuilder
    where
        F: Fn(FlowInput) -> Result<Value, E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        let f: BlockingFn = Arc::new(move |input| f(input).map_err(|error| error.to_string()));
        FlowBuilder::new(id, Work::Blocking(f))
    }

    /// A flow running the task registered under `task` in flow-pool's task registry, on a
    /// worker process. The task receives [`FlowInput::to_value`]. A timeout or cancel kills
    /// the worker.
    pub fn task(id: FlowId, task: impl Into<String>) -> FlowBuilder {
        FlowBuilder::new(id, Work::Task(Arc::from(task.into())))
    }

    /// A flow running an external command in its own process group. The driver adds
    /// `FLOW_RUN_ID`, `FLOW_ID` and `FLOW_ATTEMPT` (1 for the first attempt) to its
    /// environment (a spec that sets or removes one of them is refused when the flow is
    /// registered: [`CoreError::OwnVariable`](crate::CoreError::OwnVariable)) and, when the
    /// context has a log directory, sends stdout and stderr to
    /// `<log_dir>/<run_id>/<flow>.<attempt>.out` and `.err` (unless the spec names its own
    /// files; a file is made with the stream's first byte, so a silent command leaves none).
    /// Exit code 0 completes the flow, with output `{"exit_code": 0}`; anything else fails
    /// it. A timeout or cancel stops the group (SIGTERM, the spec's grace period, SIGKILL).
    pub fn command(id: FlowId, spec: CommandSpec) -> FlowBuilder {
        FlowBuilder::new(id, Work::Command(Arc::new(spec)))
    }

    /// The flow's id.
    pub fn id(&self) -> &FlowId {
        &self.id
    }

    /// Where the flow's work runs.
    pub fn kind(&self) -> FlowKind {
        match self.work {
            Work::Async(_) => FlowKind::Async,
            Work::Blocking(_) => FlowKind::Blocking,
            Work::Task(_) => FlowKind::Task,
            Work::Command(_) => FlowKind::Command,
        }
    }

    /// The command of a command flow.
    pub fn command_spec(&self) -> Option<&CommandSpec> {
        match &self.work {
            Work::Command(spec) => Some(spec),
            _ => None,
        }
    }

    /// The task name of a task flow.
    pub fn task_name(&self) -> Option<&str> {
        match &self.work {
            Work::Task(name) => Some(name),
            _ => None,
        }
    }

    /// The flow's own input (`null` when none was given).
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// The time limit of each attempt.
    pub fn timeout(&self) -> Option<Duration> {
        self.settings().timeout
    }

    /// How failed attempts are retried.
    pub fn retry(&self) -> &RetryPolicy {
        &self.settings().retry
    }

    /// The free-form tags.
    pub fn tags(&self) -> &[String] {
        &self.settings().tags
    }

    /// The version given with [`FlowBuilder::version`].
    pub fn version(&self) -> Option<&str> {
        self.settings().version.as_deref()
    }

    /// The files it declares it reads and writes ([`FlowBuilder::data`]).
    pub fn data(&self) -> Option<&crate::Data> {
        self.settings().data.as_deref()
    }

    /// The folder the flow belongs to, whose path is no part of its definition: the one given
    /// with [`FlowBuilder::home`], else the base folder of its declared files.
    pub fn home(&self) -> Option<&Path> {
        let settings = self.settings();
        (settings.home.as_deref()).or_else(|| settings.data.as_ref().map(|d| d.base()))
    }

    /// The declared files, shared.
    pub(crate) fn data_arc(&self) -> Option<Arc<crate::Data>> {
        self.settings().data.clone()
    }

    fn settings(&self) -> &Settings {
        self.settings.as_deref().unwrap_or(&DEFAULT_SETTINGS)
    }

    /// The definition hash as one number.
    pub(crate) fn definition(&self) -> u128 {
        (u128::from(self.definition[0]) << 64) | u128::from(self.definition[1])
    }

    /// The dependencies declared on the builder (parent, type); dependencies added later
    /// with [`FlowContext::register_dependency`](crate::FlowContext::register_dependency)
    /// are in the context's graph, not here.
    pub fn dependencies(&self) -> &[(FlowId, DependencyType)] {
        &self.settings().dependencies
    }
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("id", &self.id)
            .field("kind", &self.kind())
            .field("input", &self.input)
            .field("timeout", &self.timeout())
            .field("retry", self.retry())
            .field("tags", &self.tags())
            .field("dependencies", &self.dependencies())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Flow`]; start with [`Flow::async_fn`], [`Flow::blocking`], [`Flow::task`] or
/// [`Flow::command`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct FlowBuilder {
    flow: Flow,
}

impl fmt::Debug for FlowBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FlowBuilder").field(&self.flow).finish()
    }
}

impl FlowBuilder {
    fn new(id: FlowId, work: Work) -> Self {
        FlowBuilder {
            flow: Flow {
                id,
                work,
                input: crate::input::null_value(),
                settings: None,
                definition: [0; 2],
            },
        }
    }

    /// The flow's own input (the seed's `input_data`), handed to every attempt.
    pub fn input(mut self, input: Value) -> Self {
        self.flow.input = Arc::new(input);
        self
    }

    /// The time limit of each attempt; an attempt over it fails with a timeout (and is
    /// retried if the retry policy allows).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings().timeout = Some(timeout);
        self
    }

    /// How failed attempts are retried (default: never).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.settings().retry = retry;
        self
    }

    /// Adds a free-form tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.settings().tags.push(tag.into());
        self
    }

    /// A version string that is part of the fingerprint: change it when the code of a
    /// closure changes, so that resume re-runs the flow (closures themselves cannot be
    /// compared).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.settings().version = Some(version.into());
        self
    }

    /// The files the flow reads and writes. Each attempt starts without its declared outputs:
    /// they are removed just before it starts (a file, a symbolic link itself rather than what
    /// it leads to, a folder with everything in it; a missing one is fine), each retry too, so
    /// what it leaves is what it wrote, not what an earlier run or attempt left. Then the
    /// folder each output goes in is made, with its parents (`out` for `out/x.csv` or the
    /// folder output `out/plots/`; not the output itself). A removal or a folder that fails
    /// fails the attempt, naming the output and the system's reason. Nothing is removed
    /// for a flow skipped as up to date or reused by a resume, nor for a command whose executor
    /// adopts the work of an earlier process instead of starting it (a Slurm job, which may
    /// still be writing). The outputs of a failed attempt are left as it left them. An output
    /// that is the base folder of `data` or holds it (`.`, `..`, an absolute parent) is
    /// refused ([`CoreError::OutputHoldsBase`](crate::CoreError::OutputHoldsBase) when the
    /// flow is registered).
    ///
    /// Once it completes, each declared output must exist, else it fails ("declared output
    /// `out/x.csv` was not written"); a run told to skip what is up to date
    /// ([`RunOptions::skip_up_to_date`](crate::RunOptions::skip_up_to_date)) skips it while
    /// its definition, inputs, outputs and parents are as when it last completed.
    pub fn data(mut self, data: crate::Data) -> Self {
        self.settings().data = Some(Arc::new(data));
        self
    }

    /// The folder the flow belongs to, such as its workflow's folder (default: the base folder
    /// of its [`data`](Self::data)). Its path is no part of the flow's definition: where a
    /// command's environment value, working directory or output file holds it as a whole
    /// path (`/work/p`, `/work/p/data`, `/bin:/work/p/bin`, not `/work/pq`), the path counts
    /// as "the home". So a project moved, or checked out elsewhere with its store, keeps its
    /// flows' fingerprints (a resume reuses them) and finds them up to date; the command is
    /// given the paths as written when it runs. A relative home, or `/`, is no home.
    ///
    /// ```
    /// use std::path::Path;
    /// use flow_core::{CommandSpec, Flow, FlowId};
    ///
    /// let spec = CommandSpec::shell("make").env("DATA", "/work/p/data").cwd("/work/p");
    /// let flow = Flow::command(FlowId::new("build")?, spec).home(Path::new("/work/p")).build();
    /// assert_eq!(flow.home(), Some(Path::new("/work/p")));
    /// # Ok::<(), flow_core::InvalidFlowId>(())
    /// ```
    pub fn home(mut self, dir: impl Into<Arc<Path>>) -> Self {
        self.settings().home = Some(dir.into());
        self
    }

    /// A dependency on `parent`, registered together with the flow: the flow starts after
    /// the parent finished. Declaring dependencies here, rather than with
    /// [`FlowContext::register_dependency`](crate::FlowContext::register_dependency), is the
    /// way to add a flow to a run in progress. Declaring a parent again changes its type: the
    /// last declaration counts (`.requires(p).optionally_after(p)` is optional), as
    /// `register_dependency` does for an edge that exists.
    pub fn after(mut self, parent: FlowId, dependency: DependencyType) -> Self {
        let dependencies = &mut self.settings().dependencies;
        match dependencies.iter_mut().find(|(p, _)| *p == parent) {
            Some(declared) => declared.1 = dependency,
            None => dependencies.push((parent, dependency)),
        }
        self
    }

    /// A required dependency on `parent`: a failure of the parent fails this flow.
    pub fn requires(self, parent: FlowId) -> Self {
        self.after(parent, DependencyType::Required)
    }

    /// An optional dependency on `parent`: this flow runs after it whatever its outcome.
    pub fn optionally_after(self, parent: FlowId) -> Self {
        self.after(parent, DependencyType::Optional)
    }

    fn settings(&mut self) -> &mut Settings {
        self.flow.settings.get_or_insert_with(Box::default)
    }

    /// The flow.
    pub fn build(mut self) -> Flow {
        let hash = definition_hash(&self.flow);
        self.flow.definition = [(hash >> 64) as u64, hash as u64];
        self.flow
    }
}

/// The stable hash of a flow's definition (not its dependencies).
fn definition_hash(flow: &Flow) -> u128 {
    let mut h = StableHasher::new();
    h.field(flow.id.as_str().as_bytes());
    match &flow.work {
        Work::Async(_) => h.word(1),
        Work::Blocking(_) => h.word(2),
        Work::Task(name) => h.word(3).field(name.as_bytes()),
        Work::Command(spec) => {
            // The home's own path is left out: a moved project keeps its fingerprints.
            let text = match flow.home() {
                Some(home) => serde_json::to_vec(&crate::home::command(spec, home)),
                None => serde_json::to_vec(&**spec),
            };
            h.word(4).field(&text.unwrap_or_default())
        }
    };
    hash_value(&mut h, &flow.input);
    // Most flows keep the default settings, whose hash is computed once.
    static DEFAULT_SETTINGS_HASH: std::sync::LazyLock<u128> =
        std::sync::LazyLock::new(|| settings_hash(&DEFAULT_SETTINGS));
    let settings = match &flow.settings {
        None => *DEFAULT_SETTINGS_HASH,
        Some(settings) => settings_hash(settings),
    };
    h.u128(settings);
    h.finish()
}

/// The stable hash of timeout, retries, tags and version.
fn settings_hash(settings: &Settings) -> u128 {
    let mut h = StableHasher::new();
    match settings.timeout {
        None => h.word(0),
        Some(t) => h
            .word(1)
            .word(t.as_secs())
            .word(u64::from(t.subsec_nanos())),
    };
    let retry = &settings.retry;
    h.word(u64::from(retry.retries()));
    match retry.backoff() {
        crate::Backoff::Fixed(d) => h.word(0).u128(d.as_nanos()),
        crate::Backoff::Exponential { initial, max } => {
            h.word(1).u128(initial.as_nanos()).u128(max.as_nanos())
        }
    };
    h.word(retry.jitter().to_bits());
    h.word(settings.tags.len() as u64);
    for tag in &settings.tags {
        h.field(tag.as_bytes());
    }
    match &settings.version {
        None => h.word(0),
        Some(v) => h.word(1).field(v.as_bytes()),
    };
    // Only a flow that declares files hashes them, so other fingerprints stay as they were.
    if let Some(data) = &settings.data {
        let home = settings.home.as_deref().unwrap_or(data.base());
        let base = crate::home::path(data.base(), home);
        h.word(2).field(base.as_os_str().as_encoded_bytes());
        for list in [data.input_paths(), data.output_paths()] {
            h.word(list.len() as u64);
            for path in list {
                h.field(path.as_bytes());
            }
        }
    }
    h.finish()
}

impl crate::input::FlowTable for Vec<Flow> {
    fn id(&self, idx: u32) -> &FlowId {
        &self[idx as usize].id
    }

    fn input(&self, idx: u32) -> &Value {
        &self[idx as usize].input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> FlowId {
        FlowId::new(s).unwrap()
    }

    /// A registry of 100,000 flows holds 100,000 of these: what is rare lives in `settings`.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_plain_flow_is_small_and_its_declared_dependencies_are_kept() {
        assert_eq!(std::mem::size_of::<Flow>(), 72);
        let plain = Flow::async_fn(id("a"), |_| async { Ok::<_, String>(Value::Null) }).build();
        assert!(plain.settings.is_none());
        assert!(plain.dependencies().is_empty());
        let child = Flow::async_fn(id("b"), |_| async { Ok::<_, String>(Value::Null) })
            .requires(id("a"))
            .build();
        assert_eq!(child.dependencies(), [(id("a"), DependencyType::Required)]);
        // Declared dependencies are not part of the definition: a parent counts through its
        // fingerprint, so the hash is that of a flow with default settings.
        let alone = Flow::async_fn(id("b"), |_| async { Ok::<_, String>(Value::Null) }).build();
        assert_eq!(child.definition(), alone.definition());
    }

    fn noop(name: &str) -> FlowBuilder {
        Flow::async_fn(id(name), |_| async { Ok::<_, String>(Value::Null) })
    }

    #[test]
    fn a_parent_declared_again_keeps_its_last_type() {
        let noop = || Flow::async_fn(id("c"), |_| async { Ok::<_, String>(Value::Null) });
        let flow = noop().requires(id("p")).optionally_after(id("p")).build();
        assert_eq!(flow.dependencies(), [(id("p"), DependencyType::Optional)]);
        let flow = noop()
            .optionally_after(id("p"))
            .requires(id("q"))
            .requires(id("p"))
            .build();
        assert_eq!(
            flow.dependencies(),
            [
                (id("p"), DependencyType::Required),
                (id("q"), DependencyType::Required)
            ]
        );
    }

    #[test]
    fn definition_hash_follows_every_field() {
        let base = noop("a").build().definition();
        assert_eq!(base, noop("a").build().definition());
        let changed = [
            noop("b").build(),
            noop("a").input(Value::from(1)).build(),
            noop("a").timeout(Duration::from_secs(1)).build(),
            noop("a")
                .retry(RetryPolicy::fixed(1, Duration::ZERO))
                .build(),
            noop("a").tag("t").build(),
            noop("a").version("2").build(),
            Flow::task(id("a"), "t").build(),
            Flow::command(id("a"), CommandSpec::argv(["true"])).build(),
        ];
        for flow in changed {
            assert_ne!(flow.definition(), base, "{flow:?}");
        }
        // Dependencies are not part of the definition; the fingerprint adds them.
        assert_eq!(noop("a").requires(id("x")).build().definition(), base);
    }

    #[test]
    fn accessors_return_what_was_built() {
        let flow = Flow::command(id("c"), CommandSpec::shell("exit 0"))
            .tag("x")
            .optionally_after(id("p"))
            .build();
        assert_eq!(flow.kind(), FlowKind::Command);
        assert!(flow.command_spec().is_some());
        assert_eq!(flow.task_name(), None);
        assert_eq!(flow.tags(), ["x"]);
        assert_eq!(flow.dependencies(), [(id("p"), DependencyType::Optional)]);
    }
}
