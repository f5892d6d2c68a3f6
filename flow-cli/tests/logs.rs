//! Every attempt's own logs: `.flow/logs/RUN/FLOW.N.out` and `.err` per attempt, `flow logs`
//! printing the last (or a chosen) attempt and following one while it runs (until the flow
//! ends or the reader goes away), and the failure summary naming the log file.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{fifo, flow, flow_entry, flow_in, json_of, run_guarded, wait_exit, wait_ready};

const FLAKY: &str = r#"
[flows.flaky]
# Fails twice, then succeeds; each attempt says which it is on both streams.
shell = """
n=$(( $(cat count 2>/dev/null || echo 0) + 1 ))
echo $n > count
echo "out $n"
echo "err $n" >&2
[ $n -ge 3 ]
"""
retries = 2

[flows.broken]
shell = "echo 'no such table' >&2; exit 3"
"#;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn logs(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = flow()
        .current_dir(dir)
        .arg("logs")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_attempt_keeps_its_logs_and_flow_logs_prints_the_last_or_a_chosen_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.toml"), FLAKY).unwrap();
    let out = flow_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json = json_of(&out);
    let run = json["run_id"].as_str().unwrap();
    let folder = dir.path().join(".flow/logs").join(run);
    for n in 1..=3 {
        assert_eq!(
            read(&folder.join(format!("flaky.{n}.out"))),
            format!("out {n}\n")
        );
        assert_eq!(
            read(&folder.join(format!("flaky.{n}.err"))),
            format!("err {n}\n")
        );
    }
    let flaky = flow_entry(&json, "flaky");
    assert_eq!(flaky["status"], "completed");
    let log = flaky["log"].as_str().unwrap();
    assert!(log.ends_with(&format!("{run}/flaky.3.err")), "{log}");
    let broken = flow_entry(&json, "broken");
    assert!(broken["log"].as_str().unwrap().ends_with("broken.1.err"));

    assert_eq!(
        logs(dir.path(), &["flaky"]),
        (Some(0), "out 3\n".into(), "err 3\n".into())
    );
    assert_eq!(
        logs(
            dir.path(),
            &["flaky", "w.toml", "--attempt", "1", "--run", run]
        ),
        (Some(0), "out 1\n".into(), "err 1\n".into())
    );
    let (code, _, stderr) = logs(dir.path(), &["nobody"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no logs of flow `nobody`"), "{stderr}");

    // The summary names the failed flow's log file, above what it shows of it.
    let out = flow_in(dir.path(), &["run", "w.toml"]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary
            .contains("FAILED broken (w.toml:13): the command exited with code 3\n  stderr (log: "),
        "{summary}"
    );
    assert!(
        summary.contains("broken.1.err):\n  | no such table\n"),
        "{summary}"
    );
}

#[test]
fn flow_logs_follow_prints_output_as_it_comes_and_ends_with_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    let go = fifo(dir.path(), "go.fifo");
    std::fs::write(
        dir.path().join("w.toml"),
        r#"
[flows.slow]
shell = "echo first; echo ready > ready.fifo; cat go.fifo; echo second"
"#,
    )
    .unwrap();
    let running = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&ready);
    let follower = flow()
        .current_dir(dir.path())
        .args(["logs", "slow", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(&go, "go\n").unwrap();
    let followed = wait_exit(follower);
    assert_eq!(
        String::from_utf8_lossy(&followed.stdout),
        "first\ngo\nsecond\n"
    );
    assert!(followed.status.success());
    assert!(wait_exit(running).status.success());
}

/// Regression: `flow logs` of a flow that runs and has written nothing yet (or whose Slurm
/// job waits in the queue) said "it has not run there" and exited 2.
#[test]
fn flow_logs_of_a_running_flow_without_output_says_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    let go = fifo(dir.path(), "go.fifo");
    let workflow = "[flows.quiet]\nshell = \"echo ready > ready.fifo; cat go.fifo > /dev/null\"\n";
    std::fs::write(dir.path().join("w.toml"), workflow).unwrap();
    let running = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--quiet"])
        .spawn()
        .unwrap();
    wait_ready(&ready);
    // The store learns that a flow started a moment after it starts.
    let start = std::time::Instant::now();
    while flow_entry(
        &json_of(&flow_in(dir.path(), &["results", "w.toml", "--json"])),
        "quiet",
    )["status"]
        != "running"
    {
        assert!(
            start.elapsed() < common::GUARD,
            "quiet is never recorded running"
        );
        std::thread::yield_now();
    }
    let (code, stdout, stderr) = logs(dir.path(), &["quiet", "w.toml"]);
    std::fs::write(&go, "go\n").unwrap();
    assert_eq!((code, stdout.as_str()), (Some(0), ""), "{stderr}");
    assert!(
        stderr.starts_with("flow logs: flow `quiet` runs in run ")
            && stderr.ends_with(
                ", which is in progress, and has written no output yet (or its Slurm job \
                 waits in the queue); `flow logs quiet w.toml --follow` follows it\n"
            ),
        "{stderr}"
    );
    assert!(wait_exit(running).status.success());
}

