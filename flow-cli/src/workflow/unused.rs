//! Params of the workflow file that no template uses: they change nothing, and neither does
//! a `--set` of one, so a param left over from a step removed, or meant for a template that
//! writes a value out instead, is named by a warning of `flow validate` and `flow run`. A
//! param of an included file is not: such a file is shared, and a workflow may use only some
//! of its params.

use super::diagnostic::Collector;
use super::matrix::AxisValues;
use super::parse::{RawAction, RawWorkflow};
use super::template::Template;
use super::Line;

/// Each param declared in the workflow file that no template of it or of a file it includes
/// uses, with its line.
pub(super) fn params(raw: &RawWorkflow, diags: &Collector<'_>) -> Vec<(String, Line)> {
    let mut templates: Vec<&Template> = Vec::new();
    templates.extend(&raw.defaults.inputs);
    templates.extend(raw.defaults.env.values());
    for flow in &raw.flows {
        match &flow.action {
            Some(RawAction::Command(args)) => templates.extend(args),
            Some(RawAction::Shell(script)) => templates.push(script),
            None => {}
        }
        templates.extend(flow.requires.iter().chain(&flow.wants));
        templates.extend(flow.inputs.iter().chain(&flow.outputs));
        templates.extend(&flow.cwd);
        templates.extend(flow.env.values());
        for axis in flow.matrix.iter().flat_map(|m| &m.axes) {
            match &axis.values {
                AxisValues::Glob(t) | AxisValues::Param(t) => templates.push(t),
                AxisValues::List(_) => {}
            }
        }
    }
    let file = diags.source_names().next().unwrap_or_default();
    (raw.params.iter())
        .filter(|p| p.source == 0)
        .filter(|p| !templates.iter().any(|t| t.names().any(|n| n == p.name)))
        .map(|p| {
            let line = diags.line(p.source, p.span.as_ref());
            (
                p.name.clone(),
                Line {
                    file: file.into(),
                    line,
                },
            )
        })
        .collect()
}
