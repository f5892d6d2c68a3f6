//! What `flow run` reads and opens on another thread while it parses the workflow file: the
//! ledger (read whole, see [`Ledger::read_ahead`]) and then the result store, when its file is
//! already there (a run never makes a store for a workflow file that turns out to have
//! errors). Both are found from the file's folder alone. The run takes the store if it was
//! opened, else opens it itself, and uses the ledger as read only if nothing was written to
//! it since.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use flow_core::{Ledger, Snapshot};
use flow_results::StoreSpec;

use crate::cli::RunArgs;
use crate::commands::fresh::ledger_path;
use crate::error::CliError;
use crate::store::OpenedStore;

/// The ledger as read ahead, with the file it was read from.
pub struct LedgerAhead {
    pub path: PathBuf,
    pub snapshot: Snapshot,
}

/// The work going on beside the parse.
pub struct Ahead {
    spec: StoreSpec,
    work: JoinHandle<Opened>,
}

/// What the thread read and opened.
struct Opened {
    ledger: Option<LedgerAhead>,
    store: Option<Result<OpenedStore, CliError>>,
}

/// Starts reading the ledger and opening the store of the run `args` asks for. `None` when
/// the workflow's folder cannot be found (the run then says so) or no thread can start.
pub fn start(args: &RunArgs) -> Option<Ahead> {
    let dir = crate::workflow::folder(&args.file).ok()?;
    let spec = crate::store::spec(args.store.as_deref(), &dir).ok()?;
    let work = {
        let spec = spec.clone();
        std::thread::Builder::new()
            .name("ahead".into())
            .spawn(move || Opened {
                ledger: read_ledger(&spec),
                store: exists(&spec).then(|| crate::store::open_for_run(&spec, &dir)),
            })
            .ok()?
    };
    Some(Ahead { spec, work })
}

impl Ahead {
    /// The store for `spec` (opened ahead, or now) and the ledger as read ahead.
    ///
    /// # Errors
    /// As [`crate::store::open_for_run`].
    pub fn finish(
        self,
        spec: &StoreSpec,
        workflow_dir: &Path,
    ) -> Result<(OpenedStore, Option<LedgerAhead>), CliError> {
        let opened = self.work.join().ok().filter(|_| self.spec == *spec);
        let (ledger, store) = match opened {
            Some(Opened { ledger, store }) => (ledger, store),
            None => (None, None),
        };
        let store = match store {
            Some(store) => store?,
            None => crate::store::open_for_run(spec, workflow_dir)?,
        };
        Ok((store, ledger))
    }
}

/// Whether the store's file or folder is there already.
fn exists(spec: &StoreSpec) -> bool {
    match spec {
        StoreSpec::Sqlite(path) | StoreSpec::Dir(path) => path.exists(),
        StoreSpec::Memory => false,
    }
}

fn read_ledger(spec: &StoreSpec) -> Option<LedgerAhead> {
    let path = ledger_path(spec)?;
    match Ledger::read_ahead(&path) {
        Ok(snapshot) => snapshot.map(|snapshot| LedgerAhead { path, snapshot }),
        Err(error) => {
            // The run reads it again, and says what is wrong then.
            tracing::debug!(%error, "cannot read the ledger ahead of the run");
            None
        }
    }
}
