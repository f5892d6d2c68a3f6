//! Throughput of the Slurm executor against bare `sbatch`: N trivial jobs (`true`) run
//! through [`SlurmExecutor`] at once, then the same N submitted by a shell loop of bare
//! `sbatch --parsable` calls and polled to completion with one `squeue` every 250 ms.
//! Prints both wall times, their ratio, and the Slurm commands the executor issued.
//!
//! ```text
//! SLURM_CI_CPUS=16 bash ../shared/ci/slurm-up.sh
//! cargo run --release -p flow-bench --bin slurm_throughput -- 200
//! ```
#![allow(clippy::print_stdout)] // an example program reporting on stdout

use std::process::Command;
use std::time::{Duration, Instant};

use flow_pool::{CancellationToken, CommandEnd, CommandSpec, SlurmConfig, SlurmExecutor};

/// The baseline: bare sbatch calls, then one squeue per 250 ms until none is left.
const BARE: &str = r#"
n=$1; dir=$2; ids=""
for i in $(seq "$n"); do
  id=$(sbatch --parsable -J "bare-$i" -o /dev/null -e /dev/null --wrap true) || exit 1
  ids="$ids${ids:+,}$id"
done
polls=0
while squeue -h -j "$ids" -t PD,CF,R,CG -o %i | grep -q .; do polls=$((polls + 1)); sleep 0.25; done
echo "$polls"
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n_jobs: usize = std::env::args().nth(1).map_or(Ok(200), |n| n.parse())?;
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;

    let slurm = SlurmExecutor::new(SlurmConfig::new(dir.path().join("state")))?;
    let specs: Vec<CommandSpec> = (0..n_jobs)
        .map(|i| {
            CommandSpec::argv(["true"])
                .env("FLOW_ID", format!("flow-{i}"))
                .stdout_path(dir.path().join(format!("flow-{i}.out")))
                .stderr_path(dir.path().join(format!("flow-{i}.err")))
        })
        .collect();
    let started = Instant::now();
    let outcomes = runtime.block_on(futures::future::join_all(
        specs
            .iter()
            .map(|spec| slurm.run(spec, None, CancellationToken::new())),
    ));
    let executor_time = started.elapsed();
    let failed = outcomes
        .iter()
        .filter(|o| !matches!(o, Ok(o) if o.end == CommandEnd::Exited(0)))
        .count();

    let started = Instant::now();
    let bare = Command::new("/bin/sh")
        .args(["-c", BARE, "bare", &n_jobs.to_string()])
        .arg(dir.path())
        .output()?;
    let bare_time = started.elapsed();
    if !bare.status.success() {
        return Err(format!(
            "the bare loop failed: {}",
            String::from_utf8_lossy(&bare.stderr)
        )
        .into());
    }

    let stats = slurm.stats();
    let secs = |d: Duration| d.as_secs_f64();
    println!("jobs: {n_jobs} (failed through the executor: {failed})");
    println!("SlurmExecutor: {:.2} s", secs(executor_time));
    println!(
        "bare sbatch loop + squeue polling: {:.2} s ({} polls)",
        secs(bare_time),
        String::from_utf8_lossy(&bare.stdout).trim()
    );
    println!(
        "ratio executor/bare: {:.2}",
        secs(executor_time) / secs(bare_time)
    );
    println!(
        "executor commands: {} sbatch, {} squeue, {} scancel in {} poll cycles \
         (at most 1 squeue per cycle; up to {} jobs in one squeue)",
        stats.sbatch_calls,
        stats.squeue_calls,
        stats.scancel_calls,
        stats.poll_cycles,
        stats.max_jobs_per_poll
    );
    Ok(())
}
