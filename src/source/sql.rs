//! SQL scripts as their clients split them into statements, and the stored routines in
//! them.
//!
//! tree-sitter-sequel reads statements ended by `;`, and has no rule for the stored
//! routines much of a database's code is: procedures, and functions or triggers whose
//! body is procedural (`BEGIN … END`) rather than a quoted string. Scripts are also
//! written for clients that end statements otherwise: SQL Server's tools at a `GO` line,
//! SQL*Plus at a `/` line, MySQL's client at the delimiter a `DELIMITER $$` line sets
//! (so that a procedure's inner `;`s do not end it). So a script is first read here as
//! its client reads it, into statements. The parser then reads a copy of the same
//! length in which each statement ends with a `;` (written where its client's
//! terminator stands) and each routine the grammar cannot read is blank; those routines
//! are units read here: kind and name from the header, extent from where the statement
//! ends. Units are cut from the file as written.

use std::borrow::Cow;
use std::ops::Range;

use super::unit::UnitKind;

/// A script read as its client reads it.
pub(crate) struct Script<'t> {
    /// What the parser reads: the script, the same length, in statements ended by `;`,
    /// with the routines below blank.
    pub parse: Cow<'t, str>,
    /// The routines the parser is not given, in file order.
    pub routines: Vec<Routine>,
    /// For each `;` written where the client's terminator stood (the byte after it, in
    /// order): where a unit ending on it ends in the file, after a delimiter (`END$$`),
    /// or at its statement's last token, before a separator line.
    ends: Vec<(usize, usize)>,
}

/// A stored routine: a procedure, or a function or trigger the grammar cannot read.
pub(crate) struct Routine {
    pub kind: UnitKind,
    /// The schema (with its database, if named), as for the grammar's objects.
    pub owner: Option<String>,
    pub name: Option<String>,
    /// From its leading comments to its `;` or delimiter (a separator line is not its).
    pub range: Range<usize>,
    /// Where its `CREATE` stands.
    pub start: usize,
    /// Whether comments lead it: its doc.
    pub commented: bool,
}

impl Script<'_> {
    /// Where a unit the parser read as ending at `end` ends in the file.
    pub fn unit_end(&self, end: usize) -> usize {
        self.ends.binary_search_by_key(&end, |&(at, _)| at).map_or(end, |i| self.ends[i].1)
    }
}

/// `text` as its client reads it; `grammar_reads` says whether the grammar reads a
/// routine's statement (a PostgreSQL function's quoted body, say) as it stands, so that
/// what it reads stays its.
pub(crate) fn read(text: &str, mut grammar_reads: impl FnMut(&str) -> bool) -> Script<'_> {
    let (statements, command_lines) = statements(text);
    if command_lines.is_empty() && statements.iter().all(|s| s.ending != Ending::Delimiter && s.routine.is_none()) {
        return Script { parse: Cow::Borrowed(text), routines: Vec::new(), ends: Vec::new() };
    }
    let mut parse = text.as_bytes().to_vec();
    command_lines.into_iter().for_each(|line| blank(&mut parse, line));
    let mut routines = Vec::new();
    let mut ends = Vec::new();
    for statement in statements {
        let terminator = statement.terminator.clone();
        if let Some(header) = statement.routine.filter(|_| !grammar_reads(&text[statement.text.clone()])) {
            let (start, commented) = leading_comments(text, statement.after, statement.text.start);
            let end = match statement.ending {
                Ending::Semicolon | Ending::Delimiter => terminator.end,
                Ending::Line | Ending::Eof => statement.text.end,
            };
            blank(&mut parse, start..terminator.end.max(statement.text.end));
            routines.push(Routine { kind: header.kind, owner: header.owner, name: header.name, range: start..end, start: statement.text.start, commented });
            continue;
        }
        match statement.ending {
            Ending::Semicolon | Ending::Eof => {}
            Ending::Delimiter | Ending::Line => {
                blank(&mut parse, terminator.clone());
                parse[terminator.start] = b';';
                let end = if statement.ending == Ending::Delimiter { terminator.end } else { statement.text.end };
                ends.push((terminator.start + 1, end));
            }
        }
    }
    let parse = String::from_utf8(parse).expect("only whole characters were replaced, by ASCII");
    Script { parse: Cow::Owned(parse), routines, ends }
}

