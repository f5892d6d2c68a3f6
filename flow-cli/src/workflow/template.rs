//! Templates: strings of a workflow file with `{name}` placeholders for params and matrix
//! values. `{{` and `}}` are literal braces; a brace that does not start a `{name}` (a shell
//! group `{ a; }`, a brace expansion `{a,b}`, a variable `${HOME}`) is kept as written.

use std::ops::Range;

use super::diagnostic::{Collector, SourceId};

type Span = Option<Range<usize>>;

/// A string as written in the file: its value, where it is, and its placeholders.
#[derive(Debug, Clone)]
pub(super) struct Template {
    /// The string's value (after TOML's escapes, before the template's).
    pub text: String,
    /// Where the string is written in its file.
    pub span: Span,
    /// Empty when the text has no placeholder and no `{{`/`}}`: it is then its own value.
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Literal text.
    Lit(String),
    /// `{name}`: the name, and the byte offset of its `{` in the text.
    Var(String, usize),
}

/// A value a placeholder stands for: one string, or a list (a list param).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    /// A string, number or bool, written as text.
    One(String),
    /// A list param's items.
    List(Vec<String>),
}

/// Where a placeholder's value comes from in a [`Bound`] template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// The param at this index.
    Param(usize),
    /// The matrix axis at this index.
    Axis(usize),
}

/// The names a template may use: params, then a flow's matrix axes; and, for the message of
/// a name that is none of them, the axes of other definitions' matrices, each with its
/// definition.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scope<'a> {
    pub params: &'a [String],
    pub axes: &'a [String],
    pub elsewhere: &'a [(String, String)],
}

impl Scope<'_> {
    fn slot(&self, name: &str) -> Option<Slot> {
        if let Some(i) = self.axes.iter().position(|a| a == name) {
            return Some(Slot::Axis(i));
        }
        self.params.iter().position(|p| p == name).map(Slot::Param)
    }
}

/// A template whose names are resolved: ready to render for each expansion.
#[derive(Debug, Clone)]
pub(super) struct Bound<'t> {
    template: &'t Template,
    /// Where each placeholder's value comes from, in the order of the template's parts.
    slots: Vec<Slot>,
}

/// Whether `name` can be a placeholder's name: a letter or `_`, then letters, digits and `_`.
pub(super) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is names joined by `.`, as Snakemake's `{wildcards.sample}` and
/// `{params.x}`: never a placeholder, but read as one, to be reported (kept as written, the
/// braces would reach the command). `{a..z}`, a brace expansion of bash, is not.
fn is_dotted(name: &str) -> bool {
    name.contains('.') && name.split('.').all(is_name)
}

impl Template {
    /// Reads the placeholders of `text`, written at `span`.
    pub fn new(text: String, span: Span) -> Self {
        let parts = if text.bytes().any(|b| b == b'{' || b == b'}') {
            split(&text)
        } else {
            Vec::new()
        };
        let plain = matches!(parts.as_slice(), [Part::Lit(lit)] if *lit == text);
        Template {
            parts: if plain { Vec::new() } else { parts },
            text,
            span,
        }
    }

    /// The names of its placeholders.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name, _) => Some(name.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Whether the text is exactly one placeholder; its name then.
    pub fn single_var(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Var(name, _)] => Some(name),
            _ => None,
        }
    }

    /// Resolves every placeholder in `scope`; reports each unknown name at its line and column
    /// (in `source`, for `what`, written only then) and returns `None` if there was one.
    pub fn bind(
        &self,
        scope: Scope<'_>,
        what: &dyn std::fmt::Display,
        source: SourceId,
        diags: &mut Collector<'_>,
    ) -> Option<Bound<'_>> {
        let mut slots = Vec::new();
        let mut ok = true;
        for (name, at) in self.parts.iter().filter_map(|p| match p {
            Part::Var(name, at) => Some((name, *at)),
            Part::Lit(_) => None,
        }) {
            match scope.slot(name) {
                Some(slot) => slots.push(slot),
                None => {
                    ok = false;
                    let message = unknown_name(name, scope, what);
                    diags.error_in_string(source, self.span.as_ref(), at, message);
                }
            }
        }
        ok.then_some(Bound {
            template: self,
            slots,
        })
    }
}

/// The problem with `text` as the value of `what`, a value taken as written (not a template):
/// a `{name}` in it, as a template would read one, would be used with its braces, so it is
/// refused (the caller says what to write instead). `{{`, `${VAR}` and braces that start no
/// name are not templates and pass, kept as written as the rest of such a value is.
pub(super) fn not_filled_in(what: &str, text: &str) -> Option<String> {
    if !text.contains('{') {
        return None;
    }
    let name = split(text).into_iter().find_map(|part| match part {
        Part::Var(name, _) => Some(name),
        Part::Lit(_) => None,
    })?;
    Some(format!(
        "`{what}` holds `{{{name}}}`, but templates are not filled in there"
    ))
}

