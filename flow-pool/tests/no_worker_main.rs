//! A program whose `main` forgets `flow_pool::worker_main`, with real processes.
//! `harness = false`: this `main` is that program, and it does not make the call.
//!
//! Run by `cargo test`, it starts itself as "the program" (with `LOG_ENV` set), which builds a
//! pool of its own executable and runs a task. The program's worker is the program again: it
//! must refuse to start workers of its own (no chain of processes), and the program's task
//! must fail with advice naming `worker_main`. Every start of the program is logged, so the
//! check counts the processes started. A third program's worker waits on its input without
//! a word: the pool must stop it once its hello is overdue, reap it, and give the same advice.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use flow_pool::{is_worker_process, CancellationToken, ProcessPool, TaskRegistry};
use serde_json::{json, Value};

/// The log file of the program's starts and ends; set, this process plays the program.
const LOG_ENV: &str = "FLOW_POOL_TEST_LOG";
/// `loud`: the program builds its pool with `ProcessPool::new` and prints its outcome on
/// stdout; `quiet`: with `ProcessPool::with_program`, printing nothing; `mute`: as `quiet`,
/// with a hello timeout of [`MUTE_HELLO`], and its worker waits on its input (the pool's
/// pipe) without writing anything.
const MODE_ENV: &str = "FLOW_POOL_TEST_MODE";
/// The hello timeout of the `mute` program (short: the test waits for it).
const MUTE_HELLO: Duration = Duration::from_millis(500);
/// The `mute` program's task timeout: far beyond [`MUTE_HELLO`], so that a pool that did not
/// stop the silent worker fails the check with a timeout instead of hanging.
const MUTE_TASK_TIMEOUT: Duration = Duration::from_secs(120);
/// A regression (a chain of programs) stops at this many starts, not at the machine's limit.
const GUARD: usize = 4;

fn double(input: Value) -> Result<Value, String> {
    Ok(json!(input.as_i64().ok_or("expected an integer")? * 2))
}

fn registry() -> TaskRegistry {
    TaskRegistry::new().register("double", double)
}

fn main() {
    // Deliberately no `flow_pool::worker_main(&registry())` here: the mistake under test.
    if let Some(log) = std::env::var_os(LOG_ENV) {
        return play_program(Path::new(&log));
    }
    let checks: &[(&str, fn())] = &[
        (
            "a_forgetful_program_that_prints_gets_advice",
            a_forgetful_program_that_prints_gets_advice,
        ),
        (
            "a_forgetful_program_that_says_nothing_gets_advice",
            a_forgetful_program_that_says_nothing_gets_advice,
        ),
        (
            "a_forgetful_program_that_waits_silently_is_stopped_after_its_hello_timeout",
            a_forgetful_program_that_waits_silently_is_stopped_after_its_hello_timeout,
        ),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--ignored") {
        return;
    }
    if args.iter().any(|arg| arg == "--list") {
        let mut stdout = std::io::stdout();
        for (name, _) in checks {
            writeln!(stdout, "{name}: test").expect("stdout");
        }
        return;
    }
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut failed = 0;
    for (name, check) in checks {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let result = std::panic::catch_unwind(check);
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        eprintln!("test {name} ... {verdict}");
        failed += usize::from(result.is_err());
    }
    if failed > 0 {
        eprintln!("{failed} check(s) failed");
        std::process::exit(1);
    }
}

fn append(log: &Path, line: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open log");
    file.write_all(format!("{line}\n").as_bytes())
        .expect("write log");
}

