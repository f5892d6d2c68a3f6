//! `flow logs FLOW` when the latest run that ran the flow left no log files (deleted, a CI
//! cache that kept only the store, a folder `flow run` could not write): it prints the end of
//! the output the store kept, saying so, not an earlier run's logs as if they were the latest.

mod common;

use common::{flow_in, json_of};

const COUNTING: &str = r#"
[flows.t]
shell = """
n=$(( $(cat count 2>/dev/null || echo 0) + 1 ))
echo $n > count
echo "out of run $n"
echo "err of run $n" >&2
exit 1
"""
"#;

#[test]
fn flow_logs_of_a_run_whose_log_files_are_gone_prints_what_the_store_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.toml"), COUNTING).unwrap();
    let first = json_of(&flow_in(dir.path(), &["run", "w.toml", "--json"]));
    let second = json_of(&flow_in(dir.path(), &["run", "w.toml", "--json"]));
    let (first, second) = (
        first["run_id"].as_str().unwrap(),
        second["run_id"].as_str().unwrap(),
    );
    std::fs::remove_dir_all(dir.path().join(".flow/logs").join(second)).unwrap();

    let out = flow_in(dir.path(), &["logs", "t", "w.toml"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "out of run 2\n");
    assert!(
        stderr.contains(&format!("flow `t` ran in run {second} (attempt 1)")),
        "{stderr}"
    );
    assert!(stderr.contains("its log files are not in"), "{stderr}");
    assert!(
        stderr.contains(&format!("`--run {first}` prints the logs")),
        "{stderr}"
    );
    assert!(stderr.ends_with("err of run 2\n"), "{stderr}");

    // No log folder at all: still the latest run's output, not "it has not run".
    std::fs::remove_dir_all(dir.path().join(".flow/logs")).unwrap();
    let out = flow_in(dir.path(), &["logs", "t", "w.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out of run 2\n");
    assert!(!stderr.contains("--run"), "{stderr}");
}

#[test]
fn a_run_that_cannot_make_its_log_folder_says_so_once_and_keeps_the_tails() {
    let dir = tempfile::tempdir().unwrap();
    let flows: String = (0..6)
        .map(|k| format!("[flows.f{k}]\nshell = \"echo out {k}; echo err {k} >&2\"\n"))
        .collect();
    std::fs::write(dir.path().join("w.toml"), flows).unwrap();
    // A file where the log folder goes: no log folder can be made, not even by root.
    std::fs::create_dir(dir.path().join(".flow")).unwrap();
    std::fs::write(dir.path().join(".flow/logs"), "").unwrap();

    let out = flow_in(dir.path(), &["run", "w.toml", "--jobs", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr
            .starts_with("flow: warning: cannot make the run's log folder: no log file is written"),
        "{stderr}"
    );

    let out = flow_in(dir.path(), &["logs", "f4", "w.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out 4\n");
    assert!(stderr.ends_with("err 4\n"), "{stderr}");
}

/// A Slurm job's output files must be in the log folder: without it no tail is kept, and the
/// warning must not say one is.
#[test]
fn a_slurm_run_that_cannot_make_its_log_folder_does_not_promise_the_tails() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.f]\nshell = \"echo hi\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join(".flow")).unwrap();
    std::fs::write(dir.path().join(".flow/logs"), "").unwrap();
    // Slurm's commands, answering: no job is submitted, since its files cannot be made.
    let bin = tempfile::tempdir().unwrap();
    for name in ["sbatch", "sinfo", "squeue", "sacct", "scancel"] {
        let path = bin.path().join(name);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::join_paths(
        std::iter::once(bin.path().to_owned())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let out = common::flow()
        .current_dir(dir.path())
        .env("PATH", path)
        .args(["run", "w.toml", "--executor", "slurm"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("flow: warning: cannot make the run's log folder, where each job's"),
        "{stderr}"
    );
    assert!(!stderr.contains("last lines"), "{stderr}");
}
