//! An input glob with brackets, written as in Snakemake or make (`data/[ab]*.csv`), reads only
//! files named with brackets in flow: when it matches nothing, `flow validate`, `flow run` and
//! `flow run -n` warn, at its line; when it matches files, nothing is said. A missing input path
//! with brackets says the same when its flow fails.

mod common;

use common::{run_in, text, write};

const WORKFLOW: &str = r#"[flows.a]
shell = "cat data/*.csv > all.txt"
inputs = ["data/[ab]*.csv"]
outputs = ["all.txt"]
"#;

const WARNING: &str = "flow: warning: w.toml:3: input `data/[ab]*.csv` of flow `a` matches no \
                       file: in flow `[` and `]` match themselves, the only wildcards are `*`, \
                       `?` and `**`";

#[test]
fn a_bracket_glob_that_matches_no_file_is_named_by_validate_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", WORKFLOW);
    std::fs::create_dir(d.join("data")).unwrap();
    write(d, "data/a1.csv", "1\n");
    for args in [
        &["validate", "w.toml"][..],
        &["run", "-n", "w.toml"],
        &["run", "w.toml"],
    ] {
        let out = run_in(d, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.contains(WARNING), "{args:?}: {stderr}");
        assert_eq!(stderr.matches("warning").count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn a_bracket_glob_that_matches_files_is_not_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", WORKFLOW);
    std::fs::create_dir(d.join("data")).unwrap();
    write(d, "data/[ab]1.csv", "1\n");
    for args in [&["validate", "w.toml"][..], &["run", "w.toml"]] {
        let out = run_in(d, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("warning"), "{args:?}: {stderr}");
    }
}

/// An input path (no wildcard) with brackets that does not exist fails its flow before it
/// starts, as any missing input does, and says that brackets are no class in flow.
#[test]
fn a_missing_bracket_path_says_brackets_are_plain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"cat data/a.csv\"\ninputs = [\"data/[ab].csv\"]\n",
    );
    std::fs::create_dir(d.join("data")).unwrap();
    write(d, "data/a.csv", "1\n");
    let out = run_in(d, &["run", "w.toml"]);
    let said = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(
            "declared input `data/[ab].csv` of flow `a` does not exist and no flow writes it \
             (w.toml:3); in flow `[` and `]` are plain characters, not a class: write one \
             input per file"
        ),
        "{said}"
    );
}
