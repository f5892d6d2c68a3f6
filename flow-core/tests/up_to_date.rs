//! Up-to-date checks with real commands and files: a flow whose definition, inputs, outputs
//! and parents are as when it last completed is skipped; early cutoff; an optional parent
//! that completes now; declared outputs that were not written; the dry run's plan against
//! what the run then does; and a property test against a reference model.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use common::id;
use flow_core::{
    CommandSpec, Data, DependencyType, Flow, FlowContext, FlowStatus, Freshness, Ledger, RunOptions,
};
use proptest::prelude::*;

/// One flow of a test pipeline: a shell script, its files and its parents.
#[derive(Debug, Clone)]
struct Step {
    name: String,
    script: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    parents: Vec<(String, DependencyType)>,
}

fn step(name: &str, script: &str, inputs: &[&str], outputs: &[&str]) -> Step {
    Step {
        name: name.into(),
        script: script.into(),
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        outputs: outputs.iter().map(|s| (*s).to_owned()).collect(),
        parents: Vec::new(),
    }
}

/// What one run did: the flows the plan said would run, those that ran, the failed ones.
#[derive(Debug)]
struct Ran {
    planned: BTreeSet<String>,
    ran: BTreeSet<String>,
    failed: BTreeSet<String>,
    up_to_date: u32,
}

fn context(dir: &Path, steps: &[Step]) -> FlowContext {
    let ctx = FlowContext::builder().jobs(2).build();
    for s in steps {
        let spec = CommandSpec::shell(s.script.clone()).cwd(dir);
        let data = Data::new(dir)
            .inputs(s.inputs.iter().cloned())
            .outputs(s.outputs.iter().cloned());
        let mut flow = Flow::command(id(&s.name), spec).data(data);
        for (parent, dependency) in &s.parents {
            flow = flow.after(id(parent), *dependency);
        }
        ctx.register_flow(flow.build()).unwrap();
    }
    ctx
}

