//! What flow-bench's programs share: W4's graph file and the command line of the programs
//! that run it ([`w4`]).

pub mod w4;
