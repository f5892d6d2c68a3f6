//! `flow run --dry-run`: what a run would do with each flow, and why. flow-core's plan says
//! which flows are up to date and why the others would run; this module adds what the run
//! itself would decide before it starts a command: a flow with a declared input that is
//! missing and that no flow writes fails, and so every flow that requires it, directly or
//! through others, is not run (as the run reports "upstream `a` failed").

use std::fmt::Write as _;
use std::sync::Arc;

use flow_core::{FlowContext, FlowId, Plan, PlannedFlow, Reason};
use flow_results::{RunId, RunRecord, StoreSpec};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::cli::RunArgs;
use crate::commands::executor::left_jobs_note;
use crate::commands::fresh::freshness;
use crate::commands::inputs::Unwritten;
use crate::commands::print_stdout;
use crate::error::CliError;
use crate::run_state::RunState;
use crate::terminal;
use crate::workflow::{Action, Workflow};

/// What the dry run says of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outlook {
    /// Up to date: it would not run.
    UpToDate,
    /// Up to date now, and checked again once this flow, which would run before it and
    /// declares no outputs, has run: what that one writes may make it run.
    MayRun {
        /// The flow it is checked after.
        after: FlowId,
    },
    /// It would run (the plan's reason says why).
    Run,
    /// It would fail before its command starts, for this reason.
    Fail(String),
    /// It would not run: this flow, which it requires directly or through others, would fail.
    NotRun {
        /// The flow that would fail.
        upstream: FlowId,
    },
}

/// The outlook of each flow of `plan` (same order): `fails` says why a flow that would run
/// would fail at once; a flow that requires (not only wants) one that would fail, or one
/// that would not run, would not run (naming the first such flow in the order of its
/// `requires`; a run names the one whose failure reached it first).
pub fn outlooks(
    plan: &Plan,
    wf: &Workflow,
    fails: impl Fn(&FlowId) -> Option<String>,
) -> Vec<Outlook> {
    let mut outlooks: Vec<Outlook> = (plan.flows.iter())
        .map(
            |f| match (&f.run, f.run.as_ref().and_then(|_| fails(&f.flow))) {
                (None, _) => match &f.checked_after {
                    Some(after) => Outlook::MayRun {
                        after: after.clone(),
                    },
                    None => Outlook::UpToDate,
                },
                (Some(_), None) => Outlook::Run,
                (Some(_), Some(why)) => Outlook::Fail(why),
            },
        )
        .collect();
    if !outlooks.iter().any(|o| matches!(o, Outlook::Fail(_))) {
        return outlooks;
    }
    let index: FxHashMap<&FlowId, usize> = (plan.flows.iter().enumerate())
        .map(|(i, f)| (&f.flow, i))
        .collect();
    let requires: FxHashMap<&FlowId, &[FlowId]> = (wf.flows.iter())
        .map(|def| (&def.id, def.requires.as_slice()))
        .collect();
    let parents = |i: usize| -> Vec<usize> {
        let own = requires.get(&plan.flows[i].flow).copied().unwrap_or(&[]);
        own.iter().filter_map(|p| index.get(p).copied()).collect()
    };
    // Each flow once its required parents are decided (an explicit stack: a long chain of
    // flows must not use up the thread's stack).
    let mut decided = vec![false; outlooks.len()];
    let mut stack = Vec::new();
    for root in 0..outlooks.len() {
        stack.push(root);
        while let Some(&i) = stack.last() {
            if decided[i] {
                stack.pop();
                continue;
            }
            let parents = parents(i);
            let before = stack.len();
            stack.extend(parents.iter().copied().filter(|&p| !decided[p]));
            if stack.len() > before {
                continue;
            }
            stack.pop();
            decided[i] = true;
            // A flow whose required parent fails is not started, so its own inputs are
            // not checked either.
            let upstream = parents.iter().find_map(|&p| match &outlooks[p] {
                Outlook::Fail(_) => Some(plan.flows[p].flow.clone()),
                Outlook::NotRun { upstream } => Some(upstream.clone()),
                Outlook::UpToDate | Outlook::MayRun { .. } | Outlook::Run => None,
            });
            if let Some(upstream) = upstream {
                outlooks[i] = Outlook::NotRun { upstream };
            }
        }
    }
    outlooks
}

