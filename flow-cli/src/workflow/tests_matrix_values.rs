//! Data-driven tests of matrices whose values come from files (a `glob`) or the command
//! line (`--set`): the flows they make, and what is said of a value that cannot be one.

use super::tests_matrix::{argv, check_errors_in, ids, load_in};

#[test]
fn a_glob_matrix_takes_its_values_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    for f in ["s1.fastq", "s2.fastq", "notes.txt"] {
        std::fs::write(dir.path().join("data").join(f), "").unwrap();
    }
    let text = r#"
[params]
data = "data"
[flows.qc]
matrix = { sample = { glob = "{data}/{sample}.fastq" } }
command = ["qc", "{data}/{sample}.fastq"]
"#;
    let w = load_in(dir.path(), text, &[]).unwrap();
    assert_eq!(ids(&w), ["qc.s1", "qc.s2"]);
    assert_eq!(argv(&w, "qc.s2"), ["qc", "data/s2.fastq"]);
    check_errors_in(
        dir.path(),
        text,
        &[("data", "elsewhere")],
        &[(
            "w.toml",
            5,
            30,
            "`flows.qc.matrix.sample.glob` \"elsewhere/{sample}.fastq\" matches no file",
        )],
    );
    check_errors_in(
        dir.path(),
        "[flows.a]\nmatrix = { s = { glob = \"data/*.fastq\" } }\nshell = \"true\"\n",
        &[],
        &[("w.toml", 2, 25, "must name `{s}` once")],
    );
}

/// Snakemake's checkpoint, a split step whose files a matrix takes, cannot be a matrix: the
/// glob matches nothing when the workflow is read, and the error names the flow that writes
/// there and why it is too late.
#[test]
fn a_glob_matrix_over_files_a_flow_writes_says_why_it_matches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[flows.split]\nshell = \"true\"\noutputs = [\"chunks/\"]\n\
                [flows.c]\nshell = \"true\"\noutputs = [\"c\"]\n\
                [flows.blast]\nmatrix = { c = { glob = \"chunks/{c}.fa\" } }\nshell = \"true\"\n";
    let error = load_in(dir.path(), text, &[]).unwrap_err();
    assert!(
        error.contains(
            "matches no file (looked from {}): `chunks/` is written by flow `split`, but a \
             matrix is made when the workflow is read, before any flow runs; list the values, \
             or make the files first with a workflow of their own"
                .replace("{}", &dir.path().display().to_string())
                .as_str()
        ),
        "{error}"
    );
}

/// A sample file named with a space (`patient 2.fq`) makes no flow id: the error says what
/// to do, as the file's name is not written in the workflow; a listed value's is.
#[test]
fn a_glob_value_that_cannot_be_an_id_says_to_rename_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/patient 2.fq"), "").unwrap();
    let text = "[flows.qc]\nmatrix = { s = { glob = \"data/{s}.fq\" }, r = [\"x y\"] }\n\
                shell = \"true\"\n";
    let error = load_in(dir.path(), text, &[]).unwrap_err();
    assert!(
        error.contains(
            "the value `patient 2` (from the file `data/patient 2.fq`) of matrix axis `s` cannot \
             be part of the flow id `qc.…`: it \
             has a character other than A-Z a-z 0-9 _ . -; rename the file it comes from, or \
             write a glob that does not match it"
        ),
        "{error}"
    );
    let listed = "the value `x y` of matrix axis `r` cannot be part of the flow id `qc.…`: it \
                  has a character other than A-Z a-z 0-9 _ . -";
    assert!(error.lines().any(|l| l.ends_with(listed)), "{error}");
    // Named by its own axis also when an axis before it has no values.
    let text = "[flows.q]\nmatrix = { a = \"{nope}\", s = [\"x y\"] }\nshell = \"true\"\n";
    let error = load_in(dir.path(), text, &[]).unwrap_err();
    assert!(
        error.contains("the value `x y` of matrix axis `s` cannot"),
        "{error}"
    );
}

/// A matrix value that is not in the file (a `--set` of its list param, a file name its glob
/// matched) is named with where it came from: the line points at the file's text, which may
/// be fine.
#[test]
fn a_value_from_the_command_line_or_a_file_name_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a b.fq", "c.fq"] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    let text = "[params]\nsamples = [\"x\"]\n[flows.s]\nmatrix = { v = \"{samples}\" }\n\
                shell = \"true\"\n[flows.g]\nmatrix = { f = { glob = \"{f}.fq\" } }\n\
                shell = \"true\"\n";
    check_errors_in(
        dir.path(),
        text,
        &[("samples", "a,a")],
        &[
            (
                "w.toml",
                4,
                16,
                "param `samples` has the value `a` twice (from `--set samples=a,a`)",
            ),
            (
                "w.toml",
                7,
                25,
                "the value `a b` (from the file `a b.fq`) of matrix axis `f`",
            ),
        ],
    );
    check_errors_in(
        dir.path(),
        text,
        &[("samples", "ok,a b")],
        &[
            (
                "w.toml",
                4,
                16,
                "the value `a b` (from `--set samples=ok,a b`) of matrix axis",
            ),
            ("w.toml", 7, 25, "the value `a b` (from the file `a b.fq`)"),
        ],
    );
}
