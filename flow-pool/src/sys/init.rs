//! Standing in for a container's init: when this process is PID 1 of its PID namespace (a
//! container started without `--init`), [`init_if_pid_one`] forks at once; the child goes on
//! as the program, and this process stays the namespace's init, as `tini` and
//! `docker run --init` do: it forwards to the child the signals a user or the container
//! runtime sends, reaps every process that is re-parented to it, and exits with the child's
//! status once the child has ended.
//!
//! Why a second process: an orphan (a command's background job whose shell exited, a
//! process started with `setsid`) is re-parented to PID 1. A program that waits for its own
//! children by their pidfds, as the runners do, never reaps such a process, so zombies would
//! pile up for as long as it runs; reaping them from the same process (`waitpid(-1)`) would
//! take the exit statuses of its own commands from under the runners. A subreaper
//! (`PR_SET_CHILD_SUBREAPER`) changes nothing here: PID 1 already gets every orphan of its
//! namespace, and a forked child must not be one, or orphans would stop at it instead of
//! reaching the init. A PID 1 also never gets a signal it has no handler for (the kernel
//! drops it), so before its handlers are installed and after they are dropped, SIGTERM
//! would not end the program; the child has the usual default actions.
//!
//! # Safety argument
//!
//! - `fork` is called only while this process has a single thread (`/proc/self/task` has
//!   one entry), so the child, which goes on to run the whole program, cannot inherit a lock
//!   that another thread held at the time of the fork.
//! - `signal` sets `SIG_DFL` or `SIG_IGN`, which run none of this process's code.
#![allow(unsafe_code)]

use std::io;

use nix::errno::Errno;
use nix::sys::signal::{kill, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// The signals the init forwards to the program: those a user, a terminal or a container
/// runtime sends to stop, reload or resize it.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// What [`init_if_pid_one`] leaves to its caller.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// Go on as the program: this process is not PID 1, or it is the child of the init.
    Continue,
    /// This process was PID 1 and served as its namespace's init until the program (its
    /// child) ended: exit now with this code, the program's exit code, or 128 + N for a
    /// program killed by signal N (as a shell reports it).
    Exit(u8),
}

/// When this process is PID 1 of its PID namespace, forks: the child returns
/// [`InitOutcome::Continue`] and goes on as the program, with the same standard streams,
/// terminal, process group, signal mask and signal actions as before; this process serves
/// as the namespace's init (see the module documentation) until the child has ended, then
/// returns [`InitOutcome::Exit`]. Any other process gets [`InitOutcome::Continue`] at once.
///
/// Call it first thing in `main`, before any thread starts, lock is taken or file is
/// opened: the init keeps whatever was open then, for as long as the program runs.
///
/// The init forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH to the
/// program (not to its process group). The program shares the init's process group, so a
/// signal a terminal sends to its foreground group (Ctrl-C) reaches it twice, at once and
/// then forwarded: a program that counts stop signals should take two that come within a
/// moment of each other as one.
///
/// # Errors
/// When this process (PID 1) already has more than one thread or `/proc` cannot tell, or
/// when `fork` fails; the process is left as it was and may go on as the program.
pub fn init_if_pid_one() -> io::Result<InitOutcome> {
    if std::process::id() != 1 {
        return Ok(InitOutcome::Continue);
    }
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(|error| io::Error::new(error.kind(), format!("/proc/self/task: {error}")))?
        .count();
    if threads != 1 {
        return Err(io::Error::other(format!(
            "cannot fork an init: this process already has {threads} threads"
        )));
    }
    let waited = {
        let mut set = SigSet::from_iter(FORWARDED);
        set.add(Signal::SIGCHLD);
        set
    };
    // Blocked before the fork, so none of them is lost until the init waits for them; the
    // child gets the mask and the action of SIGCHLD back as they were.
    let mut mask = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), Some(&mut mask))
        .map_err(io::Error::from)?;
    // An ignored SIGCHLD would have the kernel reap the children itself, exit status and all.
    let ignored = super::signal_is_ignored(libc::SIGCHLD);
    if ignored {
        set_sigchld(SigHandler::SigDfl);
    }
    // SAFETY: this process has a single thread (checked above); see the module documentation.
    let forked = unsafe { fork() };
    let restore = || {
        if ignored {
            set_sigchld(SigHandler::SigIgn);
        }
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
    };
    match forked {
        Ok(ForkResult::Child) => {
            restore();
            Ok(InitOutcome::Continue)
        }
        Ok(ForkResult::Parent { child }) => Ok(InitOutcome::Exit(serve(child, &waited))),
        Err(errno) => {
            restore();
            Err(io::Error::from(errno))
        }
    }
}

/// Sets the action of SIGCHLD to `handler`, `SIG_DFL` or `SIG_IGN`.
fn set_sigchld(handler: SigHandler) {
    // SAFETY: `SIG_DFL` and `SIG_IGN` run none of this process's code.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGCHLD, handler) };
}

/// The init's loop: forwards each signal of `waited` but SIGCHLD to `program`, reaps every
/// child that ended at each SIGCHLD, and returns the exit code of `program` once it ended.
fn serve(program: Pid, waited: &SigSet) -> u8 {
    loop {
        match waited.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap_all(program) {
                    return code;
                }
            }
            // To a program that ended but is not reaped yet, it is lost, as it would be.
            Ok(signal) => drop(kill(program, signal)),
            // `sigwait` fails only for a bad set: wait for the program alone, then.
            Err(_) => return wait_for(program),
        }
    }
}

/// Waits for the end of `program` and returns its exit code, reaping nothing else.
fn wait_for(program: Pid) -> u8 {
    loop {
        match waitpid(program, None) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return code;
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => return u8::MAX,
        }
    }
}

/// The exit code a shell reports for a process that ended with `status`: its own, or
/// 128 + N when signal N killed it; `None` for a status that is no end.
fn exit_code(status: WaitStatus) -> Option<u8> {
    match status {
        WaitStatus::Exited(_, code) => Some(u8::try_from(code).unwrap_or(u8::MAX)),
        WaitStatus::Signaled(_, signal, _) => {
            Some(u8::try_from(128 + signal as i32).unwrap_or(u8::MAX))
        }
        _ => None,
    }
}

/// Reaps every child of this process that has ended; the exit code of `program` if it was
/// among them.
fn reap_all(program: Pid) -> Option<u8> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return code,
            Ok(status) if status.pid() == Some(program) => code = exit_code(status).or(code),
            // An orphan reaped.
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_is_not_pid_one_goes_on_at_once() {
        assert_eq!(init_if_pid_one().unwrap(), InitOutcome::Continue);
    }

    #[test]
    fn a_signal_death_is_reported_as_a_shell_does() {
        let pid = Pid::from_raw(7);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 0)), Some(0));
        assert_eq!(exit_code(WaitStatus::Exited(pid, 130)), Some(130));
        let killed = WaitStatus::Signaled(pid, Signal::SIGKILL, false);
        assert_eq!(exit_code(killed), Some(137));
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }
}
