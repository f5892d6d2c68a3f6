//! A run whose `flow run` was killed with SIGKILL, as every reader shows it: the flows it left
//! running are interrupted in `flow results` (table and `--json`) and `flow report` (page and
//! `--json`) alike, never "running"; and the next run stops what such a run left running,
//! never what a live run is running (a copy of its folder names it too).

mod common;

use common::*;

#[test]
fn a_flow_left_running_by_a_killed_run_is_interrupted_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.quick]\ncommand = [\"true\"]\n\
         [flows.step]\nrequires = [\"quick\"]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n",
    );
    let child = spawn_run(dir.path());
    let sleeper = wait_ready(&ready);
    // The store learns that a flow started a moment after it starts: kill the run once it
    // is recorded running, as a run killed in the middle of its work would be.
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
        if flow_entry(&json, "step")["status"] == "running" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {json}"
        );
    }
    signal(child.id(), "KILL");
    wait_exit(child);
    wait_all_dead(&[sleeper]);

    let table = text(&run_in(dir.path(), &["results", "w.toml"]).stdout);
    assert!(table.contains("step   interrupted"), "{table}");
    assert!(table.contains(", 1 interrupted\n"), "{table}");

    let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
    assert_eq!(json["status"], "interrupted", "{json}");
    assert_eq!(flow_entry(&json, "step")["status"], "interrupted", "{json}");
    assert_eq!(flow_entry(&json, "quick")["status"], "completed", "{json}");

    let page = text(&run_in(dir.path(), &["report", "w.toml", "-o", "-"]).stdout);
    assert!(
        page.contains("<span class=\"chip s-interrupted\">1 interrupted</span>"),
        "{page}"
    );
    for running in ["chip s-running", "bar s-running", "node s-running"] {
        assert!(!page.contains(running), "{page}");
    }
    assert!(page.contains("<summary>1 interrupted</summary>"), "{page}");

    let json = json_of(&run_in(dir.path(), &["report", "w.toml", "--json"]));
    assert_eq!(flow_entry(&json, "step")["status"], "interrupted", "{json}");
    assert_eq!(json["counts"]["running"], 0, "{json}");
    assert_eq!(json["counts"]["interrupted"], 1, "{json}");
}

/// A flow that a killed run never started is `not run` on the report page, as in `flow
/// results`' table: the run is over, nothing is pending any more (the JSON keeps `pending`).
#[test]
fn a_flow_a_killed_run_never_started_is_not_run_on_the_report_page() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.step]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n\
         [flows.after]\nrequires = [\"step\"]\ncommand = [\"true\"]\n",
    );
    kill_run_while_running(dir.path(), &ready, "step");

    let table = text(&run_in(dir.path(), &["results", "w.toml"]).stdout);
    assert!(table.contains("\nafter  not run "), "{table}");
    let page = text(&run_in(dir.path(), &["report", "w.toml", "-o", "-"]).stdout);
    assert!(
        page.contains("<span class=\"chip s-pending\">1 not run</span>"),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"chip s-pending\">not run</span>"),
        "{page}"
    );
    assert!(page.contains("after: not run"), "{page}");
    assert!(!page.contains("pending</span>"), "{page}");
    assert!(!page.contains(": pending"), "{page}");
    let json = json_of(&run_in(dir.path(), &["report", "w.toml", "--json"]));
    assert_eq!(flow_entry(&json, "after")["status"], "pending", "{json}");
}

