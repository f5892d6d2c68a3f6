//! Starting a command: the one rule that makes a [`CommandSpec`] into a program path, its
//! arguments, its environment and its working directory ([`prepare`]), and the [`Child`] that
//! is awaited until it ends.
//!
//! A command is started from that preparation by `sys::spawn` (a vfork, as `posix_spawn`
//! does), whatever its spec and [`ParentDeath`] ask. A file the kernel cannot run (a script
//! without `#!`) is run by `/bin/sh`, as `execvp` does.

use std::borrow::Cow;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, OnceLock};

use nix::sys::signal::Signal;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

use crate::command::runner::ParentDeath;
use crate::command::spawn_error::spawn_error;
use crate::command::spec::{check_name, CommandSpec, EnvBase, EnvChange, Program};
use crate::sys;
use crate::PoolError;

/// Where `PATH` lookups go when a command's environment has no `PATH` (glibc's default).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// What commands inherit from this process as it was when a runner was made: the environment
/// [`EnvBase::Inherit`] starts from, its ignored signals, and whether it had a controlling
/// terminal (which says how commands are kept from it). Shared by a runner's clones.
#[derive(Debug, Clone)]
pub(crate) struct Environment {
    variables: Arc<[Variable]>,
    signals: sys::SignalDefaults,
    detach: sys::Detach,
}

/// One variable as `execve` wants it, `KEY=value`, and the length of its key.
#[derive(Debug)]
struct Variable {
    entry: CString,
    key_len: usize,
}

impl Variable {
    fn key(&self) -> &[u8] {
        &self.entry.to_bytes()[..self.key_len]
    }
}

impl Environment {
    /// This process's environment now, as `KEY=value` strings (a key that appears twice keeps
    /// its first value, as `getenv` reads it), its ignored signals now, and whether it has a
    /// controlling terminal now.
    pub(crate) fn capture() -> Self {
        let mut seen = std::collections::HashSet::new();
        let entries: Vec<Variable> = std::env::vars_os()
            .filter(|(key, _)| seen.insert(key.clone()))
            .filter_map(|(key, value)| {
                let entry = entry(key.as_bytes(), value.as_bytes()).ok()?;
                Some(Variable {
                    entry,
                    key_len: key.len(),
                })
            })
            .collect();
        Environment {
            variables: entries.into(),
            signals: sys::SignalDefaults::capture(),
            detach: sys::Detach::now(),
        }
    }
}

/// `KEY=value` as a C string; an error if either holds a NUL byte.
fn entry(key: &[u8], value: &[u8]) -> io::Result<CString> {
    let mut bytes = Vec::with_capacity(key.len() + value.len() + 2);
    bytes.extend_from_slice(key);
    bytes.push(b'=');
    bytes.extend_from_slice(value);
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "environment variable `{}` holds a NUL byte",
                String::from_utf8_lossy(key)
            ),
        )
    })
}

/// The key and the value of a `KEY=value` entry.
fn split_entry(entry: &CStr) -> (&[u8], &[u8]) {
    let bytes = entry.to_bytes();
    match bytes.iter().position(|&b| b == b'=') {
        Some(end) => (&bytes[..end], &bytes[end + 1..]),
        None => (bytes, &[]),
    }
}

/// A spec made ready to start: what `execve` gets.
struct Prepared<'a> {
    /// The program's path: `argv[0]` itself when it holds a `/`, else found in `PATH`.
    path: CString,
    argv: Vec<CString>,
    /// The inherited entries are borrowed from the runner's [`Environment`].
    envp: Vec<Cow<'a, CStr>>,
    cwd: Option<CString>,
    /// The signals the command gets at their default action (the runner's).
    signals: &'a sys::SignalDefaults,
    /// How it is kept from the terminal (the runner's).
    detach: sys::Detach,
}

