//! `flow run FILE`: builds a flow-core context from the workflow (one command flow per
//! `[flows.X]`, dependencies in one batch), runs it with progress and Ctrl-C handling, and
//! prints the summary or the `--json` document.

use std::io::IsTerminal;
use std::sync::Arc;

use flow_core::{
    CommandSpec, DependencyType, Flow, FlowContext, ResultStore, RetryPolicy, RunOptions,
    RunSummary,
};
use flow_results::RunRecord;

use crate::cli::RunArgs;
use crate::commands::executor::Executor;
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::logs::AttemptLogs;
use crate::progress::{Mode, Progress};
use crate::report::RunReport;
use crate::workflow::{Action, FlowDef, Workflow};
use crate::{signals, store, terminal, workflow};

/// Exit code of a run stopped by a signal.
const EXIT_INTERRUPTED: u8 = 130;

/// How many bytes of each stream a flow keeps in memory for the summary (the log files keep
/// everything).
const TAIL_BYTES: usize = 8 * 1024;

/// Runs the workflow; returns 0, 1 or 130.
pub fn run(args: &RunArgs) -> Result<u8, CliError> {
    let wf = workflow::load_with(&args.file, &args.params.set)?;
    Executor::check(args.executor)?;
    let spec = store::spec(args.store.as_deref(), &wf.dir)?;
    let results_store = store::open_for_run(&spec)?;
    let jobs = args
        .jobs
        .map(|j| j as usize)
        .or(wf.jobs)
        .unwrap_or_else(|| Executor::default_jobs(args.executor));
    let resume_from = if args.resume {
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
                    "nothing to resume: no earlier run of `{}` in {spec}{why}; running every flow",
                    wf.name
                );
            }
        }
        latest.map(|r| r.run_id)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Run(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run_async(args, &wf, jobs, results_store, resume_from))
}

async fn run_async(
    args: &RunArgs,
    wf: &Workflow,
    jobs: usize,
    results_store: Arc<dyn ResultStore>,
    resume_from: Option<flow_core::RunId>,
) -> Result<u8, CliError> {
    let executor = Executor::new(args.executor, wf, args.resume)?;
    let runner = executor.runner();
    let ctx = FlowContext::builder()
        .jobs(jobs)
        .store(Arc::clone(&results_store))
        .workflow(wf.name.clone())
        .command_executor(Arc::new(AttemptLogs::new(
            executor.command_executor(),
            logs_root(wf),
        )))
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

    let stdout_tty = std::io::stdout().is_terminal();
    let stderr_tty = std::io::stderr().is_terminal();
    let mode = if args.json || args.quiet {
        Mode::Silent
    } else if stderr_tty && stdout_tty {
        Mode::Live
    } else {
        Mode::Lines
    };
    let progress = Progress::new(mode, wf.flows.len(), terminal::colour(stderr_tty));
    let bar = progress.bar();
    // Silent: nothing to show, so no subscription (the run then emits no events at all).
    let follower = (mode != Mode::Silent).then(|| tokio::spawn(progress.follow(ctx.subscribe())));
    let (interrupted, signal_task) = signals::watch(ctx.clone(), runner, bar)
        .map_err(|e| CliError::Run(format!("cannot install the Ctrl-C handler: {e}")))?;

    let mut options = RunOptions::new();
    if let Some(run_id) = resume_from {
        options = options.resume_from(run_id);
    }
    let outcome = ctx.run_with(options).await;
    executor.finish(interrupted.get()).await;
    if let Some(follower) = follower {
        let _ = follower.await;
    }
    let summary = outcome.map_err(|e| CliError::Run(e.to_string()))?;
    // A Ctrl-C from now on ends the process as usual.
    signal_task.abort();

    let report = report(&*results_store, wf, &summary);
    if args.json {
        print_stdout(&format!("{}\n", report.to_json()))?;
    } else if args.quiet {
        // Quiet: no summary, but each flow that failed by itself, on stderr.
        let colour = terminal::colour(stderr_tty);
        #[allow(clippy::print_stderr)]
        {
            eprint!("{}", report.failure_lines(colour));
        }
    } else {
        let colour = terminal::colour(stdout_tty);
        print_stdout(&report.summary(colour))?;
        if !summary.store_errors.is_empty() {
            tracing::warn!(
                "the result store reported {} errors; some results may be missing: {}",
                summary.store_errors.len(),
                summary.store_errors.join("; ")
            );
        }
    }
    if args.report {
        // The run's outcome decides the exit code; a report that cannot be written is logged.
        if let Err(e) = write_report(args, wf, &*results_store, &summary) {
            tracing::error!("cannot write the report of the run: {e}");
        }
    }
    Ok(if interrupted.get() {
        EXIT_INTERRUPTED
    } else if summary.is_success() {
        0
    } else {
        1
    })
}

