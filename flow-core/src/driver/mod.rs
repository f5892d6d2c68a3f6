//! The driver of a run: carries out what the state machine ([`crate::machine`]) decides. It
//! owns the attempts in flight and the retry timers, feeds the machine its events (requests of
//! the context, attempts that ended, timers that went off) and runs its effects (start an
//! attempt, stop one, set a timer, report a finished flow).
//!
//! The loop is a plain future polled by the caller of `run` (no task per flow): an async flow
//! is polled once inline when it starts, and only if it is not done at once is it kept in a
//! `FuturesUnordered` owned by the loop.

mod attempt;
mod effects;
mod report;
mod resume;
mod up_to_date;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{FlowStatus, RunId, RunRecord, StoreError};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rustc_hash::FxHashMap;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::fingerprint::fingerprint_of;
use crate::fresh;
use crate::input::{FlowTable, RunFlows, RunShared};
use crate::machine::{Effect, Event, Machine, Outcome, Refused};
use crate::request::{ActiveRun, Request};
use crate::run_options::RunOptions;
use crate::shared::Shared;
use crate::{CoreError, EventKind, Flow, RunSummary};

use attempt::AttemptEnd;
use report::{Reporter, Tails};

/// No position.
const NONE: u32 = u32::MAX;
/// The loop yields to the runtime after this many starts and ends in one poll.
const YIELD_AFTER: usize = 8192;

/// What an in-flight future yields.
enum Done {
    /// The attempt ended.
    Attempt(AttemptEnd),
    /// The retry timer went off.
    RetryDue,
    /// The retry timer was stopped.
    TimerStopped,
    /// The up-to-date check of a flow about to start ended.
    Checked(Box<fresh::Checked>),
    /// A completed attempt's declared outputs were checked (and their digest, when recorded).
    Sealed(AttemptEnd, Option<blake3::Hash>),
}

