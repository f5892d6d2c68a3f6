//! What the driver reports of a run: records for the store writer, statuses on the board for
//! `wait_for_flows` and `status`, and events for subscribers, batched per turn of the loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{Failure, FlowStatus, RunId};
use serde_json::Value;
use tokio::time::{Instant, Sleep};

use crate::shared::Shared;
use crate::writer::{Detail, Durable, Record, Writer, BATCH};
use crate::{Event, EventKind};

/// No position.
const NONE: u32 = u32::MAX;

/// Exit code and output tails of an attempt that ran a command.
pub(super) type Tails = (Option<i32>, String, String);

/// The records, board changes and events of one run, on their way out.
#[derive(Debug)]
pub(super) struct Reporter {
    shared: Arc<Shared>,
    run_id: RunId,
    /// The time of this turn of the loop.
    pub(super) now: DateTime<Utc>,
    /// Whether anyone listens to events (asked once a turn).
    pub(super) emit: bool,
    records: Vec<Record>,
    /// Where each flow's record is in `records`, so a later record replaces an earlier one.
    batch_pos: Vec<u32>,
    record_flows: Vec<u32>,
    /// The sequence number of the batch that took each flow's last record to the writer
    /// (0: none yet).
    sent_in: Vec<u64>,
    board_changes: Vec<(u32, FlowStatus)>,
    /// The board was changed directly since the last flush.
    board_dirty: bool,
    /// When the oldest record in `records` was queued, and the timer that hands them over
    /// [`HOLD`] after that if nothing did before.
    held_since: Option<Instant>,
    hold: Option<Pin<Box<Sleep>>>,
    /// The board says some records are not with the writer yet (`Board::unsaved`).
    held_published: bool,
    pub(super) writer: Option<Writer>,
    /// When the last attempt of a flow ended, where that was before the driver heard of it
    /// (its end was held on the way: [`AttemptEnd::held`](super::attempt::AttemptEnd)).
    ended_at: rustc_hash::FxHashMap<u32, DateTime<Utc>>,
}

/// How long records may wait in the driver for more to join them, when nobody waits for
/// them: the writer is woken (and a database store commits) once per batch rather than once
/// per record, which on a busy machine leaves the cores to the commands. A command whose
/// parents' records are still here hands them over at once and waits for their commit.
const HOLD: Duration = Duration::from_millis(10);

/// One record to save, as the driver knows it.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) flow: u32,
    pub(super) id: FlowId,
    pub(super) status: FlowStatus,
    pub(super) attempts: u32,
    pub(super) output: Option<Arc<Value>>,
    pub(super) failure: Option<Failure>,
    pub(super) tails: Option<Tails>,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) fingerprint: u128,
}

impl Reporter {
    pub(super) fn new(shared: Arc<Shared>, run_id: RunId, flows: usize) -> Self {
        Reporter {
            shared,
            run_id,
            now: Utc::now(),
            emit: false,
            records: Vec::with_capacity(flows.min(BATCH)),
            batch_pos: vec![NONE; flows],
            record_flows: Vec::new(),
            sent_in: vec![0; flows],
            board_changes: Vec::new(),
            board_dirty: false,
            held_since: None,
            hold: None,
            held_published: false,
            writer: None,
            ended_at: rustc_hash::FxHashMap::default(),
        }
    }

    /// The attempt of `flow` that just ended ended `held` ago: if it finishes the flow, the
    /// flow finished then.
    pub(super) fn ended_before(&mut self, flow: u32, held: Duration) {
        match chrono::Duration::from_std(held) {
            Ok(held) if !held.is_zero() => {
                self.ended_at.insert(flow, self.now - held);
            }
            _ => {
                self.ended_at.remove(&flow);
            }
        }
    }

    /// When `flow`'s last attempt ended, if before this turn ([`Self::ended_before`]).
    pub(super) fn end_time(&self, flow: u32) -> DateTime<Utc> {
        self.ended_at.get(&flow).copied().unwrap_or(self.now)
    }

    /// A new turn of the loop.
    pub(super) fn turn(&mut self) {
        self.now = Utc::now();
        self.emit = self.shared.has_listeners();
    }

    /// Whether a batch of records is ready for the writer.
    pub(super) fn is_full(&self) -> bool {
        self.records.len() >= BATCH
    }

    /// Room for one more flow (one that joined the run).
    pub(super) fn grow(&mut self) {
        self.batch_pos.push(NONE);
        self.sent_in.push(0);
    }

