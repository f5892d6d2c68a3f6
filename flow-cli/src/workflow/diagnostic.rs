//! Diagnostics of a workflow file: a message at a line and column, printed as
//! `FILE:LINE:COL: message`, and the line index that turns byte offsets into positions.

use std::fmt;
use std::ops::Range;

/// One problem found in a workflow file, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong, written for the person editing the file.
    pub message: String,
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
            write!(f, "{}:{}:{}: {}", self.file, d.line, d.col, d.message)?;
        }
        Ok(())
    }
}

/// Turns byte offsets of a text into 1-based line and column numbers.
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `text`.
    pub fn new(text: &'a str) -> Self {
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
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let col = self.text[self.starts[line]..offset].chars().count() + 1;
        (line + 1, col)
    }
}

/// Collects diagnostics while a file is checked.
#[derive(Debug)]
pub struct Collector<'a> {
    index: LineIndex<'a>,
    items: Vec<(usize, Diagnostic)>,
}

impl<'a> Collector<'a> {
    /// A collector for `text`.
    pub fn new(text: &'a str) -> Self {
        Collector {
            index: LineIndex::new(text),
            items: Vec::new(),
        }
    }

    /// Records `message` at the start of `span`, or at the start of the file without one.
    pub fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let offset = span.map_or(0, |s| s.start);
        let (line, col) = self.index.position(offset);
        self.items.push((
            offset,
            Diagnostic {
                line,
                col,
                message: message.into(),
            },
        ));
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The diagnostics sorted by position (stable, so same-position ones keep their order).
    pub fn finish(mut self, file: &str) -> Diagnostics {
        self.items.sort_by_key(|(offset, _)| *offset);
        Diagnostics {
            file: file.to_owned(),
            items: self.items.into_iter().map(|(_, d)| d).collect(),
        }
    }
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
}
