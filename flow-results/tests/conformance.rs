//! The conformance suite: the same assertions against `MemoryStore`, `DirStore` and
//! `SqliteStore`, each opened through `open_store` as a `Box<dyn ResultStore>`.

mod common;

use common::{flow, full_result, nested, run_at, time, Opened};
use flow_results::{
    Failure, FailureKind, FlowResult, FlowStatus, ResultStore, RunRecord, StatusCounts, StoreError,
    Tail, MAX_OUTPUT_DEPTH, MAX_TAIL_BYTES,
};

/// One function per behaviour; each takes a fresh, empty store.
mod checks {
    use super::*;

    pub fn saves_and_reads_back_every_field(store: &dyn ResultStore) {
        let run = run_at("w", 0);
        store.begin_run(&run).unwrap();
        let result = full_result(&run.run_id, "build");
        store.save_result(&result).unwrap();
        assert_eq!(
            store.result(&run.run_id, &flow("build")).unwrap(),
            Some(result.clone())
        );
        assert_eq!(store.results(&run.run_id).unwrap(), [result]);
    }

    pub fn saving_again_replaces_the_result_of_the_same_flow(store: &dyn ResultStore) {
        let run = run_at("w", 0);
        store.begin_run(&run).unwrap();
        let mut result = FlowResult::new(run.run_id.clone(), flow("a"), FlowStatus::Pending);
        store.save_result(&result).unwrap();
        result.status = FlowStatus::Running;
        result.attempts = 1;
        result.started_at = Some(time(1));
        store.save_result(&result).unwrap();
        result.status = FlowStatus::Completed;
        result.output = serde_json::json!(42);
        result.finished_at = Some(time(3));
        store.save_result(&result).unwrap();
        assert_eq!(store.results(&run.run_id).unwrap(), [result]);
    }

    pub fn results_are_per_run_and_ordered_by_flow(store: &dyn ResultStore) {
        let (one, two) = (run_at("w", 0), run_at("w", 1));
        store.begin_run(&one).unwrap();
        store.begin_run(&two).unwrap();
        for name in ["c", "a", "b.2", "B", "_z"] {
            store.save_result(&full_result(&one.run_id, name)).unwrap();
        }
        store.save_result(&full_result(&two.run_id, "a")).unwrap();
        let names: Vec<String> = store
            .results(&one.run_id)
            .unwrap()
            .into_iter()
            .map(|r| r.flow_id.to_string())
            .collect();
        assert_eq!(names, ["B", "_z", "a", "b.2", "c"]);
        assert_eq!(
            store.results(&two.run_id).unwrap(),
            [full_result(&two.run_id, "a")]
        );
    }

    pub fn what_was_never_saved_reads_as_nothing(store: &dyn ResultStore) {
        let run = run_at("w", 0);
        assert_eq!(store.run(&run.run_id).unwrap(), None);
        assert_eq!(store.results(&run.run_id).unwrap(), []);
        assert_eq!(store.result(&run.run_id, &flow("a")).unwrap(), None);
        assert_eq!(store.runs().unwrap(), []);
        assert_eq!(store.latest_run("w").unwrap(), None);
        store.begin_run(&run).unwrap();
        assert_eq!(store.result(&run.run_id, &flow("a")).unwrap(), None);
        assert_eq!(store.results(&run.run_id).unwrap(), []);
    }

