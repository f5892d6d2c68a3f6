//! Tidy checks: every Rust file opens with a `//!` line saying what it is for, no source file
//! (under a `src/`) is over [`MAX_SOURCE_LINES`] lines, no test is skipped with `#[ignore]` or
//! expects a panic with `#[should_panic]` (assert on the error instead), and a test that skips
//! when its tool is missing checks env `CI` (where it must fail).

use std::fs;
use std::path::Path;

use anyhow::{bail, Result};

use crate::step::root;

/// The longest a file under a `src/` may be: past it, a module usually decides, runs and
/// reports at once, and is split along those lines.
const MAX_SOURCE_LINES: usize = 600;

pub fn check() -> Result<()> {
    eprintln!(
        "xtask: == tidy: //! headers, source files of at most {MAX_SOURCE_LINES} lines, \
         no #[ignore] or #[should_panic], skips fail in CI"
    );
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
            problems.extend(problems_in(&shown, &text));
        }
    }
    Ok(())
}

/// The tidy problems of one Rust file, `shown` being its path as printed. A file that prints
/// "skipping ..." must also test `std::env::var_os("CI")`, failing where CI is set.
fn problems_in(shown: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !text.trim_start().starts_with("//!") {
        problems.push(format!("{shown} does not open with a `//!` line"));
    }
    let lines = text.lines().count();
    let source = Path::new(shown)
        .components()
        .any(|c| c.as_os_str() == "src");
    if source && lines > MAX_SOURCE_LINES {
        problems.push(format!(
            "{shown} has {lines} lines (a source file has at most {MAX_SOURCE_LINES}: split it)"
        ));
    }
    let attribute = |name: &str| text.lines().any(|l| l.trim_start().starts_with(name));
    if attribute("#[ignore") {
        problems.push(format!("{shown} skips a test with #[ignore]"));
    }
    if attribute("#[should_panic") {
        problems.push(format!(
            "{shown} expects a panic with #[should_panic] (catch it and assert on the message)"
        ));
    }
    let skips = text.contains("\"skipping");
    if skips && !text.contains("var_os(\"CI\")") {
        problems.push(format!(
            "{shown} skips a test when a tool is missing without failing when env CI is set"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::{problems_in, MAX_SOURCE_LINES};

    #[test]
    fn each_rule_flags_its_file_and_passes_a_tidy_one() {
        let header = "//! What this file is for.\n";
        let cases = [
            ("fn main() {}\n".to_owned(), Some("`//!` line")),
            (
                format!("{header}#[test]\n#[ignore]\nfn t() {{}}\n"),
                Some("#[ignore]"),
            ),
            (
                format!("{header}#[test]\n    #[should_panic(expected = \"x\")]\nfn t() {{}}\n"),
                Some("#[should_panic]"),
            ),
            (
                format!("{header}fn t() {{ eprintln!(\"skipping: sbatch not found\"); }}\n"),
                Some("env CI"),
            ),
            (
                format!(
                    "{header}fn t() {{ assert!(var_os(\"CI\").is_none()); \
                     eprintln!(\"skipping: sbatch not found\"); }}\n"
                ),
                None,
            ),
            (format!("{header}#[test]\nfn t() {{}}\n"), None),
            (
                format!("{header}{}", "fn f() {}\n".repeat(MAX_SOURCE_LINES)),
                Some("lines"),
            ),
            (
                format!("{header}{}", "fn f() {}\n".repeat(MAX_SOURCE_LINES - 1)),
                None,
            ),
        ];
        // A test file may be longer: it lists cases.
        let long = format!("//! Cases.\n{}", "fn f() {}\n".repeat(MAX_SOURCE_LINES));
        assert!(problems_in("tests/cases.rs", &long).is_empty());
        for (text, expected) in cases {
            let problems = problems_in("src/f.rs", &text);
            match expected {
                Some(needle) => assert!(
                    problems.len() == 1 && problems[0].contains(needle),
                    "{text:?}: {problems:?}"
                ),
                None => assert!(problems.is_empty(), "{text:?}: {problems:?}"),
            }
        }
    }
}
