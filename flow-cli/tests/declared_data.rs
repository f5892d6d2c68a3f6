//! `flow run` with declared files beyond the plain up-to-date run: `--resume` judges flows
//! that declare files by their data (the dry run agrees), also in a moved project, and
//! `--force` of a flow outside the targets.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{json_of, run_in, text, write};

/// The flows `flow run w.toml -n --json EXTRA` says would run.
fn planned(dir: &Path, extra: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["run", "w.toml", "-n", "--json"];
    args.extend(extra);
    let out = run_in(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    (json_of(&out)["run"].as_array().unwrap().iter())
        .map(|f| f["flow"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `flow run w.toml --json EXTRA`: the exit code and the flows that ran (not reused).
fn ran(dir: &Path, extra: &[&str]) -> (Option<i32>, BTreeSet<String>) {
    let mut args = vec!["run", "w.toml", "--json"];
    args.extend(extra);
    let out = run_in(dir, &args);
    let json = json_of(&out);
    let ran = (json["flows"].as_array().unwrap().iter())
        .filter(|f| f["reused_from"].is_null())
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    (out.status.code(), ran)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn resume_runs_a_flow_whose_output_is_gone_and_reuses_one_without_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"mkdir -p out && echo a > out/a.txt\"\noutputs = [\"out/a.txt\"]\n\
         [flows.b]\nshell = \"echo b\"\n",
    );
    assert_eq!(ran(d, &[]), (Some(0), set(&["a", "b"])));
    std::fs::remove_dir_all(d.join("out")).unwrap();
    assert_eq!(planned(d, &["--resume"]), set(&["a"]));
    assert_eq!(ran(d, &["--resume"]), (Some(0), set(&["a"])));
    assert_eq!(std::fs::read_to_string(d.join("out/a.txt")).unwrap(), "a\n");
    // Nothing changed: a is up to date and b is reused.
    assert_eq!(planned(d, &["--resume"]), set(&[]));
    assert_eq!(ran(d, &["--resume"]), (Some(0), set(&[])));
    // A forced flow is not reused by the resume either.
    assert_eq!(planned(d, &["--resume", "--force", "b"]), set(&["b"]));
    assert_eq!(
        ran(d, &["--resume", "--force", "b"]),
        (Some(0), set(&["b"]))
    );
}

#[test]
fn resume_runs_a_child_whose_optional_parent_now_completes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        r#"
[flows.opt]
shell = "test -f enable && echo x > hol.txt"
outputs = ["hol.txt"]

[flows.main]
shell = "if test -f hol.txt; then echo with; else echo without; fi > main.txt"
wants = ["opt"]
outputs = ["main.txt"]
"#,
    );
    assert_eq!(ran(d, &[]), (Some(1), set(&["opt", "main"])));
    let main = || std::fs::read_to_string(d.join("main.txt")).unwrap();
    assert_eq!(main(), "without\n");
    write(d, "enable", "");
    assert_eq!(planned(d, &["--resume"]), set(&["opt", "main"]));
    assert_eq!(ran(d, &["--resume"]), (Some(0), set(&["opt", "main"])));
    assert_eq!(main(), "with\n");
}

/// The workflow's folder is no part of a definition for `--resume` either: a project moved
/// after a failed run resumes where it stopped (flows without outputs are reused, not run
/// again), and the flow that runs is given the new folder.
#[test]
fn a_moved_project_resumes_where_it_stopped() {
    let root = tempfile::tempdir().unwrap();
    let (first, moved) = (root.path().join("first"), root.path().join("moved"));
    std::fs::create_dir_all(first.join("sub")).unwrap();
    write(
        &first,
        "w.toml",
        r#"
[defaults]
env = { DATA = "${FLOW_WORKFLOW_DIR}/data" }

[flows.gen]
shell = "echo gen > gen.txt"
outputs = ["gen.txt"]

[flows.a]
shell = "echo $DATA > ../a.txt"
cwd = "sub"
requires = ["gen"]

[flows.b]
shell = "test -f go && echo $DATA > b.txt"
requires = ["a"]
"#,
    );
    assert_eq!(ran(&first, &[]), (Some(1), set(&["gen", "a", "b"])));
    std::fs::rename(&first, &moved).unwrap();
    write(&moved, "go", "");
    assert_eq!(planned(&moved, &["--resume"]), set(&["b"]));
    assert_eq!(ran(&moved, &["--resume"]), (Some(0), set(&["b"])));
    let data = format!("{}/data\n", moved.to_str().unwrap());
    assert_eq!(std::fs::read_to_string(moved.join("b.txt")).unwrap(), data);
}

/// A flow without outputs is reused by `--resume` only when its parents were reused too:
/// a parent that runs again may give it new data (the dry run says so, and why).
#[test]
fn resume_runs_a_flow_without_outputs_whose_parent_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        r#"
[flows.a]
shell = "cp in.txt a.out"
inputs = ["in.txt"]
outputs = ["a.out"]

[flows.publish]
shell = "cp a.out published.txt"
requires = ["a"]

[flows.after]
shell = "cp published.txt after.txt"
requires = ["publish"]

[flows.alone]
shell = "echo alone"

[flows.flaky]
shell = "exit 1"
"#,
    );
    write(d, "in.txt", "1\n");
    assert_eq!(
        ran(d, &[]),
        (Some(1), set(&["a", "publish", "after", "alone", "flaky"]))
    );
    write(d, "in.txt", "2\n");
    let out = run_in(d, &["run", "w.toml", "-n", "--resume"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("would run publish: parent `a` will run")
            && stdout.contains("would run after: parent `publish` will run"),
        "{stdout}"
    );
    let expected = set(&["a", "publish", "after", "flaky"]);
    assert_eq!(planned(d, &["--resume"]), expected);
    assert_eq!(ran(d, &["--resume"]), (Some(1), expected));
    assert_eq!(std::fs::read_to_string(d.join("after.txt")).unwrap(), "2\n");
}

