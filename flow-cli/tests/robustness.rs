//! End-to-end tests of `flow` as a careless or hostile user meets it: a store that refuses
//! writes, SIGHUP, read-only stores, new dir stores opened at once, closed and full output
//! streams, escape sequences in output and in the workflow file, values the operating system
//! refuses, `--json` errors, folders that do not exist, and messages that name the cause.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use serde_json::Value;

use common::{fifo, flow, flow_entry, json_of, signal, wait_exit, wait_ready, GUARD};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    flow().current_dir(dir).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `pid` is a live process (a zombie counts as gone).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Runs `flow ARGS` in `dir` on a pseudo-terminal (stdin, stdout and stderr), so that it shows
/// its live display; returns its exit code and everything it wrote.
fn run_on_terminal(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let stdio = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut child = flow()
        .current_dir(dir)
        .args(args)
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .spawn()
        .unwrap();
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // Reading ends with EIO once the last writer of the terminal is gone.
        let _ = master.read_to_end(&mut bytes);
        text(&bytes)
    });
    let (tx, rx) = mpsc::channel();
    let id = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(GUARD)
        .unwrap_or_else(|_| panic!("flow (pid {id}) hangs with its display on"))
        .unwrap();
    (status.code(), reader.join().unwrap())
}

/// Whether this test may mount file systems in a private mount namespace (`unshare -m` as
/// root); prints why not otherwise, and fails under CI where it must be able to.
fn can_mount(what: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let unshare = root
        && Command::new("unshare")
            .args(["-m", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !unshare {
        let why = if root {
            "`unshare -m` does not work here"
        } else {
            "it needs root for a private mount namespace"
        };
        eprintln!("skipped {what}: {why}");
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} cannot run under CI: {why}"
        );
    }
    unshare
}

/// The `flow` binary's path, for shell scripts.
fn flow_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("flow")
}

#[test]
fn a_store_refusing_the_run_at_start_ends_it_promptly_with_the_display_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    assert_eq!(
        run_in(dir.path(), &["run", "w.toml", "-q"]).status.code(),
        Some(0)
    );
    let db = rusqlite::Connection::open(dir.path().join(".flow/flow.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER t BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'no new runs'); END;",
    )
    .unwrap();
    drop(db);
    let (code, shown) = run_on_terminal(dir.path(), &["run", "w.toml"]);
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("no new runs"),
        "the cause is not named: {shown}"
    );
    assert!(
        shown.contains(".flow/flow.db"),
        "the store is not named: {shown}"
    );
}

#[test]
fn a_damaged_dir_store_file_is_named_and_the_resume_ends() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    let out = run_in(dir.path(), &["run", "w.toml", "-q", "--store", "dir:ds"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run = std::fs::read_dir(dir.path().join("ds"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let damaged = run.join("results/a.json");
    std::fs::write(&damaged, "garbage{").unwrap();
    let (code, shown) = run_on_terminal(
        dir.path(),
        &["run", "w.toml", "--resume", "--store", "dir:ds"],
    );
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("results/a.json"),
        "the file is not named: {shown}"
    );
}

#[test]
fn sighup_cancels_the_run_like_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.long]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n",
    );
    let child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let flow_pid = child.id();
    let sleeper = wait_ready(&ready);
    signal(flow_pid, "HUP");
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(!alive(&sleeper), "the command outlived SIGHUP");
    let out = run_in(dir.path(), &["results", "w.toml", "--json"]);
    let json = json_of(&out);
    assert_eq!(json["status"], "cancelled");
    assert_eq!(flow_entry(&json, "long")["status"], "cancelled");
}

