//! `cargo doc` with warnings as errors (a broken intra-doc link fails CI), then a check that
//! every docs.rs link in a crate's README points at a page and anchor that `cargo doc` made,
//! so that the READMEs' links (which crates.io, docs.rs and a repository all render) hold.

use std::fs;

use anyhow::{bail, Result};

use crate::step::{root, run as run_step, target_dir};

const DOCS_RS: &str = "https://docs.rs/";

pub fn check() -> Result<()> {
    run_step(
        "docs",
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    eprintln!("xtask: == docs.rs links of the READMEs");
    let doc = target_dir().join("doc");
    let mut problems = Vec::new();
    let mut n_links = 0;
    for entry in fs::read_dir(root())? {
        let readme = entry?.path().join("README.md");
        let Ok(text) = fs::read_to_string(&readme) else {
            continue;
        };
        let shown = readme
            .strip_prefix(root())
            .unwrap_or(&readme)
            .display()
            .to_string();
        for link in text.split(DOCS_RS).skip(1) {
            let link = link
                .split(|c: char| c.is_whitespace() || c == ')' || c == '>')
                .next()
                .unwrap_or_default();
            n_links += 1;
            // `CRATE/latest/crate_path/page.html#anchor`: the page and anchor rustdoc made.
            let (page, anchor) = link
                .split_once('#')
                .map_or((link, None), |(p, a)| (p, Some(a)));
            let Some(path) = page.splitn(3, '/').nth(2) else {
                problems.push(format!("{shown}: `{DOCS_RS}{link}` names no page"));
                continue;
            };
            let Ok(html) = fs::read_to_string(doc.join(path)) else {
                problems.push(format!(
                    "{shown}: `{DOCS_RS}{link}`: cargo doc made no `{path}`"
                ));
                continue;
            };
            if let Some(anchor) = anchor {
                if !html.contains(&format!("id=\"{anchor}\"")) {
                    problems.push(format!(
                        "{shown}: `{DOCS_RS}{link}`: `{path}` has no `#{anchor}`"
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("step `docs` failed: {}", problems.join("; "));
    }
    eprintln!("xtask: ok docs.rs links ({n_links})");
    Ok(())
}
