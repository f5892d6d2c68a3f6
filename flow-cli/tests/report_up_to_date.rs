//! `flow report` (and `flow results`) of a run that found flows up to date: each shows the
//! run that produced its outputs, also under the workflow's former name, and how long it
//! took then (it took no time in this run).

mod common;

use common::{json_of, run_in, text, write};

#[test]
fn the_report_shows_an_up_to_date_flow_with_the_time_it_took_when_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "w.toml",
        "[flows.a]\nshell = \"sleep 0.2; echo a > a.txt\"\noutputs = [\"a.txt\"]\n",
    );
    let first = json_of(&run_in(d, &["run", "w.toml", "--json"]));
    let first_run = first["run_id"].as_str().unwrap().to_owned();
    let second = run_in(d, &["run", "w.toml", "-q"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    let out = run_in(d, &["report", "w.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json_of(&out);
    let a = &report["flows"][0];
    assert_eq!(a["up_to_date_from"], first_run.as_str(), "{a}");
    let took = a["duration_ms"].as_f64().unwrap();
    assert!(
        took >= 200.0,
        "the duration of the run that wrote a.txt: {a}"
    );
    // The page's table shows it too.
    let out = run_in(d, &["report", "w.toml", "-o", "-"]);
    let page = text(&out.stdout);
    let row = page
        .split("<tr")
        .find(|row| row.contains("<code>a</code>") && row.contains("up to date"))
        .unwrap_or_else(|| panic!("no row of `a`: {page}"));
    let cells: Vec<f64> = (row.split("data-v=\"").skip(1))
        .filter_map(|v| v.split('"').next()?.parse().ok())
        .collect();
    // Status rank, start, duration, attempts, exit code.
    assert!(cells.len() >= 3 && cells[2] >= 200.0, "{row}");
}

/// Regression: a workflow renamed since a run of it made a flow's files. The next run finds
/// the flow up to date (the ledger is the store's), and `flow results` showed it as
/// `completed` with 0 tries: it looked for the run that made the files among the runs of the
/// new name only. It now shows that run, as do `run --json` and the report, and `flow prune`
/// keeps it.
#[test]
fn a_flow_up_to_date_after_its_workflow_was_renamed_names_the_run_that_made_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let workflow = |name: &str| {
        format!(
            "[workflow]\nname = \"{name}\"\n\n[flows.make]\nshell = \"echo made > made.txt\"\n\
             outputs = [\"made.txt\"]\n\n[flows.other]\ncommand = [\"true\"]\n"
        )
    };
    write(d, "w.toml", &workflow("old"));
    let made = json_of(&run_in(d, &["run", "w.toml", "--json"]));
    let made_by = made["run_id"].as_str().unwrap().to_owned();
    // A later run of the old name without `make`: the run that made its files is no longer
    // the newest of that name.
    let out = run_in(d, &["run", "w.toml", "other", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    write(d, "w.toml", &workflow("new"));

    let run = json_of(&run_in(d, &["run", "w.toml", "--json"]));
    let results = json_of(&run_in(d, &["results", "w.toml", "--json"]));
    for json in [&run, &results] {
        let make = &json["flows"][0];
        assert_eq!(make["id"], "make", "{json}");
        assert_eq!(make["reused_from"], made_by.as_str(), "{make}");
        assert_eq!(make["attempts"], 1, "{make}");
        assert_eq!(make["exit_code"], 0, "{make}");
    }
    let table = text(&run_in(d, &["results", "w.toml"]).stdout);
    assert!(table.contains("make   up to date  0     1"), "{table}");
    assert!(table.contains(&format!("from run {made_by}")), "{table}");
    let report = json_of(&run_in(d, &["report", "w.toml", "--json"]));
    assert_eq!(report["flows"][0]["up_to_date_from"], made_by.as_str());

    // Pruning every workflow to its newest run keeps the run that made the files.
    let out = run_in(d, &["prune", "--keep", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pruned = text(&out.stdout);
    assert!(
        pruned.contains(&format!("kept run {made_by} too")),
        "{pruned}"
    );
    let results = json_of(&run_in(d, &["results", "w.toml", "--json"]));
    assert_eq!(results["flows"][0]["reused_from"], made_by.as_str());
}
