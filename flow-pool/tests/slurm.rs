//! The Slurm executor against a real cluster (start one with `../shared/ci/slurm-up.sh`):
//! exit codes, signals, timeouts (ours and Slurm's), refused submissions, cancellation that
//! leaves nothing in `squeue`, adoption of an earlier process's jobs, and one `squeue` per
//! poll cycle. Each test prints why it skips when `sbatch` is not installed, and fails instead when env `CI` is set.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flow_pool::{
    CancellationToken, CommandEnd, CommandOutcome, CommandSpec, ExistingJobs, JobState, PoolError,
    SlurmConfig, SlurmExecutor, SlurmResources,
};
use tempfile::TempDir;

/// Guard against a hang; no test should get near it.
const GUARD: Duration = Duration::from_secs(120);

fn slurm_available() -> bool {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("sbatch").is_file()))
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "sbatch not found while env CI is set: .ci/run starts a Slurm cluster \
             (../shared/ci/slurm-up.sh) and this test must run there"
        );
        eprintln!("skipping: sbatch not found (start the cluster with ../shared/ci/slurm-up.sh)");
    }
    found
}

/// A unique flow id (= job name) for this test.
fn flow(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

fn executor(dir: &TempDir) -> SlurmExecutor {
    config_executor(SlurmConfig::new(dir.path().join("state")))
}

fn config_executor(config: SlurmConfig) -> SlurmExecutor {
    SlurmExecutor::new(config.poll_interval(Duration::from_millis(100))).unwrap()
}

/// A spec for flow `id` with its logs in `dir`.
fn spec(dir: &TempDir, id: &str, script: &str) -> CommandSpec {
    CommandSpec::shell(script)
        .env("FLOW_ID", id)
        .env("FLOW_RUN_ID", "run-1")
        .stdout_path(dir.path().join(format!("{id}.out")))
        .stderr_path(dir.path().join(format!("{id}.err")))
}

async fn run(
    slurm: &SlurmExecutor,
    spec: &CommandSpec,
    timeout: Option<Duration>,
) -> Result<CommandOutcome, PoolError> {
    tokio::time::timeout(GUARD, slurm.run(spec, timeout, CancellationToken::new()))
        .await
        .expect("the run should end")
}

/// The live (queued, running or completing) jobs among `jobs`, per `squeue`.
fn live_jobs(jobs: &[u64]) -> Vec<String> {
    let ids: Vec<String> = jobs.iter().map(u64::to_string).collect();
    let out = Command::new("squeue")
        .args(["--noheader", "--states=PD,R,CG,S,CF", "--format=%i %T"])
        .arg(format!("--jobs={}", ids.join(",")))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Slurm's state of `job`.
fn job_state(job: u64) -> String {
    let out = Command::new("squeue")
        .args(["--noheader", "--states=all", "--format=%T"])
        .arg(format!("--jobs={job}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits (polling: the job registry is a file) until the executor recorded the job of
/// `flow` (the record is written first without a job id, while `sbatch` runs), and returns
/// its id.
async fn submitted_job(state_dir: &Path, flow: &str) -> u64 {
    let path = state_dir.join("jobs").join(format!("{flow}.json"));
    tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(text) = tokio::fs::read_to_string(&path).await {
                if let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) {
                    if let Some(job) = record["job"].as_u64() {
                        return job;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the job should be submitted")
}

/// Waits (polling `squeue`) until `job` is in `state`.
async fn wait_state(job: u64, state: &str) {
    tokio::time::timeout(GUARD, async {
        while job_state(job) != state {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("job {job} should reach {state}"));
}

#[tokio::test]
async fn a_command_runs_on_the_cluster_with_its_output_in_the_logs() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    let id = flow("ok");
    let spec = spec(
        &dir,
        &id,
        "echo \"hello from $SLURM_JOB_NAME $GREETING\"; echo oops >&2; pwd",
    )
    .env("GREETING", "and 'friends'")
    .cwd(dir.path());
    let outcome = run(&slurm, &spec, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    let expect = format!("hello from {id} and 'friends'\n{}\n", dir.path().display());
    assert_eq!(outcome.stdout_tail, expect);
    assert_eq!(outcome.stderr_tail, "oops\n");
    assert!(outcome.pid > 0, "the job id is reported as pid");
    let log = std::fs::read_to_string(dir.path().join(format!("{id}.out"))).unwrap();
    assert_eq!(log, expect);
    let status = std::fs::read_to_string(dir.path().join(format!("{id}.status"))).unwrap();
    assert_eq!(status, "exit 0\n");
    assert_eq!(slurm.stats().sbatch_calls, 1);
    // The registry entry is gone once the result is taken.
    assert!(!dir.path().join(format!("state/jobs/{id}.json")).exists());
}

/// An executor kept in a static, or shared by tests that each have a runtime, outlives the
/// runtime its poller started in: the next runtime still gets its jobs followed.
#[test]
fn an_executor_serves_one_runtime_after_another() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    for n in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let id = flow(&format!("runtime{n}"));
        let spec = spec(&dir, &id, "echo in runtime $FLOW_ID");
        let outcome = runtime.block_on(run(&slurm, &spec, Some(Duration::from_secs(60))));
        let outcome = outcome.unwrap_or_else(|e| panic!("in runtime {n}: {e}"));
        assert_eq!(outcome.end, CommandEnd::Exited(0), "in runtime {n}");
        assert_eq!(outcome.stdout_tail, format!("in runtime {id}\n"));
    }
}

#[tokio::test]
async fn exit_codes_signals_and_missing_programs_are_reported() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    let failing = spec(&dir, &flow("fail"), "echo bad >&2; exit 3");
    let killed = spec(&dir, &flow("kill"), "kill -9 $$");
    let missing = CommandSpec::argv(["/nonexistent/program"]).env("FLOW_ID", flow("missing"));
    let (failing, killed, missing) = tokio::join!(
        run(&slurm, &failing, None),
        run(&slurm, &killed, None),
        run(&slurm, &missing, None),
    );
    let failing = failing.unwrap();
    assert_eq!(failing.end, CommandEnd::Exited(3));
    assert_eq!(failing.stderr_tail, "bad\n");
    assert_eq!(killed.unwrap().end, CommandEnd::Signaled(9));
    match missing {
        Err(PoolError::Spawn { program, source }) => {
            assert_eq!(program, "/nonexistent/program");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

#[tokio::test]
async fn our_timeout_cancels_the_job() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    let spec = spec(&dir, &flow("late"), "echo started; sleep 60");
    let outcome = run(&slurm, &spec, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::TimedOut(Duration::from_secs(1)));
    let job = u64::from(outcome.pid);
    assert!(live_jobs(&[job]).is_empty(), "job {job} should be gone");
    assert_eq!(job_state(job), "CANCELLED");
    assert!(slurm.stats().scancel_calls >= 1);
}

#[tokio::test]
async fn slurms_own_time_limit_is_named_as_slurms_not_as_a_flow_timeout() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    let id = flow("slurm-limit");
    let spec = spec(&dir, &id, "sleep 300");
    let state_dir = dir.path().join("state");
    let running = run(&slurm, &spec, None);
    let shorten = async {
        let job = submitted_job(&state_dir, &id).await;
        wait_state(job, "RUNNING").await;
        // Slurm counts limits in minutes; a limit of 0 makes the controller end the job
        // with TIMEOUT at its next time-limit check (root or operator only).
        let out = Command::new("scontrol")
            .args(["update", &format!("JobId={job}"), "TimeLimit=0"])
            .output()
            .unwrap();
        out.status.success()
    };
    let (outcome, shortened) = tokio::join!(running, shorten);
    if !shortened {
        eprintln!("skipping the TIMEOUT check: `scontrol update` needs root");
        return;
    }
    // The flow has no timeout: Slurm's limit ended it, and the error says so.
    let Err(PoolError::SlurmJob {
        job,
        state: Some(JobState::Timeout),
        problem,
        ..
    }) = outcome
    else {
        panic!("{outcome:?}");
    };
    assert!(
        problem
            .starts_with("was stopped by Slurm at its time limit of 0:00:00 (Slurm state TIMEOUT)"),
        "{problem}"
    );
    assert!(problem.contains("the flow has none"), "{problem}");
    assert_eq!(job_state(job), "TIMEOUT");
}

#[tokio::test]
async fn refused_submissions_name_slurms_message() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bad_partition = flow("bad-partition");
    let impossible = flow("impossible");
    let slurm = config_executor(
        SlurmConfig::new(dir.path().join("state"))
            .flow(
                &bad_partition,
                SlurmResources {
                    partition: Some("no-such-partition".into()),
                    ..SlurmResources::default()
                },
            )
            .flow(
                &impossible,
                SlurmResources {
                    mem: Some("100T".into()),
                    ..SlurmResources::default()
                },
            ),
    );
    let error = run(&slurm, &spec(&dir, &bad_partition, "true"), None)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PoolError::SlurmSubmit { .. }), "{error:?}");
    assert!(text.contains(&bad_partition), "{text}");
    assert!(text.contains("invalid partition"), "{text}");
    let error = run(&slurm, &spec(&dir, &impossible, "true"), None)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("sbatch refused the job of flow"), "{text}");
    assert!(
        text.contains("Memory specification can not be satisfied"),
        "{text}"
    );
}

#[tokio::test]
async fn cancelling_stops_queued_and_running_jobs() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let queued = flow("queued");
    let slurm = config_executor(SlurmConfig::new(dir.path().join("state")).flow(
        &queued,
        SlurmResources {
            extra: vec!["--begin=now+1hour".into()],
            ..SlurmResources::default()
        },
    ));
    let state_dir = dir.path().join("state");
    let cancel = CancellationToken::new();
    let ids = [flow("running-a"), flow("running-b"), queued.clone()];
    let specs: Vec<CommandSpec> = ids.iter().map(|id| spec(&dir, id, "sleep 60")).collect();
    let runs = futures::future::join_all(
        specs
            .iter()
            .map(|spec| slurm.run(spec, None, cancel.clone())),
    );
    let cancel_when_started = async {
        let mut jobs = Vec::new();
        for id in &ids {
            jobs.push(submitted_job(&state_dir, id).await);
        }
        wait_state(jobs[0], "RUNNING").await;
        wait_state(jobs[1], "RUNNING").await;
        assert_eq!(job_state(jobs[2]), "PENDING");
        cancel.cancel();
        jobs
    };
    let (outcomes, jobs) =
        tokio::time::timeout(GUARD, async { tokio::join!(runs, cancel_when_started) })
            .await
            .unwrap();
    for outcome in outcomes {
        assert_eq!(outcome.unwrap().end, CommandEnd::Cancelled);
    }
    assert!(live_jobs(&jobs).is_empty(), "left: {:?}", live_jobs(&jobs));
    for job in jobs {
        assert_eq!(job_state(job), "CANCELLED");
    }
    // The three cancellations went out together.
    assert_eq!(slurm.stats().scancel_calls, 1);
}

#[tokio::test]
async fn cancel_all_leaves_nothing_behind_and_refuses_new_runs() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    let state_dir = dir.path().join("state");
    let ids = [flow("all-a"), flow("all-b")];
    let specs: Vec<CommandSpec> = ids.iter().map(|id| spec(&dir, id, "sleep 60")).collect();
    // Runs that are dropped (as a scheduler that exits would) rather than cancelled.
    let runs = futures::future::join_all(
        specs
            .iter()
            .map(|spec| slurm.run(spec, None, CancellationToken::new())),
    );
    let jobs = tokio::select! {
        _ = runs => panic!("the jobs sleep for a minute"),
        jobs = async {
            let mut jobs = Vec::new();
            for id in &ids {
                jobs.push(submitted_job(&state_dir, id).await);
            }
            jobs
        } => jobs,
    };
    tokio::time::timeout(GUARD, slurm.cancel_all())
        .await
        .unwrap();
    assert!(live_jobs(&jobs).is_empty(), "left: {:?}", live_jobs(&jobs));
    let late = run(&slurm, &spec(&dir, &flow("all-late"), "true"), None)
        .await
        .unwrap();
    assert_eq!(late.end, CommandEnd::Cancelled);
    assert_eq!(slurm.stats().sbatch_calls, 2);
}

#[tokio::test]
async fn a_resumed_executor_adopts_jobs_instead_of_submitting_them_again() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let first = executor(&dir);
    let running = flow("adopt-running");
    let finished = flow("adopt-finished");
    let changed = flow("adopt-changed");
    let gate = dir.path().join("gate");
    let wait_for_gate = format!(
        "echo started; while [ ! -e '{}' ]; do sleep 0.1; done; echo done",
        gate.display()
    );
    let specs = [
        spec(&dir, &running, &wait_for_gate),
        spec(&dir, &finished, "echo finished; exit 4"),
        spec(&dir, &changed, "echo old"),
    ];
    // The first process "dies": its runs are forgotten, so nothing cancels their jobs.
    let mut jobs = Vec::new();
    for (spec, id) in specs.iter().zip([&running, &finished, &changed]) {
        let fut = Box::pin(first.run(spec, None, CancellationToken::new()));
        let mut fut = fut;
        tokio::select! {
            biased;
            _ = &mut fut => panic!("the run should still be waiting"),
            job = submitted_job(&state_dir, id) => jobs.push(job),
        }
        std::mem::forget(fut);
    }
    wait_state(jobs[1], "FAILED").await;

    let resumed = config_executor(SlurmConfig::new(&state_dir).existing_jobs(ExistingJobs::Adopt));
    let new_logs = tempfile::tempdir().unwrap();
    let adopt_running = spec(&new_logs, &running, &wait_for_gate).env("FLOW_RUN_ID", "run-2");
    let adopt_finished =
        spec(&new_logs, &finished, "echo finished; exit 4").env("FLOW_RUN_ID", "run-2");
    let resubmit = spec(&new_logs, &changed, "echo new");
    let open_gate = async {
        wait_state(jobs[0], "RUNNING").await;
        std::fs::write(&gate, "").unwrap();
    };
    let (a, b, c, ()) = tokio::join!(
        run(&resumed, &adopt_running, None),
        run(&resumed, &adopt_finished, None),
        run(&resumed, &resubmit, None),
        open_gate,
    );
    let a = a.unwrap();
    assert_eq!(a.end, CommandEnd::Exited(0));
    assert_eq!(u64::from(a.pid), jobs[0], "the running job was adopted");
    assert_eq!(a.stdout_tail, "started\ndone\n");
    // The adopted job's output is copied to the new run's log.
    let log = std::fs::read_to_string(new_logs.path().join(format!("{running}.out"))).unwrap();
    assert_eq!(log, "started\ndone\n");
    let b = b.unwrap();
    assert_eq!((b.end, u64::from(b.pid)), (CommandEnd::Exited(4), jobs[1]));
    assert_eq!(b.stdout_tail, "finished\n");
    let c = c.unwrap();
    assert_ne!(
        u64::from(c.pid),
        jobs[2],
        "a changed command is submitted anew"
    );
    assert_eq!(c.stdout_tail, "new\n");
    assert_eq!(resumed.stats().sbatch_calls, 1);
}

