//! Diagnostics of a workflow file: a message at a line and column, printed as
//! `FILE:LINE:COL: message`, and the line index that turns byte offsets into positions (also
//! inside a TOML string, through its escapes). A workflow and the files it includes are one
//! set of sources; each diagnostic names its own file.

use std::fmt;
use std::ops::Range;
use std::rc::Rc;

/// One problem found in a workflow file, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in: the workflow file or one it includes.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong, written for the person editing the file.
    pub message: String,
    /// The definition (`[flows.NAME]`) the problem is written in, if any.
    pub flow: Option<String>,
}

/// Every problem found in one workflow file, in the order of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// The file as the user named it.
    pub file: String,
    /// The problems, sorted by position.
    pub items: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{}:{}: {}", d.file, d.line, d.col, d.message)?;
        }
        Ok(())
    }
}

/// A source text: the workflow file, borrowed, or an included file, shared with its parser.
#[derive(Debug)]
enum Text<'a> {
    Borrowed(&'a str),
    Shared(Rc<str>),
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Borrowed(text) => text,
            Text::Shared(text) => text,
        }
    }
}

/// Turns byte offsets of a text into 1-based line and column numbers.
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: Text<'a>,
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `text`.
    pub fn new(text: &'a str) -> Self {
        Self::of(Text::Borrowed(text))
    }

    fn of(text: Text<'a>) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The 1-based line and character column of byte `offset` (clamped to the text).
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line(offset);
        let col = self.text[self.starts[line - 1]..offset].chars().count() + 1;
        (line, col)
    }

    /// The 1-based line of byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

/// Which source a diagnostic is in: 0 is the workflow file, then included files in the order
/// they were read.
pub type SourceId = usize;

/// Collects diagnostics while a file (and the files it includes) is checked.
#[derive(Debug)]
pub struct Collector<'a> {
    /// The sources with their names; the workflow file's name is given to [`Self::finish`].
    sources: Vec<(String, LineIndex<'a>)>,
    /// The source that [`Self::error`] points into.
    current: SourceId,
    items: Vec<(SourceId, usize, Diagnostic)>,
    /// Where inline tables (`{ ... }`) are written, by source: a key in one belongs to its
    /// braces, not to the `[table]` line above it.
    inline_tables: Vec<(SourceId, Range<usize>)>,
    /// Where each definition (`[flows.NAME]`) is written, by source, with its name.
    definitions: Vec<(SourceId, Range<usize>, String)>,
}

impl<'a> Collector<'a> {
    /// A collector for the workflow file `text`.
    pub fn new(text: &'a str) -> Self {
        Collector {
            sources: vec![(String::new(), LineIndex::new(text))],
            current: 0,
            items: Vec::new(),
            inline_tables: Vec::new(),
            definitions: Vec::new(),
        }
    }

    /// Adds an included file, named `name` in diagnostics, and returns its id.
    pub fn add_source(&mut self, name: String, text: Rc<str>) -> SourceId {
        self.sources.push((name, LineIndex::of(Text::Shared(text))));
        self.sources.len() - 1
    }

    /// Names the workflow file (as [`Self::place`] prints it).
    pub fn name_workflow_file(&mut self, name: &str) {
        name.clone_into(&mut self.sources[0].0);
    }

    /// `FILE:LINE:COL` of the start of `span` in `source`, to name another place in a message.
    pub fn place(&self, source: SourceId, span: Option<&Range<usize>>) -> String {
        let (line, col) = self.position(source, span);
        format!("{}:{line}:{col}", self.sources[source].0)
    }

