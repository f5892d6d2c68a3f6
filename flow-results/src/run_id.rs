//! `RunId`: the name of one run of a workflow, sortable by start time and safe as a file name.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::InvalidRunId;

/// The `strftime` format of the time part of a [`RunId`].
const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
/// Length of the time part, e.g. `20261126T153012.123Z`.
const TIME_LEN: usize = 20;
/// Longest suffix [`RunId::parse`] accepts.
const MAX_SUFFIX_LEN: usize = 32;

/// The name of one run: its UTC start time to the millisecond, a dash and a suffix, e.g.
/// `20261126T153012.123Z-3f9a0c1e`.
///
/// The time part has a fixed width, so ids sort (as strings and with [`Ord`]) in the order of
/// their times; the suffix tells apart runs started in the same millisecond:
///
/// - **Within one process**, the ids [`new_now`](RunId::new_now) makes strictly increase, from
///   any number of threads: within one millisecond each suffix is greater than the last one
///   (8 hex digits), so the later of two runs has the greater id even when both started in
///   the same millisecond, and `latest_run` finds it. (Should the clock step back, ids keep
///   the last time until the clock passes it again; should more than 2^31 ids be made in one
///   millisecond, the next ones take the next millisecond.)
/// - **Across processes**, ids of different milliseconds sort by time, as far as the hosts'
///   clocks agree; two processes that start runs in the same millisecond make different ids
///   (each process starts from a random suffix) in no particular order.
///
/// Every id is ASCII letters, digits, `.` and `-`, never starts with `.` or `-`, and is
/// therefore safe as a file name. Cloning is cheap (a reference count).
///
/// ```
/// use flow_results::RunId;
/// let id = RunId::parse("20251126T153012.123Z-3f9a")?;
/// assert_eq!(id.started_at().to_rfc3339(), "2025-11-26T15:30:12.123+00:00");
/// assert!(RunId::parse("../etc").is_err());
/// assert!(RunId::new_now() > id);
/// # Ok::<(), flow_results::InvalidRunId>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(Arc<str>);

impl RunId {
    /// A new id for a run starting now, greater than every id this process made with
    /// `new_now` before (see the type's docs for what holds across processes).
    pub fn new_now() -> Self {
        let now_ms = clamp_year(Utc::now()).timestamp_millis();
        let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
        let (ms, suffix) = next_in_sequence(&mut last, now_ms);
        drop(last);
        Self::from_parts(ms, suffix)
    }

    /// A new id for a run that started at `time` (cut to the millisecond), with a fresh random
    /// suffix: ids of the same millisecond made this way are different (with overwhelming
    /// likelihood) but in no particular order, and do not take part in the order of
    /// [`new_now`](RunId::new_now).
    ///
    /// Times outside the years 0 to 9999 are clamped to that range, which keeps the width fixed.
    pub fn new_at(time: DateTime<Utc>) -> Self {
        Self::from_parts(clamp_year(time).timestamp_millis(), random_u32())
    }

    /// The id of millisecond `ms` since 1970 (within the years 0 to 9999) and `suffix`.
    fn from_parts(ms: i64, suffix: u32) -> Self {
        let time = DateTime::from_timestamp_millis(ms).unwrap_or_default();
        RunId(Arc::from(format!(
            "{}-{suffix:08x}",
            time.format(TIME_FORMAT)
        )))
    }

    /// The id for `time` (cut to the millisecond) with a chosen suffix, e.g. to make ids
    /// reproducible in tests.
    ///
    /// # Errors
    /// [`InvalidRunId`] when the suffix is not 1 to 32 characters of `[a-z0-9]` or the year is
    /// outside 0 to 9999.
    pub fn with_suffix(time: DateTime<Utc>, suffix: &str) -> Result<Self, InvalidRunId> {
        RunId::parse(&format!("{}-{suffix}", time.format(TIME_FORMAT)))
    }

    /// Checks `id` against the format and wraps it.
    ///
    /// # Errors
    /// [`InvalidRunId`] naming the id and what is wrong with it.
    pub fn parse(id: &str) -> Result<Self, InvalidRunId> {
        parse_time(id).map_err(|problem| InvalidRunId {
            id: id.chars().take(200).collect(),
            problem,
        })?;
        Ok(RunId(Arc::from(id)))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The start time written in the id (to the millisecond).
    pub fn started_at(&self) -> DateTime<Utc> {
        // The id was checked when it was made, so the time part parses.
        parse_time(&self.0).unwrap_or_default()
    }
}

/// Parses the time part of `id` and checks the suffix; the error says what is wrong.
fn parse_time(id: &str) -> Result<DateTime<Utc>, &'static str> {
    let (time, suffix) = match (id.get(..TIME_LEN), id.get(TIME_LEN..)) {
        (Some(time), Some(rest)) if rest.starts_with('-') => (time, &rest[1..]),
        _ => return Err("it does not start with a time like 20261126T153012.123Z and a dash"),
    };
    if suffix.is_empty() || suffix.len() > MAX_SUFFIX_LEN {
        return Err("its suffix after the time is not 1 to 32 characters long");
    }
    if !suffix
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        return Err("its suffix has a character other than a-z 0-9");
    }
    if !time.is_ascii() {
        return Err("its time has a non-ASCII character");
    }
    let parsed = NaiveDateTime::parse_from_str(time, TIME_FORMAT)
        .map_err(|_| "its time is not a valid UTC time like 20261126T153012.123Z")?
        .and_utc();
    // Reject forms chrono accepts but that would break the fixed width (and thus the order).
    if parsed.format(TIME_FORMAT).to_string() != time {
        return Err("its time is not in the form 20261126T153012.123Z");
    }
    Ok(parsed)
}