/// Makes `spec` ready to start, with `inherited` as the environment it inherits.
///
/// The environment is the base (`inherited`, or nothing) with the spec's changes applied in
/// order. A program name without a `/` is looked up in that environment's `PATH` (or
/// `/bin:/usr/bin` without one), as `execvp` does; a relative entry of `PATH` and a relative
/// program path are taken from the command's working directory.
fn prepare<'a>(spec: &CommandSpec, inherited: &'a Environment) -> io::Result<Prepared<'a>> {
    let program = spec.program.name();
    let argv: Vec<&str> = match &spec.program {
        Program::Argv(argv) => argv.iter().map(String::as_str).collect(),
        Program::Shell(script) => vec![program, "-c", script],
    };
    let argv = argv
        .into_iter()
        .map(|arg| CString::new(arg).map_err(|_| nul_error("an argument")))
        .collect::<io::Result<Vec<_>>>()?;
    // The last change to a key wins: `Some(value)` sets it, `None` removes it.
    let mut changed: Vec<(&str, Option<&[u8]>)> = Vec::with_capacity(spec.env.changes.len());
    for change in &spec.env.changes {
        let (key, value) = match change {
            EnvChange::Set(key, value) => (key.as_str(), Some(value.as_bytes())),
            EnvChange::SetOs(key, value) => (key.as_str(), Some(value.as_bytes())),
            EnvChange::Remove(key) => (key.as_str(), None),
        };
        check_name(key)?;
        match changed.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => changed.push((key, value)),
        }
    }
    let base: &[Variable] = match spec.env.base {
        EnvBase::Inherit => &inherited.variables,
        EnvBase::Empty => &[],
    };
    let mut envp: Vec<Cow<'a, CStr>> = Vec::with_capacity(base.len() + changed.len());
    envp.extend(
        base.iter()
            .filter(|v| !changed.iter().any(|(k, _)| k.as_bytes() == v.key()))
            .map(|v| Cow::Borrowed(v.entry.as_c_str())),
    );
    for (key, value) in &changed {
        if let Some(value) = value {
            envp.push(Cow::Owned(entry(key.as_bytes(), value)?));
        }
    }
    let cwd = match &spec.cwd {
        Some(dir) => Some(
            CString::new(dir.as_os_str().as_bytes())
                .map_err(|_| nul_error("the working directory"))?,
        ),
        None => None,
    };
    let path = if program.contains('/') {
        CString::new(program).map_err(|_| nul_error("the program"))?
    } else {
        let search = envp
            .iter()
            .map(|e| split_entry(e))
            .find(|(key, _)| *key == b"PATH")
            .map_or(DEFAULT_PATH, |(_, value)| value);
        find_program(program, search, spec.cwd.as_deref())?
    };
    Ok(Prepared {
        path,
        argv,
        envp,
        cwd,
        signals: &inherited.signals,
        detach: inherited.detach,
    })
}

impl<'a> Prepared<'a> {
    /// The same command as a script of `/bin/sh`: `/bin/sh PATH ARGS...`.
    fn through_shell(&self) -> Prepared<'a> {
        let shell = c"/bin/sh".to_owned();
        let mut argv = Vec::with_capacity(self.argv.len() + 1);
        argv.push(shell.clone());
        argv.push(self.path.clone());
        argv.extend(self.argv.iter().skip(1).cloned());
        Prepared {
            path: shell,
            argv,
            envp: self.envp.clone(),
            cwd: self.cwd.clone(),
            signals: self.signals,
            detach: self.detach,
        }
    }
}

fn nul_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} holds a NUL byte"),
    )
}