/// `killall -9 flow` kills `flow run` and, were it named `flow`, its watchdog: the commands of
/// the run then outlive both. The next run stops them (SIGTERM first) before it starts its
/// own, and says so: the command never runs twice at once.
#[test]
fn a_resume_after_kill_9_of_flow_and_its_watchdog_stops_the_survivors_first() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        r#"[flows.a]
shell = """
echo start >> log
if [ -f go ]; then exit 0; fi
trap 'echo stopped >> log; exit 143' TERM
echo $$ > ready.fifo
sleep 300 & wait
"""
"#,
    );
    let child = spawn_run(dir.path());
    let flow_pid = child.id();
    let shell = wait_ready(&ready);
    let watchdog = watchdog_of(flow_pid);
    let cmdline = std::fs::read(format!("/proc/{watchdog}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"Flow-watchdog\0__watchdog\0"),
        "{cmdline:?}"
    );
    // It blocks no signal, though `flow run` held its stop signals when it started it.
    let status = std::fs::read_to_string(format!("/proc/{watchdog}/status")).unwrap();
    assert!(status.contains("SigBlk:\t0000000000000000\n"), "{status}");
    // The watchdog first, so that it cannot see the run die.
    signal(watchdog.parse().unwrap(), "KILL");
    wait_all_dead(&[watchdog]);
    signal(flow_pid, "KILL");
    wait_exit(child);
    assert!(
        alive(&shell),
        "the command did not outlive flow and its watchdog"
    );
    let runs = text(&run_in(dir.path(), &["runs", "w.toml"]).stdout);
    assert!(runs.contains("interrupted"), "{runs}");

    std::fs::write(dir.path().join("go"), "").unwrap();
    let out = run_guarded(dir.path(), &["run", "w.toml", "--resume"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!alive(&shell), "the survivor is still running");
    assert!(
        stderr.contains(&format!(
            "`flow run` (process {flow_pid}) died and left 2 processes running (pid "
        )) && stderr.contains(" of flow a: ")
            && stderr.contains("; they were stopped before this run"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("died and left").count(), 1, "{stderr}");
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert_eq!(
        log, "start\nstopped\nstart\n",
        "not stopped before the resume"
    );
}

/// What a flow that ended by itself left running in the background (a server, out of its
/// group) belongs to it: the next run leaves it alone.
#[test]
fn the_next_run_leaves_alone_what_a_run_that_ended_left_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.serve]\nshell = \"setsid sleep 300 > /dev/null 2>&1 < /dev/null & echo $! > bg.pid\"\n",
    );
    let out = run_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let server = std::fs::read_to_string(dir.path().join("bg.pid")).unwrap();
    let server = server.trim().to_owned();
    let out = run_in(dir.path(), &["run", "w.toml", "--resume"]);
    let stderr = text(&out.stderr);
    let kept = alive(&server);
    signal(server.parse().unwrap(), "KILL");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(kept, "the next run stopped a finished flow's server");
    assert!(!stderr.contains("died and left"), "{stderr}");
}

/// Copies the folder `from` to `to` as `cp -a` does (the lock file and the store included).
fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .args([from, to])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A copy of a folder holds the store and the lock file of the run going on in the original,
/// which names that run and its `flow run`, with no end recorded. A run in the copy (also
/// `--resume`, also with a lock file and `flow.pid` naming a dead process, as another pid
/// namespace's would) must not take that live run for a dead one and stop its commands.
#[test]
fn a_run_in_a_copied_folder_leaves_the_live_run_of_the_original_alone() {
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("a");
    std::fs::create_dir(&original).unwrap();
    let ready = fifo(&original, "ready.fifo");
    let go = fifo(&original, "go.fifo");
    write(&original, "hold", "");
    write(
        &original,
        "w.toml",
        "[flows.build]\nshell = \"if [ -e hold ]; then echo $$ > ready.fifo; read go < go.fifo; fi; \
         echo built > built.txt\"\n",
    );
    let child = spawn_run(&original);
    let shell = wait_ready(&ready);
    wait_recorded_running(&original, "build");
    let lock = std::fs::read_to_string(original.join(".flow/.flow.db.w.lock")).unwrap();
    let (run, _) = lock.trim().split_once(' ').unwrap();

    let dead = {
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        gone.id().to_string()
    };
    for (copy, args, pid) in [
        ("b", &["run", "w.toml"][..], None),
        ("c", &["run", "w.toml", "--resume"][..], None),
        ("d", &["run", "w.toml", "--resume"][..], Some(&dead)),
    ] {
        let copy = root.path().join(copy);
        copy_folder(&original, &copy);
        std::fs::remove_file(copy.join("hold")).unwrap();
        if let Some(pid) = pid {
            write(&copy, ".flow/.flow.db.w.lock", &format!("{run} {pid}\n"));
            write(
                &copy,
                &format!(".flow/logs/{run}/flow.pid"),
                &format!("{pid}\n"),
            );
        }
        let out = run_guarded(&copy, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?} in the copy: {stderr}");
        assert!(!stderr.contains("died and left"), "{stderr}");
        assert!(
            alive(&shell),
            "`flow {}` in a copy stopped the original run's command",
            args.join(" ")
        );
    }

    std::fs::write(&go, "go\n").unwrap();
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(original.join("built.txt").exists());
}

