//! Whether the `flow run` of a run is alive: the one rule by which readers (`flow runs`,
//! `results`, `logs`, `report`, through [`crate::run_state`]) tell a run in progress from an
//! interrupted one, and by which a run that takes over ([`crate::takeover`]) stops the
//! processes of a run only once its `flow run` is gone.
//!
//! The evidence, the most exact first:
//! - **The lock.** A `flow run` holds its workflow's lock ([`crate::run_lock`]) from its start
//!   to its end, and the kernel lets go of it when the process dies. When the lock file names
//!   the run, the run is alive exactly while `/proc/locks` lists the file (by device and
//!   inode) or its name ([`crate::lock_name`]) is bound, whatever process id the file holds.
//!   Nothing is locked to look, so a run starting at that moment is not refused.
//! - **The recorded process**, where the kernel's list cannot be read, or says nothing of the
//!   run (a run taking over a copied lock file: the run it names locked another file). The
//!   process id recorded for the run (its lock file's, its `flow.pid`) is its `flow run` only
//!   if that process is alive (not a zombie, not a kernel thread) and started no later than the
//!   run: process ids are reused, and a process that started after the run began is another.
//!   "The run began" is its recorded start (wall clock, a second of slack for a clock that was
//!   set), compared with the process's start in the kernel's clock ticks since boot; a process
//!   that runs `flow` and started before the run's first process found counts too (the clock
//!   may have been set back since).
//! - **The run's processes' ancestors.** A process of the run (found by its `FLOW_RUN_ID`) that
//!   descends from a live `flow` (named `flow`, or running this executable) that started no
//!   later than the run belongs to a live run, whatever process id was recorded (one of another
//!   pid namespace, or none).
//!
//! # Caveats
//! `/proc/locks` lists only the locks whose holder this process's pid namespace sees: a reader
//! in a container sees the lock of a run on the host as free (its name, where the network
//! namespace is shared, still shows it held). A dead run whose processes were adopted by a
//! `flow` that is a container's first process (pid 1 adopts orphans) counts as alive.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The clock of the recorded start may have been set forward by this much since the run began.
const CLOCK_SLACK: Duration = Duration::from_secs(1);
/// How far up a process's parents are followed.
const MAX_DEPTH: usize = 256;
/// `PF_KTHREAD` in `/proc/PID/stat`'s flags.
const KERNEL_THREAD: u64 = 0x0020_0000;

/// What the kernel says of the lock file that names a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lock {
    /// A process holds it.
    Held,
    /// No process holds it: the kernel's list of locks was read and does not have it.
    Free,
    /// Nobody can tell: the list cannot be read, or the file is not the run's own.
    #[default]
    Unknown,
}

/// What the kernel says of the lock file at `path`: held when `/proc/locks` lists a `flock`
/// of its device and inode or its name is bound ([`crate::lock_name::bound`]), free when
/// neither, unknown when the list cannot be read or lists only a lock of the same inode on
/// another device (btrfs shows a subvolume's files on a device of their own).
pub fn lock_state(path: &Path) -> Lock {
    let Ok(meta) = std::fs::metadata(path) else {
        return Lock::Unknown;
    };
    let listed = std::fs::read_to_string("/proc/locks").map(|t| listed(&t, meta.dev(), meta.ino()));
    match listed {
        Ok(Listed::Exactly) => Lock::Held,
        _ if crate::lock_name::bound(path) == Some(true) => Lock::Held,
        Ok(Listed::No) => Lock::Free,
        Ok(Listed::InodeOnly) | Err(_) => Lock::Unknown,
    }
}

/// Whether a table as `/proc/locks` shows it has a `flock` held on a file.
#[derive(Debug, PartialEq, Eq)]
enum Listed {
    Exactly,
    InodeOnly,
    No,
}

/// Whether `table` (`/proc/locks`) lists a `flock` held on the file of device `dev` and
/// inode `ino` (`N: FLOCK  ADVISORY  WRITE PID MAJOR:MINOR:INODE 0 EOF`, the numbers of the
/// device in hexadecimal; a process waiting for a lock has `->` after `N:`).
fn listed(table: &str, dev: u64, ino: u64) -> Listed {
    use nix::sys::stat::{major, minor};
    let file = format!("{:02x}:{:02x}:{ino}", major(dev), minor(dev));
    let inode = format!(":{ino}");
    let mut found = Listed::No;
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            continue;
        }
        match fields.get(5) {
            Some(id) if *id == file => return Listed::Exactly,
            Some(id) if id.ends_with(&inode) => found = Listed::InodeOnly,
            _ => {}
        }
    }
    found
}

/// What is known of a run whose end is not recorded, to tell whether its `flow run` lives.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// What the kernel says of the lock file that names the run.
    pub lock: Lock,
    /// The process ids recorded as the run's `flow run` (its lock file's, its `flow.pid`).
    pub pids: Vec<u32>,
    /// When the run began, as recorded.
    pub started: Option<DateTime<Utc>>,
    /// The run's processes (found by their `FLOW_RUN_ID`), if they were looked for.
    pub processes: Vec<u32>,
}

