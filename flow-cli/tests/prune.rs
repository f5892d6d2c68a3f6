//! `flow prune`: all but the newest runs of each workflow go, with their logs and reports;
//! `--dry-run` only lists them; the newest run stays for `--resume`; a running workflow's
//! runs are not touched.

mod common;

use std::path::Path;

use common::{fifo, json_of, run_in, spawn_run, text, wait_exit, wait_ready, write};

/// The run ids in the store of `dir`, oldest first, with their workflow.
fn runs(dir: &Path) -> Vec<(String, String)> {
    let out = run_in(dir, &["runs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .skip(1)
        .map(|line| {
            let mut words = line.split_whitespace();
            let run = words.next().unwrap().to_owned();
            (run, words.next().unwrap().to_owned())
        })
        .collect()
}

fn run_once(dir: &Path, file: &str) -> String {
    let out = run_in(dir, &["run", file, "--json"]);
    json_of(&out)["run_id"].as_str().unwrap().to_owned()
}

#[test]
fn prune_keeps_the_newest_runs_of_each_workflow_and_removes_the_rest_with_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(
        dir,
        "w.toml",
        "[flows.a]\nshell = \"echo out; echo err >&2\"\n",
    );
    write(
        dir,
        "o.toml",
        "[workflow]\nname = \"other\"\n[flows.b]\nshell = \"echo b\"\n",
    );
    let w: Vec<String> = (0..4).map(|_| run_once(dir, "w.toml")).collect();
    let other: Vec<String> = (0..2).map(|_| run_once(dir, "o.toml")).collect();
    let report = run_in(dir, &["report", "w.toml", "--run", &w[0]]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let logs = |run: &str| dir.join(".flow/logs").join(run);
    let report_file = dir.join(format!(".flow/reports/{}.html", w[0]));
    assert!(logs(&w[0]).is_dir() && report_file.is_file());

    // --dry-run names what would go and removes nothing.
    let out = run_in(dir, &["prune", "--keep", "2", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    for run in &w[..2] {
        assert!(
            listed.contains(&format!("would delete run {run} of `w`")),
            "{listed}"
        );
    }
    assert!(
        listed.ends_with(
            "would delete 2 runs of sqlite:./.flow/flow.db, kept the 2 newest of each workflow\n"
        ),
        "{listed}"
    );
    assert_eq!(runs(dir).len(), 6);
    assert!(logs(&w[0]).is_dir() && report_file.is_file());

    // With a file: only that workflow's runs, the newest one kept.
    let out = run_in(dir, &["prune", "w.toml", "--keep", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // It names the workflow it kept runs of: `other` keeps its two.
    assert!(
        text(&out.stdout).ends_with("flow.db, kept the 1 newest of workflow `w`\n"),
        "{}",
        text(&out.stdout)
    );
    let left = runs(dir);
    let expect = [&w[3], &other[0], &other[1]];
    assert_eq!(left.iter().map(|(r, _)| r).collect::<Vec<_>>(), expect);
    for run in &w[..3] {
        assert!(!logs(run).exists(), "{run}'s logs are gone");
    }
    assert!(!report_file.exists());
    assert!(logs(&w[3]).join("a.1.out").is_file());
    assert!(logs(&other[0]).is_dir());

    // The kept run is the one `--resume` reads, and `flow logs` still shows it.
    let out = run_in(dir, &["run", "w.toml", "--resume", "--json"]);
    assert_eq!(json_of(&out)["flows"][0]["reused_from"], w[3].as_str());
    let out = run_in(dir, &["logs", "a"]);
    assert_eq!(text(&out.stdout), "out\n");
}

#[test]
fn a_running_workflow_is_not_pruned_and_a_bad_keep_or_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // The first run ends at once; the second waits until the test lets it go.
    write(
        dir,
        "w.toml",
        "[flows.a]\nshell = \"if [ -p go.fifo ]; then echo ready > ready.fifo; cat go.fifo; fi\"\n",
    );
    run_once(dir, "w.toml");
    let ready = fifo(dir, "ready.fifo");
    let go = fifo(dir, "go.fifo");
    let first = spawn_run(dir);
    wait_ready(&ready);
    let out = run_in(dir, &["prune", "w.toml", "--keep", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("flow prune: skipped: workflow `w` is in use in store"),
        "{stderr}"
    );
    assert!(text(&out.stdout).starts_with("deleted 0 runs of "));
    assert!(text(&out.stdout).ends_with("; skipped 1 workflow that is running\n"));
    std::fs::write(&go, "go\n").unwrap();
    assert!(wait_exit(first).status.success());
    assert_eq!(runs(dir).len(), 2);

    for (args, says) in [
        (&["prune", "--keep", "0"][..], "0 is not in 1.."),
        (&["prune"][..], "--keep <N>"),
        (
            &["prune", "--keep", "1", "--store", "memory"][..],
            "the memory store keeps nothing",
        ),
    ] {
        let out = run_in(dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn the_run_that_made_files_later_runs_found_up_to_date_stays() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(dir, "in.txt", "1\n");
    write(
        dir,
        "w.toml",
        "[flows.make]\ninputs = [\"in.txt\"]\noutputs = [\"out.txt\"]\n\
         shell = \"cp in.txt out.txt\"\n[flows.always]\nshell = \"echo always\"\n",
    );
    let first = run_once(dir, "w.toml"); // runs `make`
    let later: Vec<String> = (0..2).map(|_| run_once(dir, "w.toml")).collect(); // up to date
    let out = run_in(dir, &["prune", "w.toml", "--keep", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("kept run {first} too")), "{said}");
    assert!(
        said.contains(&format!("deleted run {} of `w`", later[0])),
        "{said}"
    );
    let left: Vec<String> = runs(dir).into_iter().map(|(run, _)| run).collect();
    assert_eq!(left, [first.clone(), later[1].clone()]);
    // The kept run still shows where `make`'s files come from.
    let json = json_of(&run_in(dir, &["results", "w.toml", "--json"]));
    let make = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "make")
        .unwrap()
        .clone();
    assert_eq!(make["reused_from"], first.as_str(), "{make}");
    assert_eq!(make["attempts"], 1, "{make}");
}

/// The bytes `.flow/flow.db` and its write-ahead log take in `dir`.
fn store_size(dir: &Path) -> u64 {
    [".flow/flow.db", ".flow/flow.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn prune_gives_the_space_back_but_not_while_a_workflow_of_the_store_runs() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // `many` fills the store; `w` waits until the test lets it go.
    let tens: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let tens = tens.join(", ");
    write(
        dir,
        "many.toml",
        &format!(
            "[workflow]\nname = \"many\"\n[flows.f]\nmatrix = {{ a = [{tens}, 10, 11, 12, 13, 14, \
             15, 16, 17, 18, 19], b = [{tens}] }}\nshell = \"true\"\n"
        ),
    );
    write(
        dir,
        "w.toml",
        "[flows.a]\nshell = \"if [ -p go.fifo ]; then echo ready > ready.fifo; cat go.fifo; fi\"\n",
    );
    for _ in 0..4 {
        run_once(dir, "many.toml");
    }
    run_once(dir, "w.toml");
    let ready = fifo(dir, "ready.fifo");
    let go = fifo(dir, "go.fifo");
    let running = spawn_run(dir);
    wait_ready(&ready);
    let before = store_size(dir);

    // `w` runs: the runs of `many` go, the file keeps its size and says why.
    let out = run_in(dir, &["prune", "many.toml", "--keep", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deleted 3 runs of "));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "unused while `w` runs; `flow prune` again once it ended gives the space back"
        ),
        "{stderr}"
    );
    assert!(store_size(dir) >= before, "{} < {before}", store_size(dir));
    std::fs::write(&go, "go\n").unwrap();
    assert!(wait_exit(running).status.success());

    // Once it ended, a prune that deletes nothing gives the space back.
    let out = run_in(dir, &["prune", "--keep", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("deleted 0 runs of "), "{said}");
    assert!(said.contains("compacted "), "{said}");
    let after = store_size(dir);
    assert!(after < before / 2, "{after} is not under half of {before}");
    assert_eq!(runs(dir).len(), 3);
    // What stayed reads as before, and the next prune has nothing to give back.
    let out = run_in(dir, &["results", "many.toml", "--json"]);
    assert_eq!(json_of(&out)["flows"].as_array().unwrap().len(), 200);
    let out = run_in(dir, &["prune", "--keep", "2"]);
    assert!(
        !text(&out.stdout).contains("compacted"),
        "{}",
        text(&out.stdout)
    );
}

/// A project that has not run yet has nothing to prune: `flow prune` says so and exits 0, as
/// it does for a store that holds no run of the workflow and as `flow runs` does, and
/// creates nothing.
#[test]
fn a_project_that_has_not_run_has_nothing_to_prune() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(dir, "w.toml", "[flows.a]\nshell = \"true\"\n");
    for args in [
        &["prune", "--keep", "1"][..],
        &["prune", "w.toml", "--keep", "3"],
        &["prune", "w.toml", "--keep", "1", "--dry-run"],
        &["prune", "--keep", "1", "--store", "dir:results"],
    ] {
        let out = run_in(dir, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let said = text(&out.stdout);
        assert!(
            said.contains("no runs") && said.contains("yet") && said.contains("nothing to prune"),
            "{args:?}: {said}"
        );
    }
    assert!(!dir.join(".flow").exists() && !dir.join("results").exists());
}
