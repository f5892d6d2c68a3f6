//! The TOML walk: reads the workflow document key by key, reporting syntax errors, unknown
//! keys, wrong types and bad values with their spans, into a raw model whose strings are
//! [`Template`]s that keep their spans for the later checks (names, dependencies).

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use flow_graph::FlowId;

use super::diagnostic::{Collector, SourceId};
use super::doc::{self, Item, Table};
use super::keys::{meant, unknown_key_error, DEFAULTS_KEYS, FLOW_KEYS, TOP_KEYS, WORKFLOW_KEYS};
use super::matrix::Matrix;
use super::params::Param;
use super::process::ProcessKeys;
use super::template::{not_filled_in, Template};
use super::values::{command, duration, env, refs, retries, shell, Positive};

pub(super) type Span = Option<Range<usize>>;

/// What a flow runs, as written.
#[derive(Debug)]
pub(super) enum RawAction {
    /// `command`: one template per argument.
    Command(Vec<Template>),
    /// `shell`.
    Shell(Template),
}

/// A flow as written (a definition: one flow, or one per combination of its matrix), before
/// defaults and dependency checks.
#[derive(Debug)]
pub(super) struct RawFlow {
    /// The key; `None` when it is not a valid flow id (already reported).
    pub id: Option<FlowId>,
    pub name: String,
    /// Where the key is written, and in which file.
    pub name_span: Span,
    pub source: SourceId,
    pub action: Option<RawAction>,
    pub requires: Vec<Template>,
    pub wants: Vec<Template>,
    /// `inputs` and `outputs`: paths relative to the workflow's folder (inputs may be globs).
    pub inputs: Vec<Template>,
    pub outputs: Vec<Template>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub retry_delay: Option<Duration>,
    pub cwd: Option<Template>,
    pub env: BTreeMap<String, Template>,
    pub slurm: Option<flow_pool::SlurmResources>,
    /// Where `slurm` is written.
    pub slurm_span: Span,
    pub matrix: Option<Matrix>,
    pub process: ProcessKeys,
    /// `manual = true`: a bare `flow run FILE` leaves it out; where it is written.
    pub manual: Option<Span>,
}

/// The `[defaults]` table.
#[derive(Debug, Default)]
pub(super) struct RawDefaults {
    /// Inputs of every flow (a script they all run), before each flow's own.
    pub inputs: Vec<Template>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub retry_delay: Option<Duration>,
    pub env: BTreeMap<String, Template>,
    pub process: ProcessKeys,
}

/// The whole file as written (with the flows and params of the files it includes, once
/// [`super::include`] has read them).
#[derive(Debug, Default)]
pub(super) struct RawWorkflow {
    pub name: Option<String>,
    pub jobs: Option<usize>,
    /// `[workflow] default`: what a bare `flow run FILE` runs, as written (names, not
    /// templates), with where the list is; `None` when absent.
    pub default: Option<(Vec<Template>, Span)>,
    pub defaults: RawDefaults,
    pub flows: Vec<RawFlow>,
    /// Whether a `[flows]` table is written (an empty one is reported where it is), or a
    /// misspelt one (`[flow.a]`, reported as such).
    pub flows_written: bool,
    pub slurm: super::slurm::SlurmTable,
    pub params: Vec<Param>,
    /// Where `[params]` is written in the workflow file (`--set` errors point there).
    pub params_span: Span,
    /// `include = [...]`: each file as written, with where.
    pub includes: Vec<(String, Span)>,
    /// Every file included (recursively), absolute: no output may be or hold one.
    pub included: Vec<std::path::PathBuf>,
}

/// Which file is parsed: the workflow file, or one it includes (params and flows only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Main,
    Included,
}

