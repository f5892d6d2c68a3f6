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
//!
//! Its process name is `Flow-watchdog` (its `argv[0]`, and its 15-character name in the
//! kernel), not `flow`: `killall flow` and `pkill flow`, which match names case-sensitively,
//! kill the runs and leave their watchdogs to do their work. Should the watchdog die with its
//! run all the same, the next run of the workflow stops what the dead run left
//! ([`crate::takeover`]).

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The variable every command of a run gets, with the run id.
pub const RUN_ID_VARIABLE: &str = "FLOW_RUN_ID";
/// The internal subcommand that runs the watchdog (`flow __watchdog RUN_ID`), read before
/// the command line is parsed (see [`requested`]).
pub const SUBCOMMAND: &str = "__watchdog";
/// The watchdog's process name: not `flow`, nor any name that holds it (see the module).
pub const PROCESS_NAME: &str = "Flow-watchdog";
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
            .arg0(PROCESS_NAME)
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

    /// The run ended normally: the watchdog exits without killing anything. It is reaped
    /// when the returned value is dropped, once this process has done the rest of its work.
    pub fn disarm(mut self) -> Disarmed {
        let _ = self.pipe.write_all(DONE);
        drop(self.pipe);
        Disarmed(Some(self.child))
    }
}

/// A watchdog told that the run is done, reaped on drop: left unreaped, it would outlive this
/// process as a zombie wherever the process that inherits orphans does not reap them (a
/// container whose first process is `sleep infinity` or a plain shell), one more with each
/// run until the container's process limit is reached.
#[derive(Debug)]
pub struct Disarmed(Option<Child>);

/// How long a disarmed watchdog gets to end: it only reads its pipe to the end.
const DISARMED_END: std::time::Duration = std::time::Duration::from_secs(1);

impl Drop for Disarmed {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        // Waited for on a thread of its own, with a bound: a watchdog that was stopped
        // (SIGSTOP) must not hold this process, and the wait needs no pidfd (old kernels,
        // seccomp filters that refuse it).
        let (ended, end) = std::sync::mpsc::channel();
        let waiter = std::thread::Builder::new()
            .name("watchdog-reap".to_owned())
            .spawn(move || {
                let _ = ended.send(child.wait());
            });
        if waiter.is_err() || end.recv_timeout(DISARMED_END).is_err() {
            tracing::debug!("the watchdog did not end after the run");
        }
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
    // It inherits the mask of `flow run`, which holds the stop signals until it handles them
    // (`signals::hold`): the watchdog takes them, at their default action, as any process.
    crate::signals::release();
    // The kernel's name of the process is the executable's (`flow`) until it is set.
    #[cfg(target_os = "linux")]
    if let Ok(name) = std::ffi::CString::new(PROCESS_NAME) {
        let _ = nix::sys::prctl::set_name(&name);
    }
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
    crate::sweep::kill_where(of_run(run_id));
}

/// Whether a process's environment (`KEY=value`, NUL-separated) marks it as one of `run_id`'s:
/// the one rule by which the watchdog, and a run taking over from a dead one, find a run's
/// processes.
pub fn of_run(run_id: &str) -> impl Fn(&[u8]) -> bool {
    let marker = format!("{RUN_ID_VARIABLE}={run_id}").into_bytes();
    move |env| crate::sweep::holds(env, &marker)
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
        let holds = of_run(&run);
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
