//! `cargo xtask bench --ab OTHER_RUN_GRAPH [ROUNDS]`: the run_graph program of this tree and
//! another build of it (an older commit's, say) on W1-W3, in alternating rounds, so that a
//! change of load on the machine weighs on both alike: the median of each and their ratio.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{bail, Result};

use crate::bench::{build_run_graph, median, peak_rss_kib, run_graph_ms, run_graph_workloads};
use crate::step::target_dir;

pub fn run(other: &str, rounds: usize) -> Result<()> {
    let other = Path::new(other);
    if !other.is_file() {
        bail!("{} is not a run_graph program", other.display());
    }
    let this = build_run_graph()?;
    let dir = target_dir().join("xtask-bench");
    fs::create_dir_all(&dir)?;
    let mut report = String::new();
    for (name, file) in run_graph_workloads(&dir)? {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            a.push(run_graph_ms(other, &file)?);
            b.push(run_graph_ms(&this, &file)?);
        }
        let (a, b) = (median(&mut a), median(&mut b));
        writeln!(
            report,
            "{name}: other {a:.2} ms, this tree {b:.2} ms, this/other {:.3} (medians of {rounds} alternating rounds)",
            b / a
        )?;
        if name.starts_with("W3") {
            let file = file.to_string_lossy();
            let (ra, rb) = (
                peak_rss_kib(other, &[&file])?,
                peak_rss_kib(&this, &[&file])?,
            );
            writeln!(
                report,
                "{name} peak RSS: other {:.1} MiB, this tree {:.1} MiB",
                ra as f64 / 1024.0,
                rb as f64 / 1024.0
            )?;
        }
    }
    eprintln!("\nxtask bench --ab summary ({})\n{report}", other.display());
    Ok(())
}
