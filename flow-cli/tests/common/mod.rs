//! Helpers shared by the end-to-end tests of the `flow` binary: running it, reading its JSON,
//! waiting (without sleeping) for a flow to start or for the binary to exit, and signals.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// A guard against hangs only; nothing is timed.
pub const GUARD: Duration = Duration::from_secs(90);

/// The `flow` binary, without the caller's `RUST_LOG` and with colours off.
pub fn flow() -> Command {
    let mut cmd = Command::cargo_bin("flow").unwrap();
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// Runs `flow ARGS` in `dir` to its end.
pub fn flow_in(dir: &Path, args: &[&str]) -> Output {
    flow().current_dir(dir).args(args).output().unwrap()
}

/// stdout as the one JSON document `--json` prints.
pub fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The entry of flow `id` in a `--json` document.
pub fn flow_entry<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no flow {id} in {json}"))
}

/// Makes a named pipe `name` in `dir`; a flow writing to it tells the test it is running.
pub fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(status.success());
    path
}

/// Waits (without sleeping) until a flow writes a line to the fifo, and returns the line.
pub fn wait_ready(fifo: &Path) -> String {
    let (tx, rx) = mpsc::channel();
    let path = fifo.to_owned();
    std::thread::spawn(move || {
        let mut text = String::new();
        let result = std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut text));
        let _ = tx.send(result.map(|_| text));
    });
    rx.recv_timeout(GUARD)
        .expect("the flow never signalled that it is running")
        .unwrap()
        .trim()
        .to_owned()
}

/// Waits for `child` to exit and returns its output (read while it runs).
pub fn wait_exit(mut child: Child) -> Output {
    let (tx, rx) = mpsc::channel();
    let id = child.id();
    std::thread::spawn(move || {
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stdout.take() {
            pipe.read_to_string(&mut stdout).unwrap();
        }
        if let Some(mut pipe) = child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        let status = child.wait().unwrap();
        let _ = tx.send(Output {
            status,
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
        });
    });
    rx.recv_timeout(GUARD)
        .unwrap_or_else(|_| panic!("flow (pid {id}) did not exit"))
}

/// Sends signal `name` (`INT`, `KILL`, ...) to `pid`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
