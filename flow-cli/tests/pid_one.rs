//! `flow` as PID 1 of its PID namespace, as in a container run without `--init`
//! (`unshare --fork --pid --mount-proc flow run`): the orphans its commands leave are reaped,
//! its exit code is the namespace's, and stop signals sent to the namespace's init stop the
//! run as they stop a `flow` that is not PID 1: the first with the grace period, a second
//! at once. A new PID namespace needs root or user namespaces: where neither works the tests
//! say so and are skipped, under CI they fail.

mod common;

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;

/// The `unshare` arguments that make a new PID namespace with its own `/proc` here (as root,
/// else in a user namespace); `None`, saying why, where neither works, and a failure under CI.
fn unshare_args(what: &str) -> Option<&'static [&'static str]> {
    const AS_ROOT: &[&str] = &["--fork", "--pid", "--mount-proc"];
    const AS_USER: &[&str] = &[
        "--user",
        "--map-root-user",
        "--fork",
        "--pid",
        "--mount-proc",
    ];
    let found = [AS_ROOT, AS_USER]
        .into_iter()
        .find(|args| works("unshare", &[args, &["true"][..]].concat()));
    let why = "`unshare --fork --pid --mount-proc` does not work here (no root, no user \
               namespaces, or no unshare)";
    found.or_else(|| skipped(what, why))
}

/// Whether `program ARGS` runs and succeeds.
fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Says that `what` is skipped and why; under CI, where it must run, fails.
fn skipped<T>(what: &str, why: &str) -> Option<T> {
    eprintln!("skipped {what}: {why}");
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} cannot run under CI: {why}"
    );
    None
}

/// Starts `flow ARGS` in `dir` as PID 1 of a new PID namespace, in a process group of its
/// own (with `unshare` and the namespace's processes), its output piped.
fn spawn_as_pid_one(unshare: &[&str], dir: &Path, args: &[&str]) -> Child {
    spawn_in_namespace(
        unshare,
        dir,
        &[&[flow_path().to_str().unwrap()], args].concat(),
    )
}

/// Starts `ARGV` in `dir` as PID 1 of a new PID namespace, as [`spawn_as_pid_one`] does.
fn spawn_in_namespace(unshare: &[&str], dir: &Path, argv: &[&str]) -> Child {
    Command::new("unshare")
        .args(unshare)
        .args(argv)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// This namespace's pids of the processes of the PID namespace whose init is the child of
/// `unshare` (pid `unshare`), the init first.
fn namespace_of(unshare: u32) -> Vec<String> {
    let parent = unshare.to_string();
    let processes: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let parent_of = |pid: &str| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = stat.rsplit_once(')')?.1.to_owned();
        rest.split_whitespace().nth(1).map(str::to_owned)
    };
    let init = (processes.iter())
        .find(|pid| parent_of(pid).as_deref() == Some(parent.as_str()))
        .expect("unshare has no child")
        .clone();
    let namespace = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let own = namespace(&init);
    let mut found = vec![init.clone()];
    found.extend(
        (processes.into_iter())
            .filter(|pid| *pid != init && own.is_some() && namespace(pid) == own),
    );
    found
}

/// Of the processes `pids`, the one whose pid in its own namespace is `inner`.
fn known_inside_as(pids: &[String], inner: &str) -> String {
    let inner_pid = |pid: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|line| line.starts_with("NSpid:"))?;
        line.split_whitespace().last().map(str::to_owned)
    };
    (pids.iter())
        .find(|pid| inner_pid(pid).as_deref() == Some(inner))
        .unwrap_or_else(|| panic!("no process is {inner} inside among {pids:?}"))
        .clone()
}