/// Spaces for `range` of `bytes`, line breaks kept.
fn blank(bytes: &mut [u8], range: Range<usize>) {
    bytes[range].iter_mut().filter(|b| **b != b'\n').for_each(|b| *b = b' ');
}

/// How a statement's end is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Semicolon,
    /// The delimiter a `DELIMITER` line set.
    Delimiter,
    /// A separator line: `GO`, or SQL*Plus's `/`.
    Line,
    /// The end of the script.
    Eof,
}

/// A statement as its client reads it.
struct Statement {
    /// From its first token to the end of its last, terminator left out.
    text: Range<usize>,
    /// Its `;` or delimiter, or its separator line's words; empty at the end.
    terminator: Range<usize>,
    ending: Ending,
    /// Where what stands before it ends: the comments between are its.
    after: usize,
    /// What it creates, when that is a stored routine.
    routine: Option<Header>,
}

/// The statements of `text`, and the client's own lines (separators, `DELIMITER`
/// commands), which the parser reads as blank.
fn statements(text: &str) -> (Vec<Statement>, Vec<Range<usize>>) {
    // Where the client runs batches (T-SQL's GO, SQL*Plus's /), a routine runs to the
    // batch's end, its `;`s inside it; elsewhere its `BEGIN … END` holds them.
    let batched = text.lines().any(is_separator);
    let mut delimiter = ";";
    let mut statements = Vec::new();
    let mut command_lines = Vec::new();
    let mut open: Option<Open> = None;
    let mut after = 0;
    let mut pos = 0;
    while pos < text.len() {
        if pos == 0 || text.as_bytes()[pos - 1] == b'\n' {
            let end = text[pos..].find('\n').map_or(text.len(), |at| pos + at);
            let line = &text[pos..end];
            // The client reads `DELIMITER` where a statement would start (a column
            // named `delimiter` is not one); a separator line anywhere.
            let command = open.is_none().then(|| delimiter_command(line)).flatten();
            if command.is_some() || is_separator(line) {
                let words = pos + line.len() - line.trim_start().len()..pos + line.trim_end().len();
                statements.extend(open.take().map(|o| o.close(words, Ending::Line)));
                delimiter = command.unwrap_or(delimiter);
                command_lines.push(pos..end);
                (pos, after) = (end, end);
                continue;
            }
        }
        let byte = text.as_bytes()[pos];
        if byte.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let ends_here = if delimiter == ";" {
            byte == b';' && !open.as_ref().is_some_and(|o| o.holds_semicolons(batched))
        } else {
            text[pos..].starts_with(delimiter)
        };
        if ends_here {
            let (terminator, ending) = if delimiter == ";" { (pos..pos + 1, Ending::Semicolon) } else { (pos..pos + delimiter.len(), Ending::Delimiter) };
            (pos, after) = (terminator.end, terminator.end);
            statements.extend(open.take().map(|o| o.close(terminator, ending)));
            continue;
        }
        let (token, mut end) = token(text, pos);
        if token == Token::Word {
            // `END$$`: a word ends where the delimiter starts (`$` is a word's, in `$1`).
            end = text[pos..end].find(delimiter).map_or(end, |at| pos + at);
        }
        if token != Token::Comment {
            open.get_or_insert_with(|| Open::new(text, pos, after)).take(text, token, pos..end);
        }
        pos = end;
    }
    statements.extend(open.map(|o| o.close(text.len()..text.len(), Ending::Eof)));
    (statements, command_lines)
}

/// A statement being read.
struct Open {
    start: usize,
    end: usize,
    after: usize,
    routine: Option<Header>,
    /// Whether it defines its routine: a `CREATE` does; `ALTER PROCEDURE … AS …`
    /// redefines one (T-SQL), `ALTER FUNCTION … OWNER TO` does not, so an `ALTER`
    /// defines once an `AS` is read.
    defines: bool,
    /// `BEGIN … END` blocks open in a routine (and `CASE … END`, and an Oracle
    /// package's `AS … END`).
    depth: u32,
    /// Whether declarations stand before its body's `BEGIN` (`DECLARE x INT;`, Oracle's
    /// `IS v NUMBER;`): their `;`s are the routine's until a block has closed.
    declares: bool,
    /// Whether a block of its has opened and closed again.
    closed_block: bool,
}

