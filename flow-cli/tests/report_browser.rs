//! `flow report` in a real browser: runs the example workflow with a failing optional step
//! (`examples/optional.toml`) with `--report`, opens the page in headless Chromium, checks that
//! it renders (timeline, DAG and failures in the DOM, the page's script ran to its end, nothing
//! on the console) and saves a screenshot under the test's output folder. Skipped, saying so, where `chromium` is not installed; fails instead
//! when env `CI` is set (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;

/// A guard against hangs only; nothing is timed.
const GUARD: Duration = Duration::from_secs(120);

/// The folder of the example workflow.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples")
}

/// Where `program` is on PATH, if it is.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Runs `cmd` to its end and returns its output; kills it and fails after [`GUARD`].
fn output_within_guard(mut cmd: Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let pid = child.id();
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match wait.recv_timeout(GUARD) {
        Ok(output) => output.expect("the program's output is read"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} did not finish within {GUARD:?}");
        }
    }
}

/// Headless Chromium with no first-run, sync, update or other background traffic, and its
/// own profile folder in `profile`.
fn chromium(program: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

#[test]
fn the_report_of_the_example_workflow_renders_in_chromium() {
    let Some(program) = on_path("chromium") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium not found while env CI is set: .ci/run installs it and this test must run"
        );
        eprintln!("skipping: chromium not found (.ci/run installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        examples().join("optional.toml"),
        dir.path().join("optional.toml"),
    )
    .unwrap();
    let mut run = Command::cargo_bin("flow").unwrap();
    run.current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .args(["run", "optional.toml", "--report"]);
    let ran = output_within_guard(run);
    assert_eq!(
        ran.status.code(),
        Some(1),
        "the example fails one optional flow:\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let reports: Vec<PathBuf> = std::fs::read_dir(dir.path().join(".flow/reports"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let page = &reports[0];
    let html = std::fs::read_to_string(page).unwrap();
    for needle in ["src=", "href=", "http://", "https://", "url(/", "@import"] {
        assert!(
            !html.contains(needle),
            "the page refers outside itself: {needle}"
        );
    }

    // One browser start renders the page, prints its DOM and saves a screenshot.
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_browser");
    std::fs::create_dir_all(&out_dir).unwrap();
    let screenshot = out_dir.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let profile = tempfile::tempdir().unwrap();
    let mut browser = chromium(&program, profile.path());
    browser
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1400,1000")
        .arg(format!("file://{}", page.display()));
    let dumped = output_within_guard(browser);
    let dom = String::from_utf8_lossy(&dumped.stdout);
    let log = String::from_utf8_lossy(&dumped.stderr);
    assert!(dumped.status.success(), "chromium failed:\n{log}");
    for needle in [
        "<section id=\"timeline\">",
        "<svg class=\"timeline\"",
        "<section id=\"dag\">",
        "<svg class=\"dag\"",
        "<g class=\"node s-failed",
        "<section id=\"failures\">",
        "<article class=\"failure\">",
        "fetch_rates",
        "cannot reach rates.example.invalid",
        "data-script=\"ran\"",
    ] {
        assert!(
            dom.contains(needle),
            "the rendered page lacks {needle}:\n{dom}"
        );
    }
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "the page wrote to the console: {console:#?}"
    );

    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "not a PNG: {}",
        screenshot.display()
    );
    eprintln!("screenshot: {}", screenshot.display());
}
