//! A make user names the file to build (`make out/x.txt`); `flow run FILE out/x.txt` names no
//! flow, and the error says which flow writes that file, read from the workflow's folder or
//! from where `flow` runs.

mod common;

use common::{flow, text, write};

const WORKFLOW: &str = r#"[flows.count]
matrix = { s = ["A", "B"] }
shell = "mkdir -p counts && echo {s} > counts/{s}.n"
outputs = ["counts/{s}.n"]

[flows.plots]
shell = "mkdir -p plots && echo > plots/a.svg"
outputs = ["plots/"]
"#;

/// `flow run` with `args` in `cwd`: its exit code and stderr.
fn run(cwd: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = flow().current_dir(cwd).args(args).output().unwrap();
    (out.status.code(), text(&out.stderr))
}

#[test]
fn a_target_that_is_an_output_names_its_flow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("wf");
    std::fs::create_dir(&d).unwrap();
    write(&d, "w.toml", WORKFLOW);
    for (cwd, args, writer) in [
        (d.as_path(), &["run", "w.toml", "counts/B.n"][..], "count.B"),
        (d.as_path(), &["run", "w.toml", "./counts/A.n"], "count.A"),
        (d.as_path(), &["run", "w.toml", "plots/a.svg"], "plots"),
        (
            d.as_path(),
            &["run", "-n", "w.toml", "--force", "plots/"],
            "plots",
        ),
        (
            dir.path(),
            &["run", "wf/w.toml", "wf/counts/B.n"],
            "count.B",
        ),
        (dir.path(), &["run", "wf/w.toml", "counts/B.n"], "count.B"),
    ] {
        let (code, stderr) = run(cwd, args);
        let target = args
            .iter()
            .rfind(|a| a.contains('/') && !a.ends_with(".toml"))
            .unwrap();
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "no flow or definition of that name (`{target}` is an output of flow \
                 `{writer}`: name the flow)"
            )),
            "{args:?}: {stderr}"
        );
    }
    // A path that no flow writes keeps the usual message.
    let (code, stderr) = run(&d, &["run", "w.toml", "counts/C.n"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("has no flow or definition of that name\n"),
        "{stderr}"
    );
}
