//! The watchdog of a run that ended normally is reaped by `flow run` itself: where the process
//! that inherits orphans does not reap them (a container whose first process is `sleep
//! infinity`), each run used to leave one `Flow-watchdog <defunct>` behind.
//!
//! This test binary makes itself a child subreaper, so whatever `flow run` leaves behind
//! becomes its child: a zombie it could reap, or a process still running. It holds one test
//! only, as the subreaper setting is the whole process's.

mod common;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use common::{run_in, write};

#[test]
fn a_run_that_ended_leaves_no_process_behind_not_even_a_zombie() {
    flow_pool::enable_child_subreaper().expect("become a child subreaper");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "flow.toml",
        "[flows.a]\ncommand = [\"true\"]\n\n[flows.b]\nshell = \"echo b\"\nrequires = [\"a\"]\n",
    );
    for _ in 0..3 {
        let out = run_in(dir.path(), &["run", "flow.toml", "--force-all"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        // `run_in` reaped `flow run`; anything else is an orphan it left to this process.
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Err(Errno::ECHILD) => {}
            Ok(WaitStatus::StillAlive) => panic!("`flow run` left a process running"),
            other => panic!("`flow run` left a process for its parent to reap: {other:?}"),
        }
    }
}
