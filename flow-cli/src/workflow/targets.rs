//! Which flows a run runs. `flow run FILE FLOW...` keeps the named flows (or every flow of a
//! named definition) and their ancestors, required and wanted, and drops the rest of the
//! workflow; a bare `flow run FILE` does the same with the names of `[workflow] default`, else
//! with every definition that is not `manual = true` (all of them when none is).

use std::sync::Arc;

use flow_graph::{DependencyType, FlowGraph, FlowId};
use rustc_hash::FxHashMap;

use super::data::key;
use super::diagnostic::Collector;
use super::expand::Def;
use super::parse::Span;
use super::template::Template;
use super::{Definition, Workflow};
use crate::error::CliError;

/// How many flows of a definition an unknown target's message names.
const MEMBERS_SHOWN: usize = 6;

/// ` (`DEF` makes A, B and 3 more)`: what the definition `name`, whose flows are `ids`, makes.
fn made_by<'a>(name: &str, ids: impl ExactSizeIterator<Item = &'a str>) -> String {
    let more = match ids.len().saturating_sub(MEMBERS_SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let shown: Vec<&str> = ids.take(MEMBERS_SHOWN).collect();
    format!(" (`{name}` makes {}{more})", shown.join(", "))
}

/// The flows and definitions of a workflow being expanded, as names find them.
pub(super) struct Known<'a, 'r> {
    pub defs: &'a [Def<'r>],
    pub ids: &'a [FlowId],
    pub index: &'a FxHashMap<FlowId, u32>,
    pub by_name: &'a FxHashMap<&'a str, usize>,
}

/// Checks `[workflow] default` (`names`, the list at `span`): not empty, and each name a flow
/// or a definition that is not `manual` (which a bare run would then run after all).
pub(super) fn check_default(
    names: &[Template],
    span: &Span,
    known: &Known<'_, '_>,
    diags: &mut Collector<'_>,
) {
    if names.is_empty() {
        diags.error_at(
            0,
            span.as_ref().map_or(0, |s| s.start),
            "`workflow.default` is empty, so a bare `flow run` would run nothing: name the flows \
             it runs, or remove it to run every flow that is not `manual`",
        );
    }
    for template in names {
        let name = template.text.as_str();
        let at = template.span.as_ref().map_or(0, |s| s.start);
        let def = match known.index.get(name) {
            Some(&i) => (known.defs.iter()).find(|d| d.flows.contains(&(i as usize))),
            None => known.by_name.get(name).map(|&d| &known.defs[d]),
        };
        let Some(def) = def else {
            let unfilled = super::template::not_filled_in("workflow.default", name);
            let message = match (flow_graph::validate_flow_id(name), unfilled) {
                // `default = ["{target}"]`: taken as written, braces and all.
                (Err(_), Some(problem)) => format!("{problem}: name the flows themselves"),
                (Err(e), None) => format!("in `workflow.default`: {e}"),
                (Ok(()), _) => format!(
                    "`workflow.default` names unknown flow `{name}`{}",
                    default_hint(name, known)
                ),
            };
            diags.error_at(0, at, message);
            continue;
        };
        if let Some(manual) = &def.raw.manual {
            let place = diags.place(def.raw.source, manual.as_ref());
            let which = match def.raw.name == name {
                true => "which".to_owned(),
                false => format!("whose definition `{}`", def.raw.name),
            };
            diags.error_at(
                0,
                at,
                format!(
                    "`workflow.default` names `{name}`, {which} is `manual = true` (at \
                     {place}): a manual flow runs only when named or needed; remove one of \
                     the two"
                ),
            );
        }
    }
}

/// The hint of an unknown name of `[workflow] default`: see [`unknown_hint`].
fn default_hint(name: &str, known: &Known<'_, '_>) -> String {
    let matrices = (known.defs.iter())
        .filter(|d| d.is_matrix() && !d.flows.is_empty())
        .map(|d| {
            (
                d.raw.name.as_str(),
                known.ids[d.flows.clone()].iter().map(FlowId::as_str),
            )
        });
    let names = (known.defs.iter())
        .filter(|d| d.raw.id.is_some())
        .map(|d| d.raw.name.as_str());
    unknown_hint(name, matrices, names)
}

