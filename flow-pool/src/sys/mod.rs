//! Platform seam: process groups, signals, and the crate's `unsafe`: starting a command (a
//! vfork) and watching it with a pidfd (in [`mod@spawn`]), this process's signal actions and
//! masks (in [`mod@signals`]), the workers' pre-exec hook (in [`unix`]),
//! the short time slice of the thread that runs commands (in [`mod@slice`]), keeping
//! commands from the terminal (in [`mod@terminal`]), the init a
//! program that is PID 1 forks off (in [`mod@init`]) and a worker's group dying with its
//! parent (in [`mod@group_death`]).

mod group_death;
mod holders;
mod init;
mod signals;
mod slice;
mod spawn;
mod terminal;
mod unix;

use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

pub(crate) use group_death::kill_own_group_when_parent_dies;
pub(crate) use holders::{kill_pipe_holders, pipe_inode};
pub use init::{init_if_pid_one, InitOutcome};
pub use signals::{block, restore_default_action, signal_is_ignored, take_pending, unblock};
pub use slice::use_short_slice;
pub(crate) use spawn::{pidfd, pidfd_open, reap, spawn, How, SignalDefaults};
pub use terminal::give_up_controlling_terminal;
pub(crate) use terminal::Detach;
pub(crate) use unix::kill_child_when_parent_dies;

/// The name of a signal number, e.g. `SIGSEGV`, or `signal N` for one nix does not know.
pub fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(sig) => sig.as_str().to_owned(),
        Err(_) => format!("signal {signal}"),
    }
}

/// Sends `signal` to every process of the group `pgid`. Returns `false` when the group is
/// already empty (`ESRCH`).
pub(crate) fn signal_group(pgid: u32, signal: Signal) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    match killpg(Pid::from_raw(raw), signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(errno) => {
            tracing::warn!(pgid, %errno, ?signal, "could not signal process group");
            // EPERM: some member is not ours to signal; treat it as still alive.
            errno != Errno::EINVAL
        }
    }
}

/// Whether the process group `pgid` still has a member (zombies count).
pub(crate) fn group_exists(pgid: u32) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    !matches!(killpg(Pid::from_raw(raw), None), Err(Errno::ESRCH))
}

/// Whether the process group `pgid` has a member to wait for, per `/proc`: one that is not a
/// zombie, or a zombie of this process (to be reaped by [`reap_group_orphans`]); `None` when
/// `/proc` cannot be read. A zombie of another parent (a grandchild re-parented to a PID 1
/// that reaps slowly) keeps `killpg(pgid, 0)` succeeding although nothing of the group runs
/// any more; this tells the two apart. It reads every process's `stat`, so it is only for a
/// group that outlived its leader.
pub(crate) fn group_has_live_member(pgid: u32) -> Option<bool> {
    let me = std::process::id();
    let mut found = false;
    for_each_process(|stat| {
        found |= stat.group == pgid && (!stat.dead || stat.parent == me);
        !found
    })?;
    Some(found)
}

/// The process ids of the members of the group `pgid` that are not zombies, per `/proc`;
/// `None` when `/proc` cannot be read. It reads every process's `stat`.
pub(crate) fn group_live_members(pgid: u32) -> Option<Vec<u32>> {
    let mut members = Vec::new();
    for_each_process(|stat| {
        if stat.group == pgid && !stat.dead {
            members.push(stat.pid);
        }
        true
    })?;
    Some(members)
}

/// What [`for_each_process`] reads of a process's `/proc/PID/stat`.
struct ProcStat {
    pid: u32,
    /// A zombie, or dead.
    dead: bool,
    parent: u32,
    group: u32,
}

/// Calls `visit` with every process in `/proc` until it returns `false`; `None` when `/proc`
/// cannot be read.
fn for_each_process(mut visit: impl FnMut(&ProcStat) -> bool) -> Option<()> {
    for entry in std::fs::read_dir("/proc").ok()? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        // A process that ended since the listing has no stat file any more: skip it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command name in parentheses: state, ppid, pgrp, ...
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let mut fields = rest.split_whitespace();
        let (Some(state), Some(parent), Some(group)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (Ok(parent), Ok(group)) = (parent.parse(), group.parse()) else {
            continue;
        };
        let stat = ProcStat {
            pid,
            dead: matches!(state, "Z" | "X" | "x"),
            parent,
            group,
        };
        if !visit(&stat) {
            break;
        }
    }
    Some(())
}

