//! SQL scripts, read as their clients read them: into statements, and the objects
//! those statements create.
//!
//! A script is written for a client that splits it into statements: at `;`, but also
//! at a `GO` line (SQL Server's tools), a `/` line (SQL*Plus), or the delimiter a
//! `DELIMITER $$` line sets (MySQL's client, so that a procedure's inner `;`s do not
//! end it); psql's `\` commands and SQL*Plus's `PROMPT` end at their line, and
//! T-SQL's statements, written without `;`, where a line starts with `CREATE`. Each
//! statement that creates a named object is a unit of its own, its kind and name read
//! from its header (`CREATE OR REPLACE VIEW shop.open_orders AS …`), with the comments
//! just above it as its doc; the statements between are `code`.
//!
//! Why not tree-sitter here, as for every other language: no SQL grammar reads the
//! dialects a repository holds (T-SQL's and MySQL's stored procedures, PL/SQL
//! packages, PostgreSQL's `OUT` parameters), and a statement it cannot read spills into
//! its neighbours through the parser's error recovery, taking their units with it. A
//! statement splitter that reads headers, as SQL tools do (psql's lexer, sqlparse's
//! splitter), needs no grammar of the statements' insides, only their ends: strings,
//! quoted names, comments, dollar-quoted bodies, and the `BEGIN … END` blocks of a
//! routine.

use std::borrow::Cow;
use std::ops::Range;

use super::text::trimmed;
use super::unit::UnitKind;

/// A unit of a script: an object a statement creates, or a run of other statements.
pub(crate) struct Piece {
    /// [`UnitKind::Code`] for a run of statements that create nothing.
    pub kind: UnitKind,
    /// The schema (with its database, if named): `shop` of `shop.orders`.
    pub owner: Option<String>,
    pub name: Option<String>,
    /// From its leading comments to its `;` or delimiter (not a separator line).
    pub range: Range<usize>,
    /// Where its statement starts: a doc goes above that line.
    pub start: usize,
    /// Its doc: the comments that lead it, or PostgreSQL's `COMMENT ON` it.
    pub doc: Option<Range<usize>>,
}

/// The objects `text`'s statements create, and the code between them, in file order.
pub(crate) fn read(text: &str) -> Vec<Piece> {
    let opened = open_versioned_comments(text);
    let mut pieces = statement_pieces(&opened);
    if let Cow::Owned(_) = opened {
        // A unit opens with the versioned comment's mark its statement stands in.
        for piece in &mut pieces {
            let before = text[..piece.range.start].trim_end_matches(' ');
            let version = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            if let Some(mark) = before[..before.len() - version].strip_suffix("/*!").map(str::len) {
                piece.start = piece.start.min(mark);
                piece.range.start = mark;
            }
        }
    }
    pieces
}

/// The objects `text`'s statements create, and the code between them.
fn statement_pieces(text: &str) -> Vec<Piece> {
    let script = Script::new(text);
    let mut pieces = Vec::new();
    let mut run: Vec<Statement> = Vec::new();
    let mut comments_on = Vec::new();
    for statement in statements(script) {
        let Some(header) = &statement.object else {
            comments_on.extend(comment_target(script, statement.text.start).map(|target| (target, statement.text.clone())));
            run.push(statement);
            continue;
        };
        pieces.extend(code(script, std::mem::take(&mut run)));
        let (start, doc) = leading_comments(text, statement.after, statement.text.start);
        let (kind, owner, name) = (header.kind, header.owner.clone(), header.name.clone());
        pieces.push(Piece { kind, owner, name, range: start..statement.unit_end(), start: statement.text.start, doc });
    }
    pieces.extend(code(script, run));
    // `COMMENT ON TABLE orders IS '…'` is PostgreSQL's own doc of an object, wherever in
    // the script it stands; names compare as the database folds them, without case.
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    for piece in pieces.iter_mut().filter(|piece| piece.doc.is_none()) {
        piece.doc = comments_on.iter().find_map(|((kind, owner, name), comment)| {
            let on_it = *kind == piece.kind
                && piece.name.as_deref().is_some_and(|n| same(n, name))
                && owner.as_deref().is_none_or(|o| piece.owner.as_deref().is_some_and(|p| same(p, o)));
            on_it.then(|| comment.clone())
        });
    }
    pieces
}

