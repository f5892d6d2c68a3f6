//! The job registry: one small file per flow in the state directory naming the job last
//! submitted for it, with a hash of what it runs. It is written twice: just before `sbatch`
//! runs, with the submission's token (the job's `--comment`) and no job id, and again with
//! the id once `sbatch` answers. A resumed run reads it to adopt the job instead of
//! submitting it again; a record without an id is resolved by its token (`adopt.rs`), so a
//! `flow` killed while `sbatch` was running loses track of no job.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::command::{CommandSpec, EnvChange, EnvChanges};
use crate::slurm::config::{SlurmConfig, SlurmResources};
use crate::PoolError;

/// The environment variable holding the run id, which changes on resume and so is left out
/// of the hash.
const RUN_ID_VAR: &str = "FLOW_RUN_ID";

/// The environment variable holding the attempt number (set by the scheduler).
const ATTEMPT_VAR: &str = "FLOW_ATTEMPT";

/// The attempt `spec` runs (its last `FLOW_ATTEMPT`), if it says.
pub(crate) fn attempt_of(spec: &CommandSpec) -> Option<u32> {
    spec.env
        .changes
        .iter()
        .rev()
        .find_map(|change| match change {
            EnvChange::Set(key, value) if key == ATTEMPT_VAR => value.parse().ok(),
            _ => None,
        })
}

/// `spec` as attempt `attempt` of its flow would run it (its last `FLOW_ATTEMPT` set to
/// that, in its place); `None` when `spec` sets no `FLOW_ATTEMPT`.
pub(crate) fn with_attempt(spec: &CommandSpec, attempt: u32) -> Option<CommandSpec> {
    let mut spec = spec.clone();
    let change = (spec.env.changes.iter_mut().rev())
        .find(|change| matches!(change, EnvChange::Set(key, _) if key == ATTEMPT_VAR))?;
    *change = EnvChange::Set(ATTEMPT_VAR.to_owned(), attempt.to_string());
    Some(spec)
}

/// The registry entry of a flow's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    /// The flow (`FLOW_ID`, the job's name); records written before flows were kept have
    /// none, and their file name stands for it.
    #[serde(default)]
    pub(crate) flow: Option<String>,
    /// The Slurm job id; `None` while `sbatch` has not answered.
    pub(crate) job: Option<u64>,
    /// The submission's token, also in the job's `--comment` (see [`comment`]); records
    /// written before tokens existed have none.
    #[serde(default)]
    pub(crate) token: Option<String>,
    /// The attempt it runs (`FLOW_ATTEMPT`), so that a resumed run adopts the job of any
    /// attempt; records written before attempts were kept have none.
    #[serde(default)]
    pub(crate) attempt: Option<u32>,
    /// [`spec_hash`] of what it runs, in hex.
    pub(crate) spec_hash: String,
    /// Its status file.
    pub(crate) status: PathBuf,
    /// Its stdout file.
    pub(crate) stdout: PathBuf,
    /// Its stderr file.
    pub(crate) stderr: PathBuf,
}

/// The prefix of the `--comment` that carries a submission's token.
const COMMENT_PREFIX: &str = "flow-submit:";

/// The `--comment` of the job submitted with `token`.
pub(crate) fn comment(token: &str) -> String {
    format!("{COMMENT_PREFIX}{token}")
}

/// A token no other submission has: this process, the time, and a counter.
pub(crate) fn new_token() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// The records in the registry folder `records`, sorted by file name; none when the folder
/// cannot be read (a registry never made).
pub(crate) fn records_in(records: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(records) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = (entries.flatten())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
}

/// The registry file of `flow` in `state_dir`.
pub(crate) fn record_path(state_dir: &Path, flow: &str) -> PathBuf {
    state_dir
        .join("jobs")
        .join(format!("{}.json", file_stem(flow)))
}

/// `flow` as a file name: anything but ASCII letters, digits, `.`, `-` and `_` becomes `_`.
pub(crate) fn file_stem(flow: &str) -> String {
    let stem: String = flow
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match stem.as_str() {
        "" | "." | ".." => format!("flow{stem}"),
        _ => stem,
    }
}

/// Writes `record` to `path` atomically (a temporary file renamed over it).
///
/// # Errors
/// [`PoolError::SlurmFile`] naming the file.
pub(crate) async fn write(path: &Path, record: &JobRecord) -> Result<(), PoolError> {
    let file_error = |source| PoolError::SlurmFile {
        path: path.to_owned(),
        source,
    };
    let text = serde_json::to_vec(record).map_err(|e| file_error(std::io::Error::other(e)))?;
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, text).await.map_err(file_error)?;
    tokio::fs::rename(&tmp, path).await.map_err(file_error)
}

/// The record at `path`, if there is a readable one.
pub(crate) async fn read(path: &Path) -> Option<JobRecord> {
    let text = tokio::fs::read(path).await.ok()?;
    match serde_json::from_slice(&text) {
        Ok(record) => Some(record),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring an unreadable job record");
            None
        }
    }
}

/// The record at `path`, if there is a readable one, read without a runtime.
pub(crate) fn read_now(path: &Path) -> Option<JobRecord> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Removes the record at `path`, if any.
pub(crate) async fn remove(path: &Path) {
    if let Err(error) = tokio::fs::remove_file(path).await {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), %error, "could not remove a job record");
        }
    }
}

