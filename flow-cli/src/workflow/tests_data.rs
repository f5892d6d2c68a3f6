//! Tests of data.rs: the `requires` that inputs and outputs imply, and their errors.

use flow_graph::DependencyType::{Optional, Required};

use super::{key, normal};
use crate::workflow::test_support::load_str;

pub(super) fn requires(text: &str, flow: &str) -> Vec<String> {
    let wf = load_str(text).unwrap();
    let def = wf.flows.iter().find(|f| f.id.as_str() == flow).unwrap();
    assert!(
        def.requires
            .iter()
            .all(|p| wf.graph.dependency(p.as_str(), def.id.as_str()).is_some()),
        "the graph has every edge"
    );
    def.requires.iter().map(|p| p.to_string()).collect()
}

#[test]
fn the_first_segment_of_a_key() {
    for (key, first) in [
        ("in/a/b.txt", "in"),
        ("in", "in"),
        ("/data/x", "/data"),
        ("/data", "/data"),
        ("é/x.txt", "é"),
        (".", "."),
    ] {
        assert_eq!(super::top(key), first, "{key}");
    }
}

#[test]
fn an_input_folder_holding_an_output_in_a_non_ascii_folder_requires_its_writer() {
    let text = r#"
[flows.write]
command = ["true"]
outputs = ["é/x.txt"]
[flows.read]
command = ["true"]
inputs = ["é", "in/other.txt"]
"#;
    assert_eq!(requires(text, "read"), ["write"]);
}

#[test]
fn an_input_that_is_another_flows_output_requires_it() {
    let text = r#"
[params]
names = ["x", "y"]
[flows.make]
matrix = { n = "{names}" }
command = ["touch", "out/{n}.csv"]
outputs = ["out/{n}.csv"]
[flows.plots]
command = ["true"]
outputs = ["./plots/"]
[flows.one]
command = ["true"]
inputs = ["out/x.csv"]
[flows.all]
command = ["true"]
inputs = ["out/*.csv", "other.txt"]
[flows.folder]
command = ["true"]
inputs = ["plots/a.png", "out"]
"#;
    assert_eq!(requires(text, "one"), ["make.x"]);
    assert_eq!(requires(text, "all"), ["make.x", "make.y"]);
    assert_eq!(requires(text, "folder"), ["make.x", "make.y", "plots"]);
}

/// A glob input requires the writers of the outputs it matches, wherever its first
/// wildcard is (only outputs that begin as the glob does are looked at).
#[test]
fn a_glob_input_requires_the_writers_of_what_it_matches() {
    let text = r#"
[flows.a]
command = ["true"]
outputs = ["out/a1.txt"]
[flows.b]
command = ["true"]
outputs = ["out/b1.txt"]
[flows.top]
command = ["true"]
outputs = ["t.txt"]
[flows.dir]
command = ["true"]
outputs = ["dir/"]
"#;
    for (glob, writers) in [
        ("out/a*.txt", &["a"][..]),
        // Brackets are plain characters: a path, not a class.
        ("out/[ab]1.txt", &[]),
        ("out/?1.txt", &["a", "b"]),
        ("*.txt", &["top"]),
        // A folder output its first segment matches may hold matches.
        ("*/*.txt", &["a", "b", "dir"]),
        ("out/c*", &[]),
        ("in/*", &[]),
        // In a folder output: every match lies in it.
        ("dir/*.csv", &["dir"]),
        ("dir/sub/*/x", &["dir"]),
        ("./dir/[ab].csv", &["dir"]),
        ("dirx/*", &[]),
    ] {
        let text = format!("{text}[flows.read]\ncommand = [\"true\"]\ninputs = [\"{glob}\"]\n");
        assert_eq!(requires(&text, "read"), writers, "{glob}");
    }
}

#[test]
fn a_bad_glob_is_reported_where_it_is_written() {
    let error =
        load_str("[flows.a]\ncommand = [\"true\"]\ninputs = [\"data/a**.csv\"]\n").unwrap_err();
    assert!(
        error.contains("w.toml:3:11: `flows.a.inputs`: \"data/a**.csv\" is not a valid glob"),
        "{error}"
    );
    // Brackets are plain characters: no glob, and no error.
    load_str("[flows.a]\ncommand = [\"true\"]\ninputs = [\"data/[a.csv\"]\n").unwrap();
}

