//! What a bare `flow run FILE` runs: a `manual = true` flow (a translated `make clean`) only
//! when named or needed, `[workflow] default` names the rest; `-n`, `--force-all`,
//! `--resume`, `flow validate` and `flow graph` agree with the run.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{json_of, run_in, text, write};

/// A build, its docs, and a `clean` that deletes what they write, as translated from a
/// Makefile; `fail` fails while the file `broken` exists.
const MAKEFILE: &str = r#"
[flows.build]
shell = "mkdir -p build && echo b > build/x"
outputs = ["build/x"]

[flows.docs]
shell = "mkdir -p docs && echo d > docs/x"
outputs = ["docs/x"]

[flows.check]
requires = ["build"]
shell = "test ! -e broken"

[flows.clean]
manual = true
shell = "rm -rf build dist docs"
"#;

/// Runs `flow run w.toml --json EXTRA`: the exit code, the flows it lists, and those of them
/// that ran (not up to date, not reused).
fn ran(dir: &Path, extra: &[&str]) -> (Option<i32>, BTreeSet<String>, BTreeSet<String>) {
    let mut args = vec!["run", "w.toml", "--json"];
    args.extend(extra);
    let out = run_in(dir, &args);
    let json = json_of(&out);
    let flows = json["flows"].as_array().unwrap();
    let ids = |ran: bool| {
        (flows.iter())
            .filter(|f| !ran || f["reused_from"].is_null())
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    (out.status.code(), ids(false), ids(true))
}

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

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn a_manual_clean_is_left_out_of_a_bare_run_and_runs_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", MAKEFILE);
    let every = set(&["build", "docs", "check"]);
    assert_eq!(planned(d, &[]), every);
    assert_eq!(ran(d, &[]), (Some(0), every.clone(), every.clone()));
    // `clean` did not run beside `build`: the outputs are there, and up to date.
    assert!(d.join("build/x").exists() && d.join("docs/x").exists());
    assert_eq!(planned(d, &[]), set(&["check"]));
    assert_eq!(ran(d, &[]), (Some(0), every.clone(), set(&["check"])));
    // `--force-all` forces what a bare run runs, not `clean`.
    assert_eq!(
        ran(d, &["--force-all"]),
        (Some(0), every.clone(), every.clone())
    );
    assert!(d.join("build/x").exists());
    // Named, it runs, alone.
    assert_eq!(planned(d, &["clean"]), set(&["clean"]));
    let cleaned = set(&["clean"]);
    assert_eq!(ran(d, &["clean"]), (Some(0), cleaned.clone(), cleaned));
    assert!(!d.join("build").exists() && !d.join("docs").exists());
    // `--resume` resumes within the same set: only what did not complete runs again.
    write(d, "broken", "");
    assert_eq!(ran(d, &[]), (Some(1), every.clone(), every.clone()));
    std::fs::remove_file(d.join("broken")).unwrap();
    assert_eq!(planned(d, &["--resume"]), set(&["check"]));
    assert_eq!(ran(d, &["--resume"]), (Some(0), every, set(&["check"])));
    // `--force` of a flow the bare run leaves out says why.
    let out = run_in(d, &["run", "w.toml", "--force", "clean"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "flow `clean` is not among the flows this run considers (without targets: the \
             flows `[workflow] default` names, else every flow that is not `manual`, and their \
             ancestors)"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn default_names_what_a_bare_run_runs_with_what_it_needs_and_targets_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = format!(
        "[workflow]\ndefault = [\"all\"]\n{MAKEFILE}\
         [flows.gen]\nmanual = true\nshell = \"true\"\n\
         [flows.all]\nrequires = [\"check\", \"gen\"]\nshell = \"true\"\n"
    );
    write(d, "w.toml", &file);
    // A manual flow that a flow of the run requires runs, as a requirement.
    let all = set(&["build", "check", "gen", "all"]);
    assert_eq!(planned(d, &[]), all);
    assert_eq!(ran(d, &[]), (Some(0), all.clone(), all));
    assert!(!d.join("docs").exists());
    let docs = set(&["docs"]);
    assert_eq!(ran(d, &["docs"]), (Some(0), docs.clone(), docs));

    let out = run_in(d, &["validate", "w.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "w.toml: ok, workflow `w` with 6 flows and 3 dependencies; `flow run` without targets \
         runs 4 of them (`[workflow] default` and what it needs)\n"
    );
    let out = run_in(d, &["graph", "w.toml"]);
    let graph = text(&out.stdout);
    assert!(
        graph.ends_with("  \"docs\" [style=dotted];\n  \"clean\" [style=dotted];\n}\n"),
        "{graph}"
    );
    let out = run_in(
        d,
        &["graph", "w.toml", "--collapsed", "--format", "mermaid"],
    );
    let graph = text(&out.stdout);
    assert!(graph.ends_with("  class n1,n3 left_out\n"), "{graph}");
}

#[test]
fn an_unknown_default_is_an_error_at_its_line_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        &format!("[workflow]\ndefault = [\"bulid\"]\n{MAKEFILE}"),
    );
    for command in ["validate", "run", "graph"] {
        let out = run_in(d, &[command, "w.toml"]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(
            text(&out.stderr).starts_with(
                "w.toml:2:12: `workflow.default` names unknown flow `bulid` (did you mean \
                 `build`?)\n"
            ),
            "{command}: {}",
            text(&out.stderr)
        );
    }
    assert!(!d.join("build").exists() && !d.join(".flow").exists());
}

#[test]
fn a_bare_run_of_a_file_whose_every_flow_is_manual_asks_for_targets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.deploy]\nmanual = true\nshell = \"touch deployed\"\n",
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let json = json_of(&out);
    assert_eq!(json["kind"], "usage");
    assert_eq!(
        json["message"],
        "every flow of w.toml is `manual = true`, and it has no `[workflow] default`: name the \
         flows to run (`flow run w.toml FLOW...`)"
    );
    assert!(!d.join("deployed").exists());
    let out = run_in(d, &["run", "w.toml", "deploy"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(d.join("deployed").exists());
}
