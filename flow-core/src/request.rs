//! `Request`: what a `FlowContext` asks of the driver of the run in progress, and
//! `ActiveRun`, the registry's handle on that run.

use flow_graph::DependencyType;
use flow_results::RunId;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{CoreError, Flow};

/// A request to the driver of the active run.
#[derive(Debug)]
pub(crate) enum Request {
    /// A flow registered during the run, with its parents by index.
    Register {
        idx: u32,
        flow: Box<Flow>,
        parents: Vec<(u32, DependencyType)>,
    },
    /// Cancel one flow.
    Cancel(u32),
    /// Cancel the whole run.
    CancelAll,
    /// Fail one flow with a reason.
    Fail {
        idx: u32,
        reason: String,
        reply: oneshot::Sender<Result<(), CoreError>>,
    },
}

/// The run in progress.
#[derive(Debug)]
pub(crate) struct ActiveRun {
    pub(crate) run_id: RunId,
    pub(crate) requests: mpsc::UnboundedSender<Request>,
    /// Closed when the run's driver is gone: every attempt of the run has ended (its
    /// processes reaped) or been dropped.
    pub(crate) gone: watch::Receiver<()>,
}
