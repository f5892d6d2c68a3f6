//! Project automation: `cargo xtask ci [--deep]` runs every check CI runs, in order, and
//! `cargo xtask bench` runs the benchmarks the issues ask figures for.

mod ab;
mod bench;
mod bench_fresh;
mod bench_w4;
mod ci;
mod docs;
mod examples;
mod layering;
mod package;
mod step;
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci [--deep]   fmt, clippy, crate layering, package metadata, tidy, tests, doc tests,
                examples run, docs, cargo package, benches build;
                --deep also runs the property tests with ten times the cases
  bench [--e2e] the benchmarks whose figures the closing notes report; --e2e skips the
                criterion benches and runs only run_graph, W4 (flow run against the floor,
                make and ninja on graphs of commands), flow validate and Slurm
  bench --w4    only W4
  bench --run-graph
                only W1-W3 (flow-bench's run_graph: median of 21 runs after one
                not counted, and W3's peak RSS)
  bench --ab RUN_GRAPH [ROUNDS]
                this tree's run_graph against another build of it on W1-W3, in
                alternating rounds (21 unless ROUNDS is given): medians and ratios
  bench --up-to-date
                only the up-to-date benchmarks (flow run that runs nothing vs make -q,
                hashing 1 GiB of new inputs)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["ci"] => ci::run(ci::Depth::Normal),
        ["ci", "--deep"] => ci::run(ci::Depth::Deep),
        ["bench"] => bench::run(bench::Scope::All),
        ["bench", "--e2e"] => bench::run(bench::Scope::EndToEnd),
        ["bench", "--w4"] => bench::run(bench::Scope::W4),
        ["bench", "--run-graph"] => bench::run(bench::Scope::RunGraph),
        ["bench", "--ab", other] => ab::run(other, 21),
        ["bench", "--ab", other, rounds] => match rounds.parse() {
            Ok(rounds) if rounds > 0 => ab::run(other, rounds),
            _ => {
                eprintln!("xtask: ROUNDS must be a positive number, not `{rounds}`");
                return ExitCode::from(2);
            }
        },
        ["bench", "--up-to-date"] => bench_fresh::alone(),
        [bench::PEAK_RSS_TASK, program, args @ ..] => bench::print_peak_rss(program, args),
        ["help" | "--help" | "-h"] => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}
