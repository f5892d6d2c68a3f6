//! External commands: what to run ([`CommandSpec`]) and the runner that runs it in its own
//! process group ([`CommandRunner`]).

mod launch;
mod log_file;
mod runner;
pub(crate) mod spawn_error;
mod spec;
mod tail;

pub use runner::{
    unprepared, BoxFuture, CommandEnd, CommandExecutor, CommandOutcome, CommandRunner, ParentDeath,
    Prepare,
};
pub(crate) use spec::check_name;
pub use spec::{
    CommandSpec, EnvBase, EnvChange, EnvChanges, Program, DEFAULT_GRACE, DEFAULT_TAIL_BYTES,
};
