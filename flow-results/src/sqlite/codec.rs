//! How records map to rows: the SQL that writes and reads them, and the conversions between
//! columns and fields.
//!
//! Timestamps are RFC 3339 text in UTC with nanoseconds (`2026-11-26T15:30:12.123456789Z`),
//! which sorts as text and reads well in the `sqlite3` shell; `output` and `failure` are JSON
//! text, open to SQLite's `json_extract`.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use flow_graph::FlowId;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Row, Statement};

use crate::{Fingerprint, FlowResult, RunId, RunRecord, StatusCounts, StoreError, Tail};

/// Inserts a result, or replaces the one of the same run and flow.
pub(crate) const UPSERT_RESULT: &str = "
INSERT INTO results (run_id, flow_id, status, output, failure, exit_code, attempts,
                     started_at, finished_at, fingerprint, job_id, stdout_tail, stderr_tail)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
ON CONFLICT (run_id, flow_id) DO UPDATE SET
    status = excluded.status, output = excluded.output, failure = excluded.failure,
    exit_code = excluded.exit_code, attempts = excluded.attempts,
    started_at = excluded.started_at, finished_at = excluded.finished_at,
    fingerprint = excluded.fingerprint, job_id = excluded.job_id,
    stdout_tail = excluded.stdout_tail, stderr_tail = excluded.stderr_tail";

/// The columns of a result, in the order [`result_from_row`] reads them.
macro_rules! result_columns {
    () => {
        "run_id, flow_id, status, output, failure, exit_code, attempts, started_at, finished_at,
         fingerprint, job_id, stdout_tail, stderr_tail"
    };
}

/// Selects one result by run and flow.
pub(crate) const SELECT_RESULT: &str = concat!(
    "SELECT ",
    result_columns!(),
    " FROM results WHERE run_id = ?1 AND flow_id = ?2"
);

/// Selects the results of a run, by flow id.
pub(crate) const SELECT_RESULTS: &str = concat!(
    "SELECT ",
    result_columns!(),
    " FROM results WHERE run_id = ?1 ORDER BY flow_id"
);

/// Counts the results of a run that completed with no attempt (reused).
pub(crate) const COUNT_REUSED: &str = "SELECT count(*) FROM results
WHERE run_id = ?1 AND status = 'completed' AND attempts = 0";

/// Inserts a new run; a run of the same id fails the primary key.
pub(crate) const INSERT_RUN: &str = "
INSERT INTO runs (run_id, workflow, started_at, finished_at,
                  pending, running, completed, failed, cancelled)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Inserts a run, or replaces the record of the same run (keeping its results).
pub(crate) const UPSERT_RUN: &str = "
INSERT INTO runs (run_id, workflow, started_at, finished_at,
                  pending, running, completed, failed, cancelled)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (run_id) DO UPDATE SET
    workflow = excluded.workflow, started_at = excluded.started_at,
    finished_at = excluded.finished_at, pending = excluded.pending,
    running = excluded.running, completed = excluded.completed,
    failed = excluded.failed, cancelled = excluded.cancelled";

/// The columns of a run, in the order [`run_from_row`] reads them.
macro_rules! run_columns {
    () => {
        "run_id, workflow, started_at, finished_at, pending, running, completed, failed, cancelled"
    };
}

/// Selects one run.
pub(crate) const SELECT_RUN: &str =
    concat!("SELECT ", run_columns!(), " FROM runs WHERE run_id = ?1");

/// Selects all runs, oldest first.
pub(crate) const SELECT_RUNS: &str =
    concat!("SELECT ", run_columns!(), " FROM runs ORDER BY run_id");

/// Selects the newest run of a workflow.
pub(crate) const SELECT_LATEST_RUN: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE workflow = ?1 ORDER BY run_id DESC LIMIT 1"
);

/// A timestamp as stored.
fn time_to_sql(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Runs the prepared [`UPSERT_RESULT`] for `result`.
pub(crate) fn upsert_result(
    statement: &mut Statement<'_>,
    result: &FlowResult,
) -> Result<(), rusqlite::Error> {
    let output = to_json(&result.output)?;
    let failure = result.failure.as_ref().map(to_json).transpose()?;
    statement.execute(rusqlite::params![
        result.run_id.as_str(),
        result.flow_id.as_str(),
        result.status.as_str(),
        output,
        failure,
        result.exit_code,
        result.attempts,
        result.started_at.as_ref().map(time_to_sql),
        result.finished_at.as_ref().map(time_to_sql),
        result.fingerprint.as_ref().map(ToString::to_string),
        result.job_id,
        result.stdout_tail.as_str(),
        result.stderr_tail.as_str(),
    ])?;
    Ok(())
}

/// `value` as JSON text, with an encoding error as a SQLite conversion error.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, rusqlite::Error> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

/// Runs the prepared [`INSERT_RUN`] or [`UPSERT_RUN`] for `run`.
pub(crate) fn write_run(
    statement: &mut Statement<'_>,
    run: &RunRecord,
) -> Result<(), rusqlite::Error> {
    let c = &run.counts;
    statement.execute(rusqlite::params![
        run.run_id.as_str(),
        run.workflow,
        time_to_sql(&run.started_at),
        run.finished_at.as_ref().map(time_to_sql),
        c.pending,
        c.running,
        c.completed,
        c.failed,
        c.cancelled,
    ])?;
    Ok(())
}

/// Reads the columns of a row as SQLite values; a failure here is a SQLite error, not a
/// corrupt record.
fn columns<const N: usize>(row: &Row<'_>) -> Result<[SqlValue; N], rusqlite::Error> {
    let mut values: [SqlValue; N] = std::array::from_fn(|_| SqlValue::Null);
    for (i, value) in values.iter_mut().enumerate() {
        *value = row.get(i)?;
    }
    Ok(values)
}

/// Decodes rows of one table, naming the database and the column when a value is wrong.
struct Decoder<'a> {
    path: &'a Path,
    what: String,
}

