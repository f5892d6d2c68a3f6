//! How the driver applies freshness ([`crate::fresh`]): a flow with declared outputs that is
//! about to start is first checked on a blocking thread — up to date, it finishes as reused
//! (the path a resumed run's reused flows take); not, it starts — and a completed attempt of
//! a flow with declared outputs has them checked and, when the run keeps a ledger, recorded,
//! before the machine hears of it. File reads never happen on the driver's thread.

use std::sync::Arc;
use std::task::Context;

use flow_results::{Failure, FailureKind, FlowStatus};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use super::attempt::AttemptEnd;
use super::{Done, Driver};
use crate::fresh::{self, Checked, Known, Reason, Verdict};
use crate::machine::{Event, Outcome, State};
use crate::shared::Shared;
use crate::{CoreError, Data, Flow, FlowId, Freshness};

/// Before a run, on a blocking thread: reads the ledger, checks every registered flow (files
/// read in parallel), and forgets the entries of the flows that will run whatever their
/// parents do (unless `cancel` was cancelled meanwhile: the run, which stopped waiting for
/// this, starts nothing). Returns what it read and the check of each flow registered then,
/// in the registry's order.
pub(super) async fn prepare(
    shared: &Arc<Shared>,
    freshness: Freshness,
    cancel: Option<CancellationToken>,
) -> Result<(Arc<Known>, Vec<(FlowId, Checked)>), CoreError> {
    let (flows, graph) = {
        let registry = shared.registry();
        (Arc::clone(&registry.flows), registry.adjacency())
    };
    let work = tokio::task::spawn_blocking(move || {
        let began = std::time::Instant::now();
        let known = Known::load(freshness)?;
        let loaded = began.elapsed();
        let decided = fresh::decide_all(&flows, &graph, &known, true);
        tracing::debug!(?loaded, checked = ?began.elapsed(), flows = flows.len(), "up-to-date checks before the run");
        let will_run: Vec<&str> = (flows.iter().zip(&decided))
            .filter(|(_, c)| {
                matches!(&c.verdict, Verdict::Run(reason)
                    if !matches!(reason, Reason::ParentWillRun { .. } | Reason::NoOutputs))
            })
            .map(|(f, _)| f.id.as_str())
            .collect();
        if !cancel.is_some_and(|token| token.is_cancelled()) {
            known.freshness.ledger.forget_all(&will_run)?;
        }
        let decided = (flows.iter().map(|f| f.id.clone())).zip(decided).collect();
        Ok::<_, CoreError>((Arc::new(known), decided))
    });
    work.await.map_err(|e| CoreError::Thread {
        action: "check which flows are up to date (the checking thread failed)",
        source: std::io::Error::other(e.to_string()),
    })?
}

/// Saves the stat cache entries of the run (a cache: one that cannot be saved costs reading
/// files again), then frees what the run knew of the ledger on the same blocking thread,
/// without waiting for it (a large workflow's entries take tens of milliseconds to free).
pub(super) async fn save_stats(known: Option<Arc<Known>>) {
    let Some(known) = known else {
        return;
    };
    let (saved_tx, saved) = tokio::sync::oneshot::channel();
    drop(tokio::task::spawn_blocking(move || {
        let _ = saved_tx.send(known.save_stats());
        drop(known);
    }));
    if let Ok(Err(error)) = saved.await {
        tracing::warn!(
            %error,
            "cannot save the sizes and times of the declared files: the next run reads them \
             again to tell what changed"
        );
    }
}

/// The checks of `decided` (made of the flows registered then, in order) for each of the
/// run's `flows`, by position: the registry only appends, so a flow has its check unless it
/// was registered since, or the registry was cleared and filled again (a check stands only
/// for the flow it was made of).
pub(super) fn by_index(flows: &[Flow], decided: Vec<(FlowId, Checked)>) -> Vec<Option<Checked>> {
    let mut decided = decided.into_iter();
    (flows.iter())
        .map(|flow| match decided.next() {
            Some((id, checked)) if id == flow.id => Some(checked),
            _ => None,
        })
        .collect()
}