/// `run[1]/` is a folder of that name, never `run1/`: in a path and in a glob.
#[test]
fn brackets_in_an_input_match_themselves() {
    let text = r#"
[flows.w]
command = ["true"]
outputs = ["run[1]/a.fq"]
[flows.v]
command = ["true"]
outputs = ["run1/a.fq"]
"#;
    for (input, writers) in [
        ("run[1]/a.fq", &["w"][..]),
        ("run[1]/*.fq", &["w"]),
        ("run[1]/?.fq", &["w"]),
        ("run?/a.fq", &["v"]),
        ("run*/a.fq", &["w", "v"]),
    ] {
        let text = format!("{text}[flows.read]\ncommand = [\"true\"]\ninputs = [\"{input}\"]\n");
        assert_eq!(requires(&text, "read"), writers, "{input}");
    }
}

/// A list param in a path would make one path of all its items: refused where it is written.
#[test]
fn a_list_param_in_a_path_is_refused_where_it_is_written() {
    for (key, line) in [("inputs", 4), ("outputs", 4)] {
        let text = format!(
            "[params]\nsamples = [\"a\", \"b\"]\n[flows.a]\n{key} = [\"data/{{samples}}.csv\"]\n\
             shell = \"true\"\n"
        );
        let error = load_str(&text).unwrap_err();
        assert!(
            error.contains(&format!("w.toml:{line}:"))
                && error.contains(&format!(
                    "`flows.a.{key}`: `{{samples}}` is a list param, and a path takes one value"
                )),
            "{error}"
        );
    }
    // A scalar param is a path's part as before.
    let text =
        "[params]\nday = \"mon\"\n[flows.a]\ninputs = [\"data/{day}.csv\"]\nshell = \"true\"\n";
    assert!(load_str(text).is_ok());
}

#[test]
fn an_output_declared_twice_names_both_lines() {
    let text = "[flows.a]\ncommand = [\"true\"]\noutputs = [\"x.csv\"]\n\
                [flows.b]\ncommand = [\"true\"]\noutputs = [\"./x.csv\"]\n";
    let error = load_str(text).unwrap_err();
    assert!(
        error.contains("w.toml:6:")
            && error.contains(
                "output `./x.csv` is declared by flow `b` here and by flow `a` at w.toml:3:"
            ),
        "{error}"
    );
}

#[test]
fn inputs_and_outputs_that_close_a_cycle_are_refused() {
    let text = "[flows.a]\ncommand = [\"true\"]\ninputs = [\"b.txt\"]\noutputs = [\"a.txt\"]\n\
                [flows.b]\ncommand = [\"true\"]\ninputs = [\"a.txt\"]\noutputs = [\"b.txt\"]\n\
                [flows.c]\ncommand = [\"true\"]\ninputs = [\"c.txt\"]\noutputs = [\"c.txt\"]\n";
    let error = load_str(text).unwrap_err();
    assert!(error.contains("reads an output of its own"), "{error}");
    let error = load_str(&text[..text.find("[flows.c]").unwrap()]).unwrap_err();
    assert!(error.contains("make a cycle"), "{error}");
    // At an output of a flow of the cycle, not at the top of the file.
    assert!(error.contains("w.toml:8:12: the flows' inputs"), "{error}");
}

#[test]
fn paths_are_matched_as_keys_in_the_workflow_folder() {
    for (written, matched) in [
        ("out/x.txt", "out/x.txt"),
        ("out/../out/x.txt", "out/x.txt"),
        ("./a/b/../../o.txt", "o.txt"),
        ("a/..", "."),
        (".", "."),
        ("./", "."),
        ("sub/../.", "."),
        ("/tmp/wf/", "."),
        ("/tmp/wf/.", "."),
        ("/tmp/wf/sub/..", "."),
        ("/tmp/wf/out/x.txt", "out/x.txt"),
        ("/tmp/wf/./out/../out/", "out"),
        ("/tmp/wf", "."),
        ("/tmp/other/../wf/o.txt", "o.txt"),
        ("/tmp/wfx/o.txt", "/tmp/wfx/o.txt"),
        ("/tmp/wfx/../o.txt", "/tmp/o.txt"),
        // Out of the folder and back in, or out of it: resolved from the folder.
        ("../wf/out/x.txt", "out/x.txt"),
        ("../wf", "."),
        ("../wf/", "."),
        ("../../tmp/wf/./out/", "out"),
        ("../wfx/o.txt", "/tmp/wfx/o.txt"),
        ("../shared/x.txt", "/tmp/shared/x.txt"),
        ("a/../../x.txt", "/tmp/x.txt"),
        ("../../../../x", "/x"),
        ("/../x", "/x"),
        ("..", "/tmp"),
    ] {
        assert_eq!(key(written, Some("/tmp/wf")), matched, "{written}");
    }
}