/// Parses `text`, the file `source` in `role`, recording every problem in `diags`. `None` on a
/// syntax error (nothing else can be checked then).
pub(super) fn parse(
    text: &str,
    role: Role,
    source: SourceId,
    diags: &mut Collector<'_>,
) -> Option<RawWorkflow> {
    let root = match doc::parse(text) {
        Ok(root) => root,
        Err((message, span)) => {
            let mut message = message.trim().replace('\n', "; ");
            if message.contains("escaped value") {
                // `shell = "grep '\d+'"`: shell scripts are full of backslashes.
                message.push_str(
                    " (in a \"...\" string a backslash starts an escape: write `\\\\` for one, \
                     or use a '...' or '''...''' string, where a backslash is itself)",
                );
            }
            diags.error(span, format!("invalid TOML: {message}"));
            return None;
        }
    };
    diags.note_inline_tables(doc::inline_tables(text, &root));
    let mut raw = RawWorkflow::default();
    for (key, item) in root.iter() {
        let key_span = doc::key_span(key);
        let key = key.get_ref().as_ref();
        if role == Role::Included && !matches!(key, "params" | "flows" | "include") {
            diags.error(
                key_span,
                format!(
                    "`{key}` cannot be set in an included file (only `params`, `flows` and \
                     `include`): move it to the workflow file"
                ),
            );
            continue;
        }
        match key {
            "params" => {
                if let Some(table) = table_of(item, key, key_span.clone(), diags) {
                    raw.params_span = key_span;
                    super::params::parse_table(table, source, &mut raw.params, diags);
                }
            }
            "include" => raw.includes = super::include::parse_list(item, diags),
            "workflow" => {
                if let Some(table) = table_of(item, key, key_span.clone(), diags) {
                    parse_workflow(table, &mut raw, diags);
                }
            }
            "defaults" => {
                if let Some(table) = table_of(item, key, key_span.clone(), diags) {
                    raw.defaults = parse_defaults(table, diags);
                }
            }
            "flows" => {
                raw.flows_written = true;
                if let Some(table) = table_of(item, key, key_span.clone(), diags) {
                    parse_flows(table, doc::span(item), source, &mut raw, diags);
                }
            }
            "slurm" => {
                if let Some(table) = table_of(item, key, key_span.clone(), diags) {
                    raw.slurm = super::slurm::parse_table(table, diags);
                }
            }
            _ => {
                // `[flow.a]` is one problem, not also a workflow without flows.
                raw.flows_written |= meant(key, TOP_KEYS) == Some("flows");
                unknown_key_error(diags, key_span, key, "", TOP_KEYS);
            }
        }
    }
    Some(raw)
}

/// `item` as a table, or an error saying `what` must be one.
fn table_of<'a, 'i>(
    item: &'a Item<'i>,
    what: &str,
    key_span: Span,
    diags: &mut Collector<'_>,
) -> Option<&'a Table<'i>> {
    match item.get_ref() {
        doc::Value::Table(table) => Some(table),
        // An array of tables `[[what]]`: its header is written before its name.
        doc::Value::Array(_)
            if key_span
                .as_ref()
                .is_some_and(|k| item.span().start < k.start) =>
        {
            diags.error(
                key_span,
                format!("`{what}` must be a table such as `[{what}]`, not an array of tables `[[{what}]]`"),
            );
            None
        }
        value => {
            diags.error(
                doc::span(item),
                format!("`{what}` must be a table, found {}", doc::type_name(value)),
            );
            None
        }
    }
}