    pub fn a_result_of_an_unknown_run_is_refused(store: &dyn ResultStore) {
        let run = run_at("w", 0);
        let err = store
            .save_result(&full_result(&run.run_id, "a"))
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::UnknownRun { run: r, flow: f, .. }
                if *r == run.run_id && *f == flow("a")),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(run.run_id.as_str()), "{message}");
        assert!(message.contains("`a`"), "{message}");
        assert!(message.contains("begin_run"), "{message}");
        assert_eq!(store.runs().unwrap(), []);
    }

    pub fn a_batch_saves_all_of_its_results(store: &dyn ResultStore) {
        let (one, two) = (run_at("w", 0), run_at("w", 1));
        store.begin_run(&one).unwrap();
        store.begin_run(&two).unwrap();
        let mut batch: Vec<FlowResult> = (0..50)
            .map(|i| full_result(&one.run_id, &format!("f{i:02}")))
            .collect();
        batch.push(full_result(&two.run_id, "other"));
        // The same flow twice in one batch: the later one wins.
        let mut last = full_result(&one.run_id, "f00");
        last.status = FlowStatus::Completed;
        batch.push(last.clone());
        store.save_results(&batch).unwrap();
        let saved = store.results(&one.run_id).unwrap();
        assert_eq!(saved.len(), 50);
        assert_eq!(saved[0], last);
        assert_eq!(saved[1..], batch[1..50]);
        assert_eq!(store.results(&two.run_id).unwrap(), [batch[50].clone()]);
        store.save_results(&[]).unwrap();
    }

    pub fn a_batch_with_an_unknown_run_saves_nothing(store: &dyn ResultStore) {
        let known = run_at("w", 0);
        let unknown = run_at("w", 1);
        store.begin_run(&known).unwrap();
        let batch = [
            full_result(&known.run_id, "a"),
            full_result(&unknown.run_id, "b"),
            full_result(&known.run_id, "c"),
        ];
        let err = store.save_results(&batch).unwrap_err();
        assert!(
            matches!(&err, StoreError::UnknownRun { run, .. } if *run == unknown.run_id),
            "{err:?}"
        );
        assert_eq!(store.results(&known.run_id).unwrap(), []);
    }

    /// A second run with the id of a stored one is refused, naming the run and the store, and
    /// the first run keeps its record and results; a new id is fine.
    pub fn beginning_a_stored_run_id_again_is_refused(store: &dyn ResultStore) {
        let run = run_at("w", 0);
        store.begin_run(&run).unwrap();
        store.save_result(&full_result(&run.run_id, "a")).unwrap();
        let mut again = run.clone();
        again.workflow = "other".to_owned();
        again.counts.pending = 7;
        for _ in 0..2 {
            let err = store.begin_run(&again).unwrap_err();
            assert!(
                matches!(&err, StoreError::RunExists { run: r, store: s }
                    if *r == run.run_id && *s == store.spec()),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(message.contains(run.run_id.as_str()), "{message}");
            assert!(message.contains(&store.spec()), "{message}");
            assert!(message.contains("already holds a run"), "{message}");
        }
        assert_eq!(store.run(&run.run_id).unwrap(), Some(run.clone()));
        assert_eq!(store.runs().unwrap(), std::slice::from_ref(&run));
        assert_eq!(
            store.results(&run.run_id).unwrap(),
            [full_result(&run.run_id, "a")]
        );
        // The run goes on as before: it saves results and finishes.
        store.save_result(&full_result(&run.run_id, "b")).unwrap();
        let mut finished = run.clone();
        finished.finished_at = Some(time(3));
        store.finish_run(&finished).unwrap();
        assert_eq!(store.run(&run.run_id).unwrap(), Some(finished));
        let other = run_at("w", 1);
        store.begin_run(&other).unwrap();
        assert_eq!(store.results(&other.run_id).unwrap(), []);
    }

    /// An output nested deeper than every store reads back is refused, alone or in a batch
    /// (whole), naming the flow and the store; the deepest allowed output reads back, and so
    /// does every other result of the run.
    pub fn an_output_too_deep_to_read_back_is_refused(store: &dyn ResultStore) {
        let run = run_at("w", 0);
        store.begin_run(&run).unwrap();
        let with_output = |name: &str, depth: usize| {
            let mut result = full_result(&run.run_id, name);
            result.output = nested(depth);
            result
        };
        let deepest = with_output("deepest", MAX_OUTPUT_DEPTH);
        store.save_result(&deepest).unwrap();
        let shallow = full_result(&run.run_id, "deep");
        store.save_result(&shallow).unwrap();
        for depth in [MAX_OUTPUT_DEPTH + 1, 200] {
            let deep = with_output("deep", depth);
            let err = store.save_result(&deep).unwrap_err();
            assert!(
                matches!(&err, StoreError::TooDeep { run: r, flow: f, store: s, limit }
                    if *r == run.run_id && *f == flow("deep") && *s == store.spec()
                        && *limit == MAX_OUTPUT_DEPTH),
                "{err:?}"
            );
            let message = err.to_string();
            for part in ["flow `deep`", run.run_id.as_str(), &store.spec()] {
                assert!(message.contains(part), "{message}");
            }
            assert!(
                message.contains("nested more than 126 levels deep"),
                "{message}"
            );
            // In a batch, the whole batch is refused, however it is handed over.
            let batch = vec![
                full_result(&run.run_id, "a"),
                deep,
                full_result(&run.run_id, "b"),
            ];
            let err = store.save_results(&batch).unwrap_err();
            assert!(matches!(&err, StoreError::TooDeep { flow: f, .. } if *f == flow("deep")));
            let err = store.save_results_owned(batch).unwrap_err();
            assert!(matches!(&err, StoreError::TooDeep { flow: f, .. } if *f == flow("deep")));
        }
        assert_eq!(store.results(&run.run_id).unwrap(), [shallow, deepest]);
    }

    pub fn finishing_a_run_records_its_end_and_counts(store: &dyn ResultStore) {
        let mut run = run_at("w", 0);
        store.begin_run(&run).unwrap();
        assert_eq!(store.run(&run.run_id).unwrap(), Some(run.clone()));
        run.finished_at = Some(time(5) + chrono::Duration::nanoseconds(1));
        run.counts = StatusCounts {
            pending: 1,
            running: 2,
            completed: 3,
            failed: 4,
            cancelled: u32::MAX,
        };
        store.finish_run(&run).unwrap();
        assert_eq!(store.run(&run.run_id).unwrap(), Some(run.clone()));
        assert_eq!(store.runs().unwrap(), [run.clone()]);
        // Finishing a run that was never begun records it.
        let other = run_at("w", 9);
        store.finish_run(&other).unwrap();
        assert_eq!(store.run(&other.run_id).unwrap(), Some(other));
    }

    pub fn runs_are_listed_oldest_first_and_latest_is_per_workflow(store: &dyn ResultStore) {
        let runs = [
            run_at("nightly", 3),
            run_at("hourly", 1),
            run_at("nightly", 0),
            run_at("hourly", 2),
            run_at("weekly", -100),
        ];
        for run in &runs {
            store.begin_run(run).unwrap();
        }
        let minutes: Vec<_> = store
            .runs()
            .unwrap()
            .iter()
            .map(|r| (r.started_at - time(0)).num_minutes())
            .collect();
        assert_eq!(minutes, [-100, 0, 1, 2, 3]);
        assert_eq!(store.latest_run("nightly").unwrap(), Some(runs[0].clone()));
        assert_eq!(store.latest_run("hourly").unwrap(), Some(runs[3].clone()));
        assert_eq!(store.latest_run("weekly").unwrap(), Some(runs[4].clone()));
        assert_eq!(store.latest_run("monthly").unwrap(), None);
    }

    pub fn deleting_a_run_removes_it_and_its_results_only(store: &dyn ResultStore) {
        let (one, two) = (run_at("w", 0), run_at("w", 1));
        store.begin_run(&one).unwrap();
        store.begin_run(&two).unwrap();
        store.save_result(&full_result(&one.run_id, "a")).unwrap();
        store.save_result(&full_result(&two.run_id, "a")).unwrap();
        assert!(store.delete_run(&one.run_id).unwrap());
        assert!(!store.delete_run(&one.run_id).unwrap());
        assert_eq!(store.run(&one.run_id).unwrap(), None);
        assert_eq!(store.results(&one.run_id).unwrap(), []);
        assert_eq!(store.result(&one.run_id, &flow("a")).unwrap(), None);
        assert_eq!(store.runs().unwrap(), std::slice::from_ref(&two));
        assert_eq!(store.results(&two.run_id).unwrap().len(), 1);
        // A deleted run is unknown again: its results are refused until it begins again.
        assert!(store.save_result(&full_result(&one.run_id, "a")).is_err());
        store.begin_run(&one).unwrap();
        assert_eq!(store.results(&one.run_id).unwrap(), []);
    }

    pub fn compacting_gives_the_unused_space_back_and_keeps_the_rest(store: &dyn ResultStore) {
        let (one, two) = (run_at("w", 0), run_at("w", 1));
        for run in [&one, &two] {
            store.begin_run(run).unwrap();
            let results: Vec<_> = (0..20)
                .map(|i| full_result(&run.run_id, &format!("f{i}")))
                .collect();
            store.save_results(&results).unwrap();
        }
        let kept = store.results(&two.run_id).unwrap();
        assert_eq!(store.unused_bytes().unwrap().0, 0, "nothing deleted yet");
        assert!(store.delete_run(&one.run_id).unwrap());
        let (unused, all) = store.unused_bytes().unwrap();
        // A store that counts its file's space has some unused now.
        assert!(
            all == 0 || (unused > 0 && unused < all),
            "{unused} of {all}"
        );
        store.compact().unwrap();
        let (unused_after, all_after) = store.unused_bytes().unwrap();
        assert_eq!(unused_after, 0);
        assert!(all_after <= all - unused, "{all_after} > {all} - {unused}");
        assert_eq!(store.runs().unwrap(), std::slice::from_ref(&two));
        assert_eq!(store.results(&two.run_id).unwrap(), kept);
    }

    pub fn full_tails_and_every_failure_kind_round_trip(store: &dyn ResultStore) {
        let run = run_at("w", 0);
        store.begin_run(&run).unwrap();
        let kinds = [
            FailureKind::Error,
            FailureKind::Timeout,
            FailureKind::Crashed { signal: None },
            FailureKind::Upstream { flow: flow("up") },
            FailureKind::Cancelled,
        ];
        let mut expected = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            let mut result = FlowResult::new(
                run.run_id.clone(),
                flow(&format!("k{i}")),
                FlowStatus::Failed,
            );
            result.failure = Some(Failure::new(kind, ""));
            result.stdout_tail = Tail::new("€".repeat(MAX_TAIL_BYTES));
            result.stderr_tail = Tail::new("x".repeat(MAX_TAIL_BYTES * 2));
            store.save_result(&result).unwrap();
            expected.push(result);
        }
        let saved = store.results(&run.run_id).unwrap();
        assert_eq!(saved, expected);
        assert_eq!(saved[0].stderr_tail.as_str().len(), MAX_TAIL_BYTES);
    }

    pub fn counts_the_results_completed_with_no_attempt(store: &dyn ResultStore) {
        let (one, two) = (run_at("w", 0), run_at("w", 1));
        store.begin_run(&one).unwrap();
        store.begin_run(&two).unwrap();
        let result = |run: &RunRecord, name: &str, status: FlowStatus, attempts: u32| {
            let mut result = FlowResult::new(run.run_id.clone(), flow(name), status);
            result.attempts = attempts;
            result
        };
        store
            .save_results(&[
                result(&one, "ran", FlowStatus::Completed, 1),
                result(&one, "reused", FlowStatus::Completed, 0),
                result(&one, "also_reused", FlowStatus::Completed, 0),
                result(&one, "not_run", FlowStatus::Failed, 0),
                result(&one, "cancelled", FlowStatus::Cancelled, 0),
                result(&one, "pending", FlowStatus::Pending, 0),
                result(&two, "reused", FlowStatus::Completed, 0),
            ])
            .unwrap();
        assert_eq!(store.count_reused(&one.run_id).unwrap(), 2);
        assert_eq!(store.count_reused(&two.run_id).unwrap(), 1);
        assert_eq!(store.count_reused(&run_at("w", 2).run_id).unwrap(), 0);
    }

    pub fn reports_a_spec_that_opens_it_again(store: &dyn ResultStore) {
        let spec = store.spec();
        let reopened = flow_results::open_store(&spec).unwrap();
        assert_eq!(reopened.spec(), spec);
    }

    /// Whatever result is saved, reading it back gives an equal value.
    pub fn any_result_reads_back_equal(store: &dyn ResultStore) {
        use proptest::test_runner::{Config, TestRunner};
        let run = run_at("w", 0);
        store.begin_run(&run).unwrap();
        let mut runner = TestRunner::new(Config {
            cases: crate::common::cases(64),
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&super::strategies::result(run.run_id.clone()), |result| {
                store.save_result(&result).unwrap();
                let read = store.result(&result.run_id, &result.flow_id).unwrap();
                proptest::prop_assert_eq!(read, Some(result));
                Ok(())
            })
            .unwrap();
    }
}