#[test]
fn an_input_written_another_way_requires_the_flow_that_writes_it() {
    let text = "[flows.w]\ncommand = [\"true\"]\noutputs = [\"out/x.txt\"]\n\
                [flows.dots]\ncommand = [\"true\"]\ninputs = [\"out/../out/x.txt\"]\n\
                [flows.abs]\ncommand = [\"true\"]\ninputs = [\"/tmp/wf/out/x.txt\"]\n\
                [flows.glob]\ncommand = [\"true\"]\ninputs = [\"/tmp/wf/out/*.txt\"]\n\
                [flows.folder]\ncommand = [\"true\"]\ninputs = [\"/tmp/wf/out\"]\n";
    for flow in ["dots", "abs", "glob", "folder"] {
        assert_eq!(requires(text, flow), ["w"], "{flow}");
    }
}

#[test]
fn one_output_written_two_ways_is_declared_twice() {
    let text = "[flows.a]\ncommand = [\"true\"]\noutputs = [\"o.txt\"]\n\
                [flows.b]\ncommand = [\"true\"]\noutputs = [\"x/../o.txt\"]\n";
    let error = load_str(text).unwrap_err();
    assert!(
        error.contains(
            "w.toml:6:12: output `x/../o.txt` is declared by flow `b` here and by flow `a` at \
             w.toml:3:"
        ),
        "{error}"
    );
}

#[test]
fn an_output_inside_another_flows_output_folder_names_both() {
    let text = "[flows.d]\ncommand = [\"true\"]\noutputs = [\"dd/\"]\n\
                [flows.e]\ncommand = [\"true\"]\noutputs = [\"dd/o.txt\"]\n";
    let error = load_str(text).unwrap_err();
    assert!(
        error.contains(
            "w.toml:6:12: output `dd/o.txt` of flow `e` lies in output `dd/` of flow `d` at \
             w.toml:3:12: a file has one writer"
        ),
        "{error}"
    );
    // One flow may declare a folder and a file in it; an output beside a folder is fine.
    let text = "[flows.d]\ncommand = [\"true\"]\noutputs = [\"dd/\", \"dd/o.txt\"]\n\
                [flows.e]\ncommand = [\"true\"]\noutputs = [\"dd.txt\", \"ddx/o.txt\"]\n";
    assert!(load_str(text).is_ok());
}

#[test]
fn a_glob_output_is_refused_where_it_is_written() {
    let error = load_str("[flows.a]\ncommand = [\"true\"]\noutputs = [\"g*.txt\"]\n").unwrap_err();
    assert!(
        error.contains(
            "w.toml:3:12: `flows.a.outputs`: \"g*.txt\" is a glob: outputs are files or \
             folders, not globs"
        ),
        "{error}"
    );
}

#[test]
fn the_inputs_no_flow_writes_are_noted_with_their_lines() {
    let text = "[defaults]\ninputs = [\"common.txt\"]\n\
                [flows.w]\ncommand = [\"true\"]\noutputs = [\"out/\"]\n\
                [flows.r]\ncommand = [\"true\"]\n\
                inputs = [\"out/x.txt\", \"src.txt\", \"*.csv\", \"out\"]\n";
    let wf = load_str(text).unwrap();
    assert_eq!(wf.flows[0].unwritten, [0]);
    assert_eq!(wf.flows[1].unwritten, [0, 2]);
    let at: Vec<String> = (wf.definitions[1].inputs_at.iter())
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        at,
        ["w.toml:2", "w.toml:8", "w.toml:8", "w.toml:8", "w.toml:8"]
    );
    let wf = load_str("[flows.r]\ncommand = [\"true\"]\ninputs = [\"a\", \"b*\"]\n").unwrap();
    assert_eq!(wf.flows[0].unwritten, [0]);
}