/// How many flows have each outlook: run, fail, not run, may run, up to date.
fn counts(outlooks: &[Outlook]) -> [usize; 5] {
    let mut counts = [0; 5];
    for outlook in outlooks {
        counts[match outlook {
            Outlook::Run => 0,
            Outlook::Fail(_) => 1,
            Outlook::NotRun { .. } => 2,
            Outlook::MayRun { .. } => 3,
            Outlook::UpToDate => 4,
        }] += 1;
    }
    counts
}

/// `flow run --dry-run`: prints each flow that would run with its reason, each that would
/// fail or not run with why, and how many are up to date (or, with `--json`, the plan as
/// one JSON document), against the workflow's `latest` run in the store (what `--resume`
/// resumes from; a run in progress is named as such). Returns 0.
///
/// # Errors
/// When the ledger cannot be read or stdout cannot be written.
pub fn dry_run(
    args: &RunArgs,
    wf: &Arc<Workflow>,
    ctx: &FlowContext,
    spec: &StoreSpec,
    latest: Option<&RunRecord>,
) -> Result<u8, CliError> {
    let resume_from = latest.filter(|_| args.resume).map(|run| &run.run_id);
    let unwritten = Unwritten::of(wf);
    // The flows that would fail at once do not complete (nor those that require them): a
    // flow that only wants one is judged as the run will judge it (often up to date).
    let failing = (wf.flows.iter())
        .filter(|f| unwritten.problem(f.id.as_str()).is_some())
        .map(|f| f.id.clone());
    let freshness = freshness(args, wf, spec, true, None)?.failing(failing);
    let mut plan = match resume_from {
        Some(from) => ctx.plan_resumed(freshness, from),
        None => ctx.plan(freshness),
    }
    .map_err(|e| CliError::Run(terminal::chain(&e)))?;
    name_shell_scripts(&mut plan, wf);
    let outlooks = outlooks(&plan, wf, |flow| unwritten.problem(flow.as_str()));
    let going = (latest.filter(|run| RunState::of(spec, run) == RunState::InProgress))
        .map(|run| &run.run_id);
    if args.json {
        print_stdout(&format!("{}\n", plan_json(&plan, &outlooks, going)))?;
    } else {
        // The jobs a killed run left under Slurm: adopted, or cancelled, by the next run.
        let note = (going.is_none())
            .then(|| left_jobs_note(&wf.dir, &wf.name))
            .flatten()
            .map(|note| format!("{note}\n"))
            .unwrap_or_default();
        print_stdout(&format!("{}{note}", plan_text(&plan, &outlooks, going)))?;
    }
    Ok(0)
}

/// A `shell` flow runs its interpreter with the script, a command to flow-core: a change of
/// either is named as the file names them, `definition changed (shell)`, not `(command)`.
fn name_shell_scripts(plan: &mut Plan, wf: &Workflow) {
    let shells: FxHashSet<&FlowId> = (wf.flows.iter())
        .filter(|f| matches!(f.action, Action::Shell(_)))
        .map(|f| &f.id)
        .collect();
    for f in &mut plan.flows {
        if let Some(Reason::DefinitionChanged { field }) = &mut f.run {
            if field == "command" && shells.contains(&f.flow) {
                "shell".clone_into(field);
            }
        }
    }
}

/// Why a flow would run, in words: the plan's reason, but while the run `going` is in
/// progress, a flow it has not completed yet says so rather than that it "did not complete" in
/// it, and one it has not recorded yet (not started, or its start not saved yet) names it.
fn reason_text(reason: &Reason, going: Option<&RunId>) -> String {
    match (reason, going) {
        (Reason::NotCompletedIn { run }, Some(going)) if run == going => {
            format!("not completed yet in run {run}, which is in progress")
        }
        (Reason::NeverCompleted, Some(going)) => {
            format!("{reason}; run {going} is in progress")
        }
        (reason, _) => reason.to_string(),
    }
}

