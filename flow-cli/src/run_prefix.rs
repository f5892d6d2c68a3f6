//! A run named by the start of its id, as git takes a short hash: `flow results --run
//! 20261207T18` is the one run whose id begins so. The one rule for every `--run` (`flow
//! results`, `flow report`, `flow logs`): an id that is whole wins, a prefix that begins one
//! id names it, one that begins several is an error listing the first few, one that begins
//! none is the caller's "no such run".

use flow_results::{ResultStore, RunId, RunRecord, StoreSpec};

use crate::error::CliError;

/// How many of the runs an ambiguous prefix begins are named in the error.
const NAMED: usize = 5;

/// The one of `ids` that `text` names: the id equal to it, else the only one it begins;
/// `None` when it begins none, or is empty (`--run ""` names no run, not the only one).
///
/// # Errors
/// [`CliError::AmbiguousRun`] when it begins several ids, none equal to it.
pub fn pick<I, S>(text: &str, ids: I) -> Result<Option<String>, CliError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    if text.is_empty() {
        return Ok(None);
    }
    let mut begun: Vec<String> = Vec::new();
    for id in ids {
        let id = id.as_ref();
        if id == text {
            return Ok(Some(id.to_owned()));
        }
        if id.starts_with(text) {
            begun.push(id.to_owned());
        }
    }
    begun.sort_unstable();
    begun.dedup();
    match begun.len() {
        0 => Ok(None),
        1 => Ok(begun.pop()),
        count => Err(CliError::AmbiguousRun {
            prefix: text.to_owned(),
            count,
            first: begun.into_iter().take(NAMED).collect(),
        }),
    }
}

/// The run of `store` (`spec`) that `text` names by [`pick`]'s rule: of the runs of
/// `workflow` when a workflow file was given (as `flow logs` takes them), else, or when none
/// of those begins with it, of every run (as a whole id names a run of any workflow).
///
/// # Errors
/// [`CliError::NoRun`] when no run's id begins with `text`, [`CliError::AmbiguousRun`] when
/// several do, and the store's error when it cannot be read.
pub fn stored_run(
    store: &dyn ResultStore,
    spec: &StoreSpec,
    text: &str,
    workflow: Option<&str>,
) -> Result<RunRecord, CliError> {
    let store_error = |e| crate::store::error(spec, e);
    // A whole id is looked up alone, without listing every run.
    if let Ok(id) = RunId::parse(text) {
        if let Some(run) = store.run(&id).map_err(store_error)? {
            return Ok(run);
        }
    }
    let mut runs = store.runs().map_err(store_error)?;
    let of_workflow = (runs.iter())
        .filter(|run| workflow.is_none_or(|name| run.workflow == name))
        .map(|run| run.run_id.as_str());
    // Another workflow's run, as its whole id names it, when the file's runs have none.
    let picked = match pick(text, of_workflow)? {
        Some(id) => Some(id),
        None => pick(text, runs.iter().map(|run| run.run_id.as_str()))?,
    };
    let found = picked.and_then(|id| runs.iter().position(|run| run.run_id.as_str() == id));
    match found {
        Some(at) => Ok(runs.swap_remove(at)),
        None => Err(CliError::NoRun {
            spec: spec.to_string(),
            detail: format!(
                " whose id is or begins with `{}` (see `flow runs`)",
                crate::terminal::safe(text)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [&str; 4] = [
        "20261207T180102.000Z-aa",
        "20261207T181503.000Z-bb",
        "20261207T190000.000Z-cc",
        "20261207T190000.000Z-ccd",
    ];

    #[test]
    fn a_whole_id_or_a_prefix_of_one_id_names_it() {
        // text: the run it names.
        let table = [
            ("20261207T180102.000Z-aa", Some(IDS[0])),
            ("20261207T1801", Some(IDS[0])),
            ("20261207T181", Some(IDS[1])),
            // A whole id wins over the longer id it begins.
            ("20261207T190000.000Z-cc", Some(IDS[2])),
            ("20261207T190000.000Z-ccd", Some(IDS[3])),
            ("20261208", None),
            ("x", None),
            // Nothing given names no run (it would begin every id).
            ("", None),
        ];
        for (text, named) in table {
            assert_eq!(
                pick(text, IDS).unwrap().as_deref(),
                named,
                "{text}: {named:?}"
            );
        }
    }

    #[test]
    fn a_prefix_of_several_ids_is_an_error_naming_the_first_few() {
        let error = pick("20261207T1", IDS).unwrap_err();
        let CliError::AmbiguousRun {
            prefix,
            count,
            first,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!((prefix.as_str(), *count), ("20261207T1", 4));
        assert_eq!(first, &IDS);
        assert_eq!(error.exit_code(), 2);
        let many: Vec<String> = (0..8).map(|i| format!("2026120{i}T0")).collect();
        let message = pick("2026", &many).unwrap_err().to_string();
        assert!(
            message.starts_with("run id `2026` is ambiguous: 8 runs' ids begin with it: ")
                && message.contains("20261204T0 and 3 more"),
            "{message}"
        );
    }
}
