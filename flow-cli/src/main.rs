//! The `flow` command line: run, validate and inspect workflow files.

mod workflow;

fn main() {}