impl Driver {
    /// Starts the up-to-date check of `flow` (first attempt) when the run skips what is up
    /// to date and the flow declares outputs; returns whether it did (the flow starts, or
    /// not, when the check ends).
    pub(super) fn check_first(&mut self, flow: u32) -> bool {
        let Some(known) = &self.fresh else {
            return false;
        };
        if self.checked.remove(&flow) {
            return false;
        }
        // Decided before the run, unless a parent was to run (it may change the files).
        match self.pre.get_mut(flow as usize).and_then(Option::take) {
            Some(Checked {
                verdict: Verdict::Run(Reason::ParentWillRun { .. }),
                ..
            })
            | None => {}
            Some(Checked {
                verdict: Verdict::UpToDate { .. },
                entry: Some(entry),
                ..
            }) => {
                self.finish_up_to_date(flow, entry);
                return true;
            }
            // Its inputs were read before the run: recorded if it completes.
            Some(Checked {
                verdict,
                inputs: Some(inputs),
                ..
            }) => {
                if let Verdict::Run(reason) = &verdict {
                    self.warn_gone_output(flow, reason);
                }
                self.fresh_inputs.insert(flow, inputs);
                return false;
            }
            // Not read (it never completed, is forced, or its files' stats were as recorded):
            // checked again below, which reads them before it starts.
            Some(_) => {}
        }
        let Some(data) = self.flow(flow).data_arc() else {
            return false;
        };
        if data.output_paths().is_empty() {
            return false;
        }
        let known = Arc::clone(known);
        let parents = self.parents_state(flow);
        let own = self.flow(flow).clone();
        let token = self.cancel.child_token();
        self.tokens.insert(flow, token.clone());
        let check = tokio::task::spawn_blocking(move || {
            let mut checked = fresh::check(&own, &data, &parents, &known);
            if matches!(checked.verdict, Verdict::Run(_)) {
                // What the command will read is recorded as it was before it started (a file
                // changed while it runs makes the next run run it again).
                if checked.inputs.is_none() {
                    checked.inputs = fresh::read_inputs(&data, &known);
                }
                // From now on until it completes, the flow has no record: a run killed
                // meanwhile runs it again.
                if let Err(error) = known.freshness.ledger.forget(own.id.as_str()) {
                    tracing::warn!(flow = %own.id, %error, "cannot clear the flow's record");
                }
            }
            checked
        });
        self.in_flight.push(
            async move {
                tokio::select! {
                    biased;
                    () = token.cancelled() => (flow, Done::Attempt(AttemptEnd::cancelled())),
                    checked = check => {
                        let checked = checked.unwrap_or_else(|e| {
                            Checked::run(Reason::Unreadable { message: e.to_string() })
                        });
                        (flow, Done::Checked(Box::new(checked)))
                    }
                }
            }
            .boxed(),
        );
        true
    }

    /// An attempt ended: one that completed a flow with declared outputs has them checked
    /// (and recorded) first; one that returned what no store can save fails.
    pub(super) fn attempt_ended(&mut self, flow: u32, end: AttemptEnd) {
        if let Some(attempt) = end.adopted_attempt {
            let _ = self.machine.handle(Event::Adopted { flow, attempt });
        }
        if let Some(ran) = end.adopted_ran {
            self.started_before(flow, ran);
        }
        self.report.ended_before(flow, end.held);
        let end = end.storable();
        match self.flow(flow).data_arc() {
            Some(data) if end.result.is_ok() && !data.output_paths().is_empty() => {
                self.seal(flow, data, end);
            }
            _ => self.attempt_over(flow, end),
        }
    }

    /// The check of `flow` ended: it finishes as up to date, or starts.
    pub(super) fn checked(&mut self, flow: u32, checked: Checked, cx: &mut Context<'_>) {
        match (checked.verdict, checked.entry) {
            (Verdict::UpToDate { .. }, Some(entry)) => self.finish_up_to_date(flow, entry),
            (verdict, _) => {
                if let Verdict::Run(reason) = verdict {
                    self.warn_gone_output(flow, &reason);
                    tracing::info!(parent: &self.span, flow = %self.flow(flow).id, %reason, "not up to date");
                }
                if let Some(inputs) = checked.inputs {
                    self.fresh_inputs.insert(flow, inputs);
                }
                self.checked.insert(flow);
                self.start(flow, 1, cx);
            }
        }
    }

