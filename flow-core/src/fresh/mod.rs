//! Freshness: whether a flow that declares the files it reads and writes ([`Data`]) is *up to
//! date* — its last completed run had the same definition, the same input digests, wrote
//! outputs that are still there with the same digests, and its parents were in the same
//! state — so that a run can skip it ([`Freshness`]) and a dry run can say why each flow would
//! run ([`Plan`]).
//!
//! A parent's state is whether it completed and, when it did, the digests of its declared
//! outputs; for a parent without declared outputs, the value it returned (a command's value,
//! its exit code 0, says nothing more). The value of a parent *with* declared outputs does
//! not count: its files do. A flow's home (the workflow folder) is no part of a definition
//! (`crate::home`), so a moved project stays up to date.
//!
//! Decides and reads files, and removes a flow's declared outputs before an attempt, making
//! the folders they go in (`clear.rs`); never runs anything. Every function here blocks (file reads and removals,
//! the ledger): the driver calls them on tokio's blocking threads.

mod check;
mod clear;
mod damage;
pub(crate) mod digest;
mod glob;
mod gone;
mod ledger;
mod plan;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flow_graph::FlowId;
use rustc_hash::FxHashSet;

pub use check::{Reason, Verdict};
pub use damage::Damaged;
pub use digest::STATE_DIR;
pub use ledger::{Ledger, Snapshot};
pub use plan::{Plan, PlannedFlow};

pub(crate) use check::{
    check, completed_token, read_inputs, seal, Checked, Known, Sealed, NOT_COMPLETED,
};
pub(crate) use clear::{clear, holding_base, make_folders};
pub(crate) use gone::listed;
pub(crate) use ledger::Entry;
pub(crate) use plan::{decide_all, mark_checked_after, parents_first};

/// The files a flow reads and writes: paths, folders (every file under them) and, for
/// inputs, globs, relative to a base folder.
///
/// ```
/// use flow_core::Data;
///
/// let data = Data::new("/work/pipeline")
///     .inputs(["data/*.csv", "scripts/clean.py"])
///     .outputs(["out/clean.csv"]);
/// assert_eq!(data.output_paths(), ["out/clean.csv"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Data {
    base: PathBuf,
    inputs: Arc<[String]>,
    outputs: Arc<[String]>,
}

