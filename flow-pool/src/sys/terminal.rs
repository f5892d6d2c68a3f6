//! How a command is kept from the terminal: it must never have a controlling terminal, or a
//! command that opens `/dev/tty` (a password prompt, `stty`) would be stopped by SIGTTIN or
//! SIGTTOU for ever, its process group not being the terminal's foreground one.
//!
//! A process has a controlling terminal only if its session has one. So where this process
//! has none (CI, cron, a batch job, a service, or `flow` once it gave its own up), a process
//! group of its own is enough for a command; only where it has one must each command start
//! a session of its own. A new session costs more than a system call: it is also a new
//! scheduler autogroup (`/proc/sys/kernel/sched_autogroup_enabled`, on by default), which a
//! busy machine schedules apart from the session that started it. Each command then got a
//! share of the CPU of its own, and the runner, which waits on commands, waited behind every
//! other session for its turn: on a loaded machine, `flow run` of short commands took 1.7
//! times as long as the same commands started in process groups (`ab.py` on W4 2,000).
//!
//! A process group in this session is not one in a session of its own in two ways. It is
//! not orphaned (its parent, this process, is in the same session, in another group), so
//! SIGTSTP, SIGTTIN or SIGTTOU that a command sends itself (`kill -TSTP $$`) stops it, as
//! SIGSTOP does, until its timeout or cancel: in a session of its own the kernel dropped
//! them (c88eaf3 completed such a command; now it times out). And the choice is made once,
//! when a runner is made: a session leader without a terminal that later opens one without
//! `O_NOCTTY` (which `std::fs::File::open` does not pass) gets it as its controlling
//! terminal, and the commands it starts after that would have it too.
//!
//! # Safety argument
//!
//! [`give_up_controlling_terminal`] calls `ioctl(fd, TIOCNOTTY)` on a descriptor it opened
//! and still owns, with no argument; the kernel reads nothing from this process's memory.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

/// How a command is started apart from this process's terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detach {
    /// In a session of its own: this process has a controlling terminal.
    Session,
    /// In a process group of its own: this process has no controlling terminal, so neither
    /// has the command.
    Group,
}

impl Detach {
    /// What commands started now need: a session of their own only where this process has a
    /// controlling terminal.
    pub(crate) fn now() -> Self {
        Self::given(controlling_terminal().map(drop), terminal_number)
    }

    /// What commands need, by what opening `/dev/tty` answered and, where that says nothing,
    /// this process's terminal number (`terminal`). Only `ENXIO` says there is no controlling
    /// terminal: `/dev/tty` can fail to open where there is one (`EMFILE` at the open file
    /// limit, `EBUSY` on a terminal in exclusive mode, `ENOENT` in a sandbox without it), and
    /// a command started in a process group of this session would then keep the terminal.
    fn given(opened: io::Result<()>, terminal: impl FnOnce() -> Option<u64>) -> Self {
        match opened {
            Err(error) if error.raw_os_error() == Some(libc::ENXIO) => Detach::Group,
            Err(_) if terminal() == Some(0) => Detach::Group,
            _ => Detach::Session,
        }
    }
}

/// This process's controlling terminal, opened (`/dev/tty` names it; opening it fails with
/// `ENXIO` where there is none).
fn controlling_terminal() -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/tty")
}

/// The device number of this process's controlling terminal, 0 for none (`tty_nr`, the
/// seventh field of `/proc/self/stat`); `None` where it cannot be read.
fn terminal_number() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The name, second, is in parentheses and may hold spaces and parentheses itself.
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(4)?.parse().ok()
}

/// Gives up this process's controlling terminal, if it has one and does not lead its
/// session; returns whether it did. Meant for a program that starts commands and never reads
/// from its terminal (the `flow` binary): its commands can then be started in process groups
/// of their own rather than sessions (see the module documentation).
///
/// Nothing else changes for the program: the terminal still sends its process group SIGINT
/// on Ctrl-C, SIGTSTP, SIGWINCH and, when the shell that leads the session exits, SIGHUP, as
/// these go to the terminal's foreground process group; and it can still write to the
/// terminal through the streams it was given (without being stopped by SIGTTOU when in the
/// background, as the terminal is no longer its own). A session leader keeps its terminal:
/// giving it up would hang up the whole session.
///
/// # Errors
/// The OS error of the `ioctl`.
pub fn give_up_controlling_terminal() -> io::Result<bool> {
    let pid = nix::unistd::getpid();
    if nix::unistd::getsid(None).is_ok_and(|sid| sid == pid) {
        return Ok(false);
    }
    let Ok(terminal) = controlling_terminal() else {
        return Ok(false);
    };
    // SAFETY: see the module documentation: a descriptor we own, and no argument.
    let answer = unsafe { libc::ioctl(terminal.as_raw_fd(), libc::TIOCNOTTY) };
    if answer == 0 {
        Ok(true)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: i32) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(code))
    }

    #[test]
    fn only_a_terminal_known_to_be_absent_lets_commands_do_with_a_process_group() {
        let unread = || None;
        assert_eq!(Detach::given(Ok(()), unread), Detach::Session);
        assert_eq!(Detach::given(error(libc::ENXIO), unread), Detach::Group);
        // `/dev/tty` did not open for another reason: the terminal number says.
        for code in [libc::EMFILE, libc::EBUSY, libc::ENOENT] {
            assert_eq!(Detach::given(error(code), unread), Detach::Session);
            assert_eq!(Detach::given(error(code), || Some(34816)), Detach::Session);
            assert_eq!(Detach::given(error(code), || Some(0)), Detach::Group);
        }
    }

    #[test]
    fn the_terminal_number_agrees_with_dev_tty() {
        let none =
            controlling_terminal().is_err_and(|error| error.raw_os_error() == Some(libc::ENXIO));
        assert_eq!(terminal_number() == Some(0), none);
    }
}
