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

/// Every left-over file is named, the first three and how many more, also when the fan-in
/// runs for another reason too (a sample added beside the ones removed changes its inputs).
#[test]
fn every_left_over_file_is_named_the_first_three_and_how_many_more() {
    let b = "`counts/B.txt` (written by `count.B`)";
    let c = "`counts/C.txt` (written by `count.C`)";
    let d = "`counts/D.txt` (written by `count.D`)";
    // (samples removed, sample added, the files named)
    let cases: &[(&[&str], Option<&str>, String)] = &[
        (&["B", "C"], None, format!("{b}, {c}")),
        (&["B", "C"], Some("F"), format!("{b}, {c}")),
        (
            &["B", "C", "D", "E"],
            Some("F"),
            format!("{b}, {c}, {d} and 1 more"),
        ),
    ];
    for (removed, added, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("data")).unwrap();
        for sample in ["A", "B", "C", "D", "E"] {
            write(d, &format!("data/{sample}.csv"), sample);
        }
        write(
            d,
            "w.toml",
            "[flows.count]\nmatrix = { s = { glob = \"data/{s}.csv\" } }\n\
             shell = \"wc -c < data/{s}.csv > counts/{s}.txt\"\n\
             inputs = [\"data/{s}.csv\"]\noutputs = [\"counts/{s}.txt\"]\n\
             [flows.report]\nshell = \"cat counts/*.txt > report.txt\"\n\
             inputs = [\"counts/*.txt\"]\noutputs = [\"report.txt\"]\n",
        );
        let out = run_in(d, &["run", "w.toml"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        for sample in *removed {
            std::fs::remove_file(d.join(format!("data/{sample}.csv"))).unwrap();
        }
        if let Some(sample) = added {
            write(d, &format!("data/{sample}.csv"), sample);
        } else {
            let out = run_in(d, &["run", "w.toml", "-n"]);
            let stdout = text(&out.stdout);
            let says = format!(
                "would run report: flows that are no longer parents wrote files this flow \
                 still reads: {named} (delete them if they should not be read)"
            );
            assert!(stdout.contains(&says), "{removed:?}: {stdout}");
        }
        let out = run_in(d, &["run", "w.toml"]);
        let stderr = text(&out.stderr);
        let says = format!(
            "flow: warning: inputs {named} were written by flows that are no longer parents \
             (removed from the workflow?), and are read all the same: delete them if they \
             should not be (flow: report)"
        );
        assert!(stderr.contains(&says), "{removed:?} {added:?}: {stderr}");
    }
}
