//! `DirStore`: a result store as a folder of JSON files, one per result, readable with any
//! tool.
//!
//! Layout:
//!
//! ```text
//! ROOT/flow-results.json                 {"format": 1}: marks the folder as a store
//! ROOT/<run id>/run.json                 the RunRecord
//! ROOT/<run id>/results/<flow id>.json   one FlowResult per flow
//! ```
//!
//! File and folder names come only from validated [`RunId`]s and [`FlowId`]s. Every file is
//! written atomically and durably (see [`atomic`]); a new run's folder is assembled under a
//! temporary name and renamed into place, so a run folder always holds its `run.json`.
//! Temporary names start with `.`, which no id can, and readers skip them.
//!
//! # Caveats
//! - A batch is not all-or-nothing: a crash in the middle of `save_results` may leave some
//!   of its results saved (each one whole).
//! - `results` and `runs` fail when one of their files is corrupt, and the error names it;
//!   `result` and `run` still read the others. Delete or restore the named file to repair.
//! - A writer killed mid-write leaves a temporary file (invisible to readers); ones older than
//!   15 minutes are removed when the store opens or the run is finished.
//! - Atomic replacement relies on POSIX `rename`; network file systems may not honour it.
//! - Every write first checks, with one `stat`, that the path still names the folder the
//!   store opened: a folder deleted or replaced while the store is open is
//!   [`StoreError::Replaced`], rather than a write into another store, or an error that
//!   blames the run.

mod atomic;
mod json;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use flow_graph::FlowId;

use crate::file_id::FileId;
use crate::nesting::check_depth;
use crate::{FlowResult, ResultStore, RunId, RunRecord, StoreError};
use atomic::{
    is_temporary, publish, remove_quietly, remove_stale_temporaries, sync_dir, write_file,
    write_temp,
};
use json::{describe_result, encode_pretty, read_json};

/// The format version this code writes and the newest it reads.
pub(crate) const FORMAT: i64 = 1;
/// The marker file at the top of a store.
const MARKER: &str = "flow-results.json";
/// The run record inside a run folder.
const RUN_FILE: &str = "run.json";
/// The folder of results inside a run folder.
const RESULTS_DIR: &str = "results";
/// The most threads that write the files of one batch.
const WRITER_THREADS: usize = 16;
/// The fewest files a batch writer thread gets (fewer are written on the calling thread).
const MIN_PER_THREAD: usize = 4;
/// Folders of deleted runs wait under this prefix until they are removed.
const DELETED_PREFIX: &str = ".deleted-";

/// The content of the marker file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    format: i64,
}

/// A result store as a folder of JSON files.
///
/// Every write is atomic and durable: once a method returns `Ok`, the record survives a crash
/// of the process and a power loss, and no reader ever sees half of it. Batches are not
/// all-or-nothing: a crash in the middle of [`save_results`](ResultStore::save_results) may
/// leave some of the batch saved (each of them whole).
///
/// ```
/// use flow_graph::FlowId;
/// use flow_results::{DirStore, FlowResult, FlowStatus, ResultStore, RunRecord};
///
/// let dir = tempfile::tempdir()?;
/// let store = DirStore::open(dir.path().join("results"))?;
/// let run = RunRecord::start("nightly");
/// store.begin_run(&run)?;
/// store.save_result(&FlowResult::new(run.run_id.clone(), FlowId::new("fetch")?, FlowStatus::Running))?;
/// let file = dir.path().join("results").join(run.run_id.as_str()).join("results/fetch.json");
/// assert!(std::fs::read_to_string(file)?.contains("\"running\""));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DirStore {
    root: PathBuf,
    /// The folder opened to write (`None` when opened to read only).
    folder: Option<FileId>,
}

