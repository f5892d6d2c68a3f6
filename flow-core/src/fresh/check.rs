//! The up-to-date rule for one flow ([`check`]: before it would start) and what a completed
//! flow leaves for the next run ([`seal`]: its outputs must exist; their digests are recorded
//! with its definition, inputs and parents).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use flow_graph::FlowId;
use flow_results::RunId;
use serde_json::Value;

use super::digest::{self, Digest, Files, StatCache};
use super::ledger::{Entries, Entry, EntryFiles};
use super::{Data, Freshness};
use crate::flow::{Flow, Work};
use crate::home;
use crate::CoreError;

/// Why a flow runs (or would run).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// `--force` named it, or `--force-all`.
    Forced,
    /// It declares no outputs: it runs every time.
    NoOutputs,
    /// No completed run of it is recorded.
    NeverCompleted,
    /// This field of its definition changed (`command`, `env`, `cwd`, `inputs`, ...).
    DefinitionChanged {
        /// The field.
        field: String,
    },
    /// This input file changed, appeared or went away.
    InputChanged {
        /// The file, relative to the flow's base folder.
        file: String,
    },
    /// This declared output is not there.
    OutputMissing {
        /// The output as declared.
        file: String,
    },
    /// This output file is not what the flow wrote.
    OutputChanged {
        /// The file, relative to the flow's base folder.
        file: String,
    },
    /// This parent will run first (a dry run cannot know what it will write).
    ParentWillRun {
        /// The parent.
        parent: FlowId,
    },
    /// This parent will run, and it did not complete in the resumed run, or when the flow
    /// last ran: the flow runs if the parent completes this time, and is reused (from the
    /// resumed run, or as up to date) if it does not.
    ParentMayComplete {
        /// The parent.
        parent: FlowId,
    },
    /// Under `--resume`: it did not complete in the resumed run.
    NotCompletedIn {
        /// The resumed run.
        run: RunId,
    },
    /// As [`Reason::NotCompletedIn`], for a flow that never started in that run (cancelled
    /// before it started, or a flow it requires failed): it was not run there.
    NotStartedIn {
        /// The run.
        run: RunId,
    },
    /// Under `--resume`: its definition changed since the resumed run (and no parent of it
    /// runs).
    ChangedSince {
        /// The resumed run.
        run: RunId,
    },
    /// This parent's outputs or outcome differ from when the flow last ran.
    ParentChanged {
        /// The parent.
        parent: String,
    },
    /// This flow, a parent when it last ran, is no parent now (removed from the workflow,
    /// or from its `requires`).
    ParentGone {
        /// The former parent.
        parent: String,
    },
    /// This flow, a parent when it last ran, is no parent now, but the flow still reads a
    /// file it wrote (a sample deleted whose output a glob input still matches): the run
    /// warns.
    GoneParentsOutputRead {
        /// Each former parent with a file it wrote that the flow reads (relative to the
        /// flow's base folder); at least one.
        read: Vec<(String, String)>,
    },
    /// A file could not be read.
    Unreadable {
        /// What failed.
        message: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Forced => f.write_str("forced"),
            Reason::NoOutputs => f.write_str("no declared outputs (runs every time)"),
            Reason::NeverCompleted => f.write_str("never completed"),
            Reason::DefinitionChanged { field } => write!(f, "definition changed ({field})"),
            Reason::InputChanged { file } => write!(f, "input changed ({file})"),
            Reason::OutputMissing { file } => write!(f, "output missing ({file})"),
            Reason::OutputChanged { file } => write!(f, "output changed ({file})"),
            Reason::ParentWillRun { parent } => write!(f, "parent `{parent}` will run"),
            Reason::ParentMayComplete { parent } => write!(
                f,
                "parent `{parent}` will run (if it fails again, this flow is reused instead)"
            ),
            Reason::NotCompletedIn { run } => write!(f, "did not complete in run {run}"),
            Reason::NotStartedIn { run } => write!(f, "not run in run {run} (it never started)"),
            Reason::ChangedSince { run } => write!(f, "definition changed since run {run}"),
            Reason::ParentChanged { parent } => write!(f, "parent `{parent}` changed"),
            Reason::ParentGone { parent } => write!(f, "`{parent}` is no longer a parent"),
            Reason::GoneParentsOutputRead { read } => match read.as_slice() {
                [(parent, file)] => write!(
                    f,
                    "`{parent}` is no longer a parent, but this flow still reads `{file}`, \
                     which it wrote (delete the file if it should not be read)"
                ),
                _ => write!(
                    f,
                    "flows that are no longer parents wrote files this flow still reads: {} \
                     (delete them if they should not be read)",
                    super::gone::listed(read)
                ),
            },
            Reason::Unreadable { message } => write!(f, "cannot read a file: {message}"),
        }
    }
}

