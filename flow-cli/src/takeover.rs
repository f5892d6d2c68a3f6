//! Taking over from a run whose `flow run` died. Its watchdog ([`crate::watchdog`]) kills what
//! it left running; but a watchdog can die with its run (`kill -9` of both, the machine's
//! out-of-memory killer), and then the dead run's commands run on, beside the commands of the
//! next run, writing the same files. So a local `flow run` that takes over the workflow's lock
//! looks for the processes of the run that held it last, and of the workflow's latest run when
//! it reads it for `--resume`, if that run never recorded its end; it stops them (SIGTERM, the
//! flow's `kill_grace`, SIGKILL, as a stopped flow is) before it starts anything, and says so
//! on one line (and, as it starts to wait, on another). Meanwhile stop signals are held
//! ([`crate::signals`]: the run then starts nothing; one is answered at once, and a second
//! kills the processes without waiting out their grace: [`signals::Acknowledge`]), and the
//! lock file still names the run that held it last
//! ([`crate::run_lock::acquire_keeping_holder`]): a `flow run` killed before it is done leaves
//! that run for the next one to find.
//!
//! It stops them only once that run's `flow run` is gone ([`crate::liveness`]): a copy of the
//! folder (`cp -a`, a tar archive unpacked) holds the lock file and the store of a run that goes
//! on in the original, unlocked and without an end, and that run's commands are not this run's
//! to stop. So the process the lock file (or the run's `flow.pid`) names must be dead, or have
//! started after the run began (its id was reused), and no process of the run may descend from
//! a live `flow` that started before it.
//!
//! A run that recorded its end is left alone: what its flows started in the background and left
//! running is theirs to keep. A run under `--executor slurm` looks too (the dead run may have
//! run its commands here), and both leave alone the processes of Slurm jobs: a dead
//! run's jobs are the cluster's, which a `--resume` under Slurm adopts, and a run here cancels
//! through Slurm.

use flow_results::{ResultStore, RunId, RunRecord};

use crate::liveness::{Evidence, Lock};
use crate::run_lock::RunLock;
use crate::sweep::{find_where, kill_where, longest_grace, stop, Found};
use crate::workflow::Workflow;
use crate::{signals, terminal};

/// How many of the processes found the warning names; it counts the others.
const NAMED: usize = 4;
/// How many characters of a process's command line the warning shows.
const COMMAND_CHARS: usize = 80;

/// Stops whatever the runs of `wf` whose `flow run` died left running: the last holder of
/// `lock` and `latest`, the workflow's latest run in the store (if read), each if the store
/// holds it without an end and its `flow run` is gone. Warns once per run that left something.
pub fn stop_left_over(
    lock: Option<&RunLock>,
    latest: Option<&RunRecord>,
    store: &dyn ResultStore,
    wf: &Workflow,
) {
    let previous = lock.and_then(RunLock::previous);
    let mut unended: Vec<(RunRecord, Option<u32>)> = Vec::new();
    if let Some(holder) = previous {
        if let Ok(run) = RunId::parse(&holder.run) {
            match store.run(&run) {
                Ok(Some(record)) if record.finished_at.is_none() => {
                    unended.push((record, Some(holder.pid)));
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "cannot tell whether run {run} ended");
                }
            }
        }
    }
    if let Some(record) = latest {
        if record.finished_at.is_none() && unended.iter().all(|(r, _)| r.run_id != record.run_id) {
            unended.push((record.clone(), None));
        }
    }
    for (record, pid) in unended {
        let run = &record.run_id;
        let marked = outside_slurm_jobs(crate::watchdog::of_run(run.as_str()));
        let found = find_where(&marked);
        if found.is_empty() {
            continue;
        }
        let noted = crate::logs::writer(&crate::logs::run_dir(
            &crate::commands::run::logs_root(wf),
            run.as_str(),
        ));
        let evidence = Evidence {
            // The lock this run took tells nothing: the run it names may hold another file.
            lock: Lock::Unknown,
            pids: pid.into_iter().chain(noted).collect(),
            started: Some(record.started_at),
            processes: (found.iter())
                .filter_map(|f| u32::try_from(f.pid.as_raw()).ok())
                .collect(),
        };
        if evidence.alive() {
            tracing::debug!(
                "run {run} has no end recorded here, but its `flow run` is alive (this folder \
                 may be a copy of the one it runs in): its processes are left alone"
            );
            continue;
        }
        if evidence.pids.is_empty() {
            // Nothing here names its `flow run` (a store copied without its lock file and
            // logs): whether that run is gone cannot be told, so nothing is stopped.
            tracing::warn!("{}", left_running(run, &found));
            continue;
        }
        let grace = longest_grace(&found, |flow| grace_of(wf, flow));
        terminal::eprint_line(&stopping(run, found.len(), grace));
        // Held, a stop signal would say nothing until the grace is over: it is answered now.
        let owned = run.as_str().to_owned();
        let answered = signals::Acknowledge::start(
            format!(
                "the run stops once the processes left by run {run} are stopped; no flow starts"
            ),
            format!("killing the processes left by run {run} now"),
            move || kill_where(outside_slurm_jobs(crate::watchdog::of_run(&owned))),
        );
        stop(&found, &marked, grace);
        drop(answered);
        tracing::warn!("{}", warning(run, pid, &found));
    }
}

/// `marked`, but for the processes of Slurm jobs other than the one `flow run` itself may run
/// in (their environment holds another `SLURM_JOB_ID`): the jobs of a dead `flow run
/// --executor slurm`, running on this machine as one of the cluster's nodes, are the
/// cluster's to stop, adopted by its `--resume` or cancelled by a run here
/// ([`crate::commands::executor::Executor::cancel_left_slurm_jobs`]).
fn outside_slurm_jobs(marked: impl Fn(&[u8]) -> bool) -> impl Fn(&[u8]) -> bool {
    let own = std::env::var_os("SLURM_JOB_ID");
    outside_jobs_but(marked, own.as_ref().map(|job| job.as_encoded_bytes()))
}

