//! A CI job's timeout or cancel signals every process of the job at once: a command killed
//! by that SIGTERM a moment before `flow` gets its own is stopped with the run (cancelled,
//! the run cancelled, exit code 130), not a failure of its flow.

mod common;

use std::process::Stdio;

use common::*;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

#[test]
fn a_command_killed_by_the_sigterm_that_stops_the_run_is_cancelled_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.step]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n\
         [flows.after]\nrequires = [\"step\"]\ncommand = [\"true\"]\n",
    );
    let child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let command = wait_ready(&ready);
    // The command first, then `flow`, at once, as a CI job's cancel signals them: which
    // of the two ends `flow` sees first is the race the run must not depend on. (Waiting
    // here for the command to be reaped would make the test depend on this thread getting
    // its next signal out within the run's 100 ms on a busy machine.)
    let term = |pid: i32| nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    term(command.parse().unwrap());
    term(child.id() as i32);
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["status"], "cancelled", "{json}");
    assert_eq!(flow_entry(&json, "step")["status"], "cancelled", "{json}");
    assert_eq!(flow_entry(&json, "after")["status"], "cancelled", "{json}");
    let error = flow_entry(&json, "step")["error"]
        .as_str()
        .unwrap()
        .to_owned();
    // Either end: it died of its SIGTERM, or the run's stop (first) cancelled it.
    assert!(
        error.contains("killed by SIGTERM") || error == "the command was cancelled",
        "{error}"
    );
}

#[test]
fn the_summary_of_a_stopped_run_names_the_step_that_was_running_and_its_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.step]\nshell = \"echo 'test 41 of 90'; echo up > ready.fifo; exec sleep 300\"\n",
    );
    let child = spawn_run(dir.path());
    wait_ready(&ready);
    signal(child.id(), "TERM");
    let out = wait_exit(child);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        stdout.contains("STOPPED step (w.toml:1): the command was cancelled\n  stdout (log: "),
        "{stdout}"
    );
    assert!(stdout.contains("\n  | test 41 of 90\n"), "{stdout}");
}

/// A command killed by the run's SIGTERM is cancelled with the run, and so what it left
/// outside its process group (a daemon in a session of its own) is killed when the run ends,
/// as it is for a command the stop cancelled.
#[test]
fn what_a_command_killed_by_the_runs_sigterm_left_is_killed_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.step]\nshell = '''\nmkfifo up\n\
         setsid sh -c 'echo $$ > up; exec sleep 300' </dev/null >/dev/null 2>&1 &\n\
         read pid < up\necho $pid > escaped.pid\necho $$ > ready.fifo\nexec sleep 300\n'''\n",
    );
    let child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let command = wait_ready(&ready);
    let escaped = std::fs::read_to_string(dir.path().join("escaped.pid")).unwrap();
    let escaped = escaped.trim().to_owned();
    let term = |pid: i32| nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    // Both at once, as in the test above.
    term(command.parse().unwrap());
    term(child.id() as i32);
    let out = wait_exit(child);
    let kept = alive(&escaped);
    if kept {
        signal(escaped.parse().unwrap(), "KILL");
    }
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert_eq!(flow_entry(&json_of(&out), "step")["status"], "cancelled");
    assert!(!kept, "the stopped run left {escaped} running");
}

/// The end of a command that a stop signal killed waits up to 100 ms for the run's stop; a
/// flow is not timed with that wait: its end, and its attempt's, are the command's. (The run
/// itself did last that long: its end comes after the wait.)
#[test]
fn a_flow_killed_by_a_stop_signal_is_timed_without_the_wait_for_the_runs_stop() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.a]\nshell = \"kill -TERM $$\"\n",
    );
    let out = run_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&run_in(dir.path(), &["report", "w.toml", "--json"]));
    let wall = json["wall_ms"].as_f64().unwrap();
    let flow = &json["flows"][0];
    // The store keeps milliseconds: a little less than the 100 ms window, for rounding.
    let waited = |end: &serde_json::Value| wall - end.as_f64().unwrap();
    assert!(waited(&flow["end_ms"]) >= 98.0, "{json}");
    assert!(
        waited(&flow["attempt_times"][0]["end_ms"]) >= 98.0,
        "{json}"
    );
}
