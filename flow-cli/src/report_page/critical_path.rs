//! The critical path of a run: the chain of dependencies that took the longest, by the sum
//! of its flows' durations.

/// When one flow ran, in milliseconds since the run started; what the critical path needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// When the flow started.
    pub start: f64,
    /// When it finished.
    pub end: f64,
}

/// The critical path through flows `0..spans.len()`, first flow first: the chain of
/// dependencies whose flows took the longest time together (the sum of their durations), the
/// lower bound on the run's wall time that no number of jobs can beat.
///
/// A chain follows edges between flows that both ran; flows that did not both start and
/// finish (`None`) are never on it. On a tie the chain ending at the lower index wins, and at
/// each step back the parent with the lower index, so the path is the same for the same run.
///
/// `parents[i]` lists the flows `i` waited for (required and optional dependencies alike).
/// Parents out of range are ignored; an edge that would close a cycle (data that did not come
/// from a checked graph) is ignored too.
pub fn critical_path(spans: &[Option<Span>], parents: &[Vec<usize>]) -> Vec<usize> {
    let n = spans.len();
    // longest[i]: the longest chain ending at i (its total), and the parent it comes from.
    let mut longest: Vec<Option<(f64, Option<usize>)>> = vec![None; n];
    let mut state = vec![Visit::New; n];
    for root in 0..n {
        // An explicit stack: depth-first, each flow finished after its parents.
        let mut stack = vec![(root, false)];
        while let Some((i, parents_done)) = stack.pop() {
            if parents_done {
                longest[i] = best_chain(i, spans, parents, &longest, &state);
                state[i] = Visit::Done;
                continue;
            }
            if state[i] != Visit::New {
                continue;
            }
            state[i] = Visit::Open;
            stack.push((i, true));
            for &p in parents.get(i).into_iter().flatten() {
                if p < n && state[p] == Visit::New {
                    stack.push((p, false));
                }
            }
        }
    }
    let mut end: Option<(usize, f64)> = None;
    for (i, chain) in longest.iter().enumerate() {
        if let Some((total, _)) = chain {
            if end.is_none_or(|(_, best)| *total > best) {
                end = Some((i, *total));
            }
        }
    }
    let mut path = Vec::new();
    let mut current = end.map(|(i, _)| i);
    while let Some(i) = current {
        path.push(i);
        current = longest[i].and_then(|(_, parent)| parent);
        if path.len() > n {
            break; // not reached: parents are finished before their children
        }
    }
    path.reverse();
    path
}

/// Where a flow is in the depth-first walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    /// Its parents are being walked: an edge back to it would close a cycle.
    Open,
    Done,
}

