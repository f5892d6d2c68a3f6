//! The scheduler: one loop that owns all run state. Completions, retry timers, cancellations
//! and new registrations are events to it; it starts each flow as soon as its parents have
//! finished, propagates failures transitively, and hands records to the store writer.
//!
//! The loop is a plain future polled by the caller of `run` (no task per flow): an async flow
//! is polled once inline when it starts, and only if it is not done at once is it kept in a
//! `FuturesUnordered` owned by the loop. Per-flow state lives in flat vectors indexed like
//! [`IndexedGraph`](flow_graph::IndexedGraph); records, board updates and events are batched per turn of the loop.

mod attempt;
mod writer;

pub(crate) use writer::Durable;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use flow_graph::{DependencyType, FlowId, Link};
use flow_results::{
    Failure, FailureKind, FlowStatus, ResultStore, RunId, RunRecord, StatusCounts, StoreError,
};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::context::Shared;
use crate::fingerprint::combine;
use crate::flow::{AsyncFn, Work};
use crate::input::{Outputs, RunShared};
use crate::registry::{ActiveRun, Command};
use crate::{CoreError, Event, EventKind, Flow, FlowInput, RunOptions, RunSummary};

use attempt::AttemptEnd;
use writer::{Detail, Record, Writer};

/// No flow / no position.
const NONE: u32 = u32::MAX;
/// The loop yields to the runtime after this many starts and completions in one poll.
const YIELD_AFTER: usize = 8192;

/// Where a flow is in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Some parent has not finished.
    Waiting,
    /// In the ready queue.
    Ready,
    /// An attempt runs, or a retry is due.
    Running,
    /// Ended for this run.
    Done(FlowStatus),
}

/// A stop requested for a running flow.
#[derive(Debug)]
enum Stop {
    Cancel,
    Fail(String),
}

/// What an in-flight future yields: the flow and how its attempt ended (`None`: a retry is
/// due).
type Completion = (u32, Option<AttemptEnd>);

/// Runs the DAG of `shared` once.
pub(crate) async fn run(shared: Arc<Shared>, options: RunOptions) -> Result<RunSummary, CoreError> {
    let run_id = options.run_id.unwrap_or_else(RunId::new_now);
    let store = Arc::clone(&shared.options.store);
    let resume = match &options.resume_from {
        Some(from) => Some(load_resume(Arc::clone(&store), from.clone()).await?),
        None => None,
    };
    let span = tracing::info_span!("run", run_id = %run_id, workflow = %shared.options.workflow);
    let mut scheduler = Scheduler::claim(Arc::clone(&shared), run_id.clone(), resume, span)?;
    let writer = Writer::start(Arc::clone(&store), run_id.clone(), scheduler.slot.len()).map_err(
        |source| CoreError::Thread {
            action: "start the result-store writer thread",
            source,
        },
    )?;
    let started_at = Utc::now();
    let workflow = shared.options.workflow.clone();
    // The store begins the run while the first flows start; a failure cancels the run.
    // Every flow is pending when the run begins (this also lets the store size the run).
    let mut begin = RunRecord::with_id(run_id.clone(), workflow.clone());
    begin.counts.pending = u32::try_from(scheduler.slot.len()).unwrap_or(u32::MAX);
    scheduler.begun = Some(writer.begin(begin));
    scheduler.writer = Some(writer);
    scheduler.emit_now(EventKind::RunStarted {
        workflow: workflow.clone(),
        flows: scheduler.slot.len(),
        resumed_from: options.resume_from.clone(),
    });
    tracing::info!(parent: &scheduler.span, flows = scheduler.slot.len(), "run started");
    scheduler.apply_pre_failed();
    std::future::poll_fn(|cx| scheduler.poll_run(cx)).await;

    let finished_at = Utc::now();
    let counts = scheduler.counts;
    if let Some(source) = scheduler.begin_error.take() {
        if let Some(writer) = scheduler.writer.take() {
            let _ = writer
                .finish(RunRecord::with_id(run_id.clone(), workflow))
                .await;
        }
        return Err(CoreError::Store {
            action: format!("begin run `{run_id}` in `{}`", store.spec()),
            source: Box::new(source),
        });
    }
    let writer = scheduler.writer.take();
    let store_errors = match writer {
        Some(writer) => {
            writer
                .finish(RunRecord {
                    run_id: run_id.clone(),
                    workflow: workflow.clone(),
                    started_at: run_id.started_at(),
                    finished_at: Some(finished_at),
                    counts,
                })
                .await
        }
        None => Vec::new(),
    };
    let summary = RunSummary {
        run_id: run_id.clone(),
        workflow,
        counts,
        reused: scheduler.reused,
        started_at,
        finished_at,
        wall_time: (finished_at - started_at)
            .to_std()
            .unwrap_or(Duration::ZERO),
        cancelled: scheduler.cancelling,
        store_errors,
    };
    tracing::info!(
        parent: &scheduler.span,
        completed = counts.completed,
        failed = counts.failed,
        cancelled = counts.cancelled,
        "run finished"
    );
    scheduler.emit_now(EventKind::RunFinished {
        summary: summary.clone(),
    });
    Ok(summary)
}

/// The fingerprint of `flow` from its definition and its parents' fingerprints (all known).
fn fingerprint_of(flow: &Flow, parents: &[Link], fingerprints: &[u128]) -> u128 {
    let parents = parents.iter().map(|link| {
        let tag = match link.dependency() {
            DependencyType::Required => 0u8,
            DependencyType::Optional => 1u8,
        };
        (fingerprints[link.flow() as usize], tag)
    });
    combine(flow.definition(), parents).max(1)
}