    /// The point a command flow whose parents are `parents` waits for before it starts: the
    /// commit of the batches holding their records (records still here are handed to the
    /// writer first). `None` when they are committed already or there is no writer.
    pub(super) fn durable_after(
        &mut self,
        parents: impl Iterator<Item = u32> + Clone,
    ) -> Option<Durable> {
        self.writer.as_ref()?;
        if parents.clone().any(|p| self.batch_pos[p as usize] != NONE) {
            self.flush();
        }
        let seq = parents.map(|p| self.sent_in[p as usize]).max()?;
        self.writer.as_ref()?.durable_after(seq)
    }

    /// Queues a record for the store, replacing one of the same flow still in the batch, and
    /// the flow's status for the board.
    pub(super) fn record(&mut self, entry: Entry) {
        let Entry {
            flow,
            id,
            status,
            attempts,
            output,
            failure,
            tails,
            started_at,
            fingerprint,
        } = entry;
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
        let record = Record {
            flow: id,
            idx: flow,
            status,
            attempts,
            output,
            started_at,
            finished_at: status.is_finished().then(|| self.end_time(flow)),
            fingerprint,
            detail,
        };
        let pos = self.batch_pos[flow as usize];
        if self.records.is_empty() {
            self.held_since = Some(Instant::now());
        }
        if pos == NONE {
            self.batch_pos[flow as usize] = self.records.len() as u32;
            self.records.push(record);
            self.record_flows.push(flow);
        } else {
            self.records[pos as usize] = record;
        }
        // Queued even when published at once below: the queue may still hold this flow's
        // earlier `Running`, and the next flush applies it in order, so the end must follow it.
        self.board_changes.push((flow, status));
        if status.is_finished() && status != FlowStatus::Completed {
            // Published at once: a flow registered during the run is checked against it.
            let mut board = self.shared.board();
            if board.run.as_ref() == Some(&self.run_id) {
                if let Some(state) = board.states.get_mut(flow as usize) {
                    *state = status;
                    board.unsaved = true;
                }
            }
            drop(board);
            self.board_dirty = true;
        }
    }

    /// What the loop does before it waits: [`flush`](Self::flush), unless the records may
    /// wait a little for more ([`HOLD`]: `more_to_come` (attempts are in flight), nobody
    /// waits for any flow, and the oldest record is younger than that), in which case only
    /// the board is published (marked unsaved) and the loop is woken when the records may
    /// wait no longer.
    pub(super) fn flush_or_hold(&mut self, more_to_come: bool, cx: &mut Context<'_>) {
        let due = match self.held_since {
            Some(since) if more_to_come && self.shared.board_changed.receiver_count() == 0 => {
                since + HOLD
            }
            _ => return self.flush(),
        };
        let hold = self
            .hold
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if hold.as_mut().poll(cx).is_ready() {
            self.flush();
        } else {
            self.publish();
        }
    }

    /// Hands the records to the writer and publishes the board.
    pub(super) fn flush(&mut self) {
        self.held_since = None;
        self.hold = None;
        if !self.records.is_empty() {
            let seq = match &mut self.writer {
                Some(writer) => {
                    let fresh = writer.batch();
                    writer.save(std::mem::replace(&mut self.records, fresh));
                    writer.sent()
                }
                None => {
                    self.records.clear();
                    0
                }
            };
            for &i in &self.record_flows {
                self.batch_pos[i as usize] = NONE;
                self.sent_in[i as usize] = seq;
            }
            self.record_flows.clear();
            // The board said they were held: it is told they are with the writer now.
            self.board_dirty |= std::mem::take(&mut self.held_published);
        }
        self.publish();
    }

    /// Publishes the statuses changed since the last time on the board.
    fn publish(&mut self) {
        if self.board_changes.is_empty() && !self.board_dirty {
            return;
        }
        self.board_dirty = false;
        {
            let mut board = self.shared.board();
            if board.run.as_ref() == Some(&self.run_id) {
                for &(i, status) in &self.board_changes {
                    if let Some(state) = board.states.get_mut(i as usize) {
                        *state = status;
                    }
                }
                if self.records.is_empty() {
                    // Every record is with the writer now: a waiter that sees these ends
                    // waits for this point, and then reads them from the store.
                    board.unsaved = false;
                    if let Some(writer) = &self.writer {
                        board.durable = Some(writer.durable());
                    }
                } else {
                    // Some are held: a waiter waits for the flush that hands them over.
                    board.unsaved = true;
                    self.held_published = true;
                }
            }
        }
        self.board_changes.clear();
        self.shared.board_changed.send_modify(|g| *g += 1);
    }

    /// Sends an event to the subscribers, if there are any.
    pub(super) fn emit(&self, kind: EventKind) {
        self.emit_at(kind, self.now);
    }

    /// Sends an event that happened at `at` (before this turn) to the subscribers.
    pub(super) fn emit_at(&self, kind: EventKind, at: DateTime<Utc>) {
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
            at,
            kind,
        });
    }
}
