//! How the driver carries out the machine's effects: starting an attempt of each kind, a
//! retry timer, and the record of a flow that finished.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use flow_results::{Failure, FailureKind, FlowStatus, RunRecord};
use futures::FutureExt;
use tracing::Instrument;

use super::attempt::{self, AttemptEnd};
use super::report::Entry;
use super::{flow_at, Done, Driver, NONE};
use crate::fingerprint::fill_fingerprints;
use crate::flow::Work;
use crate::machine::{Ending, Event, Outcome, State};
use crate::{EventKind, FlowInput};

impl Driver {
    /// Starts attempt `attempt` of `flow` (or, for a first attempt, reuses its result from the
    /// resumed run: when the definition is the same and every parent gives it what it gave it
    /// then).
    pub(super) fn start(&mut self, flow: u32, attempt: u32, cx: &mut Context<'_>) {
        // An earlier attempt's end, held on its way here, is not this one's.
        self.report.ended_before(flow, Duration::ZERO);
        // Decided before the run was cancelled, due after: it does not start.
        if self.machine.is_cancelled() {
            self.attempt_ended(flow, AttemptEnd::cancelled());
            return;
        }
        if attempt == 1 {
            let fingerprint = self.fingerprint(flow);
            self.mark_started(flow);
            // Not resuming: no id is looked up. A run that skips what is up to date leaves
            // the flows that declare files, and the forced ones, to that rule.
            let judged = (self.fresh.as_ref()).is_some_and(|k| k.freshness.judges(self.flow(flow)));
            let reused = if self.reuse.is_empty() || judged {
                None
            } else {
                self.reuse.get(&self.flow(flow).id)
            };
            if let Some((old, output)) = reused {
                let parents_same = (self.machine.parents(flow).iter())
                    .all(|link| self.gives_the_same(link.flow()));
                if *old == fingerprint && parents_same {
                    let output = Some(Arc::clone(output));
                    self.ended.insert(flow, (output, None));
                    let outcome = Outcome::Reused;
                    let _ = self.machine.handle(Event::AttemptEnded { flow, outcome });
                    return;
                }
            }
            if self.check_first(flow) {
                return;
            }
        }
        if self.report.emit {
            self.report.emit(EventKind::FlowStarted {
                flow: self.flow(flow).id.clone(),
                attempt,
            });
        }
        let input = FlowInput::new(&self.run, flow, attempt);
        let span =
            tracing::warn_span!(parent: &self.span, "attempt", flow = %self.flow(flow).id, attempt);
        let timeout = self.flow(flow).timeout();
        // Made only for an attempt that goes in flight: most async flows end at their first
        // poll and need none.
        let token = || self.cancel.child_token();
        // A command has effects outside the process: its parents' results must be in the
        // store before it starts (see `Writer::durable_after`), when the store keeps them.
        let durable = match self.flow(flow).work {
            Work::Command(_) if self.shared.options.store.persistent() => {
                let parents = self.machine.parents(flow).iter().map(|link| link.flow());
                self.report.durable_after(parents)
            }
            _ => None,
        };
        // Each attempt of a flow with declared outputs starts without them (`fresh::clear`).
        let clear = (self.flow(flow).data_arc())
            .filter(|data| !data.output_paths().is_empty())
            .map(attempt::clearing);
        let started: Result<_, AttemptEnd> = match &self.flow(flow).work {
            // Its outputs are removed on a blocking thread first: in flight at once.
            Work::Async(f) if clear.is_some() => {
                let (f, token) = (Arc::clone(f), token());
                let work = attempt::async_cleared(f, input, timeout, token.clone(), clear);
                Ok((work, token))
            }
            Work::Async(f) => {
                let started = {
                    let _entered = span.enter();
                    // The call and the first poll in one catch: a panic fails the flow, not
                    // the run.
                    catch_unwind(AssertUnwindSafe(|| {
                        let mut fut = f(input);
                        let polled = fut.as_mut().poll(cx);
                        (fut, polled)
                    }))
                };
                match started {
                    Err(panic) => Err(attempt::async_ready(Err(attempt::panicked(panic.as_ref())))),
                    Ok((_, Poll::Ready(result))) => Err(attempt::async_ready(result)),
                    Ok((fut, Poll::Pending)) => {
                        let token = token();
                        Ok((attempt::async_in_flight(fut, timeout, token.clone()), token))
                    }
                }
            }
            Work::Blocking(f) => match self.shared.threads() {
                Ok(threads) => {
                    let token = token();
                    let f = Arc::clone(f);
                    let work = attempt::blocking_attempt(
                        threads,
                        f,
                        input,
                        timeout,
                        token.clone(),
                        span.clone(),
                        clear,
                    );
                    Ok((work, token))
                }
                Err(e) => Err(AttemptEnd::plain(Err(Failure::new(
                    FailureKind::Error,
                    e.to_string(),
                )))),
            },
            Work::Task(name) => {
                let pool = self.shared.options.process_pool.clone();
                let token = token();
                let name = Arc::clone(name);
                let work = attempt::task_attempt(pool, name, input, timeout, token.clone(), clear);
                Ok((work, token))
            }
            Work::Command(spec) => {
                let id = &self.flow(flow).id;
                let mut spec = (**spec).clone();
                // `own_env::OWN_VARIABLES`: a spec that sets one is refused at registration.
                spec = spec
                    .env("FLOW_RUN_ID", self.run_id.as_str())
                    .env("FLOW_ID", id.as_str())
                    .env("FLOW_ATTEMPT", attempt.to_string());
                if let Some(dir) = &self.shared.options.log_dir {
                    let dir = crate::run_log_dir(dir, self.run_id.as_str());
                    let file = |stream| Some(crate::log_file(&dir, id.as_str(), attempt, stream));
                    if spec.stdout_path.is_none() {
                        spec.stdout_path = file(crate::LogStream::Stdout);
                    }
                    if spec.stderr_path.is_none() {
                        spec.stderr_path = file(crate::LogStream::Stderr);
                    }
                }
                let executor = Arc::clone(&self.shared.options.command_executor);
                let token = token();
                let work = attempt::command_attempt(
                    executor,
                    spec,
                    timeout,
                    token.clone(),
                    durable,
                    clear,
                );
                Ok((work, token))
            }
        };
        let (work, token) = match started {
            Ok(work) => work,
            Err(end) => {
                // Ended at once: nothing in flight.
                self.attempt_ended(flow, end);
                return;
            }
        };
        if attempt == 1 {
            self.record_running(flow);
        }
        self.tokens.insert(flow, token);
        self.in_flight.push(
            work.map(move |end| (flow, Done::Attempt(end)))
                .instrument(span)
                .boxed(),
        );
    }

