//! End-to-end tests of the `flow` binary: real workflow files in temporary folders, real
//! processes, real signals. Every exit code, every kind of validation error with its line,
//! failure propagation, timeouts, Ctrl-C, SIGKILL and `--resume`, and the `--json` document.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::mpsc;

use assert_cmd::assert::OutputAssertExt;
use predicates::prelude::*;
use serde_json::Value;
use std::os::unix::ffi::OsStrExt;

use common::{
    alive, fifo, flow, flow_entry, flow_in, json_of, signal, spawn_run, wait_exit, wait_ready,
    write, GUARD,
};

fn run_json(dir: &Path, file: &str, extra: &[&str]) -> (Output, Value) {
    let out = flow()
        .current_dir(dir)
        .args(["run", file, "--json"])
        .args(extra)
        .output()
        .unwrap();
    let json = json_of(&out);
    (out, json)
}

#[test]
fn exit_0_when_every_flow_completes_with_env_logs_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(
        dir.path(),
        "w.toml",
        r#"
[flows.a]
shell = "echo \"$FLOW_ID $FLOW_RUN_ID $FLOW_WORKFLOW_DIR $GREETING\" > env.txt; echo out-a; echo err-a >&2"
env = { GREETING = "hi" }
[flows.b]
command = ["pwd"]
cwd = "sub"
requires = ["a"]
"#,
    );
    let (out, json) = run_json(dir.path(), "w.toml", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json["status"], "completed");
    assert_eq!(json["workflow"], "w");
    let run_id = json["run_id"].as_str().unwrap();
    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(env.trim(), format!("a {run_id} {} hi", root.display()));
    let logs = dir.path().join(".flow/logs").join(run_id);
    assert_eq!(
        std::fs::read_to_string(logs.join("a.1.out")).unwrap(),
        "out-a\n"
    );
    assert_eq!(
        std::fs::read_to_string(logs.join("a.1.err")).unwrap(),
        "err-a\n"
    );
    let pwd = std::fs::read_to_string(logs.join("b.1.out")).unwrap();
    assert_eq!(Path::new(pwd.trim()), root.join("sub"));
    assert!(dir.path().join(".flow/flow.db").exists());
}

#[test]
fn exit_1_with_transitive_failure_and_optional_flows_still_running() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        r#"
[flows.broken]
shell = "echo 'disk on fire' >&2; exit 3"
[flows.needs_broken]
command = ["touch", "must-not-exist"]
requires = ["broken"]
[flows.needs_needs]
command = ["touch", "must-not-exist-either"]
requires = ["needs_broken"]
[flows.after_anyway]
command = ["touch", "ran-anyway"]
wants = ["broken", "needs_needs"]
"#,
    );
    let (out, json) = run_json(dir.path(), "w.toml", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["status"], "failed");
    let broken = flow_entry(&json, "broken");
    assert_eq!(broken["status"], "failed");
    assert_eq!(broken["exit_code"], 3);
    assert!(broken["error"].as_str().unwrap().contains('3'), "{broken}");
    // Kept from running by `broken`: not run, as the text says, not failed.
    for id in ["needs_broken", "needs_needs"] {
        let f = flow_entry(&json, id);
        assert_eq!(f["status"], "not_run", "{f}");
        assert_eq!(f["upstream"], "broken", "{f}");
        assert_eq!(f["attempts"], 0, "{f}");
        assert!(f["error"].as_str().unwrap().contains("broken"), "{f}");
    }
    assert_eq!(flow_entry(&json, "after_anyway")["status"], "completed");
    assert!(dir.path().join("ran-anyway").exists());
    assert!(!dir.path().join("must-not-exist").exists());
    assert!(!dir.path().join("must-not-exist-either").exists());

    // Without --json: one line per flow, then the summary with the stderr tail.
    let out = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAILED broken (w.toml:2): "), "{stdout}");
    assert!(stdout.contains("  | disk on fire"), "{stdout}");
    assert!(
        stdout.contains("1 completed, 1 failed, 2 not run (upstream failed)"),
        "{stdout}"
    );
}