/// The message for an unknown placeholder `name`, in `what`.
fn unknown_name(name: &str, scope: Scope<'_>, what: &dyn std::fmt::Display) -> String {
    let mut known: Vec<String> = scope
        .axes
        .iter()
        .chain(scope.params)
        .map(|n| format!("`{n}`"))
        .collect();
    let known = if known.is_empty() {
        "there are no params or matrix values here".to_owned()
    } else {
        known.sort();
        format!("known: {}", known.join(", "))
    };
    // `{wildcards.sample}`: the value of `sample` is `{sample}` in flow.
    let last = name.rsplit_once('.').map(|(_, last)| last);
    let head = name.split('.').next().unwrap_or(name);
    let instead = match last.filter(|last| scope.slot(last).is_some()) {
        Some(last) => format!("write `{{{last}}}`; "),
        // `{sample}` in a merge step, as Snakemake's `expand` takes it.
        None if scope.elsewhere.iter().any(|(axis, _)| axis == name) => {
            let (_, def) = (scope.elsewhere.iter())
                .find(|(axis, _)| axis == name)
                .expect("found above");
            format!(
                "`{name}` is an axis of the matrix of `{def}`, not of this flow: \
                 `requires = [\"{def}\"]` takes every flow of `{def}`, and a glob input \
                 (`*` for `{{{name}}}`) their files; "
            )
        }
        // Snakemake's `{input}`, `{output.r1}`: flow fills in no declared paths.
        None if matches!(head, "input" | "output") => format!(
            "flow does not fill in a flow's paths as Snakemake's `{{{head}}}`: write them, \
             as its `{head}s` does; "
        ),
        None => String::new(),
    };
    format!(
        "unknown name `{name}` in `{what}`: {known} ({instead}for literal braces write \
         `{{{{{name}}}}}`)"
    )
}

/// The parts of `text`: `{name}` placeholders, `{{`/`}}` as single braces, the rest literal.
fn split(text: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    let mut at = 0;
    while let Some(i) = rest.find(['{', '}']) {
        lit.push_str(&rest[..i]);
        let brace = &rest[i..];
        let after_dollar = rest[..i].ends_with('$') || (i == 0 && lit.ends_with('$'));
        let consumed = if brace.starts_with("{{") || brace.starts_with("}}") {
            lit.push_str(&brace[..1]);
            2
        } else if after_dollar {
            // `${VAR}` belongs to the shell, or in `env` to the environment (expand_env.rs).
            lit.push('{');
            1
        } else if let Some(name) = brace[1..]
            .split_once('}')
            .map(|(name, _)| name)
            .filter(|name| is_name(name) || is_dotted(name))
        {
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(name.to_owned(), at + i));
            name.len() + 2
        } else {
            lit.push_str(&brace[..1]);
            1
        };
        rest = &rest[i + consumed..];
        at += i + consumed;
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    parts
}

