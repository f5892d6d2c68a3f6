//! The Slurm parts of a workflow file: the `[slurm]` table (partition, account, qos, extra
//! `sbatch` arguments for every job) and a flow's `slurm = { cpus, mem, partition, extra }`,
//! with unknown keys and wrong types reported like everywhere else in the file.

use std::ops::Range;

use super::diagnostic::Collector;
use super::doc::{self, Table, Value};
use super::keys::unknown_key_error;
use super::template::not_filled_in;
use flow_pool::SlurmResources;

type Span = Option<Range<usize>>;

/// The `[slurm]` table: options for every job of the workflow under `--executor slurm`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmTable {
    /// `partition`: the partition of every job, unless a flow names its own.
    pub partition: Option<String>,
    /// `account`: the account charged.
    pub account: Option<String>,
    /// `qos`: the quality of service.
    pub qos: Option<String>,
    /// `extra`: more `sbatch` arguments for every job.
    pub extra: Vec<String>,
}

/// Whether `text`, the value of `what` written at `span`, holds no `{name}`: Slurm values are
/// taken as written, so one would reach `sbatch` with its braces (reported).
fn literal(text: &str, what: &str, span: Span, diags: &mut Collector<'_>) -> bool {
    let Some(problem) = not_filled_in(what, text) else {
        return true;
    };
    diags.error(span, format!("{problem}: write the value itself"));
    false
}

/// A non-empty string, or an error.
fn text(item: &Value<'_>, what: &str, span: Span, diags: &mut Collector<'_>) -> Option<String> {
    match item.as_str() {
        Some(s) if !s.trim().is_empty() => literal(s, what, span, diags).then(|| s.to_owned()),
        Some(_) => {
            diags.error(span, format!("`{what}` must not be empty"));
            None
        }
        None => {
            diags.error(
                span,
                format!("`{what}` must be a string, found {}", doc::type_name(item)),
            );
            None
        }
    }
}

/// An array of strings (`sbatch` arguments), or an error.
fn args(item: &Value<'_>, what: &str, span: Span, diags: &mut Collector<'_>) -> Vec<String> {
    let Some(array) = item.as_array() else {
        diags.error(
            span,
            format!(
                "`{what}` must be an array of sbatch arguments such as [\"--exclusive\"], found {}",
                doc::type_name(item)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(array.len());
    for value in array.iter() {
        match value.get_ref().as_str() {
            Some(arg) if arg.starts_with('-') => {
                if let Some((option, why)) = super::slurm_extra::refused(arg) {
                    diags.error(
                        doc::span(value),
                        format!("`{what}` holds \"{arg}\": flow refuses {option}: {why}"),
                    );
                } else if literal(arg, what, doc::span(value), diags) {
                    out.push(arg.to_owned());
                }
            }
            Some(arg) => diags.error(
                doc::span(value),
                format!(
                    "`{what}` holds \"{arg}\", which is not an option: write e.g. \"--gres=gpu:1\""
                ),
            ),
            None => diags.error(
                doc::span(value),
                format!(
                    "`{what}` must hold only strings, found {}",
                    doc::type_name(value.get_ref())
                ),
            ),
        }
    }
    out
}

/// Parses the `[slurm]` table.
pub(super) fn parse_table(table: &Table<'_>, diags: &mut Collector<'_>) -> SlurmTable {
    let mut out = SlurmTable::default();
    for (key, item) in table.iter() {
        let span = doc::span(item);
        let (key, key_span) = (key.get_ref().as_ref(), doc::key_span(key));
        let item = item.get_ref();
        let what = format!("slurm.{key}");
        match key {
            "partition" => out.partition = text(item, &what, span, diags),
            "account" => out.account = text(item, &what, span, diags),
            "qos" => out.qos = text(item, &what, span, diags),
            "extra" => out.extra = args(item, &what, span, diags),
            _ => unknown_key_error(
                diags,
                key_span,
                key,
                "`[slurm]`",
                &["partition", "account", "qos", "extra"],
            ),
        }
    }
    out
}

/// Parses a flow's `slurm = { ... }`; `what` is `flows.NAME.slurm`.
pub(super) fn parse_flow(
    item: &Value<'_>,
    what: &str,
    span: Span,
    diags: &mut Collector<'_>,
) -> Option<SlurmResources> {
    let Some(table) = item.as_table() else {
        diags.error(
            span,
            format!(
                "`{what}` must be a table such as {{ cpus = 2, mem = \"4G\" }}, found {}",
                doc::type_name(item)
            ),
        );
        return None;
    };
    let mut out = SlurmResources::default();
    for (key, item) in table.iter() {
        let span = doc::span(item);
        let (key, key_span) = (key.get_ref().as_ref(), doc::key_span(key));
        let item = item.get_ref();
        let field = format!("{what}.{key}");
        match key {
            "cpus" => match doc::integer(item) {
                Some(n) if n >= 1 => out.cpus = u32::try_from(n).ok(),
                Some(n) => diags.error(span, format!("`{field}` must be at least 1, found {n}")),
                None => diags.error(
                    span,
                    format!(
                        "`{field}` must be an integer, found {}",
                        doc::type_name(item)
                    ),
                ),
            },
            "mem" => out.mem = memory(item, &field, span, diags),
            "partition" => out.partition = text(item, &field, span, diags),
            "extra" => out.extra = args(item, &field, span, diags),
            _ => unknown_key_error(
                diags,
                key_span,
                key,
                &format!("`{what}`"),
                &["cpus", "mem", "partition", "extra"],
            ),
        }
    }
    Some(out)
}

/// A memory size in Slurm's syntax: digits and an optional unit K, M, G or T.
fn memory(item: &Value<'_>, what: &str, span: Span, diags: &mut Collector<'_>) -> Option<String> {
    let text = match (item.as_str(), doc::integer(item)) {
        (Some(s), _) if !literal(s, what, span.clone(), diags) => return None,
        (Some(s), _) => s.trim().to_owned(),
        (None, Some(n)) => n.to_string(),
        _ => {
            diags.error(
                span,
                format!(
                    "`{what}` must be a size such as \"4G\" or \"500M\", found {}",
                    doc::type_name(item)
                ),
            );
            return None;
        }
    };
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let unit_len = text.len() - digits.len();
    if digits.is_empty() || unit_len > 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        diags.error(
            span,
            format!("invalid size \"{text}\" for `{what}`: write e.g. \"4G\", \"500M\" or \"1T\""),
        );
        return None;
    }
    // Slurm counts memory in MiB, in 64 bits.
    let per_mib: u64 = match text[digits.len()..].to_ascii_uppercase().as_str() {
        "T" => 1024 * 1024,
        "G" => 1024,
        _ => 1,
    };
    if digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per_mib))
        .is_none()
    {
        diags.error(
            span,
            format!("size \"{text}\" for `{what}` is larger than Slurm can count"),
        );
        return None;
    }
    Some(text.to_uppercase())
}

