//! The parsed TOML document as the walk reads it: `toml`'s spanned tables, which keep keys in
//! the order they are written and borrow their strings from the file's text, with the few
//! readings the walk needs that the crate leaves to its users.

use std::borrow::Cow;
use std::ops::Range;

pub(super) use toml::de::{DeTable as Table, DeValue as Value};
use toml::Spanned;

/// The spans of the inline tables (`{ ... }`) of `table`, parsed from `text`: `toml` gives a
/// table written with a `[table]` line the span of that line, an inline one that of its braces.
pub(super) fn inline_tables(text: &str, table: &Table<'_>) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut values: Vec<&Item<'_>> = table.values().collect();
    while let Some(item) = values.pop() {
        match item.get_ref() {
            Value::Table(t) => {
                if text.as_bytes().get(item.span().start) == Some(&b'{') {
                    found.push(item.span());
                }
                values.extend(t.values());
            }
            Value::Array(array) => values.extend(array.iter()),
            _ => {}
        }
    }
    found
}

/// A value with where it is written.
pub(super) type Item<'i> = Spanned<Value<'i>>;

/// A key with where it is written.
pub(super) type Key<'i> = Spanned<Cow<'i, str>>;

/// Parses `text`; on a syntax error, its message and where. A number TOML cannot hold (an
/// integer beyond 64 bits, a float beyond `f64`) is one: `toml` leaves that check to its
/// readers.
pub(super) fn parse(text: &str) -> Result<Table<'_>, (String, Option<Range<usize>>)> {
    // `toml` reports a string's errors when it decodes the string, after the structure around
    // it: its first error is not always the first in the file (an unclosed string inside an
    // inline table came out as a missing comma on the next line). The earliest one is.
    let (table, errors) = Table::parse_recoverable(text);
    let first = errors
        .into_iter()
        .min_by_key(|e| e.span().map_or(usize::MAX, |span| span.start));
    if let Some(e) = first {
        let span = e.span();
        // toml says "duplicate key" and points at it: name it.
        let message = match span.clone().and_then(|s| text.get(s)) {
            Some(key) if e.message() == "duplicate key" => format!("duplicate key `{key}`"),
            _ => e.message().to_owned(),
        };
        return Err((message, span));
    }
    let table = table.into_inner();
    let mut values: Vec<&Item<'_>> = table.values().collect();
    while let Some(item) = values.pop() {
        let problem = match item.get_ref() {
            Value::Integer(_) if integer(item.get_ref()).is_none() => {
                "integer outside the range of a 64-bit integer (quote it if it is text)"
            }
            Value::Float(_) if float(item.get_ref()).is_none() => {
                "float larger than a 64-bit float can hold (write `inf` for infinity)"
            }
            Value::Array(array) => {
                values.extend(array.iter());
                continue;
            }
            Value::Table(table) => {
                values.extend(table.values());
                continue;
            }
            _ => continue,
        };
        return Err((problem.to_owned(), Some(item.span())));
    }
    Ok(table)
}

