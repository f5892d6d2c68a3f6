//! The message for a key a table does not take: the key the writer most likely meant (a typo
//! of it, or the word another tool uses for it, as `depends_on` or `cmd`), else every key the
//! table takes.

use super::check::closest_name;
use super::diagnostic::Collector;
use super::parse::Span;

/// The keys of the top level, `[workflow]`, `[defaults]` and a flow, as "unknown key" messages
/// list them.
pub(super) const TOP_KEYS: &[&str] = &[
    "workflow", "params", "defaults", "flows", "slurm", "include",
];
pub(super) const WORKFLOW_KEYS: &[&str] = &["name", "jobs", "default"];
pub(super) const DEFAULTS_KEYS: &[&str] = &[
    "timeout",
    "retries",
    "retry_delay",
    "env",
    "inputs",
    super::process::KEYS[0],
    super::process::KEYS[1],
];
pub(super) const FLOW_KEYS: &[&str] = &[
    "command",
    "shell",
    "requires",
    "wants",
    "inputs",
    "outputs",
    "timeout",
    "retries",
    "retry_delay",
    "cwd",
    "env",
    "slurm",
    "matrix",
    "manual",
    super::process::KEYS[0],
    super::process::KEYS[1],
];

/// Words other tools (make, just, Dagu, GitHub Actions, Snakemake) use for a key, and the key
/// they mean here.
const ALIASES: &[(&str, &str)] = &[
    ("depends_on", "requires"),
    ("depends", "requires"),
    ("dependencies", "requires"),
    ("deps", "requires"),
    ("needs", "requires"),
    ("after", "requires"),
    ("cmd", "command"),
    ("exec", "command"),
    ("args", "command"),
    ("run", "shell"),
    ("script", "shell"),
    ("dir", "cwd"),
    ("workdir", "cwd"),
    ("working_dir", "cwd"),
    ("working_directory", "cwd"),
    ("environment", "env"),
    ("retry", "retries"),
    ("input", "inputs"),
    ("output", "outputs"),
    ("parallel", "jobs"),
    ("concurrency", "jobs"),
    ("max_parallel", "jobs"),
    ("steps", "flows"),
    ("tasks", "flows"),
    ("targets", "flows"),
    ("rules", "flows"),
];

/// The key of `known` that `key` most likely means: a typo of it, or another tool's word.
pub(super) fn meant<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    if let Some(k) = known.iter().find(|k| **k == lower) {
        return Some(k);
    }
    let alias = ALIASES
        .iter()
        .find(|(word, _)| *word == lower)
        .and_then(|(_, k)| known.iter().find(|known| *known == k));
    alias
        .copied()
        .or_else(|| closest_name(&lower, known.iter().copied()))
}

/// The table(s) `key` is a key of, for a key written in another one: `jobs = 4` below
/// `[flows.a]` (TOML puts it in that table), `command` above every table, or `include`
/// below one.
fn home(key: &str) -> Option<&'static str> {
    if WORKFLOW_KEYS.contains(&key) {
        Some("`[workflow]`")
    } else if DEFAULTS_KEYS.contains(&key) {
        Some("a flow (`[flows.NAME]`) and of `[defaults]`")
    } else if FLOW_KEYS.contains(&key) {
        Some("a flow (`[flows.NAME]`)")
    } else if key == "include" {
        Some("the file's top level (above every `[table]` line)")
    } else {
        None
    }
}

/// Records in `diags` that `key`, written at `key_span` in `place`, is none of the `known`
/// keys, as [`unknown_key`] says it.
pub(super) fn unknown_key_error(
    diags: &mut Collector<'_>,
    key_span: Span,
    key: &str,
    place: &str,
    known: &[&str],
) {
    let inline = diags.in_inline_table(key_span.as_ref());
    diags.error(key_span, unknown_key(key, place, known, inline));
}

/// "unknown key `KEY` in PLACE (did you mean `K`?)", or, with no likely key, the list of
/// `known` keys; `place` is empty for the top level, `inline` says that the key is written in
/// an inline table (`{ ... }`), not below a `[table]` line.
pub(super) fn unknown_key(key: &str, place: &str, known: &[&str], inline: bool) -> String {
    let place = if place.is_empty() {
        String::new()
    } else {
        format!(" in {place}")
    };
    // A key of another table, written as it is, was meant as that key, not as a key of this
    // table a letter away: `default = "all"` above `[workflow]` is not `defaults`.
    let home = home(key);
    let meant = meant(key, known).filter(|k| home.is_none() || k.eq_ignore_ascii_case(key));
    match (meant, home) {
        (Some(k), _) => format!("unknown key `{key}`{place} (did you mean `{k}`?)"),
        (None, Some(home)) if inline => format!(
            "unknown key `{key}`{place}: `{key}` is a key of {home}, not of the `{{ ... }}` \
             it is written in"
        ),
        (None, Some(home)) => format!(
            "unknown key `{key}`{place}: `{key}` is a key of {home}, and a key belongs to the \
             `[table]` line above it"
        ),
        (None, None) => {
            let (last, rest) = known.split_last().map_or(("", &[][..]), |(l, r)| (*l, r));
            let list = if rest.is_empty() {
                format!("`{last}`")
            } else {
                format!("`{}` or `{last}`", rest.join("`, `"))
            };
            format!("unknown key `{key}`{place} (expected {list})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{meant, unknown_key};

    const FLOW: &[&str] = &["command", "shell", "requires", "wants", "cwd", "env"];

    #[test]
    fn a_typo_or_another_tools_word_names_the_key_meant() {
        for (key, expect) in [
            ("requries", Some("requires")),
            ("comand", Some("command")),
            ("Command", Some("command")),
            ("depends_on", Some("requires")),
            ("needs", Some("requires")),
            ("cmd", Some("command")),
            ("script", Some("shell")),
            ("working_dir", Some("cwd")),
            ("colour", None),
            ("jobs", None),
        ] {
            assert_eq!(meant(key, FLOW), expect, "{key}");
        }
        // An alias whose key the table does not take suggests nothing.
        assert_eq!(meant("parallel", FLOW), None);
    }

    #[test]
    fn the_message_names_the_key_meant_else_lists_every_key() {
        assert_eq!(
            unknown_key("requries", "flow `a`", FLOW, false),
            "unknown key `requries` in flow `a` (did you mean `requires`?)"
        );
        assert_eq!(
            unknown_key("nope", "`[x]`", &["a", "b", "c"], false),
            "unknown key `nope` in `[x]` (expected `a`, `b` or `c`)"
        );
        assert_eq!(
            unknown_key("nope", "", &["glob"], false),
            "unknown key `nope` (expected `glob`)"
        );
        // `default` above `[workflow]` is that table's key, not a typo of `defaults`.
        assert_eq!(
            unknown_key("default", "", super::TOP_KEYS, false),
            "unknown key `default`: `default` is a key of `[workflow]`, and a key belongs to the \
             `[table]` line above it"
        );
        // `include` written below a flow's table: a key of the top level.
        assert_eq!(
            unknown_key("include", "flow `b`", super::FLOW_KEYS, false),
            "unknown key `include` in flow `b`: `include` is a key of the file's top level \
             (above every `[table]` line), and a key belongs to the `[table]` line above it"
        );
        // A typo of another table's key still names the key of this table.
        assert_eq!(
            unknown_key("defaults", "`[workflow]`", super::WORKFLOW_KEYS, false),
            "unknown key `defaults` in `[workflow]` (did you mean `default`?)"
        );
    }
}
