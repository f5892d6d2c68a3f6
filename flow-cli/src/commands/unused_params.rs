//! Params of the workflow file that no template uses (`workflow/unused.rs`): `flow validate`
//! and `flow run` name each, at its line, as a warning.

use crate::terminal;
use crate::workflow::Workflow;

/// One warning per param of the workflow file that no template uses, made safe to print.
pub fn warnings(wf: &Workflow) -> Vec<String> {
    (wf.unused_params.iter())
        .map(|(name, line)| {
            terminal::safe(&format!(
                "{line}: param `{name}` is used nowhere: no template writes `{{{name}}}`, so it \
                 (and a `--set {name}=...`) changes nothing; write `{{{name}}}` where it is \
                 meant, or remove it"
            ))
            .into_owned()
        })
        .collect()
}

/// Prints [`warnings`] on stderr, one line each.
pub fn warn(wf: &Workflow) {
    for warning in warnings(wf) {
        terminal::eprint_line(&format!("flow: warning: {warning}"));
    }
}

#[cfg(test)]
mod tests {
    use crate::workflow::test_support::load_str;

    /// Each place a param can be used keeps it from the warning; one used nowhere is named
    /// at its line, and so is each of several.
    #[test]
    fn a_param_used_nowhere_is_named_at_its_line() {
        // (`[defaults]` keys, the flow's keys, the params used nowhere)
        let cases: &[(&str, &str, &[&str])] = &[
            ("", "command = [\"echo\", \"{p}\"]", &["list"]),
            ("", "shell = \"echo {p} {list}\"", &[]),
            ("", "shell = \"true\"\ninputs = [\"{p}.csv\"]", &["list"]),
            ("", "shell = \"true\"\noutputs = [\"{p}.csv\"]", &["list"]),
            ("", "shell = \"true\"\ncwd = \"{p}\"", &["list"]),
            ("", "shell = \"true\"\nenv = { P = \"{p}\" }", &["list"]),
            (
                "",
                "shell = \"true\"\nrequires = [\"{p}\"]\n[flows.a]\nshell = \"true\"",
                &["list"],
            ),
            (
                "",
                "shell = \"true\"\nwants = [\"{p}\"]\n[flows.a]\nshell = \"true\"",
                &["list"],
            ),
            (
                "",
                "shell = \"echo {s}\"\nmatrix = { s = \"{list}\" }",
                &["p"],
            ),
            ("env = { L = \"{list}\" }", "shell = \"true\"", &["p"]),
            ("inputs = [\"{p}.sh\"]", "shell = \"true\"", &["list"]),
            ("", "shell = \"true\"", &["p", "list"]),
        ];
        for (defaults, flow, unused) in cases {
            let text = format!(
                "[params]\np = \"a\"\nlist = [\"b\"]\n[defaults]\n{defaults}\n[flows.x]\n{flow}\n"
            );
            let wf = load_str(&text).unwrap_or_else(|e| panic!("{flow}: {e}"));
            let named: Vec<&str> = wf.unused_params.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(named, *unused, "{defaults} {flow}");
        }
        let text = "[params]\nthreads = 4\nday = \"mon\"\nout = \"o\"\n\
                    [flows.x]\nshell = \"echo {day}\"\n";
        let wf = load_str(text).unwrap();
        let says = |line: u32, name: &str| {
            format!(
                "w.toml:{line}: param `{name}` is used nowhere: no template writes \
                 `{{{name}}}`, so it (and a `--set {name}=...`) changes nothing; write \
                 `{{{name}}}` where it is meant, or remove it"
            )
        };
        assert_eq!(super::warnings(&wf), [says(2, "threads"), says(4, "out")]);
    }

    /// A param of an included file (shared by several workflows) is not named; one of the
    /// workflow file is, also when only an included flow could have used it.
    #[test]
    fn a_param_of_an_included_file_is_not_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("common.toml"),
            "[params]\nthreads = 8\n[flows.prepare]\ncommand = [\"true\"]\n",
        )
        .unwrap();
        let text = "include = [\"common.toml\"]\n[params]\nday = \"mon\"\n\
                    [flows.x]\nshell = \"true\"\n";
        let wf = crate::workflow::from_str(text, "w.toml", "w", dir.path()).unwrap();
        let named: Vec<String> = (wf.unused_params.iter())
            .map(|(n, line)| format!("{line} {n}"))
            .collect();
        assert_eq!(named, ["w.toml:3 day"]);
    }
}
