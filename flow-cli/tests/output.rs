//! End-to-end tests of what `flow` prints where: the failure tails of both streams in the
//! summary, colours that follow the stream they are written to, the plain progress lines a
//! terminal that cannot move its cursor gets, and the readers of a store with no runs.

mod common;

use common::{json_of, run_in, run_with_terminal, text, write, Terminal};

const FAILING: &str = r#"
[flows.pytestlike]
shell = "echo 'FAILED test_x.py::test_a - assert 1 == 2'; exit 1"
[flows.both]
shell = "echo 'real error on stdout'; echo 'warning: deprecated' >&2; exit 2"
[flows.silent]
shell = "exit 3"
[flows.hostile]
shell = "printf 'before\\033[2J\\033]0;PWNED\\007after\\n'; exit 4"
"#;

/// The lines of the summary block of `flow`, from `FAILED ID:` (or `FAILED ID (FILE:LINE):`,
/// as `flow run` names it) to the next unindented line.
fn block<'a>(summary: &'a str, id: &str) -> Vec<&'a str> {
    let start = format!("FAILED {id}");
    let starts =
        |l: &str| l.starts_with(&format!("{start}: ")) || l.starts_with(&format!("{start} ("));
    let mut lines = summary.lines().skip_while(|l| !starts(l));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no `{start}` in {summary}"));
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .collect()
}

/// pytest, cargo test and go test print their failures on stdout: the summary shows the end
/// of stdout too, and of stderr, each under its stream's name and log file; an empty stream
/// is not shown. On CI the log folder goes with the runner: this is all one gets to read.
#[test]
fn the_failure_summary_shows_the_end_of_stdout_and_of_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "so.toml", FAILING);
    let out = run_in(d, &["run", "so.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    // The run names where each failed flow is defined.
    assert!(
        shown.contains("FAILED pytestlike (so.toml:2): the command exited with code 1\n"),
        "{shown}"
    );
    let results = text(&run_in(d, &["results", "so.toml"]).stdout);
    for summary in [&shown, &results] {
        let pytest = block(summary, "pytestlike");
        assert_eq!(pytest.len(), 3, "{pytest:#?}");
        assert!(
            pytest[1].starts_with("  stdout (log: /") && pytest[1].ends_with("/pytestlike.1.out):"),
            "{pytest:#?}"
        );
        assert_eq!(pytest[2], "  | FAILED test_x.py::test_a - assert 1 == 2");

        let both = block(summary, "both");
        assert_eq!(both.len(), 5, "{both:#?}");
        assert!(both[1].ends_with("/both.1.out):"), "{both:#?}");
        assert_eq!(both[2], "  | real error on stdout");
        assert!(
            both[3].starts_with("  stderr (log: ") && both[3].ends_with("/both.1.err):"),
            "{both:#?}"
        );
        assert_eq!(both[4], "  | warning: deprecated");

        // Nothing written: nothing to show, no log to name.
        assert_eq!(block(summary, "silent").len(), 1, "{summary}");

        let hostile = block(summary, "hostile");
        assert_eq!(
            hostile.get(2).copied(),
            Some("  | before\\u{1b}[2J\\u{1b}]0;PWNED\\u{7}after"),
            "{hostile:#?}"
        );
    }
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
}

/// `--quiet` prints only errors: one line per failed flow, naming the log file of each
/// stream it wrote, so that the one of stdout (where pytest fails) is named too.
#[test]
fn a_quiet_run_names_the_log_of_each_stream_of_a_failed_flow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "so.toml", FAILING);
    let out = run_in(d, &["run", "so.toml", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    let stderr = text(&out.stderr);
    let line = |id: &str| {
        let start = format!("FAILED {id} (so.toml:");
        let found = stderr.lines().find(|l| l.starts_with(&start));
        found.unwrap_or_else(|| panic!("no `{start}` in {stderr}"))
    };
    let both = line("both");
    assert!(both.contains(" (logs: /"), "{both}");
    assert!(
        both.contains("/both.1.out, /") && both.ends_with("/both.1.err)"),
        "{both}"
    );
    assert!(
        line("pytestlike").ends_with("/pytestlike.1.out)"),
        "{stderr}"
    );
    assert!(line("silent").ends_with("exited with code 3"), "{stderr}");
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
}

/// Lines written to a pipe carry no colour codes when stderr alone is a terminal
/// (`flow run w.toml | tee run.log` in a terminal), and get them when stdout alone is one.
#[test]
fn colours_follow_the_stream_they_are_written_to() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.ok]\nshell = \"true\"\n[flows.bad]\nshell = \"echo oops >&2; exit 1\"\n",
    );
    let colours = [("NO_COLOR", ""), ("TERM", "xterm")];
    let (code, on_terminal, piped) =
        run_with_terminal(d, &["run", "w.toml"], &colours, Terminal::Stderr);
    assert_eq!(code, Some(1), "{on_terminal}");
    assert!(piped.contains("completed ok"), "{piped}");
    assert!(!piped.contains('\u{1b}'), "{piped:?}");
    let (code, piped_results, _) =
        run_with_terminal(d, &["results", "w.toml"], &colours, Terminal::Stderr);
    assert_eq!(code, Some(0));
    assert!(!piped_results.contains('\u{1b}'), "{piped_results:?}");

    let (code, on_terminal, piped) =
        run_with_terminal(d, &["run", "w.toml"], &colours, Terminal::Stdout);
    assert_eq!(code, Some(1), "{piped}");
    assert!(
        on_terminal.contains("\u{1b}[32mcompleted\u{1b}[0m ok"),
        "{on_terminal:?}"
    );
    assert!(!piped.contains('\u{1b}'), "{piped:?}");
    // NO_COLOR still wins.
    let (_, on_terminal, _) = run_with_terminal(d, &["run", "w.toml"], &[], Terminal::Stdout);
    assert!(!on_terminal.contains('\u{1b}'), "{on_terminal:?}");
}