/// The longest chain ending at `i` once its parents are done: `i`'s duration plus the
/// longest chain of a parent that ran (the lower index on a tie).
fn best_chain(
    i: usize,
    spans: &[Option<Span>],
    parents: &[Vec<usize>],
    longest: &[Option<(f64, Option<usize>)>],
    state: &[Visit],
) -> Option<(f64, Option<usize>)> {
    let span = spans[i]?;
    let own = (span.end - span.start).max(0.0);
    let mut best: Option<(usize, f64)> = None;
    for &p in parents.get(i).into_iter().flatten() {
        if p >= spans.len() || p == i || state[p] != Visit::Done {
            continue;
        }
        if let Some((total, _)) = longest[p] {
            let better = best.is_none_or(|(b, t)| total > t || (total == t && p < b));
            if better {
                best = Some((p, total));
            }
        }
    }
    Some((own + best.map_or(0.0, |(_, t)| t), best.map(|(p, _)| p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: f64, end: f64) -> Option<Span> {
        Some(Span { start, end })
    }

    fn check(spans: &[Option<Span>], edges: &[(usize, usize)], expected: &[usize]) {
        let mut parents = vec![Vec::new(); spans.len()];
        for &(parent, child) in edges {
            parents[child].push(parent);
        }
        assert_eq!(critical_path(spans, &parents), expected);
    }

    #[test]
    fn a_chain_is_its_own_critical_path() {
        check(
            &[span(0., 1.), span(1., 3.), span(3., 4.)],
            &[(0, 1), (1, 2)],
            &[0, 1, 2],
        );
    }

    #[test]
    fn the_slow_branch_of_a_diamond_is_critical() {
        // 0 → {1 slow, 2 fast} → 3
        check(
            &[span(0., 1.), span(1., 9.), span(1., 2.), span(9., 10.)],
            &[(0, 1), (0, 2), (1, 3), (2, 3)],
            &[0, 1, 3],
        );
        check(
            &[span(0., 1.), span(1., 2.), span(1., 9.), span(9., 10.)],
            &[(0, 1), (0, 2), (1, 3), (2, 3)],
            &[0, 2, 3],
        );
    }

    #[test]
    fn the_longest_chain_wins_over_the_flow_that_finished_last() {
        // A chain 0 → 1 → 2 of 6 ms in all, and a lone flow 3 that runs until 8 but only
        // for 3 ms: the chain is critical.
        check(
            &[span(0., 2.), span(2., 4.), span(4., 6.), span(5., 8.)],
            &[(0, 1), (1, 2)],
            &[0, 1, 2],
        );
        // A long flow that finished early is on the path, though a short one ended last.
        check(
            &[span(0., 3.6), span(0., 0.5), span(0.5, 2.1), span(3.6, 3.7)],
            &[(1, 2), (0, 3)],
            &[0, 3],
        );
    }

    #[test]
    fn flows_that_never_ran_are_skipped() {
        // 1 failed upstream and never ran; 2 waited for 0 directly.
        check(
            &[span(0., 5.), None, span(5., 6.)],
            &[(0, 1), (1, 2), (0, 2)],
            &[0, 2],
        );
        check(&[None, None], &[(0, 1)], &[]);
        check(&[], &[], &[]);
    }

    #[test]
    fn ties_go_to_the_lower_index() {
        check(
            &[span(0., 2.), span(0., 2.), span(2., 3.)],
            &[(1, 2), (0, 2)],
            &[0, 2],
        );
    }

    /// Every chain of flows that ran, following `parents`, by brute force.
    fn all_chains(spans: &[Option<Span>], parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let mut chains: Vec<Vec<usize>> = (0..spans.len())
            .filter(|&i| spans[i].is_some())
            .map(|i| vec![i])
            .collect();
        let mut k = 0;
        while k < chains.len() {
            let first = chains[k][0];
            for &p in &parents[first] {
                if spans[p].is_some() {
                    let mut longer = vec![p];
                    longer.extend(&chains[k]);
                    chains.push(longer);
                }
            }
            k += 1;
        }
        chains
    }

    fn total(spans: &[Option<Span>], chain: &[usize]) -> f64 {
        chain
            .iter()
            .map(|&i| spans[i].map_or(0.0, |s| s.end - s.start))
            .sum()
    }

    proptest::proptest! {
        #[test]
        fn the_path_is_a_chain_no_other_chain_is_longer_than(
            flows in proptest::collection::vec(
                (proptest::option::weighted(0.85, (0u32..20, 0u32..20)), proptest::collection::vec(0usize..8, 0..4)),
                0..8,
            )
        ) {
            // Parents only among earlier flows: a DAG in index order.
            let spans: Vec<Option<Span>> = flows
                .iter()
                .map(|(s, _)| s.map(|(start, len)| Span { start: f64::from(start), end: f64::from(start + len) }))
                .collect();
            let parents: Vec<Vec<usize>> = flows
                .iter()
                .enumerate()
                .map(|(i, (_, ps))| ps.iter().filter(|&&p| p < i).copied().collect())
                .collect();
            let path = critical_path(&spans, &parents);
            let chains = all_chains(&spans, &parents);
            let best = chains.iter().map(|c| total(&spans, c)).fold(0.0, f64::max);
            if chains.is_empty() {
                proptest::prop_assert!(path.is_empty());
            } else {
                proptest::prop_assert!(chains.contains(&path), "{path:?} is not a chain");
                proptest::prop_assert_eq!(total(&spans, &path), best);
            }
        }
    }

    #[test]
    fn out_of_range_parents_and_cycles_do_not_hang() {
        let spans = [span(0., 1.), span(1., 2.)];
        let parents = vec![vec![1, 7], vec![0]];
        let path = critical_path(&spans, &parents);
        assert_eq!(path.len(), 2, "{path:?}");
    }
}