/// The exit code and output tails of an attempt, if it has any.
fn tails_of(
    exit_code: Option<i32>,
    stdout_tail: String,
    stderr_tail: String,
) -> Option<(Option<i32>, String, String)> {
    (exit_code.is_some() || !stdout_tail.is_empty() || !stderr_tail.is_empty()).then_some((
        exit_code,
        stdout_tail,
        stderr_tail,
    ))
}

/// Reads the completed results of `from`: flow id → (fingerprint, output).
async fn load_resume(
    store: Arc<dyn ResultStore>,
    from: RunId,
) -> Result<HashMap<FlowId, (u128, Value)>, CoreError> {
    let spec = store.spec();
    let task_from = from.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        if store.run(&task_from)?.is_none() {
            return Ok(None);
        }
        store.results(&task_from).map(Some)
    })
    .await
    .map_err(|e| CoreError::Thread {
        action: "read the results of the run to resume from (the reading thread failed)",
        source: std::io::Error::other(e.to_string()),
    })?;
    let results = match loaded {
        Ok(Some(results)) => results,
        Ok(None) => return Err(CoreError::UnknownRun(from)),
        Err(source) => {
            return Err(CoreError::Store {
                action: format!("read the results of run `{from}` from `{spec}`"),
                source: Box::new(source),
            })
        }
    };
    Ok(results
        .into_iter()
        .filter(|r| r.status == FlowStatus::Completed)
        .filter_map(|r| {
            let fingerprint = r.fingerprint.as_ref()?.as_u128()?;
            Some((r.flow_id, (fingerprint, r.output)))
        })
        .collect())
}

/// All state of one run.
struct Scheduler {
    shared: Arc<Shared>,
    run_id: RunId,
    span: tracing::Span,
    /// The flows and graph the run started with, their outputs and the run's cancel token,
    /// shared with every `FlowInput`.
    run: Arc<RunShared>,
    n_static: u32,
    /// Flows registered during the run, and their parents.
    dyn_flows: Vec<Flow>,
    dyn_parents: Vec<Vec<Link>>,
    /// Children added during the run, by parent.
    extra_children: HashMap<u32, Vec<Link>>,
    jobs: usize,

    slot: Vec<Slot>,
    remaining: Vec<u32>,
    attempts: Vec<u32>,
    /// Outputs of the flows registered during the run (the others' are in `run.outputs`).
    dyn_outputs: Vec<Option<Arc<Value>>>,
    /// Fingerprints, 0 while not computed.
    fingerprints: Vec<u128>,
    /// Taken from the flows the run started with, in one pass over them before it starts:
    /// each one's id, handed to its last record (a flow's own is reached by then only
    /// through a cold pointer), and the closure of each async flow.
    ids: Vec<Option<FlowId>>,
    async_fns: Vec<Option<AsyncFn>>,
    /// When each flow started, as a position in `start_times` (`NONE`: not started): four
    /// bytes a flow instead of twelve, since many flows start in the same turn of the loop.
    started: Vec<u32>,
    /// The distinct times flows started at, in order.
    start_times: Vec<DateTime<Utc>>,
    /// For a flow that ended without completing: the flow whose failure caused it.
    failure_root: Vec<u32>,
    /// Completed results of the run resumed from, by index (empty when not resuming).
    reuse: Vec<Option<(u128, Arc<Value>)>>,
    stops: HashMap<u32, Stop>,
    tokens: HashMap<u32, CancellationToken>,
    ready: VecDeque<u32>,
    running: usize,
    in_flight: FuturesUnordered<BoxFuture<'static, Completion>>,
    commands: mpsc::UnboundedReceiver<Command>,
    cancel: CancellationToken,
    cancelling: bool,
    finished: usize,
    counts: StatusCounts,
    reused: u32,
    pre_failed: Vec<(u32, String)>,

    now: DateTime<Utc>,
    emit: bool,
    records: Vec<Record>,
    /// Records are handed to the writer at least every this many.
    batch: usize,
    record_flows: Vec<u32>,
    batch_pos: Vec<u32>,
    board_changes: Vec<(u32, FlowStatus)>,
    /// The board was changed directly since the last flush.
    board_dirty: bool,
    writer: Option<Writer>,
    /// The store's answer to `begin_run`, until it comes.
    begun: Option<oneshot::Receiver<Result<(), StoreError>>>,
    begin_error: Option<StoreError>,
    released: bool,
    scratch: Vec<u32>,
}

