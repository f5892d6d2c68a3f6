//! `flow run --executor slurm` end to end on a real Slurm cluster (start one with
//! `../shared/ci/slurm-up.sh`): the example pipeline ends as it does locally, Ctrl-C
//! cancels queued and running jobs, and `--resume` after a SIGKILL adopts the jobs of the
//! killed run instead of submitting them again. Each test prints why it skips when `sbatch`
//! is not installed, and fails instead when env `CI` is set.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::slurm::{self, jobs_named, wait_job_state};
use common::{fifo, flow, flow_entry, json_of, signal, wait_exit, wait_ready, GUARD};

/// A unique flow id (= Slurm job name) for this test process.
fn unique(name: &str) -> String {
    format!("{name}_{}", std::process::id())
}

fn statuses(json: &Value) -> Vec<(String, String, Value, Value)> {
    let mut flows: Vec<_> = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
                f["exit_code"].clone(),
                f["attempts"].clone(),
            )
        })
        .collect();
    flows.sort_by(|a, b| a.0.cmp(&b.0));
    flows
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Starts `flow run w.toml --executor slurm --json EXTRA` in `dir`, its output piped.
fn spawn_on_slurm(dir: &Path, extra: &[&str]) -> std::process::Child {
    flow()
        .current_dir(dir)
        .args(["run", "w.toml", "--executor", "slurm", "--json"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn the_example_pipeline_ends_on_slurm_as_it_does_locally() {
    if !slurm::available() {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipeline.toml");
    let local = tempfile::tempdir().unwrap();
    let slurm = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (dir, extra) in [(&local, &[][..]), (&slurm, &["--executor", "slurm"][..])] {
        std::fs::copy(&example, dir.path().join("pipeline.toml")).unwrap();
        let out = flow()
            .current_dir(dir.path())
            .args(["run", "pipeline.toml", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(json_of(&out));
    }
    assert_eq!(statuses(&outputs[1]), statuses(&outputs[0]));
    assert_eq!(outputs[1]["status"], outputs[0]["status"]);
    for sub in ["out", "out/parts"] {
        assert_eq!(
            files_in(&slurm.path().join(sub)),
            files_in(&local.path().join(sub))
        );
    }
    // The same log files: a stream a job never wrote to leaves no file (Slurm makes both).
    let logs = |dir: &Path| {
        let root = dir.join(".flow/logs");
        let runs = files_in(&root);
        assert_eq!(runs.len(), 1, "{runs:?}");
        let mut names = files_in(&root.join(&runs[0]));
        names.retain(|name| name.ends_with(".out") || name.ends_with(".err"));
        names
    };
    assert_eq!(logs(slurm.path()), logs(local.path()));
    let count = |dir: &Path| std::fs::read_to_string(dir.join("out/order-count.txt")).unwrap();
    assert_eq!(count(slurm.path()), count(local.path()));
    assert_eq!(count(slurm.path()).trim(), "20000");
}

#[test]
fn ctrl_c_cancels_queued_and_running_jobs_and_exits_130() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b, queued) = (unique("ctrlc_a"), unique("ctrlc_b"), unique("ctrlc_queued"));
    let after = unique("ctrlc_after");
    let ready_a = fifo(dir.path(), "a.fifo");
    let ready_b = fifo(dir.path(), "b.fifo");
    let workflow = format!(
        r#"
[flows.{a}]
shell = "echo $$ > a.fifo; exec sleep 300"
[flows.{b}]
shell = "echo $$ > b.fifo; exec sleep 300"
[flows.{queued}]
shell = "touch must-not-exist"
slurm = {{ extra = ["--begin=now+1hour"] }}
[flows.{after}]
requires = ["{a}"]
command = ["touch", "must-not-exist"]
"#
    );
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--executor", "slurm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&ready_a);
    wait_ready(&ready_b);
    wait_job_state(&queued, "PENDING");
    signal(child.id(), "INT");
    let out = wait_exit(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // The job cancelled while queued wrote nothing, and that is no warning.
    assert!(
        !stderr.contains("could not read the job's output"),
        "{stderr}"
    );
    for name in [&a, &b, &queued] {
        assert_eq!(
            jobs_named(name, "PD,R,CG,S"),
            Vec::<String>::new(),
            "{name} survived"
        );
        assert_eq!(jobs_named(name, "CANCELLED").len(), 1, "{name}");
    }
    assert!(!dir.path().join("must-not-exist").exists());

    let out = flow()
        .current_dir(dir.path())
        .args(["results", "w.toml", "--json"])
        .output()
        .unwrap();
    let json = json_of(&out);
    assert_eq!(json["status"], "cancelled");
    for name in [&a, &b, &queued, &after] {
        assert_eq!(flow_entry(&json, name)["status"], "cancelled", "{name}");
    }
}

#[test]
fn resume_after_sigkill_adopts_the_jobs_of_the_killed_run() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (live, ended, after) = (
        unique("adopt_live"),
        unique("adopt_ended"),
        unique("adopt_after"),
    );
    let ready_live = fifo(dir.path(), "live.fifo");
    let ready_ended = fifo(dir.path(), "ended.fifo");
    let workflow = format!(
        r#"
[flows.{live}]
shell = """
echo started >> live.starts
echo $$ > live.fifo
while [ ! -e live.gate ]; do sleep 0.1; done
echo live done
"""
[flows.{ended}]
shell = """
echo started >> ended.starts
echo $$ > ended.fifo
while [ ! -e ended.gate ]; do sleep 0.1; done
exit 0
"""
[flows.{after}]
requires = ["{live}", "{ended}"]
shell = "echo ran >> after.count"
"#
    );
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--executor", "slurm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&ready_live);
    wait_ready(&ready_ended);
    signal(child.id(), "KILL");
    let out = wait_exit(child);
    assert_eq!(out.status.code(), None, "killed by a signal");
    // The head is dead; its jobs are not. One of them ends meanwhile.
    assert_eq!(jobs_named(&live, "RUNNING").len(), 1);
    std::fs::write(dir.path().join("ended.gate"), "").unwrap();
    wait_job_state(&ended, "COMPLETED");

    let mut resumed = flow()
        .current_dir(dir.path())
        .args([
            "-v",
            "run",
            "w.toml",
            "--resume",
            "--executor",
            "slurm",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the resumed run says it adopted the live job, let that job end.
    let stderr = resumed.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let adopted_line = format!("flow=\"{live}\"");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.contains("adopted the Slurm job") && line.contains(&adopted_line) {
                let _ = tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    rx.recv_timeout(GUARD)
        .expect("the resumed run should adopt the live job");
    std::fs::write(dir.path().join("live.gate"), "").unwrap();
    let out = wait_exit(resumed);
    let stderr = reader.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json = json_of(&out);
    assert_eq!(json["status"], "completed", "{json}");
    let lines = |name: &str| {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(lines("live.starts"), 1, "the live job was submitted twice");
    assert_eq!(
        lines("ended.starts"),
        1,
        "the ended job was submitted twice"
    );
    assert_eq!(lines("after.count"), 1);
    for name in [&live, &ended, &after] {
        assert_eq!(
            jobs_named(name, "all").len(),
            1,
            "{name}: {:?}",
            jobs_named(name, "all")
        );
    }
    assert!(stderr.contains(&format!("flow=\"{ended}\"")), "{stderr}");
}

/// Regression: a run killed while a flow's second attempt ran as a Slurm job cancelled that
/// job on `--resume` and started again from attempt 1 (5 attempts for `retries = 2`). The
/// job of attempt 2 is adopted as attempt 2, and one more attempt runs, never more.
#[test]
fn resume_adopts_the_job_of_a_later_attempt_and_counts_its_attempts_on() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("adopt_retry");
    let ready = fifo(dir.path(), "second.fifo");
    let gate = fifo(dir.path(), "gate.fifo");
    // Attempt 1 fails at once; attempt 2 says it runs and waits for the gate, the first time
    // only (a second attempt 2 would be the defect, and must not wait); every attempt notes its
    // number and fails.
    let workflow = format!(
        r#"
[flows.{name}]
retries = 2
shell = """
echo "$FLOW_ATTEMPT" >> attempts.log
if [ "$FLOW_ATTEMPT" = 2 ] && [ ! -e waited ]; then
  touch waited
  echo $$ > second.fifo
  read x < gate.fifo
fi
exit 1
"""
"#
    );
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let child = spawn_on_slurm(dir.path(), &[]);
    wait_ready(&ready);
    signal(child.id(), "KILL");
    assert_eq!(wait_exit(child).status.code(), None, "killed by a signal");
    // The job of attempt 2 outlives the head, and fails meanwhile.
    std::fs::write(&gate, "go\n").unwrap();
    wait_job_state(&name, "FAILED");

    let out = wait_exit(spawn_on_slurm(dir.path(), &["--resume"]));
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{json}");
    let attempts = std::fs::read_to_string(dir.path().join("attempts.log")).unwrap();
    assert_eq!(attempts, "1\n2\n3\n", "1 + retries attempts in all");
    assert_eq!(flow_entry(&json, &name)["attempts"], 3, "{json}");
    let jobs = jobs_named(&name, "all");
    assert_eq!(jobs.len(), 3, "one job per attempt: {jobs:?}");
}

#[test]
fn sigterm_cancels_the_running_job_and_exits_130() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("term");
    let ready = fifo(dir.path(), "ready.fifo");
    let workflow = format!("[flows.{name}]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--executor", "slurm", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&ready);
    signal(child.id(), "TERM");
    let out = wait_exit(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        jobs_named(&name, "PD,R,CG,S"),
        Vec::<String>::new(),
        "the job survived"
    );
    assert_eq!(jobs_named(&name, "CANCELLED").len(), 1);
    let json = json_of(&out);
    assert_eq!(flow_entry(&json, &name)["status"], "cancelled");
}

/// A second run in a workflow folder whose Slurm jobs a first run keeps (here on another
/// store, so the store's lock does not stop it) is refused, and the first run's job goes on.
#[test]
fn a_second_run_does_not_take_the_first_runs_jobs() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("second");
    let ready = fifo(dir.path(), "ready.fifo");
    fifo(dir.path(), "go.fifo");
    let workflow = format!("[flows.{name}]\nshell = \"echo $$ > ready.fifo; read x < go.fifo\"\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let first = spawn_on_slurm(dir.path(), &[]);
    wait_ready(&ready);
    let second = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--executor", "slurm", "--store", "memory"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("are in use by another `flow run` (process "),
        "{stderr}"
    );
    std::fs::write(dir.path().join("go.fifo"), "go\n").unwrap();
    let out = wait_exit(first);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(flow_entry(&json_of(&out), &name)["status"], "completed");
}

/// `--resume` after a killed head whose job was then cancelled (`scancel`, the clean-up)
/// submits the flow again rather than report it cancelled.
#[test]
fn resume_submits_again_a_job_cancelled_while_no_flow_watched_it() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("cancelled_meanwhile");
    let ready = fifo(dir.path(), "ready.fifo");
    let go = fifo(dir.path(), "go.fifo");
    let workflow = format!("[flows.{name}]\nshell = \"echo $$ > ready.fifo; read x < go.fifo\"\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let first = spawn_on_slurm(dir.path(), &[]);
    wait_ready(&ready);
    signal(first.id(), "KILL");
    assert_eq!(wait_exit(first).status.code(), None);
    let cancelled = Command::new("scancel")
        .arg(format!("--name={name}"))
        .status();
    assert!(cancelled.unwrap().success());
    wait_job_state(&name, "CANCELLED");
    let second = spawn_on_slurm(dir.path(), &["--resume"]);
    wait_ready(&ready);
    std::fs::write(&go, "go\n").unwrap();
    let out = wait_exit(second);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(flow_entry(&json_of(&out), &name)["status"], "completed");
}

/// A flow's timeout counts from when its job runs: time waiting in the queue is the
/// cluster's (here the job may not begin for 4 s, and its timeout is 3 s).
#[test]
fn the_timeout_counts_from_when_the_job_runs_not_from_the_queue() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("queued_timeout");
    let workflow = format!(
        "[flows.{name}]\nshell = \"sleep 1\"\ntimeout = \"3s\"\n\
         slurm = {{ extra = [\"--begin=now+4\"] }}\n"
    );
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let out = wait_exit(spawn_on_slurm(dir.path(), &[]));
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(flow_entry(&json, &name)["status"], "completed");
}

/// A `cwd` that is a file is named as such by the job (not "No such file or directory").
#[test]
fn a_cwd_that_is_a_file_is_not_a_directory_on_the_node() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("cwd_file");
    let workflow = format!("[flows.{name}]\ncommand = [\"true\"]\ncwd = \"w.toml\"\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let out = wait_exit(spawn_on_slurm(dir.path(), &[]));
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{json}");
    let error = flow_entry(&json, &name)["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("w.toml on the compute node is not a folder"),
        "{error}"
    );
}

#[test]
fn a_sigkill_during_the_first_sbatch_burst_submits_no_flow_twice_on_resume() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..24).map(|i| unique(&format!("burst{i}"))).collect();
    let mut workflow = String::new();
    for name in &names {
        workflow.push_str(&format!(
            "[flows.{name}]\nshell = \"echo {name} >> starts\"\n"
        ));
    }
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--executor", "slurm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed as soon as the first submission is recorded: `sbatch` calls are in flight, and
    // finish after their parent died (they have their own process group).
    let jobs = dir.path().join(".flow/slurm/w/jobs");
    let start = Instant::now();
    while std::fs::read_dir(&jobs).map_or(true, |mut d| d.next().is_none()) {
        assert!(start.elapsed() < GUARD, "nothing was submitted");
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(child.id(), "KILL");
    let out = wait_exit(child);
    assert_eq!(out.status.code(), None, "killed by a signal");

    let out = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--resume", "--executor", "slurm", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(json_of(&out)["status"], "completed");
    let starts = std::fs::read_to_string(dir.path().join("starts")).unwrap();
    let mut started: Vec<&str> = starts.lines().collect();
    started.sort_unstable();
    let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(started, expected, "each flow ran exactly once");
    for name in &names {
        assert_eq!(jobs_named(name, "all").len(), 1, "{name}: one job");
    }
}

/// A job Slurm can never start (more CPUs than any node has) fails its flow with Slurm's
/// reason instead of waiting for ever.
#[test]
fn a_job_that_can_never_start_fails_its_flow_with_slurms_reason() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("never_starts");
    let workflow = format!("[flows.{name}]\ncommand = [\"true\"]\nslurm = {{ cpus = 4096 }}\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let out = wait_exit(spawn_on_slurm(dir.path(), &[]));
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{json}");
    let error = flow_entry(&json, &name)["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains(&format!("flow `{name}` can never start")),
        "{error}"
    );
    assert!(error.contains("PartitionConfig"), "{error}");
    assert!(
        jobs_named(&name, "PD,R,CG").is_empty(),
        "the job was left queued"
    );
}

/// A held job is reported once, as a warning naming the flow, the job, Slurm's reason and
/// the remedy, and runs once released.
#[test]
fn a_held_job_is_reported_once_and_runs_when_released() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("held");
    let workflow =
        format!("[flows.{name}]\nshell = \"echo ran\"\nslurm = {{ extra = [\"--hold\"] }}\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let mut child = spawn_on_slurm(dir.path(), &[]);
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.contains("is held") {
                let _ = tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    rx.recv_timeout(GUARD)
        .expect("the held job should be reported");
    let held = jobs_named(&name, "PD");
    assert_eq!(held.len(), 1, "{held:?}");
    let job = held[0].split_whitespace().next().unwrap().to_owned();
    let status = Command::new("scontrol")
        .args(["release", &job])
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait_exit(child);
    let stderr = reader.join().unwrap();
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{json}\n{stderr}");
    // One warning a user can act on, as flow's own (not a log line): the flow, the job,
    // Slurm's reason and what to do.
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("is held")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert_eq!(
        warnings[0],
        format!(
            "flow: warning: Slurm job {job} of flow `{name}` is held (Slurm reason \
             JobHeldUser): it will not start, and the run waits for it, until it is released; \
             release it with `scontrol release {job}`, or stop the run (Ctrl-C) to cancel it"
        ),
        "{stderr}"
    );
}

/// An `sbatch` refusal points at the flow's Slurm options in the workflow file, or at the
/// flow when it has none.
#[test]
fn an_sbatch_refusal_names_the_line_of_the_flows_slurm_options() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (with_options, without) = (unique("refused_options"), unique("refused_plain"));
    let workflow = format!(
        "[slurm]\npartition = \"no-such-partition\"\n\
         [flows.{with_options}]\ncommand = [\"true\"]\nslurm = {{ cpus = 1 }}\n\
         [flows.{without}]\ncommand = [\"true\"]\n"
    );
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let out = wait_exit(spawn_on_slurm(dir.path(), &[]));
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{json}");
    for (name, line) in [(&with_options, 5), (&without, 6)] {
        let text = flow_entry(&json, name)["error"]
            .as_str()
            .unwrap()
            .to_owned();
        let start = format!("w.toml:{line}: sbatch refused the job of flow `{name}`: ");
        assert!(text.starts_with(&start), "{text}");
        assert!(text.contains("invalid partition"), "{text}");
    }
}

/// A run without `--resume` after a killed head cancels the jobs that head left queued or
/// running (they would race the new jobs for the same outputs), and says so: a job may hold
/// hours of work.
#[test]
fn a_run_without_resume_says_it_cancels_the_running_job_a_killed_run_left() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("left_running");
    let ready = fifo(dir.path(), "ready.fifo");
    let go = fifo(dir.path(), "go.fifo");
    let workflow = format!("[flows.{name}]\nshell = \"echo $$ > ready.fifo; read x < go.fifo\"\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let first = spawn_on_slurm(dir.path(), &[]);
    wait_ready(&ready);
    signal(first.id(), "KILL");
    assert_eq!(wait_exit(first).status.code(), None);
    let second = spawn_on_slurm(dir.path(), &[]);
    wait_ready(&ready);
    // The first job, which reads the same fifo, is gone before the second is let go.
    wait_job_state(&name, "CANCELLED");
    std::fs::write(&go, "go\n").unwrap();
    let out = wait_exit(second);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("flow: warning: cancelling Slurm job ")
            && stderr.contains(&format!(
                "of flow `{name}`, left queued or running by an earlier `flow run` that died, \
                 and running the flow again (`flow run --resume` would have adopted it)"
            )),
        "{stderr}"
    );
    let states = jobs_named(&name, "all");
    assert!(
        states.iter().any(|line| line.ends_with(" CANCELLED"))
            && states.iter().any(|line| line.ends_with(" COMPLETED")),
        "{states:?}"
    );
}

/// A run stopped while a flow's job waits in the queue: the job is cancelled, and the flow
/// says its command never started, not "the command was cancelled" as if it had run.
#[test]
fn a_job_cancelled_in_the_queue_says_its_command_never_started() {
    if !slurm::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("queued_stop");
    let workflow =
        format!("[flows.{name}]\nshell = \"touch ran\"\nslurm = {{ extra = [\"--hold\"] }}\n");
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let child = spawn_on_slurm(dir.path(), &[]);
    wait_job_state(&name, "PENDING");
    signal(child.id(), "INT");
    let out = wait_exit(child);
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(130), "{json}");
    let flow = flow_entry(&json, &name);
    assert_eq!(flow["status"], "cancelled", "{json}");
    assert_eq!(
        flow["error"], "cancelled before its command started",
        "{json}"
    );
    assert!(!dir.path().join("ran").exists());
    wait_job_state(&name, "CANCELLED");
}
