//! Crash safety, for real: a child process writes results in a loop and reports each committed
//! one on a pipe; the test kills it with SIGKILL at random moments, then checks that the store
//! opens, holds every reported result intact, and shows no half-written record.
//!
//! The child is this test binary itself, run again with `child_writer` as the only test and
//! the store spec in an environment variable.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use flow_graph::FlowId;
use flow_results::{
    open_store, FlowResult, FlowStatus, ResultStore, RunId, RunRecord, StoreError, Tail,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Set in the child: the spec of the store to write.
const CHILD_SPEC: &str = "FLOW_RESULTS_CRASH_CHILD_SPEC";
/// Set in the child: the generation number, which goes into every record it writes.
const CHILD_GENERATION: &str = "FLOW_RESULTS_CRASH_CHILD_GENERATION";
/// Kills per backend.
const KILLS: u32 = 24;
/// The child writes flows `f00` to `f39`, overwriting them again and again.
const FLOWS: u64 = 40;

fn run_id() -> RunId {
    RunId::with_suffix(common::time(0), "crash").unwrap()
}

/// The payload of write `seq` of `generation`: 1.5 to 7.5 KB of text that depends on both,
/// so a record mixing two writes, or cut short, does not match.
fn payload(generation: u64, seq: u64) -> String {
    let mut rng = StdRng::seed_from_u64(generation << 32 | seq);
    let len = rng.gen_range(1500..7500);
    (0..len)
        .map(|_| char::from(rng.gen_range(b'a'..=b'z')))
        .collect()
}

/// The result that write `seq` of `generation` saves for `flow`.
fn record(generation: u64, seq: u64, flow: &str) -> FlowResult {
    let mut result = FlowResult::new(run_id(), FlowId::new(flow).unwrap(), FlowStatus::Completed);
    let text = payload(generation, seq);
    result.output = serde_json::json!({"generation": generation, "seq": seq, "payload": text});
    result.attempts = u32::try_from(seq % 7).unwrap();
    result.stdout_tail = Tail::new(text);
    result
}

/// The (generation, seq) a stored result claims, after checking it is exactly the record that
/// write would have saved.
fn check_intact(result: &FlowResult) -> (u64, u64) {
    let generation = result.output["generation"].as_u64().unwrap();
    let seq = result.output["seq"].as_u64().unwrap();
    assert_eq!(
        *result,
        record(generation, seq, result.flow_id.as_str()),
        "a stored record is not what any write saved"
    );
    (generation, seq)
}

/// Writes results into `store` until `limit`, calling `committed` with (flow, seq) after each
/// write returned. Every third step saves a batch of four; the others save one.
fn write_loop(
    store: &dyn ResultStore,
    generation: u64,
    limit: u64,
    committed: &mut dyn FnMut(&str, u64),
) {
    // Every generation writes the same run: the first begins it, the others find it.
    match store.begin_run(&RunRecord::with_id(run_id(), "crash")) {
        Ok(()) | Err(StoreError::RunExists { .. }) => {}
        Err(err) => panic!("cannot begin the run: {err}"),
    }
    let mut seq = 0;
    while seq < limit {
        let flows: Vec<String> = if seq % 3 == 0 {
            (0..4)
                .map(|k| format!("f{:02}", (seq + k) % FLOWS))
                .collect()
        } else {
            vec![format!("f{:02}", seq % FLOWS)]
        };
        let batch: Vec<FlowResult> = flows
            .iter()
            .map(|flow| record(generation, seq, flow))
            .collect();
        if let [one] = batch.as_slice() {
            store.save_result(one).unwrap();
        } else {
            store.save_results(&batch).unwrap();
        }
        for flow in &flows {
            committed(flow, seq);
        }
        seq += 1;
    }
}

/// The child's entry point when run by [`kill_writer_repeatedly`]; in a normal test run it
/// checks the writer and the checker on a memory store instead.
#[test]
fn child_writer() {
    let Ok(spec) = std::env::var(CHILD_SPEC) else {
        let store = flow_results::MemoryStore::new();
        let mut reported = BTreeMap::new();
        write_loop(&store, 3, 30, &mut |flow, seq| {
            reported.insert(flow.to_owned(), seq);
        });
        let stored = store.results(&run_id()).unwrap();
        assert_eq!(stored.len(), reported.len());
        for result in &stored {
            assert_eq!(check_intact(result), (3, reported[result.flow_id.as_str()]));
        }
        return;
    };
    let generation: u64 = std::env::var(CHILD_GENERATION).unwrap().parse().unwrap();
    let store = open_store(&spec).unwrap();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // No limit: the child runs until it is killed, or until its parent is gone and the write
    // to the closed pipe fails.
    write_loop(&*store, generation, u64::MAX, &mut |flow, seq| {
        writeln!(out, "committed {flow} {seq}").unwrap();
        out.flush().unwrap();
    });
}

/// Starts the child writer on `spec` `KILLS` times, kills it with SIGKILL after a random number
/// of reported commits, and checks the store after every kill.
fn kill_writer_repeatedly(spec: &str, after_kill: impl Fn()) {
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let context = format!("store {spec}, random seed {seed}");
    // The newest (generation, seq) reported committed for each flow, over all generations.
    let mut newest: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let stderr_dir = tempfile::tempdir().unwrap();
    for generation in 0..u64::from(KILLS) {
        let stderr_path = stderr_dir.path().join(format!("child-{generation}.txt"));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_writer", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_SPEC, spec)
            .env(CHILD_GENERATION, generation.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let kill_after = rng.gen_range(0..40u32);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut reported = 0;
        let mut record_line = |line: String| {
            if let Some(rest) = line.strip_prefix("committed ") {
                let (flow, seq) = rest.split_once(' ').unwrap();
                let seq: u64 = seq.parse().unwrap();
                newest.insert(flow.to_owned(), (generation, seq));
                true
            } else {
                false
            }
        };
        while reported < kill_after {
            match lines.next() {
                Some(line) => reported += u32::from(record_line(line.unwrap())),
                None => break,
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        // Commits reported between the last read and the kill count too.
        for line in lines {
            record_line(line.unwrap());
        }
        assert_eq!(
            status.signal(),
            Some(9),
            "the child writer ended by itself ({status}) in generation {generation} ({context}):\n{}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        after_kill();

        let store = open_store(spec).unwrap_or_else(|e| {
            panic!("store does not open after kill {generation} ({context}): {e}")
        });
        let stored = store.results(&run_id()).unwrap_or_else(|e| {
            panic!("unreadable record after kill {generation} ({context}): {e}")
        });
        let stored: BTreeMap<String, (u64, u64)> = stored
            .iter()
            .map(|result| (result.flow_id.to_string(), check_intact(result)))
            .collect();
        for (flow, committed) in &newest {
            let found = stored.get(flow);
            assert!(
                found.is_some_and(|found| found >= committed),
                "flow {flow}: committed write {committed:?} is lost, store has {found:?} \
                 (after kill {generation}, {context})"
            );
        }
    }
    assert!(!newest.is_empty(), "no child reported a commit ({context})");
}

#[test]
fn dir_store_survives_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    kill_writer_repeatedly(&format!("dir:{}", root.display()), || {});
}

#[test]
fn sqlite_store_survives_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    kill_writer_repeatedly(&format!("sqlite:{}", path.display()), || {
        // SQLite's own check, on a separate connection, before the store reopens the file.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let verdict: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(verdict, "ok");
    });
}