/// Runs `script` (sh, `$FLOW` is the binary) in a private mount namespace where `dir` is
/// mounted read-only.
fn on_read_only_mount(dir: &Path, script: &str) -> Output {
    Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "set -e; mount --bind \"$D\" \"$D\"; mount -o remount,bind,ro \"$D\"; cd \"$D\"; {script}"
        ))
        .env("D", dir)
        .env("FLOW", flow_path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn runs_results_and_report_read_a_store_on_read_only_media() {
    if !can_mount("the read-only store test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    for store in ["sqlite:s.db", "dir:ds"] {
        let out = run_in(dir.path(), &["run", "w.toml", "-q", "--store", store]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let out = on_read_only_mount(
            dir.path(),
            &format!(
                "\"$FLOW\" runs w.toml --store {store}; \
                 \"$FLOW\" results w.toml --json --store {store}; \
                 \"$FLOW\" report w.toml --json --store {store} > /dev/null; \
                 touch cannot-write 2>/dev/null && echo WRITABLE || true"
            ),
        );
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{store}: {}", text(&out.stderr));
        assert!(
            stdout.contains("1 completed, 0 failed"),
            "{store}: {stdout}"
        );
        assert!(
            stdout.contains("\"status\":\"completed\""),
            "{store}: {stdout}"
        );
        assert!(!stdout.contains("WRITABLE"), "the mount is not read-only");
    }
}

#[test]
fn runs_reads_the_store_at_once_while_another_process_holds_its_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    assert_eq!(
        run_in(dir.path(), &["run", "w.toml", "-q"]).status.code(),
        Some(0)
    );
    let mut writer = rusqlite::Connection::open(dir.path().join(".flow/flow.db")).unwrap();
    let tx = writer
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    tx.execute("UPDATE runs SET failed = failed", []).unwrap();
    // The lock is held until `tx` is dropped, after `flow runs` ended (within its 10 s busy
    // timeout it would fail if it needed the lock).
    let out = run_in(dir.path(), &["runs", "w.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 completed"),
        "{}",
        text(&out.stdout)
    );
    drop(tx);
}

#[test]
fn four_runs_opening_one_new_dir_store_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        write(
            dir.path(),
            &format!("w{i}.toml"),
            "[flows.a]\nshell = \"true\"\n",
        );
    }
    for round in 0..5 {
        let store = format!("dir:new{round}");
        let children: Vec<_> = (0..4)
            .map(|i| {
                flow()
                    .current_dir(dir.path())
                    .args(["run", &format!("w{i}.toml"), "-q", "--store", &store])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = wait_exit(child);
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                text(&out.stderr)
            );
        }
    }
}

/// `/dev/full` for writing: every write fails with ENOSPC.
fn full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

#[test]
fn full_or_closed_output_streams_never_panic_and_the_exit_code_tells_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    let status = |args: &[&str], stdout: Stdio, stderr: Stdio| {
        flow()
            .current_dir(dir.path())
            .args(args)
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(
        status(&["run", "/nonexistent.toml"], Stdio::null(), full()),
        Some(2)
    );
    assert_eq!(
        status(&["run", "w.toml", "-v"], Stdio::null(), full()),
        Some(0)
    );
    assert_eq!(status(&["run", "w.toml"], full(), Stdio::null()), Some(0));
    assert_eq!(
        status(&["run", "w.toml", "--json"], full(), full()),
        Some(0)
    );
    let out = run_in(dir.path(), &["runs", "w.toml"]);
    assert_eq!(
        text(&out.stdout).matches("1 completed").count(),
        3,
        "every run ran and was recorded: {}",
        text(&out.stdout)
    );
    // A closed pipe: the reader is gone before flow writes.
    let mut child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn escape_sequences_from_commands_and_the_workflow_file_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.bad]\nshell = \"printf '\\\\033]0;PWNED\\\\007\\\\033[2J' >&2; exit 1\"\n",
    );
    let out = run_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let results = run_in(dir.path(), &["results", "w.toml"]);
    for printed in [&out.stdout, &out.stderr, &results.stdout] {
        let printed = text(printed);
        assert!(
            !printed.contains('\u{1b}') && !printed.contains('\u{7}'),
            "raw escapes printed: {printed:?}"
        );
    }
    assert!(
        text(&results.stdout).contains(r"\u{1b}]0;PWNED\u{7}"),
        "{}",
        text(&results.stdout)
    );

    write(
        dir.path(),
        "n.toml",
        "[workflow]\nname = \"line1\\nFAKE completed\\u001b[31m\"\n[flows.a]\nshell = \"true\"\n",
    );
    let out = run_in(dir.path(), &["validate", "n.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(
        stderr.contains(r"must not contain control characters") && stderr.contains(r"line1\nFAKE"),
        "{stderr}"
    );
}

