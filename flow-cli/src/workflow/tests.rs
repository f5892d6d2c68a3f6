//! Data-driven tests of workflow loading: one case per kind of problem, each checking the
//! exact `FILE:LINE:COL: message` lines, plus the model of valid files.

use std::time::Duration;

use super::test_support::load_str;
use super::Action;

/// Asserts that `text` is refused with exactly these diagnostics, each given as
/// `(line, col, part of the message)`.
#[track_caller]
fn check_errors(text: &str, expected: &[(usize, usize, &str)]) {
    let got = load_str(text).expect_err("the workflow should be refused");
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), expected.len(), "diagnostics:\n{got}");
    for (line, (l, c, part)) in lines.iter().zip(expected) {
        let prefix = format!("w.toml:{l}:{c}: ");
        assert!(
            line.starts_with(&prefix),
            "`{line}` should start with `{prefix}`\n{got}"
        );
        assert!(line.contains(part), "`{line}` should contain `{part}`");
    }
}

#[test]
fn a_full_file_loads_with_defaults_applied() {
    let w = load_str(
        r#"
[workflow]
name = "etl"
jobs = 3

[defaults]
timeout = "10m"
retries = 1
retry_delay = "2s"
env = { LANG = "C", A = "default" }

[flows.prepare]
shell = "mkdir -p out"

[flows.lint]
command = ["true"]

[flows.extract]
command = ["python3", "extract.py", "--day", "2026-11-26"]
requires = ["prepare"]
wants = ["lint"]
timeout = "30s"
retries = 2
retry_delay = "500ms"
cwd = "data"
env = { A = "flow" }
"#,
    )
    .unwrap();
    assert_eq!(w.name, "etl");
    assert_eq!(w.jobs, Some(3));
    let ids: Vec<_> = w.flows.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["prepare", "lint", "extract"]);
    let prepare = &w.flows[0];
    assert_eq!(prepare.action, Action::Shell("mkdir -p out".into()));
    assert_eq!(prepare.timeout, Some(Duration::from_secs(600)));
    assert_eq!(prepare.retries, 1);
    assert_eq!(prepare.retry_delay, Duration::from_secs(2));
    assert_eq!(prepare.cwd, std::path::Path::new("/tmp/wf"));
    let extract = &w.flows[2];
    assert_eq!(
        extract.action,
        Action::Command(vec![
            "python3".into(),
            "extract.py".into(),
            "--day".into(),
            "2026-11-26".into()
        ])
    );
    assert_eq!(extract.requires, ["prepare"]);
    assert_eq!(extract.wants, ["lint"]);
    assert_eq!(extract.timeout, Some(Duration::from_secs(30)));
    assert_eq!(extract.retries, 2);
    assert_eq!(extract.retry_delay, Duration::from_millis(500));
    assert_eq!(extract.cwd, std::path::Path::new("/tmp/wf/data"));
    assert_eq!(extract.env_var("A"), Some("flow"));
    assert_eq!(extract.env_var("LANG"), Some("C"));
    assert_eq!(w.graph.topological_order()[2], "extract");
    assert_eq!(
        w.graph.dependency("lint", "extract"),
        Some(flow_graph::DependencyType::Optional)
    );
}

#[test]
fn the_name_defaults_to_the_file_stem_and_defaults_are_optional() {
    let w = load_str("[flows.a]\ncommand = [\"true\"]\n").unwrap();
    assert_eq!(w.name, "w");
    assert_eq!(w.jobs, None);
    assert_eq!(w.flows[0].timeout, None);
    assert_eq!(w.flows[0].retries, 0);
    assert_eq!(w.flows[0].retry_delay, Duration::ZERO);
}

#[test]
fn dotted_keys_and_inline_tables_are_the_same_file() {
    let w = load_str(
        "flows.a.command = [\"true\"]\nflows.b = { shell = \"true\", requires = [\"a\"] }\n",
    )
    .unwrap();
    assert_eq!(w.flows.len(), 2);
    assert_eq!(w.flows[1].requires, ["a"]);
}

#[test]
fn a_file_with_crlf_line_ends_means_the_same() {
    let w = load_str("[flows.a]\r\nshell = \"\"\"\r\ncd /tmp\r\necho ok\r\n\"\"\"\r\n").unwrap();
    assert_eq!(
        w.flows[0].action,
        Action::Shell("cd /tmp\necho ok\n".into())
    );
}

