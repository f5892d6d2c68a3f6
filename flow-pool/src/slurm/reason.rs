//! What Slurm's reason for a pending job (`squeue -o %r`, e.g. `Priority`, `JobHeldUser`,
//! `PartitionConfig`) means for the run: the job waits its turn, is held until someone
//! releases it, waits for nodes an admin took out of service, or can never start as
//! submitted. The names are Slurm's (see its "Job
//! Reason Codes" page; `squeue` of Slurm 22.05 prints them this way).

/// What a pending job's reason means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    /// It waits for its turn, resources, a begin time, a limit that clears as other jobs
    /// end, ... (`Priority`, `Resources`, `QOSMaxJobsPerUserLimit`, ...).
    Waits,
    /// It is held and starts only once released (`JobHeldUser`, `JobHeldAdmin`).
    Held,
    /// The nodes it may run on are down or drained, or its partition is down: it starts
    /// only once an admin brings them back (`ReqNodeNotAvail`, `PartitionDown`, ...).
    NodesDown,
    /// What it asks can never be granted as submitted (`PartitionConfig`, ...).
    Never,
}

/// Reasons that no waiting clears: the request is beyond the partition, the constraints,
/// the account or the QOS, or depends on a job that cannot end well.
const NEVER: &[&str] = &[
    "PartitionConfig",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "BadConstraints",
    "InvalidAccount",
    "InvalidQOS",
    "InvalidBankAccount",
    "AccountNotAllowed",
    "QOSNotAllowed",
    "DependencyNeverSatisfied",
];

/// Reasons of a held job.
const HELD: &[&str] = &[
    "JobHeldUser",
    "JobHeldAdmin",
    "JobHeld",
    "launch failed requeued held",
];

/// Reasons (or their starts) of a job whose nodes or partition are out of service. Slurm
/// 22.05 prints the one for a drained node as a sentence, older ones with underscores.
const NODES_DOWN: &[&str] = &[
    "ReqNodeNotAvail",
    "NodeDown",
    "PartitionDown",
    "PartitionInactive",
    "Nodes required for job are DOWN, DRAINED",
    "Nodes_required_for_job_are_DOWN,_DRAINED",
];

/// What `reason` means for a pending job. Per-job and per-node maxima of an association or
/// a QOS (`AssocMaxCpuPerJobLimit`, `QOSMaxGRESPerNode`, ...) and QOS minima (`QOSMin*`)
/// can never be met; aggregate, per-user and per-account limits clear as other jobs end.
pub(crate) fn pending(reason: &str) -> Pending {
    let reason = reason.trim();
    if HELD.contains(&reason) {
        return Pending::Held;
    }
    if NODES_DOWN.iter().any(|down| reason.starts_with(down)) {
        return Pending::NodesDown;
    }
    let per_job = (reason.starts_with("AssocMax") || reason.starts_with("QOSMax"))
        && (reason.contains("PerJob") || reason.contains("PerNode"));
    if NEVER.contains(&reason) || per_job || reason.starts_with("QOSMin") {
        Pending::Never
    } else {
        Pending::Waits
    }
}

/// What a user can do about a job that can never start for `reason`.
pub(crate) fn never_hint(reason: &str) -> &'static str {
    match reason {
        "PartitionConfig" | "PartitionNodeLimit" => {
            "the job asks more than the partition's nodes have or allow (CPUs, memory, \
             nodes); ask for less in the flow's `slurm = { ... }`, or use another partition"
        }
        "PartitionTimeLimit" => {
            "the job's time limit (the flow's timeout plus kill_grace) is longer than the \
             partition's; shorten the timeout, or use another partition"
        }
        "BadConstraints" => "no node has the features the job's constraints ask for",
        "DependencyNeverSatisfied" => "the job depends on a job that can no longer end as required",
        _ => "the account, QOS or partition does not allow what the job asks",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_told_apart() {
        for reason in [
            "Priority",
            "Resources",
            "None",
            "BeginTime",
            "Dependency",
            "QOSMaxJobsPerUserLimit",
            "AssocMaxJobsLimit",
            "AssocGrpCpuLimit",
            "",
        ] {
            assert_eq!(pending(reason), Pending::Waits, "{reason}");
        }
        for reason in ["JobHeldUser", "JobHeldAdmin"] {
            assert_eq!(pending(reason), Pending::Held, "{reason}");
        }
        // Regression: a job waiting for a drained node waited without a word.
        for reason in [
            "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority \
             partitions",
            "ReqNodeNotAvail, UnavailableNodes:vm",
            "ReqNodeNotAvail",
            "NodeDown",
            "PartitionDown",
            "PartitionInactive",
        ] {
            assert_eq!(pending(reason), Pending::NodesDown, "{reason}");
        }
        for reason in [
            "PartitionConfig",
            "PartitionNodeLimit",
            "PartitionTimeLimit",
            "BadConstraints",
            "InvalidAccount",
            "AssocMaxCpuPerJobLimit",
            "AssocMaxWallDurationPerJobLimit",
            "QOSMaxGRESPerNode",
            "QOSMinCpuNotSatisfied",
        ] {
            assert_eq!(pending(reason), Pending::Never, "{reason}");
        }
        assert!(never_hint("PartitionConfig").contains("slurm = {"));
        assert!(never_hint("PartitionTimeLimit").contains("timeout"));
    }
}
