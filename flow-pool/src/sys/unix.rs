//! The hook that runs in a forked child before `exec`, the part of the crate's `unsafe` for
//! the worker processes the standard library starts.
//!
//! # Safety argument
//!
//! `pre_exec` closures run in the child between `fork` and `exec`. The parent may have many
//! threads, so only async-signal-safe work is allowed there: no allocation, no locks, no
//! `std::io` printing. The hook below makes two system calls, `prctl(PR_SET_PDEATHSIG)` and
//! `getppid`, through nix wrappers that do not allocate, and compares two integers captured
//! by value (a `Copy` signal and a pid computed in the parent before the fork). On failure it
//! returns an `io::Error` built from a raw errno, which does not allocate either. The closure
//! owns no heap data and touches no shared state, so a lock held by another parent thread at
//! the time of the fork cannot be reached from it.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;

use nix::sys::signal::Signal;
use nix::unistd::{getppid, Pid};

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
