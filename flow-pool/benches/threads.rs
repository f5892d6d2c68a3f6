//! Overhead of the thread executor per trivial task: one at a time (a full round trip with
//! a thread wake-up), and 1,000 in flight (throughput), all driven from one current-thread
//! runtime; `tokio::task::spawn_blocking` on two threads is measured beside it for scale.
//!
//! Run: `cargo bench -p flow-pool --bench threads`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flow_pool::{CancellationToken, ThreadExecutor};
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;

const IN_FLIGHT: u64 = 1000;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let threads = ThreadExecutor::new(2).expect("threads");
    let mut group = c.benchmark_group("thread_executor");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("trivial_task_one_at_a_time", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    threads
                        .run(
                            |input, _| Ok(input),
                            Value::Null,
                            None,
                            CancellationToken::new(),
                        )
                        .await
                        .expect("trivial task");
                }
                started.elapsed()
            })
        })
    });
    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function("trivial_tasks_1000_in_flight", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let mut in_flight: FuturesUnordered<_> = (0..IN_FLIGHT)
                        .map(|_| {
                            threads.run(
                                |input, _| Ok(input),
                                Value::Null,
                                None,
                                CancellationToken::new(),
                            )
                        })
                        .collect();
                    while let Some(result) = in_flight.next().await {
                        result.expect("trivial task");
                    }
                }
                started.elapsed()
            })
        })
    });
    // For comparison under the same load: tokio's own blocking pool, capped at 2 threads too.
    let blocking_runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    group.bench_function("spawn_blocking_1000_in_flight", |b| {
        b.iter_custom(|iters| {
            blocking_runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let mut in_flight: FuturesUnordered<_> = (0..IN_FLIGHT)
                        .map(|_| tokio::task::spawn_blocking(|| Value::Null))
                        .collect();
                    while let Some(result) = in_flight.next().await {
                        result.expect("blocking task");
                    }
                }
                started.elapsed()
            })
        })
    });
    // The same 1,000 in flight, timed in CPU time of this process (user + system, all
    // threads) instead of wall time: the cost of the work itself, without the time spent
    // waiting for a core on a loaded machine.
    group.bench_function("trivial_tasks_1000_in_flight_cpu_time", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = cpu_time();
                for _ in 0..iters {
                    let mut in_flight: FuturesUnordered<_> = (0..IN_FLIGHT)
                        .map(|_| {
                            threads.run(
                                |input, _| Ok(input),
                                Value::Null,
                                None,
                                CancellationToken::new(),
                            )
                        })
                        .collect();
                    while let Some(result) = in_flight.next().await {
                        result.expect("trivial task");
                    }
                }
                cpu_time().saturating_sub(started)
            })
        })
    });
    group.bench_function("spawn_blocking_1000_in_flight_cpu_time", |b| {
        b.iter_custom(|iters| {
            blocking_runtime.block_on(async {
                let started = cpu_time();
                for _ in 0..iters {
                    let mut in_flight: FuturesUnordered<_> = (0..IN_FLIGHT)
                        .map(|_| tokio::task::spawn_blocking(|| Value::Null))
                        .collect();
                    while let Some(result) = in_flight.next().await {
                        result.expect("blocking task");
                    }
                }
                cpu_time().saturating_sub(started)
            })
        })
    });
    group.finish();
}

/// User plus system CPU time of this process so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let as_duration = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap_or(0))
    };
    as_duration(usage.user_time()) + as_duration(usage.system_time())
}

criterion_group!(benches, bench);
criterion_main!(benches);