/// Whether the child `pid` of this process has exited, without reaping it (`WNOWAIT`): its
/// pid stays taken until it is reaped. `false` for a process that is not a child.
pub(crate) fn has_exited(pid: u32) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(
        waitid(Id::Pid(Pid::from_raw(raw)), flags),
        Ok(WaitStatus::StillAlive) | Err(_)
    )
}

/// Reaps every already-exited child of this process that belongs to the group `pgid`.
///
/// Only grandchildren re-parented to this process (see [`enable_child_subreaper`]) can be
/// found here: call it after the group's leader was reaped, so that it cannot take a child
/// that `tokio` is waiting for.
pub(crate) fn reap_group_orphans(pgid: u32) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let Ok(raw) = i32::try_from(pgid) else {
        return;
    };
    loop {
        match waitpid(Pid::from_raw(-raw), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => tracing::debug!(pgid, ?status, "reaped orphaned group member"),
        }
    }
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`), once.
///
/// Without it, a grandchild whose parent (the command's shell, say) died is re-parented to
/// PID 1, and in a container PID 1 may never reap it, leaving a zombie in the command's
/// process group. As a subreaper this process becomes that grandchild's parent, and the
/// runners reap the members of a command's group after its leader ended.
///
/// The setting is process-wide and cannot be scoped, hence opt-in: orphans of processes
/// started by *other* code (a daemon that double-forks, say) also become this process's
/// children, and nothing in this crate reaps those unless they sit in a group it started.
///
/// # Errors
/// The OS error of `prctl`, as an `io::Error` (only on kernels without the feature).
pub fn enable_child_subreaper() -> std::io::Result<()> {
    static RESULT: OnceLock<Result<(), Errno>> = OnceLock::new();
    match RESULT.get_or_init(|| nix::sys::prctl::set_child_subreaper(true)) {
        Ok(()) => Ok(()),
        Err(errno) => Err(std::io::Error::from_raw_os_error(*errno as i32)),
    }
}

/// Blocks until every process of `pids` has ended (any process, not only a child of this one)
/// or `within` has passed; whether they all ended. Each is watched by its pidfd, so the wait
/// ends with the last exit, not at a polling tick. A process that is already gone counts as
/// ended; where a pidfd cannot be had (a kernel before 5.3), the whole of `within` is waited
/// (whoever calls this gives processes that long at the least).
pub fn wait_gone(pids: &[u32], within: std::time::Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = std::time::Instant::now() + within;
    let mut fds = Vec::with_capacity(pids.len());
    for &pid in pids {
        match pidfd_open(pid) {
            Ok(fd) => fds.push(fd),
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
            Err(_) => {
                std::thread::sleep(within);
                return false;
            }
        }
    }
    while !fds.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        if left.is_zero() {
            return false;
        }
        let mut polled: Vec<PollFd<'_>> = fds
            .iter()
            .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        if let Err(error) = poll(&mut polled, PollTimeout::from(ms)) {
            if error != Errno::EINTR {
                std::thread::sleep(left);
                return false;
            }
        }
        let ended: Vec<bool> = polled
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(polled);
        let mut ended = ended.into_iter();
        fds.retain(|_| !ended.next().unwrap_or(false));
    }
    true
}

#[cfg(test)]
mod wait_gone_tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::wait_gone;

    #[test]
    fn waits_for_the_end_of_each_process_or_the_time_given() {
        let mut short = Command::new("sleep").arg("0.2").spawn().unwrap();
        let mut long = Command::new("sleep").arg("100").spawn().unwrap();
        let started = Instant::now();
        assert!(wait_gone(&[short.id()], Duration::from_secs(60)));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the end was not seen"
        );
        assert!(!wait_gone(
            &[long.id(), short.id()],
            Duration::from_millis(100)
        ));
        long.kill().unwrap();
        assert!(wait_gone(&[long.id()], Duration::from_secs(60)));
        let _ = (short.wait(), long.wait());
        // Gone and reaped: nothing to wait for.
        assert!(wait_gone(&[short.id()], Duration::ZERO));
    }
}