#[test]
fn syntax_error() {
    check_errors(
        "[flows.a]\ncommand = [\"true\"\n",
        &[(2, 18, "invalid TOML: unclosed array")],
    );
    check_errors(
        "[flows.a]\nshell = \"x\"\nshell = \"y\"\n",
        &[(3, 1, "invalid TOML: duplicate key `shell`")],
    );
    check_errors(
        "[flows.a]\nshell = \"x\"\nretries = 99999999999999999999\n",
        &[(
            3,
            11,
            "invalid TOML: integer outside the range of a 64-bit integer",
        )],
    );
    // A backslash of a shell script in a "..." string: how to write it instead.
    check_errors(
        "[flows.a]\nshell = \"grep -E '\\d+' x\"\n",
        &[(
            2,
            20,
            "write `\\\\` for one, or use a '...' or '''...''' string, where a backslash is itself)",
        )],
    );
}

#[test]
fn unknown_keys_everywhere() {
    check_errors(
        r#"[workflow]
nme = "x"
[defaults]
timeot = "1s"
[flows.a]
command = ["true"]
requirs = ["b"]
[other]
"#,
        &[
            (2, 1, "unknown key `nme` in `[workflow]`"),
            (4, 1, "unknown key `timeot` in `[defaults]`"),
            (7, 1, "unknown key `requirs` in flow `a`"),
            (8, 2, "unknown key `other`"),
        ],
    );
}

/// A key written as Snakemake or a typo writes it names the key meant; one far from every
/// key lists them.
#[test]
fn an_unknown_key_close_to_a_key_names_it() {
    check_errors(
        "[defaults]\ntimeot = \"1s\"\n[flows.a]\nshell = \"true\"\ninput = [\"x\"]\n\
         output = [\"y\"]\nthreads = 4\n",
        &[
            (
                2,
                1,
                "unknown key `timeot` in `[defaults]` (did you mean `timeout`?)",
            ),
            (
                5,
                1,
                "unknown key `input` in flow `a` (did you mean `inputs`?)",
            ),
            (
                6,
                1,
                "unknown key `output` in flow `a` (did you mean `outputs`?)",
            ),
            (
                7,
                1,
                "unknown key `threads` in flow `a` (expected `command`, `shell`, `requires`, \
                 `wants`, `inputs`, `outputs`, `timeout`, `retries`, `retry_delay`, `cwd`, \
                 `env`, `slurm`, `matrix`, `manual`, `kill_grace` or `interpreter`)",
            ),
        ],
    );
}

#[test]
fn unknown_keys_name_the_key_meant() {
    check_errors(
        r#"[workflow]
job = 2
[flow.a]
command = ["true"]
[flows.b]
comand = ["true"]
[flows.c]
command = ["true"]
depends_on = ["b"]
"#,
        &[
            (
                2,
                1,
                "unknown key `job` in `[workflow]` (did you mean `jobs`?)",
            ),
            (3, 2, "unknown key `flow` (did you mean `flows`?)"),
            // One problem: not also "flow `b` has neither `command` nor `shell`".
            (
                6,
                1,
                "unknown key `comand` in flow `b` (did you mean `command`?)",
            ),
            (
                9,
                1,
                "unknown key `depends_on` in flow `c` (did you mean `requires`?)",
            ),
        ],
    );
}

#[test]
fn a_key_written_in_the_wrong_table_names_its_table() {
    // `jobs` below `[flows.a]` is in that table for TOML; `command` above every table is at
    // the top level.
    check_errors(
        "command = [\"true\"]\n[flows.a]\ncommand = [\"true\"]\njobs = 4\n",
        &[
            (
                1,
                1,
                "unknown key `command`: `command` is a key of a flow (`[flows.NAME]`), and a \
                 key belongs to the `[table]` line above it",
            ),
            (
                4,
                1,
                "unknown key `jobs` in flow `a`: `jobs` is a key of `[workflow]`, and a key \
                 belongs to the `[table]` line above it",
            ),
        ],
    );
}

