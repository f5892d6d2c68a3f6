//! Runs every user-facing example (`cargo run -p CRATE --example NAME`) and checks that it
//! succeeds and prints what it should, so that an example a user copies is known to work.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::step::{root, run as run_step, target_dir};

/// Each example: its crate, its name, and lines (or parts of lines) its output must hold.
/// Only what does not depend on timing or ids is checked.
const EXAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "flow-core",
        "pipeline",
        &[
            "waited for count_words: completed",
            ": 4 completed (0 reused), 2 failed, 0 cancelled",
            ": 5 completed (4 reused), 1 failed, 0 cancelled",
            "stored runs: 2",
            "  holidays     failed     attempts 3  calendar server unreachable",
            "  publish      completed  attempts 1  {\"exit_code\":0}",
            "  report       completed  attempts 0  {\"checksum\":2845,\"holidays\":\"unknown\",\"words\":5}",
        ],
    ),
    (
        "flow-core",
        "join_running",
        &["flows registered before the run: 1, run in the end: 5", "  total: 465"],
    ),
    (
        "flow-core",
        "progress",
        &[
            "run started: 5 flows",
            "fetch: attempt 1 failed (connection reset), retrying in 20ms",
            "fetch: completed",
            "stuck: failed: the command timed out: limit 300ms, stopped after",
            "deploy: failed: required flow `stuck` failed",
            ": 3 completed, 2 failed",
            "success: false",
        ],
    ),
    (
        "flow-graph",
        "dag",
        &[
            "refused: dependency cycle: publish -> clean -> model -> report -> publish",
            "would close: dependency cycle: report -> fetch -> clean -> model -> report",
            "a failure of clean fails: [model, report, publish]",
            "a failure of holidays fails: []",
            "  \"holidays\" -> \"report\" [style=dashed];",
        ],
    ),
    (
        "flow-results",
        "read_runs",
        &[
            "1 run(s) in sqlite:",
            " nightly    1 completed, 1 failed, 0 cancelled",
            "  fetch    completed 1200 ms  {\"rows\":42}",
            "  upload   failed         -  Error: exited with 22",
            "           stderr: curl: (22) The requested URL returned error: 503",
        ],
    ),
    (
        "flow-pool",
        "pool_manager",
        &[
            "command: TimedOut(300ms) after",
            "alive: false",
            "sum: 6",
            "fib: 12586269025",
            "slow: the task was cancelled",
            "after shutdown, active tasks: 0",
        ],
    ),
];

/// The longest an example may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(120);

pub fn check() -> Result<()> {
    let mut build = vec!["build", "--examples"];
    for (krate, _, _) in EXAMPLES {
        if !build.contains(krate) {
            build.extend(["-p", krate]);
        }
    }
    run_step("examples build", "cargo", &build, &[])?;
    let dir = target_dir().join("xtask-examples");
    std::fs::create_dir_all(&dir)?;
    for &(krate, name, expected) in EXAMPLES {
        eprintln!("xtask: == example: cargo run -p {krate} --example {name}");
        let started = Instant::now();
        let output = run_example(&dir, krate, name)?;
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|line| !output.contains(line))
            .collect();
        if !missing.is_empty() {
            bail!(
                "step `examples` failed: {krate}'s example `{name}` did not print {missing:?}; \
                 it printed:\n{output}"
            );
        }
        eprintln!("xtask: ok example {name} ({:.1?})", started.elapsed());
    }
    Ok(())
}

/// Runs the built example with `cargo run` (as a user does), stdout and stderr to one file;
/// fails if it exits with an error or runs longer than [`LIMIT`].
fn run_example(dir: &std::path::Path, krate: &str, name: &str) -> Result<String> {
    let log = dir.join(format!("{name}.log"));
    let file = File::create(&log)?;
    let mut child = Command::new("cargo")
        .args(["run", "-q", "-p", krate, "--example", name])
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("could not start the example `{name}`"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("step `examples` failed: `{name}` ran longer than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&log)?;
    if !status.success() {
        bail!("step `examples` failed: `{name}` exited with {status}:\n{output}");
    }
    Ok(output)
}
