//! `flow logs FLOW [FILE] [--run RUN_ID] [--attempt N] [--follow]`: prints the stdout and
//! stderr one attempt of a flow left in `.flow/logs/RUN/FLOW.N.out` and `.err` (the latest
//! run that ran the flow and its last attempt by default), or follows them while it runs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flow_graph::FlowId;
use flow_results::{ResultStore, RunId};

use crate::cli::LogsArgs;
use crate::error::CliError;
use crate::logs::{attempts, log_file, logged_attempts, run_dir, LogStream};
use crate::store::STATE_DIR;

/// How often `--follow` looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Prints (or follows) the logs; 0 when something was found.
pub fn run(args: &LogsArgs) -> Result<u8, CliError> {
    let dir = match &args.file {
        Some(file) => crate::workflow::load(file)?.dir,
        None => PathBuf::from("."),
    };
    let root = dir.join(STATE_DIR).join("logs");
    let latest = if args.follow {
        // The flow may not have written anything yet: follow the newest run.
        latest_run(&root)
    } else {
        latest_run_of(&root, &args.flow)
    };
    let run = match &args.run {
        Some(run) => run.clone(),
        None => latest.ok_or_else(|| {
            CliError::Run(format!(
                "no logs of flow `{}` in {}: it has not run there (see `flow runs`), \
                 or the workflow file is elsewhere (give it: flow logs {} FILE)",
                args.flow,
                root.display(),
                args.flow
            ))
        })?,
    };
    let folder = run_dir(&root, &run);
    if !folder.is_dir() {
        return Err(CliError::Run(format!(
            "no logs of run {run} in {} (see `flow runs`)",
            root.display()
        )));
    }
    let mut attempt = args
        .attempt
        .unwrap_or_else(|| last_attempt(&folder, &args.flow).unwrap_or(1));
    let mut printer = Printer::new(&folder, &args.flow, attempt);
    printer.print_new()?;
    if !args.follow {
        if !printer.found_any && last_attempt(&folder, &args.flow).is_none() {
            return Err(CliError::Run(format!(
                "flow `{}` has no logs in run {run} ({})",
                args.flow,
                folder.display()
            )));
        }
        if !printer.found_any {
            eprintln_note(&format!(
                "attempt {attempt} of `{}` wrote nothing to stdout or stderr",
                args.flow
            ));
        }
        return Ok(0);
    }
    let store = crate::store::spec(args.store.as_deref(), &dir)
        .and_then(|spec| crate::store::open_for_reading(&spec))
        .ok();
    loop {
        std::thread::sleep(FOLLOW_POLL);
        printer.print_new()?;
        let ended = attempt_ended(&folder, &args.flow, attempt);
        if args.attempt.is_none() {
            if let Some(newer) = last_attempt(&folder, &args.flow).filter(|&n| n > attempt) {
                printer.print_new()?;
                eprintln_note(&format!("attempt {newer} of `{}`:", args.flow));
                attempt = newer;
                printer = Printer::new(&folder, &args.flow, attempt);
                continue;
            }
        }
        // Without --attempt: the end of the flow, also when it ended without an attempt
        // (reused, or not run because a parent failed).
        let over = match args.attempt {
            Some(_) => ended,
            None => {
                (ended || last_attempt(&folder, &args.flow).is_none())
                    && flow_over(store.as_deref(), &run, &args.flow)
            }
        };
        if over {
            printer.print_new()?;
            return Ok(0);
        }
    }
}

/// A note on stderr (not part of the logs).
fn eprintln_note(text: &str) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("flow logs: {text}");
    }
}

/// The newest run folder (run ids sort by their start).
fn latest_run(root: &Path) -> Option<String> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| RunId::parse(name).is_ok())
        .max()
}

/// The latest run folder (run ids sort by their start) with logs or attempts of `flow`.
fn latest_run_of(root: &Path, flow: &str) -> Option<String> {
    let mut runs: Vec<String> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    runs.sort_unstable();
    runs.into_iter()
        .rev()
        .find(|run| last_attempt(&run_dir(root, run), flow).is_some())
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

/// Whether no further attempt of `flow` will come: its result in the store is final. When
/// the store cannot tell (`--store memory`, another store), the attempt's end is the end.
fn flow_over(store: Option<&dyn ResultStore>, run: &str, flow: &str) -> bool {
    let (Some(store), Ok(run), Ok(flow)) = (store, RunId::parse(run), FlowId::new(flow)) else {
        return true;
    };
    match store.result(&run, &flow) {
        Ok(Some(result)) => result.status.is_finished(),
        Ok(None) => false,
        Err(_) => true,
    }
}

/// Copies what was appended to an attempt's two files since the last call: stdout's to
/// stdout, stderr's to stderr.
struct Printer {
    files: [(PathBuf, u64); 2],
    found_any: bool,
}

impl Printer {
    fn new(folder: &Path, flow: &str, attempt: u32) -> Self {
        Printer {
            files: [
                (log_file(folder, flow, attempt, LogStream::Stdout), 0),
                (log_file(folder, flow, attempt, LogStream::Stderr), 0),
            ],
            found_any: false,
        }
    }

    fn print_new(&mut self) -> Result<(), CliError> {
        for (k, (path, offset)) in self.files.iter_mut().enumerate() {
            let Ok(mut file) = File::open(&*path) else {
                continue;
            };
            self.found_any = true;
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(*offset))
                .and_then(|_| file.read_to_end(&mut bytes))
                .map_err(|source| CliError::Io {
                    action: "read the log file",
                    path: path.clone(),
                    source,
                })?;
            *offset += bytes.len() as u64;
            let written = if k == 0 {
                std::io::stdout()
                    .lock()
                    .write_all(&bytes)
                    .and_then(|()| std::io::stdout().flush())
            } else {
                std::io::stderr().lock().write_all(&bytes)
            };
            match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(CliError::Output(e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}