/// `time`, moved into the years 0 to 9999 if it lies outside.
fn clamp_year(time: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone};
    let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single();
    let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single();
    match (first, last) {
        (Some(first), _) if time.year() < 0 => first,
        (_, Some(last)) if time.year() > 9999 => last,
        _ => time,
    }
}

/// The last id [`RunId::new_now`] made in this process: its millisecond and suffix.
static LAST: Mutex<Option<(i64, u32)>> = Mutex::new(None);

/// The millisecond and suffix of the id after `last`, for a clock that reads `now_ms`; it
/// becomes `last`. It is greater than `last` as the ids' text compares: by time, then by the
/// suffix as 8 hex digits. A new millisecond starts from a random suffix below 2^31, which
/// leaves room for at least 2^31 ids in it.
fn next_in_sequence(last: &mut Option<(i64, u32)>, now_ms: i64) -> (i64, u32) {
    let next = match *last {
        // The same millisecond (or a clock that stepped back): the next suffix.
        Some((ms, suffix)) if now_ms <= ms => match suffix.checked_add(1) {
            Some(suffix) => (ms, suffix),
            None => (ms + 1, random_u32() >> 1),
        },
        _ => (now_ms, random_u32() >> 1),
    };
    *last = Some(next);
    next
}

/// 32 random bits from the standard library's per-process hash keys, the process id, the clock
/// and a counter (no dependency on a random-number crate; the bits only need to differ).
fn random_u32() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(elapsed) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(elapsed.as_nanos());
    }
    let bits = hasher.finish();
    (bits ^ (bits >> 32)) as u32
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for RunId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for RunId {
    type Err = InvalidRunId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunId::parse(s)
    }
}

impl serde::Serialize for RunId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RunId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        RunId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn new_ids_parse_back_and_carry_their_time() {
        let time = Utc.with_ymd_and_hms(2026, 11, 26, 15, 30, 12).unwrap()
            + chrono::Duration::milliseconds(123);
        let id = RunId::new_at(time);
        assert!(id.as_str().starts_with("20261126T153012.123Z-"), "{id}");
        assert_eq!(RunId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.started_at(), time);
    }

    #[test]
    fn ids_sort_by_start_time() {
        let early = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let late = early + chrono::Duration::milliseconds(1);
        let a = RunId::with_suffix(early, "zzzz").unwrap();
        let b = RunId::with_suffix(late, "0000").unwrap();
        assert!(a < b);
        assert!(a.as_str() < b.as_str());
    }

    #[test]
    fn the_sequence_increases_within_a_millisecond_and_when_the_clock_steps_back() {
        let mut last = None;
        let id = |(ms, suffix)| RunId::from_parts(ms, suffix);
        let first = next_in_sequence(&mut last, 1_000);
        assert!(first.1 < 1 << 31);
        let mut previous = id(first);
        // The same millisecond, then a clock that steps back: the next suffix, same time.
        for now_ms in [1_000, 1_000, 999, 0] {
            let next = next_in_sequence(&mut last, now_ms);
            assert_eq!(next, (1_000, last.unwrap().1));
            assert!(id(next) > previous, "{} <= {previous}", id(next));
            previous = id(next);
        }
        // A later millisecond starts again from a random suffix.
        let later = next_in_sequence(&mut last, 1_001);
        assert_eq!(later.0, 1_001);
        assert!(id(later) > previous);
        // A full millisecond goes on in the next one.
        let mut full = Some((5_000, u32::MAX));
        let next = next_in_sequence(&mut full, 5_000);
        assert_eq!(next.0, 5_001);
        assert!(id(next) > RunId::from_parts(5_000, u32::MAX));
    }

    #[test]
    fn suffixes_keep_their_width_so_text_order_is_number_order() {
        let small = RunId::from_parts(0, 0x0000_00ff);
        let large = RunId::from_parts(0, 0x0000_0f00);
        assert!(small.as_str().ends_with("-000000ff"), "{small}");
        assert!(small < large && small.as_str() < large.as_str());
        assert_eq!(RunId::parse(large.as_str()).unwrap(), large);
    }

    #[test]
    fn new_now_ids_in_a_row_increase() {
        let mut previous = RunId::new_now();
        for _ in 0..10_000 {
            let next = RunId::new_now();
            assert!(next > previous, "{next} <= {previous}");
            previous = next;
        }
    }

    #[test]
    fn two_new_ids_in_a_row_differ() {
        let time = Utc::now();
        assert_ne!(RunId::new_at(time), RunId::new_at(time));
    }

    #[test]
    fn rejects_what_is_not_a_run_id() {
        for (bad, problem) in [
            ("", "does not start with a time"),
            ("../etc/passwd", "does not start with a time"),
            ("20261126T153012.123Z", "does not start with a time"),
            (
                "20261126T153012.123Z-",
                "suffix after the time is not 1 to 32",
            ),
            ("20261126T153012.123Z-AB", "other than a-z 0-9"),
            ("20261126T153012.123Z-a/b", "other than a-z 0-9"),
            ("20261326T153012.123Z-ab", "not a valid UTC time"),
            ("2026112xT153012.123Z-ab", "not a valid UTC time"),
        ] {
            let err = RunId::parse(bad).unwrap_err();
            assert!(err.to_string().contains(problem), "{bad}: {err}");
        }
    }

    #[test]
    fn serde_is_the_plain_string() {
        let id = RunId::parse("20261126T153012.123Z-3f9a").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"20261126T153012.123Z-3f9a\"");
        assert_eq!(serde_json::from_str::<RunId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<RunId>("\"nope\"").is_err());
    }
}