/// Where the logs of every run of `wf` go: `.flow/logs/` beside the file.
pub fn logs_root(wf: &Workflow) -> std::path::PathBuf {
    wf.dir.join(store::STATE_DIR).join("logs")
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
        print_stdout(&format!("report: {}\n", path.display()))?;
    }
    Ok(())
}

/// Registers one command flow per workflow flow, then every dependency in one batch.
fn register(ctx: &FlowContext, wf: &Workflow) -> Result<(), CliError> {
    let dir = wf.dir.to_string_lossy().into_owned();
    for def in &wf.flows {
        ctx.register_flow(flow(def, &dir))
            .map_err(|e| CliError::Run(e.to_string()))?;
    }
    let dependencies = wf.flows.iter().flat_map(|def| {
        let required = def
            .requires
            .iter()
            .map(|p| (p, &def.id, DependencyType::Required));
        let optional = def
            .wants
            .iter()
            .map(|p| (p, &def.id, DependencyType::Optional));
        required.chain(optional)
    });
    ctx.register_dependencies(dependencies)
        .map_err(|e| CliError::Run(e.to_string()))
}

/// The flow-core flow of one workflow flow.
fn flow(def: &FlowDef, workflow_dir: &str) -> Flow {
    let mut spec = match &def.action {
        Action::Command(argv) => CommandSpec::argv(argv.iter().cloned()),
        Action::Shell(script) => CommandSpec::argv(def.interpreter.iter().chain([script]).cloned()),
    };
    if let Some(grace) = def.kill_grace {
        spec = spec.grace(grace);
    }
    for (key, value) in def.env.iter() {
        spec = spec.env(key.clone(), value.clone());
    }
    spec = spec
        .env("FLOW_WORKFLOW_DIR", workflow_dir)
        .cwd(def.cwd.clone())
        .tail_bytes(TAIL_BYTES);
    let mut builder = Flow::command(def.id.clone(), spec);
    if let Some(timeout) = def.timeout {
        builder = builder.timeout(timeout);
    }
    if def.retries > 0 {
        builder = builder.retry(RetryPolicy::fixed(def.retries, def.retry_delay));
    }
    builder.build()
}

/// The report of the run, from the store (with every flow of the file), or from the summary
/// alone when the store cannot be read.
fn report(results_store: &dyn ResultStore, wf: &Workflow, summary: &RunSummary) -> RunReport {
    let order: Vec<_> = wf.flows.iter().map(|f| f.id.clone()).collect();
    let mut run = RunRecord::with_id(summary.run_id.clone(), wf.name.clone());
    run.started_at = summary.started_at;
    run.finished_at = Some(summary.finished_at);
    run.counts = summary.counts;
    let results = match results_store.results(&summary.run_id) {
        Ok(results) => results,
        Err(e) => {
            tracing::warn!("cannot read the results of run {}: {e}", summary.run_id);
            Vec::new()
        }
    };
    let mut report = RunReport::new(&run, results, Some(&order));
    report.attach_logs(&logs_root(wf));
    report.attach_reused(results_store, &logs_root(wf));
    if summary.cancelled && report.status == crate::report::RunStatus::Completed {
        report.status = crate::report::RunStatus::Cancelled;
    }
    report
}