/// The first executable file named `name` in the folders of `search` (`:`-separated, an empty
/// entry meaning `.`), as `execvp` would run it: `EACCES` if only files without permission
/// (or folders) were found, else `ENOENT`. A relative folder is relative to `cwd` (the
/// command's working directory, where the path is used): the path returned stays relative.
fn find_program(name: &str, search: &[u8], cwd: Option<&Path>) -> io::Result<CString> {
    let mut denied = false;
    if !name.is_empty() {
        for dir in search.split(|&b| b == b':') {
            let dir = if dir.is_empty() { b".".as_slice() } else { dir };
            let candidate = PathBuf::from(OsStr::from_bytes(dir)).join(name);
            let here = match cwd {
                Some(cwd) if candidate.is_relative() => Cow::Owned(cwd.join(&candidate)),
                _ => Cow::Borrowed(&candidate),
            };
            match nix::unistd::access(here.as_ref(), nix::unistd::AccessFlags::X_OK) {
                Ok(()) if here.is_file() => {
                    return CString::new(candidate.into_os_string().into_encoded_bytes())
                        .map_err(|_| nul_error("the program"));
                }
                Ok(()) | Err(nix::errno::Errno::EACCES) => denied = true,
                Err(_) => {}
            }
        }
    }
    Err(io::Error::from_raw_os_error(if denied {
        libc::EACCES
    } else {
        libc::ENOENT
    }))
}

/// A started command: its leader and the read ends of its output pipes (`stderr` is `None`
/// when both streams share the `stdout` pipe, as they do when the spec sends both to one
/// file).
pub(crate) struct Launched {
    pub child: Child,
    pub stdout: pipe::Receiver,
    pub stderr: Option<pipe::Receiver>,
}

/// Starts `spec` in its own process group with no controlling terminal (a command that opens
/// `/dev/tty` gets an error rather than being stopped for reading from or writing to a
/// terminal that is not its own): in a session of its own where this process had a
/// controlling terminal when the runner was made, else in a process group of its own (see
/// `sys/terminal.rs`), stdin from `/dev/null`, stdout and stderr into
/// pipes (one pipe for both when the spec sends them to the same file). Must be called within
/// a tokio runtime (the pipes and the pidfd register with it).
pub(crate) fn launch(
    spec: &CommandSpec,
    inherited: &Environment,
    parent_death: ParentDeath,
) -> Result<Launched, PoolError> {
    let spawn_error = |source| spawn_error(spec, None, source);
    let pipe_error = |source: io::Error| {
        spawn_error(io::Error::new(
            source.kind(),
            format!("cannot make its output pipe: {source}"),
        ))
    };
    if matches!(&spec.program, Program::Argv(argv) if argv.is_empty()) {
        return Err(PoolError::EmptyArgv);
    }
    let prepared = prepare(spec, inherited).map_err(spawn_error)?;
    let null = dev_null().map_err(spawn_error)?;
    let (stdout, stdout_writer) = output_pipe().map_err(pipe_error)?;
    let combined = match (&spec.stdout_path, &spec.stderr_path) {
        (Some(out), Some(err)) => crate::command::log_file::same_file(out, err),
        _ => false,
    };
    let stderr_pipe = if combined {
        None
    } else {
        Some(output_pipe().map_err(pipe_error)?)
    };
    let stderr_writer = stderr_pipe.as_ref().map_or(&stdout_writer, |(_, w)| w);
    let stdio = [null, &stdout_writer, stderr_writer];
    let pid = match start(&prepared, parent_death, stdio) {
        // A file the kernel cannot run (a script without `#!`) is run by /bin/sh, as
        // `execvp` does.
        Err(error) if error.raw_os_error() == Some(libc::ENOEXEC) => {
            start(&prepared.through_shell(), parent_death, stdio)
        }
        started => started,
    }
    .map_err(|source| {
        let program = Path::new(OsStr::from_bytes(prepared.path.to_bytes()));
        self::spawn_error(spec, Some(program), source)
    })?;
    // The write ends now belong to the command: drop ours, or the pipes never reach their end.
    drop(stdout_writer);
    let stderr = stderr_pipe.map(|(reader, _)| reader);
    let child = Child::watch(pid).map_err(|source| {
        spawn_error(io::Error::new(
            source.kind(),
            format!("it started (pid {pid}) but cannot be watched, so it was killed: {source}"),
        ))
    })?;
    Ok(Launched {
        child,
        stdout,
        stderr,
    })
}