/// Plans, then runs `steps` in `dir` against `ledger`.
async fn run(dir: &Path, ledger: &Arc<Ledger>, steps: &[Step], force: &[&str]) -> Ran {
    let ctx = context(dir, steps);
    let freshness = Freshness::new(Arc::clone(ledger)).force(force.iter().map(|f| id(f)));
    let plan = {
        let ctx = ctx.clone();
        let freshness = freshness.clone();
        tokio::task::spawn_blocking(move || ctx.plan(freshness))
            .await
            .unwrap()
            .unwrap()
    };
    let planned = plan.to_run().map(|f| f.flow.to_string()).collect();
    let summary = ctx
        .run_with(RunOptions::new().skip_up_to_date(freshness))
        .await
        .unwrap();
    let results = ctx.store().results(&summary.run_id).unwrap();
    Ran {
        planned,
        ran: (results.iter())
            .filter(|r| r.attempts > 0)
            .map(|r| r.flow_id.to_string())
            .collect(),
        failed: (results.iter())
            .filter(|r| r.status != FlowStatus::Completed)
            .map(|r| r.flow_id.to_string())
            .collect(),
        up_to_date: summary.up_to_date,
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn chain() -> Vec<Step> {
    let mut b = step("b", "cat a.txt a.txt > b.txt", &["a.txt"], &["b.txt"]);
    b.parents.push(("a".into(), DependencyType::Required));
    vec![step("a", "cp in.txt a.txt", &["in.txt"], &["a.txt"]), b]
}

#[tokio::test]
async fn a_second_run_runs_nothing_and_edits_run_what_they_reach() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ledger = Arc::new(Ledger::open(&d.join(".flow/fresh.db")).unwrap());
    std::fs::write(d.join("in.txt"), "1").unwrap();
    let steps = chain();
    let first = run(d, &ledger, &steps, &[]).await;
    assert_eq!(
        (first.ran.clone(), first.planned),
        (set(&["a", "b"]), set(&["a", "b"]))
    );
    let second = run(d, &ledger, &steps, &[]).await;
    assert_eq!(
        (second.ran, second.planned, second.up_to_date),
        (set(&[]), set(&[]), 2)
    );

    // Touched without change: nothing runs.
    std::fs::write(d.join("in.txt"), "1").unwrap();
    assert!(run(d, &ledger, &steps, &[]).await.ran.is_empty());
    // A changed input runs its reader and what follows.
    std::fs::write(d.join("in.txt"), "2").unwrap();
    let changed = run(d, &ledger, &steps, &[]).await;
    assert_eq!(
        (changed.ran, changed.planned),
        (set(&["a", "b"]), set(&["a", "b"]))
    );
    // A deleted output runs its writer only.
    std::fs::remove_file(d.join("b.txt")).unwrap();
    let deleted = run(d, &ledger, &steps, &[]).await;
    assert_eq!((deleted.ran, deleted.planned), (set(&["b"]), set(&["b"])));
    // Forced: `a` runs and writes the same bytes, so `b` stays up to date.
    let forced = run(d, &ledger, &steps, &["a"]).await;
    assert_eq!(
        (forced.ran, forced.planned),
        (set(&["a"]), set(&["a", "b"]))
    );
    // Early cutoff: `a` changes its command but writes the same bytes; `b` does not run.
    let mut same = chain();
    same[0].script = "cat in.txt > a.txt".into();
    let cutoff = run(d, &ledger, &same, &[]).await;
    assert_eq!(cutoff.ran, set(&["a"]));
    assert_eq!(
        cutoff.planned,
        set(&["a", "b"]),
        "the plan cannot know what `a` writes"
    );
    assert!(run(d, &ledger, &same, &[]).await.ran.is_empty());
}

#[tokio::test]
async fn an_optional_parent_that_completes_now_runs_its_child_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ledger = Arc::new(Ledger::open(&d.join(".flow/fresh.db")).unwrap());
    let mut main = step(
        "main",
        "if test -f hol.txt; then echo with > main.txt; else echo without > main.txt; fi",
        &[],
        &["main.txt"],
    );
    main.parents.push(("opt".into(), DependencyType::Optional));
    let steps = vec![
        step("opt", "test -f enable && echo x > hol.txt", &[], &[]),
        main,
    ];
    let first = run(d, &ledger, &steps, &[]).await;
    assert_eq!(
        (first.ran, first.failed),
        (set(&["opt", "main"]), set(&["opt"]))
    );
    assert!(run(d, &ledger, &steps, &[]).await.ran == set(&["opt"]));
    std::fs::write(d.join("enable"), "").unwrap();
    let now = run(d, &ledger, &steps, &[]).await;
    assert_eq!(now.ran, set(&["opt", "main"]));
    assert_eq!(
        std::fs::read_to_string(d.join("main.txt")).unwrap(),
        "with\n"
    );
}

#[tokio::test]
async fn a_declared_output_that_was_not_written_fails_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = FlowContext::new();
    let data = Data::new(dir.path()).outputs(["out/x.csv"]);
    let flow = Flow::command(id("w"), CommandSpec::shell("true")).data(data);
    ctx.register_flow(flow.build()).unwrap();
    let summary = ctx.run().await.unwrap();
    let result = ctx
        .store()
        .result(&summary.run_id, &id("w"))
        .unwrap()
        .unwrap();
    assert_eq!(result.status, FlowStatus::Failed);
    assert_eq!(
        result.failure.unwrap().message,
        "declared output `out/x.csv` was not written"
    );
}

// The property: random DAGs of flows that copy or concatenate files, random edits, then a
// run: the flows that ran are the reference model's, the plan names them, and a second run
// runs nothing.

/// An edit between runs.
#[derive(Debug, Clone)]
enum Edit {
    /// Write new content to source file `k`.
    ChangeSource(usize, u8),
    /// Rewrite source file `k` with the same content.
    TouchSource(usize),
    /// Delete the output of flow `k`.
    DeleteOutput(usize),
    /// Change flow `k`'s command (it then writes something else).
    ChangeCommand(usize),
    /// Change flow `k`'s command so that it writes the same bytes.
    SameOutput(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..3usize, any::<u8>()).prop_map(|(k, v)| Edit::ChangeSource(k, v)),
        (0..3usize).prop_map(Edit::TouchSource),
        (0..6usize).prop_map(Edit::DeleteOutput),
        (0..6usize).prop_map(Edit::ChangeCommand),
        (0..6usize).prop_map(Edit::SameOutput),
    ]
}

