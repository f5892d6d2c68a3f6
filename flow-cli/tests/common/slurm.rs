//! Helpers of the end-to-end tests on a real Slurm cluster (`tests/slurm.rs`,
//! `tests/slurm_resume.rs`; start one with `../shared/ci/slurm-up.sh`).

use std::process::Command;
use std::time::{Duration, Instant};

use super::GUARD;

/// Whether `sbatch` is on `PATH`; says why a test skips when it is not, and fails the test
/// instead when env `CI` is set.
pub fn available() -> bool {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("sbatch").is_file()))
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "sbatch not found while env CI is set: .ci/run starts a Slurm cluster \
             (../shared/ci/slurm-up.sh) and this test must run there"
        );
        eprintln!("skipping: sbatch not found (start the cluster with ../shared/ci/slurm-up.sh)");
    }
    found
}

/// The jobs named `name` in `states` (`squeue --states`), as `ID STATE` lines.
pub fn jobs_named(name: &str, states: &str) -> Vec<String> {
    let out = Command::new("squeue")
        .args(["--noheader", "--format=%i %T"])
        .arg(format!("--states={states}"))
        .arg(format!("--name={name}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits (polling `squeue`: a cluster's state cannot be awaited) until a job named `name`
/// is in `state`.
pub fn wait_job_state(name: &str, state: &str) {
    let start = Instant::now();
    while !jobs_named(name, "all")
        .iter()
        .any(|line| line.ends_with(&format!(" {state}")))
    {
        assert!(start.elapsed() < GUARD, "no job {name} in state {state}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
