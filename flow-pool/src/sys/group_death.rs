//! In a worker: the death of its parent takes the worker's whole process group with it, so
//! that the processes a task started do not run on as orphans when the program is killed.
//!
//! # Safety argument
//!
//! The worker installs a handler for [`parent_death_signal`] with `sigaction`. The handler
//! makes one system call, `kill(0, SIGKILL)`, which POSIX lists as async-signal-safe; it
//! allocates nothing, takes no lock and reads no shared state, so it is sound whatever the
//! interrupted code was doing. `sigaction` and `prctl` change only this process's signal
//! table and its parent death signal.
#![allow(unsafe_code)]

use nix::unistd::getppid;

/// The signal a worker gets when its parent dies: the last real-time signal, which neither
/// the C library nor the usual libraries use, so that a task's own handlers do not take it.
fn parent_death_signal() -> libc::c_int {
    libc::SIGRTMAX()
}

/// The handler of [`parent_death_signal`]: SIGKILL to the worker's whole group, itself
/// included.
extern "C" fn kill_own_group(_: libc::c_int) {
    // SAFETY: `kill` is async-signal-safe; pid 0 is this process's group.
    unsafe {
        libc::kill(0, libc::SIGKILL);
    }
}

/// Makes the death of this process's parent (the thread that started it) send SIGKILL to this
/// process's whole group, instead of to this process alone. Call it in a worker, which leads
/// its own group, before it runs a task. If the parent already died, the group is killed now.
///
/// # Errors
/// The OS error of `sigaction` or `prctl`; the parent death signal then stays as it was.
pub(crate) fn kill_own_group_when_parent_dies() -> std::io::Result<()> {
    let parent = getppid();
    let signal = parent_death_signal();
    // SAFETY: a zeroed `sigaction` is a valid "no flags, empty mask" action; the handler is
    // async-signal-safe (see the module documentation).
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = kill_own_group as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut())
    };
    if installed != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; the unused arguments are zero.
    let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if getppid() != parent {
        // The parent died before the new signal took effect.
        kill_own_group(signal);
    }
    Ok(())
}
