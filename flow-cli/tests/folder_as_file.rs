//! `flow run DIR`, the project's folder rather than its workflow file (as `snakemake -d DIR`
//! or `make -C DIR` take one): refused as before (exit code 2), naming the workflow files in
//! it to give instead.

mod common;

use common::{flow, text, write};

#[test]
fn a_folder_given_as_the_workflow_file_names_the_files_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("proj/sub")).unwrap();
    write(
        &d.join("proj"),
        "pipeline.toml",
        "[flows.a]\ncommand = [\"true\"]\n",
    );
    write(&d.join("proj"), "notes.txt", "");
    for (args, expected) in [
        (
            &["run", "proj"][..],
            "error: cannot read workflow file proj (a folder: name the workflow file, as \
             `proj/pipeline.toml`): Is a directory (os error 21)\n",
        ),
        (
            &["validate", "proj/sub"],
            "error: cannot read workflow file proj/sub (a folder: name the workflow file): Is \
             a directory (os error 21)\n",
        ),
    ] {
        let out = flow().current_dir(d).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), expected, "{args:?}");
    }
}
