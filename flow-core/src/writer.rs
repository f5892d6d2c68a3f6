//! The result-store writer: the one path from a finished flow to the store. A dedicated thread
//! turns the driver's records into `FlowResult`s and saves them in batches, whatever the store
//! and the size of the run, so the store is never called on the driver's thread.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{
    Failure, Fingerprint, FlowResult, FlowStatus, ResultStore, RunId, RunRecord, Tail,
};
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

/// What the store could not do in one run: its errors (at most [`MAX_ERRORS`] kept) and every
/// flow whose result it could not save, by index in the run.
#[derive(Debug, Default)]
pub(crate) struct Failed {
    pub(crate) errors: Vec<String>,
    pub(crate) flows: Vec<u32>,
}

impl Failed {
    fn gone() -> Self {
        Failed {
            errors: vec!["the result-store writer thread is gone".to_owned()],
            flows: Vec::new(),
        }
    }

    fn error(&mut self, error: &flow_results::StoreError) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(error.to_string());
        }
    }
}

/// At most this many store errors are kept for the summary.
const MAX_ERRORS: usize = 20;
/// Results are saved this many at a time.
const SAVE_SLICE: usize = 256;

/// A flow's state to save: what the driver knows, in a form cheap to make.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) flow: FlowId,
    /// The flow's index in the run, to name it if the store refuses its result.
    pub(crate) idx: u32,
    pub(crate) status: FlowStatus,
    pub(crate) attempts: u32,
    pub(crate) output: Option<Arc<Value>>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
    /// 0 when not known.
    pub(crate) fingerprint: u128,
    /// Failure, exit code and output tails, when there are any.
    pub(crate) detail: Option<Box<Detail>>,
}

/// The less common parts of a [`Record`].
#[derive(Debug, Default)]
pub(crate) struct Detail {
    pub(crate) failure: Option<Failure>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) stdout_tail: String,
    pub(crate) stderr_tail: String,
}

/// Emptied record batches, handed back to the driver so that a batch is not a fresh
/// allocation each time.
type Spare = Arc<Mutex<Vec<Vec<Record>>>>;

enum Message {
    Begin(
        RunRecord,
        oneshot::Sender<Result<(), flow_results::StoreError>>,
    ),
    /// A batch with its sequence number (1, 2, ...).
    Results(u64, Vec<Record>),
    Finish(RunRecord, oneshot::Sender<Failed>),
}

/// The driver's end of the writer.
#[derive(Debug)]
pub(crate) struct Writer {
    thread: mpsc::Sender<Message>,
    spare: Spare,
    /// Sequence number of the last batch handed to the thread.
    sent: u64,
    /// Sequence number of the last batch the store has committed.
    committed: watch::Receiver<u64>,
    /// Cancelled by the thread when the store refused a batch.
    refused: CancellationToken,
}

/// Records handed to the writer thread at a time (at least; fewer when the driver waits).
pub(crate) const BATCH: usize = 512;

/// A point in the writer's queue to wait for: every batch queued before it is committed.
#[derive(Debug, Clone)]
pub(crate) struct Durable {
    committed: watch::Receiver<u64>,
    target: u64,
}

impl Durable {
    /// Returns once every batch queued before this point is committed (or the writer is gone).
    pub(crate) async fn wait(mut self) {
        let target = self.target;
        let _ = self.committed.wait_for(|&done| done >= target).await;
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Begin(..) => "Begin",
            Message::Results(..) => "Results",
            Message::Finish(..) => "Finish",
        })
    }
}

impl Writer {
    /// The writer of `run_id`; its thread starts now.
    pub(crate) fn start(store: Arc<dyn ResultStore>, run_id: RunId) -> std::io::Result<Self> {
        let (done, committed) = watch::channel(0);
        let (tx, rx) = mpsc::channel();
        let spare = Spare::default();
        let returned = Arc::clone(&spare);
        let refused = CancellationToken::new();
        let signal = refused.clone();
        std::thread::Builder::new()
            .name("flow-store-writer".into())
            .spawn(move || serve(&*store, &run_id, &rx, &returned, &done, &signal))?;
        Ok(Writer {
            thread: tx,
            spare,
            sent: 0,
            committed,
            refused,
        })
    }

    /// An empty batch with room for [`BATCH`] records, recycled when possible.
    pub(crate) fn batch(&self) -> Vec<Record> {
        let recycled = lock(&self.spare).pop();
        recycled.unwrap_or_else(|| Vec::with_capacity(BATCH))
    }

    /// Records the run as begun, before any result; the answer comes on the receiver.
    pub(crate) fn begin(
        &self,
        run: RunRecord,
    ) -> oneshot::Receiver<Result<(), flow_results::StoreError>> {
        let (reply, answer) = oneshot::channel();
        // A writer that is gone drops the reply: the run then goes on as if begun, and
        // `finish` reports the writer gone.
        let _ = self.thread.send(Message::Begin(run, reply));
        answer
    }

