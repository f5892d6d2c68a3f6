//! The critical path of a run: the chain of dependencies that decided its wall time.

/// When one flow ran, in milliseconds since the run started; what the critical path needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// When the flow started.
    pub start: f64,
    /// When it finished.
    pub end: f64,
}

/// The critical path through flows `0..spans.len()`, first flow first.
///
/// It ends at the flow that finished last and walks back, from each flow, to the parent that
/// finished last: the one it waited for. It stops at a flow with no parent that ran. Flows
/// that did not both start and finish (`None`) are never on it. On a tie the parent with the
/// lower index wins, so the path is the same for the same run.
///
/// `parents[i]` lists the flows `i` waited for (required and optional dependencies alike).
pub fn critical_path(spans: &[Option<Span>], parents: &[Vec<usize>]) -> Vec<usize> {
    let Some(mut current) = latest(spans, 0..spans.len()) else {
        return Vec::new();
    };
    let mut path = vec![current];
    // A path is at most as long as there are flows; the bound guards against a cycle in
    // data that did not come from a checked graph.
    while path.len() < spans.len() {
        let waited_for = parents
            .get(current)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&parent| parent < spans.len());
        match latest(spans, waited_for) {
            Some(parent) => {
                path.push(parent);
                current = parent;
            }
            None => break,
        }
    }
    path.reverse();
    path
}

/// Of the flows in `candidates` that ran, the one that finished last (the first on a tie).
fn latest(spans: &[Option<Span>], candidates: impl Iterator<Item = usize>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for i in candidates {
        if let Some(span) = spans[i] {
            if best.is_none_or(|(b, end)| span.end > end || (span.end == end && i < b)) {
                best = Some((i, span.end));
            }
        }
    }
    best.map(|(i, _)| i)
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
    fn the_path_ends_at_the_flow_that_finished_last_even_off_the_longest_chain() {
        // A long chain 0 → 1 → 2 that ends at 6, and a lone flow 3 that runs until 8.
        check(
            &[span(0., 2.), span(2., 4.), span(4., 6.), span(0., 8.)],
            &[(0, 1), (1, 2)],
            &[3],
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

    #[test]
    fn out_of_range_parents_and_cycles_do_not_hang() {
        let spans = [span(0., 1.), span(1., 2.)];
        let parents = vec![vec![1, 7], vec![0]];
        let path = critical_path(&spans, &parents);
        assert_eq!(path.len(), 2, "{path:?}");
    }
}