#[tokio::test]
async fn one_squeue_call_per_poll_cycle_covers_all_jobs() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    let specs: Vec<CommandSpec> = (0..12)
        .map(|i| spec(&dir, &flow(&format!("many-{i}")), &format!("exit {i}")))
        .collect();
    let outcomes = tokio::time::timeout(
        GUARD,
        futures::future::join_all(
            specs
                .iter()
                .map(|s| slurm.run(s, None, CancellationToken::new())),
        ),
    )
    .await
    .unwrap();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        assert_eq!(outcome.unwrap().end, CommandEnd::Exited(i as i32));
    }
    let stats = slurm.stats();
    assert_eq!(stats.sbatch_calls, 12);
    assert!(stats.squeue_calls <= stats.poll_cycles, "{stats:?}");
    assert!(stats.max_jobs_per_poll > 1, "{stats:?}");
    assert_eq!(stats.scancel_calls, 0);
}

#[tokio::test]
async fn a_missing_working_directory_is_refused_before_submitting() {
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    let spec = spec(&dir, &flow("nowhere"), "true").cwd(dir.path().join("gone"));
    let error = run(&slurm, &spec, None).await.unwrap_err();
    assert!(matches!(error, PoolError::Spawn { .. }), "{error:?}");
    assert!(error.to_string().contains("gone"), "{error}");
    assert_eq!(slurm.stats().sbatch_calls, 0);
}

