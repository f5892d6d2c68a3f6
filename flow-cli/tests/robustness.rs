//! End-to-end tests of `flow run` when things go wrong around it: a store that refuses to
//! begin the run, a damaged store, a full disk, SIGKILL of `flow` (its watchdog and its
//! lock), read-only stores, a store locked by a writer, and a new dir store opened at once.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{
    can_mount, fifo, flow, flow_path, json_of, run_guarded, run_in, run_on_terminal, signal,
    spawn_run, text, wait_all_dead, wait_exit, wait_ready, write,
};

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
    // The store begins the run while the first flows start: 1 if `a` had started, else 2.
    match code {
        Some(1) => assert!(
            shown.contains("flows had started: the run was stopped"),
            "{shown}"
        ),
        Some(2) => {}
        other => panic!("exit code {other:?}: {shown}"),
    }
    assert!(
        shown.contains("no new runs"),
        "the cause is not named: {shown}"
    );
    assert!(
        shown.contains(".flow/flow.db"),
        "the store is not named: {shown}"
    );
}

/// A store slow to refuse the run: its command has run (and ended) by then, so the run is
/// not one where "nothing was run" (exit code 2), though the store never got its result.
#[test]
fn a_store_refusing_the_run_after_its_command_ran_exits_1_as_stopped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"touch ran\"\n");
    assert_eq!(
        run_in(dir.path(), &["run", "w.toml", "-q"]).status.code(),
        Some(0)
    );
    std::fs::remove_file(dir.path().join("ran")).unwrap();
    let db = rusqlite::Connection::open(dir.path().join(".flow/flow.db")).unwrap();
    // The refusal comes after counting 9 million rows: the command has long started.
    db.execute_batch(
        "CREATE TABLE big(x);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
         INSERT INTO big SELECT x FROM c;
         CREATE TRIGGER t BEFORE INSERT ON runs BEGIN
           SELECT RAISE(ABORT, 'no new runs') FROM (SELECT count(*) AS n FROM big a, big b)
           WHERE n > 0;
         END;",
    )
    .unwrap();
    drop(db);
    let out = run_in(dir.path(), &["run", "w.toml", "--json"]);
    let doc = json_of(&out);
    // On stderr: the notice that the run stops (when a flow was still running when the store
    // refused, which depends on the machine's speed), then the error; no third line of the
    // log.
    let stderr = text(&out.stderr);
    let told = stderr.matches("no new runs").count();
    assert!((1..=2).contains(&told), "{stderr}");
    assert!(
        !stderr.contains("the store cannot begin the run"),
        "{stderr}"
    );
    assert!(dir.path().join("ran").exists(), "`a` never ran: {doc}");
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["kind"], "stopped", "{doc}");
    let message = doc["message"].as_str().unwrap();
    assert!(
        message.contains("no new runs")
            && message.contains("flows had started: the run was stopped"),
        "{doc}"
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
    let child = spawn_run(dir.path());
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
    // The table does not show as running a flow whose `flow run` died.
    let table = text(&run_in(dir.path(), &["results", "w.toml"]).stdout);
    let long = table.lines().find(|l| l.starts_with("long ")).unwrap();
    assert!(long.contains("interrupted"), "{table}");
    // Following a flow of the dead run ends: nothing will write to it any more.
    let followed = run_guarded(dir.path(), &["logs", "other", "--follow"]);
    assert!(
        text(&followed.stderr).contains("flow `other` has no logs in run"),
        "{}",
        text(&followed.stderr)
    );

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

/// Runs `script` (sh, `$FLOW` is the binary, errors not fatal) in `dir` mounted as a 2 MB
/// file system in a private mount namespace, with `w.toml` made of the lines `start`, `big`
/// (which fills the disk once `start` completed) and `more` (quoted lines for `printf`).
fn on_full_disk(dir: &Path, more: &str, script: &str) -> Output {
    Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "set -e; mount -t tmpfs -o size=2m tmpfs \"$D\"; cd \"$D\"; \
             printf '%s\\n' '[flows.start]' 'command = [\"true\"]' \
               '[flows.big]' 'shell = \"head -c 5000000 /dev/zero > big.bin; true\"' \
               'requires = [\"start\"]' {more} > w.toml; \
             set +e; {script}"
        ))
        .env("D", dir)
        .env("FLOW", flow_path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_stops_the_run_which_exits_1_with_counts_that_add_up() {
    if !can_mount("the full disk test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = on_full_disk(
        dir.path(),
        "'[flows.after]' 'shell = \"true\"' 'requires = [\"big\"]' \
         '[flows.fails]' 'shell = \"exit 4\"' 'requires = [\"after\"]'",
        "\"$FLOW\" run w.toml; echo \"exit=$?\"; \"$FLOW\" runs w.toml",
    );
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
    // The summary's counts add up to the four flows. (`big` fills the disk once `start`'s
    // result is saved, so after the store began the run.)
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("run ") && line.contains(" of `w` "))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    let counts = summary.rsplit_once(": ").unwrap().1;
    let total: u32 = counts
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse::<u32>().unwrap())
        .sum();
    assert_eq!(total, 4, "{summary}");
    assert!(!summary.contains(" completed in"), "{summary}");
    assert!(
        stdout.contains("interrupted"),
        "the run is not shown interrupted: {stdout}"
    );
}

