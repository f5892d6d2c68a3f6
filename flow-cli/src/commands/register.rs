//! The flows of a workflow file as flow-core flows: one command flow per flow, then every
//! dependency ([`register`]).

use std::path::Path;
use std::sync::Arc;

use flow_core::{CommandSpec, DependencyType, Flow, FlowContext, RetryPolicy};

use crate::commands::fresh;
use crate::error::CliError;
use crate::terminal;
use crate::workflow::{Action, FlowDef, Workflow};

/// How many bytes of each stream a flow keeps in memory for the summary (the log files keep
/// everything).
const TAIL_BYTES: usize = 8 * 1024;

/// Registers one command flow per workflow flow, then every dependency in one batch.
pub(super) fn register(ctx: &FlowContext, wf: &Workflow) -> Result<(), CliError> {
    let home: Arc<Path> = Arc::from(wf.dir.as_path());
    ctx.register_flows(wf.flows.iter().map(|def| flow(def, wf, &home)))
        .map_err(|e| CliError::Run(terminal::chain(&e)))?;
    let dependencies = wf.flows.iter().flat_map(|def| {
        let required = def
            .requires
            .iter()
            .map(|p| (p, &def.id, DependencyType::Required));
        let optional = def
            .wants
            .iter()
            .map(|p| (p, &def.id, DependencyType::Optional));
        required.chain(optional)
    });
    ctx.register_dependencies(dependencies)
        .map_err(|e| CliError::Run(terminal::chain(&e)))
}

/// The flow-core flow of one workflow flow, whose home is the workflow's folder (a moved
/// project keeps its flows' definitions: a resume reuses them, they stay up to date).
fn flow(def: &FlowDef, wf: &Workflow, home: &Arc<Path>) -> Flow {
    let mut spec = match &def.action {
        Action::Command(argv) => CommandSpec::argv(argv.iter().cloned()),
        Action::Shell(script) => CommandSpec::argv(def.interpreter.iter().chain([script]).cloned()),
    };
    if let Some(grace) = def.kill_grace {
        spec = spec.grace(grace);
    }
    for (key, value) in def.env.iter() {
        spec = spec.env(key.clone(), value.clone());
    }
    spec = spec
        .env_os("FLOW_WORKFLOW_DIR", &wf.dir)
        .cwd(def.cwd.clone())
        .tail_bytes(TAIL_BYTES);
    let mut builder = Flow::command(def.id.clone(), spec).home(Arc::clone(home));
    if let Some(timeout) = def.timeout {
        builder = builder.timeout(timeout);
    }
    if def.retries > 0 {
        builder = builder.retry(RetryPolicy::fixed(def.retries, def.retry_delay));
    }
    if let Some(data) = fresh::data_of(def, wf) {
        builder = builder.data(data);
    }
    builder.build()
}
