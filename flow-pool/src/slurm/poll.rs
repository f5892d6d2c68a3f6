//! The poller: one task per executor that watches every outstanding job of the executor
//! with ONE `squeue` call per poll cycle, whatever the number of jobs, publishes each job's
//! state to its waiting run on a `watch` channel, and sends all pending cancellations as
//! one `scancel` call per cycle.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::slurm::commands::{self, JobLine};
use crate::PoolError;

/// How long `squeue` may keep failing before the jobs it cannot see are given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// How many polls a freshly submitted job may be missing from `squeue` before it counts as
/// unknown (an adopted job counts as unknown at the first miss).
const FRESH_MISSES: u32 = 5;

/// How long the poller waits after a cancellation arrives for more to join the same
/// `scancel` call.
const CANCEL_BATCH_WINDOW: Duration = Duration::from_millis(20);

/// What the poller knows of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobView {
    /// Not polled yet.
    Waiting,
    /// Queued or running, as `squeue` last showed it (a change of state or of reason is
    /// published; a line that differs in nothing else replaces it silently).
    Live(JobLine),
    /// Ended, as `squeue` last showed it.
    Ended(JobLine),
    /// `squeue` does not know the job (purged, or never existed).
    Unknown,
    /// `squeue` kept failing; its complaint.
    Broken(String),
}

/// Counts of the Slurm commands issued by one executor.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sbatch: AtomicU64,
    pub(crate) squeue: AtomicU64,
    pub(crate) scancel: AtomicU64,
    pub(crate) cycles: AtomicU64,
    pub(crate) max_jobs_per_poll: AtomicU64,
}

/// A request to the poller task.
enum Request {
    /// Follow a job.
    Watch {
        job: u64,
        fresh: bool,
        view: watch::Sender<JobView>,
    },
    /// Cancel a job (it stays followed until it ended).
    Cancel(u64),
    /// Cancel every followed job and every job followed from now on; answer when none is
    /// left.
    CancelAll(oneshot::Sender<()>),
}

/// The handle of the poller task, started on first use (inside a tokio runtime), and again
/// when the runtime it ran in is gone (an executor kept in a static, or shared by tests that
/// each have a runtime).
#[derive(Debug)]
pub(crate) struct Poller {
    interval: Duration,
    counters: Arc<Counters>,
    tx: Mutex<Option<mpsc::UnboundedSender<Request>>>,
}

impl Poller {
    /// A poller polling every `interval`, counting into `counters`.
    pub(crate) fn new(interval: Duration, counters: Arc<Counters>) -> Self {
        Poller {
            interval,
            counters,
            tx: Mutex::new(None),
        }
    }

    /// The running poller task's sender, the task started first if there is none (or its
    /// runtime ended, which dropped it). Must be called inside a runtime.
    fn sender(&self) -> mpsc::UnboundedSender<Request> {
        let mut slot = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = slot.as_ref().filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let tx = {
            let (tx, rx) = mpsc::unbounded_channel();
            let task = Task {
                rx,
                interval: self.interval,
                counters: Arc::clone(&self.counters),
                jobs: HashMap::new(),
                cancels: BTreeSet::new(),
                cancel_everything: false,
                idle_waiters: Vec::new(),
                failing_since: None,
            };
            tokio::spawn(task.serve());
            tx
        };
        *slot = Some(tx.clone());
        tx
    }

    /// Follows `job`; the receiver sees its state change. `fresh` for a job just submitted
    /// (which may take a poll or two to show up), not for one adopted from an earlier run.
    pub(crate) fn watch(&self, job: u64, fresh: bool) -> watch::Receiver<JobView> {
        let (view, rx) = watch::channel(JobView::Waiting);
        if self
            .sender()
            .send(Request::Watch { job, fresh, view })
            .is_err()
        {
            tracing::warn!(
                job,
                "the Slurm poller has stopped; the job cannot be followed"
            );
        }
        rx
    }

    /// Asks for `job` to be cancelled in the next cycle (starting the poller inside a
    /// runtime). Never blocks; usable in `Drop`.
    pub(crate) fn cancel(&self, job: u64) {
        let tx = if tokio::runtime::Handle::try_current().is_ok() {
            Some(self.sender())
        } else {
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        };
        match tx {
            Some(tx) if tx.send(Request::Cancel(job)).is_ok() => {}
            _ => tracing::warn!(
                "the Slurm poller has stopped and cannot cancel Slurm job {job}: cancel it with \
                 `scancel {job}`"
            ),
        }
    }

