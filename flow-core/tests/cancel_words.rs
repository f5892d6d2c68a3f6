//! A flow cancelled by the user reads the same whether it was cancelled alone (`cancel`) or
//! with its run (`cancel_all`): running, waiting to start, an async flow or a command.

mod common;

use std::sync::Arc;

use common::{forever, id, run_started, saved};
use flow_core::{CommandSpec, Flow, FlowContext, FlowStatus};
use flow_results::{ResultStore, SqliteStore};

/// The failure messages of `running` (async), `command` (running) and `waiting` (not
/// started: jobs are full) once they are cancelled, one by one or all at once.
async fn cancelled_words(all: bool) -> [String; 3] {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ResultStore> =
        Arc::new(SqliteStore::open(dir.path().join("flow.db")).unwrap());
    let ctx = FlowContext::builder().store(store).jobs(2).build();
    ctx.register_flow(forever("running").build()).unwrap();
    let pid = dir.path().join("pid");
    let script = format!("echo $$ > '{}'; exec sleep 60", pid.display());
    ctx.register_flow(Flow::command(id("command"), CommandSpec::shell(script)).build())
        .unwrap();
    ctx.register_flow(forever("waiting").build()).unwrap();
    let run = run_started(&ctx, Some("command")).await;
    common::pid_written_to(&pid).await;
    if all {
        ctx.cancel_all();
    } else {
        for flow in ["waiting", "running", "command"] {
            ctx.cancel(flow).unwrap();
        }
    }
    let summary = run.await.unwrap().unwrap();
    ["running", "command", "waiting"].map(|flow| {
        let result = saved(&ctx, &summary.run_id, flow);
        assert_eq!(result.status, FlowStatus::Cancelled, "{flow}");
        result.failure.unwrap().message
    })
}

#[tokio::test]
async fn cancel_and_cancel_all_say_the_same() {
    let one = cancelled_words(false).await;
    let all = cancelled_words(true).await;
    assert_eq!(one, all);
    assert_eq!(
        all,
        [
            "cancelled",
            "the command was cancelled",
            "cancelled before it started",
        ]
    );
}
