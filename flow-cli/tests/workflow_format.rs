//! docs/workflow-format.md against the parser: every `toml` example in it is a workflow that
//! `flow validate` accepts, and every key the parser knows (as its "unknown key" messages list
//! them) is documented. The section `## Many flows from one definition` has its own test.

mod common;

use std::path::Path;

use common::flow_in;

/// The section whose examples another test checks.
const OTHER_SECTION: &str = "## Many flows from one definition";

fn document() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/workflow-format.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each ```toml block outside [`OTHER_SECTION`]: its first line number and its text.
fn toml_examples(doc: &str) -> Vec<(usize, String)> {
    let mut examples = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut skipping = false;
    for (n, line) in doc.lines().enumerate() {
        if let Some((_, text)) = &mut current {
            if line.trim_start().starts_with("```") {
                let (start, text) = current.take().unwrap_or_default();
                if !skipping {
                    examples.push((start, text));
                }
            } else {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        }
        if line.starts_with("## ") {
            skipping = line.trim() == OTHER_SECTION;
        }
        if line.trim() == "```toml" {
            current = Some((n + 2, String::new()));
        }
    }
    assert!(current.is_none(), "an example is not closed");
    examples
}

fn validate(dir: &Path, text: &str) -> (bool, String) {
    std::fs::write(dir.join("w.toml"), text).unwrap();
    let out = flow_in(dir, &["validate", "w.toml"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_toml_example_is_a_valid_workflow() {
    let doc = document();
    let examples = toml_examples(&doc);
    assert!(
        examples.len() >= 6,
        "only {} examples found",
        examples.len()
    );
    let dir = tempfile::tempdir().unwrap();
    for (line, text) in examples {
        let (ok, stderr) = validate(dir.path(), &text);
        assert!(
            ok,
            "the example at docs/workflow-format.md:{line} is refused:\n{stderr}"
        );
    }
}

#[test]
fn every_key_the_parser_knows_is_documented() {
    let doc = document();
    let dir = tempfile::tempdir().unwrap();
    // One unknown key in each table: each message lists the keys that table takes.
    let (ok, stderr) = validate(
        dir.path(),
        "unknown_0 = 1\n[workflow]\nunknown_1 = 1\n[defaults]\nunknown_2 = 1\n[slurm]\nunknown_3 = 1\n\
         [flows.a]\ncommand = [\"true\"]\nunknown_4 = 1\nslurm = { unknown_5 = 1 }\n",
    );
    assert!(!ok);
    let mut keys = Vec::new();
    for line in stderr.lines().filter(|l| l.contains("unknown key")) {
        let listed = line.split_once("(expected ").map_or("", |(_, rest)| rest);
        keys.extend(listed.split('`').skip(1).step_by(2).map(str::to_owned));
    }
    assert!(keys.len() > 20, "{stderr}");
    for key in keys {
        let documented = doc.contains(&format!("| `{key}` |"))
            || doc.contains(&format!("## `[{key}]`"))
            || doc.contains(&format!("`[{key}]`"))
            || doc.contains(&format!("[{key}.ID]"));
        assert!(
            documented,
            "the key `{key}` is not in docs/workflow-format.md"
        );
    }
}