    /// Cancels every followed job, and every job followed from now on, and waits until none
    /// is left queued, running or completing.
    pub(crate) async fn cancel_all(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender().send(Request::CancelAll(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// A followed job.
struct Watched {
    view: watch::Sender<JobView>,
    fresh: bool,
    misses: u32,
}

/// The poller task's state.
struct Task {
    rx: mpsc::UnboundedReceiver<Request>,
    interval: Duration,
    counters: Arc<Counters>,
    jobs: HashMap<u64, Watched>,
    cancels: BTreeSet<u64>,
    cancel_everything: bool,
    idle_waiters: Vec<oneshot::Sender<()>>,
    failing_since: Option<Instant>,
}

impl Task {
    async fn serve(mut self) {
        let mut open = true;
        loop {
            if self.jobs.is_empty() && self.cancels.is_empty() {
                for waiter in self.idle_waiters.drain(..) {
                    let _ = waiter.send(());
                }
                if !open {
                    return;
                }
                match self.rx.recv().await {
                    Some(request) => self.apply(request),
                    None => open = false,
                }
                continue;
            }
            if open {
                open = self.wait_interval().await;
            } else {
                tokio::time::sleep(self.interval).await;
            }
            self.cycle().await;
        }
    }

    /// Takes requests for one interval, or less once a cancellation arrived (after a short
    /// window in which more cancellations join it). Returns whether the channel is open.
    async fn wait_interval(&mut self) -> bool {
        let tick = tokio::time::sleep(self.interval);
        tokio::pin!(tick);
        let mut cancel_deadline: Option<tokio::time::Instant> = None;
        loop {
            if cancel_deadline.is_none() && !self.cancels.is_empty() {
                let window = tokio::time::Instant::now() + CANCEL_BATCH_WINDOW;
                cancel_deadline = Some(window.min(tick.deadline()));
            }
            let cancel_due = async {
                match cancel_deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = &mut tick => return true,
                () = cancel_due => return true,
                request = self.rx.recv() => match request {
                    Some(request) => self.apply(request),
                    None => return false,
                },
            }
        }
    }

    fn apply(&mut self, request: Request) {
        match request {
            Request::Watch { job, fresh, view } => {
                if self.cancel_everything {
                    self.cancels.insert(job);
                }
                self.jobs.insert(
                    job,
                    Watched {
                        view,
                        fresh,
                        misses: 0,
                    },
                );
            }
            Request::Cancel(job) => {
                self.cancels.insert(job);
            }
            Request::CancelAll(done) => {
                self.cancel_everything = true;
                self.cancels.extend(self.jobs.keys().copied());
                self.idle_waiters.push(done);
            }
        }
    }

    /// One poll cycle: at most one `scancel` (for all pending cancellations) and one
    /// `squeue` (for all followed jobs).
    async fn cycle(&mut self) {
        self.counters.cycles.fetch_add(1, Ordering::Relaxed);
        if !self.cancels.is_empty() {
            let ids: Vec<String> = std::mem::take(&mut self.cancels)
                .into_iter()
                .map(|job| job.to_string())
                .collect();
            self.counters.scancel.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(jobs = %ids.join(","), "scancel");
            match commands::run("scancel", &ids, None).await {
                Ok(out) if out.success => {}
                // Jobs that already ended are refused by name; the others were cancelled.
                Ok(out) => tracing::debug!(
                    complaint = %commands::complaint("scancel", &out.stderr),
                    "scancel complained"
                ),
                Err(error) => tracing::warn!(%error, "could not run scancel"),
            }
        }
        if self.jobs.is_empty() {
            return;
        }
        let mut ids: Vec<u64> = self.jobs.keys().copied().collect();
        ids.sort_unstable();
        self.counters.squeue.fetch_add(1, Ordering::Relaxed);
        self.counters
            .max_jobs_per_poll
            .fetch_max(ids.len() as u64, Ordering::Relaxed);
        let answer = commands::run("squeue", &commands::squeue_args(&ids), None).await;
        let lines = match answer {
            Ok(out) if out.success => commands::parse_squeue(&out.stdout),
            Ok(out) if commands::only_unknown_jobs(&out.stderr) => Vec::new(),
            Ok(out) => {
                let complaint = commands::complaint("squeue", &out.stderr);
                self.squeue_failed(complaint, false);
                return;
            }
            Err(error) => {
                let not_installed = matches!(
                    &error,
                    PoolError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound
                );
                self.squeue_failed(error.to_string(), not_installed);
                return;
            }
        };
        self.failing_since = None;
        self.publish(lines);
    }

    fn publish(&mut self, lines: Vec<JobLine>) {
        let mut seen = BTreeSet::new();
        for line in lines {
            let job = line.job;
            let Some(watched) = self.jobs.get_mut(&job) else {
                continue;
            };
            seen.insert(job);
            watched.misses = 0;
            if line.state.is_ended() {
                watched.view.send_replace(JobView::Ended(line));
                self.jobs.remove(&job);
            } else {
                watched.view.send_if_modified(|view| {
                    let changed = !matches!(view, JobView::Live(old)
                        if old.state == line.state && old.reason == line.reason);
                    *view = JobView::Live(line);
                    changed
                });
            }
        }
        self.jobs.retain(|job, watched| {
            if seen.contains(job) {
                return true;
            }
            watched.misses += 1;
            let allowed = if watched.fresh { FRESH_MISSES } else { 1 };
            if watched.misses >= allowed {
                tracing::debug!(job, "squeue does not know the job");
                watched.view.send_replace(JobView::Unknown);
                false
            } else {
                true
            }
        });
    }

    fn squeue_failed(&mut self, complaint: String, give_up_now: bool) {
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        tracing::warn!(%complaint, "squeue failed");
        if give_up_now || since.elapsed() >= GIVE_UP_AFTER {
            for (_, watched) in self.jobs.drain() {
                watched
                    .view
                    .send_replace(JobView::Broken(complaint.clone()));
            }
            self.failing_since = None;
        }
    }
}
