//! T-SQL's `GO`, read as the end of a statement.
//!
//! SQL Server's tools split a script into batches at a line holding only `GO` (or
//! `GO 5`); it is no SQL, and tree-sitter-sequel reads a `CREATE TABLE … GO CREATE
//! VIEW …` as one broken statement, the view inside the table's unit. So the parser
//! reads a copy of the same length in which each `GO` line ends the statement before
//! it: a `;` where that statement has none, blank where it has one (a second `;` would
//! be an error of its own). Units are cut from the file as written.

use std::borrow::Cow;

/// `text` with its `GO` lines read as statement ends; borrowed when it has none.
pub(crate) fn as_statements(text: &str) -> Cow<'_, str> {
    let mut out: Option<Vec<u8>> = None;
    let mut start = 0;
    while start < text.len() {
        let end = text[start..].find('\n').map_or(text.len(), |at| start + at);
        let line = &text[start..end];
        if is_batch_separator(line) {
            let bytes = out.get_or_insert_with(|| text.as_bytes().to_vec());
            let ended = bytes[..start].iter().rev().find(|b| !b.is_ascii_whitespace()).is_none_or(|&b| b == b';');
            bytes[start..end].fill(b' ');
            if !ended {
                bytes[start + line.len() - line.trim_start().len()] = b';';
            }
        }
        start = end + 1;
    }
    match out {
        Some(out) => Cow::Owned(String::from_utf8(out).expect("a line of ASCII was replaced by ASCII")),
        None => Cow::Borrowed(text),
    }
}

/// Where a unit spanning `range` of `text` ends: before the `GO` line whose `;` the
/// parser read as the statement's, if it ends on one.
pub(crate) fn unit_end(text: &str, range: std::ops::Range<usize>) -> usize {
    let line_start = text[..range.end].rfind('\n').map_or(0, |at| at + 1);
    let line_end = text[range.end..].find('\n').map_or(text.len(), |at| range.end + at);
    if line_start > range.start && is_batch_separator(&text[line_start..line_end]) {
        range.start + text[range.start..line_start].trim_end().len()
    } else {
        range.end
    }
}

/// `GO`, or `GO 3` (run the batch three times), alone on its line, in any case.
fn is_batch_separator(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let go = words.next().is_some_and(|word| word.eq_ignore_ascii_case("go"));
    let count = words.next();
    go && words.next().is_none() && count.is_none_or(|count| count.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_go_line_ends_the_statement_before_it() {
        let script = "CREATE TABLE t (id INT)\nGO\nCREATE INDEX ix ON t (id);\ngo 2\nSELECT 'GO'\n  GO\n";
        let read = as_statements(script);
        assert_eq!(read, "CREATE TABLE t (id INT)\n; \nCREATE INDEX ix ON t (id);\n    \nSELECT 'GO'\n  ; \n");
        assert_eq!(read.len(), script.len());
        assert!(matches!(as_statements("SELECT 1;\n-- go on\nGOTO x;\n"), Cow::Borrowed(_)), "no GO line");
    }
}
