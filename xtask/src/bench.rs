//! `cargo xtask bench`: the benchmarks whose figures the closing notes report.
//!
//! Criterion benches of each crate, then end-to-end comparisons that need real programs:
//! flow-core's `run_graph` example on three generated graphs, and `flow run` against `make -j2`
//! and `ninja -j2` on the same 2,000-command graph.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;

use crate::step::{root, run as run_step};

const RUNS: usize = 7;

pub fn run() -> Result<()> {
    for (krate, bench) in [
        ("flow-graph", Some("layered")),
        ("flow-results", None),
        ("flow-pool", None),
        ("flow-cli", Some("report")),
    ] {
        if !root().join(krate).join("benches").is_dir() {
            continue;
        }
        let mut args = vec!["bench", "-p", krate];
        if let Some(bench) = bench {
            args.extend(["--bench", bench]);
        }
        run_step(&format!("criterion {krate}"), "cargo", &args, &[])?;
    }
    let dir = target_dir().join("xtask-bench");
    fs::create_dir_all(&dir)?;
    let mut report = String::new();
    scheduler(&dir, &mut report)?;
    command_line(&dir, &mut report)?;
    slurm(&mut report)?;
    eprintln!("\nxtask bench summary\n{report}");
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Edges of a layered graph: `layers` x `width`, each flow with 3 parents in the layer above.
fn layered(layers: usize, width: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut edges = Vec::new();
    for layer in 1..layers {
        for k in 0..width {
            for p in sample(&mut rng, width, 3.min(width)) {
                edges.push(((layer - 1) * width + p, layer * width + k));
            }
        }
    }
    edges
}

/// flow-core's `run_graph` example on W1 (layered 100 x 100), W2 (a chain of 10,000) and W3
/// (100,000 independent flows): the median total time and, for W3, the peak RSS.
fn scheduler(dir: &Path, report: &mut String) -> Result<()> {
    if !root().join("flow-core/examples/run_graph.rs").exists() {
        writeln!(report, "run_graph: flow-core has no run_graph example yet")?;
        return Ok(());
    }
    run_step(
        "build run_graph",
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "flow-core",
            "--example",
            "run_graph",
        ],
        &[],
    )?;
    let program = target_dir().join("release/examples/run_graph");
    let workloads = [
        ("W1 layered 100x100", 10_000, layered(100, 100, 1)),
        (
            "W2 chain 10000",
            10_000,
            (1..10_000).map(|i| (i - 1, i)).collect(),
        ),
        ("W3 independent 100000", 100_000, Vec::new()),
    ];
    for (name, nodes, edges) in workloads {
        let file = dir.join(format!("{}.json", name.split(' ').next().unwrap_or(name)));
        let json = serde_json::json!({ "nodes": nodes, "edges": edges });
        fs::write(&file, json.to_string())?;
        let mut totals = Vec::new();
        for _ in 0..RUNS {
            let output = Command::new(&program)
                .arg(&file)
                .output()
                .with_context(|| format!("could not run {}", program.display()))?;
            if !output.status.success() {
                bail!(
                    "run_graph failed on {name}: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let line: serde_json::Value = serde_json::from_slice(&output.stdout)
                .with_context(|| format!("run_graph printed no JSON line on {name}"))?;
            totals.push(line["total_ms"].as_f64().unwrap_or(f64::NAN));
        }
        let rss = peak_rss_kib(&program, &[file.to_str().unwrap_or_default()])?;
        writeln!(
            report,
            "run_graph {name}: median total {:.2} ms over {RUNS} runs, peak RSS {:.1} MiB",
            median(&mut totals),
            rss as f64 / 1024.0
        )?;
    }
    Ok(())
}

/// `flow run` on 2,000 `/bin/true` flows (20 layers x 100, 3 required parents each, --jobs 2,
/// memory store) against `make -j2` and `ninja -j2` on the same graph; `flow validate` on a
/// 10,000-flow file.
fn command_line(dir: &Path, report: &mut String) -> Result<()> {
    run_step(
        "build flow",
        "cargo",
        &["build", "--release", "-p", "flow-cli"],
        &[],
    )?;
    let flow = target_dir().join("release/flow");
    let edges = layered(20, 100, 2);
    let n = 2_000;
    let mut parents = vec![Vec::new(); n];
    for &(p, c) in &edges {
        parents[c].push(p);
    }
    let case = dir.join("true2000");
    fs::create_dir_all(&case)?;
    let mut toml = String::from("[workflow]\nname = \"true2000\"\n\n");
    let mut make = String::from(".PHONY: all");
    let mut ninja = String::from("rule t\n  command = /bin/true\n");
    for i in 0..n {
        write!(make, " n{i}")?;
    }
    make.push_str("\nall:");
    for i in 0..n {
        write!(make, " n{i}")?;
    }
    make.push('\n');
    for (i, ps) in parents.iter().enumerate() {
        let list: Vec<String> = ps.iter().map(|p| format!("\"n{p}\"")).collect();
        writeln!(
            toml,
            "[flows.n{i}]\ncommand = [\"/bin/true\"]\nrequires = [{}]\n",
            list.join(", ")
        )?;
        let deps: Vec<String> = ps.iter().map(|p| format!("n{p}")).collect();
        writeln!(make, "n{i}: {}\n\t@/bin/true", deps.join(" "))?;
        if deps.is_empty() {
            writeln!(ninja, "build n{i}: t")?;
        } else {
            writeln!(ninja, "build n{i}: t | {}", deps.join(" "))?;
        }
    }
    fs::write(case.join("flow.toml"), toml)?;
    fs::write(case.join("Makefile"), make)?;
    fs::write(case.join("build.ninja"), ninja)?;

    let flow_s = median_secs(
        &flow,
        &[
            "run",
            "flow.toml",
            "--jobs",
            "2",
            "--store",
            "memory",
            "--quiet",
        ],
        &case,
    )?;
    writeln!(
        report,
        "flow run 2000 /bin/true --jobs 2: median {flow_s:.3} s"
    )?;
    if installed("make") {
        let make_s = median_secs(Path::new("make"), &["-s", "-j2", "all"], &case)?;
        writeln!(
            report,
            "make -j2: median {make_s:.3} s (flow/make = {:.2}x)",
            flow_s / make_s
        )?;
    }
    if installed("ninja") {
        let ninja_s = median_secs(Path::new("ninja"), &["-j2", "--quiet"], &case)?;
        writeln!(
            report,
            "ninja -j2: median {ninja_s:.3} s (flow/ninja = {:.2}x)",
            flow_s / ninja_s
        )?;
    }

    let mut big = String::new();
    for i in 0..10_000 {
        writeln!(big, "[flows.f{i}]\nshell = \"true\"")?;
        if i > 0 {
            writeln!(big, "requires = [\"f{}\"]", i - 1)?;
        }
    }
    let validate = dir.join("validate10000");
    fs::create_dir_all(&validate)?;
    fs::write(validate.join("flow.toml"), big)?;
    let validate_s = median_secs(&flow, &["validate", "flow.toml"], &validate)?;
    writeln!(
        report,
        "flow validate of 10,000 flows: median {:.1} ms",
        validate_s * 1e3
    )?;
    Ok(())
}

/// 200 independent trivial flows through the Slurm executor against 200 bare `sbatch`
/// submissions polled by a shell loop, in the same run (needs a running cluster).
fn slurm(report: &mut String) -> Result<()> {
    if !installed("sbatch") {
        writeln!(
            report,
            "slurm: skipped, sbatch not found (start ../shared/ci/slurm-up.sh)"
        )?;
        return Ok(());
    }
    let output = Command::new("cargo")
        .args([
            "run",
            "--release",
            "-q",
            "-p",
            "flow-pool",
            "--example",
            "slurm_throughput",
            "--",
            "200",
        ])
        .current_dir(root())
        .output()
        .context("could not run the slurm_throughput example")?;
    if !output.status.success() {
        bail!(
            "slurm_throughput failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        writeln!(report, "slurm: {line}")?;
    }
    Ok(())
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The median wall time of `RUNS` runs of a command that must succeed.
fn median_secs(program: &Path, args: &[&str], cwd: &Path) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let status = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("could not run {}", program.display()))?;
        let elapsed = started.elapsed();
        if !status.success() {
            bail!("{} {} failed: {status}", program.display(), args.join(" "));
        }
        times.push(elapsed.as_secs_f64());
    }
    Ok(median(&mut times))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The peak resident set (KiB) of one run of a command, read from `/proc` once it has exited
/// and before it is reaped (GNU time's `%M` is not always installed).
fn peak_rss_kib(program: &Path, args: &[&str]) -> Result<i64> {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let started = Instant::now();
    let peak = loop {
        match nix::sys::wait::waitid(
            nix::sys::wait::Id::Pid(pid),
            nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT,
        ) {
            Ok(_) => break read_hwm(pid.as_raw())?,
            Err(nix::errno::Errno::EINTR) if started.elapsed() < Duration::from_secs(60) => {}
            Err(err) => bail!("waiting for {}: {err}", program.display()),
        }
    };
    child.wait()?;
    Ok(peak)
}

/// VmHWM of a process that has exited but not been reaped yet (its /proc entry is still there).
fn read_hwm(pid: i32) -> Result<i64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc status")
}