#[test]
fn exit_2_for_an_invalid_workflow_lists_every_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.toml",
        r#"[workflow]
jobs = "many"
[flows.a]
command = ["true"]
shell = "true"
requires = ["c"]
[flows."b/c"]
command = ["true"]
[flows.c]
shell = "true"
requires = ["a", "ghost"]
timeout = "soon"
colour = "blue"
[flows.d]
"#,
    );
    for args in [
        &["validate", "bad.toml"][..],
        &["run", "bad.toml"],
        &["graph", "bad.toml"],
    ] {
        let out = flow().current_dir(dir.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = [
            "bad.toml:2:8: `workflow.jobs` must be an integer",
            "bad.toml:5:1: flow `a` has both `command` and `shell`",
            "bad.toml:7:8: invalid flow id `b/c`",
            "bad.toml:11:18: flow `c` requires unknown flow `ghost`",
            "bad.toml:11:13: dependency cycle: ",
            "bad.toml:12:11: invalid duration \"soon\" for `flows.c.timeout`",
            "bad.toml:13:1: unknown key `colour` in flow `c`",
            "bad.toml:14:8: flow `d` has neither `command` nor `shell`",
            "bad.toml has 8 problems; nothing was run",
        ];
        for line in expected {
            assert!(
                stderr.contains(line),
                "{args:?}: missing `{line}` in\n{stderr}"
            );
        }
        assert!(
            stderr.contains("cycle: a -> c -> a") || stderr.contains("cycle: c -> a -> c"),
            "{stderr}"
        );
    }
    assert!(
        !dir.path().join(".flow").exists(),
        "nothing may be run or created"
    );
}

/// `flow run --force build w.toml`: `--force` takes every word after it, the file too, and
/// the run is left without its FILE; the error says to give the file first.
#[test]
fn a_workflow_file_taken_by_force_says_to_give_the_file_first() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.build]\ncommand = [\"true\"]\n",
    );
    flow()
        .current_dir(dir.path())
        .args(["run", "--force", "build", "w.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "flow: --force takes every word after it as a flow, so it took `w.toml`: give the \
             file first, as `flow run w.toml --force FLOW`",
        ));
    // A word that is not UTF-8 is no file: clap's error alone, no panic.
    flow()
        .current_dir(dir.path())
        .args(["run", "--force"])
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force takes").not());
    // A FILE missing for another reason says nothing of --force.
    flow()
        .current_dir(dir.path())
        .args(["run", "--force", "build"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force takes").not());
}

#[test]
fn exit_2_for_bad_usage_a_missing_file_and_a_syntax_error() {
    flow().args(["run"]).assert().code(2);
    flow().args(["frobnicate"]).assert().code(2);
    flow()
        .args(["run", "w.toml", "--jobs", "0"])
        .assert()
        .code(2);
    flow()
        .args(["validate", "/nonexistent/w.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read workflow file /nonexistent/w.toml",
        ));
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.toml", "[flows.a]\ncommand = [\"true\"\n");
    flow()
        .current_dir(dir.path())
        .args(["validate", "s.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "s.toml:2:18: invalid TOML: unclosed array",
        ));
    write(dir.path(), "ok.toml", "[flows.a]\ncommand = [\"true\"]\n");
    flow()
        .current_dir(dir.path())
        .args(["run", "ok.toml", "--store", "postgres:x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`postgres`"));
    // A run asked for by id in a store that does not exist (with none asked for, there are
    // just no runs yet: exit 0).
    flow()
        .current_dir(dir.path())
        .args(["results", "--run", "20261126T153012.123Z-3f9a"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "nothing was run with this store yet",
        ));
    flow()
        .current_dir(dir.path())
        .args(["results"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no runs in store"));
}

#[test]
fn validate_and_graph_on_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "g.toml",
        "[flows.a]\ncommand = [\"true\"]\n[flows.b]\nshell = \"true\"\nrequires = [\"a\"]\n[flows.c]\nshell = \"true\"\nwants = [\"b\"]\n",
    );
    flow()
        .current_dir(dir.path())
        .args(["validate", "g.toml"])
        .assert()
        .code(0)
        .stdout("g.toml: ok, workflow `g` with 3 flows and 2 dependencies\n");
    flow()
        .current_dir(dir.path())
        .args(["graph", "g.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "\"a\" -> \"b\";\n  \"b\" -> \"c\" [style=dashed];",
        ));
    flow()
        .current_dir(dir.path())
        .args(["graph", "g.toml", "--format", "mermaid"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::starts_with("flowchart TD\n")
                .and(predicate::str::contains("n1 -.-> n2")),
        );
    flow()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Examples:"));
}

#[test]
fn a_timeout_kills_the_whole_forked_tree() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.toml",
        r#"
[flows.slow]
shell = "sleep 300 & echo $! > grandchild.pid; wait"
timeout = "1s"
"#,
    );
    let (out, json) = run_json(dir.path(), "t.toml", &[]);
    assert_eq!(out.status.code(), Some(1));
    let slow = flow_entry(&json, "slow");
    assert_eq!(slow["status"], "failed");
    assert!(
        slow["error"]
            .as_str()
            .unwrap()
            .contains("timed out: limit 1s, stopped after 1."),
        "{slow}"
    );
    let pid = std::fs::read_to_string(dir.path().join("grandchild.pid")).unwrap();
    assert!(
        !alive(pid.trim()),
        "the grandchild {pid} outlived the timeout"
    );
}