/// Whether a flow runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It is up to date: `run_id` produced its outputs.
    UpToDate {
        /// The run.
        run_id: RunId,
    },
    /// It runs, for this reason.
    Run(Reason),
}

/// What a run knows of the ledger: every entry, the stat cache, and the options.
#[derive(Debug)]
pub(crate) struct Known {
    pub(crate) entries: Entries,
    pub(crate) cache: StatCache,
    pub(crate) freshness: Freshness,
}

impl Known {
    /// Reads the ledger (blocks).
    pub(crate) fn load(freshness: Freshness) -> Result<Self, CoreError> {
        let (entries, stats) = freshness.ledger.load()?;
        Ok(Known {
            entries,
            cache: StatCache::new(stats),
            freshness,
        })
    }

    /// Saves the stat cache entries made since the last save (blocks).
    pub(crate) fn save_stats(&self) -> Result<(), CoreError> {
        self.freshness.ledger.save_stats(&self.cache.take_changed())
    }
}

/// A parent without declared outputs that completed, as its children record it (one with
/// outputs is recorded as the digest of its outputs).
pub(crate) const COMPLETED: &str = "completed";
/// A parent that did not complete.
pub(crate) const NOT_COMPLETED: &str = "not completed";

/// A completed parent without declared outputs, as its children record it: [`COMPLETED`], with
/// the digest of the value it returned when its children get one that says more than that it
/// completed (not `null`, and not a command's, which only says that it exited 0).
pub(crate) fn completed_token(parent: &Flow, value: Option<&Value>) -> String {
    match value {
        Some(value) if !value.is_null() && gives_a_value(parent) => {
            let text = serde_json::to_vec(value).unwrap_or_default();
            format!("{COMPLETED} {}", blake3::hash(&text).to_hex())
        }
        _ => COMPLETED.to_owned(),
    }
}

/// Whether what `flow` returns can differ from one run to the next while it completes: all
/// but a command, whose value is its exit code 0.
pub(crate) fn gives_a_value(flow: &Flow) -> bool {
    !matches!(flow.work, Work::Command(_))
}

/// Hands each field of the definition of `flow` to `field` with its digest: what it runs,
/// in which environment and folder, with what input, and its declared files; not its
/// timeout, retries or where it runs, which do not change what it computes, nor the path of
/// its home (see [`home`]).
fn each_field(flow: &Flow, data: &Data, mut field: impl FnMut(&str, Digest)) {
    // Each value is written whole, then hashed (one call rather than one per JSON token).
    let json = |value: &dyn erased::Json| {
        let mut text = Vec::new();
        value.write_to(&mut text);
        blake3::hash(&text)
    };
    match &flow.work {
        Work::Command(spec) => {
            field("command", json(&spec.program));
            // The home's own path is left out: a moved project stays up to date.
            let home = flow.home().unwrap_or(&data.base);
            field("env", json(&home::env(&spec.env, home)));
            field("cwd", json(&home::cwd(spec.cwd.as_deref(), home)));
        }
        Work::Task(name) => field("task", blake3::hash(name.as_bytes())),
        Work::Async(_) => field("kind", blake3::hash(b"async")),
        Work::Blocking(_) => field("kind", blake3::hash(b"blocking")),
    }
    field("input", json(&*flow.input));
    field("version", json(&flow.version()));
    field("inputs", json(&data.input_paths()));
    field("outputs", json(&data.output_paths()));
}

/// The definition of `flow` field by field, each with its digest (hex).
pub(crate) fn definition_fields(flow: &Flow, data: &Data) -> Vec<(String, String)> {
    let mut fields = Vec::with_capacity(7);
    each_field(flow, data, |name, digest| {
        fields.push((name.to_owned(), digest.to_hex().to_string()));
    });
    fields
}

