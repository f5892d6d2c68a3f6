//! What the terminal allows: colours (off with `NO_COLOR` or when not a terminal) and the
//! tracing subscriber on stderr (`-v` levels, `RUST_LOG` overrides).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Whether to colour output written to a stream that is a terminal or not.
pub fn colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether to colour stderr.
pub fn colour_stderr() -> bool {
    colour(std::io::stderr().is_terminal())
}

/// Installs the log subscriber: warnings by default, more with each `-v`, or `RUST_LOG`.
pub fn init_logging(verbose: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_stderr())
        .with_target(verbose >= 2)
        .try_init();
}

/// `text` in bold red when `on`.
pub fn red(text: &str, on: bool) -> String {
    paint(text, "1;31", on)
}

/// `text` in green when `on`.
pub fn green(text: &str, on: bool) -> String {
    paint(text, "32", on)
}

/// `text` in yellow when `on`.
pub fn yellow(text: &str, on: bool) -> String {
    paint(text, "33", on)
}

/// `text` dimmed when `on`.
pub fn dim(text: &str, on: bool) -> String {
    paint(text, "2", on)
}

fn paint(text: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}