    /// Warns when `flow` runs because a former parent's output is still among its inputs
    /// (a sample removed whose file a glob input still matches): the run reads it.
    fn warn_gone_output(&self, flow: u32, reason: &Reason) {
        let Reason::GoneParentsOutputRead { read } = reason else {
            return;
        };
        match read.as_slice() {
            [(parent, file)] => tracing::warn!(
                flow = %self.flow(flow).id,
                "input `{file}` was written by `{parent}`, which is no longer a parent \
                 (removed from the workflow?), and is read all the same: delete it if it \
                 should not be"
            ),
            _ => tracing::warn!(
                flow = %self.flow(flow).id,
                "inputs {} were written by flows that are no longer parents (removed from \
                 the workflow?), and are read all the same: delete them if they should not be",
                crate::fresh::listed(read)
            ),
        }
    }

    /// `flow` is up to date: it finishes as reused, with the output `entry` recorded.
    fn finish_up_to_date(&mut self, flow: u32, entry: Arc<fresh::Entry>) {
        tracing::debug!(parent: &self.span, flow = %self.flow(flow).id, run_id = %entry.run_id, "up to date");
        self.out_tokens.insert(flow, entry.outputs.clone());
        if !self.produced_by.contains(&entry.run_id) {
            self.produced_by.insert(entry.run_id.clone());
        }
        if !entry.output.is_null() {
            self.ended
                .insert(flow, (Some(Arc::new(entry.output.clone())), None));
        }
        self.up_to_date += 1;
        let outcome = Outcome::Reused;
        let _ = self.machine.handle(Event::AttemptEnded { flow, outcome });
    }

    /// Checks (and records) the declared outputs of `flow`, whose attempt completed with
    /// `end`; the machine hears of it after that.
    pub(super) fn seal(&mut self, flow: u32, data: Arc<Data>, end: AttemptEnd) {
        let known = self.fresh.clone();
        let sealed = fresh::Sealed {
            run_id: self.run_id.clone(),
            exit_code: end.exit_code,
            attempts: self.machine.attempts(flow),
            started_at: self.start_time(flow),
            output: end.result.as_ref().cloned().unwrap_or_default(),
            parents: self.parents_state(flow),
            inputs: self.fresh_inputs.remove(&flow),
        };
        let own = self.flow(flow).clone();
        let work =
            tokio::task::spawn_blocking(move || fresh::seal(&own, &data, known.as_deref(), sealed));
        self.in_flight.push(
            async move {
                let mut end = end;
                let digest = match work.await {
                    Ok(Ok(digest)) => digest,
                    Ok(Err(message)) => {
                        end.result = Err(Failure::new(FailureKind::Error, message));
                        None
                    }
                    Err(e) => {
                        let message = format!("cannot check the declared outputs: {e}");
                        end.result = Err(Failure::new(FailureKind::Error, message));
                        None
                    }
                };
                (flow, Done::Sealed(end, digest))
            }
            .boxed(),
        );
    }

    /// Each parent of `flow` with its state as the flow records it, sorted by id.
    fn parents_state(&self, flow: u32) -> Vec<(String, String)> {
        let mut parents: Vec<(String, String)> = (self.machine.parents(flow).iter())
            .map(|link| {
                let p = link.flow();
                let token = match self.machine.state(p) {
                    Some(State::Finished(FlowStatus::Completed)) => match self.out_tokens.get(&p) {
                        Some(token) => token.clone(),
                        None => fresh::completed_token(self.flow(p), self.run.flows.output(p)),
                    },
                    _ => fresh::NOT_COMPLETED.to_owned(),
                };
                (self.flow(p).id.to_string(), token)
            })
            .collect();
        parents.sort_unstable();
        parents
    }
}

#[cfg(test)]
mod tests {
    use super::by_index;
    use crate::fresh::{Checked, Reason};
    use crate::{CommandSpec, Flow, FlowId};

    fn flow(id: &str) -> Flow {
        Flow::command(FlowId::new(id).unwrap(), CommandSpec::argv(["true"])).build()
    }

    fn checked(id: &str) -> (FlowId, Checked) {
        (FlowId::new(id).unwrap(), Checked::run(Reason::Forced))
    }

    #[test]
    fn a_check_goes_to_the_flow_it_was_made_of() {
        let flows = [flow("a"), flow("b"), flow("c")];
        // `a` as checked; `b` is not the flow checked at its place; `c` came since.
        let pre = by_index(&flows, vec![checked("a"), checked("x")]);
        let got: Vec<bool> = pre.iter().map(Option::is_some).collect();
        assert_eq!(got, [true, false, false]);
    }
}
