//! The `flow` command line: run, validate and inspect workflow files.

fn main() {}