/// What decides whether an old job runs the same thing: program, environment (without the
/// run id), working directory and what is asked of the cluster. Output paths are left out:
/// they name the run.
#[derive(Serialize)]
struct Identity<'a> {
    program: &'a crate::command::Program,
    env: EnvChanges,
    cwd: Option<&'a Path>,
    resources: Option<&'a SlurmResources>,
    partition: Option<&'a str>,
    account: Option<&'a str>,
    qos: Option<&'a str>,
    extra_args: &'a [String],
}

/// A stable hash (XXH3-64 of its JSON, in hex) of what `spec` runs and asks of the cluster.
/// The job registry on disk keeps it: a change of algorithm makes a resumed run submit its
/// jobs again instead of adopting them.
pub(crate) fn spec_hash(
    spec: &CommandSpec,
    resources: Option<&SlurmResources>,
    config: &SlurmConfig,
) -> String {
    let changes = spec
        .env
        .changes
        .iter()
        .filter(|change| match change {
            EnvChange::Set(key, _) | EnvChange::SetOs(key, _) | EnvChange::Remove(key) => {
                key != RUN_ID_VAR
            }
        })
        .cloned()
        .collect();
    let identity = Identity {
        program: &spec.program,
        env: EnvChanges {
            base: spec.env.base,
            changes,
        },
        cwd: spec.cwd.as_deref(),
        resources,
        partition: config.partition.as_deref(),
        account: config.account.as_deref(),
        qos: config.qos.as_deref(),
        extra_args: &config.extra_args,
    };
    let bytes = serde_json::to_vec(&identity).unwrap_or_default();
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_ignores_the_run_and_the_output_paths() {
        let config = SlurmConfig::new("/s");
        let a = CommandSpec::shell("make")
            .env("FLOW_ID", "build")
            .env("FLOW_RUN_ID", "run-1")
            .stdout_path("/logs/run-1/build.out");
        let b = CommandSpec::shell("make")
            .env("FLOW_ID", "build")
            .env("FLOW_RUN_ID", "run-2")
            .stdout_path("/logs/run-2/build.out");
        assert_eq!(spec_hash(&a, None, &config), spec_hash(&b, None, &config));
        let other = CommandSpec::shell("make install").env("FLOW_ID", "build");
        assert_ne!(
            spec_hash(&a, None, &config),
            spec_hash(&other, None, &config)
        );
        let more = SlurmResources {
            cpus: Some(8),
            ..SlurmResources::default()
        };
        assert_ne!(
            spec_hash(&a, None, &config),
            spec_hash(&a, Some(&more), &config)
        );
        assert_eq!(spec_hash(&a, None, &config).len(), 16);
    }

    #[test]
    fn the_hash_of_another_attempt_is_that_attempts_own() {
        let config = SlurmConfig::new("/s");
        let at = |n: &str| {
            CommandSpec::shell("make")
                .env("FLOW_ID", "build")
                .env("FLOW_ATTEMPT", n)
                .env("X", "1")
        };
        let (first, second) = (at("1"), at("2"));
        assert_eq!(
            (attempt_of(&first), attempt_of(&second)),
            (Some(1), Some(2))
        );
        assert_ne!(
            spec_hash(&first, None, &config),
            spec_hash(&second, None, &config)
        );
        let as_second = with_attempt(&first, 2).unwrap();
        assert_eq!(
            spec_hash(&as_second, None, &config),
            spec_hash(&second, None, &config)
        );
        assert!(with_attempt(&CommandSpec::shell("make"), 2).is_none());
    }

    #[test]
    fn flow_ids_become_safe_file_names() {
        assert_eq!(file_stem("sort_1"), "sort_1");
        assert_eq!(file_stem("a/b c"), "a_b_c");
        assert_eq!(file_stem(".."), "flow..");
        assert_eq!(file_stem(""), "flow");
    }

    #[tokio::test]
    async fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        let record = JobRecord {
            flow: Some("x".into()),
            job: Some(42),
            token: Some("1-2-3".into()),
            attempt: Some(2),
            spec_hash: "00ff".into(),
            status: "/l/x.status".into(),
            stdout: "/l/x.out".into(),
            stderr: "/l/x.err".into(),
        };
        assert_eq!(read(&path).await, None);
        write(&path, &record).await.unwrap();
        assert_eq!(read(&path).await, Some(record));
        remove(&path).await;
        assert_eq!(read(&path).await, None);
        tokio::fs::write(&path, "not json").await.unwrap();
        assert_eq!(read(&path).await, None);
        // A record of an earlier version (no token) still reads.
        let old = r#"{"job":7,"spec_hash":"ab","status":"/s","stdout":"/o","stderr":"/e"}"#;
        tokio::fs::write(&path, old).await.unwrap();
        let record = read(&path).await.unwrap();
        assert_eq!(
            (record.job, record.token, record.flow),
            (Some(7), None, None)
        );
    }

    #[test]
    fn tokens_differ_and_ride_in_the_comment() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
        assert_eq!(comment("x"), "flow-submit:x");
    }
}