impl Decoder<'_> {
    fn corrupt(&self, column: &str, problem: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path.to_path_buf(),
            problem: format!("column `{column}` of {}: {problem}", self.what),
        }
    }

    fn text(&self, column: &str, value: SqlValue) -> Result<String, StoreError> {
        match value {
            SqlValue::Text(text) => Ok(text),
            other => Err(self.corrupt(column, format!("expected text, found {other:?}"))),
        }
    }

    fn opt_text(&self, column: &str, value: SqlValue) -> Result<Option<String>, StoreError> {
        match value {
            SqlValue::Null => Ok(None),
            value => self.text(column, value).map(Some),
        }
    }

    fn int<T: TryFrom<i64>>(&self, column: &str, value: SqlValue) -> Result<T, StoreError> {
        match value {
            SqlValue::Integer(n) => {
                T::try_from(n).map_err(|_| self.corrupt(column, format!("{n} is out of range")))
            }
            other => Err(self.corrupt(column, format!("expected an integer, found {other:?}"))),
        }
    }

    fn opt_int<T: TryFrom<i64>>(
        &self,
        column: &str,
        value: SqlValue,
    ) -> Result<Option<T>, StoreError> {
        match value {
            SqlValue::Null => Ok(None),
            value => self.int(column, value).map(Some),
        }
    }

    fn time(&self, column: &str, value: SqlValue) -> Result<DateTime<Utc>, StoreError> {
        let text = self.text(column, value)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|e| self.corrupt(column, format!("`{text}` is not a timestamp: {e}")))
    }

    fn opt_time(&self, column: &str, value: SqlValue) -> Result<Option<DateTime<Utc>>, StoreError> {
        match value {
            SqlValue::Null => Ok(None),
            value => self.time(column, value).map(Some),
        }
    }

    fn parse<T, E: std::fmt::Display>(
        &self,
        column: &str,
        value: SqlValue,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        let text = self.text(column, value)?;
        parse(&text).map_err(|e| self.corrupt(column, e))
    }
}

/// Decodes a row of the result columns.
pub(crate) fn result_from_row(
    path: &Path,
    row: &Row<'_>,
) -> Result<Result<FlowResult, StoreError>, rusqlite::Error> {
    let [run_id, flow_id, status, output, failure, exit_code, attempts, started_at, finished_at, fingerprint, job_id, stdout_tail, stderr_tail] =
        columns::<13>(row)?;
    let describe = |value: &SqlValue| match value {
        SqlValue::Text(text) => text.clone(),
        other => format!("{other:?}"),
    };
    let mut d = Decoder {
        path,
        what: format!(
            "the result of flow `{}` in run `{}`",
            describe(&flow_id),
            describe(&run_id)
        ),
    };
    let decoded = (|| {
        let run_id = d.parse("run_id", run_id, RunId::parse)?;
        let flow_id = d.parse("flow_id", flow_id, |s| FlowId::new(s))?;
        d.what = format!("the result of flow `{flow_id}` in run `{run_id}`");
        Ok(FlowResult {
            status: d.parse("status", status, str::parse)?,
            output: d.parse("output", output, |s| serde_json::from_str(s))?,
            failure: match failure {
                SqlValue::Null => None,
                value => Some(d.parse("failure", value, |s| serde_json::from_str(s))?),
            },
            exit_code: d.opt_int("exit_code", exit_code)?,
            attempts: d.int("attempts", attempts)?,
            started_at: d.opt_time("started_at", started_at)?,
            finished_at: d.opt_time("finished_at", finished_at)?,
            fingerprint: d
                .opt_text("fingerprint", fingerprint)?
                .map(Fingerprint::from),
            job_id: d.opt_text("job_id", job_id)?,
            stdout_tail: Tail::new(d.text("stdout_tail", stdout_tail)?),
            stderr_tail: Tail::new(d.text("stderr_tail", stderr_tail)?),
            run_id,
            flow_id,
        })
    })();
    Ok(decoded)
}

/// Decodes a row of the run columns.
pub(crate) fn run_from_row(
    path: &Path,
    row: &Row<'_>,
) -> Result<Result<RunRecord, StoreError>, rusqlite::Error> {
    let [run_id, workflow, started_at, finished_at, pending, running, completed, failed, cancelled] =
        columns::<9>(row)?;
    let d = Decoder {
        path,
        what: match &run_id {
            SqlValue::Text(text) => format!("run `{text}`"),
            other => format!("run {other:?}"),
        },
    };
    let decoded = (|| {
        Ok(RunRecord {
            run_id: d.parse("run_id", run_id, RunId::parse)?,
            workflow: d.text("workflow", workflow)?,
            started_at: d.time("started_at", started_at)?,
            finished_at: d.opt_time("finished_at", finished_at)?,
            counts: StatusCounts {
                pending: d.int("pending", pending)?,
                running: d.int("running", running)?,
                completed: d.int("completed", completed)?,
                failed: d.int("failed", failed)?,
                cancelled: d.int("cancelled", cancelled)?,
            },
        })
    })();
    Ok(decoded)
}
