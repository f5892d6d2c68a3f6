//! Helpers shared by the integration tests: stores of every backend and sample records.

#![allow(dead_code)] // Each test binary uses a different part.

use chrono::{DateTime, TimeZone, Utc};
use flow_graph::FlowId;
use flow_results::{
    open_store, Failure, FailureKind, FlowResult, FlowStatus, ResultStore, RunId, RunRecord, Tail,
};
use tempfile::TempDir;

/// A store and the temporary folder it lives in (removed on drop).
pub struct Opened {
    pub store: Box<dyn ResultStore>,
    pub dir: Option<TempDir>,
}

pub fn open_memory() -> Opened {
    Opened {
        store: open_store("memory").unwrap(),
        dir: None,
    }
}

pub fn open_dir() -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("dir:{}", dir.path().join("results").display());
    Opened {
        store: open_store(&spec).unwrap(),
        dir: Some(dir),
    }
}

pub fn open_sqlite() -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("results.db").display());
    Opened {
        store: open_store(&spec).unwrap(),
        dir: Some(dir),
    }
}

pub fn flow(name: &str) -> FlowId {
    FlowId::new(name).unwrap()
}

/// A fixed time, `minute` minutes after 2026-01-02 03:04:05.
pub fn time(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::minutes(minute)
}

/// A run of `workflow` starting `minute` minutes after [`time`]`(0)`.
pub fn run_at(workflow: &str, minute: i64) -> RunRecord {
    let id = RunId::with_suffix(time(minute), &format!("r{}", minute.unsigned_abs())).unwrap();
    RunRecord::with_id(id, workflow)
}

/// A result with every field set to something distinctive.
pub fn full_result(run: &RunId, name: &str) -> FlowResult {
    let mut result = FlowResult::new(run.clone(), flow(name), FlowStatus::Failed);
    result.output = serde_json::json!({
        "flow": name,
        "numbers": [1, -2, 3.25, 1e300, u64::MAX],
        "text": "naïve ☃ \u{0} \"quoted\"",
        "nested": {"empty": {}, "list": [], "null": null, "yes": true},
    });
    result.failure = Some(Failure::new(
        FailureKind::Crashed { signal: Some(9) },
        format!("{name} was killed"),
    ));
    result.exit_code = Some(-9);
    result.attempts = 3;
    result.started_at = Some(time(1) + chrono::Duration::nanoseconds(123_456_789));
    result.finished_at = Some(time(2));
    result.fingerprint = Some(format!("sha256:{name}").into());
    result.job_id = Some("424242".to_owned());
    result.stdout_tail = Tail::new(format!("{name} says hello\nline 2\n"));
    result.stderr_tail = Tail::new("warning: ünïcödé\r\n\ttabs");
    result
}

/// `n` property-test cases, scaled as `PROPTEST_CASES` scales proptest's default of 256:
/// `cargo xtask ci --deep` sets 2560, so ten times `n` (a fixed count ignores the variable).
pub fn cases(n: u32) -> u32 {
    let asked: u64 = std::env::var("PROPTEST_CASES").map_or(256, |v| v.parse().unwrap_or(256));
    u32::try_from(u64::from(n) * asked / 256)
        .unwrap_or(u32::MAX)
        .max(1)
}

/// `depth` arrays and objects inside one another, alternating, around a number.
pub fn nested(depth: usize) -> serde_json::Value {
    (0..depth).fold(serde_json::json!(1), |inner, k| {
        if k % 2 == 0 {
            serde_json::json!([inner])
        } else {
            serde_json::json!({ "k": inner })
        }
    })
}