/// The hint for an unknown `name`: for `DEF.VALUES` of one of the `matrices` (each a matrix
/// definition's name with its flows' ids), the flows that definition makes now (a sample
/// deleted, a value renamed); else the closest of `names` when it looks like a typo.
fn unknown_hint<'a, Ids>(
    name: &str,
    mut matrices: impl Iterator<Item = (&'a str, Ids)>,
    names: impl Iterator<Item = &'a str>,
) -> String
where
    Ids: ExactSizeIterator<Item = &'a str>,
{
    let member_of = matrices.find(|(def, _)| name.starts_with(&format!("{def}.")));
    match (member_of, super::check::closest_name(name, names)) {
        (Some((def, ids)), _) => made_by(def, ids),
        (None, Some(close)) => format!(" (did you mean `{close}`?)"),
        (None, None) => String::new(),
    }
}

impl Workflow {
    /// The error for `target` (a target or a `--force`), which names no flow or definition:
    /// for `DEF.VALUES` of a matrix definition, the flows the definition makes now (a sample
    /// deleted, a value renamed); else the closest name when it looks like a typo.
    pub fn unknown_target(&self, target: &str) -> CliError {
        let names = (self.flows.iter().map(|f| f.id.as_str()))
            .chain(self.definitions.iter().map(|d| d.name.as_str()));
        let matrices = (self.definitions.iter())
            .filter(|d| d.matrix && !d.flows.is_empty())
            .map(|d| {
                (
                    d.name.as_str(),
                    self.flows[d.flows.clone()].iter().map(|f| f.id.as_str()),
                )
            });
        let hint = match self.writer_of(target) {
            Some(writer) => format!(" (`{target}` is an output of flow `{writer}`: name the flow)"),
            None => unknown_hint(target, matrices, names),
        };
        CliError::UnknownTarget {
            target: target.to_owned(),
            file: self.file.display().to_string(),
            hint,
        }
    }

    /// The flow that declares `path` as an output (or an output folder holding it), as a make
    /// user names a file to build: `path` read from the workflow's folder, else from the
    /// current directory.
    fn writer_of(&self, path: &str) -> Option<&FlowId> {
        let dir = self.dir.to_str();
        let here = std::env::current_dir().ok().map(|cwd| cwd.join(path));
        let keys = [
            Some(key(path, dir)),
            here.as_deref()
                .and_then(|p| p.to_str())
                .map(|p| key(p, dir)),
        ];
        let holds = |output: &str, wanted: &str| {
            let output = key(output, dir);
            let output = output.trim_end_matches('/');
            wanted == output
                || wanted
                    .strip_prefix(output)
                    .is_some_and(|r| r.starts_with('/'))
        };
        keys.iter().flatten().find_map(|wanted| {
            let wanted = wanted.trim_end_matches('/');
            (self.flows.iter())
                .find(|f| f.outputs.iter().any(|o| holds(o, wanted)))
                .map(|f| &f.id)
        })
    }

