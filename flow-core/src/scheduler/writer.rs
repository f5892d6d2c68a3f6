//! The result-store writer: a dedicated thread that turns the scheduler's records into
//! `FlowResult`s and saves them in batches, so the store is never on the scheduler's hot path.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{
    Failure, Fingerprint, FlowResult, FlowStatus, ResultStore, RunId, RunRecord, Tail,
};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

/// At most this many store errors are kept for the summary.
const MAX_ERRORS: usize = 20;
/// At most this many results are saved in one call, which bounds the writer's memory.
const MAX_SAVE: usize = 4096;

/// A flow's state to save: what the scheduler knows, in a form cheap to make.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) flow: FlowId,
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

/// Emptied record batches, handed back to the scheduler so that a batch is not a fresh
/// allocation each time.
type Spare = Arc<Mutex<Vec<Vec<Record>>>>;

enum Message {
    Begin(
        RunRecord,
        oneshot::Sender<Result<(), flow_results::StoreError>>,
    ),
    /// A batch with its sequence number (1, 2, ...).
    Results(u64, Vec<Record>),
    Finish(RunRecord, oneshot::Sender<Vec<String>>),
}

/// The scheduler's end of the writer.
///
/// A persistent store is only ever called on the writer thread, never on the scheduler's.
/// A store that keeps nothing across a crash (memory) is cheap to call, so a small batch is
/// saved on the caller's thread when nothing is queued before it: a run of commands that
/// finish one by one then wakes no thread per flow. The thread is started for such a store
/// only when a big batch comes.
#[derive(Debug)]
pub(crate) struct Writer {
    store: Arc<dyn ResultStore>,
    run_id: RunId,
    thread: Option<mpsc::Sender<Message>>,
    spare: Spare,
    /// Sequence number of the last batch handed to the thread.
    sent: u64,
    /// Sequence number of the last batch the store has committed.
    committed: watch::Receiver<u64>,
    /// The sending end of `committed`, until the thread takes it.
    done: Option<watch::Sender<u64>>,
    /// Store errors of the batches saved here, not on the thread.
    errors: Vec<String>,
    /// The largest batch saved in place (non-persistent stores only).
    inline_max: usize,
}

/// Results are converted and saved in place this many at a time.
const INLINE_SLICE: usize = 64;
/// Records handed to the writer thread at a time (at least; fewer when the loop waits).
const THREAD_BATCH: usize = 2048;
/// At most this many records are saved on the caller's thread at once, in a large run.
const INLINE_MAX: usize = 64;
/// A run of fewer flows than this saves every batch of a non-persistent store in place: the
/// thread (its start, its own heap, records crossing cores) costs more than the saving it
/// would overlap, about 200 ns a result.
const SMALL_RUN: usize = 32_768;

