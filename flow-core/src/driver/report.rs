//! What the driver reports of a run: records for the store writer, statuses on the board for
//! `wait_for_flows` and `status`, and events for subscribers, batched per turn of the loop.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{Failure, FlowStatus, RunId};
use serde_json::Value;

use crate::shared::Shared;
use crate::writer::{Detail, Record, Writer, BATCH};
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
    board_changes: Vec<(u32, FlowStatus)>,
    /// The board was changed directly since the last flush.
    board_dirty: bool,
    pub(super) writer: Option<Writer>,
}

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
            board_changes: Vec::new(),
            board_dirty: false,
            writer: None,
        }
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
            finished_at: status.is_finished().then_some(self.now),
            fingerprint,
            detail,
        };
        let pos = self.batch_pos[flow as usize];
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

    /// Hands the batch to the writer and publishes the board.
    pub(super) fn flush(&mut self) {
        if !self.records.is_empty() {
            for &i in &self.record_flows {
                self.batch_pos[i as usize] = NONE;
            }
            self.record_flows.clear();
            if let Some(writer) = &mut self.writer {
                let fresh = writer.batch();
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

    /// Sends an event to the subscribers, if there are any.
    pub(super) fn emit(&self, kind: EventKind) {
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
