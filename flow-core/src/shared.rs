//! What every handle of a context shares: the registry, the board of statuses, the events
//! channel, the settings, the writer thread, and the handle of the run in progress.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use flow_pool::{CommandExecutor, ProcessPool, ThreadExecutor};
use flow_results::{FlowStatus, ResultStore, RunId};
use tokio::sync::{broadcast, watch};

use crate::registry::Registry;
use crate::writer::{Durable, WriterThread};

/// Each flow's status, by index, as last published.
#[derive(Debug, Default)]
pub(crate) struct Board {
    /// The run whose driver may publish here.
    pub(crate) run: Option<RunId>,
    pub(crate) states: Vec<FlowStatus>,
    /// Some end is published ahead of its record (a failure, so that a flow registered
    /// during the run is checked against it): its record is not with the writer yet.
    pub(crate) unsaved: bool,
    /// The writer's point after the records of every status published here: once it is
    /// reached, they are in the store.
    pub(crate) durable: Option<Durable>,
    /// Bumped by `cleanup`, which forgets every flow: a waiter from before it stops.
    pub(crate) generation: u64,
}

/// What every handle of a context shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) registry: Mutex<Registry>,
    pub(crate) board: Mutex<Board>,
    /// Bumped after every change of the board.
    pub(crate) board_changed: watch::Sender<u64>,
    /// Made by the first `subscribe`: the channel's ring of `event_capacity` slots is worth
    /// allocating only when someone listens.
    pub(crate) events: OnceLock<broadcast::Sender<crate::Event>>,
    pub(crate) event_capacity: usize,
    pub(crate) event_seq: AtomicU64,
    pub(crate) options: Options,
    pub(crate) threads: Mutex<Option<ThreadExecutor>>,
    /// The one path of results to the store.
    pub(crate) writer: WriterThread,
}

/// The settings of a context; see [`ContextBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) jobs: usize,
    pub(crate) store: Arc<dyn ResultStore>,
    pub(crate) workflow: String,
    pub(crate) log_dir: Option<PathBuf>,
    pub(crate) command_executor: Arc<dyn CommandExecutor>,
    pub(crate) threads: usize,
    pub(crate) process_pool: Option<ProcessPool>,
    pub(crate) pool_grace: Duration,
}

impl Options {
    /// Refuses a task flow whose task the process pool's registry lacks (with no pool, the
    /// flow fails when it runs, saying so).
    pub(crate) fn check_task(&self, flow: &crate::Flow) -> Result<(), crate::CoreError> {
        let (Some(task), Some(pool)) = (flow.task_name(), &self.process_pool) else {
            return Ok(());
        };
        if pool.registry().contains(task) {
            return Ok(());
        }
        Err(crate::CoreError::UnknownTask {
            flow: flow.id.clone(),
            task: task.to_owned(),
            known: pool.registry().names().map(str::to_owned).collect(),
        })
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The largest ring of events a context keeps for its subscribers.
pub(crate) const MAX_EVENT_CAPACITY: usize = 1 << 20;

impl Shared {
    /// The event channel, made on first use.
    pub(crate) fn events(&self) -> &broadcast::Sender<crate::Event> {
        self.events
            .get_or_init(|| broadcast::channel(self.event_capacity).0)
    }

    /// Whether anyone listens to events (without making the channel).
    pub(crate) fn has_listeners(&self) -> bool {
        self.events.get().is_some_and(|tx| tx.receiver_count() > 0)
    }

    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    pub(crate) fn board(&self) -> MutexGuard<'_, Board> {
        lock(&self.board)
    }

    /// The thread executor, started on first use.
    pub(crate) fn threads(&self) -> Result<ThreadExecutor, flow_pool::PoolError> {
        let mut threads = lock(&self.threads);
        if let Some(t) = &*threads {
            return Ok(t.clone());
        }
        let t = ThreadExecutor::new(self.options.threads)?;
        *threads = Some(t.clone());
        Ok(t)
    }
}
