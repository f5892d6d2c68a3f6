//! The commands that only read runs (`results`, `runs`, `logs`, `report`) while the workflow
//! file is being edited: they read its runs with one warning, never saying "nothing was
//! run"; and what flow prints of a path is made safe for a terminal everywhere.

mod common;

use std::path::Path;

use common::{flow_in, text, write};

/// Runs `w.toml` (one flow `f` printing `hi`) once in `dir`.
fn run_once(dir: &Path, workflow: &str) {
    write(dir, "w.toml", workflow);
    let out = flow_in(dir, &["run", "w.toml", "-q"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `flow results/runs/logs/report` of `w.toml` in `dir`: each succeeds, prints one line on
/// stderr (the warning, which contains `warning`) and what it shows contains `shown`.
fn reads_with_one_warning(dir: &Path, warning: &str) {
    for (args, shown) in [
        (&["results", "w.toml"][..], "f     completed"),
        (&["runs", "w.toml"][..], "1 completed, 0 failed\n"),
        (&["logs", "f", "w.toml"][..], "hi\n"),
        (&["report", "w.toml"][..], "report written to "),
        (&["report", "w.toml", "--json"][..], "\"flows\""),
    ] {
        let out = flow_in(dir, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            text(&out.stdout).contains(shown),
            "{args:?}: {}",
            text(&out.stdout)
        );
        assert!(!stderr.contains("nothing was run"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("flow: warning: "), "{args:?}: {stderr}");
        assert!(stderr.contains(warning), "{args:?}: {stderr}");
    }
}

#[test]
fn read_only_commands_read_the_runs_of_a_file_that_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    run_once(dir.path(), "[flows.f]\nshell = \"echo hi\"\n");
    write(
        dir.path(),
        "w.toml",
        "[flows.f]\nshell = \"echo hi\"\nhalf-edited [[[\n",
    );
    reads_with_one_warning(
        dir.path(),
        "w.toml has 1 problem (w.toml:3:13: invalid TOML: key with no value, expected `=`; \
         see `flow validate w.toml`); reading the runs of workflow `w` (named after the file: \
         no `[workflow] name` can be read)",
    );
}

#[test]
fn read_only_commands_read_the_name_a_file_that_does_not_parse_sets() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = "[workflow]\nname = \"named\"\n[flows.f]\nshell = \"echo hi\"\n";
    run_once(dir.path(), workflow);
    // Another workflow's later run in the same store is not the one shown.
    write(
        dir.path(),
        "other.toml",
        "[flows.g]\nshell = \"echo other\"\n",
    );
    assert!(flow_in(dir.path(), &["run", "other.toml", "-q"])
        .status
        .success());
    write(dir.path(), "w.toml", &format!("{workflow}[flows.g\n"));
    reads_with_one_warning(dir.path(), "; reading the runs of workflow `named`\n");
    let runs = text(&flow_in(dir.path(), &["runs", "w.toml"]).stdout);
    assert!(!runs.contains("other"), "{runs}");
}

#[test]
fn a_name_that_cannot_be_read_shows_every_workflow_and_prune_refuses() {
    let dir = tempfile::tempdir().unwrap();
    run_once(dir.path(), "[flows.f]\nshell = \"echo hi\"\n");
    run_once(dir.path(), "[flows.f]\nshell = \"echo hi\"\n");
    write(
        dir.path(),
        "w.toml",
        "[workflow]\nname = \"half\n[flows.f]\nshell = \"echo hi\"\n",
    );
    reads_with_one_warning(
        dir.path(),
        "reading the runs of every workflow in its folder's store (its `[workflow] name` \
         cannot be read)",
    );
    // Deleting runs needs to know whose they are.
    let out = flow_in(dir.path(), &["prune", "w.toml", "--keep", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("its `[workflow] name` cannot be read"));
    let runs = text(&flow_in(dir.path(), &["runs"]).stdout);
    assert_eq!(runs.matches("1 completed").count(), 2, "{runs}");
}

#[test]
fn report_reads_the_runs_of_a_file_that_does_not_validate() {
    let dir = tempfile::tempdir().unwrap();
    run_once(dir.path(), "[flows.f]\nshell = \"echo hi\"\n");
    write(
        dir.path(),
        "w.toml",
        "[flows.f]\nshell = \"echo hi\"\nrequires = [\"gone\"]\n",
    );
    reads_with_one_warning(
        dir.path(),
        "w.toml has 1 problem (w.toml:3:13: flow `f` requires unknown flow `gone`; see `flow \
         validate w.toml`); reading the runs of workflow `w`\n",
    );
}

#[test]
fn a_bad_set_value_of_a_read_only_command_does_not_say_nothing_was_run() {
    let dir = tempfile::tempdir().unwrap();
    run_once(dir.path(), "[flows.f]\nshell = \"echo hi\"\n");
    for command in ["results", "report"] {
        let out = flow_in(dir.path(), &[command, "w.toml", "--set", "q=1", "--json"]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("no param `q`"), "{stderr}");
        assert!(stderr.contains("error: w.toml has 1 problem\n"), "{stderr}");
        let stdout = text(&out.stdout);
        assert!(stdout.contains("\"w.toml has 1 problem\""), "{stdout}");
    }
}

#[test]
fn paths_with_control_characters_are_escaped_in_every_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x\u{1b}[31mRED\nerror: FAKE");
    std::fs::create_dir(&dir).unwrap();
    let d = dir.to_str().unwrap();
    write(
        &dir,
        "w.toml",
        "[flows.a]\ncommand = [\"true\"]\n[flows.b]\nshell = \"echo oops >&2; exit 3\"\n",
    );
    let file = format!("{d}/w.toml");
    let missing_store = format!("sqlite:{d}/no.db");
    let missing_output = format!("{d}/nodir/x.html");
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["run", "w.toml", "--report"],
        vec!["run", &file, "--report", "--resume"],
        vec!["report", &file],
        vec!["report", &file, "-o", &missing_output],
        vec!["results", &file],
        vec!["logs", "zz", &file],
        vec!["logs", "b", &file, "--run", "20200101T000000.000Z-00000000"],
        vec!["runs", "--store", &missing_store],
        vec!["results", "--store", &missing_store],
    ];
    let missing_file = format!("{d}/missing.toml");
    commands.push(vec!["results", &missing_file]);
    let mut outputs = Vec::new();
    for args in &commands {
        outputs.push((args.clone(), flow_in(&dir, args)));
    }
    // A file that does not parse: its diagnostics, the warning of the read-only commands.
    write(&dir, "w.toml", "[flows.a]\ncommand = [\"true\"]\nbad [[\n");
    for args in [
        vec!["validate", &file],
        vec!["run", &file],
        vec!["results", &file],
        vec!["report", &file],
    ] {
        outputs.push((args.clone(), flow_in(&dir, &args)));
    }
    for (args, out) in outputs {
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let shown = text(bytes);
            assert!(!shown.contains('\u{1b}'), "{args:?} {stream}: {shown}");
            assert!(
                !shown.lines().any(|line| line.starts_with("error: FAKE")),
                "{args:?} {stream}: {shown}"
            );
        }
        // Each command did print the path, escaped.
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(
            all.contains("x\\u{1b}[31mRED\\nerror: FAKE"),
            "{args:?}: {all}"
        );
    }
}

#[test]
fn logs_of_a_flow_the_file_given_does_not_define_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.extract]\nshell = \"echo hi\"\n",
    );
    assert!(flow_in(dir.path(), &["run", "w.toml", "-q"])
        .status
        .success());
    for (args, message) in [
        (
            &["logs", "nosuch", "w.toml"][..],
            "error: w.toml defines no flow `nosuch`, and no run of workflow `w` has logs of it \
             (see `flow runs`)\n",
        ),
        (
            &["logs", "extrct", "w.toml"][..],
            "error: w.toml defines no flow `extrct` (did you mean `extract`?), and no run of \
             workflow `w` has logs of it (see `flow runs`)\n",
        ),
    ] {
        let out = flow_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), message, "{args:?}");
    }
    // Without a file, the workflow may be elsewhere.
    let out = flow_in(dir.path(), &["logs", "nosuch"]);
    assert!(text(&out.stderr).contains("(give it: flow logs nosuch FILE)"));
    // A flow the file defines that has not run: no advice to give the file.
    write(dir.path(), "v.toml", "[flows.other]\nshell = \"echo hi\"\n");
    let out = flow_in(dir.path(), &["logs", "other", "v.toml"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no logs of flow `other` in "), "{stderr}");
    assert!(!stderr.contains("FILE"), "{stderr}");
}
