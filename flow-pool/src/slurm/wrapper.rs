//! The job script given to `sbatch`: a small `/bin/sh` wrapper that enters the working
//! directory, applies the environment, runs the command and records how it ended in a
//! status file (`exit N`, `signal N`, `error ERRNO` or `nodir ERRNO`), written to a
//! temporary name and renamed so that a reader never sees half a line. The status file
//! outlives Slurm's memory of the job, which is what lets a resumed run read the result of
//! a job that ended while no `flow` process was watching.

use std::collections::BTreeMap;
use std::path::Path;

use crate::command::{CommandEnd, CommandSpec, EnvBase, EnvChange, Program};
use crate::PoolError;

/// How the command ended, as recorded by the wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// It ran to its end (an exit code or a signal).
    Ended(CommandEnd),
    /// It could not be started; the OS error number (`ENOENT` for a missing program).
    NotStarted(i32),
    /// The working directory could not be entered on the node; an OS error number.
    NoDirectory(i32),
}

impl Status {
    /// Parses the one line of a status file.
    pub(crate) fn parse(text: &str) -> Option<Status> {
        let (word, number) = text.trim().split_once(' ')?;
        let number: i32 = number.trim().parse().ok()?;
        match word {
            "exit" => Some(Status::Ended(CommandEnd::Exited(number))),
            "signal" => Some(Status::Ended(CommandEnd::Signaled(number))),
            "error" => Some(Status::NotStarted(number)),
            "nodir" => Some(Status::NoDirectory(number)),
            _ => None,
        }
    }
}

/// The Perl part of the wrapper: applies the environment operations, runs the command with
/// `system` (which tells a signal from an exit code, unlike a shell's `$?`), records the
/// status and exits like the command. Contains no single quote, as it is single-quoted.
const RUNNER: &str = r#"my $st = shift @ARGV;
while (@ARGV) {
  my $op = shift @ARGV;
  last if $op eq "--";
  if ($op eq "-i") { %ENV = (); }
  elsif ($op =~ /\A-u(.*)\z/s) { delete $ENV{$1}; }
  elsif ($op =~ /\A\+([^=]*)=(.*)\z/s) { $ENV{$1} = $2; }
}
my ($line, $code);
my $rc = system { $ARGV[0] } @ARGV;
if ($rc == -1) { $line = "error " . ($! + 0); $code = 127; }
elsif ($? & 127) { $line = "signal " . ($? & 127); $code = 128 + ($? & 127); }
else { $code = $? >> 8; $line = "exit $code"; }
open(my $f, ">", "$st.tmp") or die "flow: cannot write $st.tmp: $!\n";
print $f "$line\n";
close($f) or die "flow: cannot write $st.tmp: $!\n";
rename("$st.tmp", $st) or die "flow: cannot rename $st.tmp: $!\n";
exit $code;"#;

