//! The `flow` command line: run, validate and inspect workflow files.
//!
//! `main` parses the arguments, installs logging, runs one subcommand and maps its outcome
//! to the exit code: 0 every flow completed, 1 some flow failed, 2 bad usage or an invalid
//! workflow (nothing was run), 130 interrupted.

mod cli;
mod commands;
mod error;
mod logs;
mod progress;
mod report;
mod report_page;
mod signals;
mod store;
mod terminal;
mod workflow;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    terminal::init_logging(cli.verbose);
    let outcome = match &cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Graph(args) => commands::graph::run(args),
        Command::Results(args) => commands::results::run(args),
        Command::Runs(args) => commands::runs::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Report(args) => report_page::run(args),
        Command::Logs(args) => commands::logs::run(args),
        Command::Completions(args) => commands::completions::completions(args),
        Command::Man => commands::completions::man(),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints `error` on stderr: workflow diagnostics as they are, anything else after `error:`.
fn report(error: &CliError) {
    let colour = terminal::colour_stderr();
    #[allow(clippy::print_stderr)]
    match error {
        CliError::InvalidWorkflow(diags) => {
            eprintln!("{diags}");
            let n = diags.items.len();
            let problems = if n == 1 { "problem" } else { "problems" };
            eprintln!(
                "{} {} has {n} {problems}; nothing was run",
                terminal::red("error:", colour),
                diags.file
            );
        }
        other => eprintln!("{} {other}", terminal::red("error:", colour)),
    }
}
