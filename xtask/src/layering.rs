//! Checks the crate-to-crate edges against the layering written in ARCHITECTURE.md.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::step::cargo_metadata;

/// Each workspace crate and the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("flow-graph", &[]),
    ("flow-results", &["flow-graph"]),
    ("flow-pool", &["flow-graph"]),
    ("flow-core", &["flow-graph", "flow-results", "flow-pool"]),
    (
        "flow-cli",
        &["flow-graph", "flow-results", "flow-pool", "flow-core"],
    ),
    (
        "flow-bench",
        &["flow-graph", "flow-results", "flow-pool", "flow-core"],
    ),
    ("xtask", &[]),
];

pub fn check() -> Result<()> {
    eprintln!("xtask: == layering: cargo metadata against ARCHITECTURE.md");
    let metadata = cargo_metadata("layering", &["--no-deps"])?;
    let members: BTreeSet<&str> = ALLOWED.iter().map(|(name, _)| *name).collect();
    let mut problems = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
            problems.push(format!("crate `{name}` is not in the layering table"));
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let is_normal = dep["kind"].is_null();
            if members.contains(dep_name) && is_normal && !allowed.contains(&dep_name) {
                problems.push(format!("`{name}` must not depend on `{dep_name}`"));
            }
        }
    }
    if !problems.is_empty() {
        bail!("step `layering` failed: {}", problems.join("; "));
    }
    eprintln!("xtask: ok layering");
    Ok(())
}