/// A reader tells a run in progress by its lock being held, not by the process id in the lock
/// file: a process id is reused (in a container, the next process gets the same small one).
#[test]
fn a_killed_run_whose_lock_file_names_a_live_process_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.step]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n",
    );
    kill_run_while_running(dir.path(), &ready, "step");
    let lock_file = dir.path().join(".flow/.flow.db.w.lock");
    let lock = std::fs::read_to_string(&lock_file).unwrap();
    let (run, _) = lock.trim().split_once(' ').unwrap();
    // This test's own process: alive, and started before the run.
    std::fs::write(&lock_file, format!("{run} {}\n", std::process::id())).unwrap();

    let runs = text(&run_in(dir.path(), &["runs", "w.toml"]).stdout);
    assert!(runs.contains("interrupted"), "{runs}");
    assert!(!runs.contains("running"), "{runs}");
    let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
    assert_eq!(json["status"], "interrupted", "{json}");
    assert_eq!(flow_entry(&json, "step")["status"], "interrupted", "{json}");
}

/// A store copied without its lock file and logs names no `flow run` of its unfinished run:
/// a run taking it over cannot tell whether that run is gone, and stops none of its
/// processes, even one that left the live run's process tree.
#[test]
fn a_run_whose_flow_run_nothing_names_keeps_its_processes() {
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("a");
    std::fs::create_dir(&original).unwrap();
    let ready = fifo(&original, "ready.fifo");
    let go = fifo(&original, "go.fifo");
    write(&original, "hold", "");
    // The first attempt leaves a process outside its tree and fails; the run waits to retry.
    let workflow = "[flows.daemon]\nshell = \"if [ -e hold ]; then setsid -f sh -c 'echo $$ > \
                    ready.fifo; read go < go.fifo' </dev/null >/dev/null 2>&1; exit 1; fi\"\n\
                    retries = 1\nretry_delay = \"60s\"\n";
    write(&original, "w.toml", workflow);
    let child = spawn_run(&original);
    let detached = wait_ready(&ready);
    wait_recorded_running(&original, "daemon");

    let copy = root.path().join("b");
    std::fs::create_dir_all(copy.join(".flow")).unwrap();
    write(&copy, "w.toml", workflow);
    for name in ["flow.db", "flow.db-wal", "flow.db-shm"] {
        let from = original.join(".flow").join(name);
        if from.exists() {
            std::fs::copy(&from, copy.join(".flow").join(name)).unwrap();
        }
    }
    let out = run_guarded(&copy, &["run", "w.toml", "--resume"]);
    let stderr = text(&out.stderr);
    let kept = alive(&detached);
    // Ended before the checks, so that a failed one leaves nothing running.
    if kept {
        std::fs::write(&go, "go\n").unwrap();
    }
    std::fs::remove_file(original.join("hold")).unwrap();
    signal(child.id(), "TERM");
    wait_exit(child);
    assert!(kept, "the copy stopped the live run's process: {stderr}");
    assert!(
        stderr.contains("left alone; stop them if that run is gone"),
        "{stderr}"
    );
}