#[test]
fn nul_bytes_and_scripts_too_long_for_a_shell_fail_validation_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(140 * 1024);
    write(
        dir.path(),
        "w.toml",
        &format!(
            "[flows.a]\nshell = \"echo a\\u0000b\"\n\
             [flows.b]\ncommand = [\"echo\", \"b\\u0000\"]\n\
             [flows.c]\ncommand = [\"true\"]\ncwd = \"sub\\u0000dir\"\n\
             [flows.d]\nshell = \"# {long}\"\n\
             [flows.e]\ncommand = [\"tr\\u0000ue\"]\n"
        ),
    );
    let out = run_in(dir.path(), &["validate", "w.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for line in [
        "w.toml:2:9: `flows.a.shell` contains a NUL byte",
        "w.toml:4:20: `flows.b.command` contains a NUL byte",
        "w.toml:7:7: `flows.c.cwd` contains a NUL byte",
        "w.toml:9:9: `flows.d.shell` is 143362 bytes, longer than",
        "w.toml:11:12: `flows.e.command` contains a NUL byte",
    ] {
        assert!(stderr.contains(line), "missing {line:?} in:\n{stderr}");
    }
}

#[test]
fn json_errors_are_one_document_on_stdout_with_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    write(
        dir.path(),
        "bad.toml",
        "[flows.a]\nrequires = [\"nope\"]\nshell = \"true\"\n",
    );
    let cases: [(&[&str], &str); 5] = [
        (&["run", "bad.toml", "--json"], "invalid_workflow"),
        (&["run", "missing.toml", "--json"], "read_workflow"),
        (&["run", "w.toml", "--json", "--store", "redis:x"], "store"),
        (
            &[
                "results",
                "w.toml",
                "--json",
                "--run",
                "20261126T153012.123Z-3f9a",
            ],
            "no_run",
        ),
        (&["report", "w.toml", "--json"], "no_run"),
    ];
    for (args, kind) in cases {
        let out = run_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let json: Value = json_of(&out);
        assert_eq!(json["status"], "error", "{args:?}: {json}");
        assert_eq!(json["exit_code"], 2, "{json}");
        assert_eq!(json["kind"], kind, "{args:?}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
        assert!(json["problems"].is_array(), "{json}");
    }
    let json = json_of(&run_in(dir.path(), &["run", "bad.toml", "--json"]));
    assert_eq!(json["problems"][0]["line"], 2, "{json}");
    assert!(
        json["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`nope`"),
        "{json}"
    );
}

#[test]
fn folders_are_made_only_where_asked_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    let out = run_in(
        dir.path(),
        &["run", "w.toml", "-q", "--store", "sqlite:no/such/x.db"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("no").exists(), "a folder was made");

    assert_eq!(
        run_in(dir.path(), &["run", "w.toml", "-q"]).status.code(),
        Some(0)
    );
    let out = run_in(dir.path(), &["report", "w.toml", "-o", "none/such/x.html"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("none/such") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!dir.path().join("none").exists(), "a folder was made");
    // The default place is made beside the workflow.
    let out = run_in(dir.path(), &["report", "w.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn messages_name_the_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.a]\nshell = \"echo a\"\nretries = 4294967296\n",
    );
    let out = run_in(dir.path(), &["validate", "w.toml"]);
    assert!(
        text(&out.stderr).contains("must be at most 4294967295, found 4294967296"),
        "{}",
        text(&out.stderr)
    );

    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    write(dir.path(), ".flow", "a file in the way");
    let out = run_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(".flow") && stderr.contains("it is a file, not a folder"),
        "{stderr}"
    );
}

/// Waits (polling, with a deadline against hangs) until none of `pids` is alive.
fn wait_all_dead(pids: &[String]) {
    let deadline = std::time::Instant::now() + GUARD;
    while let Some(pid) = pids.iter().find(|pid| alive(pid)) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} started by the killed run is still alive"
        );
        std::thread::yield_now();
    }
}

