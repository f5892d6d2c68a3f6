//! `sbatch` options that break flow's one job per attempt (`--array`, `--wrap`, ...) are
//! refused when the workflow loads, by `flow validate` and by `flow run` alike, at their
//! line and naming the flow; no Slurm is needed to tell.

mod common;

use common::{run_in, text, write};

#[test]
fn an_array_in_a_flows_extra_is_refused_by_validate_and_run_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, option) in [
        ("--array=1-4", "--array"),
        ("--array 1-4", "--array"),
        ("-a 1-4", "-a (--array)"),
        ("--wrap=hostname", "--wrap"),
    ] {
        write(
            dir.path(),
            "w.toml",
            &format!("[flows.align]\nshell = \"true\"\nslurm = {{ extra = [\"{extra}\"] }}\n"),
        );
        for command in [
            &["validate", "w.toml"][..],
            &["run", "w.toml", "--executor", "slurm"][..],
        ] {
            let out = run_in(dir.path(), command);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command:?} {extra}: {err}");
            let expected = format!(
                "w.toml:3:20: `flows.align.slurm.extra` holds \"{extra}\": flow refuses {option}: "
            );
            assert!(err.contains(&expected), "{command:?} {extra}: {err}");
        }
    }
    assert!(
        !dir.path().join(".flow/slurm").exists(),
        "nothing was submitted"
    );
}