/// `text` with its CRLF line ends made LF, as TOML lets a parser do: a file saved on Windows
/// then means what it means elsewhere, down to the bytes of its multi-line strings (`toml`
/// keeps their `\r`, which a `shell` script would see). An escaped `\r` is not a line end and
/// stays; a file with a `\r` that ends no line is left as it is (TOML refuses it).
pub(super) fn with_lf(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // A `\r` before another `\r` is left for the parser to refuse, as it is written.
    let each_cr_ends_a_line =
        (text.match_indices('\r')).all(|(i, _)| bytes.get(i + 1) == Some(&b'\n'));
    if text.contains("\r\n") && each_cr_ends_a_line {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Where `item` is written.
pub(super) fn span(item: &Item<'_>) -> Option<Range<usize>> {
    Some(item.span())
}

/// Where `key` is written.
pub(super) fn key_span(key: &Key<'_>) -> Option<Range<usize>> {
    Some(key.span())
}

/// The value as an `i64`, when it is an integer that fits.
pub(super) fn integer(value: &Value<'_>) -> Option<i64> {
    let n = value.as_integer()?;
    i64::from_str_radix(n.as_str(), n.radix()).ok()
}

/// The value as an `f64`, when it is a float `f64` holds (`inf` is one, `1e999` is not).
pub(super) fn float(value: &Value<'_>) -> Option<f64> {
    let text = value.as_float()?.as_str();
    let f: f64 = text.parse().ok()?;
    (!f.is_infinite() || text.ends_with("inf")).then_some(f)
}

/// A float as the file writes it, without the `_` TOML allows between digits: `1e-5`, `1.0`,
/// `nan` stay as they are (a template puts in what the user wrote, as a `--set` does).
pub(super) fn float_text(value: &Value<'_>) -> Option<String> {
    Some(value.as_float()?.as_str().replace('_', ""))
}

/// What kind of value `value` is, for messages ("found array").
pub(super) fn type_name(value: &Value<'_>) -> &'static str {
    value.type_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(text: &str) -> Item<'_> {
        let table = parse(text).unwrap();
        let (_, item) = table.into_iter().next().unwrap();
        item
    }

    #[test]
    fn integers_in_every_radix_and_with_underscores() {
        for (text, n) in [
            ("x = 42", Some(42)),
            ("x = -7", Some(-7)),
            ("x = 1_000", Some(1000)),
            ("x = 0x1f", Some(31)),
            ("x = 0o17", Some(15)),
            ("x = 0b101", Some(5)),
            ("x = 9223372036854775807", Some(i64::MAX)),
            ("x = \"3\"", None),
        ] {
            assert_eq!(integer(first(text).get_ref()), n, "{text}");
        }
    }

    #[test]
    fn floats_including_the_special_ones() {
        for (text, f) in [
            ("x = 1.5", 1.5),
            ("x = -2e3", -2000.0),
            ("x = 1_000.5", 1000.5),
            ("x = inf", f64::INFINITY),
            ("x = -inf", f64::NEG_INFINITY),
        ] {
            assert_eq!(float(first(text).get_ref()), Some(f), "{text}");
        }
        assert!(float(first("x = nan").get_ref()).unwrap().is_nan());
    }

    #[test]
    fn numbers_toml_cannot_hold_are_syntax_errors() {
        for (text, problem) in [
            ("x = 9223372036854775808", "integer outside the range"),
            ("x = -9223372036854775809", "integer outside the range"),
            (
                "[a]\nb = [1, { c = 99999999999999999999 }]",
                "integer outside the range",
            ),
            ("x = 1e999", "float larger than"),
        ] {
            let (message, span) = parse(text).unwrap_err();
            assert!(message.starts_with(problem), "{text}: {message}");
            assert!(
                span.is_some_and(|s| text[s].chars().all(|c| c != '=')),
                "{text}"
            );
        }
        assert!(parse("x = -9223372036854775808\ny = inf\nz = -inf\nw = nan").is_ok());
    }

    #[test]
    fn the_first_error_in_the_file_is_the_one_reported() {
        // toml reports the unclosed string after the inline table around it, whose error
        // is on the next line.
        let text = "a = { b = \"x }\n\n[c]\nd = 1\n";
        let (message, span) = parse(text).unwrap_err();
        assert!(message.contains("basic string"), "{message}");
        let line = text[..span.unwrap().start].matches('\n').count() + 1;
        assert_eq!(line, 1, "{message}");
    }

    #[test]
    fn crlf_line_ends_are_lf_in_multi_line_strings() {
        let text = with_lf("a = \"\"\"\r\nx\r\ny\\r\n\"\"\"\r\nb = '''\r\nz\r\n'''\r\n");
        let table = parse(&text).unwrap();
        let value = |key: &str| {
            table
                .get(key)
                .unwrap()
                .get_ref()
                .as_str()
                .unwrap()
                .to_owned()
        };
        // The file's line ends are LF; the escaped `\r` stays.
        assert_eq!(value("a"), "x\ny\r\n");
        assert_eq!(value("b"), "z\n");
        // A `\r` that ends no line stays, and TOML refuses it.
        let stray = "a = \"\"\"\r\nx\r\r\ny\r\n\"\"\"\r\n";
        assert!(matches!(with_lf(stray), Cow::Borrowed(_)));
        assert!(parse(&with_lf(stray)).is_err());
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "[a]\nkey = \"value\"\n";
        let table = parse(text).unwrap();
        let (_, a) = table.iter().next().unwrap();
        let (key, value) = a.get_ref().as_table().unwrap().iter().next().unwrap();
        assert_eq!(&text[key.span()], "key");
        assert_eq!(&text[value.span()], "\"value\"");
    }
}
