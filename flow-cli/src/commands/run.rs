//! `flow run FILE`: builds a flow-core context from the workflow (one command flow per
//! `[flows.X]`, dependencies in one batch), runs it with progress and Ctrl-C handling, and
//! prints the summary or the `--json` document.

use std::io::IsTerminal;
use std::sync::Arc;

use flow_core::{CommandExecutor, FlowContext, ResultStore, RunOptions, RunSummary};
use flow_graph::FlowId;
use flow_results::{Failure, FailureKind, FlowResult, FlowStatus, RunId, RunRecord};
use tokio::sync::oneshot;

use crate::cli::{ExecutorKind, RunArgs};
use crate::commands::ahead;
use crate::commands::dry_run;
use crate::commands::executor::Executor;
use crate::commands::fresh;
use crate::commands::inputs::{CheckInputs, Unwritten};
use crate::commands::print_stdout;
use crate::commands::register::register;
use crate::error::CliError;
use crate::logs::{AttemptLogs, WithoutFolder};
use crate::progress::{Mode, Progress};
use crate::report::RunReport;
use crate::run_state::RunState;
use crate::stopped_together::StoppedTogether;
use crate::store_guard::GuardedStore;
use crate::sweep::Sweep;
use crate::watchdog::{Watchdog, RUN_ID_VARIABLE};
use crate::workflow::{Action, Workflow};
use crate::{open_files, run_lock, signals, store, takeover, terminal, workflow};

/// The time slice asked for the thread that runs the commands: the kernel's least (its work
/// per command takes about that long).
const DRIVER_SLICE: std::time::Duration = std::time::Duration::from_micros(100);

