//! Running one step of a task: a command, announced, timed, and failing with one clear line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// The workspace root (the parent of this crate's folder).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The cargo target folder (`CARGO_TARGET_DIR`, or `target/` in the workspace root).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Runs `program args...` in the workspace root; fails naming the step and its exit status.
pub fn run(name: &str, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    eprintln!("xtask: == {name}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root())
        .status()
        .with_context(|| format!("step `{name}` could not start `{program}`"))?;
    if !status.success() {
        bail!(
            "step `{name}` failed ({status}): {program} {}",
            args.join(" ")
        );
    }
    eprintln!("xtask: ok {name} ({:.1?})", started.elapsed());
    Ok(())
}

/// The JSON of `cargo metadata --format-version 1 ARGS...`, for step `name`.
pub fn cargo_metadata(name: &str, args: &[&str]) -> Result<serde_json::Value> {
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1"])
        .args(args)
        .current_dir(root())
        .output()
        .with_context(|| format!("step `{name}` could not run cargo metadata"))?;
    if !output.status.success() {
        bail!(
            "step `{name}` failed: cargo metadata exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Whether `cargo <subcommand>` is installed (e.g. `nextest`).
pub fn has_cargo_subcommand(subcommand: &str) -> bool {
    Command::new("cargo")
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}
