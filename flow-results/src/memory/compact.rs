//! `Compact`: how `MemoryStore` keeps one result: the fields most results fill, inline and
//! small (about 80 bytes), and one box for the rest.
//!
//! A scheduler saves every result of a run, often 100 000 of them, and reads them back rarely;
//! so saving copies as little as it can (the flow id is a reference count, a fingerprint of 32
//! hex digits becomes a `u128`), and reading builds the [`FlowResult`] again, equal to the one
//! saved.

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use serde_json::Value;

use crate::{Failure, Fingerprint, FlowResult, FlowStatus, RunId, Tail};

/// One saved result, without its run id (the run's map key holds it).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Compact {
    /// The fingerprint, when `numeric_fingerprint`.
    fingerprint: u128,
    pub(super) flow_id: FlowId,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    attempts: u32,
    status: FlowStatus,
    /// Whether the fingerprint is the number `fingerprint`; otherwise it is the one in `rare`
    /// (or none).
    numeric_fingerprint: bool,
    /// The output; `None` for `null`, which most flows return.
    output: Option<Box<Value>>,
    /// Every field that is usually empty; `None` when all of them are.
    rare: Option<Box<Rare>>,
}

/// The fields of a result that are usually empty: failures, process details, output tails and
/// a fingerprint that is text rather than a number.
#[derive(Debug, Clone, PartialEq, Default)]
struct Rare {
    failure: Option<Failure>,
    exit_code: Option<i32>,
    fingerprint: Option<Fingerprint>,
    job_id: Option<String>,
    stdout_tail: Tail,
    stderr_tail: Tail,
}

impl Compact {
    /// A copy of `result`, without its run id.
    #[cfg(test)]
    pub(super) fn new(result: &FlowResult) -> Self {
        Compact::from_owned(result.clone())
    }

    /// `result` without its run id, taken apart rather than copied.
    pub(super) fn from_owned(result: FlowResult) -> Self {
        let number = result.fingerprint.as_ref().and_then(Fingerprint::as_u128);
        // Checked on the result first: most have none of the rare fields, and are not moved
        // into a `Rare` only to find it empty.
        let plain = result.failure.is_none()
            && result.exit_code.is_none()
            && (number.is_some() || result.fingerprint.is_none())
            && result.job_id.is_none()
            && result.stdout_tail.is_empty()
            && result.stderr_tail.is_empty();
        let rare = (!plain).then(|| {
            Box::new(Rare {
                failure: result.failure,
                exit_code: result.exit_code,
                fingerprint: match number {
                    Some(_) => None,
                    None => result.fingerprint,
                },
                job_id: result.job_id,
                stdout_tail: result.stdout_tail,
                stderr_tail: result.stderr_tail,
            })
        });
        Compact {
            fingerprint: number.unwrap_or(0),
            flow_id: result.flow_id,
            started_at: result.started_at,
            finished_at: result.finished_at,
            attempts: result.attempts,
            status: result.status,
            numeric_fingerprint: number.is_some(),
            output: match result.output {
                Value::Null => None,
                output => Some(Box::new(output)),
            },
            rare,
        }
    }

    /// The result as it was saved, in run `run_id`.
    pub(super) fn to_result(&self, run_id: &RunId) -> FlowResult {
        let rare = self.rare.as_deref();
        FlowResult {
            run_id: run_id.clone(),
            flow_id: self.flow_id.clone(),
            status: self.status,
            output: self.output.as_deref().cloned().unwrap_or(Value::Null),
            failure: rare.and_then(|rare| rare.failure.clone()),
            exit_code: rare.and_then(|rare| rare.exit_code),
            attempts: self.attempts,
            started_at: self.started_at,
            finished_at: self.finished_at,
            fingerprint: if self.numeric_fingerprint {
                Some(Fingerprint::from_u128(self.fingerprint))
            } else {
                rare.and_then(|rare| rare.fingerprint.clone())
            },
            job_id: rare.and_then(|rare| rare.job_id.clone()),
            stdout_tail: rare
                .map(|rare| rare.stdout_tail.clone())
                .unwrap_or_default(),
            stderr_tail: rare
                .map(|rare| rare.stderr_tail.clone())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::{FailureKind, RunRecord};

    fn result(fingerprint: Option<&str>) -> FlowResult {
        let mut result = FlowResult::new(
            RunRecord::start("w").run_id,
            FlowId::new("build").unwrap(),
            FlowStatus::Completed,
        );
        result.fingerprint = fingerprint.map(Fingerprint::from);
        result
    }

    #[test]
    fn a_record_stays_small() {
        assert!(std::mem::size_of::<Compact>() <= 80);
    }

    #[test]
    fn every_field_round_trips() {
        let mut full = result(Some("0123456789abcdef0123456789abcdef"));
        full.status = FlowStatus::Failed;
        full.output = serde_json::json!({"rows": [1, 2.5, "x"], "none": null});
        full.failure = Some(Failure::new(FailureKind::Timeout, "ran over 10s"));
        full.exit_code = Some(-9);
        full.attempts = 3;
        full.started_at = Some(Utc::now());
        full.finished_at = full.started_at.map(|t| t + TimeDelta::milliseconds(1500));
        full.job_id = Some("12345".to_owned());
        full.stdout_tail = Tail::new("out\n");
        full.stderr_tail = Tail::new("err\n");
        let compact = Compact::new(&full);
        assert!(compact.numeric_fingerprint);
        assert_eq!(compact.to_result(&full.run_id), full);
    }

    #[test]
    fn an_empty_result_needs_no_box() {
        let empty = result(None);
        let compact = Compact::new(&empty);
        assert!(compact.rare.is_none() && compact.output.is_none());
        assert_eq!(compact.to_result(&empty.run_id), empty);
    }

    #[test]
    fn a_hex_fingerprint_is_kept_inline() {
        for hex in [
            "00000000000000000000000000000000",
            "0000000000000000000000000000002a",
            "ffffffffffffffffffffffffffffffff",
            "9e3779b97f4a7c15f39cc0605cedc834",
        ] {
            let saved = result(Some(hex));
            let compact = Compact::new(&saved);
            assert!(
                compact.numeric_fingerprint && compact.rare.is_none(),
                "{hex}"
            );
            assert_eq!(compact.to_result(&saved.run_id), saved);
        }
    }

    #[test]
    fn any_other_fingerprint_reads_back_exactly() {
        for odd in crate::fingerprint::NOT_NUMBERS {
            let saved = result(Some(odd));
            let compact = Compact::new(&saved);
            assert!(!compact.numeric_fingerprint, "{odd:?}");
            assert_eq!(compact.to_result(&saved.run_id), saved, "{odd:?}");
        }
    }
}