/// `text` with MySQL's versioned comments opened: MySQL runs what they hold
/// (`/*!40101 SET NAMES utf8 */`, and mysqldump's triggers, `/*!50003 CREATE*/ …
/// /*!50003 TRIGGER … END */`), so they are read as code, from a copy of the same
/// length with their marks blank.
fn open_versioned_comments(text: &str) -> Cow<'_, str> {
    if !text.contains("/*!") {
        return Cow::Borrowed(text);
    }
    let mut bytes = text.as_bytes().to_vec();
    let mut from = 0;
    while let Some(at) = text[from..].find("/*!") {
        let open = from + at;
        let version = text[open + 3..].bytes().take_while(u8::is_ascii_digit).count();
        let Some(close) = text[open + 3..].find("*/").map(|at| open + 3 + at) else { break };
        bytes[open..open + 3 + version].fill(b' ');
        bytes[close..close + 2].fill(b' ');
        from = close + 2;
    }
    Cow::Owned(String::from_utf8(bytes).expect("ASCII marks were replaced by spaces"))
}

/// A run of statements that create nothing as one `code` unit; none when it is only a
/// transaction's `BEGIN` or `COMMIT`, which say nothing of their own.
fn code(script: Script<'_>, run: Vec<Statement>) -> Option<Piece> {
    let (first, last) = (run.first()?, run.last()?);
    let transaction = ["BEGIN", "START", "COMMIT", "END", "ROLLBACK"];
    if run.iter().all(|s| is_keyword(script.tokens(s.text.start).next(), &transaction)) {
        return None;
    }
    let (start, _) = leading_comments(script.text, first.after, first.text.start);
    Some(Piece { kind: UnitKind::Code, owner: None, name: None, range: start..last.unit_end(), start: first.text.start, doc: None })
}

/// How a statement's end is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Semicolon,
    /// The delimiter a `DELIMITER` line set.
    Delimiter,
    /// A separator line after it: `GO`, or SQL*Plus's `/`.
    Separator,
    /// Its own line's end: a client's command (psql's `\i`, SQL*Plus's `PROMPT`).
    LineEnd,
    /// A `CREATE` at the start of a line: T-SQL writes statements without `;`.
    NextCreate,
    /// The end of the script.
    Eof,
}

/// A statement as its client reads it.
struct Statement {
    /// From its first token to the end of its last, terminator left out.
    text: Range<usize>,
    /// Its `;` or delimiter; empty for the other endings.
    terminator: Range<usize>,
    ending: Ending,
    /// Where what stands before it ends: the comments between are its.
    after: usize,
    /// What it creates, if anything.
    object: Option<Header>,
}

impl Statement {
    /// Where its unit ends: with its `;` or delimiter (`END$$`), before a separator line.
    fn unit_end(&self) -> usize {
        match self.ending {
            Ending::Semicolon | Ending::Delimiter => self.terminator.end,
            Ending::Separator | Ending::LineEnd | Ending::NextCreate | Ending::Eof => self.text.end,
        }
    }
}

