//! Tests of data.rs: paths written through the parent folder name the files of the workflow's
//! folder.

use super::tests::requires;
use crate::workflow::test_support::load_str;

/// `..` that leaves the workflow's folder and comes back names a file in it: one file, one
/// writer, and an input written so requires that writer (and is not one no flow writes).
#[test]
fn a_path_through_the_parent_folder_names_the_file_in_the_workflow_folder() {
    for (a, b) in [
        ("x.txt", "../wf/x.txt"),
        ("out/x.txt", "../../tmp/wf/out/x.txt"),
        ("../x.txt", "/tmp/x.txt"),
        ("../x.txt", "sub/../../x.txt"),
    ] {
        let text = format!(
            "[flows.a]\nshell = \"true\"\noutputs = [\"{a}\"]\n\
             [flows.b]\nshell = \"true\"\noutputs = [\"{b}\"]\n"
        );
        let error = load_str(&text).unwrap_err();
        assert!(
            error.contains(&format!(
                "w.toml:6:12: output `{b}` is declared by flow `b` here and by flow `a` at \
                 w.toml:3:12: a file has one writer"
            )),
            "{a} {b}: {error}"
        );
    }
    for (output, input) in [
        ("out/x.txt", "../wf/out/x.txt"),
        ("out/x.txt", "../wf/out"),
        ("out/", "../wf/out/x.txt"),
        ("../wf/out/x.txt", "out/x.txt"),
        ("../shared/x.txt", "/tmp/shared/x.txt"),
        ("/tmp/shared/", "../shared/x.txt"),
    ] {
        let text = format!(
            "[flows.w]\nshell = \"true\"\noutputs = [\"{output}\"]\n\
             [flows.r]\nshell = \"true\"\ninputs = [\"{input}\"]\n"
        );
        assert_eq!(requires(&text, "r"), ["w"], "{output} {input}");
        let wf = load_str(&text).unwrap();
        assert!(wf.flows[1].unwritten.is_empty(), "{output} {input}");
    }
}

/// A flow that reads an output of its own is told so at that output's line (not at its first
/// output), with the input and the output named, once for all the flows of a matrix.
#[test]
fn an_output_read_by_its_own_flow_is_named_at_its_line_once_per_matrix() {
    let text = "[flows.b]\nmatrix = { s = [\"a\", \"b\", \"c\"] }\nshell = \"true\"\n\
                inputs = [\"parts/*.txt\"]\noutputs = [\n  \"logs/{s}.log\",\n  \
                \"parts/{s}.sum.txt\",\n]\n";
    let error = load_str(text).unwrap_err();
    assert!(
        error.contains(
            "w.toml:7:3: flow `b.a` reads an output of its own as input: its input \
             `parts/*.txt` covers its output `parts/a.sum.txt`, and a flow's inputs must be \
             written before it runs (and 2 more flows of this definition)"
        ),
        "{error}"
    );
    assert_eq!(
        error.matches("reads an output of its own").count(),
        1,
        "{error}"
    );
    // An input that is the output itself says so.
    let text = "[flows.c]\nshell = \"true\"\ninputs = [\"c.txt\"]\noutputs = [\"c.txt\"]\n";
    let error = load_str(text).unwrap_err();
    assert!(
        error.contains("w.toml:4:12: flow `c` reads an output of its own as input: its input `c.txt` is its output `c.txt`"),
        "{error}"
    );
}

/// One flow that declares one file twice, as written or otherwise, is told to declare it once,
/// not that the file has "one writer": it has.
#[test]
fn an_output_declared_twice_by_one_flow_is_named_as_such() {
    for (a, b) in [
        ("a.txt", "a.txt"),
        ("a.txt", "./a.txt"),
        ("out/", "out/../out/"),
    ] {
        let text = format!("[flows.a]\nshell = \"true\"\noutputs = [\"{a}\", \"{b}\"]\n");
        let error = load_str(&text).unwrap_err();
        let at = 14 + a.len() + 2;
        assert!(
            error.contains(&format!(
                "w.toml:3:{at}: flow `a` declares output `{b}` twice (also as `{a}` at \
                 w.toml:3:12): declare it once"
            )),
            "{a} {b}: {error}"
        );
    }
}
