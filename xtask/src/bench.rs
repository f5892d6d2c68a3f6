//! `cargo xtask bench`: the benchmarks whose figures the closing notes report.
//!
//! Criterion benches of each crate, then end-to-end comparisons that need real programs:
//! flow-bench's `run_graph` program on three generated graphs, W4 (`bench_w4.rs`: `flow run`
//! against a floor, `make -j2` and `ninja -j2` on graphs of commands) and `flow validate`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeVal;
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::{sysconf, Pid, SysconfVar};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;

use crate::bench_w4;
use crate::step::{root, run as run_step, target_dir};

pub(crate) const RUNS: usize = 9;
/// Runs of `run_graph` per workload (after one not counted).
const RUN_GRAPH_RUNS: usize = 21;

/// Which benchmarks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Criterion benches of every crate, then the end-to-end comparisons.
    All,
    /// Only the end-to-end comparisons.
    EndToEnd,
    /// Only W4, commands on a graph (`bench_w4.rs`).
    W4,
    /// Only W1-W3, flow-bench's `run_graph` program.
    RunGraph,
}

pub fn run(scope: Scope) -> Result<()> {
    let criterion = if scope == Scope::All {
        &[
            ("flow-graph", Some("layered")),
            ("flow-results", None),
            ("flow-pool", None),
            ("flow-cli", Some("report")),
        ][..]
    } else {
        &[][..]
    };
    for &(krate, bench) in criterion {
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
    if scope == Scope::RunGraph {
        scheduler(&dir, &mut report)?;
        eprintln!("\nxtask bench summary\n{report}");
        return Ok(());
    }
    if scope == Scope::W4 {
        bench_w4::run(&dir, &mut report)?;
        eprintln!("\nxtask bench summary\n{report}");
        return Ok(());
    }
    scheduler(&dir, &mut report)?;
    bench_w4::run(&dir, &mut report)?;
    command_line(&dir, &mut report)?;
    if let Err(error) = slurm(&mut report) {
        writeln!(report, "slurm: not measured: {error:#}")?;
    }
    eprintln!("\nxtask bench summary\n{report}");
    Ok(())
}

/// Edges of a layered graph: `layers` x `width`, each flow with 3 parents in the layer above.
pub(crate) fn layered(layers: usize, width: usize, seed: u64) -> Vec<(usize, usize)> {
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

/// flow-bench's `run_graph` program on W1 (layered 100 x 100), W2 (a chain of 10,000) and W3
/// (100,000 independent flows): the median total time and, for W3, the peak RSS.
fn scheduler(dir: &Path, report: &mut String) -> Result<()> {
    let program = build_run_graph()?;
    for (name, file) in run_graph_workloads(dir)? {
        // A run of a few milliseconds: many are cheap, and steady the median. The first,
        // which pays for reading the program and the graph from disk, is not counted.
        run_graph_ms(&program, &file)?;
        let mut totals = Vec::new();
        for _ in 0..RUN_GRAPH_RUNS {
            totals.push(run_graph_ms(&program, &file)?);
        }
        let rss = peak_rss_kib(&program, &[file.to_str().unwrap_or_default()])?;
        writeln!(
            report,
            "run_graph {name}: median total {:.2} ms over {RUN_GRAPH_RUNS} runs, peak RSS {:.1} MiB",
            median(&mut totals),
            rss as f64 / 1024.0
        )?;
    }
    Ok(())
}

/// Builds flow-bench's `run_graph` program (release): its path.
pub(crate) fn build_run_graph() -> Result<std::path::PathBuf> {
    run_step(
        "build run_graph",
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "flow-bench",
            "--bin",
            "run_graph",
        ],
        &[],
    )?;
    Ok(target_dir().join("release/run_graph"))
}

/// Writes the graphs of W1 (layered 100 x 100), W2 (a chain of 10,000) and W3 (100,000
/// independent flows) into `dir`: each workload's name and file.
pub(crate) fn run_graph_workloads(dir: &Path) -> Result<Vec<(&'static str, std::path::PathBuf)>> {
    let workloads = [
        ("W1 layered 100x100", 10_000, layered(100, 100, 1)),
        (
            "W2 chain 10000",
            10_000,
            (1..10_000).map(|i| (i - 1, i)).collect(),
        ),
        ("W3 independent 100000", 100_000, Vec::new()),
    ];
    let mut files = Vec::new();
    for (name, nodes, edges) in workloads {
        let file = dir.join(format!("{}.json", name.split(' ').next().unwrap_or(name)));
        let json = serde_json::json!({ "nodes": nodes, "edges": edges });
        fs::write(&file, json.to_string())?;
        files.push((name, file));
    }
    Ok(files)
}

/// One run of a `run_graph` program on a graph file: its total time in milliseconds.
pub(crate) fn run_graph_ms(program: &Path, file: &Path) -> Result<f64> {
    let output = Command::new(program)
        .arg(file)
        .output()
        .with_context(|| format!("could not run {}", program.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed on {}: {}",
            program.display(),
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{} printed no JSON line", program.display()))?;
    Ok(line["total_ms"].as_f64().unwrap_or(f64::NAN))
}

/// `flow validate` on a 10,000-flow file and on matrices expanding to 101,001 flows.
fn command_line(dir: &Path, report: &mut String) -> Result<()> {
    run_step(
        "build flow",
        "cargo",
        &["build", "--release", "-p", "flow-cli"],
        &[],
    )?;
    let flow = target_dir().join("release/flow");
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
    validate_matrix(&flow, dir, report)?;
    crate::bench_fresh::run(&flow, dir, report)
}

/// `flow validate` of a file whose matrices expand to 101,001 flows (1,000 chunks, 100
/// samples x 1,000 chunks one-to-one on them, one flow gathering all 100,000): median time
/// and peak RSS.
fn validate_matrix(flow: &Path, dir: &Path, report: &mut String) -> Result<()> {
    let chunks: Vec<String> = (0..1_000).map(|i| i.to_string()).collect();
    let samples: Vec<String> = (0..100).map(|i| format!("\"s{i:03}\"")).collect();
    let toml = format!(
        r#"[params]
samples = [{samples}]
threads = 4
[defaults]
env = {{ LC_ALL = "C" }}
[flows.split]
matrix = {{ chunk = [{chunks}] }}
shell = "split --chunk {{chunk}} > parts/{{chunk}}"
[flows.align]
matrix = {{ sample = "{{samples}}", chunk = [{chunks}] }}
command = ["align", "-t", "{{threads}}", "--sample", "{{sample}}", "parts/{{chunk}}", "-o", "out/{{sample}}.{{chunk}}.bam"]
env = {{ SAMPLE = "{{sample}}" }}
requires = ["split.{{chunk}}"]
[flows.gather]
requires = ["align"]
shell = "cat out/*.bam > all.bam"
"#,
        samples = samples.join(", "),
        chunks = chunks.join(", ")
    );
    let case = dir.join("validate_matrix");
    fs::create_dir_all(&case)?;
    let file = case.join("flow.toml");
    fs::write(&file, toml)?;
    let secs = median_secs(flow, &["validate", "flow.toml"], &case)?;
    let rss = peak_rss_kib(flow, &["validate", file.to_str().unwrap_or_default()])?;
    writeln!(
        report,
        "flow validate of matrices expanding to 101,001 flows: median {:.1} ms, peak RSS {:.1} MiB",
        secs * 1e3,
        rss as f64 / 1024.0
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
            "flow-bench",
            "--bin",
            "slurm_throughput",
            "--",
            "200",
        ])
        .current_dir(root())
        .output()
        .context("could not run flow-bench's slurm_throughput")?;
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

pub(crate) fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The median wall time of `RUNS` runs of a command that must succeed.
/// Each tool `RUNS` times, in turn; the median wall time of each, in seconds.
pub(crate) fn interleaved_medians(
    tools: &[(&str, &Path, &[&str])],
    cwd: &Path,
) -> Result<Vec<f64>> {
    let mut times = vec![Vec::new(); tools.len()];
    for _ in 0..RUNS {
        for (k, &(_, program, args)) in tools.iter().enumerate() {
            times[k].push(wall_secs(program, args, cwd)?);
        }
    }
    Ok(times.iter_mut().map(|t| median(t)).collect())
}

/// The wall time of one run of a command that must succeed, in seconds.
pub(crate) fn wall_secs(program: &Path, args: &[&str], cwd: &Path) -> Result<f64> {
    Ok(measured_run(program, args, cwd)?.wall)
}

/// What one run of a command cost, in seconds.
pub(crate) struct Measured {
    /// From the start to the exit.
    pub wall: f64,
    /// CPU time (user + system) of the whole process tree: the command, its threads and
    /// every descendant it waited for (the commands a runner started).
    pub cpu: f64,
    /// CPU time of the command's own process, every thread of it included, its descendants
    /// not: what a runner spends itself to start and watch its commands. Read from
    /// `/proc/PID/stat` while it is a zombie, so in clock ticks (10 ms here).
    pub own_cpu: f64,
}

/// Runs a command that must succeed and measures it ([`Measured`]). The whole tree's CPU
/// time is the growth of this process's `RUSAGE_CHILDREN`, which holds every waited-for
/// descendant: the command and, as it waits for them, its own children.
pub(crate) fn measured_run(program: &Path, args: &[&str], cwd: &Path) -> Result<Measured> {
    let cpu_before = children_cpu()?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("could not run {}", program.display()))?;
    // Waits for the exit but leaves the zombie, whose own CPU time is still readable; the
    // zombie is reaped (and a child still running killed) before any error is returned.
    let exited = waitid_no_reap(child.id());
    let elapsed = started.elapsed();
    let own_cpu = exited.and_then(|()| own_cpu_secs(child.id()));
    if own_cpu.is_err() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let own_cpu = own_cpu?;
    if !status.success() {
        bail!("{} {} failed: {status}", program.display(), args.join(" "));
    }
    let cpu = children_cpu()?.saturating_sub(cpu_before);
    Ok(Measured {
        wall: elapsed.as_secs_f64(),
        cpu: cpu.as_secs_f64(),
        own_cpu,
    })
}

/// Waits until child `pid` has exited, leaving it a zombie; waits again when a signal
/// interrupts the wait.
fn waitid_no_reap(pid: u32) -> Result<()> {
    let pid = Pid::from_raw(i32::try_from(pid)?);
    loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Err(nix::errno::Errno::EINTR) => continue,
            result => return Ok(result.map(drop)?),
        }
    }
}

