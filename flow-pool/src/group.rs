//! Bringing a process group down: SIGTERM, a grace period, SIGKILL, and a check that the group
//! is empty before anyone is told the work has ended.

use std::future::Future;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio_util::sync::CancellationToken;

use crate::sys::{group_exists, group_has_live_member, reap_group_orphans, signal_group};

/// How long members left in a group when its leader exited by itself may take to end by
/// themselves before they get SIGTERM.
const SETTLE: Duration = Duration::from_millis(100);
/// How long to keep probing a group after SIGKILL before giving up with a warning (only a
/// zombie that nobody reaps can survive SIGKILL that long).
const KILL_PROBE_LIMIT: Duration = Duration::from_secs(2);
/// A grace period longer than this is waited as this (about 30 years: as good as forever, and
/// an `Instant` can hold it).
const LONGEST_GRACE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// Policy for stopping a group: how long SIGTERM may take, and a token that cuts the grace
/// period short (set by a pool's shutdown when its own grace ran out).
#[derive(Debug, Clone)]
pub(crate) struct StopPolicy {
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// When cancelled, any grace period still running ends at once.
    pub hurry: CancellationToken,
}

/// The leader of a group: a child of this process that can be awaited (a command's, or a
/// worker process's).
pub(crate) trait Leader {
    /// Waits for the leader to end and reaps it. Cancel-safe.
    fn wait(&mut self) -> impl Future<Output = std::io::Result<ExitStatus>> + Send;
}

impl Leader for tokio::process::Child {
    fn wait(&mut self) -> impl Future<Output = std::io::Result<ExitStatus>> + Send {
        tokio::process::Child::wait(self)
    }
}

/// How a process group that was stopped (SIGTERM first) came to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It ended without SIGKILL: on SIGTERM, within its grace period.
    Term,
    /// A process of it did not end on SIGTERM: the group was killed with SIGKILL once its
    /// grace period, this long, was over.
    KilledAfterGrace(Duration),
    /// It was killed with SIGKILL before its grace period was over, as asked (a second stop,
    /// a pool's shutdown).
    KilledInHurry,
    /// Its grace period is zero (kill at once): it was killed with SIGKILL without waiting
    /// for SIGTERM to end it, as asked.
    KilledAtOnce,
}

impl Stop {
    /// Whether SIGTERM was not enough: the group was killed with SIGKILL after SIGTERM had
    /// its time (none with a zero grace period, whose kill says nothing of SIGTERM).
    pub fn killed(self) -> bool {
        matches!(self, Stop::KilledAfterGrace(_) | Stop::KilledInHurry)
    }

    /// How a group still running once `grace` is over is stopped.
    fn after(grace: Duration) -> Self {
        if grace.is_zero() {
            Stop::KilledAtOnce
        } else {
            Stop::KilledAfterGrace(grace)
        }
    }
}

/// After "it": `did not stop on SIGTERM, so it was killed (SIGKILL) after its grace period
/// of 5s`.
impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Term => f.write_str("stopped on SIGTERM"),
            Stop::KilledAfterGrace(grace) => write!(
                f,
                "did not stop on SIGTERM, so it was killed (SIGKILL) after its grace period \
                 of {grace:?}"
            ),
            Stop::KilledInHurry => {
                f.write_str("was killed (SIGKILL) before its grace period was over, as asked")
            }
            Stop::KilledAtOnce => {
                f.write_str("was killed (SIGKILL) at once, its grace period being 0s")
            }
        }
    }
}

/// What [`stop_group`] learnt: the leader's exit status if it could be read, and whether the
/// group ended on SIGTERM or had to be killed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopped {
    pub status: Option<ExitStatus>,
    pub stop: Stop,
}

/// Stops the group whose leader is `leader`: SIGTERM to the group, up to the grace period for
/// the leader to exit, then SIGKILL to the group; reaps the leader, then makes sure the whole
/// group is gone (see [`clear_group`]).
pub(crate) async fn stop_group(
    leader: &mut impl Leader,
    pgid: u32,
    policy: &StopPolicy,
) -> Stopped {
    term_group(pgid);
    let ended = tokio::select! {
        status = leader.wait() => Ok(status.ok()),
        () = tokio::time::sleep(policy.grace) => Err(Stop::after(policy.grace)),
        () = policy.hurry.cancelled() => Err(Stop::KilledInHurry),
    };
    let (status, killed) = match ended {
        Ok(status) => (status, None),
        Err(stop) => {
            tracing::debug!(pgid, ?stop, "sending SIGKILL to the group");
            signal_group(pgid, Signal::SIGKILL);
            match leader.wait().await {
                Ok(status) => (Some(status), Some(stop)),
                Err(error) => {
                    tracing::warn!(pgid, %error, "could not reap group leader");
                    (None, Some(stop))
                }
            }
        }
    };
    let members = clear_group(pgid, policy, Signalled::Term).await;
    Stopped {
        status,
        stop: killed.unwrap_or(members),
    }
}

