//! Waiting for flows to finish (`wait_for_flows`): woken by the board's changes, never
//! polling, and returning once the flows' results are in the store.

use std::sync::Arc;
use std::time::Duration;

use flow_graph::FlowId;
use flow_results::{FlowStatus, RunId, StoreError};

use crate::shared::Shared;
use crate::CoreError;

/// Waits until every flow in `ids` has finished (in run `run`, when given) and their results
/// are in the store; see [`FlowContext::wait_for_flows`](crate::FlowContext::wait_for_flows).
pub(crate) async fn wait<S: AsRef<str>>(
    shared: &Shared,
    run: Option<&RunId>,
    ids: &[S],
    timeout: Option<Duration>,
) -> Result<Vec<(FlowId, FlowStatus)>, CoreError> {
    let mut changed = shared.board_changed.subscribe();
    let (targets, generation): (Vec<(u32, FlowId)>, u64) = {
        let registry = shared.registry();
        let targets = ids
            .iter()
            .map(|id| {
                let idx = registry.idx(id.as_ref())?;
                Ok((idx, registry.flows[idx as usize].id.clone()))
            })
            .collect::<Result<_, CoreError>>()?;
        (targets, shared.board().generation)
    };
    let wait = async {
        // The board's run when the store was last asked about `run`.
        let mut asked: Option<Option<RunId>> = None;
        loop {
            changed.borrow_and_update();
            let mut board_run = None;
            let done = {
                let board = shared.board();
                if board.generation != generation {
                    let first = targets.first().map(|(_, id)| id.clone());
                    return first.map_or(Ok(Vec::new()), |id| Err(CoreError::CleanedUp(id)));
                }
                let other_run = run.is_some_and(|run| board.run.as_ref() != Some(run));
                if other_run {
                    board_run = Some(board.run.clone());
                }
                let statuses: Option<Vec<_>> = targets
                    .iter()
                    .map(|(idx, id)| {
                        let s = board.states.get(*idx as usize).copied()?;
                        s.is_finished().then(|| (id.clone(), s))
                    })
                    .collect();
                // Ended, and their records handed to the writer (a failure is shown
                // before that, and handed at the driver's next turn).
                statuses
                    .filter(|_| !board.unsaved && !other_run)
                    .map(|statuses| (statuses, board.durable.clone()))
            };
            if let Some((statuses, durable)) = done {
                // Returned once their results are in the store, not just decided.
                if let Some(durable) = durable {
                    let _ = durable.wait().await;
                }
                return Ok(statuses);
            }
            // `run` is not the board's: not begun yet, or over. Asked again each time the
            // board shows another run.
            if let (Some(run), Some(board_run)) = (run, board_run) {
                if asked.as_ref() != Some(&board_run) {
                    asked = Some(board_run);
                    let answer = over(shared, run, &targets).await;
                    // Begun meanwhile: the board tells, not the store.
                    let begun = shared.board().run.as_ref() == Some(run);
                    if let Some(answer) = answer.filter(|_| !begun) {
                        return answer;
                    }
                }
            }
            if changed.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    match timeout {
        None => wait.await,
        Some(limit) => match tokio::time::timeout(limit, wait).await {
            Ok(statuses) => statuses,
            Err(_) => {
                let board = shared.board();
                let mut unfinished: Vec<FlowId> = targets
                    .iter()
                    .filter(|(idx, _)| {
                        !board
                            .states
                            .get(*idx as usize)
                            .is_some_and(|s| s.is_finished())
                    })
                    .map(|(_, id)| id.clone())
                    .collect();
                if unfinished.is_empty() {
                    // Ended, but their results were still on their way to the store.
                    unfinished = targets.into_iter().map(|(_, id)| id).collect();
                }
                Err(CoreError::WaitTimeout {
                    after: limit,
                    unfinished,
                })
            }
        },
    }
}

/// The statuses of `targets` in `run` from the store, if the store has the run (which is then
/// over: a run on its way is the board's); `None` if it has not begun.
async fn over(
    shared: &Shared,
    run: &RunId,
    targets: &[(u32, FlowId)],
) -> Option<Result<Vec<(FlowId, FlowStatus)>, CoreError>> {
    let store = Arc::clone(&shared.options.store);
    let (task_run, ids) = (run.clone(), targets.to_vec());
    let read = tokio::task::spawn_blocking(move || {
        if store.run(&task_run)?.is_none() {
            return Ok(None);
        }
        ids.into_iter()
            .map(|(_, id)| {
                let status = store.result(&task_run, &id)?.map(|result| result.status);
                Ok((id, status))
            })
            .collect::<Result<Vec<_>, StoreError>>()
            .map(Some)
    })
    .await;
    let found = match read {
        Ok(Ok(found)) => found?,
        Ok(Err(source)) => {
            return Some(Err(CoreError::Store {
                action: format!("read the results of run `{run}`"),
                source: Box::new(source),
            }))
        }
        Err(e) => {
            return Some(Err(CoreError::Thread {
                action: "read the results of a run (the reading thread failed)",
                source: std::io::Error::other(e.to_string()),
            }))
        }
    };
    Some(
        found
            .into_iter()
            .map(|(flow, status)| match status {
                Some(status) if status.is_finished() => Ok((flow, status)),
                _ => Err(CoreError::NotInRun {
                    flow,
                    run: run.clone(),
                }),
            })
            .collect(),
    )
}