impl Data {
    /// No files yet; relative paths start at `base`.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Data {
            base: base.into(),
            inputs: Arc::from([]),
            outputs: Arc::from([]),
        }
    }

    /// The files `inputs` and `outputs`, lists the caller keeps too (shared, not copied: a
    /// workflow of many flows already holds them).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flow_core::Data;
    ///
    /// let inputs: Arc<[String]> = Arc::from(["data/raw.csv".to_owned()]);
    /// let outputs: Arc<[String]> = Arc::from(["out/clean.csv".to_owned()]);
    /// let data = Data::shared("/work/pipeline", Arc::clone(&inputs), outputs);
    /// assert_eq!(data.input_paths(), &inputs[..]);
    /// assert_eq!(data, Data::new("/work/pipeline").inputs(["data/raw.csv"]).outputs(["out/clean.csv"]));
    /// ```
    pub fn shared(base: impl Into<PathBuf>, inputs: Arc<[String]>, outputs: Arc<[String]>) -> Self {
        Data {
            base: base.into(),
            inputs,
            outputs,
        }
    }

    /// Adds files, folders or globs the flow reads (each call copies the list so far: give
    /// them all in one call).
    #[must_use]
    pub fn inputs<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inputs = (self.inputs.iter().cloned())
            .chain(paths.into_iter().map(Into::into))
            .collect();
        self
    }

    /// Adds files or folders the flow writes (each call copies the list so far: give them all
    /// in one call).
    #[must_use]
    pub fn outputs<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.outputs = (self.outputs.iter().cloned())
            .chain(paths.into_iter().map(Into::into))
            .collect();
        self
    }

    /// Whether the input `path` is a glob: it holds `*` (any run of characters within a
    /// path segment) or `?` (one character). `[` and `]` are plain characters, as in the
    /// names of sequencing runs: `run[1]/a.fq` is that file, never `run1/a.fq`.
    ///
    /// ```
    /// use flow_core::Data;
    ///
    /// assert!(Data::is_glob("data/*.csv"));
    /// assert!(Data::is_glob("chr?.vcf"));
    /// assert!(!Data::is_glob("run[1]/a.fq"));
    /// ```
    pub fn is_glob(path: &str) -> bool {
        path.contains(['*', '?'])
    }

    /// For a declared path written as a shell would expand it (`~/data.csv`, `$DATA/x.csv`,
    /// `${HOME}/x.csv`), which flow takes as written, relative to the workflow's folder: a
    /// hint saying so, for the message of a file not found there.
    ///
    /// ```
    /// use flow_core::Data;
    ///
    /// assert!(Data::unexpanded("~/data.csv").is_some());
    /// assert!(Data::unexpanded("${DATA}/x.csv").is_some());
    /// assert_eq!(Data::unexpanded("data/x.csv"), None);
    /// ```
    pub fn unexpanded(path: &str) -> Option<&'static str> {
        (path == "~" || path.starts_with("~/") || path.contains('$')).then_some(
            "flow expands neither `~` nor `$VAR` in declared paths: write the path itself, or \
             a `{param}`",
        )
    }

    /// For a declared path missing from the workflow's folder `base` that the command's working
    /// directory `cwd` holds (declared paths start at the former, a command's `./` at the
    /// latter): a hint saying so, for the message of a file not found.
    pub fn found_in_cwd(base: &Path, cwd: &Path, path: &str) -> Option<String> {
        let there = cwd.join(path);
        let held = cwd != base && Path::new(path).is_relative() && there.exists();
        held.then(|| {
            let shown = there.strip_prefix(base).unwrap_or(&there);
            format!(
                "`{}` exists: declared paths start at the workflow's folder, not at the flow's \
                 `cwd`",
                shown.display()
            )
        })
    }

    /// The input glob `path` as the `glob` crate reads it, which takes `[` for the start of a
    /// class: `[` and `]` are escaped, so that they match themselves ([`is_glob`](Self::is_glob)).
    ///
    /// ```
    /// use flow_core::Data;
    ///
    /// assert_eq!(Data::glob_syntax("run[1]/*.fq"), "run[[]1[]]/*.fq");
    /// assert_eq!(Data::glob_syntax("data/*.csv"), "data/*.csv");
    /// ```
    pub fn glob_syntax(path: &str) -> std::borrow::Cow<'_, str> {
        if !path.contains(['[', ']']) {
            return std::borrow::Cow::Borrowed(path);
        }
        let mut escaped = String::with_capacity(path.len() + 8);
        for c in path.chars() {
            match c {
                '[' => escaped.push_str("[[]"),
                ']' => escaped.push_str("[]]"),
                c => escaped.push(c),
            }
        }
        std::borrow::Cow::Owned(escaped)
    }

    /// Every file and folder that the input glob `path` (relative to the folder `base` unless
    /// absolute; see [`glob_syntax`](Self::glob_syntax)) matches, per folder in name order. The
    /// name of `base` is matched as it is (`w[1]/` is not `w1/`), and names that are not UTF-8
    /// are matched too, as their lossy text. Folders that cannot be read are passed over.
    ///
    /// ```
    /// use flow_core::Data;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("b.csv"), "")?;
    /// std::fs::write(dir.path().join("a.csv"), "")?;
    /// let found = Data::glob_paths(dir.path(), "*.csv");
    /// assert_eq!(found, [dir.path().join("a.csv"), dir.path().join("b.csv")]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn glob_paths(base: &std::path::Path, path: &str) -> Vec<PathBuf> {
        glob::paths(base, path).0
    }

    /// Whether the input glob `path` (as in [`glob_paths`](Self::glob_paths)) matches a file or
    /// folder, or cannot be told to match none: a folder on its way could not be read.
    pub fn glob_may_match(base: &std::path::Path, path: &str) -> bool {
        let (found, unreadable) = glob::paths(base, path);
        unreadable || !found.is_empty()
    }

    /// The folder relative paths start at.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The inputs as given.
    pub fn input_paths(&self) -> &[String] {
        &self.inputs
    }

    /// The outputs as given.
    pub fn output_paths(&self) -> &[String] {
        &self.outputs
    }

    /// Whether `output`, declared relative to the base folder `base`, is that folder or holds
    /// it (`.`, `..`, `/`, an absolute parent of it; `..` taken as written, links not
    /// followed): no flow may declare such an output, since each attempt of a flow starts
    /// without its outputs ([`FlowBuilder::data`](crate::FlowBuilder::data)).
    ///
    /// ```
    /// use flow_core::Data;
    ///
    /// assert!(Data::holds_base("/work/p", "."));
    /// assert!(Data::holds_base("/work/p", "sub/../.."));
    /// assert!(Data::holds_base("/work/p", "/work"));
    /// assert!(!Data::holds_base("/work/p", "out/"));
    /// assert!(!Data::holds_base("/work/p", "../pack.txt"));
    /// ```
    pub fn holds_base(base: impl AsRef<Path>, output: &str) -> bool {
        clear::holds_base(base.as_ref(), output)
    }
}