    /// Queues records to save.
    pub(crate) fn save(&mut self, records: Vec<Record>) {
        self.sent += 1;
        // A writer that is gone has reported why (its answer to `finish`).
        let _ = self.thread.send(Message::Results(self.sent, records));
    }

    /// Cancelled once the store has refused some results (the run should stop: what it does
    /// next would be lost too).
    pub(crate) fn refused(&self) -> CancellationToken {
        self.refused.clone()
    }

    /// The point after every batch queued so far: a command flow waits for it before it
    /// starts, so its parents' results are in the store before it can have effects, and a
    /// resume after SIGKILL never runs a completed parent again.
    pub(crate) fn durable(&self) -> Durable {
        Durable {
            committed: self.committed.clone(),
            target: self.sent,
        }
    }

    /// Saves the run's final record after every queued result; returns what failed.
    pub(crate) async fn finish(self, run: RunRecord) -> Failed {
        let (reply, answer) = oneshot::channel();
        if self.thread.send(Message::Finish(run, reply)).is_err() {
            return Failed::gone();
        }
        answer.await.unwrap_or_else(|_| Failed::gone())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hands an emptied batch back for reuse (a few are kept).
fn recycle(spare: &Spare, records: Vec<Record>) {
    let mut spare = lock(spare);
    if spare.len() < 4 {
        spare.push(records);
    }
}

fn serve(
    store: &dyn ResultStore,
    run_id: &RunId,
    rx: &mpsc::Receiver<Message>,
    spare: &Spare,
    committed: &watch::Sender<u64>,
    refused: &CancellationToken,
) {
    let mut failed = Failed::default();
    while let Ok(message) = rx.recv() {
        match message {
            Message::Begin(run, reply) => {
                let _ = reply.send(store.begin_run(&run));
            }
            Message::Results(seq, records) => {
                let mut last = seq;
                save(store, run_id, records, spare, &mut failed, refused);
                // Then whatever else is queued, before telling how far the store is.
                let mut pending = None;
                while let Ok(next) = rx.try_recv() {
                    match next {
                        Message::Results(seq, more) => {
                            last = seq;
                            save(store, run_id, more, spare, &mut failed, refused);
                        }
                        other => {
                            pending = Some(other);
                            break;
                        }
                    }
                }
                // Failed saves count as done too: they are reported, and nothing waits forever.
                committed.send_replace(last);
                match pending {
                    Some(Message::Finish(run, reply)) => {
                        finish(store, &run, &mut failed);
                        let _ = reply.send(std::mem::take(&mut failed));
                    }
                    Some(Message::Begin(run, reply)) => {
                        let _ = reply.send(store.begin_run(&run));
                    }
                    _ => {}
                }
            }
            Message::Finish(run, reply) => {
                finish(store, &run, &mut failed);
                let _ = reply.send(std::mem::take(&mut failed));
            }
        }
    }
}

/// Saves a batch of records, [`SAVE_SLICE`] at a time: each slice is a small buffer that the
/// allocator hands out again, rather than fresh memory for the whole batch.
fn save(
    store: &dyn ResultStore,
    run_id: &RunId,
    mut records: Vec<Record>,
    spare: &Spare,
    failed: &mut Failed,
    refused: &CancellationToken,
) {
    let mut left = records.drain(..);
    loop {
        let mut idxs = Vec::new();
        let results: Vec<FlowResult> = left
            .by_ref()
            .take(SAVE_SLICE)
            .map(|record| {
                idxs.push(record.idx);
                to_result(run_id, record)
            })
            .collect();
        if results.is_empty() {
            break;
        }
        // The results go to the store (a memory store keeps them without a copy); their flows'
        // indices name them if it refuses them.
        if let Err(e) = store.save_results_owned(results) {
            tracing::error!(error = %e, store = %store.spec(), "saving results failed");
            failed.error(&e);
            failed.flows.append(&mut idxs);
            refused.cancel();
        }
    }
    drop(left);
    recycle(spare, records);
}

fn finish(store: &dyn ResultStore, run: &RunRecord, failed: &mut Failed) {
    if let Err(e) = store.finish_run(run) {
        tracing::error!(error = %e, store = %store.spec(), "finishing the run failed");
        failed.error(&e);
    }
}

fn to_result(run_id: &RunId, record: Record) -> FlowResult {
    let mut result = FlowResult::new(run_id.clone(), record.flow, record.status);
    if let Some(output) = record.output {
        result.output = Arc::unwrap_or_clone(output);
    }
    result.attempts = record.attempts;
    result.started_at = record.started_at;
    result.finished_at = record.finished_at;
    result.fingerprint =
        (record.fingerprint != 0).then(|| Fingerprint::from_u128(record.fingerprint));
    if let Some(detail) = record.detail {
        let detail = *detail;
        result.failure = detail.failure;
        result.exit_code = detail.exit_code;
        if !detail.stdout_tail.is_empty() {
            result.stdout_tail = Tail::new(detail.stdout_tail);
        }
        if !detail.stderr_tail.is_empty() {
            result.stderr_tail = Tail::new(detail.stderr_tail);
        }
    }
    result
}