#[cfg(test)]
mod tests {
    use crate::workflow::test_support::load_str;

    #[test]
    fn a_size_slurm_cannot_count_is_refused_at_its_line() {
        for (mem, ok) in [("4G", true), ("16383T", true), ("17592186044416T", false)] {
            let text = format!("[flows.a]\ncommand = [\"true\"]\nslurm = {{ mem = \"{mem}\" }}\n");
            match load_str(&text) {
                Ok(_) => assert!(ok, "{mem} passed"),
                Err(got) => {
                    assert!(!ok, "{mem}: {got}");
                    assert!(got.contains("w.toml:3:17: size"), "{got}");
                    assert!(got.contains("is larger than Slurm can count"), "{got}");
                }
            }
        }
    }

    #[test]
    fn the_slurm_table_and_flow_resources_load() {
        let w = load_str(
            r#"
[slurm]
partition = "short"
account = "lab"
qos = "normal"
extra = ["--exclusive"]

[flows.align]
command = ["bwa", "mem"]
slurm = { cpus = 4, mem = "16g", partition = "long", extra = ["--gres=gpu:1"] }

[flows.plain]
command = ["true"]
"#,
        )
        .unwrap();
        assert_eq!(w.slurm.partition.as_deref(), Some("short"));
        assert_eq!(w.slurm.account.as_deref(), Some("lab"));
        assert_eq!(w.slurm.qos.as_deref(), Some("normal"));
        assert_eq!(w.slurm.extra, ["--exclusive"]);
        let align = w.flows[0].slurm.as_ref().unwrap();
        assert_eq!(align.cpus, Some(4));
        assert_eq!(align.mem.as_deref(), Some("16G"));
        assert_eq!(align.partition.as_deref(), Some("long"));
        assert_eq!(align.extra, ["--gres=gpu:1"]);
        assert_eq!(w.flows[1].slurm, None);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported_where_they_are() {
        let got = load_str(
            r#"[slurm]
partition = "short"
nodes = 2
extra = "--exclusive"

[flows.a]
command = ["true"]
slurm = { cpus = 0, mem = "lots", gpus = 1, extra = ["gpu"] }
"#,
        )
        .unwrap_err();
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.len(), 6, "{got}");
        assert!(
            lines[0].starts_with("w.toml:3:1: unknown key `nodes` in `[slurm]`"),
            "{got}"
        );
        assert!(
            lines[1].starts_with("w.toml:4:9: `slurm.extra` must be an array"),
            "{got}"
        );
        assert!(
            lines[2].contains("`flows.a.slurm.cpus` must be at least 1"),
            "{got}"
        );
        assert!(lines[3].contains("invalid size \"lots\""), "{got}");
        assert!(
            lines[4].contains("unknown key `gpus` in `flows.a.slurm`"),
            "{got}"
        );
        assert!(
            lines[5].contains("\"gpu\", which is not an option"),
            "{got}"
        );
        let not_a_table = load_str("[flows.a]\ncommand = [\"true\"]\nslurm = 4\n").unwrap_err();
        assert!(
            not_a_table.contains("`flows.a.slurm` must be a table"),
            "{not_a_table}"
        );
    }
}