#[test]
fn end_states_read_as_words() {
    let error = PoolError::SlurmJob {
        flow: "align".into(),
        job: 7,
        state: Some(JobState::OutOfMemory),
        problem: JobState::OutOfMemory.problem("n1").unwrap(),
    };
    assert_eq!(
        error.to_string(),
        "Slurm job 7 of flow `align` ran out of memory on n1 and was killed (Slurm state \
         OUT_OF_MEMORY): ask for more with the flow's `slurm = { mem = ... }`"
    );
}

#[tokio::test]
async fn a_fresh_run_cancels_the_job_an_earlier_dead_run_left_behind() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let first = executor(&dir);
    let id = flow("stale");
    let stale = spec(&dir, &id, "sleep 60");
    let mut fut = Box::pin(first.run(&stale, None, CancellationToken::new()));
    let old_job = tokio::select! {
        biased;
        _ = &mut fut => panic!("the run should still be waiting"),
        job = submitted_job(&state_dir, &id) => job,
    };
    std::mem::forget(fut);

    let fresh = executor(&dir);
    let outcome = run(&fresh, &spec(&dir, &id, "echo new"), None)
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_ne!(u64::from(outcome.pid), old_job);
    assert!(live_jobs(&[old_job]).is_empty(), "the stale job survived");
    assert_eq!(job_state(old_job), "CANCELLED");
}

