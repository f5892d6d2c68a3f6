//! From definitions to flows: applies `--set`, binds every template to params and matrix axes,
//! expands each matrix into one flow per combination (ids such as `align.a.1`), and renders
//! the validated [`Workflow`] once the dependency checks passed.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flow_graph::FlowId;
use rustc_hash::FxHashMap;

use super::check;
use super::data;
use super::diagnostic::{Collector, SourceId};
use super::expand_env;
use super::ids::{add_flows, id_part_problem};
use super::lists::{not_glued, one_value, FLOW_ID, PATH};
use super::matrix::{self, AxisValue, MAX_EXPANSIONS};
use super::params;
use super::parse::{RawAction, RawFlow, RawWorkflow};
use super::process;
use super::rendered;
use super::template::{Bound, Scope, Template, Value};
use super::{Action, Definition, FlowDef, Line, Workflow};

/// A flow definition with its templates bound and its matrix values read.
pub(super) struct Def<'r> {
    pub raw: &'r RawFlow,
    /// Each axis's values.
    pub values: Vec<Vec<AxisValue>>,
    /// Its flows, as indices into the workflow's ids.
    pub flows: Range<usize>,
    /// Whether it is complete: its templates bound and every expansion added. References to
    /// an incomplete definition are not checked (its problem is reported already).
    pub ok: bool,
    /// The combinations (in order) that have no flow: their id was made before (reported).
    pub skipped: Vec<usize>,
    action: Option<BoundAction<'r>>,
    env: Vec<(String, Bound<'r>)>,
    cwd: Option<Bound<'r>>,
    /// `inputs` and `outputs`, bound (one that does not bind is reported and left out).
    inputs: Vec<Bound<'r>>,
    outputs: Vec<Bound<'r>>,
    /// `requires` then `wants`, bound (`None`: an unknown name, reported).
    pub requires: Vec<Option<Bound<'r>>>,
    pub wants: Vec<Option<Bound<'r>>>,
}

enum BoundAction<'r> {
    Command(Vec<Bound<'r>>),
    Shell(Bound<'r>),
}

impl Def<'_> {
    /// The axis values of this definition's `k`-th expansion (the last axis varies fastest).
    pub fn combination<'a>(&'a self, mut k: usize, out: &mut Vec<&'a str>) {
        out.clear();
        out.resize(self.values.len(), "");
        for (slot, values) in out.iter_mut().zip(&self.values).rev() {
            *slot = &values[k % values.len()].text;
            k /= values.len();
        }
    }

    /// Each combination that has a flow, with the flow's index into the workflow's ids: the
    /// flows are the combinations in order, but those [`Self::skipped`].
    pub fn expansions(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut skipped = self.skipped.iter().peekable();
        let kept = (0..).filter(move |k| skipped.next_if_eq(&k).is_none());
        kept.zip(self.flows.clone())
    }

    /// Whether the definition has a matrix.
    pub fn is_matrix(&self) -> bool {
        self.raw.matrix.is_some()
    }
}