impl Scheduler {
    /// Marks the run active in the registry and takes a snapshot of the flows.
    fn claim(
        shared: Arc<Shared>,
        run_id: RunId,
        resume: Option<HashMap<FlowId, (u128, Value)>>,
        span: tracing::Span,
    ) -> Result<Self, CoreError> {
        let (tx, commands) = mpsc::unbounded_channel();
        let (static_flows, graph, ordered, pre_failed, reuse) = {
            let mut registry = shared.registry();
            if let Some(active) = &registry.active {
                return Err(CoreError::RunInProgress(active.run_id.clone()));
            }
            registry.active = Some(ActiveRun {
                run_id: run_id.clone(),
                commands: tx,
            });
            let flows = Arc::clone(&registry.flows);
            let graph = registry.adjacency();
            let ordered = registry.in_topological_order();
            let pre_failed = std::mem::take(&mut registry.pre_failed);
            let mut reuse = Vec::new();
            if let Some(resume) = resume {
                reuse = vec![None; flows.len()];
                for (id, (fingerprint, output)) in resume {
                    if let Some(idx) = registry.find(id.as_str()) {
                        reuse[idx as usize] = Some((fingerprint, Arc::new(output)));
                    }
                }
            }
            let mut board = shared.board();
            board.run = Some(run_id.clone());
            board.states.clear();
            board.states.resize(flows.len(), FlowStatus::Pending);
            (flows, graph, ordered, pre_failed, reuse)
        };
        shared.board_changed.send_modify(|g| *g += 1);
        let n = static_flows.len();
        let mut remaining = Vec::with_capacity(n);
        let mut ready = VecDeque::new();
        let mut slot = Vec::with_capacity(n);
        for i in 0..n as u32 {
            let parents = graph.parents(i).len() as u32;
            remaining.push(parents);
            if parents == 0 {
                ready.push_back(i);
                slot.push(Slot::Ready);
            } else {
                slot.push(Slot::Waiting);
            }
        }
        // Parents come before children in registration order (the usual case): every
        // fingerprint is computed now in one pass over the flows in that order, rather than
        // each on its own as its flow starts. Otherwise they are computed on demand.
        let mut fingerprints = vec![0; n];
        let mut ids = Vec::with_capacity(n);
        let mut async_fns = Vec::with_capacity(n);
        for (i, flow) in static_flows.iter().enumerate() {
            if ordered {
                fingerprints[i] = fingerprint_of(flow, graph.parents(i as u32), &fingerprints);
            }
            ids.push(Some(flow.id.clone()));
            async_fns.push(match &flow.work {
                Work::Async(f) => Some(Arc::clone(f)),
                _ => None,
            });
        }
        let jobs = shared.options.jobs;
        let batch = Writer::batch_size(&*shared.options.store, n);
        let cancel = CancellationToken::new();
        let run = Arc::new(RunShared {
            run_id: run_id.clone(),
            cancel: cancel.clone(),
            flows: static_flows,
            graph,
            outputs: Outputs::new(n),
        });
        Ok(Scheduler {
            run_id,
            span,
            n_static: n as u32,
            run,
            dyn_flows: Vec::new(),
            dyn_parents: Vec::new(),
            extra_children: HashMap::new(),
            jobs,
            slot,
            remaining,
            attempts: vec![0; n],
            dyn_outputs: Vec::new(),
            fingerprints,
            ids,
            async_fns,
            started: vec![NONE; n],
            start_times: Vec::new(),
            failure_root: vec![NONE; n],
            reuse,
            stops: HashMap::new(),
            tokens: HashMap::new(),
            ready,
            running: 0,
            in_flight: FuturesUnordered::new(),
            commands,
            cancel,
            cancelling: false,
            finished: 0,
            counts: StatusCounts::default(),
            reused: 0,
            pre_failed,
            now: Utc::now(),
            emit: false,
            records: Vec::with_capacity(n.min(batch)),
            batch,
            record_flows: Vec::new(),
            batch_pos: vec![NONE; n],
            board_changes: Vec::new(),
            board_dirty: false,
            writer: None,
            begun: None,
            begin_error: None,
            released: false,
            scratch: Vec::new(),
            shared,
        })
    }

    fn flow(&self, i: u32) -> &Flow {
        if i < self.n_static {
            &self.run.flows[i as usize]
        } else {
            &self.dyn_flows[(i - self.n_static) as usize]
        }
    }

    fn parents(&self, i: u32) -> &[Link] {
        if i < self.n_static {
            self.run.graph.parents(i)
        } else {
            &self.dyn_parents[(i - self.n_static) as usize]
        }
    }

    fn n_children(&self, i: u32) -> usize {
        if i < self.n_static {
            self.run.graph.children(i).len()
        } else {
            0
        }
    }

    fn apply_pre_failed(&mut self) {
        self.now = Utc::now();
        self.emit = self.shared.has_listeners();
        for (idx, reason) in std::mem::take(&mut self.pre_failed) {
            if (idx as usize) < self.slot.len() && !matches!(self.slot[idx as usize], Slot::Done(_))
            {
                self.finish(
                    idx,
                    Ending::failed(
                        FlowStatus::Failed,
                        Failure::new(FailureKind::Error, reason),
                        None,
                    ),
                );
            }
        }
    }

