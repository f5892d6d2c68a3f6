//! `flow run` with declared inputs and outputs: the dry run's plan (text and `--json`) against
//! what the following run does, after each kind of edit; SIGKILL of `flow run` while a flow
//! writes its output; targets and `--force`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{fifo, json_of, run_in, signal, spawn_run, text, wait_exit, wait_ready, write};

const WORKFLOW: &str = r#"
[workflow]
jobs = 1

[flows.a]
shell = "cp in.txt a.txt"
inputs = ["in.txt"]
outputs = ["a.txt"]

[flows.d]
shell = "cat in.txt in.txt > d.txt"
inputs = ["in.txt"]
outputs = ["d.txt"]

[flows.b]
shell = """
echo partial > b.txt
if test -e slow; then echo go > ready; sleep 60; fi
cat a.txt a.txt > b.txt
"""
inputs = ["a.txt"]
outputs = ["b.txt"]

[flows.c]
shell = "cat b.txt d.txt > c.txt"
inputs = ["b.txt", "d.txt"]
outputs = ["c.txt"]
"#;

/// The flows `flow run -n --json` says would run, and how many are up to date.
fn plan(dir: &Path, extra: &[&str]) -> (BTreeSet<String>, u64) {
    let mut args = vec!["run", "w.toml", "-n", "--json"];
    args.extend(extra);
    let out = run_in(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json = json_of(&out);
    let run = (json["run"].as_array().unwrap().iter())
        .map(|f| f["flow"].as_str().unwrap().to_owned())
        .collect();
    (run, json["counts"]["up_to_date"].as_u64().unwrap())
}

/// Runs the workflow; the flows that ran (an attempt, not up to date). An up-to-date flow
/// names the run that produced it, or, when that run's record of it was lost (a run killed
/// within the moment between a flow's end and its record's save), has no attempt.
fn ran(dir: &Path, extra: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["run", "w.toml", "--json"];
    args.extend(extra);
    let out = run_in(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json = json_of(&out);
    (json["flows"].as_array().unwrap().iter())
        .filter(|f| f["reused_from"].is_null() && f["attempts"].as_u64() > Some(0))
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// The plan, then the run: both name the same flows.
fn plan_then_run(dir: &Path, expected: &[&str]) {
    plan_then_cutoff(dir, expected, expected);
}

/// The plan, then the run, which runs fewer flows when a parent that runs writes the same
/// bytes again (early cutoff: the plan cannot know what a flow will write).
fn plan_then_cutoff(dir: &Path, planned: &[&str], run: &[&str]) {
    assert_eq!(plan(dir, &[]).0, set(planned), "plan");
    assert_eq!(ran(dir, &[]), set(run), "run");
}

#[test]
fn the_dry_run_plan_is_what_the_run_then_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", WORKFLOW);
    write(d, "in.txt", "1\n");
    plan_then_run(d, &["a", "b", "c", "d"]);
    assert_eq!(plan(d, &[]), (set(&[]), 4));
    plan_then_run(d, &[]);
    // Rewritten with the same bytes: nothing.
    write(d, "in.txt", "1\n");
    plan_then_run(d, &[]);
    // A changed input.
    write(d, "in.txt", "2\n");
    plan_then_run(d, &["a", "b", "c", "d"]);
    // A deleted output; an output edited by hand.
    std::fs::remove_file(d.join("d.txt")).unwrap();
    plan_then_cutoff(d, &["c", "d"], &["d"]);
    write(d, "c.txt", "by hand\n");
    plan_then_run(d, &["c"]);
    // A changed command.
    write(
        d,
        "w.toml",
        &WORKFLOW.replace("cat b.txt d.txt", "cat d.txt b.txt"),
    );
    plan_then_run(d, &["c"]);
    // Forced.
    let (planned, _) = plan(d, &["--force", "b"]);
    assert_eq!(planned, set(&["b", "c"]));
    assert_eq!(
        ran(d, &["--force", "b"]),
        set(&["b"]),
        "b wrote the same bytes: c is up to date"
    );
    assert_eq!(ran(d, &["--force-all"]), set(&["a", "b", "c", "d"]));
}

#[test]
fn the_text_plan_gives_each_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", WORKFLOW);
    write(d, "in.txt", "1\n");
    let out = run_in(d, &["run", "w.toml", "-n"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("would run a: never completed"), "{stdout}");
    assert!(
        stdout.contains("would run b: parent `a` will run"),
        "{stdout}"
    );
    assert!(
        stdout.contains("dry run: 4 would run, 0 up to date; nothing was run"),
        "{stdout}"
    );
    assert!(!d.join(".flow").exists(), "a dry run records nothing");
    ran(d, &[]);
    write(d, "in.txt", "2\n");
    std::fs::remove_file(d.join("c.txt")).unwrap();
    write(
        d,
        "w.toml",
        &WORKFLOW.replace("cat in.txt in.txt", "cat in.txt in.txt in.txt"),
    );
    let stdout = text(&run_in(d, &["run", "w.toml", "-n"]).stdout);
    assert!(
        stdout.contains("would run a: input changed (in.txt)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("would run d: definition changed (shell)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("would run c: parent `d` will run"),
        "{stdout}"
    );
}

#[test]
fn a_killed_run_reruns_exactly_the_flow_it_killed_and_what_that_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", WORKFLOW);
    write(d, "in.txt", "1\n");
    ran(d, &[]);
    write(d, "in.txt", "2\n");
    write(d, "slow", "");
    let ready = fifo(d, "ready");
    let child = spawn_run(d);
    let pid = child.id();
    // `b` has begun writing its output (a and d completed before it: one job at a time).
    assert_eq!(wait_ready(&ready), "go");
    signal(pid, "KILL");
    wait_exit(child);
    assert_eq!(
        std::fs::read_to_string(d.join("b.txt")).unwrap(),
        "partial\n"
    );
    std::fs::remove_file(d.join("slow")).unwrap();
    plan_then_run(d, &["b", "c"]);
    assert_eq!(std::fs::read_to_string(d.join("b.txt")).unwrap(), "2\n2\n");
}

#[test]
fn targets_run_their_ancestors_only_and_an_unknown_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", WORKFLOW);
    write(d, "in.txt", "1\n");
    assert_eq!(ran(d, &["b"]), set(&["a", "b"]));
    assert_eq!(ran(d, &["c"]), set(&["d", "c"]));
    let out = run_in(d, &["run", "w.toml", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown flow `nope` on the command line"),
        "{}",
        text(&out.stderr)
    );
    let out = run_in(d, &["run", "w.toml", "--force", "zz"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_moved_project_stays_up_to_date_but_a_path_outside_it_is_part_of_the_definition() {
    let root = tempfile::tempdir().unwrap();
    let (first, moved) = (root.path().join("first"), root.path().join("moved"));
    std::fs::create_dir_all(first.join("sub")).unwrap();
    write(
        &first,
        "w.toml",
        r#"
[defaults]
env = { DATA = "${FLOW_WORKFLOW_DIR}/data", SEARCH = "/bin:${FLOW_WORKFLOW_DIR}/bin" }

[flows.a]
shell = "echo $DATA > ../a.txt; echo $FLOW_WORKFLOW_DIR >> ../a.txt"
cwd = "sub"
outputs = ["a.txt"]

[flows.b]
shell = "cp a.txt b.txt"
env = { OTHER = "/nowhere/data" }
inputs = ["a.txt"]
outputs = ["b.txt"]
"#,
    );
    assert_eq!(ran(&first, &[]), set(&["a", "b"]));
    std::fs::rename(&first, &moved).unwrap();
    assert_eq!(
        plan(&moved, &[]),
        (set(&[]), 2),
        "nothing changed but the folder"
    );
    // What the commands were given is the new folder's path, when they run.
    assert_eq!(ran(&moved, &["--force", "a"]), set(&["a", "b"]));
    let a = std::fs::read_to_string(moved.join("a.txt")).unwrap();
    let moved_text = moved.to_str().unwrap();
    assert_eq!(a, format!("{moved_text}/data\n{moved_text}\n"));
    // A path outside the folder is the definition's own.
    let toml = std::fs::read_to_string(moved.join("w.toml")).unwrap();
    write(
        &moved,
        "w.toml",
        &toml.replace("/nowhere/data", "/nowhere/other"),
    );
    assert_eq!(plan(&moved, &[]), (set(&["b"]), 1));
}

#[test]
fn a_flow_that_wants_a_parent_that_would_fail_is_planned_as_the_run_judges_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        r#"
[flows.a]
shell = "cat missing.txt > a.txt"
inputs = ["missing.txt"]
outputs = ["a.txt"]

[flows.b]
shell = "echo b > b.txt"
wants = ["a"]
outputs = ["b.txt"]

[flows.c]
shell = "echo c > c.txt"
requires = ["a"]
outputs = ["c.txt"]
"#,
    );
    for round in ["first", "second"] {
        let (planned, up_to_date) = plan(d, &[]);
        let out = run_in(d, &["run", "w.toml", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let json = json_of(&out);
        let b = (json["flows"].as_array().unwrap().iter())
            .find(|f| f["id"] == "b")
            .unwrap()
            .clone();
        let b_ran = b["reused_from"].is_null() && b["attempts"].as_u64() > Some(0);
        assert_eq!(planned.contains("b"), b_ran, "{round} run: {b}");
        assert_eq!(up_to_date, u64::from(!b_ran), "{round} run");
        assert!(
            planned.contains("a") && planned.contains("c"),
            "{round} run"
        );
    }
}

#[test]
fn a_flow_that_wants_one_that_would_not_run_is_planned_as_the_run_judges_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        r#"
[flows.a]
shell = "cat missing.txt > a.txt"
inputs = ["missing.txt"]
outputs = ["a.txt"]

[flows.c]
shell = "echo c > c.txt"
requires = ["a"]
outputs = ["c.txt"]

[flows.d]
shell = "echo d > d.txt"
wants = ["c"]
outputs = ["d.txt"]
"#,
    );
    assert_eq!(run_in(d, &["run", "w.toml", "-q"]).status.code(), Some(1));
    // `c` is not run (it requires `a`, which fails), then and now: `d` is up to date.
    assert_eq!(plan(d, &[]), (set(&["a", "c"]), 1));
    let out = run_in(d, &["run", "w.toml", "--json"]);
    let json = json_of(&out);
    let d_flow = (json["flows"].as_array().unwrap().iter())
        .find(|f| f["id"] == "d")
        .unwrap();
    assert!(!d_flow["reused_from"].is_null(), "{d_flow}");
}

#[test]
fn a_flow_that_completed_once_and_then_failed_did_not_complete_in_that_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"echo ok > out.txt; test ! -e fail\"\noutputs = [\"out.txt\"]\n",
    );
    assert!(run_in(d, &["run", "w.toml"]).status.success());
    write(d, "fail", "");
    let out = run_in(d, &["run", "w.toml", "--force", "a", "--json"]);
    let failed = json_of(&out)["run_id"].as_str().unwrap().to_owned();
    std::fs::remove_file(d.join("fail")).unwrap();
    let out = run_in(d, &["run", "w.toml", "-n"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("would run a: did not complete in run {failed}")),
        "{stdout}"
    );
}

#[test]
fn the_dry_run_says_a_file_gone_from_a_folder_output_is_missing_and_a_parent_gone_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    for sample in ["A", "B"] {
        write(d, &format!("data/{sample}.txt"), sample);
    }
    write(
        d,
        "w.toml",
        "[flows.t]\nmatrix = { s = { glob = \"data/{s}.txt\" } }\n\
         shell = \"cp data/{s}.txt t.{s}.out\"\noutputs = [\"t.{s}.out\"]\n\
         [flows.m]\nrequires = [\"t\"]\nshell = \"cat t.*.out > m.txt\"\noutputs = [\"m.txt\"]\n\
         [flows.plots]\nshell = \"mkdir -p out/plots && touch out/plots/p1 out/plots/p2\"\n\
         outputs = [\"out/plots/\"]\n\
         [flows.y]\nshell = \"echo not a folder > y\"\noutputs = [\"y/\"]\n",
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    let y = json_of(&out)["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "y")
        .unwrap()
        .clone();
    assert_eq!(
        y["error"], "declared output `y/` is a file, not a folder",
        "{y}"
    );
    std::fs::remove_file(d.join("out/plots/p2")).unwrap();
    std::fs::remove_file(d.join("data/B.txt")).unwrap();
    let out = run_in(d, &["run", "w.toml", "-n"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("would run plots: output missing (out/plots/p2)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("would run m: `t.B` is no longer a parent"),
        "{stdout}"
    );
}

/// Brackets in a path are plain characters, in an input glob, in a matrix glob and in the
/// workflow's folder: `run[1]/` is never `run1/`, so a change to the file the command reads
/// runs it again, and a change to the other file does not.
#[test]
fn brackets_in_paths_are_plain_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w[1]");
    for folder in ["w[1]/run[1]", "w[1]/run1", "w1/run[1]", "w1"] {
        std::fs::create_dir_all(tmp.path().join(folder)).unwrap();
    }
    write(&dir, "run[1]/A.fq", "a1\n");
    write(&dir, "run1/A.fq", "other\n");
    write(tmp.path(), "w1/run[1]/A.fq", "outside\n");
    write(tmp.path(), "w1/A.csv", "outside\n");
    write(&dir, "A.csv", "c1\n");
    write(
        &dir,
        "w.toml",
        r#"
[flows.q]
matrix = { s = { glob = "run[1]/{s}.fq" } }
shell = "cat 'run[1]/{s}.fq' > {s}.out"
inputs = ["run[1]/{s}.fq"]
outputs = ["{s}.out"]

[flows.all]
shell = "cat *.csv > all.txt"
inputs = ["*.csv", "run[1]/*.fq"]
outputs = ["all.txt"]
"#,
    );
    assert_eq!(ran(&dir, &[]), set(&["q.A", "all"]));
    // Files the commands do not read: nothing runs.
    write(&dir, "run1/A.fq", "other, changed\n");
    write(tmp.path(), "w1/run[1]/A.fq", "outside, changed\n");
    write(tmp.path(), "w1/A.csv", "outside, changed\n");
    plan_then_run(&dir, &[]);
    // The file `q` reads.
    write(&dir, "run[1]/A.fq", "a2\n");
    plan_then_run(&dir, &["q.A", "all"]);
    assert_eq!(std::fs::read_to_string(dir.join("A.out")).unwrap(), "a2\n");
    // The file `all` reads, in a folder whose name holds brackets.
    write(&dir, "A.csv", "c2\n");
    plan_then_run(&dir, &["all"]);
}

/// A wanted parent without outputs that did not complete when its child last ran: whether
/// the child is up to date depends on whether the parent completes now, so the dry run says
/// the parent will run, and the run, where it fails again, finds the child up to date.
#[test]
fn a_wanted_parent_that_failed_last_time_will_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "w.toml",
        "[flows.opt]\nshell = \"exit 3\"\n\n[flows.final]\nwants = [\"opt\"]\n\
         shell = \"echo hi > final.txt\"\noutputs = [\"final.txt\"]\n",
    );
    assert_eq!(run_in(dir, &["run", "w.toml", "-q"]).status.code(), Some(1));
    let out = run_in(dir, &["run", "w.toml", "-n"]);
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains(
            "would run final: parent `opt` will run (if it fails again, this flow is reused \
             instead)"
        ),
        "{said}"
    );
    let out = run_in(dir, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    let finals: Vec<_> = (json["flows"].as_array().unwrap().iter())
        .filter(|f| f["id"] == "final")
        .collect();
    assert!(finals[0]["reused_from"].is_string(), "up to date: {json}");
}

/// A parent without declared outputs runs every time, and the run checks its children once
/// it has run: what it wrote (here `gen.h`, an input of `build`) may make them run. The dry
/// run says so of them and of what follows them, and the run then does run them when the
/// parent wrote other bytes, and not when it wrote the same.
#[test]
fn children_of_a_parent_without_outputs_may_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "w.toml",
        "[flows.gen]\nshell = \"cat ver > gen.h\"\n\n\
         [flows.build]\nrequires = [\"gen\"]\nshell = \"cat gen.h > app\"\n\
         inputs = [\"gen.h\"]\noutputs = [\"app\"]\n\n\
         [flows.pack]\nrequires = [\"build\"]\nshell = \"cat app > pack\"\n\
         inputs = [\"app\"]\noutputs = [\"pack\"]\n",
    );
    write(dir, "ver", "1\n");
    assert_eq!(ran(dir, &[]), set(&["gen", "build", "pack"]));
    write(dir, "ver", "2\n");
    let out = run_in(dir, &["run", "w.toml", "-n"]);
    let stdout = text(&out.stdout);
    for flow in ["build", "pack"] {
        assert!(
            stdout.contains(&format!(
                "may run {flow}: up to date now, but checked again once `gen` has run: it \
                 declares no outputs, so what it writes is not known"
            )),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("dry run: 1 would run, 2 may run, 0 up to date; nothing was run"),
        "{stdout}"
    );
    let json = json_of(&run_in(dir, &["run", "w.toml", "-n", "--json"]));
    assert_eq!(json["counts"]["may_run"], 2, "{json}");
    assert_eq!(json["up_to_date"][0]["checked_after"], "gen", "{json}");
    assert_eq!(ran(dir, &[]), set(&["gen", "build", "pack"]));
    // `gen` writes the same bytes again: its children are checked, and up to date.
    assert_eq!(ran(dir, &[]), set(&["gen"]));
}