#[test]
fn paths_are_made_plain() {
    for (written, plain) in [
        ("out/x.csv", "out/x.csv"),
        ("./out//x.csv", "out/x.csv"),
        ("out/plots/", "out/plots"),
        ("/abs/./p", "/abs/p"),
        ("./", "."),
        (".", "."),
        ("", "."),
        ("/", "/"),
        ("out/.", "out"),
        ("//abs//p/", "/abs/p"),
        ("a/..b", "a/..b"),
    ] {
        assert_eq!(normal(written), plain, "{written}");
    }
}

/// The workflow's folder, however it is written, holds every output in it: an input of it
/// requires each flow that writes there (not one that writes outside), and an output of it
/// holds every input in it.
#[test]
fn the_workflow_folder_as_input_requires_every_writer_in_it() {
    let writers = "[flows.gen]\nshell = \"true\"\noutputs = [\"gen.txt\"]\n\
                   [flows.deep]\nshell = \"true\"\noutputs = [\"out/a/b.txt\"]\n\
                   [flows.outside]\nshell = \"true\"\noutputs = [\"../x.txt\", \"/elsewhere/y\"]\n";
    for written in [
        ".",
        "./",
        "sub/..",
        "sub/../.",
        "/tmp/wf",
        "/tmp/wf/",
        "/tmp/wf/./",
    ] {
        let text = format!(
            "{writers}[flows.pack]\nshell = \"true\"\ninputs = [\"{written}\"]\n\
             outputs = [\"../pack.txt\"]\n"
        );
        assert_eq!(requires(&text, "pack"), ["gen", "deep"], "{written}");
        let wf = load_str(&text).unwrap();
        let pack = wf.flows.iter().find(|f| f.id.as_str() == "pack").unwrap();
        assert!(
            pack.unwritten.is_empty(),
            "{written}: the folder is written"
        );
    }
    // No flow writes in the folder: the input is one no flow writes, and nothing is required.
    let text = "[flows.outside]\nshell = \"true\"\noutputs = [\"../x.txt\"]\n\
                [flows.pack]\nshell = \"true\"\ninputs = [\".\"]\n";
    assert!(requires(text, "pack").is_empty());
}

/// Each attempt starts without its outputs, so an output may not be the workflow's folder or
/// hold it: refused where it is written, once per place (not once per flow of a matrix).
#[test]
fn an_output_holding_the_workflow_folder_is_refused_where_it_is_written() {
    for output in [
        ".", "./", "..", "sub/..", "../..", "/tmp/wf", "/tmp/wf/", "/tmp", "/",
    ] {
        let text = format!(
            "[flows.a]\nshell = \"true\"\noutputs = [\"a.txt\", \"{output}\"]\n\
             [flows.b]\nshell = \"true\"\noutputs = [\"b.txt\"]\n"
        );
        let error = load_str(&text).unwrap_err();
        assert!(
            error.contains(&format!(
                "w.toml:3:21: output `{output}` of flow `a` holds the workflow's folder: each \
                 attempt of a flow starts without its outputs"
            )),
            "{output}: {error}"
        );
        assert_eq!(
            error.matches("holds the workflow's folder").count(),
            1,
            "{error}"
        );
    }
    let text = "[flows.m]\nmatrix = { x = [\"1\", \"2\"] }\nshell = \"true\"\n\
                outputs = [\"{x}/..\"]\n";
    let error = load_str(text).unwrap_err();
    assert_eq!(
        error.matches("holds the workflow's folder").count(),
        1,
        "{error}"
    );
    assert!(
        error.contains("w.toml:4:12: output `1/..` of flow `m"),
        "{error}"
    );
    // Beside the folder, in it, or a folder whose name begins as the workflow's: fine.
    for output in ["../pack.txt", "out/", "/tmp/wfx/o.txt", "sub/../o.txt"] {
        let text = format!("[flows.a]\nshell = \"true\"\noutputs = [\"{output}\"]\n");
        assert!(load_str(&text).is_ok(), "{output}");
    }
}

