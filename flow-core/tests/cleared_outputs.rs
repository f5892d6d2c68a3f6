//! Regression tests for outputs left over from an earlier run counting as written: each
//! attempt of a flow with declared outputs starts without them (a file, a link as a link, a
//! folder with all in it), retries too; a failed attempt's outputs stay; a flow reused by a
//! resume keeps them untouched; an output holding the flow's folder is refused.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{id, saved};
use flow_core::{CommandSpec, CoreError, Data, Flow, FlowContext, RetryPolicy, RunOptions};
use serde_json::json;

/// What is at `path`, as the tests compare it: `None` when nothing is there.
fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[tokio::test]
async fn an_async_flow_starts_without_what_an_earlier_run_and_attempt_left() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    std::fs::write(d.join("out.txt"), "old").unwrap();
    std::fs::create_dir_all(d.join("plots/deep")).unwrap();
    std::fs::write(d.join("plots/deep/stale.png"), "stale").unwrap();
    std::fs::write(d.join("kept.txt"), "kept").unwrap();
    std::os::unix::fs::symlink(d.join("kept.txt"), d.join("link")).unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let (seen, base) = (Arc::clone(&attempts), d.clone());
    let flow = Flow::async_fn(id("plot"), move |_| {
        let (attempt, d) = (seen.fetch_add(1, Ordering::SeqCst) + 1, base.clone());
        async move {
            // What the attempt found of its outputs before it wrote any.
            let found: Vec<&str> = (["out.txt", "plots", "link"].into_iter())
                .filter(|o| std::fs::symlink_metadata(d.join(o)).is_ok())
                .collect();
            std::fs::create_dir_all(d.join("plots")).unwrap();
            std::fs::write(d.join("plots/a.png"), format!("a{attempt}")).unwrap();
            std::fs::write(d.join("out.txt"), format!("attempt {attempt}")).unwrap();
            std::fs::write(d.join("link"), "written").unwrap();
            match attempt {
                1 => Err(format!("first attempt fails, having found {found:?}")),
                _ => Ok(json!(found)),
            }
        }
    })
    .data(Data::new(&d).outputs(["out.txt", "plots/", "link"]))
    .retry(RetryPolicy::fixed(1, Duration::ZERO))
    .build();
    let ctx = FlowContext::new();
    ctx.register_flow(flow).unwrap();
    let summary = ctx.run().await.unwrap();
    assert_eq!(summary.counts.completed, 1, "{summary:?}");
    let result = saved(&ctx, &summary.run_id, "plot");
    assert_eq!(result.attempts, 2);
    // The second attempt found nothing the first one wrote either.
    assert_eq!(result.output, json!([]));
    assert_eq!(read(&d.join("out.txt")).as_deref(), Some("attempt 2"));
    assert!(!d.join("plots/deep").exists(), "the stale folder is gone");
    assert_eq!(read(&d.join("plots/a.png")).as_deref(), Some("a2"));
    // The link was removed, not the file it led to.
    assert_eq!(read(&d.join("kept.txt")).as_deref(), Some("kept"));
    assert_eq!(read(&d.join("link")).as_deref(), Some("written"));
    assert!(!d.join("link").is_symlink());
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

/// Not polled inline (its outputs are removed first), a panicking async flow with outputs
/// fails as any other does: the flow, not the run.
#[tokio::test]
async fn an_async_flow_with_outputs_that_panics_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out.txt"), "old").unwrap();
    let flow = Flow::async_fn(
        id("boom"),
        |_| -> std::future::Ready<Result<serde_json::Value, String>> { panic!("boom at the call") },
    )
    .data(Data::new(dir.path()).outputs(["out.txt"]));
    let ctx = FlowContext::new();
    ctx.register_flow(flow.build()).unwrap();
    ctx.register_flow(common::ok("other", json!(1)).build())
        .unwrap();
    let summary = ctx.run().await.unwrap();
    assert_eq!((summary.counts.failed, summary.counts.completed), (1, 1));
    let failure = saved(&ctx, &summary.run_id, "boom").failure.unwrap();
    assert!(failure.message.contains("boom at the call"), "{failure:?}");
    assert!(!dir.path().join("out.txt").exists());
}

