//! Killing what a run's commands left behind. Every command of a run gets `FLOW_RUN_ID`,
//! `FLOW_ID` and `FLOW_ATTEMPT` in its environment, and its children inherit them; so a
//! process that left its command's process group (`setsid`, a daemon) is still found, by
//! scanning `/proc/*/environ`, with no bookkeeping while the run goes.
//!
//! Two callers: the watchdog ([`crate::watchdog`]) kills every process of a run whose `flow`
//! died or that was stopped (Ctrl-C, SIGTERM); [`Sweep`] kills what an attempt left when it
//! timed out, since stopping its process group does not reach a process that left it. An
//! attempt that ended by itself keeps what it started in the background on purpose.
//!
//! A process that cleared or rewrote its environment (`env -i`, a program that sets its
//! process title over it) is not found, nor one that starts a new copy of itself and exits
//! again and again, each living less than a pass over `/proc`.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use flow_core::{CancellationToken, CommandExecutor, CommandSpec};
use flow_pool::{BoxFuture, CommandEnd, CommandOutcome, PoolError};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgid, getpgrp, Pid};

use crate::logs::env_value;

/// At most this many passes over `/proc` (a process may fork while it is being killed).
const PASSES: usize = 50;

/// The variables that mark the processes of one attempt.
const ATTEMPT_VARIABLES: [&str; 3] = ["FLOW_RUN_ID", "FLOW_ID", "FLOW_ATTEMPT"];

/// SIGKILLs every process (but this one) whose environment holds each of `markers` (each a
/// whole `KEY=value` variable), and its process group unless that is this process's, until
/// none is left. Blocks while it reads `/proc`.
///
/// A process in the middle of an `exec` shows an empty environment for a moment, so the
/// scan ends only after two passes in a row found nothing: a pass reads every process's
/// environment, which takes longer than that moment.
pub fn kill_marked(markers: &[Vec<u8>]) {
    let own_group = getpgrp();
    let own = Pid::this();
    let mut found_nothing = 0;
    for _ in 0..PASSES {
        let found = marked_processes(markers, own);
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

/// The live processes (not `own`) whose environment holds every one of `markers`.
pub(crate) fn marked_processes(markers: &[Vec<u8>], own: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| pid_of(&entry.file_name()))
        .filter(|&pid| pid != own && pid.as_raw() > 1)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                markers
                    .iter()
                    .all(|marker| env.split(|&b| b == 0).any(|var| var == marker))
            })
        })
        .filter(|pid| u32::try_from(pid.as_raw()).is_ok_and(crate::run_lock::alive))
        .collect()
}

fn pid_of(name: &OsStr) -> Option<Pid> {
    name.to_str()?.parse().ok().map(Pid::from_raw)
}

/// The run's command executor, wrapped: when an attempt timed out, the processes that carry
/// its `FLOW_RUN_ID`, `FLOW_ID` and `FLOW_ATTEMPT` are killed before its end is reported (so
/// before a retry starts). A cancelled attempt is left to the end of the run, whose stop
/// kills every process of the run in one pass ([`crate::watchdog::Watchdog`]).
#[derive(Debug)]
pub struct Sweep {
    inner: Arc<dyn CommandExecutor>,
}

impl Sweep {
    /// `inner`, followed by a sweep after each attempt stopped by its timeout.
    pub fn new(inner: Arc<dyn CommandExecutor>) -> Self {
        Sweep { inner }
    }
}

/// The markers of the attempt `spec` starts, if flow-core set them.
fn attempt_markers(spec: &CommandSpec) -> Option<Vec<Vec<u8>>> {
    (ATTEMPT_VARIABLES.iter())
        .map(|key| env_value(spec, key).map(|value| format!("{key}={value}").into_bytes()))
        .collect()
}

impl CommandExecutor for Sweep {
    fn run<'a>(
        &'a self,
        spec: &'a CommandSpec,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<CommandOutcome, PoolError>> {
        Box::pin(async move {
            let outcome = self.inner.run(spec, timeout, cancel).await;
            let timed_out = matches!(
                &outcome,
                Ok(CommandOutcome {
                    end: CommandEnd::TimedOut(_),
                    ..
                })
            );
            if let Some(markers) = timed_out.then(|| attempt_markers(spec)).flatten() {
                let swept = tokio::task::spawn_blocking(move || kill_marked(&markers)).await;
                if let Err(error) = swept {
                    tracing::warn!(%error, "could not look for processes the command left");
                }
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
        let mut child = Command::new("/bin/sh")
            .args(["-c", "echo ready && read never"])
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
    fn only_processes_with_every_marker_are_killed() {
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
        let markers: Vec<Vec<u8>> = attempt("1")
            .iter()
            .map(|(k, v)| format!("{k}={v}").into_bytes())
            .collect();
        let found = marked_processes(&markers, Pid::this());
        assert_eq!(found, vec![Pid::from_raw(first.id() as i32)]);
        kill_marked(&markers);
        assert!(first.wait().unwrap().code().is_none(), "killed by a signal");
        assert!(marked_processes(&markers, Pid::this()).is_empty());
        assert!(
            retry.try_wait().unwrap().is_none(),
            "another attempt's process is left"
        );
        retry.kill().unwrap();
        retry.wait().unwrap();
    }
}