/// The user and system time of process `pid` itself (fields 14 and 15 of `/proc/PID/stat`:
/// all its threads, not its children), in seconds.
fn own_cpu_secs(pid: u32) -> Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (the state) is the first after the name, so field N is at index N - 3.
    let ticks = |n: usize| -> Result<u64> {
        let field = fields.get(n - 3).context("a short /proc/PID/stat")?;
        Ok(field.parse()?)
    };
    let per_second = sysconf(SysconfVar::CLK_TCK)?.context("no clock tick rate")?;
    Ok((ticks(14)? + ticks(15)?) as f64 / per_second as f64)
}

/// The CPU time (user + system) of this process's waited-for descendants so far.
fn children_cpu() -> Result<Duration> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let time = |t: TimeVal| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or(0),
            u32::try_from(t.tv_usec()).unwrap_or(0) * 1_000,
        )
    };
    Ok(time(usage.user_time()) + time(usage.system_time()))
}

/// The median wall time of `RUNS` runs of a command that must succeed.
fn median_secs(program: &Path, args: &[&str], cwd: &Path) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..RUNS {
        times.push(wall_secs(program, args, cwd)?);
    }
    Ok(median(&mut times))
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The peak resident set (KiB) of one run of a command: measured by a fresh `xtask` process
/// whose only child is the command (`getrusage` of its children is then exactly that run).
pub(crate) fn peak_rss_kib(program: &Path, args: &[&str]) -> Result<i64> {
    let xtask = std::env::current_exe().context("cannot find the xtask program")?;
    let output = Command::new(xtask)
        .arg(PEAK_RSS_TASK)
        .arg(program)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not measure {}", program.display()))?;
    if !output.status.success() {
        bail!("measuring the memory of {} failed", program.display());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("bad peak RSS `{}`", text.trim()))
}

