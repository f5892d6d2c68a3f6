//! `flow completions bash|zsh|fish` and `flow man`: generated from the command line, so they
//! name every subcommand and flag, including the newest, and never the internal watchdog.

mod common;

use common::flow;

fn stdout_of(args: &[&str]) -> String {
    let out = flow().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completion_scripts_name_every_subcommand_and_flag() {
    for (shell, marker) in [
        ("bash", "_flow()"),
        ("zsh", "#compdef flow"),
        ("fish", "complete -c flow"),
    ] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains(marker), "{shell}:\n{script}");
        for word in ["run", "logs", "report", "resume", "follow", "completions"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
        assert!(
            !script.contains("watchdog"),
            "{shell} names the internal watchdog"
        );
    }
    let out = flow().args(["completions", "powershell"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_is_roff_with_a_section_per_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH flow 1"), "{page}");
    for section in [
        ".SH \"FLOW RUN\"",
        ".SH \"FLOW LOGS\"",
        ".SH \"FLOW VALIDATE\"",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    assert!(page.contains("\\-\\-resume"), "the flags are listed");
    assert!(page.contains("\\-\\-attempt"), "the flags are listed");
    assert!(
        !page.contains("watchdog"),
        "the internal watchdog is not listed"
    );
    let help = stdout_of(&["--help"]);
    assert!(!help.contains("watchdog"), "{help}");
}