/// Flow `i` reads the outputs of some earlier flows (`parents[i]`) and some sources; its
/// command concatenates them (with a salt) into `f{i}.txt`.
#[derive(Debug, Clone)]
struct Dag {
    parents: Vec<Vec<usize>>,
    sources: Vec<Vec<usize>>,
    salt: Vec<u32>,
    /// Whether the command is written the other way (same bytes).
    other_way: Vec<bool>,
}

fn dag() -> impl Strategy<Value = Dag> {
    (2..6usize).prop_flat_map(|n| {
        let parents = (0..n)
            .map(|i| proptest::collection::btree_set(0..i.max(1), 0..=i.min(2)))
            .collect::<Vec<_>>();
        let sources =
            proptest::collection::vec(proptest::collection::btree_set(0..3usize, 0..3), n);
        (parents, sources).prop_map(move |(parents, sources)| Dag {
            parents: (parents.into_iter().enumerate())
                .map(|(i, p)| p.into_iter().filter(|&q| q < i).collect())
                .collect(),
            sources: sources
                .into_iter()
                .map(|s| s.into_iter().collect())
                .collect(),
            salt: vec![0; n],
            other_way: vec![false; n],
        })
    })
}

impl Dag {
    fn steps(&self) -> Vec<Step> {
        (0..self.parents.len())
            .map(|i| {
                let mut inputs: Vec<String> = self.sources[i]
                    .iter()
                    .map(|s| format!("s{s}.txt"))
                    .collect();
                inputs.extend(self.parents[i].iter().map(|p| format!("f{p}.txt")));
                let files = inputs.join(" ");
                let script = if self.other_way[i] {
                    format!(
                        "{{ echo salt{}; cat /dev/null {files}; }} > f{i}.txt",
                        self.salt[i]
                    )
                } else {
                    format!(
                        "(echo salt{}; cat /dev/null {files}) > f{i}.txt",
                        self.salt[i]
                    )
                };
                Step {
                    name: format!("f{i}"),
                    script,
                    inputs,
                    outputs: vec![format!("f{i}.txt")],
                    parents: (self.parents[i].iter())
                        .map(|p| (format!("f{p}"), DependencyType::Required))
                        .collect(),
                }
            })
            .collect()
    }
}

// The reference model (in `property`): a flow runs when its definition changed, its output
// is gone, a source it reads changed, or a parent it reads ran and wrote other bytes.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(12)))]

    #[test]
    fn the_flows_that_run_are_the_models(dag in dag(), edits in proptest::collection::vec(edit(), 1..4)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(property(dag, edits));
    }
}

