//! One module per subcommand; each returns the exit code it ends with.

pub mod ahead;
pub mod brackets;
pub mod completions;
pub mod dry_run;
pub mod executor;
pub mod fresh;
pub mod graph;
pub mod inputs;
pub mod interpreter;
pub mod located;
mod log_printer;
pub mod logs;
mod logs_kept;
pub mod prune;
mod register;
pub mod results;
pub mod run;
pub mod runs;
pub mod store_outputs;
pub mod unused_params;
pub mod validate;

use std::io::Write;

use crate::error::CliError;

/// Writes `text` to stdout; a closed pipe (`flow graph f | head`) is not an error.
pub fn print_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}

/// For the tests of a workflow check: loads `text` as `w.toml` in a new folder that holds
/// `files` (each with the text `x`), and returns what `warnings` says of it, the file's path
/// written `w.toml`.
#[cfg(test)]
pub(crate) fn warnings_of(
    text: &str,
    files: &[&str],
    warnings: fn(&crate::workflow::Workflow) -> Vec<String>,
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }
    let path = dir.path().join("w.toml");
    std::fs::write(&path, text).unwrap();
    let wf = crate::workflow::load_with(&path, &[]).unwrap();
    warnings(&wf)
        .into_iter()
        .map(|w| w.replace(&path.display().to_string(), "w.toml"))
        .collect()
}
