//! Table-driven tests of the run state machine: a DAG, a script of events, the effects each
//! event gives and the final statuses, one case a line.
//!
//! Graph: `N: EDGES` with `P>C` a required and `P?C` an optional edge. Retries: `F:R` gives
//! flow F R retries (fixed delay of 1 s). Events: `okF` (the attempt of F completes), `errF`
//! (it fails), `reuseF` (its result is reused), `dueF` (its retry timer), `cancelF`,
//! `cancelall`, `failF` (`fail_flow`), `join:P,Q?` (a flow joins with those parents), `adoptF#N`
//! (the running attempt of F is its Nth: adopted from a killed run).
//! Effects, the ones after the start and then after each event, split by `|`: `sF` start
//! (`sF#2` its second attempt), `wF` retry later, `tF` stop F, `T` stop all, `F:S` finished
//! with status `C`/`F`/`X` (cancelled) and a mark: `r` reused, `^R` upstream of R, `-` not
//! started in a cancelled run, `!` refused (`fail_flow` of a finished flow).

use std::sync::Arc;
use std::time::Duration;

use flow_graph::{Adjacency, DependencyType};
use flow_results::{Failure, FailureKind, FlowStatus};

use super::{Effect, Ending, Event, Machine, Outcome, State};
use crate::RetryPolicy;

fn dependency(optional: bool) -> DependencyType {
    if optional {
        DependencyType::Optional
    } else {
        DependencyType::Required
    }
}

fn num(s: &str) -> u32 {
    s.parse()
        .unwrap_or_else(|_| panic!("not a flow number: {s}"))
}

fn parse_graph(graph: &str) -> (usize, Vec<(u32, u32, DependencyType)>) {
    let (n, edges) = graph.split_once(':').unwrap_or((graph, ""));
    let edges = edges
        .split_whitespace()
        .map(|edge| {
            let optional = edge.contains('?');
            let (p, c) = edge.split_once(['>', '?']).expect("an edge is P>C or P?C");
            (num(p), num(c), dependency(optional))
        })
        .collect();
    (num(n.trim()) as usize, edges)
}

fn render(effect: &Effect) -> String {
    let status = |s: FlowStatus| match s {
        FlowStatus::Completed => "C",
        FlowStatus::Failed => "F",
        FlowStatus::Cancelled => "X",
        _ => "?",
    };
    match effect {
        Effect::Start { flow, attempt: 1 } => format!("s{flow}"),
        Effect::Start { flow, attempt } => format!("s{flow}#{attempt}"),
        Effect::RetryAfter { flow, .. } => format!("w{flow}"),
        Effect::Stop { flow } => format!("t{flow}"),
        Effect::StopAll => "T".to_owned(),
        Effect::Finished {
            flow,
            status: s,
            ending,
        } => {
            let mark = match ending {
                Ending::Completed | Ending::Failed(_) => String::new(),
                Ending::Reused => "r".to_owned(),
                Ending::Upstream { root } => format!("^{root}"),
                Ending::NotStarted => "-".to_owned(),
            };
            format!("{flow}:{}{mark}", status(*s))
        }
    }
}

fn event(token: &str) -> Event {
    let failure = || Failure::new(FailureKind::Error, "boom");
    if let Some(parents) = token.strip_prefix("join:") {
        let parents = parents
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| (num(p.trim_end_matches('?')), dependency(p.ends_with('?'))))
            .collect();
        return Event::Registered {
            parents,
            retry: RetryPolicy::none(),
        };
    }
    if token == "cancelall" {
        return Event::CancelAll;
    }
    if let Some((flow, attempt)) = token.strip_prefix("adopt").and_then(|t| t.split_once('#')) {
        return Event::Adopted {
            flow: num(flow),
            attempt: num(attempt),
        };
    }
    let split = token
        .find(|c: char| c.is_ascii_digit())
        .expect("a flow number");
    let (verb, flow) = (&token[..split], num(&token[split..]));
    match verb {
        "ok" => Event::AttemptEnded {
            flow,
            outcome: Outcome::Completed,
        },
        "err" => Event::AttemptEnded {
            flow,
            outcome: Outcome::Failed(failure()),
        },
        "reuse" => Event::AttemptEnded {
            flow,
            outcome: Outcome::Reused,
        },
        "due" => Event::RetryDue { flow },
        "cancel" => Event::Cancel { flow },
        "fail" => Event::Fail {
            flow,
            reason: "failed by hand".to_owned(),
        },
        other => panic!("unknown event `{other}`"),
    }
}

