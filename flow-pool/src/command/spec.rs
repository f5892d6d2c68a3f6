//! What to run: [`CommandSpec`], its [`Program`] and its environment changes.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default size of each in-memory output tail: 64 KiB.
pub const DEFAULT_TAIL_BYTES: usize = 64 * 1024;

/// The default time between SIGTERM and SIGKILL: 5 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The program of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Program {
    /// A program and its arguments, run without a shell (`argv[0]` is looked up in `PATH`
    /// unless it contains a `/`).
    Argv(Vec<String>),
    /// A script run as `/bin/sh -c SCRIPT`.
    Shell(String),
}

impl Program {
    /// The name used in messages: `argv[0]`, or `/bin/sh` for a script.
    pub fn name(&self) -> &str {
        match self {
            Program::Argv(argv) => argv.first().map_or("", String::as_str),
            Program::Shell(_) => "/bin/sh",
        }
    }
}

/// Where a command's environment starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EnvBase {
    /// The environment of this process.
    #[default]
    Inherit,
    /// An empty environment.
    Empty,
}

/// One change to a command's environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvChange {
    /// Set a variable.
    Set(String, String),
    /// Set a variable to a value that need not be UTF-8 (a path as the file system names it).
    SetOs(String, std::ffi::OsString),
    /// Remove a variable.
    Remove(String),
}

/// A command's environment: a base and changes applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnvChanges {
    /// Where the environment starts from.
    pub base: EnvBase,
    /// Changes applied to the base, in order.
    pub changes: Vec<EnvChange>,
}

/// A command to run: program, environment, working directory, output files, tail size and
/// the grace period between SIGTERM and SIGKILL.
///
/// ```
/// use std::time::Duration;
/// use flow_pool::{CommandSpec, Program};
/// let spec = CommandSpec::argv(["echo", "hello"])
///     .env("LANG", "C")
///     .grace(Duration::from_secs(1));
/// assert_eq!(spec.program, Program::Argv(vec!["echo".into(), "hello".into()]));
/// let script = CommandSpec::shell("echo $HOME").env_remove("HOME");
/// assert_eq!(script.program.name(), "/bin/sh");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// What to run.
    pub program: Program,
    /// The environment.
    pub env: EnvChanges,
    /// The working directory (this process's when `None`).
    pub cwd: Option<PathBuf>,
    /// A file that receives all of stdout; stdout beyond the tail is discarded when `None`.
    /// The file is created (or truncated) when the command first writes to the stream, with
    /// its missing parent folders; a command that writes nothing leaves no file (and a file
    /// an earlier run left at that path is then left as it was). A relative path is taken from
    /// this process's working directory, not from [`cwd`](Self::cwd) (by every executor).
    pub stdout_path: Option<PathBuf>,
    /// A file that receives all of stderr, created like `stdout_path`'s. It may name the same
    /// file as `stdout_path` (by the same path, or by the same file name reached through `..`
    /// or a link; two file names are two files): the command then writes both
    /// streams into one pipe, the file keeps their order, and both tails are the tail of the
    /// combined stream.
    pub stderr_path: Option<PathBuf>,
    /// How many bytes of the end of stdout and of stderr to keep in memory, each.
    pub tail_bytes: usize,
    /// Time between SIGTERM and SIGKILL when the command is stopped.
    pub grace: Duration,
}

impl CommandSpec {
    /// A spec running `program` with defaults: inherited environment, current directory, no
    /// output files, 64 KiB tails, 5 s grace.
    pub fn new(program: Program) -> Self {
        CommandSpec {
            program,
            env: EnvChanges::default(),
            cwd: None,
            stdout_path: None,
            stderr_path: None,
            tail_bytes: DEFAULT_TAIL_BYTES,
            grace: DEFAULT_GRACE,
        }
    }

    /// A spec running a program and its arguments without a shell.
    pub fn argv<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Program::Argv(argv.into_iter().map(Into::into).collect()))
    }

    /// A spec running `/bin/sh -c script`.
    pub fn shell(script: impl Into<String>) -> Self {
        Self::new(Program::Shell(script.into()))
    }

    /// Sets an environment variable. A name that is empty or holds `=` or a NUL byte cannot
    /// be given to a program: the command then fails to start, saying so.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env
            .changes
            .push(EnvChange::Set(key.into(), value.into()));
        self
    }

    /// Sets an environment variable to a value that need not be UTF-8, such as a path: as
    /// [`env`](Self::env) does when it is UTF-8.
    #[must_use]
    pub fn env_os(mut self, key: impl Into<String>, value: impl Into<std::ffi::OsString>) -> Self {
        let change = match value.into().into_string() {
            Ok(text) => EnvChange::Set(key.into(), text),
            Err(bytes) => EnvChange::SetOs(key.into(), bytes),
        };
        self.env.changes.push(change);
        self
    }

    /// Removes an environment variable.
    #[must_use]
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env.changes.push(EnvChange::Remove(key.into()));
        self
    }

    /// Starts from an empty environment instead of this process's (changes already made are
    /// kept).
    #[must_use]
    pub fn env_clear(mut self) -> Self {
        self.env.base = EnvBase::Empty;
        self
    }

    /// Sets the working directory.
    #[must_use]
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sends all of stdout to a file, created when the command first writes to stdout (a
    /// command that writes nothing leaves no file).
    #[must_use]
    pub fn stdout_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.stdout_path = Some(path.into());
        self
    }

    /// Sends all of stderr to a file, created when the command first writes to stderr (a
    /// command that writes nothing leaves no file). The same path as
    /// [`stdout_path`](Self::stdout_path) gives one file with both streams in order.
    #[must_use]
    pub fn stderr_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.stderr_path = Some(path.into());
        self
    }

    /// Sets how many bytes of each stream to keep in memory.
    #[must_use]
    pub fn tail_bytes(mut self, bytes: usize) -> Self {
        self.tail_bytes = bytes;
        self
    }

    /// Sets the time between SIGTERM and SIGKILL.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// An error unless `key` can name a variable: `execve` takes `KEY=value` strings, so a key
/// holding `=` would set another variable (`A=B` to `c` reaches the program as `A` set to
/// `B=c`), and an empty one gives a nameless entry.
pub(crate) fn check_name(key: &str) -> io::Result<()> {
    let why = if key.is_empty() {
        "is empty"
    } else if key.contains('=') {
        "holds `=`"
    } else {
        return Ok(());
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("environment variable name `{key}` {why}: no program can be given it"),
    ))
}
