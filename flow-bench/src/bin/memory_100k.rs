//! How much memory and time a `MemoryStore` takes for the 100 000 results of flow-core's W3
//! benchmark: default results with a 32-hex fingerprint and `finished_at`, saved in batches of
//! 4096 as the scheduler's writer thread does.
//!
//! Run with `cargo run --release -p flow-bench --bin memory_100k [hint]`; with `hint`,
//! the run begins with its flows counted as pending, which lets the store make room for all of
//! their results at once. The memory figure is the growth of the resident set
//! (`/proc/self/statm`, Linux only) divided by the result count; one batch is built and dropped
//! before the first reading, so the batches' own memory is not counted.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::{FlowResult, FlowStatus, MemoryStore, ResultStore, RunId, RunRecord};

const RESULTS: usize = 100_000;
const BATCH: usize = 4096;

/// The resident set in bytes, or 0 where `/proc/self/statm` cannot be read.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The results of the flows `ids`, the first of which is flow number `first`.
fn batch(run: &RunId, first: usize, ids: &[FlowId], at: DateTime<Utc>) -> Vec<FlowResult> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let mut result = FlowResult::new(run.clone(), id.clone(), FlowStatus::Completed);
            result.attempts = 1;
            result.finished_at = Some(at);
            // Distinct and never 0, as fingerprints are.
            let fingerprint = u128::MAX - (first + i) as u128;
            result.fingerprint = Some(fingerprint.into());
            result
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hint = std::env::args().nth(1).as_deref() == Some("hint");
    // The ids exist before the store, as they do in a run (the graph holds them).
    let ids = (0..RESULTS)
        .map(|i| FlowId::new(format!("flow-{i:06}")))
        .collect::<Result<Vec<_>, _>>()?;
    let store = MemoryStore::new();
    let mut run = RunRecord::start("w3");
    if hint {
        run.counts.pending = RESULTS as u32;
    }
    store.begin_run(&run)?;
    drop(batch(&run.run_id, 0, &ids[..BATCH], run.started_at));

    let before = rss_bytes();
    let start = Instant::now();
    let mut saving = Duration::ZERO;
    for (n, chunk) in ids.chunks(BATCH).enumerate() {
        let results = batch(&run.run_id, n * BATCH, chunk, run.started_at);
        let saved = Instant::now();
        store.save_results(&results)?;
        saving += saved.elapsed();
    }
    let total = start.elapsed();
    let grown = rss_bytes().saturating_sub(before);

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{RESULTS} results in batches of {BATCH}{}: save_results {:.2} ms (with building the \
         batches {:.2} ms), RSS +{:.1} MiB = {} bytes per result",
        if hint { " (counts hint)" } else { "" },
        saving.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        grown as f64 / (1024.0 * 1024.0),
        grown / RESULTS as u64,
    )?;
    let read = Instant::now();
    let back = store.results(&run.run_id)?;
    writeln!(
        out,
        "results() read back {} in {:.2} ms",
        back.len(),
        read.elapsed().as_secs_f64() * 1e3
    )?;
    Ok(())
}