    /// Whether the finished `parent` gives its children what it gave them in the resumed run:
    /// it was reused, or it did not complete, there and now. One that ran and completed may
    /// give something new, and one that completed there and not now takes something away.
    fn gives_the_same(&self, parent: u32) -> bool {
        let completed = self.machine.state(parent) == Some(State::Finished(FlowStatus::Completed));
        self.machine.was_reused(parent)
            || (!completed && !self.reuse.contains_key(&self.flow(parent).id))
    }

    /// Attempt `attempt` of `flow` failed; the next is due after `delay`.
    pub(super) fn retry_after(
        &mut self,
        flow: u32,
        attempt: u32,
        delay: Duration,
        failure: Failure,
    ) {
        let delay = self.flow(flow).retry().jittered(delay);
        let id = self.flow(flow).id.clone();
        tracing::info!(
            parent: &self.span, flow = %id, attempt, retry_in = ?delay,
            failure = %failure.message, "attempt failed, retrying"
        );
        if self.report.emit {
            self.report.emit(EventKind::AttemptFailed {
                flow: id,
                attempt,
                failure,
                retry_in: delay,
            });
        }
        let outputs = (self.flow(flow).data()).is_some_and(|d| !d.output_paths().is_empty());
        if attempt == 1 && matches!(self.flow(flow).work, Work::Async(_)) && !outputs {
            // Its first attempt ended at once, so nothing said "running" yet (one with
            // outputs went in flight to have them removed first).
            self.record_running(flow);
        }
        self.ended.remove(&flow);
        let token = self.cancel.child_token();
        self.tokens.insert(flow, token.clone());
        self.in_flight.push(
            async move {
                tokio::select! {
                    // A cancel wins over a retry due at the same instant.
                    biased;
                    () = token.cancelled() => (flow, Done::TimerStopped),
                    () = tokio::time::sleep(delay) => (flow, Done::RetryDue),
                }
            }
            .boxed(),
        );
    }

    /// `flow` finished: its output goes to its children's inputs, its record to the store.
    pub(super) fn finished(&mut self, flow: u32, status: FlowStatus, ending: Ending) {
        let (output, tails) = if self.ended.is_empty() {
            (None, None)
        } else {
            self.ended.remove(&flow).unwrap_or_default()
        };
        let reused = ending == Ending::Reused;
        let failure = match ending {
            Ending::Completed | Ending::Reused => None,
            Ending::Failed(failure) => Some(*failure),
            Ending::Upstream { root } => {
                let root_id = self.flow(root).id.clone();
                let message = if status == FlowStatus::Cancelled {
                    format!("required flow `{root_id}` was cancelled")
                } else {
                    format!("required flow `{root_id}` failed")
                };
                Some(Failure::new(
                    FailureKind::Upstream { flow: root_id },
                    message,
                ))
            }
            Ending::NotStarted => Some(Failure::new(
                FailureKind::Cancelled,
                crate::machine::cancelled::BEFORE_START,
            )),
        };
        if status != FlowStatus::Completed {
            tracing::info!(
                parent: &self.span, flow = %self.flow(flow).id, %status,
                failure = failure.as_ref().map_or("", |f| f.message.as_str()), "flow finished"
            );
        }
        let attempts = if reused {
            0
        } else {
            self.machine.attempts(flow)
        };
        if self.report.emit {
            let kind = EventKind::FlowFinished {
                flow: self.flow(flow).id.clone(),
                status,
                failure: failure.clone(),
                attempts,
                reused,
            };
            self.report.emit_at(kind, self.report.end_time(flow));
        }
        if status == FlowStatus::Completed {
            self.run.flows.set_output(flow, output.clone());
        }
        let entry = Entry {
            flow,
            id: self.flow(flow).id.clone(),
            status,
            attempts,
            output,
            failure,
            tails,
            started_at: self.start_time(flow),
            fingerprint: self.fingerprint(flow),
        };
        self.report.record(entry);
    }