/// A flow whose input is the folder it writes its outputs in reads an output of its own.
#[test]
fn the_workflow_folder_as_input_of_a_flow_writing_in_it_is_refused() {
    for (written, output) in [
        (".", "o.out"),
        ("./", "out/o.out"),
        ("sub/..", "o.out"),
        ("/tmp/wf", "o.out"),
        ("out/*.csv", "out/"),
    ] {
        let text = format!(
            "[flows.a]\nshell = \"true\"\ninputs = [\"{written}\"]\noutputs = [\"{output}\"]\n"
        );
        let error = load_str(&text).unwrap_err();
        assert!(
            error.contains("w.toml:4:12: flow `a` reads an output of its own as input"),
            "{written} {output}: {error}"
        );
    }
}

/// An input requires its writer, whatever `wants` says: a `wants` naming that very flow
/// contradicts the input and is refused at its place, once, naming both; a `wants` of a whole
/// definition leaves its other flows optional (as a `requires` of one of them does).
#[test]
fn an_input_requires_its_writer_even_when_wants_names_it() {
    let writers = "[params]\nnames = [\"x\", \"y\"]\n\
                   [flows.a]\nshell = \"true\"\noutputs = [\"a.txt\"]\n\
                   [flows.make]\nmatrix = { n = \"{names}\" }\nshell = \"true\"\n\
                   outputs = [\"out/{n}.csv\"]\n";
    // (the reader's lines, Ok(its requires and wants) or Err(the error)).
    type Expected = Result<(&'static [&'static str], &'static [&'static str]), &'static str>;
    let cases: [(&str, Expected); 8] = [
        (
            "wants = [\"a\"]\ninputs = [\"a.txt\"]",
            Err(
                "w.toml:11:10: flow `r` reads `a.txt`, which `a` writes, so it requires `a`: \
                 remove `a` from `wants` or the input",
            ),
        ),
        (
            "wants = [\"a\"]\ninputs = [\"./a.txt\"]",
            Err("w.toml:11:10: flow `r` reads `./a.txt`, which `a` writes, so it requires `a`"),
        ),
        (
            "wants = [\"make.x\"]\ninputs = [\"out/*.csv\"]",
            Err(
                "w.toml:11:10: flow `r` reads `out/*.csv`, which covers `out/x.csv` that \
                 `make.x` writes, so it requires `make.x`: remove `make.x` from `wants` or \
                 the input",
            ),
        ),
        (
            "wants = [\"make\"]\ninputs = [\"out/x.csv\"]",
            Ok((&["make.x"], &["make.y"])),
        ),
        (
            "wants = [\"make\"]\ninputs = [\"out\"]",
            Ok((&["make.x", "make.y"], &[])),
        ),
        (
            "requires = [\"a\"]\ninputs = [\"a.txt\"]",
            Ok((&["a"], &[])),
        ),
        (
            "requires = [\"make.x\"]\nwants = [\"make\"]\ninputs = [\"out/y.csv\"]",
            Ok((&["make.x", "make.y"], &[])),
        ),
        (
            "wants = [\"a\"]\ninputs = [\"out/x.csv\"]",
            Ok((&["make.x"], &["a"])),
        ),
    ];
    for (reader, expected) in cases {
        let text = format!("{writers}[flows.r]\n{reader}\nshell = \"true\"\n");
        match (load_str(&text), expected) {
            (Ok(wf), Ok((required, wanted))) => {
                let r = wf.flows.iter().find(|f| f.id.as_str() == "r").unwrap();
                let names = |ids: &[flow_graph::FlowId]| -> Vec<String> {
                    ids.iter().map(ToString::to_string).collect()
                };
                assert_eq!(names(&r.requires), required, "{reader}");
                assert_eq!(names(&r.wants), wanted, "{reader}");
                for (parents, kind) in [(required, Required), (wanted, Optional)] {
                    for p in parents {
                        assert_eq!(wf.graph.dependency(p, "r"), Some(kind), "{reader}: {p}");
                    }
                }
            }
            (Err(error), Err(message)) => {
                assert!(error.contains(message), "{reader}: {error}");
                assert_eq!(error.matches("so it requires").count(), 1, "{error}");
            }
            (got, _) => panic!("{reader}: {:?}", got.map(|wf| wf.flows)),
        }
    }
    // A `wants` with matrix values naming each writer is reported once, at its place.
    let text = format!(
        "{writers}[flows.r]\nmatrix = {{ n = \"{{names}}\" }}\nwants = [\"make.{{n}}\"]\n\
         inputs = [\"out/{{n}}.csv\"]\nshell = \"true\"\n"
    );
    let error = load_str(&text).unwrap_err();
    assert!(
        error.contains("w.toml:12:10: flow `r.x` reads `out/x.csv`, which `make.x` writes"),
        "{error}"
    );
    assert_eq!(error.matches("so it requires").count(), 1, "{error}");
}

