//! The workflows under `examples/`, run as a newcomer runs them: the README's main job
//! (`examples/pipeline.toml`) completes with exit code 0, and `examples/optional.toml` shows a
//! failing optional step (exit 1, its dependants still run) and what `--resume` runs again.

mod common;

use std::path::{Path, PathBuf};

use common::{flow, flow_entry, json_of};
use serde_json::Value;

/// Copies every example workflow into a fresh folder, as a fresh clone has them.
fn fresh_examples() -> tempfile::TempDir {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(examples).unwrap() {
        let path: PathBuf = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn run(dir: &Path, file: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let out = flow()
        .current_dir(dir)
        .args(["run", file, "--json"])
        .args(extra)
        .output()
        .unwrap();
    (out.status.code(), json_of(&out))
}

fn status_of(json: &Value, id: &str) -> String {
    flow_entry(json, id)["status"].as_str().unwrap().to_owned()
}

#[test]
fn the_readme_main_job_completes_with_exit_0() {
    let dir = fresh_examples();
    let (code, json) = run(dir.path(), "pipeline.toml", &[]);
    assert_eq!(code, Some(0), "{json:#}");
    for entry in json["flows"].as_array().unwrap() {
        assert_eq!(entry["status"], "completed", "{entry}");
    }
    let report = std::fs::read_to_string(dir.path().join("out/report.txt")).unwrap();
    assert!(report.starts_with("orders joined: 20000"), "{report}");

    // Twice: every flow is up to date, and the summary says so.
    let out = flow()
        .current_dir(dir.path())
        .args(["run", "pipeline.toml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("11 completed (11 up to date)")
            && stdout.contains("nothing ran: every flow is up to date"),
        "{stdout}"
    );
    // Its `manual` clean ran in neither run; named, it deletes what they wrote.
    let (code, json) = run(dir.path(), "pipeline.toml", &["clean"]);
    assert_eq!(
        (code, json["flows"].as_array().unwrap().len()),
        (Some(0), 1)
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn the_optional_example_fails_one_optional_flow_and_resume_runs_only_that_one() {
    let dir = fresh_examples();
    let (code, json) = run(dir.path(), "optional.toml", &[]);
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(status_of(&json, "fetch_rates"), "failed");
    assert_eq!(flow_entry(&json, "fetch_rates")["exit_code"], 6);
    assert_eq!(status_of(&json, "summary"), "completed");
    let first_run = json["run_id"].clone();

    let (code, json) = run(dir.path(), "optional.toml", &["--resume"]);
    assert_eq!(code, Some(1), "{json:#}");
    for id in ["prepare", "sales", "summary"] {
        assert_eq!(status_of(&json, id), "completed", "{id}: {json:#}");
        assert_eq!(flow_entry(&json, id)["reused_from"], first_run, "{id}");
    }
    assert_eq!(status_of(&json, "fetch_rates"), "failed");
    assert_eq!(flow_entry(&json, "fetch_rates")["attempts"], 2);

    std::fs::write(dir.path().join("out/optional/rates.txt"), "EUR 1.0\n").unwrap();
    let (code, json) = run(dir.path(), "optional.toml", &["--resume"]);
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(status_of(&json, "fetch_rates"), "completed");
    // Its rates are new to `summary`, which runs again rather than keep its old result.
    assert!(
        flow_entry(&json, "summary")["reused_from"].is_null(),
        "{json:#}"
    );
    let summary = std::fs::read_to_string(dir.path().join("out/optional/summary.txt")).unwrap();
    assert!(summary.contains("EUR 1.0"), "{summary}");
}
