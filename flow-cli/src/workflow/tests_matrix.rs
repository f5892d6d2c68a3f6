//! Data-driven tests of params, templates, matrices and includes: the expanded flows of valid
//! files, and every problem at its file, line and column.

use std::path::Path;

use super::{from_str_with, Action, Workflow};

/// Loads `text` as `w.toml` in `dir` with the `--set` overrides `sets`.
pub(super) fn load_in(dir: &Path, text: &str, sets: &[(&str, &str)]) -> Result<Workflow, String> {
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    from_str_with(text, "w.toml", "w", dir, &sets).map_err(|e| e.to_string())
}

pub(super) fn load(text: &str) -> Result<Workflow, String> {
    load_in(Path::new("/tmp/wf"), text, &[])
}

/// Asserts that `text` (in `dir`, with `sets`) is refused with exactly these diagnostics, each
/// `(file, line, col, part of the message)`.
#[track_caller]
pub(super) fn check_errors_in(
    dir: &Path,
    text: &str,
    sets: &[(&str, &str)],
    expected: &[(&str, usize, usize, &str)],
) {
    let got = load_in(dir, text, sets).expect_err("the workflow should be refused");
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), expected.len(), "diagnostics:\n{got}");
    for (line, (f, l, c, part)) in lines.iter().zip(expected) {
        let prefix = format!("{f}:{l}:{c}: ");
        assert!(
            line.starts_with(&prefix),
            "`{line}` should start with `{prefix}`\n{got}"
        );
        assert!(line.contains(part), "`{line}` should contain `{part}`");
    }
}

#[track_caller]
fn check_errors(text: &str, expected: &[(usize, usize, &str)]) {
    let expected: Vec<_> = expected
        .iter()
        .map(|&(l, c, m)| ("w.toml", l, c, m))
        .collect();
    check_errors_in(Path::new("/tmp/wf"), text, &[], &expected);
}

pub(super) fn ids(w: &Workflow) -> Vec<&str> {
    w.flows.iter().map(|f| f.id.as_str()).collect()
}

pub(super) fn argv(w: &Workflow, id: &str) -> Vec<String> {
    match &w.flows.iter().find(|f| f.id == *id).unwrap().action {
        Action::Command(argv) => argv.clone(),
        Action::Shell(script) => vec![script.clone()],
    }
}

#[test]
fn a_matrix_expands_to_one_flow_per_combination_with_its_values() {
    let w = load(
        r#"
[params]
threads = 4
ref = "hg38"

[flows.split]
matrix = { chunk = [1, 2, 3] }
shell = "split --chunk {chunk} > part-{chunk}"

[flows.align]
matrix = { sample = ["a", "b"], chunk = [1, 2, 3] }
command = ["align", "-t", "{threads}", "{ref}", "{sample}.{chunk}", "{{literal}}"]
requires = ["split.{chunk}"]
env = { SAMPLE = "{sample}" }
cwd = "work/{sample}"

[flows.gather]
requires = ["align"]
wants = ["split"]
shell = "cat out/* > all"
"#,
    )
    .unwrap();
    assert_eq!(
        ids(&w),
        [
            "split.1",
            "split.2",
            "split.3",
            "align.a.1",
            "align.a.2",
            "align.a.3",
            "align.b.1",
            "align.b.2",
            "align.b.3",
            "gather"
        ]
    );
    assert_eq!(argv(&w, "split.2"), ["split --chunk 2 > part-2"]);
    assert_eq!(
        argv(&w, "align.b.3"),
        ["align", "-t", "4", "hg38", "b.3", "{literal}"]
    );
    let b3 = &w.flows[8];
    assert_eq!(b3.requires, ["split.3"]);
    assert_eq!(b3.env_var("SAMPLE"), Some("b"));
    assert_eq!(b3.cwd, Path::new("/tmp/wf/work/b"));
    let gather = &w.flows[9];
    assert_eq!(gather.requires.len(), 6);
    assert_eq!(gather.requires[0], "align.a.1");
    assert_eq!(gather.wants, ["split.1", "split.2", "split.3"]);
    assert_eq!(w.graph.dependency_count(), 6 + 6 + 3);
    assert_eq!(w.definitions.len(), 3);
    assert_eq!(w.definitions[1].flows, 3..9);
    assert!(w.has_matrix());
    // Between definitions: split -> align, align -> gather, split -> gather (optional).
    use flow_graph::DependencyType::{Optional, Required};
    assert_eq!(
        w.definition_edges(),
        [(0, 1, Required), (0, 2, Optional), (1, 2, Required)]
    );
}