#[tokio::test]
async fn a_job_that_cannot_open_its_logs_names_them() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slurm = executor(&dir);
    let id = flow("no-logs");

    // A missing log folder is made, as for a local command.
    let made = dir.path().join("made/here");
    let spec = CommandSpec::argv(["true"])
        .env("FLOW_ID", &id)
        .stdout_path(made.join("x.out"))
        .stderr_path(made.join("x.err"));
    let outcome = run(&slurm, &spec, None).await.unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert!(made.is_dir());

    // A log path Slurm cannot open (here: a folder) fails the job, naming the file.
    let taken = dir.path().join("taken.out");
    std::fs::create_dir(&taken).unwrap();
    let spec = CommandSpec::argv(["true"])
        .env("FLOW_ID", &id)
        .stdout_path(&taken)
        .stderr_path(dir.path().join("taken.err"));
    let error = run(&slurm, &spec, None).await.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(
            error,
            PoolError::SlurmJob {
                state: Some(JobState::Failed),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        text.contains("taken.out") && text.contains("writable"),
        "{text}"
    );

    // A folder that cannot be made is an error before anything is submitted.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let spec = CommandSpec::argv(["true"])
        .env("FLOW_ID", &id)
        .stdout_path(file.join("x.out"));
    let error = run(&slurm, &spec, None).await.unwrap_err();
    assert!(
        matches!(error, PoolError::SlurmFile { ref path, .. } if path == &file),
        "{error:?}"
    );
}