/// With `--json`, a run whose store refused writes (a full disk) gives each flow as it ended,
/// not as the store last kept it: no flow is "running" after the run, the counts are those of
/// the error line, and the command after the one that filled the disk never runs.
#[test]
fn a_full_disk_run_s_json_gives_each_flow_as_it_ended() {
    if !can_mount("the full disk JSON test") {
        return;
    }
    // Where the disk fills (while `big` runs, or when its record is saved) varies: a few
    // runs meet more of the cases.
    for _ in 0..4 {
        full_disk_json_case();
    }
}

fn full_disk_json_case() {
    let dir = tempfile::tempdir().unwrap();
    let out = on_full_disk(
        dir.path(),
        "'[flows.after]' 'shell = \"touch after-ran\"' 'requires = [\"big\"]'",
        "\"$FLOW\" run w.toml --json; echo \"exit=$?\" >&2; \
         test -e after-ran && echo 'after ran' >&2; true",
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("exit=1"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("after ran"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {stdout}\n{stderr}"));
    // Each flow as the run saw it end, as the error line counts them (the disk may fill while
    // `big` runs, which stops it, or once it completed, when its record is refused).
    let flows = doc["flows"].as_array().expect("flows");
    let count = |status: &str| flows.iter().filter(|f| f["status"] == status).count();
    assert_eq!(count("running") + count("pending"), 0, "{stdout}\n{stderr}");
    // In the summary's words: completed and failed always, the others when there are some.
    let mut ended = format!(
        "it ended with {} completed, {} failed",
        count("completed"),
        count("failed")
    );
    for (status, words) in [
        ("cancelled", "cancelled"),
        ("not_run", "not run (upstream failed)"),
    ] {
        if count(status) > 0 {
            ended.push_str(&format!(", {} {words}", count(status)));
        }
    }
    ended.push_str(" of 3 flows");
    assert!(stderr.contains(&ended), "{ended}\n{stdout}\n{stderr}");
    // A flow that ran shows its attempt and its time, also when its record was refused.
    for flow in flows.iter().filter(|f| f["status"] == "completed") {
        assert!(
            flow["attempts"].as_u64() >= Some(1) && flow["duration_ms"].is_u64(),
            "{flow}\n{stdout}\n{stderr}"
        );
    }
    let after = flows.iter().find(|f| f["id"] == "after").expect("after");
    assert!(
        after["status"] == "cancelled" || after["status"] == "not_run",
        "{stdout}\n{stderr}"
    );
}

/// `flow run w.toml --jobs 40 --json` in `dir` from a shell that first runs `limit` (`ulimit`).
fn run_with_limit(dir: &Path, limit: &str) -> Output {
    Command::new("/bin/sh")
        .current_dir(dir)
        .args([
            "-c",
            &format!("{limit} && exec \"$FLOW\" run w.toml --jobs 40 --json"),
        ])
        .env("FLOW", flow_path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn jobs_beyond_the_open_file_limit_raise_it_or_run_fewer_and_never_fail_a_flow() {
    let dir = tempfile::tempdir().unwrap();
    // Forty commands that are alive together when nothing holds them back.
    let mut workflow = String::from("[flows.limit]\nshell = \"ulimit -Sn > limit.txt\"\n");
    for i in 0..40 {
        workflow.push_str(&format!("[flows.s{i}]\ncommand = [\"sleep\", \"0.2\"]\n"));
    }
    write(dir.path(), "w.toml", &workflow);
    let completed = |out: &Output| {
        let json = json_of(out);
        let flows = json["flows"].as_array().unwrap();
        assert_eq!(flows.len(), 41);
        for flow in flows {
            assert_eq!(flow["status"], "completed", "{flow}\n{}", text(&out.stderr));
        }
        assert_eq!(out.status.code(), Some(0));
    };

    // A soft limit below what 40 need, a hard one above: raised for the run and its commands.
    let out = run_with_limit(dir.path(), "ulimit -Sn 100");
    completed(&out);
    assert!(
        !text(&out.stderr).contains("at most"),
        "{}",
        text(&out.stderr)
    );
    let inherited = std::fs::read_to_string(dir.path().join("limit.txt")).unwrap();
    assert_eq!(inherited.trim(), "264", "64 + 5 per command");

    // A hard limit too low for 40: fewer at a time, said on stderr, and no flow fails.
    let out = run_with_limit(dir.path(), "ulimit -n 100");
    completed(&out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("running at most 7 commands at once, not 40")
            && stderr.contains("(100; `ulimit -n` and `ulimit -Hn` show the limits)"),
        "{stderr}"
    );
    // Room for one only: said in the singular.
    let out = run_with_limit(dir.path(), "ulimit -n 70");
    completed(&out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("running at most 1 command at once, not 40"),
        "{stderr}"
    );
}

/// Runs `shell_line` (which runs `flow`) with `script` (util-linux), on a terminal that is
/// the controlling one of the session `script` starts, as in a user's shell; stdin is the
/// terminal's keyboard. The shell is bash, as a user's: `script` runs `$SHELL`, and `sh`
/// (dash) on Debian dies of the Ctrl-C its command handled.
fn on_a_terminal(dir: &Path, shell_line: &str) -> std::process::Child {
    Command::new("script")
        .current_dir(dir)
        .env("SHELL", "/bin/bash")
        .args(["-qec", shell_line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs a command on a terminal: install it")
}

#[test]
fn a_command_that_opens_the_terminal_fails_at_once_instead_of_being_stopped() {
    let flow = flow_path().display().to_string();
    // `flow` leading the terminal's session (the shell execs it), and `flow` started by the
    // shell that leads it (`; true` keeps the shell): a command in a process group of that
    // session would be stopped by SIGTTIN or SIGTTOU for ever. The second `flow` gives up
    // the terminal, its commands get process groups; the first keeps it, and its commands
    // get sessions of their own.
    for (line, own_session) in [
        (format!("exec '{flow}' run w.toml --json"), true),
        (format!("'{flow}' run w.toml --json; true"), false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "w.toml",
            "[flows.ask]\nshell = \"if read x < /dev/tty; then echo read; else echo no terminal; fi\"\n\
             [flows.stty]\nshell = \"stty -echo < /dev/tty\"\n\
             [flows.sessions]\nshell = \"cut -d' ' -f6 /proc/$$/stat /proc/$PPID/stat\"\n",
        );
        let out = wait_exit(on_a_terminal(dir.path(), &line));
        let shown = text(&out.stdout);
        assert!(shown.contains(r#""id":"ask""#), "{line}: {shown}");
        let logs = |name: &str| {
            let runs = std::fs::read_dir(dir.path().join(".flow/logs")).unwrap();
            let run = runs.map(|r| r.unwrap().path()).next().unwrap();
            std::fs::read_to_string(run.join(name)).unwrap_or_default()
        };
        assert_eq!(logs("ask.1.out"), "no terminal\n", "{line}");
        assert!(
            logs("stty.1.err").contains("/dev/tty"),
            "{line}: {}",
            logs("stty.1.err")
        );
        // The session of the command, then of `flow`.
        let sessions = logs("sessions.1.out");
        let sessions: Vec<&str> = sessions.lines().collect();
        assert_eq!(sessions.len(), 2, "{line}: {sessions:?}");
        assert_eq!(
            sessions[0] != sessions[1],
            own_session,
            "{line}: {sessions:?}"
        );
    }
}

/// A `flow run` that gave up its terminal (its commands need no session of their own then)
/// is still stopped by Ctrl-C typed on it: the terminal signals its foreground process group.
#[test]
fn ctrl_c_typed_on_the_terminal_stops_a_run_that_gave_the_terminal_up() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let up = fifo(dir.path(), "up");
    write(
        dir.path(),
        "w.toml",
        "[flows.wait]\nshell = \"echo up > up; sleep 30\"\n",
    );
    let line = format!(
        "'{}' run w.toml --json; echo exit=$?",
        flow_path().display()
    );
    let mut running = on_a_terminal(dir.path(), &line);
    wait_ready(&up);
    let mut keyboard = running.stdin.take().unwrap();
    keyboard.write_all(b"\x03").unwrap();
    let out = wait_exit(running);
    let shown = text(&out.stdout);
    assert!(
        shown.contains(r#""id":"wait","status":"cancelled""#) && shown.contains("exit=130"),
        "{shown}"
    );
}

/// A command that put a process in a session of its own (`setsid`, as daemons do) left the
/// process group that a timeout and Ctrl-C stop: after a timeout that process is killed too,
/// before `flow` reports the attempt's end; after Ctrl-C, what the stopped flows left is,
/// before `flow` exits. A flow that ended by itself keeps its background process.
#[test]
fn a_timeout_or_ctrl_c_also_kills_what_left_the_command_group() {
    // Shell lines that start a process in a session of its own, wait until it is there (so
    // that it has left the command's group before the command ends), and write its pid.
    let escape = |name: &str| {
        format!(
            "mkfifo {name}.up\n\
             setsid sh -c 'echo $$ > {name}.up; exec sleep 300' </dev/null >/dev/null 2>&1 &\n\
             read pid < {name}.up\necho $pid > {name}.pid\n"
        )
    };
    let pid = |d: &Path, name: &str| {
        let pid = std::fs::read_to_string(d.join(format!("{name}.pid"))).unwrap();
        pid.trim().to_owned()
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        &format!(
            "[flows.slow]\ntimeout = \"1s\"\nshell = '''\n{}exec sleep 301\n'''\n\
             [flows.keeps]\nshell = '''\n{}'''\n",
            escape("timed_out"),
            escape("kept")
        ),
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    assert_eq!(common::flow_entry(&json, "slow")["status"], "failed");
    let escaped = pid(d, "timed_out");
    assert!(
        !common::alive(&escaped),
        "the timed-out flow left {escaped}"
    );
    let kept = pid(d, "kept");
    assert!(
        common::alive(&kept),
        "a flow that ended by itself keeps its process"
    );
    signal(kept.parse().unwrap(), "KILL");

    let ready = fifo(d, "ready.fifo");
    write(
        d,
        "w.toml",
        &format!(
            "[flows.daemon]\nshell = '''\n{}'''\n[flows.long]\nrequires = [\"daemon\"]\n\
             shell = '''\n{}echo $$ > ready.fifo\nexec sleep 301\n'''\n",
            escape("daemon"),
            escape("interrupted")
        ),
    );
    let child = spawn_run(d);
    wait_ready(&ready);
    signal(child.id(), "INT");
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let escaped = pid(d, "interrupted");
    assert!(!common::alive(&escaped), "Ctrl-C left {escaped}");
    // A flow that had completed keeps its background process (a `--resume` reuses it).
    let daemon = pid(d, "daemon");
    assert!(
        common::alive(&daemon),
        "Ctrl-C killed the daemon of a completed flow"
    );
    signal(daemon.parse().unwrap(), "KILL");
}

/// A flow whose command leaves a process in a session of its own that holds its output (and
/// writes that process's pid to `escaped.pid`).
const HOLDER: &str = r#"[flows.holder]
kill_grace = "0.1s"
shell = '''
mkfifo up
setsid sh -c 'echo $$ > up; exec sleep 300' &
read escaped < up
echo "$escaped" > escaped.pid
'''
"#;

/// Kills the process `HOLDER` left.
fn kill_escaped(d: &Path) {
    let escaped = std::fs::read_to_string(d.join("escaped.pid")).unwrap();
    signal(escaped.trim().parse().unwrap(), "KILL");
}

/// The warning about output still held by a process that left the group names the flow and
/// its attempt.
#[test]
fn the_warning_about_output_held_open_names_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", HOLDER);
    let out = run_in(d, &["run", "w.toml", "-q"]);
    kill_escaped(d);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "flow: warning: a process that left the command's group still holds its output"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("(flow: holder, attempt: 1, "), "{stderr}");
}

/// On a terminal, a warning is printed above the live progress display, on a line of its own.
#[test]
fn a_warning_does_not_garble_the_live_display() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", HOLDER);
    let (code, screen) = run_on_terminal(d, &["run", "w.toml"]);
    kill_escaped(d);
    assert_eq!(code, Some(0), "{screen}");
    let warning = (screen.split(['\r', '\n']))
        .find(|line| line.contains("still holds its output"))
        .unwrap_or_else(|| panic!("no warning in {screen:?}"));
    assert!(
        !warning.contains("running"),
        "the warning shares a line with the display: {warning:?}"
    );
}

/// The signal mask `name` (`SigIgn`, `SigCgt`) of process `pid`, from `/proc/PID/status`.
fn signal_mask(pid: &str, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = (status.lines())
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap();
    u64::from_str_radix(mask.trim(), 16).unwrap()
}

/// `nohup flow run` (SIGHUP ignored from the start) keeps SIGHUP ignored, in `flow` and in its
/// commands: closing the terminal does not stop the run.
#[test]
fn a_run_started_ignoring_sighup_is_not_stopped_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ready = fifo(d, "ready.fifo");
    fifo(d, "go.fifo");
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = '''\necho $$ > ready.fifo\nread x < go.fifo\necho done\n'''\n",
    );
    let flow = flow_path();
    let child = Command::new("sh")
        .args(["-c", "trap '' HUP; exec \"$0\" run w.toml --json"])
        .arg(&flow)
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let command = wait_ready(&ready);
    let hup = 1u64 << (nix::sys::signal::Signal::SIGHUP as u64 - 1);
    let flow_pid = child.id().to_string();
    assert_eq!(
        signal_mask(&flow_pid, "SigIgn") & hup,
        hup,
        "flow ignores SIGHUP"
    );
    assert_eq!(
        signal_mask(&flow_pid, "SigCgt") & hup,
        0,
        "flow has no SIGHUP handler"
    );
    assert_eq!(
        signal_mask(&command, "SigIgn") & hup,
        hup,
        "so does its command"
    );
    signal(child.id(), "HUP");
    std::fs::write(d.join("go.fifo"), "go\n").unwrap();
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Two stop signals at once are one stop: GNU `timeout` sends SIGTERM to `flow` and then to
/// its whole process group. The running command still gets its grace period.
#[test]
fn two_sigterms_at_once_are_one_stop_and_keep_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ready = fifo(d, "ready.fifo");
    write(
        d,
        "w.toml",
        r#"
[flows.graceful]
shell = "trap 'sleep 0.3; echo cleaned > cleanup.done; exit 1' TERM; echo $$ > ready.fifo; sleep 300 & wait"
kill_grace = "30s"
"#,
    );
    let mut child = spawn_run(d);
    wait_ready(&ready);
    // The second comes once `flow` took the first (two at once would be one wake-up).
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    signal(child.id(), "TERM");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.starts_with("SIGTERM: stopping"), "{line}");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = wait_exit(child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest}");
    assert!(!rest.contains("SIGTERM again"), "{rest}");
    assert!(d.join("cleanup.done").exists(), "the grace period was cut");
}

/// A `flow` started with SIGINT, SIGTERM and SIGHUP blocked (a launcher's mask is inherited)
/// unblocks them: a SIGTERM still stops the run.
#[test]
fn a_run_started_with_its_stop_signals_blocked_still_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ready = fifo(d, "ready.fifo");
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"echo $$ > ready.fifo; exec sleep 300\"\n",
    );
    // perl-base (essential in Debian) blocks them and runs `flow` with that mask.
    let mask = "use POSIX; sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGINT, SIGTERM, SIGHUP));";
    let block = format!("{mask} exec @ARGV or die");
    let child = Command::new("perl")
        .args(["-MPOSIX", "-e", &block])
        .arg(flow_path())
        .args(["run", "w.toml"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let command = wait_ready(&ready);
    // (Not the mask in /proc: the thread that starts a command blocks every signal
    // meanwhile, so the mask read at any moment says little.)
    signal(child.id(), "TERM");
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(!common::alive(&command), "the command survived");
    // One that came while blocked, before `flow` even started, stops the run as well (it is
    // taken by the handlers, not by the default action).
    let early = format!("{mask} kill 'TERM', $$; exec @ARGV or die");
    let out = Command::new("perl")
        .args(["-MPOSIX", "-e", &early])
        .arg(flow_path())
        .args(["run", "w.toml"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
}

/// A command that ends with a background job still in its group: the job is stopped (the
/// flow's outcome waits for an empty group), and a warning naming the flow says so.
#[test]
fn a_background_job_left_in_the_group_is_stopped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.bg]\nshell = \"sleep 300 > /dev/null 2>&1 & echo $! > bg.pid\"\n",
    );
    let out = run_guarded(d, &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("flow: bg") && stderr.contains("still running (background jobs)"),
        "{stderr}"
    );
    let pid = std::fs::read_to_string(d.join("bg.pid")).unwrap();
    assert!(
        !common::alive(pid.trim()),
        "the background job outlived its flow"
    );
}

/// The dry run only reads the ledger, so it works where `.flow` is read-only (its SQLite files
/// as runs leave them, without the WAL's shared-memory file that reading would make): it says
/// what an edit makes run, and what is up to date.
#[test]
fn the_dry_run_reads_the_ledger_on_read_only_media() {
    if !can_mount("the read-only dry run test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"cat a.in > a.out\"\ninputs = [\"a.in\"]\noutputs = [\"a.out\"]\n\
         [flows.b]\nshell = \"cat b.in > b.out\"\ninputs = [\"b.in\"]\noutputs = [\"b.out\"]\n",
    );
    write(d, "a.in", "1\n");
    write(d, "b.in", "1\n");
    for edit in ["a.in", "b.in"] {
        let out = run_in(d, &["run", "w.toml", "-q"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        write(d, edit, "2\n");
    }
    let out = on_read_only_mount(&d.join(".flow"), "cd ..; \"$FLOW\" run w.toml -n --json");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = json_of(&out);
    let run: Vec<&str> = (plan["run"].as_array().unwrap().iter())
        .map(|f| f["flow"].as_str().unwrap())
        .collect();
    assert_eq!(run, ["b"], "{plan}");
    assert_eq!(plan["counts"]["up_to_date"], 1, "{plan}");
}

/// `flow report` reads a store on read-only media, but its default page goes into `.flow`:
/// the error says how to write it elsewhere, and `-o -` does.
#[test]
fn report_on_read_only_media_says_how_to_write_the_page_elsewhere() {
    if !can_mount("the read-only report test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    let out = run_in(dir.path(), &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for made in [false, true] {
        if made {
            // A page written before: its folder is there, the new page cannot be.
            let out = run_in(dir.path(), &["report", "w.toml"]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        }
        let out = on_read_only_mount(
            dir.path(),
            "\"$FLOW\" report w.toml || echo \"exit $?\"; \"$FLOW\" report w.toml -o - | grep -c '<html'",
        );
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(stdout.starts_with("exit 2\n1\n"), "{stdout}{stderr}");
        assert!(
            stderr.contains("Read-only file system")
                && stderr.contains("write the page elsewhere with -o FILE, or to stdout with -o -"),
            "{made}: {stderr}"
        );
    }
}

/// A full disk where the store's `-shm` file is not there yet (the folder was copied, or the
/// machine restarted): SQLite cannot make it, and says only "disk I/O error ... xShmMap". The
/// error says the disk is full, for `flow run` and `flow runs` alike.
#[test]
fn a_full_disk_that_leaves_no_room_for_the_stores_shm_file_is_named_full() {
    if !can_mount("the full disk -shm test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = on_full_disk(
        dir.path(),
        "",
        "\"$FLOW\" run w.toml start -q; rm -f .flow/flow.db-shm .flow/flow.db-wal; \
         head -c 5000000 /dev/zero > fill 2>/dev/null; \
         \"$FLOW\" run w.toml start; echo \"run exit=$?\"; \
         \"$FLOW\" runs w.toml; echo \"runs exit=$?\"",
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stdout.contains("run exit=2") && stdout.contains("runs exit=2"),
        "{stdout}\n{stderr}"
    );
    let full = "flow.db`: the disk or file system is full (free space, or use another store)";
    assert_eq!(stderr.matches(full).count(), 2, "{stderr}");
}