#[test]
fn a_forced_flow_outside_the_targets_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\ncommand = [\"true\"]\n[flows.x]\ncommand = [\"true\"]\n",
    );
    for extra in [&[][..], &["-n"][..]] {
        let mut args = vec!["run", "w.toml", "x", "--force", "a"];
        args.extend(extra);
        let out = run_in(d, &args);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(
                "`--force a`: flow `a` is not among the flows this run considers (the targets \
                 and their ancestors)"
            ),
            "{stderr}"
        );
    }
    let out = run_in(d, &["run", "w.toml", "x", "--force", "nope", "--json"]);
    assert_eq!(json_of(&out)["kind"], "unknown_target");
    assert!(
        text(&out.stdout).contains("unknown flow `nope` on the command line"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_input_no_flow_writes_must_exist_when_its_flow_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        r#"[flows.a]
shell = "echo ran > ran.txt; echo > a.txt"
inputs = ["present.txt", "missing.txt"]
outputs = ["a.txt"]

[flows.after]
requires = ["a"]
command = ["true"]

[flows.glob]
shell = "echo > glob.txt"
inputs = ["nothing/*.csv", "gen.txt"]
outputs = ["glob.txt"]

[flows.gen]
shell = "echo > gen.txt"
outputs = ["gen.txt"]
"#,
    );
    write(d, "present.txt", "");
    let why = "declared input `missing.txt` of flow `a` does not exist and no flow writes it \
               (w.toml:3)";
    let out = run_in(d, &["run", "w.toml", "-n"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("would fail a: {why}")), "{stdout}");
    assert!(
        stdout.contains("would run glob: parent `gen` will run"),
        "{stdout}"
    );
    let out = run_in(d, &["run", "w.toml", "-n", "--json"]);
    let plan = json_of(&out);
    let a = (plan["run"].as_array().unwrap().iter())
        .find(|f| f["flow"] == "a")
        .unwrap();
    assert_eq!(a["fails"], why);

    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    let flow = |id: &str| common::flow_entry(&json, id).clone();
    assert_eq!(flow("a")["status"], "failed");
    assert!(flow("a").to_string().contains(why), "{}", flow("a"));
    assert!(!d.join("ran.txt").exists(), "its command did not start");
    assert_eq!(flow("after")["status"], "not_run");
    // A glob matching nothing and an input another flow writes are fine.
    assert_eq!(flow("glob")["status"], "completed");
    // Once the file is there, the flow runs.
    write(d, "missing.txt", "");
    assert_eq!(ran(d, &[]), (Some(0), set(&["a", "after"])));
}