impl Open {
    fn new(text: &str, start: usize, after: usize) -> Open {
        let (routine, altered) = header(text, start).map_or((None, false), |(header, altered)| (Some(header), altered));
        Open { start, end: start, after, routine, defines: !altered, depth: 0, declares: false, closed_block: false }
    }

    /// Whether a `;` is inside this statement rather than its end: a routine's, in a
    /// batched script, inside its `BEGIN … END`, or after its declarations.
    fn holds_semicolons(&self, batched: bool) -> bool {
        self.routine.is_some() && (batched || self.depth > 0 || (self.declares && !self.closed_block))
    }

    fn take(&mut self, text: &str, token: Token, range: Range<usize>) {
        self.end = range.end;
        let Some(routine) = self.routine.as_ref().filter(|_| token == Token::Word) else { return };
        let word = &text[range.clone()];
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        let next_is = |keywords: &[&str]| {
            let next = next_word(text, range.end).unwrap_or("");
            keywords.iter().any(|k| next.eq_ignore_ascii_case(k))
        };
        let outside = self.depth == 0;
        if is("AS") || is("IS") {
            self.defines |= is("AS");
            if outside && routine.kind == UnitKind::Module {
                self.depth += 1;
            } else if outside && is("IS") && !next_is(&["BEGIN", "NULL", "NOT", "DISTINCT", "TRUE", "FALSE", "UNKNOWN", "JSON", "OF"]) {
                self.declares = true;
            }
        } else if is("DECLARE") && outside {
            self.declares = true;
        } else if (is("BEGIN") && !next_is(&["TRAN", "TRANSACTION", "WORK", "DISTRIBUTED"])) || is("CASE") {
            self.depth += 1;
        } else if is("END") && !next_is(&["IF", "LOOP", "WHILE", "REPEAT"]) {
            self.closed_block |= self.depth == 1;
            self.depth = self.depth.saturating_sub(1);
        }
    }

    fn close(self, terminator: Range<usize>, ending: Ending) -> Statement {
        let routine = self.routine.filter(|_| self.defines);
        Statement { text: self.start..self.end, terminator, ending, after: self.after, routine }
    }
}

/// What a routine's header says: `CREATE [OR REPLACE | OR ALTER] [DEFINER = …]
/// {PROCEDURE | PROC | FUNCTION | TRIGGER | PACKAGE [BODY]} [IF NOT EXISTS] name`.
struct Header {
    kind: UnitKind,
    owner: Option<String>,
    name: Option<String>,
}

/// The routine the statement at `start` creates (and whether it is an `ALTER`), if it
/// creates one.
fn header(text: &str, start: usize) -> Option<(Header, bool)> {
    let mut tokens = Tokens { text, pos: start };
    let altered = match tokens.next()? {
        (Token::Word, word) if word.eq_ignore_ascii_case("CREATE") => false,
        (Token::Word, word) if word.eq_ignore_ascii_case("ALTER") => true,
        _ => return None,
    };
    let mut definer = false;
    let kind = loop {
        let (token, word) = tokens.next()?;
        let upper = word.to_ascii_uppercase();
        match upper.as_str() {
            "PROCEDURE" | "PROC" => break UnitKind::Procedure,
            "FUNCTION" => break UnitKind::Function,
            "TRIGGER" => break UnitKind::Trigger,
            "PACKAGE" => break UnitKind::Module,
            "OR" | "REPLACE" | "ALTER" | "EDITIONABLE" | "NONEDITIONABLE" | "AGGREGATE" | "TEMP" | "TEMPORARY" | "CONSTRAINT" => {}
            "DEFINER" => definer = true,
            // MySQL's `DEFINER = 'admin'@'%'`, `` `root`@`localhost` ``, `CURRENT_USER()`.
            _ if definer && (token != Token::Word || upper.contains('@') || upper == "CURRENT_USER") => {}
            _ => return None,
        }
    };
    let is_word = |token: Option<(Token, &str)>, words: &[&str]| token.is_some_and(|(t, w)| t == Token::Word && words.iter().any(|k| w.eq_ignore_ascii_case(k)));
    let mut word = tokens.next();
    while is_word(word, &["BODY", "IF", "NOT", "EXISTS"]) {
        word = tokens.next();
    }
    let mut parts = Vec::new();
    while let Some((token, part)) = word {
        let quoted = token == Token::Quoted && matches!(part.as_bytes()[0], b'"' | b'`' | b'[');
        if token != Token::Word && !quoted {
            break;
        }
        parts.push(part.trim_matches(['"', '`', '[', ']']).to_string());
        match tokens.next() {
            Some((Token::Other, ".")) => word = tokens.next(),
            _ => break,
        }
    }
    let name = parts.pop();
    let owner = (!parts.is_empty()).then(|| parts.join("."));
    Some((Header { kind, owner, name }, altered))
}

