//! The result-store writer: the one path from a finished flow to the store. A dedicated thread
//! turns the driver's records into `FlowResult`s and saves them in batches, whatever the store
//! and the size of the run, so the store is never called on the driver's thread. The thread
//! starts with the context's first run, before the run sets up, and serves each of its runs
//! in turn: it is up and asleep when the first results come, and is woken at once.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{
    Failure, Fingerprint, FlowResult, FlowStatus, ResultStore, RunId, RunRecord, StoreError, Tail,
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

    /// Keeps `error`, unless the same was kept already (a store that refuses one write
    /// refuses the next for the same reason).
    fn error(&mut self, error: &StoreError) {
        let error = error.to_string();
        if self.errors.len() < MAX_ERRORS && !self.errors.contains(&error) {
            self.errors.push(error);
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
    /// A run begins: the results that follow are its own, until the next run begins.
    Begin(
        Box<Run>,
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

/// Records handed to the writer thread at a time (at least; fewer when the driver waits). Each
/// hand-over wakes the thread, which on a busy machine can take the driver's core: a few large
/// hand-overs cost less than many small ones.
pub(crate) const BATCH: usize = 2048;

/// A point in the writer's queue to wait for: every batch queued before it is committed.
#[derive(Debug, Clone)]
pub(crate) struct Durable {
    committed: watch::Receiver<u64>,
    target: u64,
}

impl Durable {
    /// Returns once every batch queued before this point is committed: true, or false when
    /// the writer is gone first (they may never be).
    pub(crate) async fn wait(mut self) -> bool {
        let target = self.target;
        self.committed
            .wait_for(|&done| done >= target)
            .await
            .is_ok()
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

/// The run the thread saves results of: what it reports to that run's driver. Dropped by a
/// panic of the thread (a bug), it tells the run to stop: what it does next would be lost.
struct Run {
    run_id: RunId,
    /// The sequence number of the last batch committed.
    committed: watch::Sender<u64>,
    /// Cancelled when the store refuses a batch.
    refused: CancellationToken,
    failed: Failed,
    /// Whether the store refused to begin the run: then nothing of it is written, since its
    /// id may name another run, whose results and record it would replace.
    not_begun: bool,
}

impl Drop for Run {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.refused.cancel();
        }
    }
}

/// The writer thread of a context, started by its first run; it ends once the context is gone.
#[derive(Debug)]
pub(crate) struct WriterThread {
    store: Arc<dyn ResultStore>,
    /// The way to the thread, once started.
    thread: Mutex<Option<mpsc::Sender<Message>>>,
    spare: Spare,
}

impl WriterThread {
    /// The writer thread of `store`, not started yet.
    pub(crate) fn new(store: Arc<dyn ResultStore>) -> Self {
        WriterThread {
            store,
            thread: Mutex::new(None),
            spare: Spare::default(),
        }
    }

    /// Starts the thread if it is not running. A run calls this first, so that the thread is
    /// up, and asleep, before the run's first results come.
    pub(crate) fn start(&self) -> std::io::Result<()> {
        let mut thread = lock(&self.thread);
        if thread.is_none() {
            *thread = Some(spawn(&self.store, &self.spare)?);
        }
        Ok(())
    }

    /// Begins run `record.run_id` in the store, before any of its results: its writer, and the
    /// store's answer on the receiver. A thread that is not running (not started, or gone
    /// after a store panicked) is started.
    pub(crate) fn begin(
        &self,
        record: RunRecord,
    ) -> std::io::Result<(
        Writer,
        oneshot::Receiver<Result<(), flow_results::StoreError>>,
    )> {
        let (done, committed) = watch::channel(0);
        let refused = CancellationToken::new();
        let (reply, answer) = oneshot::channel();
        let run = Box::new(Run {
            run_id: record.run_id.clone(),
            committed: done,
            refused: refused.clone(),
            failed: Failed::default(),
            not_begun: false,
        });
        let message = Message::Begin(run, record, reply);
        let mut thread = lock(&self.thread);
        let tx = match thread.take() {
            Some(tx) => match tx.send(message) {
                Ok(()) => tx,
                Err(mpsc::SendError(message)) => self.restart(message)?,
            },
            None => self.restart(message)?,
        };
        *thread = Some(tx.clone());
        drop(thread);
        let writer = Writer {
            thread: tx,
            spare: Arc::clone(&self.spare),
            sent: 0,
            committed,
            refused,
        };
        Ok((writer, answer))
    }

    /// Starts a new thread with `message` first.
    fn restart(&self, message: Message) -> std::io::Result<mpsc::Sender<Message>> {
        let tx = spawn(&self.store, &self.spare)?;
        // Just started: it is there to receive.
        let _ = tx.send(message);
        Ok(tx)
    }
}

/// Starts a writer thread saving to `store`.
fn spawn(store: &Arc<dyn ResultStore>, spare: &Spare) -> std::io::Result<mpsc::Sender<Message>> {
    let (tx, rx) = mpsc::channel();
    let store = Arc::clone(store);
    let spare = Arc::clone(spare);
    std::thread::Builder::new()
        .name("flow-store-writer".into())
        .spawn(move || serve(&*store, &rx, &spare))?;
    Ok(tx)
}

impl Writer {
    /// An empty batch with room for [`BATCH`] records, recycled when possible.
    pub(crate) fn batch(&self) -> Vec<Record> {
        let recycled = lock(&self.spare).pop();
        recycled.unwrap_or_else(|| Vec::with_capacity(BATCH))
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

    /// The point after every batch queued so far: a waiter for flows that ended waits for it
    /// before it reads their results from the store.
    pub(crate) fn durable(&self) -> Durable {
        Durable {
            committed: self.committed.clone(),
            target: self.sent,
        }
    }

    /// The sequence number of the last batch queued (0 before the first).
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    /// The point after batch `seq`, or `None` when the store has committed it already. A
    /// command flow waits for the point after its parents' records before it starts, so they
    /// are in the store before it can have effects, and a resume after SIGKILL never runs a
    /// completed parent again; it need not wait for the records of other flows.
    pub(crate) fn durable_after(&self, seq: u64) -> Option<Durable> {
        (*self.committed.borrow() < seq).then(|| Durable {
            committed: self.committed.clone(),
            target: seq,
        })
    }

    /// Saves the run's final record after every queued result; returns what failed.
    pub(crate) async fn finish(self, run: RunRecord) -> Failed {
        let (reply, answer) = oneshot::channel();
        if self.thread.send(Message::Finish(run, reply)).is_err() {
            return Failed::gone();
        }
        answer.await.unwrap_or_else(|_| Failed::gone())
    }

    /// Queues the run's final record after every queued result, without waiting for it (a
    /// dropped run's driver cannot wait).
    pub(crate) fn finish_detached(self, run: RunRecord) {
        let (reply, _) = oneshot::channel();
        let _ = self.thread.send(Message::Finish(run, reply));
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

fn serve(store: &dyn ResultStore, rx: &mpsc::Receiver<Message>, spare: &Spare) {
    let mut run: Option<Box<Run>> = None;
    let mut pending = None;
    loop {
        let message = match pending.take() {
            Some(message) => message,
            None => match rx.recv() {
                Ok(message) => message,
                // The context is gone.
                Err(_) => return,
            },
        };
        match message {
            Message::Begin(mut begun, record, reply) => {
                let answer = guard(store, "begin a run", || store.begin_run(&record));
                begun.not_begun = answer.is_err();
                let _ = reply.send(answer);
                run = Some(begun);
            }
            Message::Results(seq, records) => {
                // A run begins before its results: there is always one here.
                let Some(run) = run.as_deref_mut() else {
                    continue;
                };
                let mut last = seq;
                let mut records = records;
                // Whatever else is queued goes in the same save (one transaction of a
                // database store, however many hand-overs the driver made while it waited),
                // up to a full batch at a time.
                while records.len() < BATCH {
                    match rx.try_recv() {
                        Ok(Message::Results(seq, mut more)) => {
                            last = seq;
                            records.append(&mut more);
                            recycle(spare, more);
                        }
                        Ok(other) => {
                            pending = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if run.not_begun {
                    // The run stops; its results are not saved.
                    run.failed
                        .flows
                        .extend(records.iter().map(|record| record.idx));
                    records.clear();
                    recycle(spare, records);
                } else {
                    save(store, run, records, spare);
                }
                // Failed saves count as done too: they are reported, and nothing waits forever.
                run.committed.send_replace(last);
            }
            Message::Finish(record, reply) => {
                let run = run.take();
                let begun = run.as_ref().is_none_or(|run| !run.not_begun);
                let mut failed = run
                    .map(|mut run| std::mem::take(&mut run.failed))
                    .unwrap_or_default();
                if !begun {
                    let _ = reply.send(failed);
                    continue;
                }
                if let Err(e) = guard(store, "finish a run", || store.finish_run(&record)) {
                    tracing::error!(error = %e, store = %store.spec(), "finishing the run failed");
                    failed.error(&e);
                }
                let _ = reply.send(failed);
            }
        }
    }
}

/// Saves a batch of records, [`SAVE_SLICE`] at a time: each slice is a small buffer that the
/// allocator hands out again, rather than fresh memory for the whole batch.
fn save(store: &dyn ResultStore, run: &mut Run, mut records: Vec<Record>, spare: &Spare) {
    let mut left = records.drain(..);
    loop {
        let mut idxs = Vec::new();
        let results: Vec<FlowResult> = left
            .by_ref()
            .take(SAVE_SLICE)
            .map(|record| {
                idxs.push(record.idx);
                to_result(&run.run_id, record)
            })
            .collect();
        if results.is_empty() {
            break;
        }
        // The results go to the store (a memory store keeps them without a copy); their flows'
        // indices name them if it refuses them.
        if let Err(e) = guard(store, "save results", || store.save_results_owned(results)) {
            tracing::error!(error = %e, store = %store.spec(), "saving results failed");
            run.failed.error(&e);
            run.failed.flows.append(&mut idxs);
            run.refused.cancel();
        }
    }
    drop(left);
    recycle(spare, records);
}

/// Calls the store; a panic in it (a bug of the store) is an error like any other, so the
/// thread goes on and the run is told what was not saved.
fn guard<T>(
    store: &dyn ResultStore,
    action: &'static str,
    call: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        Err(StoreError::Panicked {
            store: store.spec(),
            action,
            message: flow_pool::panic_message(panic.as_ref()),
        })
    })
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
