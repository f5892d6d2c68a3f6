//! How `flow run` runs and stops commands: a timeout is reported close to its deadline,
//! whatever runs under the shell, with the limit and the real time in the message;
//! `kill_grace` (per flow and in `[defaults]`) bounds the wait for a command that ignores
//! SIGTERM; `shell` scripts run under `bash -euo pipefail` unless an `interpreter` is given.

mod common;

use std::path::Path;

use serde_json::Value;

use common::{flow, flow_entry, flow_in, json_of};

/// Runs `text` as `w.toml` in `dir` and returns the exit code and the `--json` document.
fn run(dir: &Path, text: &str) -> (Option<i32>, Value) {
    std::fs::write(dir.join("w.toml"), text).unwrap();
    let out = flow_in(dir, &["run", "w.toml", "--json", "--store", "memory"]);
    (out.status.code(), json_of(&out))
}

fn ms(entry: &Value) -> u64 {
    entry["duration_ms"].as_u64().unwrap()
}

#[test]
fn a_shell_timeout_ends_the_flow_at_its_deadline_with_the_limit_and_the_time_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (code, json) = run(
        dir.path(),
        r#"
[flows.plain]
shell = "sleep 20"
timeout = "500ms"

[flows.sequence]
shell = "sleep 20; echo never"
timeout = "500ms"

[flows.pipeline]
shell = "sleep 20 | cat"
timeout = "500ms"
"#,
    );
    assert_eq!(code, Some(1));
    for id in ["plain", "sequence", "pipeline"] {
        let entry = flow_entry(&json, id);
        assert_eq!(entry["status"], "failed", "{entry}");
        let error = entry["error"].as_str().unwrap();
        assert!(
            error.starts_with("the command timed out: limit 500ms, stopped after "),
            "{error}"
        );
        // At the deadline, not after a grace period (a shell that waited for its `sleep` to
        // end after SIGTERM went 1.7 s past a 1 s limit). Wide of the deadline, as a loaded
        // machine is slow to switch to the process that reaps it: not a timing test.
        assert!(
            ms(entry) < 1500,
            "{id} ended {}ms after its start",
            ms(entry)
        );
    }
}

#[test]
fn kill_grace_bounds_the_wait_for_a_command_that_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (code, json) = run(
        dir.path(),
        r#"
[defaults]
kill_grace = "300ms"

[flows.stubborn]
shell = "trap '' TERM; sleep 20"
timeout = "200ms"

[flows.own_grace]
shell = "trap '' TERM; sleep 20"
timeout = "200ms"
kill_grace = "0s"
"#,
    );
    assert_eq!(code, Some(1));
    let stubborn = flow_entry(&json, "stubborn");
    assert!((500..1500).contains(&ms(stubborn)), "{stubborn}");
    let error = stubborn["error"].as_str().unwrap();
    assert!(error.contains("limit 200ms, stopped after "), "{error}");
    let own = flow_entry(&json, "own_grace");
    assert!(ms(own) < 1000, "{own}");
}

#[test]
fn shell_scripts_stop_at_the_first_failing_command_and_failing_pipeline_stage() {
    let dir = tempfile::tempdir().unwrap();
    let (code, json) = run(
        dir.path(),
        r#"
[flows.sequence]
shell = """
false
touch sequence-ran-on
"""

[flows.pipeline]
shell = "sh -c 'exit 4' | cat"

[flows.unset]
shell = "echo $NO_SUCH_VARIABLE_HERE > unset.txt"

[flows.arrays]
shell = "words=(a b); echo ${words[1]} > arrays.txt"

[flows.posix]
interpreter = ["/bin/sh", "-c"]
shell = "false; echo went on > posix.txt"
"#,
    );
    assert_eq!(code, Some(1));
    let status = |id: &str| flow_entry(&json, id)["status"].clone();
    assert_eq!(status("sequence"), "failed");
    assert!(!dir.path().join("sequence-ran-on").exists());
    assert_eq!(status("pipeline"), "failed");
    assert_eq!(flow_entry(&json, "pipeline")["exit_code"], 4);
    assert_eq!(status("unset"), "failed");
    assert_eq!(status("arrays"), "completed", "bash runs shell scripts");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("arrays.txt")).unwrap(),
        "b\n"
    );
    assert_eq!(status("posix"), "completed", "{json}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("posix.txt")).unwrap(),
        "went on\n"
    );
}

#[test]
fn an_interpreter_in_defaults_runs_every_script_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, json) = run(
        dir.path(),
        r#"
[defaults]
interpreter = ["python3", "-c"]

[flows.py]
shell = "import sys; open('py.txt', 'w').write(sys.version_info[0].__str__())"
"#,
    );
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("py.txt")).unwrap(),
        "3"
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[flows.a]\nshell = \"true\"\ninterpreter = \"bash\"\nkill_grace = \"soon\"\n",
    )
    .unwrap();
    let out = flow_in(dir.path(), &["validate", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:3:15: `flows.a.interpreter` must be a program and its arguments"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.toml:4:14: invalid duration \"soon\" for `flows.a.kill_grace`"),
        "{stderr}"
    );
}

#[test]
fn env_values_expand_variables_from_the_flow_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        r#"
[defaults]
env = { ROOT = "${FLOW_WORKFLOW_DIR}/data", P = "${HOME}/bin:${PATH}" }

[flows.e]
env = { IN = "${ROOT}/in", PRICE = "$$5", WHO = "${FLOW_ID}", NONE = "[${NO_SUCH_VARIABLE_HERE}]" }
shell = 'printf "%s|%s|%s|%s|%s" "$IN" "$PRICE" "$WHO" "$P" "$NONE" > env.txt'
"#,
    )
    .unwrap();
    let out = flow()
        .current_dir(dir.path())
        .env("HOME", "/home/ann")
        .env("PATH", "/usr/bin:/bin")
        .args(["run", "w.toml", "--store", "memory", "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dir.path().canonicalize().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("env.txt")).unwrap(),
        format!(
            "{}/data/in|$5|e|/home/ann/bin:/usr/bin:/bin|[]",
            root.display()
        )
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[flows.a]\ncommand = [\"true\"]\nenv = { P = \"$HOME/bin\" }\n",
    )
    .unwrap();
    let out = flow_in(dir.path(), &["validate", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("bad.toml:3:13: `flows.a.env.P`: a bare `$` in \"$HOME/bin\": write ${HOME}"),
        "{stderr}"
    );
}

/// Started without `PATH` (`env -i`, a bare container), `flow` still runs scripts under bash
/// where `/bin` or `/usr/bin` has it, as it finds commands there (`execvp`'s default path),
/// instead of falling back to `/bin/sh`.
#[test]
fn without_path_scripts_still_run_under_bash_from_the_default_path() {
    if !Path::new("/bin/bash").exists() && !Path::new("/usr/bin/bash").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no bash in /bin or /usr/bin while env CI is set: this test must run"
        );
        eprintln!("skipping: no bash in /bin or /usr/bin");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.toml"),
        "[flows.a]\nshell = \"test -n \\\"$BASH_VERSION\\\"\"\n",
    )
    .unwrap();
    let out = flow()
        .current_dir(dir.path())
        .env_remove("PATH")
        .args(["run", "w.toml", "-q", "--store", "memory"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