/// The dry run follows a flow that would fail to what the run would not start: every flow
/// that requires it, directly or through another, and not a flow that only wants it.
#[test]
fn a_dry_run_says_which_flows_a_failing_flow_keeps_from_running() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        r#"[flows.c]
command = ["true"]
requires = ["b"]

[flows.a]
shell = "echo > a.txt"
inputs = ["missing.txt"]
outputs = ["a.txt"]

[flows.b]
command = ["true"]
requires = ["a"]
inputs = ["missing-too.txt"]

[flows.d]
command = ["true"]
wants = ["a"]
"#,
    );
    let out = run_in(d, &["run", "w.toml", "-n"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "would not run c: upstream `a` would fail",
        "would fail a: declared input `missing.txt` of flow `a` does not exist",
        "would not run b: upstream `a` would fail",
        "would run d: ",
        "dry run: 1 would run, 1 would fail, 2 would not run (upstream would fail), 0 up to \
         date; nothing was run",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }

    let plan = json_of(&run_in(d, &["run", "w.toml", "-n", "--json"]));
    let counts = &plan["counts"];
    // The counts are the text's: they add up to the number of flows.
    assert_eq!(
        (
            &counts["run"],
            &counts["fail"],
            &counts["not_run"],
            &counts["up_to_date"]
        ),
        (&1.into(), &1.into(), &2.into(), &0.into()),
        "{plan}"
    );
    let entry = |id: &str| {
        (plan["run"].as_array().unwrap().iter())
            .find(|f| f["flow"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(entry("c")["upstream"], "a");
    // `b` is not started, so its own missing input is not what stops it.
    assert_eq!(entry("b")["upstream"], "a");
    assert!(entry("b").get("fails").is_none(), "{}", entry("b"));
    assert_eq!(entry("c")["not_run"], "upstream `a` would fail");
    assert!(entry("d").get("upstream").is_none(), "{}", entry("d"));
    assert!(entry("a")["fails"].is_string());

    // The run does what the plan said.
    let out = run_in(d, &["run", "w.toml", "--json"]);
    let json = json_of(&out);
    let status = |id: &str| common::flow_entry(&json, id)["status"].clone();
    assert_eq!(status("a"), "failed");
    assert_eq!(status("d"), "completed");
    for id in ["b", "c"] {
        let entry = common::flow_entry(&json, id);
        assert_eq!(entry["status"], "not_run", "{entry}");
        assert_eq!(entry["upstream"], "a", "{entry}");
        assert_eq!(entry["attempts"], 0, "{entry}");
    }
}

/// A link that leads nowhere inside a declared folder (an editor's lock file, a `latest`
/// link not made yet) is no file of it: the flows complete, and are up to date next time.
#[test]
fn a_broken_link_in_a_declared_folder_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        r#"
[flows.build]
shell = "mkdir -p out && echo hi > out/x && ln -sfn nothing-here out/latest"
outputs = ["out/"]

[flows.read]
shell = "cat src/a > r.out"
inputs = ["src/"]
outputs = ["r.out"]
"#,
    );
    std::fs::create_dir(d.join("src")).unwrap();
    write(d, "src/a", "1\n");
    std::os::unix::fs::symlink("missing", d.join("src/.#a")).unwrap();
    assert_eq!(ran(d, &[]), (Some(0), set(&["build", "read"])));
    assert_eq!(ran(d, &[]), (Some(0), set(&[])));
}

/// A declared input that is neither a file nor a folder (a FIFO, a device) fails its flow
/// before the command starts, naming the input and its line; the dry run says so.
#[test]
fn an_input_that_is_not_a_file_fails_before_the_command_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"echo ran > a.out\"\ninputs = [\"/dev/null\"]\noutputs = [\"a.out\"]\n",
    );
    let why = "declared input `/dev/null` of flow `a` is neither a file nor a folder (w.toml:3)";
    let dry = run_in(d, &["run", "w.toml", "-n"]);
    assert!(
        text(&dry.stdout).contains(&format!("would fail a: {why}")),
        "{}",
        text(&dry.stdout)
    );
    let out = run_in(d, &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains(why), "{}", text(&out.stdout));
    assert!(!d.join("a.out").exists(), "the command ran");
}

