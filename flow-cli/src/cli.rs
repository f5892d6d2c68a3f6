//! The command line as clap types: every subcommand, its flags and its `--help` examples.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  flow run examples/pipeline.toml             run a workflow with a live progress display
  flow run pipeline.toml --jobs 2 --json      two at a time, one JSON document at the end
  flow run pipeline.toml --resume             rerun only what did not complete last time
  flow validate pipeline.toml                 report every problem as FILE:LINE:COL: message
  flow run pipeline.toml --set day=2026-11-26  set a [params] value for this run
  flow graph pipeline.toml | dot -Tsvg > g.svg
  flow results pipeline.toml                  the latest run as a table
  flow runs pipeline.toml                     the runs of its workflow (no FILE: every run)
  flow report pipeline.toml                   an HTML page of the latest run
  flow logs sort.00 pipeline.toml             the last attempt's stdout and stderr
  flow completions bash > ~/.local/share/bash-completion/completions/flow
  flow man > ~/.local/share/man/man1/flow.1   the manual page

Exit codes: 0 every flow completed, 1 some flow failed, 2 bad usage or invalid workflow,
130 interrupted. Logging: -v, -vv, -vvv or RUST_LOG=flow=debug; NO_COLOR=1 turns colours off
(else each of stdout and stderr is coloured when it is a terminal).";

/// Run workflows of commands with dependencies, and look at their results.
#[derive(Debug, Parser)]
#[command(name = "flow", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow file.
    #[command(after_help = "\
Examples:
  flow run pipeline.toml
  flow run pipeline.toml --jobs 8 --store memory
  flow run pipeline.toml --resume
  flow run pipeline.toml --executor slurm     each command as a Slurm job
  flow run pipeline.toml --json | jq '.flows[] | select(.status == \"failed\")'

Each attempt's output is kept in .flow/logs/RUN_ID/FLOW.N.out and FLOW.N.err beside the file
(a stream the command never wrote to leaves no file); `flow logs FLOW` prints them. Where
that folder cannot be made (a read-only checkout), one warning says so, and only the last
lines of each stream are kept, in the result store (a Slurm job, whose output files go there,
fails instead). The summary at the end shows the last 10 lines of stdout and of stderr of
each flow that failed, and of each that a stop cancelled while it ran.
Ctrl-C (or SIGTERM, or SIGHUP when the terminal closes) stops starting flows, sends SIGTERM to
running ones and exits 130; a second one kills at once. A result store that refuses a write
(a full disk) stops the run too, which then exits 1 naming the store and the cause.
With --json, an error that stops the command before the run prints
{\"status\":\"error\",\"exit_code\":2,\"kind\":...,\"message\":...,\"problems\":[...]} on stdout.")]
    Run(RunArgs),
    /// Check a workflow file and report every problem as FILE:LINE:COL: message.
    #[command(after_help = "\
Examples:
  flow validate pipeline.toml && echo ok
  flow validate pipeline.toml --set samples=a,b
  flow validate pipeline.toml --json | jq '.problems[] | select(.flow == \"sort\")'

With --json, a valid file prints {\"status\":\"ok\",\"file\",\"workflow\",\"flows\",\"definitions\",
\"dependencies\",\"runs_without_targets\",\"problems\":[]}, an invalid one (exit code 2)
{\"status\":\"error\",\"exit_code\":2,\"kind\":\"invalid_workflow\",\"message\",\"problems\":[...]}, each
problem {\"file\",\"line\",\"column\",\"flow\",\"message\"} (flow: the [flows.NAME] it is written in,
or null). Warnings stay on stderr.")]
    Validate(ValidateArgs),
    /// Print the dependency graph (optional dependencies dashed).
    #[command(
        after_help = "Examples:\n  flow graph pipeline.toml | dot -Tpng > graph.png\n  flow graph pipeline.toml --format mermaid\n  flow graph pipeline.toml --collapsed          one node per [flows.NAME], not per matrix value"
    )]
    Graph(GraphArgs),
    /// Show the results of the latest (or a given) run.
    #[command(
        after_help = "Examples:\n  flow results pipeline.toml\n  flow results --store dir:results --run 20261126T153012.123Z-3f9a --json"
    )]
    Results(ResultsArgs),
    /// List the runs in a store.
    #[command(after_help = "\
Examples:
  flow runs pipeline.toml
  flow runs --store sqlite:.flow/flow.db
  flow runs pipeline.toml --json | jq -r '.runs[-1].run_id'

With --json: {\"runs\":[...]}, oldest first, each {\"run_id\",\"workflow\",\"started_at\",
\"finished_at\",\"duration_ms\",\"status\",\"counts\"}: status as in `flow results --json`
(completed, failed, cancelled, running, interrupted), counts {\"completed\",\"up_to_date\",
\"failed\",\"not_run\",\"cancelled\"} of a run that ended, else null.")]
    Runs(RunsArgs),
    /// Delete all but the newest runs of each workflow in a store: their results and logs.
    #[command(after_help = "\
