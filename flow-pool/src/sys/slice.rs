//! A short scheduler time slice for the thread that starts and watches commands.
//!
//! # Why
//!
//! Linux's scheduler (EEVDF, since 6.6) lets a thread that wakes up run before the one on
//! the CPU only if its deadline comes first, and a deadline is a time slice away. With the
//! default slice (about 1.4 ms on two cores), the thread that runs a workflow's commands
//! wakes when a command ends or a new one has started, and then often waits behind a
//! command for the rest of that command's slice, while a core it could use stays idle. On
//! 10,000 short commands, two at a time, that made `flow run` 1.5 times slower than a plain
//! spawn loop, in runs where it happened from the start (the kernel then kept placing new
//! commands on the busy core). Since Linux 6.12, a thread may ask for a shorter slice
//! (`sched_attr.sched_runtime`, 0.1 to 100 ms): it then runs as soon as it wakes, for a
//! short while, which is what a thread that mostly waits and reacts needs.
//!
//! Children must not inherit it: `SCHED_FLAG_RESET_ON_FORK` gives them the default slice,
//! so commands are scheduled as if started from a shell.
//!
//! # Safety argument
//!
//! The first `unsafe` block calls `sched_setattr(0, &attr, 0)` on the calling thread with a
//! `#[repr(C)]` struct laid out as the kernel's `struct sched_attr` (`SCHED_ATTR_SIZE_VER0`,
//! 48 bytes, its size in its first field). The kernel only reads it, and the reference
//! lives across the call. The second reads the thread's nice value with `getpriority`.
#![allow(unsafe_code)]

use std::time::Duration;

/// The kernel's `struct sched_attr`, first version (48 bytes).
#[repr(C)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// `SCHED_OTHER`: the normal policy, which the thread keeps.
const SCHED_OTHER: u32 = 0;
/// Children of the thread get the default policy and slice.
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

/// Asks for a time slice of `slice` (clamped by the kernel to 0.1–100 ms) for the calling
/// thread, keeping its policy and nice value; the processes it starts get the default slice.
///
/// Meant for the one thread that starts commands and reacts to their ends (`flow run` calls
/// it on the thread of its runtime). The thread then runs as soon as it wakes instead of
/// queueing behind a command (see the module documentation).
///
/// # Errors
/// The OS error when the kernel refuses: a kernel older than 6.12 ignores the slice and
/// accepts, and one without `sched_setattr` (before 3.14) answers `ENOSYS`. Either way the
/// thread runs as before, only not as soon.
pub fn use_short_slice(slice: Duration) -> std::io::Result<()> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: SCHED_OTHER,
        sched_flags: SCHED_FLAG_RESET_ON_FORK,
        sched_nice: nice_of_this_thread(),
        sched_priority: 0,
        sched_runtime: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: see the module documentation: `attr` is a valid `struct sched_attr` that the
    // kernel only reads during the call; pid 0 is the calling thread.
    let answer = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, std::ptr::from_ref(&attr), 0) };
    if answer == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The calling thread's nice value (`sched_setattr` sets it too, so it is passed back as it
/// is: a `nice flow run` stays nice).
fn nice_of_this_thread() -> i32 {
    // SAFETY: `getpriority` only reads the calling thread's nice value (who 0 = this thread
    // on Linux, where nice values are per thread). -1 is also a valid answer, so errors are
    // not told apart: with who 0 it cannot fail.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `se.slice` line of a `/proc/.../sched` file, in nanoseconds.
    fn slice_in(sched: &str) -> u64 {
        let line = sched
            .lines()
            .find(|l| l.starts_with("se.slice"))
            .expect("this kernel shows no se.slice: it is older than EEVDF (6.6)");
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    }

    #[test]
    fn the_thread_gets_the_slice_and_its_children_do_not() {
        std::thread::spawn(|| {
            let before = slice_in(&std::fs::read_to_string("/proc/thread-self/sched").unwrap());
            use_short_slice(Duration::from_micros(100)).unwrap();
            let now = slice_in(&std::fs::read_to_string("/proc/thread-self/sched").unwrap());
            if now == before && std::env::var_os("CI").is_none() {
                // Linux 6.6 to 6.11 accept the call and keep the default slice.
                eprintln!("skipping: this kernel has no per-thread slices (Linux 6.12 and later)");
                return;
            }
            assert_eq!(
                now, 100_000,
                "the thread's slice (CI runs on Linux 6.12 or later)"
            );
            let child = std::process::Command::new("cat")
                .arg("/proc/self/sched")
                .output()
                .unwrap();
            assert!(child.status.success());
            let child = slice_in(&String::from_utf8_lossy(&child.stdout));
            assert_eq!(child, before, "a child has the default slice");
        })
        .join()
        .unwrap();
    }
}
