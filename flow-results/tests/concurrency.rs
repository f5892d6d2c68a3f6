//! Concurrency: 8 tokio tasks saving 10 000 results each into one store, one result at a time
//! through `spawn_blocking` as the scheduler does, lose nothing.
//!
//! The directory store gets 250 results per task: each of its writes waits for two fsyncs
//! (file and folder), so 80 000 of them take minutes on a real disk; 2 000 concurrent writes
//! into one folder exercise the same races.

mod common;

use std::sync::Arc;

use common::{flow, run_at, Opened};
use flow_results::{FlowResult, FlowStatus, ResultStore};

const TASKS: usize = 8;
/// Results per task for the memory and SQLite stores.
const PER_TASK: usize = 10_000;
/// Results per task for the directory store.
const PER_TASK_DIR: usize = 250;

fn result_of(run: &flow_results::RunId, task: usize, i: usize) -> FlowResult {
    let mut result = FlowResult::new(
        run.clone(),
        flow(&format!("t{task}-f{i:05}")),
        FlowStatus::Completed,
    );
    result.output = serde_json::json!({"task": task, "i": i});
    result.attempts = 1;
    result
}

async fn eight_tasks_lose_nothing(opened: Opened, per_task: usize) {
    let store: Arc<dyn ResultStore> = Arc::from(opened.store);
    let run = run_at("concurrent", 0);
    store.begin_run(&run).unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = Arc::clone(&store);
            let run = run.run_id.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    let store = Arc::clone(&store);
                    let result = result_of(&run, task, i);
                    tokio::task::spawn_blocking(move || store.save_result(&result))
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let saved = store.results(&run.run_id).unwrap();
    assert_eq!(saved.len(), TASKS * per_task);
    let mut expected: Vec<_> = (0..TASKS)
        .flat_map(|task| (0..per_task).map(move |i| (task, i)))
        .map(|(task, i)| result_of(&run.run_id, task, i))
        .collect();
    expected.sort_by(|a, b| a.flow_id.cmp(&b.flow_id));
    assert!(
        saved == expected,
        "a saved result differs from what was saved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_loses_nothing() {
    eight_tasks_lose_nothing(common::open_memory(), PER_TASK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_loses_nothing() {
    eight_tasks_lose_nothing(common::open_sqlite(), PER_TASK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dir_store_loses_nothing() {
    eight_tasks_lose_nothing(common::open_dir(), PER_TASK_DIR).await;
}
