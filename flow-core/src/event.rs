//! Events: what a run tells subscribers (flow started, attempt failed and retrying,
//! flow finished, run started and finished), each with a sequence number.

use std::time::Duration;

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{Failure, FlowStatus, RunId};
use tokio::sync::broadcast;

use crate::RunSummary;

/// One thing that happened in a run.
#[derive(Debug, Clone)]
pub struct Event {
    /// Increases by one with every event of the context (across runs), so a subscriber can
    /// order events and see gaps.
    pub seq: u64,
    /// The run it belongs to.
    pub run_id: RunId,
    /// When the driver saw it.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

/// What happened; see [`Event`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventKind {
    /// The run started with this many flows.
    RunStarted {
        /// The workflow name of the context.
        workflow: String,
        /// The number of flows registered when the run started.
        flows: usize,
        /// The run whose completed results are reused, if any.
        resumed_from: Option<RunId>,
    },
    /// An attempt of a flow started (all its parents have finished).
    FlowStarted {
        /// The flow.
        flow: FlowId,
        /// The attempt, 1 for the first.
        attempt: u32,
    },
    /// An attempt failed and another one will start after `retry_in`.
    AttemptFailed {
        /// The flow.
        flow: FlowId,
        /// The attempt that failed.
        attempt: u32,
        /// Why it failed.
        failure: Failure,
        /// The delay before the next attempt.
        retry_in: Duration,
    },
    /// A flow ended for this run: completed, failed (possibly without starting, behind a
    /// failed required parent) or cancelled.
    FlowFinished {
        /// The flow.
        flow: FlowId,
        /// How it ended (`Completed`, `Failed` or `Cancelled`).
        status: FlowStatus,
        /// Why it failed or was cancelled.
        failure: Option<Failure>,
        /// The number of attempts made (0 when it never started).
        attempts: u32,
        /// Whether its result was reused from the resumed run instead of running it.
        reused: bool,
    },
    /// The run ended; every flow has finished.
    RunFinished {
        /// The summary `run` returns.
        summary: RunSummary,
    },
}

impl EventKind {
    /// The flow the event is about, if any.
    pub fn flow(&self) -> Option<&FlowId> {
        match self {
            EventKind::FlowStarted { flow, .. }
            | EventKind::AttemptFailed { flow, .. }
            | EventKind::FlowFinished { flow, .. } => Some(flow),
            EventKind::RunStarted { .. } | EventKind::RunFinished { .. } => None,
        }
    }
}

/// Why [`EventReceiver::recv`] returned no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The receiver fell behind and this many events were dropped for it; the next call
    /// returns the oldest event still kept. Subscribe with a larger capacity
    /// ([`ContextBuilder::event_capacity`](crate::ContextBuilder::event_capacity)) to avoid it.
    #[error("the event receiver fell behind and missed {0} events")]
    Lagged(u64),
    /// The context is gone: no event will come any more.
    #[error("the flow context is gone; no more events")]
    Closed,
}

/// A subscription to the events of a context, from [`FlowContext::subscribe`](crate::FlowContext::subscribe).
/// It sees every event sent after it was made.
#[derive(Debug)]
pub struct EventReceiver {
    pub(crate) inner: broadcast::Receiver<Event>,
}

impl EventReceiver {
    /// The next event, waiting for it.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] when events were missed, [`RecvError::Closed`] when the context
    /// is gone.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        self.inner.recv().await.map_err(|error| match error {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }

    /// The events as a [`Stream`](futures::Stream) that ends when the context is gone; a
    /// gap (the receiver fell behind) is an `Err(RecvError::Lagged)` item.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Event, RecvError>> + Send {
        futures::stream::unfold(self, |mut receiver| async move {
            match receiver.recv().await {
                Err(RecvError::Closed) => None,
                item => Some((item, receiver)),
            }
        })
    }

    /// The next event if one is waiting, without waiting.
    ///
    /// # Errors
    /// As [`recv`](Self::recv); `Ok(None)` when no event is waiting.
    pub fn try_recv(&mut self) -> Result<Option<Event>, RecvError> {
        match self.inner.try_recv() {
            Ok(event) => Ok(Some(event)),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(broadcast::error::TryRecvError::Closed) => Err(RecvError::Closed),
        }
    }
}
