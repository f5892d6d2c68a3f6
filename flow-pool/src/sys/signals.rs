//! Signal actions and masks of this process: whether one is ignored, its default action back,
//! blocking one and taking it while it is pending.
#![allow(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;

/// Whether this process ignores `signal` now (`SIG_IGN`); also `true` for a number that is
/// not a signal. A program started with `nohup` ignores SIGHUP, for one.
pub fn signal_is_ignored(signal: libc::c_int) -> bool {
    let mut current = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: `sigaction` with a null new action only writes the current one into
    // `current`, which is zeroed first.
    unsafe {
        libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) != 0
            || current.assume_init().sa_sigaction == libc::SIG_IGN
    }
}

/// Puts `signal` back to its default action (for SIGINT and SIGTERM: ending this process)
/// and unblocks it, dropping whatever handler this process had installed for it.
///
/// # Errors
/// `EINVAL` for a number that is not a signal or one whose action cannot change (SIGKILL).
pub fn restore_default_action(signal: libc::c_int) -> io::Result<()> {
    let default = default_action();
    // SAFETY: `default` is a valid action that runs none of our code.
    let rc = unsafe { libc::sigaction(signal, &default, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    unblock(signal)
}

/// The default action (`SIG_DFL`, an empty mask, no flags), which runs none of our code.
/// Async-signal-safe: a vfork child uses it.
pub(super) fn default_action() -> libc::sigaction {
    let mut default = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a zeroed `sigaction` with `SIG_DFL` (0) as its handler is valid once its mask is
    // initialised, which `sigemptyset` does.
    unsafe {
        libc::sigemptyset(&mut (*default.as_mut_ptr()).sa_mask);
        (*default.as_mut_ptr()).sa_sigaction = libc::SIG_DFL;
        default.assume_init()
    }
}

/// Whether `signal` keeps its action whatever a command is started with: SIGKILL and SIGSTOP
/// (no action can be set), and glibc's own signals between 32 and `SIGRTMIN` (left to glibc).
/// Async-signal-safe: a vfork child uses it.
pub(super) fn keeps_its_action(signal: libc::c_int) -> bool {
    (32..libc::SIGRTMIN()).contains(&signal) || signal == libc::SIGKILL || signal == libc::SIGSTOP
}

/// Unblocks `signal` in this thread (and so in the threads it starts later), whatever mask
/// this process was started with: a signal it means to handle must arrive.
///
/// # Errors
/// `EINVAL` for a number that is not a signal.
pub fn unblock(signal: libc::c_int) -> io::Result<()> {
    let set = one_signal(signal)?;
    // SAFETY: `set` is initialised; a null old set is allowed.
    check(unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) })
}

/// Blocks `signal` in this thread (and so in the threads it starts later): one that comes
/// meanwhile waits, pending, until it is unblocked ([`unblock`]) or taken ([`take_pending`]).
/// Commands started later get an empty mask all the same.
///
/// # Errors
/// `EINVAL` for a number that is not a signal.
pub fn block(signal: libc::c_int) -> io::Result<()> {
    let set = one_signal(signal)?;
    // SAFETY: `set` is initialised; a null old set is allowed.
    check(unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) })
}

/// Takes `signal` if it is pending, for this thread or the process (it is pending only while
/// every thread blocks it: see [`block`]), without waiting; whether it was. Taken, it is gone:
/// no handler runs for it when it is unblocked.
///
/// # Errors
/// `EINVAL` for a number that is not a signal.
pub fn take_pending(signal: libc::c_int) -> io::Result<bool> {
    let set = one_signal(signal)?;
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: `set` and `now` are initialised and only read; a null info is allowed.
        let taken = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &now) };
        if taken == signal {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(false),
            // Another signal's handler ran meanwhile.
            Some(libc::EINTR) => continue,
            _ => return Err(error),
        }
    }
}

/// The set of `signal` alone.
fn one_signal(signal: libc::c_int) -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises the set before `sigaddset` changes it, and only an
    // initialised set is returned.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        if libc::sigaddset(set.as_mut_ptr(), signal) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(set.assume_init())
    }
}

/// A libc error code as a result.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mask `name` (`SigCgt`, `SigBlk`) of this thread, from `/proc/thread-self/status`.
    fn mask(name: &str) -> u64 {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let mask = (status.lines())
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap();
        u64::from_str_radix(mask.trim(), 16).unwrap()
    }

    /// A handled signal goes back to its default action, and a blocked one is unblocked.
    #[test]
    fn a_signal_gets_its_default_action_back_and_is_unblocked() {
        let bit = 1u64 << (libc::SIGUSR2 - 1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handler = runtime.block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2())
        });
        assert!(handler.is_ok());
        assert_eq!(mask("SigCgt") & bit, bit, "handled");
        let blocked = nix::sys::signal::SigSet::from(nix::sys::signal::Signal::SIGUSR2);
        blocked.thread_block().unwrap();
        assert_eq!(mask("SigBlk") & bit, bit, "blocked");
        restore_default_action(libc::SIGUSR2).unwrap();
        assert_eq!(mask("SigCgt") & bit, 0, "no handler");
        assert_eq!(mask("SigBlk") & bit, 0, "unblocked");
        assert!(!signal_is_ignored(libc::SIGUSR2));
    }

    /// A blocked signal that came is pending until it is taken, once; none is taken before.
    /// (SIGWINCH: no other test of this crate uses it, and it is ignored by default.)
    #[test]
    fn a_blocked_signal_is_taken_once() {
        let bit = 1u64 << (libc::SIGWINCH - 1);
        block(libc::SIGWINCH).unwrap();
        assert_eq!(mask("SigBlk") & bit, bit, "blocked");
        assert!(!take_pending(libc::SIGWINCH).unwrap(), "none came");
        // SAFETY: `raise` sends the signal to this thread, which blocks it: no handler runs.
        assert_eq!(unsafe { libc::raise(libc::SIGWINCH) }, 0);
        assert!(take_pending(libc::SIGWINCH).unwrap(), "the one that came");
        assert!(!take_pending(libc::SIGWINCH).unwrap(), "taken once");
        unblock(libc::SIGWINCH).unwrap();
        assert_eq!(mask("SigBlk") & bit, 0, "unblocked");
    }
}
