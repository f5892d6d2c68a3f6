//! `FlowContext`: the registry of flows and dependencies, the seed's operations, and the entry
//! point of a run; `ContextBuilder` and `RunOptions` configure it.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use flow_graph::{CycleError, DependencyType, FlowGraph, FlowId};
use flow_pool::{CommandExecutor, CommandRunner, ProcessPool};
use flow_results::{FlowStatus, MemoryStore, ResultStore, RunId};
use tokio::sync::{oneshot, watch};

use crate::registry::Registry;
use crate::request::Request;
use crate::run_options::RunOptions;
use crate::shared::{lock, Board, Options, Shared, MAX_EVENT_CAPACITY};
use crate::writer::WriterThread;
use crate::{CoreError, EventReceiver, Flow, RunSummary};

fn default_parallelism() -> usize {
    // Asked once per process: on Linux the answer reads cgroup files.
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Configures a [`FlowContext`]; every setting has a default.
///
/// ```
/// use std::sync::Arc;
/// use flow_core::FlowContext;
/// use flow_results::MemoryStore;
///
/// let ctx = FlowContext::builder()
///     .jobs(8)
///     .workflow("nightly")
///     .store(Arc::new(MemoryStore::new()))
///     .log_dir("/tmp/flow-logs")
///     .build();
/// assert_eq!(ctx.workflow(), "nightly");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ContextBuilder {
    options: Options,
    event_capacity: usize,
}

impl Default for ContextBuilder {
    fn default() -> Self {
        ContextBuilder {
            options: Options {
                jobs: default_parallelism(),
                store: Arc::new(MemoryStore::new()),
                workflow: "default".to_owned(),
                log_dir: None,
                command_executor: Arc::new(CommandRunner::new()),
                threads: default_parallelism(),
                process_pool: None,
                pool_grace: Duration::from_secs(5),
            },
            event_capacity: 4096,
        }
    }
}

impl ContextBuilder {
    /// At most this many flows run at once (at least 1; default: the number of CPUs). A flow
    /// waiting between two attempts keeps its slot. The executors of flow-pool apply their
    /// own limits on top (threads, worker processes).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.options.jobs = jobs.max(1);
        self
    }

    /// Where results are saved (default: a new [`MemoryStore`]).
    pub fn store(mut self, store: Arc<dyn ResultStore>) -> Self {
        self.options.store = store;
        self
    }

    /// The workflow name recorded with each run (default: `default`).
    pub fn workflow(mut self, workflow: impl Into<String>) -> Self {
        self.options.workflow = workflow.into();
        self
    }

    /// A folder for command output: each attempt of a command flow without its own output
    /// files writes stdout and stderr to `<log_dir>/<run_id>/<flow>.<attempt>.out` and `.err`
    /// (see [`log_file`](crate::log_file)), so that a retry keeps the output of the attempt
    /// before it.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.log_dir = Some(dir.into());
        self
    }

    /// What runs command flows (default: a local [`CommandRunner`], made with the builder: its
    /// commands inherit this process's environment as it was then, plus their specs' changes).
    /// An executor that wraps another forwards both `run_prepared` and `settled` to it:
    /// [`cleanup`](FlowContext::cleanup) awaits `settled` to know that the commands of a run
    /// whose future was dropped are gone.
    pub fn command_executor(mut self, executor: Arc<dyn CommandExecutor>) -> Self {
        self.options.command_executor = executor;
        self
    }

    /// The number of threads of the thread executor for blocking flows, started on the
    /// first blocking flow (default: the number of CPUs): how many blocking closures run at
    /// once. A closure abandoned on timeout or cancel is not counted: a new thread takes its
    /// place, and its own thread ends when it returns.
    pub fn threads(mut self, threads: usize) -> Self {
        self.options.threads = threads.max(1);
        self
    }

    /// The worker-process pool that runs task flows (none by default: a task flow then fails
    /// with a message saying so).
    pub fn process_pool(mut self, pool: ProcessPool) -> Self {
        self.options.process_pool = Some(pool);
        self
    }

    /// How long [`FlowContext::cleanup`] lets worker processes end before killing them
    /// (default 5 s).
    pub fn pool_grace(mut self, grace: Duration) -> Self {
        self.options.pool_grace = grace;
        self
    }

    /// How many events a subscriber may fall behind before it misses some (default 4096,
    /// clamped to `1..=1_048_576`: the ring is allocated whole on the first subscribe).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.clamp(1, MAX_EVENT_CAPACITY);
        self
    }

    /// The context.
    pub fn build(self) -> FlowContext {
        let (board_changed, _) = watch::channel(0);
        FlowContext {
            shared: Arc::new(Shared {
                registry: Mutex::new(Registry::default()),
                board: Mutex::new(Board::default()),
                board_changed,
                events: OnceLock::new(),
                event_capacity: self.event_capacity,
                event_seq: AtomicU64::new(0),
                writer: WriterThread::new(Arc::clone(&self.options.store)),
                options: self.options,
                threads: Mutex::new(None),
            }),
        }
    }
}

