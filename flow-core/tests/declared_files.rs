//! What counts as a flow's declared files, with real commands and files: inputs are read
//! before the command runs, a FIFO fails the flow instead of hanging the run, an empty output
//! folder is an output, a link to nothing is not, `.` leaves out flow's own store, and a
//! folder's linked sub-folders are part of it.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::id;
use flow_core::{CommandSpec, Data, Flow, FlowContext, FlowStatus, Freshness, Ledger, RunOptions};

/// One flow `f` running `script` in `dir`, with its declared files.
struct Step<'a> {
    script: &'a str,
    inputs: &'a [&'a str],
    outputs: &'a [&'a str],
}

/// What one run of the step did.
#[derive(Debug, PartialEq)]
enum Did {
    Ran,
    UpToDate,
    Failed(String),
}

async fn run(dir: &Path, step: &Step<'_>) -> Did {
    let ledger = Arc::new(Ledger::open(&dir.join(".flow/fresh.db")).unwrap());
    let ctx = FlowContext::builder().build();
    let data = Data::new(dir)
        .inputs(step.inputs.iter().copied())
        .outputs(step.outputs.iter().copied());
    let spec = CommandSpec::shell(step.script).cwd(dir);
    ctx.register_flow(Flow::command(id("f"), spec).data(data).build())
        .unwrap();
    let options = RunOptions::new().skip_up_to_date(Freshness::new(ledger));
    // A hang is the failure some of these cases guard against: bounded, not slept on.
    let summary = tokio::time::timeout(Duration::from_secs(60), ctx.run_with(options))
        .await
        .expect("the run ends")
        .unwrap();
    if summary.up_to_date == 1 {
        return Did::UpToDate;
    }
    let result = ctx.store().result(&summary.run_id, &id("f")).unwrap();
    match result {
        Some(r) if r.status == FlowStatus::Completed => Did::Ran,
        Some(r) => Did::Failed(r.failure.map(|f| f.message).unwrap_or_default()),
        None => Did::Failed("no result".into()),
    }
}

#[tokio::test]
async fn inputs_are_recorded_as_the_command_found_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.txt"), "v1").unwrap();
    // The command reads its input, then the input changes while the flow is still running
    // (here by the command itself, so that the order is certain).
    let step = Step {
        script: "cat in.txt > out.txt; echo v2 > in.txt",
        inputs: &["in.txt"],
        outputs: &["out.txt"],
    };
    assert_eq!(run(d, &step).await, Did::Ran);
    assert_eq!(std::fs::read_to_string(d.join("out.txt")).unwrap(), "v1");
    // out.txt was made from v1, and in.txt is v2 now: it is not up to date.
    assert_eq!(run(d, &step).await, Did::Ran);
}

#[tokio::test]
async fn a_fifo_as_input_fails_the_flow_and_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = std::process::Command::new("mkfifo")
        .arg(d.join("pipe"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let step = Step {
        script: "echo x > out.txt",
        inputs: &["pipe"],
        outputs: &["out.txt"],
    };
    match run(d, &step).await {
        Did::Failed(message) => assert!(
            message.contains("`pipe` is not a regular file or a folder"),
            "{message}"
        ),
        other => panic!("the flow should fail naming the FIFO, it: {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_output_folder_is_an_output_and_a_link_to_nothing_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let folder = Step {
        script: "mkdir -p made",
        inputs: &[],
        outputs: &["made/"],
    };
    assert_eq!(run(d, &folder).await, Did::Ran);
    assert_eq!(run(d, &folder).await, Did::UpToDate);

    let link = Step {
        script: "ln -sfn nowhere dangling.txt",
        inputs: &[],
        outputs: &["dangling.txt"],
    };
    assert_eq!(
        run(d, &link).await,
        Did::Failed("declared output `dangling.txt` was not written".into())
    );
}

#[tokio::test]
async fn the_workflow_folder_as_input_leaves_out_flows_own_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = &dir.path().join("wf");
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::write(d.join("src/a.txt"), "a").unwrap();
    let step = Step {
        script: "mkdir -p ../built && cat src/a.txt > ../built/out.txt",
        inputs: &["."],
        outputs: &["../built/out.txt"],
    };
    assert_eq!(run(d, &step).await, Did::Ran);
    // The ledger under .flow/ changed with that run; the inputs did not.
    assert_eq!(run(d, &step).await, Did::UpToDate);
    std::fs::write(d.join("src/a.txt"), "b").unwrap();
    assert_eq!(run(d, &step).await, Did::Ran);

    // A glob that reaches into hidden folders leaves it out too.
    let glob = Step {
        inputs: &["**/*"],
        ..step
    };
    assert_eq!(run(d, &glob).await, Did::Ran);
    assert_eq!(run(d, &glob).await, Did::UpToDate);
}

#[tokio::test]
async fn a_linked_folder_inside_an_input_folder_is_part_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("archive")).unwrap();
    std::fs::create_dir_all(d.join("data")).unwrap();
    std::fs::write(d.join("archive/e.csv"), "1").unwrap();
    std::os::unix::fs::symlink("../archive", d.join("data/2024")).unwrap();
    let step = Step {
        script: "cat data/2024/e.csv > out.txt",
        inputs: &["data/"],
        outputs: &["out.txt"],
    };
    assert_eq!(run(d, &step).await, Did::Ran);
    assert_eq!(run(d, &step).await, Did::UpToDate);
    std::fs::write(d.join("archive/e.csv"), "2").unwrap();
    assert_eq!(run(d, &step).await, Did::Ran);
}