/// Starts `prepared`, its leader given SIGKILL when this process dies if `parent_death` asks.
fn start(
    prepared: &Prepared<'_>,
    parent_death: ParentDeath,
    stdio: [&OwnedFd; 3],
) -> io::Result<u32> {
    let [stdin, stdout, stderr] = stdio;
    let how = sys::How {
        cwd: prepared.cwd.as_deref(),
        stdio: [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()],
        defaults: prepared.signals,
        detach: prepared.detach,
        kill_on_parent_death: parent_death == ParentDeath::KillLeader,
    };
    sys::spawn(&prepared.path, &prepared.argv, &prepared.envp, how)
}

/// The `/dev/null` that every command reads as stdin: opened once and kept open.
fn dev_null() -> io::Result<&'static OwnedFd> {
    static NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(null) = NULL.get() {
        return Ok(null);
    }
    let file = std::fs::File::open("/dev/null")?;
    Ok(NULL.get_or_init(|| file.into()))
}

/// A pipe for a command's output: the read end for this process (non-blocking, in tokio),
/// the write end for the command. Both are close-on-exec, so other commands do not inherit
/// them (the command's copy, made by `dup2`, does not have the flag). Neither end is one of
/// the descriptors 0 to 2 (which this process may have closed), so the dup2 of the stdio
/// streams cannot overwrite each other.
fn output_pipe() -> io::Result<(pipe::Receiver, OwnedFd)> {
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (reader, writer) = (above_stdio(reader)?, above_stdio(writer)?);
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&reader),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )?;
    // The read end is a pipe, in non-blocking mode: what the unchecked constructor expects.
    Ok((pipe::Receiver::from_owned_fd_unchecked(reader)?, writer))
}

/// `fd`, or a close-on-exec copy of it numbered 3 or more (what `try_clone` makes) if it is
/// 0, 1 or 2.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if std::os::fd::AsRawFd::as_raw_fd(&fd) > 2 {
        return Ok(fd);
    }
    fd.try_clone()
}

/// A leader started by [`launch`]: its pid (also its process group's id) and what tells when
/// it ended. If it is dropped before it was reaped, the leader gets SIGKILL and is reaped
/// (on a thread of its own if it has not died yet).
pub(crate) struct Child {
    pid: u32,
    exit: Exit,
    /// Reaped: by us (with its status) or, as `None`, by someone else (`ECHILD`).
    reaped: Option<Option<ExitStatus>>,
}

/// What tells that a leader ended.
enum Exit {
    /// Its pidfd, which becomes readable (Linux 5.3 and later, where seccomp allows it).
    Pidfd(AsyncFd<OwnedFd>),
    /// Else SIGCHLD, after which every leader waited for checks whether it is the one.
    Sigchld(tokio::signal::unix::Signal),
}

impl Child {
    fn watch(pid: u32) -> io::Result<Self> {
        let exit = match sys::pidfd(pid) {
            Ok(pidfd) => Ok(Exit::Pidfd(pidfd)),
            Err(error) => {
                tracing::debug!(%error, "no pidfd: waiting for SIGCHLD");
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
                    .map(Exit::Sigchld)
            }
        };
        match exit {
            Ok(exit) => Ok(Child {
                pid,
                exit,
                reaped: None,
            }),
            Err(error) => {
                // A child nobody can await: stop it rather than leave it running.
                sys::signal_group(pid, Signal::SIGKILL);
                reap_later(pid);
                Err(error)
            }
        }
    }

    /// The leader's pid.
    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    /// Waits for the leader to end and reaps it (again: its status, at once). Cancel-safe.
    ///
    /// # Errors
    /// The OS error of `waitpid` (`ECHILD` if another wait took it) or of the runtime.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        let Child { pid, exit, reaped } = self;
        loop {
            match reaped {
                Some(Some(status)) => return Ok(*status),
                Some(None) => return Err(io::Error::from_raw_os_error(libc::ECHILD)),
                None => {}
            }
            match exit {
                Exit::Pidfd(pidfd) => {
                    let mut ready = pidfd.readable().await?;
                    if !try_reap(*pid, reaped)? {
                        ready.clear_ready();
                    }
                }
                Exit::Sigchld(signal) => {
                    // A SIGCHLD before the listener existed is caught by this first check.
                    if !try_reap(*pid, reaped)? && signal.recv().await.is_none() {
                        return Err(io::Error::other("the runtime stopped delivering SIGCHLD"));
                    }
                }
            }
        }
    }
}

