//! 2,000 runs of `/bin/true`, two at a time, through `CommandRunner` against minimal
//! spawn-and-wait loops (std threads, and tokio) measured in the same run, in wall time and
//! in CPU time.
//!
//! Run: `cargo bench -p flow-pool --bench commands`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flow_pool::{CancellationToken, CommandRunner, CommandSpec};

const RUNS: u64 = 2000;
const AT_A_TIME: u64 = 2;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The floor: two OS threads, each spawning and waiting for `/bin/true` in a loop.
fn std_floor() -> Duration {
    let started = Instant::now();
    let threads: Vec<_> = (0..AT_A_TIME)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..RUNS / AT_A_TIME {
                    let status = Command::new("/bin/true")
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .expect("spawn /bin/true");
                    assert!(status.success());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("floor thread");
    }
    started.elapsed()
}

/// The same floor with tokio: two tasks spawning and awaiting `/bin/true`.
fn tokio_floor(runtime: &tokio::runtime::Runtime) -> Duration {
    runtime.block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..AT_A_TIME)
            .map(|_| {
                tokio::spawn(async {
                    for _ in 0..RUNS / AT_A_TIME {
                        let status = tokio::process::Command::new("/bin/true")
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status()
                            .await
                            .expect("spawn /bin/true");
                        assert!(status.success());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("floor task");
        }
        started.elapsed()
    })
}

/// The runner: two tasks running `/bin/true` through `CommandRunner::run`.
fn runner(runtime: &tokio::runtime::Runtime) -> Duration {
    runtime.block_on(async {
        let runner = CommandRunner::new();
        let started = Instant::now();
        let tasks: Vec<_> = (0..AT_A_TIME)
            .map(|_| {
                let runner = runner.clone();
                tokio::spawn(async move {
                    let spec = CommandSpec::argv(["/bin/true"]);
                    for _ in 0..RUNS / AT_A_TIME {
                        let outcome = runner
                            .run(&spec, None, CancellationToken::new())
                            .await
                            .expect("run /bin/true");
                        assert!(outcome.end.success());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("runner task");
        }
        started.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("true_2000_x2");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(RUNS));
    group.bench_function("floor_std_threads", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| std_floor()).sum())
    });
    group.bench_function("floor_tokio", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| tokio_floor(&runtime)).sum())
    });
    group.bench_function("command_runner", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| runner(&runtime)).sum())
    });
    group.finish();

    // The same three timed in CPU time (this process and its reaped children, user + system)
    // instead of wall time: the cost of the work, without the waits for a core on a loaded
    // machine.
    let mut group = c.benchmark_group("true_2000_x2_cpu_time");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(RUNS));
    group.bench_function("floor_std_threads", |b| {
        b.iter_custom(|iters| {
            cpu_time_of(|| {
                (0..iters).for_each(|_| {
                    std_floor();
                })
            })
        })
    });
    group.bench_function("floor_tokio", |b| {
        b.iter_custom(|iters| {
            cpu_time_of(|| {
                (0..iters).for_each(|_| {
                    tokio_floor(&runtime);
                })
            })
        })
    });
    group.bench_function("command_runner", |b| {
        b.iter_custom(|iters| {
            cpu_time_of(|| {
                (0..iters).for_each(|_| {
                    runner(&runtime);
                })
            })
        })
    });
    group.finish();
}

/// CPU time (user + system) of this process and its reaped children spent in `work`.
fn cpu_time_of(work: impl FnOnce()) -> Duration {
    let before = cpu_time();
    work();
    cpu_time().saturating_sub(before)
}

fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let as_duration = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap_or(0))
    };
    [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN]
        .into_iter()
        .map(|who| getrusage(who).expect("getrusage"))
        .map(|usage| as_duration(usage.user_time()) + as_duration(usage.system_time()))
        .sum()
}

criterion_group!(benches, bench);
criterion_main!(benches);
