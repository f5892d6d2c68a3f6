//! The run state machine: decides what happens in a run, and nothing else. Synchronous and
//! free of tokio, clocks and ids: it owns one table of flows (a flow that joins a run is one
//! more row), answers each [`Event`] with [`Effect`]s, and leaves running them to the driver.
//!
//! Every rule of a run lives here: a flow is ready once all its parents finished; a flow
//! that finishes without completing fails (or cancels) every flow behind a required edge,
//! transitively, naming the first one as upstream; an optional parent's outcome does not
//! matter; a failed attempt is retried while its policy allows, keeping its jobs slot while it
//! waits; at most `jobs` flows run at once; a cancelled run starts nothing more.
//!
//! The hot path (a flow completes, its children's pending counts drop, the ready ones start)
//! touches only flat vectors indexed by flow, and allocates nothing.

pub(crate) mod cancelled;
mod links;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use flow_graph::{Adjacency, DependencyType};
use flow_results::{Failure, FailureKind, FlowStatus, StatusCounts};
use rustc_hash::FxHashMap;

use crate::RetryPolicy;
use links::Links;

/// Where a flow is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Some parent has not finished.
    Waiting,
    /// All parents finished; waiting for a jobs slot.
    Ready,
    /// An attempt runs.
    Running,
    /// An attempt failed and the next one is due later (the flow keeps its jobs slot).
    RetryWait,
    /// Finished for this run, with its status.
    Finished(FlowStatus),
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// It succeeded.
    Completed,
    /// It was not run: the resumed run's result is reused.
    Reused,
    /// It failed (an error, a timeout, a crash, or stopped by a cancel).
    Failed(Failure),
}

/// Why a flow finished, as the driver records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    /// Its attempt succeeded.
    Completed,
    /// Its result was taken from the resumed run.
    Reused,
    /// It failed or was cancelled on its own (its attempt, `fail_flow`, a cancel). Boxed:
    /// effects stay small on the hot path, where flows complete.
    Failed(Box<Failure>),
    /// A required parent did not complete: `root` is the flow whose failure started it.
    Upstream { root: u32 },
    /// It was cancelled (alone or with the run) before it started.
    NotStarted,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Start attempt `attempt` of `flow`; its end comes back as [`Event::AttemptEnded`].
    Start { flow: u32, attempt: u32 },
    /// Attempt `attempt` of `flow` failed; wake the machine with [`Event::RetryDue`] after
    /// `delay` (the backoff's, before the policy's random jitter, which the driver draws).
    RetryAfter {
        flow: u32,
        attempt: u32,
        delay: Duration,
        failure: Box<Failure>,
    },
    /// Stop what runs for `flow` (its attempt, or its retry timer).
    Stop { flow: u32 },
    /// The run is cancelled: stop every attempt.
    StopAll,
    /// `flow` finished: save its record and publish its status.
    Finished {
        flow: u32,
        status: FlowStatus,
        ending: Ending,
    },
}

/// What happens to the run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// A flow joins the run with these parents (existing flows).
    Registered {
        parents: Vec<(u32, DependencyType)>,
        retry: RetryPolicy,
    },
    /// The running attempt of `flow` ended.
    AttemptEnded { flow: u32, outcome: Outcome },
    /// The running attempt of `flow` is in truth its `attempt`th: its executor took over the
    /// work of that attempt from a killed run (a Slurm job on resume), so the attempts left
    /// count from there.
    Adopted { flow: u32, attempt: u32 },
    /// The retry timer of `flow` went off.
    RetryDue { flow: u32 },
    /// Cancel one flow.
    Cancel { flow: u32 },
    /// Cancel the run.
    CancelAll,
    /// Fail one flow with a reason (`fail_flow`).
    Fail { flow: u32, reason: String },
}

/// Why [`Event::Fail`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No such flow in the run.
    Unknown,
    /// The flow already finished, with this status.
    AlreadyFinished(FlowStatus),
}

/// A stop asked of a running flow, applied when its attempt ends.
#[derive(Debug)]
enum Stop {
    Cancel,
    Fail(String),
}

/// No flow.
const NONE: u32 = u32::MAX;

/// The state of one run.
#[derive(Debug)]
pub(crate) struct Machine {
    jobs: usize,
    links: Links,
    state: Vec<State>,
    /// Parents not finished yet, for a waiting flow.
    pending: Vec<u32>,
    /// Attempts started.
    attempts: Vec<u32>,
    /// For a flow that finished without completing: the flow whose failure caused it.
    root: Vec<u32>,
    /// Each flow's retry policy, as a position in `policies` (most flows share the first).
    policy: Vec<u32>,
    policies: Vec<RetryPolicy>,
    ready: VecDeque<u32>,
    stops: FxHashMap<u32, Stop>,
    effects: VecDeque<Effect>,
    /// Flows running or waiting to retry (each holds a jobs slot).
    running: usize,
    finished: usize,
    /// Set by [`begin`](Self::begin): no flow starts before.
    begun: bool,
    cancelled: bool,
    counts: StatusCounts,
    /// Whether each flow finished reused (from the resumed run, or up to date) rather than run.
    was_reused: Vec<bool>,
    scratch: Vec<u32>,
}