#[test]
fn after_kill_9_no_command_survives_and_the_run_shows_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        r#"
[flows.long]
shell = """
if [ -f go ]; then exit 0; fi
sleep 300 & echo $! > background.pid
echo $$ > ready.fifo
exec sleep 301
"""
[flows.other]
command = ["sleep", "302"]
"#,
    );
    let child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let flow_pid = child.id();
    let sleeper = wait_ready(&ready);
    let background = std::fs::read_to_string(dir.path().join("background.pid")).unwrap();

    // While it runs, a second run (or resume) of the workflow is refused, naming it.
    for extra in [&[][..], &["--resume"][..]] {
        let out = flow()
            .current_dir(dir.path())
            .args(["run", "w.toml", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let json = json_of(&out);
        assert_eq!(json["kind"], "locked", "{json}");
        let message = json["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("process {flow_pid}")),
            "{message}"
        );
    }
    let runs = text(&run_in(dir.path(), &["runs", "w.toml"]).stdout);
    assert!(runs.contains("running"), "{runs}");

    signal(flow_pid, "KILL");
    let out = wait_exit(child);
    assert_eq!(out.status.code(), None, "killed by a signal");
    wait_all_dead(&[sleeper, background.trim().to_owned()]);

    let runs = text(&run_in(dir.path(), &["runs", "w.toml"]).stdout);
    assert!(runs.contains("interrupted"), "{runs}");
    let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
    assert_eq!(json["status"], "interrupted", "{json}");

    // The lock of the dead run is taken over.
    std::fs::write(dir.path().join("go"), "").unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.long]\nshell = \"exit 0\"\n[flows.other]\ncommand = [\"true\"]\n",
    );
    let out = run_in(dir.path(), &["run", "w.toml", "--resume", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_full_disk_stops_the_run_which_exits_1_with_counts_that_add_up() {
    if !can_mount("the full disk test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(
            "set -e; mount -t tmpfs -o size=2m tmpfs \"$D\"; cd \"$D\"; \
             printf '%s\\n' '[flows.big]' 'shell = \"head -c 5000000 /dev/zero > big.bin; true\"' \
               '[flows.after]' 'shell = \"true\"' 'requires = [\"big\"]' \
               '[flows.fails]' 'shell = \"exit 4\"' 'requires = [\"after\"]' > w.toml; \
             set +e; \"$FLOW\" run w.toml; echo \"exit=$?\"; \"$FLOW\" runs w.toml",
        )
        .env("D", dir.path())
        .env("FLOW", flow_path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stdout.contains("exit=1"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("disk is full"),
        "the cause is not named: {stderr}"
    );
    assert!(
        stderr.contains("flow.db"),
        "the store is not named: {stderr}"
    );
    assert!(stderr.contains("is not fully recorded"), "{stderr}");
    // The summary's counts add up to the three flows.
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("run ") && line.contains(" of `w` "))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    let counts = summary.rsplit_once(": ").unwrap().1;
    let total: u32 = counts
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse::<u32>().unwrap())
        .sum();
    assert_eq!(total, 3, "{summary}");
    assert!(!summary.contains(" completed in"), "{summary}");
    assert!(
        stdout.contains("interrupted"),
        "the run is not shown interrupted: {stdout}"
    );
}
