//! Tidy checks: every Rust file opens with a `//!` line saying what it is for, and no test is
//! skipped with `#[ignore]`.

use std::fs;
use std::path::Path;

use anyhow::{bail, Result};

use crate::step::root;

pub fn check() -> Result<()> {
    eprintln!("xtask: == tidy: //! headers, no #[ignore]");
    let mut problems = Vec::new();
    let root = root();
    for entry in fs::read_dir(&root)? {
        let path = entry?.path();
        if path.is_dir() && path.join("Cargo.toml").exists() {
            visit(&path, &root, &mut problems)?;
        }
    }
    if !problems.is_empty() {
        bail!("step `tidy` failed: {}", problems.join("; "));
    }
    eprintln!("xtask: ok tidy");
    Ok(())
}

fn visit(dir: &Path, root: &Path, problems: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                visit(&path, root, problems)?;
            }
        } else if name.ends_with(".rs") {
            let text = fs::read_to_string(&path)?;
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if !text.trim_start().starts_with("//!") {
                problems.push(format!("{shown} does not open with a `//!` line"));
            }
            if text.lines().any(|l| l.trim_start().starts_with("#[ignore")) {
                problems.push(format!("{shown} skips a test with #[ignore]"));
            }
        }
    }
    Ok(())
}