/// The central manager of flows: a registry of flows and their dependencies, the seed's
/// operations on them, and [`run`](Self::run), which runs the whole DAG.
///
/// A `FlowContext` is a handle: clones share the same flows and the same run, so one clone
/// can run the DAG while another cancels it from a Ctrl-C handler. [`FlowContext::global`]
/// gives a process-wide one, for code ported from the seed's singleton; nothing requires it.
///
/// ```
/// use flow_core::{DependencyType, Flow, FlowContext, FlowId, FlowStatus};
/// use serde_json::json;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let ctx = FlowContext::new();
/// let id = |s: &str| FlowId::new(s).unwrap();
/// ctx.register_flow(Flow::async_fn(id("a"), |_| async { Ok::<_, String>(json!(20)) }).build())?;
/// ctx.register_flow(
///     Flow::async_fn(id("b"), |input| async move {
///         Ok::<_, String>(json!(input.parent("a").and_then(|v| v.as_i64()).unwrap_or(0) + 1))
///     })
///     .build(),
/// )?;
/// ctx.register_dependency("a", "b", DependencyType::Required)?;
/// let summary = ctx.run().await?;
/// assert!(summary.is_success());
/// let b = ctx.store().result(&summary.run_id, &id("b")).unwrap().unwrap();
/// assert_eq!((b.status, b.output), (FlowStatus::Completed, json!(21)));
/// # Ok::<(), flow_core::CoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FlowContext {
    pub(crate) shared: Arc<Shared>,
}

impl Default for FlowContext {
    fn default() -> Self {
        Self::new()
    }
}

impl FlowContext {
    /// A context with default settings (see [`ContextBuilder`]).
    pub fn new() -> Self {
        ContextBuilder::default().build()
    }