/// `marked`, but for the processes of Slurm jobs other than `own`.
fn outside_jobs_but(marked: impl Fn(&[u8]) -> bool, own: Option<&[u8]>) -> impl Fn(&[u8]) -> bool {
    const VAR: &[u8] = b"SLURM_JOB_ID=";
    let own: Option<Vec<u8>> = own.map(|job| [VAR, job].concat());
    move |env| {
        marked(env)
            && !env
                .split(|&b| b == 0)
                .any(|var| var.starts_with(VAR) && Some(var) != own.as_deref())
    }
}

/// The `kill_grace` of the flow `flow` of `wf`, or the default.
fn grace_of(wf: &Workflow, flow: Option<&str>) -> std::time::Duration {
    flow.and_then(|id| wf.flows.iter().find(|def| def.id.as_str() == id))
        .and_then(|def| def.kill_grace)
        .unwrap_or(flow_pool::DEFAULT_GRACE)
}

/// The line said as the takeover starts to wait for the `n` processes the dead `run` left
/// running, up to `grace`.
fn stopping(run: &RunId, n: usize, grace: std::time::Duration) -> String {
    let processes = if n == 1 { "process" } else { "processes" };
    format!(
        "stopping {n} {processes} left running by run {run}, whose `flow run` died, before this \
         run starts (SIGTERM, then up to {} before SIGKILL)",
        humantime::format_duration(grace)
    )
}

/// The one line that says what the dead `run` (whose `flow run` was process `pid`) left
/// running, and that it was stopped.
fn warning(run: &RunId, pid: Option<u32>, found: &[Found]) -> String {
    let process = pid
        .map(|pid| format!(" (process {pid})"))
        .unwrap_or_default();
    let them = if found.len() == 1 {
        "it was"
    } else {
        "they were"
    };
    format!(
        "run {run}'s `flow run`{process} died and left {}; {them} stopped before this run",
        running(found)
    )
}

/// The one line that says what `run`, whose `flow run` nothing here names, has running, and
/// that it is left alone.
fn left_running(run: &RunId, found: &[Found]) -> String {
    format!(
        "run {run} has no end recorded and {}, but nothing here names its `flow run` (a store \
         copied without its lock file?): left alone; stop them if that run is gone",
        running(found)
    )
}

/// `2 processes running (pid 1234 of flow a: sleep 57; ...)`.
fn running(found: &[Found]) -> String {
    let n = found.len();
    let processes = if n == 1 { "process" } else { "processes" };
    let mut named: Vec<String> = found.iter().take(NAMED).map(describe).collect();
    if n > NAMED {
        named.push(format!("and {} more", n - NAMED));
    }
    format!("{n} {processes} running ({})", named.join("; "))
}

/// `pid 1234 of flow a: sleep 57`, made safe to print.
fn describe(found: &Found) -> String {
    let of = match &found.flow {
        Some(flow) => format!(" of flow {}", terminal::safe(flow)),
        None => String::new(),
    };
    let mut command: String = found.command.chars().take(COMMAND_CHARS).collect();
    if command.len() < found.command.len() {
        command.push('…');
    }
    format!("pid {}{of}: {}", found.pid, terminal::safe(&command))
}

#[cfg(test)]
mod tests {
    use nix::unistd::Pid;

    use super::*;

    #[test]
    fn the_processes_of_other_slurm_jobs_are_left_to_the_cluster() {
        let of_run = crate::watchdog::of_run("r1");
        let here = outside_jobs_but(&of_run, None);
        assert!(here(b"A=1\0FLOW_RUN_ID=r1\0"));
        assert!(!here(b"FLOW_RUN_ID=r1\0SLURM_JOB_ID=12\0"));
        assert!(!here(b"FLOW_RUN_ID=r2\0"));
        // `flow run` itself runs in job 5: its commands there are its own.
        let in_job = outside_jobs_but(&of_run, Some(b"5"));
        assert!(in_job(b"FLOW_RUN_ID=r1\0SLURM_JOB_ID=5\0"));
        assert!(!in_job(b"FLOW_RUN_ID=r1\0SLURM_JOB_ID=12\0"));
    }

    #[test]
    fn the_warning_names_the_run_and_each_process_safely() {
        let run = RunId::parse("20260101T000000.000Z-abcd").unwrap();
        let found = |pid, flow: Option<&str>, command: &str| Found {
            pid: Pid::from_raw(pid),
            flow: flow.map(str::to_owned),
            command: command.to_owned(),
        };
        let one = warning(&run, Some(7), &[found(12, Some("a"), "sleep 57")]);
        assert_eq!(
            one,
            "run 20260101T000000.000Z-abcd's `flow run` (process 7) died and left 1 process \
             running (pid 12 of flow a: sleep 57); it was stopped before this run"
        );
        let many: Vec<Found> = (1..=6)
            .map(|pid| found(pid, None, "echo \x1b[31mred"))
            .collect();
        let text = warning(&run, None, &many);
        assert!(
            text.contains("`flow run` died and left 6 processes"),
            "{text}"
        );
        assert!(text.contains("; and 2 more); they were stopped"), "{text}");
        assert!(!text.contains('\x1b'), "{text}");
        let long = warning(&run, None, &[found(3, None, &"x".repeat(200))]);
        assert!(long.contains(&format!("{}…", "x".repeat(80))), "{long}");
    }
}