/// Checks and expands `raw` (the workflow file `file`, in folder `dir`) with the `--set`
/// overrides `sets`; the workflow when no problem was found.
pub(super) fn workflow(
    mut raw: RawWorkflow,
    sets: &[(String, String)],
    stem: &str,
    dir: &Path,
    file: &str,
    diags: &mut Collector<'_>,
) -> Option<Workflow> {
    params::apply_overrides(&mut raw.params, sets, raw.params_span.clone(), diags);
    if raw.flows.is_empty() && !raw.flows_written {
        diags.error_at(
            0,
            0,
            "the workflow has no flows: add a table such as `[flows.build]` with a `command`",
        );
    }
    let names: Vec<String> = raw.params.iter().map(|p| p.name.clone()).collect();
    let values: Vec<Value> = raw.params.iter().map(|p| p.value.clone()).collect();
    let scope = Scope {
        params: &names,
        axes: &[],
        elsewhere: &[],
    };
    let mut check = rendered::Checker::new(0, "defaults".into(), &values);
    let mut defaults_env = BTreeMap::new();
    for (key, template) in &raw.defaults.env {
        let what = format!("defaults.env.{key}");
        if let Some(bound) = template.bind(scope, &what, 0, diags) {
            not_glued(&bound, &values, &names, (None, &what), 0, diags);
            check.env(key, &bound, &[], "", diags);
            match bound.render_with(&values, &[], |lit| expand_env::expand_default(lit, dir)) {
                Ok(value) => {
                    defaults_env.insert(key.clone(), value);
                }
                Err(message) => {
                    diags.error_at(
                        0,
                        start(&template.span),
                        format!("`defaults.env.{key}`: {message}"),
                    );
                }
            }
        }
    }

    let defaults_inputs: Vec<String> = (raw.defaults.inputs.iter())
        .filter_map(|t| {
            let path = t.bind(scope, &"defaults.inputs", 0, diags)?;
            let path = one_value(path, &values, &names, ("defaults.inputs", PATH), 0, diags)?;
            check.path(&path, "inputs", &[], "", diags)
        })
        .collect();
    // Each definition's matrix axes, named in the message of a flow that uses one it lacks.
    let axes_of: Vec<(String, String)> = (raw.flows.iter())
        .flat_map(|f| f.matrix.iter().flat_map(|m| &m.axes).map(|a| (a, &f.name)))
        .map(|(axis, def)| (axis.name.clone(), def.clone()))
        .collect();
    // What each definition writes, as written, for a matrix glob that matches none of it.
    let writers: Vec<(&str, &str)> = (raw.flows.iter())
        .flat_map(|f| f.outputs.iter().map(|o| (f.name.as_str(), o.text.as_str())))
        .collect();
    let mut defs = Vec::with_capacity(raw.flows.len());
    let mut by_name: FxHashMap<&str, usize> = FxHashMap::default();
    by_name.reserve(raw.flows.len());
    for flow in &raw.flows {
        if let Some(&first) = by_name.get(flow.name.as_str()) {
            let first: &RawFlow = &raw.flows[first];
            let other = diags.place(first.source, first.name_span.as_ref());
            diags.error_at(
                flow.source,
                start(&flow.name_span),
                format!("flow `{}` is defined twice: here and at {other}", flow.name),
            );
            continue;
        }
        by_name.insert(&flow.name, defs.len());
        let params = (raw.params.as_slice(), values.as_slice(), names.as_slice());
        let others = Others {
            axes: &axes_of,
            writers: &writers,
        };
        defs.push(define(flow, params, others, dir, diags));
    }
    let n_flows = defs.iter().map(|d| d.flows.len()).sum();
    let mut ids: Vec<FlowId> = Vec::with_capacity(n_flows);
    let mut index: FxHashMap<FlowId, u32> = FxHashMap::default();
    index.reserve(n_flows);
    for d in 0..defs.len() {
        add_flows(&mut defs, d, &mut ids, &mut index, diags);
    }
    check::names_one_thing(&defs, &index, diags);
    let deps = check::dependencies(&defs, &ids, &index, &by_name, &values, diags);
    if let Some((names, span)) = &raw.default {
        let known = super::targets::Known {
            defs: &defs,
            ids: &ids,
            index: &index,
            by_name: &by_name,
        };
        super::targets::check_default(names, span, &known, diags);
    }
    drop(index);
    if !diags.is_empty() {
        return None;
    }
    let (graph, mut requires, mut wants) = (deps.graph, deps.requires, deps.wants);
    let wants_at = deps.wants_at;
    // The definitions' flows are consecutive, in the order of the ids.
    let mut ids = ids.into_iter();
    let defaults = &raw.defaults;
    // Without own variables, nothing can fail to expand.
    let only_defaults = merged_env(&defaults_env, &[], &values, &[], "", dir).ok()?;
    let shell_default: Arc<[String]> = process::default_interpreter().into();
    let mut flows = Vec::with_capacity(ids.len());
    let mut definitions = Vec::with_capacity(defs.len());
    let mut axis_values = Vec::new();
    let mut places: Vec<Vec<data::Place>> = Vec::with_capacity(ids.len());
    // The names of the workflow file and of the files it includes, for [`Line`]s.
    let files: Vec<Arc<str>> = diags.source_names().map(Arc::from).collect();
    for def in &defs {
        let first = flows.len();
        let flow = def.raw;
        let shared_env = if def.env.is_empty() {
            Some(Ok(Arc::clone(&only_defaults)))
        } else {
            // A value that names `${FLOW_ID}` or other variables is expanded per flow.
            (!def
                .env
                .iter()
                .any(|(_, b)| b.uses_axes() || b.text().contains('$')))
            .then(|| merged_env(&defaults_env, &def.env, &values, &[], "", dir))
        };
        // An `env` value that cannot be expanded is reported once for its definition.
        let mut env_refused = false;
        let mut check =
            rendered::Checker::new(flow.source, format!("flows.{}", flow.name), &values);
        let fixed_cwd = (def.cwd.as_ref().filter(|b| !b.uses_axes()))
            .map(|b| dir.join(check.cwd(b, &[], &flow.name, diags)));
        let process = flow.process.clone().or(&defaults.process);
        let interpreter: Arc<[String]> = match process.interpreter {
            Some(words) => words.into(),
            None => Arc::clone(&shell_default),
        };
        let timeout = flow.timeout.or(defaults.timeout);
        let retries = flow.retries.or(defaults.retries).unwrap_or(0);
        let retry_delay = flow
            .retry_delay
            .or(defaults.retry_delay)
            .unwrap_or(Duration::ZERO);
        for (k, i) in def.flows.clone().enumerate() {
            def.combination(k, &mut axis_values);
            let id = ids.next()?;
            if k == 0 {
                for (key, value) in &def.env {
                    let named = if value.uses_axes() {
                        id.as_str()
                    } else {
                        &flow.name
                    };
                    check.env(key, value, &axis_values, named, diags);
                }
            }
            let action = match def.action.as_ref()? {
                BoundAction::Command(args) => {
                    Action::Command(check.command(args, &axis_values, id.as_str(), diags))
                }
                BoundAction::Shell(script) => {
                    Action::Shell(check.shell(script, &axis_values, id.as_str(), diags))
                }
            };
            let merged = match &shared_env {
                Some(Ok(env)) => Ok(Arc::clone(env)),
                Some(Err(refused)) => Err(refused.clone()),
                None => merged_env(
                    &defaults_env,
                    &def.env,
                    &values,
                    &axis_values,
                    id.as_str(),
                    dir,
                ),
            };
            let env = match merged {
                Ok(env) => env,
                Err((k, message)) => {
                    if !std::mem::replace(&mut env_refused, true) {
                        let at = def.env[k].1.span().map_or(0, |s| s.start);
                        let key = &def.env[k].0;
                        diags.error_at(
                            flow.source,
                            at,
                            format!("`flows.{}.env.{key}`: {message}", flow.name),
                        );
                    }
                    Arc::from([])
                }
            };
            let cwd = match (&fixed_cwd, &def.cwd) {
                (Some(cwd), _) => cwd.clone(),
                (None, Some(b)) => dir.join(check.cwd(b, &axis_values, id.as_str(), diags)),
                (None, None) => dir.to_owned(),
            };
            let mut path = |b, key| check.path(b, key, &axis_values, id.as_str(), diags);
            let inputs = (defaults_inputs.iter().cloned())
                .chain(def.inputs.iter().filter_map(|b| path(b, "inputs")))
                .collect();
            let outputs = (def.outputs.iter().filter_map(|b| path(b, "outputs"))).collect();
            places.push(
                (flow.outputs.iter())
                    .map(|t| (flow.source, t.span.clone()))
                    .collect(),
            );
            flows.push(FlowDef {
                id,
                action,
                inputs,
                outputs,
                unwritten: Vec::new(),
                unwritten_globs: Vec::new(),
                requires: std::mem::take(&mut requires[i]),
                wants: std::mem::take(&mut wants[i]),
                timeout,
                retries,
                retry_delay,
                cwd,
                env,
                slurm: flow.slurm.clone(),
                kill_grace: process.kill_grace,
                interpreter: Arc::clone(&interpreter),
            });
        }
        let line = |source: SourceId, t: &Template| Line {
            file: Arc::clone(&files[source]),
            line: diags.line(source, t.span.as_ref()),
        };
        let inputs_at = (defaults.inputs.iter().map(|t| line(0, t)))
            .chain(flow.inputs.iter().map(|t| line(flow.source, t)))
            .collect();
        let outputs_at = flow.outputs.iter().map(|t| line(flow.source, t)).collect();
        let at = |span| Line {
            file: Arc::clone(&files[flow.source]),
            line: diags.line(flow.source, span),
        };
        definitions.push(Definition {
            name: flow.name.clone(),
            flows: first..flows.len(),
            matrix: def.is_matrix(),
            manual: flow.manual.is_some(),
            inputs_at,
            outputs_at,
            slurm_at: at(flow.slurm_span.as_ref().or(flow.name_span.as_ref())),
            at: at(flow.name_span.as_ref()),
        });
    }
    let mut graph = graph;
    // Not with a value left out (`places` would not match the outputs), nor an `env` refused.
    if diags.is_empty() {
        // The workflow file (as it lies in `dir`) and the files it includes.
        let main = dir.join(Path::new(file).file_name().unwrap_or_default());
        let files: Vec<&Path> = std::iter::once(main.as_path())
            .chain(raw.included.iter().map(PathBuf::as_path))
            .collect();
        data::link(
            &mut flows, &places, &wants_at, &mut graph, dir, &files, diags,
        );
    }
    if !diags.is_empty() {
        return None;
    }
    Some(Workflow {
        name: raw.name.clone().unwrap_or_else(|| stem.to_owned()),
        jobs: raw.jobs,
        file: file.into(),
        dir: dir.to_owned(),
        flows,
        graph,
        slurm: raw.slurm.clone(),
        definitions,
        default: (raw.default.as_ref())
            .map(|(names, _)| names.iter().map(|t| t.text.clone()).collect()),
        unused_params: super::unused::params(&raw, diags),
    })
}