/// A flow whose first run's command ignores SIGTERM (it notes each one in `log`) and runs
/// until killed; in later runs (once `second` exists) it ends at once. (Its stderr goes to a
/// file: bash reports the `sleep` that SIGTERM ended, and the dead run's pipe would end bash
/// with SIGPIPE.)
const STUBBORN: &str = r#"[flows.a]
kill_grace = "2s"
shell = """
echo start >> log
if [ -e second ]; then exit 0; fi
exec 2>> stderr.log
trap 'echo term >> log' TERM
echo $$ > ready.fifo
while :; do sleep 1 || :; done
"""
"#;

/// Runs [`STUBBORN`] in `dir` and kills `flow run` and its watchdog with SIGKILL, leaving its
/// command running; returns the killed `flow run`'s process id and the command's.
fn orphan_stubborn(dir: &std::path::Path) -> (u32, String) {
    let ready = fifo(dir, "ready.fifo");
    write(dir, "w.toml", STUBBORN);
    let child = spawn_run(dir);
    let flow_pid = child.id();
    let shell = wait_ready(&ready);
    let watchdog = watchdog_of(flow_pid);
    signal(watchdog.parse().unwrap(), "KILL");
    wait_all_dead(&[watchdog]);
    signal(flow_pid, "KILL");
    wait_exit(child);
    write(dir, "second", "");
    (flow_pid, shell)
}

/// Waits (polling, with a deadline against hangs) until `log` in `dir` holds the line `line`:
/// here, that the next run's takeover sent the command its SIGTERM.
fn wait_logged(dir: &std::path::Path, line: &str) {
    let deadline = std::time::Instant::now() + GUARD;
    while !std::fs::read_to_string(dir.join("log")).is_ok_and(|log| log.lines().any(|l| l == line))
    {
        assert!(std::time::Instant::now() < deadline, "never logged {line}");
        std::thread::yield_now();
    }
}

/// Kills process group `pid` (a command's: it leads its own session), if it is alive still;
/// whether it was.
fn kill_if_alive(pid: &str) -> bool {
    let alive = alive(pid);
    if alive {
        let group = nix::unistd::Pid::from_raw(pid.parse().unwrap());
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    }
    alive
}

/// A stop signal while a run stops what a dead run left running is not lost, nor does it cut
/// the takeover short: the dead run's command is stopped (SIGTERM, its grace, SIGKILL), then
/// the run stops before starting anything, exits 130 and is recorded cancelled.
#[test]
fn a_stop_signal_during_the_takeover_lets_it_finish_then_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (flow_pid, shell) = orphan_stubborn(d);
    let child = spawn_run(d);
    wait_logged(d, "term");
    signal(child.id(), "TERM");
    let out = wait_exit(child);
    let survived = kill_if_alive(&shell);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        !survived,
        "the dead run's command survived the takeover: {stderr}"
    );
    assert!(
        stderr.contains(&format!("`flow run` (process {flow_pid}) died and left")),
        "{stderr}"
    );
    assert!(
        stderr.contains("SIGTERM: stopping before the run starts"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no flow starts (send SIGTERM again to kill them at once)"),
        "{stderr}"
    );
    let log = std::fs::read_to_string(d.join("log")).unwrap();
    assert_eq!(
        log.matches("start").count(),
        1,
        "a started after the stop: {log}"
    );
    let json = json_of(&run_in(d, &["results", "w.toml", "--json"]));
    assert_eq!(json["status"], "cancelled", "{json}");
    assert_eq!(flow_entry(&json, "a")["status"], "cancelled", "{json}");
}

/// A run killed (SIGKILL) while it stops what a dead run left running leaves that dead run
/// named in the lock file: the next run finds its command and stops it before starting its
/// own, so the flow never runs twice at once.
#[test]
fn a_takeover_cut_short_by_sigkill_is_taken_up_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (flow_pid, shell) = orphan_stubborn(d);
    let child = spawn_run(d);
    wait_logged(d, "term");
    signal(child.id(), "KILL");
    wait_exit(child);
    let out = run_guarded(d, &["run", "w.toml"]);
    let survived = kill_if_alive(&shell);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !survived,
        "the dead run's command outlived the next run: {stderr}"
    );
    assert!(
        stderr.contains(&format!("`flow run` (process {flow_pid}) died and left")),
        "{stderr}"
    );
    let log = std::fs::read_to_string(d.join("log")).unwrap();
    assert!(
        log.ends_with("term\nstart\n"),
        "not stopped before the run: {log}"
    );
}