/// Runs the DAG of `shared` once.
pub(crate) async fn run(shared: Arc<Shared>, options: RunOptions) -> Result<RunSummary, CoreError> {
    let thread_error = |source| CoreError::Thread {
        action: "start the result-store writer thread",
        source,
    };
    // First: the thread starts while the run sets up.
    shared.writer.start().map_err(thread_error)?;
    let run_id = options.run_id.clone().unwrap_or_else(RunId::new_now);
    // The run's time counts what it does before its first flow (resume, up-to-date checks).
    let started_at = Utc::now();
    let store = Arc::clone(&shared.options.store);
    // A cancel meanwhile (the token of the options) ends the wait for these: none is needed
    // by a run that starts nothing.
    let resume = match &options.resume_from {
        Some(from) => {
            let load = resume::load(Arc::clone(&store), &shared.options.workflow, from.clone());
            options.unless_cancelled(load).await.transpose()?
        }
        None => None,
    };
    let fresh = match options.freshness.clone() {
        Some(freshness) => {
            let check = up_to_date::prepare(&shared, freshness, options.cancel.clone());
            options.unless_cancelled(check).await.transpose()?
        }
        None => None,
    };
    let span = tracing::info_span!("run", run_id = %run_id, workflow = %shared.options.workflow);
    let mut driver = Driver::claim(Arc::clone(&shared), run_id.clone(), resume, span)?;
    driver.started_at = started_at;
    if let Some((known, decided)) = fresh {
        driver.fresh = Some(known);
        driver.pre = up_to_date::by_index(&driver.flows, decided);
    }
    let workflow = shared.options.workflow.clone();
    // The store begins the run while the first flows start; a failure cancels the run.
    // Every flow is pending when the run begins (this also lets the store size the run).
    let n = driver.machine.len();
    let mut begin = RunRecord::with_id(run_id.clone(), workflow.clone());
    // When the run started, not the time its id names (a chosen id may name any time).
    begin.started_at = started_at;
    begin.counts.pending = u32::try_from(n).unwrap_or(u32::MAX);
    let (writer, begun) = shared.writer.begin(begin).map_err(thread_error)?;
    driver.begun = Some(begun);
    driver.store_refused = Some(Box::pin(writer.refused().cancelled_owned()));
    driver.report.writer = Some(writer);
    driver.report.turn();
    driver.report.emit(EventKind::RunStarted {
        workflow: workflow.clone(),
        flows: n,
        resumed_from: options.resume_from.clone(),
    });
    tracing::info!(parent: &driver.span, flows = n, "run started");
    for (flow, reason) in std::mem::take(&mut driver.pre_failed) {
        let _ = driver.machine.handle(Event::Fail { flow, reason });
    }
    // Cancelled already: no flow starts.
    if options.cancelled() {
        let _ = driver.machine.handle(Event::CancelAll);
    }
    driver.cancel_on = (options.cancel).map(|token| Box::pin(token.cancelled_owned()));
    driver.machine.begin();
    std::future::poll_fn(|cx| driver.poll_run(cx)).await;

    up_to_date::save_stats(driver.fresh.take()).await;
    let finished_at = Utc::now();
    let counts = driver.machine.counts();
    let writer = driver.report.writer.take();
    if let Some(source) = driver.begin_error.take() {
        if let Some(writer) = writer {
            let _ = writer
                .finish(RunRecord::with_id(run_id.clone(), workflow))
                .await;
        }
        return Err(CoreError::Store {
            action: format!("begin run `{run_id}` in `{}`", store.spec()),
            source: Box::new(source),
        });
    }
    let failed = match writer {
        Some(writer) => {
            writer
                .finish(RunRecord {
                    run_id: run_id.clone(),
                    workflow: workflow.clone(),
                    started_at,
                    finished_at: Some(finished_at),
                    counts,
                })
                .await
        }
        None => Default::default(),
    };
    let summary = RunSummary {
        run_id: run_id.clone(),
        workflow,
        counts,
        reused: driver.machine.reused() - driver.up_to_date,
        up_to_date: driver.up_to_date,
        produced_by: driver.produced_by.iter().cloned().collect(),
        started_at,
        finished_at,
        wall_time: (finished_at - started_at)
            .to_std()
            .unwrap_or(Duration::ZERO),
        cancelled: driver.machine.is_cancelled(),
        store_errors: failed.errors,
        unsaved: {
            // Each flow once (its "running" record may have been refused too), by index.
            let mut flows = failed.flows;
            flows.sort_unstable();
            flows.dedup();
            flows
                .iter()
                .map(|&flow| driver.flow(flow).id.clone())
                .collect()
        },
    };
    tracing::info!(
        parent: &driver.span,
        completed = counts.completed,
        failed = counts.failed,
        cancelled = counts.cancelled,
        "run finished"
    );
    driver.report.turn();
    driver.report.emit(EventKind::RunFinished {
        summary: summary.clone(),
    });
    Ok(summary)
}

/// Flow `i` of a run: one it started with (`flows`), then those that joined it (`joined`).
fn flow_at<'a>(flows: &'a [Flow], joined: &'a [Flow], i: u32) -> &'a Flow {
    match (i as usize).checked_sub(flows.len()) {
        None => &flows[i as usize],
        Some(k) => &joined[k],
    }
}

/// The exit code and output tails of an attempt, if it has any.
fn tails_of(end: &mut AttemptEnd) -> Option<Tails> {
    (end.exit_code.is_some() || !end.stdout_tail.is_empty() || !end.stderr_tail.is_empty()).then(
        || {
            (
                end.exit_code,
                std::mem::take(&mut end.stdout_tail),
                std::mem::take(&mut end.stderr_tail),
            )
        },
    )
}

