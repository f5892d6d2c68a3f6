//! The run after a killed `flow run --executor slurm`, on a real Slurm cluster (start one
//! with `../shared/ci/slurm-up.sh`): a run on this machine cancels the jobs the killed run
//! left, which would otherwise run on beside it, and a run on Slurm stops the commands a
//! killed run here left (its watchdog killed too); a resumed run on Slurm records an adopted
//! job's real start and duration. Each test prints why it skips when `sbatch` is not
//! installed, and fails instead when env `CI` is set.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::slurm::{self, jobs_named, wait_job_state};
use common::{alive, fifo, flow, flow_entry, json_of, signal, wait_exit, wait_ready, watchdog_of};

/// Cancels this test's jobs, whatever the test's end: a failed test leaves none queued.
struct CancelJobs(String);

impl Drop for CancelJobs {
    fn drop(&mut self) {
        let _ = Command::new("scancel")
            .arg(format!("--name={}", self.0))
            .arg(format!("--user={}", whoami()))
            .status();
    }
}

/// Kills the command a killed run left (`pid`) if the test fails: it waits on a fifo, and
/// would wait there for ever. (Not after a test that passed: the resume stopped it, and its
/// pid may name another process by then.)
struct KillLeftOnFailure(String);

impl Drop for KillLeftOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() && alive(&self.0) {
            let _ = Command::new("kill").args(["-KILL", &self.0]).status();
        }
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn run(dir: &Path, args: &[&str]) -> std::process::Child {
    flow()
        .current_dir(dir)
        .args(["run", "w.toml", "--json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Regression: a `flow run --resume` on this machine after a killed `flow run --executor
/// slurm` left the killed run's job queued (on a cluster of several nodes, running too),
/// beside the flow it ran itself. Now it cancels the job before any flow starts, and says so.
#[test]
fn a_local_resume_cancels_the_job_a_killed_slurm_run_left_queued() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("left_queued_{}", std::process::id());
    let _cancel = CancelJobs(name.clone());
    let workflow = format!(
        "[flows.{name}]\nshell = \"echo here >> ran\"\nslurm = {{ extra = [\"--hold\"] }}\n"
    );
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let first = run(dir.path(), &["--executor", "slurm"]);
    wait_job_state(&name, "PENDING");
    signal(first.id(), "KILL");
    assert_eq!(wait_exit(first).status.code(), None);
    // What is left is told by a look at the workflow, as what the next run does with it.
    let job = jobs_named(&name, "all")[0]
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let note = format!(
        "note: a `flow run --executor slurm` of `w` that was killed left Slurm job {job} \
         (flow `{name}`), which may still be queued or running (`squeue -j {job}`): `flow run \
         --executor slurm --resume` adopts it instead of running its flow again; a run on \
         this machine cancels it first\n"
    );
    for args in [
        &["results", "w.toml"][..],
        &["runs", "w.toml"],
        &["run", "w.toml", "-n", "--resume"],
    ] {
        let out = flow().current_dir(dir.path()).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.ends_with(&note), "{args:?}: {stdout}");
    }

    let out = wait_exit(run(dir.path(), &["--resume"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(flow_entry(&json_of(&out), &name)["status"], "completed");
    let jobs = jobs_named(&name, "all");
    assert!(
        jobs.len() == 1 && jobs[0].ends_with(" CANCELLED"),
        "the killed run's job is still there: {jobs:?}"
    );
    let job = jobs[0].split(' ').next().unwrap();
    assert!(
        stderr.contains(&format!(
            "flow: warning: cancelling Slurm job {job} of flow `{name}`, left queued or running \
             by an earlier `flow run --executor slurm` of `w` that died: this run runs the \
             flows on this machine"
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ran")).unwrap(),
        "here\n"
    );
    let results = flow()
        .current_dir(dir.path())
        .args(["results", "w.toml"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&results.stdout).contains("note:"));
    // The next run finds nothing left to cancel.
    let again = wait_exit(run(dir.path(), &[]));
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains("cancelling Slurm job"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// Regression: a job that `--resume` adopted was recorded as started when the resumed run
/// adopted it, and its duration counted from there: `flow results`, `--json` and the report
/// showed a fraction of the time it ran.
#[test]
fn an_adopted_job_keeps_its_start_and_its_whole_duration() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("adopted_clock_{}", std::process::id());
    let _cancel = CancelJobs(name.clone());
    // The job says when it started, and when it has run on for 3 s.
    let started = fifo(dir.path(), "started.fifo");
    let ran = fifo(dir.path(), "ran.fifo");
    let workflow = format!(
        "[flows.{name}]\nshell = \"date +%s%3N > began; echo > started.fifo; sleep 3; \
         echo > ran.fifo; sleep 3\"\n"
    );
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let first = run(dir.path(), &["--executor", "slurm"]);
    wait_ready(&started);
    signal(first.id(), "KILL");
    assert_eq!(wait_exit(first).status.code(), None);
    // The job runs on, unwatched, for a while.
    wait_ready(&ran);

    let out = wait_exit(run(dir.path(), &["--executor", "slurm", "--resume"]));
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{json}");
    let flow = flow_entry(&json, &name);
    let began: i64 = (std::fs::read_to_string(dir.path().join("began")).unwrap())
        .trim()
        .parse()
        .unwrap();
    let started_at = chrono::DateTime::parse_from_rfc3339(flow["started_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    // Slurm counts whole seconds.
    assert!(
        started_at <= began + 1000,
        "recorded as started at {started_at}, the job began at {began}: {json}"
    );
    assert!(flow["duration_ms"].as_u64().unwrap() >= 5000, "{json}");
}

/// Regression: `flow run --executor slurm --resume` after a local `flow run` killed with its
/// watchdog (`kill -9` of both) left the killed run's command running here, beside the job
/// it submitted for the same flow. Now it stops that command first, as a local run does.
#[test]
fn a_slurm_resume_stops_the_commands_a_killed_local_run_left() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("left_here_{}", std::process::id());
    let _cancel = CancelJobs(name.clone());
    let ready = fifo(dir.path(), "ready.fifo");
    let go = fifo(dir.path(), "go.fifo");
    let workflow = format!(
        "[flows.{name}]\nshell = \"echo $$ > ready.fifo; read x < go.fifo; echo done >> out\"\n"
    );
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let first = run(dir.path(), &[]);
    let shell = wait_ready(&ready);
    let _left = KillLeftOnFailure(shell.clone());
    // The watchdog first, so that it cannot see the run die.
    signal(watchdog_of(first.id()).parse().unwrap(), "KILL");
    signal(first.id(), "KILL");
    assert_eq!(wait_exit(first).status.code(), None);
    assert!(
        alive(&shell),
        "the killed run's command {shell} is gone already"
    );

    let second = run(dir.path(), &["--executor", "slurm", "--resume"]);
    let job_shell = wait_ready(&ready);
    assert!(
        !alive(&shell),
        "the killed run's command {shell} still runs beside the Slurm job ({job_shell})"
    );
    std::fs::write(&go, "go\n").unwrap();
    let out = wait_exit(second);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("died and left 1 process running"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).unwrap(),
        "done\n"
    );
}

/// Where Slurm cannot be reached (its commands are not on `PATH`), a run on this machine
/// cannot cancel what a killed Slurm run left: it says which jobs, and keeps them for a run
/// that can.
#[test]
fn a_local_run_without_slurm_names_the_jobs_it_cannot_check() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("unchecked_{}", std::process::id());
    let _cancel = CancelJobs(name.clone());
    let workflow =
        format!("[flows.{name}]\nshell = \"echo here\"\nslurm = {{ extra = [\"--hold\"] }}\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let first = run(dir.path(), &["--executor", "slurm"]);
    wait_job_state(&name, "PENDING");
    signal(first.id(), "KILL");
    assert_eq!(wait_exit(first).status.code(), None);
    let job = jobs_named(&name, "all")[0]
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    // A PATH with a shell and no Slurm.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["bash", "sh", "echo"] {
        let found = (std::env::split_paths(&std::env::var_os("PATH").unwrap()))
            .map(|dir| dir.join(tool))
            .find(|path| path.is_file())
            .unwrap();
        std::os::unix::fs::symlink(found, bin.join(tool)).unwrap();
    }
    let out = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml"])
        .env("PATH", &bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "which cannot be checked here (`sbatch` is not on PATH (Slurm's commands must be \
             installed here)): if they still run, cancel them (`scancel {job}` where Slurm \
             is), as they write what this run writes"
        )),
        "{stderr}"
    );
    // Kept: a run where Slurm is cancels it.
    let out = wait_exit(run(dir.path(), &[]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("cancelling Slurm job {job} ")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
