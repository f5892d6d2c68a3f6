//! Checks that the published crates are ready for a user: complete package metadata, a
//! README that the top README links (with the crate's examples), and a `rust-version` no
//! older than what any of their dependencies needs.
//!
//! The `rust-version` check is what can be checked with one toolchain installed: the
//! declared version must be at least the highest `rust-version` of every crate the published
//! crates build with (normal and build dependencies, transitively, from `cargo metadata`);
//! clippy's `incompatible_msrv` lint (on in the clippy step) reads the same field and refuses
//! standard-library items stabilised after it. Language features newer than the declared
//! version are not detected.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::Value;

use crate::step::{cargo_metadata, root, target_dir};

/// A Rust version, `1.85` or `1.85.0`, as comparable numbers.
type Version = (u64, u64, u64);

fn parse_version(text: &str) -> Option<Version> {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

pub fn check() -> Result<()> {
    eprintln!("xtask: == package metadata: fields, READMEs, rust-version against dependencies");
    let metadata = cargo_metadata("package metadata", &["--locked"])?;
    let packages: HashMap<&str, &Value> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let published: Vec<&Value> = members
        .iter()
        .filter_map(|id| packages.get(id).copied())
        .filter(|p| {
            p["publish"]
                .as_array()
                .is_none_or(|registries| !registries.is_empty())
        })
        .collect();

    let top_readme = std::fs::read_to_string(root().join("README.md"))?;
    let mut problems = Vec::new();
    for package in &published {
        problems.extend(metadata_problems(package, &top_readme));
    }

    // The highest rust-version among what the published crates build with.
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut stack: Vec<&str> = published.iter().filter_map(|p| p["id"].as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut needed: Option<(Version, String)> = None;
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let package = packages[id];
        if !members.contains(id) {
            if let Some(version) = package["rust_version"].as_str().and_then(parse_version) {
                if needed.as_ref().is_none_or(|(v, _)| version > *v) {
                    let name = format!("{} {}", package["name"], package["version"]);
                    needed = Some((version, name.replace('"', "")));
                }
            }
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let builds_with = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if builds_with {
                stack.extend(dep["pkg"].as_str());
            }
        }
    }
    for package in &published {
        let name = package["name"].as_str().unwrap_or_default();
        let declared = package["rust_version"].as_str().and_then(parse_version);
        match (declared, &needed) {
            (None, _) => problems.push(format!("`{name}` declares no rust-version")),
            (Some(declared), Some((version, by))) if declared < *version => problems.push(format!(
                "`{name}` declares rust-version {}.{}, but {by} needs {}.{}",
                declared.0, declared.1, version.0, version.1
            )),
            _ => {}
        }
    }
    if !problems.is_empty() {
        bail!("step `package metadata` failed: {}", problems.join("; "));
    }
    let needed = needed.map_or("none".to_owned(), |((major, minor, _), by)| {
        format!("{major}.{minor} ({by})")
    });
    eprintln!(
        "xtask: ok package metadata ({} crates; highest rust-version of their dependencies: \
         {needed})",
        published.len()
    );
    Ok(())
}

/// What a published crate's manifest or README lacks.
fn metadata_problems(package: &Value, top_readme: &str) -> Vec<String> {
    let name = package["name"].as_str().unwrap_or_default();
    let mut problems = Vec::new();
    for field in [
        "description",
        "license",
        "repository",
        "readme",
        "rust_version",
    ] {
        if package[field].as_str().is_none_or(str::is_empty) {
            problems.push(format!("`{name}` has no `{}`", field.replace('_', "-")));
        }
    }
    for field in ["keywords", "categories"] {
        if package[field].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("`{name}` has no `{field}`"));
        }
    }
    let dir = root().join(name);
    if let Some(readme) = package["readme"].as_str() {
        if !dir.join(readme).is_file() {
            problems.push(format!("`{name}`'s readme `{readme}` is not a file"));
        }
    }
    // The crates table of the top README links each crate's README and its examples.
    let mut links = vec![format!("{name}/README.md")];
    if let Ok(examples) = std::fs::read_dir(dir.join("examples")) {
        for example in examples.flatten() {
            let file = example.file_name().to_string_lossy().into_owned();
            links.push(format!("{name}/examples/{file}"));
        }
    }
    for link in links {
        if !top_readme.contains(&format!("]({link})")) {
            problems.push(format!("README.md's crates table does not link `{link}`"));
        }
    }
    problems
}

/// `cargo package --workspace` checks each crate against the others as packaged, through a
/// local registry. Cargo takes a registry's crate of a given name and version to be the same
/// forever: it reuses the copy it unpacked into `$CARGO_HOME/registry/src/-HASH/NAME-VERSION`
/// and the build of it in the target folder, so a second run would check this tree's crates
/// against the last run's code (same version, older code). This removes both: the unpacked
/// copies of the workspace's crates (crates.io's folders are left alone) and, in the package
/// check's own target folder (returned), the builds of the workspace's crates (their
/// dependencies stay built).
pub fn forget_packaged_builds() -> Result<String> {
    let metadata = cargo_metadata("workspace crates", &["--no-deps"])?;
    let crates: Vec<(String, String)> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_owned(),
                p["version"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    if let Some(Ok(registries)) = home.map(|home| std::fs::read_dir(home.join("registry/src"))) {
        for registry in registries.flatten() {
            // Local registries are named `-HASH`; crates.io's `index.crates.io-HASH`.
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for (name, version) in &crates {
                remove_dir(&registry.path().join(format!("{name}-{version}")))?;
            }
        }
    }
    let target = target_dir().join("package-check");
    for folder in [".fingerprint", "build", "deps"] {
        let Ok(entries) = std::fs::read_dir(target.join("debug").join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let ours = crates.iter().any(|(name, _)| {
                let lib = name.replace('-', "_");
                [format!("{name}-"), format!("{lib}-"), format!("lib{lib}-")]
                    .iter()
                    .any(|prefix| file.starts_with(prefix.as_str()))
            });
            if ours {
                let path = entry.path();
                if path.is_dir() {
                    remove_dir(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
            }
        }
    }
    Ok(target.to_string_lossy().into_owned())
}

fn remove_dir(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
