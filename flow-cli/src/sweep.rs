//! Killing what a run's commands left behind. Every command of a run gets `FLOW_RUN_ID`,
//! `FLOW_ID` and `FLOW_ATTEMPT` in its environment, and its children inherit them; so a
//! process that left its command's process group (`setsid`, a daemon) is still found, by
//! scanning `/proc/*/environ`, with no bookkeeping while the run goes.
//!
//! Three callers: the watchdog ([`crate::watchdog`]) kills every process of a run whose
//! `flow` died; a run that takes over the lock of such a run stops what is left of it, in
//! case the watchdog died too ([`crate::takeover`], with [`find_where`] and [`stop`]); [`Sweep`] kills what an attempt left when it was stopped: at once after its
//! timeout, and, for the attempts a stopped run cancelled (Ctrl-C, SIGTERM), in one pass
//! when the run ends. Stopping a process group does not reach a process that left it. An
//! attempt that ended by itself keeps what it started in the background on purpose.
//!
//! A process that cleared or rewrote its environment (`env -i`, a program that sets its
//! process title over it) is not found, nor one that starts a new copy of itself and exits
//! again and again, each living less than a pass over `/proc`.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flow_core::{CancellationToken, CommandExecutor, CommandSpec};
use flow_pool::{BoxFuture, CommandEnd, CommandOutcome, PoolError, Prepare};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgid, getpgrp, Pid};

use crate::logs::env_value;

/// At most this many passes over `/proc` (a process may fork while it is being killed).
const PASSES: usize = 50;

/// One attempt of a flow in a run: the values of `FLOW_RUN_ID`, `FLOW_ID` and
/// `FLOW_ATTEMPT` that its processes carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Attempt {
    run: Vec<u8>,
    flow: Vec<u8>,
    attempt: Vec<u8>,
}

impl Attempt {
    /// The attempt `spec` starts, if flow-core marked it.
    fn of(spec: &CommandSpec) -> Option<Self> {
        let value = |key| env_value(spec, key).map(|v| v.as_bytes().to_vec());
        Some(Attempt {
            run: value("FLOW_RUN_ID")?,
            flow: value("FLOW_ID")?,
            attempt: value("FLOW_ATTEMPT")?,
        })
    }

    /// The attempt whose markers the environment `env` (`KEY=value`, NUL-separated) holds.
    fn in_environment(env: &[u8]) -> Option<Self> {
        let (mut run, mut flow, mut attempt) = (None, None, None);
        for var in env.split(|&b| b == 0) {
            let slot = if let Some(v) = var.strip_prefix(b"FLOW_RUN_ID=") {
                (&mut run, v)
            } else if let Some(v) = var.strip_prefix(b"FLOW_ID=") {
                (&mut flow, v)
            } else if let Some(v) = var.strip_prefix(b"FLOW_ATTEMPT=") {
                (&mut attempt, v)
            } else {
                continue;
            };
            // The first value, as `getenv` reads it.
            slot.0.get_or_insert_with(|| slot.1.to_vec());
        }
        Some(Attempt {
            run: run?,
            flow: flow?,
            attempt: attempt?,
        })
    }
}

