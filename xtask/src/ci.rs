//! `cargo xtask ci`: every check, in order, stopping at the first failure.

use anyhow::Result;

use crate::step::{has_cargo_subcommand, run as run_step};
use crate::{docs, examples, layering, package, tidy};

/// How many property-test cases to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// proptest's default number of cases.
    Normal,
    /// Ten times as many.
    Deep,
}

pub fn run(depth: Depth) -> Result<()> {
    run_step("fmt", "cargo", &["fmt", "--all", "--check"], &[])?;
    run_step(
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    layering::check()?;
    package::check()?;
    tidy::check()?;
    let cases = match depth {
        Depth::Normal => "256",
        Depth::Deep => "2560",
    };
    let env = [("PROPTEST_CASES", cases)];
    if has_cargo_subcommand("nextest") {
        run_step(
            "tests",
            "cargo",
            &["nextest", "run", "--workspace", "--no-fail-fast"],
            &env,
        )?;
    } else {
        run_step(
            "tests",
            "cargo",
            &["test", "--workspace", "--no-fail-fast"],
            &env,
        )?;
    }
    run_step("doc tests", "cargo", &["test", "--workspace", "--doc"], &[])?;
    examples::check()?;
    docs::check()?;
    // Each published crate packaged and built from its package alone (a file missing from
    // the package fails here); nothing is uploaded. In a target folder of its own, from which
    // the last run's builds of the packages are removed first (see `forget_packaged_builds`).
    let package_target = package::forget_packaged_builds()?;
    run_step(
        "package",
        "cargo",
        &[
            "package",
            "--allow-dirty",
            "--workspace",
            "--exclude",
            "flow-bench",
            "--exclude",
            "xtask",
            "--target-dir",
            &package_target,
        ],
        &[],
    )?;
    run_step(
        "benches build",
        "cargo",
        &["bench", "--workspace", "--no-run"],
        &[],
    )?;
    eprintln!("xtask: ci passed");
    Ok(())
}
