//! `flow report`: a self-contained HTML page of one run (summary, timeline, DAG by status,
//! critical path, failures grouped by cause, a sortable table of all flows), or the same data
//! as JSON with `--json`.
//!
//! The data comes from two places: the run's results from the store, and the dependency edges
//! from the workflow file (without the file the report still shows every flow, but no edges).
//! [`model::Report::build`] turns both into the report's model once; [`html::render`] and
//! [`json::render`] draw it.
//!
//! The page needs nothing but itself: CSS, SVG and the table's sorting script are inline, and
//! it names no network address. Every text that comes from a flow (ids, messages, stderr) is
//! escaped, so a flow that prints `<script>` shows it as text.

mod critical_path;
mod dag;
mod escape;
mod failures;
mod format;
mod html;
mod json;
mod model;
mod timeline;

use std::path::{Path, PathBuf};

use flow_results::{ResultStore, RunId, RunRecord};

use crate::commands::located::{locate_with, Located};
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::run_state::RunState;
use crate::store;
use crate::workflow::Workflow;

pub use model::Report;

/// `flow report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The workflow file: its store is the default and its dependencies are drawn
    /// [without it: .flow/flow.db in the current folder, and no edges].
    pub file: Option<PathBuf>,
    /// The store: memory, dir:PATH or sqlite:PATH.
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
    /// The run to show, by its id or the start of it (`20261207T18`) [default: the latest].
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Where to write the page (`-` for stdout) [default: .flow/reports/RUN_ID.html beside
    /// the workflow file; with --json: stdout].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the report's data as JSON instead of the HTML page.
    #[arg(long)]
    pub json: bool,
    /// The params the run was made with, when they change its flows.
    #[command(flatten)]
    pub params: crate::cli::SetArgs,
}

/// Runs `flow report`: builds the report of the chosen run and writes it.
///
/// # Errors
/// [`CliError`] when the workflow file is invalid, the store cannot be read, there is no such
/// run, or the output cannot be written.
pub fn run(args: &ReportArgs) -> Result<u8, CliError> {
    // A file with problems still gives its folder and its workflow's name (a note on stderr
    // says so), as `flow results` does; the report then shows no edges.
    let Located {
        dir,
        name,
        wf: workflow,
    } = locate_with(args.file.as_deref(), &args.params.set)?;
    let dir = dir.as_path();
    let spec = store::spec(args.store.as_deref(), dir)?;
    // A run asked for by id must be there; the latest may not be yet.
    let store = match args.run {
        Some(_) => Some(store::open_for_reading(&spec)?),
        None => store::open_if_any(&spec)?,
    };
    let found = match &store {
        Some(store) => find_run(store.as_ref(), &spec, args.run.as_deref(), name.as_deref())?,
        None => None,
    };
    let (Some(store), Some(run)) = (store, found) else {
        return no_runs(args, &store::no_runs(&spec, name.as_deref()));
    };
    let state = RunState::of(&spec, &run);
    let logs_root = dir.join(store::STATE_DIR).join("logs");
    // The file's dependencies are drawn on its own runs only (`--run` may name another's).
    let workflow = workflow.filter(|w| w.name == run.workflow);
    let report = build(
        store.as_ref(),
        &run,
        state,
        workflow.as_ref(),
        None,
        &logs_root,
    )?;
    // The default page goes into `.flow`: where that cannot be written (read-only media),
    // the error says how to write it elsewhere.
    let default_page = !args.json && args.output.is_none();
    let elsewhere = |error| {
        if default_page {
            elsewhere(error)
        } else {
            error
        }
    };
    if default_page {
        make_reports_dir(dir).map_err(elsewhere)?;
    }
    let (text, default_output) = if args.json {
        (json::render(&report), None)
    } else {
        (html::render(&report), Some(default_path(dir, &run.run_id)))
    };
    match args.output.as_deref().or(default_output.as_deref()) {
        None => print_stdout(&text)?,
        Some(path) if path == Path::new("-") => print_stdout(&text)?,
        Some(path) => {
            write_file(path, &text).map_err(elsewhere)?;
            // The page and the JSON alike: stdout holds no document then.
            print_stdout(&format!(
                "report written to {}\n",
                crate::terminal::path(path)
            ))?;
        }
    }
    Ok(0)
}

