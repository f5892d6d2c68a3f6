//! Why a command could not be started, in words a user can act on: a missing working
//! directory, or one that is no folder or cannot be entered, a program that is a folder or
//! is not there (with the path it was looked for at), a script whose `#!` interpreter is
//! missing. Each is looked at only once the start failed, so a good start costs nothing.

use std::io::{self, Read};
use std::path::Path;

use crate::command::spec::CommandSpec;
use crate::PoolError;

/// The error of `spec` not starting with `source`; `program` is the file it was to run,
/// when it was found.
pub(crate) fn spawn_error(
    spec: &CommandSpec,
    program: Option<&Path>,
    source: io::Error,
) -> PoolError {
    if let Some(cwd) = &spec.cwd {
        // A folder that exists may still be one this user cannot enter (`chmod 700` of
        // another user's).
        let usable = std::fs::metadata(cwd).and_then(|m| {
            if !m.is_dir() {
                return Err(io::Error::from(io::ErrorKind::NotADirectory));
            }
            nix::unistd::access(cwd, nix::unistd::AccessFlags::X_OK).map_err(io::Error::from)
        });
        if let Err(source) = usable {
            return unusable_cwd(spec, &cwd.display().to_string(), &source);
        }
    }
    let file = program.map(|path| match &spec.cwd {
        Some(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_owned(),
    });
    let source = match (&file, source.raw_os_error()) {
        (Some(file), Some(libc::EACCES)) if file.is_dir() => {
            io::Error::new(source.kind(), "it is a folder, not a program")
        }
        // `./build.sh` just written: execve says only "Permission denied".
        (Some(file), Some(libc::EACCES)) if file.is_file() && !executable(file) => io::Error::new(
            source.kind(),
            "it is not executable: `chmod +x` it, or run it with its interpreter \
                 (`sh FILE`, `python3 FILE`)",
        ),
        // `build.sh` meant as the one in the working directory: a name without `/` is looked
        // for only in the folders of PATH.
        (None, Some(libc::ENOENT)) if searched(spec) && in_cwd(spec) => io::Error::new(
            source.kind(),
            format!(
                "no such program in the folders of PATH; for the file in the working directory, \
                 write `./{}`",
                spec.program.name()
            ),
        ),
        // Looked for in the folders of PATH: execvp says only "No such file or directory".
        (None, Some(libc::ENOENT)) if searched(spec) => io::Error::new(
            source.kind(),
            "no such program in the folders of PATH (is it installed?)",
        ),
        // `./tool.sh` with `cwd = "sub"`: execve says only "No such file or directory", not
        // where it looked.
        (Some(file), Some(libc::ENOENT)) if !file.exists() => {
            // `sub/./tool.sh` as `sub/tool.sh`.
            let file: std::path::PathBuf = file.components().collect();
            let problem = match std::fs::read_link(&file) {
                Ok(target) => format!(
                    "{} is a symbolic link to {}, which does not exist",
                    file.display(),
                    target.display()
                ),
                Err(_) if unexpanded(spec.program.name()) => format!(
                    "there is no file {} (nothing expands `~` or `$VAR` in a program's path: \
                     write the path itself)",
                    file.display()
                ),
                Err(_) if Path::new(spec.program.name()).is_relative() => format!(
                    "there is no file {} (a program named with a `/` is found from the \
                     working directory)",
                    file.display()
                ),
                Err(_) => format!("there is no file {}", file.display()),
            };
            io::Error::new(source.kind(), problem)
        }
        (Some(file), Some(libc::ENOENT)) if file.is_file() => match interpreter(file) {
            // Only when it is missing: a present one failed for its own reasons.
            Some(interpreter) if !Path::new(&interpreter).exists() => io::Error::new(
                source.kind(),
                format!(
                    "its `#!` line names `{}`, which is not found",
                    interpreter.escape_debug()
                ),
            ),
            _ => source,
        },
        _ => source,
    };
    PoolError::Spawn {
        program: spec.program.name().to_owned(),
        source,
    }
}

/// Whether anyone may execute `file`.
fn executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Whether the working directory `spec` runs in (its `cwd`, else this process's) holds a file
/// of its program's name.
fn in_cwd(spec: &CommandSpec) -> bool {
    let name = Path::new(spec.program.name());
    spec.cwd
        .as_deref()
        .map_or(name.to_owned(), |cwd| cwd.join(name))
        .is_file()
}

/// Whether `spec`'s program is looked for in PATH: a name without a `/`.
fn searched(spec: &CommandSpec) -> bool {
    let name = spec.program.name();
    !name.is_empty() && !name.contains('/')
}

/// The error of `spec` not starting because its working directory `dir` (as the user should
/// read it) cannot be used, for the reason `source`.
pub(crate) fn unusable_cwd(spec: &CommandSpec, dir: &str, source: &io::Error) -> PoolError {
    let problem = match source.kind() {
        // `cwd = "~/proj"` or `"$HOME/proj"`, as a shell would expand it: a folder of that
        // very name, which is missing.
        io::ErrorKind::NotFound if unexpanded(dir) => "does not exist (nothing expands `~` or \
                                                      `$VAR` in a working directory: write the \
                                                      path itself)"
            .to_owned(),
        io::ErrorKind::NotFound => "does not exist".to_owned(),
        io::ErrorKind::NotADirectory => "is not a folder".to_owned(),
        io::ErrorKind::PermissionDenied => "cannot be entered (permission denied)".to_owned(),
        _ => format!("cannot be used: {source}"),
    };
    PoolError::Spawn {
        program: spec.program.name().to_owned(),
        source: io::Error::new(
            source.kind(),
            format!("its working directory {dir} {problem}"),
        ),
    }
}

/// Whether the path `path` is written as a shell would expand it: a component `~`, or one
/// holding a `$` (`$HOME`, `${DATA}`).
fn unexpanded(path: &str) -> bool {
    path.split('/')
        .any(|component| component == "~" || component.contains('$'))
}

/// The interpreter a script's first line (`#!/usr/bin/env python3`) names, if it has one,
/// as the kernel reads it: up to a space or a tab (a `\r` of a CRLF line is part of it).
fn interpreter(file: &Path) -> Option<String> {
    let mut start = [0; 256];
    let read = std::fs::File::open(file).ok()?.read(&mut start).ok()?;
    let line = start[..read].strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = String::from_utf8_lossy(line);
    line.split([' ', '\t'])
        .find(|word| !word.is_empty())
        .map(str::to_owned)
}
