//! `flow run FILE FLOW...`: keeps the named flows (or every flow of a named definition) and
//! their ancestors, required and wanted, and drops the rest of the workflow.

use std::sync::Arc;

use flow_graph::{DependencyType, FlowGraph};
use rustc_hash::FxHashMap;

use super::{Definition, Workflow};
use crate::error::CliError;

/// How many flows of a definition an unknown target's message names.
const MEMBERS_SHOWN: usize = 6;

impl Workflow {
    /// The error for `target` (a target or a `--force`), which names no flow or definition:
    /// for `DEF.VALUES` of a matrix definition, the flows the definition makes now (a sample
    /// deleted, a value renamed); else the closest name when it looks like a typo.
    pub fn unknown_target(&self, target: &str) -> CliError {
        let names = (self.flows.iter().map(|f| f.id.as_str()))
            .chain(self.definitions.iter().map(|d| d.name.as_str()));
        let made_by = |def: &Definition| {
            let ids: Vec<&str> = self.flows[def.flows.clone()]
                .iter()
                .map(|f| f.id.as_str())
                .collect();
            let shown = ids.iter().take(MEMBERS_SHOWN).copied().collect::<Vec<_>>();
            let more = match ids.len().saturating_sub(MEMBERS_SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            format!(" (`{}` makes {}{more})", def.name, shown.join(", "))
        };
        let member_of = (self.definitions.iter())
            .filter(|d| d.matrix && !d.flows.is_empty())
            .find(|d| target.starts_with(&format!("{}.", d.name)));
        let hint = match (member_of, super::check::closest_name(target, names)) {
            (Some(def), _) => made_by(def),
            (None, Some(close)) => format!(" (did you mean `{close}`?)"),
            (None, None) => String::new(),
        };
        CliError::UnknownTarget {
            target: target.to_owned(),
            file: self.file.display().to_string(),
            hint,
        }
    }

    /// Keeps `targets` and their ancestors; nothing changes when `targets` is empty.
    ///
    /// # Errors
    /// [`CliError::UnknownTarget`] naming the first target that is neither a flow nor a
    /// definition of the workflow.
    pub fn keep_targets(&mut self, targets: &[String]) -> Result<(), CliError> {
        if targets.is_empty() {
            return Ok(());
        }
        let index: FxHashMap<&str, usize> = (self.flows.iter().enumerate())
            .map(|(i, f)| (f.id.as_str(), i))
            .collect();
        let mut keep = vec![false; self.flows.len()];
        let mut stack = Vec::new();
        for target in targets {
            if let Some(&i) = index.get(target.as_str()) {
                stack.push(i);
            } else if let Some(def) = self.definitions.iter().find(|d| d.name == *target) {
                stack.extend(def.flows.clone());
            } else {
                return Err(self.unknown_target(target));
            }
        }
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
                    inputs_at: Arc::clone(&def.inputs_at),
                    outputs_at: Arc::clone(&def.outputs_at),
                    slurm_at: def.slurm_at.clone(),
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
}