    /// One poll of the loop: handle commands, start ready flows, take completions, until
    /// nothing moves; then publish and wait.
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut work = 0usize;
        loop {
            self.now = Utc::now();
            self.emit = self.shared.has_listeners();
            let mut progressed = false;
            if let Some(begun) = &mut self.begun {
                if let Poll::Ready(answer) = Pin::new(begun).poll(cx) {
                    self.begun = None;
                    progressed = true;
                    if let Ok(Err(error)) = answer {
                        tracing::error!(parent: &self.span, %error, "the store cannot begin the run");
                        self.begin_error = Some(error);
                        self.cancel_all();
                    }
                }
            }
            while let Poll::Ready(Some(command)) = self.commands.poll_recv(cx) {
                self.handle(command);
                progressed = true;
            }
            while self.running < self.jobs && !self.cancelling {
                if self.records.len() >= self.batch || work >= YIELD_AFTER {
                    break;
                }
                let Some(i) = self.ready.pop_front() else {
                    break;
                };
                if self.slot[i as usize] == Slot::Ready {
                    self.start(i, cx);
                    progressed = true;
                    work += 1;
                }
            }
            while let Poll::Ready(Some((i, end))) = self.in_flight.poll_next_unpin(cx) {
                self.complete(i, end, cx);
                progressed = true;
                work += 1;
                if self.running < self.jobs && !self.ready.is_empty() {
                    break;
                }
            }
            if self.records.len() >= self.batch {
                self.flush();
            }
            if self.finished == self.slot.len() && self.in_flight.is_empty() && self.begun.is_none()
            {
                self.flush();
                if self.try_release() {
                    return Poll::Ready(());
                }
                continue;
            }
            if !progressed {
                self.flush();
                return Poll::Pending;
            }
            if work >= YIELD_AFTER {
                self.flush();
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Ends the run in the registry unless a command arrived meanwhile (handled then).
    fn try_release(&mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        let mut registry = shared.registry();
        let mut any = false;
        while let Ok(command) = self.commands.try_recv() {
            self.handle(command);
            any = true;
        }
        if any {
            return false;
        }
        if registry
            .active
            .as_ref()
            .is_some_and(|a| a.run_id == self.run_id)
        {
            registry.active = None;
        }
        self.released = true;
        true
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Register { idx, flow, parents } => self.register(idx, *flow, parents),
            Command::Cancel(i) => match self.slot.get(i as usize).copied() {
                Some(Slot::Waiting | Slot::Ready) => self.finish(
                    i,
                    Ending::failed(
                        FlowStatus::Cancelled,
                        Failure::new(FailureKind::Cancelled, "cancelled by request"),
                        None,
                    ),
                ),
                Some(Slot::Running) => {
                    self.stops.insert(i, Stop::Cancel);
                    if let Some(token) = self.tokens.get(&i) {
                        token.cancel();
                    }
                }
                Some(Slot::Done(_)) | None => {}
            },
            Command::CancelAll => self.cancel_all(),
            Command::Fail { idx, reason, reply } => {
                let answer = match self.slot.get(idx as usize).copied() {
                    Some(Slot::Waiting | Slot::Ready) => {
                        self.finish(
                            idx,
                            Ending::failed(
                                FlowStatus::Failed,
                                Failure::new(FailureKind::Error, reason),
                                None,
                            ),
                        );
                        Ok(())
                    }
                    Some(Slot::Running) => {
                        self.stops.insert(idx, Stop::Fail(reason));
                        if let Some(token) = self.tokens.get(&idx) {
                            token.cancel();
                        }
                        Ok(())
                    }
                    Some(Slot::Done(status)) => Err(CoreError::AlreadyFinished {
                        flow: self.flow(idx).id.clone(),
                        status,
                    }),
                    None => Err(CoreError::UnknownFlow(idx.to_string())),
                };
                let _ = reply.send(answer);
            }
        }
    }

    fn cancel_all(&mut self) {
        if self.cancelling {
            return;
        }
        self.cancelling = true;
        self.cancel.cancel();
        tracing::info!(parent: &self.span, "run cancelled");
        for i in 0..self.slot.len() as u32 {
            if matches!(self.slot[i as usize], Slot::Waiting | Slot::Ready) {
                self.end(i, Ending::not_started_in_cancelled_run());
            }
        }
        self.ready.clear();
    }

    /// A flow registered during the run joins it.
    fn register(&mut self, idx: u32, flow: Flow, parents: Vec<(u32, DependencyType)>) {
        debug_assert_eq!(idx as usize, self.slot.len());
        self.dyn_flows.push(flow);
        for &(p, dependency) in &parents {
            self.extra_children
                .entry(p)
                .or_default()
                .push(Link::new(idx, dependency));
        }
        self.dyn_parents
            .push(parents.into_iter().map(Link::from).collect());
        self.slot.push(Slot::Waiting);
        self.remaining.push(0);
        self.attempts.push(0);
        self.dyn_outputs.push(None);
        self.fingerprints.push(0);
        self.started.push(NONE);
        self.failure_root.push(NONE);
        if !self.reuse.is_empty() {
            self.reuse.push(None);
        }
        self.batch_pos.push(NONE);
        if self.cancelling {
            self.end(idx, Ending::not_started_in_cancelled_run());
            return;
        }
        let mut remaining = 0;
        let mut doomed_by = None;
        for k in 0..self.parents(idx).len() {
            let (p, dependency) = self.parents(idx)[k].get();
            match self.slot[p as usize] {
                Slot::Done(FlowStatus::Completed) => {}
                Slot::Done(_) if dependency == DependencyType::Required => {
                    doomed_by.get_or_insert(p);
                }
                Slot::Done(_) => {}
                _ => remaining += 1,
            }
        }
        self.remaining[idx as usize] = remaining;
        if let Some(p) = doomed_by {
            self.doom(idx, self.root_of(p));
        } else if remaining == 0 {
            self.slot[idx as usize] = Slot::Ready;
            self.ready.push_back(idx);
        }
    }

    /// The flow whose failure is behind `p`'s (itself if it failed on its own).
    fn root_of(&self, p: u32) -> u32 {
        match self.failure_root[p as usize] {
            NONE => p,
            root => root,
        }
    }

    /// The fingerprint of flow `i`, computing it (and any missing parent's) on demand.
    #[inline]
    fn fingerprint(&mut self, i: u32) -> u128 {
        match self.fingerprints[i as usize] {
            0 => self.compute_fingerprint(i),
            known => known,
        }
    }

    /// The fingerprint of flow `i`, not known yet: from its parents', computed first where
    /// they are not known either.
    #[inline(never)]
    fn compute_fingerprint(&mut self, i: u32) -> u128 {
        if self
            .parents(i)
            .iter()
            .all(|link| self.fingerprints[link.flow() as usize] != 0)
        {
            let fingerprint = self.combine_parents(i);
            self.fingerprints[i as usize] = fingerprint;
            return fingerprint;
        }
        let mut stack = std::mem::take(&mut self.scratch);
        stack.clear();
        stack.push(i);
        while let Some(&n) = stack.last() {
            if self.fingerprints[n as usize] != 0 {
                stack.pop();
                continue;
            }
            let before = stack.len();
            for k in 0..self.parents(n).len() {
                let p = self.parents(n)[k].flow();
                if self.fingerprints[p as usize] == 0 {
                    stack.push(p);
                }
            }
            if stack.len() == before {
                self.fingerprints[n as usize] = self.combine_parents(n);
                stack.pop();
            }
        }
        self.scratch = stack;
        self.fingerprints[i as usize]
    }

    /// The fingerprint of `n` from its definition and its parents' (all known) fingerprints.
    fn combine_parents(&self, n: u32) -> u128 {
        fingerprint_of(self.flow(n), self.parents(n), &self.fingerprints)
    }

    /// Starts a ready flow (or reuses its result from the resumed run).
    fn start(&mut self, i: u32, cx: &mut Context<'_>) {
        let fingerprint = self.fingerprint(i);
        if let Some(Some((old, output))) = self.reuse.get(i as usize) {
            if *old == fingerprint {
                let output = Arc::clone(output);
                self.reused += 1;
                self.mark_started(i);
                self.finish(
                    i,
                    Ending {
                        reused: true,
                        ..Ending::completed(Some(output), None)
                    },
                );
                return;
            }
        }
        self.slot[i as usize] = Slot::Running;
        self.running += 1;
        self.mark_started(i);
        self.begin_attempt(i, cx);
    }

    /// Notes that flow `i` starts now.
    fn mark_started(&mut self, i: u32) {
        if self.start_times.last() != Some(&self.now) {
            self.start_times.push(self.now);
        }
        self.started[i as usize] = (self.start_times.len() - 1) as u32;
    }

    /// When flow `i` started, if it did.
    fn start_time(&self, i: u32) -> Option<DateTime<Utc>> {
        match self.started[i as usize] {
            NONE => None,
            k => self.start_times.get(k as usize).copied(),
        }
    }

    /// Starts the next attempt of a running flow.
    fn begin_attempt(&mut self, i: u32, cx: &mut Context<'_>) {
        let attempt = {
            let a = &mut self.attempts[i as usize];
            *a += 1;
            *a
        };
        let async_fn: Option<&AsyncFn> = match self.async_fns.get(i as usize) {
            Some(f) => f.as_ref(),
            None => match &self.flow(i).work {
                Work::Async(f) => Some(f),
                _ => None,
            },
        };
        if let Some(f) = async_fn {
            // The common case, kept lean: no clone of the closure or the id, no visit to the
            // flow itself.
            if self.emit {
                self.emit_now(EventKind::FlowStarted {
                    flow: self.flow(i).id.clone(),
                    attempt,
                });
            }
            let input = self.input_for(i, attempt);
            let span = tracing::info_span!(parent: &self.span, "attempt", flow = %self.flow(i).id, attempt);
            let started = {
                let _entered = span.enter();
                // The call and the first poll in one catch: a panic fails the flow, not the run.
                catch_unwind(AssertUnwindSafe(|| {
                    let mut fut = f(input);
                    let polled = fut.as_mut().poll(cx);
                    (fut, polled)
                }))
            };
            match started {
                Err(panic) => {
                    let failed = Err(attempt::panicked(panic.as_ref()));
                    self.complete(i, Some(attempt::async_ready(failed)), cx);
                }
                Ok((_, Poll::Ready(result))) => {
                    self.complete(i, Some(attempt::async_ready(result)), cx);
                }
                Ok((fut, Poll::Pending)) => {
                    if attempt == 1 {
                        self.record_running(i);
                    }
                    let timeout = self.flow(i).timeout();
                    let token = self.cancel.child_token();
                    self.tokens.insert(i, token.clone());
                    self.in_flight.push(
                        attempt::async_in_flight(fut, timeout, token)
                            .map(move |end| (i, Some(end)))
                            .instrument(span)
                            .boxed(),
                    );
                }
            }
            return;
        }
        let (id, work, timeout) = {
            let flow = self.flow(i);
            (flow.id.clone(), flow.work.clone(), flow.timeout())
        };
        if self.emit {
            self.emit_now(EventKind::FlowStarted {
                flow: id.clone(),
                attempt,
            });
        }
        let input = self.input_for(i, attempt);
        let span = tracing::info_span!(parent: &self.span, "attempt", flow = %id, attempt);
        if !matches!(work, Work::Async(_)) && attempt == 1 {
            self.record_running(i);
        }
        match &work {
            // Handled above.
            Work::Async(_) => {}
            Work::Blocking(f) => match self.shared.threads() {
                Ok(threads) => {
                    let token = self.cancel.child_token();
                    self.tokens.insert(i, token.clone());
                    let fut =
                        attempt::blocking_attempt(threads, Arc::clone(f), input, timeout, token);
                    self.in_flight
                        .push(fut.map(move |end| (i, Some(end))).instrument(span).boxed());
                }
                Err(e) => self.complete(
                    i,
                    Some(AttemptEnd::plain(Err(Failure::new(
                        FailureKind::Error,
                        e.to_string(),
                    )))),
                    cx,
                ),
            },
            Work::Task(name) => {
                let token = self.cancel.child_token();
                self.tokens.insert(i, token.clone());
                let pool = self.shared.options.process_pool.clone();
                let fut = attempt::task_attempt(pool, Arc::clone(name), input, timeout, token);
                self.in_flight
                    .push(fut.map(move |end| (i, Some(end))).instrument(span).boxed());
            }
            Work::Command(spec) => {
                let token = self.cancel.child_token();
                self.tokens.insert(i, token.clone());
                let mut spec = (**spec).clone();
                spec = spec
                    .env("FLOW_RUN_ID", self.run_id.as_str())
                    .env("FLOW_ID", id.as_str());
                if let Some(dir) = &self.shared.options.log_dir {
                    let dir = dir.join(self.run_id.as_str());
                    if spec.stdout_path.is_none() {
                        spec.stdout_path = Some(dir.join(format!("{}.out", id)));
                    }
                    if spec.stderr_path.is_none() {
                        spec.stderr_path = Some(dir.join(format!("{}.err", id)));
                    }
                }
                let executor = Arc::clone(&self.shared.options.command_executor);
                // A command has effects outside the process: its parents' results must be in
                // the store before it starts (see `Writer::durable`), when the store keeps them.
                let durable = if self.shared.options.store.persistent() {
                    self.flush();
                    self.writer.as_ref().map(|writer| writer.durable())
                } else {
                    None
                };
                let fut = attempt::command_attempt(executor, spec, timeout, token, durable);
                self.in_flight
                    .push(fut.map(move |end| (i, Some(end))).instrument(span).boxed());
            }
        }
    }

    /// Saves the "running" state of a flow whose first attempt did not end at once.
    fn record_running(&mut self, i: u32) {
        self.record(i, FlowStatus::Running, None, None, None);
        self.board_changes.push((i, FlowStatus::Running));
    }

    /// What attempt `attempt` of flow `i` receives.
    fn input_for(&self, i: u32, attempt: u32) -> FlowInput {
        if i < self.n_static {
            return FlowInput::shared(&self.run, i, attempt);
        }
        let flow = self.flow(i);
        let mut parents = Vec::new();
        for p in self.parents(i).iter().map(|link| link.flow()) {
            let output = if (p as usize) < self.run.outputs.len() {
                self.run.outputs.get_shared(p as usize)
            } else {
                self.dyn_outputs[(p - self.n_static) as usize].clone()
            };
            if let Some(output) = output {
                parents.push((self.flow(p).id.clone(), output));
            }
        }
        FlowInput::detached(
            &self.run,
            flow.id.clone(),
            attempt,
            Arc::clone(&flow.input),
            parents,
        )
    }

    /// An attempt ended (or, with `None`, a retry is due).
    fn complete(&mut self, i: u32, end: Option<AttemptEnd>, cx: &mut Context<'_>) {
        if !self.tokens.is_empty() {
            self.tokens.remove(&i);
        }
        let Some(end) = end else {
            match self.stops.remove(&i) {
                Some(stop) => self.stopped(i, stop, None),
                None => self.begin_attempt(i, cx),
            }
            return;
        };
        let stop = if self.stops.is_empty() {
            None
        } else {
            self.stops.remove(&i)
        };
        match (stop, end.result) {
            (Some(Stop::Fail(reason)), _) => self.stopped(i, Stop::Fail(reason), end.exit_code),
            (Some(Stop::Cancel), Err(_)) => self.stopped(i, Stop::Cancel, end.exit_code),
            (_, Ok(output)) => {
                // `null`, what most flows return, is `None`: no allocation, no reference count.
                let output = (!output.is_null()).then(|| Arc::new(output));
                let tails = tails_of(end.exit_code, end.stdout_tail, end.stderr_tail);
                self.finish(i, Ending::completed(output, tails));
            }
            (_, Err(failure)) => {
                // An attempt that fails once the run is cancelled was stopped by it (a flow
                // that watches its cancellation and returns an error, a killed command).
                let failure = if self.cancelling && failure.kind != FailureKind::Cancelled {
                    Failure::new(
                        FailureKind::Cancelled,
                        format!(
                            "cancelled with the run; the flow ended: {}",
                            failure.message
                        ),
                    )
                } else {
                    failure
                };
                let attempt = self.attempts[i as usize];
                let (id, retry) = {
                    let flow = self.flow(i);
                    (flow.id.clone(), *flow.retry())
                };
                let retryable = !matches!(
                    failure.kind,
                    FailureKind::Cancelled | FailureKind::Upstream { .. }
                );
                if retryable && !self.cancelling && attempt <= retry.retries() {
                    let delay = retry.delay(attempt);
                    tracing::info!(
                        parent: &self.span, flow = %id, attempt, retry_in = ?delay,
                        failure = %failure.message, "attempt failed, retrying"
                    );
                    if self.emit {
                        self.emit_now(EventKind::AttemptFailed {
                            flow: id.clone(),
                            attempt,
                            failure,
                            retry_in: delay,
                        });
                    }
                    if attempt == 1 && matches!(self.flow(i).work, Work::Async(_)) {
                        // Its first attempt ended at once, so nothing said "running" yet.
                        self.record_running(i);
                    }
                    let token = self.cancel.child_token();
                    self.tokens.insert(i, token.clone());
                    self.in_flight.push(
                        async move {
                            tokio::select! {
                                // A cancel wins over a retry due at the same instant.
                                biased;
                                () = token.cancelled() => (i, Some(AttemptEnd::cancelled())),
                                () = tokio::time::sleep(delay) => (i, None),
                            }
                        }
                        .boxed(),
                    );
                    return;
                }
                let status = if failure.kind == FailureKind::Cancelled {
                    FlowStatus::Cancelled
                } else {
                    FlowStatus::Failed
                };
                let tails = tails_of(end.exit_code, end.stdout_tail, end.stderr_tail);
                self.finish(i, Ending::failed(status, failure, tails));
            }
        }
    }

    /// A running flow ended because of a stop request.
    fn stopped(&mut self, i: u32, stop: Stop, exit_code: Option<i32>) {
        let (status, failure) = match stop {
            Stop::Cancel => (
                FlowStatus::Cancelled,
                Failure::new(FailureKind::Cancelled, "cancelled by request"),
            ),
            Stop::Fail(reason) => (FlowStatus::Failed, Failure::new(FailureKind::Error, reason)),
        };
        let tails = tails_of(exit_code, String::new(), String::new());
        self.finish(i, Ending::failed(status, failure, tails));
    }

    /// A flow ended: record it, then let its children move on.
    fn finish(&mut self, i: u32, ending: Ending) {
        self.end(i, ending);
        self.propagate(i);
    }

    /// A flow ended, without looking at its children.
    fn end(&mut self, i: u32, ending: Ending) {
        let Ending {
            status,
            failure,
            output,
            tails,
            reused,
        } = ending;
        if self.slot[i as usize] == Slot::Running {
            self.running -= 1;
        }
        self.slot[i as usize] = Slot::Done(status);
        self.counts.add(status);
        self.finished += 1;
        if status != FlowStatus::Completed && self.failure_root[i as usize] == NONE {
            self.failure_root[i as usize] = i;
        }
        if status != FlowStatus::Completed {
            tracing::info!(
                parent: &self.span, flow = %self.flow(i).id, %status,
                failure = failure.as_ref().map_or("", |f| f.message.as_str()), "flow ended"
            );
        }
        self.fingerprint(i);
        if self.emit {
            self.emit_now(EventKind::FlowFinished {
                flow: self.flow(i).id.clone(),
                status,
                failure: failure.clone(),
                attempts: self.attempts[i as usize],
                reused,
            });
        }
        // The output goes to the children's inputs; the record carries it only when it is not
        // `null`, the default of a saved result (most flows return nothing).
        let output = output.filter(|output| !output.is_null());
        if status == FlowStatus::Completed {
            if (i as usize) < self.run.outputs.len() {
                self.run.outputs.set(i as usize, output.clone());
            } else {
                self.dyn_outputs[(i - self.n_static) as usize] =
                    Some(output.clone().unwrap_or_else(crate::flow::null_value));
            }
        }
        self.record(i, status, output, failure, tails);
        // Queued even when published at once below: the queue may still hold this flow's
        // earlier `Running`, and the next flush applies it in order, so the end must follow it.
        self.board_changes.push((i, status));
        if status != FlowStatus::Completed {
            // Published at once: a flow registered during the run is checked against it.
            let mut board = self.shared.board();
            if board.run.as_ref() == Some(&self.run_id) {
                if let Some(state) = board.states.get_mut(i as usize) {
                    *state = status;
                    board.unsaved = true;
                }
            }
            drop(board);
            self.board_dirty = true;
        }
    }

    /// Moves the children of a flow that just ended; fails those behind a required edge
    /// of a flow that did not complete, transitively.
    fn propagate(&mut self, start: u32) {
        if start < self.n_static
            && self.extra_children.is_empty()
            && self.slot[start as usize] == Slot::Done(FlowStatus::Completed)
        {
            // The common case: a flow of the snapshot completed and no flow joined the run, so
            // every waiting child just has one parent fewer to wait for.
            for &link in self.run.graph.children(start) {
                let c = link.flow() as usize;
                if self.slot[c] != Slot::Waiting {
                    continue;
                }
                let r = &mut self.remaining[c];
                *r -= 1;
                if *r == 0 {
                    self.slot[c] = Slot::Ready;
                    self.ready.push_back(c as u32);
                }
            }
            return;
        }
        let mut stack = std::mem::take(&mut self.scratch);
        stack.clear();
        stack.push(start);
        while let Some(p) = stack.pop() {
            let completed = self.slot[p as usize] == Slot::Done(FlowStatus::Completed);
            let root = self.root_of(p);
            let n = self.n_children(p);
            let extra = if self.extra_children.is_empty() {
                None
            } else {
                self.extra_children.get(&p).cloned()
            };
            let extra_len = extra.as_ref().map_or(0, Vec::len);
            for k in 0..n + extra_len {
                let link = if k < n {
                    self.run.graph.children(p)[k]
                } else if let Some(extra) = &extra {
                    extra[k - n]
                } else {
                    break;
                };
                let (c, dependency) = link.get();
                if self.slot[c as usize] != Slot::Waiting {
                    continue;
                }
                if dependency == DependencyType::Required && !completed {
                    self.doom_quiet(c, root);
                    stack.push(c);
                } else {
                    let r = &mut self.remaining[c as usize];
                    *r -= 1;
                    if *r == 0 {
                        self.slot[c as usize] = Slot::Ready;
                        self.ready.push_back(c);
                    }
                }
            }
        }
        self.scratch = stack;
    }

    /// Fails (or cancels) a waiting flow because `root` ended without completing, and its
    /// required descendants with it.
    fn doom(&mut self, c: u32, root: u32) {
        self.doom_quiet(c, root);
        self.propagate(c);
    }

    fn doom_quiet(&mut self, c: u32, root: u32) {
        let root_id = self.flow(root).id.clone();
        let (status, message) = match self.slot[root as usize] {
            Slot::Done(FlowStatus::Cancelled) => (
                FlowStatus::Cancelled,
                format!("required flow `{root_id}` was cancelled"),
            ),
            _ => (
                FlowStatus::Failed,
                format!("required flow `{root_id}` failed"),
            ),
        };
        self.failure_root[c as usize] = root;
        let failure = Failure::new(FailureKind::Upstream { flow: root_id }, message);
        self.end(c, Ending::failed(status, failure, None));
    }

    /// Queues a record for the store, replacing one of the same flow still in the batch.
    fn record(
        &mut self,
        i: u32,
        status: FlowStatus,
        output: Option<Arc<Value>>,
        failure: Option<Failure>,
        tails: Option<(Option<i32>, String, String)>,
    ) {
        let finished = status.is_finished();
        let detail = match (failure, tails) {
            (None, None) => None,
            (failure, tails) => {
                let (exit_code, stdout_tail, stderr_tail) = tails.unwrap_or_default();
                Some(Box::new(Detail {
                    failure,
                    exit_code,
                    stdout_tail,
                    stderr_tail,
                }))
            }
        };
        // A flow's last record takes the id copied for it when the run started.
        let id = match self.ids.get_mut(i as usize) {
            Some(id) if finished => id.take(),
            Some(id) => id.clone(),
            None => None,
        };
        let record = Record {
            flow: id.unwrap_or_else(|| self.flow(i).id.clone()),
            status,
            attempts: self.attempts[i as usize],
            output,
            started_at: self.start_time(i),
            finished_at: finished.then_some(self.now),
            fingerprint: self.fingerprints[i as usize],
            detail,
        };
        let pos = self.batch_pos[i as usize];
        if pos == NONE {
            self.batch_pos[i as usize] = self.records.len() as u32;
            self.records.push(record);
            self.record_flows.push(i);
        } else {
            self.records[pos as usize] = record;
        }
    }

    /// Hands the batch to the writer and publishes the board.
    fn flush(&mut self) {
        if !self.records.is_empty() {
            for &i in &self.record_flows {
                self.batch_pos[i as usize] = NONE;
            }
            self.record_flows.clear();
            if let Some(writer) = &mut self.writer {
                let fresh = writer.batch(self.batch);
                writer.save(std::mem::replace(&mut self.records, fresh));
            } else {
                self.records.clear();
            }
        }
        if !self.board_changes.is_empty() || self.board_dirty {
            self.board_dirty = false;
            {
                let mut board = self.shared.board();
                if board.run.as_ref() == Some(&self.run_id) {
                    for &(i, status) in &self.board_changes {
                        if let Some(state) = board.states.get_mut(i as usize) {
                            *state = status;
                        }
                    }
                    // Every record is with the writer now: a waiter that sees these ends
                    // waits for this point, and then reads them from the store.
                    board.unsaved = false;
                    if let Some(writer) = &self.writer {
                        board.durable = Some(writer.durable());
                    }
                }
            }
            self.board_changes.clear();
            self.shared.board_changed.send_modify(|g| *g += 1);
        }
    }

    fn emit_now(&self, kind: EventKind) {
        if !self.shared.has_listeners() {
            return;
        }
        let seq = self
            .shared
            .event_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = self.shared.events().send(Event {
            seq,
            run_id: self.run_id.clone(),
            at: self.now,
            kind,
        });
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.cancel.cancel();
        if !self.released {
            let mut registry = self.shared.registry();
            if registry
                .active
                .as_ref()
                .is_some_and(|a| a.run_id == self.run_id)
            {
                registry.active = None;
            }
            drop(registry);
            // The run was dropped before it finished: what had not ended never will, so the
            // board says it was cancelled and whoever waits for it is let go.
            let mut board = self.shared.board();
            if board.run.as_ref() == Some(&self.run_id) {
                for state in &mut board.states {
                    if !state.is_finished() {
                        *state = FlowStatus::Cancelled;
                    }
                }
                board.unsaved = false;
                drop(board);
                self.shared.board_changed.send_modify(|g| *g += 1);
            }
        }
    }
}

/// How a flow ended, as the scheduler records it.
struct Ending {
    status: FlowStatus,
    failure: Option<Failure>,
    /// A completed flow's output when it is not `null`.
    output: Option<Arc<Value>>,
    /// Exit code and output tails, for flows that ran a command.
    tails: Option<(Option<i32>, String, String)>,
    /// The result was taken from the resumed run instead of running the flow again.
    reused: bool,
}

impl Ending {
    /// A flow completed with `output` (`None`: `null`).
    fn completed(output: Option<Arc<Value>>, tails: Option<(Option<i32>, String, String)>) -> Self {
        Ending {
            status: FlowStatus::Completed,
            failure: None,
            output,
            tails,
            reused: false,
        }
    }

    fn failed(
        status: FlowStatus,
        failure: Failure,
        tails: Option<(Option<i32>, String, String)>,
    ) -> Self {
        Ending {
            status,
            failure: Some(failure),
            output: None,
            tails,
            reused: false,
        }
    }

    fn not_started_in_cancelled_run() -> Self {
        Ending::failed(
            FlowStatus::Cancelled,
            Failure::new(
                FailureKind::Cancelled,
                "the run was cancelled before the flow started",
            ),
            None,
        )
    }
}