    /// Saves the "running" state of a flow whose first attempt did not end at once.
    fn record_running(&mut self, flow: u32) {
        let entry = Entry {
            flow,
            id: self.flow(flow).id.clone(),
            status: FlowStatus::Running,
            attempts: self.machine.attempts(flow),
            output: None,
            failure: None,
            tails: None,
            started_at: self.start_time(flow),
            fingerprint: self.fingerprint(flow),
        };
        self.report.record(entry);
    }

    /// Notes that `flow` starts now.
    fn mark_started(&mut self, flow: u32) {
        if self.start_times.last() != Some(&self.report.now) {
            self.start_times.push(self.report.now);
        }
        self.started[flow as usize] = (self.start_times.len() - 1) as u32;
    }

    /// Notes that `flow`'s command ran for `ran` until now, when that is longer than the flow
    /// has run here: the command of an earlier process, adopted (a Slurm job of a killed
    /// run), which started before this run asked for it.
    pub(super) fn started_before(&mut self, flow: u32, ran: std::time::Duration) {
        let Ok(ran) = chrono::Duration::from_std(ran) else {
            return;
        };
        let start = self.report.now - ran;
        if self.start_time(flow).is_none_or(|known| start < known) {
            self.start_times.push(start);
            self.started[flow as usize] = (self.start_times.len() - 1) as u32;
        }
    }

    /// When `flow` started, if it did.
    pub(super) fn start_time(&self, flow: u32) -> Option<DateTime<Utc>> {
        match self.started[flow as usize] {
            NONE => None,
            k => self.start_times.get(k as usize).copied(),
        }
    }

    /// The fingerprint of `flow`, computing it (and any missing parent's) on demand.
    #[inline]
    fn fingerprint(&mut self, flow: u32) -> u128 {
        match self.fingerprints[flow as usize] {
            0 => self.compute_fingerprint(flow),
            known => known,
        }
    }

    /// The fingerprint of `flow`, not known yet: from its parents', computed first where they
    /// are not known either.
    #[inline(never)]
    fn compute_fingerprint(&mut self, flow: u32) -> u128 {
        let (flows, joined, machine) = (&self.flows, &self.joined, &self.machine);
        fill_fingerprints(
            flow,
            |n| flow_at(flows, joined, n),
            |n| machine.parents(n),
            &mut self.fingerprints,
            &mut self.scratch,
        );
        self.fingerprints[flow as usize]
    }
}

impl Driver {
    /// The run's future was dropped before the run finished: what had not finished ends as
    /// cancelled, as in a cancelled run (its attempts' futures are dropped with the driver,
    /// which stops their work), and the run's record is finished. The records go to the
    /// writer now, before another run can begin there; it saves them without being awaited.
    fn end_dropped(&mut self) {
        let _ = self.machine.handle(Event::CancelAll);
        for flow in 0..self.machine.len() as u32 {
            if self.machine.state(flow) == Some(State::Running) {
                self.attempt_over(flow, AttemptEnd::cancelled());
            }
        }
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        while let Some(effect) = self.machine.next_effect() {
            self.apply(effect, &mut cx);
        }
        self.report.flush();
        if let Some(writer) = self.report.writer.take() {
            writer.finish_detached(RunRecord {
                run_id: self.run_id.clone(),
                workflow: self.shared.options.workflow.clone(),
                started_at: self.started_at,
                finished_at: Some(Utc::now()),
                counts: self.machine.counts(),
            });
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.cancel.cancel();
        if !self.released {
            self.end_dropped();
        }
        let mut registry = self.shared.registry();
        if registry
            .active
            .as_ref()
            .is_some_and(|a| a.run_id == self.run_id)
        {
            registry.active = None;
        }
        if registry.closing.as_ref() == Some(&self.run_id) {
            registry.closing = None;
        }
        drop(registry);
        if !self.released {
            // The run was dropped before it finished: what had not finished never will, so
            // the board says it was cancelled and whoever waits for it is let go.
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
