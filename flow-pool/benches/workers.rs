//! Round trip of a trivial task through a warm worker process. `harness = false` and `main`
//! calls `flow_pool::worker_main` first, since the pool re-executes this binary as workers.
//!
//! Run: `cargo bench -p flow-pool --bench workers`.

use std::time::{Duration, Instant};

use criterion::Criterion;
use flow_pool::{worker_main, CancellationToken, ProcessPool, TaskRegistry};
use serde_json::Value;

fn noop(input: Value) -> Result<Value, String> {
    Ok(input)
}

fn registry() -> TaskRegistry {
    TaskRegistry::new().register("noop", noop)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let pool = ProcessPool::new(registry(), 1).expect("pool");
    runtime
        .block_on(pool.run("noop", Value::Null, None, CancellationToken::new()))
        .expect("warm-up task");
    let mut group = c.benchmark_group("process_pool");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("warm_worker_round_trip", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    pool.run("noop", Value::Null, None, CancellationToken::new())
                        .await
                        .expect("trivial task");
                }
                started.elapsed()
            })
        })
    });
    group.finish();
    runtime.block_on(pool.shutdown(Duration::from_secs(1)));
}

fn main() {
    worker_main(&registry());
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
