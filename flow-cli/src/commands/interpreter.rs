//! An `interpreter` without the option that makes it run a script given as text:
//! `["bash"]` or `["python3"]` where `["bash", "-c"]` or `["python3", "-c"]` was meant. The
//! script is passed as the last argument, so such an interpreter takes it for the name of a
//! file to run, and the flow fails only once it starts (`bash: echo hi: No such file or
//! directory`), maybe hours into the run. `flow validate` and `flow run` say so before, once
//! per definition. A script that could be a file's name (`analysis.py`: no space, quote,
//! bracket or shell operator) is not named: `["python3"]` runs that file, which may be meant.
//! So is a Python script indented as the TOML around it, which Python refuses
//! (`IndentationError: unexpected indent`).

use std::path::Path;

use crate::terminal;
use crate::workflow::{Action, Workflow};

/// What the name of a script file rarely holds and a script given as text mostly does: a
/// space, a line break, quotes, brackets, shell operators.
const NOT_IN_FILE_NAMES: [char; 16] = [
    ' ', '\t', '\n', '(', ')', '\'', '"', ';', '|', '&', '<', '>', '$', '=', '{', '`',
];

/// One warning per definition whose flows run a `shell` script holding one of
/// [`NOT_IN_FILE_NAMES`] with a known interpreter (a shell, Python, Perl, Ruby, Node.js,
/// Rscript) that lacks its option for a script given as text, or a Python script whose first
/// line is indented. Each names the place, the flow and what to write, made safe to print.
pub fn warnings(wf: &Workflow) -> Vec<String> {
    let mut out = Vec::new();
    for def in &wf.definitions {
        let flagless = wf.flows[def.flows.clone()].iter().find_map(|flow| {
            let Action::Shell(script) = &flow.action else {
                return None;
            };
            let text_like = script.contains(NOT_IN_FILE_NAMES);
            let flag = missing_flag(&flow.interpreter)?;
            text_like.then_some((flow, flag))
        });
        // A Python script indented as the TOML around it: `IndentationError: unexpected
        // indent` once it runs.
        let indented = wf.flows[def.flows.clone()].iter().find(|flow| {
            let Action::Shell(script) = &flow.action else {
                return false;
            };
            let first = script.lines().find(|line| !line.trim().is_empty());
            matches!(base(&flow.interpreter), Some("python" | "pypy"))
                && first.is_some_and(|line| line.starts_with([' ', '\t']))
        });
        if let Some(flow) = indented.filter(|_| flagless.is_none()) {
            out.push(format!(
                "{}: flow `{}` runs its `shell` script with `{}`, and the script's first line \
                 is indented: Python refuses it (IndentationError: unexpected indent); start \
                 its lines at the first column",
                terminal::safe(&def.at.to_string()),
                flow.id,
                terminal::safe(program(&flow.interpreter).map_or("", |p| &p[0])),
            ));
        }
        let Some((flow, flag)) = flagless else {
            continue;
        };
        let program = program(&flow.interpreter).map_or(&flow.interpreter[0], |p| &p[0]);
        let mut meant: Vec<String> = flow.interpreter.iter().map(|w| format!("{w:?}")).collect();
        meant.push(format!("\"{flag}\""));
        out.push(format!(
            "{}: flow `{}` runs its `shell` script with the interpreter [{}], which has no \
             `{flag}`: `{program}` will take the script for the name of a file to run and \
             fail; write [{}]",
            terminal::safe(&def.at.to_string()),
            flow.id,
            terminal::safe(
                &flow
                    .interpreter
                    .iter()
                    .map(|w| format!("{w:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            terminal::safe(&meant.join(", ")),
        ));
    }
    out
}

/// Prints [`warnings`] on stderr, one line each.
pub fn warn(wf: &Workflow) {
    for warning in warnings(wf) {
        terminal::eprint_line(&format!("flow: warning: {warning}"));
    }
}

/// For an interpreter whose program is a known one, the option that makes it run a script
/// given as text (`-c`, `-e`) when none of its arguments gives it; `None` when one does, or
/// for a program not known here.
fn missing_flag(interpreter: &[String]) -> Option<&'static str> {
    let args = program(interpreter)?.get(1..)?;
    let (flag, letters, long): (&str, &[char], &[&str]) = match base(interpreter)? {
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "mksh" | "ash" | "python" | "pypy" => {
            ("-c", &['c'], &[])
        }
        "perl" => ("-e", &['e', 'E'], &[]),
        "ruby" => ("-e", &['e'], &[]),
        "node" => ("-e", &['e', 'p'], &["--eval", "--print"]),
        "Rscript" => ("-e", &['e'], &[]),
        _ => return None,
    };
    let given = args.iter().any(|arg| {
        long.iter()
            .any(|l| arg == l || arg.starts_with(&format!("{l}=")))
            || (arg.starts_with('-')
                && !arg.starts_with("--")
                && arg[1..].contains(|c: char| letters.contains(&c)))
    });
    (!given).then_some(flag)
}

/// The name of an interpreter's program without its folder and version: `python` of
/// `/usr/bin/python3.11`, `perl` of `perl5.36`.
fn base(interpreter: &[String]) -> Option<&str> {
    let name = Path::new(program(interpreter)?.first()?)
        .file_name()?
        .to_str()?;
    Some(name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.'))
}

/// The interpreter from its program on: `["python3", "-u"]` of `["/usr/bin/env",
/// "PYTHONHASHSEED=0", "python3", "-u"]`, past `env`, its options and its variables (an
/// option's value, as of `-u NAME`, is taken for the program: such an interpreter is not
/// known here and gets no warning).
fn program(interpreter: &[String]) -> Option<&[String]> {
    let first = Path::new(interpreter.first()?).file_name()?;
    if first != "env" {
        return Some(interpreter);
    }
    let from = 1 + interpreter[1..]
        .iter()
        .position(|word| !word.starts_with('-') && !word.contains('='))?;
    Some(&interpreter[from..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` as `w.toml` in a new folder and returns its warnings.
    fn warnings_of(text: &str) -> Vec<String> {
        crate::commands::warnings_of(text, &[], warnings)
    }

    #[test]
    fn an_interpreter_without_its_script_option_is_named_at_its_flow() {
        let flow = |interpreter: &str, script: &str| {
            format!("[flows.a]\ninterpreter = {interpreter}\nshell = {script:?}\n")
        };
        // (interpreter, script, the warning or none)
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                r#"["bash"]"#,
                "echo hi",
                Some(
                    "w.toml:1: flow `a` runs its `shell` script with the interpreter \
                     [\"bash\"], which has no `-c`: `bash` will take the script for the name \
                     of a file to run and fail; write [\"bash\", \"-c\"]",
                ),
            ),
            (
                r#"["/usr/bin/python3.11", "-u"]"#,
                "import sys\nprint(1)",
                Some(
                    "w.toml:1: flow `a` runs its `shell` script with the interpreter \
                     [\"/usr/bin/python3.11\", \"-u\"], which has no `-c`",
                ),
            ),
            (
                r#"["perl", "-w"]"#,
                "print 1;\n",
                Some("w.toml:1: flow `a`"),
            ),
            (r#"["Rscript"]"#, "cat(1)\nq()", Some("w.toml:1: flow `a`")),
            // Through `env`, with its options and variables.
            (
                r#"["/usr/bin/env", "python3"]"#,
                "import sys\nprint(1)",
                Some(
                    "w.toml:1: flow `a` runs its `shell` script with the interpreter \
                     [\"/usr/bin/env\", \"python3\"], which has no `-c`: `python3` will take \
                     the script for the name of a file to run and fail; write \
                     [\"/usr/bin/env\", \"python3\", \"-c\"]",
                ),
            ),
            (
                r#"["env", "-i", "LC_ALL=C", "bash"]"#,
                "echo hi",
                Some("w.toml:1: flow `a`"),
            ),
            (r#"["env", "bash", "-c"]"#, "echo hi", None),
            (
                r#"["env", "PYTHONHASHSEED=0", "python3", "-c"]"#,
                "print(1)\n",
                None,
            ),
            (r#"["env"]"#, "echo hi", None),
            // The option given, alone or among others.
            (r#"["bash", "-c"]"#, "echo hi", None),
            (r#"["bash", "-euc"]"#, "echo hi", None),
            (r#"["bash", "-o", "pipefail", "-ec"]"#, "echo hi", None),
            (r#"["python3", "-uc"]"#, "print(1)\n", None),
            (r#"["node", "--eval"]"#, "console.log(1)\n", None),
            (r#"["perl", "-E"]"#, "say 1;\n", None),
            // A script that may be a file's name, or a program not known here.
            (r#"["bash"]"#, "scripts/step.sh", None),
            (r#"["python3"]"#, "analysis.py", None),
            (r#"["my-wrapper"]"#, "echo hi", None),
            // A Python script indented as the TOML around it.
            (
                r#"["python3", "-c"]"#,
                "\n    import sys\n    print(1)\n",
                Some(
                    "w.toml:1: flow `a` runs its `shell` script with `python3`, and the \
                     script's first line is indented: Python refuses it (IndentationError: \
                     unexpected indent); start its lines at the first column",
                ),
            ),
            (
                r#"["python3", "-c"]"#,
                "\nimport sys\nif 1:\n    print(1)\n",
                None,
            ),
            (r#"["bash", "-c"]"#, "\n    echo hi\n", None),
            (
                r#"["/usr/bin/env", "python3", "-c"]"#,
                "\n    print(1)\n",
                Some("w.toml:1: flow `a` runs its `shell` script with `python3`, and the"),
            ),
        ];
        for &(interpreter, script, expected) in cases {
            let got = warnings_of(&flow(interpreter, script));
            match expected {
                Some(start) => {
                    assert_eq!(got.len(), 1, "{interpreter} {script:?}: {got:?}");
                    assert!(
                        got[0].starts_with(start),
                        "{interpreter} {script:?}: {got:?}"
                    );
                }
                None => assert!(got.is_empty(), "{interpreter} {script:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn a_default_interpreter_is_named_once_per_definition() {
        let text = "[defaults]\ninterpreter = [\"sh\"]\n\
                    [flows.a]\nmatrix = { s = [\"x\", \"y\"] }\nshell = \"echo {s}\"\n\
                    [flows.b]\ncommand = [\"true\"]\n";
        let got = warnings_of(text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("w.toml:3: flow `a.x` runs"), "{got:?}");
    }
}
