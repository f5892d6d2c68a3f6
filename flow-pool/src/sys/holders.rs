//! Finding the processes that hold a pipe, by the pipe's inode in `/proc/*/fd`: how the runner
//! stops a process that left a stopped command's group but still holds its output.

use std::os::fd::RawFd;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// At most this many passes over `/proc` (a holder may fork while it is being killed).
const PASSES: usize = 20;

/// The inode of the pipe `fd` is an end of (both ends share it).
pub(crate) fn pipe_inode(fd: RawFd) -> Option<u64> {
    nix::sys::stat::fstat(fd).ok().map(|stat| stat.st_ino)
}

/// SIGKILLs every process but this one that holds an end of one of the pipes `inodes`,
/// until none is left (or after a number of passes). Blocks while it reads `/proc`; a
/// process whose descriptors this one may not read is not found.
pub(crate) fn kill_pipe_holders(inodes: &[u64]) {
    let links: Vec<String> = inodes.iter().map(|ino| format!("pipe:[{ino}]")).collect();
    for _ in 0..PASSES {
        let found = holders(&links);
        if found.is_empty() {
            return;
        }
        for pid in found {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// The processes but this one with a descriptor whose link is one of `links`.
fn holders(links: &[String]) -> Vec<Pid> {
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own && pid > 1)
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|target| links.iter().any(|l| target.as_os_str() == l.as_str()))
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
    fn the_holders_of_a_pipe_are_killed_and_no_other_process() {
        let (mut read, write) = std::io::pipe().unwrap();
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
        let mut line = [0u8; 6];
        read.read_exact(&mut line).unwrap();
        let inode = pipe_inode(read.as_raw_fd()).unwrap();
        kill_pipe_holders(&[inode]);
        assert!(
            holder.wait().unwrap().code().is_none(),
            "killed by a signal"
        );
        assert!(
            other.try_wait().unwrap().is_none(),
            "another process is left"
        );
        other.kill().unwrap();
        other.wait().unwrap();
        // This process holds the read end, and is not killed.
    }
}
