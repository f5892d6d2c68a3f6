//! Tests of lists.rs: a list param where one value is taken is refused where it is written.

use crate::workflow::test_support::load_str;

const PARAMS: &str = "[params]\nsamples = [\"a\", \"b\"]\nday = \"mon\"\n";

/// Each key (line 5 of the file) with a list param written against other text, and the
/// diagnostic's column and words; a list param apart from other text, and a scalar param
/// against it, pass.
#[test]
fn a_list_param_against_other_text_is_refused_at_its_placeholder() {
    let glued = |key: &str, written: &str, makes: &str, instead: &str| {
        format!(
            "flow `x`: the list param `{{samples}}` is written against other text in \
             `flows.x.{key}` (`{written}`): its items joined with spaces make `{makes}`, not \
             one value per item; make one flow per item with a matrix over it (`matrix = {{ \
             item = \"{{samples}}\" }}`, then `{{item}}`), or write `{{samples}}` as {instead}"
        )
    };
    let arg = "an argument of its own (one argument per item)";
    let word = "a word of its own (`cat {list}` is `cat a b`)";
    let cases: &[(&str, Option<(usize, String)>)] = &[
        (
            r#"command = ["cat", "data/{samples}.csv"]"#,
            Some((
                25,
                glued("command", "data/{samples}.csv", "data/a b.csv", arg),
            )),
        ),
        (
            r#"command = ["tool", "--n={samples}"]"#,
            Some((25, glued("command", "--n={samples}", "--n=a b", arg))),
        ),
        (
            r#"shell = "cat data/{samples}.csv > out.txt""#,
            Some((
                19,
                glued("shell", "data/{samples}.csv", "data/a b.csv", word),
            )),
        ),
        (
            r#"shell = "touch out/{samples}.txt""#,
            Some((20, glued("shell", "out/{samples}.txt", "out/a b.txt", word))),
        ),
        (
            "command = [\"true\"]\nenv = { F = \"data/{samples}.csv\" }",
            Some((
                19,
                glued("env.F", "data/{samples}.csv", "data/a b.csv", word),
            )),
        ),
        (
            r#"shell = "true"
cwd = "runs/{samples}""#,
            Some((
                7,
                "`flows.x.cwd`: `{samples}` is a list param, and a path takes one value".into(),
            )),
        ),
        (
            "matrix = { s = { glob = \"{samples}/{s}.fq\" } }\nshell = \"true\"",
            Some((
                25,
                "`flows.x.matrix.s.glob`: `{samples}` is a list param, and a path takes one value"
                    .into(),
            )),
        ),
        // Apart from other text: one argument, or one word, per item, as documented.
        (r#"command = ["cat", "{samples}"]"#, None),
        (r#"command = ["echo", "samples: {samples}"]"#, None),
        (
            r#"shell = "cat {samples} | sort; echo \"{samples}\"; a=({samples})""#,
            None,
        ),
        ("command = [\"true\"]\nenv = { S = \"{samples}\" }", None),
        // A space of more than one byte (a no-break space pasted from a page) is a space.
        ("shell = \"echo\\u00a0{samples}\\u3000done\"", None),
        // A scalar param is part of a word as before; `{{samples}}` is literal text.
        (
            r#"command = ["cat", "data/{day}.csv", "{{samples}}.csv"]"#,
            None,
        ),
    ];
    for (flow, expected) in cases {
        let text = format!("{PARAMS}[flows.x]\n{flow}\n");
        match (load_str(&text), expected) {
            (Ok(_), None) => {}
            (Err(error), Some((column, says))) => {
                let line = if flow.contains("\ncwd") || flow.contains("\nenv") {
                    6
                } else {
                    5
                };
                assert!(
                    error.starts_with(&format!("w.toml:{line}:{column}: {says}")),
                    "{flow}:\n{error}"
                );
                assert_eq!(error.lines().count(), 1, "one problem: {error}");
            }
            (got, _) => panic!("{flow}: {:?}", got.map(drop)),
        }
    }
}

/// A `[defaults] env` value names no flow.
#[test]
fn a_list_param_against_other_text_in_defaults_names_the_key() {
    let text = format!(
        "{PARAMS}[defaults]\nenv = {{ G = \"x{{samples}}\" }}\n[flows.x]\nshell = \"true\"\n"
    );
    let error = load_str(&text).unwrap_err();
    assert!(
        error.starts_with(
            "w.toml:5:15: the list param `{samples}` is written against other text in \
             `defaults.env.G` (`x{samples}`): its items joined with spaces make `xa b`"
        ),
        "{error}"
    );
}
