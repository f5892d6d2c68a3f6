//! Failures grouped by cause: every flow not run because a dependency failed goes under the
//! flow whose own failure started the chain.

use std::collections::HashMap;

use flow_graph::FlowId;
use flow_results::FailureKind;

use crate::run_state::FlowState;

/// A flow that failed on its own, and the flows its failure kept from running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    /// The index of the flow that failed on its own (error, timeout, crash).
    pub cause: usize,
    /// The indexes of the flows not run because of it, directly or through other flows, in
    /// the order of the flows.
    pub downstream: Vec<usize>,
}

/// What [`group`] needs to know about one flow.
#[derive(Debug, Clone, Copy)]
pub struct FailureView<'a> {
    /// The flow.
    pub id: &'a FlowId,
    /// Its state.
    pub status: FlowState,
    /// Why it failed, if it did.
    pub kind: Option<&'a FailureKind>,
}

/// Groups the failed and not run flows by cause.
///
/// A flow that ended with [`FailureKind::Upstream`] (not run) goes under the flow it names,
/// followed transitively until a flow that failed on its own. When that chain leads nowhere
/// (a flow missing from the run, or a loop), the last flow reached on it becomes a cause of
/// its own, so every failed or not run flow appears exactly once. Groups come in the order of
/// their causes.
pub fn group(flows: &[FailureView<'_>]) -> Vec<FailureGroup> {
    let failed = |i: usize| matches!(flows[i].status, FlowState::Failed | FlowState::NotRun);
    let index: HashMap<&str, usize> = flows
        .iter()
        .enumerate()
        .map(|(i, flow)| (flow.id.as_str(), i))
        .collect();
    let upstream_of = |i: usize| -> Option<usize> {
        match flows[i].kind {
            Some(FailureKind::Upstream { flow }) => {
                index.get(flow.as_str()).copied().filter(|&j| failed(j))
            }
            _ => None,
        }
    };
    let mut downstream_of: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut causes = Vec::new();
    for i in (0..flows.len()).filter(|&i| failed(i)) {
        let is_upstream = matches!(flows[i].kind, Some(FailureKind::Upstream { .. }));
        if !is_upstream {
            causes.push(i);
            continue;
        }
        // Follow the chain to its start. A chain longer than there are flows is a loop: then
        // the flow counts as its own cause.
        let mut root = i;
        let mut steps = 0;
        while let Some(next) = upstream_of(root) {
            root = next;
            steps += 1;
            if steps > flows.len() {
                root = i;
                break;
            }
        }
        if root == i {
            causes.push(i);
        } else {
            downstream_of.entry(root).or_default().push(i);
        }
    }
    // Every chain ends at a flow that is pushed to `causes` on its own turn, so every key
    // of `downstream_of` is a cause.
    causes
        .into_iter()
        .map(|cause| FailureGroup {
            cause,
            downstream: downstream_of.remove(&cause).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use FlowState::*;

    fn id(s: &str) -> FlowId {
        FlowId::new(s).unwrap()
    }

    fn upstream(s: &str) -> FailureKind {
        FailureKind::Upstream { flow: id(s) }
    }

    /// Groups flows given as (id, status, failure) and returns (cause, [downstream]) by id.
    fn check(flows: &[(&str, FlowState, Option<FailureKind>)], expected: &[(&str, &[&str])]) {
        let ids: Vec<FlowId> = flows.iter().map(|f| id(f.0)).collect();
        let views: Vec<FailureView<'_>> = flows
            .iter()
            .zip(&ids)
            .map(|(f, id)| FailureView {
                id,
                status: f.1,
                kind: f.2.as_ref(),
            })
            .collect();
        let got: Vec<(&str, Vec<&str>)> = group(&views)
            .iter()
            .map(|g| {
                (
                    ids[g.cause].as_str(),
                    g.downstream.iter().map(|&d| ids[d].as_str()).collect(),
                )
            })
            .collect();
        let expected: Vec<(&str, Vec<&str>)> =
            expected.iter().map(|(c, d)| (*c, d.to_vec())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn flows_not_run_go_under_their_cause() {
        check(
            &[
                ("fetch", Failed, Some(FailureKind::Error)),
                ("parse", NotRun, Some(upstream("fetch"))),
                ("other", Completed, None),
                ("load", NotRun, Some(upstream("fetch"))),
                ("slow", Failed, Some(FailureKind::Timeout)),
                ("report", NotRun, Some(upstream("slow"))),
            ],
            &[("fetch", &["parse", "load"]), ("slow", &["report"])],
        );
    }

    #[test]
    fn chains_of_flows_not_run_lead_to_the_first_cause() {
        // The scheduler may name the direct parent rather than the root cause.
        check(
            &[
                ("c", NotRun, Some(upstream("b"))),
                ("b", NotRun, Some(upstream("a"))),
                ("a", Failed, Some(FailureKind::Crashed { signal: Some(9) })),
            ],
            &[("a", &["c", "b"])],
        );
    }

    #[test]
    fn a_chain_that_leads_nowhere_makes_its_last_flow_a_cause() {
        check(
            &[
                ("b", NotRun, Some(upstream("gone"))),
                ("c", NotRun, Some(upstream("b"))),
                ("x", NotRun, Some(upstream("y"))),
                ("y", NotRun, Some(upstream("x"))),
            ],
            &[("b", &["c"]), ("x", &[]), ("y", &[])],
        );
    }

    #[test]
    fn flows_that_did_not_fail_are_left_out() {
        check(
            &[
                ("a", Completed, None),
                ("b", Cancelled, Some(FailureKind::Cancelled)),
                ("c", Pending, None),
            ],
            &[],
        );
    }
}