impl Bound<'_> {
    /// The template as written.
    pub fn text(&self) -> &str {
        &self.template.text
    }

    /// Whether it has a placeholder: its value then comes from a param or a matrix, and is
    /// checked once rendered (a literal value is checked as the file is read).
    pub fn uses_values(&self) -> bool {
        !self.slots.is_empty()
    }

    /// The name of the placeholder it is exactly (`prog` of `{prog}`), if it is one.
    pub fn single_var(&self) -> Option<&str> {
        self.template.single_var()
    }

    /// Whether any placeholder is a matrix value (the value then differs between expansions).
    pub fn uses_axes(&self) -> bool {
        self.slots.iter().any(|s| matches!(s, Slot::Axis(_)))
    }

    /// The first param of its placeholders whose value is a list, if any.
    pub fn list_param(&self, params: &[Value]) -> Option<usize> {
        self.slots.iter().find_map(|slot| match slot {
            Slot::Param(i) if matches!(params[*i], Value::List(_)) => Some(*i),
            _ => None,
        })
    }

    /// The first list param of its placeholders written against other text (`a/{list}.csv`,
    /// `--n={list}`: not after or before a space, a quote, a bracket or a shell operator),
    /// with the byte offset of its `{` in the text and the word it is written in.
    pub fn glued_list_param(&self, params: &[Value]) -> Option<(usize, usize, &str)> {
        let text = &self.template.text;
        let apart = |c: char| c.is_whitespace() || "\"'()<>|;&`".contains(c);
        let vars = self.template.parts.iter().filter_map(|p| match p {
            Part::Var(name, at) => Some((name.len(), *at)),
            Part::Lit(_) => None,
        });
        vars.zip(&self.slots)
            .find_map(|((len, at), slot)| match *slot {
                Slot::Param(i) if matches!(params[i], Value::List(_)) => {
                    // After the space or operator, which may be more than one byte long.
                    let start = (text[..at].char_indices().rev())
                        .find(|&(_, c)| apart(c))
                        .map_or(0, |(k, c)| k + c.len_utf8());
                    let end =
                        (text[at + len + 2..].find(apart)).map_or(text.len(), |k| at + len + 2 + k);
                    (start < at || end > at + len + 2).then_some((i, at, &text[start..end]))
                }
                _ => None,
            })
    }

    /// The param this template is exactly, if it is nothing but one param's placeholder.
    pub fn single_param(&self) -> Option<usize> {
        match (self.template.parts.as_slice(), self.slots.as_slice()) {
            ([Part::Var(..)], [Slot::Param(i)]) => Some(*i),
            _ => None,
        }
    }

    /// Where the template is written in its file.
    pub fn span(&self) -> Option<&std::ops::Range<usize>> {
        self.template.span.as_ref()
    }

    /// The value for `params` and the expansion's `axes`: a list param's items joined by
    /// spaces.
    pub fn render(&self, params: &[Value], axes: &[&str]) -> String {
        let kept = self.render_with(params, axes, |lit| {
            Ok::<_, std::convert::Infallible>(lit.into())
        });
        match kept {
            Ok(text) => text,
            Err(never) => match never {},
        }
    }

    /// As [`Self::render`], with the text written in the template (not the values put in
    /// for its placeholders) passed through `literal`: how `env` values expand `${NAME}`
    /// in what the file says, and never in a param's or a matrix's value.
    ///
    /// # Errors
    /// The first error of `literal`.
    pub fn render_with<'a, E>(
        &'a self,
        params: &[Value],
        axes: &[&str],
        literal: impl Fn(&'a str) -> Result<std::borrow::Cow<'a, str>, E>,
    ) -> Result<String, E> {
        if self.template.parts.is_empty() {
            return literal(&self.template.text).map(std::borrow::Cow::into_owned);
        }
        let mut out = String::new();
        let mut slots = self.slots.iter();
        for part in &self.template.parts {
            let slot = match part {
                Part::Lit(lit) => {
                    out.push_str(&literal(lit)?);
                    continue;
                }
                Part::Var(..) => slots.next().copied(),
            };
            match slot {
                Some(Slot::Axis(i)) => out.push_str(axes[i]),
                Some(Slot::Param(i)) => match &params[i] {
                    Value::One(v) => out.push_str(v),
                    Value::List(items) => {
                        for (k, item) in items.iter().enumerate() {
                            if k > 0 {
                                out.push(' ');
                            }
                            out.push_str(item);
                        }
                    }
                },
                None => {}
            }
        }
        Ok(out)
    }

    /// As [`Self::render`], but a template that is exactly a list param's placeholder gives
    /// one string per item (a `command` argument per item).
    pub fn render_args(&self, params: &[Value], axes: &[&str], out: &mut Vec<String>) {
        if let Some(i) = self.single_param() {
            if let Value::List(items) = &params[i] {
                out.extend(items.iter().cloned());
                return;
            }
        }
        out.push(self.render(params, axes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Vec<Part> {
        Template::new(text.into(), None).parts
    }

    fn lit(s: &str) -> Part {
        Part::Lit(s.into())
    }

    #[test]
    fn placeholders_escapes_and_braces_kept_as_written() {
        assert_eq!(parts("plain text"), []);
        assert_eq!(
            parts("a {b} c"),
            [lit("a "), Part::Var("b".into(), 2), lit(" c")]
        );
        assert_eq!(parts("{{b}}"), [lit("{b}")]);
        assert_eq!(
            parts("{{{x}}}"),
            [lit("{"), Part::Var("x".into(), 2), lit("}")]
        );
        // Shell groups, brace expansions and awk programs with spaces need no escaping.
        assert_eq!(parts("{ echo; } > f"), []);
        assert_eq!(parts("mkdir -p out/{a,b}"), []);
        assert_eq!(parts("awk '{print $1}'"), []);
        assert_eq!(parts("}{"), []);
        // `${VAR}` is the shell's or the environment's, never a placeholder.
        assert_eq!(parts("${HOME}"), []);
        assert_eq!(parts("${{HOME}}"), [lit("${HOME}")]);
        assert_eq!(parts("$ {x}"), [lit("$ "), Part::Var("x".into(), 2)]);
        // A bash sequence expression is kept; Snakemake's dotted names are read, to be
        // reported as unknown names rather than passed on with their braces.
        assert_eq!(parts("echo {a..e} {1.5}"), []);
        assert_eq!(
            parts("{wildcards.sample}"),
            [Part::Var("wildcards.sample".into(), 0)]
        );
    }

    /// A merge step that names the axis of the per-sample step's matrix, as Snakemake's
    /// `expand("quant/{sample}.txt", ...)` does, is told which definition has that axis and
    /// how to take all its flows and files.
    #[test]
    fn another_definitions_axis_names_that_definition() {
        let text = "[flows.quant]\nmatrix = { sample = [\"A\", \"B\"] }\n\
                    shell = \"echo > q.{sample}\"\n\
                    [flows.table]\nrequires = [\"quant.{sample}\"]\nshell = \"cat q.*\"\n";
        let error = crate::workflow::test_support::load_str(text).unwrap_err();
        let expected = "w.toml:5:20: unknown name `sample` in `flows.table.requires`: there are \
                        no params or matrix values here (`sample` is an axis of the matrix of \
                        `quant`, not of this flow: `requires = [\"quant\"]` takes every flow of \
                        `quant`, and a glob input (`*` for `{sample}`) their files; for literal \
                        braces write `{{sample}}`)";
        assert!(error.contains(expected), "{expected}\n{error}");
    }

    /// Snakemake's `{input}` and `{output}`, the first names a ported rule holds, are not
    /// text to brace: the error says to write the paths.
    #[test]
    fn snakemake_input_and_output_say_to_write_the_paths() {
        let text = "[flows.a]\nshell = \"trim {input} > {output}\"\n\
                    inputs = [\"a.fq\"]\noutputs = [\"t.fq\"]\n";
        let error = crate::workflow::test_support::load_str(text).unwrap_err();
        for expected in [
            "w.toml:2:15: unknown name `input` in `flows.a.shell`: there are no params or \
             matrix values here (flow does not fill in a flow's paths as Snakemake's \
             `{input}`: write them, as its `inputs` does; for literal braces write \
             `{{input}}`)",
            "(flow does not fill in a flow's paths as Snakemake's `{output}`: write them, as \
             its `outputs` does; ",
        ] {
            assert!(error.contains(expected), "{expected}\n{error}");
        }
    }

    /// Snakemake's `{wildcards.sample}` and `{params.x}`, kept as written, would reach the
    /// command with their braces: each is an unknown name at its column, saying what to write.
    #[test]
    fn snakemake_dotted_names_are_unknown_names_that_say_what_to_write() {
        let text = "[params]\nminq = 3\n[flows.a]\nmatrix = { sample = [\"x\"] }\n\
                    shell = \"f {wildcards.sample} {params.minq} {input.r1} {a..e}\"\n";
        let error = crate::workflow::test_support::load_str(text).unwrap_err();
        for expected in [
            "w.toml:5:12: unknown name `wildcards.sample` in `flows.a.shell`: known: `minq`, \
             `sample` (write `{sample}`; for literal braces write `{{wildcards.sample}}`)",
            "w.toml:5:31: unknown name `params.minq` in `flows.a.shell`: known: `minq`, \
             `sample` (write `{minq}`; for literal braces write `{{params.minq}}`)",
            "w.toml:5:45: unknown name `input.r1` in `flows.a.shell`: known: `minq`, `sample` \
             (flow does not fill in a flow's paths as Snakemake's `{input}`: write them, as its \
             `inputs` does; for literal braces write `{{input.r1}}`)",
        ] {
            assert!(error.contains(expected), "{expected}\n{error}");
        }
        assert_eq!(error.matches("unknown name").count(), 3, "{error}");
    }

    #[test]
    fn names_are_identifiers() {
        for ok in ["a", "_x", "sample_2", "A"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "2a", "a-b", "a b", "a.b"] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn rendering_fills_params_and_axes() {
        let params = ["samples".to_owned(), "n".to_owned()];
        let axes = ["chunk".to_owned()];
        let scope = Scope {
            params: &params,
            axes: &axes,
            elsewhere: &[],
        };
        let values = [
            Value::List(vec!["a".into(), "b".into()]),
            Value::One("4".into()),
        ];
        let mut diags = Collector::new("");
        let templates: Vec<Template> =
            ["part-{chunk} of {n}: {samples} {{}}", "{samples}", "-n{n}"]
                .into_iter()
                .map(|text| Template::new(text.into(), None))
                .collect();
        let bound: Vec<Bound<'_>> = (templates.iter())
            .map(|t| t.bind(scope, &"x", 0, &mut diags).unwrap())
            .collect();
        assert!(bound[0].uses_axes());
        assert_eq!(bound[0].render(&values, &["7"]), "part-7 of 4: a b {}");
        let mut args = Vec::new();
        bound[1].render_args(&values, &[], &mut args);
        bound[2].render_args(&values, &[], &mut args);
        assert_eq!(args, ["a", "b", "-n4"]);
        assert!(!bound[2].uses_axes());
        assert!(diags.is_empty());
        let unknown = Template::new("x {nope}".into(), Some(0..10));
        assert!(unknown.bind(scope, &"x", 0, &mut diags).is_none());
        assert!(!diags.is_empty());
    }
}
