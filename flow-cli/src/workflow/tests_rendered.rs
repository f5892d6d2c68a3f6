//! Tests of rendered.rs: a value a template renders is checked as a literal one is.

use std::path::Path;

use crate::workflow::from_str_with;

/// Loads `text` as `w.toml` in `/tmp/wf` with the `--set` overrides `sets`.
fn load(text: &str, sets: &[(&str, &str)]) -> Result<(), String> {
    let sets: Vec<(String, String)> = (sets.iter())
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    from_str_with(text, "w.toml", "w", Path::new("/tmp/wf"), &sets)
        .map(drop)
        .map_err(|e| e.to_string())
}

const PARAMS: &str = "[params]\nprog = \"echo\"\nargs = [\"hi\"]\nd = \"sub\"\nx = \"in.txt\"\n\
                      g = \"a\"\n";

/// Each key's template, the `--set` that makes its value wrong, and the diagnostic (at the
/// templated value, line 8, naming the flow and the param's value when the template is one).
#[test]
fn a_value_made_wrong_by_a_param_is_refused_at_its_template() {
    for (key, set, expected) in [
        (
            "command = [\"{prog}\", \"hi\"]",
            ("prog", ""),
            "w.toml:8:12: flow `a`: `flows.a.command` starts with an empty program name \
             (`{prog}` is \"\")",
        ),
        (
            "command = [\"{args}\"]",
            ("args", ""),
            "w.toml:8:12: flow `a`: `flows.a.command` is empty: name a program to run \
             (`{args}` is an empty list)",
        ),
        (
            "command = [\"run-{prog}\"]",
            ("prog", "a\0b"),
            "w.toml:8:12: flow `a`: `flows.a.command` contains a NUL byte (at byte 5)",
        ),
        (
            "env = { X = \"{prog}\" }\nshell = \"true\"",
            ("prog", "a\0b"),
            "w.toml:8:13: flow `a`: `flows.a.env.X` contains a NUL byte (at byte 1), which no \
             program can receive: remove it (`{prog}` is \"a\\0b\")",
        ),
        (
            "shell = \"{prog}\"",
            ("prog", " "),
            "w.toml:8:9: flow `a`: `flows.a.shell` is empty: write a script (`{prog}` is \" \")",
        ),
        (
            "cwd = \"{d}\"\nshell = \"true\"",
            ("d", ""),
            "w.toml:8:7: flow `a`: `flows.a.cwd` must not be empty (`{d}` is \"\")",
        ),
        (
            "inputs = [\"{x}\"]\nshell = \"true\"",
            ("x", ""),
            "w.toml:8:11: flow `a`: `flows.a.inputs` must not hold an empty path (`{x}` is \"\")",
        ),
        (
            "inputs = [\"in/{g}.txt\"]\nshell = \"true\"",
            ("g", "a**"),
            "w.toml:8:11: flow `a`: `flows.a.inputs`: \"in/a**.txt\" is not a valid glob",
        ),
        (
            "outputs = [\"out/{g}\"]\nshell = \"true\"",
            ("g", "*.txt"),
            "w.toml:8:12: flow `a`: `flows.a.outputs`: \"out/*.txt\" is a glob: outputs are \
             files or folders, not globs",
        ),
        (
            "outputs = [\"{x}\"]\nshell = \"true\"",
            ("x", "a\nb*"),
            "`flows.a.outputs`: \"a\\nb*\" is a glob",
        ),
    ] {
        let text = format!("{PARAMS}[flows.a]\n{key}\n");
        assert_eq!(
            load(&text, &[]),
            Ok(()),
            "{key}: fine with the params as written"
        );
        let error = load(&text, &[set]).expect_err(key);
        assert!(error.contains(expected), "{key}: {error}");
        assert_eq!(error.lines().count(), 1, "{key}: one problem: {error}");
    }
}

/// A template shared by a matrix's flows is reported once, naming the first flow; `defaults`
/// name no flow.
#[test]
fn a_wrong_value_is_reported_once_per_template() {
    let text = "[params]\nprog = \"echo\"\n[flows.m]\nmatrix = { n = [\"a\", \"b\"] }\n\
                command = [\"{prog}\", \"{n}\"]\ncwd = \"{prog}\"\n";
    let error = load(text, &[("prog", "")]).unwrap_err();
    assert_eq!(
        error,
        "w.toml:5:12: flow `m.a`: `flows.m.command` starts with an empty program name \
         (`{prog}` is \"\")\n\
         w.toml:6:7: flow `m`: `flows.m.cwd` must not be empty (`{prog}` is \"\")"
    );
    let text =
        "[params]\nx = \"in\"\n[defaults]\ninputs = [\"{x}\"]\n[flows.a]\nshell = \"true\"\n\
                [flows.b]\nshell = \"true\"\n";
    let error = load(text, &[("x", "")]).unwrap_err();
    assert_eq!(
        error,
        "w.toml:4:11: `defaults.inputs` must not hold an empty path (`{x}` is \"\")"
    );
}

/// An `env` value a param gives a NUL byte is refused, in `[defaults]` and in a flow, once
/// per template: a matrix's is named after its first flow when it uses the matrix's values.
#[test]
fn an_env_value_a_param_gives_a_nul_byte_is_refused_once() {
    let text =
        "[params]\np = \"x\"\n[defaults]\nenv = { D = \"{p}\" }\n[flows.a]\nshell = \"true\"\n";
    assert_eq!(load(text, &[]), Ok(()));
    assert_eq!(
        load(text, &[("p", "\0")]).unwrap_err(),
        "w.toml:4:13: `defaults.env.D` contains a NUL byte (at byte 0), which no program can \
         receive: remove it (`{p}` is \"\\0\")"
    );
    let text = "[params]\np = \"x\"\n[flows.m]\nmatrix = { n = [\"a\", \"b\"] }\n\
                shell = \"true\"\nenv = { A = \"{n}-{p}\", B = \"{p}\", C = \"${HOME}\" }\n";
    assert_eq!(load(text, &[]), Ok(()));
    assert_eq!(
        load(text, &[("p", "\0")]).unwrap_err(),
        "w.toml:6:13: flow `m.a`: `flows.m.env.A` contains a NUL byte (at byte 2), which no \
         program can receive: remove it\n\
         w.toml:6:28: flow `m`: `flows.m.env.B` contains a NUL byte (at byte 0), which no \
         program can receive: remove it (`{p}` is \"\\0\")"
    );
}

/// A value with no placeholder is checked as the file is read, once; one with text around
/// its placeholder names no single param.
#[test]
fn literal_values_and_values_with_text_around_a_placeholder() {
    let error = load("[flows.a]\ncommand = [\"\", \"hi\"]\n", &[]).unwrap_err();
    assert_eq!(
        error,
        "w.toml:2:11: `flows.a.command` starts with an empty program name"
    );
    let text = "[params]\ng = \"a\"\n[flows.a]\nshell = \"true\"\ninputs = [\"x/{g}\"]\n";
    let error = load(text, &[("g", "**a")]).unwrap_err();
    assert!(
        error.ends_with(
            "`flows.a.inputs`: \"x/**a\" is not a valid glob: recursive wildcards must form a \
             single path component"
        ),
        "{error}"
    );
}
