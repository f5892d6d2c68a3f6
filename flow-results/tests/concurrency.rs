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

/// Eight threads open one new directory store at the same moment, 20 times: every open
/// succeeds (none sees the folder another one is setting up as "not empty").
#[test]
fn a_new_dir_store_opened_by_eight_threads_at_once_opens_for_all() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let root = dir.path().join(format!("new{round}"));
        let barrier = Arc::new(std::sync::Barrier::new(TASKS));
        let threads: Vec<_> = (0..TASKS)
            .map(|_| {
                let root = root.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    flow_results::DirStore::open(root).map(drop)
                })
            })
            .collect();
        for thread in threads {
            let opened = thread.join().unwrap();
            assert!(opened.is_ok(), "round {round}: {}", opened.unwrap_err());
        }
    }
}

/// A reader opened read-only sees what a writer saves, and refuses to write itself.
#[test]
fn read_only_opens_read_while_another_handle_writes_and_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let results = dir.path().join("results");
    let writers: [(Box<dyn ResultStore>, flow_results::StoreSpec); 2] = [
        (
            Box::new(flow_results::SqliteStore::open(&db).unwrap()),
            flow_results::StoreSpec::Sqlite(db.clone()),
        ),
        (
            Box::new(flow_results::DirStore::open(&results).unwrap()),
            flow_results::StoreSpec::Dir(results.clone()),
        ),
    ];
    for (writer, spec) in writers {
        let run = run_at("ro", 0);
        writer.begin_run(&run).unwrap();
        let reader = spec.open_read_only().unwrap();
        writer.save_result(&result_of(&run.run_id, 0, 1)).unwrap();
        assert_eq!(reader.results(&run.run_id).unwrap().len(), 1, "{spec}");
        if let flow_results::StoreSpec::Sqlite(_) = spec {
            let err = reader.begin_run(&run_at("ro", 1)).unwrap_err();
            assert!(err.to_string().contains("read-only"), "{err}");
        }
    }
    let missing = flow_results::StoreSpec::Sqlite(dir.path().join("none.db"));
    assert!(missing.open_read_only().is_err());
    assert!(
        !dir.path().join("none.db").exists(),
        "a read-only open made a file"
    );
}

/// Eight handles of one store (as eight processes would hold) begin the same new run at once:
/// exactly one of them begins it, the others are refused with `RunExists`, and the run's
/// record is the winner's.
#[test]
fn of_eight_writers_beginning_one_run_id_at_once_one_begins_it() {
    for open in [common::open_memory, common::open_dir, common::open_sqlite] {
        let opened = open();
        let spec = opened.store.spec();
        // The memory store is one process: its handles are the one store, shared.
        let shared: Arc<dyn ResultStore> = Arc::from(opened.store);
        let stores: Vec<Arc<dyn ResultStore>> = (0..TASKS)
            .map(|_| match spec.as_str() {
                "memory" => Arc::clone(&shared),
                spec => Arc::from(flow_results::open_store(spec).unwrap()),
            })
            .collect();
        let barrier = std::sync::Barrier::new(TASKS);
        let outcomes: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(k, store)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let run = run_at(&format!("writer{k}"), 0);
                        barrier.wait();
                        (k, store.begin_run(&run))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = outcomes
            .iter()
            .filter(|(_, outcome)| outcome.is_ok())
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(winners.len(), 1, "{spec}: {outcomes:?}");
        for (_, outcome) in &outcomes {
            if let Err(err) = outcome {
                assert!(
                    matches!(err, flow_results::StoreError::RunExists { .. }),
                    "{spec}: {err:?}"
                );
            }
        }
        let runs = shared.runs().unwrap();
        assert_eq!(runs.len(), 1, "{spec}");
        assert_eq!(runs[0].workflow, format!("writer{}", winners[0]), "{spec}");
    }
}