/// One digest of the definition's fields (of each name with its digest in hex).
fn definition_digest(flow: &Flow, data: &Data) -> Digest {
    let mut text = Vec::with_capacity(8 * 80);
    each_field(flow, data, |name, digest| {
        text.extend_from_slice(name.as_bytes());
        text.push(b'=');
        text.extend_from_slice(digest.to_hex().as_bytes());
        text.push(b';');
    });
    blake3::hash(&text)
}

mod erased {
    /// A value written as JSON to hash it.
    pub(super) trait Json {
        fn write_to(&self, out: &mut Vec<u8>);
    }
    impl<T: serde::Serialize + ?Sized> Json for T {
        fn write_to(&self, out: &mut Vec<u8>) {
            // Writing to memory cannot fail; a value that cannot be written hashes as what
            // was written of it.
            let _ = serde_json::to_writer(out, self);
        }
    }
}

/// The outcome of [`check`]: the verdict, the entry it stands on, and the inputs as read now
/// (recorded if the flow runs and completes).
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) verdict: Verdict,
    pub(crate) entry: Option<Arc<Entry>>,
    pub(crate) inputs: Option<Files>,
}

/// The files of a flow as they are now: its inputs and outputs, read (the part of a check
/// that reads files; it does not depend on the parents, so a run reads every flow's at once).
#[derive(Debug)]
pub(crate) struct Observed {
    /// The digest of the definition's fields.
    definition: Digest,
    /// The files, or `None` when their stats are as recorded (so are the files, by the rule
    /// of the stat cache).
    files: Option<ReadFiles>,
}

/// A flow's inputs and outputs, each with the digest of them all (hex), or what failed.
#[derive(Debug)]
struct ReadFiles {
    inputs: Result<(Files, String), String>,
    outputs: Result<(Files, String), String>,
}

/// Reads the files of `flow` if its check needs them: it has declared outputs, an entry, and
/// is not forced. Files whose stats are as the entry recorded are not looked up or read.
pub(crate) fn observe(flow: &Flow, data: &Data, known: &Known) -> Option<Observed> {
    let entry = known.entries.get(flow.id.as_str())?;
    if known.freshness.forced(&flow.id) || data.outputs.is_empty() {
        return None;
    }
    let as_recorded = |paths: &[String], recorded: &str| {
        !recorded.is_empty()
            && digest::stats(&data.base, paths).is_ok_and(|d| d.to_hex().as_str() == recorded)
    };
    let read = |paths: &[String]| {
        digest::files(&data.base, paths, &known.cache)
            .map(|files| {
                let hex = files.digest().to_hex().to_string();
                (files, hex)
            })
            .map_err(|e| e.to_string())
    };
    let unchanged = as_recorded(&data.inputs, &entry.input_stats)
        && as_recorded(&data.outputs, &entry.output_stats);
    Some(Observed {
        definition: definition_digest(flow, data),
        files: (!unchanged).then(|| ReadFiles {
            inputs: read(&data.inputs),
            outputs: read(&data.outputs),
        }),
    })
}

impl Checked {
    /// The flow runs, for `reason`.
    pub(crate) fn run(reason: Reason) -> Self {
        Checked::run_with(reason, None)
    }

    /// The flow runs, for `reason`, with its inputs as the check read them (recorded if it
    /// completes, so they are not read again before it starts).
    fn run_with(reason: Reason, inputs: Option<Files>) -> Self {
        Checked {
            verdict: Verdict::Run(reason),
            entry: None,
            inputs,
        }
    }
}

/// Whether `flow` (declaring `data`, whose parents are now in the states `parents`) is up to
/// date. Blocks: reads the files whose stats changed.
pub(crate) fn check(
    flow: &Flow,
    data: &Data,
    parents: &[(String, String)],
    known: &Known,
) -> Checked {
    let observed = observe(flow, data, known);
    judge(flow, data, parents, known, observed)
}