    /// The names of the sources in diagnostics, by [`SourceId`] (the workflow file's, once
    /// [`Self::name_workflow_file`] gave it).
    pub fn source_names(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|(name, _)| name.as_str())
    }

    /// The 1-based line of the start of `span` in `source`.
    pub fn line(&self, source: SourceId, span: Option<&Range<usize>>) -> u32 {
        let line = self.sources[source].1.line(span.map_or(0, |s| s.start));
        u32::try_from(line).unwrap_or(u32::MAX)
    }

    /// Notes the inline tables of the current source, for [`Self::in_inline_table`].
    pub fn note_inline_tables(&mut self, spans: impl IntoIterator<Item = Range<usize>>) {
        let current = self.current;
        (self.inline_tables).extend(spans.into_iter().map(|span| (current, span)));
    }

    /// Notes that the definition `name` is written at `span` of `source` (its name to its
    /// last value): the problems found there name it.
    pub fn note_definition(&mut self, source: SourceId, name: &str, span: Range<usize>) {
        (self.definitions).push((source, span, name.to_owned()));
    }

    /// Whether `span` of the current source is inside an inline table (`{ ... }`).
    pub fn in_inline_table(&self, span: Option<&Range<usize>>) -> bool {
        span.is_some_and(|span| {
            (self.inline_tables.iter())
                .any(|(source, t)| *source == self.current && t.contains(&span.start))
        })
    }

    /// Makes [`Self::error`] point into `source`; returns the source it pointed into before.
    pub fn set_current(&mut self, source: SourceId) -> SourceId {
        std::mem::replace(&mut self.current, source)
    }

    /// The 1-based line and column of the start of `span` in `source`.
    pub fn position(&self, source: SourceId, span: Option<&Range<usize>>) -> (usize, usize) {
        self.sources[source].1.position(span.map_or(0, |s| s.start))
    }

    /// Records `message` at the start of `span` in the current source, or at the start of the
    /// file without one.
    pub fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.error_at(self.current, span.map_or(0, |s| s.start), message);
    }

    /// Records `message` at byte `offset` of `source`.
    pub fn error_at(&mut self, source: SourceId, offset: usize, message: impl Into<String>) {
        let (line, col) = self.sources[source].1.position(offset);
        let diagnostic = Diagnostic {
            file: String::new(),
            line,
            col,
            message: message.into(),
            flow: None,
        };
        self.items.push((source, offset, diagnostic));
    }

    /// Records `message` at byte `offset` of the *value* of the TOML string written at `span`
    /// in `source` (the offset is in the string as read, after its escapes).
    pub fn error_in_string(
        &mut self,
        source: SourceId,
        span: Option<&Range<usize>>,
        offset: usize,
        message: impl Into<String>,
    ) {
        let at = match span {
            Some(span) => {
                let text = &*self.sources[source].1.text;
                let raw = text.get(span.clone()).unwrap_or("");
                span.start + raw_offset(raw, offset)
            }
            None => 0,
        };
        self.error_at(source, at, message);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The diagnostics sorted by file, then position (stable, so same-position ones keep their
    /// order); `file` names the workflow file.
    pub fn finish(mut self, file: &str) -> Diagnostics {
        self.items
            .sort_by_key(|(source, offset, _)| (*source, *offset));
        let sources = self.sources;
        let definitions = self.definitions;
        let flow_at = |source: SourceId, offset: usize| {
            // The innermost: with dotted keys (`a.shell`, `b.shell`, `a.wants`), a
            // definition's keys may surround another's.
            (definitions.iter())
                .filter(|(s, span, _)| *s == source && (span.start..=span.end).contains(&offset))
                .min_by_key(|(_, span, _)| span.end - span.start)
                .map(|(_, _, name)| name.clone())
        };
        Diagnostics {
            file: file.to_owned(),
            items: self
                .items
                .into_iter()
                .map(|(source, offset, mut d)| {
                    d.flow = flow_at(source, offset);
                    d.file = match source {
                        0 => file.to_owned(),
                        _ => sources[source].0.clone(),
                    };
                    d
                })
                .collect(),
        }
    }
}

/// The byte offset in `raw`, a TOML string as written (quotes and escapes included), of the
/// character at byte `offset` of its value.
fn raw_offset(raw: &str, offset: usize) -> usize {
    let (quote, literal) = if raw.starts_with("\"\"\"") {
        (3, false)
    } else if raw.starts_with("'''") {
        (3, true)
    } else if raw.starts_with('"') {
        (1, false)
    } else if raw.starts_with('\'') {
        (1, true)
    } else {
        return 0;
    };
    let mut at = quote;
    // A newline right after the opening quotes of a multi-line string is not part of it.
    if quote == 3 {
        if raw[at..].starts_with("\r\n") {
            at += 2;
        } else if raw[at..].starts_with('\n') {
            at += 1;
        }
    }
    if literal {
        return (at + offset).min(raw.len());
    }
    let bytes = raw.as_bytes();
    let mut value = 0;
    while at < raw.len() {
        let escape = (bytes[at] == b'\\')
            .then(|| bytes.get(at + 1).copied())
            .flatten();
        if let Some(b' ' | b'\t' | b'\r' | b'\n') = escape {
            // A line-ending backslash: it and the whitespace after it are not in the value.
            at += 1;
            while at < raw.len() && matches!(bytes[at], b' ' | b'\t' | b'\r' | b'\n') {
                at += 1;
            }
            continue;
        }
        if value >= offset {
            break;
        }
        match escape {
            None => {
                let len = raw[at..].chars().next().map_or(1, char::len_utf8);
                at += len;
                value += len;
            }
            Some(b'u') => {
                at += 6;
                value += unicode_len(raw.get(at - 4..at));
            }
            Some(b'U') => {
                at += 10;
                value += unicode_len(raw.get(at - 8..at));
            }
            Some(_) => {
                at += 2;
                value += 1;
            }
        }
    }
    at.min(raw.len())
}

/// The UTF-8 length of the character with these hex digits.
fn unicode_len(hex: Option<&str>) -> usize {
    hex.and_then(|h| u32::from_str_radix(h, 16).ok())
        .and_then(char::from_u32)
        .map_or(1, char::len_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_character_columns() {
        let index = LineIndex::new("ab\ncé d\n\nx");
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(1), (1, 2));
        assert_eq!(index.position(3), (2, 1));
        // `é` is two bytes: `d` is the fourth character of line 2.
        assert_eq!(index.position(7), (2, 4));
        assert_eq!(index.position(9), (3, 1));
        assert_eq!(index.position(10), (4, 1));
        assert_eq!(index.position(99), (4, 2));
    }

    #[test]
    fn diagnostics_print_one_line_each_in_file_order() {
        let mut c = Collector::new("a\nb\n");
        c.error(Some(2..3), "second");
        c.error(Some(0..1), "first");
        assert_eq!(
            c.finish("w.toml").to_string(),
            "w.toml:1:1: first\nw.toml:2:1: second"
        );
    }

    /// A problem names the definition it is written in; with dotted keys, one definition's
    /// keys may surround another's (`a.shell`, `b.shell`, `a.wants`): the innermost is it.
    #[test]
    fn a_problem_names_the_innermost_definition_around_it() {
        let text = "[flows]\na.shell = \"true\"\nb.shell = \"{x}\"\na.wants = []\n";
        let loaded = crate::workflow::from_str(text, "w.toml", "w", std::path::Path::new("/"));
        let Err(crate::error::CliError::InvalidWorkflow(error)) = loaded else {
            panic!("not invalid");
        };
        let flows: Vec<_> = error.items.iter().map(|d| d.flow.as_deref()).collect();
        assert_eq!(flows, [Some("b")], "{error}");
    }

    #[test]
    fn offsets_in_strings_go_through_quotes_and_escapes() {
        assert_eq!(raw_offset("\"a{b}\"", 1), 2);
        assert_eq!(raw_offset("'a{b}'", 1), 2);
        assert_eq!(raw_offset("\"\\\"x{b}\"", 2), 4);
        assert_eq!(raw_offset("\"\\u00e9{b}\"", 2), 7);
        assert_eq!(raw_offset("\"\"\"\nab{c}\"\"\"", 2), 6);
        assert_eq!(raw_offset("\"\"\"a \\\n   {c}\"\"\"", 2), 10);
        assert_eq!(raw_offset("\'\'\'\n{c}\'\'\'", 0), 4);
    }
}
