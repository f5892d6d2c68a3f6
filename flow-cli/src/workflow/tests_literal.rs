//! Data-driven tests of the values taken as written, not as templates (`interpreter`,
//! `[workflow] name`, `env` names, `include`, `[slurm]` values): a `{name}` there is refused at its line, naming
//! the key, and other braces are kept as written.

use super::test_support::load_str;

/// Each key written with a `{name}` (with a param `p`), and the diagnostics it gets (the last
/// one's start): at the value (the name for an `env` name), naming the key and what to write
/// instead.
#[test]
fn a_template_where_values_are_taken_as_written_is_refused() {
    for (text, expected) in [
        (
            "[params]\np = \"x\"\n[flows.a]\ninterpreter = [\"{p}\", \"-c\"]\nshell = \"print(1)\"\n",
            "w.toml:4:16: `flows.a.interpreter` holds `{p}`, but templates are not filled in \
             there: write the interpreter itself, or run the script with \
             `command = [\"{prog}\", \"-c\", \"SCRIPT\"]` instead of `shell` (`command` is a \
             template)",
        ),
        (
            "[params]\np = \"x\"\n[defaults]\ninterpreter = [\"python3\", \"-X\", \"dev={p}\", \"-c\"]\n\
             [flows.a]\nshell = \"print(1)\"\n",
            "w.toml:4:33: `defaults.interpreter` holds `{p}`, but templates are not filled in \
             there: write the interpreter itself, or run the script with",
        ),
        (
            "[params]\np = \"x\"\n[workflow]\nname = \"run-{p}\"\n[flows.a]\nshell = \"true\"\n",
            "w.toml:4:8: `workflow.name` holds `{p}`, but templates are not filled in there: \
             write the name itself (`flow runs` and `flow results` find the runs by it, \
             whatever the params)",
        ),
        (
            "[params]\np = \"x\"\n[flows.a]\nshell = \"true\"\nenv = { \"{p}_HOME\" = \"/opt/{p}\" }\n",
            "w.toml:5:9: `flows.a.env.{p}_HOME` holds `{p}`, but templates are not filled in \
             there: write the variable's name itself (the values of `env` are templates, its \
             names are not)",
        ),
        (
            "[params]\np = \"x\"\n[defaults]\nenv.\"X_{p}\" = \"1\"\n[flows.a]\nshell = \"true\"\n",
            "w.toml:4:5: `defaults.env.X_{p}` holds `{p}`",
        ),
        (
            // Before `[params]`: after it, `include` would be a param.
            "include = [\"{p}/common.toml\"]\n[params]\np = \"x\"\n[flows.a]\nshell = \"true\"\n",
            "w.toml:1:12: `include` holds `{p}`, but templates are not filled in there: write \
             the file's path itself (files are included before the params, which they may \
             set, are known)",
        ),
        (
            "[params]\np = \"x\"\n[slurm]\naccount = \"lab-{p}\"\n[flows.a]\nshell = \"true\"\n",
            "w.toml:4:11: `slurm.account` holds `{p}`, but templates are not filled in there: \
             write the value itself",
        ),
        (
            "[params]\np = \"x\"\n[flows.a]\nshell = \"true\"\n\
             slurm = { mem = \"{p}\", partition = \"ok\", extra = [\"--gres={p}\"] }\n",
            "w.toml:5:17: `flows.a.slurm.mem` holds `{p}`, but templates are not filled in \
             there: write the value itself\n\
             w.toml:5:51: `flows.a.slurm.extra` holds `{p}`",
        ),
    ] {
        let error = load_str(text).expect_err(text);
        assert!(error.starts_with(expected), "{text}:\n{error}");
        let n_expected = expected.lines().count();
        assert_eq!(error.lines().count(), n_expected, "{text}:\n{error}");
    }
}

/// Braces that are not a `{name}` (a template's `{{`, a variable's `${X}`, a shell group, a
/// brace expansion) are kept as written where values are not templates.
#[test]
fn other_braces_are_kept_as_written() {
    let w = load_str(
        "[workflow]\nname = \"run-{{p}}-{a,b}-${X}\"\n\
         [defaults]\nenv = { \"A{{p}}\" = \"1\", \"B_${X}\" = \"2\" }\n\
         [flows.a]\ninterpreter = [\"bash\", \"-c\", \"{ cat; } && {{p}}\"]\nshell = \"true\"\n",
    )
    .unwrap();
    assert_eq!(w.name, "run-{{p}}-{a,b}-${X}");
    assert_eq!(w.flows[0].env_var("A{{p}}"), Some("1"));
    assert_eq!(w.flows[0].env_var("B_${X}"), Some("2"));
    assert_eq!(
        &*w.flows[0].interpreter,
        ["bash", "-c", "{ cat; } && {{p}}"]
    );
}
