//! Tests of data.rs: no output is or holds flow's own files (the `.flow` folder, the workflow
//! file, an included file), nor a store's files given to a run.

use std::path::Path;

use crate::workflow::test_support::load_str;
use crate::workflow::{from_str, Workflow};

/// The workflow `text`, as `flow.toml` in `dir`, with `conf/common.toml` included.
fn load_including(dir: &Path, text: &str) -> Result<Workflow, String> {
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::write(
        dir.join("conf/common.toml"),
        "[flows.c]\nshell = \"true\"\n",
    )
    .unwrap();
    let text = format!("include = [\"conf/common.toml\"]\n{text}");
    let file = dir.join("flow.toml").display().to_string();
    from_str(&text, &file, "flow", dir).map_err(|e| e.to_string())
}

/// An output that is, holds or lies in `.flow`, written in any form: refused where it is
/// written, once per place; a name that only begins as `.flow` is fine.
#[test]
fn an_output_holding_the_state_folder_is_refused_where_it_is_written() {
    for (output, whose) in [
        (
            ".flow",
            "holds flow's own files (`.flow/`, its store and logs)",
        ),
        (
            ".flow/",
            "holds flow's own files (`.flow/`, its store and logs)",
        ),
        (
            "./.flow",
            "holds flow's own files (`.flow/`, its store and logs)",
        ),
        (
            "x/../.flow/",
            "holds flow's own files (`.flow/`, its store and logs)",
        ),
        (
            "/tmp/wf/.flow",
            "holds flow's own files (`.flow/`, its store and logs)",
        ),
        (
            "../wf/.flow/",
            "holds flow's own files (`.flow/`, its store and logs)",
        ),
        (
            ".flow/logs/",
            "lies in flow's own folder `.flow/` (its store and logs)",
        ),
        (
            ".flow/flow.db",
            "lies in flow's own folder `.flow/` (its store and logs)",
        ),
        (
            "/tmp/wf/.flow/locks",
            "lies in flow's own folder `.flow/` (its store and logs)",
        ),
    ] {
        let text = format!(
            "[flows.a]\nshell = \"true\"\noutputs = [\"a.txt\"]\n\
             [flows.b]\nmatrix = {{ x = [\"1\", \"2\"] }}\nshell = \"true\"\n\
             outputs = [\"{output}\"]\n"
        );
        let error = load_str(&text).unwrap_err();
        let expected = format!("w.toml:7:12: output `{output}` of flow `b.");
        assert!(error.contains(&expected), "{output}: {error}");
        assert!(
            error.contains(&format!("{whose}: each attempt")),
            "{output}: {error}"
        );
        assert_eq!(error.matches(whose).count(), 1, "{output}: {error}");
    }
    for output in [".flowx", ".flow.txt", "out/.flow", "../.flow"] {
        let text = format!("[flows.a]\nshell = \"true\"\noutputs = [\"{output}\"]\n");
        assert!(load_str(&text).is_ok(), "{output}");
    }
}

/// An output that is or holds the workflow file or a file it includes: refused where it is
/// written; one beside them is fine.
#[test]
fn an_output_holding_a_workflow_file_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    let abs = d.display().to_string();
    for (output, whose) in [
        ("flow.toml", "is the workflow file `flow.toml`"),
        ("./flow.toml", "is the workflow file `flow.toml`"),
        (
            &format!("{abs}/flow.toml"),
            "is the workflow file `flow.toml`",
        ),
        (".", "holds the workflow's folder"),
        ("conf/", "holds the included file `conf/common.toml`"),
        ("conf", "holds the included file `conf/common.toml`"),
        (
            "x/../conf/common.toml",
            "is the included file `conf/common.toml`",
        ),
        (
            &format!("{abs}/conf"),
            "holds the included file `conf/common.toml`",
        ),
    ] {
        let text = format!("[flows.b]\nshell = \"true\"\noutputs = [\"{output}\"]\n");
        let error = load_including(&d, &text).unwrap_err();
        assert!(
            error.contains(&format!(
                "flow.toml:4:12: output `{output}` of flow `b` {whose}: "
            )),
            "{output}: {error}"
        );
    }
    for output in ["flow.toml.bak", "conf/other.txt", "confx/", "out/"] {
        let text = format!("[flows.b]\nshell = \"true\"\noutputs = [\"{output}\"]\n");
        assert!(load_including(&d, &text).is_ok(), "{output}");
    }
}

/// A store's file or folder that an output is or holds is found, with the output's line; one
/// beside the outputs, or holding them, is not.
#[test]
fn an_output_holding_a_stores_file_is_found_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    let text = "[flows.b]\nshell = \"true\"\noutputs = [\"out.txt\", \"res/\"]\n";
    let wf = load_including(&d, text).unwrap();
    for (store, found) in [
        ("res/db.sqlite", true),
        ("res", true),
        ("res/sub/", true),
        ("x/../res", true),
        ("out.txt", true),
        ("other.db", false),
        ("resx/db.sqlite", false),
        (".", false),
    ] {
        let path = d.join(store);
        let held = wf.output_holding(&[Path::new("/elsewhere/db"), &path]);
        let Some((flow, output, at)) = held else {
            assert!(!found, "{store}: not found");
            continue;
        };
        assert!(found, "{store}: {held:?}");
        assert_eq!(flow.as_str(), "b", "{store}");
        let expected = if store == "out.txt" {
            "out.txt"
        } else {
            "res/"
        };
        assert_eq!(output, expected, "{store}");
        let at = at.unwrap();
        assert!(
            at.file.ends_with("flow.toml") && at.line == 4,
            "{store}: {at:?}"
        );
    }
}