#[test]
fn params_have_defaults_set_overrides_and_list_params_feed_a_matrix() {
    let text = r#"
[params]
samples = ["x", "y"]
day = "2026-11-26"
n = 2
fast = false

[flows.count]
matrix = { sample = "{samples}" }
command = ["count", "--day={day}", "-n", "{n}", "--fast={fast}", "{sample}"]

[flows.all]
command = ["echo", "{samples}"]
shell_free = 1
"#;
    let text = text.replace("shell_free = 1\n", "");
    let w = load(&text).unwrap();
    assert_eq!(ids(&w), ["count.x", "count.y", "all"]);
    assert_eq!(
        argv(&w, "count.y"),
        ["count", "--day=2026-11-26", "-n", "2", "--fast=false", "y"]
    );
    // A placeholder that is a whole argument and a list param gives one argument per item.
    assert_eq!(argv(&w, "all"), ["echo", "x", "y"]);
    let dir = Path::new("/tmp/wf");
    let sets = [("samples", "p,q,r"), ("n", "8"), ("day", "2027-01-01")];
    let w = load_in(dir, &text, &sets).unwrap();
    assert_eq!(ids(&w), ["count.p", "count.q", "count.r", "all"]);
    assert_eq!(argv(&w, "count.r")[1], "--day=2027-01-01");
    assert_eq!(argv(&w, "count.r")[3], "8");
    check_errors_in(
        dir,
        &text,
        &[("nn", "3"), ("n", "three"), ("fast", "yes")],
        &[
            (
                "w.toml",
                2,
                2,
                "`--set nn=3`: the workflow has no param `nn` (its params: day, fast, n, samples)",
            ),
            ("w.toml", 5, 1, "`--set n=three`: param `n` is an integer"),
            (
                "w.toml",
                6,
                1,
                "`--set fast=yes`: param `fast` is `true` or `false`",
            ),
        ],
    );
    check_errors_in(
        dir,
        "[flows.a]\nshell = \"true\"\n",
        &[("x", "1")],
        &[(
            "w.toml",
            1,
            1,
            "the workflow has no param `x` (it has no `[params]`)",
        )],
    );
}

#[test]
fn template_errors_at_their_line_and_column() {
    check_errors(
        r#"[params]
day = "x"
[defaults]
env = { D = "{dya}" }
[flows.a]
command = ["echo", "{day}", "a{sample}"]
env = { X = "\"{nope}" }
cwd = "w/{cwd}"
[flows.b]
shell = """
echo ${HOME}
"""
matrix = { i = [1] }
requires = ["a.{j}"]
"#,
        &[
            (
                4,
                14,
                "unknown name `dya` in `defaults.env.D`: known: `day`",
            ),
            (6, 31, "unknown name `sample` in `flows.a.command`"),
            (7, 16, "unknown name `nope` in `flows.a.env.X`"),
            (8, 10, "unknown name `cwd` in `flows.a.cwd`"),
            (
                14,
                16,
                "unknown name `j` in `flows.b.requires`: known: `day`, `i`",
            ),
        ],
    );
}

