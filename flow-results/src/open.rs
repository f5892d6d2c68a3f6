//! `open_store`: opens a store from a spec string such as `sqlite:results.db`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{DirStore, MemoryStore, ResultStore, SqliteStore, StoreError};

/// Which store to open, parsed from `memory`, `dir:PATH` or `sqlite:PATH`.
///
/// ```
/// use flow_results::StoreSpec;
/// let spec: StoreSpec = "sqlite:runs/flow.db".parse()?;
/// assert_eq!(spec, StoreSpec::Sqlite("runs/flow.db".into()));
/// assert_eq!(spec.to_string(), "sqlite:runs/flow.db");
/// let err = "postgres://db".parse::<StoreSpec>().unwrap_err();
/// assert!(err.to_string().contains("`postgres`"));
/// # Ok::<(), flow_results::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StoreSpec {
    /// `memory`: a [`MemoryStore`].
    Memory,
    /// `dir:PATH`: a [`DirStore`] in the folder `PATH`.
    Dir(PathBuf),
    /// `sqlite:PATH`: a [`SqliteStore`] in the file `PATH`.
    Sqlite(PathBuf),
}

impl StoreSpec {
    /// Opens the store this spec names.
    ///
    /// # Errors
    /// The errors of [`DirStore::open`] and [`SqliteStore::open`].
    pub fn open(&self) -> Result<Box<dyn ResultStore>, StoreError> {
        Ok(match self {
            StoreSpec::Memory => Box::new(MemoryStore::new()),
            StoreSpec::Dir(path) => Box::new(DirStore::open(path.clone())?),
            StoreSpec::Sqlite(path) => Box::new(SqliteStore::open(path.clone())?),
        })
    }
}

impl StoreSpec {
    /// Opens the existing store this spec names to read it, writing nothing (see
    /// [`DirStore::open_read_only`] and [`SqliteStore::open_read_only`]); `memory` is a new
    /// empty store.
    ///
    /// # Errors
    /// The errors of [`DirStore::open_read_only`] and [`SqliteStore::open_read_only`].
    pub fn open_read_only(&self) -> Result<Box<dyn ResultStore>, StoreError> {
        Ok(match self {
            StoreSpec::Memory => Box::new(MemoryStore::new()),
            StoreSpec::Dir(path) => Box::new(DirStore::open_read_only(path.clone())?),
            StoreSpec::Sqlite(path) => Box::new(SqliteStore::open_read_only(path.clone())?),
        })
    }
}

impl FromStr for StoreSpec {
    type Err = StoreError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (scheme, path) = match spec.split_once(':') {
            Some((scheme, path)) => (scheme, Some(path)),
            None => (spec, None),
        };
        let require_path = |path: Option<&str>, problem| match path {
            Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
            _ => Err(StoreError::InvalidSpec {
                spec: spec.to_owned(),
                problem,
            }),
        };
        match scheme {
            "memory" if path.is_none() => Ok(StoreSpec::Memory),
            "memory" => Err(StoreError::InvalidSpec {
                spec: spec.to_owned(),
                problem: "`memory` takes no path",
            }),
            "dir" => require_path(
                path,
                "the folder after `dir:` is missing, e.g. `dir:results`",
            )
            .map(StoreSpec::Dir),
            "sqlite" => require_path(
                path,
                "the file after `sqlite:` is missing, e.g. `sqlite:results.db`",
            )
            .map(StoreSpec::Sqlite),
            _ => Err(StoreError::UnknownScheme {
                spec: spec.to_owned(),
                scheme: scheme.to_owned(),
            }),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::Memory => f.write_str("memory"),
            StoreSpec::Dir(path) => write!(f, "dir:{}", path.display()),
            StoreSpec::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
        }
    }
}

/// Opens the store named by `spec`: `memory`, `dir:PATH` or `sqlite:PATH`.
///
/// ```
/// let store = flow_results::open_store("memory")?;
/// assert!(store.runs()?.is_empty());
/// let err = flow_results::open_store("redis:localhost").unwrap_err();
/// assert!(err.to_string().contains("`redis`"));
/// assert!(err.to_string().contains("`sqlite:PATH`"));
/// # Ok::<(), flow_results::StoreError>(())
/// ```
///
/// # Errors
/// [`StoreError::UnknownScheme`] naming the scheme and listing the valid ones,
/// [`StoreError::InvalidSpec`] for a missing path, and the errors of opening the store.
pub fn open_store(spec: &str) -> Result<Box<dyn ResultStore>, StoreError> {
    spec.parse::<StoreSpec>()?.open()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for spec in ["memory", "dir:out/results", "sqlite:/tmp/a:b.db"] {
            assert_eq!(spec.parse::<StoreSpec>().unwrap().to_string(), spec);
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, needle) in [
            ("results.db", "scheme `results.db`"),
            ("file:x", "scheme `file`"),
            ("Sqlite:x", "scheme `Sqlite`"),
            ("dir:", "folder after `dir:` is missing, e.g. `dir:results`"),
            (
                "sqlite:",
                "file after `sqlite:` is missing, e.g. `sqlite:results.db`",
            ),
            ("memory:x", "`memory` takes no path"),
        ] {
            let err = spec.parse::<StoreSpec>().unwrap_err();
            assert!(err.to_string().contains(needle), "{spec}: {err}");
        }
    }
}