fn parse_workflow(table: &Table<'_>, raw: &mut RawWorkflow, diags: &mut Collector<'_>) {
    for (key, item) in table.iter() {
        let span = doc::span(item);
        let (key, key_span) = (key.get_ref().as_ref(), doc::key_span(key));
        match key {
            "name" => match item.get_ref().as_str() {
                Some(name) if !name.trim().is_empty() => match super::limits::name_problem(name) {
                    Some(problem) => diags.error(span, problem),
                    // The name finds a workflow's runs (`flow runs`, `flow results`), whatever
                    // the params of each run: it is never a template.
                    None => match not_filled_in("workflow.name", name) {
                        Some(problem) => diags.error(
                            span,
                            format!(
                                "{problem}: write the name itself (`flow runs` and `flow \
                                 results` find the runs by it, whatever the params)"
                            ),
                        ),
                        None => raw.name = Some(name.to_owned()),
                    },
                },
                Some(_) => diags.error(span, "`workflow.name` must not be empty"),
                None => diags.error(
                    span,
                    format!(
                        "`workflow.name` must be a string, found {}",
                        doc::type_name(item.get_ref())
                    ),
                ),
            },
            "jobs" => match doc::integer(item.get_ref()) {
                Some(n) if n >= 1 => raw.jobs = usize::try_from(n).ok(),
                Some(n) => diags.error(
                    span,
                    format!("`workflow.jobs` must be at least 1, found {n}"),
                ),
                None => diags.error(
                    span,
                    format!(
                        "`workflow.jobs` must be an integer, found {}",
                        doc::type_name(item.get_ref())
                    ),
                ),
            },
            "default" => {
                let names = refs(item.get_ref(), "workflow.default", span.clone(), diags);
                // Checked further only when every item is a name (else that is reported).
                let written = item.get_ref().as_array().map(|a| a.len());
                if written == Some(names.len()) {
                    raw.default = Some((names, span));
                }
            }
            _ => unknown_key_error(diags, key_span, key, "`[workflow]`", WORKFLOW_KEYS),
        }
    }
}

fn parse_defaults(table: &Table<'_>, diags: &mut Collector<'_>) -> RawDefaults {
    let mut d = RawDefaults::default();
    for (key, item) in table.iter() {
        let span = doc::span(item);
        let (key, key_span) = (key.get_ref().as_ref(), doc::key_span(key));
        let item = item.get_ref();
        let what = format!("defaults.{key}");
        match key {
            "timeout" => d.timeout = duration(item, &what, span, Positive::Yes, diags),
            "retries" => d.retries = retries(item, &what, span, diags),
            "retry_delay" => d.retry_delay = duration(item, &what, span, Positive::No, diags),
            "env" => d.env = env(item, &what, span, diags),
            "inputs" => d.inputs = super::data::paths(item, &what, span, diags),
            _ if d.process.parse(key, item, &what, span, diags) => {}
            _ => unknown_key_error(diags, key_span, key, "`[defaults]`", DEFAULTS_KEYS),
        }
    }
    d
}

fn parse_flows(
    table: &Table<'_>,
    span: Span,
    source: SourceId,
    raw: &mut RawWorkflow,
    diags: &mut Collector<'_>,
) {
    if table.is_empty() {
        diags.error(
            span,
            "the workflow has no flows: add a table such as `[flows.build]` with a `command`",
        );
    }
    raw.flows.reserve(table.len());
    for (name, item) in table.iter() {
        let (name, name_span) = (name.get_ref().as_ref(), doc::key_span(name));
        let id = match FlowId::new(name) {
            Ok(id) => Some(id),
            Err(e) => {
                diags.error(name_span.clone(), e.to_string());
                None
            }
        };
        let what = format!("flows.{name}");
        let Some(flow_table) = table_of(item, &what, name_span.clone(), diags) else {
            continue;
        };
        if let Some(start) = name_span.as_ref().map(|span| span.start) {
            let end = (flow_table.iter())
                .filter_map(|(key, value)| doc::span(value).or_else(|| doc::key_span(key)))
                .map(|span| span.end)
                .fold(start, usize::max);
            diags.note_definition(source, name, start..end);
        }
        let mut flow = parse_flow(flow_table, id, name, name_span, diags);
        flow.source = source;
        raw.flows.push(flow);
    }
}

