//! `[params]`: named values with defaults (string, number, bool, list) that templates use,
//! and the `--set name=value` overrides given on the command line.

use std::ops::Range;

use super::diagnostic::{Collector, SourceId};
use super::doc::{self, Table, Value as TomlValue};
use super::template::{is_name, Value};

type Span = Option<Range<usize>>;

/// The type of a param, from its default: what `--set` must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Integer,
    Float,
    Bool,
    List,
}

/// One param as written.
#[derive(Debug, Clone)]
pub(super) struct Param {
    pub name: String,
    pub value: Value,
    pub kind: Kind,
    /// Where the name is written, and in which file.
    pub span: Span,
    pub source: SourceId,
    /// The `--set` argument's value that replaced the file's, if one did.
    pub set: Option<String>,
}

/// A scalar TOML value as template text, with its kind; `None` for arrays, tables and dates.
pub(super) fn scalar(value: &TomlValue<'_>) -> Option<(String, Kind)> {
    match value {
        TomlValue::String(s) => Some((s.to_string(), Kind::Text)),
        TomlValue::Integer(_) => doc::integer(value).map(|n| (n.to_string(), Kind::Integer)),
        TomlValue::Float(_) => doc::float(value)
            .and_then(|_| doc::float_text(value))
            .map(|text| (text, Kind::Float)),
        TomlValue::Boolean(b) => Some((b.to_string(), Kind::Bool)),
        _ => None,
    }
}

/// Reads the `[params]` table of `source` into `params`.
pub(super) fn parse_table(
    table: &Table<'_>,
    source: SourceId,
    params: &mut Vec<Param>,
    diags: &mut Collector<'_>,
) {
    for (name, item) in table.iter() {
        let (name, key_span) = (name.get_ref().as_ref(), doc::key_span(name));
        let span = doc::span(item);
        if !is_name(name) {
            diags.error(
                key_span,
                format!(
                    "invalid param name `{name}`: use letters, digits and `_`, not starting \
                     with a digit (templates write it as `{{{name}}}`)"
                ),
            );
            continue;
        }
        let value = item.get_ref();
        let parsed = match value {
            TomlValue::Array(array) => {
                let mut items = Vec::with_capacity(array.len());
                for v in array.iter() {
                    match scalar(v.get_ref()) {
                        Some((text, _)) => items.push(text),
                        None => diags.error(
                            doc::span(v),
                            format!(
                                "`params.{name}` must hold strings, numbers or bools, found {}",
                                doc::type_name(v.get_ref())
                            ),
                        ),
                    }
                }
                Some((Value::List(items), Kind::List))
            }
            other => scalar(other).map(|(text, kind)| (Value::One(text), kind)),
        };
        match parsed {
            Some((value, kind)) => params.push(Param {
                name: name.to_owned(),
                value,
                kind,
                span: key_span,
                source,
                set: None,
            }),
            None => diags.error(
                span,
                format!(
                    "`params.{name}` must be a string, number, bool or list, found {}",
                    doc::type_name(value)
                ),
            ),
        }
    }
}

/// Adds the params of an included file to `params`; a name set twice is reported at the
/// second place, naming the first.
pub(super) fn merge(params: &mut Vec<Param>, more: Vec<Param>, diags: &mut Collector<'_>) {
    for param in more {
        if let Some(first) = params.iter().find(|p| p.name == param.name) {
            let first = diags.place(first.source, first.span.as_ref());
            diags.error_at(
                param.source,
                param.span.as_ref().map_or(0, |s| s.start),
                format!("param `{}` is set twice: here and at {first}", param.name),
            );
        } else {
            params.push(param);
        }
    }
}

/// Applies `--set NAME=VALUE` overrides; an unknown name or a value of the wrong type is
/// reported at `at` (the `[params]` table, or the start of the workflow file).
pub(super) fn apply_overrides(
    params: &mut [Param],
    sets: &[(String, String)],
    at: Span,
    diags: &mut Collector<'_>,
) {
    for (k, (name, text)) in sets.iter().enumerate() {
        if let Some((_, first)) = sets[..k].iter().find(|(earlier, _)| earlier == name) {
            diags.error_at(
                0,
                at.as_ref().map_or(0, |s| s.start),
                format!(
                    "`--set {name}` is given twice (`{first}` and `{text}`): give it once; a list \
                     param takes `--set {name}=a,b`"
                ),
            );
            continue;
        }
        let Some(param) = params.iter_mut().find(|p| p.name == *name) else {
            let mut names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            names.sort_unstable();
            let known = if names.is_empty() {
                "it has no `[params]`".to_owned()
            } else {
                format!("its params: {}", names.join(", "))
            };
            diags.error_at(
                0,
                at.as_ref().map_or(0, |s| s.start),
                format!("`--set {name}={text}`: the workflow has no param `{name}` ({known})"),
            );
            continue;
        };
        let ok = match param.kind {
            Kind::Text => true,
            Kind::Integer => text.trim().parse::<i64>().is_ok(),
            Kind::Float => text.trim().parse::<f64>().is_ok_and(f64::is_finite),
            Kind::Bool => matches!(text.as_str(), "true" | "false"),
            Kind::List => true,
        };
        if !ok {
            let kind = match param.kind {
                Kind::Integer => "an integer",
                Kind::Float => "a number",
                _ => "`true` or `false`",
            };
            diags.error_at(
                param.source,
                param.span.as_ref().map_or(0, |s| s.start),
                format!("`--set {name}={text}`: param `{name}` is {kind}"),
            );
            continue;
        }
        param.value = match param.kind {
            Kind::List if text.is_empty() => Value::List(Vec::new()),
            Kind::List => Value::List(text.split(',').map(|s| s.trim().to_owned()).collect()),
            // An integer in decimal, as one from the file is; a float as written.
            Kind::Integer => Value::One(text.trim().parse::<i64>().unwrap_or_default().to_string()),
            Kind::Float => Value::One(text.trim().to_owned()),
            _ => Value::One(text.clone()),
        };
        param.set = Some(text.clone());
    }
}

/// Parses one `--set` argument, `NAME=VALUE`.
///
/// # Errors
/// A message for clap when there is no `=` or the name is not a param name.
pub fn parse_set(arg: &str) -> Result<(String, String), String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("`{arg}` must be NAME=VALUE, e.g. --set threads=8"))?;
    let name = name.trim();
    if !is_name(name) {
        return Err(format!(
            "`{name}` is not a param name (letters, digits and `_`, not starting with a digit)"
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}
