//! `flow logs FLOW [FILE] [--run RUN_ID] [--attempt N] [--follow]`: prints the stdout and
//! stderr one attempt of a flow left in `.flow/logs/RUN/FLOW.N.out` and `.err` (the latest
//! run that ran the flow and its last attempt by default), or follows them while it runs:
//! as they are into a pipe or a file, made safe on a terminal.

use std::path::Path;

use flow_graph::FlowId;
use flow_results::{ResultStore, RunId, RunRecord, StoreSpec};

use crate::cli::LogsArgs;
use crate::commands::located::{locate, Located};
use crate::commands::log_printer::{stdout_closed_within, Printer};
use crate::error::CliError;
use crate::logs::{attempts, logged_attempts, run_dir, Start};
use crate::store::STATE_DIR;
use crate::terminal;

/// How often `--follow` looks for new output, in milliseconds.
const FOLLOW_POLL_MS: u16 = 200;

/// Prints (or follows) the logs; 0 when something was found.
pub fn run(args: &LogsArgs) -> Result<u8, CliError> {
    if let Some(error) = args.file.as_ref().and_then(|_| file_first(args)) {
        return Err(error);
    }
    // A file with problems still gives its folder and workflow's name: the logs are there to
    // be read while it is being fixed. Only that workflow's runs are looked at, and a flow
    // the file does not define now may still have run in them (made by `--set`, renamed).
    let Located { dir, name, wf } = locate(args.file.as_deref())?;
    let root = dir.join(STATE_DIR).join("logs");
    let spec = crate::store::spec(args.store.as_deref(), &dir).ok();
    let store = spec
        .as_ref()
        .and_then(|spec| crate::store::open_for_reading(spec).ok());
    // With a file, not the runs the store knows as another workflow's (workflows may share
    // a folder); a run it does not know (made with another store) may be this one's.
    let others: std::collections::HashSet<String> = match (&name, store.as_deref()) {
        (Some(name), Some(store)) => (store.runs().unwrap_or_default().into_iter())
            .filter(|r| &r.workflow != name)
            .map(|r| r.run_id.to_string())
            .collect(),
        _ => std::collections::HashSet::new(),
    };
    let of_workflow = |run: &String| !others.contains(run);
    let latest = if args.follow {
        // The flow may not have written anything yet: follow the newest run.
        latest_run(&root, of_workflow)
    } else {
        latest_run_of(&root, &args.flow, of_workflow)
    };
    // The latest run that ran the flow may have left no log files of it: what its store kept.
    if let (None, false, None, Some(store)) = (&args.run, args.follow, args.attempt, &store) {
        let logged = latest.as_deref();
        let newer =
            super::logs_kept::newer_than_logs(&**store, name.as_deref(), &args.flow, logged);
        if let Some(result) = newer {
            return super::logs_kept::print(&result, &root, logged, args.raw);
        }
    }
    // A run given by the start of its id: of the runs with logs and those the store knows.
    let given = match &args.run {
        Some(text) => Some(given_run(text, &root, store.as_deref(), of_workflow)?),
        None => None,
    };
    let run = match &given {
        Some(run) if !of_workflow(run) => {
            return Err(CliError::Run(format!(
                "run {} is not a run of workflow `{}` (see `flow runs`)",
                terminal::safe(run),
                terminal::safe(name.as_deref().unwrap_or_default())
            )))
        }
        Some(run) => run.clone(),
        None => match latest {
            Some(run) => run,
            None => {
                // No run has its logs: the workflow's latest run may say why it did not run,
                // or that it runs and has written nothing yet.
                let latest = (store.as_deref())
                    .zip(name.as_deref())
                    .and_then(|(store, name)| Some((store, store.latest_run(name).ok()??)));
                let Some((store, latest)) = latest else {
                    return Err(no_logs(args, wf.as_ref(), &root));
                };
                let run = latest.run_id.to_string();
                if let Some(why) = never_started(store, &run, &args.flow) {
                    did_not_run(&args.flow, &run, &why);
                    return Ok(0);
                }
                if spec
                    .as_ref()
                    .is_some_and(|spec| runs_now(store, spec, &latest, &args.flow))
                {
                    eprintln_note(&format!(
                        "flow `{flow}` runs in run {run}, which is in progress, and has written \
                         no output yet (or its Slurm job waits in the queue); `flow logs \
                         {flow}{file} --follow` follows it",
                        flow = terminal::safe(&args.flow),
                        run = terminal::safe(&run),
                        file = (args.file.as_deref())
                            .map(|file| format!(" {}", terminal::path(file)))
                            .unwrap_or_default()
                    ));
                    return Ok(0);
                }
                return Err(no_logs(args, wf.as_ref(), &root));
            }
        },
    };
    let folder = run_dir(&root, &run);
    if !folder.is_dir() {
        // A run that ran nothing (every flow up to date) has no folder: its record says why.
        if let Some(why) = store
            .as_deref()
            .and_then(|s| never_started(s, &run, &args.flow))
        {
            did_not_run(&args.flow, &run, &why);
            return Ok(0);
        }
        return Err(CliError::Run(format!(
            "no logs of run {} in {} (see `flow runs`)",
            terminal::safe(&run),
            terminal::path(&root)
        )));
    }
    if args.run.is_none() && !args.follow {
        newer_run_in_progress(&root, &run, of_workflow, store.as_deref(), spec.as_ref());
    }
    let mut attempt = args
        .attempt
        .unwrap_or_else(|| last_attempt(&folder, &args.flow).unwrap_or(1));
    let mut printer = Printer::new(&folder, &args.flow, attempt, args.raw);
    printer.print_new()?;
    if !args.follow {
        printer.finish()?;
        let store = store.as_deref();
        // Chosen as the latest run of the flow, it may have written nothing there while an
        // earlier run (a failed attempt, fixed since) has its logs.
        let earlier = (args.run.is_none() && !printer.found_any)
            .then(|| earlier_logged(&root, &args.flow, &run, of_workflow))
            .flatten()
            .map(|earlier| {
                let file = (args.file.as_deref())
                    .map(|f| format!(" {}", terminal::path(f)))
                    .unwrap_or_default();
                format!(
                    "run {earlier} has its logs: flow logs {}{file} --run {earlier}",
                    terminal::safe(&args.flow)
                )
            });
        let ended = Ended {
            attempt,
            run: &run,
            earlier: earlier.as_deref(),
        };
        return printed(&printer, &folder, &args.flow, &ended, store);
    }
    loop {
        // A reader that went away (`flow logs -f | head`) ends the following, quietly, as
        // it does `tail -f`: at once, not at the next line written.
        if printer.reader_gone || stdout_closed_within(FOLLOW_POLL_MS) {
            return Ok(0);
        }
        printer.print_new()?;
        let ended = attempt_ended(&folder, &args.flow, attempt);
        if args.attempt.is_none() {
            if let Some(newer) = last_attempt(&folder, &args.flow).filter(|&n| n > attempt) {
                printer.print_new()?;
                printer.finish()?;
                eprintln_note(&format!("attempt {newer} of `{}`:", args.flow));
                attempt = newer;
                printer = Printer::new(&folder, &args.flow, attempt, args.raw);
                continue;
            }
        }
        // What the store knows of the run (nothing when it is not the run's store).
        let record = (store.as_deref())
            .zip(RunId::parse(&run).ok())
            .and_then(|(store, id)| store.run(&id).ok().flatten().map(|r| (store, r)));
        // Without --attempt: the end of the flow, also when it ended without an attempt
        // (reused, or not run because a parent failed).
        let over = match args.attempt {
            Some(_) => ended,
            None => {
                (ended || last_attempt(&folder, &args.flow).is_none())
                    && flow_over(record.as_ref(), &args.flow)
            }
        };
        // A run that ended (or whose `flow run` died) writes nothing more, whatever it did.
        let record = record.as_ref().map(|(_, r)| r);
        if over || !run_in_progress(record, spec.as_ref(), &folder) {
            printer.print_new()?;
            printer.finish()?;
            let store = store.as_deref();
            let ended = Ended {
                attempt,
                run: &run,
                earlier: None,
            };
            return printed(&printer, &folder, &args.flow, &ended, store);
        }
    }
}

