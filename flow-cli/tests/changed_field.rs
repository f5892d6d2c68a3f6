//! `flow run -n` names the part of a definition that changed as the workflow file names it: a
//! `shell` flow's script or interpreter is `(shell)`, a `command` flow's argv `(command)`, in
//! the text and in `--json`.

mod common;

use common::{json_of, run_in, text, write};

const WORKFLOW: &str = r#"[flows.s]
shell = "echo 1 > s.txt"
outputs = ["s.txt"]

[flows.c]
command = ["touch", "c.txt"]
outputs = ["c.txt"]
"#;

#[test]
fn a_changed_script_is_named_shell_and_a_changed_argv_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", WORKFLOW);
    assert_eq!(run_in(d, &["run", "w.toml"]).status.code(), Some(0));
    let edited = WORKFLOW
        .replace("echo 1", "echo 2")
        .replace("\"touch\",", "\"touch\", \"-c\",");
    write(d, "w.toml", &edited);
    let stdout = text(&run_in(d, &["run", "-n", "w.toml"]).stdout);
    assert!(
        stdout.contains("would run s: definition changed (shell)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("would run c: definition changed (command)\n"),
        "{stdout}"
    );
    let json = json_of(&run_in(d, &["run", "-n", "w.toml", "--json"]));
    let field = |flow: &str| {
        let entry = json["run"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["flow"] == flow);
        entry.unwrap()["field"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        (field("s"), field("c")),
        ("shell".to_owned(), "command".to_owned())
    );
    // The interpreter runs the script: a new one changes the same part.
    let interpreted = WORKFLOW.replace(
        "[flows.s]\n",
        "[flows.s]\ninterpreter = [\"bash\", \"-c\"]\n",
    );
    write(d, "w.toml", &interpreted);
    let stdout = text(&run_in(d, &["run", "-n", "w.toml"]).stdout);
    assert!(
        stdout.contains("would run s: definition changed (shell)\n"),
        "{stdout}"
    );
}