/// How a run treats flows that are up to date: skipped (their last result stands), unless
/// forced. See [`RunOptions::skip_up_to_date`](crate::RunOptions::skip_up_to_date).
///
/// ```
/// use std::sync::Arc;
/// use flow_core::{CommandSpec, Data, Flow, FlowContext, FlowId, Freshness, Ledger, RunOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("in.txt"), "data")?;
/// let ledger = Arc::new(Ledger::open(&dir.path().join("fresh.db"))?);
/// let context = || -> Result<FlowContext, Box<dyn std::error::Error>> {
///     let ctx = FlowContext::new();
///     let copy = CommandSpec::shell("cp in.txt out.txt").cwd(dir.path());
///     let data = Data::new(dir.path()).inputs(["in.txt"]).outputs(["out.txt"]);
///     ctx.register_flow(Flow::command(FlowId::new("copy")?, copy).data(data).build())?;
///     Ok(ctx)
/// };
/// let freshness = Freshness::new(Arc::clone(&ledger));
/// let first = context()?.run_with(RunOptions::new().skip_up_to_date(freshness.clone())).await?;
/// assert_eq!(first.up_to_date, 0);
///
/// // Nothing changed: the dry run says so, and the run skips the flow.
/// let ctx = context()?;
/// let plan = ctx.plan(freshness.clone())?;
/// assert_eq!(plan.up_to_date(), 1);
/// let second = ctx.run_with(RunOptions::new().skip_up_to_date(freshness)).await?;
/// assert_eq!(second.up_to_date, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Freshness {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) force: FxHashSet<FlowId>,
    pub(crate) force_all: bool,
    /// Flows the caller knows fail before they start (see [`Freshness::failing`]).
    pub(crate) failing: FxHashSet<FlowId>,
}

impl Freshness {
    /// Up-to-date checks against `ledger` (where completed flows record their digests).
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Freshness {
            ledger,
            force: FxHashSet::default(),
            force_all: false,
            failing: FxHashSet::default(),
        }
    }

    /// Runs `flows` even when they are up to date.
    #[must_use]
    pub fn force(mut self, flows: impl IntoIterator<Item = FlowId>) -> Self {
        self.force.extend(flows);
        self
    }

    /// Runs every flow (and records its digests).
    #[must_use]
    pub fn force_all(mut self) -> Self {
        self.force_all = true;
        self
    }

    /// Tells a plan ([`FlowContext::plan`](crate::FlowContext::plan)) that `flows` will fail
    /// before they start (a caller that checks what a flow needs first, such as a declared
    /// input that is missing). They, and the flows that require them (which are not started),
    /// will not complete: their children are judged with them not completed, as the run will
    /// judge them, rather than listed behind a parent that "will run". A run ignores it: it
    /// judges each flow once its parents have ended.
    #[must_use]
    pub fn failing(mut self, flows: impl IntoIterator<Item = FlowId>) -> Self {
        self.failing.extend(flows);
        self
    }

    pub(crate) fn forced(&self, flow: &FlowId) -> bool {
        self.force_all || self.force.contains(flow)
    }

    /// Whether this rule, not a resume's reuse, decides if `flow` runs: it declares outputs
    /// (its result stands only while they are as it left them) or is forced. A flow without
    /// outputs is reused by a resume as any other.
    pub(crate) fn judges(&self, flow: &crate::Flow) -> bool {
        flow.data().is_some_and(|d| !d.output_paths().is_empty()) || self.forced(&flow.id)
    }
}
