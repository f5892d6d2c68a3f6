//! Which result store a command uses: `--store`, or the default SQLite file
//! `.flow/flow.db` beside the workflow file (or in the current folder); opened to write a run,
//! or read-only to show runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flow_results::{ResultStore, StoreSpec};

use crate::error::CliError;
use crate::terminal;

/// The folder, beside the workflow file, that holds the default store and the logs (which
/// the up-to-date checks leave out of every flow's files).
pub use flow_core::STATE_DIR;

/// The store spec to use: `--store` as given, or `sqlite:<dir>/.flow/flow.db`.
pub fn spec(store: Option<&str>, dir: &Path) -> Result<StoreSpec, CliError> {
    match store {
        Some(s) => s.parse().map_err(|source| CliError::Store {
            spec: s.to_owned(),
            message: terminal::chain(&source),
        }),
        None => Ok(StoreSpec::Sqlite(default_path(dir))),
    }
}

/// `<dir>/.flow/flow.db`.
fn default_path(dir: &Path) -> PathBuf {
    dir.join(STATE_DIR).join("flow.db")
}

/// A store opened for a run. A store whose file or folder is deleted or replaced while the
/// run writes into it refuses the writes from then on (`StoreError::Replaced`), which
/// [`crate::store_guard::GuardedStore::replaced`] reports.
pub type OpenedStore = Arc<dyn ResultStore>;

/// Opens the store to write a run into. The default store's `.flow` folder is made beside
/// the workflow file; a store given with `--store` must be in an existing folder.
pub fn open_for_run(spec: &StoreSpec, workflow_dir: &Path) -> Result<OpenedStore, CliError> {
    if *spec == StoreSpec::Sqlite(default_path(workflow_dir)) {
        make_state_dir(workflow_dir)?;
    }
    let store = spec.open().map_err(|source| error(spec, source))?;
    Ok(Arc::from(store))
}

/// Makes `<dir>/.flow` (not the folders above it), saying so when a file is in the way.
pub fn make_state_dir(dir: &Path) -> Result<(), CliError> {
    let path = dir.join(STATE_DIR);
    match std::fs::create_dir(&path) {
        Ok(()) => Ok(()),
        Err(_) if path.is_dir() => Ok(()),
        Err(source) if source.kind() == std::io::ErrorKind::AlreadyExists => Err(in_the_way(path)),
        Err(source) => Err(CliError::Io {
            action: "create the state folder",
            path,
            source,
        }),
    }
}

/// The error for `<dir>/.flow` that is there but no folder: a file, or a link that leads to
/// no folder (a cache folder not made yet).
fn in_the_way(path: std::path::PathBuf) -> CliError {
    let problem = match std::fs::read_link(&path) {
        Ok(target) if !path.exists() => format!(
            "it is a link to {}, which does not exist; flow keeps its store and logs in this \
             folder: make the folder the link leads to, or remove the link",
            terminal::path(&target)
        ),
        Ok(target) => format!(
            "it is a link to {}, which is not a folder; flow keeps its store and logs in this \
             folder: make the link lead to a folder, or remove it",
            terminal::path(&target)
        ),
        Err(_) => "it is a file, not a folder; flow keeps its store and logs in this folder: \
                   move the file away"
            .to_owned(),
    };
    CliError::Io {
        action: "use the state folder",
        path,
        source: std::io::Error::other(problem),
    }
}

/// Opens the store to read runs from, writing nothing: it works on read-only media, for a
/// user who may only read it, and while a run writes to it. A file store that does not
/// exist yet is reported as "no runs" instead of being created.
pub fn open_for_reading(spec: &StoreSpec) -> Result<Arc<dyn ResultStore>, CliError> {
    must_exist(spec)?;
    spec.open_read_only()
        .map(Arc::from)
        .map_err(|source| error(spec, source))
}

/// As [`open_for_reading`], but a file store that does not exist yet is `None`: no runs, for
/// the readers that say so (`runs`, and `results` and `report` of the latest run).
pub fn open_if_any(spec: &StoreSpec) -> Result<Option<Arc<dyn ResultStore>>, CliError> {
    match open_for_reading(spec) {
        Err(CliError::NoRun { .. }) => Ok(None),
        opened => opened.map(Some),
    }
}

/// The line that says `spec` holds no run (of `workflow`, when given) yet: a project that has
/// not run is not an error.
pub fn no_runs(spec: &StoreSpec, workflow: Option<&str>) -> String {
    let of = workflow
        .map(|name| format!(" of workflow `{}`", terminal::safe(name)))
        .unwrap_or_default();
    let missing = match spec {
        StoreSpec::Sqlite(path) | StoreSpec::Dir(path) if !path.exists() => {
            format!(" ({} does not exist)", terminal::path(path))
        }
        _ => String::new(),
    };
    format!(
        "no runs{of} in store `{}` yet{missing}",
        terminal::safe(&spec.to_string())
    )
}

/// Opens a store that runs were written to, to change it (`flow prune`); as
/// [`open_for_reading`], a file store that does not exist is reported, not created.
pub fn open_existing(spec: &StoreSpec) -> Result<Arc<dyn ResultStore>, CliError> {
    must_exist(spec)?;
    spec.open()
        .map(Arc::from)
        .map_err(|source| error(spec, source))
}

/// [`CliError::NoRun`] for a file store whose file does not exist.
fn must_exist(spec: &StoreSpec) -> Result<(), CliError> {
    match spec {
        StoreSpec::Sqlite(path) | StoreSpec::Dir(path) if !path.exists() => Err(CliError::NoRun {
            spec: spec.to_string(),
            detail: format!(
                " ({} does not exist: nothing was run with this store yet)",
                terminal::path(path)
            ),
        }),
        _ => Ok(()),
    }
}

/// Wraps a store error with the store's spec, naming every cause.
pub fn error(spec: &StoreSpec, source: flow_results::StoreError) -> CliError {
    CliError::Store {
        spec: spec.to_string(),
        message: terminal::chain(&source),
    }
}