/// Runs the workflow; returns 0, 1 or 130.
pub fn run(args: &RunArgs) -> Result<u8, CliError> {
    // The ledger (of a large workflow: tens of milliseconds) is read, and the store opened,
    // while the file is parsed, on threads that hold stop signals (see below).
    let ahead = (!args.dry_run)
        .then(|| signals::held_while(|| ahead::start(args)))
        .flatten();
    let mut wf = workflow::load_with(&args.file, &args.params.set)?;
    fresh::check_forced(args, &wf)?;
    wf.keep_targets(&args.targets)?;
    // Before anything is judged up to date: a bracket glob that matches nothing reads nothing.
    super::brackets::warn(&wf);
    super::interpreter::warn(&wf);
    super::unused_params::warn(&wf);
    let wf = Arc::new(wf);
    let spec = store::spec(args.store.as_deref(), &wf.dir)?;
    super::store_outputs::check(&spec, &wf)?;
    if args.dry_run {
        // The store is only read: with `--resume`, the plan reuses what the run would; else
        // it names the latest run that ran a flow without completing it (a store that
        // cannot be read only loses that).
        let latest = match args.resume {
            true => fresh::latest_run(&spec, &wf)?,
            false => fresh::latest_run(&spec, &wf).unwrap_or(None),
        };
        let mut builder = FlowContext::builder().workflow(wf.name.clone());
        if let Some((store, _)) = &latest {
            builder = builder.store(Arc::clone(store));
        }
        let ctx = builder.build();
        register(&ctx, &wf)?;
        let latest = latest.map(|(_, run)| run);
        return dry_run::dry_run(args, &wf, &ctx, &spec, latest.as_ref());
    }
    Executor::check(args.executor)?;
    let (results_store, ledger_ahead) = match ahead {
        Some(ahead) => ahead.finish(&spec, &wf.dir)?,
        None => (store::open_for_run(&spec, &wf.dir)?, None),
    };
    let results_store = Arc::new(GuardedStore::new(results_store));
    // One writer per workflow and store, from before `--resume` picks its run to the end.
    // From here, a stop signal waits for the run, which then starts nothing: a takeover is
    // never cut short.
    signals::hold();
    let run_id = RunId::new_now();
    // The lock file names this run only once what a dead run left running was stopped.
    let mut lock = run_lock::acquire_keeping_holder(&spec, &wf.name, run_id.as_str())?;
    // Every command inherits the run id (which the watchdog looks for). It is set in this
    // process's environment, while no other thread runs (the one that read ahead has ended;
    // rayon's pool, which parsed the ledger, waits for work), and not in each command's
    // definition, whose fingerprint must stay the same from run to run for `--resume`.
    std::env::set_var(RUN_ID_VARIABLE, run_id.as_str());
    let jobs = args
        .jobs
        .map(|j| j as usize)
        .or(wf.jobs)
        .unwrap_or_else(|| Executor::default_jobs(args.executor));
    let jobs = match args.executor {
        // No more run at once than the workflow has flows.
        ExecutorKind::Local => open_files::jobs_that_fit(jobs.min(wf.flows.len()).max(1)),
        ExecutorKind::Slurm => jobs,
    };
    let latest = if args.resume {
        let latest = results_store
            .latest_run(&wf.name)
            .map_err(|e| store::error(&spec, e))?;
        if latest.is_none() && !args.quiet {
            let why = if matches!(spec, flow_results::StoreSpec::Memory) {
                " (the memory store keeps nothing from one `flow run` to the next)"
            } else {
                ""
            };
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "nothing to resume: no earlier run of `{}` in {}{why}; running every flow",
                    terminal::safe(&wf.name),
                    terminal::safe(&spec.to_string())
                );
            }
        }
        latest
    } else {
        None
    };
    // A dead run's commands that outlived its watchdog stop before this run starts its own,
    // also before jobs on Slurm: the dead run may have run here.
    takeover::stop_left_over(lock.as_ref(), latest.as_ref(), &*results_store, &wf);
    if let Some(lock) = &mut lock {
        lock.name(run_id.as_str())?;
    }
    let resume_from = latest.map(|r| r.run_id);
    // `--force` counts without declared files too: a forced flow is not reused by `--resume`.
    let judged = fresh::declares_data(&wf) || !args.force.is_empty() || args.force_all;
    let freshness = judged
        .then(|| fresh::freshness(args, &wf, &spec, false, ledger_ahead))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Run(format!("cannot start the async runtime: {e}")))?;
    let run = Run {
        args,
        wf: &wf,
        jobs,
        run_id,
        resume_from,
        freshness,
    };
    // `flow run` never reads from its terminal, and without one its commands need only a
    // process group of their own, not a session (and so a scheduler autogroup) each, to be
    // kept from it: see flow-pool's `give_up_controlling_terminal`.
    if let Err(error) = flow_pool::give_up_controlling_terminal() {
        tracing::debug!(%error, "this process keeps its controlling terminal");
    }
    // This thread starts the commands and reacts to their ends: it runs as soon as it wakes
    // rather than queueing behind a command (the commands keep the default slice).
    if let Err(error) = flow_pool::use_short_slice(DRIVER_SLICE) {
        tracing::debug!(%error, "the kernel keeps this thread's default time slice");
    }
    let code = runtime.block_on(run_async(run, results_store));
    // The run is over, recorded and reported, and the process is about to exit: what it
    // built (of a large workflow: tens of milliseconds to free, the runtime's tasks holding
    // the context's flows and what it read of the ledger) is left to the exit.
    std::mem::forget(runtime);
    std::mem::forget(wf);
    code
}

/// What one `flow run` does.
struct Run<'a> {
    args: &'a RunArgs,
    wf: &'a Arc<Workflow>,
    jobs: usize,
    run_id: RunId,
    resume_from: Option<RunId>,
    freshness: Option<flow_core::Freshness>,
}

