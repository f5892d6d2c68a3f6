//! Every ```toml block under `## Many flows from one definition` in docs/workflow-format.md is
//! a valid workflow: each is written to a fresh folder (with the files the examples need: the
//! blocks that start with `# file: NAME`, and data files for the glob) and `flow validate`d.

mod common;

use std::path::Path;

use common::flow;

const HEADING: &str = "## Many flows from one definition";

/// The ```toml blocks of the section under [`HEADING`].
fn blocks() -> Vec<String> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/workflow-format.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let start = text
        .find(HEADING)
        .unwrap_or_else(|| panic!("{} has no `{HEADING}`", doc.display()));
    let section = &text[start + HEADING.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "a ```toml block is not closed");
    blocks
}

#[test]
fn every_toml_block_of_the_section_is_a_valid_workflow() {
    let blocks = blocks();
    assert!(blocks.len() >= 6, "only {} toml blocks", blocks.len());
    let files: Vec<(&str, &str)> = blocks
        .iter()
        .filter_map(|b| {
            let name = b.lines().next()?.strip_prefix("# file: ")?;
            Some((name.trim(), b.as_str()))
        })
        .collect();
    assert!(!files.is_empty(), "the include example names its file");
    for block in &blocks {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in &files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        std::fs::create_dir(dir.path().join("data")).unwrap();
        for sample in ["a", "b"] {
            std::fs::write(dir.path().join(format!("data/{sample}.fastq")), "").unwrap();
        }
        std::fs::write(dir.path().join("w.toml"), block).unwrap();
        let out = flow()
            .current_dir(dir.path())
            .args(["validate", "w.toml"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "this block is not a valid workflow:\n{block}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