/// [`check`] on files already read (`observed`, from [`observe`]).
pub(crate) fn judge(
    flow: &Flow,
    data: &Data,
    parents: &[(String, String)],
    known: &Known,
    observed: Option<Observed>,
) -> Checked {
    let run = Checked::run;
    if known.freshness.forced(&flow.id) {
        return run(Reason::Forced);
    }
    if data.outputs.is_empty() {
        return run(Reason::NoOutputs);
    }
    let (Some(entry), Some(observed)) = (known.entries.get(flow.id.as_str()), observed) else {
        return run(Reason::NeverCompleted);
    };
    if observed.definition.to_hex().as_str() != entry.definition {
        // Which field: from the entry's files, read only now.
        let recorded = (known.freshness.ledger.files(flow.id.as_str()))
            .map(|f| f.definition)
            .unwrap_or_default();
        let field = (definition_fields(flow, data).into_iter())
            .find(|f| !recorded.contains(f))
            .map_or_else(|| "fields".to_owned(), |(field, _)| field);
        let inputs = (observed.files).and_then(|f| f.inputs.ok().map(|(now, _)| now));
        return Checked::run_with(Reason::DefinitionChanged { field }, inputs);
    }
    let mut inputs = None;
    if let Some(files) = observed.files {
        let (now, hex) = match files.inputs {
            Ok(inputs) => inputs,
            Err(message) => return run(Reason::Unreadable { message }),
        };
        // A former parent's output still read says more than any change of the files, as a
        // sample deleted together with another one added.
        if let Some(reason) = super::gone::reason(known, flow, &entry.parents, parents, Some(&now))
        {
            return Checked::run_with(reason, Some(now));
        }
        if hex != entry.inputs {
            let file = changed(known, flow, &now, &|f| &f.inputs);
            return Checked::run_with(Reason::InputChanged { file }, Some(now));
        }
        let (outputs, hex) = match files.outputs {
            Ok(outputs) => outputs,
            Err(message) => return Checked::run_with(Reason::Unreadable { message }, Some(now)),
        };
        if let Some(file) = outputs.missing.first() {
            let reason = Reason::OutputMissing { file: file.clone() };
            return Checked::run_with(reason, Some(now));
        }
        if hex != entry.outputs {
            let file = changed(known, flow, &outputs, &|f| &f.outputs);
            // A file gone from a folder output is missing, not changed.
            let reason = match outputs.digests.contains_key(&file) {
                true => Reason::OutputChanged { file },
                false => Reason::OutputMissing { file },
            };
            return Checked::run_with(reason, Some(now));
        }
        inputs = Some(now);
    }
    if entry.parents != parents {
        let is_parent = |id: &str| parents.iter().any(|(p, _)| p == id);
        // A former parent's output still read says more than any other change of parents.
        if let Some(reason) =
            super::gone::reason(known, flow, &entry.parents, parents, inputs.as_ref())
        {
            return Checked::run_with(reason, inputs);
        }
        let reason = match parents.iter().find(|p| !entry.parents.contains(p)) {
            Some((parent, _)) => Reason::ParentChanged {
                parent: parent.clone(),
            },
            // A matrix flow of a sample deleted, or a `requires` taken out.
            None => Reason::ParentGone {
                parent: (entry.parents.iter())
                    .find(|(p, _)| !is_parent(p))
                    .map_or_else(String::new, |(id, _)| id.clone()),
            },
        };
        return Checked::run_with(reason, inputs);
    }
    Checked {
        verdict: Verdict::UpToDate {
            run_id: entry.run_id.clone(),
        },
        entry: Some(entry.clone()),
        inputs,
    }
}

/// The inputs of a flow about to start, read now; `None` when they cannot be read (then
/// [`seal`] reads them once the flow completed, and fails it if they still cannot be).
pub(crate) fn read_inputs(data: &Data, known: &Known) -> Option<Files> {
    digest::files(&data.base, &data.inputs, &known.cache).ok()
}

/// The file of `now` (a flow's inputs or outputs) that is not as its entry's files
/// (`recorded` of them) have it.
fn changed(
    known: &Known,
    flow: &Flow,
    now: &Files,
    recorded: &dyn Fn(&EntryFiles) -> &std::collections::BTreeMap<String, String>,
) -> String {
    let files = known
        .freshness
        .ledger
        .files(flow.id.as_str())
        .unwrap_or_default();
    let recorded = recorded(&files);
    let now_hex: std::collections::BTreeMap<&str, String> = (now.digests.iter())
        .map(|(p, d)| (p.as_str(), d.to_hex().to_string()))
        .collect();
    now_hex
        .iter()
        .find(|(p, d)| recorded.get(**p) != Some(*d))
        .map(|(p, _)| (*p).to_owned())
        .or_else(|| {
            recorded
                .keys()
                .find(|p| !now_hex.contains_key(p.as_str()))
                .cloned()
        })
        .or_else(|| now.missing.first().cloned())
        .unwrap_or_else(|| "?".into())
}

