//! Ctrl-C for `flow run`: SIGINT, SIGTERM and SIGHUP (the terminal or the ssh session closed)
//! become events. The first cancels the run (no flow starts any more, running commands get
//! SIGTERM and their grace period, everything is recorded cancelled); the second kills the
//! running commands at once. A signal within [`SAME_STOP`] of the first is part of the same
//! stop: GNU `timeout` sends SIGTERM to its child and then to its whole process group, so
//! `flow` gets two at once. A SIGHUP this process was started ignoring (`nohup flow run`)
//! stays ignored, and so it does in the commands; one it was started blocking is unblocked,
//! as are SIGINT and SIGTERM. Once the run is over, [`release`] gives them back their
//! default action: a signal then ends the process.
//!
//! From the moment `flow run` takes the workflow's lock, while it stops what a dead run left
//! running ([`crate::takeover`]) and gets the run ready, the signals are held ([`hold`]): one
//! that comes then waits, and [`watch`] takes it as the first stop, before the run starts: no
//! flow starts, and the run is recorded with every flow cancelled. So a stop never cuts a
//! takeover short. Before the lock (reading the workflow, which may wait on a pipe, and
//! opening the store), a signal ends `flow` as usual; the threads started then hold them
//! from the start ([`held_while`]), so that once held they reach no thread. While the takeover
//! waits for a dead run's processes to end, [`Acknowledge`] answers a stop signal at once (it
//! is still the run's first stop, taken by [`watch`]), and a second one kills them without
//! waiting out their grace.

use std::io::IsTerminal;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flow_core::CancellationToken;
use flow_pool::CommandRunner;
use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};

use crate::terminal;

/// How soon after the first a stop signal is part of the same stop (faster than anyone
/// presses Ctrl-C twice).
pub(crate) const SAME_STOP: Duration = Duration::from_millis(100);

/// The signals that stop a run.
pub(crate) const HANDLED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The signals of [`HANDLED`] that stop this run: all but a SIGHUP this process ignores
/// (`nohup`), which the kernel drops.
fn stopping() -> impl Iterator<Item = Signal> {
    HANDLED.into_iter().filter(|&handled| {
        !(handled == Signal::SIGHUP && flow_pool::signal_is_ignored(handled as i32))
    })
}

/// Once the run is over (the task of [`watch`] aborted): SIGINT, SIGTERM and (unless it is
/// ignored) SIGHUP end the process again, as if no handler had been installed, so that a
/// `flow` blocked writing its summary to a full pipe can still be stopped.
pub fn release() {
    for handled in stopping() {
        if let Err(error) = flow_pool::restore_default_action(handled as i32) {
            tracing::debug!(%error, signal = %handled, "keeps its handler");
        }
    }
}

/// Holds the stop signals in this thread, until [`watch`] takes them. Every other thread
/// must hold them already (see [`held_while`]): a process's signal goes to any thread that
/// does not.
pub fn hold() {
    for handled in HANDLED {
        if let Err(error) = flow_pool::block(handled as i32) {
            tracing::debug!(%error, signal = %handled, "cannot hold it until the run");
        }
    }
}

/// Runs `start` with the stop signals held in this thread, so that the threads it starts hold
/// them for good, then gives this thread its mask back.
pub fn held_while<T>(start: impl FnOnce() -> T) -> T {
    let mask = nix::sys::signal::SigSet::thread_get_mask();
    hold();
    let started = start();
    if let Ok(mask) = mask {
        if let Err(error) = mask.thread_set_mask() {
            tracing::debug!(%error, "keeps the stop signals held");
        }
    }
    started
}

