//! The up-to-date benchmarks of `cargo xtask bench --e2e`: `flow run` that runs nothing on a
//! 10,000-flow workflow reading 100,000 files (10 per flow), on its default SQLite store,
//! alternating with `make -q` on the equivalent Makefile; and hashing 1 GiB of new inputs.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{bail, Result};

use super::bench::{installed, interleaved_medians, median, wall_secs, RUNS};

/// Flows, and input files per flow.
const FLOWS: usize = 10_000;
const INPUTS: usize = 10;

/// `cargo xtask bench --up-to-date`: builds `flow` and runs both benchmarks alone.
pub fn alone() -> Result<()> {
    crate::step::run(
        "build flow",
        "cargo",
        &["build", "--release", "-p", "flow-cli"],
        &[],
    )?;
    let dir = crate::step::target_dir().join("xtask-bench");
    fs::create_dir_all(&dir)?;
    let mut report = String::new();
    run(
        &crate::step::target_dir().join("release/flow"),
        &dir,
        &mut report,
    )?;
    eprintln!("\nxtask bench summary\n{report}");
    Ok(())
}

/// Both benchmarks, their lines added to `report`.
pub fn run(flow: &Path, dir: &Path, report: &mut String) -> Result<()> {
    nothing_to_do(flow, dir, report)?;
    hashing(flow, dir, report)
}

fn nothing_to_do(flow: &Path, dir: &Path, report: &mut String) -> Result<()> {
    let case = dir.join("fresh10000");
    if case.exists() {
        fs::remove_dir_all(&case)?;
    }
    fs::create_dir_all(case.join("out"))?;
    let mut toml = String::from("[workflow]\nname = \"fresh10000\"\n\n");
    let mut make = String::from("all:");
    for i in 0..FLOWS {
        write!(make, " out/{i}.txt")?;
    }
    make.push('\n');
    for i in 0..FLOWS {
        let folder = case.join(format!("in/{i}"));
        fs::create_dir_all(&folder)?;
        let mut inputs = Vec::with_capacity(INPUTS);
        for k in 0..INPUTS {
            fs::write(
                folder.join(format!("{k}.txt")),
                format!("flow {i} input {k}\n"),
            )?;
            inputs.push(format!("in/{i}/{k}.txt"));
        }
        let quoted: Vec<String> = inputs.iter().map(|p| format!("\"{p}\"")).collect();
        writeln!(
            toml,
            "[flows.f{i}]\ncommand = [\"cp\", \"in/{i}/0.txt\", \"out/{i}.txt\"]\n\
             inputs = [{}]\noutputs = [\"out/{i}.txt\"]\n",
            quoted.join(", ")
        )?;
        writeln!(
            make,
            "out/{i}.txt: {}\n\tcp in/{i}/0.txt out/{i}.txt",
            inputs.join(" ")
        )?;
    }
    fs::write(case.join("flow.toml"), toml)?;
    fs::write(case.join("Makefile"), make)?;
    // The first run runs every flow; the second reads every input once more (stat cache).
    let run = ["run", "flow.toml", "--quiet", "--jobs", "2"];
    wall_secs(flow, &run, &case)?;
    wall_secs(flow, &run, &case)?;
    let mut tools: Vec<(&str, &Path, &[&str])> = vec![("flow run", flow, &run)];
    if installed("make") {
        tools.push(("make -r -q", Path::new("make"), &["-r", "-q", "all"]));
    } else {
        writeln!(report, "make -q: not measured (make is not installed)")?;
    }
    let medians = interleaved_medians(&tools, &case)?;
    writeln!(
        report,
        "up to date, {FLOWS} flows x {INPUTS} inputs, flow run (sqlite store) that runs nothing: \
         median {:.0} ms over {RUNS} runs",
        medians[0] * 1e3
    )?;
    if let Some(make_s) = medians.get(1) {
        writeln!(
            report,
            "make -r -q on the same tree: median {:.0} ms (flow/make = {:.2}x)",
            make_s * 1e3,
            medians[0] / make_s
        )?;
    }
    Ok(())
}

/// `flow run` of one flow whose inputs are 1 GiB of files it has never seen (its ledger is
/// deleted before each run): every byte is read and hashed once.
fn hashing(flow: &Path, dir: &Path, report: &mut String) -> Result<()> {
    const FILES: usize = 64;
    const FILE_BYTES: usize = 16 << 20;
    let case = dir.join("hash1g");
    fs::create_dir_all(case.join("data"))?;
    let mut block = vec![0u8; FILE_BYTES];
    for (k, byte) in block.iter_mut().enumerate() {
        *byte = (k.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    for i in 0..FILES {
        block[0] = i as u8;
        fs::write(case.join(format!("data/{i:02}.bin")), &block)?;
    }
    fs::write(
        case.join("flow.toml"),
        "[flows.digest]\ncommand = [\"touch\", \"done.txt\"]\ninputs = [\"data/*.bin\"]\n\
         outputs = [\"done.txt\"]\n",
    )?;
    let run = ["run", "flow.toml", "--quiet"];
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..=RUNS {
        let state = case.join(".flow");
        if state.exists() {
            fs::remove_dir_all(&state)?;
        }
        times.push(wall_secs(flow, &run, &case)?);
    }
    // The first run warms the page cache.
    let secs = median(&mut times[1..]);
    let bytes = (FILES * FILE_BYTES) as f64;
    if secs <= 0.0 {
        bail!("a run of zero seconds");
    }
    writeln!(
        report,
        "hashing new inputs: 1 GiB in {FILES} files, whole flow run: median {:.0} ms = {:.2} GB/s",
        secs * 1e3,
        bytes / secs / 1e9
    )?;
    Ok(())
}