fn start(span: &Option<Range<usize>>) -> usize {
    span.as_ref().map_or(0, |s| s.start)
}

/// A flow's environment, as [`FlowDef::env`] holds it.
type Env = Arc<[(String, String)]>;

/// The defaults' environment (expanded), then flow `id`'s own, rendered and with `${VAR}`
/// expanded in the text the file writes, sorted by name.
///
/// # Errors
/// The index in `own` of a value that cannot be expanded, and why.
fn merged_env(
    defaults: &BTreeMap<String, String>,
    own: &[(String, Bound<'_>)],
    params: &[Value],
    axes: &[&str],
    id: &str,
    dir: &Path,
) -> Result<Env, (usize, String)> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(defaults.len() + own.len());
    env.extend(defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (k, (key, value)) in own.iter().enumerate() {
        let value = value
            .render_with(params, axes, |lit| {
                expand_env::expand_own(lit, defaults, id, dir)
            })
            .map_err(|message| (k, message))?;
        match env.binary_search_by(|(k, _)| k.cmp(key)) {
            Ok(i) => env[i].1 = value,
            Err(i) => env.insert(i, (key.clone(), value)),
        }
    }
    Ok(env.into())
}

/// Binds the templates of `flow` and reads its matrix values.
/// What the other definitions of the file have, for the messages of one: each matrix axis
/// with its definition, and each output as written with the definition that writes it.
#[derive(Clone, Copy)]
struct Others<'a> {
    axes: &'a [(String, String)],
    writers: &'a [(&'a str, &'a str)],
}

fn define<'r>(
    flow: &'r RawFlow,
    params: (&[params::Param], &[Value], &[String]),
    others: Others<'_>,
    dir: &Path,
    diags: &mut Collector<'_>,
) -> Def<'r> {
    let param_names = params.2;
    let source = flow.source;
    let name = &flow.name;
    // Whether its flows can be made; a template that does not bind is reported, and the
    // flows are still made so that their dependencies are checked too.
    let mut ok = flow.id.is_some();
    let mut axes = Vec::new();
    let mut values = Vec::new();
    // The axis of each of `values` (an axis whose values are wrong has none).
    let mut valued = Vec::new();
    if let Some(m) = &flow.matrix {
        // Every axis written is a name templates may use, even one whose values are wrong
        // (that is reported once, and the flow made of none).
        for axis in &m.axes {
            axes.push(axis.name.clone());
            match matrix::values(axis, name, params, others.writers, dir, source, diags) {
                Some(v) => {
                    values.push(v);
                    valued.push(axis);
                }
                None => ok = false,
            }
        }
        ok &= !m.axes.is_empty() && m.axes.len() == values.len();
    }
    let scope = Scope {
        params: param_names,
        axes: &axes,
        elsewhere: others.axes,
    };
    let bind = |template: &'r Template, what: &dyn std::fmt::Display, diags: &mut Collector<'_>| {
        template.bind(scope, what, source, diags)
    };
    // A list param against other text would be one value of all its items.
    let glued = |b: &Bound<'_>, what: &str, diags: &mut Collector<'_>| {
        not_glued(b, params.1, param_names, (Some(name), what), source, diags)
    };
    let action = match &flow.action {
        Some(RawAction::Command(args)) => {
            let what = format!("flows.{name}.command");
            let bound: Vec<Option<Bound<'r>>> = (args.iter())
                .map(|a| bind(a, &what, diags).inspect(|b| _ = glued(b, &what, diags)))
                .collect();
            bound
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(BoundAction::Command)
        }
        Some(RawAction::Shell(script)) => {
            let what = format!("flows.{name}.shell");
            let bound = bind(script, &what, diags).inspect(|b| _ = glued(b, &what, diags));
            bound.map(BoundAction::Shell)
        }
        None => None,
    };
    let env = flow
        .env
        .iter()
        .filter_map(|(key, t)| {
            let what = format!("flows.{name}.env.{key}");
            let bound = bind(t, &what, diags)?;
            glued(&bound, &what, diags);
            Some((key.clone(), bound))
        })
        .collect();
    let cwd = flow.cwd.as_ref().and_then(|t| {
        let what = format!("flows.{name}.cwd");
        let cwd = bind(t, &what, diags)?;
        one_value(cwd, params.1, param_names, (&what, PATH), source, diags)
    });
    // A path takes one value: a list param in it would make one path of all its items.
    let paths = |list: &'r [Template], key: &str, diags: &mut Collector<'_>| -> Vec<Bound<'r>> {
        let what = format!("flows.{name}.{key}");
        (list.iter())
            .filter_map(|t| {
                let path = bind(t, &what, diags)?;
                one_value(path, params.1, param_names, (&what, PATH), source, diags)
            })
            .collect()
    };
    let inputs = paths(&flow.inputs, "inputs", diags);
    let outputs = paths(&flow.outputs, "outputs", diags);
    let flow_ids = |list: &'r [Template], key: &str, diags: &mut Collector<'_>| {
        let what = format!("flows.{name}.{key}");
        (list.iter())
            .map(|t| {
                let id = bind(t, &what, diags)?;
                one_value(id, params.1, param_names, (&what, FLOW_ID), source, diags)
            })
            .collect()
    };
    let requires = flow_ids(&flow.requires, "requires", diags);
    let wants = flow_ids(&flow.wants, "wants", diags);
    let count = values
        .iter()
        .try_fold(1usize, |n, v| n.checked_mul(v.len()))
        .filter(|&n| n <= MAX_EXPANSIONS);
    let count = match count {
        Some(n) => n,
        None => {
            let span = flow.matrix.as_ref().and_then(|m| m.span.clone());
            diags.error_at(
                source,
                start(&span),
                format!(
                    "the matrix of flow `{name}` makes more than {MAX_EXPANSIONS} flows: \
                     split it into several definitions"
                ),
            );
            ok = false;
            0
        }
    };
    for (written, vs) in valued.iter().zip(&values) {
        let axis = &written.name;
        // A file name is not the user's to change in the workflow: say what to do instead.
        let fix = match written.values {
            matrix::AxisValues::Glob(_) => {
                "; rename the file it comes from, or write a glob that does not match it"
            }
            _ => "",
        };
        for v in vs {
            if let Some(problem) = id_part_problem(&v.text) {
                diags.error_at(
                    source,
                    start(&v.span),
                    format!(
                        "the value `{}`{} of matrix axis `{axis}` cannot be part of the flow \
                         id `{name}.…`: {problem}{fix}",
                        v.text.escape_debug(),
                        v.origin(),
                    ),
                );
                ok = false;
            }
        }
    }
    Def {
        raw: flow,
        values,
        flows: 0..count,
        ok,
        skipped: Vec::new(),
        action,
        env,
        cwd,
        inputs,
        outputs,
        requires,
        wants,
    }
}
