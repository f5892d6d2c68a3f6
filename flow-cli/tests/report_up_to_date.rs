//! `flow report` of a run that found flows up to date: each shows the run that produced its
//! outputs and how long it took then (it took no time in this run).

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
