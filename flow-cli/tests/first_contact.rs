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

/// A make or Snakemake user's flags (`-k`, `--cores 4`) are refused as clap refuses any
/// unknown flag, and then told what flow does instead, rather than only to pass them after
/// `--`; another subcommand's unknown flag gets no such line.
#[test]
fn make_and_snakemake_flags_say_what_flow_does_instead() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.toml", "[flows.a]\ncommand = [\"true\"]\n");
    for (args, hint) in [
        (
            &["run", "w.toml", "-k"][..],
            "flow: flow always keeps going: a failed flow stops only the flows that require \
             it, and the others run (make's and Snakemake's `-k`)\n",
        ),
        (
            &["run", "w.toml", "--cores=4"][..],
            "flow: the number of flows run at once is `--jobs N` (`-j N`)\n",
        ),
        (
            &["run", "-F", "w.toml"][..],
            "flow: to run every flow even if up to date, write `--force-all`\n",
        ),
    ] {
        let (code, stderr) = stderr_of(dir.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.ends_with(hint), "{args:?}: {stderr}");
    }
    let (code, stderr) = stderr_of(dir.path(), &["results", "w.toml", "-k"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("keeps going"), "{stderr}");
}
