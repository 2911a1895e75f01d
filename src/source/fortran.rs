//! Fortran's fixed form (FORTRAN 77's columns), read by the free-form grammar.
//!
//! tree-sitter-fortran reads free form only. In fixed form a letter or `*` in column 1
//! makes the line a comment (`c     computes the knots`), and a character in column 6
//! continues the statement above; the free-form grammar reads the first as code and
//! the second as a new statement, and a comment that parses as an assignment can end
//! a subroutine early. So the parser reads a copy of the file of the same length, in
//! which comment lines start with `!` and a continuation line is joined to its
//! statement (the line breaks between them become spaces). Units are cut from the
//! file as written, at the same offsets.

/// Whether `path` is fixed-form source, as compilers decide it: by its extension.
pub(crate) fn is_fixed_form(path: &str) -> bool {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    matches!(extension.as_deref(), Some("f" | "for" | "f77" | "ftn" | "fpp"))
}

/// `text` as free form, byte for byte the same length.
pub(crate) fn as_free_form(text: &str) -> String {
    let mut out = text.as_bytes().to_vec();
    // The line break after the last statement line, and those after comment or blank
    // lines since: a continuation line turns them all into spaces.
    let mut breaks_since_statement: Vec<usize> = Vec::new();
    let mut comments_since_statement: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let end = text[start..].find('\n').map_or(text.len(), |at| start + at);
        let line = &text.as_bytes()[start..end];
        match kind(line) {
            Line::Comment => {
                out[start] = b'!';
                comments_since_statement.push(start..end);
            }
            Line::Blank => {}
            Line::Continuation(marker) if !breaks_since_statement.is_empty() => {
                for at in breaks_since_statement.drain(..) {
                    out[at] = b' ';
                }
                // Comment lines inside a statement are blanked: joined, they would hide
                // the rest of it from the parser.
                for comment in comments_since_statement.drain(..) {
                    out[comment].fill(b' ');
                }
                out[start + marker] = b' ';
            }
            Line::Continuation(_) | Line::Statement => {
                breaks_since_statement.clear();
                comments_since_statement.clear();
            }
        }
        if end < text.len() {
            breaks_since_statement.push(end);
        }
        start = end + 1;
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced, each by an ASCII byte")
}

enum Line {
    Comment,
    Blank,
    /// The offset of the continuation mark.
    Continuation(usize),
    Statement,
}

fn kind(line: &[u8]) -> Line {
    match line.first() {
        None => Line::Blank,
        Some(b'c' | b'C' | b'*' | b'!' | b'd' | b'D') => Line::Comment,
        _ if line.iter().all(|b| b.is_ascii_whitespace()) => Line::Blank,
        // A tab then a nonzero digit is the tab form of a continuation (DEC's).
        Some(b'\t') if line.get(1).is_some_and(|b| (b'1'..=b'9').contains(b)) => Line::Continuation(1),
        // Columns 1-5 blank (a label would make it a statement), column 6 neither blank nor zero.
        _ if line.len() > 5 && line[..5].iter().all(|&b| b == b' ') && !matches!(line[5], b' ' | b'0') => Line::Continuation(5),
        _ => Line::Statement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_start_with_a_bang_and_continuations_join_their_statement() {
        let fixed = "      subroutine add(a, b,\n     &               c)\nc     the sum\n* of two\n      c = a +\nc     (a comment inside the statement)\n\n     1    b\n   10 continue\n      end\n";
        let free = as_free_form(fixed);
        assert_eq!(free.len(), fixed.len(), "the offsets are the file's");
        let lines: Vec<String> = free.lines().map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(lines, ["subroutine add(a, b, c)", "! the sum", "! of two", "c = a + b", "10 continue", "end"], "a label is no continuation");
        assert_eq!(as_free_form("\tx = 1 +\n\t2 y\n"), "\tx = 1 + \t  y\n", "the tab form");
        assert_eq!(as_free_form("     & stray\n"), "     & stray\n", "nothing to continue");
    }

    #[test]
    fn free_form_extensions_are_left_as_written() {
        assert!(is_fixed_form("fitpack/curfit.f") && is_fixed_form("lapack/DGESV.F") && is_fixed_form("old.for"));
        assert!(!is_fixed_form("src/solver.f90") && !is_fixed_form("src/solver.F90") && !is_fixed_form("Makefile"));
    }
}