#[test]
fn matrix_errors() {
    check_errors(
        r#"[params]
one = "v"
empty = []
[flows.a]
matrix = { x = [] }
shell = "true"
[flows.b]
matrix = {}
shell = "true"
[flows.c]
matrix = { x = "plain", y = 3, "2z" = [1], w = { glob = 5 }, v = { pattern = "x" } }
shell = "true"
[flows.d]
matrix = { s = ["ok", "a b", "ok"] }
shell = "true"
[flows.e]
matrix = { one = ["1"], e = "{empty}", u = "{unknown}" }
shell = "true"
[flows.f]
matrix = 3
shell = "true"
"#,
        &[
            (5, 16, "`flows.a.matrix.x` is empty"),
            (8, 10, "`flows.b.matrix` has no axis"),
            (11, 16, "`flows.c.matrix.x` must be a list such as"),
            (11, 29, "`flows.c.matrix.y` must be a list such as"),
            (11, 32, "invalid matrix axis name `2z`"),
            (11, 57, "`flows.c.matrix.w.glob` must be a string"),
            (11, 68, "unknown key `pattern` in `flows.c.matrix.v`"),
            (
                14,
                23,
                "the value `a b` of matrix axis `s` cannot be part of the flow id",
            ),
            (14, 30, "`flows.d.matrix.s` has the value `ok` twice"),
            (
                17,
                12,
                "matrix axis `one` of flow `e` has the name of the param at w.toml:2:1",
            ),
            (17, 29, "param `empty` is an empty list"),
            (17, 45, "unknown name `unknown` in `flows.e.matrix.u`"),
            (20, 10, "`flows.f.matrix` must be a table of axes"),
        ],
    );
}

#[test]
fn a_list_param_with_a_value_twice_is_no_axis() {
    check_errors(
        r#"[params]
twice = ["a", "b", "a"]
[flows.g]
matrix = { t = "{twice}" }
shell = "true"
"#,
        &[(
            4,
            16,
            "`flows.g.matrix.t`: param `twice` has the value `a` twice",
        )],
    );
}

#[test]
fn expanded_ids_that_collide_or_are_too_long() {
    check_errors(
        r#"[flows.a]
matrix = { x = ["b.c", "b"], y = ["d", "c.d"] }
shell = "true"
[flows."p.q"]
shell = "true"
[flows.p]
matrix = { v = ["q"] }
shell = "true"
[flows.long]
matrix = { v = ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] }
shell = "true"
[flows.longer]
matrix = { x = ["bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"], y = ["bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"] }
shell = "true"
"#,
        &[
            (
                2,
                10,
                "the matrix of flow `a` makes flow id `a.b.c.d` twice, from `x = b.c, y = d` and \
                 from `x = b, y = c.d`: values holding a `.` join into one id, change one",
            ),
            (
                7,
                10,
                "flow id `p.q` is made twice: by flow `p` here and by flow `p.q` at w.toml:4:8",
            ),
            (
                10,
                17,
                "cannot be part of the flow id `long.…`: it is longer than 128",
            ),
            (13, 10, "flow `longer`: invalid flow id `longer.bbb"),
        ],
    );
}

#[test]
fn dependency_errors_name_the_definition_once() {
    check_errors(
        r#"[flows.split]
matrix = { chunk = [1, 2] }
shell = "true"
[flows.align]
matrix = { chunk = [1, 2, 3, 4] }
shell = "true"
requires = ["split.{chunk}", "splt"]
[flows.loop]
matrix = { chunk = [1, 2] }
shell = "true"
requires = ["loop2.{chunk}"]
[flows.loop2]
matrix = { chunk = [1, 2] }
shell = "true"
requires = ["loop"]
"#,
        &[
            (
                7,
                13,
                "flow `align` requires unknown flow `split.3` (for its flow `align.3` and 1 more)",
            ),
            (
                7,
                30,
                "flow `align` requires unknown flow `splt` (did you mean `split`?)",
            ),
            (15, 13, "dependency cycle: "),
        ],
    );
}