    /// Which flows (by index into [`Self::flows`]) a run with `targets` runs: the targets and
    /// their ancestors, required and wanted. Without targets: those `[workflow] default`
    /// names, else every flow of a definition that is not `manual` (none when each is), with
    /// their ancestors too. `None` when it runs every flow.
    ///
    /// # Errors
    /// [`CliError::UnknownTarget`] naming the first target that is neither a flow nor a
    /// definition of the workflow.
    pub fn runs(&self, targets: &[String]) -> Result<Option<Vec<bool>>, CliError> {
        let named = match (targets, &self.default) {
            ([], Some(default)) => default.as_slice(),
            ([], None) if self.definitions.iter().any(|d| d.manual) => &[],
            ([], None) => return Ok(None),
            (targets, _) => targets,
        };
        let index: FxHashMap<&str, usize> = (self.flows.iter().enumerate())
            .map(|(i, f)| (f.id.as_str(), i))
            .collect();
        let mut stack = Vec::new();
        if named.is_empty() {
            let automatic = self.definitions.iter().filter(|d| !d.manual);
            stack.extend(automatic.flat_map(|d| d.flows.clone()));
        }
        for target in named {
            if let Some(&i) = index.get(target.as_str()) {
                stack.push(i);
            } else if let Some(def) = self.definitions.iter().find(|d| d.name == *target) {
                stack.extend(def.flows.clone());
            } else {
                return Err(self.unknown_target(target));
            }
        }
        let mut keep = vec![false; self.flows.len()];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut keep[i], true) {
                continue;
            }
            let flow = &self.flows[i];
            stack.extend(
                flow.requires
                    .iter()
                    .chain(&flow.wants)
                    .map(|p| index[p.as_str()]),
            );
        }
        Ok(Some(keep))
    }

    /// Keeps the flows a run with `targets` runs ([`Self::runs`]) and drops the others.
    ///
    /// # Errors
    /// [`CliError::UnknownTarget`] naming the first target that is neither a flow nor a
    /// definition of the workflow; [`CliError::NoTargets`] for a bare run of a workflow whose
    /// every flow is `manual`.
    pub fn keep_targets(&mut self, targets: &[String]) -> Result<(), CliError> {
        let Some(keep) = self.runs(targets)? else {
            return Ok(());
        };
        if !keep.contains(&true) {
            return Err(CliError::NoTargets {
                file: self.file.display().to_string(),
            });
        }
        let mut definitions = Vec::with_capacity(self.definitions.len());
        let mut flows = Vec::with_capacity(keep.iter().filter(|k| **k).count());
        let old = std::mem::take(&mut self.flows);
        let mut old = old.into_iter().zip(keep);
        for def in &self.definitions {
            let first = flows.len();
            flows.extend(
                (&mut old)
                    .take(def.flows.len())
                    .filter(|(_, k)| *k)
                    .map(|(f, _)| f),
            );
            if flows.len() > first {
                definitions.push(Definition {
                    name: def.name.clone(),
                    flows: first..flows.len(),
                    matrix: def.matrix,
                    manual: def.manual,
                    inputs_at: Arc::clone(&def.inputs_at),
                    outputs_at: Arc::clone(&def.outputs_at),
                    slurm_at: def.slurm_at.clone(),
                    at: def.at.clone(),
                });
            }
        }
        let mut graph = FlowGraph::with_capacity(flows.len(), 0);
        for flow in &flows {
            graph
                .add_flow(flow.id.clone())
                .map_err(|e| CliError::Run(e.to_string()))?;
        }
        let edges = flows.iter().flat_map(|f| {
            let required =
                (f.requires.iter()).map(|p| (p.clone(), f.id.clone(), DependencyType::Required));
            let optional =
                (f.wants.iter()).map(|p| (p.clone(), f.id.clone(), DependencyType::Optional));
            required.chain(optional)
        });
        graph
            .add_dependencies(edges)
            .map_err(|e| CliError::Run(e.to_string()))?;
        self.flows = flows;
        self.definitions = definitions;
        self.graph = graph;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::workflow::test_support::load_str;

    const FILE: &str = r#"
[flows.a]
command = ["true"]
outputs = ["a.txt"]
[flows.b]
command = ["true"]
inputs = ["a.txt"]
[flows.c]
command = ["true"]
wants = ["b"]
[flows.d]
command = ["true"]
"#;

    fn ids(targets: &[&str]) -> Vec<String> {
        let mut wf = load_str(FILE).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
        wf.keep_targets(&targets).unwrap();
        wf.flows.iter().map(|f| f.id.to_string()).collect()
    }

    #[test]
    fn targets_keep_their_ancestors_required_and_wanted() {
        assert_eq!(ids(&[]), ["a", "b", "c", "d"]);
        assert_eq!(ids(&["b"]), ["a", "b"]);
        assert_eq!(ids(&["c"]), ["a", "b", "c"]);
        assert_eq!(ids(&["d", "a"]), ["a", "d"]);
    }

    #[test]
    fn an_unknown_target_is_named() {
        let mut wf = load_str(FILE).unwrap();
        let error = wf.keep_targets(&["zz".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("unknown flow `zz`"), "{error}");
    }

    #[test]
    fn an_unknown_target_is_named_with_a_close_name_or_the_flows_of_its_definition() {
        let wf = load_str(
            "[flows.merge]\nshell = \"true\"\n\
             [flows.trim]\nmatrix = { s = [\"A\", \"C\"] }\nshell = \"true\"\n\
             [flows.many]\nmatrix = { i = [1, 2, 3, 4, 5, 6, 7, 8] }\nshell = \"true\"\n",
        )
        .unwrap();
        let table = [
            ("mrege", " (did you mean `merge`?)"),
            ("trm", " (did you mean `trim`?)"),
            ("trim.B", " (`trim` makes trim.A, trim.C)"),
            (
                "many.9",
                " (`many` makes many.1, many.2, many.3, many.4, many.5, many.6 and 2 more)",
            ),
            ("unrelated", ""),
        ];
        for (target, hint) in table {
            let message = wf.unknown_target(target).to_string();
            let expect = format!(
                "unknown flow `{target}` on the command line: w.toml has no flow or definition \
                 of that name{hint}"
            );
            assert_eq!(message, expect);
        }
        let mut kept = wf.clone();
        let error = kept.keep_targets(&["trim.B".to_owned()]).unwrap_err();
        assert!(
            error.to_string().ends_with("(`trim` makes trim.A, trim.C)"),
            "{error}"
        );
    }

    /// The flows a run keeps of `text` with `targets` (a bare run without any), or its error.
    fn kept(text: &str, targets: &[&str]) -> Result<Vec<String>, String> {
        let mut wf = load_str(text)?;
        let targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
        wf.keep_targets(&targets).map_err(|e| e.to_string())?;
        Ok(wf.flows.iter().map(|f| f.id.to_string()).collect())
    }

    /// A workflow, the targets of its run, and the flows the run keeps or its error.
    type Case<'a> = (&'a str, &'a [&'a str], Result<&'a [&'a str], &'a str>);

    const BUILD: &str = "[flows.build]\nshell = \"true\"\noutputs = [\"build/x\"]\n\
                         [flows.docs]\nshell = \"true\"\noutputs = [\"docs/x\"]\n";

    #[test]
    fn a_bare_run_runs_the_default_names_else_what_is_not_manual_with_what_they_need() {
        let clean = format!("{BUILD}[flows.clean]\nmanual = true\nshell = \"rm -rf build docs\"\n");
        let needed = format!(
            "{BUILD}[flows.gen]\nmanual = true\nshell = \"true\"\n\
             [flows.pack]\nrequires = [\"gen\"]\nshell = \"true\"\n\
             [flows.lint]\nmanual = true\nshell = \"true\"\n\
             [flows.test]\nwants = [\"lint\"]\nshell = \"true\"\n"
        );
        let default = format!(
            "[workflow]\ndefault = [\"all\"]\n{BUILD}\
             [flows.all]\nrequires = [\"build\"]\nshell = \"true\"\n\
             [flows.gen]\nmanual = true\nshell = \"true\"\n\
             [flows.build2]\nrequires = [\"gen\"]\nshell = \"true\"\n"
        );
        let group = "[workflow]\ndefault = [\"sort\", \"one.b\"]\n\
                     [flows.sort]\nmatrix = { s = [\"a\", \"b\"] }\nshell = \"true\"\n\
                     [flows.one]\nmatrix = { s = [\"a\", \"b\"] }\nshell = \"true\"\n\
                     [flows.other]\nshell = \"true\"\n";
        let all_manual = "[flows.a]\nmanual = true\nshell = \"true\"\n";
        let no_target = "every flow of w.toml is `manual = true`, and it has no \
                         `[workflow] default`: name the flows to run (`flow run w.toml FLOW...`)";
        let table: &[Case<'_>] = &[
            // `manual` leaves a flow out of a bare run; naming it runs it alone.
            (&clean, &[], Ok(&["build", "docs"])),
            (&clean, &["clean"], Ok(&["clean"])),
            // A manual flow that a flow of the bare run requires or wants runs with it.
            (
                &needed,
                &[],
                Ok(&["build", "docs", "gen", "pack", "lint", "test"]),
            ),
            // `default`: those flows and what they need; targets replace it.
            (&default, &[], Ok(&["build", "all"])),
            (&default, &["docs"], Ok(&["docs"])),
            (&default, &["build2"], Ok(&["gen", "build2"])),
            // A definition with a matrix names all its flows; a flow of it, itself.
            (group, &[], Ok(&["sort.a", "sort.b", "one.b"])),
            (all_manual, &[], Err(no_target)),
            (all_manual, &["a"], Ok(&["a"])),
            // Neither: every flow.
            (BUILD, &[], Ok(&["build", "docs"])),
        ];
        for (text, targets, expect) in table {
            let expect = expect
                .map(|ids| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>())
                .map_err(str::to_owned);
            assert_eq!(kept(text, targets), expect, "{targets:?} of\n{text}");
        }
    }

    #[test]
    fn default_names_a_flow_or_definition_of_the_file_that_is_not_manual() {
        let flows = "[flows.build]\nshell = \"true\"\n\
                     [flows.clean]\nmanual = true\nshell = \"true\"\n\
                     [flows.m]\nmatrix = { i = [1, 2] }\nshell = \"true\"\n";
        let table = [
            (
                "[\"bild\"]",
                "w.toml:2:12: `workflow.default` names unknown flow `bild` (did you mean `build`?)",
            ),
            (
                "[\"m.3\"]",
                "w.toml:2:12: `workflow.default` names unknown flow `m.3` (`m` makes m.1, m.2)",
            ),
            (
                "[\"report\"]",
                "w.toml:2:12: `workflow.default` names unknown flow `report`",
            ),
            (
                "[\"clean\"]",
                "w.toml:2:12: `workflow.default` names `clean`, which is `manual = true` (at \
                 w.toml:6:10): a manual flow runs only when named or needed; remove one of the two",
            ),
            (
                "[\"a b\"]",
                "w.toml:2:12: in `workflow.default`: invalid flow id `a b`: it has a character \
                 other than A-Z a-z 0-9 _ . - (a flow id is 1 to 128 characters of A-Z a-z 0-9 \
                 _ . -, not starting with . or -)",
            ),
            (
                "[\"{target}\"]",
                "w.toml:2:12: `workflow.default` holds `{target}`, but templates are not filled \
                 in there: name the flows themselves",
            ),
            (
                "[]",
                "w.toml:2:11: `workflow.default` is empty, so a bare `flow run` would run \
                 nothing: name the flows it runs, or remove it to run every flow that is not \
                 `manual`",
            ),
            (
                "\"build\"",
                "w.toml:2:11: `workflow.default` must be an array of flow ids, found string",
            ),
            (
                "[1]",
                "w.toml:2:12: `workflow.default` must hold flow ids (strings), found integer",
            ),
        ];
        for (list, expect) in table {
            let text = format!("[workflow]\ndefault = {list}\n{flows}");
            let error = load_str(&text).unwrap_err();
            assert_eq!(error.lines().next(), Some(expect), "{text}");
        }
        let manual = "[flows.a]\nmanual = \"yes\"\nshell = \"true\"\n";
        assert_eq!(
            load_str(manual).unwrap_err().lines().next(),
            Some("w.toml:2:10: `flows.a.manual` must be `true` or `false`, found string")
        );
    }
}
