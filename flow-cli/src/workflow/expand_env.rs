//! `${VAR}` in `env` values: expanded from the environment the flow gets (this process's, then
//! `[defaults] env`, then the flow's own `FLOW_ID` and `FLOW_WORKFLOW_DIR`), `$$` for a
//! literal `$`, in the text the file writes (a param's or a matrix's value is put in as it
//! is). A `$` followed by anything else is refused when the file is checked, so that
//! `$HOME/bin` is not passed on literally by mistake; a variable whose value is not UTF-8 is
//! refused where it is expanded (it would otherwise expand to something else than it holds).

use std::borrow::Cow;

use std::collections::BTreeMap;
use std::path::Path;

use super::template::is_name;

/// Text of a `[defaults] env` value of a workflow in `dir`, expanded: it sees this process's
/// environment and `FLOW_WORKFLOW_DIR`.
///
/// # Errors
/// What [`expand`] refuses.
pub(super) fn expand_default<'a>(value: &'a str, dir: &Path) -> Result<Cow<'a, str>, String> {
    if !value.contains('$') {
        return Ok(Cow::Borrowed(value));
    }
    expand(value, |name| base(name, dir)).map(Cow::Owned)
}

/// Text of flow `id`'s own `env` value, expanded: it sees what a default sees, the defaults
/// (already expanded) and `FLOW_ID`.
///
/// # Errors
/// What [`expand`] refuses.
pub(super) fn expand_own<'a>(
    value: &'a str,
    defaults: &BTreeMap<String, String>,
    id: &str,
    dir: &Path,
) -> Result<Cow<'a, str>, String> {
    if !value.contains('$') {
        return Ok(Cow::Borrowed(value));
    }
    let layered = |name: &str| match name {
        "FLOW_ID" => Ok(Some(id.to_owned())),
        _ => match defaults.get(name) {
            Some(value) => Ok(Some(value.clone())),
            None => base(name, dir),
        },
    };
    expand(value, layered).map(Cow::Owned)
}

/// `name` in this process's environment (`FLOW_WORKFLOW_DIR`: `dir`).
///
/// # Errors
/// When its value is not UTF-8.
fn base(name: &str, dir: &Path) -> Result<Option<String>, String> {
    match name {
        "FLOW_WORKFLOW_DIR" => match dir.to_str() {
            Some(dir) => Ok(Some(dir.to_owned())),
            None => Err(format!(
                "`${{FLOW_WORKFLOW_DIR}}` cannot be expanded: the workflow's folder {} is not \
                 UTF-8, which flow cannot pass on as text",
                dir.display()
            )),
        },
        _ => match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                "`${{{name}}}` names an environment variable whose value is not UTF-8, \
                 which flow cannot pass on as text: give the value in the file, or set \
                 `{name}` to text"
            )),
        },
    }
}

/// Expands `value`, looking variables up with `lookup` (an unset variable expands to "").
///
/// # Errors
/// A message saying what to write instead, for a `$` that is neither `${NAME}` nor `$$`, or
/// the lookup's own.
pub(super) fn expand(
    value: &str,
    lookup: impl Fn(&str) -> Result<Option<String>, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let Some(end) = braced.find('}') else {
                return Err(format!(
                    "`${{` without its `}}` in \"{value}\": write ${{NAME}}, or $$ for a literal $"
                ));
            };
            let name = &braced[..end];
            // `${DATA:-/data}`, `${DATA:?}`, `${DATA%/}`: a shell's forms, which flow does not
            // have.
            let shell_form = name
                .find([':', '#', '%', '/', '-', '=', '?', '+'])
                .map(|at| (&name[..at], &name[at..]))
                .filter(|(head, _)| is_name(head));
            if let Some((head, form)) = shell_form {
                return Err(format!(
                    "`${{{name}}}` in \"{value}\": flow expands only ${{NAME}}, not a shell's \
                     `{form}`; write ${{{head}}}, and give `{head}` its default in `[defaults] \
                     env` or where flow starts"
                ));
            }
            if !is_name(name) {
                return Err(format!(
                    "`${{{name}}}` in \"{value}\" is not a variable name (letters, digits and _, \
                     not starting with a digit)"
                ));
            }
            out.push_str(&lookup(name)?.unwrap_or_default());
            rest = &braced[end + 1..];
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let hint = if name.is_empty() {
                "write $$ for a literal $".to_owned()
            } else {
                format!("write ${{{name}}} to use the variable, or $$ for a literal $")
            };
            return Err(format!("a bare `$` in \"{value}\": {hint}"));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks the syntax of `value` (no lookup).
pub(super) fn check(value: &str) -> Result<(), String> {
    expand(value, |_| Ok(None)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_rules() {
        let lookup = |name: &str| match name {
            "HOME" => Ok(Some("/home/ann".to_owned())),
            "PATH" => Ok(Some("/usr/bin:/bin".to_owned())),
            "BYTES" => Err("not UTF-8".to_owned()),
            _ => Ok(None),
        };
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("plain", Ok("plain")),
            ("${HOME}/bin:${PATH}", Ok("/home/ann/bin:/usr/bin:/bin")),
            ("cost: $$5", Ok("cost: $5")),
            ("$$HOME", Ok("$HOME")),
            ("${UNSET}x", Ok("x")),
            ("", Ok("")),
            ("$HOME/bin", Err("write ${HOME} to use the variable")),
            ("5$", Err("write $$ for a literal $")),
            ("${HOME", Err("without its `}`")),
            ("${1X}", Err("is not a variable name")),
            ("${}", Err("is not a variable name")),
            (
                "${DATA:-/data}/x",
                Err(
                    "flow expands only ${NAME}, not a shell's `:-/data`; write ${DATA}, and give \
                     `DATA` its default in `[defaults] env` or where flow starts",
                ),
            ),
            ("${HOME%/}", Err("not a shell's `%/`; write ${HOME}")),
            ("${#HOME}", Err("is not a variable name")),
            ("a ${BYTES}", Err("not UTF-8")),
            ("a $$BYTES", Ok("a $BYTES")),
        ];
        for (value, expected) in cases {
            match (expand(value, lookup), expected) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{value}"),
                (Err(got), Err(part)) => assert!(got.contains(part), "{value}: {got}"),
                (got, want) => panic!("{value}: got {got:?}, want {want:?}"),
            }
        }
    }
}
