//! `flow run FILE FLOW...`: keeps the named flows (or every flow of a named definition) and
//! their ancestors, required and wanted, and drops the rest of the workflow.

use std::sync::Arc;

use flow_graph::{DependencyType, FlowGraph};
use rustc_hash::FxHashMap;

use super::{Definition, Workflow};
use crate::error::CliError;

impl Workflow {
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
                return Err(CliError::UnknownTarget {
                    target: target.clone(),
                    file: self.file.display().to_string(),
                });
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
}