/// A run that takes over from a run killed with its watchdog, with a grace of ten minutes for
/// the dead run's command (which ignores SIGTERM): the run, the command's process id and the
/// run's lines on stderr as they come, once it said it stops that command.
fn taking_over(dir: &std::path::Path) -> (std::process::Child, String, Lines) {
    use std::io::BufRead;
    let (_, shell) = orphan_stubborn(dir);
    write(dir, "w.toml", &STUBBORN.replace("\"2s\"", "\"10m\""));
    let mut child = spawn_run(dir);
    let (tx, lines) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        stderr
            .lines()
            .map_while(Result::ok)
            .try_for_each(|l| tx.send(l))
    });
    let lines = Lines(lines);
    let stopping = lines.next("that it stops the dead run's processes");
    assert!(
        stopping.starts_with("stopping ") && stopping.contains("up to 10m before SIGKILL"),
        "{stopping}"
    );
    (child, shell, lines)
}

/// A run's lines on stderr, as they come.
struct Lines(std::sync::mpsc::Receiver<String>);

impl Lines {
    /// The next line; one that never comes (flow says `what`) fails the test.
    fn next(&self, what: &str) -> String {
        (self.0.recv_timeout(GUARD)).unwrap_or_else(|_| panic!("flow never said {what}"))
    }
}

/// While a run stops what a dead run left running, it holds the lock file that still names the
/// dead run: `flow runs` and `flow results` show that run as interrupted, not running.
#[test]
fn a_run_being_taken_over_is_shown_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, shell, _) = taking_over(d);
    let runs = text(&run_in(d, &["runs", "w.toml"]).stdout);
    let json = json_of(&run_in(d, &["results", "w.toml", "--json"]));
    signal(child.id(), "KILL");
    wait_exit(child);
    kill_if_alive(&shell);
    assert!(runs.contains("interrupted"), "{runs}");
    assert!(!runs.contains("running"), "{runs}");
    assert_eq!(json["status"], "interrupted", "{json}");
}

/// Ctrl-C while a run stops what a dead run left running is answered at once, while the dead
/// run's command is still in its grace period (here ten minutes), and a second, later, kills it
/// without waiting out the grace; the run then starts nothing and exits 130.
#[test]
fn ctrl_c_during_the_takeover_is_answered_at_once_and_a_second_kills() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, shell, lines) = taking_over(d);
    signal(child.id(), "INT");
    let answer = lines.next("that the stop signal came");
    assert!(
        answer.starts_with("SIGINT: the run stops once the processes left by run "),
        "{answer}"
    );
    assert!(
        alive(&shell),
        "the dead run's command did not get its grace"
    );
    // A person's second Ctrl-C: later than 100 ms after the first, within which a signal is
    // part of the same stop (the pause is what is tested, not a wait for an event).
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(child.id(), "INT");
    let again = lines.next("that the second stop signal came");
    assert!(
        again.starts_with("SIGINT again: killing the processes left by run "),
        "{again}"
    );
    let out = wait_exit(child);
    let rest: Vec<String> = lines.0.iter().collect();
    let survived = kill_if_alive(&shell);
    assert_eq!(out.status.code(), Some(130), "{rest:?}");
    assert!(!survived, "the dead run's command survived: {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("SIGINT: stopping before the run starts")),
        "{rest:?}"
    );
    let log = std::fs::read_to_string(d.join("log")).unwrap();
    assert_eq!(
        log.matches("start").count(),
        1,
        "a started after the stop: {log}"
    );
}
