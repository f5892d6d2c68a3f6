//! What a resumed run reuses: the completed results of the run it resumes from.

use std::collections::HashMap;
use std::sync::Arc;

use flow_graph::FlowId;
use flow_results::{FlowStatus, ResultStore, RunId};
use serde_json::Value;

use crate::CoreError;

/// Reads the completed results of `from`: flow id → (fingerprint, output).
pub(super) async fn load(
    store: Arc<dyn ResultStore>,
    from: RunId,
) -> Result<HashMap<FlowId, (u128, Value)>, CoreError> {
    let spec = store.spec();
    let task_from = from.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        if store.run(&task_from)?.is_none() {
            return Ok(None);
        }
        store.results(&task_from).map(Some)
    })
    .await
    .map_err(|e| CoreError::Thread {
        action: "read the results of the run to resume from (the reading thread failed)",
        source: std::io::Error::other(e.to_string()),
    })?;
    let results = match loaded {
        Ok(Some(results)) => results,
        Ok(None) => return Err(CoreError::UnknownRun(from)),
        Err(source) => {
            return Err(CoreError::Store {
                action: format!("read the results of run `{from}` from `{spec}`"),
                source: Box::new(source),
            })
        }
    };
    Ok(results
        .into_iter()
        .filter(|r| r.status == FlowStatus::Completed)
        .filter_map(|r| {
            let fingerprint = r.fingerprint.as_ref()?.as_u128()?;
            Some((r.flow_id, (fingerprint, r.output)))
        })
        .collect())
}
