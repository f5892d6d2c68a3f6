//! One writer per workflow and store: `flow run` holds an exclusive `flock` on a lock file
//! beside the store (`.NAME.WORKFLOW.lock` beside a SQLite file, `.lock-WORKFLOW` in a dir
//! store) for the whole run, with the run id and its process id written in it. A second run
//! of the workflow is refused with both; the kernel drops the lock of a process that dies
//! (SIGKILL included), so a stale lock is taken over by the next run. Readers tell a run in
//! progress from one whose process died ("interrupted") by whether the file names the run and
//! is locked, as the kernel lists it ([`crate::liveness`]). A run also binds the
//! lock file's name ([`lock_name`]), so that one whose lock file was deleted under it still
//! refuses the next.
//!
//! `flow run` takes the lock with [`acquire_keeping_holder`]: the file goes on naming its last
//! holder until the run has stopped what that holder, if it died, left running
//! ([`crate::takeover`]), and only then names this run ([`RunLock::name`]). So a run killed
//! while it stops them leaves the dead run named for the next one. Meanwhile a second line
//! names the run taking over ([`Holder::taker`]): the lock is held, but not by the run the
//! first line names, which readers then show as interrupted, not in progress.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use flow_results::StoreSpec;
use nix::fcntl::{Flock, FlockArg};

use crate::error::CliError;
use crate::lock_name::{self, Claim};

/// The lock of a run in progress; dropping it releases it.
#[derive(Debug)]
pub struct RunLock {
    file: Flock<File>,
    path: PathBuf,
    previous: Option<Holder>,
    /// The lock file's name, bound while the lock is held ([`lock_name`]).
    _name: Option<std::os::unix::net::UnixListener>,
}

impl RunLock {
    /// Who held the lock last, as its file said when this process took it over: a run that
    /// ended, or one whose process died (the lock is free either way), or `flow prune`.
    pub fn previous(&self) -> Option<&Holder> {
        self.previous.as_ref()
    }

    /// Writes `holder` and this process's id in the lock file (see [`acquire_keeping_holder`]).
    ///
    /// # Errors
    /// [`CliError::Io`] when the file cannot be written.
    pub fn name(&mut self, holder: &str) -> Result<(), CliError> {
        write_holder(&mut self.file, &self.path, holder)
    }
}

/// The lock of a workflow held for a moment by a command that is no run (`flow prune`): its
/// file names that command while it holds the lock, and its last holder again once it lets
/// go, so that the next run still finds what a dead run left running by it.
#[derive(Debug)]
pub struct Borrowed(RunLock);

/// Takes the lock of `workflow` in `spec` as [`Borrowed`], naming `holder` while it is held.
///
/// # Errors
/// As [`acquire`].
pub fn borrow(
    spec: &StoreSpec,
    workflow: &str,
    holder: &str,
) -> Result<Option<Borrowed>, CliError> {
    Ok(acquire(spec, workflow, holder)?.map(Borrowed))
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        let RunLock {
            file,
            path,
            previous,
            ..
        } = &mut self.0;
        if let Some(previous) = previous {
            if let Err(error) = write_holder_as(file, path, &previous.run, previous.pid) {
                tracing::warn!("{error}");
            }
        }
    }
}

/// A lock taken: the locked file, and who held it last (see [`RunLock::previous`]).
#[derive(Debug)]
pub struct Taken {
    /// The locked file; dropping it releases the lock.
    pub file: Flock<File>,
    /// Who held the lock before, as its file said.
    pub previous: Option<Holder>,
}

/// Who holds a lock: the run and its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The run id as written in the lock file.
    pub run: String,
    /// The process id of its `flow run`.
    pub pid: u32,
    /// The run that took the lock over from it and is stopping what it left (written while
    /// the file still names it: [`acquire_keeping_holder`]); the lock, if held, is that
    /// run's.
    pub taker: Option<String>,
}

/// The lock file of `workflow` in the store `spec`; `None` for the memory store.
pub fn path(spec: &StoreSpec, workflow: &str) -> Option<PathBuf> {
    let name = file_part(workflow);
    match spec {
        StoreSpec::Memory => None,
        StoreSpec::Dir(root) => Some(root.join(format!(".lock-{name}"))),
        StoreSpec::Sqlite(db) => {
            let file = db.file_name()?.to_string_lossy();
            Some(db.with_file_name(format!(".{file}.{name}.lock")))
        }
    }
}

/// `workflow` as part of a file name: letters, digits, `_`, `-` as they are, every other
/// byte as `%XX`, cut to 120 bytes (two long names that share their start share a lock).
fn file_part(workflow: &str) -> String {
    let mut out = String::new();
    for byte in workflow.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
        if out.len() >= 120 {
            break;
        }
    }
    out
}