#[test]
fn includes_merge_params_and_flows_and_point_into_their_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::write(
        dir.path().join("lib/common.toml"),
        "include = [\"more.toml\"]\n[params]\nn = 3\n[flows.prepare]\ncommand = [\"mkdir\", \"-p\", \"out{n}\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("lib/more.toml"),
        "[flows.more]\nshell = \"true\"\n",
    )
    .unwrap();
    let text = "include = [\"lib/common.toml\"]\n[flows.main]\nshell = \"echo {n}\"\nrequires = [\"prepare\", \"more\"]\n";
    let w = load_in(dir.path(), text, &[]).unwrap();
    assert_eq!(ids(&w), ["more", "prepare", "main"]);
    assert_eq!(argv(&w, "prepare"), ["mkdir", "-p", "out3"]);
    assert_eq!(argv(&w, "main"), ["echo 3"]);

    std::fs::write(
        dir.path().join("lib/more.toml"),
        "[workflow]\nname = \"x\"\n[params]\nn = 4\n[flows.prepare]\nshell = \"{nope}\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cycle.toml"),
        "include = [\"cycle.toml\"]\n",
    )
    .unwrap();
    let text = "include = [\"lib/common.toml\", \"missing.toml\", \"cycle.toml\", \"lib/common.toml\"]\n[flows.main]\nshell = \"true\"\n";
    check_errors_in(
        dir.path(),
        text,
        &[],
        &[
            ("w.toml", 1, 31, "cannot read included file `missing.toml`"),
            (
                "w.toml",
                1,
                61,
                "`lib/common.toml` is included twice: here and at w.toml:1:12",
            ),
            (
                "lib/common.toml",
                3,
                1,
                "param `n` is set twice: here and at lib/more.toml:4:1",
            ),
            (
                "lib/common.toml",
                4,
                8,
                "flow `prepare` is defined twice: here and at lib/more.toml:5:8",
            ),
            (
                "lib/more.toml",
                1,
                2,
                "`workflow` cannot be set in an included file",
            ),
            (
                "lib/more.toml",
                6,
                10,
                "unknown name `nope` in `flows.prepare.shell`",
            ),
            (
                "cycle.toml",
                1,
                12,
                "include cycle: cycle.toml -> cycle.toml",
            ),
        ],
    );
}

mod properties {
    use proptest::prelude::*;

    use super::load;

    // For any matrix of 1 to 3 axes with 1 to 4 distinct values each, a definition makes one
    // flow per combination, with distinct ids `NAME.v1.v2...` in the order of the combinations
    // (the last axis fastest); a flow of another matrix naming `grid.{a}...` with the same
    // axes requires exactly the one flow with its values, and a flow naming `grid` requires
    // them all.
    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn a_matrix_makes_one_flow_per_combination(sizes in prop::collection::vec(1usize..5, 1..4)) {
            let names: Vec<String> = (0..sizes.len()).map(|i| format!("a{i}")).collect();
            let axes: Vec<String> = names
                .iter()
                .zip(&sizes)
                .map(|(name, &n)| {
                    let values: Vec<String> = (0..n).map(|v| format!("\"v{v}\"")).collect();
                    format!("{name} = [{}]", values.join(", "))
                })
                .collect();
            let matrix = axes.join(", ");
            let placeholders: Vec<String> = names.iter().map(|n| format!("{{{n}}}")).collect();
            let text = format!(
                "[flows.grid]\nmatrix = {{ {matrix} }}\nshell = \"echo {p}\"\n\
                 [flows.next]\nmatrix = {{ {matrix} }}\nshell = \"true\"\nrequires = [\"grid.{p}\"]\n\
                 [flows.all]\nshell = \"true\"\nrequires = [\"grid\"]\n",
                p = placeholders.join("."),
            );
            let w = load(&text).unwrap();
            let n: usize = sizes.iter().product();
            prop_assert_eq!(w.flows.len(), 2 * n + 1);
            let mut expected = vec![String::from("grid")];
            for &size in &sizes {
                expected = expected
                    .iter()
                    .flat_map(|prefix| (0..size).map(move |v| format!("{prefix}.v{v}")))
                    .collect();
            }
            let grid: Vec<&str> = w.flows[..n].iter().map(|f| f.id.as_str()).collect();
            prop_assert_eq!(&grid, &expected);
            for (k, next) in w.flows[n..2 * n].iter().enumerate() {
                prop_assert_eq!(next.id.as_str(), expected[k].replacen("grid", "next", 1));
                prop_assert_eq!(next.requires.len(), 1);
                prop_assert_eq!(next.requires[0].as_str(), expected[k].as_str());
            }
            prop_assert_eq!(w.flows[2 * n].requires.len(), n);
            prop_assert_eq!(w.graph.dependency_count(), 2 * n);
        }
    }
}

#[path = "tests_references.rs"]
mod references;