/// Reaps the leader `pid` if it ended, noting it in `reaped`; whether it is reaped now.
fn try_reap(pid: u32, reaped: &mut Option<Option<ExitStatus>>) -> io::Result<bool> {
    match sys::reap(pid, false) {
        Ok(Some(status)) => {
            *reaped = Some(Some(status));
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(error) => {
            if error.raw_os_error() == Some(libc::ECHILD) {
                *reaped = Some(None);
            }
            Err(error)
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Not reaped, so the pid is still ours (a zombie at least): signalling it is safe.
        if self.reaped.is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX)),
                Signal::SIGKILL,
            );
            reap_later(self.pid);
        }
    }
}

/// Reaps the child `pid`, now if it has ended, else on a thread of its own (a process killed
/// in an uninterruptible sleep can take a while); if no thread can be started, it stays a
/// zombie until this process exits.
fn reap_later(pid: u32) {
    if let Ok(None) = sys::reap(pid, false) {
        let _ = std::thread::Builder::new()
            .name("flow-reap".into())
            .spawn(move || sys::reap(pid, true));
    }
}

impl crate::group::Leader for Child {
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        Child::wait(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Environment changes: a value sets the key, `None` removes it.
    type Changes<'a> = &'a [(&'a str, Option<&'a str>)];

    fn spec_env(changes: Changes<'_>) -> CommandSpec {
        let mut spec = CommandSpec::argv(["/bin/true"]).env_clear();
        for (key, value) in changes {
            spec = match value {
                Some(value) => spec.env(*key, *value),
                None => spec.env_remove(*key),
            };
        }
        spec
    }

    #[test]
    fn changes_apply_in_order_and_the_last_one_to_a_key_wins() {
        let inherited = Environment::capture();
        let table: &[(Changes<'_>, &[&str])] = &[
            (&[], &[]),
            (&[("A", Some("1"))], &["A=1"]),
            (&[("A", Some("1")), ("A", Some("2"))], &["A=2"]),
            (&[("A", Some("1")), ("A", None)], &[]),
            (&[("A", None), ("A", Some("3"))], &["A=3"]),
            (&[("A", Some("1")), ("B", Some("x=y"))], &["A=1", "B=x=y"]),
        ];
        for (changes, expected) in table {
            let prepared = prepare(&spec_env(changes), &inherited).unwrap();
            let envp: Vec<&str> = prepared.envp.iter().map(|e| e.to_str().unwrap()).collect();
            assert_eq!(&envp, expected, "{changes:?}");
        }
    }

    #[tokio::test]
    async fn a_leader_is_awaited_through_sigchld_without_a_pidfd() {
        let spec = CommandSpec::argv(["/bin/sh", "-c", "exit 7"]);
        let inherited = Environment::capture();
        let prepared = prepare(&spec, &inherited).unwrap();
        let null = dev_null().unwrap();
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()).unwrap();
        let pid = sys::spawn(
            &prepared.path,
            &prepared.argv,
            &prepared.envp,
            sys::How {
                cwd: None,
                stdio: [null.as_fd(), null.as_fd(), null.as_fd()],
                defaults: prepared.signals,
                detach: prepared.detach,
                kill_on_parent_death: false,
            },
        )
        .unwrap();
        let mut child = Child {
            pid,
            exit: Exit::Sigchld(signal),
            reaped: None,
        };
        assert_eq!(child.wait().await.unwrap().code(), Some(7));
        assert_eq!(child.wait().await.unwrap().code(), Some(7), "a second wait");
    }
}