impl Evidence {
    /// Whether the run's `flow run` may be alive (see the module): held lock, yes; free lock,
    /// no; else whether a recorded process, or an ancestor of one of the run's processes, can
    /// be it.
    pub fn alive(&self) -> bool {
        match self.lock {
            Lock::Held => return true,
            Lock::Free => return false,
            Lock::Unknown => {}
        }
        let processes: Vec<Process> = self
            .processes
            .iter()
            .filter_map(|&p| Process::read(p))
            .collect();
        // Process ids are reused: a process that started after the run began is not its
        // `flow run`, unless it runs `flow` and started before the run's first process found
        // (its clock may have been set back since the run began).
        let recorded = (self.started).and_then(|t| Clock::read()?.ticks_at(t + CLOCK_SLACK));
        let first = processes.iter().map(|p| p.started).min();
        let began = recorded.or(first);
        let this_exe = executable(Path::new("/proc/self/exe"));
        let could_be = |process: &Process| {
            process.live()
                && !process.kernel_thread
                && (began.is_none_or(|t| process.started <= t)
                    || first.is_some_and(|t| process.started <= t) && runs_flow(process, this_exe))
        };
        self.pids
            .iter()
            .filter_map(|&pid| Process::read(pid))
            .any(|p| could_be(&p))
            || descends_from_flow(&processes, this_exe, could_be)
    }
}

/// Whether `process` runs `flow`: it is named so, or runs `this_exe` (this executable).
fn runs_flow(process: &Process, this_exe: Option<(u64, u64)>) -> bool {
    process.name == "flow"
        || this_exe.is_some()
            && executable(&Path::new("/proc").join(process.pid.to_string()).join("exe")) == this_exe
}

/// Whether one of `processes` descends from a process that is not one of them, that
/// `could_be` the run's `flow run`, and that runs `flow`.
fn descends_from_flow(
    processes: &[Process],
    this_exe: Option<(u64, u64)>,
    could_be: impl Fn(&Process) -> bool,
) -> bool {
    let own: HashMap<u32, &Process> = processes.iter().map(|p| (p.pid, p)).collect();
    let mut seen = HashSet::new();
    for process in processes {
        let mut parent = process.parent;
        for _ in 0..MAX_DEPTH {
            if parent <= 1 || !seen.insert(parent) {
                break;
            }
            if let Some(of_run) = own.get(&parent) {
                parent = of_run.parent;
                continue;
            }
            let Some(ancestor) = Process::read(parent) else {
                break;
            };
            if runs_flow(&ancestor, this_exe) && could_be(&ancestor) {
                return true;
            }
            parent = ancestor.parent;
        }
    }
    false
}

/// The device and inode of the executable `/proc/PID/exe` links to.
fn executable(link: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(link).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether process `pid` is alive: it exists and is not a zombie waiting to be reaped.
pub fn process_alive(pid: u32) -> bool {
    Process::read(pid).is_some_and(|p| p.live())
}

/// A process as `/proc/PID/stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Process {
    pid: u32,
    parent: u32,
    /// Its name in the kernel (`comm`).
    name: String,
    /// Its state's letter (`Z` for a zombie).
    state: char,
    kernel_thread: bool,
    /// When it started, in clock ticks since boot.
    started: u64,
}

impl Process {
    fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Self::parse(pid, &stat)
    }

    /// `PID (NAME) STATE PPID ...`: the name may hold spaces and parentheses, so the fields
    /// are counted from the last `)`; flags are the 9th field, the start the 22nd.
    fn parse(pid: u32, stat: &str) -> Option<Self> {
        let (head, rest) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let flags: u64 = fields.get(6)?.parse().ok()?;
        Some(Process {
            pid,
            parent: fields.get(1)?.parse().ok()?,
            name,
            state: fields.first()?.chars().next()?,
            kernel_thread: flags & KERNEL_THREAD != 0,
            started: fields.get(19)?.parse().ok()?,
        })
    }

    /// Not a zombie, nor dead.
    fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// The kernel's clock of process starts: ticks since boot.
struct Clock {
    ticks_per_second: u64,
    boot: DateTime<Utc>,
}

impl Clock {
    /// The time of boot is now less the time since boot (`/proc/uptime`, which counts the
    /// time asleep, as process starts do).
    fn read() -> Option<Self> {
        let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
        let seconds: f64 = uptime.split_whitespace().next()?.parse().ok()?;
        let up = chrono::TimeDelta::from_std(Duration::try_from_secs_f64(seconds).ok()?).ok()?;
        let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|t| u64::try_from(t).ok())
            .filter(|&t| t > 0)?;
        Some(Clock {
            ticks_per_second,
            boot: Utc::now() - up,
        })
    }

    /// `time` in ticks since boot (0 for a time before it).
    fn ticks_at(&self, time: DateTime<Utc>) -> Option<u64> {
        let since = (time - self.boot).to_std().unwrap_or_default();
        let ticks = since.as_millis() * u128::from(self.ticks_per_second) / 1000;
        u64::try_from(ticks).ok()
    }
}

#[cfg(test)]
#[path = "tests_liveness.rs"]
mod tests;