/// The driver of one run.
struct Driver {
    shared: Arc<Shared>,
    run_id: RunId,
    span: tracing::Span,
    machine: Machine,
    /// The run's id, cancel token and table of flows with their outputs, shared with every
    /// `FlowInput`.
    run: Arc<RunShared>,
    /// The flows the run started with, then those that joined it (index `flows.len()` on).
    flows: Arc<Vec<Flow>>,
    joined: Vec<Flow>,
    /// Fingerprints, 0 while not computed.
    fingerprints: Vec<u128>,
    /// When each flow started, as a position in `start_times` (`NONE`: not started): four
    /// bytes a flow instead of twelve, since many flows start in the same turn of the loop.
    started: Vec<u32>,
    start_times: Vec<DateTime<Utc>>,
    /// Completed results of the run resumed from, by flow id (empty when not resuming): a
    /// flow registered before the run and one that joins it are looked up alike.
    reuse: FxHashMap<FlowId, (u128, Arc<Value>)>,
    /// The output (when not `null`) and tails of attempts that ended, until their flow's
    /// `Finished` effect takes them.
    ended: FxHashMap<u32, (Option<Arc<Value>>, Option<Tails>)>,
    tokens: FxHashMap<u32, CancellationToken>,
    in_flight: FuturesUnordered<BoxFuture<'static, (u32, Done)>>,
    requests: mpsc::UnboundedReceiver<Request>,
    cancel: CancellationToken,
    pre_failed: Vec<(u32, String)>,
    report: Reporter,
    /// The store's answer to `begin_run`, until it comes.
    begun: Option<oneshot::Receiver<Result<(), StoreError>>>,
    begin_error: Option<StoreError>,
    /// When the run started (what its record says).
    started_at: DateTime<Utc>,
    released: bool,
    scratch: Vec<u32>,
    /// Ready once the store has refused results; once the token of the options is cancelled.
    store_refused: Option<Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>>,
    cancel_on: Option<Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>>,
    /// Up-to-date checks, when the run skips what is up to date.
    fresh: Option<Arc<fresh::Known>>,
    /// For each completed flow with declared outputs, their digest (hex), as children record it.
    out_tokens: FxHashMap<u32, String>,
    /// Flows checked and found not up to date, about to start; and the inputs read then.
    checked: rustc_hash::FxHashSet<u32>,
    fresh_inputs: FxHashMap<u32, fresh::digest::Files>,
    /// What the check before the run decided, by flow (taken when the flow starts).
    pre: Vec<Option<fresh::Checked>>,
    /// How many flows were up to date, and the runs that produced their outputs.
    up_to_date: u32,
    produced_by: std::collections::BTreeSet<RunId>,
    /// Dropped with the driver: `cleanup` waits for that.
    _gone: watch::Sender<()>,
}

impl Driver {
    /// Marks the run active in the registry and takes a snapshot of the flows.
    fn claim(
        shared: Arc<Shared>,
        run_id: RunId,
        resume: Option<HashMap<FlowId, (u128, Value)>>,
        span: tracing::Span,
    ) -> Result<Self, CoreError> {
        let (tx, requests) = mpsc::unbounded_channel();
        let gone = watch::Sender::new(());
        let (flows, graph, ordered, pre_failed, reuse) = {
            let mut registry = shared.registry();
            let in_progress = registry.active.as_ref().map(|active| &active.run_id);
            if let Some(other) = in_progress.or(registry.closing.as_ref()) {
                return Err(CoreError::RunInProgress(other.clone()));
            }
            registry.active = Some(ActiveRun {
                run_id: run_id.clone(),
                requests: tx,
                gone: gone.subscribe(),
            });
            let flows = Arc::clone(&registry.flows);
            let graph = Arc::new(registry.adjacency());
            let ordered = registry.in_topological_order();
            let pre_failed = std::mem::take(&mut registry.pre_failed);
            let reuse = resume
                .into_iter()
                .flatten()
                .map(|(id, (fingerprint, output))| (id, (fingerprint, Arc::new(output))))
                .collect();
            let mut board = shared.board();
            board.run = Some(run_id.clone());
            board.states.clear();
            board.states.resize(flows.len(), FlowStatus::Pending);
            board.unsaved = false;
            board.durable = None;
            (flows, graph, ordered, pre_failed, reuse)
        };
        shared.board_changed.send_modify(|g| *g += 1);
        let n = flows.len();
        // One pass over the flows (each visited once: a run's flows need not fit in cache)
        // takes their retry policies and, when parents come before children in registration
        // order (the usual case), computes every fingerprint; otherwise they are computed on
        // demand. The machine takes the policies as the pass goes (no list of them is made).
        let mut fingerprints = vec![0; n];
        let retries = flows.iter().enumerate().map(|(i, flow)| {
            if ordered {
                fingerprints[i] = fingerprint_of(flow, graph.parents(i as u32), &fingerprints);
            }
            *flow.retry()
        });
        let machine = Machine::new(shared.options.jobs, Arc::clone(&graph), retries);
        let cancel = CancellationToken::new();
        let run = Arc::new(RunShared {
            run_id: run_id.clone(),
            cancel: cancel.clone(),
            flows: RunFlows::new(Arc::clone(&flows) as Arc<dyn FlowTable>, graph, n),
        });
        Ok(Driver {
            report: Reporter::new(Arc::clone(&shared), run_id.clone(), n),
            run_id,
            span,
            machine,
            run,
            flows,
            joined: Vec::new(),
            fingerprints,
            started: vec![NONE; n],
            start_times: Vec::new(),
            reuse,
            ended: FxHashMap::default(),
            tokens: FxHashMap::default(),
            in_flight: FuturesUnordered::new(),
            requests,
            cancel,
            pre_failed,
            begun: None,
            begin_error: None,
            started_at: Utc::now(),
            released: false,
            scratch: Vec::new(),
            store_refused: None,
            cancel_on: None,
            fresh: None,
            out_tokens: FxHashMap::default(),
            checked: rustc_hash::FxHashSet::default(),
            fresh_inputs: FxHashMap::default(),
            pre: Vec::new(),
            up_to_date: 0,
            produced_by: std::collections::BTreeSet::new(),
            _gone: gone,
            shared,
        })
    }

