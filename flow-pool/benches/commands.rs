//! 2,000 runs of `/bin/true`, two at a time, through `CommandRunner` against minimal
//! spawn-and-wait loops (std threads, and tokio) measured in the same run, in wall time and
//! in CPU time. `command_runner_log_paths` gives every command stdout and stderr files
//! (`<dir>/<run>/<name>.out|.err`, as `flow run` does).
//!
//! Run: `cargo bench -p flow-pool --bench commands`.

use std::path::Path;
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

/// The runner: two tasks running `/bin/true` through `CommandRunner::run`; with `logs`,
/// each command gets `<logs>/true-<task>-<i>.out` and `.err` as output paths (`logs` exists,
/// as a run's log folder does).
fn runner(runtime: &tokio::runtime::Runtime, logs: Option<&Path>) -> Duration {
    runtime.block_on(async {
        let runner = CommandRunner::new();
        let started = Instant::now();
        let tasks: Vec<_> = (0..AT_A_TIME)
            .map(|task| {
                let runner = runner.clone();
                let logs = logs.map(Path::to_path_buf);
                tokio::spawn(async move {
                    for i in 0..RUNS / AT_A_TIME {
                        let mut spec = CommandSpec::argv(["/bin/true"]);
                        if let Some(logs) = &logs {
                            spec = spec
                                .stdout_path(logs.join(format!("true-{task}-{i}.out")))
                                .stderr_path(logs.join(format!("true-{task}-{i}.err")));
                        }
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

/// [`runner`] with output paths in a fresh run folder under `root` (made before the clock
/// starts, removed after it stops).
fn runner_with_log_paths(runtime: &tokio::runtime::Runtime, root: &Path) -> Duration {
    let run = tempfile::tempdir_in(root).expect("run folder");
    runner(runtime, Some(run.path()))
}

fn bench(c: &mut Criterion) {
    let runtime = runtime();
    let logs = tempfile::tempdir().expect("log folder");
    let logs = logs.path();
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
        b.iter_custom(|iters| (0..iters).map(|_| runner(&runtime, None)).sum())
    });
    group.bench_function("command_runner_log_paths", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| runner_with_log_paths(&runtime, logs))
                .sum()
        })
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
                    runner(&runtime, None);
                })
            })
        })
    });
    group.bench_function("command_runner_log_paths", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let run = tempfile::tempdir_in(logs).expect("run folder");
                    cpu_time_of(|| {
                        runner(&runtime, Some(run.path()));
                    })
                })
                .sum()
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