/// The statements of `script`, as its client reads them.
fn statements(script: Script<'_>) -> Vec<Statement> {
    let text = script.text;
    let mut delimiter = ";";
    let mut statements = Vec::new();
    let mut open: Option<Open> = None;
    let mut after = 0;
    let mut pos = 0;
    while pos < text.len() {
        let line_start = pos == 0 || text.as_bytes()[pos - 1] == b'\n';
        if line_start {
            let end = text[pos..].find('\n').map_or(text.len(), |at| pos + at);
            let line = &text[pos..end];
            if is_separator(line) {
                statements.extend(open.take().map(|o| o.close(end..end, Ending::Separator)));
                (pos, after) = (end, end);
                continue;
            }
            // The client reads its own commands where a statement would start (a
            // column named `delimiter` is not one).
            if open.is_none() {
                if let Some(command) = client_command(line) {
                    match command {
                        Command::Delimiter(set) => delimiter = set,
                        Command::Remark => {}
                        Command::Line => {
                            statements.push(Statement { text: trimmed(text, pos..end), terminator: end..end, ending: Ending::LineEnd, after, object: None });
                        }
                    }
                    (pos, after) = (end, end);
                    continue;
                }
            }
        }
        let byte = text.as_bytes()[pos];
        if byte.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let ends_here = if delimiter == ";" {
            byte == b';' && !open.as_ref().is_some_and(|o| o.holds_semicolons(script.batched))
        } else {
            text[pos..].starts_with(delimiter)
        };
        if ends_here {
            let (terminator, ending) = if delimiter == ";" { (pos..pos + 1, Ending::Semicolon) } else { (pos..pos + delimiter.len(), Ending::Delimiter) };
            (pos, after) = (terminator.end, terminator.end);
            statements.extend(open.take().map(|o| o.close(terminator, ending)));
            continue;
        }
        let (token, mut end) = script.token(pos);
        if token == Token::Word {
            // `END$$`: a word ends where the delimiter starts (`$` is a word's, in `$1`).
            end = text[pos..end].find(delimiter).map_or(end, |at| pos + at);
            // The word first: a look back along the line for every word would be quadratic.
            let starts_line = || {
                let before = text[..pos].trim_end_matches([' ', '\t', '\r']);
                before.is_empty() || before.ends_with('\n')
            };
            let creates = text[pos..end].eq_ignore_ascii_case("CREATE") && starts_line();
            if creates && open.as_ref().is_some_and(|o| o.ends_at_a_create()) {
                let previous = open.take().expect("just checked");
                after = previous.end;
                statements.push(previous.close(pos..pos, Ending::NextCreate));
            }
        }
        if token != Token::Comment {
            open.get_or_insert_with(|| Open::new(script, pos, after)).take(script, token, pos..end);
        }
        pos = end;
    }
    statements.extend(open.map(|o| o.close(text.len()..text.len(), Ending::Eof)));
    statements
}

/// A line the client reads itself.
enum Command<'t> {
    /// MySQL's `DELIMITER $$`: what ends the statements after it.
    Delimiter(&'t str),
    /// SQL*Plus's `REM`: a comment.
    Remark,
    /// A command that is code of its own, ending with its line: psql's `\i file`,
    /// SQL*Plus's `PROMPT`, `SPOOL`, `WHENEVER SQLERROR EXIT`.
    Line,
}

fn client_command(line: &str) -> Option<Command<'_>> {
    let line = line.trim_start();
    if line.starts_with('\\') {
        return Some(Command::Line);
    }
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let is = |command: &str| first.eq_ignore_ascii_case(command);
    if is("DELIMITER") {
        let delimiter = words.next()?;
        return words.next().is_none().then_some(Command::Delimiter(delimiter));
    }
    if is("REM") || is("REMARK") {
        return Some(Command::Remark);
    }
    (is("PROMPT") || is("SPOOL") || is("WHENEVER")).then_some(Command::Line)
}

/// A statement being read.
struct Open {
    start: usize,
    end: usize,
    after: usize,
    object: Option<Header>,
    /// Whether it defines its object: a `CREATE` does; `ALTER PROCEDURE … AS …`
    /// redefines a routine (T-SQL), `ALTER FUNCTION … OWNER TO` does not, so an
    /// `ALTER` defines once an `AS` is read.
    defines: bool,
    /// Parentheses open: a `CREATE` inside them is part of the statement.
    parens: u32,
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
    fn new(script: Script<'_>, start: usize, after: usize) -> Open {
        let (object, altered) = header(script, start).map_or((None, false), |(header, altered)| (Some(header), altered));
        Open { start, end: start, after, object, defines: !altered, parens: 0, depth: 0, declares: false, closed_block: false }
    }

    fn routine(&self) -> Option<&Header> {
        self.object.as_ref().filter(|o| o.is_routine())
    }

    /// Whether a `;` is inside this statement rather than its end: a routine's (not an
    /// `ALTER PROCEDURE p COMPILE` that defines none), in a batched script, inside its
    /// `BEGIN … END`, or after its declarations.
    fn holds_semicolons(&self, batched: bool) -> bool {
        self.routine().is_some() && self.defines && (batched || self.depth > 0 || (self.declares && !self.closed_block))
    }

    /// Whether a `CREATE` starting a line ends this statement: one that is no routine
    /// (a routine's body creates its temporary tables), outside its parentheses.
    fn ends_at_a_create(&self) -> bool {
        self.routine().is_none() && self.parens == 0
    }