#[test]
fn flow_logs_follow_ends_quietly_when_its_reader_goes_away() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    let go = fifo(dir.path(), "go.fifo");
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.slow]\nshell = \"echo one; echo two; echo ready > ready.fifo; cat go.fifo\"\n",
    )
    .unwrap();
    let running = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&ready);
    let mut follower = flow()
        .current_dir(dir.path())
        .args(["logs", "slow", "w.toml", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `| head -2` does: read two lines, then close the pipe while the flow still runs
    // and writes nothing more.
    let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "one");
    assert_eq!(lines.next().unwrap().unwrap(), "two");
    drop(lines);
    let followed = wait_exit(follower);
    assert!(followed.status.success(), "{followed:?}");
    assert_eq!(String::from_utf8_lossy(&followed.stderr), "");
    std::fs::write(&go, "go\n").unwrap();
    assert!(wait_exit(running).status.success());
}

#[test]
fn flow_logs_gives_the_bytes_to_a_pipe_and_escapes_control_characters_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        r#"
[flows.evil]
# A title change, a screen clear, a carriage return, a bidi override, a tab and a byte
# that is not UTF-8.
shell = "printf '\\033]0;PWNED\\007\\033[2Jok\\r\\n\\342\\200\\256gpj.exe\\tx\\377\\n'; printf 'e\\033[1A\\n' >&2"
"#,
    )
    .unwrap();
    assert!(flow_in(dir.path(), &["run", "w.toml", "--quiet"])
        .status
        .success());
    let raw: &[u8] = b"\x1b]0;PWNED\x07\x1b[2Jok\r\n\xe2\x80\xaegpj.exe\tx\xff\n";
    let piped = flow()
        .current_dir(dir.path())
        .args(["logs", "evil"])
        .output()
        .unwrap();
    assert_eq!(
        piped.stdout,
        raw,
        "{:?}",
        String::from_utf8_lossy(&piped.stdout)
    );
    assert_eq!(piped.stderr, b"e\x1b[1A\n");

    // `script` (util-linux) gives `flow logs` a terminal as stdout and stderr.
    let binary = flow().get_program().to_owned();
    let on_terminal = |args: &str| {
        let out = std::process::Command::new("script")
            .current_dir(dir.path())
            .args(["-qec"])
            .arg(format!("'{}' logs {args}", binary.to_string_lossy()))
            .arg("/dev/null")
            .stdin(Stdio::null())
            .output()
            .expect("`script` (util-linux) runs a command on a terminal: install it");
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    // --raw: the bytes as they are, the terminal's line discipline aside.
    let raw_shown = on_terminal("evil --raw");
    assert!(
        raw_shown.starts_with(b"\x1b]0;PWNED\x07\x1b[2Jok\r"),
        "{raw_shown:?}"
    );
    // The terminal's own line discipline turns each `\n` into `\r\n`.
    let shown = String::from_utf8(on_terminal("evil"))
        .unwrap()
        .replace("\r\n", "\n");
    assert_eq!(
        shown,
        "\\u{1b}]0;PWNED\\u{7}\\u{1b}[2Jok\\r\n\\u{202e}gpj.exe\tx\u{fffd}\ne\\u{1b}[1A\n"
    );
}

