//! End-to-end tests of what `flow` prints where: the failure tails of both streams in the
//! summary, colours that follow the stream they are written to, the plain progress lines a
//! terminal that cannot move its cursor gets, and the readers of a store with no runs.

mod common;

use common::{run_in, text, write};

const FAILING: &str = r#"
[flows.pytestlike]
shell = "echo 'FAILED test_x.py::test_a - assert 1 == 2'; exit 1"
[flows.both]
shell = "echo 'real error on stdout'; echo 'warning: deprecated' >&2; exit 2"
[flows.silent]
shell = "exit 3"
[flows.hostile]
shell = "printf 'before\\033[2J\\033]0;PWNED\\007after\\n'; exit 4"
"#;

/// The lines of the summary block of `flow`, from `FAILED ID:` to the next unindented line.
fn block<'a>(summary: &'a str, id: &str) -> Vec<&'a str> {
    let start = format!("FAILED {id}: ");
    let mut lines = summary.lines().skip_while(|l| !l.starts_with(&start));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no `{start}` in {summary}"));
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .collect()
}

/// pytest, cargo test and go test print their failures on stdout: the summary shows the end
/// of stdout too, and of stderr, each under its stream's name and log file; an empty stream
/// is not shown. On CI the log folder goes with the runner: this is all one gets to read.
#[test]
fn the_failure_summary_shows_the_end_of_stdout_and_of_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "so.toml", FAILING);
    let out = run_in(d, &["run", "so.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let results = text(&run_in(d, &["results", "so.toml"]).stdout);
    for summary in [&shown, &results] {
        let pytest = block(summary, "pytestlike");
        assert_eq!(pytest.len(), 3, "{pytest:#?}");
        assert!(
            pytest[1].starts_with("  stdout (log: /") && pytest[1].ends_with("/pytestlike.1.out):"),
            "{pytest:#?}"
        );
        assert_eq!(pytest[2], "  | FAILED test_x.py::test_a - assert 1 == 2");

        let both = block(summary, "both");
        assert_eq!(both.len(), 5, "{both:#?}");
        assert!(both[1].ends_with("/both.1.out):"), "{both:#?}");
        assert_eq!(both[2], "  | real error on stdout");
        assert!(
            both[3].starts_with("  stderr (log: ") && both[3].ends_with("/both.1.err):"),
            "{both:#?}"
        );
        assert_eq!(both[4], "  | warning: deprecated");

        // Nothing written: nothing to show, no log to name.
        assert_eq!(block(summary, "silent").len(), 1, "{summary}");

        let hostile = block(summary, "hostile");
        assert_eq!(
            hostile.get(2).copied(),
            Some("  | before\\u{1b}[2J\\u{1b}]0;PWNED\\u{7}after"),
            "{hostile:#?}"
        );
    }
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
}