impl Machine {
    /// A run of the flows of `adjacency`, with their retry policies, at most `jobs` at once.
    /// The flows without parents are ready; nothing starts before [`begin`](Self::begin)
    /// (so flows failed before the run, fed first as [`Event::Fail`], never start).
    pub(crate) fn new(
        jobs: usize,
        adjacency: Arc<Adjacency>,
        retries: impl IntoIterator<Item = RetryPolicy>,
    ) -> Self {
        let n = adjacency.len();
        let mut machine = Machine {
            jobs: jobs.max(1),
            links: Links::new(adjacency),
            state: vec![State::Waiting; n],
            pending: vec![0; n],
            attempts: vec![0; n],
            root: vec![NONE; n],
            policy: Vec::with_capacity(n),
            policies: vec![RetryPolicy::none()],
            ready: VecDeque::new(),
            stops: FxHashMap::default(),
            effects: VecDeque::new(),
            running: 0,
            finished: 0,
            begun: false,
            cancelled: false,
            counts: StatusCounts::default(),
            was_reused: vec![false; n],
            scratch: Vec::new(),
        };
        for retry in retries.into_iter().take(n) {
            let at = machine.policy_of(retry);
            machine.policy.push(at);
        }
        machine.policy.resize(n, 0);
        for i in 0..n as u32 {
            machine.settle(i);
        }
        machine
    }

    /// Starts the run: the first ready flows start.
    pub(crate) fn begin(&mut self) {
        self.begun = true;
        self.schedule();
    }

    /// The number of flows in the run.
    pub(crate) fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether every flow finished.
    pub(crate) fn is_done(&self) -> bool {
        self.finished == self.state.len()
    }

    /// The state of `flow`.
    pub(crate) fn state(&self, flow: u32) -> Option<State> {
        self.state.get(flow as usize).copied()
    }

    /// The number of attempts of `flow` started so far.
    pub(crate) fn attempts(&self, flow: u32) -> u32 {
        self.attempts[flow as usize]
    }

    /// The parents of `flow`, as links.
    pub(crate) fn parents(&self, flow: u32) -> &[flow_graph::Link] {
        self.links.parents(flow)
    }

    /// How many flows finished in each status.
    pub(crate) fn counts(&self) -> StatusCounts {
        self.counts
    }

    /// How many completed flows were reused from the resumed run.
    pub(crate) fn reused(&self) -> u32 {
        self.was_reused.iter().filter(|&&reused| reused).count() as u32
    }

    /// Whether `flow` finished reused (from the resumed run, or up to date): it did not run
    /// in this run, so what it gives its children is what it gave them before.
    pub(crate) fn was_reused(&self, flow: u32) -> bool {
        self.was_reused[flow as usize]
    }

    /// Whether the run was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// The next thing for the driver to do, in the order decided.
    #[inline]
    pub(crate) fn next_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Takes one event; its effects follow from [`next_effect`](Self::next_effect).
    ///
    /// # Errors
    /// Only [`Event::Fail`] is refused: for an unknown flow or one that already finished.
    pub(crate) fn handle(&mut self, event: Event) -> Result<(), Refused> {
        match event {
            Event::Registered { parents, retry } => {
                self.register(&parents, retry);
            }
            Event::AttemptEnded { flow, outcome } => self.attempt_ended(flow, outcome),
            Event::Adopted { flow, attempt } => self.adopted(flow, attempt),
            Event::RetryDue { flow } => self.retry_due(flow),
            Event::Cancel { flow } => self.cancel(flow),
            Event::CancelAll => self.cancel_all(),
            Event::Fail { flow, reason } => return self.fail(flow, reason),
        }
        self.schedule();
        Ok(())
    }

    /// A flow joins the run; returns its index.
    fn register(&mut self, parents: &[(u32, DependencyType)], retry: RetryPolicy) -> u32 {
        let flow = self.links.push(parents);
        self.state.push(State::Waiting);
        self.pending.push(0);
        self.attempts.push(0);
        self.root.push(NONE);
        self.was_reused.push(false);
        let at = self.policy_of(retry);
        self.policy.push(at);
        if self.cancelled {
            self.finish(flow, FlowStatus::Cancelled, Ending::NotStarted);
        } else {
            self.settle(flow);
        }
        flow
    }