/// Whether a run of `flows` flows is small enough that a non-persistent store takes every
/// batch in place (see [`SMALL_RUN`]).
fn small_run(flows: usize) -> bool {
    flows < SMALL_RUN
}

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
    /// The writer of `run_id`, a run of `flows` flows; its thread starts now for a persistent
    /// store.
    pub(crate) fn start(
        store: Arc<dyn ResultStore>,
        run_id: RunId,
        flows: usize,
    ) -> std::io::Result<Self> {
        let (done, committed) = watch::channel(0);
        let mut writer = Writer {
            store,
            run_id,
            thread: None,
            spare: Spare::default(),
            sent: 0,
            committed,
            done: Some(done),
            errors: Vec::new(),
            inline_max: if small_run(flows) {
                usize::MAX
            } else {
                INLINE_MAX
            },
        };
        if writer.store.persistent() {
            writer.start_thread()?;
        }
        Ok(writer)
    }

    /// How many records the scheduler gathers before it hands them over, for a run of `flows`
    /// flows saved in `store`: a slice at a time when they are saved in place (the batch is
    /// then small and stays in cache), more for the thread, which takes each batch through a
    /// channel.
    pub(crate) fn batch_size(store: &dyn ResultStore, flows: usize) -> usize {
        if !store.persistent() && small_run(flows) {
            INLINE_SLICE
        } else {
            THREAD_BATCH
        }
    }

    fn start_thread(&mut self) -> std::io::Result<()> {
        let (Some(done), None) = (self.done.take(), &self.thread) else {
            return Ok(());
        };
        let (tx, rx) = mpsc::channel();
        let (store, run_id) = (Arc::clone(&self.store), self.run_id.clone());
        let returned = Arc::clone(&self.spare);
        std::thread::Builder::new()
            .name("flow-store-writer".into())
            .spawn(move || serve(&*store, &run_id, &rx, &returned, &done))?;
        self.thread = Some(tx);
        Ok(())
    }

    /// An empty batch with room for `capacity` records, recycled when possible.
    pub(crate) fn batch(&self, capacity: usize) -> Vec<Record> {
        let recycled = crate::context::lock(&self.spare).pop();
        recycled.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// Records the run as begun, before any result; the answer comes on the receiver.
    pub(crate) fn begin(
        &self,
        run: RunRecord,
    ) -> oneshot::Receiver<Result<(), flow_results::StoreError>> {
        let (reply, answer) = oneshot::channel();
        match &self.thread {
            Some(tx) => {
                let _ = tx.send(Message::Begin(run, reply));
            }
            None => {
                let _ = reply.send(self.store.begin_run(&run));
            }
        }
        answer
    }

    /// Queues records to save (or saves a small batch of a non-persistent store at once).
    pub(crate) fn save(&mut self, mut records: Vec<Record>) {
        let idle = *self.committed.borrow() == self.sent;
        if !self.store.persistent() && records.len() <= self.inline_max && idle {
            // In slices, so the buffer of results is small and reused rather than fresh memory.
            let mut records_left = records.drain(..);
            loop {
                let results: Vec<FlowResult> = records_left
                    .by_ref()
                    .take(INLINE_SLICE)
                    .map(|r| to_result(&self.run_id, r))
                    .collect();
                if results.is_empty() {
                    break;
                }
                if let Err(e) = self.store.save_results_owned(results) {
                    tracing::error!(error = %e, store = %self.store.spec(), "saving results failed");
                    if self.errors.len() < MAX_ERRORS {
                        self.errors.push(e.to_string());
                    }
                }
            }
            drop(records_left);
            recycle(&self.spare, records);
            return;
        }
        if let Err(e) = self.start_thread() {
            tracing::error!(error = %e, "cannot start the result-store writer thread");
            self.errors
                .push(format!("cannot start the result-store writer thread: {e}"));
            return;
        }
        if let Some(tx) = &self.thread {
            self.sent += 1;
            let _ = tx.send(Message::Results(self.sent, records));
        }
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

    /// Saves the run's final record after every queued result; returns the store errors.
    pub(crate) async fn finish(self, run: RunRecord) -> Vec<String> {
        let mut errors = self.errors;
        match self.thread {
            Some(tx) => {
                let (reply, answer) = oneshot::channel();
                if tx.send(Message::Finish(run, reply)).is_err() {
                    errors.push("the result-store writer thread is gone".to_owned());
                    return errors;
                }
                match answer.await {
                    Ok(more) => errors.extend(more),
                    Err(_) => errors.push("the result-store writer thread is gone".to_owned()),
                }
            }
            None => finish(&*self.store, &run, &mut errors),
        }
        errors
    }
}

/// Hands an emptied batch back for reuse (a few are kept).
fn recycle(spare: &Spare, records: Vec<Record>) {
    let mut spare = crate::context::lock(spare);
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
) {
    let mut errors = Vec::new();
    let mut results = Vec::new();
    let convert = |results: &mut Vec<FlowResult>, mut records: Vec<Record>| {
        results.extend(records.drain(..).map(|r| to_result(run_id, r)));
        recycle(spare, records);
    };
    while let Ok(message) = rx.recv() {
        match message {
            Message::Begin(run, reply) => {
                let _ = reply.send(store.begin_run(&run));
            }
            Message::Results(seq, records) => {
                let mut last = seq;
                results.clear();
                convert(&mut results, records);
                // Take whatever else is queued, to save it in one call.
                let mut pending = None;
                while results.len() < MAX_SAVE {
                    let Ok(next) = rx.try_recv() else {
                        break;
                    };
                    match next {
                        Message::Results(seq, more) => {
                            last = seq;
                            convert(&mut results, more);
                        }
                        other => {
                            pending = Some(other);
                            break;
                        }
                    }
                }
                if let Err(e) = store.save_results_owned(std::mem::take(&mut results)) {
                    tracing::error!(error = %e, store = %store.spec(), "saving results failed");
                    if errors.len() < MAX_ERRORS {
                        errors.push(e.to_string());
                    }
                }
                // Failed saves count as done too: they are reported, and nothing waits forever.
                committed.send_replace(last);
                match pending {
                    Some(Message::Finish(run, reply)) => {
                        finish(store, &run, &mut errors);
                        let _ = reply.send(std::mem::take(&mut errors));
                    }
                    Some(Message::Begin(run, reply)) => {
                        let _ = reply.send(store.begin_run(&run));
                    }
                    _ => {}
                }
            }
            Message::Finish(run, reply) => {
                finish(store, &run, &mut errors);
                let _ = reply.send(std::mem::take(&mut errors));
            }
        }
    }
}

fn finish(store: &dyn ResultStore, run: &RunRecord, errors: &mut Vec<String>) {
    if let Err(e) = store.finish_run(run) {
        tracing::error!(error = %e, store = %store.spec(), "finishing the run failed");
        if errors.len() < MAX_ERRORS {
            errors.push(e.to_string());
        }
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
