//! Ctrl-C for `flow run`: SIGINT, SIGTERM and SIGHUP (the terminal or the ssh session closed)
//! become events. The first cancels the run (no flow starts any more, running commands get
//! SIGTERM and their grace period, everything is recorded cancelled); the second kills the
//! running commands at once. A SIGHUP this process was started ignoring (`nohup flow run`)
//! stays ignored, and so it does in the commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use flow_core::FlowContext;
use flow_pool::CommandRunner;
use tokio::signal::unix::{signal, SignalKind};

use crate::terminal;

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
/// that reacts to them; abort it when the run is over.
///
/// # Errors
/// When the handlers cannot be installed.
pub fn watch(
    ctx: FlowContext,
    runner: CommandRunner,
) -> std::io::Result<(Interrupted, tokio::task::JoinHandle<()>)> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = match flow_pool::signal_is_ignored(nix::sys::signal::Signal::SIGHUP as i32) {
        true => None,
        false => Some(signal(SignalKind::hangup())?),
    };
    let interrupted = Interrupted::default();
    let flag = interrupted.clone();
    let task = tokio::spawn(async move {
        let mut count = 0u32;
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
            count += 1;
            flag.0.store(true, Ordering::SeqCst);
            if count == 1 {
                tracing::info!("{name}: cancelling the run");
                terminal::eprint_line(&format!(
                    "{name}: stopping; running flows get SIGTERM and a grace period \
                     (press Ctrl-C again to kill them at once)"
                ));
                ctx.cancel_all();
            } else {
                tracing::info!("{name} again: killing running commands");
                terminal::eprint_line(&format!("{name} again: killing running flows now"));
                runner.skip_grace();
                ctx.cancel_all();
            }
        }
    });
    Ok((interrupted, task))
}
