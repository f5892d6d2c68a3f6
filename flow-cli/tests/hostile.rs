//! End-to-end tests of `flow` meeting careless or hostile input and output: full or closed
//! stdout and stderr, escape sequences from commands and in the workflow file (printed or in
//! the report page), values the operating system refuses, `--json` errors, folders that do
//! not exist, and messages that must name the real cause.

mod common;

use std::process::{Command, Stdio};

use serde_json::Value;

use common::{flow, json_of, run_in, text, write};

/// `/dev/full` for writing: every write fails with ENOSPC.
fn full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

#[test]
fn full_or_closed_output_streams_never_panic_and_a_lost_summary_fails_the_command() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    let status = |args: &[&str], stdout: Stdio, stderr: Stdio| {
        flow()
            .current_dir(dir.path())
            .args(args)
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(
        status(&["run", "/nonexistent.toml"], Stdio::null(), full()),
        Some(2)
    );
    assert_eq!(
        status(&["run", "w.toml", "-v"], Stdio::null(), full()),
        Some(0)
    );
    // The run went well, but the summary it was asked for is lost: a script reading
    // `flow run --json > run.json` must not take an empty file for a run that went well.
    assert_eq!(status(&["run", "w.toml"], full(), Stdio::null()), Some(1));
    assert_eq!(
        status(&["run", "w.toml", "--json"], full(), full()),
        Some(1)
    );
    let out = run_in(dir.path(), &["runs", "w.toml"]);
    assert_eq!(
        text(&out.stdout).matches("1 completed").count(),
        3,
        "every run ran and was recorded: {}",
        text(&out.stdout)
    );
    // A closed pipe: the reader is gone before flow writes.
    let mut child = flow()
        .current_dir(dir.path())
        .args(["run", "w.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn help_and_version_that_cannot_be_written_fail_as_the_manual_page_does() {
    // `flow man > /dev/full` says it could not write and exits 2; `flow --help` and
    // `flow --version` into a full disk did neither: exit 0, nothing said.
    for args in [
        &["man"][..],
        &["--help"],
        &["run", "--help"],
        &["-h"],
        &["--version"],
    ] {
        let out = flow()
            .args(args)
            .stdout(full())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "flow {args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write output") && stderr.contains("No space left"),
            "flow {args:?}: {stderr}"
        );
    }
    // Into a reader that went away, help stays quiet and exits 0, as every command's output
    // does (`flow --help | head -1`).
    let mut child = flow()
        .arg("--help")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn escape_sequences_from_commands_and_the_workflow_file_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.bad]\nshell = \"printf '\\\\033]0;PWNED\\\\007\\\\033[2J' >&2; exit 1\"\n",
    );
    let out = run_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let results = run_in(dir.path(), &["results", "w.toml"]);
    for printed in [&out.stdout, &out.stderr, &results.stdout] {
        let printed = text(printed);
        assert!(
            !printed.contains('\u{1b}') && !printed.contains('\u{7}'),
            "raw escapes printed: {printed:?}"
        );
    }
    assert!(
        text(&results.stdout).contains(r"\u{1b}]0;PWNED\u{7}"),
        "{}",
        text(&results.stdout)
    );

    // The report, on stdout and in its file, shows them as text too, and a program whose
    // name holds them as well.
    write(
        dir.path(),
        "p.toml",
        "[flows.bad]\nshell = \"printf 'boom \\\\033]0;T\\\\007 \\\\033[2J\\\\n' >&2; exit 4\"\n\
         [flows.prog]\ncommand = [\"\\u001b]0;PROG\\u0007x\"]\n",
    );
    assert_eq!(
        run_in(dir.path(), &["run", "p.toml"]).status.code(),
        Some(1)
    );
    let page = text(&run_in(dir.path(), &["report", "p.toml", "-o", "-"]).stdout);
    let written = run_in(dir.path(), &["report", "p.toml", "-o", "page.html"]);
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stderr));
    let file = std::fs::read_to_string(dir.path().join("page.html")).unwrap();
    for page in [&page, &file] {
        assert!(
            !page.contains('\u{1b}') && !page.contains('\u{7}'),
            "raw escapes in the page: {page:?}"
        );
        assert!(page.contains(r"boom \u{1b}]0;T\u{7} \u{1b}[2J"), "{page}");
        assert!(page.contains(r"`\u{1b}]0;PROG\u{7}x`"), "{page}");
    }

    write(
        dir.path(),
        "n.toml",
        "[workflow]\nname = \"line1\\nFAKE completed\\u001b[31m\"\n[flows.a]\nshell = \"true\"\n",
    );
    let out = run_in(dir.path(), &["validate", "n.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(
        stderr.contains(r"must not contain control characters") && stderr.contains(r"line1\nFAKE"),
        "{stderr}"
    );
}

