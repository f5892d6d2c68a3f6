//! End-to-end tests of many flows from one definition: a glob matrix over files the test
//! makes, fan-in and one-to-one dependencies, params set from the command line, an included
//! file, `flow validate`'s count, `flow graph --collapsed`, logs and `--resume` of expanded flows.

mod common;

use std::path::Path;

use assert_cmd::assert::OutputAssertExt;
use predicates::prelude::*;

use common::{flow, flow_entry, json_of};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const WORKFLOW: &str = r#"
include = ["common.toml"]

[params]
lines = 2

[flows.count]
matrix = { sample = { glob = "{data}/{sample}.txt" } }
requires = ["prepare"]
shell = "head -n {lines} {data}/{sample}.txt | wc -l > out/{sample}.count"

[flows.tag]
matrix = { sample = { glob = "{data}/{sample}.txt" }, chunk = ["x", "y"] }
requires = ["count.{sample}"]
command = ["sh", "-c", "echo $SAMPLE {chunk} > out/{sample}.{chunk}.tag"]
env = { SAMPLE = "{sample}" }

[flows.total]
requires = ["count", "tag"]
# awk's braces need no escaping: `{s+=$1}` is not a `{name}`.
shell = "cat out/*.count | awk '{s+=$1} END {print s}' > out/total"
"#;

const COMMON: &str = r#"
[params]
data = "data"

[flows.prepare]
command = ["mkdir", "-p", "out"]
"#;

#[test]
fn a_glob_matrix_over_files_runs_one_flow_per_file_with_fan_in_and_one_to_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", WORKFLOW);
    write(dir.path(), "common.toml", COMMON);
    for (sample, lines) in [("a", 1), ("b", 3), ("c", 5)] {
        write(
            dir.path(),
            &format!("data/{sample}.txt"),
            &"line\n".repeat(lines),
        );
    }
    write(dir.path(), "data/ignored.csv", "not a sample\n");

    flow()
        .current_dir(dir.path())
        .args(["validate", "w.toml"])
        .assert()
        .code(0)
        .stdout("w.toml: ok, workflow `w` with 11 flows from 4 definitions and 18 dependencies\n");
    flow()
        .current_dir(dir.path())
        .args(["graph", "w.toml", "--collapsed"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("\"tag\" [label=\"tag (6 flows)\"];")
                .and(predicate::str::contains("\"count\" -> \"tag\";"))
                .and(predicate::str::contains("\"tag\" -> \"total\";"))
                .and(predicate::str::contains("tag.a.x").not()),
        );
    flow()
        .current_dir(dir.path())
        .args(["graph", "w.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"count.b\" -> \"tag.b.y\";"));

    let out = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = json_of(&out);
    assert_eq!(json["flows"].as_array().unwrap().len(), 11);
    for id in ["count.a", "count.c", "tag.a.x", "tag.c.y", "total"] {
        assert_eq!(flow_entry(&json, id)["status"], "completed", "{id}");
    }
    let read = |name: &str| std::fs::read_to_string(dir.path().join("out").join(name)).unwrap();
    // head -n 2 of 1, 3 and 5 lines.
    assert_eq!(read("total").trim(), "5");
    for sample in ["a", "b", "c"] {
        for chunk in ["x", "y"] {
            assert_eq!(
                read(&format!("{sample}.{chunk}.tag")),
                format!("{sample} {chunk}\n")
            );
        }
    }
    assert!(!dir.path().join("out/ignored.count").exists());
    let run_id = json["run_id"].as_str().unwrap();
    let logs = dir.path().join(".flow/logs").join(run_id);
    assert!(!logs.join("count.a.err").exists());

    // A param from the command line changes every command that uses it; resume reruns them.
    let out = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--json", "--resume", "--set", "lines=4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json = json_of(&out);
    assert_eq!(flow_entry(&json, "count.c")["status"], "completed");
    assert_eq!(read("total").trim(), "8");
}

