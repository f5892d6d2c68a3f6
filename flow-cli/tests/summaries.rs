//! What `flow run` tells at the end: each root failure once, the flows it kept from running
//! as "not run" (and so do `flow runs` and every `--json`), one line per failed flow under
//! `--quiet`, reused flows with the run they come from, a `--resume` with nothing to resume,
//! and `--executor slurm` without Slurm.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{flow, flow_entry, flow_in, json_of};

const SPLIT_FAILS: &str = r#"
[flows.ok]
command = ["true"]

[flows.split]
shell = "echo 'bad input' >&2; exit 3"

[flows.sort_0]
requires = ["split"]
command = ["true"]

[flows.sort_1]
requires = ["split"]
command = ["true"]

[flows.merge]
requires = ["sort_0", "sort_1"]
command = ["true"]
"#;

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("w.toml"), text).unwrap();
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_root_failure_is_named_once_and_its_descendants_are_not_run() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), SPLIT_FAILS);
    let out = flow_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1));
    // Progress lines, then the summary (stdout and stderr, wherever each goes).
    let all = text(&out.stdout) + &text(&out.stderr);
    let failed: Vec<&str> = all.lines().filter(|l| l.contains("FAILED")).collect();
    assert_eq!(
        failed.len(),
        2,
        "one progress line and one summary line:\n{all}"
    );
    assert!(
        all.contains("FAILED split (w.toml:5): the command exited with code 3\n"),
        "{all}"
    );
    assert!(
        all.contains("not run   merge: upstream `split` failed"),
        "{all}"
    );
    assert!(
        all.contains("  not run because `split` failed: sort_0, sort_1, merge\n"),
        "{all}"
    );
    assert!(
        all.contains(": 1 completed, 1 failed, 3 not run (upstream failed)\n"),
        "{all}"
    );

    let table = flow_in(dir.path(), &["results", "w.toml"]);
    let table = text(&table.stdout);
    assert!(
        table.contains("not run: upstream `split` failed"),
        "{table}"
    );
    // Its summary names where the failed flow is defined, as the run's does.
    assert!(
        table.contains("FAILED split (w.toml:5): the command exited with code 3\n"),
        "{table}"
    );
    // Without the file, there is no place to name.
    let table = text(&flow_in(dir.path(), &["results"]).stdout);
    assert!(
        table.contains("FAILED split: the command exited with code 3\n"),
        "{table}"
    );
    // `flow runs` counts them as the summary does: not run is not failed.
    let runs = text(&flow_in(dir.path(), &["runs", "w.toml"]).stdout);
    assert!(
        runs.contains("  1 completed, 1 failed, 3 not run (upstream failed)\n"),
        "{runs}"
    );
}

/// Regression: `flow run --json` called a flow kept from running by a failed parent
/// `"failed"`, where the text says `not run`. Every JSON document now says `not_run`, with the
/// flow that failed on its own as `upstream`.
#[test]
fn json_calls_a_flow_kept_from_running_not_run_as_the_text_does() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        r#"
[flows.broken]
command = ["false"]

[flows.child]
requires = ["broken"]
command = ["touch", "child-ran"]

[flows.grandchild]
requires = ["child"]
command = ["touch", "grandchild-ran"]

