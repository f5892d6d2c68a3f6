//! The floor of `cargo xtask bench`'s W4: the least a runner of commands must do. It runs one
//! program per node of a graph, at most `--jobs` at a time, each only after its parents have
//! exited with 0, and nothing else: no store, no logs, no output capture.
//!
//! Usage: `spawn_floor GRAPH.json PROGRAM [--jobs N]`, where the file is
//! `{"nodes": N, "edges": [[parent, child], ...]}` with node ids `0..N`. Children start with
//! `std::process::Command` (which uses `posix_spawn` on Linux when, as here, no pre-exec hook,
//! folder or group is asked) and are reaped with `wait` on any child, so a slot is given
//! to the next ready node as soon as one ends. Among ready nodes the lowest id goes first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::process::{Command, ExitCode, Stdio};

use nix::sys::wait::{wait, WaitStatus};
use rustc_hash::FxHashMap;

#[derive(serde::Deserialize)]
struct Graph {
    nodes: u32,
    edges: Vec<(u32, u32)>,
}

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
    let usage = "usage: spawn_floor GRAPH.json PROGRAM [--jobs N]";
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut jobs = 2usize;
    while let Some(arg) = args.next() {
        if arg == "--jobs" {
            let n = args.next().ok_or("--jobs needs a number")?;
            jobs = n.parse().map_err(|e| format!("--jobs {n}: {e}"))?;
        } else {
            positional.push(arg);
        }
    }
    let [path, program] = <[String; 2]>::try_from(positional).map_err(|_| usage)?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let graph: Graph =
        serde_json::from_str(&text).map_err(|e| format!("`{path}` is not a graph file: {e}"))?;
    let n = graph.nodes as usize;
    let mut children = vec![Vec::new(); n];
    let mut waiting = vec![0u32; n];
    for &(p, c) in &graph.edges {
        if p as usize >= n || c as usize >= n {
            return Err(format!("edge ({p}, {c}) names a node outside 0..{n}"));
        }
        children[p as usize].push(c);
        waiting[c as usize] += 1;
    }
    let mut ready: BinaryHeap<Reverse<u32>> = (0..graph.nodes)
        .filter(|&i| waiting[i as usize] == 0)
        .map(Reverse)
        .collect();
    let mut running: FxHashMap<i32, u32> = FxHashMap::default();
    let mut done = 0usize;
    while done < n {
        while running.len() < jobs.max(1) {
            let Some(Reverse(node)) = ready.pop() else {
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
        for &c in &children[node as usize] {
            waiting[c as usize] -= 1;
            if waiting[c as usize] == 0 {
                ready.push(Reverse(c));
            }
        }
    }
    Ok(())
}