/// A stop signal that came while the signals were held and that [`Acknowledge`] took, with
/// when it came: the run's first stop, which [`watch`] takes as one still held.
static TAKEN: Mutex<Option<(&'static str, Instant)>> = Mutex::new(None);

/// The stop signals [`Acknowledge`] takes: those [`take_held`] takes.
fn taken_set() -> nix::sys::signal::SigSet {
    stopping().collect()
}

/// While the stop signals are held ([`hold`]) and `flow run` waits for something it must
/// finish (the takeover's stop of a dead run's processes): a thread that answers a stop
/// signal at once, on stderr, and keeps it as the run's first stop (for [`watch`]); at a
/// second one, later than [`SAME_STOP`], it says so and runs `again` (to cut the wait
/// short). It ends when dropped; a signal that comes after that waits, held, as before.
#[derive(Debug)]
pub struct Acknowledge {
    /// Closed when dropped: the thread's poll then ends.
    done: Option<OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Acknowledge {
    /// Starts the thread: at the first stop signal it prints `SIGNAL: {first} (HINT)`, the
    /// hint saying how to send it again (Ctrl-C, SIGTERM), at a later
    /// one `SIGNAL again: {again_line}` and runs `again`. `None` when it cannot be started
    /// (no `signalfd`): the signals are held all the same, only unanswered until the run.
    pub fn start(
        first: String,
        again_line: String,
        again: impl FnOnce() + Send + 'static,
    ) -> Option<Acknowledge> {
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let started =
            SignalFd::with_flags(&taken_set(), SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
                .map_err(std::io::Error::from)
                .and_then(|signals| {
                    let (wake, done) = nix::unistd::pipe().map_err(std::io::Error::from)?;
                    // The thread holds the signals: it inherits this thread's mask.
                    let thread = std::thread::Builder::new()
                        .name("flow-held-signals".into())
                        .spawn(move || answer(&signals, &wake, &first, &again_line, again))?;
                    Ok((done, thread))
                });
        match started {
            Ok((done, thread)) => Some(Acknowledge {
                done: Some(done),
                thread: Some(thread),
            }),
            Err(error) => {
                tracing::debug!(%error, "a stop signal is answered only once the run starts");
                None
            }
        }
    }
}

impl Drop for Acknowledge {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread of [`Acknowledge`]: answers the stop signals `signals` reads until `wake` is
/// closed.
fn answer(
    signals: &nix::sys::signalfd::SignalFd,
    wake: &OwnedFd,
    first_line: &str,
    again_line: &str,
    again: impl FnOnce(),
) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut again = Some(again);
    loop {
        let mut fds = [
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(error) => {
                tracing::debug!(%error, "stops answering stop signals");
                return;
            }
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return;
        }
        let Ok(Some(info)) = signals.read_signal() else {
            continue;
        };
        let name = Signal::try_from(info.ssi_signo as i32).map_or("a stop signal", Signal::as_str);
        let mut taken = TAKEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *taken {
            None => {
                *taken = Some((name, Instant::now()));
                drop(taken);
                tracing::info!("{name} while held: the run stops once the wait is over");
                terminal::eprint_line(&format!("{name}: {first_line} ({})", again_hint(name)));
            }
            Some((_, at)) if at.elapsed() < SAME_STOP => {
                tracing::debug!("{name} right after the first: the same stop");
            }
            Some(_) => {
                drop(taken);
                if let Some(again) = again.take() {
                    terminal::eprint_line(&format!("{name} again: {again_line}"));
                    again();
                }
            }
        }
    }
}

/// How to stop at once after the stop signal `name` (`SIGINT`, ...): the same signal again, said
/// as the one who sent it would do it. SIGINT is a person's Ctrl-C only when `flow`'s stderr,
/// where the hint is shown, is a terminal; into a pipe or a file (CI, `kill -INT` from a
/// script) it is named, as SIGTERM (CI, `timeout`, `kill`) and SIGHUP (a closed terminal) are.
fn again_hint(name: &str) -> String {
    hint_for(name, std::io::stderr().is_terminal())
}

/// [`again_hint`], with stderr `on_terminal` or not.
fn hint_for(name: &str, on_terminal: bool) -> String {
    match name {
        "SIGINT" if on_terminal => "press Ctrl-C again to kill them at once".to_owned(),
        "SIGINT" | "SIGTERM" | "SIGHUP" => format!("send {name} again to kill them at once"),
        _ => "send a stop signal again to kill them at once".to_owned(),
    }
}

/// Whether a signal interrupted the run; shared with the signal task.
#[derive(Debug, Clone, Default)]
pub struct Interrupted(Arc<AtomicBool>);

impl Interrupted {
    /// Whether a signal came.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Installs the handlers now (so a signal from here on is never lost) and returns the task
/// that reacts to them, cancelling `stop` (the run's token) at the first; abort it when the
/// run is over. A signal that came while they were held ([`hold`]) is that first stop, taken
/// now: `stop` is cancelled before this returns.
///
/// # Errors
/// When the handlers cannot be installed.
pub fn watch(
    stop: CancellationToken,
    runner: CommandRunner,
) -> std::io::Result<(Interrupted, tokio::task::JoinHandle<()>)> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = match flow_pool::signal_is_ignored(Signal::SIGHUP as i32) {
        true => None,
        false => Some(signal(SignalKind::hangup())?),
    };
    let interrupted = Interrupted::default();
    // When the first stop signal came; none yet.
    let mut first: Option<Instant> = None;
    // One that came while held (or blocked by a launcher) stops the run before it starts.
    if let Some(name) = take_held() {
        first = Some(Instant::now());
        interrupted.0.store(true, Ordering::SeqCst);
        tracing::info!("{name} before the run: cancelling it");
        terminal::eprint_line(&format!(
            "{name}: stopping before the run starts; no flow starts"
        ));
        stop.cancel();
    }
    // Unblocked once handled (a launcher's mask is inherited): one that comes from now on is
    // taken by the handlers. The threads started before keep the mask; this one takes the
    // signals.
    for handled in HANDLED {
        flow_pool::unblock(handled as i32)?;
    }
    let flag = interrupted.clone();
    let task = tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
                Some(_) = async {
                    match &mut hangup {
                        Some(hangup) => hangup.recv().await,
                        None => std::future::pending().await,
                    }
                } => "SIGHUP",
            };
            if first.is_some_and(|at| at.elapsed() < SAME_STOP) {
                tracing::debug!("{name} right after the first: the same stop");
                continue;
            }
            let again = first.is_some();
            first.get_or_insert_with(Instant::now);
            flag.0.store(true, Ordering::SeqCst);
            if !again {
                tracing::info!("{name}: cancelling the run");
                terminal::eprint_line(&format!(
                    "{name}: stopping; running flows get SIGTERM and a grace period ({})",
                    again_hint(name)
                ));
                stop.cancel();
            } else {
                tracing::info!("{name} again: killing running commands");
                terminal::eprint_line(&format!("{name} again: killing running flows now"));
                runner.skip_grace();
                stop.cancel();
            }
        }
    });
    Ok((interrupted, task))
}