    fn take(&mut self, script: Script<'_>, token: Token, range: Range<usize>) {
        let text = script.text;
        self.end = range.end;
        match (token, &text[range.clone()]) {
            (Token::Other, "(") => self.parens += 1,
            (Token::Other, ")") => self.parens = self.parens.saturating_sub(1),
            _ => {}
        }
        let Some(routine) = self.routine().filter(|_| token == Token::Word) else { return };
        let module = routine.kind == UnitKind::Module;
        let word = &text[range.clone()];
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        let next_is = |keywords: &[&str]| is_keyword(script.tokens(range.end).next(), keywords);
        let outside = self.depth == 0;
        if is("AS") || is("IS") {
            self.defines |= is("AS");
            if outside && module {
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
        let object = self.object.filter(|_| self.defines);
        Statement { text: self.start..self.end, terminator, ending, after: self.after, object }
    }
}

/// What a statement's header says it creates: `CREATE [OR REPLACE] [modifiers] kind
/// [IF NOT EXISTS] name`.
struct Header {
    kind: UnitKind,
    owner: Option<String>,
    name: Option<String>,
}

impl Header {
    /// Procedures, functions, triggers and packages: bodies of statements of their own.
    fn is_routine(&self) -> bool {
        matches!(self.kind, UnitKind::Procedure | UnitKind::Function | UnitKind::Trigger | UnitKind::Module)
    }
}

/// The object the statement at `start` creates (and whether it is a routine's `ALTER`),
/// if it creates one.
fn header(script: Script<'_>, start: usize) -> Option<(Header, bool)> {
    let mut tokens = script.tokens(start);
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
            // MySQL's scheduled `EVENT … DO BEGIN … END` is a stored program as a
            // procedure is.
            "PROCEDURE" | "PROC" | "EVENT" => break UnitKind::Procedure,
            "FUNCTION" => break UnitKind::Function,
            "TRIGGER" => break UnitKind::Trigger,
            "PACKAGE" => break UnitKind::Module,
            "TABLE" if !altered => break UnitKind::Table,
            "VIEW" if !altered => break UnitKind::View,
            "INDEX" if !altered => break UnitKind::Index,
            // PostgreSQL's `DOMAIN`: a type with its constraints.
            "TYPE" | "DOMAIN" if !altered => break UnitKind::Type,
            "OR" | "REPLACE" | "ALTER" | "MATERIALIZED" | "UNIQUE" | "CLUSTERED" | "NONCLUSTERED" | "FULLTEXT" | "SPATIAL" | "TEMP" | "TEMPORARY"
            | "UNLOGGED" | "GLOBAL" | "LOCAL" | "RECURSIVE" | "VIRTUAL" | "EDITIONABLE" | "NONEDITIONABLE" | "FORCE" | "NOFORCE" | "AGGREGATE"
            | "CONSTRAINT" => {}
            // MySQL's `ALGORITHM = MERGE` and `SQL SECURITY DEFINER`, before a view's kind.
            "ALGORITHM" | "SQL" => {
                tokens.next()?;
                tokens.next()?;
            }
            "DEFINER" => definer = true,
            // MySQL's `DEFINER = 'admin'@'%'`, `` `root`@`localhost` ``, `CURRENT_USER()`.
            _ if definer && (token != Token::Word || upper.contains('@') || upper == "CURRENT_USER") => {}
            _ => return None,
        }
    };
    let mut word = tokens.next();
    while is_keyword(word, &["BODY", "IF", "NOT", "EXISTS", "CONCURRENTLY"]) {
        word = tokens.next();
    }
    // `CREATE INDEX ON orders (id)`: an index may go unnamed.
    if kind == UnitKind::Index && is_keyword(word, &["ON"]) {
        return Some((Header { kind, owner: None, name: None }, altered));
    }
    let (owner, name) = qualified_name(word, &mut tokens);
    Some((Header { kind, owner, name }, altered))
}

/// A name that starts with `first`, its parts unquoted, as (its qualifier, itself):
/// `"shop"."Orders"` → (`shop`, `Orders`), `db.dbo.Get` → (`db.dbo`, `Get`).
fn qualified_name<'t>(first: Option<(Token, &'t str)>, tokens: &mut Tokens<'t>) -> (Option<String>, Option<String>) {
    let mut parts = Vec::new();
    let mut word = first;
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
    (if parts.is_empty() { None } else { Some(parts.join(".")) }, name)
}