/// The defect a CI engineer reported: `flow` as PID 1 never reaped the orphans of its
/// commands (`setsid` processes whose shell exited), so they stayed zombies for the whole
/// run. `check` waits (up to 20 s) until no process of `spawn` runs and none is a zombie,
/// then lists every process of the namespace.
#[test]
fn orphans_of_commands_are_reaped_when_flow_is_pid_one() {
    let Some(unshare) = unshare_args("the PID 1 tests") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.toml",
        r#"
[flows.spawn]
shell = "for i in 1 2 3; do setsid sleep 0.2 </dev/null >/dev/null 2>&1 & done"

[flows.check]
requires = ["spawn"]
# Their reaping is another process's doing: nothing here can await it.
shell = '''
end=$(($(date +%s) + 20))
while [ "$(date +%s)" -lt "$end" ] &&
    { grep -qsa FLOW_ID=spawn /proc/[0-9]*/environ || ps -e -o stat= | grep -q '^Z'; }; do
  sleep 0.01
done
ps -e -o pid,ppid,stat,comm
'''
"#,
    );
    let out = wait_exit(spawn_as_pid_one(unshare, dir.path(), &["run", "w.toml"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing = text(&run_in(dir.path(), &["logs", "check", "w.toml"]).stdout);
    let processes: Vec<Vec<&str>> = (listing.lines().skip(1))
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(processes.len() >= 2, "{listing}");
    assert!(
        !processes.iter().any(|p| p[2].starts_with('Z')),
        "zombies left:\n{listing}"
    );
    assert!(
        !processes.iter().any(|p| p[3] == "sleep"),
        "orphans left:\n{listing}"
    );
}

/// The namespace's exit code is `flow`'s: 1 when a flow failed.
#[test]
fn a_failed_run_exits_1_when_flow_is_pid_one() {
    let Some(unshare) = unshare_args("the PID 1 tests") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"exit 3\"\n");
    let out = wait_exit(spawn_as_pid_one(unshare, dir.path(), &["run", "w.toml"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("exited with code 3"));
}

/// A PID 1 started with SIGCHLD ignored (its children reaped by the kernel, exit status and
/// all) still exits with `flow`'s exit code.
#[test]
fn an_ignored_sigchld_does_not_lose_the_exit_code_of_flow_as_pid_one() {
    let Some(unshare) = unshare_args("the PID 1 tests") else {
        return;
    };
    let why = "this `env` has no --ignore-signal (GNU coreutils 8.31 and later)";
    if !works("env", &["--ignore-signal=CHLD", "true"]) {
        skipped::<()>("the PID 1 test of an ignored SIGCHLD", why);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\nshell = \"true\"\n");
    let flow = flow_path();
    let argv = ["env", "--ignore-signal=CHLD", flow.to_str().unwrap()];
    let validate = [&argv[..], &["validate", "w.toml"]].concat();
    let out = wait_exit(spawn_in_namespace(unshare, dir.path(), &validate));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let invalid = [&argv[..], &["validate", "missing.toml"]].concat();
    let out = wait_exit(spawn_in_namespace(unshare, dir.path(), &invalid));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// `docker stop`: SIGTERM to the namespace's init alone stops the run as it stops a `flow`
/// that gets it (exit code 130, every flow recorded cancelled), and nothing the run started
/// is left, neither its command nor the process that command started with `setsid`.
#[test]
fn sigterm_to_the_init_stops_the_run_with_130_and_leaves_nothing() {
    let Some(unshare) = unshare_args("the PID 1 tests") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.a]\nshell = \"setsid sleep 301 </dev/null >/dev/null 2>&1 & \
         echo $$ > ready.fifo; exec sleep 300\"\n",
    );
    let child = spawn_as_pid_one(unshare, dir.path(), &["run", "w.toml"]);
    let command = wait_ready(&ready);
    let pids = namespace_of(child.id());
    // `flow`, its watchdog, the command and the process it started (and the init).
    assert!(pids.len() >= 4, "{pids:?}");
    assert!(alive(&known_inside_as(&pids, &command)));
    signal(pids[0].parse().unwrap(), "TERM");
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("SIGTERM: stopping"));
    wait_all_dead(&pids);
    let json = json_of(&run_in(dir.path(), &["results", "w.toml", "--json"]));
    assert_eq!(flow_entry(&json, "a")["status"], "cancelled", "{json}");
}

/// A PID 1 never gets a signal it has no handler for: `docker stop` as the container starts,
/// before `flow` handles stop signals (here while it reads its workflow from a pipe), must
/// end it all the same, as it ends a `flow` that is not PID 1: killed by SIGTERM, exit code
/// 128 + 15.
#[test]
fn sigterm_before_flow_handles_it_ends_flow_as_pid_one_with_143() {
    let Some(unshare) = unshare_args("the PID 1 tests") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let workflow = fifo(dir.path(), "w.toml");
    let child = spawn_as_pid_one(unshare, dir.path(), &["run", "w.toml"]);
    // Opened once `flow` opens it to read; kept open (and empty) so that `flow` waits.
    let writer = std::fs::File::create(&workflow).unwrap();
    let init = namespace_of(child.id()).swap_remove(0);
    signal(init.parse().unwrap(), "TERM");
    let out = wait_exit(child);
    drop(writer);
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
}

/// Ctrl-C on a terminal signals the whole foreground process group: `flow` gets SIGINT
/// itself and again from the init that forwards it, and that is one stop (its command keeps
/// its grace period); a second Ctrl-C, later, kills the command at once.
#[test]
fn ctrl_c_to_the_group_of_the_init_is_one_stop_and_a_second_kills() {
    let Some(unshare) = unshare_args("the PID 1 tests") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path(), "ready.fifo");
    write(
        dir.path(),
        "w.toml",
        "[flows.stubborn]\nshell = \"trap '' TERM; echo $$ > ready.fifo; exec sleep 300\"\n\
         kill_grace = \"10m\"\n",
    );
    let mut child = spawn_as_pid_one(unshare, dir.path(), &["run", "w.toml"]);
    let group = nix::unistd::Pid::from_raw(-i32::try_from(child.id()).unwrap());
    let ctrl_c = || nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let command = wait_ready(&ready);
    let sleeper = [known_inside_as(&namespace_of(child.id()), &command)];
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    ctrl_c();
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.starts_with("SIGINT: stopping"), "{line}");
    // A person's second Ctrl-C: later than 100 ms after the first, within which a signal is
    // part of the same stop (the pause is what is tested, not a wait for an event).
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(alive(&sleeper[0]), "the first Ctrl-C killed the command");
    ctrl_c();
    line.clear();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("SIGINT again: killing running flows now"),
        "{line}"
    );
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(130));
    wait_all_dead(&sleeper);
}