#[test]
fn sigint_sigterm_and_sighup_cancel_running_flows_record_them_and_exit_130() {
    // SIGHUP: the terminal or the ssh session closed.
    for name in ["INT", "TERM", "HUP"] {
        cancelled_by(name);
    }
}

fn cancelled_by(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        r#"
[flows.long]
shell = "echo $$ > ready.fifo; exec sleep 300"
[flows.after]
command = ["touch", "must-not-exist"]
requires = ["long"]
"#,
    );
    let child = if name == "HUP" {
        // `flow` keeps a SIGHUP it was started ignoring (`nohup`): start it with SIGHUP at
        // its default whatever this test was started with.
        std::process::Command::new("env")
            .arg("--default-signal=HUP")
            .arg(common::flow_path())
            .args(["run", "w.toml"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    } else {
        spawn_run(dir.path())
    };
    let flow_pid = child.id();
    let sleeper = wait_ready(&ready);
    assert!(alive(&sleeper));
    signal(flow_pid, name);
    let out = wait_exit(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!alive(&sleeper), "the running command survived SIG{name}");
    // The hint to stop at once names what came: stderr is no terminal, so even SIGINT was
    // sent (CI, `kill -INT`), not a person's Ctrl-C.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hint = format!("(send SIG{name} again to kill them at once)");
    assert!(stderr.contains(&hint), "SIG{name}: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cancelled"), "{stdout}");
    assert!(!dir.path().join("must-not-exist").exists());

    // The store is consistent: both flows are recorded cancelled.
    let out = flow()
        .current_dir(dir.path())
        .args(["results", "w.toml", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["status"], "cancelled");
    assert_eq!(flow_entry(&json, "long")["status"], "cancelled");
    assert_eq!(flow_entry(&json, "after")["status"], "cancelled");
}

/// SIGINT is a person's Ctrl-C only on a terminal: with stderr on one, the hint says to press
/// Ctrl-C again; into a pipe (CI), it says to send SIGINT again.
#[test]
fn the_sigint_hint_says_ctrl_c_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // The command is `flow`'s child: it sends `flow` the SIGINT itself.
    write(
        dir.path(),
        "w.toml",
        "[flows.a]\nshell = \"kill -INT $PPID; exec sleep 300\"\n",
    );
    let (code, shown, _) = common::run_with_terminal(
        dir.path(),
        &["run", "w.toml"],
        &[],
        common::Terminal::Stderr,
    );
    assert_eq!(code, Some(130), "{shown}");
    assert!(
        shown.contains("(press Ctrl-C again to kill them at once)"),
        "{shown}"
    );
    let out = wait_exit(spawn_run(dir.path()));
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("(send SIGINT again to kill them at once)"),
        "{stderr}"
    );
}

