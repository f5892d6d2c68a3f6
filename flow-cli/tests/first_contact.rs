//! What a newcomer's first mistakes on the command line are told: a misspelt workflow file
//! names the file meant (a folder given for one: `folder_as_file.rs`).

mod common;

use common::{flow_in, write};

fn stderr_of(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = flow_in(dir, args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_misspelt_workflow_file_names_the_file_meant() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("wf")).unwrap();
    write(
        &dir.path().join("wf"),
        "pipeline.toml",
        "[flows.a]\ncommand = [\"true\"]\n",
    );
    let (code, stderr) = stderr_of(dir.path(), &["run", "wf/pipline.toml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: cannot read workflow file wf/pipline.toml (did you mean `wf/pipeline.toml`?): "
        ),
        "{stderr}"
    );
    // Nothing close: the error as it was.
    let (code, stderr) = stderr_of(dir.path(), &["validate", "wf/other.toml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("did you mean"), "{stderr}");
}