#[test]
fn following_ends_when_the_run_has_ended_whatever_was_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.a]\nshell = \"echo a\"\n[flows.b]\nshell = \"echo b\"\n",
    )
    .unwrap();
    assert!(flow_in(dir.path(), &["run", "w.toml", "-q"])
        .status
        .success());
    // The newest run has only `b`.
    assert!(flow_in(dir.path(), &["run", "w.toml", "b", "-q"])
        .status
        .success());
    for (args, says) in [
        (&["zzz", "--follow"][..], "flow `zzz` has no logs in run"),
        (&["a", "--follow"][..], "flow `a` has no logs in run"),
        (
            &["b", "--follow", "--attempt", "5"][..],
            "has no attempt 5 in run",
        ),
        (&["b", "--attempt", "5"][..], "has no attempt 5 in run"),
    ] {
        let out = run_guarded(dir.path(), &[&["logs"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // A run the default store does not know (it used another): the attempt's end is the end.
    assert!(
        flow_in(dir.path(), &["run", "w.toml", "-q", "--store", "memory"])
            .status
            .success()
    );
    let out = run_guarded(dir.path(), &["logs", "a", "--follow"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n");
    assert!(out.status.success());
}

#[test]
fn flow_logs_with_a_file_reads_only_that_workflows_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (file, word) in [("one.toml", "ONE"), ("two.toml", "TWO")] {
        let toml = format!("[flows.build]\nshell = \"echo {word}\"\n");
        std::fs::write(dir.path().join(file), toml).unwrap();
        assert!(flow_in(dir.path(), &["run", file, "-q"]).status.success());
    }
    let two = json_of(&flow_in(dir.path(), &["results", "two.toml", "--json"]));
    let two_run = two["run_id"].as_str().unwrap();
    for (args, code, stdout, stderr) in [
        (&["build", "one.toml"][..], Some(0), "ONE\n", ""),
        (&["build", "two.toml"][..], Some(0), "TWO\n", ""),
        (
            &["nope", "one.toml"][..],
            Some(2),
            "",
            "one.toml defines no flow `nope`",
        ),
        (
            &["build", "one.toml", "--run", two_run][..],
            Some(2),
            "",
            "is not a run of workflow `one`",
        ),
    ] {
        let (got_code, got_stdout, got_stderr) = logs(dir.path(), args);
        assert_eq!(got_code, code, "{args:?}: {got_stderr}");
        assert_eq!(got_stdout, stdout, "{args:?}");
        assert!(got_stderr.contains(stderr), "{args:?}: {got_stderr}");
    }
    let followed = run_guarded(dir.path(), &["logs", "build", "one.toml", "--follow"]);
    assert_eq!(String::from_utf8_lossy(&followed.stdout), "ONE\n");
}

/// `flow logs sort FILE`, where `[flows.sort]` has a matrix, names the flows it makes: the file
/// does define `sort`, so "defines no flow `sort`" alone sent the user looking for a typo.
#[test]
fn flow_logs_of_a_matrix_definition_names_its_flows() {
    let dir = tempfile::tempdir().unwrap();
    let toml =
        "[flows.sort]\nmatrix = { part = [\"00\", \"01\", \"02\"] }\nshell = \"echo {part}\"\n";
    std::fs::write(dir.path().join("w.toml"), toml).unwrap();
    assert!(flow_in(dir.path(), &["run", "w.toml", "-q"])
        .status
        .success());
    let (code, stdout, stderr) = logs(dir.path(), &["sort", "w.toml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(
            "`sort` is a definition of 3 flows in w.toml (sort.00 ... sort.02): \
             name one, as `flow logs sort.00 w.toml`"
        ),
        "{stderr}"
    );
    let (code, stdout, _) = logs(dir.path(), &["sort.01", "w.toml"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "01\n"));
}

/// `flow logs w.toml sort.00` (the file first, as every other command takes it) says the flow
/// comes first, with the command to type, instead of "cannot read workflow file sort.00".
#[test]
fn flow_logs_with_the_file_first_says_the_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.a]\nshell = \"echo hi\"\n",
    )
    .unwrap();
    assert!(flow_in(dir.path(), &["run", "w.toml", "-q"])
        .status
        .success());
    let (code, stdout, stderr) = logs(dir.path(), &["w.toml", "a"]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""), "{stderr}");
    assert_eq!(
        stderr,
        "error: `w.toml` is a file, not a flow: `flow logs` takes the flow first, as \
         `flow logs a w.toml`\n"
    );
    let (code, _, stderr) = logs(dir.path(), &["w.toml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("as `flow logs FLOW w.toml`"), "{stderr}");
    let (code, stdout, _) = logs(dir.path(), &["a", "w.toml"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "hi\n"));
}

/// A flow that only a `--set` made (not in the file as it expands by default) has its logs.
#[test]
fn flow_logs_reads_a_flow_made_by_set() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[params]\nnames = [\"a\"]\n[flows.make]\nmatrix = { n = \"{names}\" }\nshell = \"echo made {n}\"\n";
    std::fs::write(dir.path().join("w.toml"), toml).unwrap();
    let ran = flow_in(dir.path(), &["run", "w.toml", "-q", "--set", "names=a,c"]);
    assert!(ran.status.success());
    let (code, stdout, stderr) = logs(dir.path(), &["make.c", "w.toml"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "made c\n");
}

/// Following a flow of a run on another store (the default one does not know it) ends when
/// that run's `flow run` is killed: its log folder says which process writes it.
#[test]
fn following_a_run_on_another_store_ends_when_its_flow_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ready = fifo(d, "ready.fifo");
    std::fs::write(
        d.join("w.toml"),
        "[flows.s]\nshell = \"echo s-start; echo $$ > ready.fifo; exec sleep 300\"\n",
    )
    .unwrap();
    let run = flow()
        .current_dir(d)
        .args(["run", "w.toml", "-q", "--store", "memory"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&ready);
    let mut follow = flow()
        .current_dir(d)
        .args(["logs", "s", "w.toml", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The line has reached the log (the follower prints it) before the run dies: one still
    // in the command's pipe would die with the run.
    let mut lines = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut lines, &mut first).unwrap();
    assert_eq!(first, "s-start\n");
    common::signal(run.id(), "KILL");
    follow.stdout = Some(lines.into_inner());
    let out = wait_exit(follow);
    assert_eq!(wait_exit(run).status.code(), None, "killed");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "nothing after the first line"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn flow_logs_of_an_attempt_that_did_not_start_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        r#"
[flows.nf]
# A program whose name would turn the terminal red.
command = ["no-such-program-xyz\u001b[31m"]
[flows.badcwd]
cwd = "nodir"
command = ["true"]
"#,
    )
    .unwrap();
    assert_eq!(
        flow_in(dir.path(), &["run", "w.toml", "--quiet"])
            .status
            .code(),
        Some(1)
    );
    let (code, out, err) = logs(dir.path(), &["nf", "w.toml"]);
    assert_eq!((code, out.as_str()), (Some(0), ""));
    assert_eq!(
        err,
        "flow logs: attempt 1 of `nf` did not start, so it has no logs: failed to start \
         `no-such-program-xyz\\u{1b}[31m`: no such program in the folders of PATH (is it \
         installed?)\n"
    );
    let (code, out, err) = logs(dir.path(), &["badcwd", "w.toml"]);
    assert_eq!((code, out.as_str()), (Some(0), ""));
    assert!(
        err.starts_with("flow logs: attempt 1 of `badcwd` did not start, so it has no logs: ")
            && err.contains("nodir does not exist"),
        "{err}"
    );
}

/// A flow that made no attempt in the run (a parent it requires failed) has no logs: `flow
/// logs`, following or not, says why rather than that it never ran anywhere.
#[test]
fn flow_logs_of_a_flow_that_did_not_run_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.bad]\nshell = \"exit 1\"\n[flows.after]\nrequires = [\"bad\"]\nshell = \"true\"\n",
    )
    .unwrap();
    let run = flow_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(run.status.code(), Some(1));
    let run_id = json_of(&run)["run_id"].as_str().unwrap().to_owned();
    for follow in [&[][..], &["-f"]] {
        let args = [&["after", "w.toml"][..], follow].concat();
        let (code, out, err) = logs(dir.path(), &args);
        assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
        assert_eq!(
            err,
            format!(
                "flow logs: flow `after` has no logs in run {run_id}: it did not run there \
                 (required flow `bad` failed)\n"
            ),
            "{follow:?}"
        );
    }
}

