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
//!   (`FLOW_RUN_ID`, `FLOW_ID`, `FLOW_ATTEMPT`, `FLOW_WORKFLOW_DIR`), which make the standard
//!   library copy the whole environment at each spawn;
//! - `runner-run`: the spec `flow run` hands the runner: those variables, the working
//!   directory, and per-attempt log files under `.flow/layers`, named as flow-core names them
//!   (created only by output).
//!
//! What `flow run` adds on top of `runner-run` is flow-core's driver, the CLI's journal of
//! attempts, and the store.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use flow_bench::w4::{Args, Dag};
use flow_core::{log_file, LogStream};
use flow_pool::{CancellationToken, CommandRunner, CommandSpec};
use futures::stream::{FuturesUnordered, StreamExt};

/// How much of flow's stack a command goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Tokio,
    Runner,
    RunnerEnv,
    RunnerRun,
}

impl Layer {
    fn parse(name: &str) -> Option<Layer> {
        Some(match name {
            "tokio" => Layer::Tokio,
            "runner" => Layer::Runner,
            "runner-env" => Layer::RunnerEnv,
            "runner-run" => Layer::RunnerRun,
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
    let usage = "usage: w4_layers GRAPH.json PROGRAM tokio|runner|runner-env|runner-run [--jobs N]";
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
    runtime.block_on(drive(
        dag,
        jobs,
        &Command {
            program,
            layer,
            here,
        },
    ))
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