/// For an output missing from the workflow's folder that the command's own working
/// directory holds: [`Data::found_in_cwd`]'s hint, in brackets; else nothing.
fn in_cwd(flow: &Flow, data: &Data, output: &str) -> String {
    let Work::Command(spec) = &flow.work else {
        return String::new();
    };
    (spec.cwd.as_deref())
        .and_then(|cwd| Data::found_in_cwd(&data.base, cwd, output))
        .map(|hint| format!(" ({hint})"))
        .unwrap_or_default()
}

/// What a completed attempt leaves for [`seal`].
#[derive(Debug)]
pub(crate) struct Sealed {
    pub(crate) run_id: RunId,
    pub(crate) exit_code: Option<i32>,
    pub(crate) attempts: u32,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) output: Value,
    pub(crate) parents: Vec<(String, String)>,
    /// The inputs as read before the flow ran, if they were.
    pub(crate) inputs: Option<Files>,
}

/// After `flow` completed: every declared output must exist (else the message of its
/// failure); with a ledger, its digests are recorded, and the digest of its outputs returned.
pub(crate) fn seal(
    flow: &Flow,
    data: &Data,
    known: Option<&Known>,
    sealed: Sealed,
) -> Result<Option<Digest>, String> {
    for output in data.outputs.iter() {
        // Through symbolic links: a link to nothing is not an output.
        if std::fs::metadata(data.base.join(output)).is_err() {
            // `out/` declares a folder: a file there is another mistake than no file.
            let file = (output.strip_suffix('/'))
                .and_then(|path| std::fs::metadata(data.base.join(path)).ok())
                .is_some_and(|m| !m.is_dir());
            return Err(match file {
                true => format!("declared output `{output}` is a file, not a folder"),
                false => match Data::unexpanded(output) {
                    Some(hint) => format!("declared output `{output}` was not written ({hint})"),
                    None => format!(
                        "declared output `{output}` was not written{}",
                        in_cwd(flow, data, output)
                    ),
                },
            });
        }
    }
    let Some(known) = known else {
        return Ok(None);
    };
    let cache_ref = &known.cache;
    let outputs = digest::files(&data.base, &data.outputs, cache_ref)
        .map_err(|e| format!("cannot read the declared outputs: {e}"))?;
    let digest = outputs.digest();
    let inputs = match sealed.inputs {
        Some(inputs) => inputs,
        None => digest::files(&data.base, &data.inputs, cache_ref)
            .map_err(|e| format!("cannot read the declared inputs: {e}"))?,
    };
    let hexes = |files: &Files| {
        (files.digests.iter())
            .map(|(p, d)| (p.clone(), d.to_hex().to_string()))
            .collect()
    };
    let fields = definition_fields(flow, data);
    let definition = definition_digest(flow, data).to_hex().to_string();
    let files = EntryFiles {
        definition: fields,
        inputs: hexes(&inputs),
        outputs: hexes(&outputs),
    };
    let entry = Entry {
        run_id: sealed.run_id,
        exit_code: sealed.exit_code,
        attempts: sealed.attempts,
        started_at: sealed.started_at,
        finished_at: Some(Utc::now()),
        output: sealed.output,
        definition,
        inputs: inputs.digest().to_hex().to_string(),
        outputs: digest.to_hex().to_string(),
        input_stats: inputs.stats.to_hex().to_string(),
        output_stats: outputs.stats.to_hex().to_string(),
        parents: sealed.parents,
    };
    if let Err(e) = known
        .freshness
        .ledger
        .record(flow.id.as_str(), &entry, &files)
    {
        // The flow completed; only its next run is not skipped.
        tracing::warn!(flow = %flow.id, error = %e, "cannot record the flow's digests");
    }
    Ok(Some(digest))
}