/// Takes the lock of `workflow` in `spec` for `holder` (a run id, or `flow prune`'s
/// [`LOCK_HOLDER`](crate::commands::prune::LOCK_HOLDER)), or says who holds it.
///
/// # Errors
/// [`CliError::Locked`] when another live process holds it; [`CliError::Io`] when the lock
/// file cannot be made.
pub fn acquire(
    spec: &StoreSpec,
    workflow: &str,
    holder: &str,
) -> Result<Option<RunLock>, CliError> {
    let mut lock = acquire_keeping_holder(spec, workflow, holder)?;
    if let Some(lock) = &mut lock {
        lock.name(holder)?;
    }
    Ok(lock)
}

/// As [`acquire`], but the lock file keeps naming its last holder until [`RunLock::name`]
/// names the new one, with `taker` (the new one) as the [`Holder::taker`] meanwhile.
///
/// # Errors
/// As [`acquire`].
pub fn acquire_keeping_holder(
    spec: &StoreSpec,
    workflow: &str,
    taker: &str,
) -> Result<Option<RunLock>, CliError> {
    let Some(path) = path(spec, workflow) else {
        return Ok(None);
    };
    let mut taken = match lock(&path)? {
        Ok(taken) => taken,
        Err(holder) => return Err(locked_by(spec, workflow, holder)),
    };
    let name = match lock_name::claim(&path) {
        Claim::Held(name) => Some(name),
        Claim::Unavailable => None,
        // The lock file was deleted under the run holding it: this one is new.
        Claim::InUse => {
            let _ = taken.file.set_len(0);
            return Err(CliError::Locked {
                workflow: workflow.to_owned(),
                spec: spec.to_string(),
                by: format!(
                    "another `flow`, whose lock file {} was deleted while it runs",
                    path.display()
                ),
                pid: None,
            });
        }
    };
    if let Some(previous) = &taken.previous {
        // The last holder first, as before; then who holds the lock now.
        let marked = format!("{} {}\ntaker {taker}", previous.run, previous.pid);
        write_holder_as(&mut taken.file, &path, &marked, std::process::id())?;
    }
    Ok(Some(RunLock {
        file: taken.file,
        path,
        previous: taken.previous,
        _name: name,
    }))
}

/// The refusal of the lock of `workflow` in `spec`, which `holder` holds.
fn locked_by(spec: &StoreSpec, workflow: &str, holder: Option<Holder>) -> CliError {
    let by = match &holder {
        None => "another `flow`, which is just starting".to_owned(),
        Some(h) if h.run == crate::commands::prune::LOCK_HOLDER => {
            format!("`flow prune` by process {}", h.pid)
        }
        Some(h) => format!("run {} by process {}", h.run, h.pid),
    };
    CliError::Locked {
        workflow: workflow.to_owned(),
        spec: spec.to_string(),
        by,
        pid: holder.map(|h| h.pid),
    }
}

/// Takes the exclusive `flock` of the file at `path` (made if missing) and writes `holder`
/// and this process's id in it: the locked file with who held it last, or who holds it
/// (`None` while the holder has not written that yet, right after it took it).
///
/// # Errors
/// [`CliError::Io`] when the file cannot be made, locked or written.
pub fn take(path: &Path, holder: &str) -> Result<Result<Taken, Option<Holder>>, CliError> {
    let mut taken = match lock(path)? {
        Ok(taken) => taken,
        Err(holder) => return Ok(Err(holder)),
    };
    write_holder(&mut taken.file, path, holder)?;
    Ok(Ok(taken))
}

/// As [`take`], writing nothing: the file still names who held it last.
fn lock(path: &Path) -> Result<Result<Taken, Option<Holder>>, CliError> {
    let io = |action, source| CliError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io("create the lock file", e))?;
    let mut locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => return Ok(Err(read_holder(&mut file))),
        Err((_, errno)) => return Err(io("lock the lock file", errno.into())),
    };
    let previous = read_holder(&mut locked);
    Ok(Ok(Taken {
        file: locked,
        previous,
    }))
}

/// Writes `holder` and this process's id in the locked file at `path`, in place of what it
/// held.
fn write_holder(locked: &mut Flock<File>, path: &Path, holder: &str) -> Result<(), CliError> {
    write_holder_as(locked, path, holder, std::process::id())
}

/// Writes `holder` and `pid` in the locked file.
fn write_holder_as(
    locked: &mut Flock<File>,
    path: &Path,
    holder: &str,
    pid: u32,
) -> Result<(), CliError> {
    let written = locked
        .set_len(0)
        .and_then(|()| locked.rewind())
        .and_then(|()| writeln!(locked, "{holder} {pid}"));
    written.map_err(|source| CliError::Io {
        action: "write the lock file",
        path: path.to_owned(),
        source,
    })
}

/// Who the lock file at `path` names as its holder, whether or not it holds the lock still
/// (whether it does is [`crate::liveness`]'s to tell). Reads only.
pub fn named(path: &Path) -> Option<Holder> {
    read_holder(&mut File::open(path).ok()?)
}