/// The object a PostgreSQL (or Oracle) `COMMENT ON kind name IS '…'` documents: its
/// kind, qualifier and name.
fn comment_target(script: Script<'_>, start: usize) -> Option<(UnitKind, Option<String>, String)> {
    let mut tokens = script.tokens(start);
    if !(is_keyword(tokens.next(), &["COMMENT"]) && is_keyword(tokens.next(), &["ON"])) {
        return None;
    }
    let mut kind_word = tokens.next()?.1;
    if kind_word.eq_ignore_ascii_case("MATERIALIZED") {
        kind_word = tokens.next()?.1;
    }
    let kind = match kind_word.to_ascii_uppercase().as_str() {
        "TABLE" => UnitKind::Table,
        "VIEW" => UnitKind::View,
        "INDEX" => UnitKind::Index,
        "TYPE" | "DOMAIN" => UnitKind::Type,
        "FUNCTION" => UnitKind::Function,
        "PROCEDURE" => UnitKind::Procedure,
        "TRIGGER" => UnitKind::Trigger,
        _ => return None,
    };
    let first = tokens.next();
    let (owner, name) = qualified_name(first, &mut tokens);
    Some((kind, owner, name?))
}

/// Where the comments on the lines just above `start` begin (no blank line between,
/// nothing before `floor`), and their bytes if there are any; `start` when code stands
/// before it on its line.
pub(crate) fn leading_comments(text: &str, floor: usize, start: usize) -> (usize, Option<Range<usize>>) {
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut first = line_start(start);
    if !text[first..start].trim().is_empty() {
        return (start, None);
    }
    let mut comment = None;
    while first > floor && first > 0 {
        let above = line_start(first - 1);
        let line = text[above..first - 1].trim();
        // A `--` line, or the last of a block comment (`/* … */`, or dbt's Jinja `{# … #}`)
        // that opens a line.
        let block = [("/*", "*/"), ("{#", "#}")].into_iter().find(|(_, close)| line.ends_with(close));
        let opens = if line.starts_with("--") {
            Some(above)
        } else if let Some((open, _)) = block {
            text[..first - 1].rfind(open).map(line_start).filter(|&at| text[at..].trim_start().starts_with(open))
        } else {
            None
        };
        match opens.filter(|&at| at >= floor) {
            Some(at) => (first, comment) = (at, Some(at)),
            None => break,
        }
    }
    match comment {
        Some(at) => {
            let doc = trimmed(text, at..line_start(start));
            (doc.start, Some(doc))
        }
        None => (start, None),
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

/// A script's text, and how its strings are written.
#[derive(Clone, Copy)]
struct Script<'t> {
    text: &'t str,
    /// Whether a backslash escapes a quote in a string (`'O\'Brien'`): MySQL's strings,
    /// told by its backquoted names or its `DELIMITER` lines (mysqldump writes both).
    /// PostgreSQL's `E'…'` strings escape so too; its others, and the standard's, do not.
    mysql_strings: bool,
    /// Whether its client runs it in batches (T-SQL's `GO`, SQL*Plus's `/` lines): a
    /// routine then runs to its batch's end, its `;`s inside it; elsewhere its
    /// `BEGIN … END` holds them.
    batched: bool,
}

impl<'t> Script<'t> {
    fn new(text: &'t str) -> Script<'t> {
        let (mut delimiters, mut batched) = (false, false);
        for line in text.lines() {
            delimiters |= matches!(client_command(line), Some(Command::Delimiter(_)));
            batched |= is_separator(line);
        }
        Script { text, mysql_strings: delimiters || text.contains('`'), batched }
    }

    /// The token at `pos` (not whitespace), and where it ends. An unclosed string or
    /// comment runs to the end of the text.
    fn token(self, pos: usize) -> (Token, usize) {
        let text = self.text;
        // Each token looks ahead only as far as it reaches: a dump's `INSERT` is one line
        // of a megabyte, and a look to each token's line end would take quadratic time.
        let rest = &text[pos..];
        if rest.starts_with("--") {
            return (Token::Comment, rest.find('\n').map_or(text.len(), |at| pos + at));
        }
        if rest.starts_with("/*") {
            return (Token::Comment, rest[2..].find("*/").map_or(text.len(), |at| pos + 2 + at + 2));
        }
        let byte = rest.as_bytes()[0];
        match byte {
            b'\'' => {
                let prefix = text[..pos].bytes().rev().take_while(|b| is_word_byte(*b)).count();
                let escape_string = prefix == 1 && text.as_bytes()[pos - 1].eq_ignore_ascii_case(&b'E');
                (Token::Quoted, closing_quote(text, pos + 1, byte, self.mysql_strings || escape_string))
            }
            b'"' | b'`' => (Token::Quoted, closing_quote(text, pos + 1, byte, false)),
            // `[dbo]` (T-SQL), not across a line: `a[1]` is an array's element elsewhere.
            b'[' => match rest.find([']', '\n']) {
                Some(at) if rest.as_bytes()[at] == b']' => (Token::Quoted, pos + at + 1),
                _ => (Token::Other, pos + 1),
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

    /// The tokens from `pos` on.
    fn tokens(self, pos: usize) -> Tokens<'t> {
        Tokens { script: self, pos }
    }
}

/// Where a string or quoted name opened before `from` by `quote` ends: after its
/// closing quote, a doubled one (`'it''s'`), or one after a backslash where
/// `backslashes` escape, being part of it.
fn closing_quote(text: &str, mut from: usize, quote: u8, backslashes: bool) -> usize {
    let bytes = text.as_bytes();
    while let Some(at) = bytes[from..].iter().position(|&b| b == quote || (backslashes && b == b'\\')) {
        let at = from + at;
        if bytes[at] == b'\\' {
            from = at + 2;
        } else if bytes.get(at + 1) == Some(&quote) {
            from = at + 2;
        } else {
            return at + 1;
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

/// Whether `token` is a word, one of `keywords` (which SQL reads in any case).
fn is_keyword(token: Option<(Token, &str)>, keywords: &[&str]) -> bool {
    token.is_some_and(|(t, word)| t == Token::Word && keywords.iter().any(|k| word.eq_ignore_ascii_case(k)))
}

/// The tokens from a position on, whitespace and comments left out, each with its text.
struct Tokens<'t> {
    script: Script<'t>,
    pos: usize,
}

impl<'t> Iterator for Tokens<'t> {
    type Item = (Token, &'t str);

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.script.text;
        loop {
            self.pos += text[self.pos..].len() - text[self.pos..].trim_start().len();
            if self.pos >= text.len() {
                return None;
            }
            let (token, end) = self.script.token(self.pos);
            let start = std::mem::replace(&mut self.pos, end);
            if token != Token::Comment {
                return Some((token, &text[start..end]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each unit as `kind owner.name lines a-b`.
    fn pieces(text: &str) -> Vec<String> {
        let line = |at: usize| text[..at].matches('\n').count() + 1;
        read(text)
            .iter()
            .map(|p| {
                let owner = p.owner.as_deref().map_or(String::new(), |o| format!("{o}."));
                format!("{} {owner}{} {}-{}", p.kind.as_str(), p.name.as_deref().unwrap_or("-"), line(p.range.start), line(p.range.end))
            })
            .collect()
    }

    fn contents(text: &str) -> Vec<&str> {
        read(text).into_iter().map(|p| &text[p.range]).collect()
    }

    #[test]
    fn statements_end_where_their_client_ends_them() {
        // T-SQL: a GO line ends the batch; the unit ends before it.
        let tsql = "CREATE TABLE t (id INT)\nGO\nCREATE INDEX ix ON t (id);\ngo 2\nSELECT 'GO'\n  GO\n";
        assert_eq!(pieces(tsql), ["table t 1-1", "index ix 3-3", "code - 5-5"]);
        assert_eq!(contents(tsql)[0], "CREATE TABLE t (id INT)");
        // MySQL: what a DELIMITER line sets; `$$` is no dollar quote there.
        let mysql = "DELIMITER $$\nDROP PROCEDURE IF EXISTS p$$\nDELIMITER ;\nCREATE VIEW v AS SELECT 1;\n";
        assert_eq!(pieces(mysql), ["code - 2-2", "view v 4-4"]);
        assert_eq!(contents(mysql)[0], "DROP PROCEDURE IF EXISTS p$$");
        // SQL*Plus's / and its commands; psql's backslash commands end with their line.
        let oracle = "PROMPT Making t\nREM no unit\nUPDATE t SET a = 1\n/\nCREATE TABLE u (a INT);\n";
        assert_eq!(pieces(oracle), ["code - 1-3", "table u 5-5"]);
        let psql = "\\echo Use \"CREATE EXTENSION x\" to load this file. \\quit\n\nCREATE TYPE hstore;\n";
        assert_eq!(pieces(psql), ["code - 1-1", "type hstore 3-3"]);
        // T-SQL leaves out `;`s: a CREATE starting a line starts a statement, outside
        // parentheses and outside a routine's body.
        let bare = "CREATE TABLE a (id INT,\n  b INT)\nCREATE TABLE b (id INT)\nINSERT INTO b VALUES (1)\n";
        assert_eq!(pieces(bare), ["table a 1-2", "table b 3-4"], "an INSERT after a CREATE is that statement's, as its client would read it too");
    }

    #[test]
    fn a_backslash_escapes_a_quote_in_mysql_strings_and_postgresql_escape_strings() {
        // mysqldump writes `\'` in its strings: the quote does not end the string.
        let dump = "CREATE TABLE `t` (n TEXT);\nINSERT INTO `t` VALUES ('O\\'Brien; CREATE TABLE x');\nCREATE TABLE `u` (n TEXT);\n";
        assert_eq!(pieces(dump), ["table t 1-1", "code - 2-2", "table u 3-3"]);
        // PostgreSQL: in its E'' strings only; a standard string's backslash is a character.
        let postgres = "INSERT INTO t VALUES (E'it\\'s', 'C:\\');\nCREATE TABLE u (n TEXT);\n";
        assert_eq!(pieces(postgres), ["code - 1-1", "table u 2-2"]);
    }

    #[test]
    fn what_mysqls_versioned_comments_hold_is_code() {
        let dump = "/*!40101 SET NAMES utf8 */;\nDELIMITER ;;\n/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `stamp` BEFORE INSERT ON `t` FOR EACH ROW BEGIN SET NEW.at = NOW(); END */;;\nDELIMITER ;\n";
        assert_eq!(pieces(dump), ["code - 1-1", "trigger stamp 3-3"]);
        assert_eq!(contents(dump)[1], &dump[dump.find("/*!50003 CREATE").unwrap()..dump.rfind(";;").unwrap() + 2], "as written, marks and all");
    }

    #[test]
    fn comment_on_documents_its_object() {
        let text = "CREATE TABLE shop.orders (id INT);\nCREATE VIEW open_orders AS SELECT 1;\nCREATE FUNCTION total(INT) RETURNS INT AS $$ SELECT 1 $$ LANGUAGE sql;\nCOMMENT ON TABLE Shop.Orders IS 'Orders placed; one a row.';\nCOMMENT ON FUNCTION total(INT) IS 'The total.';\nCOMMENT ON COLUMN shop.orders.id IS 'Its id.';\n";
        let documented: Vec<(Option<String>, bool)> = read(text).into_iter().map(|p| (p.name, p.doc.is_some())).collect();
        assert_eq!(
            documented,
            [(Some("orders".into()), true), (Some("open_orders".into()), false), (Some("total".into()), true), (None, false)],
            "a column's comment documents no object"
        );
    }

    #[test]
    fn objects_are_named_from_their_headers() {
        let text = [
            "CREATE TABLE IF NOT EXISTS \"shop\".\"Orders\" (id INT);",
            "CREATE TEMPORARY TABLE scratch (id INT);",
            "CREATE UNIQUE INDEX CONCURRENTLY orders_id ON shop.orders (id);",
            "CREATE INDEX ON shop.orders (total);",
            "CREATE OR REPLACE MATERIALIZED VIEW big AS SELECT 1;",
            "CREATE ALGORITHM=MERGE DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW `db`.`v` AS SELECT 1;",
            "CREATE TYPE mood AS ENUM ('sad', 'happy');",
            "CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');",
            "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f();",
            "ALTER TABLE a ADD COLUMN b INT;",
            "ALTER FUNCTION f() OWNER TO admin;",
            "CREATE TABLE procedure_log (delimiter TEXT);",
        ]
        .join("\n");
        assert_eq!(
            pieces(&text),
            [
                "table shop.Orders 1-1",
                "table scratch 2-2",
                "index orders_id 3-3",
                "index - 4-4",
                "view big 5-5",
                "view db.v 6-6",
                "type mood 7-7",
                "type email 8-8",
                "trigger t 9-9",
                "code - 10-11",
                "table procedure_log 12-12",
            ]
        );
    }

    #[test]
    fn routines_run_to_where_their_client_ends_them() {
        // T-SQL: to the batch's end, whatever `;`s and blocks are inside.
        let tsql = "CREATE PROCEDURE [dbo].[Get] @Id INT AS\n  CREATE TABLE #seen (id INT);\n  SELECT 2;\nGO\nALTER PROC dbo.Put AS BEGIN TRAN; COMMIT; END\nGO\n";
        assert_eq!(pieces(tsql), ["procedure dbo.Get 1-3", "procedure dbo.Put 5-5"]);
        // MySQL: to the delimiter.
        let mysql = "DELIMITER $$\nCREATE DEFINER=`root`@`%` PROCEDURE `shop`.`add`(IN n INT)\nBEGIN\n  SELECT n;\nEND$$\nDELIMITER ;\n";
        assert_eq!(pieces(mysql), ["procedure shop.add 2-5"]);
        assert!(contents(mysql)[0].ends_with("END$$"));
        // PostgreSQL: a dollar-quoted body's `;`s are in its string.
        let postgres = "CREATE OR REPLACE PROCEDURE reset() LANGUAGE plpgsql AS $body$\nBEGIN\n  DELETE FROM t;\nEND;\n$body$;\nSELECT 1;\n";
        assert_eq!(pieces(postgres), ["procedure reset 1-5", "code - 6-6"]);
        // Oracle, batched by `/`: a package body holding procedures.
        let oracle = "CREATE OR REPLACE PACKAGE BODY emp AS\n  PROCEDURE hire IS\n  BEGIN\n    NULL;\n  END hire;\nEND emp;\n/\nALTER PROCEDURE hire COMPILE;\nCREATE TABLE t (a INT);\n/\n";
        assert_eq!(pieces(oracle), ["module emp 1-6", "code - 8-8", "table t 9-9"], "an ALTER that defines nothing ends at its ;");
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
            "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM a; DELETE FROM b; END;",
            "SELECT 3;",
        ]
        .join("\n");
        assert_eq!(pieces(&mysql), ["trigger t 1-1", "procedure p 2-8", "function f 9-9", "procedure nightly 10-10", "code - 11-11"]);
        // Declarations before the block: their `;`s are the routine's until it closes.
        let declared = "CREATE FUNCTION g() RETURNS INT AS\nDECLARE\n  v INT;\nBEGIN\n  RETURN v;\nEND;\nSELECT 4;\n";
        assert_eq!(pieces(declared), ["function g 1-6", "code - 7-7"]);
        let oracle = "CREATE PROCEDURE p IS\n  v NUMBER;\nBEGIN\n  IF v IS NULL THEN NULL; END IF;\nEND p;\nSELECT 5 FROM dual;\n";
        assert_eq!(pieces(oracle), ["procedure p 1-5", "code - 6-6"]);
    }

    #[test]
    fn comments_just_above_are_a_units_and_a_transaction_alone_is_none() {
        let text = "BEGIN;\n\n-- Adds a row.\n/* Idempotent. */\nCREATE PROCEDURE add_row() BEGIN SELECT 1; END;\nSELECT 2; -- trailing\nCREATE PROCEDURE bare() BEGIN SELECT 2; END;\nCOMMIT;\n";
        let read = read(text);
        let [documented, code, bare] = &read[..] else { panic!("{:?}", pieces(text)) };
        assert!(text[documented.range.clone()].starts_with("-- Adds a row.\n/* Idempotent. */\nCREATE"));
        assert_eq!(&text[documented.doc.clone().unwrap()], "-- Adds a row.\n/* Idempotent. */");
        assert_eq!(&text[code.range.clone()], "SELECT 2;");
        assert!(text[bare.range.clone()].starts_with("CREATE PROCEDURE bare"), "a trailing comment is its line's");
        assert!(bare.doc.is_none());
    }
}
