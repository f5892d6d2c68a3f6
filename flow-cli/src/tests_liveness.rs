//! The liveness rule, row by row, on real processes and lock files.

use std::process::{Child, Command, Stdio};

use chrono::TimeDelta;
use nix::sys::wait::{waitid, Id, WaitPidFlag};

use super::*;

/// A child killed and reaped when dropped.
struct Kept(Child);

impl Kept {
    fn spawn(program: &str, args: &[&str]) -> Self {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Kept(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process that is nobody's child here any more: its parent exited, so the system (or a
/// subreaper) adopted it, as a dead run's processes are. Killed when dropped.
struct Orphan(u32);

impl Orphan {
    fn spawn() -> Self {
        let out = Command::new("/bin/sh")
            .args(["-c", "sleep 300 </dev/null >/dev/null 2>&1 & echo $!"])
            .output()
            .unwrap();
        Orphan(
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap(),
        )
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0 as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// The id of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

/// A child started in a later clock tick than process `than`.
fn started_after(than: u32) -> Kept {
    let first = Process::read(than).unwrap().started;
    loop {
        let later = Kept::spawn("sleep", &["300"]);
        if Process::read(later.pid()).unwrap().started > first {
            return later;
        }
    }
}

#[test]
fn a_run_is_alive_only_while_its_flow_run_can_be_alive() {
    let this = std::process::id();
    let now = Utc::now();
    let hour_ago = now - TimeDelta::hours(1);
    let dead = dead_pid();
    let later = Kept::spawn("sleep", &["300"]);
    let zombie = Kept::spawn("true", &[]);
    // Exited and not reaped: a zombie.
    let zombie_pid = nix::unistd::Pid::from_raw(zombie.pid() as i32);
    waitid(
        Id::Pid(zombie_pid),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
    )
    .unwrap();
    // A process of the run still this process's child (as a live run's are its flow's).
    let child_of_flow = Kept::spawn("/bin/sh", &["-c", "read never"]);
    let orphan = Orphan::spawn();
    let after_orphan = started_after(orphan.0);
    // A process of the run that started after the pid was reused by another program.
    let orphan_after_later = Orphan::spawn();
    assert!(
        Process::read(orphan_after_later.0).unwrap().started
            >= Process::read(later.pid()).unwrap().started
    );

    let evidence = |lock, pids: &[u32], started, processes: &[u32]| Evidence {
        lock,
        pids: pids.to_vec(),
        started,
        processes: processes.to_vec(),
    };
    use Lock::*;
    let mut rows = vec![
        (
            "locked, its pid dead",
            evidence(Held, &[dead], Some(now), &[]),
            true,
        ),
        (
            "not locked, its pid alive from before",
            evidence(Free, &[this], Some(now), &[]),
            false,
        ),
        (
            "pid dead",
            evidence(Unknown, &[dead], Some(now), &[]),
            false,
        ),
        (
            "pid alive from before the run",
            evidence(Unknown, &[this], Some(now), &[]),
            true,
        ),
        (
            "pid alive from after the run",
            evidence(Unknown, &[later.pid()], Some(hour_ago), &[]),
            false,
        ),
        (
            "pid of a zombie",
            evidence(Unknown, &[zombie.pid()], Some(now), &[]),
            false,
        ),
        (
            "nothing recorded",
            evidence(Unknown, &[], Some(now), &[]),
            false,
        ),
        (
            "start unknown, pid alive",
            evidence(Unknown, &[later.pid()], None, &[]),
            true,
        ),
        (
            "one of two pids alive",
            evidence(Unknown, &[dead, this], Some(now), &[]),
            true,
        ),
        (
            "pid dead, a process of the run a live flow's child",
            evidence(Unknown, &[dead], Some(hour_ago), &[child_of_flow.pid()]),
            true,
        ),
        (
            "pid dead, the run's process adopted",
            evidence(Unknown, &[dead], Some(now), &[orphan.0]),
            false,
        ),
        (
            "pid alive from after the run's first process",
            evidence(Unknown, &[after_orphan.pid()], None, &[orphan.0]),
            false,
        ),
        (
            "pid reused after the run began by a program that is not flow, before the run's \
             first process found",
            evidence(
                Unknown,
                &[later.pid()],
                Some(hour_ago),
                &[orphan_after_later.0],
            ),
            false,
        ),
        (
            "pid alive from before the run's first process",
            evidence(Unknown, &[this], Some(hour_ago), &[orphan.0]),
            true,
        ),
    ];
    // Kernel threads are not seen from every pid namespace (a container's).
    if Process::read(2).is_some_and(|p| p.kernel_thread) {
        rows.push((
            "pid of a kernel thread",
            evidence(Unknown, &[2], Some(now), &[]),
            false,
        ));
    }
    for (row, evidence, alive) in rows {
        assert_eq!(evidence.alive(), alive, "{row}: {evidence:?}");
    }
}

#[test]
fn a_lock_is_held_while_a_process_holds_its_file_not_a_copy_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".flow.db.w.lock");
    let taken = crate::run_lock::take(&path, "run").unwrap().unwrap();
    assert_eq!(lock_state(&path), Lock::Held);
    let copy = dir.path().join("copy.lock");
    std::fs::copy(&path, &copy).unwrap();
    assert_eq!(lock_state(&copy), Lock::Free);
    drop(taken);
    assert_eq!(lock_state(&path), Lock::Free);
    // Its name alone, bound while the file is not locked (a run whose file was made again).
    let crate::lock_name::Claim::Held(name) = crate::lock_name::claim(&path) else {
        panic!("the name of {path:?} cannot be bound here");
    };
    assert_eq!(lock_state(&path), Lock::Held);
    drop(name);
    assert_eq!(lock_state(&path), Lock::Free);
    assert_eq!(lock_state(&dir.path().join("missing")), Lock::Unknown);
}

#[test]
fn the_kernel_s_list_of_locks_is_read_by_device_and_inode() {
    let dev = nix::sys::stat::makedev(0xfe, 1);
    let table = "1: POSIX  ADVISORY  WRITE 7 fe:01:42 0 EOF\n\
                 2: FLOCK  ADVISORY  WRITE 8 fe:01:4242 0 EOF\n\
                 2: -> FLOCK  ADVISORY  WRITE 9 fe:01:42 0 EOF\n";
    // A POSIX lock, a waiter and another inode are not a held flock of inode 42.
    assert_eq!(listed(table, dev, 42), Listed::No);
    assert_eq!(listed(table, dev, 4242), Listed::Exactly);
    let other_device = "3: FLOCK  ADVISORY  WRITE 8 00:2a:42 0 EOF\n";
    assert_eq!(listed(other_device, dev, 42), Listed::InodeOnly);
    let both = format!("{other_device}4: FLOCK  ADVISORY  READ 8 fe:01:42 0 EOF\n");
    assert_eq!(listed(&both, dev, 42), Listed::Exactly);
}

#[test]
fn a_process_is_read_from_its_stat_line() {
    let stat = "12 (a (b) c) S 1 12 12 0 -1 2097216 0 0 0 0 0 0 0 0 20 0 1 0 4567 0 0\n";
    let process = Process::parse(12, stat).unwrap();
    assert_eq!(
        (process.name.as_str(), process.parent, process.started),
        ("a (b) c", 1, 4567)
    );
    assert!(process.kernel_thread && process.live());
    let zombie = stat.replace(") S ", ") Z ");
    assert!(!Process::parse(12, &zombie).unwrap().live());
    assert_eq!(Process::parse(12, "12 (x) S 1"), None);
    let own = Process::read(std::process::id()).unwrap();
    assert!(own.live() && !own.kernel_thread);
}