/// A wanted parent that failed in the resumed run runs again: the dry run says its child runs
/// only if it completes this time, and the run reuses the child when it fails again.
#[test]
fn resume_dry_run_says_a_child_of_a_parent_failing_again_may_be_reused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.p]\nshell = \"test -e ok\"\n[flows.c]\nwants = [\"p\"]\nshell = \"true\"\n",
    );
    assert_eq!(ran(d, &[]), (Some(1), set(&["p", "c"])));
    let out = run_in(d, &["run", "w.toml", "-n", "--resume"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "would run c: parent `p` will run (if it fails again, this flow is reused instead)"
        ),
        "{stdout}"
    );
    assert_eq!(ran(d, &["--resume"]), (Some(1), set(&["p"])));
    write(d, "ok", "");
    assert_eq!(ran(d, &["--resume"]), (Some(0), set(&["p", "c"])));
}

/// An input of `.` (the workflow's folder) holds every output in it: the flow runs after the
/// flows that write there, and is then up to date. Read by a flow that writes in the folder,
/// it is an output of its own, refused before anything runs.
#[test]
fn an_input_of_the_workflow_folder_runs_after_its_writers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("wf");
    std::fs::create_dir(&d).unwrap();
    // gen is slow so that, without the implied edge, pack would list the folder first.
    let flows =
        "[flows.gen]\noutputs = [\"gen.txt\"]\nshell = \"sleep 0.3; echo data > gen.txt\"\n\
                 [flows.pack]\ninputs = [\"INPUT\"]\noutputs = [\"../pack.txt\"]\n\
                 shell = \"ls > ../pack.txt\"\n";
    let abs = d.to_str().unwrap().to_owned();
    for input in [".", "./", "sub/..", abs.as_str()] {
        let _ = std::fs::remove_dir_all(d.join(".flow"));
        let _ = std::fs::remove_file(d.join("gen.txt"));
        write(&d, "w.toml", &flows.replace("INPUT", input));
        assert_eq!(ran(&d, &[]), (Some(0), set(&["gen", "pack"])), "{input}");
        let listed = std::fs::read_to_string(dir.path().join("pack.txt")).unwrap();
        assert!(listed.lines().any(|l| l == "gen.txt"), "{input}: {listed}");
        assert_eq!(planned(&d, &[]), set(&[]), "{input}: 0 would run");
    }
    write(
        &d,
        "w.toml",
        "[flows.pack]\ninputs = [\".\"]\noutputs = [\"pack.txt\"]\nshell = \"ls > pack.txt\"\n",
    );
    for command in ["validate", "run"] {
        let out = run_in(&d, &[command, "w.toml"]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = text(&out.stderr);
        assert!(
            err.contains("w.toml:3:12: flow `pack` reads an output of its own as input"),
            "{command}: {err}"
        );
    }
    assert!(!d.join("pack.txt").exists(), "nothing ran");
}

/// `-n --resume` gives a flow without outputs the reason the resume runs it for: it did not
/// complete in the resumed run, its definition changed since, or a parent of it runs; not
/// "runs every time", which the resume does not do.
#[test]
fn a_dry_resume_says_why_a_flow_without_outputs_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let workflow = |a: &str| {
        format!(
            "[flows.a]\nshell = \"{a}\"\n\
             [flows.b]\nshell = \"true\"\nrequires = [\"a\"]\n\
             [flows.flaky]\nshell = \"exit 1\"\n\
             [flows.alone]\nshell = \"true\"\n"
        )
    };
    write(d, "w.toml", &workflow("echo a"));
    assert_eq!(run_in(d, &["run", "w.toml", "-q"]).status.code(), Some(1));
    write(d, "w.toml", &workflow("echo A"));
    let out = run_in(d, &["run", "w.toml", "-n", "--resume"]);
    let stdout = text(&out.stdout);
    for line in [
        "would run a: definition changed since run ",
        "would run b: parent `a` will run",
        "would run flaky: did not complete in run ",
        "dry run: 3 would run, 1 up to date",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert!(!stdout.contains("runs every time"), "{stdout}");
}