/// Whether process `pid` has a file named `name` mapped (as blake3 maps a large input it
/// hashes).
fn maps(pid: u32, name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).is_ok_and(|maps| maps.contains(name))
}

/// A stop signal while the run checks what is up to date (hashing a large input) is obeyed
/// at once: no flow starts, and the run is reported and recorded cancelled.
#[test]
fn a_stop_during_the_up_to_date_check_starts_no_flow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"date +%s.%N > a.txt\"\ninputs = [\"big.bin\"]\noutputs = [\"a.txt\"]\n\
         [flows.b]\nrequires = [\"a\"]\nshell = \"date +%s.%N > b.txt\"\n",
    );
    let big = std::fs::File::create(d.join("big.bin")).unwrap();
    big.set_len(1 << 20).unwrap();
    let out = run_in(d, &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let a = std::fs::read_to_string(d.join("a.txt")).unwrap();
    std::fs::remove_file(d.join("b.txt")).unwrap();
    // Sparse: it takes no room, but its 4 GiB are hashed all the same.
    big.set_len(4 << 30).unwrap();
    let child = common::flow()
        .current_dir(d)
        .args(["run", "w.toml", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + common::GUARD;
    while !maps(child.id(), "big.bin") {
        assert!(std::time::Instant::now() < deadline, "big.bin never hashed");
        std::thread::yield_now();
    }
    signal(child.id(), "TERM");
    let out = wait_exit(child);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let json = json_of(&out);
    assert_eq!(json["status"], "cancelled", "{json}");
    for id in ["a", "b"] {
        assert_eq!(
            common::flow_entry(&json, id)["status"],
            "cancelled",
            "{json}"
        );
    }
    assert!(!d.join("b.txt").exists(), "b ran after the stop");
    let now = std::fs::read_to_string(d.join("a.txt")).unwrap();
    assert_eq!(now, a, "a ran after the stop");
    let json = json_of(&run_in(d, &["results", "w.toml", "--json"]));
    assert_eq!(json["status"], "cancelled", "{json}");
}

/// While a run of the workflow is in progress, the dry run says that the flows it has not
/// completed yet have not completed yet, not that they did not complete in it (or, while
/// the run's record of the flow's start is not saved yet, that the run is in progress).
#[test]
fn the_dry_run_during_a_run_says_what_it_has_not_completed_yet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ready = fifo(dir, "ready.fifo");
    write(
        dir,
        "w.toml",
        "[flows.slow]\nshell = \"echo up > ready.fifo; read line < go.fifo; echo 1 > out.txt\"\n\
         outputs = [\"out.txt\"]\n",
    );
    let go = fifo(dir, "go.fifo");
    let child = spawn_run(dir);
    wait_ready(&ready);
    let out = run_in(dir, &["run", "w.toml", "-n"]);
    let stdout = text(&out.stdout);
    // Let the run end before anything can fail.
    std::fs::write(&go, "\n").unwrap();
    assert_eq!(wait_exit(child).status.code(), Some(0));
    let runs = text(&run_in(dir, &["runs", "w.toml"]).stdout);
    // The run's id begins the line under the header.
    let run = (runs
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next()))
    .unwrap_or_default();
    let yet = format!("would run slow: not completed yet in run {run}, which is in progress\n");
    let unsaved = format!("would run slow: never completed; run {run} is in progress\n");
    assert!(
        stdout.contains(&yet) || stdout.contains(&unsaved),
        "{stdout}\n{runs}"
    );
}

/// A glob reads every file it matches, also one whose name is not UTF-8, in a workflow folder
/// whose name is not UTF-8 either: editing either file runs the flow again.
#[test]
fn names_that_are_not_utf8_are_globbed_like_any_other() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(std::ffi::OsStr::from_bytes(b"w\xff dir"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let latin1 = Path::new("data").join(std::ffi::OsStr::from_bytes(b"f\xe9.csv"));
    std::fs::write(dir.join(&latin1), "1\n").unwrap();
    write(&dir, "data/ok.csv", "1\n");
    write(
        &dir,
        "w.toml",
        r#"
[flows.all]
shell = "cat data/*.csv > all.txt"
inputs = ["data/*.csv"]
outputs = ["all.txt"]
"#,
    );
    assert_eq!(ran(&dir, &[]), set(&["all"]));
    plan_then_run(&dir, &[]);
    write(&dir, "data/ok.csv", "2\n");
    plan_then_run(&dir, &["all"]);
    std::fs::write(dir.join(&latin1), "2\n").unwrap();
    plan_then_run(&dir, &["all"]);
    let all = std::fs::read_to_string(dir.join("all.txt")).unwrap();
    assert_eq!(all, "2\n2\n");
}
