//! Building and topologically sorting a layered graph: 100 layers of width W, each flow with 3
//! parents in the layer above (fixed seed), at 10k, 100k and 1M flows; bulk and one edge at a
//! time; then the memory per flow at 1M flows, counted by a wrapping allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use flow_graph::{DependencyType, FlowGraph, FlowId};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;

/// Counts the bytes currently allocated, to measure the graph's footprint.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const LAYERS: usize = 100;

/// The flows' ids and the edges `(parent, child)` as indices, children in topological order.
struct Layered {
    ids: Vec<FlowId>,
    edges: Vec<(u32, u32)>,
}

fn layered(width: usize) -> Layered {
    let mut rng = StdRng::seed_from_u64(42);
    let ids = (0..LAYERS * width)
        .map(|i| FlowId::new(format!("n{i}")).unwrap())
        .collect();
    let mut edges = Vec::with_capacity((LAYERS - 1) * width * 3);
    for layer in 1..LAYERS {
        for k in 0..width {
            let child = (layer * width + k) as u32;
            for p in sample(&mut rng, width, 3.min(width)) {
                edges.push((((layer - 1) * width + p) as u32, child));
            }
        }
    }
    Layered { ids, edges }
}

fn build_bulk(input: &Layered) -> FlowGraph {
    let mut graph = FlowGraph::with_capacity(input.ids.len(), input.edges.len());
    for id in &input.ids {
        graph.add_flow(id.clone()).unwrap();
    }
    graph
        .add_dependencies(input.edges.iter().map(|&(p, c)| {
            (
                input.ids[p as usize].as_str(),
                input.ids[c as usize].as_str(),
                DependencyType::Required,
            )
        }))
        .unwrap();
    graph
}

fn build_one_at_a_time(input: &Layered) -> FlowGraph {
    let mut graph = FlowGraph::with_capacity(input.ids.len(), input.edges.len());
    let mut edges = input.edges.iter().peekable();
    for (i, id) in input.ids.iter().enumerate() {
        graph.add_flow(id.clone()).unwrap();
        while let Some(&&(p, c)) = edges.peek() {
            if c as usize != i {
                break;
            }
            graph
                .add_dependency(
                    input.ids[p as usize].as_str(),
                    id.as_str(),
                    DependencyType::Required,
                )
                .unwrap();
            edges.next();
        }
    }
    graph
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("layered");
    for width in [100, 1_000, 10_000] {
        let input = layered(width);
        let flows = input.ids.len();
        if flows >= 1_000_000 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(20));
        } else {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(5));
        }
        group.bench_with_input(
            BenchmarkId::new("bulk_build_and_sort", flows),
            &input,
            |b, i| b.iter(|| build_bulk(i).topological_order().len()),
        );
        group.bench_with_input(
            BenchmarkId::new("one_at_a_time_build_and_sort", flows),
            &input,
            |b, i| b.iter(|| build_one_at_a_time(i).topological_order().len()),
        );
        let graph = build_bulk(&input);
        group.bench_with_input(BenchmarkId::new("sort_only", flows), &graph, |b, g| {
            b.iter(|| g.topological_order().len())
        });
    }
    group.finish();
}

/// Bytes held by a 1M-flow graph (flows, ids, index and 3 edges each), per flow.
fn memory_per_flow() {
    let input = layered(10_000);
    let before = LIVE.load(Ordering::Relaxed);
    let graph = build_bulk(&input);
    let after = LIVE.load(Ordering::Relaxed);
    let n = graph.len();
    // The ids were allocated before; the graph shares them, so count their heap part too.
    let id_bytes: usize = input.ids.iter().map(|id| 16 + id.as_str().len()).sum();
    drop(input);
    eprintln!(
        "memory: {} flows, {} edges: {:.0} bytes per flow (graph {:.0} + id strings {:.0})",
        n,
        graph.dependency_count(),
        (after - before + id_bytes) as f64 / n as f64,
        (after - before) as f64 / n as f64,
        id_bytes as f64 / n as f64,
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    if std::env::args().all(|a| a != "--list" && a != "--test") {
        memory_per_flow();
    }
}