#[test]
fn a_second_sigint_kills_commands_that_ignore_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.stubborn]\nshell = \"trap '' TERM; echo $$ > ready.fifo; exec sleep 300\"\n",
    );
    let mut child = spawn_run(dir.path());
    let flow_pid = child.id();
    let sleeper = wait_ready(&ready);
    signal(flow_pid, "INT");
    // Wait until the first one was handled (two quick signals may arrive as one).
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let first = rx.recv_timeout(GUARD).unwrap();
    assert!(first.contains("SIGINT: stopping"), "{first}");
    // A person's second Ctrl-C: later than 100 ms after the first, within which a signal is
    // part of the same stop (the pause is what is tested, not a wait for an event).
    std::thread::sleep(std::time::Duration::from_millis(200));
    signal(flow_pid, "INT");
    let second = rx.recv_timeout(GUARD).unwrap();
    assert!(
        second.contains("SIGINT again: killing running flows now"),
        "{second}"
    );
    child.stderr = None;
    let (tx_status, rx_status) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx_status.send(child.wait());
    });
    let status = rx_status.recv_timeout(GUARD).unwrap().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!alive(&sleeper), "the command ignoring SIGTERM survived");
}

#[test]
fn after_sigkill_resume_runs_only_what_had_not_completed() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        r#"
[flows.first]
shell = "echo ran >> first.count"
[flows.second]
requires = ["first"]
shell = """
echo ran >> second.count
if [ ! -f go ]; then echo $$ > ready.fifo; exec sleep 300; fi
"""
[flows.third]
requires = ["second"]
shell = "echo ran >> third.count"
"#,
    );
    let child = spawn_run(dir.path());
    let flow_pid = child.id();
    let sleeper = wait_ready(&ready);
    signal(flow_pid, "KILL");
    let out = wait_exit(child);
    assert_eq!(out.status.code(), None, "killed by a signal");
    // The run's watchdog kills the commands of a SIGKILLed flow.
    let deadline = std::time::Instant::now() + GUARD;
    while alive(&sleeper) {
        assert!(
            std::time::Instant::now() < deadline,
            "{sleeper} outlived flow"
        );
        std::thread::yield_now();
    }
    std::fs::write(dir.path().join("go"), "").unwrap();

    let (out, json) = run_json(dir.path(), "w.toml", &["--resume"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json["status"], "completed");
    let count = |name: &str| {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(count("first.count"), 1, "a completed flow ran again");
    assert_eq!(count("second.count"), 2);
    assert_eq!(count("third.count"), 1);

    // A changed definition is run again on the next resume; unchanged ones are not.
    let text = std::fs::read_to_string(dir.path().join("w.toml")).unwrap();
    write(
        dir.path(),
        "w.toml",
        &text.replace("echo ran >> third.count", "echo ran >> third.count # v2"),
    );
    let (out, _) = run_json(dir.path(), "w.toml", &["--resume"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(count("first.count"), 1);
    assert_eq!(count("second.count"), 2);
    assert_eq!(count("third.count"), 2);
}

#[test]
fn json_lists_every_flow_and_results_runs_read_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!("[flows.f{i}]\ncommand = [\"true\"]\n"));
        if i > 0 {
            text.push_str(&format!("requires = [\"f{}\"]\n", i - 1));
        }
    }
    write(dir.path(), "many.toml", &text);
    let (out, json) = run_json(
        dir.path(),
        "many.toml",
        &["--store", "dir:results", "-j", "3"],
    );
    assert_eq!(out.status.code(), Some(0));
    let flows = json["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 30);
    for (i, f) in flows.iter().enumerate() {
        assert_eq!(f["id"], format!("f{i}"));
        assert_eq!(f["status"], "completed");
        assert_eq!(f["exit_code"], 0);
        assert_eq!(f["attempts"], 1);
        assert!(f["error"].is_null());
        for key in ["started_at", "finished_at"] {
            let t = f[key].as_str().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(t).is_ok(),
                "{key}: {t}"
            );
        }
        assert!(f["duration_ms"].is_u64());
    }
    let run_id = json["run_id"].as_str().unwrap();

    let out = flow()
        .current_dir(dir.path())
        .args([
            "results",
            "many.toml",
            "--store",
            "dir:results",
            "--run",
            run_id,
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again, json);
    flow()
        .current_dir(dir.path())
        .args(["results", "--store", "dir:results"])
        .assert()
        .code(0)
        .stdout(predicate::str::is_match(r"\nf29 +completed +0 +1 ").unwrap());
    flow()
        .current_dir(dir.path())
        .args(["runs", "many.toml", "--store", "dir:results"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains(run_id)
                .and(predicate::str::contains("30 completed, 0 failed")),
        );
}

#[test]
fn results_exit_0_even_for_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f.toml", "[flows.x]\nshell = \"exit 9\"\n");
    flow()
        .current_dir(dir.path())
        .args(["run", "f.toml", "--quiet"])
        .assert()
        .code(1)
        .stdout("");
    flow()
        .current_dir(dir.path())
        .args(["results", "f.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("x     failed  9"));
}

#[test]
fn results_runs_logs_and_prune_read_the_runs_of_a_file_being_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.toml");
    std::fs::write(&file, "[flows.a]\nshell = \"echo a\"\n").unwrap();
    assert!(flow_in(dir.path(), &["run", "w.toml", "-q"])
        .status
        .success());
    std::fs::write(&file, "[flows.a]\nshell = \"echo a\"\nbogus = 1\n").unwrap();
    for (args, shown) in [
        (&["results", "w.toml"][..], "a"),
        (&["runs", "w.toml"][..], "1 completed"),
        (&["logs", "a", "w.toml"][..], "a\n"),
        (&["prune", "w.toml", "--keep", "1"][..], "deleted 0 runs"),
    ] {
        let out = flow_in(dir.path(), args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(shown),
            "{args:?}"
        );
    }
    let out = flow_in(dir.path(), &["results", "w.toml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "flow: warning: w.toml has 1 problem (w.toml:3:1: unknown key `bogus` in flow `a`"
    ));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("see `flow validate w.toml`); reading the runs of workflow `w`\n"));
    // A bad --set is its own problem, not the file's.
    std::fs::write(
        &file,
        "[params]\np = \"x\"\n[flows.a]\nshell = \"echo {p}\"\n",
    )
    .unwrap();
    let out = flow_in(dir.path(), &["results", "w.toml", "--set", "q=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no param `q`"));
    std::fs::write(&file, "[flows.a]\nshell = \"echo a\"\nbogus = 1\n").unwrap();
    // Running it still reports the problem and runs nothing.
    assert_eq!(
        flow_in(dir.path(), &["run", "w.toml"]).status.code(),
        Some(2)
    );
}

/// A dry run writes no report: `-n --report` is refused as bad usage naming both options,
/// before anything is read or run. `-n -q` still prints the plan, as `--help` says.
#[test]
fn a_dry_run_refuses_report_and_prints_its_plan_when_quiet() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.a]\ncommand = [\"touch\", \"ran\"]\n",
    );
    let out = flow_in(dir.path(), &["run", "-n", "--report", "w.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--dry-run") && stderr.contains("--report"),
        "{stderr}"
    );
    assert!(!dir.path().join("ran").exists());
    assert!(!dir.path().join(".flow/reports").exists());

    let out = flow_in(dir.path(), &["run", "-n", "-q", "w.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("would run a: "), "{stdout}");
    assert!(!dir.path().join("ran").exists());
    let help =
        String::from_utf8_lossy(&flow_in(dir.path(), &["run", "--help"]).stdout).into_owned();
    assert!(
        help.contains("with --dry-run, the plan is still printed"),
        "{help}"
    );
}

/// `flow validate` had no `--json`: a CI step or an editor had to parse `FILE:LINE:COL:`
/// lines. Now a valid file prints its summary as one document, and an invalid one every
/// problem as an object with its file, line, column, the definition it is written in
/// (`null` outside one, as in `[params]`) and message, exit code 2.
#[test]
fn validate_json_gives_the_summary_or_every_problem_with_its_flow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"true\"\n[flows.b]\nshell = \"true\"\nrequires = [\"a\"]\nmanual = true\n",
    );
    let out = flow_in(d, &["validate", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json_of(&out),
        serde_json::json!({
            "status": "ok", "file": "w.toml", "workflow": "w", "flows": 2, "definitions": 2,
            "dependencies": 1, "runs_without_targets": 1, "problems": []
        })
    );
    write(
        d,
        "w.toml",
        "[params]\nn = { bad = 1 }\n[flows.a]\nshell = \"true\"\n[flows.b]\nshell = \"true\"\nrequires = [\"zz\"]\n",
    );
    let out = flow_in(d, &["validate", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let json = json_of(&out);
    assert_eq!(json["kind"], "invalid_workflow", "{json}");
    let problems = json["problems"].as_array().unwrap();
    let at: Vec<(u64, &Value)> = problems
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), &p["flow"]))
        .collect();
    assert_eq!(at, [(2, &Value::Null), (7, &Value::from("b"))], "{json}");
    assert_eq!(problems[1]["file"], "w.toml");
    assert_eq!(problems[1]["column"], 13);
    assert_eq!(
        problems[1]["message"],
        "flow `b` requires unknown flow `zz`"
    );
}

