//! Project automation: `cargo xtask ci` and `cargo xtask bench`.

fn main() {}