Examples:
  flow prune pipeline.toml --keep 10          the 10 newest runs of the workflow stay
  flow prune --keep 1 --dry-run               what would go, in the store of this folder

The newest run, which --resume reads, always stays, and so does an older run that ran a flow
the kept runs found up to date. A workflow that is running is skipped (exit code 1); a store
that no run has made yet has nothing to prune (exit code 0). Logs and reports are removed
from the .flow folder beside FILE (without FILE: of the current folder).
Then the SQLite file is rewritten to give the space back, unless a workflow of the store is
running (it keeps its size then, and SQLite reuses the space for later runs).")]
    Prune(PruneArgs),
    /// Write an HTML page of a run: summary, timeline, DAG by status, critical path, failures.
    #[command(after_help = "\
Examples:
  flow report pipeline.toml                   the latest run, to .flow/reports/RUN_ID.html
  flow report pipeline.toml --run 20261126T153012.123Z-3f9a -o run.html
  flow report --store dir:results --json      the same data as JSON on stdout

The page is one file that works offline (inline CSS and SVG, no network request).
Without the workflow file the page has no dependency edges.")]
    Report(crate::report_page::ReportArgs),
    /// Print, or follow, the stdout and stderr of one attempt of a flow.
    #[command(after_help = "\
Examples:
  flow logs sort.00                           the last attempt in the latest run (in .flow/ here)
  flow logs sort.00 examples/pipeline.toml    the same, beside that workflow file
  flow logs fetch --attempt 1                 the first attempt's output
  flow logs fetch --follow                    as it is written, through retries, to the end

Each attempt keeps its own files: .flow/logs/RUN_ID/FLOW.N.out and FLOW.N.err.
stdout's file is printed on stdout, stderr's on stderr: byte for byte into a pipe or a file,
with control characters shown as escapes (\\u{1b}, \\r) on a terminal unless --raw is given.
When the latest run that ran the flow left no files of it (deleted, not restored with a CI
cache, a folder that could not be written), a note says so and the end of its output that the
result store kept is printed instead.")]
    Logs(LogsArgs),
    /// Print a shell completion script for bash, zsh or fish.
    #[command(after_help = "\
Examples:
  flow completions bash > ~/.local/share/bash-completion/completions/flow
  flow completions zsh > ~/.zfunc/_flow           (with fpath+=~/.zfunc before compinit)
  flow completions fish > ~/.config/fish/completions/flow.fish")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) of flow and its subcommands.
    #[command(after_help = "Example:\n  flow man > ~/.local/share/man/man1/flow.1 && man flow")]
    Man,
}

/// `flow completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `flow completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// `flow logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The flow.
    pub flow: String,
    /// The workflow file whose `.flow/logs` to read, only its runs (FLOW may be one that
    /// only a `--set` made, or one removed since) [default: the current folder's, any run].
    pub file: Option<PathBuf>,
    /// The run, by its id or the start of it [default: the latest that ran the flow; with
    /// --follow, the newest run].
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// The attempt, from 1 [default: the last].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// Keep printing what is written until the flow ends (through its retries, unless
    /// --attempt is given).
    #[arg(short, long)]
    pub follow: bool,
    /// Print the bytes as they are on a terminal too (colours, `\r` progress bars), as into
    /// a pipe: only for output you trust.
    #[arg(long)]
    pub raw: bool,
    /// The store that tells when a followed flow ended [default: sqlite:.flow/flow.db].
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
}

/// `flow validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The workflow file (TOML).
    pub file: PathBuf,
    /// Print one JSON document on stdout: the summary, or every problem.
    #[arg(long)]
    pub json: bool,
    /// Params of this run.
    #[command(flatten)]
    pub params: SetArgs,
}

/// `--set NAME=VALUE`, repeatable: the values of the workflow's `[params]`.
#[derive(Debug, Clone, Default, Args)]
pub struct SetArgs {
    /// Sets a param of the workflow's `[params]` (repeatable; a list param takes a,b,c).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = crate::workflow::parse_set)]
    pub set: Vec<(String, String)>,
}