/// Quotes `text` for `/bin/sh`: single quotes, with each `'` written as `'\''`.
pub(crate) fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The command's environment as operations on the job's inherited one: clear it (for an
/// empty base), remove names, set names; each name once, in a stable order.
fn env_ops(spec: &CommandSpec) -> (bool, Vec<String>, Vec<(String, String)>) {
    // The job script is text: a value that is not UTF-8 goes in as its lossy text.
    let mut finals: BTreeMap<&str, Option<std::borrow::Cow<'_, str>>> = BTreeMap::new();
    for change in &spec.env.changes {
        match change {
            EnvChange::Set(key, value) => finals.insert(key, Some(value.into())),
            EnvChange::SetOs(key, value) => finals.insert(key, Some(value.to_string_lossy())),
            EnvChange::Remove(key) => finals.insert(key, None),
        };
    }
    let clear = spec.env.base == EnvBase::Empty;
    let removes = finals
        .iter()
        .filter(|(_, value)| value.is_none() && !clear)
        .map(|(key, _)| (*key).to_owned())
        .collect();
    let sets = finals
        .iter()
        .filter_map(|(key, value)| Some(((*key).to_owned(), value.as_deref()?.to_owned())))
        .collect();
    (clear, removes, sets)
}

/// The argv of the command.
fn argv(spec: &CommandSpec) -> Result<Vec<String>, PoolError> {
    match &spec.program {
        Program::Argv(argv) if argv.is_empty() => Err(PoolError::EmptyArgv),
        Program::Argv(argv) => Ok(argv.clone()),
        Program::Shell(script) => Ok(vec!["/bin/sh".into(), "-c".into(), script.clone()]),
    }
}

/// The job script for `spec`, run in `cwd`, recording to `status`.
///
/// # Errors
/// [`PoolError::EmptyArgv`] for an empty argv, [`PoolError::Spawn`] for an environment
/// variable name that is empty or holds `=` (as the local runner refuses it).
pub(crate) fn script(
    flow: &str,
    spec: &CommandSpec,
    cwd: &Path,
    status: &Path,
) -> Result<String, PoolError> {
    let argv = argv(spec)?;
    for change in &spec.env.changes {
        let (EnvChange::Set(key, _) | EnvChange::SetOs(key, _) | EnvChange::Remove(key)) = change;
        crate::command::check_name(key).map_err(|source| PoolError::Spawn {
            program: spec.program.name().to_owned(),
            source,
        })?;
    }
    let (clear, removes, sets) = env_ops(spec);
    let cwd = sh_quote(&cwd.to_string_lossy());
    let status = sh_quote(&status.to_string_lossy());
    let command: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
    let command = command.join(" ");

    let mut perl_ops = Vec::new();
    let mut env_args = Vec::new();
    if clear {
        perl_ops.push("-i".to_owned());
        env_args.push("-i".to_owned());
    }
    for key in &removes {
        perl_ops.push(sh_quote(&format!("-u{key}")));
        env_args.push(format!("-u {}", sh_quote(key)));
    }
    env_args.push("--".to_owned());
    for (key, value) in &sets {
        perl_ops.push(sh_quote(&format!("+{key}={value}")));
        env_args.push(sh_quote(&format!("{key}={value}")));
    }
    perl_ops.push("--".to_owned());
    let flow_comment = flow.replace(['\n', '\r'], " ");
    Ok(format!(
        "#!/bin/sh\n\
         # Job script of flow `{flow_comment}`, written by flow's Slurm executor: runs the\n\
         # command and records how it ended in the status file.\n\
         st={status}\n\
         record() {{ printf '%s\\n' \"$1\" > \"$st.tmp\" && mv -f \"$st.tmp\" \"$st\"; }}\n\
         # Why it cannot enter the folder: ENOTDIR (20), EACCES (13) or ENOENT (2).\n\
         cd {cwd} || {{ if [ -d {cwd} ]; then e=13; elif [ -e {cwd} ]; then e=20; else e=2; fi; \
         record \"nodir $e\"; exit 1; }}\n\
         if command -v perl >/dev/null 2>&1; then\n\
         \x20 exec perl -e {runner} \"$st\" {perl_ops} {command}\n\
         fi\n\
         # Without Perl a death by signal N reads as exit 128+N.\n\
         env {env_args} {command}\n\
         rc=$?\n\
         record \"exit $rc\"\n\
         exit $rc\n",
        runner = sh_quote(RUNNER),
        perl_ops = perl_ops.join(" "),
        env_args = env_args.join(" "),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn check(line: &str, expect: Option<Status>) {
        assert_eq!(Status::parse(line), expect, "{line:?}");
    }

    #[test]
    fn status_lines_parse() {
        check("exit 0\n", Some(Status::Ended(CommandEnd::Exited(0))));
        check("exit 3", Some(Status::Ended(CommandEnd::Exited(3))));
        check("signal 9\n", Some(Status::Ended(CommandEnd::Signaled(9))));
        check("error 2", Some(Status::NotStarted(2)));
        check("nodir 2", Some(Status::NoDirectory(2)));
        check("", None);
        check("exit", None);
        check("exit x", None);
        check("done 0", None);
    }

    #[test]
    fn quoting_survives_the_shell() {
        let text = "it's \"a\" $HOME `x` \\ \n end";
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {}", sh_quote(text)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    }

    /// Runs the script locally with `sh` (what the job does on its node) and returns the
    /// status line and stdout.
    fn run_script(spec: &CommandSpec, path_without_perl: bool) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("x.status");
        let body = script("f", spec, dir.path(), &status).unwrap();
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(body)
            .env("KEEP", "kept")
            .env("DROP", "x");
        if path_without_perl {
            // A PATH with the shell tools but no perl.
            let bin = dir.path().join("bin");
            std::fs::create_dir(&bin).unwrap();
            for tool in ["env", "mv", "printf", "sh", "echo", "kill"] {
                let found = ["/usr/bin", "/bin"]
                    .iter()
                    .map(|d| Path::new(d).join(tool))
                    .find(|p| p.exists());
                if let Some(found) = found {
                    std::os::unix::fs::symlink(found, bin.join(tool)).unwrap();
                }
            }
            command.env("PATH", &bin);
        }
        let out = command.output().unwrap();
        let line = std::fs::read_to_string(&status).unwrap_or_default();
        (line, String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn the_script_records_exit_codes_and_signals() {
        let (line, out) = run_script(&CommandSpec::shell("echo hi; exit 3"), false);
        assert_eq!((line.as_str(), out.as_str()), ("exit 3\n", "hi\n"));
        let (line, _) = run_script(&CommandSpec::shell("kill -9 $$"), false);
        assert_eq!(line, "signal 9\n");
        let (line, _) = run_script(&CommandSpec::argv(["/nonexistent/program"]), false);
        assert_eq!(line, "error 2\n");
    }

    #[test]
    fn the_script_applies_the_environment() {
        let spec = CommandSpec::shell("echo \"$KEEP/${DROP-unset}/$NEW\"")
            .env("NEW", "it's new")
            .env_remove("DROP");
        assert_eq!(run_script(&spec, false).1, "kept/unset/it's new\n");
        let empty = CommandSpec::argv(["/usr/bin/env"])
            .env_clear()
            .env("ONLY", "1");
        assert_eq!(run_script(&empty, false).1, "ONLY=1\n");
    }

    #[test]
    fn a_variable_name_no_program_can_get_is_refused_before_the_job() {
        let dir = tempfile::tempdir().unwrap();
        for key in ["A=B", ""] {
            let spec = CommandSpec::shell("true").env(key, "c");
            let error = script("f", &spec, dir.path(), &dir.path().join("f.status"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("environment variable name"), "{error}");
        }
    }

    #[test]
    fn without_perl_the_shell_records_the_exit_code() {
        let spec = CommandSpec::shell("echo \"$KEEP/${DROP-unset}/$NEW\"; exit 4")
            .env("NEW", "n")
            .env_remove("DROP");
        let (line, out) = run_script(&spec, true);
        assert_eq!(
            (line.as_str(), out.as_str()),
            ("exit 4\n", "kept/unset/n\n")
        );
    }

    #[test]
    fn a_missing_directory_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("s");
        let body = script(
            "f",
            &CommandSpec::argv(["true"]),
            &dir.path().join("gone"),
            &status,
        )
        .unwrap();
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(body)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert_eq!(std::fs::read_to_string(&status).unwrap(), "nodir 2\n");
    }

    #[test]
    fn an_empty_argv_is_refused() {
        let spec = CommandSpec::argv(Vec::<String>::new());
        let error = script("f", &spec, Path::new("/"), Path::new("/s")).unwrap_err();
        assert!(matches!(error, PoolError::EmptyArgv));
    }
}
