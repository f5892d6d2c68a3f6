//! Declared inputs that nothing provides: a path (not a glob) that no flow writes must exist
//! when its flow starts. The run's executor is wrapped so that such a flow fails before its
//! command starts, naming the path, the flow and where the input is written; the dry run
//! names it too. Only the flows that start are looked at: a run that finds everything up to
//! date reads no more files than before.

use std::sync::Arc;
use std::time::Duration;

use flow_core::{CancellationToken, CommandExecutor, CommandSpec, FlowId};
use flow_pool::{BoxFuture, CommandOutcome, PoolError, Prepare};
use rustc_hash::FxHashMap;

use crate::logs::env_value;
use crate::workflow::Workflow;

/// The flows of a workflow with declared inputs that no flow writes (each flow's
/// [`FlowDef::unwritten`](crate::workflow::FlowDef::unwritten)), read when one starts.
#[derive(Debug)]
pub struct Unwritten {
    wf: Arc<Workflow>,
    /// Per flow with such inputs: its index in the workflow's flows and its definition's.
    by_flow: FxHashMap<FlowId, (usize, usize)>,
}

impl Unwritten {
    /// The flows of `wf` with inputs that no flow writes.
    pub fn of(wf: &Arc<Workflow>) -> Self {
        let mut by_flow = FxHashMap::default();
        for (d, def) in wf.definitions.iter().enumerate() {
            for i in def.flows.clone() {
                let flow = &wf.flows[i];
                if !flow.unwritten.is_empty() {
                    by_flow.insert(flow.id.clone(), (i, d));
                }
            }
        }
        Unwritten {
            wf: Arc::clone(wf),
            by_flow,
        }
    }

    /// Whether no flow has such an input.
    pub fn is_empty(&self) -> bool {
        self.by_flow.is_empty()
    }

    /// Why `flow` cannot start now: the first of its inputs no flow writes that does not
    /// exist, or that is neither a file nor a folder (a FIFO, a socket, a device: reading it
    /// could block for ever or never end, so its flow could never be recorded). Reads the
    /// file system.
    pub fn problem(&self, flow: &str) -> Option<String> {
        let &(i, d) = self.by_flow.get(flow)?;
        let def = &self.wf.flows[i];
        let (k, what) = (def.unwritten.iter()).find_map(|&k| {
            let path = self.wf.dir.join(&def.inputs[k as usize]);
            let what = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() || meta.is_dir() => return None,
                Ok(_) => "is neither a file nor a folder",
                // A link that leads nowhere exists: it is read as a missing file.
                Err(_) if std::fs::symlink_metadata(&path).is_ok() => return None,
                Err(_) => "does not exist and no flow writes it",
            };
            Some((k as usize, what))
        })?;
        let path = &def.inputs[k];
        let place = self.wf.definitions[d].inputs_at.get(k);
        let place = place.map(ToString::to_string).unwrap_or_default();
        // Written as in make or Snakemake, `[ab]` meant a class of characters.
        let missing = what.starts_with("does not exist");
        let hint = if path.contains('[') && missing {
            "; in flow `[` and `]` are plain characters, not a class: write one input per file"
                .to_owned()
        } else if let Some(hint) =
            (flow_core::Data::found_in_cwd(&self.wf.dir, &def.cwd, path)).filter(|_| missing)
        {
            // Written as the command sees it, from its `cwd`.
            format!("; {hint}")
        } else if let Some(hint) = flow_core::Data::unexpanded(path).filter(|_| missing) {
            format!("; {hint}")
        } else {
            String::new()
        };
        Some(format!(
            "declared input `{path}` of flow `{flow}` {what} ({place}){hint}"
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
    fn run_prepared<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        prepare: Prepare,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        if let Some(message) = env_value(spec, "FLOW_ID").and_then(|f| self.unwritten.problem(f)) {
            return Box::pin(std::future::ready(Err(PoolError::Refused { message })));
        }
        self.inner.run_prepared(spec, timeout, cancel, prepare)
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        self.inner.settled()
    }
}