/// `flow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow file (TOML).
    pub file: PathBuf,
    /// Run only these flows (or every flow of these definitions) and their ancestors, required and wanted [default: those the file's `[workflow] default` names, else every flow not `manual = true`].
    pub targets: Vec<String>,
    /// How many flows run at once [default: `[workflow] jobs`, else the number of CPUs; 1000 with --executor slurm].
    ///
    /// Each command running on this machine holds a few open files in flow: when --jobs needs
    /// more than the soft limit (`ulimit -n`), the run raises it (its commands inherit it); when
    /// the hard limit is too low, fewer commands run at once, and a warning says so.
    #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Where results go: memory, dir:PATH or sqlite:PATH [default: sqlite:.flow/flow.db beside FILE].
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
    /// Continue the latest run of this workflow: completed flows whose definition did not change are not run again.
    #[arg(long)]
    pub resume: bool,
    /// Print one JSON document at the end and nothing else on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress display and no summary; only errors (with --dry-run, the plan is still printed).
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// How progress is shown: the live display on stderr, plain lines (one per finished flow)
    /// on stdout, or `auto`: live when stdout and stderr are terminals and TERM is set and not
    /// `dumb`, else plain. Plain lines silent for a minute add one naming the flows still
    /// running (for CI jobs killed after minutes without output). --quiet and --json show none.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ProgressChoice::Auto)]
    pub progress: ProgressChoice,
    /// Run nothing and record nothing: print each flow that would run, with why, each that would fail (a missing input) or not run because of it, and how many are up to date.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Run these flows (or every flow of these definitions) even when they are up to date. It
    /// takes every word after it up to the next option: give FILE before it.
    #[arg(long, value_name = "FLOW", num_args = 1..)]
    pub force: Vec<String>,
    /// Run every flow, up to date or not.
    #[arg(long)]
    pub force_all: bool,
    /// At the end, write an HTML page of the run to .flow/reports/RUN_ID.html beside FILE
    /// (see `flow report`). Not with --dry-run, which runs and records nothing.
    #[arg(long, conflicts_with = "dry_run")]
    pub report: bool,
    /// Where commands run: on this machine, or as Slurm jobs (options from the `[slurm]`
    /// table and each flow's `slurm = { ... }`).
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    pub executor: ExecutorKind,
    /// Params of this run.
    #[command(flatten)]
    pub params: SetArgs,
}

/// How `flow run` shows its progress (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressChoice {
    /// Live on terminals that can redraw a line, else plain lines.
    Auto,
    /// The live display on stderr, whatever stderr is.
    Live,
    /// One plain line per finished flow on stdout.
    Plain,
}

/// Where `flow run` runs commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// On this machine, each command in its own process group.
    Local,
    /// As Slurm batch jobs (`sbatch`), followed with one `squeue` per poll for all jobs.
    Slurm,
}

/// Output format of `flow graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// `flow graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The workflow file (TOML).
    pub file: PathBuf,
    /// The output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// One node per definition (`[flows.NAME]`) instead of one per flow of its matrix.
    #[arg(long)]
    pub collapsed: bool,
    /// Params of this run.
    #[command(flatten)]
    pub params: SetArgs,
}

/// `flow results`.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// The workflow file whose store to read [default store: .flow/flow.db in the current folder].
    pub file: Option<PathBuf>,
    /// The store: memory, dir:PATH or sqlite:PATH.
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
    /// The run to show, by its id or the start of it (`20261207T18`) [default: the latest].
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Print the run as JSON, in the shape of `flow run --json`.
    #[arg(long)]
    pub json: bool,
    /// The params the run was made with, when they change its flows.
    #[command(flatten)]
    pub params: SetArgs,
}

/// `flow runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The workflow file whose store to read [default store: .flow/flow.db in the current folder].
    pub file: Option<PathBuf>,
    /// The store: memory, dir:PATH or sqlite:PATH.
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
    /// Print the runs as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// `flow prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The workflow file whose runs to prune [default: every workflow's, in the store of the current folder].
    pub file: Option<PathBuf>,
    /// How many of the newest runs of each workflow to keep (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
    /// The store: dir:PATH or sqlite:PATH.
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
    /// List what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What flow says to `flow run` given a flag of make or Snakemake (`-k`, `--cores 4`) that it
/// has no use for or spells otherwise; `None` for any other argument. `arg` is the argument
/// as clap quotes it, without its value (`--cores`).
pub fn other_tools_flag(arg: &str) -> Option<&'static str> {
    Some(match arg {
        "-k" | "--keep-going" | "--keep_going" => {
            "flow always keeps going: a failed flow stops only the flows that require it, and \
             the others run (make's and Snakemake's `-k`)"
        }
        "--cores" | "-c" => "the number of flows run at once is `--jobs N` (`-j N`)",
        "-F" | "--forceall" | "-B" | "--always-make" => {
            "to run every flow even if up to date, write `--force-all`"
        }
        "-R" | "--forcerun" => "to run a flow even if up to date, write `--force FLOW`",
        "--rerun-incomplete" | "--ri" => {
            "flow runs an incomplete flow again by itself: one stopped or failed has no \
             record of completing (`--resume` reuses what the latest run completed)"
        }
        "-p" | "--printshellcmds" => {
            "flow does not print commands: `flow run -n` says what would run and why, and \
             `flow logs FLOW FILE` prints what a flow wrote"
        }
        "-f" | "--file" | "-s" | "--snakefile" => {
            "the workflow file is the first word after `run`, without a flag: \
             `flow run FILE [FLOW...]`"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
