//! The `sbatch` options an `extra` may not hold: those that break flow's one job per attempt,
//! or override what flow itself passes and reads back (the job's name, files and folder).
//! Each is refused when the workflow loads, with why.

/// A refused option: its long name, its short letter, and why flow refuses it.
struct Refused {
    long: &'static str,
    short: Option<char>,
    why: &'static str,
}

/// The refused options (documented in docs/workflow-format.md, `[slurm]`).
const REFUSED: &[Refused] = &[
    Refused {
        long: "array",
        short: Some('a'),
        why: "it submits a job array, but flow runs one job per attempt and follows only that \
              job, so the other tasks would be left running: write one flow per task instead \
              (a `matrix`)",
    },
    Refused {
        long: "wrap",
        short: None,
        why: "it replaces the job script flow submits (the wrapper that records how the \
              command ended): write the command in the flow's `command` or `shell`",
    },
    Refused {
        long: "job-name",
        short: Some('J'),
        why: "flow names each job after its flow, and finds the jobs of a killed run by that \
              name on `--resume`",
    },
    Refused {
        long: "output",
        short: Some('o'),
        why: "flow sends the job's output to the flow's log files and reads it back from there",
    },
    Refused {
        long: "error",
        short: Some('e'),
        why: "flow sends the job's output to the flow's log files and reads it back from there",
    },
    Refused {
        long: "chdir",
        short: Some('D'),
        why: "flow runs the job in the flow's working folder: set the flow's `cwd` instead",
    },
    Refused {
        long: "requeue",
        short: None,
        why: "a requeued job runs again behind flow's back (flow submits with `--no-requeue`): \
              let flow run it again with the flow's `retries`",
    },
    Refused {
        long: "wait",
        short: Some('W'),
        why: "it makes `sbatch` wait for the job's end, so flow could not follow or stop it",
    },
];

/// Why flow refuses `arg`, one element of an `extra` array, with the option's full name;
/// `None` when it is allowed. A long option is matched as `sbatch` matches it: its name
/// before `=` or a space, or any prefix of it (`--arr=1-4`); a short one by its letter,
/// with its value joined (`-a1-4`, `-a 1-4`) or not (`-a`).
pub(super) fn refused(arg: &str) -> Option<(String, &'static str)> {
    if let Some(long) = arg.strip_prefix("--") {
        let name = long.split(['=', ' ']).next().unwrap_or_default();
        if name.is_empty() {
            return None;
        }
        let mut matches = REFUSED.iter().filter(|r| r.long.starts_with(name));
        let found = matches.next()?;
        // An exact name, or a prefix of only one refused option: `sbatch` takes it for that.
        if found.long == name || matches.next().is_none() {
            return Some((format!("--{}", found.long), found.why));
        }
        return None;
    }
    let letter = arg.strip_prefix('-')?.chars().next()?;
    let found = REFUSED.iter().find(|r| r.short == Some(letter))?;
    Some((format!("-{letter} (--{})", found.long), found.why))
}

#[cfg(test)]
mod tests {
    use super::refused;
    use crate::workflow::test_support::load_str;

    #[test]
    fn options_that_break_one_job_per_attempt_are_told_in_every_form() {
        for arg in [
            "--array=1-4",
            "--array 1-4",
            "--array",
            "--arr=1-4",
            "-a 1-4",
            "-a1-4",
        ] {
            let (name, why) = refused(arg).unwrap_or_else(|| panic!("{arg} passed"));
            assert!(name.contains("--array"), "{arg}: {name}");
            assert!(why.contains("one job per attempt"), "{arg}: {why}");
        }
        for (arg, name) in [
            ("--wrap=hostname", "--wrap"),
            ("-J other", "-J (--job-name)"),
            ("--output=x.log", "--output"),
            ("-e x.err", "-e (--error)"),
            ("--chdir=/tmp", "--chdir"),
            ("--requeue", "--requeue"),
            ("-W", "-W (--wait)"),
        ] {
            assert_eq!(refused(arg).map(|r| r.0).as_deref(), Some(name), "{arg}");
        }
        for arg in [
            "--exclusive",
            "--gres=gpu:1",
            "--time=10",
            "--hold",
            "-H",
            "--no-requeue",
            "--comment=x",
            "--wait-all-nodes=1",
            "--dependency=afterok:1",
            "--",
            "-",
        ] {
            assert_eq!(refused(arg), None, "{arg}");
        }
    }

    #[test]
    fn an_array_in_extra_is_refused_at_its_line_naming_the_flow() {
        let got = load_str(
            "[slurm]\nextra = [\"--exclusive\", \"-a 1-4\"]\n\n\
             [flows.align]\ncommand = [\"true\"]\nslurm = { extra = [\"--array=1-4\"] }\n",
        )
        .unwrap_err();
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.len(), 2, "{got}");
        assert!(
            lines[0].starts_with(
                "w.toml:2:25: `slurm.extra` holds \"-a 1-4\": flow refuses -a (--array): it \
                 submits a job array"
            ),
            "{got}"
        );
        assert!(
            lines[1].starts_with(
                "w.toml:6:20: `flows.align.slurm.extra` holds \"--array=1-4\": flow refuses \
                 --array: it submits a job array"
            ),
            "{got}"
        );
    }
}
