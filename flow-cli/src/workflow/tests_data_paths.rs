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