/// The program: a pool of this executable, one task, its outcome logged (and printed when
/// loud, as a program does; in its worker, stdout is the pool's pipe). When mute, its
/// worker waits on its input, and the program logs whether that worker is gone (reaped: no
/// zombie left under this process, its parent).
#[allow(clippy::print_stdout)]
fn play_program(log: &Path) {
    let pid = std::process::id();
    let starts = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count();
    append(log, &format!("start {pid} worker={}", is_worker_process()));
    if starts >= GUARD {
        std::process::exit(99);
    }
    let mode = std::env::var(MODE_ENV).unwrap_or_default();
    let (loud, mute) = (mode == "loud", mode == "mute");
    if mute && is_worker_process() {
        // The mistake at its quietest: a program that reads its input, writing nothing.
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        std::process::exit(98);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(async {
        let pool = if loud {
            ProcessPool::new(registry(), 1).map_err(|error| error.to_string())?
        } else {
            let program = std::env::current_exe().expect("current exe");
            ProcessPool::with_program(registry(), 1, program, Duration::from_millis(300))
        };
        let (pool, timeout) = if mute {
            (pool.hello_timeout(MUTE_HELLO), Some(MUTE_TASK_TIMEOUT))
        } else {
            (pool, None)
        };
        let result = pool
            .run("double", json!(21), timeout, CancellationToken::new())
            .await;
        pool.shutdown(Duration::from_secs(5)).await;
        result.map_err(|error| error.to_string())
    });
    let mut line = match &outcome {
        Ok(value) => format!("end {pid} worker={} ok {value}", is_worker_process()),
        Err(error) => format!("end {pid} worker={} error {error}", is_worker_process()),
    };
    if let (true, Err(error)) = (mute, &outcome) {
        // The worker's pid, as the error names it.
        let worker: Option<u32> =
            (error.split("(pid ").nth(1)).and_then(|rest| rest.split(')').next()?.parse().ok());
        let gone = worker.map(|w| !Path::new(&format!("/proc/{w}")).exists());
        line.push_str(&format!(" | worker {worker:?} gone {gone:?}"));
    }
    append(log, &line);
    if loud {
        println!("{line}");
    }
}

/// Runs the program in `mode`; returns its stdout and the log's lines.
fn run_program(mode: &str) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("starts.log");
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .env(LOG_ENV, &log)
        .env(MODE_ENV, mode)
        .stdin(Stdio::null())
        .output()
        .expect("run the program");
    assert!(output.status.success(), "{output:?}");
    let lines = std::fs::read_to_string(&log).expect("read log");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
    (stdout, lines.lines().map(str::to_owned).collect())
}

/// Checks the log: the program and exactly one worker started; the worker refused to start
/// workers; the program's task failed with advice. Returns the program's end line.
fn check_log(lines: &[String]) -> String {
    let starts: Vec<&String> = lines.iter().filter(|l| l.starts_with("start ")).collect();
    assert_eq!(starts.len(), 2, "one program and one worker: {lines:#?}");
    assert!(starts[0].ends_with("worker=false"), "{lines:#?}");
    assert!(starts[1].ends_with("worker=true"), "{lines:#?}");
    let worker_pid: u32 = starts[1].split(' ').nth(1).unwrap().parse().unwrap();
    let worker_end = lines
        .iter()
        .find(|l| l.starts_with(&format!("end {worker_pid} ")))
        .expect("the worker's end");
    assert!(
        worker_end.contains("error this process was started as a flow-pool worker")
            && worker_end.contains("refuses to start workers of its own"),
        "{worker_end}"
    );
    let program_end = lines
        .iter()
        .find(|l| l.starts_with("end ") && l.contains("worker=false"))
        .expect("the program's end")
        .clone();
    assert!(
        program_end.contains("did not start as a flow-pool worker")
            && program_end.contains("must call `flow_pool::worker_main(&registry)` first"),
        "{program_end}"
    );
    assert!(
        common::proc_info(worker_pid).is_none(),
        "the worker outlived its program"
    );
    program_end
}

fn a_forgetful_program_that_prints_gets_advice() {
    let (stdout, lines) = run_program("loud");
    let program_end = check_log(&lines);
    assert_eq!(stdout.trim_end(), program_end);
    // What the worker printed is quoted where the hello belonged.
    assert!(program_end.contains("it wrote \"end "), "{program_end}");
}

fn a_forgetful_program_that_says_nothing_gets_advice() {
    let (stdout, lines) = run_program("quiet");
    assert_eq!(stdout, "");
    let program_end = check_log(&lines);
    assert!(
        program_end.contains("without a word") && program_end.contains("exit status: 0"),
        "{program_end}"
    );
}

fn a_forgetful_program_that_waits_silently_is_stopped_after_its_hello_timeout() {
    let (stdout, lines) = run_program("mute");
    assert_eq!(stdout, "");
    let starts = lines.iter().filter(|l| l.starts_with("start ")).count();
    // The worker may be stopped before it logs its start on a slow machine.
    assert!(
        starts <= 2,
        "one program and at most one worker: {lines:#?}"
    );
    let program_end = lines
        .iter()
        .find(|l| l.starts_with("end ") && l.contains("worker=false"))
        .expect("the program's end");
    assert!(
        program_end.contains("did not start as a flow-pool worker: it wrote nothing for 500ms")
            && program_end.contains("must call `flow_pool::worker_main(&registry)` first"),
        "{program_end}"
    );
    // Stopped and reaped before the task failed: its parent holds no zombie of it.
    assert!(program_end.ends_with("gone Some(true)"), "{program_end}");
    let worker_pid: u32 = (program_end.split("(pid ").nth(1))
        .and_then(|rest| rest.split(')').next()?.parse().ok())
        .expect("the worker's pid");
    assert!(common::proc_info(worker_pid).is_none(), "{program_end}");
}
