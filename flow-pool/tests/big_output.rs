//! A command writing 1 GiB to stdout: the runner's memory stays bounded and the tail holds
//! the last bytes. Alone in its test binary so that the peak RSS measured is the runner's.

mod common;

use flow_pool::{CancellationToken, CommandEnd, CommandRunner, CommandSpec};

#[test]
fn one_gib_of_stdout_costs_no_memory_and_keeps_the_last_bytes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let spec = CommandSpec::shell("head -c 1073741824 /dev/zero; printf END-OF-OUTPUT");
    let outcome = runtime
        .block_on(CommandRunner::new().run(&spec, None, CancellationToken::new()))
        .unwrap();
    assert_eq!(outcome.end, CommandEnd::Exited(0));
    assert_eq!(outcome.stdout_tail.len(), 64 * 1024);
    assert!(outcome.stdout_tail.ends_with("\0\0END-OF-OUTPUT"));
    let peak_kib = common::peak_rss_kib();
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB is not under 64 MiB"
    );
}