/// Runs `script` on `graph` and checks the effects and the final statuses.
fn check(graph: &str, jobs: usize, retries: &str, script: &str, effects: &str, statuses: &str) {
    let (n, edges) = parse_graph(graph);
    let adjacency = Adjacency::from_edges(n, edges);
    let mut policies = vec![RetryPolicy::none(); n];
    for entry in retries.split_whitespace() {
        let (flow, count) = entry.split_once(':').expect("F:R");
        policies[num(flow) as usize] = RetryPolicy::fixed(num(count), Duration::from_secs(1));
    }
    let mut machine = Machine::new(jobs, Arc::new(adjacency), policies);
    machine.begin();
    let mut steps = vec![drain(&mut machine, "")];
    for token in script.split_whitespace() {
        let refused = machine.handle(event(token)).is_err();
        steps.push(drain(&mut machine, if refused { "!" } else { "" }));
    }
    let got = steps.join(" | ");
    let want: Vec<&str> = effects.split('|').map(str::trim).collect();
    assert_eq!(got, want.join(" | "), "effects of `{script}` on `{graph}`");
    let finals: String = (0..machine.len() as u32)
        .map(|flow| match machine.state(flow) {
            Some(State::Finished(FlowStatus::Completed)) => 'C',
            Some(State::Finished(FlowStatus::Failed)) => 'F',
            Some(State::Finished(FlowStatus::Cancelled)) => 'X',
            _ => '.',
        })
        .collect();
    assert_eq!(
        finals, statuses,
        "final statuses of `{script}` on `{graph}`"
    );
    assert_eq!(machine.is_done(), !statuses.contains('.'));
}

fn drain(machine: &mut Machine, prefix: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    if !prefix.is_empty() {
        out.push(prefix.to_owned());
    }
    while let Some(effect) = machine.next_effect() {
        out.push(render(&effect));
    }
    out.join(" ")
}