/// Where the comments on the lines just above `start` begin (no blank line between,
/// nothing before `floor`), and whether there are any; `start` when code stands
/// before it on its line.
fn leading_comments(text: &str, floor: usize, start: usize) -> (usize, bool) {
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut first = line_start(start);
    if !text[first..start].trim().is_empty() {
        return (start, false);
    }
    let mut comment = None;
    while first > floor && first > 0 {
        let above = line_start(first - 1);
        let line = text[above..first - 1].trim();
        let opens = if line.starts_with("--") {
            Some(above)
        } else if line.ends_with("*/") {
            text[..first - 1].rfind("/*").map(line_start).filter(|&open| text[open..].trim_start().starts_with("/*"))
        } else {
            None
        };
        match opens.filter(|&at| at >= floor) {
            Some(at) => (first, comment) = (at, Some(at)),
            None => break,
        }
    }
    match comment {
        Some(at) => (at + text[at..].len() - text[at..].trim_start().len(), true),
        None => (start, false),
    }
}

/// `GO`, `GO 3` (run the batch three times), or SQL*Plus's `/`, alone on its line.
fn is_separator(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else { return false };
    let count = words.next();
    if first == "/" {
        return count.is_none();
    }
    first.eq_ignore_ascii_case("go") && words.next().is_none() && count.is_none_or(|count| count.chars().all(|c| c.is_ascii_digit()))
}

/// The delimiter a MySQL client's `DELIMITER $$` line sets.
fn delimiter_command(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    let command = words.next()?;
    let delimiter = words.next()?;
    (command.eq_ignore_ascii_case("delimiter") && words.next().is_none()).then_some(delimiter)
}

/// What a token of a script is, as far as finding statements needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// A keyword or name: `BEGIN`, `@id`, `order_total`.
    Word,
    /// A string, a quoted name (`"x"`, `` `x` ``, `[x]`) or a dollar-quoted body.
    Quoted,
    Comment,
    /// Punctuation, one character.
    Other,
}

/// The token at `pos` (not whitespace), and where it ends. An unclosed string or
/// comment runs to the end of the text.
fn token(text: &str, pos: usize) -> (Token, usize) {
    let rest = &text[pos..];
    let line_end = rest.find('\n').map_or(text.len(), |at| pos + at);
    if rest.starts_with("--") {
        return (Token::Comment, line_end);
    }
    if rest.starts_with("/*") {
        return (Token::Comment, rest[2..].find("*/").map_or(text.len(), |at| pos + 2 + at + 2));
    }
    let byte = rest.as_bytes()[0];
    match byte {
        b'\'' | b'"' | b'`' => (Token::Quoted, closing_quote(text, pos + 1, byte)),
        // `[dbo]` (T-SQL), not across a line: `a[1]` is an array's element elsewhere.
        b'[' => match text[pos..line_end].find(']') {
            Some(at) => (Token::Quoted, pos + at + 1),
            None => (Token::Other, pos + 1),
        },
        b'$' if dollar_tag(rest).is_some() => {
            let tag = dollar_tag(rest).expect("just found");
            let body = pos + tag.len();
            (Token::Quoted, text[body..].find(tag).map_or(text.len(), |at| body + at + tag.len()))
        }
        _ if is_word_byte(byte) => (Token::Word, rest.bytes().position(|b| !is_word_byte(b)).map_or(text.len(), |at| pos + at)),
        _ => (Token::Other, pos + rest.chars().next().map_or(1, char::len_utf8)),
    }
}