/// The plan as JSON (each reason's `text` as [`plan_text`] words it, with `going`):
/// `{"dry_run":true,"run":[{"flow","reason",...}],"up_to_date":[{"flow","produced_by"}],"counts":{...}}`.
/// `run` lists every flow that is not up to date: one that would fail at once has
/// `"fails": "WHY"`; one that would not run because a flow it requires would fail has
/// `"not_run"` (in words) and `"upstream"`, as has an entry of `up_to_date` in that case.
/// An entry of `up_to_date` that the run checks again once a flow without declared outputs
/// has run has `"checked_after": FLOW` and `"may_run"` (in words).
/// `counts` has `run` (the flows that would start, and not fail at once), `fail`, `not_run`,
/// `may_run` (those with `checked_after`) and `up_to_date` (the others of that list): they
/// add up to the number of flows, and are the text's counts.
pub fn plan_json(plan: &Plan, outlooks: &[Outlook], going: Option<&RunId>) -> String {
    let entry = |f: &PlannedFlow, outlook: &Outlook, mut entry: serde_json::Value| {
        if let Some(map) = entry.as_object_mut() {
            map.insert("flow".into(), f.flow.as_str().into());
            match outlook {
                Outlook::Fail(why) => {
                    map.insert("fails".into(), why.as_str().into());
                }
                Outlook::NotRun { upstream } => {
                    map.insert("not_run".into(), not_run(upstream).into());
                    map.insert("upstream".into(), upstream.as_str().into());
                }
                Outlook::MayRun { after } => {
                    map.insert("may_run".into(), may_run(after).into());
                    map.insert("checked_after".into(), after.as_str().into());
                }
                Outlook::Run | Outlook::UpToDate => {}
            }
        }
        entry
    };
    let (mut run, mut fresh) = (Vec::new(), Vec::new());
    for (f, outlook) in plan.flows.iter().zip(outlooks) {
        match &f.run {
            Some(reason) => {
                let mut value = serde_json::to_value(reason).unwrap_or_default();
                if let Some(map) = value.as_object_mut() {
                    map.insert("text".into(), reason_text(reason, going).into());
                }
                run.push(entry(f, outlook, value));
            }
            None => fresh.push(entry(
                f,
                outlook,
                serde_json::json!({"produced_by": f.produced_by.as_ref().map(|r| r.as_str())}),
            )),
        }
    }
    let [would_run, fail, not_run, may_run, up_to_date] = counts(outlooks);
    serde_json::json!({
        "dry_run": true,
        "counts": {
            "run": would_run,
            "fail": fail,
            "not_run": not_run,
            "may_run": may_run,
            "up_to_date": up_to_date,
        },
        "run": run,
        "up_to_date": fresh,
    })
    .to_string()
}

/// Why a flow would not run.
fn not_run(upstream: &FlowId) -> String {
    format!("upstream `{upstream}` would fail")
}

/// Why a flow, up to date now, may run.
fn may_run(after: &FlowId) -> String {
    format!(
        "up to date now, but checked again once `{after}` has run: it declares no outputs, so \
         what it writes is not known"
    )
}

/// The plan as lines (a flow not completed yet in the run `going`, in progress now, says so):
/// `would run FLOW: REASON`, `would fail FLOW: WHY`, `would not run FLOW:
/// upstream `A` would fail`, `may run FLOW: up to date now; checked again once ...`, then the
/// counts (those that would fail, not run or may run only when there are any).
pub fn plan_text(plan: &Plan, outlooks: &[Outlook], going: Option<&RunId>) -> String {
    let mut out = String::new();
    for (f, outlook) in plan.flows.iter().zip(outlooks) {
        let _ = match outlook {
            Outlook::UpToDate => continue,
            Outlook::Run => {
                let reason = (f.run.as_ref())
                    .map(|reason| reason_text(reason, going))
                    .unwrap_or_default();
                writeln!(out, "would run {}: {}", f.flow, terminal::safe(&reason))
            }
            Outlook::Fail(why) => writeln!(out, "would fail {}: {}", f.flow, terminal::safe(why)),
            Outlook::NotRun { upstream } => {
                writeln!(out, "would not run {}: {}", f.flow, not_run(upstream))
            }
            Outlook::MayRun { after } => {
                writeln!(out, "may run {}: {}", f.flow, may_run(after))
            }
        };
    }
    let [run, fail, not_run, may_run, up_to_date] = counts(outlooks);
    let _ = write!(out, "dry run: {run} would run, ");
    if fail > 0 {
        let _ = write!(out, "{fail} would fail, ");
    }
    if not_run > 0 {
        let _ = write!(out, "{not_run} would not run (upstream would fail), ");
    }
    if may_run > 0 {
        let _ = write!(out, "{may_run} may run, ");
    }
    let _ = writeln!(out, "{up_to_date} up to date; nothing was run");
    out
}