    /// A new row looks at its parents: it waits for those not finished, is ready when there
    /// are none, and fails at once when a required one did not complete.
    fn settle(&mut self, flow: u32) {
        let mut pending = 0;
        let mut failed_parent = NONE;
        for &link in self.links.parents(flow) {
            let (p, dependency) = link.get();
            match self.state[p as usize] {
                State::Finished(FlowStatus::Completed) => {}
                State::Finished(_) => {
                    if dependency == DependencyType::Required && failed_parent == NONE {
                        failed_parent = p;
                    }
                }
                _ => pending += 1,
            }
        }
        self.pending[flow as usize] = pending;
        if failed_parent != NONE {
            let root = self.root_of(failed_parent);
            self.finish_upstream(flow, root);
            self.propagate(flow);
        } else if pending == 0 {
            self.state[flow as usize] = State::Ready;
            self.ready.push_back(flow);
        }
    }

    fn policy_of(&mut self, retry: RetryPolicy) -> u32 {
        if let Some(at) = self.policies.iter().rposition(|p| *p == retry) {
            return at as u32;
        }
        self.policies.push(retry);
        (self.policies.len() - 1) as u32
    }

    /// Starts ready flows while a jobs slot is free.
    #[inline]
    fn schedule(&mut self) {
        while self.running < self.jobs && self.begun && !self.cancelled {
            let Some(flow) = self.ready.pop_front() else {
                break;
            };
            if self.state[flow as usize] != State::Ready {
                continue;
            }
            self.running += 1;
            self.start(flow);
        }
    }

    fn start(&mut self, flow: u32) {
        self.state[flow as usize] = State::Running;
        let attempt = &mut self.attempts[flow as usize];
        *attempt += 1;
        let attempt = *attempt;
        self.effects.push_back(Effect::Start { flow, attempt });
    }

    fn attempt_ended(&mut self, flow: u32, outcome: Outcome) {
        if self.state(flow) != Some(State::Running) {
            return;
        }
        let stop = if self.stops.is_empty() {
            None
        } else {
            self.stops.remove(&flow)
        };
        match (stop, outcome) {
            (Some(Stop::Fail(reason)), _) => self.finish_failed(flow, FailureKind::Error, reason),
            (Some(Stop::Cancel), Outcome::Failed(failure)) => {
                self.attempt_failed(flow, cancelled::stopped(failure));
            }
            (_, Outcome::Completed) => {
                self.finish(flow, FlowStatus::Completed, Ending::Completed);
                self.propagate(flow);
            }
            (_, Outcome::Reused) => {
                self.was_reused[flow as usize] = true;
                self.finish(flow, FlowStatus::Completed, Ending::Reused);
                self.propagate(flow);
            }
            (_, Outcome::Failed(failure)) => self.attempt_failed(flow, failure),
        }
    }

    fn adopted(&mut self, flow: u32, attempt: u32) {
        if self.state(flow) == Some(State::Running) {
            let attempts = &mut self.attempts[flow as usize];
            *attempts = (*attempts).max(attempt);
        }
    }

    fn attempt_failed(&mut self, flow: u32, failure: Failure) {
        // An attempt that fails once the run is cancelled was stopped by it (a flow that
        // watches its cancellation and returns an error, a killed command).
        let failure = if self.cancelled {
            cancelled::stopped(failure)
        } else {
            failure
        };
        let attempt = self.attempts[flow as usize];
        let retry = self.policies[self.policy[flow as usize] as usize];
        let retryable = !matches!(
            failure.kind,
            FailureKind::Cancelled | FailureKind::Upstream { .. }
        );
        if retryable && !self.cancelled && attempt <= retry.retries() {
            self.state[flow as usize] = State::RetryWait;
            self.effects.push_back(Effect::RetryAfter {
                flow,
                attempt,
                delay: retry.backoff().delay(attempt),
                failure: Box::new(failure),
            });
            return;
        }
        let status = if failure.kind == FailureKind::Cancelled {
            FlowStatus::Cancelled
        } else {
            FlowStatus::Failed
        };
        self.finish(flow, status, Ending::Failed(Box::new(failure)));
        self.propagate(flow);
    }

    fn retry_due(&mut self, flow: u32) {
        if self.state(flow) == Some(State::RetryWait) && !self.cancelled {
            self.start(flow);
        }
    }

