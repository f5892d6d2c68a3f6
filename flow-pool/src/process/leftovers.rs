//! The end of a task in its worker: processes the task started and left running in the
//! worker's process group are stopped (SIGTERM and SIGCONT, the grace period, SIGKILL) and
//! reaped before the worker answers, as a command's are when it ends. The worker is a child
//! subreaper, so every process the task started that has not left the worker's care is its
//! child or a child's descendant: a worker without children (the usual case) has nothing to
//! stop, and finds it out with one `waitpid`.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpgrp, Pid};

use crate::sys::{group_live_members, wait_gone};

/// How long processes get to end after SIGKILL before the worker gives up on them with a
/// warning (only one stopped in the kernel, in uninterruptible sleep, takes that long).
const KILL_LIMIT: Duration = Duration::from_secs(2);

/// How many times members found after SIGKILL (forked while the others were stopped) get
/// SIGKILL in turn.
const KILL_ROUNDS: usize = 5;

/// Stops and reaps the members of this worker's process group other than itself, giving them
/// `grace` after SIGTERM. Processes that left the group (`setsid`, `setpgid`) are left
/// running, as a command's are.
pub(super) fn end_leftovers(grace: Duration) {
    if !reap_children() {
        return;
    }
    let me = std::process::id();
    let group = getpgrp().as_raw().unsigned_abs();
    let others = || {
        let mut members = group_live_members(group).unwrap_or_default();
        members.retain(|&pid| pid != me);
        members
    };
    let left = others();
    if left.is_empty() {
        return;
    }
    tracing::warn!(
        processes = ?left,
        "the task ended with processes it started still running in its worker's process \
         group: they get SIGTERM now; start one that must outlive its task with `setsid`"
    );
    signal_each(&left, Signal::SIGTERM);
    signal_each(&left, Signal::SIGCONT);
    wait_gone(&left, grace);
    reap_children();
    for _ in 0..KILL_ROUNDS {
        let left = others();
        if left.is_empty() {
            return;
        }
        tracing::debug!(?left, "task processes outlived the grace period: SIGKILL");
        signal_each(&left, Signal::SIGKILL);
        wait_gone(&left, KILL_LIMIT);
        reap_children();
    }
    tracing::warn!(processes = ?others(), "processes the task started still run after SIGKILL");
}

fn signal_each(pids: &[u32], signal: Signal) {
    for &pid in pids {
        if let Ok(raw) = i32::try_from(pid) {
            // ESRCH: it ended since it was listed.
            let _ = kill(Pid::from_raw(raw), signal);
        }
    }
}

/// Reaps every child of the worker that ended; whether any child is left. Between tasks
/// nothing of the task should wait for its children any more: a thread the task left
/// waiting on a child would find it reaped here (`ECHILD`), which the crate's README tells
/// tasks not to do.
fn reap_children() -> bool {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return true,
            Ok(status) => tracing::debug!(?status, "worker reaped a process of its task"),
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}
