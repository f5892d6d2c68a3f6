//! Runs a graph of no-op async flows read from a JSON file and prints how long it took, as
//! one JSON line: `{"nodes":..,"edges":..,"build_ms":..,"run_ms":..,"total_ms":..}`.
//!
//! Usage: `run_graph GRAPH.json [--jobs N]`, where the file is
//! `{"nodes": N, "edges": [[parent, child], ...]}` with node ids `0..N`; every edge is a
//! required dependency. `build_ms` is the time to make the context and register the flows
//! and edges, `run_ms` the time of `FlowContext::run` (until every result is in the store).
//!
//! It uses the system allocator, as a user's program does by default: its figures are the
//! headline of `cargo xtask bench`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use flow_core::{DependencyType, Flow, FlowContext, FlowId};
use serde_json::Value;

#[derive(serde::Deserialize)]
struct Graph {
    nodes: u32,
    edges: Vec<(u32, u32)>,
}

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("run_graph: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut jobs = None;
    while let Some(arg) = args.next() {
        if arg == "--jobs" {
            let n = args.next().ok_or("--jobs needs a number")?;
            jobs = Some(n.parse::<usize>().map_err(|e| format!("--jobs {n}: {e}"))?);
        } else if path.is_none() {
            path = Some(arg);
        } else {
            return Err(format!(
                "unexpected argument `{arg}`; usage: run_graph GRAPH.json [--jobs N]"
            ));
        }
    }
    let path = path.ok_or("usage: run_graph GRAPH.json [--jobs N]")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let graph: Graph =
        serde_json::from_str(&text).map_err(|e| format!("`{path}` is not a graph file: {e}"))?;
    // Not needed once parsed: its memory is reused by what follows instead of fresh pages.
    drop(text);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start tokio: {e}"))?;

    let start = Instant::now();
    let mut builder = FlowContext::builder();
    if let Some(jobs) = jobs {
        builder = builder.jobs(jobs);
    }
    let ctx = builder.workflow("run_graph").build();
    let mut name = String::new();
    let mut digits = itoa::Buffer::new();
    let mut ids: Vec<FlowId> = Vec::with_capacity(graph.nodes as usize);
    for i in 0..graph.nodes {
        name.clear();
        name.push('n');
        name.push_str(digits.format(i));
        ids.push(FlowId::new(&name).map_err(|e| e.to_string())?);
    }
    ctx.register_flows(
        ids.iter().map(|id| {
            Flow::async_fn(id.clone(), |_| async { Ok::<_, String>(Value::Null) }).build()
        }),
    )
    .map_err(|e| e.to_string())?;
    if let Some(&(parent, child)) = graph.edges.iter().find(|&&(p, c)| p.max(c) >= graph.nodes) {
        return Err(format!(
            "edge [{parent}, {child}] names a node outside 0..{}",
            graph.nodes
        ));
    }
    // Handed over as they are read: the context keeps index pairs, not a list of names.
    let edges = graph.edges.iter().map(|&(parent, child)| {
        (
            ids[parent as usize].as_str(),
            ids[child as usize].as_str(),
            DependencyType::Required,
        )
    });
    ctx.register_dependencies(edges)
        .map_err(|e| e.to_string())?;
    // The context has them now: the run reuses their memory instead of fresh pages.
    let n_edges = graph.edges.len();
    drop(graph.edges);
    let built = Instant::now();

    let summary = runtime.block_on(ctx.run()).map_err(|e| e.to_string())?;
    let done = Instant::now();
    if !summary.is_success() {
        return Err(format!("not every flow completed: {:?}", summary.counts));
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    Ok(serde_json::json!({
        "nodes": graph.nodes,
        "edges": n_edges,
        "build_ms": ms(built - start),
        "run_ms": ms(done - built),
        "total_ms": ms(done - start),
    })
    .to_string())
}