/// `flow logs w.toml sort.00`, the order of every other command: FLOW names a file and FILE
/// names none, so the two were swapped. `None` for any other arguments. Without FILE, only
/// asked once no flow of that name has logs (a flow may be named `w.toml`).
fn file_first(args: &LogsArgs) -> Option<CliError> {
    let given = Path::new(&args.flow);
    let file = args.file.as_deref();
    if !given.is_file() || file.is_some_and(|f| f.exists()) {
        return None;
    }
    let given = terminal::path(given);
    let flow = file.map_or("FLOW".into(), |f| terminal::path(f).to_string());
    Some(CliError::Run(format!(
        "`{given}` is a file, not a flow: `flow logs` takes the flow first, as \
         `flow logs {flow} {given}`"
    )))
}

/// Why no run has logs of the flow: the file given defines no such flow (and which it may
/// have meant), or it has not run in the file's folder, or, with no file given, the workflow
/// may be elsewhere.
fn no_logs(args: &LogsArgs, wf: Option<&crate::workflow::Workflow>, root: &Path) -> CliError {
    let flow = terminal::safe(&args.flow);
    let not_run = format!(
        "no logs of flow `{flow}` in {}: it has not run there (see `flow runs`)",
        terminal::path(root)
    );
    let Some(file) = &args.file else {
        if let Some(error) = file_first(args) {
            return error;
        }
        return CliError::Run(format!(
            "{not_run}, or the workflow file is elsewhere (give it: flow logs {flow} FILE)"
        ));
    };
    let Some(wf) = wf.filter(|wf| !wf.flows.iter().any(|f| f.id.as_str() == args.flow)) else {
        return CliError::Run(not_run);
    };
    // `[flows.sort]` with a matrix makes sort.00, ...: it is no flow, but the file has it.
    let definition = (wf.definitions.iter()).find(|d| d.matrix && d.name == args.flow);
    if let Some(flows) = definition.and_then(|d| wf.flows.get(d.flows.clone())) {
        if let (Some(first), Some(last)) = (flows.first(), flows.last()) {
            let file = terminal::path(file);
            let (count, which) = match flows.len() {
                1 => ("1 flow".to_owned(), first.id.to_string()),
                2 => ("2 flows".to_owned(), format!("{}, {}", first.id, last.id)),
                n => (
                    format!("{n} flows"),
                    format!("{} ... {}", first.id, last.id),
                ),
            };
            return CliError::Run(format!(
                "`{flow}` is a definition of {count} in {file} ({which}): name one, as \
                 `flow logs {} {file}`",
                first.id
            ));
        }
    }
    let ids = wf.flows.iter().map(|f| f.id.as_str());
    let guess = match crate::workflow::closest_name(&args.flow, ids) {
        Some(close) => format!(" (did you mean `{close}`?)"),
        None => String::new(),
    };
    CliError::Run(format!(
        "{} defines no flow `{flow}`{guess}, and no run of workflow `{}` has logs of it \
         (see `flow runs`)",
        terminal::path(file),
        terminal::safe(&wf.name)
    ))
}

