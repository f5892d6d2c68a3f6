//! The `flow` command line: run, validate and inspect workflow files.
//!
//! `main` parses the arguments, installs logging, runs one subcommand and maps its outcome
//! to the exit code: 0 every flow completed, 1 some flow failed, 2 bad usage or an invalid
//! workflow (nothing was run), 130 interrupted. As PID 1 (a container without `--init`), it
//! first forks off an init that reaps orphans and forwards signals, and exits with its code.

mod cli;
mod commands;
mod error;
mod liveness;
mod lock_name;
mod log_line;
mod logs;
mod open_files;
mod progress;
mod report;
mod report_page;
mod run_lock;
mod run_prefix;
mod run_state;
mod signals;
mod stopped_together;
mod store;
mod store_guard;
mod summary;
mod sweep;
mod takeover;
mod terminal;
mod watchdog;
mod workflow;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use flow_pool::InitOutcome;

use crate::cli::{Cli, Command};
use crate::error::{CliError, Stopped};

fn main() -> ExitCode {
    // As PID 1 of its PID namespace, `flow` would never reap the orphans of its commands (it
    // waits for its own by their pidfds): an init is forked off first, before any thread,
    // lock or file exists, which reaps them, forwards signals to this process (its child
    // from here on) and exits with its exit code.
    match flow_pool::init_if_pid_one() {
        Ok(InitOutcome::Continue) => {}
        Ok(InitOutcome::Exit(code)) => return ExitCode::from(code),
        Err(error) => terminal::eprint_line(&format!(
            "flow: warning: running as PID 1 without an init to reap orphaned processes: {error}"
        )),
    }
    // With SIGCHLD ignored (`env --ignore-signal=CHLD flow ...`), the kernel reaps the
    // commands itself and their exit statuses are lost: flow, and its commands, get it back
    // at its default.
    if let Err(error) = flow_pool::restore_default_action(nix::libc::SIGCHLD) {
        terminal::eprint_line(&format!(
            "flow: warning: cannot give SIGCHLD its default action back: {error}"
        ));
    }
    // The watchdog of a run is internal: not a subcommand of the command line's definition,
    // so no help, completion script or manual page names it.
    if let Some(run_id) = watchdog::requested(std::env::args_os()) {
        return ExitCode::from(watchdog::serve(&run_id));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    terminal::init_logging(cli.verbose);
    let (outcome, json) = match &cli.command {
        Command::Validate(args) => (commands::validate::run(args), args.json),
        Command::Graph(args) => (commands::graph::run(args), false),
        Command::Results(args) => (commands::results::run(args), args.json),
        Command::Runs(args) => (commands::runs::run(args), args.json),
        Command::Prune(args) => (commands::prune::run(args), false),
        Command::Run(args) => (commands::run::run(args), args.json),
        Command::Report(args) => (report_page::run(args), args.json),
        Command::Logs(args) => (commands::logs::run(args), false),
        Command::Completions(args) => (commands::completions::completions(args), false),
        Command::Man => (commands::completions::man(), false),
    };
    // What an invalid workflow stopped: a run, or a command that only reads runs.
    let stopped = match &cli.command {
        Command::Results(_) | Command::Runs(_) | Command::Report(_) | Command::Logs(_) => {
            Stopped::Reading
        }
        _ => Stopped::Running,
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e, stopped);
            if json {
                // A reader of stdout gets a document even when nothing ran (`jq` needs one).
                let _ = commands::print_stdout(&format!("{}\n", e.to_json(stopped)));
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints clap's error or help and exits as clap would; a usage error with `--json` among the
/// arguments is also the JSON error document on stdout.
fn usage_error(error: &clap::Error) -> ExitCode {
    let code = error.exit_code();
    if !error.use_stderr() {
        // Help and version, on stdout as clap prints them; one that cannot be written (a full
        // disk) fails as any command's output does, and a reader gone (`| head`) is no error.
        let printed = error.print().and_then(|()| std::io::stdout().flush());
        return match printed {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                let e = CliError::Output(e);
                report(&e, Stopped::Reading);
                ExitCode::from(e.exit_code())
            }
            _ => ExitCode::from(u8::try_from(code).unwrap_or(2)),
        };
    }
    // An error quotes the command line (a `--set` value, say): made safe for a terminal.
    let text = error.render().to_string();
    terminal::eprint_line(terminal::safe_lines(text.trim_end()).as_ref());
    if error.kind() == clap::error::ErrorKind::MissingRequiredArgument {
        // Lossy: an argument that is not UTF-8 is no file name flow would suggest anyway.
        let args: Vec<String> = (std::env::args_os().skip(1))
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        if let Some(file) = file_taken_by_force(&args) {
            terminal::eprint_line(&format!(
                "flow: --force takes every word after it as a flow, so it took `{0}`: give the \
                 file first, as `flow run {0} --force FLOW`",
                terminal::safe(&file)
            ));
        }
    }
    let is_run = (std::env::args_os().skip(1))
        .find(|arg| !arg.to_string_lossy().starts_with('-'))
        .is_some_and(|arg| arg == "run");
    if is_run && error.kind() == clap::error::ErrorKind::UnknownArgument {
        let arg = error.get(clap::error::ContextKind::InvalidArg);
        let hint = arg.and_then(|arg| match arg {
            clap::error::ContextValue::String(arg) => {
                cli::other_tools_flag(arg.split('=').next().unwrap_or(arg))
            }
            _ => None,
        });
        if let Some(hint) = hint {
            terminal::eprint_line(&format!("flow: {hint}"));
        }
    }
    // `args_os`: an argument that is not UTF-8 is what clap refused, and `args` would panic on it.
    if std::env::args_os().skip(1).any(|arg| arg == "--json") {
        // The first line names the argument: "error: unexpected argument '--bogus' found".
        let first = text.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let _ = commands::print_stdout(&format!("{}\n", error::usage_json(message)));
    }
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

/// The workflow file that `flow run --force FLOW... FILE` gave to `--force` as one more flow
/// (it takes every word after it), leaving the run without its FILE.
fn file_taken_by_force(args: &[String]) -> Option<String> {
    if args.iter().find(|arg| !arg.starts_with('-'))? != "run" {
        return None;
    }
    let force = args.iter().position(|arg| arg == "--force")?;
    (args[force + 1..].iter())
        .take_while(|arg| !arg.starts_with('-'))
        .find(|arg| std::path::Path::new(arg).is_file())
        .cloned()
}

/// Prints `error` on stderr: workflow diagnostics as they are, anything else after `error:`
/// with its causes. Text from files and commands is made safe for a terminal.
fn report(error: &CliError, stopped: Stopped) {
    let colour = terminal::colour_stderr();
    let red = terminal::red("error:", colour);
    match error {
        CliError::InvalidWorkflow(diags) => {
            // One line per problem: its file (a path) and its message made safe whole.
            for d in &diags.items {
                terminal::eprint_line(&format!(
                    "{}:{}:{}: {}",
                    terminal::safe(&d.file),
                    d.line,
                    d.col,
                    terminal::safe(&d.message)
                ));
            }
            let n = diags.items.len();
            let problems = if n == 1 { "problem" } else { "problems" };
            terminal::eprint_line(&format!(
                "{red} {} has {n} {problems}{}",
                terminal::safe(&diags.file),
                stopped.suffix()
            ));
        }
        other => terminal::eprint_line(&format!(
            "{red} {}",
            terminal::safe_lines(&terminal::chain(other))
        )),
    }
}