/// Says that there is no run to report, writing no page (`null`, the document of no run,
/// with `--json`, where the document would go): a project that has not run is no error.
fn no_runs(args: &ReportArgs, no_runs: &str) -> Result<u8, CliError> {
    if args.json {
        match args.output.as_deref() {
            None => print_stdout("null\n")?,
            Some(path) if path == Path::new("-") => print_stdout("null\n")?,
            Some(path) => write_file(path, "null\n")?,
        }
    } else {
        crate::terminal::eprint_line(&format!("{no_runs}: no report written"));
    }
    Ok(0)
}

/// Writes the HTML report of `run_id` to `.flow/reports/RUN_ID.html` beside the workflow
/// file, for `flow run --report`; returns the path. `command_line` is shown in the summary.
///
/// # Errors
/// [`CliError`] when the store cannot be read, the run is not in it, or the file cannot be
/// written.
pub fn write_after_run(
    workflow: &Workflow,
    store: &dyn ResultStore,
    run_id: &RunId,
    command_line: Option<String>,
) -> Result<PathBuf, CliError> {
    let spec = store.spec();
    let run = store
        .run(run_id)
        .map_err(|e| store_error(&spec, e))?
        .ok_or_else(|| CliError::NoRun {
            spec: spec.clone(),
            detail: format!(" with id `{run_id}`"),
        })?;
    let logs_root = workflow.dir.join(store::STATE_DIR).join("logs");
    // This process is the run's `flow run`: it is alive.
    let state = match run.finished_at {
        Some(_) => RunState::Ended,
        None => RunState::InProgress,
    };
    let report = build(store, &run, state, Some(workflow), command_line, &logs_root)?;
    let path = default_path(&workflow.dir, run_id);
    make_reports_dir(&workflow.dir)?;
    write_file(&path, &html::render(&report))?;
    Ok(path)
}

