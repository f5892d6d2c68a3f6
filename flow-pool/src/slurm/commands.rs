//! The Slurm command lines: `sbatch` arguments for a job, running a Slurm client program
//! in its own process group, and parsing what `sbatch --parsable` and `squeue` print.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::slurm::config::{SlurmConfig, SlurmResources};
use crate::slurm::state::JobState;
use crate::PoolError;

/// What a Slurm client program printed.
#[derive(Debug)]
pub(crate) struct Output {
    /// Whether it exited with code 0.
    pub(crate) success: bool,
    /// Its stdout.
    pub(crate) stdout: String,
    /// Its stderr.
    pub(crate) stderr: String,
}

/// Runs `program args`, feeding `stdin`, and collects its output. The program gets its own
/// process group, so that a Ctrl-C at the terminal does not interrupt an `sbatch` between
/// submitting a job and printing its id.
///
/// # Errors
/// [`PoolError::Spawn`] when the program cannot be started (Slurm is not installed).
pub(crate) async fn run(
    program: &str,
    args: &[String],
    stdin: Option<&str>,
) -> Result<Output, PoolError> {
    let spawn_error = |source| PoolError::Spawn {
        program: program.to_owned(),
        source,
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(spawn_error)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await.map_err(spawn_error)?;
        drop(pipe);
    }
    let out = child.wait_with_output().await.map_err(spawn_error)?;
    Ok(Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// What one job needs besides the configuration.
#[derive(Debug)]
pub(crate) struct JobRequest<'a> {
    /// The job name: the flow id.
    pub(crate) name: &'a str,
    /// The working directory (absolute).
    pub(crate) cwd: &'a Path,
    /// The stdout file (absolute).
    pub(crate) stdout: &'a Path,
    /// The stderr file (absolute).
    pub(crate) stderr: &'a Path,
    /// The flow's timeout plus grace, if it has one.
    pub(crate) time_limit: Option<Duration>,
    /// The job's `--comment`, which carries the submission's token (see
    /// [`registry::comment`](crate::slurm::registry::comment)).
    pub(crate) comment: &'a str,
}

/// A path for `--output`/`--error`: `%` doubled, since Slurm expands `%j` and friends.
fn slurm_path(path: &Path) -> String {
    path.to_string_lossy().replace('%', "%%")
}

/// `--time` in whole minutes, rounded up (Slurm's unit), at least 1.
pub(crate) fn time_minutes(limit: Duration) -> u64 {
    let secs = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
    secs.div_ceil(60).max(1)
}

/// The `sbatch` arguments of a job: the script comes on stdin.
pub(crate) fn sbatch_args(
    config: &SlurmConfig,
    resources: Option<&SlurmResources>,
    job: &JobRequest<'_>,
) -> Vec<String> {
    let mut args = vec![
        "--parsable".to_owned(),
        format!("--job-name={}", job.name),
        format!("--chdir={}", job.cwd.to_string_lossy()),
        format!("--output={}", slurm_path(job.stdout)),
        format!("--error={}", slurm_path(job.stderr)),
        "--no-requeue".to_owned(),
        format!("--comment={}", job.comment),
    ];
    if let Some(limit) = job.time_limit {
        args.push(format!("--time={}", time_minutes(limit)));
    }
    let partition = resources
        .and_then(|r| r.partition.as_ref())
        .or(config.partition.as_ref());
    if let Some(partition) = partition {
        args.push(format!("--partition={partition}"));
    }
    if let Some(account) = &config.account {
        args.push(format!("--account={account}"));
    }
    if let Some(qos) = &config.qos {
        args.push(format!("--qos={qos}"));
    }
    if let Some(cpus) = resources.and_then(|r| r.cpus) {
        args.push(format!("--cpus-per-task={cpus}"));
    }
    if let Some(mem) = resources.and_then(|r| r.mem.as_ref()) {
        args.push(format!("--mem={mem}"));
    }
    args.extend(config.extra_args.iter().cloned());
    if let Some(resources) = resources {
        args.extend(resources.extra.iter().cloned());
    }
    args
}

/// The job id printed by `sbatch --parsable` (`ID` or `ID;CLUSTER`).
pub(crate) fn parse_job_id(stdout: &str) -> Option<u64> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    line.split(';').next()?.trim().parse().ok()
}

/// Slurm's complaint from a client's stderr: its `error:` lines without the program prefix,
/// joined with `; ` (every line when none says `error:`).
pub(crate) fn complaint(program: &str, stderr: &str) -> String {
    let prefix = format!("{program}: error: ");
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let errors: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    if errors.is_empty() {
        lines.join("; ")
    } else {
        errors.join("; ")
    }
}