/// The end of `flow logs` once nothing more will come: an error when the flow (or that
/// attempt of it) left nothing in the run, a note when the attempt wrote nothing or did not
/// start (and why, from the run's journal), or when the flow never started (and why, from the
/// run's record in `store`).
fn printed(
    printer: &Printer,
    folder: &Path,
    flow: &str,
    ended: &Ended<'_>,
    store: Option<&dyn ResultStore>,
) -> Result<u8, CliError> {
    let (attempt, run) = (ended.attempt, ended.run);
    if printer.found_any {
        return Ok(0);
    }
    let last = last_attempt(folder, flow);
    if let Some(why) = store
        .filter(|_| last.is_none())
        .and_then(|s| never_started(s, run, flow))
    {
        eprintln_note(&format!(
            "flow `{flow}` has no logs in run {}: it did not run there ({})",
            terminal::safe(run),
            terminal::safe(&why)
        ));
        return Ok(0);
    }
    // A `--run` given on the command line may hold anything.
    let run = terminal::safe(run);
    match last {
        None => Err(CliError::Run(format!(
            "flow `{flow}` has no logs in run {run} ({})",
            terminal::path(folder)
        ))),
        Some(last) if attempt > last => Err(CliError::Run(format!(
            "flow `{flow}` has no attempt {attempt} in run {run}: its last is {last}"
        ))),
        Some(_) => {
            let not_started = attempts(folder)
                .into_iter()
                .find(|a| a.flow == flow && a.attempt == attempt && a.start == Start::Failed);
            eprintln_note(&match not_started {
                Some(record) => format!(
                    "attempt {attempt} of `{flow}` did not start, so it has no logs: {}",
                    terminal::safe(&record.end)
                ),
                None => {
                    let nothing = format!(
                        "attempt {attempt} of `{flow}` in run {run} wrote nothing to stdout or \
                         stderr"
                    );
                    match ended.earlier {
                        Some(earlier) => format!("{nothing}; {earlier}"),
                        None => nothing,
                    }
                }
            });
            Ok(0)
        }
    }
}