[flows.anyway]
wants = ["broken"]
command = ["true"]
"#,
    );
    let out = flow_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let run = json_of(&out);
    assert!(!dir.path().join("child-ran").exists());
    assert!(!dir.path().join("grandchild-ran").exists());
    let results = json_of(&flow_in(dir.path(), &["results", "w.toml", "--json"]));
    for json in [&run, &results] {
        assert_eq!(json["status"], "failed", "{json}");
        let broken = flow_entry(json, "broken");
        assert_eq!(broken["status"], "failed", "{broken}");
        assert_eq!(broken["exit_code"], 1, "{broken}");
        assert!(broken["upstream"].is_null(), "{broken}");
        for id in ["child", "grandchild"] {
            let entry = flow_entry(json, id);
            assert_eq!(entry["status"], "not_run", "{entry}");
            assert_eq!(entry["upstream"], "broken", "{entry}");
            assert_eq!(entry["attempts"], 0, "{entry}");
            assert!(entry["exit_code"].is_null(), "{entry}");
        }
        assert_eq!(flow_entry(json, "anyway")["status"], "completed");
    }
    // The text of the same run says the same.
    let table = text(&flow_in(dir.path(), &["results", "w.toml"]).stdout);
    assert!(
        table.contains(
            "grandchild  not run          0            not run: upstream `broken` failed"
        ),
        "{table}"
    );
    assert!(
        table.contains(": 1 completed, 1 failed, 2 not run (upstream failed)\n"),
        "{table}"
    );
    // And so does the report's JSON: its counts and its failures grouped by cause.
    let report = json_of(&flow_in(dir.path(), &["report", "w.toml", "--json"]));
    assert_eq!(flow_entry(&report, "child")["status"], "not_run");
    assert_eq!(flow_entry(&report, "grandchild")["status"], "not_run");
    assert_eq!(report["counts"]["failed"], 1, "{}", report["counts"]);
    assert_eq!(report["counts"]["not_run"], 2, "{}", report["counts"]);
    assert_eq!(report["failures"][0]["flow"], "broken");
    assert_eq!(
        report["failures"][0]["downstream"],
        serde_json::json!(["child", "grandchild"])
    );
}

#[test]
fn quiet_prints_one_line_per_failed_flow_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), SPLIT_FAILS);
    let out = flow_in(dir.path(), &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("FAILED split (w.toml:5): the command exited with code 3 (log: "),
        "{stderr}"
    );
    assert!(lines[0].ends_with("split.1.err)"), "{stderr}");
}

#[test]
fn reused_flows_show_their_run_exit_code_attempts_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        r#"
[flows.a]
shell = "echo a"

[flows.b]
requires = ["a"]
shell = "test -e fixed"
"#,
    );
    let run = |extra: &[&str]| {
        let out = flow()
            .current_dir(dir.path())
            .args(["run", "w.toml", "--json"])
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), json_of(&out))
    };
    let (code, first) = run(&[]);
    assert_eq!(code, Some(1));
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let (code, second) = run(&["--resume"]);
    assert_eq!(code, Some(0), "{second}");
    let (code, third) = run(&["--resume"]);
    assert_eq!(code, Some(0), "{third}");
    let first_a = flow_entry(&first, "a");
    for (json, b_from) in [(&second, None), (&third, Some(&second["run_id"]))] {
        let a = flow_entry(json, "a");
        assert_eq!(a["reused_from"], first["run_id"], "{a}");
        assert_eq!(a["exit_code"], 0);
        assert_eq!(a["attempts"], 1);
        assert_eq!(a["duration_ms"], first_a["duration_ms"]);
        let b = flow_entry(json, "b");
        match b_from {
            Some(run) => assert_eq!(&b["reused_from"], run, "{b}"),
            None => assert!(b["reused_from"].is_null(), "{b}"),
        }
    }
    let table = flow_in(dir.path(), &["results", "w.toml"]);
    let table = text(&table.stdout);
    let first_run = first["run_id"].as_str().unwrap();
    assert!(table.contains(&format!("from run {first_run}")), "{table}");
    assert!(table.contains("(2 up to date)"), "{table}");
}

/// Regression: `flow runs` counted the flows found up to date only for runs with failures
/// (whose results it reads); a run without failures showed none.
#[test]
fn runs_counts_the_flows_up_to_date_in_every_run() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        r#"
[flows.made]
shell = "echo made > made.txt"
outputs = ["made.txt"]

[flows.each_time]
requires = ["made"]
command = ["true"]

[flows.maybe]
shell = "test -e fixed"
"#,
    );
    let run = || flow_in(dir.path(), &["run", "w.toml", "-q"]).status.code();
    assert_eq!(run(), Some(1), "nothing up to date; `maybe` fails");
    assert_eq!(run(), Some(1), "`made` up to date; `maybe` fails");
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    assert_eq!(run(), Some(0), "`made` up to date; no failure");
    let runs = text(&flow_in(dir.path(), &["runs", "w.toml"]).stdout);
    let flows: Vec<&str> = (runs.lines().skip(1))
        .map(|line| line.split("  ").last().unwrap().trim())
        .collect();
    assert_eq!(
        flows,
        [
            "2 completed, 1 failed",
            "2 completed (1 up to date), 1 failed",
            "3 completed (1 up to date), 0 failed",
        ],
        "{runs}"
    );
}

