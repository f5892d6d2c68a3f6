//! Flows joining a run in progress: a `discover` flow finds work items only when it runs,
//! registers one flow per item into the running DAG, and a `total` flow that requires all of
//! them. The run returns once the flows that joined have finished too.
//!
//! ```text
//! cargo run -p flow-core --example join_running
//! ```
#![allow(clippy::print_stdout)] // an example program: it prints what happened

use std::error::Error;

use flow_core::{Flow, FlowContext, FlowId};
use serde_json::{json, Value};

fn id(name: &str) -> FlowId {
    FlowId::new(name).expect("a valid flow id")
}

/// A flow that sizes one file; in real use it could download, convert, upload...
fn size_of(name: &str, bytes: u64) -> Flow {
    Flow::async_fn(id(&format!("size_{name}")), move |_input| async move {
        Ok::<_, String>(json!(bytes))
    })
    .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let ctx = FlowContext::builder().workflow("join_running").build();

    // `discover` holds a handle to the context (a clone shares the same flows and run).
    let handle = ctx.clone();
    ctx.register_flow(
        Flow::async_fn(id("discover"), move |_input| {
            let ctx = handle.clone();
            async move {
                // Found at run time: the DAG could not list these flows in advance.
                let files = [("a.csv", 120), ("b.csv", 300), ("c.csv", 45)];
                let mut total = Flow::async_fn(id("total"), |input| async move {
                    let sum: u64 = input.parents().filter_map(|(_, v)| v.as_u64()).sum();
                    Ok::<_, String>(json!(sum))
                });
                for (name, bytes) in files {
                    let flow = size_of(name.trim_end_matches(".csv"), bytes);
                    // Dependencies of a flow that joins a run are declared on its builder.
                    total = total.requires(flow.id().clone());
                    ctx.register_flow(flow).map_err(|e| e.to_string())?;
                }
                ctx.register_flow(total.build())
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(json!(files.len()))
            }
        })
        .build(),
    )?;

    let summary = ctx.run().await?;
    println!(
        "flows registered before the run: 1, run in the end: {}",
        summary.counts.total()
    );
    for flow in ctx.flow_ids() {
        let result = ctx.store().result(&summary.run_id, &flow)?;
        let output = result.map_or(Value::Null, |r| r.output);
        println!("  {flow}: {output}");
    }
    Ok(())
}
