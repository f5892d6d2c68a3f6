//! A command flow whose spec sets a variable flow sets itself for every attempt (`FLOW_ID`,
//! `FLOW_RUN_ID`, `FLOW_ATTEMPT`) is refused when registered, naming the flow and the
//! variable, instead of running with flow's value in its place.

mod common;

use std::sync::Arc;

use common::id;
use flow_core::{CommandSpec, CoreError, Flow, FlowContext};
use flow_results::{ResultStore, SqliteStore};

#[test]
fn a_command_setting_a_variable_flow_sets_is_refused() {
    let ctx = FlowContext::new();
    for (name, spec) in [
        ("sets_id", CommandSpec::shell("true").env("FLOW_ID", "mine")),
        (
            "sets_run",
            CommandSpec::shell("true").env_os("FLOW_RUN_ID", "r"),
        ),
        (
            "removes_attempt",
            CommandSpec::shell("true").env_remove("FLOW_ATTEMPT"),
        ),
    ] {
        let err = ctx
            .register_flow(Flow::command(id(name), spec).build())
            .unwrap_err();
        assert!(
            matches!(&err, CoreError::OwnVariable { flow, .. } if *flow == id(name)),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(&format!("flow `{name}`")), "{message}");
        assert!(ctx.flow(name).is_none(), "{name} was registered");
    }
    let err = ctx
        .register_flows([
            Flow::command(id("x"), CommandSpec::shell("true").env("FLOW_ID", "x")).build(),
        ])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `x` sets `FLOW_ID` in its command's environment, which flow sets itself for every \
         command (FLOW_ID, FLOW_RUN_ID, FLOW_ATTEMPT): its value would never reach the \
         command; give the variable another name"
    );
}

/// Variables flow does not set itself are the spec's: `FLOW_WORKFLOW_DIR` (which `flow run`
/// gives its commands) and names that only begin like flow's own.
#[tokio::test]
async fn other_flow_variables_reach_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ResultStore> =
        Arc::new(SqliteStore::open(dir.path().join("flow.db")).unwrap());
    let ctx = FlowContext::builder().store(Arc::clone(&store)).build();
    let script = r#"test "$FLOW_WORKFLOW_DIR" = /w && test "$FLOW_IDS" = x && test "$FLOW_ID" = c"#;
    let spec = CommandSpec::shell(script)
        .env("FLOW_WORKFLOW_DIR", "/w")
        .env("FLOW_IDS", "x");
    ctx.register_flow(Flow::command(id("c"), spec).build())
        .unwrap();
    let summary = ctx.run().await.unwrap();
    let c = store.result(&summary.run_id, &id("c")).unwrap().unwrap();
    assert!(summary.is_success(), "{:?}", c.failure);
}