    fn cancel(&mut self, flow: u32) {
        match self.state(flow) {
            Some(State::Waiting | State::Ready) => {
                self.finish(flow, FlowStatus::Cancelled, Ending::NotStarted);
                self.propagate(flow);
            }
            Some(State::Running) => {
                self.stops.insert(flow, Stop::Cancel);
                self.effects.push_back(Effect::Stop { flow });
            }
            Some(State::RetryWait) => {
                self.effects.push_back(Effect::Stop { flow });
                let failure = Box::new(cancelled::waiting_to_retry());
                self.finish(flow, FlowStatus::Cancelled, Ending::Failed(failure));
                self.propagate(flow);
            }
            Some(State::Finished(_)) | None => {}
        }
    }

    fn fail(&mut self, flow: u32, reason: String) -> Result<(), Refused> {
        match self.state(flow) {
            Some(State::Waiting | State::Ready) => {
                self.finish_failed(flow, FailureKind::Error, reason);
            }
            Some(State::Running) => {
                self.stops.insert(flow, Stop::Fail(reason));
                self.effects.push_back(Effect::Stop { flow });
            }
            Some(State::RetryWait) => {
                self.effects.push_back(Effect::Stop { flow });
                self.finish_failed(flow, FailureKind::Error, reason);
            }
            Some(State::Finished(status)) => return Err(Refused::AlreadyFinished(status)),
            None => return Err(Refused::Unknown),
        }
        self.schedule();
        Ok(())
    }

    fn cancel_all(&mut self) {
        if self.cancelled {
            return;
        }
        self.cancelled = true;
        self.effects.push_back(Effect::StopAll);
        self.ready.clear();
        for flow in 0..self.state.len() as u32 {
            match self.state[flow as usize] {
                State::Waiting | State::Ready => {
                    self.finish(flow, FlowStatus::Cancelled, Ending::NotStarted);
                }
                State::RetryWait => {
                    let failure = Box::new(cancelled::waiting_to_retry());
                    self.finish(flow, FlowStatus::Cancelled, Ending::Failed(failure));
                }
                State::Running | State::Finished(_) => {}
            }
        }
    }

    /// `flow` finishes with a failure of `kind` and lets its children move on.
    fn finish_failed(&mut self, flow: u32, kind: FailureKind, message: String) {
        let status = if kind == FailureKind::Cancelled {
            FlowStatus::Cancelled
        } else {
            FlowStatus::Failed
        };
        let failure = Failure::new(kind, message);
        self.finish(flow, status, Ending::Failed(Box::new(failure)));
        self.propagate(flow);
    }

    /// `flow` (waiting) finishes because `root` did not complete: cancelled if `root` was.
    fn finish_upstream(&mut self, flow: u32, root: u32) {
        let status = match self.state[root as usize] {
            State::Finished(FlowStatus::Cancelled) => FlowStatus::Cancelled,
            _ => FlowStatus::Failed,
        };
        self.root[flow as usize] = root;
        self.finish(flow, status, Ending::Upstream { root });
    }

    /// `flow` finished, without looking at its children.
    #[inline]
    fn finish(&mut self, flow: u32, status: FlowStatus, ending: Ending) {
        let i = flow as usize;
        if matches!(self.state[i], State::Running | State::RetryWait) {
            self.running -= 1;
        }
        self.state[i] = State::Finished(status);
        self.counts.add(status);
        self.finished += 1;
        if status != FlowStatus::Completed && self.root[i] == NONE {
            self.root[i] = flow;
        }
        self.effects.push_back(Effect::Finished {
            flow,
            status,
            ending,
        });
    }

    /// Moves the waiting children of a flow that just finished: one parent fewer to wait
    /// for, or, behind a required edge of a flow that did not complete, finished upstream
    /// (and their children in turn).
    fn propagate(&mut self, from: u32) {
        let mut stack = std::mem::take(&mut self.scratch);
        stack.push(from);
        while let Some(p) = stack.pop() {
            let completed = self.state[p as usize] == State::Finished(FlowStatus::Completed);
            let mut cursor = self.links.first_child(p);
            while let Some((link, next)) = self.links.next_child(cursor) {
                cursor = next;
                let c = link.flow();
                if self.state[c as usize] != State::Waiting {
                    continue;
                }
                if !completed && link.dependency() == DependencyType::Required {
                    let root = self.root_of(p);
                    self.finish_upstream(c, root);
                    stack.push(c);
                } else {
                    let pending = &mut self.pending[c as usize];
                    *pending -= 1;
                    if *pending == 0 {
                        self.state[c as usize] = State::Ready;
                        self.ready.push_back(c);
                    }
                }
            }
        }
        self.scratch = stack;
    }

    /// The flow whose failure is behind `p`'s (itself if it failed on its own).
    fn root_of(&self, p: u32) -> u32 {
        match self.root[p as usize] {
            NONE => p,
            root => root,
        }
    }
}