/// Strategies for arbitrary records.
mod strategies {
    use chrono::{DateTime, Utc};
    use flow_graph::FlowId;
    use flow_results::{Failure, FailureKind, Fingerprint, FlowResult, FlowStatus, RunId, Tail};
    use proptest::prelude::*;
    use serde_json::Value;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn time() -> impl Strategy<Value = Option<DateTime<Utc>>> {
        proptest::option::of(
            (0i64..8_000_000_000, 0u32..1_000_000_000)
                .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap()),
        )
    }

    fn failure() -> impl Strategy<Value = Option<Failure>> {
        let kind = prop_oneof![
            Just(FailureKind::Error),
            Just(FailureKind::Timeout),
            any::<Option<i32>>().prop_map(|signal| FailureKind::Crashed { signal }),
            "[a-z][a-z0-9_.-]{0,10}".prop_map(|f| FailureKind::Upstream {
                flow: FlowId::new(f).unwrap()
            }),
            Just(FailureKind::Cancelled),
        ];
        proptest::option::of((kind, any::<String>()).prop_map(|(k, m)| Failure::new(k, m)))
    }

    /// None, a number (the scheduler's form) or any text.
    fn fingerprint() -> impl Strategy<Value = Option<Fingerprint>> {
        proptest::option::of(prop_oneof![
            any::<u128>().prop_map(Fingerprint::from),
            any::<String>().prop_map(Fingerprint::from),
        ])
    }

    pub fn result(run: RunId) -> impl Strategy<Value = FlowResult> {
        (
            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}",
            proptest::sample::select(FlowStatus::ALL.to_vec()),
            json(),
            failure(),
            any::<Option<i32>>(),
            any::<u32>(),
            (time(), time()),
            (fingerprint(), any::<Option<String>>()),
            (any::<String>(), any::<String>()),
        )
            .prop_map(
                move |(
                    flow,
                    status,
                    output,
                    failure,
                    exit_code,
                    attempts,
                    (started_at, finished_at),
                    (fingerprint, job_id),
                    (stdout, stderr),
                )| FlowResult {
                    run_id: run.clone(),
                    flow_id: FlowId::new(flow).unwrap(),
                    status,
                    output,
                    failure,
                    exit_code,
                    attempts,
                    started_at,
                    finished_at,
                    fingerprint,
                    job_id,
                    stdout_tail: Tail::new(stdout),
                    stderr_tail: Tail::new(stderr),
                },
            )
    }
}