async fn run_async(run: Run<'_>, guarded: Arc<GuardedStore>) -> Result<u8, CliError> {
    let Run {
        args,
        wf,
        jobs,
        run_id,
        resume_from,
        freshness,
    } = run;
    let results_store: Arc<dyn ResultStore> = Arc::clone(&guarded) as Arc<dyn ResultStore>;
    let executor = Executor::new(args.executor, wf, args.resume)?;
    // The jobs of a dead run under Slurm stop before this run does their work here.
    if let Executor::Local(_) = executor {
        Executor::cancel_left_slurm_jobs(wf).await?;
    }
    let runner = executor.runner();
    // A flow whose declared input is missing and written by no flow fails before it starts.
    let unwritten = Unwritten::of(wf);
    let commands = if unwritten.is_empty() {
        executor.command_executor(wf)
    } else {
        Arc::new(CheckInputs::new(executor.command_executor(wf), unwritten))
    };
    // A command killed by a stop signal that stops the run too is stopped with the run.
    let commands: Arc<dyn CommandExecutor> = match &executor {
        Executor::Local(_) => Arc::new(StoppedTogether::new(commands)),
        Executor::Slurm(..) => commands,
    };
    // A command stopped by its timeout, or cancelled, takes along what left its process
    // group (the cluster stops a Slurm job's processes).
    let sweep = match &executor {
        Executor::Local(_) => Some(Arc::new(Sweep::new(Arc::clone(&commands)))),
        Executor::Slurm(..) => None,
    };
    let commands: Arc<dyn CommandExecutor> = match &sweep {
        Some(sweep) => Arc::clone(sweep) as Arc<dyn CommandExecutor>,
        None => commands,
    };
    // flow-core names each attempt's log files; the journal of attempts sits beside them.
    let logs = logs_root(wf);
    let without_folder = match &executor {
        Executor::Local(_) => WithoutFolder::NoLogFiles,
        Executor::Slurm(..) => WithoutFolder::KeepLogFiles,
    };
    let attempts = Arc::new(AttemptLogs::new(commands, logs.clone(), without_folder));
    let ctx = FlowContext::builder()
        .jobs(jobs)
        .store(Arc::clone(&results_store))
        .workflow(wf.name.clone())
        .log_dir(&logs)
        .command_executor(Arc::clone(&attempts) as Arc<dyn CommandExecutor>)
        .event_capacity(wf.flows.len() * 4 + 64)
        .build();
    register(&ctx, wf)?;
    if wf
        .flows
        .iter()
        .any(|f| matches!(f.action, Action::Shell(_)))
    {
        tracing::info!(
            "shell scripts run with `{} SCRIPT` where the file sets no `interpreter`",
            workflow::default_interpreter().join(" ")
        );
    }
    // If this process dies (SIGKILL), the watchdog kills the commands it started. Slurm jobs
    // are left to the cluster on purpose: `--resume` adopts those still queued or running.
    let watchdog = match &executor {
        Executor::Local(_) => match Watchdog::start(run_id.as_str()) {
            Ok(watchdog) => Some(watchdog),
            Err(e) => {
                tracing::warn!("cannot start the watchdog; a killed run may leave commands: {e}");
                None
            }
        },
        Executor::Slurm(..) => None,
    };

    let stdout_tty = std::io::stdout().is_terminal();
    let stderr_tty = std::io::stderr().is_terminal();
    let mode = Mode::of(args.progress, args.json || args.quiet);
    let progress = Progress::new(mode, wf.flows.len(), mode.colour());
    // Silent: nothing to show, so no subscription (the run then emits no events at all).
    let (run_over, follow_until) = oneshot::channel();
    let follower = (mode != Mode::Silent).then(|| {
        let queued = executor.queued_flows();
        tokio::spawn(progress.follow(ctx.subscribe(), follow_until, queued))
    });
    // Held Slurm jobs are told whatever the display (`--json` and `--quiet` too).
    let held_warnings = executor
        .held_jobs()
        .map(|held| tokio::spawn(crate::commands::executor::warn_held(held)));
    // Cancelled at the first stop signal, also one held until now: then no flow starts.
    let stop = flow_core::CancellationToken::new();
    let (interrupted, signal_task) = signals::watch(stop.clone(), runner)
        .map_err(|e| CliError::Run(format!("cannot install the Ctrl-C handler: {e}")))?;
    // A write the store refuses stops the run: its results would not be recorded.
    let store_watch = tokio::spawn({
        let ctx = ctx.clone();
        let guarded = Arc::clone(&guarded);
        let spec = results_store.spec();
        async move {
            let cause = guarded.failed().await;
            terminal::eprint_line(&format!(
                "error: the result store `{}` refused a write ({}); stopping the run",
                terminal::safe(&spec),
                terminal::safe(&cause)
            ));
            ctx.cancel_all();
        }
    });

    let mut options = RunOptions::new().run_id(run_id).cancel_on(stop);
    if let Some(run_id) = resume_from {
        options = options.resume_from(run_id);
    }
    if let Some(freshness) = freshness {
        options = options.skip_up_to_date(freshness);
    }
    let outcome = ctx.run_with(options).await;
    executor.finish(interrupted.get()).await;
    let _ = run_over.send(());
    if let Some(follower) = follower {
        let _ = follower.await;
    }
    store_watch.abort();
    if let Some(task) = held_warnings {
        task.abort();
    }
    signal_task.abort();
    // The flows the run stopped (Ctrl-C, a store that refused results) leave nothing.
    if let Some(sweep) = &sweep {
        sweep.after_stop().await;
    }
    // Reaped when the command returns, after the summary.
    let _disarmed = watchdog.map(Watchdog::disarm);
    // Nothing runs any more: a Ctrl-C from now on ends the process as usual, also while it
    // waits to write its summary.
    signals::release();
    // A store that refused to begin the run got none of its results, started or not: the
    // commands that ran tell.
    let summary = outcome.map_err(|e| {
        if guarded.any_started() || attempts.any_started() {
            CliError::Stopped(terminal::chain(&e))
        } else {
            CliError::Run(terminal::chain(&e))
        }
    })?;
    // A store deleted or replaced under the run (its own check, at each commit) kept nothing
    // of it: the run must not say it was recorded.
    if let Some(path) = guarded.replaced() {
        let c = &summary.counts;
        return Err(CliError::StoreGone {
            spec: results_store.spec(),
            path,
            run: summary.run_id.to_string(),
            ended: format!(
                "{} completed, {} failed, {} cancelled of {} flows",
                c.completed,
                c.failed,
                c.cancelled,
                c.total()
            ),
        });
    }

    // The run is over and recorded: output that cannot be written (a closed or full stdout)
    // is logged, and the exit code still tells how the run ended.
    // Each branch also gives the report's counts, in the summary's words, when it made one.
    let (printed, counts) = if args.json {
        let report = report(&ctx, &guarded, wf, &summary, !args.quiet);
        (
            print_stdout(&format!("{}\n", report.to_json())),
            Some(report.counts()),
        )
    } else if args.quiet {
        // Quiet: no summary, but each flow that failed by itself, on stderr (with none
        // failed, there is nothing to read back from the store).
        let (lines, counts) = if summary.counts.failed == 0 {
            (String::new(), None)
        } else {
            let report = report(&ctx, &guarded, wf, &summary, false);
            let lines = report.failure_lines(terminal::colour(stderr_tty));
            (lines, Some(report.counts()))
        };
        if !lines.is_empty() {
            terminal::eprint_line(lines.trim_end());
        }
        (Ok(()), counts)
    } else {
        // The summary counts the reused flows; it need not read the runs that made them.
        let report = report(&ctx, &guarded, wf, &summary, false);
        (
            print_stdout(&report.summary(terminal::colour(stdout_tty))),
            Some(report.counts()),
        )
    };
    // A summary not written (`--json > run.json`, a full disk) fails the command: no script
    // may read a missing document as a run that went well.
    let summary_lost = printed.is_err();
    if let Err(e) = printed {
        tracing::error!("cannot print the summary of the run: {e}");
    }
    let store_failed = store_failure(&guarded, &summary, counts);
    if args.report {
        // The run's outcome decides the exit code; a report that cannot be written is logged.
        if let Err(e) = write_report(args, wf, &*results_store, &summary) {
            let hint = crate::report_page::elsewhere_hint(
                &args.file,
                args.store.as_deref(),
                &args.params.set,
                &summary.run_id,
            );
            tracing::error!(
                "cannot write the report of the run: {}; {}",
                terminal::chain(&e),
                terminal::safe(&hint)
            );
        }
    }
    Ok(signals::exit_code(
        interrupted.get(),
        summary.is_success() && !store_failed && !summary_lost,
    ))
}

