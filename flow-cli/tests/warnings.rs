//! Warnings that come from the log (a library's `tracing::warn!`) read as flow's own at the
//! default verbosity — `flow: warning: MESSAGE (field: value, ...)`, no timestamp, level or
//! module path — while `-v` keeps the detailed log line for debugging.

mod common;

use std::path::Path;

use common::{alive, run_guarded, text, write};

/// A flow whose command leaves a background job in its process group, which flow stops with
/// a warning; the job writes its pid to `bg.pid`.
const BACKGROUND: &str = "[flows.bg]\nshell = \"sleep 300 > /dev/null 2>&1 & echo $! > bg.pid\"\n";

/// The line of `stderr` that holds `needle`.
fn line_with<'a>(stderr: &'a str, needle: &str) -> &'a str {
    stderr
        .lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{stderr}"))
}

/// Runs the workflow with `args` added and checks the background job is gone; its stderr.
fn run_background(d: &Path, args: &[&str]) -> String {
    write(d, "w.toml", BACKGROUND);
    let mut all = vec!["run", "w.toml"];
    all.extend_from_slice(args);
    let out = run_guarded(d, &all);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let pid = std::fs::read_to_string(d.join("bg.pid")).unwrap();
    assert!(!alive(pid.trim()), "the background job outlived its flow");
    stderr
}

#[test]
fn a_warning_from_the_log_reads_as_flows_own() {
    for args in [&[][..], &["-q"]] {
        let dir = tempfile::tempdir().unwrap();
        let stderr = run_background(dir.path(), args);
        let line = line_with(&stderr, "background jobs");
        assert!(line.starts_with("flow: warning: "), "{args:?}: {line}");
        for internal in ["WARN", "flow_pool", "::", "pgid", "attempt{"] {
            assert!(!line.contains(internal), "{args:?}: {internal} in {line}");
        }
        assert!(
            !line.chars().next().unwrap().is_ascii_digit(),
            "{args:?}: a timestamp in {line}"
        );
        // Which flow, in words.
        assert!(line.contains("flow: bg, attempt: 1"), "{args:?}: {line}");
        assert!(line.contains("process group: "), "{args:?}: {line}");
    }
}

#[test]
fn with_v_a_warning_keeps_the_detailed_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_background(dir.path(), &["-v"]);
    let line = line_with(&stderr, "background jobs");
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains("attempt{flow=bg attempt=1}"), "{line}");
    assert!(line.contains("pgid="), "{line}");
    assert!(line.as_bytes()[0].is_ascii_digit(), "no timestamp: {line}");
}

/// Too few open files for `--jobs`: one line a user can act on, as flow's own.
#[test]
fn too_few_open_files_is_a_warning_of_flows_own() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", "[flows.a]\nshell = \"true\"\n");
    let flow = common::flow_path();
    let out = std::process::Command::new("sh")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .current_dir(d)
        .env("FLOW", &flow)
        .args([
            "-c",
            "ulimit -n 64 && ulimit -Hn 64 && exec \"$FLOW\" run w.toml --jobs 200 -q",
        ])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = line_with(&stderr, "open files");
    assert!(line.starts_with("flow: warning: "), "{line}");
    assert!(!line.contains("flow_cli"), "{line}");
}

/// An `interpreter` without `-c` takes the script for a file's name: `flow validate` and
/// `flow run` say so before the flow fails, which it still does (nothing is changed).
#[test]
fn an_interpreter_without_its_script_option_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\ninterpreter = [\"bash\"]\nshell = \"echo hi\"\n",
    );
    let warning = "flow: warning: w.toml:1: flow `a` runs its `shell` script with the \
                   interpreter [\"bash\"], which has no `-c`: `bash` will take the script for \
                   the name of a file to run and fail; write [\"bash\", \"-c\"]";
    let out = common::run_in(d, &["validate", "w.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert_eq!(line_with(&stderr, "flow: warning:"), warning, "{stderr}");
    let out = common::run_in(d, &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(line_with(&stderr, "flow: warning:"), warning, "{stderr}");
}
