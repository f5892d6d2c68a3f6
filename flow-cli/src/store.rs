//! Which result store a command uses: `--store`, or the default SQLite file
//! `.flow/flow.db` beside the workflow file (or in the current folder).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flow_results::{ResultStore, StoreSpec};

use crate::error::CliError;

/// The folder, beside the workflow file, that holds the default store and the logs.
pub const STATE_DIR: &str = ".flow";

/// The store spec to use: `--store` as given, or `sqlite:<dir>/.flow/flow.db`.
pub fn spec(store: Option<&str>, dir: &Path) -> Result<StoreSpec, CliError> {
    match store {
        Some(s) => s.parse().map_err(|source| CliError::Store {
            spec: s.to_owned(),
            message: format!("{source}"),
        }),
        None => Ok(StoreSpec::Sqlite(dir.join(STATE_DIR).join("flow.db"))),
    }
}

/// Opens the store to write a run into, creating its folder.
pub fn open_for_run(spec: &StoreSpec) -> Result<Arc<dyn ResultStore>, CliError> {
    if let StoreSpec::Sqlite(path) = spec {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| CliError::Io {
                action: "create the store's folder",
                path: parent.to_owned(),
                source,
            })?;
        }
    }
    open(spec)
}

/// Opens the store to read runs from; a file store that does not exist yet is reported as
/// "no runs" instead of being created.
pub fn open_for_reading(spec: &StoreSpec) -> Result<Arc<dyn ResultStore>, CliError> {
    let missing: Option<&PathBuf> = match spec {
        StoreSpec::Sqlite(path) | StoreSpec::Dir(path) if !path.exists() => Some(path),
        _ => None,
    };
    if let Some(path) = missing {
        return Err(CliError::NoRun {
            spec: spec.to_string(),
            detail: format!(
                " ({} does not exist: nothing was run with this store yet)",
                path.display()
            ),
        });
    }
    open(spec)
}

fn open(spec: &StoreSpec) -> Result<Arc<dyn ResultStore>, CliError> {
    spec.open()
        .map(Arc::from)
        .map_err(|source| CliError::Store {
            spec: spec.to_string(),
            message: source.to_string(),
        })
}

/// Wraps a store error with the store's spec.
pub fn error(spec: &StoreSpec, source: flow_results::StoreError) -> CliError {
    CliError::Store {
        spec: spec.to_string(),
        message: source.to_string(),
    }
}
