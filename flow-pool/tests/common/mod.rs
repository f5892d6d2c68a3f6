//! Helpers shared by the integration tests: reading /proc and a FIFO to await a child's
//! "ready" line without sleeping.
#![allow(dead_code)]

use std::path::PathBuf;

/// One process as /proc sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
}

/// Reads /proc/PID/stat.
pub fn proc_info(pid: u32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcInfo {
        pid,
        state,
        ppid,
        pgrp,
    })
}

/// Every process (zombies included) whose process group is `pgid`.
pub fn group_members(pgid: u32) -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_info)
        .filter(|info| info.pgrp == pgid)
        .collect()
}

/// Every process whose command line is exactly `argv`.
pub fn pids_with_cmdline(argv: &[&str]) -> Vec<u32> {
    let expected: Vec<u8> = argv.iter().flat_map(|arg| arg.bytes().chain([0])).collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == expected))
        .collect()
}

/// Zombie children of this process whose group is `pgid`.
pub fn zombies_in(pgid: u32) -> Vec<ProcInfo> {
    group_members(pgid)
        .into_iter()
        .filter(|info| info.state == 'Z')
        .collect()
}

/// A FIFO in a fresh temporary directory.
pub struct Fifo {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Fifo {
    pub fn new() -> Fifo {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ready.fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        Fifo { _dir: dir, path }
    }

    /// Waits for a writer to send one line and returns it (panics after a minute, as a
    /// guard against a hang).
    pub async fn read_line(&self) -> String {
        use tokio::io::AsyncReadExt;
        // Opened read-write so that it neither blocks nor sees end-of-file between writers.
        let mut receiver = tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&self.path)
            .expect("open fifo");
        let read = async {
            let mut line = Vec::new();
            let mut byte = [0_u8; 1];
            while receiver.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            String::from_utf8_lossy(&line).trim().to_owned()
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), read)
            .await
            .expect("no line on the fifo within a minute")
    }
}

/// The peak resident set size of this process, in KiB (VmHWM).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Runs the checks of a `harness = false` test binary in order, as libtest would: `--list`
/// lists them, a name filters them (`--exact` for whole names), `--ignored` runs none (no
/// check is ignored); exits with 1 if one failed.
pub fn run_checks(checks: &[(&str, fn())]) {
    use std::io::Write;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::time::Instant;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listing = args.iter().any(|arg| arg == "--list");
    if args.iter().any(|arg| arg == "--ignored") {
        return; // no check is ignored: list nothing, run nothing
    }
    if listing {
        // What libtest-aware runners (cargo test, nextest) expect from `--list`.
        let mut stdout = std::io::stdout();
        for (name, _) in checks {
            writeln!(stdout, "{name}: test").expect("stdout");
        }
        return;
    }
    let exact = args.iter().any(|arg| arg == "--exact");
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut failed = 0;
    for (name, check) in checks {
        let selected = filter.iter().any(|f| {
            if exact {
                *name == f.as_str()
            } else {
                name.contains(f.as_str())
            }
        });
        if !filter.is_empty() && !selected {
            continue;
        }
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(check));
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        eprintln!("test {name} ... {verdict} ({:?})", started.elapsed());
        failed += usize::from(result.is_err());
    }
    if failed > 0 {
        eprintln!("{failed} check(s) failed");
        std::process::exit(1);
    }
}

/// Waits for the exit of `pid`, an orphan of a dead child: this process is a subreaper, so
/// the orphan is now its child and its exit is awaited (and reaped) with `waitpid` on a
/// helper thread; `guard` only bounds a hang. `false` when it is still running then.
pub fn orphan_ended(pid: u32, guard: std::time::Duration) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid as i32),
            None,
        ));
    });
    match rx.recv_timeout(guard) {
        Ok(Ok(_)) => true,
        // Not this process's child (already reaped): gone unless /proc still shows it running.
        Ok(Err(_)) => proc_info(pid).is_none_or(|info| info.state == 'Z'),
        Err(_) => false,
    }
}

/// The variable that makes a test binary play a role (a parent for a test to SIGKILL).
pub const ROLE_ENV: &str = "FLOW_POOL_TEST_ROLE";

/// This test binary started again in `role`, with the first line the role prints on stdout.
pub fn start_role(role: &str) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .env(ROLE_ENV, role)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the role");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a line")
        .expect("read");
    (child, line)
}

/// SIGKILLs `child` and reaps it.
pub fn sigkill(child: &mut std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
    child.wait().expect("reap");
}

/// Prints `line` on stdout at once: a role's report to the test that started it.
pub fn report_line(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}").expect("stdout");
    stdout.flush().expect("stdout");
}

/// Runs `future` on a multi-thread runtime of two workers, as the pools' tests do.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Runs the task `task` of `pool` with `input`, without a timeout or a cancel.
pub async fn run_task(
    pool: &flow_pool::ProcessPool,
    task: &str,
    input: serde_json::Value,
) -> Result<serde_json::Value, flow_pool::TaskFailure> {
    pool.run(task, input, None, flow_pool::CancellationToken::new())
        .await
}

/// Asserts that the process group `pgid` has no member left.
pub fn assert_group_gone(pgid: u32) {
    let members = group_members(pgid);
    assert!(members.is_empty(), "group {pgid} still has {members:?}");
}
