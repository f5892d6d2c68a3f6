//! Project automation: `cargo xtask ci [--deep]` runs every check CI runs, in order, and
//! `cargo xtask bench` runs the benchmarks the issues ask figures for.

mod bench;
mod bench_fresh;
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
                criterion benches and runs only run_graph, flow run vs make/ninja and Slurm
  bench --up-to-date  only the up-to-date benchmarks (flow run that runs nothing vs make -q,
                hashing 1 GiB of new inputs)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["ci"] => ci::run(ci::Depth::Normal),
        ["ci", "--deep"] => ci::run(ci::Depth::Deep),
        ["bench"] => bench::run(bench::Scope::All),
        ["bench", "--e2e"] => bench::run(bench::Scope::EndToEnd),
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