/// A glob input requires the writer of each output it matches, of each output that lies in
/// a folder it matches, and of each folder output its matches may lie in.
#[test]
fn a_glob_input_requires_the_writers_of_outputs_in_the_folders_it_matches() {
    let writers = "[flows.p]\nmatrix = { s = [\"A\", \"B\"] }\nshell = \"true\"\n\
                   outputs = [\"res/{s}/count.txt\"]\n\
                   [flows.deep]\nshell = \"true\"\noutputs = [\"res2/x/y/z.txt\"]\n\
                   [flows.folder]\nshell = \"true\"\noutputs = [\"fold/A/\"]\n\
                   [flows.file]\nshell = \"true\"\noutputs = [\"fold/log.txt\"]\n\
                   [flows.top]\nshell = \"true\"\noutputs = [\"t.txt\"]\n";
    for (glob, expected) in [
        // Matches folders the outputs lie in.
        ("res/*", &["p.A", "p.B"][..]),
        ("res/*/", &["p.A", "p.B"]),
        ("./res/[AB]", &[]),
        ("res/?", &["p.A", "p.B"]),
        ("re?", &["p.A", "p.B"]),
        ("r*", &["p.A", "p.B", "deep"]),
        ("res2/*/y", &["deep"]),
        ("*", &["p.A", "p.B", "deep", "folder", "file", "top"]),
        ("/tmp/wf/res/*", &["p.A", "p.B"]),
        ("../wf/res/*", &["p.A", "p.B"]),
        // Matches the outputs.
        ("res/*/count.txt", &["p.A", "p.B"]),
        ("res/**/count.txt", &["p.A", "p.B"]),
        ("res/A/*", &["p.A"]),
        ("res/*/*.csv", &[]),
        ("rest/*", &[]),
        // Matches may lie in a folder output its first segments match (not in a file).
        ("fold/*/x.txt", &["folder"]),
        ("fold/?/x.txt", &["folder"]),
        ("fold/A/*.txt", &["folder"]),
        ("fold/B/*.txt", &[]),
        ("f*/*/x.txt", &["folder"]),
        ("fold/*", &["folder", "file"]),
    ] {
        let text = format!("{writers}[flows.r]\nshell = \"true\"\ninputs = [\"{glob}\"]\n");
        let mut got = requires(&text, "r");
        got.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(got, expected, "{glob}");
    }
    // A folder output holding the folder of the first wildcard, however it is written.
    for output in ["res/", "res", "./res/", "/tmp/wf/res/", "../wf/res"] {
        let text = format!(
            "[flows.w]\nshell = \"true\"\noutputs = [\"{output}\"]\n\
             [flows.r]\nshell = \"true\"\ninputs = [\"res/*/count.txt\"]\n"
        );
        assert_eq!(requires(&text, "r"), ["w"], "{output}");
    }
}

/// A glob that matches a folder holding an output of the flow's own reads that output; a
/// glob whose first segments match a file of its own does not.
#[test]
fn a_glob_input_holding_an_output_of_its_own_is_refused() {
    for (glob, output, refused) in [
        ("res/*", "res/C/count.txt", true),
        ("*", "out/x.txt", true),
        ("res/*/count.txt", "res/C/", true),
        ("res/*/count.txt", "res/summary.txt", false),
        ("res/*/count.txt", "summary.txt", false),
    ] {
        let text = format!(
            "[flows.a]\nshell = \"true\"\ninputs = [\"{glob}\"]\noutputs = [\"{output}\"]\n"
        );
        match load_str(&text) {
            Ok(_) => assert!(!refused, "{glob} {output}"),
            Err(error) => assert!(
                refused && error.contains("w.toml:4:12: flow `a` reads an output of its own"),
                "{glob} {output}: {error}"
            ),
        }
    }
}
