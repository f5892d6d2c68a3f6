//! Tests of the workflow path that is flow's state folder `.flow`, lies in it, or is a file
//! named so: each says what it is and which file to name instead.

use super::load_with;

#[test]
fn the_state_folder_given_as_the_workflow_says_what_it_is_and_what_to_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("w.toml"), "[flows.a]\ncommand = [\"true\"]\n").unwrap();
    std::fs::create_dir_all(d.join(".flow/logs")).unwrap();
    std::fs::write(d.join(".flow/flow.db"), b"SQLite format 3\0").unwrap();
    std::fs::create_dir_all(d.join("sub/.flow")).unwrap();
    std::fs::write(d.join("sub/.flow/notes.toml"), "").unwrap();
    std::fs::create_dir(d.join("other")).unwrap();
    std::fs::write(d.join("other/.flow"), "[flows.a]\ncommand = [\"true\"]\n").unwrap();
    let w = format!("`{}`", d.join("w.toml").display());
    let state = "flow's state folder";
    // (the path given, what the message says after it; `None`: no such message)
    let cases: &[(&str, Option<String>)] = &[
        (
            ".flow",
            Some(format!(" is {state} (the results, ledger and logs of the workflows beside it), not a workflow file: name the workflow file, as {w}")),
        ),
        (".flow/", Some(format!(" is {state} (the results"))),
        (
            ".flow/flow.db",
            Some(format!(" lies in {state} `{}` (the results", d.join(".flow").display())),
        ),
        (".flow/logs", Some(format!(" lies in {state} `"))),
        (
            "other/.flow",
            Some(format!(
                ": a workflow file may not be named `.flow`, the name of the folder beside it \
                 where flow keeps its results, ledger and logs: rename it, as `{}`",
                d.join("other/workflow.toml").display()
            )),
        ),
        // A folder named `.flow` that holds no store or logs is not taken for one.
        ("sub/.flow/notes.toml", None),
        ("sub/.flow", None),
        // Nothing there: the file is not found, as any other.
        ("gone/.flow", None),
    ];
    for (given, says) in cases {
        let path = d.join(given);
        let error = load_with(&path, &[]).map(drop).unwrap_err();
        let message = error.to_string();
        match says {
            Some(says) => {
                assert!(
                    matches!(error, crate::error::CliError::NotWorkflow(_)),
                    "{given}"
                );
                assert!(
                    message.starts_with(&format!("{}{says}", path.display())),
                    "{given}: {message}"
                );
            }
            None => assert!(!message.contains(state), "{given}: {message}"),
        }
    }
}
