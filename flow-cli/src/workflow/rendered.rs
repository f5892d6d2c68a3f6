//! The values a flow's templates render to, checked as the file's literal values are when it
//! is read: a `command` with a program, a `shell` script, a `cwd`, `inputs` and `outputs`
//! paths, `env` values. A value with a placeholder is known only once its params and matrix values are
//! put in, so `flow validate`, `flow run -n` and `flow run` find such a problem alike, before
//! anything runs. Each problem is reported at the templated value in the file, naming the
//! flow, once for the template (not once per flow of a matrix).

use super::diagnostic::{Collector, SourceId};
use super::template::{Bound, Value};

/// Renders and checks the templates of one definition (`flows.NAME`, or `defaults`).
pub(super) struct Checker<'a> {
    source: SourceId,
    /// `flows.NAME` or `defaults`: what the keys are named after.
    table: String,
    params: &'a [Value],
    /// The templates (by where they are written) whose problem was reported.
    reported: Vec<usize>,
}

impl<'a> Checker<'a> {
    /// A checker for the templates of `table` written in `source`, with the params' values.
    pub fn new(source: SourceId, table: String, params: &'a [Value]) -> Self {
        Self {
            source,
            table,
            params,
            reported: Vec::new(),
        }
    }

    /// The argv of `args` for the flow `flow` with matrix values `axes`; reports an argv
    /// without a program, or an argument no program can receive.
    pub fn command(
        &mut self,
        args: &[Bound<'_>],
        axes: &[&str],
        flow: &str,
        diags: &mut Collector<'_>,
    ) -> Vec<String> {
        let mut argv = Vec::with_capacity(args.len());
        for arg in args {
            let first = argv.len();
            arg.render_args(self.params, axes, &mut argv);
            if !arg.uses_values() {
                continue;
            }
            let what = format!("{}.command", self.table);
            let problem = (argv[first..].iter())
                .find_map(|value| super::limits::argument_problem(&what, value));
            if let Some(problem) = problem {
                self.report(arg, axes, flow, problem, diags);
            }
        }
        let Some(first) = args.first().filter(|_| args.iter().any(Bound::uses_values)) else {
            return argv;
        };
        let what = format!("{}.command", self.table);
        match argv.first() {
            None => self.report(
                first,
                axes,
                flow,
                format!("`{what}` is empty: name a program to run"),
                diags,
            ),
            Some(program) if program.is_empty() => self.report(
                first,
                axes,
                flow,
                format!("`{what}` starts with an empty program name"),
                diags,
            ),
            Some(_) => {}
        }
        argv
    }

    /// The `shell` script of `script` for the flow; reports one that is empty or too long.
    pub fn shell(
        &mut self,
        script: &Bound<'_>,
        axes: &[&str],
        flow: &str,
        diags: &mut Collector<'_>,
    ) -> String {
        let text = script.render(self.params, axes);
        if script.uses_values() {
            let what = format!("{}.shell", self.table);
            let problem = if text.trim().is_empty() {
                Some(format!("`{what}` is empty: write a script"))
            } else {
                super::limits::argument_problem(&what, &text)
            };
            if let Some(problem) = problem {
                self.report(script, axes, flow, problem, diags);
            }
        }
        text
    }

    /// The `cwd` of `cwd` for the flow; reports one that is empty (it would be the workflow's
    /// folder, unsaid) or that no program can receive.
    pub fn cwd(
        &mut self,
        cwd: &Bound<'_>,
        axes: &[&str],
        flow: &str,
        diags: &mut Collector<'_>,
    ) -> String {
        let text = cwd.render(self.params, axes);
        if cwd.uses_values() {
            let what = format!("{}.cwd", self.table);
            let problem = if text.is_empty() {
                Some(format!("`{what}` must not be empty"))
            } else {
                super::limits::argument_problem(&what, &text)
            };
            if let Some(problem) = problem {
                self.report(cwd, axes, flow, problem, diags);
            }
        }
        text
    }

    /// The path of `path`, an item of `key` (`inputs` or `outputs`), for the flow; `None`
    /// when it has a problem, reported as [`super::data::path_problem`] finds it in a literal
    /// path (the path is then left out, as one that does not bind is).
    pub fn path(
        &mut self,
        path: &Bound<'_>,
        key: &str,
        axes: &[&str],
        flow: &str,
        diags: &mut Collector<'_>,
    ) -> Option<String> {
        let text = path.render(self.params, axes);
        if path.uses_values() {
            let what = format!("{}.{key}", self.table);
            if let Some(problem) = super::data::path_problem(&what, &text) {
                self.report(path, axes, flow, problem, diags);
                return None;
            }
        }
        Some(text)
    }

    /// Reports the value of variable `key` that `value` renders for the flow if it holds a
    /// NUL byte, as one written in the file is. Only a param's value can put one there
    /// (matrix values are parts of flow ids, and the environment holds none), so one
    /// expansion of a matrix tells for all.
    pub fn env(
        &mut self,
        key: &str,
        value: &Bound<'_>,
        axes: &[&str],
        flow: &str,
        diags: &mut Collector<'_>,
    ) {
        if !value.uses_values() {
            return;
        }
        let what = format!("{}.env.{key}", self.table);
        let text = value.render(self.params, axes);
        if let Some(problem) = super::limits::nul_problem(&what, &text) {
            self.report(value, axes, flow, problem, diags);
        }
    }

    /// Reports `problem` of `template` in flow `flow` (none for `defaults`), once per
    /// template, with the value of the placeholder it is exactly, if it is one.
    fn report(
        &mut self,
        template: &Bound<'_>,
        axes: &[&str],
        flow: &str,
        problem: String,
        diags: &mut Collector<'_>,
    ) {
        let at = template.span().map_or(0, |s| s.start);
        if self.reported.contains(&at) {
            return;
        }
        self.reported.push(at);
        let from = match template.single_var() {
            Some(name) => match template.list_param(self.params) {
                Some(i) => match &self.params[i] {
                    Value::List(items) if items.is_empty() => {
                        format!(" (`{{{name}}}` is an empty list)")
                    }
                    _ => format!(" (`{{{name}}}` is a list)"),
                },
                None => format!(
                    " (`{{{name}}}` is \"{}\")",
                    template.render(self.params, axes).escape_debug()
                ),
            },
            None => String::new(),
        };
        let message = match flow {
            "" => format!("{problem}{from}"),
            _ => format!("flow `{flow}`: {problem}{from}"),
        };
        diags.error_at(self.source, at, message);
    }
}

#[cfg(test)]
#[path = "tests_rendered.rs"]
mod tests;