async fn property(mut dag: Dag, edits: Vec<Edit>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ledger = Arc::new(Ledger::open(&d.join(".flow/fresh.db")).unwrap());
    for s in 0..3 {
        std::fs::write(d.join(format!("s{s}.txt")), format!("source {s}\n")).unwrap();
    }
    let n = dag.parents.len();
    let steps = dag.steps();
    let first = run(d, &ledger, &steps, &[]).await;
    assert_eq!(first.ran.len(), n);
    let read = |i: usize| std::fs::read(d.join(format!("f{i}.txt"))).unwrap_or_default();
    let before: Vec<Vec<u8>> = (0..n).map(read).collect();

    let original = dag.clone();
    let source = |k: usize| std::fs::read(d.join(format!("s{k}.txt"))).unwrap();
    let sources_before: Vec<Vec<u8>> = (0..3).map(source).collect();
    let mut dirty = BTreeSet::new();
    for edit in &edits {
        match *edit {
            Edit::ChangeSource(k, v) => {
                std::fs::write(d.join(format!("s{k}.txt")), format!("source {k} {v}\n")).unwrap();
            }
            Edit::TouchSource(k) => {
                let path = d.join(format!("s{k}.txt"));
                let old = std::fs::read(&path).unwrap();
                std::fs::write(path, old).unwrap();
            }
            Edit::DeleteOutput(k) if k < n => {
                let _ = std::fs::remove_file(d.join(format!("f{k}.txt")));
                dirty.insert(k);
            }
            Edit::ChangeCommand(k) if k < n => dag.salt[k] += 1,
            Edit::SameOutput(k) if k < n => dag.other_way[k] = !dag.other_way[k],
            _ => {}
        }
    }
    // What changed, against the state of the first run (an edit may undo another).
    let changed_sources: BTreeSet<usize> =
        (0..3).filter(|&k| source(k) != sources_before[k]).collect();
    dirty.extend(
        (0..n).filter(|&k| {
            dag.salt[k] != original.salt[k] || dag.other_way[k] != original.other_way[k]
        }),
    );
    let steps = dag.steps();
    let after = run(d, &ledger, &steps, &[]).await;
    // The model, with early cutoff read from the bytes each flow wrote.
    let now: Vec<Vec<u8>> = (0..n).map(read).collect();
    let mut expected = BTreeSet::new();
    let mut rewritten = BTreeSet::new();
    for i in 0..n {
        let reads_changed = dag.sources[i].iter().any(|s| changed_sources.contains(s))
            || dag.parents[i].iter().any(|p| rewritten.contains(p));
        if dirty.contains(&i) || reads_changed {
            expected.insert(format!("f{i}"));
            if now[i] != before[i] {
                rewritten.insert(i);
            }
        }
    }
    assert_eq!(after.ran, expected, "edits {edits:?}");
    assert!(after.failed.is_empty());
    assert!(
        after.ran.is_subset(&after.planned),
        "plan {:?} ran {:?}",
        after.planned,
        after.ran
    );
    let again = run(d, &ledger, &steps, &[]).await;
    assert!(
        again.ran.is_empty() && again.planned.is_empty(),
        "{again:?}"
    );
}

/// A parent without declared outputs gives its children the value it returned: a child that
/// declares outputs runs again when that value changed, and is up to date when it did not.
/// The plan cannot know the value before the parent runs, so it lists the child.
#[tokio::test]
async fn a_parent_whose_returned_value_changed_runs_its_child_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let ledger = Arc::new(Ledger::open(&d.join(".flow/fresh.db")).unwrap());
    let run_with = |param: i64| {
        let (d, ledger) = (d.clone(), Arc::clone(&ledger));
        async move {
            let ctx = FlowContext::new();
            let param_flow = Flow::async_fn(id("param"), move |_| async move {
                Ok::<_, String>(serde_json::json!(param))
            });
            ctx.register_flow(param_flow.build()).unwrap();
            let out = d.join("out.txt");
            let writer = Flow::blocking(id("writer"), move |input| {
                let param = input.parent("param").cloned().unwrap_or_default();
                std::fs::write(&out, format!("param={param}")).map_err(|e| e.to_string())?;
                Ok::<_, String>(serde_json::Value::Null)
            })
            .data(Data::new(&d).outputs(["out.txt"]))
            .requires(id("param"));
            ctx.register_flow(writer.build()).unwrap();
            let freshness = Freshness::new(ledger);
            let plan = {
                let (ctx, freshness) = (ctx.clone(), freshness.clone());
                tokio::task::spawn_blocking(move || ctx.plan(freshness))
                    .await
                    .unwrap()
                    .unwrap()
            };
            let planned: BTreeSet<String> = plan.to_run().map(|f| f.flow.to_string()).collect();
            let summary = ctx
                .run_with(RunOptions::new().skip_up_to_date(freshness))
                .await
                .unwrap();
            assert!(summary.is_success(), "{summary:?}");
            (planned, summary.up_to_date)
        }
    };
    assert_eq!(run_with(1).await, (set(&["param", "writer"]), 0));
    assert_eq!(
        std::fs::read_to_string(d.join("out.txt")).unwrap(),
        "param=1"
    );
    assert_eq!(run_with(2).await, (set(&["param", "writer"]), 0));
    assert_eq!(
        std::fs::read_to_string(d.join("out.txt")).unwrap(),
        "param=2"
    );
    assert_eq!(
        run_with(2).await,
        (set(&["param", "writer"]), 1),
        "the same value: the writer is up to date (the plan lists it)"
    );
}