#[tokio::test]
async fn a_command_that_appends_keeps_only_its_last_attempts_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("out.txt"), "from an earlier run\n").unwrap();
    // Appends, then fails on its first attempt (no `failed` mark yet).
    let spec =
        CommandSpec::shell("echo rec >> out.txt; test -e failed && exit 0; touch failed; exit 1")
            .cwd(d);
    let flow = Flow::command(id("call"), spec)
        .data(Data::new(d).outputs(["out.txt"]))
        .retry(RetryPolicy::fixed(1, Duration::ZERO))
        .build();
    let ctx = FlowContext::new();
    ctx.register_flow(flow).unwrap();
    let summary = ctx.run().await.unwrap();
    assert_eq!(summary.counts.completed, 1, "{summary:?}");
    assert_eq!(saved(&ctx, &summary.run_id, "call").attempts, 2);
    assert_eq!(read(&d.join("out.txt")).as_deref(), Some("rec\n"));
}

#[tokio::test]
async fn a_failed_attempt_leaves_its_outputs_and_a_missing_output_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = CommandSpec::shell("echo partial > part.txt; exit 3").cwd(d);
    let flow = Flow::command(id("half"), spec)
        .data(Data::new(d).outputs(["part.txt", "never/written/"]))
        .build();
    let ctx = FlowContext::new();
    ctx.register_flow(flow).unwrap();
    let summary = ctx.run().await.unwrap();
    assert_eq!(summary.counts.failed, 1);
    let failure = saved(&ctx, &summary.run_id, "half").failure.unwrap();
    assert!(
        failure.message.contains("exited with code 3"),
        "{failure:?}"
    );
    assert_eq!(read(&d.join("part.txt")).as_deref(), Some("partial\n"));
}

#[tokio::test]
async fn a_flow_reused_by_a_resume_keeps_its_outputs_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ctx = FlowContext::new();
    let register = |ctx: &FlowContext| {
        let spec = CommandSpec::shell("echo made > out.txt").cwd(d);
        let flow = Flow::command(id("make"), spec).data(Data::new(d).outputs(["out.txt"]));
        ctx.register_flow(flow.build()).unwrap();
        ctx.register_flow(common::fail("then", "fails").build())
            .unwrap();
    };
    register(&ctx);
    let first = ctx.run().await.unwrap();
    assert_eq!(first.counts.completed, 1);
    let before = std::fs::metadata(d.join("out.txt")).unwrap();
    let ctx = FlowContext::builder()
        .store(Arc::clone(ctx.store()))
        .build();
    register(&ctx);
    let options = RunOptions::new().resume_from(first.run_id.clone());
    let resumed = ctx.run_with(options).await.unwrap();
    assert_eq!(resumed.reused, 1, "{resumed:?}");
    let after = std::fs::metadata(d.join("out.txt")).unwrap();
    assert_eq!(read(&d.join("out.txt")).as_deref(), Some("made\n"));
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&after),
        std::os::unix::fs::MetadataExt::ino(&before)
    );
}

#[test]
fn an_output_holding_the_flows_folder_is_refused_and_nothing_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("wf");
    std::fs::create_dir(&d).unwrap();
    let parent = dir.path().to_str().unwrap().to_owned();
    for output in [".", "./", "..", "sub/../..", "/", parent.as_str()] {
        let ctx = FlowContext::new();
        let flow = Flow::command(id("wipe"), CommandSpec::shell("true"))
            .data(Data::new(&d).outputs(["out.txt", output]))
            .build();
        let error = ctx.register_flow(flow).unwrap_err();
        assert!(
            matches!(&error, CoreError::OutputHoldsBase { output: o, .. } if o == output),
            "{output}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "flow `wipe` declares output `{output}`, which holds"
            )),
            "{message}"
        );
        assert!(ctx.flow("wipe").is_none(), "{output}");
    }
    // Beside the folder, or a sibling whose name begins as its name does: fine.
    let ctx = FlowContext::new();
    let flow = Flow::command(id("ok"), CommandSpec::shell("true"))
        .data(Data::new(&d).outputs(["../pack.txt", &format!("{parent}/wfx")]))
        .build();
    ctx.register_flow(flow).unwrap();
}
