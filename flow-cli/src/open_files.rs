//! Open files and `--jobs`: each command running on this machine holds a few files open in
//! `flow` (its output pipes, its pidfd, its log files while it writes), so a few hundred at
//! a time need more than the usual soft limit of 1024. Rather than fail the flows it could
//! not start, a run raises its soft limit when it needs more, up to the hard one (its
//! commands inherit the raised limit); where the hard limit is too low, it runs fewer
//! commands at a time and says so.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Files a command running on this machine may hold open in `flow`: two output pipes, its
/// pidfd and two log files.
const PER_COMMAND: u64 = 5;
/// Files `flow` holds besides its commands: the standard streams, the store and its journal,
/// the runtime's, the watchdog's pipe, and a margin for a spawn in progress.
const RESERVE: u64 = 64;

/// How `jobs` fits the open-file limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// The soft limit is enough.
    Fits,
    /// The soft limit was raised to this many files.
    Raised(u64),
    /// Even the hard limit (this many files) is not enough: run this many commands at once.
    Fewer { jobs: usize, limit: u64 },
}

/// As many commands at once as the open-file limits allow, up to `jobs` ([`fit`]), saying
/// so when that is fewer.
pub fn jobs_that_fit(jobs: usize) -> usize {
    match fit(jobs) {
        Fit::Fits => jobs,
        Fit::Raised(files) => {
            tracing::debug!(
                files,
                "raised the soft limit of open files for --jobs {jobs}"
            );
            jobs
        }
        Fit::Fewer { jobs: fewer, limit } => {
            let limits = "`ulimit -n` and `ulimit -Hn` show the limits";
            if fewer < jobs {
                let commands = if fewer == 1 { "command" } else { "commands" };
                tracing::warn!(
                    "running at most {fewer} {commands} at once, not {jobs}: that many need \
                     more open files than this process may have ({limit}; {limits})"
                );
            } else {
                tracing::warn!(
                    "a command may need more open files than this process may have \
                     ({limit}; {limits}): commands that cannot start will fail"
                );
            }
            fewer
        }
    }
}

/// How many commands may run at once on this machine, given `jobs` and the open-file limits;
/// raises the soft limit when that is needed and allowed.
pub fn fit(jobs: usize) -> Fit {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Fit::Fits;
    };
    let fit = decide(jobs, soft, hard);
    let wanted = match fit {
        Fit::Fits => return fit,
        Fit::Raised(files) => files,
        Fit::Fewer { limit, .. } => limit,
    };
    if wanted > soft && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_err() {
        // The soft limit stays: as many commands as it holds.
        return match decide(jobs, soft, soft) {
            Fit::Fewer { jobs, .. } => Fit::Fewer { jobs, limit: soft },
            other => other,
        };
    }
    fit
}

/// The rule, without the system calls: the files `jobs` commands need, against `soft` and
/// `hard`.
fn decide(jobs: usize, soft: u64, hard: u64) -> Fit {
    let needed = RESERVE.saturating_add((jobs as u64).saturating_mul(PER_COMMAND));
    if needed <= soft {
        Fit::Fits
    } else if needed <= hard {
        Fit::Raised(needed)
    } else {
        let room = hard.saturating_sub(RESERVE) / PER_COMMAND;
        Fit::Fewer {
            jobs: usize::try_from(room).unwrap_or(usize::MAX).clamp(1, jobs),
            limit: hard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{decide, Fit};

    #[test]
    fn jobs_fit_the_soft_limit_or_raise_it_or_run_fewer() {
        let table = [
            // (jobs, soft, hard, fit)
            (8, 1024, 4096, Fit::Fits),
            (192, 1024, 4096, Fit::Fits),
            (193, 1024, 4096, Fit::Raised(1029)),
            (800, 1024, 4096, Fit::Raised(4064)),
            (
                1000,
                1024,
                4096,
                Fit::Fewer {
                    jobs: 806,
                    limit: 4096,
                },
            ),
            (40, 48, 48, Fit::Fewer { jobs: 1, limit: 48 }),
            (
                40,
                100,
                100,
                Fit::Fewer {
                    jobs: 7,
                    limit: 100,
                },
            ),
            (4, u64::MAX, u64::MAX, Fit::Fits),
            (usize::MAX, 1024, u64::MAX, Fit::Raised(u64::MAX)),
        ];
        for (jobs, soft, hard, fit) in table {
            assert_eq!(decide(jobs, soft, hard), fit, "{jobs} jobs, {soft}/{hard}");
        }
    }
}