/// The hidden task behind [`peak_rss_kib`].
pub const PEAK_RSS_TASK: &str = "__peak-rss";

/// Runs `program` with `args` (output discarded) and prints its peak RSS in KiB.
pub fn print_peak_rss(program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("could not run {program}"))?;
    if !status.success() {
        bail!("{program} failed: {status}");
    }
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    // Linux gives ru_maxrss in KiB.
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{}\n", usage.max_rss()).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::measured_run;
    use std::path::Path;

    /// A shell that only waits for a busy child: the tree's CPU time is the child's, the
    /// shell's own is (nearly) none.
    #[test]
    fn own_cpu_leaves_the_children_out() {
        let busy = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done";
        let run = measured_run(
            Path::new("/bin/sh"),
            &["-c", &format!("/bin/sh -c '{busy}'; exit 0")],
            Path::new("/"),
        )
        .unwrap();
        assert!(run.cpu > 0.05, "the child's loop costs CPU: {}", run.cpu);
        assert!(
            run.own_cpu < run.cpu / 2.0,
            "own {} of {}",
            run.own_cpu,
            run.cpu
        );
    }

    #[test]
    fn a_failing_command_is_an_error() {
        assert!(measured_run(Path::new("/bin/false"), &[], Path::new("/")).is_err());
    }
}
