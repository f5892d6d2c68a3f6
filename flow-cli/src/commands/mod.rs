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
