//! `flow run -n` lists a flow that is up to date now but comes after a flow without declared
//! outputs as `may run`, naming that flow: its own parent when it has one, not one further up
//! that only a parent of it comes after.

mod common;

use common::{run_in, text, write};

const WORKFLOW: &str = r#"[flows.prep]
shell = "mkdir -p out"

[flows.qc]
requires = ["prep"]
shell = "echo a > out/a.qc"
outputs = ["out/a.qc"]

[flows.opt]
shell = "test -f flag"

[flows.merge]
wants = ["opt"]
shell = "cat out/*.qc > merged.txt"
inputs = ["out/*.qc"]
outputs = ["merged.txt"]
"#;

#[test]
fn a_flow_after_a_parent_without_outputs_names_that_parent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "w.toml", WORKFLOW);
    write(d, "flag", "");
    assert_eq!(run_in(d, &["run", "w.toml"]).status.code(), Some(0));
    let stdout = text(&run_in(d, &["run", "w.toml", "-n"]).stdout);
    assert!(
        stdout.contains("may run qc: up to date now, but checked again once `prep` has run"),
        "{stdout}"
    );
    // `merge` comes after `qc` (checked after `prep`) and after `opt` itself: `opt` is named.
    assert!(
        stdout.contains("may run merge: up to date now, but checked again once `opt` has run"),
        "{stdout}"
    );
}
