//! Declared inputs that nothing provides: a path (not a glob) that no flow writes must exist
//! when its flow starts. The run's executor is wrapped so that such a flow fails before its
//! command starts, naming the path, the flow and where the input is written; the dry run
//! names it too. Only the flows that start are looked at: a run that finds everything up to
//! date reads no more files than before.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flow_core::{CancellationToken, CommandExecutor, CommandSpec, FlowId};
use flow_pool::{BoxFuture, CommandOutcome, PoolError};
use rustc_hash::FxHashMap;

use crate::logs::env_value;
use crate::workflow::Workflow;

/// Per flow, its declared inputs that no flow writes, each with where it is written.
#[derive(Debug, Default)]
pub struct Unwritten {
    dir: PathBuf,
    by_flow: FxHashMap<FlowId, Vec<(String, Arc<str>)>>,
}

impl Unwritten {
    /// The inputs of `wf`'s flows that no flow writes.
    pub fn of(wf: &Workflow) -> Self {
        let mut by_flow = FxHashMap::default();
        for def in &wf.definitions {
            let at: Vec<Arc<str>> = def
                .inputs_at
                .iter()
                .map(|s| Arc::from(s.as_str()))
                .collect();
            for flow in &wf.flows[def.flows.clone()] {
                if flow.unwritten.is_empty() {
                    continue;
                }
                let inputs = (flow.unwritten.iter())
                    .map(|&k| {
                        let place = at.get(k as usize).cloned().unwrap_or_else(|| Arc::from(""));
                        (flow.inputs[k as usize].clone(), place)
                    })
                    .collect();
                by_flow.insert(flow.id.clone(), inputs);
            }
        }
        Unwritten {
            dir: wf.dir.clone(),
            by_flow,
        }
    }

    /// Whether no flow has such an input.
    pub fn is_empty(&self) -> bool {
        self.by_flow.is_empty()
    }

    /// Why `flow` cannot start now: the first of its inputs no flow writes that does not
    /// exist (reads the file system).
    pub fn problem(&self, flow: &str) -> Option<String> {
        let inputs = self.by_flow.get(flow)?;
        let (path, place) = inputs
            .iter()
            .find(|(path, _)| std::fs::symlink_metadata(self.dir.join(path)).is_err())?;
        Some(format!(
            "declared input `{path}` of flow `{flow}` does not exist and no flow writes it ({place})"
        ))
    }
}

/// The run's executor, wrapped: a command whose flow has a declared input that does not
/// exist and that no flow writes is refused ([`PoolError::Refused`]) instead of started.
#[derive(Debug)]
pub struct CheckInputs {
    inner: Arc<dyn CommandExecutor>,
    unwritten: Unwritten,
}

impl CheckInputs {
    /// `inner`, refusing the commands of flows whose `unwritten` inputs are missing.
    pub fn new(inner: Arc<dyn CommandExecutor>, unwritten: Unwritten) -> Self {
        CheckInputs { inner, unwritten }
    }
}

impl CommandExecutor for CheckInputs {
    fn run<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        if let Some(message) = env_value(spec, "FLOW_ID").and_then(|f| self.unwritten.problem(f)) {
            return Box::pin(std::future::ready(Err(PoolError::Refused { message })));
        }
        self.inner.run(spec, timeout, cancel)
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        self.inner.settled()
    }
}