/// The holder a lock file names: `RUN PID` on its first line, and on a second, while a run
/// takes over from it, `taker RUN PID` ([`acquire_keeping_holder`]).
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    let mut lines = text.trim().lines();
    let (run, pid) = lines.next()?.split_once(' ')?;
    let taker = (lines.next())
        .and_then(|line| line.strip_prefix("taker "))
        .and_then(|rest| rest.split_once(' '))
        .map(|(run, _)| run.to_owned());
    Some(Holder {
        run: run.to_owned(),
        pid: pid.parse().ok()?,
        taker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_sit_beside_the_store_with_a_safe_name() {
        let sqlite = StoreSpec::Sqlite("/x/.flow/flow.db".into());
        assert_eq!(
            path(&sqlite, "nightly build/1").unwrap(),
            PathBuf::from("/x/.flow/.flow.db.nightly%20build%2F1.lock")
        );
        let dir = StoreSpec::Dir("/r".into());
        assert_eq!(path(&dir, "etl").unwrap(), PathBuf::from("/r/.lock-etl"));
        assert_eq!(path(&StoreSpec::Memory, "etl"), None);
        assert!(file_part(&"é".repeat(200)).len() <= 123);
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_a_released_one_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::Sqlite(dir.path().join("flow.db"));
        let run = flow_results::RunId::new_now();
        let lock = acquire(&spec, "w", run.as_str()).unwrap().unwrap();
        let held = named(&path(&spec, "w").unwrap()).unwrap();
        assert_eq!(held.run, run.to_string());
        assert_eq!(held.pid, std::process::id());
        let err = acquire(&spec, "w", "another").unwrap_err();
        assert!(matches!(err, CliError::Locked { pid, .. } if pid == Some(std::process::id())));
        assert!(
            err.to_string().contains(&format!(": run {run} by process")),
            "{err}"
        );
        assert!(acquire(&spec, "other", "another").is_ok());
        drop(lock);
        let pruning = acquire(&spec, "w", crate::commands::prune::LOCK_HOLDER).unwrap();
        // Who held it last is told to the next holder.
        let last = pruning.as_ref().and_then(RunLock::previous).unwrap();
        assert_eq!(
            (last.run.as_str(), last.pid),
            (run.as_str(), std::process::id())
        );
        let err = acquire(&spec, "w", "another").unwrap_err();
        assert!(
            err.to_string().contains(": `flow prune` by process"),
            "{err}"
        );
        drop(pruning);
        // Taken, and who holds it not written yet: no process 0 is named.
        let taken = acquire(&spec, "w", "another").unwrap();
        std::fs::write(path(&spec, "w").unwrap(), "").unwrap();
        let err = acquire(&spec, "w", "third").unwrap_err();
        assert!(matches!(err, CliError::Locked { pid: None, .. }), "{err}");
        assert!(
            err.to_string()
                .contains(": another `flow`, which is just starting"),
            "{err}"
        );
        drop(taken);
        assert!(acquire(&spec, "w", "another").unwrap().is_some());
    }

    #[test]
    fn a_lock_taken_keeping_its_holder_names_the_last_one_until_named() {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::Sqlite(dir.path().join("flow.db"));
        let file = path(&spec, "w").unwrap();
        drop(acquire(&spec, "w", "dead").unwrap());
        let dead_pid = named(&file).unwrap().pid;
        let mut lock = acquire_keeping_holder(&spec, "w", "next").unwrap().unwrap();
        assert_eq!(lock.previous().unwrap().run, "dead");
        // Held, and still naming the last holder: a run killed now leaves it named; the
        // run that holds the lock is named as its taker.
        let held = named(&file).unwrap();
        assert_eq!(
            (held.run.as_str(), held.pid, held.taker.as_deref()),
            ("dead", dead_pid, Some("next"))
        );
        let err = acquire(&spec, "w", "third").unwrap_err();
        assert!(matches!(err, CliError::Locked { .. }), "{err}");
        lock.name("next").unwrap();
        let holder = named(&file).unwrap();
        assert_eq!(
            (holder.run.as_str(), holder.pid, holder.taker),
            ("next", std::process::id(), None)
        );
        drop(lock);
        let after = acquire_keeping_holder(&spec, "w", "third")
            .unwrap()
            .unwrap();
        assert_eq!(after.previous().unwrap().run, "next");
    }

    /// `flow prune` names itself while it holds a workflow's lock, and the last run again
    /// once it lets go: the next run still finds a dead run's processes by it.
    #[test]
    fn a_borrowed_lock_names_the_last_holder_again_when_it_is_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::Sqlite(dir.path().join("flow.db"));
        let file = path(&spec, "w").unwrap();
        drop(acquire(&spec, "w", "dead").unwrap());
        let pid = named(&file).unwrap().pid;
        let borrowed = borrow(&spec, "w", "prune").unwrap().unwrap();
        assert_eq!(named(&file).unwrap().run, "prune");
        assert!(acquire(&spec, "w", "another").is_err(), "held");
        drop(borrowed);
        let named = named(&file).unwrap();
        assert_eq!((named.run.as_str(), named.pid), ("dead", pid));
    }
}