/// Where the logs of every run of `wf` go: `.flow/logs/` beside the file.
pub fn logs_root(wf: &Workflow) -> std::path::PathBuf {
    wf.dir.join(store::STATE_DIR).join("logs")
}

/// Says so on stderr when the store refused writes of the run, with what the run really
/// did (the store holds only part of it), in the summary's words (`counts`, from the report)
/// when there is one; returns whether it did.
fn store_failure(guarded: &GuardedStore, summary: &RunSummary, counts: Option<String>) -> bool {
    let Some(cause) = guarded.first_error() else {
        return false;
    };
    let c = &summary.counts;
    let counts = counts.unwrap_or_else(|| {
        format!(
            "{} completed, {} failed, {} cancelled",
            c.completed, c.failed, c.cancelled
        )
    });
    terminal::eprint_line(&format!(
        "error: the result store `{}` refused {} write(s), the first: {}\n\
         error: run {} is not fully recorded; it ended with {counts} of {} flows",
        terminal::safe(&guarded.spec()),
        guarded.error_count(),
        terminal::safe(&cause),
        summary.run_id,
        c.total()
    ));
    true
}

/// `--report`: writes the HTML page of the run and says where (not with `--json`/`--quiet`).
fn write_report(
    args: &RunArgs,
    wf: &Workflow,
    store: &dyn ResultStore,
    summary: &RunSummary,
) -> Result<(), CliError> {
    let command_line = crate::report_page::this_command_line();
    let path = crate::report_page::write_after_run(wf, store, &summary.run_id, Some(command_line))?;
    if !args.json && !args.quiet {
        print_stdout(&format!("report: {}\n", terminal::path(&path)))?;
    }
    Ok(())
}