/// Runs every check of `checks` against one backend.
macro_rules! conformance {
    ($($backend:ident => $open:path),* $(,)?; $checks:tt) => {
        $( conformance!(@backend $backend, $open, $checks); )*
    };
    (@backend $backend:ident, $open:path, [$($check:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $check() {
                    let opened: crate::Opened = $open();
                    crate::checks::$check(&*opened.store);
                }
            )*
        }
    };
}

conformance!(
    memory => crate::common::open_memory,
    dir => crate::common::open_dir,
    sqlite => crate::common::open_sqlite;
    [
        saves_and_reads_back_every_field,
        saving_again_replaces_the_result_of_the_same_flow,
        results_are_per_run_and_ordered_by_flow,
        what_was_never_saved_reads_as_nothing,
        a_result_of_an_unknown_run_is_refused,
        a_batch_saves_all_of_its_results,
        a_batch_with_an_unknown_run_saves_nothing,
        beginning_a_stored_run_id_again_is_refused,
        an_output_too_deep_to_read_back_is_refused,
        finishing_a_run_records_its_end_and_counts,
        runs_are_listed_oldest_first_and_latest_is_per_workflow,
        deleting_a_run_removes_it_and_its_results_only,
        compacting_gives_the_unused_space_back_and_keeps_the_rest,
        full_tails_and_every_failure_kind_round_trip,
        counts_the_results_completed_with_no_attempt,
        reports_a_spec_that_opens_it_again,
        any_result_reads_back_equal,
    ]
);

/// Data written through one handle is there after the store is opened again.
fn reopened_store_keeps_everything(open: fn() -> Opened) {
    let opened = open();
    let run = run_at("w", 0);
    opened.store.begin_run(&run).unwrap();
    let results: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|name| full_result(&run.run_id, name))
        .collect();
    opened.store.save_results(&results).unwrap();
    let spec = opened.store.spec();
    drop(opened.store);
    let reopened = flow_results::open_store(&spec).unwrap();
    assert_eq!(reopened.runs().unwrap(), std::slice::from_ref(&run));
    assert_eq!(reopened.results(&run.run_id).unwrap(), results);
}

#[test]
fn dir_store_keeps_everything_when_reopened() {
    reopened_store_keeps_everything(common::open_dir);
}

#[test]
fn sqlite_store_keeps_everything_when_reopened() {
    reopened_store_keeps_everything(common::open_sqlite);
}