    /// A builder for a context with chosen settings.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// The process-wide context with default settings, made on first use: the seed's
    /// `FlowContext.get_instance()`. Optional — owning a `FlowContext` works the same and
    /// keeps tests independent.
    pub fn global() -> &'static FlowContext {
        static GLOBAL: OnceLock<FlowContext> = OnceLock::new();
        GLOBAL.get_or_init(FlowContext::new)
    }

    /// The workflow name.
    pub fn workflow(&self) -> &str {
        &self.shared.options.workflow
    }

    /// The result store.
    pub fn store(&self) -> &Arc<dyn ResultStore> {
        &self.shared.options.store
    }

    /// The maximum number of flows running at once.
    pub fn jobs(&self) -> usize {
        self.shared.options.jobs
    }

    /// Registers a flow with the dependencies declared on its builder (the seed's
    /// `register_flow`).
    ///
    /// During a run, the flow joins it: it starts as soon as its parents have finished. Its
    /// required parents must not have failed or been cancelled yet.
    ///
    /// # Errors
    /// [`CoreError::DuplicateFlow`] when the id is taken, [`CoreError::UnknownFlow`] for an
    /// unknown parent, [`CoreError::ParentEnded`] during a run as above,
    /// [`CoreError::OutputHoldsBase`] for a declared output that is the folder of the flow's
    /// [`Data`](crate::Data) or holds it, [`CoreError::UnknownTask`] for a task flow whose
    /// task the process pool's registry lacks, [`CoreError::OwnVariable`] for a command flow
    /// whose spec sets `FLOW_ID`, `FLOW_RUN_ID` or `FLOW_ATTEMPT`; nothing is changed.
    pub fn register_flow(&self, flow: Flow) -> Result<(), CoreError> {
        let mut registry = self.shared.registry();
        self.register_locked(&mut registry, flow)
    }

    /// Registers many flows under one lock; stops at the first refused one (those before it
    /// stay registered).
    ///
    /// # Errors
    /// As [`register_flow`](Self::register_flow).
    pub fn register_flows(&self, flows: impl IntoIterator<Item = Flow>) -> Result<(), CoreError> {
        let flows = flows.into_iter();
        let mut registry = self.shared.registry();
        registry.reserve(flows.size_hint().0);
        for flow in flows {
            self.register_locked(&mut registry, flow)?;
        }
        Ok(())
    }

    fn register_locked(&self, registry: &mut Registry, flow: Flow) -> Result<(), CoreError> {
        if let Some(data) = flow.data() {
            if let Some(output) = crate::fresh::holding_base(data) {
                return Err(CoreError::OutputHoldsBase {
                    flow: flow.id.clone(),
                    output: output.to_owned(),
                    base: data.base().to_owned(),
                });
            }
        }
        self.shared.options.check_task(&flow)?;
        crate::own_env::check(&flow)?;
        let parents = registry.check_new(&flow)?;
        if registry.active.is_none() {
            registry.add(flow, &parents)?;
            return Ok(());
        }
        let mut board = self.shared.board();
        for &(p, dependency) in &parents {
            let status = board.states.get(p as usize).copied();
            if let (
                DependencyType::Required,
                Some(s @ (FlowStatus::Failed | FlowStatus::Cancelled)),
            ) = (dependency, status)
            {
                return Err(CoreError::ParentEnded {
                    flow: flow.id.clone(),
                    parent: registry.flows[p as usize].id.clone(),
                    status: s,
                });
            }
        }
        let idx = registry.add(flow.clone(), &parents)?;
        let flow = Box::new(flow);
        board
            .states
            .resize(registry.flows.len(), FlowStatus::Pending);
        drop(board);
        if let Some(active) = &registry.active {
            let _ = active
                .requests
                .send(Request::Register { idx, flow, parents });
        }
        Ok(())
    }

    /// Registers the dependency `parent -> child` (the seed's `register_dependency`, with a
    /// type): the child starts after the parent has finished.
    ///
    /// # Errors
    /// [`CoreError::UnknownFlow`] naming a missing flow; [`CoreError::Graph`] with the cycle
    /// when the edge would close one; [`CoreError::AlreadyStarted`] while a run is in
    /// progress, even for a child that has not started: a run's dependencies are fixed once
    /// it begins (a flow registered during a run gives its parents on its builder). Nothing
    /// is changed.
    pub fn register_dependency(
        &self,
        parent: &str,
        child: &str,
        dependency: DependencyType,
    ) -> Result<(), CoreError> {
        self.register_dependencies([(parent, child, dependency)])
    }

    /// Registers many dependencies with one cycle check for the whole batch; either all are
    /// added or none.
    ///
    /// # Errors
    /// As [`register_dependency`](Self::register_dependency).
    pub fn register_dependencies<I, P, C>(&self, dependencies: I) -> Result<(), CoreError>
    where
        I: IntoIterator<Item = (P, C, DependencyType)>,
        P: AsRef<str>,
        C: AsRef<str>,
    {
        let mut dependencies = dependencies.into_iter().peekable();
        let Some((parent, child, _)) = dependencies.peek() else {
            return Ok(());
        };
        let mut registry = self.shared.registry();
        if registry.active.is_some() {
            // An unknown flow is named first, as outside a run.
            registry.idx(parent.as_ref())?;
            let idx = registry.idx(child.as_ref())?;
            return Err(CoreError::AlreadyStarted {
                flow: registry.flows[idx as usize].id.clone(),
                state: "the dependencies of a run's flows are fixed once it begins",
            });
        }
        registry.add_dependencies(dependencies)?;
        Ok(())
    }

    /// Whether a cycle is reachable from `start` (the seed's `has_cycle`). The context
    /// refuses every dependency that would close a cycle, so this is always `false`; use
    /// [`would_cycle`](Self::would_cycle) to test a dependency before adding it.
    ///
    /// # Errors
    /// [`CoreError::UnknownFlow`] when `start` is not registered.
    pub fn has_cycle(&self, start: &str) -> Result<bool, CoreError> {
        self.shared.registry().has_cycle(start)
    }

    /// The cycle that the dependency `parent -> child` would close, if any.
    ///
    /// # Errors
    /// [`CoreError::UnknownFlow`] naming a missing flow.
    pub fn would_cycle(&self, parent: &str, child: &str) -> Result<Option<CycleError>, CoreError> {
        Ok(self.shared.registry().graph().would_cycle(parent, child)?)
    }

    /// The flow registered under `id` (the seed's `get_flow`).
    pub fn flow(&self, id: &str) -> Option<Flow> {
        let registry = self.shared.registry();
        let idx = registry.find(id)?;
        registry.flows.get(idx as usize).cloned()
    }

    /// Every registered flow id, in registration order.
    pub fn flow_ids(&self) -> Vec<FlowId> {
        self.shared
            .registry()
            .flows
            .iter()
            .map(|f| f.id.clone())
            .collect()
    }

    /// A copy of the dependency graph.
    pub fn graph(&self) -> FlowGraph {
        self.shared.registry().graph().clone()
    }

    /// The status of a flow in the current (or last) run; `Pending` before any run, `None`
    /// for an unknown flow.
    pub fn status(&self, id: &str) -> Option<FlowStatus> {
        let idx = self.shared.registry().find(id)?;
        let board = self.shared.board();
        Some(
            board
                .states
                .get(idx as usize)
                .copied()
                .unwrap_or(FlowStatus::Pending),
        )
    }

    /// The id of the run in progress, if any.
    pub fn active_run(&self) -> Option<RunId> {
        self.shared
            .registry()
            .active
            .as_ref()
            .map(|a| a.run_id.clone())
    }

    /// Subscribes to the events of every run of this context from now on.
    pub fn subscribe(&self) -> EventReceiver {
        EventReceiver {
            inner: self.shared.events().subscribe(),
        }
    }

    /// Marks a flow failed with `reason` (the seed's `fail_flow`).
    ///
    /// During a run: a flow not yet started is recorded failed at once (its required
    /// dependents fail with it, never starting); a running flow is stopped and recorded
    /// failed with the reason. Outside a run, the flow shows as failed and the next run
    /// records it failed without starting it. Once every flow of a run has ended, until its
    /// `run` call returns, the flow is refused as ended in that run: it is not failed in the
    /// next one.
    ///
    /// # Errors
    /// [`CoreError::UnknownFlow`]; [`CoreError::AlreadyFinished`] when it already ended in
    /// the run in progress (or in the run whose `run` call is about to return).
    pub async fn fail_flow(&self, id: &str, reason: impl Into<String>) -> Result<(), CoreError> {
        let reason = reason.into();
        let (answer, flow_id) = {
            let mut registry = self.shared.registry();
            let idx = registry.idx(id)?;
            let flow_id = registry.flows[idx as usize].id.clone();
            match &registry.active {
                Some(active) => {
                    let (reply, answer) = oneshot::channel();
                    let _ = active.requests.send(Request::Fail { idx, reason, reply });
                    (answer, flow_id)
                }
                None => return registry.fail_outside_run(&self.shared, idx, reason),
            }
        };
        answer
            .await
            .unwrap_or_else(|_| Err(CoreError::RunGone(flow_id)))
    }

    /// Waits until every flow in `ids` has finished (completed, failed or cancelled) and
    /// returns their statuses in the order given; without polling — it wakes when the
    /// driver publishes progress. An empty list returns at once. When it returns, the
    /// flows' results of the run are in the result store. A run whose future is dropped
    /// leaves its unfinished flows cancelled, so their waiters return too.
    ///
    /// # Errors
    /// [`CoreError::UnknownFlow`] for an unknown id (checked first);
    /// [`CoreError::WaitTimeout`] naming the flows still unfinished when `timeout` passes;
    /// [`CoreError::CleanedUp`] when [`cleanup`](Self::cleanup) forgets the flows meanwhile.
    pub async fn wait_for_flows<S: AsRef<str>>(
        &self,
        ids: &[S],
        timeout: Option<Duration>,
    ) -> Result<Vec<(FlowId, FlowStatus)>, CoreError> {
        crate::wait::wait(&self.shared, None, ids, timeout).await
    }

    /// [`wait_for_flows`](Self::wait_for_flows) in run `run` only: statuses of another run
    /// (the one before, when this is called right after spawning [`run_with`](Self::run_with)
    /// with [`RunOptions::run_id`]) do not count; it waits until `run` has started and the
    /// flows have finished in it. For a run that is over (another run has begun since, or it
    /// was recorded by another context), the statuses come from the result store.
    ///
    /// # Errors
    /// As [`wait_for_flows`](Self::wait_for_flows); [`CoreError::NotInRun`] for a flow without
    /// a finished result in a run that is over; [`CoreError::Store`] when the store cannot be
    /// read.
    pub async fn wait_for_flows_in_run<S: AsRef<str>>(
        &self,
        run: &RunId,
        ids: &[S],
        timeout: Option<Duration>,
    ) -> Result<Vec<(FlowId, FlowStatus)>, CoreError> {
        crate::wait::wait(&self.shared, Some(run), ids, timeout).await
    }

    /// Cancels one flow of the run in progress: a flow not yet started ends cancelled at once
    /// (flows that require it end cancelled too, naming it as upstream); a running one is
    /// stopped (a command gets SIGTERM, its grace period, then SIGKILL) and ends cancelled.
    /// Without a run in progress, nothing happens.
    ///
    /// # Errors
    /// [`CoreError::UnknownFlow`].
    pub fn cancel(&self, id: &str) -> Result<(), CoreError> {
        let registry = self.shared.registry();
        let idx = registry.idx(id)?;
        if let Some(active) = &registry.active {
            let _ = active.requests.send(Request::Cancel(idx));
        }
        Ok(())
    }

    /// Cancels the run in progress: no flow starts any more, flows not started are recorded
    /// cancelled, running flows are stopped and recorded cancelled when they have ended;
    /// then `run` returns. Without a run in progress, nothing happens.
    pub fn cancel_all(&self) {
        if let Some(active) = &self.shared.registry().active {
            let _ = active.requests.send(Request::CancelAll);
        }
    }

    /// Cancels the run in progress, shuts the worker-process pool and the thread executor
    /// down, and clears every flow and dependency (the seed's `cleanup`, like its
    /// `shutdown(wait=True)`). Safe to call again.
    ///
    /// It returns once the cancelled run is over, so every process it started is gone (its
    /// `run` call returns a cancelled summary; the run must be polled to get there, as by a
    /// spawned task). The context can be used again, except for task flows: the process pool
    /// stays shut down, for every context given a clone of it too (their task flows fail
    /// saying so).
    pub async fn cleanup(&self) {
        let gone = {
            let mut registry = self.shared.registry();
            // The run in progress is cancelled and detached: new flows no longer join it, and
            // no run begins before it is over.
            let gone = registry.active.take().map(|active| {
                let _ = active.requests.send(Request::CancelAll);
                registry.closing = Some(active.run_id);
                active.gone
            });
            registry.clear();
            let mut board = self.shared.board();
            board.states.clear();
            board.run = None;
            board.unsaved = false;
            board.generation += 1;
            gone
        };
        self.shared.board_changed.send_modify(|g| *g += 1);
        if let Some(mut gone) = gone {
            // Never sent to: returns when the run's driver is dropped.
            while gone.changed().await.is_ok() {}
        }
        // A run whose future was dropped left the clearing of its commands' groups to the
        // executor: they are gone too before this returns.
        self.shared.options.command_executor.settled().await;
        lock(&self.shared.threads).take();
        if let Some(pool) = &self.shared.options.process_pool {
            pool.shutdown(self.shared.options.pool_grace).await;
        }
        tracing::info!("flow context cleaned up");
    }

    /// Runs every registered flow and returns when all have finished (or were cancelled):
    /// each flow starts as soon as all its parents have finished, at most
    /// [`jobs`](ContextBuilder::jobs) at a time, gets its parents' outputs, and its result is
    /// saved to the store as it finishes.
    ///
    /// Dropping the returned future cancels the run (running commands and worker tasks are
    /// stopped).
    ///
    /// # Errors
    /// [`CoreError::RunInProgress`], or [`CoreError::Store`] when the store cannot begin the
    /// run. A failing flow is not an error: see [`RunSummary`].
    pub async fn run(&self) -> Result<RunSummary, CoreError> {
        self.run_with(RunOptions::default()).await
    }

    /// [`run`](Self::run) with options: resume from an earlier run, or a chosen run id.
    ///
    /// # Errors
    /// As [`run`](Self::run), plus [`CoreError::UnknownRun`] when the run to resume from is
    /// not in the store, [`CoreError::OtherWorkflow`] when it is a run of another workflow.
    pub async fn run_with(&self, options: RunOptions) -> Result<RunSummary, CoreError> {
        crate::driver::run(Arc::clone(&self.shared), options).await
    }
}
