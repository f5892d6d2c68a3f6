//! Declared `inputs` and `outputs` are paths taken as written, from the workflow's folder. A
//! path written as the command sees it is a common slip: from the flow's `cwd`, or with `~`
//! or `$VAR` that a shell would expand. The failure says why the file was not found.

mod common;

use common::{flow_entry, json_of, run_in, text, write};

const HINT: &str = "declared paths start at the workflow's folder, not at the flow's `cwd`";

/// An output the command wrote in its `cwd`: "was not written", with where it is.
#[test]
fn an_output_written_in_the_cwd_is_named_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    write(
        d,
        "w.toml",
        "[flows.a]\ncwd = \"sub\"\nshell = \"echo hi > x.txt\"\noutputs = [\"x.txt\"]\n",
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    let error = flow_entry(&json, "a")["error"].as_str().unwrap().to_owned();
    assert_eq!(
        error,
        format!("declared output `x.txt` was not written (`sub/x.txt` exists: {HINT})")
    );
    // Nothing there: the message stays as it was.
    write(
        d,
        "w.toml",
        "[flows.a]\ncwd = \"sub\"\nshell = \"true\"\noutputs = [\"y.txt\"]\n",
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    let json = json_of(&out);
    let error = flow_entry(&json, "a")["error"].as_str().unwrap().to_owned();
    assert_eq!(error, "declared output `y.txt` was not written");
}

/// An input that the `cwd` holds but the workflow's folder does not: the flow fails before it
/// starts, as for any missing input, and the dry run says the same, naming where it is.
#[test]
fn an_input_in_the_cwd_is_named_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    write(d, "sub/x.txt", "1\n");
    write(
        d,
        "w.toml",
        "[flows.a]\ncwd = \"sub\"\nshell = \"cat x.txt\"\ninputs = [\"x.txt\"]\n",
    );
    let expected = format!(
        "declared input `x.txt` of flow `a` does not exist and no flow writes it (w.toml:4); \
         `sub/x.txt` exists: {HINT}"
    );
    let out = run_in(d, &["run", "w.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(&expected),
        "{}",
        text(&out.stdout)
    );
    let out = run_in(d, &["run", "-n", "w.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains(&format!("would fail a: {expected}")),
        "{}",
        text(&out.stdout)
    );
}

/// `~/x` and `$VAR/x` are paths in the workflow's folder, not the home folder or a variable's:
/// an input or output so written that is not there says so.
#[test]
fn a_path_written_with_tilde_or_a_variable_says_it_is_not_expanded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hint = "flow expands neither `~` nor `$VAR` in declared paths: write the path itself, \
                or a `{param}`";
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"true\"\ninputs = [\"~/data.csv\"]\n\
         [flows.b]\nshell = \"true\"\noutputs = [\"${OUT}/b.txt\"]\n",
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    assert_eq!(
        flow_entry(&json, "a")["error"].as_str().unwrap(),
        format!(
            "declared input `~/data.csv` of flow `a` does not exist and no flow writes it \
             (w.toml:3); {hint}"
        )
    );
    assert_eq!(
        flow_entry(&json, "b")["error"].as_str().unwrap(),
        format!("declared output `${{OUT}}/b.txt` was not written ({hint})")
    );
}

/// A `cwd` written as a shell would expand it (`~/proj`, `$HOME`) is a folder of that very
/// name in the workflow's folder: the flow that cannot start in it says nothing expands them.
#[test]
fn a_cwd_written_with_tilde_or_a_variable_says_it_is_not_expanded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\ncwd = \"~/proj\"\ncommand = [\"true\"]\n\
         [flows.b]\ncwd = \"${HOME}\"\ncommand = [\"true\"]\n\
         [flows.c]\ncwd = \"proj\"\ncommand = [\"true\"]\n",
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    let hint = "(nothing expands `~` or `$VAR` in a working directory: write the path itself)";
    for (flow, dir) in [("a", "~/proj"), ("b", "${HOME}")] {
        let error = flow_entry(&json, flow)["error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            error.ends_with(&format!("/{dir} does not exist {hint}")),
            "{flow}: {error}"
        );
    }
    // A plain name that is missing: the message stays as it was.
    let error = flow_entry(&json, "c")["error"].as_str().unwrap().to_owned();
    assert!(error.ends_with("/proj does not exist"), "{error}");
}

/// A program named with a `/` is found from the flow's `cwd`, not the workflow's folder: one
/// that is not there says where it was looked for, instead of only "No such file or
/// directory"; so does one named by an absolute path, one written with `~`, and a link that
/// leads nowhere.
#[test]
fn a_program_that_is_not_there_says_where_it_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    write(d, "tool.sh", "#!/bin/sh\necho hi\n");
    std::os::unix::fs::symlink(d.join("gone"), d.join("sub/link")).unwrap();
    write(
        d,
        "w.toml",
        "[flows.a]\ncwd = \"sub\"\ncommand = [\"./tool.sh\"]\n\
         [flows.b]\ncommand = [\"/no/such/folder/tool\"]\n\
         [flows.c]\ncwd = \"sub\"\ncommand = [\"./link\"]\n\
         [flows.e]\ncommand = [\"~/bin/tool\"]\n",
    );
    let out = run_in(d, &["run", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = json_of(&out);
    let error = |flow: &str| {
        flow_entry(&json, flow)["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let sub = d.canonicalize().unwrap().join("sub");
    assert_eq!(
        error("a"),
        format!(
            "failed to start `./tool.sh`: there is no file {}/tool.sh (a program named with a \
             `/` is found from the working directory)",
            sub.display()
        )
    );
    assert_eq!(
        error("b"),
        "failed to start `/no/such/folder/tool`: there is no file /no/such/folder/tool"
    );
    assert_eq!(
        error("e"),
        format!(
            "failed to start `~/bin/tool`: there is no file {}/~/bin/tool (nothing expands `~` \
             or `$VAR` in a program's path: write the path itself)",
            d.canonicalize().unwrap().display()
        )
    );
    assert_eq!(
        error("c"),
        format!(
            "failed to start `./link`: {}/link is a symbolic link to {}/gone, which does not \
             exist",
            sub.display(),
            d.display()
        )
    );
}
