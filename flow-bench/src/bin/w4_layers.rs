//! The layers of W4 (`cargo xtask bench --w4`): the floor's graph, run through more and more
//! of flow's stack, so that the gap between the floor and `flow run` can be read layer by
//! layer.
//!
//! Usage: `w4_layers GRAPH.json PROGRAM LAYER [--jobs N]`, with the graph file of
//! `spawn_floor`. Each layer runs the nodes on one current-thread tokio runtime whose thread
//! asks for the short time slice, as `flow run` does, at most `--jobs` at a time, the lowest
//! ready id first, each only after its parents ended with 0:
//!
//! - `tokio`: `tokio::process::Command`, stdin from `/dev/null`, output inherited;
//! - `runner`: flow-pool's `CommandRunner`: its own process group, stdout and stderr read
//!   through pipes into the tails, the group checked empty at the end;
//! - `runner-env`: the same, with the variables `flow run` gives every command
//!   (`FLOW_RUN_ID`, `FLOW_ID`, `FLOW_ATTEMPT`, `FLOW_WORKFLOW_DIR`; the runner adds them to
//!   its one copy of the environment);
//! - `runner-run`: the spec `flow run` hands the runner: those variables, the working
//!   directory, and per-attempt log files under `.flow/layers`, named as flow-core names them
//!   (created only by output);
//! - `driver`: the graph as command flows of a flow-core `FlowContext` (its driver, the memory
//!   store, logs under `.flow/layers`), in place of this program's loop.
//!
//! What `flow run --store memory` adds on top of `driver` is the CLI: reading and checking
//! the workflow file, the journal of attempts, the watchdog; the default store adds its
//! writer thread.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use flow_bench::w4::{Args, Dag};
use flow_core::{log_file, Flow, FlowContext, FlowId, LogStream};
use flow_pool::{CancellationToken, CommandRunner, CommandSpec};
use futures::stream::{FuturesUnordered, StreamExt};

/// How much of flow's stack a command goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Tokio,
    Runner,
    RunnerEnv,
    RunnerRun,
    Driver,
}

impl Layer {
    fn parse(name: &str) -> Option<Layer> {
        Some(match name {
            "tokio" => Layer::Tokio,
            "runner" => Layer::Runner,
            "runner-env" => Layer::RunnerEnv,
            "runner-run" => Layer::RunnerRun,
            "driver" => Layer::Driver,
            _ => return None,
        })
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("w4_layers: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let usage =
        "usage: w4_layers GRAPH.json PROGRAM tokio|runner|runner-env|runner-run|driver [--jobs N]";
    let Args {
        graph,
        program,
        rest,
        jobs,
    } = Args::parse(1, usage)?;
    let layer = Layer::parse(&rest[0]).ok_or(usage)?;
    let dag = Dag::load(&graph)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    // As `flow run` does (a kernel without the feature keeps the default slice).
    let _ = flow_pool::use_short_slice(Duration::from_micros(100));
    let here = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
    let command = Command {
        program,
        layer,
        here,
    };
    if layer == Layer::Driver {
        return runtime.block_on(through_flow_core(&dag, jobs, &command));
    }
    runtime.block_on(drive(dag, jobs, &command))
}

/// Runs the graph as command flows of a `FlowContext`: flow-core's driver decides what runs.
async fn through_flow_core(dag: &Dag, jobs: usize, command: &Command) -> Result<(), String> {
    let id = |node: usize| FlowId::new(format!("n{node}")).map_err(|e| e.to_string());
    let mut parents = vec![Vec::new(); dag.len()];
    for (parent, children) in dag.children.iter().enumerate() {
        for &child in children {
            parents[child as usize].push(parent);
        }
    }
    let ctx = FlowContext::builder()
        .jobs(jobs)
        .workflow("w4_layers")
        .log_dir(".flow/layers")
        .build();
    for (node, parents) in parents.iter().enumerate() {
        let spec = CommandSpec::argv([command.program.as_str()])
            .env("FLOW_WORKFLOW_DIR", command.here.to_string_lossy())
            .cwd(&command.here);
        let mut flow = Flow::command(id(node)?, spec);
        for &parent in parents {
            flow = flow.requires(id(parent)?);
        }
        ctx.register_flow(flow.build()).map_err(|e| e.to_string())?;
    }
    let summary = ctx.run().await.map_err(|e| e.to_string())?;
    if summary.is_success() {
        Ok(())
    } else {
        Err(format!("the run did not succeed: {:?}", summary.counts))
    }
}

/// What each node runs, and through which layer.
struct Command {
    program: String,
    layer: Layer,
    here: PathBuf,
}

async fn drive(mut dag: Dag, jobs: usize, command: &Command) -> Result<(), String> {
    let runner = &CommandRunner::new();
    let mut running = FuturesUnordered::new();
    let mut done = 0;
    while done < dag.len() {
        while running.len() < jobs {
            let Some(node) = dag.next_ready() else {
                break;
            };
            running.push(async move { (node, command.run(runner, node).await) });
        }
        let Some((node, ended)) = running.next().await else {
            return Err(format!("{} nodes are on a cycle", dag.len() - done));
        };
        ended.map_err(|e| format!("node {node}: `{}` {e}", command.program))?;
        done += 1;
        dag.ended(node);
    }
    Ok(())
}

impl Command {
    /// Runs the program for `node`; an error says how it failed.
    async fn run(&self, runner: &CommandRunner, node: u32) -> Result<(), String> {
        if self.layer == Layer::Tokio {
            let status = tokio::process::Command::new(&self.program)
                .stdin(Stdio::null())
                .status()
                .await
                .map_err(|e| format!("cannot start: {e}"))?;
            return if status.success() {
                Ok(())
            } else {
                Err(format!("ended with {status}"))
            };
        }
        let outcome = runner
            .run(&self.spec(node), None, CancellationToken::new())
            .await
            .map_err(|e| e.to_string())?;
        if outcome.end.success() {
            Ok(())
        } else {
            Err(outcome.end.to_string())
        }
    }

    /// The spec of `node` at this layer.
    fn spec(&self, node: u32) -> CommandSpec {
        let spec = CommandSpec::argv([self.program.as_str()]);
        if self.layer == Layer::Runner {
            return spec;
        }
        let id = format!("n{node}");
        let spec = spec
            .env("FLOW_RUN_ID", "20261206-000000-w4layers")
            .env("FLOW_ID", id.as_str())
            .env("FLOW_ATTEMPT", "1")
            .env("FLOW_WORKFLOW_DIR", self.here.to_string_lossy());
        if self.layer == Layer::RunnerEnv {
            return spec;
        }
        let logs = Path::new(".flow/layers");
        spec.cwd(&self.here)
            .stdout_path(log_file(logs, &id, 1, LogStream::Stdout))
            .stderr_path(log_file(logs, &id, 1, LogStream::Stderr))
    }
}