/// Why `flow` made no attempt in `run`, from the store's record of it: its failure (not run
/// because a parent failed, cancelled before it started), or that it was up to date. `None`
/// when the store has no such record, or one with attempts.
fn never_started(store: &dyn ResultStore, run: &str, flow: &str) -> Option<String> {
    let results = store.results(&RunId::parse(run).ok()?).ok()?;
    let result = results.into_iter().find(|r| r.flow_id.as_str() == flow)?;
    if result.attempts > 0 {
        return None;
    }
    Some(match result.failure {
        Some(failure) => failure.message,
        None => "it was up to date".to_owned(),
    })
}

/// Whether `flow` runs now in `run`, a run of the store `spec` that is in progress.
fn runs_now(store: &dyn ResultStore, spec: &StoreSpec, run: &RunRecord, flow: &str) -> bool {
    let running = (store.results(&run.run_id).ok().into_iter().flatten())
        .any(|r| r.flow_id.as_str() == flow && r.status == flow_core::FlowStatus::Running);
    running && crate::run_state::RunState::of(spec, run) == crate::run_state::RunState::InProgress
}

/// The note that `flow` has no logs in `run` because it did not run there, and `why`.
fn did_not_run(flow: &str, run: &str, why: &str) {
    eprintln_note(&format!(
        "flow `{}` has no logs in run {}: it did not run there ({})",
        terminal::safe(flow),
        terminal::safe(run),
        terminal::safe(why)
    ));
}

/// Whether the run of `record` may still write logs: it has no end, and a live `flow run`
/// holds its workflow's lock (in the store `spec`) for it. Where the store cannot tell (a
/// run on another store), its log `folder` says whether its `flow run` is alive; where
/// nothing tells, it may.
fn run_in_progress(record: Option<&RunRecord>, spec: Option<&StoreSpec>, folder: &Path) -> bool {
    let (Some(record), Some(spec)) = (record, spec) else {
        return crate::logs::writer_alive(folder).unwrap_or(true);
    };
    crate::run_state::RunState::of(spec, record) == crate::run_state::RunState::InProgress
}

/// Says, as a note, that the logs about to be printed are those of `run` although a newer
/// run of the workflow is in progress: the flow has written nothing there yet (it may be
/// running silently, or wait for its turn), and its older output is not this run's.
fn newer_run_in_progress(
    root: &Path,
    run: &str,
    wanted: impl Fn(&String) -> bool,
    store: Option<&dyn ResultStore>,
    spec: Option<&StoreSpec>,
) {
    let Some(newest) = latest_run(root, wanted).filter(|newest| newest.as_str() > run) else {
        return;
    };
    let folder = run_dir(root, &newest);
    let record = (store.zip(RunId::parse(&newest).ok()))
        .and_then(|(store, id)| store.run(&id).ok().flatten());
    if run_in_progress(record.as_ref(), spec, &folder) {
        eprintln_note(&format!(
            "run {newest} is in progress and has no logs of this flow yet; these are of run {}",
            terminal::safe(run)
        ));
    }
}

