//! The watchdog of a `flow run`: a small process (this binary, `flow __watchdog RUN_ID`) that
//! waits on a pipe from the run and, if the run dies without saying it is done (SIGKILL, a
//! crash), kills every process the run started within a moment, so that a killed `flow run`
//! leaves no command running beside the next `--resume`.
//!
//! It finds them without any bookkeeping during the run: every command of the run gets
//! `FLOW_RUN_ID=<run id>` in its environment (and its children inherit it), so the watchdog
//! scans `/proc/*/environ` for it and SIGKILLs each process found and its process group (each
//! command has its own), until none is left. The run pays one process start, not a message
//! per command.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The variable every command of a run gets, with the run id.
pub const RUN_ID_VARIABLE: &str = "FLOW_RUN_ID";
/// The internal subcommand that runs the watchdog (`flow __watchdog RUN_ID`), read before
/// the command line is parsed (see [`requested`]).
pub const SUBCOMMAND: &str = "__watchdog";
/// What the run writes before it closes the pipe when it ends normally.
const DONE: &[u8] = b"done\n";

/// The run's end of the watchdog.
#[derive(Debug)]
pub struct Watchdog {
    child: Child,
    pipe: ChildStdin,
}

impl Watchdog {
    /// Starts the watchdog of `run_id`, in its own process group (so Ctrl-C on the terminal
    /// does not reach it).
    ///
    /// # Errors
    /// When the process cannot be started.
    pub fn start(run_id: &str) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(std::env::current_exe()?)
            .args([SUBCOMMAND, run_id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Not marked itself: the watchdog of an enclosing run must not kill it first.
            .env_remove(RUN_ID_VARIABLE)
            .process_group(0)
            .spawn()?;
        let pipe = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("the watchdog has no stdin"))?;
        Ok(Watchdog { child, pipe })
    }

    /// The run ended normally: the watchdog exits without killing anything. It is not waited
    /// for (its start-up would add to every run's time); this process exits soon after.
    pub fn disarm(mut self) {
        let _ = self.pipe.write_all(DONE);
        drop(self.pipe);
        drop(self.child);
    }
}

/// The run id when the arguments (`args`, the program first) are exactly those
/// [`Watchdog::start`] gives: `__watchdog RUN_ID`.
pub fn requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<String> {
    let mut args = args.into_iter().skip(1);
    let (Some(first), Some(run_id), None) = (args.next(), args.next(), args.next()) else {
        return None;
    };
    (first == SUBCOMMAND)
        .then(|| run_id.into_string().ok())
        .flatten()
}

/// The watchdog process: waits until the run closes the pipe (stdin); unless it said it is
/// done, kills every process with `FLOW_RUN_ID=run_id`. Returns the exit code.
pub fn serve(run_id: &str) -> u8 {
    let mut said = Vec::new();
    let _ = std::io::stdin().lock().read_to_end(&mut said);
    if said == DONE {
        return 0;
    }
    kill_run(run_id);
    0
}

/// SIGKILLs every process whose environment holds `FLOW_RUN_ID=run_id`, and its process
/// group, until none is left.
fn kill_run(run_id: &str) {
    let marker = marker(run_id);
    crate::sweep::kill_where(|env| crate::sweep::holds(env, &marker));
}

/// The variable that marks the processes of `run_id`.
fn marker(run_id: &str) -> Vec<u8> {
    format!("{RUN_ID_VARIABLE}={run_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use nix::unistd::Pid;

    use super::*;
    use crate::sweep::marked_processes;
    use crate::sweep::tests::marked_shell;

    #[test]
    fn only_processes_with_the_exact_variable_are_found() {
        let run = format!("watchdog-test-{}", std::process::id());
        let mut marked = marked_shell(&[(RUN_ID_VARIABLE, &run)]);
        let mut other = marked_shell(&[(RUN_ID_VARIABLE, &format!("{run}x"))]);
        let marker = marker(&run);
        let holds = |env: &[u8]| crate::sweep::holds(env, &marker);
        let found = marked_processes(&holds, Pid::this());
        assert_eq!(found, vec![Pid::from_raw(marked.id() as i32)]);
        kill_run(&run);
        assert!(
            marked.wait().unwrap().code().is_none(),
            "killed by a signal"
        );
        assert!(marked_processes(&holds, Pid::this()).is_empty());
        other.kill().unwrap();
        other.wait().unwrap();
    }

    #[test]
    fn only_exactly_the_arguments_the_run_gives_start_the_watchdog() {
        for (args, run_id) in [
            (&["flow", "__watchdog", "RUN"][..], Some("RUN")),
            (&["flow", "__watchdog"][..], None),
            (&["flow", "__watchdog", "RUN", "more"][..], None),
            (&["flow", "run", "__watchdog"][..], None),
            (&["flow"][..], None),
        ] {
            let args = args.iter().map(std::ffi::OsString::from);
            assert_eq!(requested(args).as_deref(), run_id);
        }
    }
}
