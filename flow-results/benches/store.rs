//! Saving 10 000 results, one at a time and in one batch, into each backend; and the 100 000
//! results of flow-core's W3 benchmark (no-op flows: a fingerprint, a finish time, nothing
//! else) into a `MemoryStore`, in the scheduler's batches of 4096.
//!
//! Run with `cargo bench -p flow-results`; the throughput is in results per second. Stores
//! live in the system's temporary folder, so the directory and SQLite figures measure that
//! disk.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flow_graph::FlowId;
use flow_results::{
    DirStore, FlowResult, FlowStatus, MemoryStore, ResultStore, RunRecord, SqliteStore, Tail,
};

const RESULTS: usize = 10_000;

/// Flow ids `f00000` to `f09999`, made once.
fn flow_ids() -> Vec<FlowId> {
    (0..RESULTS)
        .map(|i| FlowId::new(format!("f{i:05}")).unwrap())
        .collect()
}

/// A new run in `store` and its 10 000 results: a small JSON output, timestamps, a short tail.
fn new_run(store: &dyn ResultStore, ids: &[FlowId]) -> Vec<FlowResult> {
    let run = RunRecord::start("bench");
    store.begin_run(&run).unwrap();
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let mut result = FlowResult::new(run.run_id.clone(), id.clone(), FlowStatus::Completed);
            result.output = serde_json::json!({"index": i, "rows": i * 3, "ok": true});
            result.attempts = 1;
            result.started_at = Some(run.started_at);
            result.finished_at = Some(run.started_at + chrono::TimeDelta::milliseconds(5));
            result.stdout_tail = Tail::new(format!("processed {i} rows\n"));
            result
        })
        .collect()
}

fn bench_backend(c: &mut Criterion, name: &str, store: &dyn ResultStore) {
    let ids = flow_ids();
    // Each iteration saves into a new run; the run before it is deleted (untimed), so the
    // store stays the same size however many iterations criterion runs.
    let mut previous = None;
    let mut setup = || {
        if let Some(run) = previous.take() {
            store.delete_run(&run).unwrap();
        }
        let results = new_run(store, &ids);
        previous = Some(results[0].run_id.clone());
        results
    };
    let mut group = c.benchmark_group(format!("save_10k/{name}"));
    group.throughput(Throughput::Elements(RESULTS as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("one_at_a_time", |b| {
        // The results are returned so that criterion drops them outside the timing.
        b.iter_batched(
            &mut setup,
            |results| {
                for result in &results {
                    store.save_result(result).unwrap();
                }
                results
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("batch", |b| {
        b.iter_batched(
            &mut setup,
            |results| {
                store.save_results(&results).unwrap();
                results
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn memory(c: &mut Criterion) {
    bench_backend(c, "memory", &MemoryStore::new());
}

/// The W3 case: 100 000 results as the scheduler saves them for no-op flows.
fn memory_w3(c: &mut Criterion) {
    const FLOWS: usize = 100_000;
    const BATCH: usize = 4096;
    let ids: Vec<FlowId> = (0..FLOWS)
        .map(|i| FlowId::new(format!("flow-{i:06}")).unwrap())
        .collect();
    let store = MemoryStore::new();
    let mut previous = None;
    let mut setup = || {
        if let Some(run) = previous.take() {
            store.delete_run(&run).unwrap();
        }
        let run = RunRecord::start("w3");
        store.begin_run(&run).unwrap();
        previous = Some(run.run_id.clone());
        let batches: Vec<Vec<FlowResult>> = ids
            .chunks(BATCH)
            .enumerate()
            .map(|(n, chunk)| {
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        let mut result =
                            FlowResult::new(run.run_id.clone(), id.clone(), FlowStatus::Completed);
                        result.attempts = 1;
                        result.started_at = Some(run.started_at);
                        result.finished_at = Some(run.started_at);
                        let fingerprint = u128::MAX - (n * BATCH + i) as u128;
                        result.fingerprint = Some(fingerprint.into());
                        result
                    })
                    .collect()
            })
            .collect();
        batches
    };
    let mut group = c.benchmark_group("save_100k_w3");
    group.throughput(Throughput::Elements(FLOWS as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("memory", |b| {
        b.iter_batched(
            &mut setup,
            |batches| {
                for batch in &batches {
                    store.save_results(batch).unwrap();
                }
                batches
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db")).unwrap();
    bench_backend(c, "sqlite", &store);
}

fn dir(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path().join("results")).unwrap();
    bench_backend(c, "dir", &store);
}

criterion_group!(benches, memory, memory_w3, sqlite, dir);
criterion_main!(benches);
