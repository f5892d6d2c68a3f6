//! Helpers shared by the end-to-end tests of the `flow` binary: running it, reading its JSON,
//! waiting (without sleeping) for a flow to start or for the binary to exit, and signals.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod slurm;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
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

/// Starts `flow run w.toml` in `dir` with its output piped, and leaves it running.
pub fn spawn_run(dir: &Path) -> Child {
    flow()
        .current_dir(dir)
        .args(["run", "w.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `flow ARGS` in `dir` to its end.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    flow().current_dir(dir).args(args).output().unwrap()
}

/// Runs `flow ARGS` in `dir` to its end, failing the test if it does not end (see
/// [`wait_exit`]): for commands whose bug would be to wait for ever, such as `--follow`.
pub fn run_guarded(dir: &Path, args: &[&str]) -> Output {
    let child = flow()
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_exit(child)
}

/// Bytes of output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Runs `flow ARGS` in `dir` on a pseudo-terminal (stdin, stdout and stderr) of a terminal
/// that can move its cursor (`TERM=xterm`), so that it shows its live display; returns its
/// exit code and everything it wrote.
pub fn run_on_terminal(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let (code, shown, _) = run_with_terminal(dir, args, &[("TERM", "xterm")], Terminal::All);
    (code, shown)
}

/// Which of `flow`'s streams [`run_with_terminal`] gives a pseudo-terminal; the others are a
/// pipe (stdout, stderr) or `/dev/null` (stdin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// stdin, stdout and stderr.
    All,
    /// stdout only.
    Stdout,
    /// stderr only.
    Stderr,
}

/// Runs `flow ARGS` in `dir` with `env` set and the streams `on` on a pseudo-terminal;
/// returns its exit code, what it wrote on the terminal, and what it wrote into the pipe
/// (stdout's or stderr's, whichever is not on the terminal; nothing with [`Terminal::All`]).
pub fn run_with_terminal(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    on: Terminal,
) -> (Option<i32>, String, String) {
    let pty = nix::pty::openpty(None, None).unwrap();
    // openpty's descriptors are inherited across exec: `flow`, and every command it starts,
    // would keep the terminal open (and this reader waiting) as long as any of them lives.
    for fd in [&pty.master, &pty.slave] {
        use std::os::fd::AsRawFd;
        nix::fcntl::fcntl(
            fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .unwrap();
    }
    let stdio = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut command = flow();
    command
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied());
    match on {
        Terminal::All => command.stdin(stdio()).stdout(stdio()).stderr(stdio()),
        Terminal::Stdout => (command.stdin(Stdio::null()))
            .stdout(stdio())
            .stderr(Stdio::piped()),
        Terminal::Stderr => (command.stdin(Stdio::null()))
            .stdout(Stdio::piped())
            .stderr(stdio()),
    };
    let mut child = command.spawn().unwrap();
    // The command holds its copies of the terminal until dropped: the reader below ends only
    // once no one here holds it.
    drop(command);
    drop(pty.slave);
    let pipe: Option<Box<dyn Read + Send>> = match on {
        Terminal::All => None,
        Terminal::Stdout => Some(Box::new(child.stderr.take().unwrap())),
        Terminal::Stderr => Some(Box::new(child.stdout.take().unwrap())),
    };
    let piped = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes).unwrap();
        }
        text(&bytes)
    });
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // Reading ends with EIO once the last writer of the terminal is gone.
        let _ = master.read_to_end(&mut bytes);
        text(&bytes)
    });
    let (tx, rx) = mpsc::channel();
    let id = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(GUARD)
        .unwrap_or_else(|_| panic!("flow (pid {id}) hangs with its display on"))
        .unwrap();
    (status.code(), reader.join().unwrap(), piped.join().unwrap())
}

/// Whether this test may mount file systems in a private mount namespace (`unshare -m` as
/// root); prints why not otherwise, and fails under CI where it must be able to.
pub fn can_mount(what: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let unshare = root
        && Command::new("unshare")
            .args(["-m", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !unshare {
        let why = if root {
            "`unshare -m` does not work here"
        } else {
            "it needs root for a private mount namespace"
        };
        eprintln!("skipped {what}: {why}");
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} cannot run under CI: {why}"
        );
    }
    unshare
}

/// The `flow` binary's path, for shell scripts.
pub fn flow_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("flow")
}

/// Waits (polling, with a deadline against hangs) until none of `pids` is alive.
pub fn wait_all_dead(pids: &[String]) {
    let deadline = std::time::Instant::now() + GUARD;
    while let Some(pid) = pids.iter().find(|pid| alive(pid)) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} started by the killed run is still alive"
        );
        std::thread::yield_now();
    }
}

/// The parent's process id and the kernel's name (`comm`) of process `pid`.
pub fn parent_and_name(pid: &str) -> Option<(String, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let parent = rest.split_whitespace().nth(1)?.to_owned();
    Some((parent, name))
}

/// The watchdog of `flow run` process `flow_pid`: its child named `Flow-watchdog`.
pub fn watchdog_of(flow_pid: u32) -> String {
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let found = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .find(|pid| {
                parent_and_name(pid).is_some_and(|(parent, name)| {
                    parent == flow_pid.to_string() && name == "Flow-watchdog"
                })
            });
        if let Some(pid) = found {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "flow run (process {flow_pid}) has no child named Flow-watchdog"
        );
        std::thread::yield_now();
    }
}

/// Waits until `flow results` in `dir` shows flow `id` running (the store learns it a moment
/// after the command starts).
pub fn wait_recorded_running(dir: &std::path::Path, id: &str) {
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let json = json_of(&run_in(dir, &["results", "w.toml", "--json"]));
        if flow_entry(&json, id)["status"] == "running" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {json}"
        );
    }
}

/// Starts `flow run w.toml` in `dir`, waits until flow `id` (whose command writes its pid to
/// the fifo `ready`) is recorded running, kills `flow` with SIGKILL, and returns once `flow`
/// and that command are gone: a run killed while `id` ran.
pub fn kill_run_while_running(dir: &Path, ready: &Path, id: &str) {
    let child = spawn_run(dir);
    let running = wait_ready(ready);
    wait_recorded_running(dir, id);
    signal(child.id(), "KILL");
    wait_exit(child);
    wait_all_dead(&[running]);
}
