//! The floor of `cargo xtask bench`'s W4: the least a runner of commands must do. It runs one
//! program per node of a graph, at most `--jobs` at a time, each only after its parents have
//! exited with 0, and nothing else: no store, no logs, no output capture.
//!
//! Usage: `spawn_floor GRAPH.json PROGRAM [--jobs N]`, where the file is
//! `{"nodes": N, "edges": [[parent, child], ...]}` with node ids `0..N`. Children start with
//! `std::process::Command` (which uses `posix_spawn` on Linux when, as here, no pre-exec hook,
//! folder or group is asked) and are reaped with `wait` on any child, so a slot is given
//! to the next ready node as soon as one ends. Among ready nodes the lowest id goes first.

use std::process::{Command, ExitCode, Stdio};

use flow_bench::w4::{Args, Dag};
use nix::sys::wait::{wait, WaitStatus};
use rustc_hash::FxHashMap;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("spawn_floor: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let Args {
        graph,
        program,
        jobs,
        ..
    } = Args::parse(0, "usage: spawn_floor GRAPH.json PROGRAM [--jobs N]")?;
    let mut dag = Dag::load(&graph)?;
    let n = dag.len();
    let mut running: FxHashMap<i32, u32> = FxHashMap::default();
    let mut done = 0usize;
    while done < n {
        while running.len() < jobs {
            let Some(node) = dag.next_ready() else {
                break;
            };
            let child = Command::new(&program)
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start `{program}`: {e}"))?;
            // Reaped below by `wait`, not through the handle.
            running.insert(child.id() as i32, node);
        }
        if running.is_empty() {
            return Err(format!("{} nodes are on a cycle", n - done));
        }
        let (pid, code) = match wait().map_err(|e| format!("wait: {e}"))? {
            WaitStatus::Exited(pid, code) => (pid, code),
            WaitStatus::Signaled(pid, signal, _) => (pid, 128 + signal as i32),
            _ => continue,
        };
        let Some(node) = running.remove(&pid.as_raw()) else {
            continue;
        };
        if code != 0 {
            return Err(format!("node {node}: `{program}` ended with {code}"));
        }
        done += 1;
        dag.ended(node);
    }
    Ok(())
}