/// The `squeue` arguments that list `jobs` in every state, one
/// `ID|STATE|REASON|USED|LIMIT|NODES` line each (`USED`: how long the job has run, Slurm's
/// `%M`; `LIMIT`: its time limit, `%l`).
pub(crate) fn squeue_args(jobs: &[u64]) -> Vec<String> {
    let ids: Vec<String> = jobs.iter().map(u64::to_string).collect();
    vec![
        "--noheader".to_owned(),
        "--states=all".to_owned(),
        format!("--jobs={}", ids.join(",")),
        "--format=%i|%T|%r|%M|%l|%N".to_owned(),
    ]
}

/// The `squeue` arguments that list the jobs named `name` in every state (every job of the
/// user when `name` holds a comma, which `--name` would take for a list), one `ID|COMMENT`
/// line each.
pub(crate) fn squeue_named_args(name: &str) -> Vec<String> {
    let filter = if name.contains(',') || name.is_empty() {
        "--me".to_owned()
    } else {
        format!("--name={name}")
    };
    vec![
        "--noheader".to_owned(),
        "--states=all".to_owned(),
        filter,
        "--format=%i|%k".to_owned(),
    ]
}

/// The id of the job whose comment is `comment` in lines printed with [`squeue_named_args`].
pub(crate) fn job_with_comment(stdout: &str, comment: &str) -> Option<u64> {
    stdout.lines().find_map(|line| {
        let (id, text) = line.trim().split_once('|')?;
        (text.trim() == comment).then(|| id.trim().parse().ok())?
    })
}

/// One line of `squeue`: a job, its state, Slurm's reason, its times and its nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobLine {
    pub(crate) job: u64,
    pub(crate) state: JobState,
    pub(crate) reason: String,
    /// How long it has run, by Slurm's clock (`None` when `squeue` printed no time).
    pub(crate) used: Option<Duration>,
    /// Its time limit (`None` for `UNLIMITED`, or when `squeue` printed none).
    pub(crate) limit: Option<Duration>,
    pub(crate) nodes: String,
}

/// A time as `squeue -o %M` (or `%l`) prints it: `M:SS`, `H:MM:SS` or `D-HH:MM:SS`.
pub(crate) fn parse_used(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (days, clock) = match text.split_once('-') {
        Some((days, clock)) => (days.parse::<u64>().ok()?, clock),
        None => (0, text),
    };
    let mut secs = 0u64;
    let mut fields = 0;
    for field in clock.split(':') {
        secs = secs
            .checked_mul(60)?
            .checked_add(field.parse::<u64>().ok()?)?;
        fields += 1;
    }
    if !(2..=3).contains(&fields) {
        return None;
    }
    Some(Duration::from_secs(
        days.checked_mul(86_400)?.checked_add(secs)?,
    ))
}

/// Parses the lines printed by `squeue` with [`squeue_args`], skipping lines that are not
/// jobs (array or heterogeneous job ids, which this executor never submits).
pub(crate) fn parse_squeue(stdout: &str) -> Vec<JobLine> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields = line.trim().splitn(6, '|');
            let job = fields.next()?.trim().parse().ok()?;
            let state = JobState::parse(fields.next()?);
            let reason = fields.next().unwrap_or("").trim().to_owned();
            let used = fields.next().and_then(parse_used);
            let limit = fields.next().and_then(parse_used);
            let nodes = fields.next().unwrap_or("").trim().to_owned();
            Some(JobLine {
                job,
                state,
                reason,
                used,
                limit,
                nodes,
            })
        })
        .collect()
}

/// Whether `squeue`'s complaint only says that none of the jobs asked for is known (it
/// exits with 1 then, though the answer is simply "none").
pub(crate) fn only_unknown_jobs(stderr: &str) -> bool {
    stderr.contains("Invalid job id specified")
}