/// `flow runs` had no `--json`, as `flow results` has: scripts cut the table. Now it prints
/// `{"runs":[...]}`, oldest first, each with its times, status and counts (`{"runs":[]}`
/// before any run).
#[test]
fn runs_json_lists_each_run_with_its_status_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = flow_in(d, &["runs", "--json"]);
    assert_eq!(json_of(&out), serde_json::json!({ "runs": [] }));
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"true\"\n[flows.b]\nshell = \"exit 3\"\nrequires = [\"a\"]\n[flows.c]\nshell = \"true\"\nrequires = [\"b\"]\n",
    );
    flow_in(d, &["run", "w.toml"]);
    write(d, "w.toml", "[flows.a]\nshell = \"true\"\n");
    flow_in(d, &["run", "w.toml"]);
    let out = flow_in(d, &["runs", "w.toml", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = json_of(&out);
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{json}");
    let keys: Vec<&str> = runs[0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "counts",
            "duration_ms",
            "finished_at",
            "run_id",
            "started_at",
            "status",
            "workflow"
        ]
    );
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(
        runs[0]["counts"],
        serde_json::json!({"completed": 1, "up_to_date": 0, "failed": 1, "not_run": 1, "cancelled": 0})
    );
    assert_eq!(runs[1]["status"], "completed");
    assert_eq!(runs[1]["counts"]["completed"], 1);
    assert!(
        runs[0]["run_id"].as_str() < runs[1]["run_id"].as_str(),
        "{json}"
    );
    assert_eq!(runs[1]["workflow"], "w");
}