#[test]
fn problems_in_expanded_and_included_files_are_reported_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", WORKFLOW);
    write(
        dir.path(),
        "common.toml",
        "[params]\ndata = \"data\"\n[flows.prepare]\ncommand = [\"mkdir\", \"{dir}\"]\n",
    );
    let out = flow()
        .current_dir(dir.path())
        .args(["validate", "w.toml", "--set", "line=3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [
        "w.toml:4:2: `--set line=3`: the workflow has no param `line` (its params: data, lines)",
        "w.toml:8:30: `flows.count.matrix.sample.glob` \"data/{sample}.txt\" matches no file",
        "w.toml:13:30: `flows.tag.matrix.sample.glob` \"data/{sample}.txt\" matches no file",
        "common.toml:4:22: unknown name `dir` in `flows.prepare.command`: known: `data`, `lines`",
        "w.toml has 4 problems; nothing was run",
    ] {
        assert!(stderr.contains(line), "missing `{line}` in\n{stderr}");
    }
    flow()
        .current_dir(dir.path())
        .args(["run", "w.toml", "--set", "lines"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be NAME=VALUE"));
}

/// A value a param makes wrong is refused as the literal value would be, by `flow validate`,
/// `flow run -n` and `flow run` alike, at the line of its template: nothing runs.
#[test]
fn a_param_that_makes_a_value_wrong_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[params]\nprog = \"echo\"\nx = \"in.txt\"\n[flows.a]\ncommand = [\"{prog}\", \"hi\"]\n\
         [flows.b]\nshell = \"touch ran\"\ninputs = [\"in/{x}\"]\n",
    );
    let expected = "w.toml:5:12: flow `a`: `flows.a.command` starts with an empty program name \
                    (`{prog}` is \"\")\n\
                    w.toml:8:11: flow `b`: `flows.b.inputs`: \"in/**.txt\" is not a valid glob: \
                    recursive wildcards must form a single path component\n\
                    error: w.toml has 2 problems; nothing was run\n";
    for args in [&["validate"][..], &["run", "-n"], &["run"]] {
        flow()
            .current_dir(dir.path())
            .args(args)
            .args(["w.toml", "--set", "prog=", "--set", "x=**.txt"])
            .assert()
            .code(2)
            .stdout("")
            .stderr(expected);
    }
    assert!(!dir.path().join("ran").exists(), "nothing ran");
}

/// A `{name}` where values are taken as written (`include`, `[workflow] name`, `interpreter`,
/// an `env` name, `[slurm]`) is refused by `flow validate`, `flow run -n` and `flow run` alike, at its
/// line, naming the key: it is not used with its braces, and nothing runs.
#[test]
fn a_template_where_templates_are_not_filled_in_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "include = [\"{dir}/common.toml\"]\n[workflow]\nname = \"run-{py}\"\n\
         [params]\npy = \"python3\"\ndir = \"lib\"\n\
         [flows.a]\ninterpreter = [\"{py}\", \"-c\"]\nshell = \"print(1)\"\n\
         [flows.b]\nshell = \"touch ran\"\nenv = { \"{py}_HOME\" = \"/opt\" }\n\
         [slurm]\npartition = \"{py}\"\n",
    );
    write(
        dir.path(),
        "lib/common.toml",
        "[flows.c]\nshell = \"touch ran\"\n",
    );
    let expected = "w.toml:1:12: `include` holds `{dir}`, but templates are not filled in there: \
                    write the file's path itself (files are included before the params, which \
                    they may set, are known)\n\
                    w.toml:3:8: `workflow.name` holds `{py}`, but templates are not filled in \
                    there: write the name itself (`flow runs` and `flow results` find the runs \
                    by it, whatever the params)\n\
                    w.toml:8:16: `flows.a.interpreter` holds `{py}`, but templates are not \
                    filled in there: write the interpreter itself, or run the script with \
                    `command = [\"{prog}\", \"-c\", \"SCRIPT\"]` instead of `shell` (`command` \
                    is a template)\n\
                    w.toml:12:9: `flows.b.env.{py}_HOME` holds `{py}`, but templates are not \
                    filled in there: write the variable's name itself (the values of `env` are \
                    templates, its names are not)\n\
                    w.toml:14:13: `slurm.partition` holds `{py}`, but templates are not filled \
                    in there: write the value itself\n\
                    error: w.toml has 5 problems; nothing was run\n";
    for args in [&["validate"][..], &["run", "-n"], &["run"]] {
        flow()
            .current_dir(dir.path())
            .args(args)
            .arg("w.toml")
            .assert()
            .code(2)
            .stdout("")
            .stderr(expected);
    }
    assert!(!dir.path().join("ran").exists(), "nothing ran");
    assert!(!dir.path().join(".flow").exists(), "no store was made");
}

/// Every flow id made twice is reported, by `flow validate`, `flow run -n` and `flow run`
/// alike: two combinations of one matrix, and a matrix making the ids of two definitions
/// (one problem per definition it collides with, each naming its line).
#[test]
fn every_flow_id_made_twice_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.n]\nmatrix = { a = [\"x.y\", \"x\", \"p.q\", \"p\"], b = [\"z\", \"y.z\", \"r\", \"q.r\"] }\n\
         shell = \"touch ran\"\n\
         [flows.\"a.1\"]\nshell = \"touch ran\"\n[flows.\"a.2\"]\nshell = \"touch ran\"\n\
         [flows.a]\nmatrix = { v = [1, 2, 3] }\nshell = \"touch ran\"\n",
    );
    let expected = "w.toml:2:10: the matrix of flow `n` makes 2 flow ids twice: `n.x.y.z` (from \
                    `a = x.y, b = z` and from `a = x, b = y.z`), `n.p.q.r` (from `a = p.q, b = r` \
                    and from `a = p, b = q.r`): values holding a `.` join into one id, change one\n\
                    w.toml:9:10: flow id `a.1` is made twice: by flow `a` here and by flow `a.1` \
                    at w.toml:4:8\n\
                    w.toml:9:10: flow id `a.2` is made twice: by flow `a` here and by flow `a.2` \
                    at w.toml:6:8\n\
                    error: w.toml has 3 problems; nothing was run\n";
    for args in [&["validate"][..], &["run", "-n"], &["run"]] {
        flow()
            .current_dir(dir.path())
            .args(args)
            .arg("w.toml")
            .assert()
            .code(2)
            .stdout("")
            .stderr(expected);
    }
    assert!(!dir.path().join("ran").exists(), "nothing ran");
}