/// SIGKILLs every process (but this one) whose environment (`KEY=value`, NUL-separated)
/// `marked` accepts, and its process group unless that is this process's, until none is
/// left. Blocks while it reads `/proc`.
///
/// A process in the middle of an `exec` shows an empty environment for a moment, so the
/// scan ends only after two passes in a row found nothing: a pass reads every process's
/// environment, which takes longer than that moment.
pub fn kill_where(marked: impl Fn(&[u8]) -> bool) {
    let own_group = getpgrp();
    let own = Pid::this();
    let mut found_nothing = 0;
    for _ in 0..PASSES {
        let found = marked_processes(&marked, own);
        if found.is_empty() {
            found_nothing += 1;
            if found_nothing == 2 {
                return;
            }
            continue;
        }
        found_nothing = 0;
        for pid in found {
            if let Ok(group) = getpgid(Some(pid)) {
                if group.as_raw() > 1 && group != own_group {
                    let _ = killpg(group, Signal::SIGKILL);
                }
            }
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// A process found by [`find_where`], as it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Its process id.
    pub pid: Pid,
    /// The `FLOW_ID` in its environment, if any.
    pub flow: Option<String>,
    /// Its command line, the arguments joined by spaces (empty for a process that has none
    /// any more), as `/proc` shows it: not yet safe to print.
    pub command: String,
}

/// The processes (but this one) whose environment `marked` accepts, for [`stop`]. Blocks
/// while it reads `/proc`.
pub(crate) fn find_where(marked: &impl Fn(&[u8]) -> bool) -> Vec<Found> {
    let own = Pid::this();
    // Two passes, as in `kill_where`: a process in the middle of an `exec` may be missed once.
    let mut found = marked_environments(marked, own);
    if found.is_empty() {
        found = marked_environments(marked, own);
    }
    found
        .into_iter()
        .map(|(pid, env)| Found {
            pid,
            flow: Attempt::in_environment(&env)
                .map(|a| String::from_utf8_lossy(&a.flow).into_owned()),
            command: command_line(pid),
        })
        .collect()
}

/// The grace the processes `found` get when they are stopped together ([`stop`]): the
/// longest `grace_of` their `FLOW_ID`s.
pub(crate) fn longest_grace(
    found: &[Found],
    grace_of: impl Fn(Option<&str>) -> Duration,
) -> Duration {
    (found.iter())
        .map(|f| grace_of(f.flow.as_deref()))
        .max()
        .unwrap_or_default()
}

/// Stops the processes `found` ([`find_where`]) as a flow is stopped: SIGTERM and SIGCONT to
/// each and its process group (unless that is this process's), up to `grace` for them to
/// exit ([`longest_grace`]), then SIGKILL ([`kill_where`]) for whatever `marked` still
/// accepts, left or started meanwhile. Blocks.
pub(crate) fn stop(found: &[Found], marked: impl Fn(&[u8]) -> bool, grace: Duration) {
    if found.is_empty() {
        return;
    }
    let own_group = getpgrp();
    for process in found {
        for signal in [Signal::SIGTERM, Signal::SIGCONT] {
            if let Ok(group) = getpgid(Some(process.pid)) {
                if group.as_raw() > 1 && group != own_group {
                    let _ = killpg(group, signal);
                }
            }
            let _ = kill(process.pid, signal);
        }
    }
    // Not this process's children, but their ends can be awaited all the same (pidfds).
    let pids: Vec<u32> = (found.iter())
        .filter_map(|f| u32::try_from(f.pid.as_raw()).ok())
        .collect();
    flow_pool::wait_gone(&pids, grace);
    kill_where(marked);
}

/// The command line of process `pid`, its arguments joined by spaces.
fn command_line(pid: Pid) -> String {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<_> = bytes
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(String::from_utf8_lossy)
        .collect();
    args.join(" ")
}

/// Whether the environment `env` holds `var` (`KEY=value`) as one of its variables.
pub(crate) fn holds(env: &[u8], var: &[u8]) -> bool {
    env.split(|&b| b == 0).any(|v| v == var)
}

/// The live processes (not `own`) whose environment `marked` accepts.
pub(crate) fn marked_processes(marked: &impl Fn(&[u8]) -> bool, own: Pid) -> Vec<Pid> {
    marked_environments(marked, own)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// The live processes (not `own`) whose environment `marked` accepts, with that environment.
fn marked_environments(marked: &impl Fn(&[u8]) -> bool, own: Pid) -> Vec<(Pid, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| pid_of(&entry.file_name()))
        .filter(|&pid| pid != own && pid.as_raw() > 1)
        .filter_map(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            marked(&env).then_some((pid, env))
        })
        .filter(|(pid, _)| u32::try_from(pid.as_raw()).is_ok_and(crate::liveness::process_alive))
        .collect()
}

fn pid_of(name: &OsStr) -> Option<Pid> {
    name.to_str()?.parse().ok().map(Pid::from_raw)
}

/// The run's command executor, wrapped: when an attempt timed out, the processes that carry
/// its `FLOW_RUN_ID`, `FLOW_ID` and `FLOW_ATTEMPT` are killed before its end is reported (so
/// before a retry starts); a cancelled attempt is remembered, and what it left is killed by
/// [`after_stop`](Self::after_stop), once for all of them.
#[derive(Debug)]
pub struct Sweep {
    inner: Arc<dyn CommandExecutor>,
    cancelled: Mutex<HashSet<Attempt>>,
}

impl Sweep {
    /// `inner`, followed by a sweep after each attempt stopped by its timeout.
    pub fn new(inner: Arc<dyn CommandExecutor>) -> Self {
        Sweep {
            inner,
            cancelled: Mutex::new(HashSet::new()),
        }
    }

    /// Kills, in one scan, every process that an attempt cancelled so far left; call it once
    /// the run is over (nothing to do when none was cancelled).
    pub async fn after_stop(&self) {
        let cancelled = std::mem::take(
            &mut *self
                .cancelled
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if cancelled.is_empty() {
            return;
        }
        let swept = tokio::task::spawn_blocking(move || {
            kill_where(|env| Attempt::in_environment(env).is_some_and(|a| cancelled.contains(&a)));
        })
        .await;
        if let Err(error) = swept {
            tracing::warn!(%error, "could not look for processes the stopped flows left");
        }
    }
}

impl CommandExecutor for Sweep {
    fn run_prepared<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        prepare: Prepare,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        Box::pin(async move {
            let outcome = self
                .inner
                .run_prepared(spec, timeout, cancel.clone(), prepare)
                .await;
            let end = outcome.as_ref().ok().map(|outcome| outcome.end);
            // A command killed by the signal that stopped the run ends killed by it, not
            // cancelled, but the run cancels it ([`crate::stopped_together`]): alike.
            let end = match end {
                Some(CommandEnd::Signaled(_)) if cancel.is_cancelled() => {
                    Some(CommandEnd::Cancelled)
                }
                end => end,
            };
            match (end, Attempt::of(spec)) {
                (Some(CommandEnd::TimedOut(_)), Some(attempt)) => {
                    let swept = tokio::task::spawn_blocking(move || {
                        kill_where(|env| Attempt::in_environment(env).as_ref() == Some(&attempt));
                    })
                    .await;
                    if let Err(error) = swept {
                        tracing::warn!(%error, "could not look for processes the command left");
                    }
                }
                (Some(CommandEnd::Cancelled), Some(attempt)) => {
                    (self.cancelled.lock())
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(attempt);
                }
                _ => {}
            }
            outcome
        })
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        self.inner.settled()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;
    use std::process::{Child, Command, Stdio};

    use super::*;

    /// A shell with `vars` in its environment that has printed a line and waits on its
    /// stdin. It is returned only once that line is read: until its `exec` is over, a
    /// process's `/proc/PID/environ` can read empty, and `spawn` returns before that point.
    pub(crate) fn marked_shell(vars: &[(&str, &str)]) -> Child {
        marked_script(vars, "echo ready && read never")
    }

    /// [`marked_shell`] running `script`, which prints `ready` first.
    fn marked_script(vars: &[(&str, &str)], script: &str) -> Child {
        let mut child = Command::new("/bin/sh")
            .args(["-c", script])
            .envs(vars.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = [0u8; 6];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut line)
            .unwrap();
        assert_eq!(&line, b"ready\n");
        child
    }

    #[test]
    fn only_the_processes_of_the_attempt_are_killed() {
        let run = format!("sweep-test-{}", std::process::id());
        let attempt = |n: &'static str| {
            [
                ("FLOW_RUN_ID", run.as_str()),
                ("FLOW_ID", "a"),
                ("FLOW_ATTEMPT", n),
            ]
        };
        let mut first = marked_shell(&attempt("1"));
        let mut retry = marked_shell(&attempt("2"));
        let target = Attempt {
            run: run.clone().into_bytes(),
            flow: b"a".to_vec(),
            attempt: b"1".to_vec(),
        };
        let marked = |env: &[u8]| Attempt::in_environment(env).as_ref() == Some(&target);
        let found = marked_processes(&marked, Pid::this());
        assert_eq!(found, vec![Pid::from_raw(first.id() as i32)]);
        kill_where(marked);
        assert!(first.wait().unwrap().code().is_none(), "killed by a signal");
        assert!(marked_processes(&marked, Pid::this()).is_empty());
        assert!(
            retry.try_wait().unwrap().is_none(),
            "another attempt's process is left"
        );
        retry.kill().unwrap();
        retry.wait().unwrap();
    }

    #[test]
    fn stopping_sends_sigterm_and_kills_what_ignores_it_after_the_grace() {
        use std::os::unix::process::ExitStatusExt;
        let run = format!("stop-test-{}", std::process::id());
        let vars = [
            ("FLOW_RUN_ID", run.as_str()),
            ("FLOW_ID", "a"),
            ("FLOW_ATTEMPT", "1"),
        ];
        let mut polite = marked_shell(&vars);
        let mut stubborn = marked_script(&vars, "trap '' TERM; echo ready; read never");
        let marked = crate::watchdog::of_run(&run);
        let asked = std::cell::RefCell::new(Vec::new());
        let found = find_where(&marked);
        let grace = longest_grace(&found, |flow| {
            asked.borrow_mut().push(flow.map(str::to_owned));
            Duration::from_millis(100)
        });
        stop(&found, &marked, grace);
        let mut pids: Vec<_> = found.iter().map(|f| f.pid.as_raw() as u32).collect();
        pids.sort_unstable();
        let mut expected = vec![polite.id(), stubborn.id()];
        expected.sort_unstable();
        assert_eq!(pids, expected);
        assert!(found
            .iter()
            .all(|f| f.flow.as_deref() == Some("a") && f.command.starts_with("/bin/sh -c ")));
        assert_eq!(asked.into_inner(), vec![Some("a".to_owned()); 2]);
        assert_eq!(
            polite.wait().unwrap().signal(),
            Some(Signal::SIGTERM as i32)
        );
        assert_eq!(
            stubborn.wait().unwrap().signal(),
            Some(Signal::SIGKILL as i32)
        );
        assert!(find_where(&marked).is_empty());
    }

    #[test]
    fn an_attempt_is_read_from_the_first_value_of_each_variable() {
        let env = b"A=1\0FLOW_ID=b\0FLOW_RUN_ID=r\0FLOW_ATTEMPT=2\0FLOW_ID=c\0";
        let attempt = Attempt::in_environment(env).unwrap();
        assert_eq!(
            (attempt.run, attempt.flow, attempt.attempt),
            (b"r".to_vec(), b"b".to_vec(), b"2".to_vec())
        );
        assert_eq!(Attempt::in_environment(b"FLOW_ID=b\0FLOW_ATTEMPT=2"), None);
        assert!(holds(b"X=1\0FLOW_RUN_ID=r\0", b"FLOW_RUN_ID=r"));
        assert!(!holds(b"FLOW_RUN_ID=rr\0", b"FLOW_RUN_ID=r"));
    }
}
