//! Regression tests for a flow's declared outputs left over from an earlier run counting as
//! written (found porting a Snakemake pipeline): each attempt starts without its outputs, so
//! a command that no longer writes one fails, an appending command does not pile up lines,
//! and a folder output holds only what this run wrote. A flow found up to date keeps its
//! outputs untouched; a removal that fails fails the flow, not the run; an output holding the
//! workflow's folder or flow's own files (`.flow/`, the workflow files, a `--store`) is refused
//! where it is written.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{can_mount, flow_entry, flow_path, json_of, run_in, text, write};

/// `flow run w.toml --json` in `dir`: the exit code and the document.
fn run_json(dir: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["run", "w.toml", "--json"];
    args.extend(extra);
    let out = run_in(dir, &args);
    (out.status.code(), json_of(&out))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The flows `flow run w.toml -n --json` says would run.
fn planned(dir: &Path) -> Vec<String> {
    let out = run_in(dir, &["run", "w.toml", "-n", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    (json_of(&out)["run"].as_array().unwrap().iter())
        .map(|f| f["flow"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_command_that_no_longer_writes_its_output_fails_instead_of_keeping_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let workflow = "[flows.call]\nshell = \"echo old > out.vcf\"\noutputs = [\"out.vcf\"]\n";
    write(d, "w.toml", workflow);
    let (code, _) = run_json(d, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(read(&d.join("out.vcf")), "old\n");
    write(
        d,
        "w.toml",
        &workflow.replace("echo old > out.vcf", "echo new > out.vcf.tmp"),
    );
    let (code, json) = run_json(d, &[]);
    assert_eq!(code, Some(1), "{json}");
    let call = flow_entry(&json, "call");
    assert_eq!(call["status"], "failed", "{call}");
    assert!(
        (call["error"].as_str().unwrap()).contains("declared output `out.vcf` was not written"),
        "{call}"
    );
    assert!(!d.join("out.vcf").exists(), "the old output is gone");
    assert_eq!(read(&d.join("out.vcf.tmp")), "new\n");
    assert_eq!(planned(d), ["call"], "not up to date");
}

#[test]
fn a_retried_appending_command_keeps_only_its_last_attempts_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Appends a line, and fails its first attempt ever (no `failed` mark yet).
    write(
        d,
        "w.toml",
        "[flows.rec]\nretries = 1\noutputs = [\"out.txt\"]\n\
         shell = \"echo rec >> out.txt; test -e failed && exit 0; touch failed; exit 1\"\n",
    );
    let (code, json) = run_json(d, &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(flow_entry(&json, "rec")["attempts"], 2, "{json}");
    assert_eq!(read(&d.join("out.txt")), "rec\n");
    // Run again (forced: it is up to date): still one line.
    let (code, json) = run_json(d, &["--force", "rec"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(read(&d.join("out.txt")), "rec\n");
}

#[test]
fn a_folder_output_holds_only_what_this_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let workflow = r#"
[flows.plot]
shell = "mkdir -p out/plots/sub && touch out/plots/a.png out/plots/sub/b.png"
outputs = ["out/plots/"]

[flows.index]
shell = "find out/plots -type f | sort > index.txt"
inputs = ["out/plots/"]
outputs = ["index.txt"]
"#;
    write(d, "w.toml", workflow);
    let (code, json) = run_json(d, &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        read(&d.join("index.txt")),
        "out/plots/a.png\nout/plots/sub/b.png\n"
    );
    // The plot flow no longer writes `sub/b.png`: its reader no longer sees it.
    let only_a = "mkdir -p out/plots && touch out/plots/a.png";
    let workflow = workflow.replace(
        "mkdir -p out/plots/sub && touch out/plots/a.png out/plots/sub/b.png",
        only_a,
    );
    write(d, "w.toml", &workflow);
    let (code, json) = run_json(d, &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(read(&d.join("index.txt")), "out/plots/a.png\n");
    assert!(!d.join("out/plots/sub").exists());
}

#[test]
fn a_flow_found_up_to_date_keeps_its_output_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.make]\nshell = \"echo made > out.txt && mkdir -p dir && echo d > dir/f\"\n\
         outputs = [\"out.txt\", \"dir/\"]\n",
    );
    let (code, _) = run_json(d, &[]);
    assert_eq!(code, Some(0));
    let stat = |name: &str| {
        let meta = std::fs::metadata(d.join(name)).unwrap();
        (meta.modified().unwrap(), read(&d.join(name)))
    };
    let before = (stat("out.txt"), stat("dir/f"));
    for extra in [&[][..], &["--resume"][..]] {
        let (code, json) = run_json(d, extra);
        assert_eq!(code, Some(0), "{json}");
        let make = flow_entry(&json, "make");
        assert!(!make["reused_from"].is_null(), "{extra:?}: {make}");
        assert_eq!((stat("out.txt"), stat("dir/f")), before, "{extra:?}");
    }
}

/// Runs `script` (sh, `$FLOW` is the binary) in a private mount namespace where `dir/ro` is
/// mounted read-only.
fn with_read_only_folder(dir: &Path, script: &str) -> Output {
    Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "set -e; mount --bind \"$D/ro\" \"$D/ro\"; mount -o remount,bind,ro \"$D/ro\"; \
             cd \"$D\"; {script}"
        ))
        .env("D", dir)
        .env("FLOW", flow_path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn an_output_that_cannot_be_removed_fails_its_flow_not_the_run() {
    if !can_mount("the read-only output test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("ro")).unwrap();
    write(d, "ro/out.txt", "old\n");
    write(
        d,
        "w.toml",
        "[flows.stuck]\nshell = \"touch ran\"\noutputs = [\"ro/out.txt\"]\n\
         [flows.free]\nshell = \"echo free > free.txt\"\noutputs = [\"free.txt\"]\n",
    );
    let out = with_read_only_folder(d, "\"$FLOW\" run w.toml --json");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    let stuck = flow_entry(&json, "stuck");
    assert_eq!(stuck["status"], "failed", "{stuck}");
    let error = stuck["error"].as_str().unwrap();
    assert!(
        error.starts_with("cannot remove declared output `ro/out.txt` before the attempt"),
        "{error}"
    );
    assert!(
        error.ends_with("Read-only file system (os error 30)"),
        "{error}"
    );
    assert!(!d.join("ran").exists(), "the command did not start");
    assert_eq!(flow_entry(&json, "free")["status"], "completed");
    assert_eq!(read(&d.join("ro/out.txt")), "old\n");
}

#[test]
fn a_folder_output_holding_a_mount_point_is_not_removed_at_all() {
    if !can_mount("the mount point output test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for folder in ["ro", "out/ref"] {
        std::fs::create_dir_all(d.join(folder)).unwrap();
    }
    for file in ["ro/keep.txt", "out/old.txt", "out/ref/mounted.txt"] {
        write(d, file, "kept\n");
    }
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"touch ran\"\noutputs = [\"out/\"]\n",
    );
    // `out/ref` is a mount of `ro`: a removal of `out/` must not empty it.
    let out = with_read_only_folder(
        d,
        "mount --bind \"$D/ro\" \"$D/out/ref\"; \"$FLOW\" run w.toml --json",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    let error = flow_entry(&json, "a")["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("(at `out/ref`)") && error.contains("it holds a mount point"),
        "{error}"
    );
    assert!(!d.join("ran").exists(), "the command did not start");
    for file in ["ro/keep.txt", "out/old.txt", "out/ref/mounted.txt"] {
        assert_eq!(read(&d.join(file)), "kept\n", "{file}");
    }
}

#[test]
fn an_output_holding_the_workflow_folder_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("wf");
    std::fs::create_dir(&d).unwrap();
    write(&d, "keep.txt", "keep\n");
    let parent = dir.path().display().to_string();
    for output in [".", "..", &parent] {
        write(
            &d,
            "w.toml",
            &format!("[flows.wipe]\nshell = \"true\"\noutputs = [\"{output}\"]\n"),
        );
        for command in ["validate", "run"] {
            let out = run_in(&d, &[command, "w.toml"]);
            assert_eq!(out.status.code(), Some(2), "{command} {output}");
            let err = text(&out.stderr);
            assert!(
                err.contains(&format!(
                    "w.toml:3:12: output `{output}` of flow `wipe` holds the workflow's folder"
                )),
                "{command} {output}: {err}"
            );
        }
    }
    assert_eq!(read(&d.join("keep.txt")), "keep\n");
}

#[test]
fn an_output_holding_flows_own_files_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("conf")).unwrap();
    write(d, "conf/common.toml", "[flows.c]\nshell = \"true\"\n");
    for (output, whose) in [
        (
            ".flow/",
            "holds flow's own files (`.flow/`, its store and logs)",
        ),
        ("x/../.flow/logs/", "lies in flow's own folder `.flow/`"),
        ("w.toml", "is the workflow file `w.toml`"),
        ("conf/", "holds the included file `conf/common.toml`"),
        (
            "conf/common.toml",
            "is the included file `conf/common.toml`",
        ),
    ] {
        write(
            d,
            "w.toml",
            &format!(
                "include = [\"conf/common.toml\"]\n[flows.wipe]\nshell = \"true\"\n\
                 outputs = [\"{output}\"]\n"
            ),
        );
        let out = run_in(d, &["validate", "w.toml"]);
        assert_eq!(out.status.code(), Some(2), "{output}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "w.toml:4:12: output `{output}` of flow `wipe` {whose}"
            )),
            "{output}: {err}"
        );
    }
    assert_eq!(
        read(&d.join("conf/common.toml")),
        "[flows.c]\nshell = \"true\"\n"
    );
    // A store given with `--store` that an output holds: the run is refused before it starts.
    write(
        d,
        "w.toml",
        "[flows.wipe]\nshell = \"touch ran\"\noutputs = [\"res/\"]\n",
    );
    std::fs::create_dir(d.join("res")).unwrap();
    for store in ["sqlite:res/db.sqlite", "dir:res"] {
        let out = run_in(d, &["run", "w.toml", "--store", store]);
        assert_eq!(out.status.code(), Some(2), "{store}");
        let err = text(&out.stderr);
        assert!(
            err.contains("output `res/` of flow `wipe` (w.toml:3) holds the store's files"),
            "{store}: {err}"
        );
    }
    assert!(!d.join("ran").exists(), "the command did not start");
}