/// Where a string or quoted name opened before `from` by `quote` ends: after its
/// closing quote, a doubled one (`'it''s'`) being part of it.
fn closing_quote(text: &str, mut from: usize, quote: u8) -> usize {
    let bytes = text.as_bytes();
    while let Some(at) = bytes[from..].iter().position(|&b| b == quote) {
        let close = from + at;
        if bytes.get(close + 1) == Some(&quote) {
            from = close + 2;
        } else {
            return close + 1;
        }
    }
    text.len()
}

/// PostgreSQL's dollar quote opening `rest`: `$$` or `$body$`.
fn dollar_tag(rest: &str) -> Option<&str> {
    let after = &rest[1..];
    let tag = after.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    let starts_well = tag == 0 || !after.as_bytes()[0].is_ascii_digit();
    (starts_well && after.as_bytes().get(tag) == Some(&b'$')).then(|| &rest[..tag + 2])
}

/// Bytes of a keyword or name: T-SQL's `@variables` and `#temp` tables, PostgreSQL's
/// `$1`, and any non-ASCII character's.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'@' | b'#' | b'$') || byte >= 0x80
}

/// The tokens from a position on, whitespace and comments left out, each with its text.
struct Tokens<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Iterator for Tokens<'t> {
    type Item = (Token, &'t str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let skipped = self.text[self.pos..].len() - self.text[self.pos..].trim_start().len();
            self.pos += skipped;
            if self.pos >= self.text.len() {
                return None;
            }
            let (token, end) = token(self.text, self.pos);
            let start = std::mem::replace(&mut self.pos, end);
            if token != Token::Comment {
                return Some((token, &self.text[start..end]));
            }
        }
    }
}

