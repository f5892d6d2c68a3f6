//! W4 of `cargo xtask bench`: commands on a graph, `flow run` against the floor, make and ninja.
//!
//! The graph is `layers` x 100 `/bin/true` commands, each requiring 3 commands of the layer
//! above, run two at a time: 2,000 commands (20 layers), then 10,000 (100 layers). Each
//! system runs once per round, the rounds interleaved so that a change of load on the shared
//! machine weighs on all alike; the report gives each one's median wall time and its ratio to
//! the floor, and the median CPU time of its whole process tree (user + system, commands
//! included) with its ratio to the floor's, and the core time left idle (the machine's cores
//! times the wall time, less that CPU time): the part of a wall-time gap that is not extra CPU
//! work, such as a runner's start, when one core works and the other waits, and its end. Last,
//! the CPU time of the runner's own process per command (its threads included, its commands
//! not): the work a runner adds to each command, which on two busy cores delays the next one. Between the floor and `flow run`, flow-bench's `w4_layers` runs
//! the same graph through more and more of flow's stack (tokio's process, flow-pool's
//! `CommandRunner`, the variables and paths `flow run` gives a command), so that the gap can
//! be read layer by layer.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::bench::{installed, layered, measured_run, median};
use crate::step::{run as run_step, target_dir};

/// One system measured on W4.
struct System {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// Removes the case's `.flow` folder before each run, so that every run starts from the
    /// same (empty) store and log folder.
    fresh_store: bool,
}

/// Runs W4 at 2,000 and at 10,000 commands and writes its table to `report`.
pub fn run(dir: &Path, report: &mut String) -> Result<()> {
    for (bin, package) in [
        ("spawn_floor", "flow-bench"),
        ("w4_layers", "flow-bench"),
        ("flow", "flow-cli"),
    ] {
        run_step(
            &format!("build {bin}"),
            "cargo",
            &["build", "--release", "-p", package, "--bin", bin],
            &[],
        )?;
    }
    // Five rounds at 10,000: with three, one slow run of a system (this machine is shared)
    // moved its median by a tenth.
    for (layers, rounds) in [(20, 7), (100, 5)] {
        let case = dir.join(format!("w4_{}", layers * 100));
        write_case(&case, layers)?;
        measure(&case, layers * 100, rounds, report)?;
    }
    Ok(())
}

/// Writes the graph in each system's form into `case`: `graph.json` (the floor), `flow.toml`,
/// `Makefile` (all phony; a recipe without shell syntax, which make runs without a shell) and
/// `build.ninja` (whose outputs are never made, so that every run runs every command).
fn write_case(case: &Path, layers: usize) -> Result<()> {
    let n = layers * 100;
    let edges = layered(layers, 100, 2);
    let mut parents = vec![Vec::new(); n];
    for &(p, c) in &edges {
        parents[c].push(p);
    }
    fs::create_dir_all(case)?;
    let json = serde_json::json!({ "nodes": n, "edges": edges });
    fs::write(case.join("graph.json"), json.to_string())?;
    let mut toml = format!("[workflow]\nname = \"w4_{n}\"\n\n");
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
    Ok(())
}

fn measure(case: &Path, n: usize, rounds: usize, report: &mut String) -> Result<()> {
    let release = target_dir().join("release");
    let strings = |args: &[&str]| args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let flow_run = ["run", "flow.toml", "--jobs", "2", "--quiet"];
    // The floor's graph through more and more of flow's stack (flow-bench's `w4_layers`).
    let layer = |name: &'static str, layer: &str| System {
        name,
        program: release.join("w4_layers"),
        args: strings(&["graph.json", "/bin/true", layer, "--jobs", "2"]),
        fresh_store: true,
    };
    let mut systems = vec![
        System {
            name: "floor (spawn_floor)",
            program: release.join("spawn_floor"),
            args: strings(&["graph.json", "/bin/true", "--jobs", "2"]),
            fresh_store: false,
        },
        layer("tokio::process", "tokio"),
        layer("CommandRunner", "runner"),
        layer("  + FLOW_* variables", "runner-env"),
        layer("  + cwd, log paths", "runner-run"),
        layer("  flow-core's driver, memory", "driver"),
        System {
            name: "flow run (default SQLite store)",
            program: release.join("flow"),
            args: strings(&flow_run),
            fresh_store: true,
        },
        System {
            name: "flow run --store memory",
            program: release.join("flow"),
            args: strings(&[&flow_run[..], &["--store", "memory"]].concat()),
            fresh_store: true,
        },
    ];
    if installed("make") {
        systems.push(System {
            name: "make -j2",
            program: "make".into(),
            args: strings(&["-s", "-j2", "all"]),
            fresh_store: false,
        });
    }
    if installed("ninja") {
        systems.push(System {
            name: "ninja -j2 (through /bin/sh -c)",
            program: "ninja".into(),
            args: strings(&["-j2", "--quiet"]),
            fresh_store: false,
        });
    }
    let mut times = vec![Vec::new(); systems.len()];
    let mut cpu = vec![Vec::new(); systems.len()];
    let mut own = vec![Vec::new(); systems.len()];
    let mut idle = vec![Vec::new(); systems.len()];
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    for _ in 0..rounds {
        for (k, system) in systems.iter().enumerate() {
            if system.fresh_store {
                match fs::remove_dir_all(case.join(".flow")) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            let args: Vec<&str> = system.args.iter().map(String::as_str).collect();
            let run = measured_run(&system.program, &args, case)?;
            times[k].push(run.wall);
            cpu[k].push(run.cpu);
            own[k].push(run.own_cpu);
            idle[k].push(cores * run.wall - run.cpu);
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    let cpu_medians: Vec<f64> = cpu.iter_mut().map(|t| median(t)).collect();
    let own_medians: Vec<f64> = own.iter_mut().map(|t| median(t)).collect();
    let idle_medians: Vec<f64> = idle.iter_mut().map(|t| median(t)).collect();
    let (floor, floor_cpu) = (medians[0], cpu_medians[0]);
    writeln!(
        report,
        "W4 {n} x /bin/true, 3 parents each, 2 at a time: medians of {rounds} interleaved rounds"
    )?;
    writeln!(
        report,
        "  (cpu: the whole tree's; own: the runner's process alone, its commands not counted; \
         idle: {cores} cores x wall - cpu, the core time nothing used, such as the runner's \
         start on one core and its end)"
    )?;
    for (k, system) in systems.iter().enumerate() {
        let (secs, cpu_secs, own_secs) = (medians[k], cpu_medians[k], own_medians[k]);
        let idle_secs = idle_medians[k];
        writeln!(
            report,
            "  {:<32} {secs:>7.3} s  {:>5.2}x the floor   cpu {cpu_secs:>7.3} s  {:>5.2}x   \
             own {:>4.0} µs a command   idle {idle_secs:>6.3} s",
            system.name,
            secs / floor,
            cpu_secs / floor_cpu,
            own_secs / n as f64 * 1e6
        )?;
    }
    let by_name = |name: &str| {
        systems
            .iter()
            .position(|s| s.name.starts_with(name))
            .map(|k| medians[k])
    };
    if let (Some(sqlite), Some(memory)) = (by_name("flow run (default"), by_name("flow run --")) {
        writeln!(
            report,
            "  default store / memory store: {:.2}",
            sqlite / memory
        )?;
        if let Some(make) = by_name("make") {
            writeln!(report, "  default store / make -j2: {:.2}", sqlite / make)?;
        }
    }
    Ok(())
}