/// `flow logs FLOW --run RUN` of a run that found every flow up to date (it ran nothing, so it
/// has no log folder) says that the flow did not run there, as it does for a run that ran
/// other flows, not that `flow runs` does not know the run.
#[test]
fn flow_logs_of_a_run_where_everything_was_up_to_date_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.make]\nshell = \"echo made > out.txt\"\noutputs = [\"out.txt\"]\n",
    )
    .unwrap();
    let run_id = |out: &std::process::Output| json_of(out)["run_id"].as_str().unwrap().to_owned();
    assert!(flow_in(dir.path(), &["run", "w.toml", "-q"])
        .status
        .success());
    let second = run_id(&flow_in(dir.path(), &["run", "w.toml", "--json"]));
    for follow in [&[][..], &["-f"]] {
        let args = [&["make", "w.toml", "--run", &second][..], follow].concat();
        let (code, out, err) = logs(dir.path(), &args);
        assert_eq!((code, out.as_str()), (Some(0), ""), "{follow:?}: {err}");
        assert_eq!(
            err,
            format!(
                "flow logs: flow `make` has no logs in run {second}: it did not run there \
                 (it was up to date)\n"
            ),
            "{follow:?}"
        );
    }
    // Without --run: the latest run that ran it.
    let (code, _, err) = logs(dir.path(), &["make", "w.toml"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.starts_with("flow logs: attempt 1 of `make` in run ")
            && err.ends_with(" wrote nothing to stdout or stderr\n"),
        "{err}"
    );
}