/// SIGTERM to the group, then SIGCONT: a stopped member (SIGSTOP, a debugger) would
/// otherwise not act on SIGTERM before the grace period ends.
fn term_group(pgid: u32) {
    signal_group(pgid, Signal::SIGTERM);
    signal_group(pgid, Signal::SIGCONT);
}

/// Which signal a group already received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signalled {
    /// None yet: the leader exited on its own.
    Nothing,
    /// SIGTERM was sent to the group.
    Term,
}

/// Called after the leader was reaped: if members of the group are left (background jobs,
/// grandchildren), they get [`SETTLE`] to end by themselves when the leader exited by itself,
/// then SIGTERM, the grace period, then SIGKILL; returns once no member
/// runs (zombies that are not ours to reap do not count), or, after SIGKILL, when
/// [`KILL_PROBE_LIMIT`] passed, with a warning. Says whether members had to be killed.
///
/// Non-children cannot be awaited, so this probes with `killpg(pgid, 0)` at growing intervals
/// (1 ms to 50 ms); it returns at the first probe that finds the group empty, which for a
/// group that died with its leader is the first one.
pub(crate) async fn clear_group(pgid: u32, policy: &StopPolicy, signalled: Signalled) -> Stop {
    // The usual case, a group gone with its leader, costs one probe; zombies of members that
    // this process can reap (as a subreaper) keep the group alive until reaped.
    if !group_exists(pgid) {
        return Stop::Term;
    }
    reap_group_orphans(pgid);
    if !group_alive(pgid) {
        return Stop::Term;
    }
    if signalled == Signalled::Nothing {
        // Members finishing what the leader left them (a `tee` of its output, `exec >
        // >(tee log)`) get a moment to end by themselves.
        if probe_until_empty(pgid, Instant::now() + SETTLE, Some(&policy.hurry)).await {
            return Stop::Term;
        }
        tracing::warn!(
            pgid,
            "the command ended with processes of its group still running (background jobs): \
             they get SIGTERM now; start one that must outlive its flow with `setsid`"
        );
        term_group(pgid);
    }
    let deadline = Instant::now() + policy.grace.min(LONGEST_GRACE);
    if probe_until_empty(pgid, deadline, Some(&policy.hurry)).await {
        return Stop::Term;
    }
    let stop = if Instant::now() < deadline {
        Stop::KilledInHurry
    } else {
        Stop::after(policy.grace)
    };
    tracing::debug!(
        pgid,
        ?stop,
        "group members did not end on SIGTERM, sending SIGKILL"
    );
    signal_group(pgid, Signal::SIGKILL);
    if !probe_until_empty(pgid, Instant::now() + KILL_PROBE_LIMIT, None).await {
        tracing::warn!(
            pgid,
            "processes of the command's group still exist after SIGKILL: zombies that no \
             process reaps (a container whose PID 1 does not reap orphans?)"
        );
    }
    stop
}

/// Whether a member of the group still runs: `killpg(pgid, 0)` finds one, and it is not a
/// zombie that another process (a slow PID 1) has yet to reap. A zombie runs nothing and
/// holds no pipe, so waiting for somebody else to reap it would only delay the outcome (by
/// seconds in some containers).
fn group_alive(pgid: u32) -> bool {
    group_exists(pgid) && group_has_live_member(pgid).unwrap_or(true)
}

/// Probes the group until it is empty (`true`), the deadline passes or `hurry` is cancelled
/// (`false`).
async fn probe_until_empty(
    pgid: u32,
    deadline: Instant,
    hurry: Option<&CancellationToken>,
) -> bool {
    let mut pause = Duration::from_millis(1);
    loop {
        reap_group_orphans(pgid);
        if !group_alive(pgid) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline || hurry.is_some_and(CancellationToken::is_cancelled) {
            return false;
        }
        let nap = pause.min(deadline - now);
        match hurry {
            Some(hurry) => {
                tokio::select! {
                    () = tokio::time::sleep(nap) => {}
                    () = hurry.cancelled() => {}
                }
            }
            None => tokio::time::sleep(nap).await,
        }
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