/// A terminal that cannot move its cursor (`TERM=dumb`: Emacs' shell, some CI log viewers), or
/// one that does not say what it is, gets one plain line per flow, as a pipe does, not the
/// live display's redraws; `--progress` chooses either way.
#[test]
fn a_dumb_terminal_gets_plain_lines_not_the_live_display() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"true\"\n[flows.b]\nshell = \"true\"\n",
    );
    let live = |shown: &str| shown.contains("\u{1b}[2K") || shown.contains("\r\u{1b}");
    for (env, args) in [
        (
            &[("TERM", "dumb")][..],
            &["run", "w.toml", "--force-all"][..],
        ),
        (&[("TERM", "")][..], &["run", "w.toml", "--force-all"]),
        (
            &[("TERM", "xterm")][..],
            &["run", "w.toml", "--force-all", "--progress", "plain"],
        ),
    ] {
        let (code, shown, _) = run_with_terminal(d, args, env, Terminal::All);
        assert_eq!(code, Some(0), "{env:?} {args:?}: {shown}");
        assert!(!live(&shown), "{env:?} {args:?}: {shown:?}");
        assert!(
            shown.contains("[1/2] completed") && shown.contains("[2/2] completed"),
            "{env:?} {args:?}: {shown:?}"
        );
    }
    let (code, shown, _) = run_with_terminal(
        d,
        &["run", "w.toml", "--force-all", "--progress", "live"],
        &[("TERM", "dumb")],
        Terminal::All,
    );
    assert_eq!(code, Some(0), "{shown}");
    assert!(!shown.contains("[1/2] completed"), "{shown:?}");
}

/// A project that has not run yet is no usage error: `flow runs`, `flow results` and
/// `flow report` say there are no runs and exit 0 (with `--json`, `results` and `report`
/// print `null`, the document of no run); a run asked for by id that is not there stays an
/// error (exit 2).
#[test]
fn readers_of_a_store_with_no_runs_say_so_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", "[flows.a]\nshell = \"true\"\n");
    write(d, "other.toml", "[flows.b]\nshell = \"true\"\n");
    // No store at all, then a store with only another workflow's run.
    for prepared in [false, true] {
        if prepared {
            assert_eq!(run_in(d, &["run", "other.toml"]).status.code(), Some(0));
        }
        for args in [
            &["runs", "w.toml"][..],
            &["results", "w.toml"],
            &["report", "w.toml"],
        ] {
            let out = run_in(d, args);
            let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert_eq!(out.status.code(), Some(0), "{prepared} {args:?}: {said}");
            assert!(said.contains("no runs"), "{prepared} {args:?}: {said}");
        }
        for args in [
            &["results", "w.toml", "--json"][..],
            &["report", "w.toml", "--json"],
        ] {
            let out = run_in(d, args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?}: {}",
                text(&out.stderr)
            );
            assert_eq!(json_of(&out), serde_json::Value::Null, "{args:?}");
        }
        assert!(!d.join(".flow/reports").exists());
        for command in ["results", "report"] {
            let args = [command, "w.toml", "--run", "20261126T153012.123Z-3f9a"];
            let out = run_in(d, &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(text(&out.stderr).contains("no run found"), "{args:?}");
        }
    }
}