#[tokio::test]
async fn workflow_and_flow_options_reach_the_job() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let id = flow("resources");
    let slurm = config_executor(
        SlurmConfig::new(dir.path().join("state"))
            .partition("debug")
            .extra_args(["--comment=flow-test"])
            .flow(
                &id,
                SlurmResources {
                    cpus: Some(2),
                    mem: Some("100M".into()),
                    extra: vec!["--nice=10".into()],
                    ..SlurmResources::default()
                },
            ),
    );
    let spec = spec(
        &dir,
        &id,
        "echo \"$SLURM_CPUS_PER_TASK $SLURM_MEM_PER_NODE $SLURM_JOB_PARTITION\"",
    );
    let outcome = run(&slurm, &spec, Some(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_eq!(outcome.stdout_tail, "2 100 debug\n");
    let out = Command::new("squeue")
        .args(["--noheader", "--states=all", "--format=%k|%l|%y"])
        .arg(format!("--jobs={}", outcome.pid))
        .output()
        .unwrap();
    // The comment, a one-minute limit (30 s timeout + 5 s grace, rounded up) and the nice.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "flow-test|1:00|10"
    );
}

/// The ids of the jobs named `name`, in every state.
fn jobs_named(name: &str) -> Vec<u64> {
    let out = Command::new("squeue")
        .args(["--noheader", "--states=all", "--format=%i"])
        .arg(format!("--name={name}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[tokio::test]
async fn a_submission_whose_id_was_never_recorded_is_adopted_by_its_token() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let id = flow("unrecorded");
    let the_spec = spec(&dir, &id, "echo from flow");
    // A first process submits the flow's job and "dies"; its record gives what a record
    // written just before `sbatch` holds (the hash of the command and the job's files).
    let first = executor(&dir);
    let mut fut = Box::pin(first.run(&the_spec, None, CancellationToken::new()));
    let first_job = tokio::select! {
        biased;
        _ = &mut fut => panic!("the run should still be waiting"),
        job = submitted_job(&state_dir, &id) => job,
    };
    std::mem::forget(fut);
    let record_path = state_dir.join("jobs").join(format!("{id}.json"));
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
    assert!(record["token"].is_string(), "{record}");
    assert!(Command::new("scancel")
        .arg(first_job.to_string())
        .status()
        .unwrap()
        .success());

    // A `flow` killed while its `sbatch` ran: the record has the submission's token and no
    // job id, and that `sbatch` (here slow to start) submits the job only after the resumed
    // run looked at the record. The job writes the status file, as the wrapper does.
    let token = format!("unrecorded-{}", std::process::id());
    record["job"] = serde_json::Value::Null;
    record["token"] = token.clone().into();
    std::fs::write(&record_path, record.to_string()).unwrap();
    let status = record["status"].as_str().unwrap().to_owned();
    let stdout = record["stdout"].as_str().unwrap().to_owned();
    let late_sbatch = Command::new("sh")
        .args(["-c", "sleep 1; exec sbatch \"$@\"", "sh", "--parsable"])
        .arg(format!("--job-name={id}"))
        .arg(format!("--comment=flow-submit:{token}"))
        .arg(format!("--output={stdout}"))
        .arg(format!("--wrap=echo adopted; echo 'exit 0' > '{status}'"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    let resumed = config_executor(SlurmConfig::new(&state_dir).existing_jobs(ExistingJobs::Adopt));
    let outcome = run(
        &resumed,
        &the_spec.clone().env("FLOW_RUN_ID", "run-2"),
        None,
    )
    .await
    .unwrap();
    let late = late_sbatch.wait_with_output().unwrap();
    assert!(late.status.success());
    let late_job: u64 = String::from_utf8_lossy(&late.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_eq!(u64::from(outcome.pid), late_job, "the late job was adopted");
    assert_eq!(outcome.stdout_tail, "adopted\n");
    assert_eq!(
        resumed.stats().sbatch_calls,
        0,
        "nothing was submitted again"
    );
    let mut named = jobs_named(&id);
    named.sort_unstable();
    assert_eq!(named, [first_job, late_job]);
    assert!(
        !record_path.exists(),
        "the record is removed once the job ended"
    );
}

#[tokio::test]
async fn a_job_that_can_never_start_fails_with_slurms_reason_and_is_cancelled() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let id = flow("never");
    let state_dir = dir.path().join("state");
    let slurm = config_executor(SlurmConfig::new(&state_dir).flow(
        &id,
        SlurmResources {
            cpus: Some(4096),
            ..SlurmResources::default()
        },
    ));
    let the_spec = spec(&dir, &id, "echo never");
    let (result, job) = tokio::join!(
        run(&slurm, &the_spec, Some(Duration::from_secs(60))),
        submitted_job(&state_dir, &id)
    );
    let error = result.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, PoolError::SlurmJob { job: j, .. } if j == job),
        "{error:?}"
    );
    assert!(text.contains(&format!("flow `{id}`")), "{text}");
    assert!(text.contains("can never start"), "{text}");
    assert!(text.contains("PartitionConfig"), "{text}");
    assert!(live_jobs(&[job]).is_empty(), "the job was left queued");
}

/// How long `job` has run, by Slurm's clock (`squeue %M`).
fn used(job: u64) -> Duration {
    let out = Command::new("squeue")
        .args(["--noheader", "--states=all", "--format=%M"])
        .arg(format!("--jobs={job}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let secs = text
        .split(':')
        .try_fold(0u64, |acc, f| f.parse::<u64>().map(|v| acc * 60 + v));
    Duration::from_secs(secs.unwrap_or(0))
}

#[tokio::test]
async fn an_adopted_job_keeps_the_time_it_ran_before_the_resume() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let id = flow("adopted-clock");
    let the_spec = spec(&dir, &id, "sleep 100");
    let first = executor(&dir);
    let mut fut = Box::pin(first.run(&the_spec, None, CancellationToken::new()));
    let job = tokio::select! {
        biased;
        _ = &mut fut => panic!("the run should still be waiting"),
        job = submitted_job(&state_dir, &id) => job,
    };
    std::mem::forget(fut);
    // Slurm's clock of the job passes the timeout the resumed run will give it.
    let limit = Duration::from_secs(3);
    tokio::time::timeout(GUARD, async {
        while used(job) <= limit {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the job should run");

    let resumed = config_executor(SlurmConfig::new(&state_dir).existing_jobs(ExistingJobs::Adopt));
    let adopted_at = std::time::Instant::now();
    let outcome = run(&resumed, &the_spec, Some(limit)).await.unwrap();
    assert_eq!(u64::from(outcome.pid), job, "the job was adopted");
    assert_eq!(outcome.end, CommandEnd::TimedOut(limit));
    assert!(
        adopted_at.elapsed() < limit,
        "the timeout counted from the resume: {:?}",
        adopted_at.elapsed()
    );
    assert!(
        outcome.duration > limit,
        "the duration counts from the job's start: {:?}",
        outcome.duration
    );
    assert!(live_jobs(&[job]).is_empty(), "the timed-out job was left");
}

#[tokio::test]
async fn a_held_job_is_queued_not_running_until_released() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let id = flow("held");
    let slurm = config_executor(SlurmConfig::new(&state_dir).flow(
        &id,
        SlurmResources {
            extra: vec!["--hold".into()],
            ..SlurmResources::default()
        },
    ));
    let gate = dir.path().join("gate");
    let the_spec = spec(
        &dir,
        &id,
        &format!(
            "while [ ! -e '{}' ]; do sleep 0.1; done; echo ran",
            gate.display()
        ),
    );
    let mut queued = slurm.queued_flows();
    let mut held = slurm.held_jobs();
    let follow = async {
        let job = submitted_job(&state_dir, &id).await;
        wait_state(job, "PENDING").await;
        assert!(
            queued.borrow_and_update().contains(&id),
            "a held job is queued"
        );
        // Told as held, with its flow and Slurm's reason, for the program to show.
        let shown = tokio::time::timeout(GUARD, held.wait_for(|jobs| jobs.contains_key(&job)))
            .await
            .expect("the job should be shown as held")
            .unwrap()[&job]
            .clone();
        assert_eq!(
            (shown.flow.as_str(), shown.reason.as_str()),
            (id.as_str(), "JobHeldUser")
        );
        let released = Command::new("scontrol")
            .args(["release", &job.to_string()])
            .status()
            .unwrap();
        assert!(released.success());
        tokio::time::timeout(GUARD, queued.wait_for(|flows| !flows.contains(&id)))
            .await
            .expect("the flow should leave the queued set")
            .unwrap();
        assert_eq!(job_state(job), "RUNNING", "it left the set when it started");
        std::fs::write(&gate, "").unwrap();
    };
    let (outcome, ()) = tokio::join!(run(&slurm, &the_spec, None), follow);
    let outcome = outcome.unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_eq!(outcome.stdout_tail, "ran\n");
    assert!(slurm.queued_flows().borrow().is_empty());
    assert!(slurm.held_jobs().borrow().is_empty(), "released");
}
