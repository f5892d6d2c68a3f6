//! Regression test for a sample removed from a ported pipeline (make's `$(wildcard ...)`,
//! Snakemake's `glob_wildcards`) whose per-sample output a merge step's glob input still
//! read, silently: the dry run gives that as the reason the merge runs, and the run warns,
//! naming the file and the flow that wrote it (not when a parent writes it now).

mod common;

use common::{run_in, text, write};

#[test]
fn a_removed_samples_output_still_read_by_a_glob_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    for sample in ["A", "B"] {
        write(d, &format!("data/{sample}.csv"), sample);
    }
    write(
        d,
        "w.toml",
        "[flows.count]\nmatrix = { s = { glob = \"data/{s}.csv\" } }\n\
         shell = \"mkdir -p counts && wc -c < data/{s}.csv > counts/{s}.txt\"\n\
         inputs = [\"data/{s}.csv\"]\noutputs = [\"counts/{s}.txt\"]\n\
         [flows.report]\nshell = \"cat counts/*.txt > report.txt\"\n\
         inputs = [\"counts/*.txt\"]\noutputs = [\"report.txt\"]\n",
    );
    let out = run_in(d, &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::remove_file(d.join("data/B.csv")).unwrap();

    let out = run_in(d, &["run", "w.toml", "-n"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "would run report: `count.B` is no longer a parent, but this flow still reads \
             `counts/B.txt`, which it wrote (delete the file if it should not be read)"
        ),
        "{stdout}"
    );

    let out = run_in(d, &["run", "w.toml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "flow: warning: input `counts/B.txt` was written by `count.B`, which is no longer \
             a parent (removed from the workflow?), and is read all the same: delete it if it \
             should not be (flow: report)"
        ),
        "{stderr}"
    );
    // Told once: the next run finds `report` up to date.
    let out = run_in(d, &["run", "w.toml"]);
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );

    // A definition renamed writes the same files: its former flows are no parents, but
    // what they wrote is a parent's output now, and nothing is to be deleted.
    let renamed = std::fs::read_to_string(d.join("w.toml")).unwrap();
    write(
        d,
        "w.toml",
        &renamed.replace("[flows.count]", "[flows.counts]"),
    );
    let out = run_in(d, &["run", "w.toml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}