/// `path` made absolute against `base`.
pub(crate) fn absolute(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(limit: Option<Duration>) -> JobRequest<'a> {
        JobRequest {
            name: "sort_1",
            cwd: Path::new("/work"),
            stdout: Path::new("/logs/100%/sort_1.out"),
            stderr: Path::new("/logs/100%/sort_1.err"),
            time_limit: limit,
            comment: "flow-submit:t",
        }
    }

    #[test]
    fn sbatch_arguments_carry_the_job_and_the_options() {
        let config = SlurmConfig::new("/state")
            .partition("short")
            .account("lab")
            .qos("normal")
            .extra_args(["--exclusive"]);
        let resources = SlurmResources {
            cpus: Some(2),
            mem: Some("4G".into()),
            partition: Some("long".into()),
            extra: vec!["--gres=gpu:1".into()],
        };
        let args = sbatch_args(
            &config,
            Some(&resources),
            &request(Some(Duration::from_secs(90))),
        );
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=sort_1",
                "--chdir=/work",
                "--output=/logs/100%%/sort_1.out",
                "--error=/logs/100%%/sort_1.err",
                "--no-requeue",
                "--comment=flow-submit:t",
                "--time=2",
                "--partition=long",
                "--account=lab",
                "--qos=normal",
                "--cpus-per-task=2",
                "--mem=4G",
                "--exclusive",
                "--gres=gpu:1",
            ]
        );
        let plain = sbatch_args(&SlurmConfig::new("/s"), None, &request(None));
        assert!(!plain
            .iter()
            .any(|a| a.starts_with("--time") || a.starts_with("--partition")));
    }

    #[test]
    fn time_limits_round_up_to_minutes() {
        assert_eq!(time_minutes(Duration::from_secs(1)), 1);
        assert_eq!(time_minutes(Duration::ZERO), 1);
        assert_eq!(time_minutes(Duration::from_secs(60)), 1);
        assert_eq!(time_minutes(Duration::from_millis(60_500)), 2);
        assert_eq!(time_minutes(Duration::from_secs(61)), 2);
        assert_eq!(time_minutes(Duration::from_secs(3600)), 60);
    }

    #[test]
    fn job_ids_parse() {
        assert_eq!(parse_job_id("123\n"), Some(123));
        assert_eq!(parse_job_id("77;cluster\n"), Some(77));
        assert_eq!(parse_job_id(""), None);
        assert_eq!(parse_job_id("Submitted batch job 5"), None);
    }

    #[test]
    fn complaints_keep_slurms_words() {
        let stderr = "sbatch: error: invalid partition specified: nope\n\
                      sbatch: error: Batch job submission failed: Invalid partition name specified\n";
        assert_eq!(
            complaint("sbatch", stderr),
            "invalid partition specified: nope; Batch job submission failed: Invalid partition \
             name specified"
        );
        assert_eq!(complaint("squeue", "boom\n"), "boom");
    }

    #[test]
    fn used_times_parse() {
        assert_eq!(parse_used("0:00"), Some(Duration::ZERO));
        assert_eq!(parse_used("12:34"), Some(Duration::from_secs(754)));
        assert_eq!(parse_used("1:00:01"), Some(Duration::from_secs(3601)));
        assert_eq!(parse_used("2-01:00:00"), Some(Duration::from_secs(176_400)));
        for bad in ["", "N/A", "INVALID", "5", "1:2:3:4", "x:00"] {
            assert_eq!(parse_used(bad), None, "{bad}");
        }
    }

    #[test]
    fn jobs_are_found_by_their_comment() {
        assert_eq!(
            squeue_named_args("sort_1"),
            [
                "--noheader",
                "--states=all",
                "--name=sort_1",
                "--format=%i|%k"
            ]
        );
        assert_eq!(squeue_named_args("a,b")[2], "--me");
        let out = "10|(null)\n11|flow-submit:other\n12|flow-submit:mine\n";
        assert_eq!(job_with_comment(out, "flow-submit:mine"), Some(12));
        assert_eq!(job_with_comment(out, "flow-submit:gone"), None);
        assert_eq!(job_with_comment("", "flow-submit:mine"), None);
    }

    #[test]
    fn squeue_lines_parse() {
        let lines = parse_squeue(
            "2|FAILED|NonZeroExitCode|0:07|UNLIMITED|vm\n3|RUNNING|None|1:02:03|2:00:00|vm\n\
             4_1|PENDING||0:00|1:00|\n",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].job, 2);
        assert_eq!(lines[0].state, JobState::Failed);
        assert_eq!(lines[0].reason, "NonZeroExitCode");
        assert_eq!(lines[0].used, Some(Duration::from_secs(7)));
        assert_eq!(lines[1].used, Some(Duration::from_secs(3723)));
        assert_eq!(lines[1].nodes, "vm");
        assert_eq!(lines[0].limit, None);
        assert_eq!(lines[1].limit, Some(Duration::from_secs(7200)));
        assert_eq!(
            squeue_args(&[2, 3]),
            [
                "--noheader",
                "--states=all",
                "--jobs=2,3",
                "--format=%i|%T|%r|%M|%l|%N"
            ]
        );
    }
}