/// A sample that failed, was fixed and then ran silently: `flow logs` of it, without
/// `--run`, shows its latest run, which has no output, and names the earlier run whose
/// logs hold the failure, with the command that prints them.
#[test]
fn flow_logs_of_a_flow_silent_in_its_latest_run_names_an_earlier_run_with_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let failing = "[flows.align]\nshell = \"echo index corrupt >&2; exit 3\"\n";
    std::fs::write(d.join("w.toml"), failing).unwrap();
    let run_id = |out: &std::process::Output| json_of(out)["run_id"].as_str().unwrap().to_owned();
    let failed = run_id(&flow_in(d, &["run", "w.toml", "--json"]));
    std::fs::write(d.join("w.toml"), "[flows.align]\nshell = \"true\"\n").unwrap();
    let fixed = run_id(&flow_in(d, &["run", "w.toml", "--json"]));
    let (code, out, err) = logs(d, &["align", "w.toml"]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    assert_eq!(
        err,
        format!(
            "flow logs: attempt 1 of `align` in run {fixed} wrote nothing to stdout or \
             stderr; run {failed} has its logs: flow logs align w.toml --run {failed}\n"
        )
    );
    let (code, _, err) = logs(d, &["align", "w.toml", "--run", &failed]);
    assert_eq!((code, err.as_str()), (Some(0), "index corrupt\n"));
}

/// A flow running in the newest run that has written nothing yet has no log file there: `flow
/// logs` prints its latest logs, of an older run, saying so, not as if they were this run's.
#[test]
fn flow_logs_of_a_flow_silent_in_a_run_in_progress_names_the_older_run_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    let go = fifo(dir.path(), "go.fifo");
    std::fs::write(
        dir.path().join("w.toml"),
        r#"
[flows.slow]
shell = "if [ -e ran ]; then echo ready > ready.fifo; cat go.fifo; else touch ran; echo OLD; fi"
"#,
    )
    .unwrap();
    let first = run_guarded(dir.path(), &["run", "w.toml", "-q"]);
    assert!(first.status.success(), "{first:?}");
    let old_run = json_of(&run_guarded(dir.path(), &["results", "w.toml", "--json"]))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let running = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&ready);
    let (code, out, err) = logs(dir.path(), &["slow", "w.toml"]);
    std::fs::write(&go, "go\n").unwrap();
    assert!(wait_exit(running).status.success());
    assert_eq!((code, out.as_str()), (Some(0), "OLD\n"), "{err}");
    assert!(
        err.contains("is in progress and has no logs of this flow yet")
            && err.contains(&format!("these are of run {old_run}")),
        "{err}"
    );
    // Once it wrote, its logs are this run's, and the run is over: no note.
    let (code, out, err) = logs(dir.path(), &["slow", "w.toml"]);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "go\n", ""));
}