/// Takes the stop signals that are pending, held or blocked since `flow` started; the name of
/// one, if any came (several are one stop), or of the one [`Acknowledge`] took. An ignored
/// SIGHUP (`nohup`) is left pending: the kernel drops it once unblocked.
fn take_held() -> Option<&'static str> {
    let mut taken = (TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
    .take()
    .map(|(name, _)| name);
    for handled in stopping() {
        match flow_pool::take_pending(handled as i32) {
            Ok(true) => {
                taken.get_or_insert(handled.as_str());
            }
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, signal = %handled, "cannot tell if it came"),
        }
    }
    taken
}

/// Exit code of a run stopped by a signal.
const EXIT_INTERRUPTED: u8 = 130;

/// The exit code of a run `stopped` by a signal or not, that `succeeded` or not: a stop that
/// came once every flow had completed stopped nothing, and the code agrees with the record.
pub fn exit_code(stopped: bool, succeeded: bool) -> u8 {
    match (succeeded, stopped) {
        (true, _) => 0,
        (false, true) => EXIT_INTERRUPTED,
        (false, false) => 1,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hint_to_stop_at_once_names_the_signal_that_came() {
        // SIGINT is Ctrl-C on a terminal; without one (CI, `kill -INT`) it is named.
        for (name, on_terminal, hint) in [
            ("SIGINT", true, "press Ctrl-C again to kill them at once"),
            ("SIGINT", false, "send SIGINT again to kill them at once"),
            ("SIGTERM", true, "send SIGTERM again to kill them at once"),
            ("SIGTERM", false, "send SIGTERM again to kill them at once"),
            ("SIGHUP", false, "send SIGHUP again to kill them at once"),
            (
                "a stop signal",
                false,
                "send a stop signal again to kill them at once",
            ),
        ] {
            assert_eq!(super::hint_for(name, on_terminal), hint, "{name}");
        }
    }

    #[test]
    fn the_exit_code_agrees_with_the_run() {
        // The last: a stop that came once every flow had completed.
        for (stopped, succeeded, code) in [
            (false, true, 0),
            (false, false, 1),
            (true, false, 130),
            (true, true, 0),
        ] {
            assert_eq!(
                super::exit_code(stopped, succeeded),
                code,
                "{stopped} {succeeded}"
            );
        }
    }
}