#[test]
fn a_key_of_another_table_in_braces_is_not_sent_to_a_table_line() {
    // In `{ ... }` a key belongs to the braces: no `[table]` line above it is to blame.
    check_errors(
        "[flows]\na = { shell = \"true\", jobs = 2 }\n[flows.b]\nshell = \"true\"\n\
         slurm = { cpus = 2, timeout = \"1h\" }\n[flows.b.env]\nX = \"1\"\n",
        &[
            (
                2,
                23,
                "unknown key `jobs` in flow `a`: `jobs` is a key of `[workflow]`, not of the \
                 `{ ... }` it is written in",
            ),
            (
                5,
                21,
                "unknown key `timeout` in `flows.b.slurm`: `timeout` is a key of a flow \
                 (`[flows.NAME]`) and of `[defaults]`, not of the `{ ... }` it is written in",
            ),
        ],
    );
}

#[test]
fn bad_flow_ids() {
    check_errors(
        "[flows.\"a/b\"]\ncommand = [\"true\"]\n[flows.\"-x\"]\ncommand = [\"true\"]\n[flows.c]\ncommand = [\"true\"]\nrequires = [\"a/b\", \"../d\"]\n",
        &[
            (1, 8, "invalid flow id `a/b`"),
            (3, 8, "invalid flow id `-x`: it starts with"),
            (7, 20, "in `requires` of flow `c`: invalid flow id `../d`"),
        ],
    );
}

#[test]
fn unknown_dependencies_with_a_suggestion() {
    check_errors(
        "[flows.extract]\ncommand = [\"true\"]\n[flows.load]\ncommand = [\"true\"]\nrequires = [\"extarct\"]\nwants = [\"nothing-like-it\"]\n",
        &[
            (5, 13, "flow `load` requires unknown flow `extarct` (did you mean `extract`?)"),
            (6, 10, "flow `load` wants unknown flow `nothing-like-it`"),
        ],
    );
}

#[test]
fn cycles_with_their_path() {
    check_errors(
        r#"[flows.a]
command = ["true"]
requires = ["c"]
[flows.b]
command = ["true"]
requires = ["a"]
[flows.c]
command = ["true"]
requires = ["b"]
[flows.self]
command = ["true"]
wants = ["self"]
"#,
        &[
            (9, 13, "dependency cycle: c -> a -> b -> c"),
            (12, 10, "dependency cycle: self -> self"),
        ],
    );
}

#[test]
fn two_independent_cycles_are_both_reported() {
    let got = load_str(
        "[flows.a]\nshell = \"x\"\nrequires = [\"b\"]\n[flows.b]\nshell = \"x\"\nrequires = [\"a\"]\n\
         [flows.c]\nshell = \"x\"\nrequires = [\"d\"]\n[flows.d]\nshell = \"x\"\nrequires = [\"c\"]\n",
    )
    .unwrap_err();
    assert_eq!(got.matches("dependency cycle").count(), 2, "{got}");
}

#[test]
fn bad_durations() {
    check_errors(
        r#"[defaults]
timeout = "ten minutes"
[flows.a]
command = ["true"]
timeout = 30
retry_delay = "5 parsecs"
[flows.b]
command = ["true"]
timeout = "0s"
[flows.c]
command = ["true"]
timeout = "{t}"
[flows.d]
command = ["true"]
timeout = "10M"
kill_grace = "2 minutes"
"#,
        &[
            (
                2,
                11,
                "invalid duration \"ten minutes\" for `defaults.timeout`",
            ),
            (5, 11, "`flows.a.timeout` must be a duration string"),
            (
                6,
                15,
                "invalid duration \"5 parsecs\" for `flows.a.retry_delay`",
            ),
            (9, 11, "`flows.b.timeout` must be longer than zero"),
            (12, 11, "templates (`{name}`) are not filled in here"),
            (
                15,
                11,
                "invalid duration \"10M\" for `flows.d.timeout`: `M` means months; write `m` \
                 for minutes",
            ),
        ],
    );
}

#[test]
fn command_and_shell_both_or_neither() {
    check_errors(
        "[flows.both]\ncommand = [\"true\"]\nshell = \"true\"\n[flows.neither]\nrequires = [\"both\"]\n",
        &[
            (3, 1, "flow `both` has both `command` and `shell`"),
            (4, 8, "flow `neither` has neither `command` nor `shell`"),
        ],
    );
    // make's `all: build`, a target without a recipe: what flow writes for it.
    check_errors(
        "[flows.build]\ncommand = [\"true\"]\n[flows.all]\nrequires = [\"build\"]\n",
        &[(
            3,
            8,
            "flow `all` has neither `command` nor `shell`: add `command = [\"program\", \
             \"arg\"]` or `shell = \"script\"`; a flow that only gathers others, as make's \
             `all`, is `shell = \"true\"`, or name them in `[workflow] default` instead",
        )],
    );
}