/// The word after `pos`, if a word comes next.
fn next_word(text: &str, pos: usize) -> Option<&str> {
    Tokens { text, pos }.next().filter(|(token, _)| *token == Token::Word).map(|(_, word)| word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each routine as `kind owner.name lines a-b`, read with a grammar that reads none.
    fn routines(text: &str) -> Vec<String> {
        let line = |at: usize| text[..at].matches('\n').count() + 1;
        read(text, |_| false)
            .routines
            .iter()
            .map(|r| format!("{} {}{} {}-{}", r.kind.as_str(), r.owner.as_deref().map_or(String::new(), |o| format!("{o}.")), r.name.as_deref().unwrap_or("-"), line(r.range.start), line(r.range.end)))
            .collect()
    }

    #[test]
    fn separator_lines_and_delimiters_are_read_as_semicolons() {
        let script = "CREATE TABLE t (id INT)\nGO\nCREATE INDEX ix ON t (id);\ngo 2\nSELECT 'GO'\n  GO\n";
        let read = read(script, |_| false);
        assert_eq!(read.parse, "CREATE TABLE t (id INT)\n; \nCREATE INDEX ix ON t (id);\n    \nSELECT 'GO'\n  ; \n");
        assert_eq!(read.unit_end(25), 23, "the table's unit ends before its GO");
        assert!(matches!(super::read("SELECT 1;\n-- go on\nGOTO x;\n", |_| false).parse, Cow::Borrowed(_)), "nothing to change");

        let mysql = "DELIMITER $$\nDROP PROCEDURE IF EXISTS p$$\nDELIMITER ;\nSELECT 1;\n";
        let read = super::read(mysql, |_| false);
        assert_eq!(read.parse, "            \nDROP PROCEDURE IF EXISTS p; \n           \nSELECT 1;\n");
        assert_eq!(read.unit_end(40), 41, "the unit keeps its whole delimiter");

        let oracle = "UPDATE t SET a = 1\n/\n";
        assert_eq!(super::read(oracle, |_| false).parse, "UPDATE t SET a = 1\n;\n");
    }

    #[test]
    fn routines_run_to_where_their_client_ends_them() {
        // T-SQL: to the batch's end, whatever `;`s and blocks are inside.
        let tsql = "CREATE PROCEDURE [dbo].[Get] @Id INT AS\n  SELECT 1;\n  SELECT 2;\nGO\nALTER PROC dbo.Put AS BEGIN TRAN; COMMIT; END\nGO\n";
        assert_eq!(routines(tsql), ["procedure dbo.Get 1-3", "procedure dbo.Put 5-5"]);
        let read = read(tsql, |_| false);
        assert!(read.parse.trim().is_empty(), "a routine, and the GO after it, are blank to the parser: {:?}", read.parse);

        // MySQL: to the delimiter its DELIMITER line set; `$$` is no dollar quote there.
        let mysql = "DELIMITER $$\nCREATE DEFINER=`root`@`%` PROCEDURE `shop`.`add`(IN n INT)\nBEGIN\n  SELECT n;\nEND$$\nDELIMITER ;\n";
        assert_eq!(routines(mysql), ["procedure shop.add 2-5"]);

        // PostgreSQL: a dollar-quoted body's `;`s are in its string.
        let postgres = "CREATE OR REPLACE PROCEDURE reset() LANGUAGE plpgsql AS $body$\nBEGIN\n  DELETE FROM t;\nEND;\n$body$;\nSELECT 1;\n";
        assert_eq!(routines(postgres), ["procedure reset 1-5"]);

        // Oracle, batched by `/`, and a package body holding procedures.
        let oracle = "CREATE OR REPLACE PACKAGE BODY emp AS\n  PROCEDURE hire IS\n  BEGIN\n    NULL;\n  END hire;\nEND emp;\n/\n";
        assert_eq!(routines(oracle), ["module emp 1-6"]);
    }

    #[test]
    fn unbatched_routines_end_with_their_outermost_block() {
        let mysql = [
            "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 1;",
            "CREATE PROCEDURE p()",
            "BEGIN",
            "  DECLARE s TEXT DEFAULT 'it''s; fine'; -- a ; in a comment",
            "  IF s IS NULL THEN SELECT CASE WHEN 1 THEN 2 END; END IF;",
            "  WHILE 0 DO SELECT 1; END WHILE;",
            "  BEGIN SELECT 2; END;",
            "END;",
            "CREATE FUNCTION f() RETURNS INT RETURN 1;",
            "SELECT 3;",
        ]
        .join("\n");
        assert_eq!(routines(&mysql), ["trigger t 1-1", "procedure p 2-8", "function f 9-9"]);
        // Declarations before the block: theirs `;`s are the routine's until it closes.
        let declared = "CREATE FUNCTION g() RETURNS INT AS\nDECLARE\n  v INT;\nBEGIN\n  RETURN v;\nEND;\nSELECT 4;\n";
        assert_eq!(routines(declared), ["function g 1-6"]);
        let oracle = "CREATE PROCEDURE p IS\n  v NUMBER;\nBEGIN\n  IF v IS NULL THEN NULL; END IF;\nEND p;\nSELECT 5 FROM dual;\n";
        assert_eq!(routines(oracle), ["procedure p 1-5"]);
    }

    #[test]
    fn what_is_not_a_routine_is_left_to_the_grammar() {
        let text = "ALTER FUNCTION f() OWNER TO admin;\nCREATE TABLE procedure_log (delimiter TEXT);\nCREATE ALGORITHM=MERGE DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW v AS SELECT 1;\n";
        assert_eq!(routines(text), Vec::<String>::new());
        assert_eq!(read(text, |_| false).parse, text);
        // A routine the grammar reads (a PostgreSQL function) stays the grammar's.
        let function = "CREATE FUNCTION one() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n";
        let read = read(function, |statement| statement.starts_with("CREATE FUNCTION one()"));
        assert!(read.routines.is_empty());
        assert_eq!(read.parse, function);
    }

    #[test]
    fn a_routine_takes_the_comments_just_above_it() {
        let text = "SELECT 1;\n\n-- Adds a row.\n/* Idempotent. */\nCREATE PROCEDURE add_row() BEGIN SELECT 1; END;\nSELECT 2; -- trailing\nCREATE PROCEDURE bare() BEGIN SELECT 2; END;\n";
        let read = read(text, |_| false);
        let [documented, bare] = &read.routines[..] else { panic!("two routines") };
        assert!(text[documented.range.clone()].starts_with("-- Adds a row.\n/* Idempotent. */\nCREATE"));
        assert!(documented.commented);
        assert!(text[bare.range.clone()].starts_with("CREATE PROCEDURE bare"), "a trailing comment is its line's");
        assert!(!bare.commented);
    }
}