#[test]
fn nul_bytes_and_scripts_too_long_for_a_shell_fail_validation_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(140 * 1024);
    write(
        dir.path(),
        "w.toml",
        &format!(
            "[flows.a]\nshell = \"echo a\\u0000b\"\n\
             [flows.b]\ncommand = [\"echo\", \"b\\u0000\"]\n\
             [flows.c]\ncommand = [\"true\"]\ncwd = \"sub\\u0000dir\"\n\
             [flows.d]\nshell = \"# {long}\"\n\
             [flows.e]\ncommand = [\"tr\\u0000ue\"]\n"
        ),
    );
    let out = run_in(dir.path(), &["validate", "w.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for line in [
        "w.toml:2:9: `flows.a.shell` contains a NUL byte",
        "w.toml:4:20: `flows.b.command` contains a NUL byte",
        "w.toml:7:7: `flows.c.cwd` contains a NUL byte",
        "w.toml:9:9: `flows.d.shell` is 143362 bytes, longer than",
        "w.toml:11:12: `flows.e.command` contains a NUL byte",
    ] {
        assert!(stderr.contains(line), "missing {line:?} in:\n{stderr}");
    }
}

#[test]
fn a_variable_whose_value_is_not_utf8_is_refused_where_it_is_named() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "d.toml",
        "[defaults]\nenv = { A = \"x${BYTES}\", LITERAL = \"$${BYTES}\" }\n\n\
         [flows.a]\ncommand = [\"true\"]\n",
    );
    // A default of the same name hides the process's variable; a param's value is put in
    // as it is, never expanded.
    write(
        dir.path(),
        "f.toml",
        "[params]\np = \"${BYTES}\"\n[defaults]\nenv = { SHADOW = \"text\" }\n\
         [flows.a]\nmatrix = { k = [\"1\", \"2\"] }\ncommand = [\"true\"]\n\
         env = { B = \"{k}${BYTES}/y\", C = \"${TEXT}\", D = \"${SHADOW}\", E = \"{p}\" }\n",
    );
    let bytes = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let validate = |file: &str, value: &std::ffi::OsStr| {
        flow()
            .current_dir(dir.path())
            .args(["validate", file])
            .env("BYTES", value)
            .env("SHADOW", value)
            .env("TEXT", "fine")
            .output()
            .unwrap()
    };
    for (file, line) in [
        (
            "d.toml",
            "d.toml:2:13: `defaults.env.A`: `${BYTES}` names an environment variable whose \
             value is not UTF-8",
        ),
        ("f.toml", "f.toml:8:13: `flows.a.env.B`: `${BYTES}` names"),
    ] {
        let out = validate(file, bytes);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(line), "missing {line:?} in:\n{stderr}");
        // Once per place in the file, not once per flow of the matrix.
        assert_eq!(stderr.matches("not UTF-8").count(), 1, "{stderr}");
        assert!(validate(file, "café".as_ref()).status.success());
    }
    write(
        dir.path(),
        "g.toml",
        "[params]\np = \"${TEXT}\"\n[flows.g]\ncommand = [\"sh\", \"-c\", \"printf %s \\\"$E\\\"\"]\n\
         env = { E = \"{p} ${TEXT}\" }\n",
    );
    let out = flow()
        .current_dir(dir.path())
        .args(["run", "g.toml", "--quiet"])
        .env("TEXT", "fine")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let logged = std::fs::read_dir(dir.path().join(".flow/logs"))
        .unwrap()
        .map(|run| std::fs::read_to_string(run.unwrap().path().join("g.1.out")).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(logged, ["${TEXT} fine"]);
}