impl DirStore {
    /// Opens the store in the folder `root`, creating the folder when it does not exist (its
    /// parent must).
    ///
    /// # Errors
    /// - [`StoreError::MissingLocation`] when the parent folder does not exist;
    /// - [`StoreError::ReadOnly`] when the folder must be created but cannot be;
    /// - [`StoreError::NotAStore`] when `root` is a file, or a non-empty folder that is not a
    ///   store;
    /// - [`StoreError::SchemaTooNew`] when the store has a newer format;
    /// - [`StoreError::Corrupt`] when its marker file is unreadable.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let mut store = DirStore { root, folder: None };
        match fs::metadata(&store.root) {
            Ok(meta) if meta.is_dir() => store.check_existing()?,
            Ok(_) => {
                return Err(StoreError::NotAStore {
                    path: store.root,
                    problem: "it is a file, not a folder".to_owned(),
                })
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => store.create()?,
            Err(err) => return Err(StoreError::read_io("read", store.root, err)),
        }
        store.folder =
            Some(FileId::of(&store.root).map_err(|e| StoreError::read_io("open", &store.root, e))?);
        store.remove_leftovers();
        Ok(store)
    }

    /// Opens the existing store in the folder `root` to read it, writing nothing: no folder,
    /// marker or clean-up, so it works on read-only media and for a user who may only read.
    ///
    /// # Errors
    /// - [`StoreError::Io`] when `root` does not exist or cannot be read;
    /// - [`StoreError::NotAStore`] when `root` is a file, or a folder without the marker;
    /// - [`StoreError::SchemaTooNew`] when the store has a newer format;
    /// - [`StoreError::Corrupt`] when its marker file is unreadable.
    pub fn open_read_only(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let meta = fs::metadata(&root).map_err(|e| StoreError::read_io("open", &root, e))?;
        if !meta.is_dir() {
            return Err(StoreError::NotAStore {
                path: root,
                problem: "it is a file, not a folder".to_owned(),
            });
        }
        match read_json::<Marker>(&root.join(MARKER))? {
            Some(marker) if marker.format > FORMAT => Err(StoreError::SchemaTooNew {
                path: root,
                found: marker.format,
                supported: FORMAT,
            }),
            Some(_) => Ok(DirStore { root, folder: None }),
            None => Err(StoreError::NotAStore {
                path: root,
                problem: format!("the folder has no `{MARKER}`"),
            }),
        }
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the folder and its marker.
    fn create(&self) -> Result<(), StoreError> {
        let parent = parent_of(&self.root);
        if !parent.is_dir() {
            return Err(StoreError::MissingLocation {
                path: self.root.clone(),
                parent,
            });
        }
        match fs::create_dir(&self.root) {
            Ok(()) => {}
            // Another process created it first: check it like an existing store.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return self.check_existing(),
            Err(err) => return Err(StoreError::io("create the folder", &self.root, err)),
        }
        self.write_marker()?;
        sync_dir(&parent).map_err(|e| StoreError::io("fsync the folder", parent, e))
    }

    fn write_marker(&self) -> Result<(), StoreError> {
        let bytes = encode_pretty(&Marker { format: FORMAT }, || "the store marker".to_owned())?;
        write_file(&self.root, MARKER, &bytes)
    }

    /// Checks the marker of an existing folder, or adopts an empty folder.
    fn check_existing(&self) -> Result<(), StoreError> {
        let marker_path = self.root.join(MARKER);
        match read_json::<Marker>(&marker_path)? {
            Some(marker) if marker.format > FORMAT => Err(StoreError::SchemaTooNew {
                path: self.root.clone(),
                found: marker.format,
                supported: FORMAT,
            }),
            Some(_) => Ok(()),
            None => {
                let entries = fs::read_dir(&self.root)
                    .map_err(|e| StoreError::read_io("list the folder", &self.root, e))?;
                // Another process opening the new folder at the same time may be writing the
                // marker: its temporary file is no content, and its marker may just have come.
                let content = entries
                    .flatten()
                    .any(|entry| !is_temporary(&entry.file_name()));
                if !content {
                    return self.write_marker();
                }
                match read_json::<Marker>(&marker_path)? {
                    Some(_) => Ok(()),
                    None => Err(StoreError::NotAStore {
                        path: self.root.clone(),
                        problem: format!(
                            "the folder is not empty and has no `{MARKER}`; give an empty or \
                             new folder"
                        ),
                    }),
                }
            }
        }
    }

    /// Removes folders of deleted runs and stale temporaries that a crash left behind.
    fn remove_leftovers(&self) {
        remove_stale_temporaries(&self.root);
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(DELETED_PREFIX)
            {
                let path = entry.path();
                if let Err(err) = fs::remove_dir_all(&path) {
                    tracing::warn!(path = %path.display(), %err, "cannot remove a deleted run");
                }
            }
        }
    }