/// Each rule of a run, one case a line: graph, jobs, retries, events, effects, final statuses.
#[rustfmt::skip]
const RULES: &[(&str, usize, &str, &str, &str, &str)] = &[
    // Ready detection and jobs.
    ("2: 0>1", 2, "", "ok0 ok1", "s0 | 0:C s1 | 1:C", "CC"),
    ("3:", 2, "", "ok1 ok0 ok2", "s0 s1 | 1:C s2 | 0:C | 2:C", "CCC"),
    ("4: 0>3 1>3 2>3", 4, "", "ok0 ok2 ok1 ok3", "s0 s1 s2 | 0:C | 2:C | 1:C s3 | 3:C", "CCCC"),
    // Required and optional parents.
    ("3: 0>1 1>2", 2, "", "err0", "s0 | 0:F 1:F^0 2:F^0", "FFF"),
    ("2: 0?1", 2, "", "err0 ok1", "s0 | 0:F s1 | 1:C", "FC"),
    ("3: 0>2 1?2", 2, "", "err1 ok0 ok2", "s0 s1 | 1:F | 0:C s2 | 2:C", "CFC"),
    ("3: 0?2 1>2", 2, "", "ok0 err1", "s0 s1 | 0:C | 1:F 2:F^1", "CFF"),
    // Transitive upstream failure names the first failure, through a diamond and past an
    // optional edge's other side.
    ("5: 0>1 0>2 1>3 2>3 3?4", 1, "", "err0 ok4", "s0 | 0:F 1:F^0 2:F^0 3:F^0 s4 | 4:C", "FFFFC"),
    // Retries: then success; exhausted; the jobs slot is kept while waiting.
    ("1:", 1, "0:1", "err0 due0 ok0", "s0 | w0 | s0#2 | 0:C", "C"),
    ("2: 0>1", 1, "0:1", "err0 due0 err0", "s0 | w0 | s0#2 | 0:F 1:F^0", "FF"),
    ("2:", 1, "0:1", "err0 due0 ok0 ok1", "s0 | w0 | s0#2 | 0:C s1 | 1:C", "CC"),
    // An adopted attempt counts as the attempt it was (a killed run's second, on resume):
    // with 2 retries, one more after it, never a fourth; a lower number changes nothing.
    ("1:", 1, "0:2", "adopt0#2 err0 due0 err0", "s0 | | w0 | s0#3 | 0:F", "F"),
    ("1:", 1, "0:2", "adopt0#3 err0", "s0 | | 0:F", "F"),
    ("1:", 1, "0:1", "err0 due0 adopt0#1 err0", "s0 | w0 | s0#2 | | 0:F", "F"),
    // Cancel: during a retry wait (the timer is stopped; a late timer is ignored), while
    // waiting (required children follow as cancelled), while running.
    ("2: 0>1", 1, "0:2", "err0 cancel0 due0", "s0 | w0 | t0 0:X 1:X^0 |", "XX"),
    ("3: 0>1 1>2", 1, "", "cancel1 ok0", "s0 | 1:X- 2:X^1 | 0:C", "CXX"),
    ("2: 0>1", 1, "", "cancel0 err0", "s0 | t0 | 0:X 1:X^0", "XX"),
    ("2: 0>1", 1, "", "cancel0 ok0 ok1", "s0 | t0 | 0:C s1 | 1:C", "CC"),
    // Cancel the run: nothing starts, running attempts end cancelled, retries are dropped.
    ("3: 0>1", 1, "", "cancelall err0", "s0 | T 1:X- 2:X- | 0:X", "XXX"),
    ("2:", 2, "0:1", "err0 cancelall ok1 due0", "s0 s1 | w0 | T 0:X | 1:C |", "XC"),
    ("1:", 1, "", "cancelall join:0", "s0 | T | 1:X-", ".X"),
    // fail_flow: a waiting flow at once, a running one when its attempt ends, a finished one
    // is refused.
    ("2: 0>1", 1, "", "fail1 ok0", "s0 | 1:F | 0:C", "CF"),
    ("2: 0>1", 1, "", "fail0 ok0", "s0 | t0 | 0:F 1:F^0", "FF"),
    ("1:", 1, "", "ok0 fail0", "s0 | 0:C | !", "C"),
    ("1:", 1, "0:3", "err0 fail0 due0", "s0 | w0 | t0 0:F |", "F"),
    // A flow joining the run is a row like any other.
    ("1:", 1, "", "join:0 ok0 ok1", "s0 | | 0:C s1 | 1:C", "CC"),
    ("1:", 1, "", "err0 join:0", "s0 | 0:F | 1:F^0", "FF"),
    ("1:", 1, "", "err0 join:0? ok1", "s0 | 0:F | s1 | 1:C", "FC"),
    ("2: 0>1", 1, "", "join:1 err0", "s0 | | 0:F 1:F^0 2:F^0", "FFF"),
    ("1:", 2, "", "join: join:1 ok0 ok1 ok2", "s0 | s1 | | 0:C | 1:C s2 | 2:C", "CCC"),
    // Resume: a reused result counts as completed.
    ("2: 0>1", 1, "", "reuse0 ok1", "s0 | 0:Cr s1 | 1:C", "CC"),
];

#[test]
fn rules_of_a_run() {
    for &(graph, jobs, retries, script, effects, statuses) in RULES {
        check(graph, jobs, retries, script, effects, statuses);
    }
}

#[test]
fn counts_and_reuse_are_kept() {
    let adjacency = Adjacency::from_edges(3, []);
    let mut machine = Machine::new(3, Arc::new(adjacency), vec![RetryPolicy::none(); 3]);
    machine.begin();
    while machine.next_effect().is_some() {}
    for (flow, outcome) in [
        (0, Outcome::Reused),
        (1, Outcome::Completed),
        (
            2,
            Outcome::Failed(Failure::new(FailureKind::Timeout, "slow")),
        ),
    ] {
        machine
            .handle(Event::AttemptEnded { flow, outcome })
            .unwrap();
    }
    assert!(machine.is_done());
    assert_eq!(machine.reused(), 1);
    assert_eq!(
        (machine.counts().completed, machine.counts().failed),
        (2, 1)
    );
}

#[test]
fn flows_failed_before_the_run_begins_never_start() {
    // `fail_flow` before the run: the failures are fed first, and only `begin` starts flows.
    let adjacency = Adjacency::from_edges(3, [(0, 2, DependencyType::Required)]);
    let mut machine = Machine::new(4, Arc::new(adjacency), vec![RetryPolicy::none(); 3]);
    for flow in [0, 1] {
        let reason = "failed by hand".to_owned();
        machine.handle(Event::Fail { flow, reason }).unwrap();
    }
    assert_eq!(drain(&mut machine, ""), "0:F 2:F^0 1:F");
    machine.begin();
    assert_eq!(drain(&mut machine, ""), "");
    assert!(machine.is_done());
}
