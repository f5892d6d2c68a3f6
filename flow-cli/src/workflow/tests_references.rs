//! Data-driven tests of how references and values are read: a parent both required and
//! wanted, numbers as written, `--set` given twice, a name that is both a flow and a
//! definition.

use std::path::Path;

use super::{argv, check_errors_in, ids, load, load_in};

#[test]
fn a_flow_both_required_and_wanted_through_a_definition_is_required() {
    for (requires, wants) in [("s.2", "s"), ("s", "s.2")] {
        let text = format!(
            "[flows.s]\nmatrix = {{ i = [1, 2] }}\nshell = \"test {{i}} = 1\"\n\
             [flows.t]\nrequires = [\"{requires}\"]\nwants = [\"{wants}\"]\nshell = \"x\"\n"
        );
        let w = load(&text).unwrap();
        let t = w.flows.iter().find(|f| f.id.as_str() == "t").unwrap();
        let (required, wanted): (Vec<&str>, Vec<&str>) = if requires == "s" {
            (vec!["s.1", "s.2"], vec![])
        } else {
            (vec!["s.2"], vec!["s.1"])
        };
        assert_eq!(t.requires, required, "requires {requires}, wants {wants}");
        assert_eq!(t.wants, wanted, "requires {requires}, wants {wants}");
        use flow_graph::DependencyType::{Optional, Required};
        let kind = |parent: &str| w.graph.dependency(parent, "t");
        assert_eq!(kind("s.2"), Some(Required));
        let s1 = if requires == "s" { Required } else { Optional };
        assert_eq!(kind("s.1"), Some(s1));
    }
}

#[test]
fn numbers_are_written_as_in_the_file_and_a_set_of_the_same_text_changes_nothing() {
    let text = r#"
[params]
lr = 1e-5
r = 1.0
big = 1_000.5
n = 0x10

[flows.train]
matrix = { x = [2.50, 1e2] }
command = ["train", "{lr}", "{r}", "{big}", "{n}", "{x}"]
"#;
    let w = load(text).unwrap();
    assert_eq!(ids(&w), ["train.2.50", "train.1e2"]);
    assert_eq!(
        argv(&w, "train.1e2"),
        ["train", "1e-5", "1.0", "1000.5", "16", "1e2"]
    );
    let dir = Path::new("/tmp/wf");
    let sets = [("lr", "1e-5"), ("r", "1.0"), ("n", "+16")];
    let set = load_in(dir, text, &sets).unwrap();
    assert_eq!(argv(&set, "train.1e2"), argv(&w, "train.1e2"));
    check_errors_in(
        dir,
        text,
        &[("lr", "1"), ("lr", "2")],
        &[(
            "w.toml",
            2,
            2,
            "`--set lr` is given twice (`1` and `2`): give it once; a list param takes \
             `--set lr=a,b`",
        )],
    );
}

#[test]
fn a_name_that_is_both_a_flow_and_a_definition_is_an_error() {
    let text = "[flows.a]\nmatrix = { x = [\"b\", \"c\"] }\nshell = \"echo a.{x}\"\n\
                [flows.\"a.b\"]\nmatrix = { y = [\"1\", \"2\"] }\nshell = \"echo {y}\"\n";
    check_errors_in(
        Path::new("/tmp/wf"),
        text,
        &[],
        &[(
            "w.toml",
            4,
            8,
            "`a.b` names both a flow of definition `a` and this definition with a matrix, so \
             `requires`, `wants` and targets could not tell which is meant: rename one",
        )],
    );
}

/// A list param in `requires` or `wants` would name one flow of all its items joined with
/// spaces: it is refused as such, not as an invalid flow id `a b`; a param of one value names
/// its flow.
#[test]
fn a_list_param_in_a_dependency_is_named_as_such() {
    let text = "[params]\ndeps = [\"a\", \"b\"]\nmore = [\"b\"]\none = \"a\"\n\
                [flows.a]\nshell = \"x\"\n[flows.b]\nshell = \"x\"\n\
                [flows.c]\nshell = \"x\"\nrequires = [\"{deps}\"]\nwants = [\"a\", \"{more}\"]\n\
                [flows.d]\nshell = \"x\"\nrequires = [\"{one}\"]\n";
    let says = "is a list param, and a flow id takes one value: list the flows, or name a \
                definition with a matrix (all its flows)";
    check_errors_in(
        Path::new("/tmp/wf"),
        text,
        &[],
        &[
            (
                "w.toml",
                11,
                13,
                &format!("`flows.c.requires`: `{{deps}}` {says}"),
            ),
            (
                "w.toml",
                12,
                15,
                &format!("`flows.c.wants`: `{{more}}` {says}"),
            ),
        ],
    );
}
