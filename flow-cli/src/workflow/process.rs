//! The keys that say how a flow's process runs and stops, per flow and in `[defaults]`:
//! `kill_grace` (the time between SIGTERM and SIGKILL) and `interpreter` (what runs a
//! `shell` script), and the interpreter used when none is given.

use std::path::Path;
use std::time::Duration;

use super::diagnostic::Collector;
use super::doc::{self, Value};
use super::parse::Span;
use super::template::not_filled_in;
use super::values::{duration, Positive};

/// The keys of this module, as listed in "unknown key" messages.
pub(super) const KEYS: [&str; 2] = ["kill_grace", "interpreter"];

/// `kill_grace` and `interpreter` as written in one table.
#[derive(Debug, Default, Clone)]
pub(super) struct ProcessKeys {
    pub kill_grace: Option<Duration>,
    pub interpreter: Option<Vec<String>>,
}

impl ProcessKeys {
    /// Parses `key` when it is one of [`KEYS`] (recording problems in `diags`); `false` for
    /// any other key.
    pub(super) fn parse(
        &mut self,
        key: &str,
        item: &Value<'_>,
        what: &str,
        span: Span,
        diags: &mut Collector<'_>,
    ) -> bool {
        match key {
            "kill_grace" => self.kill_grace = duration(item, what, span, Positive::No, diags),
            "interpreter" => self.interpreter = interpreter(item, what, span, diags),
            _ => return false,
        }
        true
    }

    /// The flow's own keys, else the defaults'.
    pub(super) fn or(self, defaults: &ProcessKeys) -> ProcessKeys {
        ProcessKeys {
            kill_grace: self.kill_grace.or(defaults.kill_grace),
            interpreter: self.interpreter.or_else(|| defaults.interpreter.clone()),
        }
    }
}

fn interpreter(
    item: &Value<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> Option<Vec<String>> {
    let words: Option<Vec<(String, Span)>> = item.as_array().and_then(|array| {
        array
            .iter()
            .map(|value| Some((value.get_ref().as_str()?.to_owned(), doc::span(value))))
            .collect()
    });
    match words {
        Some(words)
            if words
                .first()
                .is_some_and(|(program, _)| !program.is_empty()) =>
        {
            // Taken as written: a `{name}` would be run with its braces.
            let mut ok = true;
            for (word, span) in &words {
                if let Some(problem) = not_filled_in(what, word) {
                    diags.error(
                        span.clone(),
                        format!(
                            "{problem}: write the interpreter itself, or run the script with \
                             `command = [\"{{prog}}\", \"-c\", \"SCRIPT\"]` instead of `shell` \
                             (`command` is a template)"
                        ),
                    );
                    ok = false;
                }
            }
            ok.then(|| words.into_iter().map(|(word, _)| word).collect())
        }
        _ => {
            diags.error(
                span,
                format!(
                    "`{what}` must be a program and its arguments, the script coming last, \
                     such as [\"bash\", \"-euo\", \"pipefail\", \"-c\"] or [\"python3\", \"-c\"]"
                ),
            );
            None
        }
    }
}

/// What runs a `shell` script when no `interpreter` is given: `bash -euo pipefail -c` where
/// `bash` is on `PATH` (`/bin:/usr/bin` without one; stop at the first failing command, at an
/// unset variable and at a failing pipeline stage), else `/bin/sh -eu -c` (a POSIX shell has
/// no `pipefail`).
pub fn default_interpreter() -> Vec<String> {
    let words: &[&str] = if on_path("bash") {
        &["bash", "-euo", "pipefail", "-c"]
    } else {
        &["/bin/sh", "-eu", "-c"]
    };
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Whether `program` is in a folder of `PATH`, or, without `PATH`, of `/bin:/usr/bin`: where
/// commands are then looked up too (as `execvp` does).
fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