#[test]
fn resume_with_nothing_to_resume_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "[flows.a]\ncommand = [\"true\"]\n");
    for (extra, why) in [
        (&[][..], "nothing to resume: no earlier run of `w`"),
        (&["--store", "memory"][..], "the memory store keeps nothing"),
    ] {
        let out = flow()
            .current_dir(dir.path())
            .args(["run", "w.toml", "--resume"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(why), "{stderr}");
    }
}

#[test]
fn executor_slurm_without_a_reachable_slurm_exits_2_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "[flows.a]\nshell = \"touch ran\"\n");
    let bin = tempfile::tempdir().unwrap();
    let run = || {
        flow()
            .current_dir(dir.path())
            .env("PATH", bin.path())
            .args(["run", "w.toml", "--executor", "slurm"])
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`sbatch` is not on PATH"),
        "{}",
        text(&out.stderr)
    );

    // Slurm's commands are there, but the controller does not answer.
    for (name, script) in [
        ("sbatch", "#!/bin/sh\nexit 1\n"),
        (
            "sinfo",
            "#!/bin/sh\necho 'slurm_load_partitions: Unable to contact slurm controller' >&2\nexit 1\n",
        ),
    ] {
        let path = bin.path().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Slurm is not reachable"), "{stderr}");
    assert!(
        stderr.contains("Unable to contact slurm controller"),
        "{stderr}"
    );
    assert!(!dir.path().join("ran").exists());
    assert!(!dir.path().join(".flow").exists(), "nothing is recorded");
}

#[test]
fn a_stderr_tail_of_control_bytes_is_cut_after_escaping() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "[flows.b]\nshell = \"head -c 100000 /dev/zero >&2; exit 1\"\n",
    );
    let out = flow_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out.stdout) + &text(&out.stderr);
    let tail: Vec<&str> = all.lines().filter(|l| l.starts_with("  | ")).collect();
    assert_eq!(tail.len(), 1, "{all}");
    let line = tail[0].strip_prefix("  | ").unwrap();
    // As long as a printable line can be (the 8 KiB tail), with a mark where it is cut, and
    // cut between escapes, not in one.
    assert!(line.chars().count() <= 8 * 1024, "{}", line.len());
    assert!(line.starts_with("…\\u{0}"), "{}", &line[..40]);
    assert!(line.ends_with("\\u{0}"), "{}", &line[line.len() - 40..]);
    assert_eq!(line.matches("\\u{0}").count(), (8 * 1024 - 1) / 5);
}

/// A shell whose command a signal killed exits with 128 + the signal's number, and with 127
/// for a command not found: the failure says so (137: SIGKILL, as the out-of-memory killer
/// sends), and leaves other codes as they are.
#[test]
fn an_exit_code_a_shell_gives_a_killed_command_names_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.oom]\nshell = \"sleep 60 & kill -KILL $!; wait $!\"\n\
         [flows.segv]\nshell = \"sleep 60 & kill -SEGV $!; wait $!\"\n\
         [flows.plain]\nshell = \"exit 3\"\n\
         [flows.typo]\nshell = \"no-such-command-xyz\"\n\
         [flows.killed]\ncommand = [\"sh\", \"-c\", \"kill -KILL $$\"]\n",
    )
    .unwrap();
    let out = flow_in(dir.path(), &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json = json_of(&out);
    let error = |flow: &str| {
        flow_entry(&json, flow)["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        error("oom"),
        "the command exited with code 137 (128 + 9: as a shell reports a command killed by SIGKILL, \
         which the kernel's out-of-memory killer sends)"
    );
    assert_eq!(
        error("segv"),
        "the command exited with code 139 (128 + 11: as a shell reports a command killed by SIGSEGV)"
    );
    assert_eq!(error("plain"), "the command exited with code 3");
    // Killed itself, not through a shell's code: the signal, and who most often sends it.
    assert_eq!(
        error("killed"),
        "the command was killed by SIGKILL (not sent by flow: most often the kernel's \
         out-of-memory killer)"
    );
    assert_eq!(
        error("typo"),
        "the command exited with code 127 (as a shell reports a command it did not find: see \
         its stderr)"
    );
}