/// A note on stderr (not part of the logs).
pub(super) fn eprintln_note(text: &str) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("flow logs: {text}");
    }
}

/// The run of the runs `wanted` that `text` names ([`crate::run_prefix::pick`]), of those with
/// a folder in `root` and those `store` holds; `text` itself when it names none.
fn given_run(
    text: &str,
    root: &Path,
    store: Option<&dyn ResultStore>,
    wanted: impl Fn(&String) -> bool,
) -> Result<String, CliError> {
    let folders = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok());
    let stored = (store
        .and_then(|store| store.runs().ok())
        .into_iter()
        .flatten())
    .map(|run| run.run_id.to_string());
    let ids = folders
        .chain(stored)
        .filter(|name| RunId::parse(name).is_ok() && wanted(name));
    Ok(crate::run_prefix::pick(text, ids)?.unwrap_or_else(|| text.to_owned()))
}

/// The newest run folder (run ids sort by their start) of the runs `wanted`.
fn latest_run(root: &Path, wanted: impl Fn(&String) -> bool) -> Option<String> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| RunId::parse(name).is_ok() && wanted(name))
        .max()
}

/// The latest run folder (run ids sort by their start) of the runs `wanted` with logs or
/// attempts of `flow`.
fn latest_run_of(root: &Path, flow: &str, wanted: impl Fn(&String) -> bool) -> Option<String> {
    let mut runs: Vec<String> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| wanted(name))
        .collect();
    runs.sort_unstable();
    runs.into_iter()
        .rev()
        .find(|run| last_attempt(&run_dir(root, run), flow).is_some())
}

/// The attempt whose logs `flow logs` looked for: its number, its run, and how to print the
/// logs of the latest run before it with log files of the flow (`None` when a run was given,
/// or none has).
struct Ended<'a> {
    attempt: u32,
    run: &'a str,
    earlier: Option<&'a str>,
}

/// The latest run folder of the runs `wanted`, before `run`, with a log file of `flow`.
fn earlier_logged(
    root: &Path,
    flow: &str,
    run: &str,
    wanted: impl Fn(&String) -> bool,
) -> Option<String> {
    let mut runs: Vec<String> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.as_str() < run && RunId::parse(name).is_ok() && wanted(name))
        .collect();
    runs.sort_unstable();
    runs.into_iter()
        .rev()
        .find(|earlier| !logged_attempts(&run_dir(root, earlier), flow).is_empty())
}

/// The last attempt of `flow` that left logs or ended in `folder`.
fn last_attempt(folder: &Path, flow: &str) -> Option<u32> {
    let logged = logged_attempts(folder, flow).last().copied();
    let ended = attempts(folder)
        .into_iter()
        .filter(|a| a.flow == flow)
        .map(|a| a.attempt)
        .max();
    logged.max(ended)
}

fn attempt_ended(folder: &Path, flow: &str, attempt: u32) -> bool {
    attempts(folder)
        .iter()
        .any(|a| a.flow == flow && a.attempt == attempt)
}

/// Whether no further attempt of `flow` will come: its result in the store that holds the
/// run (`known`) is final. When the store cannot tell (`--store memory`, another store than
/// the run's), the attempt's end is the end.
fn flow_over(known: Option<&(&dyn ResultStore, RunRecord)>, flow: &str) -> bool {
    let (Some((store, record)), Ok(flow)) = (known, FlowId::new(flow)) else {
        return true;
    };
    match store.result(&record.run_id, &flow) {
        Ok(Some(result)) => result.status.is_finished(),
        Ok(None) => false,
        Err(_) => true,
    }
}