/// A command line clap refuses while one of its arguments is not UTF-8 (a file name in
/// Latin-1, say) is a usage error, exit code 2, not a panic of `flow` looking for `--json`.
#[test]
fn a_refused_command_line_with_an_argument_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.toml");
    let cases: [&[&std::ffi::OsStr]; 3] = [
        &["run".as_ref(), "w.toml".as_ref(), latin1],
        &[
            "run".as_ref(),
            "w.toml".as_ref(),
            "--bogus".as_ref(),
            latin1,
        ],
        &[latin1],
    ];
    for args in cases {
        let out = flow().args(args).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// In a workflow folder whose name is not UTF-8, each command gets that folder's name, byte
/// for byte, in `FLOW_WORKFLOW_DIR`.
#[test]
fn the_workflow_folder_reaches_commands_as_it_is_named() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(std::ffi::OsStr::from_bytes(b"w\xff"));
    std::fs::create_dir(&dir).unwrap();
    write(
        &dir,
        "w.toml",
        "[flows.a]\nshell = 'test \"$FLOW_WORKFLOW_DIR\" -ef .'\n",
    );
    let out = run_in(&dir, &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn json_errors_are_one_document_on_stdout_with_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    write(
        dir.path(),
        "bad.toml",
        "[flows.a]\nrequires = [\"nope\"]\nshell = \"true\"\n",
    );
    let cases: [(&[&str], &str); 5] = [
        (&["run", "bad.toml", "--json"], "invalid_workflow"),
        (&["run", "missing.toml", "--json"], "read_workflow"),
        (&["run", "w.toml", "--json", "--store", "redis:x"], "store"),
        (
            &[
                "results",
                "w.toml",
                "--json",
                "--run",
                "20261126T153012.123Z-3f9a",
            ],
            "no_run",
        ),
        (
            &[
                "report",
                "w.toml",
                "--json",
                "--run",
                "20261126T153012.123Z-3f9a",
            ],
            "no_run",
        ),
    ];
    for (args, kind) in cases {
        let out = run_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let json: Value = json_of(&out);
        assert_eq!(json["status"], "error", "{args:?}: {json}");
        assert_eq!(json["exit_code"], 2, "{json}");
        assert_eq!(json["kind"], kind, "{args:?}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
        assert!(json["problems"].is_array(), "{json}");
    }
    // A usage error's message names the argument, as clap's text on stderr does.
    for (args, names) in [
        (
            &["run", "w.toml", "--json", "--no-such-flag"][..],
            "'--no-such-flag'",
        ),
        (
            &["run", "w.toml", "--json", "--jobs", "0"],
            "'--jobs <JOBS>'",
        ),
    ] {
        let out = run_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(2));
        let json = json_of(&out);
        assert_eq!(json["kind"], "usage");
        assert!(json["message"].as_str().unwrap().contains(names), "{json}");
        assert!(text(&out.stderr).contains(names), "{}", text(&out.stderr));
    }
    let json = json_of(&run_in(dir.path(), &["run", "bad.toml", "--json"]));
    assert_eq!(json["problems"][0]["file"], "bad.toml", "{json}");
    assert_eq!(json["problems"][0]["line"], 2, "{json}");
    assert!(
        json["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`nope`"),
        "{json}"
    );
}

#[test]
fn folders_are_made_only_where_asked_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    let out = run_in(
        dir.path(),
        &["run", "w.toml", "-q", "--store", "sqlite:no/such/x.db"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("no").exists(), "a folder was made");

    assert_eq!(
        run_in(dir.path(), &["run", "w.toml", "-q"]).status.code(),
        Some(0)
    );
    let out = run_in(dir.path(), &["report", "w.toml", "-o", "none/such/x.html"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("none/such") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!dir.path().join("none").exists(), "a folder was made");
    // The default place is made beside the workflow.
    let out = run_in(dir.path(), &["report", "w.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A `.flow` that is a link leading nowhere (a cache folder not made yet) is named as such,
/// not as a file in the way.
#[test]
fn a_state_folder_link_that_leads_nowhere_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    std::os::unix::fs::symlink("cache/flow", dir.path().join(".flow")).unwrap();
    let out = run_in(dir.path(), &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("it is a link to cache/flow, which does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("it is a file"), "{stderr}");
}

/// A link's target comes from the file system: printed escaped, it cannot fake a line.
#[test]
fn a_state_folder_link_target_cannot_fake_a_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    let target = "/nonexistent\nflow: error: fake";
    std::os::unix::fs::symlink(target, dir.path().join(".flow")).unwrap();
    let out = run_in(dir.path(), &["run", "w.toml", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        !stderr
            .lines()
            .any(|line| line.starts_with("flow: error: fake")),
        "{stderr}"
    );
    assert!(stderr.contains("which does not exist"), "{stderr}");
}

#[test]
fn messages_name_the_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.a]\nshell = \"echo a\"\nretries = 4294967296\n",
    );
    let out = run_in(dir.path(), &["validate", "w.toml"]);
    assert!(
        text(&out.stderr).contains("must be at most 4294967295, found 4294967296"),
        "{}",
        text(&out.stderr)
    );

    write(dir.path(), "w.toml", "[flows.a]\nshell = \"echo a\"\n");
    write(dir.path(), ".flow", "a file in the way");
    let out = run_in(dir.path(), &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(".flow") && stderr.contains("it is a file, not a folder"),
        "{stderr}"
    );
}

/// A working directory that exists but cannot be entered is named as the cause, not the
/// program. As root (who enters any folder), `flow` runs as `nobody` through `setpriv`.
#[test]
fn a_working_directory_that_cannot_be_entered_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\ncommand = [\"true\"]\ncwd = \"locked\"\n",
    );
    std::fs::create_dir(d.join("locked")).unwrap();
    // A file this test made belongs to the user it runs as.
    let root =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(d.join("w.toml")).unwrap()) == 0;
    let locked = if root { 0o700 } else { 0o000 };
    std::fs::set_permissions(d.join("locked"), std::fs::Permissions::from_mode(locked)).unwrap();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let args = ["run", "w.toml", "--store", "memory"];
    let out = if root {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(common::flow_path())
            .args(args)
            .current_dir(d)
            .output()
            .unwrap()
    } else {
        run_in(d, &args)
    };
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("failed to start `true`: its working directory ")
            && stdout.contains("locked cannot be entered (permission denied)"),
        "{stdout}"
    );
}

/// Started with SIGCHLD ignored, the kernel would reap the commands itself: flow gives it its
/// default action back, so that their exit codes are read, and its commands get it so too.
#[test]
fn started_with_sigchld_ignored_the_exit_codes_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        "[flows.ok]\nshell = \"grep SigIgn /proc/self/status > ignored.txt\"\n\
         [flows.bad]\nshell = \"exit 3\"\n",
    );
    let out = Command::new("env")
        .current_dir(dir.path())
        .arg("--ignore-signal=CHLD")
        .arg(common::flow_path())
        .args(["run", "w.toml", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let flows = doc["flows"].as_array().unwrap();
    let flow = |id: &str| flows.iter().find(|f| f["id"] == id).unwrap().clone();
    assert_eq!(flow("ok")["status"], "completed", "{doc}");
    assert_eq!(
        flow("bad")["error"],
        "the command exited with code 3",
        "{doc}"
    );
    let ignored = std::fs::read_to_string(dir.path().join("ignored.txt")).unwrap();
    let mask =
        u64::from_str_radix(ignored.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_eq!(
        mask & (1 << (17 - 1)),
        0,
        "SIGCHLD ignored in a command: {ignored}"
    );
}