/// An input makes its flow require the writer even when `wants` names it: a `wants` of that
/// flow is refused before anything runs (a failed writer's half-written file was read, and
/// the reader then found up to date); a `wants` of its definition leaves the flow it reads
/// required, so the reader does not run when that one fails.
#[test]
fn a_wants_of_the_writer_of_an_input_is_refused_and_the_input_requires_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"echo half > a.txt; exit 1\"\noutputs = [\"a.txt\"]\n\
         [flows.b]\nwants = [\"a\"]\nshell = \"cat a.txt > b.txt\"\ninputs = [\"a.txt\"]\n\
         outputs = [\"b.txt\"]\n",
    );
    for command in ["validate", "run", "graph"] {
        let out = run_in(d, &[command, "w.toml"]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = text(&out.stderr);
        assert!(
            err.contains(
                "w.toml:5:10: flow `b` reads `a.txt`, which `a` writes, so it requires `a`: \
                 remove `a` from `wants` or the input"
            ),
            "{command}: {err}"
        );
    }
    assert!(
        !d.join("a.txt").exists() && !d.join("b.txt").exists(),
        "nothing ran"
    );
    // A `wants` of a definition: the flow of it that b reads is required, the other wanted.
    write(
        d,
        "w.toml",
        "[flows.a]\nmatrix = { n = [\"x\", \"y\"] }\noutputs = [\"{n}.txt\"]\n\
         shell = \"echo half > {n}.txt; test {n} = y\"\n\
         [flows.b]\nwants = [\"a\"]\nshell = \"cat x.txt > b.txt\"\ninputs = [\"x.txt\"]\n\
         outputs = [\"b.txt\"]\n",
    );
    let graph = text(&run_in(d, &["graph", "w.toml"]).stdout);
    assert!(graph.contains("\"a.x\" -> \"b\";"), "{graph}");
    assert!(
        graph.contains("\"a.y\" -> \"b\" [style=dashed];"),
        "{graph}"
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json = json_of(&out);
    assert_eq!(
        common::flow_entry(&json, "b")["status"],
        "not_run",
        "{json}"
    );
    assert!(!d.join("b.txt").exists(), "b did not run");
}

/// A glob input whose matches are folders holding other flows' outputs requires those flows:
/// the summary runs after them (without the edges it would find no file yet and fail).
#[test]
fn a_glob_input_of_folders_runs_after_the_flows_writing_in_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let workflow = "[params]\nv = \"1\"\n\
                    [flows.p]\nmatrix = { s = [\"A\", \"B\"] }\n\
                    shell = \"sleep 0.3; mkdir -p res/{s} && echo {s}{v} > res/{s}/count.txt\"\n\
                    outputs = [\"res/{s}/count.txt\"]\n\
                    [flows.summary]\nshell = \"cat res/*/count.txt > summary.txt\"\n\
                    inputs = [\"INPUT\"]\noutputs = [\"summary.txt\"]\n";
    for (n, input) in ["res/*", "res/*/", "re?", "r*"].into_iter().enumerate() {
        write(d, "w.toml", &workflow.replace("INPUT", input));
        let out = run_in(d, &["validate", "w.toml"]);
        assert!(
            text(&out.stdout).contains("3 flows from 2 definitions and 2 dependencies"),
            "{input}: {}",
            text(&out.stdout)
        );
        let v = format!("v={n}");
        let (code, ran) = ran(d, &["--set", &v]);
        assert_eq!(
            (code, ran),
            (Some(0), set(&["p.A", "p.B", "summary"])),
            "{input}"
        );
        let summary = std::fs::read_to_string(d.join("summary.txt")).unwrap();
        assert_eq!(summary, format!("A{n}\nB{n}\n"), "{input}");
    }
}