#[test]
fn wrong_types_and_values() {
    check_errors(
        r#"[workflow]
name = 3
jobs = 0
[flows.a]
command = "echo hi"
[flows.b]
command = []
env = { N = 1 }
retries = -1
[flows.c]
shell = ["echo"]
requires = "a"
cwd = 5
"#,
        &[
            (2, 8, "`workflow.name` must be a string"),
            (3, 8, "`workflow.jobs` must be at least 1"),
            (5, 11, "`flows.a.command` must be an array of strings"),
            (7, 11, "`flows.b.command` is empty"),
            (8, 13, "`flows.b.env.N` must be a string"),
            (9, 11, "`flows.b.retries` must be 0 or more"),
            (11, 9, "`flows.c.shell` must be a string"),
            (12, 12, "`flows.c.requires` must be an array of flow ids"),
            (13, 7, "`flows.c.cwd` must be a string"),
        ],
    );
}

/// flow sets `FLOW_ID` and the others for every command: a value of the file would be
/// dropped without a word.
#[test]
fn an_env_variable_flow_sets_itself_is_refused() {
    check_errors(
        "[defaults]\nenv = { FLOW_WORKFLOW_DIR = \"/x\" }\n\
         [flows.a]\ncommand = [\"true\"]\nenv = { FLOW_ID = \"mine\", FLOW_IDS = \"ok\" }\n",
        &[
            (
                2,
                9,
                "`defaults.env` sets `FLOW_WORKFLOW_DIR`, which flow sets itself for every \
                 command (FLOW_ID, FLOW_RUN_ID, FLOW_ATTEMPT, FLOW_WORKFLOW_DIR): its value \
                 would never reach the command; give the variable another name",
            ),
            (5, 9, "`flows.a.env` sets `FLOW_ID`, which flow sets itself"),
        ],
    );
}

#[test]
fn a_dependency_in_both_lists() {
    check_errors(
        "[flows.a]\nshell = \"x\"\n[flows.b]\nshell = \"x\"\nrequires = [\"a\"]\nwants = [\"a\"]\n",
        &[(6, 10, "flow `b` lists `a` in both `requires` and `wants`")],
    );
}

#[test]
fn no_flows() {
    check_errors(
        "[workflow]\nname = \"x\"\n",
        &[(1, 1, "the workflow has no flows")],
    );
    check_errors("[flows]\n", &[(1, 1, "the workflow has no flows")]);
    // A misspelt `[flows]` is the one problem.
    check_errors(
        "[flow.a]\ncommand = [\"true\"]\n",
        &[(1, 2, "unknown key `flow` (did you mean `flows`?)")],
    );
    check_errors(
        "[[flows]]\nshell = \"x\"\n",
        &[(1, 3, "not an array of tables")],
    );
    check_errors(
        "flows = [{ a = 1 }]\n",
        &[(1, 9, "`flows` must be a table, found array")],
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let got = load_str(
        "[flows.a]\ncommand = [\"true\"]\nbogus = 1\n[flows.b]\nshell = \"x\"\ntimeout = \"x\"\nrequires = [\"zz\"]\n",
    )
    .unwrap_err();
    assert_eq!(got.lines().count(), 3, "{got}");
}

#[test]
fn a_command_line_written_as_one_string_says_how_to_split_it() {
    check_errors(
        "[flows.c]\ncommand = [\"echo hi\", \"there\"]\n[flows.ok]\ncommand = [\"/opt/my tools/run\"]\n\
         [flows.d]\ncommand = [\"grep -c\", \"two words\", \"f.txt\"]\n",
        &[
            (
                2,
                12,
                "`flows.c.command` names the program `echo hi`, with a space: give one string \
                 per argument, as [\"echo\", \"hi\", \"there\"], or write a shell script with \
                 `shell`",
            ),
            // An argument after the program is one already: it is not split.
            (
                6,
                12,
                "`flows.d.command` names the program `grep -c`, with a space: give one string \
                 per argument, as [\"grep\", \"-c\", \"two words\", \"f.txt\"], or write a \
                 shell script with `shell`",
            ),
        ],
    );
}