/// An `env` value that a param gives a NUL byte (a TOML `\u0000`) is refused by `flow
/// validate`, `flow run -n` and `flow run` alike, as a value written with one is, instead of
/// failing the flow when its process cannot start.
#[test]
fn an_env_value_a_param_gives_a_nul_byte_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[params]\nlabel = \"a\\u0000b\"\n[flows.a]\nshell = \"touch ran\"\n\
         env = { LABEL = \"{label}\" }\n",
    );
    let expected = "w.toml:5:17: flow `a`: `flows.a.env.LABEL` contains a NUL byte (at byte 1), \
                    which no program can receive: remove it (`{label}` is \"a\\0b\")\n\
                    error: w.toml has 1 problem; nothing was run\n";
    for args in [&["validate"][..], &["run", "-n"], &["run"]] {
        flow()
            .current_dir(dir.path())
            .args(args)
            .arg("w.toml")
            .assert()
            .code(2)
            .stdout("")
            .stderr(expected);
    }
    assert!(!dir.path().join("ran").exists(), "nothing ran");
}

/// A file whose name is not UTF-8 is never left out of a glob matrix: in a folder on the way
/// it is matched as any other, and a value taken from it, which no flow id can hold, is
/// refused at the glob (before, the sample was silently missing from the run).
#[test]
fn a_name_that_is_not_utf8_is_never_silently_left_out_of_a_glob_matrix() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let latin1 = |bytes: &[u8]| d.join(std::ffi::OsStr::from_bytes(bytes));
    std::fs::create_dir_all(latin1(b"runs/r\xe9")).unwrap();
    std::fs::write(latin1(b"runs/r\xe9/a.out"), "a").unwrap();
    write(d, "runs/r1/b.out", "b");
    write(
        d,
        "w.toml",
        "[flows.q]\nmatrix = { s = { glob = \"runs/*/{s}.out\" } }\ncommand = [\"true\"]\n",
    );
    let out = flow()
        .current_dir(d)
        .args(["validate", "w.toml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 flows"), "{stdout}");

    std::fs::write(latin1(b"runs/r1/c\xe9.out"), "c").unwrap();
    flow()
        .current_dir(d)
        .args(["run", "w.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "w.toml:2:25: the value `c\u{fffd}` (from a file matching `runs/*/c\u{fffd}.out`) of \
             matrix axis `s` cannot be part of the flow id",
        ));
}

/// A sample deleted leaves the output its flow wrote, which no flow writes or removes any
/// more; a fan-in whose input glob still matches it reads it as if the sample were there.
/// The dry run names it as the reason `sum` would run, the run warns once, naming the file
/// and the flow that wrote it;
/// a definition renamed (its flows write the same files) says nothing.
#[test]
fn a_file_left_over_by_a_deleted_sample_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "data/A.txt", "a\n");
    write(d, "data/B.txt", "b\n");
    let text = |name: &str| {
        format!(
            "[flows.{name}]\nmatrix = {{ s = {{ glob = \"data/{{s}}.txt\" }} }}\n\
             shell = \"mkdir -p counts && wc -c < data/{{s}}.txt > counts/{{s}}.n\"\n\
             inputs = [\"data/{{s}}.txt\"]\noutputs = [\"counts/{{s}}.n\"]\n\
             [flows.sum]\ninputs = [\"counts/*.n\"]\noutputs = [\"sum.txt\"]\n\
             shell = \"cat counts/*.n > sum.txt\"\n"
        )
    };
    write(d, "w.toml", &text("count"));
    let run = |args: &[&str]| {
        let out = common::flow_in(d, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    assert_eq!(run(&["run", "w.toml", "-q"]), "");
    // Renamed: the flows of `cnt` write what those of `count` wrote.
    write(d, "w.toml", &text("cnt"));
    assert_eq!(run(&["run", "w.toml", "-q"]), "");
    std::fs::remove_file(d.join("data/B.txt")).unwrap();
    let plan = common::flow_in(d, &["run", "w.toml", "-n"]);
    let plan = String::from_utf8(plan.stdout).unwrap();
    assert!(
        plan.contains(
            "would run sum: `cnt.B` is no longer a parent, but this flow still reads \
             `counts/B.n`, which it wrote (delete the file if it should not be read)"
        ),
        "{plan}"
    );
    let warning = "flow: warning: input `counts/B.n` was written by `cnt.B`, which is no longer \
                   a parent (removed from the workflow?), and is read all the same: delete it \
                   if it should not be (flow: sum)\n";
    assert_eq!(run(&["run", "w.toml", "--progress", "plain"]), warning);
    // Said once: the run recorded what `sum` read, with its parents of now.
    assert_eq!(run(&["run", "w.toml", "--progress", "plain"]), "");
}