/// The flows whose last state the store refused (a full disk) end in `results` as the run
/// saw them end, not as the store last kept them ("running", or no record at all): what the
/// run prints is what happened; the error line says the store does not hold it. The record
/// the store refused is shown when it tells the flow's end (its attempts, times, reason);
/// else the flow's status: one that failed behind a failed flow it requires was not run.
fn with_unsaved_ends(
    results: &mut Vec<FlowResult>,
    ctx: &FlowContext,
    guarded: &GuardedStore,
    wf: &Workflow,
    summary: &RunSummary,
) {
    if summary.unsaved.is_empty() {
        return;
    }
    let failed = |id: &FlowId| ctx.status(id.as_str()) == Some(FlowStatus::Failed);
    let requires: std::collections::HashMap<&FlowId, &[FlowId]> = wf
        .flows
        .iter()
        .map(|def| (&def.id, def.requires.as_slice()))
        .collect();
    // The failed flow behind `id`: up through failed required parents (the graph is acyclic).
    let root = |id: &FlowId| {
        let mut root = id.clone();
        while let Some(parent) = (requires.get(&root)).and_then(|ps| ps.iter().find(|p| failed(p)))
        {
            root = parent.clone();
        }
        root
    };
    for id in &summary.unsaved {
        let Some(status) = ctx.status(id.as_str()) else {
            continue;
        };
        let at = match results.iter().position(|r| &r.flow_id == id) {
            Some(at) if results[at].status == status => continue, // its end was kept
            Some(at) => at,
            None => {
                results.push(FlowResult::new(summary.run_id.clone(), id.clone(), status));
                results.len() - 1
            }
        };
        if let Some(refused) = guarded.refused(id).filter(|r| r.status == status) {
            results[at] = refused;
            continue;
        }
        let result = &mut results[at];
        result.status = status;
        if status == FlowStatus::Failed {
            let root = root(id);
            result.failure = Some(if &root == id {
                Failure::new(
                    FailureKind::Error,
                    "failed (the store refused its record, and the reason with it)",
                )
            } else {
                let message = format!("required flow `{root}` failed");
                Failure::new(FailureKind::Upstream { flow: root }, message)
            });
        }
    }
}

/// The report of the run, from the store (with every flow of the file), or from the summary
/// alone when the store cannot be read.
fn report(
    ctx: &FlowContext,
    results_store: &GuardedStore,
    wf: &Workflow,
    summary: &RunSummary,
    with_reused: bool,
) -> RunReport {
    let order: Vec<_> = wf.flows.iter().map(|f| f.id.clone()).collect();
    let mut run = RunRecord::with_id(summary.run_id.clone(), wf.name.clone());
    run.started_at = summary.started_at;
    run.finished_at = Some(summary.finished_at);
    run.counts = summary.counts;
    let mut results = match results_store.results(&summary.run_id) {
        Ok(results) => results,
        Err(e) => {
            tracing::warn!(
                "cannot read the results of run {}: {}",
                summary.run_id,
                terminal::chain(&e)
            );
            Vec::new()
        }
    };
    with_unsaved_ends(&mut results, ctx, results_store, wf, summary);
    let mut report = RunReport::new(&run, RunState::Ended, results, Some(&order));
    report.attach_logs(&logs_root(wf));
    // A failure (or a flow stopped as it ran) names where its flow is defined: the file is
    // the one that ran.
    if report.own_failures().next().is_some() || report.stopped_as_they_ran().next().is_some() {
        report.attach_places(wf);
    }
    // A resumed run's reused flows may come from any earlier run; up-to-date ones name theirs.
    // (`--quiet` prints only failures: it needs none of that.)
    let only = (summary.reused == 0).then_some(summary.produced_by.as_slice());
    if with_reused {
        report.attach_reused_from(results_store, &logs_root(wf), only);
    }
    if summary.cancelled && report.status == crate::report::RunStatus::Completed {
        report.status = crate::report::RunStatus::Cancelled;
    }
    report
}
