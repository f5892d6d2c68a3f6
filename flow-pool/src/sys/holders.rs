//! Finding the processes that hold a pipe, by the pipe's inode in `/proc/*/fd`: how the runner
//! stops a process that left a stopped command's group but still holds its output.
//!
//! Only a process that holds a pipe's write end and started after the command is taken: one
//! that existed before (a server the command handed its output to, such as a tmux server it
//! talked to) is not the command's, and a process that holds only the read end is this one or
//! a command it is starting (a child holds copies of this process's descriptors until its
//! `execve` closes them).
//!
//! # Safety argument
//!
//! `sysconf(_SC_CLK_TCK)` takes and returns integers.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// At most this many passes over `/proc` (a holder may fork while it is being killed).
const PASSES: usize = 20;

/// The inode of the pipe `fd` is an end of (both ends share it).
pub(crate) fn pipe_inode(fd: RawFd) -> Option<u64> {
    nix::sys::stat::fstat(fd).ok().map(|stat| stat.st_ino)
}

/// SIGKILLs every process but this one, started after `since`, that holds the write end of
/// one of the pipes `inodes`, until none is left (or after a number of passes). Blocks while it
/// reads `/proc`; a process whose descriptors or start this one cannot read is left alone.
pub(crate) fn kill_pipe_holders(inodes: &[u64], since: Instant) {
    let Some(after) = boot_ticks_at(since) else {
        return;
    };
    let links: Vec<String> = inodes.iter().map(|ino| format!("pipe:[{ino}]")).collect();
    for _ in 0..PASSES {
        let found = holders(&links, after);
        if found.is_empty() {
            return;
        }
        for pid in found {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// The clock ticks since boot at `instant` (the unit of a process's start in `/proc`), rounded
/// down and less one tick, for the rounding of both clocks: early rather than late, so that
/// the command's own processes are never left out.
fn boot_ticks_at(instant: Instant) -> Option<u64> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let now: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    // SAFETY: see the module documentation.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u32::try_from(per_second).ok().filter(|&t| t > 0)?;
    // A suspend while the command ran (which `Instant` does not count) makes this late: a
    // holder of the command's may then be left alone, never one that is not its.
    let then = now - instant.elapsed().as_secs_f64();
    Some(((then * f64::from(per_second)) as u64).saturating_sub(1))
}

/// When `pid` started, in clock ticks since boot (field 22 of `/proc/PID/stat`).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which may hold spaces and parentheses: the state
    // is field 3, so the start time is the 20th of these.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// The processes but this one, started at `after` (clock ticks since boot) or later, with a
/// descriptor open for writing whose link is one of `links`. (The mode of a `/proc/PID/fd`
/// link says how the descriptor is open: `w` for writing.)
fn holders(links: &[String], after: u64) -> Vec<Pid> {
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own && pid > 1)
        .filter(|&pid| start_ticks(pid).is_some_and(|start| start >= after))
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    let path = fd.path();
                    std::fs::read_link(&path)
                        .is_ok_and(|target| links.iter().any(|l| target.as_os_str() == l.as_str()))
                        && std::fs::symlink_metadata(&path)
                            .is_ok_and(|link| link.permissions().mode() & 0o200 != 0)
                })
            })
        })
        .filter_map(|pid| i32::try_from(pid).ok().map(Pid::from_raw))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::process::{Command, Stdio};

    use super::*;

    #[test]
    fn the_writers_of_a_pipe_started_since_are_killed_and_no_other_process() {
        let (mut read, write) = std::io::pipe().unwrap();
        // Started before `since`: it holds the pipe too, but is not taken.
        let mut older = Command::new("sleep")
            .arg("300")
            .stdout(write.try_clone().unwrap())
            .spawn()
            .unwrap();
        // Starts are counted in clock ticks (10 ms): the next process must start a few
        // ticks later. This is time passing, not an event that could be awaited.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let since = Instant::now();
        let mut holder = Command::new("sh")
            .args(["-c", "echo ready; exec sleep 300"])
            .stdout(write)
            .spawn()
            .unwrap();
        let mut other = Command::new("sleep")
            .arg("300")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Holds only the read end, as a command being started by this process does.
        let mut reader = Command::new("sleep")
            .arg("300")
            .stdin(read.try_clone().unwrap())
            .spawn()
            .unwrap();
        let mut line = [0u8; 6];
        read.read_exact(&mut line).unwrap();
        let inode = pipe_inode(read.as_raw_fd()).unwrap();
        kill_pipe_holders(&[inode], since);
        assert!(
            holder.wait().unwrap().code().is_none(),
            "killed by a signal"
        );
        for left in [&mut older, &mut other, &mut reader] {
            assert!(
                left.try_wait().unwrap().is_none(),
                "another process is left"
            );
            left.kill().unwrap();
            left.wait().unwrap();
        }
        // This process holds the read end, and is not killed.
    }

    #[test]
    fn a_process_start_is_read_past_a_name_with_spaces_and_parentheses() {
        let start = start_ticks(std::process::id()).unwrap();
        assert!(start > 0);
        // `boot_ticks_at` is up to two ticks early (it rounds down, then takes one off), and
        // this process may have started in this very tick.
        assert!(boot_ticks_at(Instant::now()).unwrap() + 2 >= start);
    }
}