fn parse_flow(
    table: &Table<'_>,
    id: Option<FlowId>,
    name: &str,
    name_span: Span,
    diags: &mut Collector<'_>,
) -> RawFlow {
    let mut flow = RawFlow {
        id,
        name: name.to_owned(),
        name_span: name_span.clone(),
        source: 0,
        action: None,
        requires: Vec::new(),
        wants: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        timeout: None,
        retries: None,
        retry_delay: None,
        cwd: None,
        env: BTreeMap::new(),
        slurm: None,
        slurm_span: None,
        matrix: None,
        process: ProcessKeys::default(),
        manual: None,
    };
    let mut action_key: Option<&str> = None;
    let mut action_typo = false;
    for (key, item) in table.iter() {
        let span = doc::span(item);
        let (key, key_span) = (key.get_ref().as_ref(), doc::key_span(key));
        let item = item.get_ref();
        let what = format!("flows.{name}.{key}");
        match key {
            "command" | "shell" => {
                if let Some(first) = action_key {
                    diags.error(
                        key_span,
                        format!(
                            "flow `{name}` has both `{first}` and `{key}`: \
                             keep `command` (argv, no shell) or `shell` (a script for bash or `interpreter`), not both"
                        ),
                    );
                    continue;
                }
                action_key = Some(key);
                flow.action = if key == "command" {
                    command(item, &what, span, diags)
                } else {
                    shell(item, &what, span, diags)
                };
            }
            "requires" => flow.requires = refs(item, &what, span, diags),
            "wants" => flow.wants = refs(item, &what, span, diags),
            "inputs" => flow.inputs = super::data::paths(item, &what, span, diags),
            "outputs" => flow.outputs = super::data::paths(item, &what, span, diags),
            "timeout" => flow.timeout = duration(item, &what, span, Positive::Yes, diags),
            "retries" => flow.retries = retries(item, &what, span, diags),
            "retry_delay" => flow.retry_delay = duration(item, &what, span, Positive::No, diags),
            "cwd" => match item.as_str() {
                Some(cwd) if !cwd.is_empty() => match super::limits::argument_problem(&what, cwd) {
                    Some(problem) => diags.error(span, problem),
                    None => flow.cwd = Some(Template::new(cwd.into(), span)),
                },
                Some(_) => diags.error(span, format!("`{what}` must not be empty")),
                None => diags.error(
                    span,
                    format!(
                        "`{what}` must be a string (a folder), found {}",
                        doc::type_name(item)
                    ),
                ),
            },
            "env" => flow.env = env(item, &what, span, diags),
            "slurm" => {
                flow.slurm_span.clone_from(&key_span);
                flow.slurm = super::slurm::parse_flow(item, &what, span, diags);
            }
            "matrix" => flow.matrix = super::matrix::parse(item, &what, span, diags),
            "manual" => match item.as_bool() {
                Some(true) => flow.manual = Some(span),
                Some(false) => {}
                None => diags.error(
                    span,
                    format!(
                        "`{what}` must be `true` or `false`, found {}",
                        doc::type_name(item)
                    ),
                ),
            },
            _ if flow.process.parse(key, item, &what, span, diags) => {}
            _ => {
                // `comand = [...]` is one problem, not also a flow without a command.
                action_typo |= matches!(meant(key, FLOW_KEYS), Some("command" | "shell"));
                let place = format!("flow `{name}`");
                unknown_key_error(diags, key_span, key, &place, FLOW_KEYS);
            }
        }
    }
    if action_key.is_none() && !action_typo {
        // make's `all: build docs`, a target without a recipe.
        let gathers = match flow.requires.is_empty() && flow.wants.is_empty() {
            true => "",
            false => {
                "; a flow that only gathers others, as make's `all`, is `shell = \"true\"`, or \
                 name them in `[workflow] default` instead"
            }
        };
        diags.error(
            name_span,
            format!(
                "flow `{name}` has neither `command` nor `shell`: add `command = [\"program\", \"arg\"]` \
                 or `shell = \"script\"`{gathers}"
            ),
        );
    }
    flow
}
