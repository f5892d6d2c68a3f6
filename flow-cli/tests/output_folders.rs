//! Regression tests for a ported Snakemake pipeline whose every per-sample step failed on its
//! first run with "No such file or directory": the folder each declared output goes in is
//! made before the attempt starts (as Snakemake does), not the output itself, and not by a
//! dry run; a folder that cannot be made fails that flow, naming it.

mod common;

use common::{flow_entry, json_of, run_in, text, write};

const PIPELINE: &str = r#"
[flows.trim]
matrix = { s = ["A", "B"] }
shell = "echo {s} > work/trimmed/{s}.fq"
outputs = ["work/trimmed/{s}.fq"]

[flows.plots]
shell = "mkdir results/plots && echo p > results/plots/a.png"
outputs = ["results/plots/"]
"#;

#[test]
fn the_folders_of_declared_outputs_are_made_before_the_attempt_but_not_by_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", PIPELINE);
    let out = run_in(d, &["run", "w.toml", "-n"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!d.join("work").exists() && !d.join("results").exists());

    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for s in ["A", "B"] {
        let written = std::fs::read_to_string(d.join(format!("work/trimmed/{s}.fq"))).unwrap();
        assert_eq!(written, format!("{s}\n"));
    }
    // The folder a folder output goes in is made, not the output: `mkdir` of it works.
    assert!(d.join("results/plots/a.png").is_file());
}

#[test]
fn a_folder_that_cannot_be_made_fails_its_flow_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", PIPELINE);
    write(d, "work", "a file where the folder goes\n");
    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    let trim = flow_entry(&json, "trim.A");
    assert_eq!(trim["status"], "failed", "{trim}");
    let error = trim["error"].as_str().unwrap();
    assert!(
        error.contains(
            "cannot make the folder `work/trimmed` of declared output `work/trimmed/A.fq` \
             before the attempt"
        ),
        "{error}"
    );
    assert_eq!(flow_entry(&json, "plots")["status"], "completed");
}