    /// Before a write: `Ok` when the path still names the folder the store opened, else
    /// [`StoreError::Replaced`].
    fn check_folder(&self) -> Result<(), StoreError> {
        self.folder
            .map_or(Ok(()), |folder| folder.check(&self.root))
    }

    fn run_dir(&self, run: &RunId) -> PathBuf {
        self.root.join(run.as_str())
    }

    fn results_dir(&self, run: &RunId) -> PathBuf {
        self.run_dir(run).join(RESULTS_DIR)
    }

    fn result_path(&self, run: &RunId, flow: &FlowId) -> PathBuf {
        self.results_dir(run).join(result_file_name(flow))
    }

    /// Creates the folder of a new run with its record; refuses a run that has a folder.
    fn create_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let exists = || StoreError::RunExists {
            run: run.run_id.clone(),
            store: self.spec(),
        };
        if self.run_dir(&run.run_id).is_dir() {
            return Err(exists());
        }
        let bytes = encode_pretty(run, || format!("the record of run `{}`", run.run_id))?;
        match self.place_new_run(run, &bytes)? {
            true => Ok(()),
            false => Err(exists()),
        }
    }

    /// Writes the run record, creating the run's folder atomically when it is new.
    fn upsert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let run_dir = self.run_dir(&run.run_id);
        let bytes = encode_pretty(run, || format!("the record of run `{}`", run.run_id))?;
        if run_dir.is_dir() {
            // Clear what a crash of an earlier writer of the run left behind.
            remove_stale_temporaries(&run_dir);
            remove_stale_temporaries(&run_dir.join(RESULTS_DIR));
            return write_file(&run_dir, RUN_FILE, &bytes);
        }
        match self.place_new_run(run, &bytes)? {
            true => Ok(()),
            // Another writer created the run first: replace its record instead.
            false => write_file(&run_dir, RUN_FILE, &bytes),
        }
    }

    /// Assembles the folder of `run`, with `bytes` as its record, under a temporary name and
    /// renames it into place; `false` (and nothing written) when another writer placed the
    /// run's folder first. A run folder always holds its record, so the rename never replaces
    /// one (`rename` replaces only an empty folder).
    fn place_new_run(&self, run: &RunRecord, bytes: &[u8]) -> Result<bool, StoreError> {
        let run_dir = self.run_dir(&run.run_id);
        let temp = atomic::temp_path(&self.root, run.run_id.as_str());
        let assembled = fs::create_dir(&temp)
            .and_then(|()| fs::create_dir(temp.join(RESULTS_DIR)))
            .map_err(|e| StoreError::io("create the run folder", &temp, e))
            .and_then(|()| write_file(&temp, RUN_FILE, bytes));
        let placed = assembled.and_then(|()| match fs::rename(&temp, &run_dir) {
            Ok(()) => Ok(true),
            Err(_) if run_dir.is_dir() => Ok(false),
            Err(err) => Err(StoreError::io("create the run folder", &run_dir, err)),
        });
        if !matches!(placed, Ok(true)) && temp.exists() {
            let _ = fs::remove_dir_all(&temp);
        }
        if placed? {
            sync_dir(&self.root).map_err(|e| StoreError::io("fsync the folder", &self.root, e))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The error for a result whose run folder is missing, or the I/O error as is.
    fn write_error(&self, result: &FlowResult, err: io::Error, action: &'static str) -> StoreError {
        if err.kind() == io::ErrorKind::NotFound && !self.run_dir(&result.run_id).is_dir() {
            return StoreError::UnknownRun {
                run: result.run_id.clone(),
                flow: result.flow_id.clone(),
                store: self.spec(),
            };
        }
        StoreError::io(
            action,
            self.result_path(&result.run_id, &result.flow_id),
            err,
        )
    }

    /// Writes and fsyncs a temporary file for each result; returns (temporary, target) pairs in
    /// the order of `results`. On an error, removes the temporaries already written.
    ///
    /// The files are written by up to [`WRITER_THREADS`] threads: the file system commits the
    /// fsyncs of concurrent writers together, which makes a large batch many times faster than
    /// fsyncing one file after the other.
    fn write_temps(&self, results: &[FlowResult]) -> Result<Vec<(PathBuf, PathBuf)>, StoreError> {
        let write_one = |result: &FlowResult| -> Result<(PathBuf, PathBuf), StoreError> {
            let dir = self.results_dir(&result.run_id);
            let name = result_file_name(&result.flow_id);
            let bytes = encode_pretty(result, || describe_result(result))?;
            let temp = write_temp(&dir, &name, &bytes)
                .map_err(|e| self.write_error(result, e, "write"))?;
            Ok((temp, dir.join(name)))
        };
        let chunk_len = results.len().div_ceil(WRITER_THREADS).max(MIN_PER_THREAD);
        let written: Vec<Result<(PathBuf, PathBuf), StoreError>> = if results.len() <= chunk_len {
            results.iter().map(write_one).collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = results
                    .chunks(chunk_len)
                    .map(|chunk| scope.spawn(|| chunk.iter().map(write_one).collect::<Vec<_>>()))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|handle| {
                        // A writer thread only panics if the allocator does; pass that on.
                        handle
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect()
            })
        };
        let mut temps = Vec::with_capacity(written.len());
        let mut first_error = None;
        for outcome in written {
            match outcome {
                Ok(pair) => temps.push(pair),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            None => Ok(temps),
            Some(err) => {
                for (temp, _) in &temps {
                    remove_quietly(temp);
                }
                Err(err)
            }
        }
    }

    /// Reads a result file and checks that it holds the result it is named after.
    fn read_result(&self, run: &RunId, flow: &FlowId) -> Result<Option<FlowResult>, StoreError> {
        let path = self.result_path(run, flow);
        let Some(result) = read_json::<FlowResult>(&path)? else {
            return Ok(None);
        };
        if &result.run_id != run || &result.flow_id != flow {
            return Err(StoreError::Corrupt {
                path,
                problem: format!(
                    "it holds the result of flow `{}` in run `{}`",
                    result.flow_id, result.run_id
                ),
            });
        }
        Ok(Some(result))
    }

    /// The run ids that have a folder, oldest first.
    fn run_ids(&self) -> Result<Vec<RunId>, StoreError> {
        let entries = fs::read_dir(&self.root)
            .map_err(|e| StoreError::read_io("list the folder", &self.root, e))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::read_io("list the folder", &self.root, e))?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|name| RunId::parse(name).ok()) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// `name.json` for the result of flow `name`.
fn result_file_name(flow: &FlowId) -> String {
    format!("{flow}.json")
}

/// The folder holding `path` (`.` for a bare name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl ResultStore for DirStore {
    fn begin_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.check_folder()?;
        self.create_run(run)
    }

    fn finish_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.check_folder()?;
        self.upsert_run(run)
    }

    fn save_result(&self, result: &FlowResult) -> Result<(), StoreError> {
        check_depth([result], || self.spec())?;
        self.check_folder()?;
        let dir = self.results_dir(&result.run_id);
        let name = result_file_name(&result.flow_id);
        let bytes = encode_pretty(result, || describe_result(result))?;
        let temp =
            write_temp(&dir, &name, &bytes).map_err(|e| self.write_error(result, e, "write"))?;
        publish(&temp, &dir.join(&name))
            .map_err(|e| self.write_error(result, e, "rename into place"))?;
        sync_dir(&dir).map_err(|e| StoreError::io("fsync the folder", &dir, e))
    }

    fn save_results(&self, results: &[FlowResult]) -> Result<(), StoreError> {
        // Check the folder, every run and every output first, so that an unknown run or an
        // output too deep to read back saves nothing.
        self.check_folder()?;
        let mut dirs: Vec<&RunId> = results.iter().map(|r| &r.run_id).collect();
        dirs.sort();
        dirs.dedup();
        for run in &dirs {
            if !self.results_dir(run).is_dir() {
                if let Some(result) = results.iter().find(|r| &r.run_id == *run) {
                    return Err(self.write_error(
                        result,
                        io::Error::from(io::ErrorKind::NotFound),
                        "write",
                    ));
                }
            }
        }
        check_depth(results, || self.spec())?;
        // Write and fsync every file, then rename them all, then fsync each folder once.
        let temps = self.write_temps(results)?;
        let mut failure = None;
        for (temp, target) in temps {
            if failure.is_some() {
                remove_quietly(&temp);
            } else if let Err(err) = publish(&temp, &target) {
                failure = Some(StoreError::io("rename into place", target, err));
            }
        }
        for run in dirs {
            let dir = self.results_dir(run);
            sync_dir(&dir).map_err(|e| StoreError::io("fsync the folder", &dir, e))?;
        }
        failure.map_or(Ok(()), Err)
    }

    fn result(&self, run: &RunId, flow: &FlowId) -> Result<Option<FlowResult>, StoreError> {
        self.read_result(run, flow)
    }

    fn results(&self, run: &RunId) -> Result<Vec<FlowResult>, StoreError> {
        let dir = self.results_dir(run);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(StoreError::read_io("list the folder", dir, err)),
        };
        let mut flows = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::read_io("list the folder", &dir, e))?;
            let name = entry.file_name();
            let flow = name
                .to_str()
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|stem| FlowId::new(stem).ok());
            flows.extend(flow);
        }
        flows.sort();
        let mut results = Vec::with_capacity(flows.len());
        for flow in flows {
            // A file removed since the listing (its run being deleted) is skipped.
            results.extend(self.read_result(run, &flow)?);
        }
        Ok(results)
    }

    fn run(&self, run: &RunId) -> Result<Option<RunRecord>, StoreError> {
        let path = self.run_dir(run).join(RUN_FILE);
        let Some(record) = read_json::<RunRecord>(&path)? else {
            return Ok(None);
        };
        if &record.run_id != run {
            return Err(StoreError::Corrupt {
                path,
                problem: format!("it holds the record of run `{}`", record.run_id),
            });
        }
        Ok(Some(record))
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs = Vec::new();
        for id in self.run_ids()? {
            runs.extend(self.run(&id)?);
        }
        Ok(runs)
    }

    fn latest_run(&self, workflow: &str) -> Result<Option<RunRecord>, StoreError> {
        for id in self.run_ids()?.iter().rev() {
            if let Some(record) = self.run(id)? {
                if record.workflow == workflow {
                    return Ok(Some(record));
                }
            }
        }
        Ok(None)
    }

    fn delete_run(&self, run: &RunId) -> Result<bool, StoreError> {
        self.check_folder()?;
        let run_dir = self.run_dir(run);
        if !run_dir.is_dir() {
            return Ok(false);
        }
        // Rename first, so the run disappears at once; then remove the files.
        let doomed = self
            .root
            .join(format!("{DELETED_PREFIX}{}-{run}", atomic::unique()));
        match fs::rename(&run_dir, &doomed) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(StoreError::io("delete the run folder", run_dir, err)),
        }
        sync_dir(&self.root).map_err(|e| StoreError::io("fsync the folder", &self.root, e))?;
        // The run is gone for readers now; files that cannot be removed are only logged, and
        // the next open removes them.
        if let Err(err) = fs::remove_dir_all(&doomed) {
            tracing::warn!(path = %doomed.display(), %err, "cannot remove a deleted run");
        }
        Ok(true)
    }

    fn spec(&self) -> String {
        format!("dir:{}", self.root.display())
    }
}