/// The command line of this process, quoted for a POSIX shell where needed, with the
/// program named by its file name (`flow run ...`, not the path it was started by).
pub fn this_command_line() -> String {
    let mut args = std::env::args();
    let program = args.next().map(|arg| {
        Path::new(&arg)
            .file_name()
            .map_or(arg.clone(), |name| name.to_string_lossy().into_owned())
    });
    program
        .into_iter()
        .chain(args)
        .map(|arg| shell_word(&arg))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `arg` quoted for a POSIX shell where needed.
fn shell_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// What `flow run --report` says after its page could not be written: the `flow report`
/// command that writes the page of `run_id` elsewhere, reading the run's store (`store`, as
/// given to `flow run`) with its params (`set`); none when the results were kept in memory,
/// gone once the run is over.
pub fn elsewhere_hint(
    file: &Path,
    store: Option<&str>,
    set: &[(String, String)],
    run_id: &RunId,
) -> String {
    if store.and_then(|store| store.parse().ok()) == Some(flow_results::StoreSpec::Memory) {
        return "the results were kept in memory only (--store memory), so no later \
                `flow report` finds them: run again with a store on disk to write the page \
                elsewhere"
            .to_owned();
    }
    let mut words = vec!["flow".to_owned(), "report".to_owned()];
    words.push(shell_word(&file.to_string_lossy()));
    if let Some(store) = store {
        words.extend(["--store".to_owned(), shell_word(store)]);
    }
    for (name, value) in set {
        words.extend(["--set".to_owned(), shell_word(&format!("{name}={value}"))]);
    }
    words.extend(["--run".to_owned(), run_id.to_string(), "-o PATH".to_owned()]);
    format!("`{}` writes it elsewhere", words.join(" "))
}

/// Reads the results of `run` and builds its report.
fn build(
    store: &dyn ResultStore,
    run: &RunRecord,
    state: RunState,
    workflow: Option<&Workflow>,
    command_line: Option<String>,
    logs_root: &Path,
) -> Result<Report, CliError> {
    let results = store
        .results(&run.run_id)
        .map_err(|e| store_error(&store.spec(), e))?;
    // A flow not run (up to date) shows the run that produced its outputs, as `flow results`.
    let mut earlier = crate::report::RunReport::new(run, state, results.clone(), None);
    earlier.attach_reused(store, logs_root);
    let mut report = Report::build(run, state, results, workflow.map(|w| &w.graph));
    let earlier: rustc_hash::FxHashMap<&str, &crate::report::FlowReport> = (earlier.flows.iter())
        .filter(|f| f.reused_from.is_some())
        .map(|f| (f.id.as_str(), f))
        .collect();
    for flow in &mut report.flows {
        if let Some(original) = earlier.get(flow.id.as_str()) {
            flow.up_to_date_from.clone_from(&original.reused_from);
            flow.exit_code = original.exit_code;
            flow.attempts = original.attempts;
            flow.up_to_date_ms = original.duration_ms.map(|ms| ms as f64);
        }
    }
    report.command_line = command_line;
    let folder = crate::logs::run_dir(logs_root, run.run_id.as_str());
    report.add_attempts(&crate::logs::attempts(&folder));
    Ok(report)
}

/// The run given by id (an error if it is not there), else the latest of the workflow, else
/// the latest in the store; `None` when the store has no such run.
fn find_run(
    store: &dyn ResultStore,
    spec: &flow_results::StoreSpec,
    run_id: Option<&str>,
    workflow: Option<&str>,
) -> Result<Option<RunRecord>, CliError> {
    let store_error = |e| crate::store::error(spec, e);
    let found = match (run_id, workflow) {
        (Some(text), _) => Some(crate::run_prefix::stored_run(store, spec, text, workflow)?),
        (None, Some(workflow)) => store.latest_run(workflow).map_err(store_error)?,
        (None, None) => store.runs().map_err(store_error)?.pop(),
    };
    Ok(found)
}

/// Makes `DIR/.flow/reports` for the default report path (`.flow` exists beside a store that
/// has runs, unless `--store` points elsewhere).
fn make_reports_dir(dir: &Path) -> Result<(), CliError> {
    store::make_state_dir(dir)?;
    let reports = dir.join(store::STATE_DIR).join("reports");
    match std::fs::create_dir(&reports) {
        Err(_) if reports.is_dir() => Ok(()),
        Err(source) => Err(CliError::Io {
            action: "create the report folder",
            path: reports,
            source,
        }),
        Ok(()) => Ok(()),
    }
}

/// `error`, of writing the default page, with how to write it elsewhere.
fn elsewhere(error: CliError) -> CliError {
    match error {
        CliError::Io {
            action,
            path,
            source,
        } => CliError::Io {
            action,
            path,
            source: std::io::Error::new(
                source.kind(),
                format!("{source}; write the page elsewhere with -o FILE, or to stdout with -o -"),
            ),
        },
        other => other,
    }
}

/// `DIR/.flow/reports/RUN_ID.html`.
pub(crate) fn default_path(dir: &Path, run_id: &RunId) -> PathBuf {
    dir.join(store::STATE_DIR)
        .join("reports")
        .join(format!("{run_id}.html"))
}

/// Writes `text` to `path`, whose folder must exist.
fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(CliError::Io {
                action: "write report",
                path: path.to_owned(),
                source: std::io::Error::other(format!(
                    "the folder {} does not exist",
                    crate::terminal::path(parent)
                )),
            });
        }
    }
    std::fs::write(path, text).map_err(|source| CliError::Io {
        action: "write report",
        path: path.to_owned(),
        source,
    })
}

fn store_error(spec: &str, error: flow_results::StoreError) -> CliError {
    CliError::Store {
        spec: spec.to_owned(),
        message: crate::terminal::chain(&error),
    }
}