/// A flow silent for long printed nothing into a pipe, and a CI system with a no-output
/// timeout (Travis, GitLab and Jenkins plugins) killed the job: plain progress now names the
/// flows still running when nothing was printed for a while (a minute; here, through flow's
/// own variable, 20 ms). `--quiet` stays silent.
#[test]
fn plain_progress_says_which_flows_still_run_when_silent_for_long() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gate = common::fifo(d, "gate");
    write(
        d,
        "w.toml",
        "[flows.quick]\nshell = \"true\"\n[flows.slow]\nshell = \"read go < gate\"\n",
    );
    let mut child = common::flow()
        .current_dir(d)
        .args(["run", "w.toml"])
        .env("FLOW_STILL_RUNNING_EVERY_MS", "20")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let mut seen = Vec::new();
    let still = loop {
        let line = rx
            .recv_timeout(common::GUARD)
            .unwrap_or_else(|_| panic!("no `still running` line; stdout so far: {seen:?}"));
        if line.starts_with("still running") {
            break line;
        }
        seen.push(line);
    };
    // `quick` may not have ended yet: the flows are named in the order they started.
    assert!(
        still.starts_with("still running: ") && still.contains("slow ("),
        "{still:?}"
    );
    assert!(still.ends_with("s)"), "{still:?}");
    std::fs::write(&gate, "go\n").unwrap();
    let out = common::wait_exit(child);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rest: Vec<String> = rx.iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("completed slow")),
        "{seen:?} {rest:?}"
    );

    // The same silence under --quiet: nothing on either stream.
    write(d, "w.toml", "[flows.slow]\nshell = \"sleep 0.2\"\n");
    let out = common::flow()
        .current_dir(d)
        .args(["run", "w.toml", "--quiet"])
        .env("FLOW_STILL_RUNNING_EVERY_MS", "10")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "");
}

/// `--run` refused anything but a whole run id. Now, as git takes a short hash, the start of
/// an id names the one run whose id begins so, in `flow results`, `flow report` and
/// `flow logs`; one that begins several ids is an error naming them (exit 2), and one that
/// begins none says there is no such run.
#[test]
fn a_run_is_named_by_the_start_of_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", "[flows.a]\nshell = \"echo $FLOW_RUN_ID\"\n");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let out = run_in(d, &["run", "w.toml", "--force-all", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        ids.push(json_of(&out)["run_id"].as_str().unwrap().to_owned());
    }
    let common = ids[0]
        .char_indices()
        .find(|&(i, c)| !ids[1][i..].starts_with(c))
        .map(|(i, _)| i)
        .unwrap();
    let (shared, first) = (&ids[0][..common], &ids[0][..=common]);

    let out = run_in(d, &["results", "w.toml", "--run", first, "--json"]);
    assert_eq!(
        json_of(&out)["run_id"],
        ids[0].as_str(),
        "{}",
        text(&out.stderr)
    );
    let out = run_in(d, &["report", "w.toml", "--run", first, "--json"]);
    assert!(text(&out.stdout).contains(&ids[0]), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains(&ids[1]),
        "{}",
        text(&out.stdout)
    );
    let out = run_in(d, &["logs", "a", "w.toml", "--run", first]);
    assert_eq!(text(&out.stdout).trim(), ids[0], "{}", text(&out.stderr));

    for args in [
        &["results", "w.toml", "--run", shared][..],
        &["report", "w.toml", "--run", shared],
        &["logs", "a", "w.toml", "--run", shared],
    ] {
        let out = run_in(d, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "run id `{shared}` is ambiguous: 2 runs' ids begin with it: {}, {}",
                ids[0], ids[1]
            )),
            "{args:?}: {stderr}"
        );
    }
    let out = run_in(d, &["results", "w.toml", "--run", "1999", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_of(&out)["kind"], "no_run");
    let out = run_in(d, &["results", "w.toml", "--run", shared, "--json"]);
    assert_eq!(json_of(&out)["kind"], "ambiguous_run");
}

/// A prefix given with a workflow file was matched against every workflow's runs in
/// `flow results` and `flow report` (ambiguous because of another workflow's run, or naming
/// that run), but against the file's own in `flow logs`. Now every command takes it from the
/// runs of the file's workflow first.
#[test]
fn a_run_prefix_with_a_file_names_a_run_of_its_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a.toml", "[flows.a]\nshell = \"echo $FLOW_RUN_ID\"\n");
    write(d, "b.toml", "[flows.b]\nshell = \"true\"\n");
    let mut ids = Vec::new();
    for file in ["a.toml", "b.toml"] {
        let out = run_in(d, &["run", file, "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        ids.push(json_of(&out)["run_id"].as_str().unwrap().to_owned());
    }
    // The year: the start of both runs' ids.
    let shared = &ids[0][..4];
    assert!(ids[1].starts_with(shared));
    for args in [
        &["results", "a.toml", "--run", shared, "--json"][..],
        &["report", "a.toml", "--run", shared, "--json"],
    ] {
        let out = run_in(d, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains(&ids[0]), "{args:?}");
        assert!(!text(&out.stdout).contains(&ids[1]), "{args:?}");
    }
    let out = run_in(d, &["logs", "a", "a.toml", "--run", shared]);
    assert_eq!(text(&out.stdout).trim(), ids[0], "{}", text(&out.stderr));
    // Without a file, every run of the store is a candidate.
    let out = run_in(d, &["results", "--run", shared]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A prefix that begins none of a's runs names b's, as b's whole id does.
    for given in [&ids[1][..ids[1].len() - 2], &ids[1]] {
        let out = run_in(d, &["results", "a.toml", "--run", given, "--json"]);
        assert_eq!(json_of(&out)["run_id"], ids[1].as_str(), "{given}");
    }
}