    fn flow(&self, i: u32) -> &Flow {
        flow_at(&self.flows, &self.joined, i)
    }

    /// One poll of the loop: take requests, carry out effects, take ended attempts, until
    /// nothing moves; then publish and wait.
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut work = 0usize;
        loop {
            self.report.turn();
            let mut progressed = false;
            if let Some(begun) = &mut self.begun {
                if let Poll::Ready(answer) = Pin::new(begun).poll(cx) {
                    self.begun = None;
                    progressed = true;
                    if let Ok(Err(error)) = answer {
                        // The run returns the error: logged for debugging only, not twice.
                        tracing::debug!(parent: &self.span, %error, "the store cannot begin the run");
                        self.begin_error = Some(error);
                        let _ = self.machine.handle(Event::CancelAll);
                    }
                }
            }
            progressed |= self.take_requests(cx);
            if let Some(refused) = &mut self.store_refused {
                if refused.as_mut().poll(cx).is_ready() {
                    // What the run does next would not be saved either: it stops, and its
                    // summary names the flows whose results are missing.
                    self.store_refused = None;
                    // The summary says so (`store_errors`, `unsaved`, `cancelled`).
                    tracing::info!(parent: &self.span, "the store refused results: the run stops");
                    let _ = self.machine.handle(Event::CancelAll);
                    progressed = true;
                }
            }
            if let Some(cancel) = &mut self.cancel_on {
                if cancel.as_mut().poll(cx).is_ready() {
                    self.cancel_on = None;
                    let _ = self.machine.handle(Event::CancelAll);
                    progressed = true;
                }
            }
            while !self.report.is_full() && work < YIELD_AFTER {
                // A request made meanwhile (a cancel from a flow just started) counts before
                // the next effect: no flow starts once the run is cancelled.
                self.take_requests(cx);
                let Some(effect) = self.machine.next_effect() else {
                    break;
                };
                self.apply(effect, cx);
                progressed = true;
                work += 1;
            }
            while work < YIELD_AFTER {
                let Poll::Ready(Some((flow, done))) = self.in_flight.poll_next_unpin(cx) else {
                    break;
                };
                self.done(flow, done, cx);
                progressed = true;
                work += 1;
            }
            if self.report.is_full() {
                self.report.flush();
            }
            if self.machine.is_done() && self.in_flight.is_empty() && self.begun.is_none() {
                while let Some(effect) = self.machine.next_effect() {
                    self.apply(effect, cx);
                }
                self.report.flush();
                if self.try_release() {
                    return Poll::Ready(());
                }
                continue;
            }
            // Records may wait for those of the attempts in flight to join them.
            let more_to_come = !self.in_flight.is_empty();
            if !progressed {
                self.report.flush_or_hold(more_to_come, cx);
                return Poll::Pending;
            }
            if work >= YIELD_AFTER {
                self.report.flush_or_hold(more_to_come, cx);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Handles the requests of the context that are waiting; whether there were any.
    fn take_requests(&mut self, cx: &mut Context<'_>) -> bool {
        let mut any = false;
        while let Poll::Ready(Some(request)) = self.requests.poll_recv(cx) {
            self.request(request);
            any = true;
        }
        any
    }

    /// Ends the run in the registry unless a request arrived meanwhile (handled then).
    fn try_release(&mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        let mut registry = shared.registry();
        let mut any = false;
        while let Ok(request) = self.requests.try_recv() {
            self.request(request);
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
            // Its last results are still to be handed to the writer: closing until the
            // driver is gone.
            registry.active = None;
            registry.closing = Some(self.run_id.clone());
        }
        self.released = true;
        true
    }

    /// A request of the context, as an event to the machine.
    fn request(&mut self, request: Request) {
        match request {
            Request::Register { idx, flow, parents } => {
                debug_assert_eq!(idx as usize, self.machine.len());
                let retry = *flow.retry();
                let (id, input) = (flow.id.clone(), Arc::clone(&flow.input));
                self.joined.push(*flow);
                self.fingerprints.push(0);
                self.started.push(NONE);
                self.report.grow();
                let _ = self.machine.handle(Event::Registered { parents, retry });
                let row = self.run.flows.join(id, input, self.machine.parents(idx));
                debug_assert_eq!(row, idx);
            }
            Request::Cancel(flow) => {
                let _ = self.machine.handle(Event::Cancel { flow });
            }
            Request::CancelAll => {
                let _ = self.machine.handle(Event::CancelAll);
            }
            Request::Fail { idx, reason, reply } => {
                let answer = self
                    .machine
                    .handle(Event::Fail { flow: idx, reason })
                    .map_err(|refused| match refused {
                        Refused::AlreadyFinished(status) => CoreError::AlreadyFinished {
                            flow: self.flow(idx).id.clone(),
                            status,
                        },
                        Refused::Unknown => CoreError::UnknownFlow(idx.to_string()),
                    });
                let _ = reply.send(answer);
            }
        }
    }

    /// An in-flight future finished.
    fn done(&mut self, flow: u32, done: Done, cx: &mut Context<'_>) {
        if !self.tokens.is_empty() {
            self.tokens.remove(&flow);
        }
        match done {
            Done::Attempt(end) => self.attempt_ended(flow, end),
            Done::RetryDue => {
                let _ = self.machine.handle(Event::RetryDue { flow });
            }
            Done::TimerStopped => {}
            Done::Checked(checked) => self.checked(flow, *checked, cx),
            Done::Sealed(end, digest) => {
                if let Some(digest) = digest {
                    self.out_tokens.insert(flow, digest.to_hex().to_string());
                }
                self.attempt_over(flow, end);
            }
        }
    }

    /// Feeds the end of an attempt to the machine, keeping its output for the record.
    pub(super) fn attempt_over(&mut self, flow: u32, mut end: AttemptEnd) {
        let tails = tails_of(&mut end);
        let outcome = match end.result {
            Ok(output) => {
                // `null`, what most flows return, is `None`: no allocation, no reference count.
                let output = (!output.is_null()).then(|| Arc::new(output));
                if output.is_some() || tails.is_some() {
                    self.ended.insert(flow, (output, tails));
                }
                Outcome::Completed
            }
            Err(failure) => {
                if tails.is_some() {
                    self.ended.insert(flow, (None, tails));
                }
                Outcome::Failed(failure)
            }
        };
        let _ = self.machine.handle(Event::AttemptEnded { flow, outcome });
    }

    /// Carries out one effect of the machine.
    fn apply(&mut self, effect: Effect, cx: &mut Context<'_>) {
        match effect {
            Effect::Start { flow, attempt } => self.start(flow, attempt, cx),
            Effect::RetryAfter {
                flow,
                attempt,
                delay,
                failure,
            } => self.retry_after(flow, attempt, delay, *failure),
            Effect::Stop { flow } => {
                if let Some(token) = self.tokens.get(&flow) {
                    token.cancel();
                }
            }
            Effect::StopAll => {
                tracing::info!(parent: &self.span, "run cancelled");
                self.cancel.cancel();
            }
            Effect::Finished {
                flow,
                status,
                ending,
            } => self.finished(flow, status, ending),
        }
    }
}
