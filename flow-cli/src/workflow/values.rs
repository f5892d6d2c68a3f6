//! The values of a workflow's keys, each read from its TOML item with its errors reported at
//! its span: a command, a script, a list of flow ids, a duration, a count of retries, a table
//! of environment variables.

use std::collections::BTreeMap;
use std::time::Duration;

use super::diagnostic::Collector;
use super::doc::{self, Value};
use super::parse::{RawAction, Span};
use super::template::{not_filled_in, Template};

pub(super) fn command(
    item: &Value<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> Option<RawAction> {
    let Some(array) = item.as_array() else {
        diags.error(
            span,
            format!(
                "`{what}` must be an array of strings such as [\"sort\", \"-u\", \"in.txt\"], found {} \
                 (use `shell` for a shell script)",
                doc::type_name(item)
            ),
        );
        return None;
    };
    let mut argv = Vec::with_capacity(array.len());
    let mut ok = true;
    for value in array.iter() {
        match value.get_ref().as_str() {
            Some(s) => match super::limits::argument_problem(what, s) {
                Some(problem) => {
                    diags.error(doc::span(value), problem);
                    ok = false;
                }
                None => argv.push(Template::new(s.to_owned(), doc::span(value))),
            },
            None => {
                diags.error(
                    doc::span(value),
                    format!(
                        "`{what}` must hold only strings, found {}",
                        doc::type_name(value.get_ref())
                    ),
                );
                ok = false;
            }
        }
    }
    match argv.first() {
        None if ok => {
            diags.error(span, format!("`{what}` is empty: name a program to run"));
            None
        }
        Some(program) if program.text.is_empty() => {
            diags.error(span, format!("`{what}` starts with an empty program name"));
            None
        }
        // `command = ["echo hi"]`: a whole command line as the program's name.
        Some(program) if program.text.contains(' ') && !program.text.contains('/') => {
            // Only the program is split: the arguments after it are each one already.
            let words: Vec<&str> = (program.text.split_whitespace())
                .chain(argv[1..].iter().map(|a| a.text.as_str()))
                .collect();
            diags.error(
                program.span.clone(),
                format!(
                    "`{what}` names the program `{}`, with a space: give one string per \
                     argument, as {words:?}, or write a shell script with `shell`",
                    program.text
                ),
            );
            None
        }
        _ if ok => Some(RawAction::Command(argv)),
        _ => None,
    }
}

pub(super) fn shell(
    item: &Value<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> Option<RawAction> {
    match item.as_str() {
        Some(script) if !script.trim().is_empty() => {
            match super::limits::argument_problem(what, script) {
                Some(problem) => {
                    diags.error(span, problem);
                    None
                }
                None => Some(RawAction::Shell(Template::new(script.to_owned(), span))),
            }
        }
        Some(_) => {
            diags.error(span, format!("`{what}` is empty: write a script"));
            None
        }
        None => {
            diags.error(
                span,
                format!(
                    "`{what}` must be a string (a script), found {}",
                    doc::type_name(item)
                ),
            );
            None
        }
    }
}

pub(super) fn refs(
    item: &Value<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> Vec<Template> {
    let Some(array) = item.as_array() else {
        diags.error(
            span,
            format!(
                "`{what}` must be an array of flow ids, found {}",
                doc::type_name(item)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(array.len());
    for value in array.iter() {
        match value.get_ref().as_str() {
            Some(name) => out.push(Template::new(name.to_owned(), doc::span(value))),
            None => diags.error(
                doc::span(value),
                format!(
                    "`{what}` must hold flow ids (strings), found {}",
                    doc::type_name(value.get_ref())
                ),
            ),
        }
    }
    out
}

/// Whether a duration of zero is refused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Positive {
    Yes,
    No,
}

pub(super) fn duration(
    item: &Value<'_>,
    what: &str,
    span: Span,
    positive: Positive,
    diags: &mut Collector<'_>,
) -> Option<Duration> {
    let Some(text) = item.as_str() else {
        diags.error(
            span,
            format!(
                "`{what}` must be a duration string such as \"30s\", \"500ms\" or \"10m\", found {}",
                doc::type_name(item)
            ),
        );
        return None;
    };
    match humantime::parse_duration(text) {
        // humantime reads `M` as months: "10M" is a timeout of ten months, never meant.
        Ok(d) if humantime::parse_duration(&text.replace('M', "m")).is_ok_and(|m| m != d) => {
            diags.error(
                span,
                format!(
                    "invalid duration \"{text}\" for `{what}`: `M` means months; write `m` \
                     for minutes (units: ms, s, m, h, d)"
                ),
            );
            None
        }
        Ok(d) if positive == Positive::Yes && d.is_zero() => {
            diags.error(span, format!("`{what}` must be longer than zero"));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            // `{param}` is filled in only where the format says templates are.
            let templates = if text.contains('{') {
                "; templates (`{name}`) are not filled in here"
            } else {
                ""
            };
            diags.error(
                span,
                format!(
                    "invalid duration \"{text}\" for `{what}`: {e} (write e.g. \"30s\", \"500ms\", \"10m\", \"1h 30m\"){templates}"
                ),
            );
            None
        }
    }
}

pub(super) fn retries(
    item: &Value<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> Option<u32> {
    match doc::integer(item) {
        Some(n) => match u32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) if n < 0 => {
                diags.error(span, format!("`{what}` must be 0 or more, found {n}"));
                None
            }
            Err(_) => {
                diags.error(
                    span,
                    format!("`{what}` must be at most {}, found {n}", u32::MAX),
                );
                None
            }
        },
        None => {
            diags.error(
                span,
                format!(
                    "`{what}` must be an integer, found {}",
                    doc::type_name(item)
                ),
            );
            None
        }
    }
}

/// The variables flow gives every command, whatever `env` says: flow-core's, and the folder
/// of the workflow file, which `flow run` adds.
fn flows_own() -> Vec<&'static str> {
    let mut own = flow_core::OWN_VARIABLES.to_vec();
    own.push("FLOW_WORKFLOW_DIR");
    own
}

pub(super) fn env(
    item: &Value<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> BTreeMap<String, Template> {
    let mut out = BTreeMap::new();
    let Some(table) = item.as_table() else {
        diags.error(
            span,
            format!(
                "`{what}` must be a table of strings such as {{ LANG = \"C\" }}, found {}",
                doc::type_name(item)
            ),
        );
        return out;
    };
    for (key, value) in table.iter() {
        let value_span = doc::span(value);
        let (key, key_span) = (key.get_ref().as_ref(), doc::key_span(key));
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            diags.error(
                key_span.or(value_span),
                format!("`{what}` has an invalid variable name \"{key}\" (no `=`, not empty)"),
            );
            continue;
        }
        // Values are templates, names are not: variables are merged and looked up by name.
        if let Some(problem) = not_filled_in(&format!("{what}.{key}"), key) {
            diags.error(
                key_span.or(value_span),
                format!(
                    "{problem}: write the variable's name itself (the values of `env` are \
                     templates, its names are not)"
                ),
            );
            continue;
        }
        // flow sets these for every command, over any value of the file: one written here
        // would never reach the command.
        let own = flows_own();
        if own.contains(&key) {
            diags.error(
                key_span.or(value_span),
                format!(
                    "`{what}` sets `{key}`, which flow sets itself for every command ({}): its \
                     value would never reach the command; give the variable another name",
                    own.join(", ")
                ),
            );
            continue;
        }
        match value.get_ref().as_str() {
            Some(v) if !v.contains('\0') => match super::expand_env::check(v) {
                Ok(()) => {
                    out.insert(key.to_owned(), Template::new(v.to_owned(), value_span));
                }
                Err(e) => diags.error(value_span, format!("`{what}.{key}`: {e}")),
            },
            Some(_) => diags.error(value_span, format!("`{what}.{key}` contains a NUL byte")),
            None => diags.error(
                value_span,
                format!(
                    "`{what}.{key}` must be a string, found {} (quote it: \"...\")",
                    doc::type_name(value.get_ref())
                ),
            ),
        }
    }
    out
}
