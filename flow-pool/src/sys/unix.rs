//! The hooks that run in a forked child before `exec`, the part of the crate's `unsafe` for
//! commands the standard library starts.
//!
//! # Safety argument
//!
//! `pre_exec` closures run in the child between `fork` and `exec`. The parent may have many
//! threads, so only async-signal-safe work is allowed there: no allocation, no locks, no
//! `std::io` printing. The hooks below make three system calls between them, `setsid`,
//! `prctl(PR_SET_PDEATHSIG)` and `getppid`, through nix wrappers that do not allocate, and
//! compare two integers captured by value (a `Copy` signal and a pid computed in the parent
//! before the fork). On failure they return an `io::Error` built from a raw errno, which does
//! not allocate either. The closures own no heap data and touch no shared state, so a lock
//! held by another parent thread at the time of the fork cannot be reached from them.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;

use nix::sys::signal::Signal;
use nix::unistd::{getppid, Pid};

use super::Detach;

/// Starts the child spawned by `command` apart from this process's terminal, as
/// [`spawn`](super::spawn) does: in a new session (its own process group, and no controlling
/// terminal) or, for [`Detach::Group`], in a process group of its own.
pub(crate) fn detach(command: &mut std::process::Command, how: Detach) {
    if how == Detach::Group {
        command.process_group(0);
        return;
    }
    let hook = || -> std::io::Result<()> {
        nix::unistd::setsid()
            .map(drop)
            .map_err(|errno| std::io::Error::from_raw_os_error(errno as i32))
    };
    // SAFETY: see the module documentation: `setsid` is async-signal-safe, and the hook
    // allocates nothing and shares no state with the parent.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Arranges for the child spawned by `command` to receive `death_signal` when the thread that
/// spawned it exits (in practice: when this process dies), and to fail to start if this
/// process already died between `fork` and the `prctl` call.
pub(crate) fn kill_child_when_parent_dies(
    command: &mut std::process::Command,
    death_signal: Signal,
) {
    let parent = Pid::from_raw(i32::try_from(std::process::id()).unwrap_or(i32::MAX));
    let hook = move || -> std::io::Result<()> {
        nix::sys::prctl::set_pdeathsig(death_signal)
            .map_err(|errno| std::io::Error::from_raw_os_error(errno as i32))?;
        if getppid() != parent {
            // The parent died before the prctl took effect: do not start an orphan.
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: see the module documentation: the hook only makes async-signal-safe system
    // calls, allocates nothing and shares no state with the parent.
    unsafe {
        command.pre_exec(hook);
    }
}
