//! Splitting decoded source text into [`Unit`]s.
//!
//! One algorithm for every grammar (the per-language knowledge is in `grammar.rs`):
//! - each definition is a unit; a leading comment or attribute block (no blank line
//!   before the definition) belongs to it;
//! - a container (class, impl, trait, namespace) with member definitions becomes a
//!   *skeleton* unit — its text with member bodies replaced by `{ ... }` — and each
//!   member a unit of its own whose `parent` names the container. A container without
//!   members is an ordinary unit;
//! - top-level code between definitions (imports, constants, script statements) is
//!   grouped into `code` units; a stretch of nothing but comments is not a unit;
//! - a file with no definitions (a script, a query) is one `file` unit, documented by
//!   a header at its top (`header.rs`), since its statements alone would be `code`,
//!   which no comment documents;
//! - each definition records where its doc comment would go ([`DocSite`]), or that it
//!   has one: the tree knows where a Python body starts, the export's patch does not;
//! - a unit over the byte budget is split at line boundaries into parts;
//! - a language without a grammar gives one `file` unit, and so does a file its parser
//!   could not read;
//! - SQL has no grammar here: a script is read by its statements (`sql.rs`, and dbt's
//!   templates by `dbt.rs`), each object a statement creates a unit as a definition is.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use tree_sitter::{Node, Parser};

use super::dbt;
use super::fortran;
use super::grammar::{self, InnerDoc, Item};
use super::header::{can_hold_header, comment_marker, header_site, is_note};
use super::language::Language;
use super::octave;
use super::sql;
use super::parameters::parameter_names;
use super::stale::stale_doc;
use super::text::trimmed;
use super::unit::{at_margin, DocSite, Unit, UnitKind};

/// Splits files into units. Holds a tree-sitter parser, so keep one per thread.
pub struct Splitter {
    parser: Parser,
    max_unit_bytes: usize,
}

impl Splitter {
    /// A splitter whose units hold at most `max_unit_bytes` of content (at least one
    /// character per part, whatever the budget).
    pub fn new(max_unit_bytes: usize) -> Splitter {
        Splitter { parser: Parser::new(), max_unit_bytes: max_unit_bytes.max(1) }
    }

    /// The units of `text`, the file at `path`, in file order (a container before its
    /// members). Empty when the file held nothing but comments.
    pub fn split(&mut self, language: Language, path: &str, text: &str) -> Vec<Unit> {
        let lines = LineIndex::new(text);
        if language == Language::RMarkdown {
            return self.chunks(text, &lines);
        }
        let spans = match language {
            Language::Vue | Language::Svelte => self.component(path, text, &lines),
            Language::Html => self.page(path, text, &lines),
            _ => {
                let (spans, outline) = self.dialect_spans(language, path, text, text, &lines);
                as_whole_file(language, text, spans, outline, &lines)
            }
        };
        self.units(spans, text, &lines)
    }

    /// The units of a notebook's code cell, placed in `text`, the cell's source. The
    /// parser reads `parse`, the same text with what is not the language (IPython's
    /// magics) turned into comments of the same length; the units hold `text`.
    pub(crate) fn split_cell(&mut self, language: Language, text: &str, parse: &str) -> Vec<Unit> {
        assert_eq!(text.len(), parse.len(), "a cell's parse text keeps its length");
        let lines = LineIndex::new(text);
        // A cell has no file name to call its Fortran fixed form.
        let (spans, _) = self.dialect_spans(language, "", text, parse, &lines);
        self.units(spans, text, &lines)
    }

    /// The spans of `text`, parsed from `parse` (the same text, or a copy of the same
    /// length with what is not the language masked) in the spelling its grammar reads:
    /// Fortran's fixed form as free form, Octave's dialect as MATLAB; a SQL script is
    /// read by `sql`, into the statements its client reads. With the spans, what an
    /// outline of the file is made of, where a grammar read it.
    fn dialect_spans(&mut self, language: Language, path: &str, text: &str, parse: &str, lines: &LineIndex) -> (Vec<Span>, Option<OutlineParts>) {
        let parse = match language {
            Language::Fortran if fortran::is_fixed_form(path) => Cow::Owned(fortran::as_free_form(parse)),
            Language::Matlab => octave::as_matlab(parse),
            Language::Sql => return (self.script_spans(path, parse, 0..parse.len(), lines), None),
            _ => Cow::Borrowed(parse),
        };
        match self.spans(language, &parse, lines) {
            Some((spans, outline)) => (spans, Some(outline)),
            None => (vec![Span::whole(UnitKind::File, text)], None),
        }
    }

    /// The spans of the SQL script in `region` of `text` (all of it, or a document's
    /// chunk; no grammar reads SQL's dialects): the objects its statements create and the
    /// code between them, read by `sql`; or, for dbt's Jinja templates, read by `dbt`:
    /// the macros a file defines, or the model a file whose statements create nothing is.
    fn script_spans(&self, path: &str, text: &str, region: Range<usize>, lines: &LineIndex) -> Vec<Span> {
        let script = &text[region.clone()];
        let pieces = dbt::blocks_and_code(script).unwrap_or_else(|| {
            let statements = sql::read(script);
            let model = dbt::is_templated(script) && statements.iter().all(|p| p.kind == UnitKind::Code);
            if model { dbt::model(script, path).into_iter().collect() } else { statements }
        });
        let shift = |range: Range<usize>| region.start + range.start..region.start + range.end;
        let spans = pieces.into_iter().map(|piece| {
            if piece.kind == UnitKind::Code {
                return Span::code(shift(piece.range));
            }
            let doc_site = match piece.doc {
                Some(doc) => DocSite::Documented(shift(doc)),
                None => doc_site_above(text, lines, region.start + piece.start),
            };
            Span { kind: piece.kind, name: piece.name, parent: piece.owner, range: shift(piece.range), elisions: Vec::new(), doc_site: Some(doc_site), stale_doc: None, signature: None, parameters: None, c_function: None }
        });
        spans.collect()
    }

    /// The units of an R Markdown or Quarto document: its code chunks' (```` ```{r} ````,
    /// ```` ```{python} ````, ```` ```{sql} ````), each read where it stands in its
    /// engine's language, as a notebook's cells are; the prose between is no unit.
    fn chunks(&mut self, text: &str, lines: &LineIndex) -> Vec<Unit> {
        let mut units = Vec::new();
        for (code, language) in chunks(text) {
            if text[code.clone()].trim().is_empty() {
                continue;
            }
            let spans = match language {
                Language::Sql => self.script_spans("", text, code.clone(), lines),
                // A chunk no grammar reads is code as it stands.
                _ => self.region_spans(language, text, code.clone(), lines).unwrap_or_else(|| vec![Span::code(trimmed(text, code.clone()))]),
            };
            units.extend(self.units(spans, text, lines).into_iter().map(|unit| Unit { language: Some(language), ..unit }));
        }
        units
    }

    /// The spans of `region` of `text` in `language`, parsed where it stands; `None`
    /// when no grammar reads it.
    fn region_spans(&mut self, language: Language, text: &str, region: Range<usize>, lines: &LineIndex) -> Option<Vec<Span>> {
        let tree = self.parse_region(language, text, region, lines)?;
        TreeWalker::read(language, &tree, text, lines).map(|(spans, _)| spans)
    }

    /// A tree of `region` of `text` in `language`, parsed where it stands, so that its
    /// offsets are the file's.
    fn parse_region(&mut self, language: Language, text: &str, region: Range<usize>, lines: &LineIndex) -> Option<tree_sitter::Tree> {
        let grammar = grammar::grammar(language)?;
        let range = tree_sitter::Range {
            start_byte: region.start,
            end_byte: region.end,
            start_point: lines.point(region.start),
            end_point: lines.point(region.end),
        };
        let parsed = self.parser.set_language(&grammar).is_ok() && self.parser.set_included_ranges(&[range]).is_ok();
        let tree = parsed.then(|| self.parser.parse(text, None)).flatten();
        self.parser.set_included_ranges(&[]).expect("the whole text is a valid range");
        tree
    }

    fn units(&self, spans: Vec<Span>, text: &str, lines: &LineIndex) -> Vec<Unit> {
        spans.into_iter().flat_map(|span| span.into_units(text, lines, self.max_unit_bytes)).collect()
    }

    /// The units of a file in one language, before they are cut to the budget, and what
    /// its outline is made of; `None` when there is no grammar for it, or its parser
    /// could not read it.
    fn spans(&mut self, language: Language, text: &str, lines: &LineIndex) -> Option<(Vec<Span>, OutlineParts)> {
        let grammar = grammar::grammar(language)?;
        self.parser.set_language(&grammar).ok()?;
        let tree = self.parser.parse(text, None)?;
        // A file the parser could not read is a file, as in a language without a
        // grammar, not top-level code: when its root is an error (whose children
        // leave out the tokens it skipped), or when no definition was found in it.
        let (spans, outline) = TreeWalker::read(language, &tree, text, lines)?;
        let unread = tree.root_node().has_error() && spans.iter().all(|s| s.kind == UnitKind::Code);
        (!unread).then_some((spans, outline))
    }

    /// A single-file component (Vue's `.vue`, Svelte's `.svelte`) is a container named by
    /// its file, as both frameworks name it: its text with the bodies of its scripts'
    /// definitions elided, and each definition a unit of its own, as is each method of
    /// a Vue component written in the Options API. Its doc has no place in the file
    /// (neither framework reads one there).
    fn component(&mut self, path: &str, text: &str, lines: &LineIndex) -> Vec<Span> {
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let name = file_name.split('.').next().filter(|stem| !stem.is_empty()).unwrap_or(file_name);
        self.markup(UnitKind::Component, name, "a component's doc has no place in its file", text, lines)
    }

    /// An HTML page is a container named by its file (`index.html`), holding its inline
    /// scripts' definitions as a component does: pages of a server-rendered site keep
    /// their JavaScript in them, and each function there is worth its own doc and
    /// review. Its doc has no place hearth writes (a comment above `<!DOCTYPE>` or a
    /// template's `{% extends %}` is not one).
    fn page(&mut self, path: &str, text: &str, lines: &LineIndex) -> Vec<Span> {
        let file_name = path.rsplit('/').next().unwrap_or(path);
        self.markup(UnitKind::Page, file_name, "a page's doc has no place in its file", text, lines)
    }

    /// A markup file as a container of its scripts' definitions: its whole text, with
    /// their bodies elided, then each definition, the container its parent.
    fn markup(&mut self, kind: UnitKind, name: &str, no_doc_place: &'static str, text: &str, lines: &LineIndex) -> Vec<Span> {
        let doc_site = Some(DocSite::NoPlace(no_doc_place));
        let mut spans = vec![Span { kind, name: Some(name.to_string()), parent: None, range: 0..text.len(), elisions: Vec::new(), doc_site, stale_doc: None, signature: None, parameters: None, c_function: None }];
        let mut elisions = Vec::new();
        for (script, language) in self.scripts(text) {
            let Some(tree) = self.parse_region(language, text, script, lines) else { continue };
            let mut walker = TreeWalker::new(language, text, lines);
            let options = grammar::component_options(tree.root_node(), text);
            walker.component_options = options.iter().map(|options| options.id()).collect();
            elisions.extend(walker.level(tree.root_node(), Some(name), false, false));
            for options in options {
                elisions.extend(walker.level(options, Some(name), true, false));
            }
            spans.extend(walker.spans);
        }
        // The options' methods were read after the script's other definitions: back
        // to file order, each container before its members.
        spans[1..].sort_by_key(|span| (span.range.start, std::cmp::Reverse(span.range.end)));
        elisions.sort_by_key(|elided| elided.start);
        spans[0].elisions = elisions;
        spans
    }

    /// Where a markup file's inline `<script>` blocks hold their code, in file order,
    /// and the grammar for each: `lang="ts"` is TypeScript, as Vue and Svelte read it;
    /// a `type` that is not JavaScript's (`text/template`, `application/ld+json`,
    /// `importmap`) is data, not code, and is left in its container.
    fn scripts(&mut self, text: &str) -> Vec<(Range<usize>, Language)> {
        let html: tree_sitter::Language = tree_sitter_html::LANGUAGE.into();
        let Some(tree) = self.parser.set_language(&html).ok().and_then(|_| self.parser.parse(text, None)) else { return Vec::new() };
        let mut scripts = Vec::new();
        let mut cursor = tree.walk();
        // Pre-order over the elements: a page's scripts are in its `<head>` and `<body>`.
        loop {
            let node = cursor.node();
            if node.kind() == "script_element" {
                scripts.extend(script(node, text));
            } else if cursor.goto_first_child() {
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    return scripts;
                }
            }
        }
    }
}

/// The code of each executed chunk of an R Markdown or Quarto document (a fence of three
/// or more backticks and `{engine …}`: ```` ```{r setup, echo=FALSE} ````), in order,
/// with its engine's language. A displayed block (```` ```r ````, ```` ```{.python} ````)
/// is prose, and a chunk whose engine hearth does not read (`{ojs}`, `{mermaid}`) is
/// left out.
fn chunks(text: &str) -> Vec<(Range<usize>, Language)> {
    let mut chunks = Vec::new();
    let mut lines = text.split_inclusive('\n').scan(0, |start, line| {
        let at = *start;
        *start += line.len();
        Some((at, line))
    });
    while let Some((_, line)) = lines.next() {
        let fence = line.trim_start();
        let ticks = fence.bytes().take_while(|&b| b == b'`').count();
        let Some(header) = fence[ticks..].strip_prefix('{').filter(|_| ticks >= 3) else { continue };
        let engine_end = header.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(header.len());
        let language = Language::from_name(&header[..engine_end]);
        let mut code: Option<Range<usize>> = None;
        for (at, line) in lines.by_ref() {
            let closing = line.trim();
            if closing.len() >= ticks && closing.bytes().all(|b| b == b'`') {
                code.get_or_insert(at..at);
                break;
            }
            // Quarto's chunk options (`#| echo: false`, `//|`, `--|`) open a chunk, blank
            // lines or not before them: they are no comment of the code below them.
            let opening = closing.is_empty() || ["#|", "//|", "--|"].iter().any(|marker| closing.starts_with(marker));
            if opening && code.is_none() {
                continue;
            }
            code = Some(code.map_or(at..at + line.len(), |c| c.start..at + line.len()));
        }
        if let (Some(code), Some(language)) = (code, language) {
            chunks.push((code, language));
        }
    }
    chunks
}

/// An inline script's code and its language; `None` for a script that loads its code
/// (`src=`) or holds data.
fn script(element: Node<'_>, text: &str) -> Option<(Range<usize>, Language)> {
    let mut cursor = element.walk();
    let children: Vec<Node<'_>> = element.named_children(&mut cursor).collect();
    let code = children.iter().find(|n| n.kind() == "raw_text")?;
    let attribute = |wanted: &str| {
        let tag = children.iter().find(|n| n.kind() == "start_tag")?;
        let mut cursor = tag.walk();
        let attributes: Vec<Node<'_>> = tag.named_children(&mut cursor).filter(|a| a.kind() == "attribute").collect();
        attributes.into_iter().find_map(|attribute| {
            let (name, value) = (attribute.named_child(0)?, attribute.named_child(1)?);
            text[name.byte_range()].eq_ignore_ascii_case(wanted).then(|| text[value.byte_range()].trim_matches(['"', '\'']).trim().to_ascii_lowercase())
        })
    };
    let language = match (attribute("lang").as_deref(), attribute("type").as_deref()) {
        (Some("ts"), _) | (_, Some("text/typescript" | "application/typescript")) => Language::TypeScript,
        (Some("tsx"), _) => Language::Tsx,
        (_, None | Some("" | "module" | "text/javascript" | "application/javascript" | "text/ecmascript" | "application/ecmascript" | "text/babel" | "text/jsx")) => Language::JavaScript,
        _ => return None,
    };
    Some((code.byte_range(), language))
}

/// A unit before it is cut to the budget.
struct Span {
    kind: UnitKind,
    name: Option<String>,
    parent: Option<String>,
    range: Range<usize>,
    /// For skeletons: the member bodies elided from `src[range]`, in order. Kept as
    /// ranges, not text, so the skeleton is written from the file as it is, where the
    /// parser read a masked copy (a notebook's magics, Fortran's fixed form).
    elisions: Vec<Range<usize>>,
    /// Set for definitions.
    doc_site: Option<DocSite>,
    /// Why the doc it has no longer describes it (see [`stale_doc`]).
    stale_doc: Option<String>,
    /// A function's code before its body ([`Unit::signature`]).
    signature: Option<String>,
    /// A function's parameter names, where all can be named ([`Unit::parameters`]).
    parameters: Option<Vec<String>>,
    /// For a C/C++ function: its parameter list, and whether it is only declared here.
    c_function: Option<(String, bool)>,
}

impl Span {
    fn whole(kind: UnitKind, text: &str) -> Span {
        Span { kind, name: None, parent: None, range: 0..text.len(), elisions: Vec::new(), doc_site: None, stale_doc: None, signature: None, parameters: None, c_function: None }
    }

    fn code(range: Range<usize>) -> Span {
        Span { kind: UnitKind::Code, name: None, parent: None, range, elisions: Vec::new(), doc_site: None, stale_doc: None, signature: None, parameters: None, c_function: None }
    }

    fn into_units(self, src: &str, lines: &LineIndex, budget: usize) -> Vec<Unit> {
        let elided = !self.elisions.is_empty();
        let skeleton = elided.then(|| skeleton(src, &self.range, &self.elisions));
        let mut content = skeleton.as_deref().unwrap_or(&src[self.range.clone()]);
        // An outline is one unit: past the budget, its first lines and a mark of the rest.
        let cut_outline;
        if self.kind == UnitKind::Outline && content.len() > budget {
            let head = cut_at_lines(content, budget.saturating_sub(OUTLINE_CUT.len() + 1)).remove(0);
            let eol = if content[head.clone()].ends_with('\n') { "" } else { "\n" };
            cut_outline = format!("{}{eol}{OUTLINE_CUT}", &content[head]);
            content = &cut_outline;
        }
        let pieces = cut_at_lines(content, budget);
        let parts = pieces.len() as u32;
        // The first part starts where the definition does, past its line's indentation;
        // later parts start at a line's start.
        let line_start = src[..self.range.start].rfind('\n').map_or(0, |at| at + 1);
        let before = &src[line_start..self.range.start];
        let first_indent = &before[..before.len() - before.trim_start().len()];
        pieces
            .into_iter()
            .enumerate()
            .map(|(part, piece)| {
                // A skeleton's text is not in the file: its parts all report the container's span.
                let range = if elided { self.range.clone() } else { self.range.start + piece.start..self.range.start + piece.end };
                let indent = if part == 0 { first_indent } else { "" };
                Unit {
                    kind: self.kind,
                    name: self.name.clone(),
                    parent: self.parent.clone(),
                    start_line: lines.line_of(range.start),
                    end_line: lines.line_of(range.end.saturating_sub(1).max(range.start)),
                    start_byte: range.start as u64,
                    end_byte: range.end as u64,
                    part: part as u32,
                    parts,
                    elided,
                    content: content[piece.clone()].to_string(),
                    indent: at_margin(indent, &content[piece]).map(|_| indent.to_string()),
                    doc_site: if part == 0 { self.doc_site.clone() } else { None },
                    doc: match &self.doc_site {
                        Some(DocSite::Documented(doc)) => Some(doc_text(src, doc.clone())),
                        _ => None,
                    },
                    stale_doc: self.stale_doc.clone(),
                    signature: self.signature.clone(),
                    parameters: self.parameters.clone(),
                    language: None,
                }
            })
            .collect()
    }
}

/// What the outline of a file read by its grammar is made of.
#[derive(Default)]
struct OutlineParts {
    /// The ranges it elides, in order: each top-level definition's body, and for a
    /// container its members' bodies (its own skeleton's elisions).
    elisions: Vec<Range<usize>>,
    /// The definitions at the file's level: at its top, or in a namespace or a
    /// conditional block there; not the namespaces themselves, nor class members.
    definitions: usize,
}

/// What ends an outline cut to the budget.
const OUTLINE_CUT: &str = "...\n";

struct TreeWalker<'s> {
    language: Language,
    src: &'s str,
    lines: &'s LineIndex,
    spans: Vec<Span>,
    outline: OutlineParts,
    /// Whether the level being read is the file's (see [`OutlineParts::definitions`]).
    at_file_level: bool,
    /// The options objects of a markup file's components (their `export default { … }`,
    /// `new Vue({ … })`), whose functions are the component's, not a module's.
    component_options: Vec<usize>,
}

impl<'s> TreeWalker<'s> {
    fn new(language: Language, src: &'s str, lines: &'s LineIndex) -> TreeWalker<'s> {
        TreeWalker { language, src, lines, spans: Vec::new(), outline: OutlineParts::default(), at_file_level: true, component_options: Vec::new() }
    }

    /// The spans of `tree`'s top level, read from `src`, and what the file's outline is
    /// made of; `None` when its root is an error.
    fn read(language: Language, tree: &tree_sitter::Tree, src: &'s str, lines: &'s LineIndex) -> Option<(Vec<Span>, OutlineParts)> {
        let root = tree.root_node();
        if root.is_error() {
            return None;
        }
        let mut walker = TreeWalker::new(language, src, lines);
        walker.level(root, None, false, true);
        walker.pair_declarations_with_definitions();
        Some((walker.spans, walker.outline))
    }

    /// Pairs each C or C++ function defined in its file with its declarations there (the
    /// same parameters): a definition below a documented declaration has that doc, as
    /// the file documents the function where it declares it; an undocumented declaration
    /// of a function defined further down (`static int helper(int n);` above `main`, a
    /// method declared in its class and defined below it) is dropped, the definition
    /// being the function whose doc is the one to write, once. A declaration of another
    /// overload, or one with a doc of its own, stays.
    fn pair_declarations_with_definitions(&mut self) {
        // Read from the file's top, so the declarations met so far are those above.
        let mut documented_above = HashMap::new();
        let mut inherited = Vec::new();
        for (i, span) in self.spans.iter().enumerate() {
            let Some((parameters, declared)) = &span.c_function else { continue };
            let function = (span.kind, &span.parent, &span.name, parameters);
            match (&span.doc_site, declared) {
                (Some(DocSite::Documented(doc)), true) => {
                    documented_above.insert(function, doc.clone());
                }
                (Some(DocSite::Before { .. }), false) => inherited.extend(documented_above.get(&function).map(|doc| (i, doc.clone()))),
                _ => {}
            }
        }
        for (i, doc) in inherited {
            self.spans[i].doc_site = Some(DocSite::Documented(doc));
        }
        // Read from the file's end, so the definitions met so far are those below.
        let mut defined_below = HashSet::new();
        let mut forward = vec![false; self.spans.len()];
        for (i, span) in self.spans.iter().enumerate().rev() {
            let Some((parameters, declared)) = &span.c_function else { continue };
            let function = (span.kind, &span.parent, &span.name, parameters);
            if !declared {
                defined_below.insert(function);
            } else if matches!(span.doc_site, Some(DocSite::Before { .. })) {
                forward[i] = defined_below.contains(&function);
            }
        }
        // A function at the file's level counted toward its outline.
        self.outline.definitions = self.outline.definitions.saturating_sub(forward.iter().zip(&self.spans).filter(|(gone, span)| **gone && span.kind == UnitKind::Function).count());
        let mut gone = forward.into_iter();
        self.spans.retain(|_| !gone.next().unwrap_or(false));
    }

    /// Reads the children of `node` as one level of definitions. Returns the ranges an
    /// enclosing skeleton elides: the bodies of the definitions found.
    fn level(&mut self, node: Node<'_>, parent: Option<&str>, in_container: bool, top_level: bool) -> Vec<Range<usize>> {
        let elements = flatten(node, self.language, self.src);
        let mut elisions = Vec::new();
        let mut free = 0; // elements[free..] are not yet part of a unit
        // A statement-form namespace (`namespace Shop;`) is the parent of what follows it.
        let mut scope = parent.map(str::to_string);
        for (i, element) in elements.iter().enumerate() {
            if i < free {
                continue; // a clause of the definition before
            }
            if let Some(namespace) = grammar::namespace_statement(self.language, *element, self.src) {
                let enclosing = if grammar::names_packages_in_full(self.language) { None } else { parent };
                scope = join(enclosing, Some(&namespace), grammar::path_separator(self.language));
                continue;
            }
            let Some(item) = grammar::classify(self.language, *element, self.src, in_container) else { continue };
            if item.members.is_some_and(|members| self.component_options.contains(&members.id())) {
                continue;
            }
            let mut first = i;
            while first > free && self.leads(elements[first - 1], elements[first].start_byte()) {
                first -= 1;
            }
            if top_level {
                self.gap(&elements[free..first]);
            }
            let mut start = elements[first].start_byte();
            let mut doc = self.docs_among(&elements[first..i]);
            if first == 0 {
                let (above, docs) = self.annotation_before(node, start);
                start = above;
                doc = cover(docs, doc);
            }
            // Its clauses, and the comments between them (Sphinx groups its overloads under comments).
            let mut last = i;
            loop {
                let next = (last + 1..elements.len()).find(|&j| !grammar::is_comment(elements[j].kind()));
                match next {
                    Some(next) if grammar::continues(self.language, *element, elements[next], self.src) => last = next,
                    _ => break,
                }
            }
            // Python's overloads are stubs; the implementation after them is the function,
            // with its docstring and body.
            let implementation = (last > i && self.language == Language::Python).then(|| grammar::classify(self.language, elements[last], self.src, in_container)).flatten();
            let stubs = if implementation.is_some() { &elements[i..last] } else { &[] };
            let (element, item) = match implementation {
                Some(implementation) => (&elements[last], implementation),
                None => (element, item),
            };
            let end = grammar::end_of(self.language, elements[last], self.src);
            let mut doc_site = self.doc_site(*element, start, doc);
            // A project that documents each overload (sqlfluff's `__getitem__`) has
            // documented the function, though its implementation has no docstring.
            if matches!(doc_site, DocSite::Before { .. }) {
                let stub_doc = stubs.iter().find_map(|stub| match grammar::inner_doc(self.language, *stub, self.src) {
                    Some(InnerDoc::Written(doc)) => Some(doc),
                    _ => None,
                });
                doc_site = stub_doc.map_or(doc_site, DocSite::Documented);
            }
            let in_full = item.kind == UnitKind::Module && grammar::names_packages_in_full(self.language);
            let kind = item.kind;
            if self.at_file_level && !matches!(kind, UnitKind::Code | UnitKind::Module) {
                self.outline.definitions += 1;
            }
            let own_span = self.spans.len();
            let elided = self.item(item, *element, start..end, if in_full { None } else { scope.as_deref() }, doc_site, (in_container, top_level));
            // A skeleton elides every clause: from the first one's body, or after the signature.
            let elided = match elided.as_slice() {
                [body] if last > i => vec![body.start..end],
                [] if last > i => vec![elements[i + 1].start_byte()..end],
                _ => elided,
            };
            if top_level {
                // The outline shows a container as its own skeleton does: its members' signatures.
                let container = self.spans.get(own_span).filter(|span| span.kind == kind && !span.elisions.is_empty());
                self.outline.elisions.extend(container.map_or_else(|| elided.clone(), |span| span.elisions.clone()));
            }
            elisions.extend(elided);
            free = last + 1;
        }
        if top_level {
            self.gap(&elements[free..]);
        }
        elisions
    }

    /// Where the comments just above a level's first item start, when the grammar hangs
    /// them on the container rather than its body (Ruby, and Python, attach a comment
    /// between `class A` and its first method to the class node), and the bytes of
    /// those that are docs.
    fn annotation_before(&self, level: Node<'_>, mut start: usize) -> (usize, Option<Range<usize>>) {
        let mut previous = level.prev_named_sibling();
        let mut leading = Vec::new();
        while let Some(node) = previous.filter(|p| self.leads(*p, start)) {
            start = node.start_byte();
            leading.push(node);
            previous = node.prev_named_sibling();
        }
        (start, self.docs_among(&leading))
    }

    /// The bytes from the first to the last of the docs among `annotations` (comments
    /// that are not only tools' directives, Elixir's `@doc`, Julia's docstrings); the
    /// attributes between them come along. A note to the authors (`// TODO: …` and the
    /// lines of the same marker that continue it) is no doc, but a doc's own lines
    /// (`/// TODO: …` in a doc) stay its.
    fn docs_among(&self, annotations: &[Node<'_>]) -> Option<Range<usize>> {
        // The marker of the comment lines just read, and whether they are a note.
        let mut block: Option<(&str, bool)> = None;
        let docs = annotations.iter().filter(|node| {
            let text = &self.src[node.byte_range()];
            let is_doc = || grammar::is_doc(self.language, **node, self.src);
            if !grammar::is_comment(node.kind()) {
                block = None;
                return is_doc();
            }
            let marker = comment_marker(text);
            let note = match block {
                Some((same, note)) if same == marker => note,
                _ => is_note(text),
            };
            block = Some((marker, note));
            !note && is_doc()
        });
        docs.map(|node| Some(node.byte_range())).reduce(cover).flatten()
    }

    /// Where the doc comment of the definition `element` goes: above it (from `start`,
    /// where its leading comments and attributes begin), or for Python a docstring at
    /// the top of its body. `above`: the doc comments (or Elixir's `@doc`) that lead it.
    fn doc_site(&self, element: Node<'_>, start: usize, above: Option<Range<usize>>) -> DocSite {
        if let Some(moduledoc) = grammar::moduledoc(self.language, element, self.src) {
            return moduledoc.map_or(DocSite::NoPlace("an Elixir module's doc is the @moduledoc in its body"), DocSite::Documented);
        }
        let at = match (grammar::inner_doc(self.language, element, self.src), above) {
            (Some(InnerDoc::Written(doc)), _) => return DocSite::Documented(doc),
            (Some(InnerDoc::NoBody), _) => return DocSite::NoPlace("it has no body"),
            (Some(InnerDoc::Goes { above_counts: true, .. }) | None, Some(doc)) => return DocSite::Documented(doc),
            (Some(InnerDoc::Goes { at, .. }), _) => at,
            (None, None) => start,
        };
        doc_site_above(self.src, self.lines, at)
    }

    /// Whether `node` is a comment or attribute that belongs to what starts at `start`:
    /// on lines of its own (not trailing the code before it) with no blank line between,
    /// unless its language writes one there (Perl's POD).
    fn leads(&self, node: Node<'_>, start: usize) -> bool {
        grammar::is_annotation(self.language, node, self.src)
            && self.before_on_line(node.start_byte()).trim().is_empty()
            && (grammar::stands_apart(self.language, node, self.src) || !has_blank_line(&self.src[self.line_end(node)..start]))
    }

    /// Where the line `node` ends on ends: a grammar whose comments hold their line's
    /// end (Rust's doc comments) would otherwise hide a blank line below one.
    fn line_end(&self, node: Node<'_>) -> usize {
        let end = node.end_byte();
        if self.src[..end].ends_with('\n') { end - 1 } else { end }
    }

    /// The text from the start of `byte`'s line up to it.
    fn before_on_line(&self, byte: usize) -> &'s str {
        &self.src[self.lines.line_start(byte)..byte]
    }

    /// Emits `item` (and its members), which stands in a level that is a container's
    /// body or not, at the top of its file or not (`(in_container, top_level)`); returns
    /// what an enclosing skeleton elides of it.
    fn item(&mut self, item: Item<'_>, node: Node<'_>, range: Range<usize>, parent: Option<&str>, doc_site: DocSite, (in_container, top_level): (bool, bool)) -> Vec<Range<usize>> {
        let sep = grammar::path_separator(self.language);
        let parent = join(parent, item.owner.as_deref(), sep);
        // Code (a statement that defines on a condition) is documented by nothing, and
        // is a unit only where code is, at the top level: in a class, the class's
        // skeleton shows it.
        let code = item.kind == UnitKind::Code;
        let body = item.body.clone().or_else(|| node.child_by_field_name("body").map(|body| body.byte_range()));
        let function = matches!(item.kind, UnitKind::Function | UnitKind::Method);
        let signature = function.then(|| self.signature(node, body.as_ref())).flatten();
        let parameters = function.then(|| parameter_names(self.language, node, self.src)).flatten();
        let stale_doc = match (&doc_site, function) {
            (DocSite::Documented(doc), true) => self.stale_doc(node, &range, doc, signature, parameters.as_deref()),
            _ => None,
        };
        let signature = signature.map(str::to_string);
        let doc_site = (!code).then_some(doc_site);
        let index = (!code || top_level).then(|| {
            let c_function = grammar::c_parameters(self.language, node, self.src).map(|parameters| (parameters, body.is_none()));
            self.spans.push(Span { kind: item.kind, name: item.name.clone(), parent: parent.clone(), range, elisions: Vec::new(), doc_site, stale_doc, signature, parameters, c_function });
            self.spans.len() - 1
        });
        if let Some(members) = item.members {
            // Code's definitions are its level's: the same parent, methods in a class.
            let (member_parent, in_class) = match item.kind {
                UnitKind::Code => (parent.clone(), in_container),
                // Functions in a namespace, a module or a function (MATLAB's nested ones)
                // stay functions; in a class they are methods.
                kind => {
                    let own_name = item.name.as_deref().unwrap_or("<anonymous>");
                    (join(parent.as_deref(), Some(own_name), sep), !matches!(kind, UnitKind::Module | UnitKind::Function | UnitKind::Method))
                }
            };
            let at_file_level = self.at_file_level;
            self.at_file_level = at_file_level && matches!(item.kind, UnitKind::Code | UnitKind::Module);
            let elided = self.level(members, member_parent.as_deref(), in_class, false);
            self.at_file_level = at_file_level;
            if let Some(index) = index {
                self.spans[index].elisions = elided.clone();
            }
            // An enclosing skeleton shows code as its own skeleton does; a container, not at all.
            return if item.kind == UnitKind::Code { elided } else { vec![members.byte_range()] };
        }
        body.into_iter().collect()
    }

    /// Why the `doc` of the function `node` (whose unit spans `range`) no longer
    /// describes it, judged by its `signature` ([`TreeWalker::signature`]; all of its
    /// code for a declaration without a body: TypeScript's overloads, one unit; a C
    /// prototype) and its `parameters`.
    fn stale_doc(&self, node: Node<'_>, range: &Range<usize>, doc: &Range<usize>, signature: Option<&str>, parameters: Option<&[String]>) -> Option<String> {
        if grammar::c_unnamed_parameters(self.language, node) {
            return None;
        }
        let code = [range.start..doc.start.clamp(range.start, range.end), doc.end.clamp(range.start, range.end)..range.end].map(|part| &self.src[part]).concat();
        let signature = signature.unwrap_or(&code);
        stale_doc(self.language, &doc_text(self.src, doc.clone()), signature, &code, parameters)
    }

    /// The code of the function `node` before its `body`: its name, parameters and
    /// types, by which a doc's parameter names are judged. `None` without a body (a
    /// declaration is all signature) and for C's unnamed parameters, which no doc's
    /// names can be held to.
    fn signature(&self, node: Node<'_>, body: Option<&Range<usize>>) -> Option<&'s str> {
        if grammar::c_unnamed_parameters(self.language, node) {
            return None;
        }
        body.map(|body| &self.src[node.start_byte()..body.start.clamp(node.start_byte(), node.end_byte())])
    }

    /// Top-level code between definitions; nothing when it is only comments (or tags).
    fn gap(&mut self, elements: &[Node<'_>]) {
        if elements.iter().all(|e| grammar::is_trivia(*e)) {
            return;
        }
        let range = elements[0].start_byte()..grammar::end_of(self.language, elements[elements.len() - 1], self.src);
        self.spans.push(Span::code(range));
    }
}

/// The named children of `node`, with transparent wrappers (`#ifdef`, `extern "C"`)
/// replaced by their own children, and a list of members (an R6 class's `public =
/// list(…)`) by the members.
fn flatten<'t>(node: Node<'t>, language: Language, src: &str) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    let mut cursor = node.walk();
    let mut more = cursor.goto_first_child();
    while more {
        let child = cursor.node();
        // `#ifdef NAME`'s name and `#if`'s condition are the directive's, not code of their own.
        let directive = node.kind().starts_with("preproc_") && matches!(cursor.field_name(), Some("name" | "condition"));
        more = cursor.goto_next_sibling();
        if !child.is_named() || directive {
            continue;
        }
        if grammar::is_transparent(child.kind()) || grammar::is_conditional_block(language, child) {
            out.extend(flatten(child, language, src));
        } else if let Some(members) = grammar::member_list(language, child, src) {
            out.extend(flatten(members, language, src));
        } else {
            out.push(child);
        }
    }
    out
}

/// The doc at `range` of `src` as it reads on its own: trimmed, and its later lines
/// without the indent of its first (a method's doc comment, or a docstring's body).
fn doc_text(src: &str, range: Range<usize>) -> String {
    let range = trimmed(src, range);
    let line_start = src[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &src[line_start..range.start];
    let indent = &indent[..indent.len() - indent.trim_start().len()];
    let lines: Vec<&str> = src[range].lines().enumerate().map(|(i, line)| if i == 0 { line } else { line.strip_prefix(indent).unwrap_or(line) }).collect();
    lines.join("\n")
}

/// The bytes from the start of the first range to the end of the last.
fn cover(a: Option<Range<usize>>, b: Option<Range<usize>>) -> Option<Range<usize>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.start.min(b.start)..a.end.max(b.end)),
        (a, b) => a.or(b),
    }
}

fn join(parent: Option<&str>, child: Option<&str>, sep: &str) -> Option<String> {
    match (parent, child) {
        (Some(p), Some(c)) => Some(format!("{p}{sep}{c}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => None,
    }
}

/// `spans`, or for a file with no definitions among them the file as one `file` span
/// whose doc is its header; a file of nothing but comments has no spans and stays so.
///
/// A file with several definitions at its level also gets an outline unit, first, whose
/// doc is the file's header; a file of one definition is described by that
/// definition's doc (a Java class's Javadoc is its file's).
fn as_whole_file(language: Language, text: &str, spans: Vec<Span>, outline: Option<OutlineParts>, lines: &LineIndex) -> Vec<Span> {
    if spans.is_empty() {
        return spans;
    }
    let first_definition = spans.iter().filter(|span| !matches!(span.kind, UnitKind::Code | UnitKind::File)).map(|span| span.range.start).min();
    let Some(first_definition) = first_definition else {
        return vec![Span { doc_site: Some(header_site(language, text, None)), ..Span::whole(UnitKind::File, text) }];
    };
    match outline {
        Some(outline) if outline.definitions > 1 && can_hold_header(language) => {
            // The header goes above the first definition and whatever leads it (its doc).
            let above = lines.line_of(first_definition) as usize - 1;
            let doc_site = Some(header_site(language, text, Some(above)));
            let elisions = keeping_inner_docs(outline.elisions, &spans, text);
            let outline = Span { kind: UnitKind::Outline, name: None, parent: None, range: 0..text.len(), elisions, doc_site, stale_doc: None, signature: None, parameters: None, c_function: None };
            std::iter::once(outline).chain(spans).collect()
        }
        _ => spans,
    }
}

/// An outline's `elisions`, each past the doc a definition holds at the top of its
/// body (a Python docstring), so that the outline shows every doc the file has, as it
/// shows those written above a definition. A braced body is elided whole: its closing
/// brace would go with the rest.
fn keeping_inner_docs(mut elisions: Vec<Range<usize>>, spans: &[Span], text: &str) -> Vec<Range<usize>> {
    for span in spans {
        let Some(DocSite::Documented(doc)) = &span.doc_site else { continue };
        let opens_body = |elided: &&mut Range<usize>| {
            elided.start <= doc.start && doc.end <= elided.end && text[elided.start..doc.start].trim().is_empty() && !text[elided.start..].starts_with('{')
        };
        if let Some(elided) = elisions.iter_mut().find(opens_body) {
            let rest = &text[doc.end..elided.end];
            elided.start = elided.end - rest.trim_start().len();
        }
    }
    elisions.retain(|elided| !text[elided.clone()].trim().is_empty());
    elisions
}

/// New doc lines go above the line of `at`, indented as it is, unless code stands
/// before `at` on that line.
fn doc_site_above(src: &str, lines: &LineIndex, at: usize) -> DocSite {
    let indent = &src[lines.line_start(at)..at];
    if !indent.trim().is_empty() {
        return DocSite::NoPlace("it shares its line with other code");
    }
    DocSite::Before { line: lines.line_of(at), indent: indent.to_string() }
}

fn has_blank_line(between: &str) -> bool {
    between.matches('\n').count() > 1
}

/// `src[range]` with each elided range replaced by a placeholder in the body's own
/// syntax: `{ ... }` for braces, `(...)` for a tuple struct's fields, `...` for
/// Python's indented blocks.
fn skeleton(src: &str, range: &Range<usize>, elisions: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(range.len());
    let mut at = range.start;
    for elided in elisions {
        if elided.start < at {
            continue; // inside one elided already
        }
        out.push_str(&src[at..elided.start]);
        // A body whose node takes the line end after it (Perl's, in a package block) keeps that.
        let body = src[elided.clone()].trim_end();
        out.push_str(match body.as_bytes().first() {
            Some(b'{') => "{ ... }",
            Some(b'(') => "(...)",
            _ => "...",
        });
        at = elided.start + body.len();
    }
    out.push_str(&src[at..range.end]);
    out
}

/// Byte ranges of `text` of at most `budget` bytes, cut after a newline where possible
/// and on a character boundary where a single line is longer than the budget.
fn cut_at_lines(text: &str, budget: usize) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    while text.len() - start > budget {
        let window_end = floor_char_boundary(text, start + budget);
        let cut = match text[start..window_end].rfind('\n') {
            Some(newline) => start + newline + 1,
            None if window_end > start => window_end,
            // A single character wider than the budget: take it whole.
            None => start + text[start..].chars().next().map_or(1, char::len_utf8),
        };
        pieces.push(start..cut);
        start = cut;
    }
    if start < text.len() || pieces.is_empty() {
        pieces.push(start..text.len());
    }
    pieces
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Byte offset → 1-based line number.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    pub(crate) fn line_of(&self, byte: usize) -> u32 {
        self.starts.partition_point(|&start| start <= byte) as u32
    }

    /// Byte offset of the start of `byte`'s line.
    fn line_start(&self, byte: usize) -> usize {
        self.starts[self.line_of(byte) as usize - 1]
    }

    /// `byte` as tree-sitter's row and column, both 0-based.
    fn point(&self, byte: usize) -> tree_sitter::Point {
        tree_sitter::Point { row: self.line_of(byte) as usize - 1, column: byte - self.line_start(byte) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file's text from its lines, each ended by a newline.
    fn file(lines: &[&str]) -> String {
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// The units of `text`, but its outline (the tests of outlines ask for it).
    fn split(language: Language, text: &str) -> Vec<Unit> {
        without_outline(with_outline(language, text))
    }

    fn without_outline(units: Vec<Unit>) -> Vec<Unit> {
        units.into_iter().filter(|unit| unit.kind != UnitKind::Outline).collect()
    }

    fn with_outline(language: Language, text: &str) -> Vec<Unit> {
        Splitter::new(64 * 1024).split(language, "src/file", text)
    }

    #[test]
    fn a_function_carries_its_signature_the_code_before_its_body() {
        let signatures = |language: Language, text: &str| -> Vec<(Option<String>, Option<String>)> {
            let units = without_outline(with_outline(language, text));
            units.into_iter().map(|u| (u.name, u.signature.map(|s| s.trim_end().to_string()))).collect()
        };
        let python = "class A:\n    def f(self, a,\n          b=1):\n        '''Adds.'''\n        count = a\n        return count\n";
        let some = |s: &str| Some(s.to_string());
        assert_eq!(signatures(Language::Python, python), [(some("A"), None), (some("f"), some("def f(self, a,\n          b=1):"))]);
        assert_eq!(signatures(Language::Rust, "/// Doubles.\nfn g(x: u32) -> u32 {\n    x * 2\n}\n"), [(some("g"), some("fn g(x: u32) -> u32"))]);
        // A prototype is all signature; C's unnamed parameters hold no names to judge by.
        assert_eq!(signatures(Language::C, "int h(int, char *);\nint k(int n) { return n; }\n"), [(some("h"), None), (some("k"), some("int k(int n)"))]);
    }

    fn summary(units: &[Unit]) -> Vec<String> {
        units
            .iter()
            .map(|u| {
                format!(
                    "{} {} {} {}-{}",
                    u.kind,
                    u.parent.as_deref().unwrap_or("-"),
                    u.name.as_deref().unwrap_or("-"),
                    u.start_line,
                    u.end_line
                )
            })
            .collect()
    }

    /// Each unit's name and where its doc comment goes: `line+indent`, `documented`, or why not.
    fn doc_sites(language: Language, text: &str) -> Vec<String> {
        let site = |unit: &Unit| match &unit.doc_site {
            Some(DocSite::Before { line, indent }) => format!("{line}+{}", indent.len()),
            Some(DocSite::Documented(_)) => "documented".into(),
            Some(DocSite::NoPlace(why)) => (*why).into(),
            None => "-".into(),
        };
        split(language, text).iter().map(|u| format!("{} {}", u.name.as_deref().unwrap_or(u.kind.as_str()), site(u))).collect()
    }

    #[test]
    fn doc_comments_go_above_a_definition_and_its_attributes_and_docstrings_into_the_body() {
        let rust = "use std::fmt;\n\n#[derive(Debug)]\npub struct Point { x: i32 }\n\n/// Documented.\nimpl Point {\n    #[inline]\n    pub fn new() -> Self {\n        Point { x: 0 }\n    }\n    // A note.\n    fn x(&self) -> i32 { self.x }\n}\nfn a() {} fn b() {}\n";
        assert_eq!(
            doc_sites(Language::Rust, rust),
            ["code -", "Point 3+0", "Point documented", "new 8+4", "x documented", "a 15+0", "b it shares its line with other code"]
        );
        let python = "import os\n\n@cache\ndef f(\n    a,\n):\n    return a\n\nclass A:\n    \"\"\"An A.\"\"\"\n\n    # helper\n    def g(self):\n        # first\n        return 1\n\n    async def h(self): return 2\n\ndef i():\n    'done'\n";
        assert_eq!(
            doc_sites(Language::Python, python),
            ["code -", "f 7+4", "A documented", "g 15+8", "h it shares its line with other code", "i documented"]
        );
        let javascript = "export function f(a) {\n  return a;\n}\n\n/** Adds. */\nconst add = (a, b) => a + b;\n\nclass C {\n  m() {}\n}\n";
        assert_eq!(doc_sites(Language::JavaScript, javascript), ["f 1+0", "add documented", "C 8+0", "m 9+2"]);
        let java = "class A {\n    @Override\n    public String toString() { return \"A\"; }\n}\n";
        assert_eq!(doc_sites(Language::Java, java), ["A 1+0", "toString 2+4"]);
        let tabs = "package p\n\ntype T struct{}\n\nfunc (t T) M() {\n\treturn\n}\n";
        assert_eq!(doc_sites(Language::Go, tabs), ["code -", "T 3+0", "M 5+0"]);
    }

    #[test]
    fn commonjs_exports_prototypes_and_objects_of_functions_are_definitions() {
        let src = "'use strict';\n\nconst path = require('path');\n\nexports.resolve = function resolve(p) {\n  return path.resolve(p);\n};\n\nmodule.exports.join = (a, b) => path.join(a, b);\n\nmodule.exports = {\n  // Adds one.\n  inc(a) {\n    return a + 1;\n  },\n  twice: function (b) {\n    return b * 2;\n  },\n  limit: 3,\n};\n\nfunction Parser(text) {\n  this.text = text;\n}\n\n/** Splits the text at commas. */\nParser.prototype.parse = function () {\n  return this.text.split(',');\n};\n\nParser.create = (text) => new Parser(text);\n\nWidget.prototype = {\n  render() {\n    return '<div>';\n  },\n};\n\nconst config = { port: 3000, retries: 2 };\nwindow.boot = function () {};\n";
        let units = split(Language::JavaScript, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-3",
                "function - resolve 5-7",
                "function - join 9-9",
                "module - module.exports 11-20",
                "function module.exports inc 12-15",
                "function module.exports twice 16-18",
                "function - Parser 22-24",
                "method Parser parse 26-29",
                "function Parser create 31-31",
                "class - Widget 33-37",
                "method Widget render 34-36",
                "code - - 39-39",
                "function - boot 40-40",
            ]
        );
        assert_eq!(units[3].content, "module.exports = {\n  // Adds one.\n  inc(a) { ... },\n  twice: function (b) { ... },\n  limit: 3,\n};", "a skeleton: each function's body is its own unit's");
        let sites = doc_sites(Language::JavaScript, src);
        assert_eq!(sites[4..8], ["inc documented", "twice 16+2", "Parser 22+0", "parse documented"], "JSDoc reads a comment above a property");
        // Other assignments stay top-level code.
        let plain = "module.exports = require('./lib');\nexports.version = '1.0';\napp.get('/', (req, res) => res.send('ok'));\n";
        assert_eq!(summary(&split(Language::JavaScript, plain)), ["file - - 1-3"], "no definition: one file unit");
    }

    #[test]
    fn a_default_export_or_a_constructors_options_of_functions_are_namespaces() {
        let worker = file(&[
            "import { handle } from './handle'",
            "",
            "export default {",
            "  /** Answers each request. */",
            "  async fetch(request, env) {",
            "    return handle(request, env)",
            "  },",
            "  scheduled: async (event) => {",
            "    await sweep(event)",
            "  },",
            "}",
        ]);
        assert_eq!(
            summary(&split(Language::JavaScript, &worker)),
            ["code - - 1-1", "module - default 3-11", "function default fetch 4-7", "function default scheduled 8-10"],
            "a Cloudflare Worker's handlers were one `code` unit"
        );
        let store = file(&[
            "export const useCart = defineStore('cart', {",
            "  state: () => ({ items: [] }),",
            "  actions: {",
            "    add(item) {",
            "      this.items.push(item)",
            "    },",
            "  },",
            "})",
            "",
            "export default new Vuex.Store({",
            "  strict: true,",
            "  types: { A: { label: 'array', check: Array.isArray } },",
            "  mutations: {",
            "    clear(state) {",
            "      state.items = []",
            "    },",
            "  },",
            "})",
        ]);
        assert_eq!(
            summary(&split(Language::TypeScript, &store)),
            [
                "module - useCart 1-8",
                "function useCart state 2-2",
                "module useCart actions 3-7",
                "function useCart.actions add 4-6",
                "module - default 10-18",
                "module default mutations 13-17",
                "function default.mutations clear 14-16",
            ],
            "an object on one line holding a function is a value, not a namespace"
        );
        let typed = "export default {\n  async fetch(request: Request): Promise<Response> {\n    return new Response('ok')\n  },\n} satisfies ExportedHandler<Env>\n";
        assert_eq!(summary(&split(Language::TypeScript, typed)), ["module - default 1-5", "function default fetch 2-4"]);
        let plain = "export default { port: 3000 }\nexport default defineConfig({ plugins: [vue()] })\nconst app = createApp(App)\n";
        assert_eq!(summary(&split(Language::JavaScript, plain)), ["file - - 1-3"], "options without functions define nothing");
    }

    /// Each unit's name and the doc the source has for it.
    fn docs(language: Language, text: &str) -> Vec<(String, Option<String>)> {
        split(language, text).into_iter().map(|u| (u.name.unwrap_or_else(|| u.kind.to_string()), u.doc)).collect()
    }

    fn some(doc: &str) -> Option<String> {
        Some(doc.to_string())
    }

    #[test]
    fn a_file_of_several_definitions_has_an_outline_first_with_their_bodies_elided() {
        let rust = file(&[
            "//! Stock levels.",
            "",
            "use std::fmt;",
            "",
            "/// A SKU.",
            "pub struct Sku(pub String);",
            "",
            "impl Sku {",
            "    /// Its code.",
            "    pub fn code(&self) -> &str {",
            "        &self.0",
            "    }",
            "}",
            "",
            "fn main() {",
            "    println!(\"{}\", Sku(\"A\".into()).code());",
            "}",
        ]);
        let units = with_outline(Language::Rust, &rust);
        assert_eq!(summary(&units)[..2], ["outline - - 1-17", "code - - 1-3"]);
        let outline = &units[0];
        assert_eq!(
            outline.content,
            file(&["//! Stock levels.", "", "use std::fmt;", "", "/// A SKU.", "pub struct Sku(...);", "", "impl Sku {", "    /// Its code.", "    pub fn code(&self) -> &str { ... }", "}", "", "fn main() { ... }"]),
            "a container shows its members' signatures"
        );
        assert!(outline.elided);
        assert_eq!(outline.doc.as_deref(), Some("//! Stock levels."), "its doc is the file's header");
        assert_eq!(without_outline(units.clone()).len(), units.len() - 1, "one outline, and nothing else changes");

        // One definition is the file's own description: a Java class's Javadoc, a
        // namespace of one class; a module's definitions count, a class's members do not.
        let java = file(&["package shop;", "", "/** A cart. */", "public class Cart {", "  void add() {}", "  void clear() {}", "}"]);
        assert!(with_outline(Language::Java, &java).iter().all(|u| u.kind != UnitKind::Outline));
        let one = file(&["namespace Shop {", "  public class Cart {", "    void Add() {}", "    void Clear() {}", "  }", "}"]);
        assert!(with_outline(Language::CSharp, &one).iter().all(|u| u.kind != UnitKind::Outline));
        let two = file(&["namespace Shop {", "  public class Cart {", "    void Add() {}", "  }", "  public class Till {}", "}"]);
        assert_eq!(summary(&with_outline(Language::CSharp, &two))[0], "outline - - 1-6");
        // A doc inside a body (a Python docstring) is shown as one above it is.
        let python = file(&[
            "\"\"\"Stock.\"\"\"",
            "",
            "class Store:",
            "    \"\"\"A store.\"\"\"",
            "",
            "    def get(self, key):",
            "        \"\"\"Gets `key`.\"\"\"",
            "        return self.d[key]",
            "",
            "def main():",
            "    \"\"\"Runs.\"\"\"",
            "    Store().get('a')",
            "",
            "def bare():",
            "    '''Only a doc.'''",
            "",
            "def undocumented():",
            "    return 1",
        ]);
        let outline = with_outline(Language::Python, &python).remove(0);
        let bodies_elided = python.replace("return self.d[key]", "...").replace("Store().get('a')", "...").replace("return 1", "...");
        assert_eq!(outline.content, bodies_elided, "every docstring stays");
        // Definitions on a condition are the file's too.
        let guarded = file(&["try:", "    from fast import a, b", "except ImportError:", "    def a():", "        return 1", "    def b():", "        return 2"]);
        assert_eq!(with_outline(Language::Python, &guarded)[0].content, file(&["try:", "    from fast import a, b", "except ImportError:", "    def a():", "        ...", "    def b():", "        ..."]));

        // Past the budget, an outline is its first lines and a mark of the rest, in one unit.
        let long: Vec<String> = (0..40).map(|i| format!("fn f{i}() {{\n    {i}\n}}\n")).collect();
        let units = Splitter::new(200).split(Language::Rust, "src/long.rs", &long.concat());
        assert_eq!(units.iter().filter(|u| u.kind == UnitKind::Outline).count(), 1);
        assert!(units[0].content.len() <= 200 && units[0].content.starts_with("fn f0() { ... }\n") && units[0].content.ends_with("}\n...\n"), "{}", units[0].content);
        assert_eq!((units[0].part, units[0].parts), (0, 1));

        // Cells, chunks and SQL scripts have none: a notebook's or document's file is not
        // the cells' code, and a script's statements are its outline already.
        let rmd = "# Report\n\n```{r}\nf <- function(x) x\ng <- function(y) y\n```\n";
        assert!(with_outline(Language::RMarkdown, rmd).iter().all(|u| u.kind != UnitKind::Outline));
        let sql = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n";
        assert!(with_outline(Language::Sql, sql).iter().all(|u| u.kind != UnitKind::Outline));
    }

    #[test]
    fn an_outlines_header_goes_above_the_first_definition_and_the_doc_that_leads_it() {
        let site = |language: Language, text: &str| {
            let units = with_outline(language, text);
            assert_eq!(units[0].kind, UnitKind::Outline, "{text}");
            match &units[0].doc_site {
                Some(DocSite::Before { line, indent }) if indent.is_empty() => format!("before {line}"),
                Some(DocSite::Documented(_)) => format!("documented: {}", units[0].doc.as_deref().unwrap_or_default()),
                other => format!("{other:?}"),
            }
        };
        // A comment that leads the first definition is its doc, not the file's.
        assert_eq!(site(Language::Rust, "/// Adds.\nfn add() {}\n\nfn sub() {}\n"), "before 1");
        assert_eq!(site(Language::Ruby, "# frozen_string_literal: true\n\n# Adds.\ndef add\nend\n\ndef sub\nend\n"), "before 3");
        assert_eq!(site(Language::Python, "#!/usr/bin/env python3\n# Copyright 2024 Example\n\nimport os\n\n# A helper.\ndef a():\n    pass\n\ndef b():\n    pass\n"), "before 4");
        // A comment set apart above it, a module docstring, Go's package comment: the file's own.
        assert_eq!(site(Language::Rust, "// Stock levels.\n\n/// Adds.\nfn add() {}\n\nfn sub() {}\n"), "documented: // Stock levels.");
        assert_eq!(site(Language::Python, "\"\"\"Stock levels.\"\"\"\n\nimport os\n\ndef a():\n    pass\n\ndef b():\n    pass\n"), "documented: \"\"\"Stock levels.\"\"\"");
        assert_eq!(site(Language::Go, "// Package stock counts.\npackage stock\n\nfunc A() {}\n\nfunc B() {}\n"), "documented: // Package stock counts.");
        assert_eq!(site(Language::Php, "<?php\n\nfunction a() {}\n\nfunction b() {}\n"), "before 3");
    }

    #[test]
    fn rusts_inner_docs_are_the_enclosing_modules_and_its_outer_docs_the_next_items() {
        // rustdoc gives `//!` to the file or module it stands in (an inline module's is
        // its doc), and `///` to the next item, a blank line between or not; a plain
        // comment set apart is no one's.
        let rust = "//! Stock.\n\n/// Adds.\nfn add() {}\n\n/// Subtracts.\n\nfn sub() {}\n\n// Helpers.\n\nfn helper() {}\n\nmod inner {\n    //! Inner.\n    fn run() {}\n}\n";
        let docs: Vec<(String, Option<String>)> = split(Language::Rust, rust).iter().map(|u| (summary(std::slice::from_ref(u))[0].clone(), u.doc.clone())).collect();
        assert_eq!(
            docs,
            [
                ("function - add 3-4".to_string(), Some("/// Adds.".to_string())),
                ("function - sub 6-8".to_string(), Some("/// Subtracts.".to_string())),
                ("function - helper 12-12".to_string(), None),
                ("module - inner 14-17".to_string(), Some("//! Inner.".to_string())),
                ("function inner run 16-16".to_string(), None),
            ]
        );
        assert_eq!(with_outline(Language::Rust, rust)[0].doc.as_deref(), Some("//! Stock."));
    }

    #[test]
    fn a_note_to_the_authors_is_no_doc() {
        // `// TODO` and the lines that continue it say what is left to do, not what the
        // code does; a doc beside one is still a doc.
        let rust = "// TODO: make private\n/// Parses.\nfn parse() {}\n\n// FIXME: slow\n// (quadratic)\nfn sort() {}\n\n/// Doubles.\n/// TODO: overflow.\nfn double() {}\n\n// TODOS are kept here.\nfn todos() {}\n";
        let docs: Vec<Option<String>> = split(Language::Rust, rust).into_iter().map(|u| u.doc).collect();
        assert_eq!(docs, [Some("/// Parses.".into()), None, Some("/// Doubles.\n/// TODO: overflow.".into()), Some("// TODOS are kept here.".into())]);
        assert_eq!(doc_sites(Language::Shell, "# XXX: retry on 503\nfetch() {\n  curl x\n}\n"), ["fetch 1+0"], "the doc goes above the note");
        let units = with_outline(Language::Python, "# TODO: split this file\n\nimport os\n\ndef a():\n    pass\n\ndef b():\n    pass\n");
        assert_eq!(units[0].doc_site, Some(DocSite::Before { line: 3, indent: String::new() }), "a file's note is no header");
    }

    #[test]
    fn a_documented_unit_carries_its_doc_as_written() {
        let rust = "/// A point.\n///\n/// On the plane.\n#[derive(Debug)]\npub struct Point;\n\nimpl Point {\n    /// Makes one.\n    #[inline]\n    /// At the origin.\n    pub fn new() -> Self {\n        Point\n    }\n}\n";
        assert_eq!(
            docs(Language::Rust, rust),
            [("Point".into(), some("/// A point.\n///\n/// On the plane.")), ("Point".into(), None), ("new".into(), some("/// Makes one.\n#[inline]\n/// At the origin."))],
            "attributes between doc lines come along"
        );
        let python = "class Cart:\n    \"\"\"A basket of items.\n\n    Holds counts.\n    \"\"\"\n\n    def add(self, sku):\n        '''Adds one.'''\n        return sku\n";
        assert_eq!(docs(Language::Python, python), [("Cart".into(), some("\"\"\"A basket of items.\n\nHolds counts.\n\"\"\"")), ("add".into(), some("'''Adds one.'''"))]);
        let elixir = "defmodule Shop.Cart do\n  @moduledoc \"\"\"\n  A cart.\n  \"\"\"\n\n  @doc \"Adds.\"\n  def add(a), do: a\nend\n";
        assert_eq!(docs(Language::Elixir, elixir)[1..], [("add".into(), some("@doc \"Adds.\""))]);
        assert_eq!(docs(Language::Elixir, elixir)[0].1.as_deref(), Some("@moduledoc \"\"\"\nA cart.\n\"\"\""));
        let sql = "-- Orders placed.\n-- One row each.\nCREATE TABLE orders (id int);\n\nCREATE VIEW big AS SELECT * FROM orders;\nCOMMENT ON VIEW big IS 'Large orders.';\n";
        assert_eq!(
            docs(Language::Sql, sql)[..2],
            [("orders".into(), some("-- Orders placed.\n-- One row each.")), ("big".into(), some("COMMENT ON VIEW big IS 'Large orders.'"))]
        );
        let matlab = "function y = twice(x)\n% TWICE Doubles x.\n%   y = twice(x)\n  y = 2 * x;\nend\n";
        assert_eq!(docs(Language::Matlab, matlab), [("twice".into(), some("% TWICE Doubles x.\n%   y = twice(x)"))]);
        let julia = "\"\"\"\n    area(r)\n\nThe area.\n\"\"\"\narea(r) = pi * r^2\n\n@doc \"Doubles.\" twice(x) = 2x\n";
        assert_eq!(docs(Language::Julia, julia), [("area".into(), some("\"\"\"\n    area(r)\n\nThe area.\n\"\"\"")), ("twice".into(), some("@doc \"Doubles.\""))]);
        // A file's header, below its shebang and license; a module docstring.
        let shell = "#!/bin/sh\n# Copyright 2024 Example\n\n# Syncs the mirror.\n# Run nightly.\nrsync -a src/ dst/\n";
        assert_eq!(docs(Language::Shell, shell), [("file".into(), some("# Syncs the mirror.\n# Run nightly."))]);
        let module = "#!/usr/bin/env python3\n\"\"\"Prints the environment.\n\nOne line a variable.\n\"\"\"\nimport os\nprint(os.environ)\n";
        assert_eq!(docs(Language::Python, module), [("file".into(), some("\"\"\"Prints the environment.\n\nOne line a variable.\n\"\"\""))]);
        assert_eq!(docs(Language::Python, "'Loads rows.'\nimport csv\n"), [("file".into(), some("'Loads rows.'"))]);
    }

    #[test]
    fn python_definitions_made_on_a_condition_are_units_and_the_statement_a_code_skeleton() {
        let src = "import sys\n\nif sys.version_info >= (3, 8):\n    def cached(f):\n        \"\"\"Caches f.\"\"\"\n        return f\nelse:\n    def cached(f):\n        return f\n\ntry:\n    from fast import parse\nexcept ImportError:\n    def parse(text):\n        return text.split()\n\nclass Store:\n    if sys.platform == \"win32\":\n        def path(self):\n            return \"C:\"\n\nif __name__ == \"__main__\":\n    print(parse(\"a b\"))\n";
        let units = split(Language::Python, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-1",
                "code - - 3-9",
                "function - cached 4-6",
                "function - cached 8-9",
                "code - - 11-15",
                "function - parse 14-15",
                "class - Store 17-20",
                "method Store path 19-20",
                "code - - 22-23",
            ]
        );
        assert_eq!(units[1].content, "if sys.version_info >= (3, 8):\n    def cached(f):\n        ...\nelse:\n    def cached(f):\n        ...");
        assert_eq!(units[4].content, "try:\n    from fast import parse\nexcept ImportError:\n    def parse(text):\n        ...");
        assert_eq!(units[6].content, "class Store:\n    if sys.platform == \"win32\":\n        def path(self):\n            ...", "a class's skeleton shows its conditional code, which is no unit of its own");
        assert_eq!(units[2].doc.as_deref(), Some("\"\"\"Caches f.\"\"\""));
        assert_eq!(doc_sites(Language::Python, src)[5], "parse 15+8", "a docstring goes at the top of its body, as at the top level");
        assert!(units.iter().filter(|u| u.kind == UnitKind::Code).all(|u| u.doc_site.is_none()), "code is documented by nothing");
    }

    #[test]
    fn php_helpers_guarded_by_function_exists_are_units() {
        let src = "<?php\n\nif (! function_exists('app')) {\n    /**\n     * The container.\n     */\n    function app($id = null)\n    {\n        return $id;\n    }\n}\n\nif (!function_exists('value')):\n    function value($v) { return $v; }\nendif;\n\nif (PHP_OS === 'WINNT') {\n    $sep = '\\\\';\n}\n";
        let units = split(Language::Php, src);
        assert_eq!(summary(&units), ["code - - 3-11", "function - app 4-10", "code - - 13-15", "function - value 14-14", "code - - 17-19"]);
        assert_eq!(units[0].content, "if (! function_exists('app')) {\n    /**\n     * The container.\n     */\n    function app($id = null)\n    { ... }\n}");
        assert_eq!(units[1].doc.as_deref(), Some("/**\n * The container.\n */"));
        assert_eq!(doc_sites(Language::Php, src)[3], "value 14+4");
    }

    #[test]
    fn typescript_declarations_and_overloads_are_units() {
        let dts = "declare module 'shop' {\n  export interface Cart {\n    total(): number;\n  }\n  export function open(): Cart;\n}\n\ndeclare global {\n  interface Window {\n    shop: unknown;\n  }\n}\n\ndeclare function legacy(a: number): void;\ndeclare const VERSION: string;\n";
        assert_eq!(
            summary(&split(Language::TypeScript, dts)),
            ["module - shop 1-6", "interface shop Cart 2-4", "method shop.Cart total 3-3", "function shop open 5-5", "module - global 8-12", "interface global Window 9-11", "function - legacy 14-14", "code - - 15-15"]
        );
        // An interface's and an abstract class's methods are declared, and documented, where they stand.
        let members = "export abstract class Base {\n  /** Runs it. */\n  abstract run(): void;\n  pad(s: string): string;\n  pad(x: any): string {\n    return String(x);\n  }\n}\n";
        let units = split(Language::TypeScript, members);
        assert_eq!(summary(&units), ["class - Base 1-8", "method Base run 2-3", "method Base pad 4-7"], "a method's overloads are one unit");
        assert_eq!(units[1].doc.as_deref(), Some("/** Runs it. */"));
        let overloads = "/** Pads. */\nexport function pad(s: string): string;\nexport function pad(n: number): string;\nexport function pad(x: any): string {\n  return String(x);\n}\n\nfunction other(): void;\n";
        let units = split(Language::TypeScript, overloads);
        assert_eq!(summary(&units), ["function - pad 1-6", "function - other 8-8"], "a function's signatures and implementation are one unit");
        assert_eq!(units[0].doc.as_deref(), Some("/** Pads. */"));
    }

    #[test]
    fn react_components_made_by_a_wrapper_are_functions() {
        let tsx = "const Button = React.forwardRef<HTMLButtonElement, Props>(({ className, ...props }, ref) => {\n  return <button ref={ref} className={className} {...props} />;\n});\n\nexport const Card = memo(forwardRef(function Card(props, ref) {\n  return <div ref={ref} />;\n}));\n\nconst doubled = items.map((x) => x * 2);\n";
        let units = split(Language::Tsx, tsx);
        assert_eq!(summary(&units), ["function - Button 1-3", "function - Card 5-7", "code - - 9-9"], "a call that makes a value is code");
    }

    #[test]
    fn a_browser_scripts_functions_inside_an_iife_a_callback_or_a_block_are_units() {
        let js = "(function ($) {\n  'use strict';\n  /** Shows it. */\n  function show(el) {\n    $(el).show();\n  }\n  $.fn.tip = function () {\n    return this.each(show);\n  };\n})(jQuery);\n\n$(function () {\n  function init() {\n    return 1;\n  }\n  init();\n});\n\ndocument.addEventListener('DOMContentLoaded', () => {\n  console.log('ready');\n});\n\n'use strict';\n{\n    const SelectBox = {\n        init: function(id) {\n            return id;\n        },\n    };\n}\n";
        let units = split(Language::JavaScript, js);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-10",
                "function - show 3-6",
                "function $.fn tip 7-9",
                "code - - 12-17",
                "function - init 13-15",
                "code - - 19-23",
                "code - - 24-30",
                "module - SelectBox 25-29",
                "function SelectBox init 26-28",
            ],
            "a call whose callback defines nothing stays code"
        );
        assert_eq!(units[0].content, "(function ($) {\n  'use strict';\n  /** Shows it. */\n  function show(el) { ... }\n  $.fn.tip = function () { ... };\n})(jQuery);");
        assert_eq!(units[1].doc.as_deref(), Some("/** Shows it. */"));
    }

    #[test]
    fn a_comment_that_only_instructs_tools_is_no_doc() {
        let go = "package p\n\n//nolint:funlen\nfunc A() {}\n\n// B says hi.\n//\n//go:noinline\nfunc B() {}\n\n// +kubebuilder:object:root=true\ntype C struct{}\n";
        assert_eq!(doc_sites(Language::Go, go), ["code -", "A 3+0", "B documented", "C 11+0"], "the doc goes above the directive, which stays next to its code");
        let js = "// eslint-disable-next-line no-unused-vars\nfunction f() {}\n\n/* istanbul ignore next */\nfunction g() {}\n\n// Adds.\n// eslint-disable-next-line\nfunction h() {}\n";
        assert_eq!(doc_sites(Language::JavaScript, js), ["f 1+0", "g 4+0", "h documented"]);
        let docs: Vec<Option<String>> = split(Language::JavaScript, js).into_iter().map(|u| u.doc).collect();
        assert_eq!(docs, [None, None, Some("// Adds.".to_string())], "the directive below the doc is not part of it");
    }

    #[test]
    fn a_split_definition_has_its_site_on_its_first_part_only() {
        let src = format!("fn big() {{\n{}}}\n", "    let x = 1;\n".repeat(20));
        let units = Splitter::new(64).split(Language::Rust, "src/big.rs", &src);
        assert!(units.len() > 2);
        assert_eq!(units[0].doc_site, Some(DocSite::Before { line: 1, indent: String::new() }));
        assert!(units[1..].iter().all(|u| u.doc_site.is_none()));
        assert!(units.iter().all(|u| u.doc.is_none()));
        // Each part of a documented definition is documented: docs leave all of it alone.
        let documented = Splitter::new(64).split(Language::Rust, "src/big.rs", &format!("/// Big.\n{src}"));
        assert!(documented.len() > 2 && documented.iter().all(|u| u.doc.as_deref() == Some("/// Big.")));
        assert!(matches!(documented[0].doc_site, Some(DocSite::Documented(_))));
    }

    #[test]
    fn rust_items_methods_and_skeletons() {
        let src = "use std::fmt;\n\n/// A point.\n#[derive(Debug)]\npub struct Point { x: i32 }\n\nimpl Point {\n    /// Makes one.\n    pub fn new() -> Self {\n        Point { x: 0 }\n    }\n}\n\nfn main() {}\n";
        let units = split(Language::Rust, src);
        assert_eq!(
            summary(&units),
            ["code - - 1-1", "struct - Point 3-5", "impl - Point 7-12", "method Point new 8-11", "function - main 14-14"]
        );
        assert!(units[1].content.starts_with("/// A point.\n#[derive(Debug)]"));
        let skeleton = &units[2];
        assert!(skeleton.elided);
        assert_eq!(skeleton.content, "impl Point {\n    /// Makes one.\n    pub fn new() -> Self { ... }\n}");
        assert!(!units[3].elided);
    }

    #[test]
    fn python_classes_decorators_and_script_code() {
        let src = "import os\n\n@dataclass\nclass A(Base):\n    x: int = 0\n\n    def f(self):\n        return 1\n\n    class Inner:\n        def g(self):\n            pass\n\nprint(A().f())\n";
        let units = split(Language::Python, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-1",
                "class - A 3-12",
                "method A f 7-8",
                "class A Inner 10-12",
                "method A.Inner g 11-12",
                "code - - 14-14"
            ]
        );
        assert_eq!(units[1].content, "@dataclass\nclass A(Base):\n    x: int = 0\n\n    def f(self):\n        ...\n\n    class Inner:\n        ...");
        // A comment above a class's first method is the method's, though the grammar hangs it on the class.
        let commented = split(Language::Python, "class B:\n    # Says hi.\n    def hi(self):\n        pass\n");
        assert_eq!(summary(&commented), ["class - B 1-4", "method B hi 2-4"]);
        assert!(commented[1].content.starts_with("# Says hi.\n    def hi"));
        // A comment trailing the code on its line is that line's, not the next item's.
        let trailing = split(Language::Python, "class B:  # A bag.\n    def hi(self):\n        pass\nx = 1  # One.\ndef f():\n    pass\n");
        assert_eq!(summary(&trailing), ["class - B 1-3", "method B hi 2-3", "code - - 4-4", "function - f 5-6"]);
        assert_eq!(trailing[2].content, "x = 1  # One.");
    }

    #[test]
    fn python_overloads_are_one_unit_with_their_implementation_and_its_docstring() {
        let src = file(&[
            "from typing import overload",
            "",
            "",
            "@overload",
            "def parse(value: str) -> int: ...",
            "@overload",
            "def parse(value: bytes) -> int: ...",
            "def parse(value):",
            "    \"\"\"Parses a value.\"\"\"",
            "    return int(value)",
            "",
            "",
            "class Reader:",
            "    @typing.overload",
            "    def read(self, n: int) -> bytes: ...",
            "",
            "    @typing.overload",
            "    def read(self) -> bytes: ...",
            "",
            "    def read(self, n=None):",
            "        return b\"\"",
            "",
            "    def read_all(self):",
            "        return self.read()",
        ]);
        let units = split(Language::Python, &src);
        assert_eq!(summary(&units), ["code - - 1-1", "function - parse 4-10", "class - Reader 13-24", "method Reader read 14-21", "method Reader read_all 23-24"]);
        assert_eq!(units[1].doc.as_deref(), Some("\"\"\"Parses a value.\"\"\""), "the implementation's docstring");
        assert_eq!(doc_sites(Language::Python, &src)[3], "read 21+8", "a new docstring goes into the implementation, not a stub");
        assert!(units[2].content.contains("    def read(self) -> bytes: ...\n\n    def read(self, n=None):\n        ..."), "{}", units[2].content);
        let grouped = "class D:\n    @overload\n    def get(self, k: Literal['c']) -> C: ...\n\n    # Third-party ones\n\n    @overload\n    def get(self, k: str) -> D: ...\n\n    def get(self, k):\n        return self.d[k]\n";
        assert_eq!(summary(&split(Language::Python, grouped)), ["class - D 1-11", "method D get 2-11"], "a comment between overloads is the function's");
        // Overloads documented one by one document the function.
        let each = "@overload\ndef get(i: int) -> str:\n    \"\"\"One item.\"\"\"\n@overload\ndef get(i: slice) -> list:\n    \"\"\"Several.\"\"\"\ndef get(i):\n    return items[i]\n";
        assert_eq!(docs(Language::Python, each), [("get".to_string(), some("\"\"\"One item.\"\"\""))]);
    }

    #[test]
    fn javascript_and_typescript_definitions() {
        let js = "export function a() {}\nconst b = async (x) => { return x };\nclass C { m() { return 1 } }\nlet n = 3;\n";
        assert_eq!(
            summary(&split(Language::JavaScript, js)),
            ["function - a 1-1", "function - b 2-2", "class - C 3-3", "method C m 3-3", "code - - 4-4"]
        );
        let ts = "interface I { f(): void }\ntype T = number;\nnamespace N { export function h(): void {} }\nenum E { A }\n";
        assert_eq!(
            summary(&split(Language::TypeScript, ts)),
            ["interface - I 1-1", "method I f 1-1", "type - T 2-2", "module - N 3-3", "function N h 3-3", "enum - E 4-4"]
        );
    }

    #[test]
    fn go_methods_take_their_receiver_as_parent() {
        let src = "package p\n\ntype S struct{ a int }\n\nfunc (s *S[T]) Get() int { return s.a }\n\nfunc F() {}\n";
        assert_eq!(
            summary(&split(Language::Go, src)),
            ["code - - 1-1", "struct - S 3-3", "method S Get 5-5", "function - F 7-7"]
        );
    }

    #[test]
    fn java_c_and_cpp_definitions() {
        let java = "class A {\n  A() {}\n  void f() {}\n  enum E { X; void g() {} }\n}\n";
        assert_eq!(
            summary(&split(Language::Java, java)),
            ["class - A 1-5", "method A A 2-2", "method A f 3-3", "enum A E 4-4", "method A.E g 4-4"]
        );
        let c = "#ifndef H\n#define H\ntypedef struct { int a; } T;\nstatic int f(int x) { return x; }\n#endif\n";
        assert_eq!(summary(&split(Language::C, c)), ["code - - 2-2", "type - T 3-3", "function - f 4-4"], "the guard's name is no code");
        let c = "#if defined(FAST) && !NDEBUG\nint f(void) { return 1; }\n#elif SLOW\nint g(void) { return 2; }\n#endif\n";
        assert_eq!(summary(&split(Language::C, c)), ["function - f 2-2", "function - g 4-4"], "nor is a condition");
        let cpp = "namespace ns {\ntemplate <typename T>\nclass K { public: int m() { return 1; } };\n}\nint K::n() const { return 2; }\ntemplate <>\nvoid run<half, 128>(int n) {}\ntemplate <>\nint K<int>::get<2>() { return 2; }\nstruct R {\n  T& sum() { return x; }\n  operator bool() const { return p; }\n  T&& operator()(T&& a) const { return a; }\n};\n";
        assert_eq!(
            summary(&split(Language::Cpp, cpp)),
            ["module - ns 1-4", "class ns K 2-3", "method ns::K m 3-3", "method K n 5-5", "function - run<half, 128> 6-7", "method K<int> get<2> 8-9",
             "struct - R 10-14", "method R sum 11-11", "method R operator bool 12-12", "method R operator() 13-13"],
            "a specialization is named with its arguments; a reference's or conversion's name is found"
        );
    }

    #[test]
    fn c_and_cpp_prototypes_are_units_documented_where_declared() {
        let header = "#include <stddef.h>\n\n/**\n * Adds to a stock.\n * @param s the stock\n * @param n how many\n */\nint stock_add(struct stock *s, size_t n);\nchar *stock_name(const struct stock *s);\nint (*on_change)(int);\nextern int stock_count;\ntypedef int (*stock_cb)(struct stock *);\n";
        assert_eq!(
            summary(&without_outline(split(Language::C, header))),
            ["code - - 1-1", "function - stock_add 3-8", "function - stock_name 9-9", "code - - 10-11", "type - stock_cb 12-12"],
            "a pointer to a function is a variable; a typedef is named by the name it declares"
        );
        let cpp = "namespace shop {\nclass Basket {\n  Q_PROPERTY(int size READ size)\n public:\n  /// Adds.\n  void add(const std::string& sku);\n  virtual int size() const = 0;\n  friend bool operator==(const Basket&, const Basket&);\n};\ndouble total(const Basket& b);\n}\n";
        assert_eq!(
            summary(&without_outline(split(Language::Cpp, cpp))),
            ["module - shop 1-11", "class shop Basket 2-9", "method shop::Basket add 5-6", "method shop::Basket size 7-7", "function shop total 10-10"],
            "a macro's call is no declaration"
        );
        // Attribute macros on lines of their own are the function's, and the doc above them its doc.
        let attributed = "/** Adds. */\nMEM_STATIC\nFORCE_INLINE_ATTR\nsize_t add(size_t a)\n{\n    return a + 1;\n}\n\n/** Checks. */\nstatic INLINE_KEYWORD UNUSED_ATTR\nvoid check(const char *format, ...) {}\n";
        let units = without_outline(split(Language::C, attributed));
        assert_eq!(summary(&units), ["function - add 1-7", "function - check 9-11"]);
        assert_eq!(units.iter().map(|u| u.doc.as_deref()).collect::<Vec<_>>(), [Some("/** Adds. */"), Some("/** Checks. */")]);
        // In C++ such a declaration may hold the return type, the function then read without one.
        let constexpr = "class vec {\n public:\n  /// Starts.\n  [[__nodiscard__]] _GLIBCXX20_CONSTEXPR\n  const_iterator\n  cbegin() const noexcept\n  { return it(); }\n};\n";
        let units = split(Language::Cpp, constexpr);
        assert_eq!((summary(&units[1..]), units[1].doc.as_deref()), (vec!["method vec cbegin 3-7".to_string()], Some("/// Starts.")));
        let exported = "ZSTDLIB_API size_t ZSTD_compress(void* dst, size_t cap);\nZSTDLIB_API unsigned ZSTD_versionNumber(void);\n";
        assert_eq!(summary(&without_outline(split(Language::C, exported))), ["function - ZSTD_compress 1-1", "function - ZSTD_versionNumber 2-2"], "an export macro before the type");
        // A forward declaration of a function defined below it is that function; another
        // overload's declaration, or a documented one, stays, and its doc is the definition's.
        let forward = "static int helper(int n);\n/** Counts. */\nstatic int count(void);\n\nint main(void) { return helper(1) + count(); }\n\nstatic int helper(int  n) { return 2 * n; }\nstatic int count(void) { return 0; }\n";
        let units = without_outline(split(Language::C, forward));
        assert_eq!(summary(&units), ["function - count 2-3", "function - main 5-5", "function - helper 7-7", "function - count 8-8"]);
        let docs: Vec<Option<&str>> = units.iter().map(|u| u.doc.as_deref()).collect();
        assert_eq!(docs, [Some("/** Counts. */"), None, None, Some("/** Counts. */")], "documented where declared: docs leave the definition alone");
        let method = "class Cart {\n public:\n  /// Empties it.\n  void clear();\n};\n\nvoid Cart::clear() {}\n";
        assert_eq!(split(Language::Cpp, method).last().and_then(|u| u.doc.clone()).as_deref(), Some("/// Empties it."));
        let overloads = "void put(int n);\nvoid put(double x) {}\n";
        assert_eq!(summary(&without_outline(split(Language::Cpp, overloads))), ["function - put 1-1", "function - put 2-2"]);
        // A prototype's parameters are its signature: a doc naming one it lost is stale,
        // one naming parameters the prototype leaves unnamed cannot be judged.
        let stale = |language, text: &str| split(language, text).into_iter().filter_map(|u| Some((u.name?, u.stale_doc))).collect::<Vec<_>>();
        let renamed = "its doc names parameters its code does not have: `len`; its doc does not name parameters its code has: `s`";
        assert_eq!(stale(Language::C, "/** @param len the length */\nint put(const char *s);\n"), [("put".to_string(), Some(renamed.to_string()))]);
        // One it gained and the doc leaves out.
        let gained = "its doc does not name parameters its code has: `len`";
        assert_eq!(stale(Language::C, "/** @param s the text */\nint put(const char *s, size_t len);\n"), [("put".to_string(), Some(gained.to_string()))]);
        assert_eq!(stale(Language::C, "/** @param len the length */\nint put(const char *, size_t);\n"), [("put".to_string(), None)]);
        assert_eq!(stale(Language::Cpp, "/// \\param [in] n count\nvoid fill(int n) {}\n"), [("fill".to_string(), None)]);
    }

    #[test]
    fn each_tagging_languages_docs_are_held_to_the_parameters_the_walk_reads() {
        let gained = |name: &str| Some(format!("its doc does not name parameters its code has: `{name}`"));
        // Each doc documents `a` alone; with the line after it, `b` too.
        let cases: &[(Language, &str, &str, &[&str], &str)] = &[
            (Language::Rust, "/// Adds.\n///\n/// # Arguments\n///\n/// * `a` - the first\npub fn add(a: u32, b: u32) -> u32 { a + b }\n", "add", &["a", "b"], "/// * `b` - the second"),
            (Language::Kotlin, "/**\n * Adds.\n * @param a the first\n */\nfun add(a: Int, b: Int = 0): Int = a + b\n", "add", &["a", "b"], " * @param b the second"),
            (Language::Scala, "object M {\n  /** Adds.\n    * @param a the first\n    */\n  def add(a: Int, b: Int): Int = a + b\n}\n", "add", &["a", "b"], "    * @param b the second"),
            (Language::Ruby, "# Adds.\n# @param [Integer] a the first\ndef add(a, b = 0, &blk)\n  a + b\nend\n", "add", &["a", "b"], "# @param b [Integer] the second"),
            (Language::Lua, "--- Adds.\n-- @tparam number a the first\nfunction M.add(a, b)\n  return a + b\nend\n", "add", &["a", "b"], "-- @param[opt] b the second"),
            (Language::R, "#' Adds.\n#' @param a the first\nadd <- function(a, b = 0, ...) {\n  a + b\n}\n", "add", &["a", "b"], "#' @param b The second."),
            (Language::PowerShell, "function Add-Numbers {\n    <#\n    .SYNOPSIS\n    Adds.\n    .PARAMETER a\n    the first\n    #>\n    param([int]$A, [int]$B)\n    $A + $B\n}\n", "Add-Numbers", &["A", "B"], "    .PARAMETER b\n    The second."),
            (Language::Swift, "/// Adds.\n/// - Parameter a: the first\nfunc add(_ a: Int, to b: Int) -> Int { a + b }\n", "add", &["a", "b"], "/// - Parameter b: the second"),
            (Language::Solidity, "contract C {\n    /// @notice Adds.\n    /// @param a the first\n    function add(uint a, uint b) public pure returns (uint) { return a + b; }\n}\n", "add", &["a", "b"], "    /// @param b the second"),
        ];
        for &(language, code, name, parameters, second) in cases {
            let unit = |code: &str| {
                let units = split(language, code);
                units.into_iter().find(|u| u.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("{language:?}: no unit {name} in {code}"))
            };
            let partial = unit(code);
            assert_eq!(partial.parameters.as_deref(), Some(&parameters.iter().map(|p| p.to_string()).collect::<Vec<_>>()[..]), "{language:?}");
            assert_eq!(partial.stale_doc, gained(parameters[1]), "{language:?}: {:?}", partial.doc);
            let full = unit(&code.replacen("the first\n", &format!("the first\n{second}\n"), 1));
            assert_eq!(full.stale_doc, None, "{language:?}: {:?}", full.doc);
        }
    }

    #[test]
    fn fortran_modules_procedures_and_types_in_free_and_fixed_form() {
        let free = file(&[
            "!> Geometry helpers.",
            "module geometry",
            "  implicit none",
            "",
            "  !> A circle.",
            "  type :: circle",
            "    real :: r",
            "  end type circle",
            "",
            "  interface area",
            "    module procedure area_circle",
            "  end interface",
            "",
            "contains",
            "",
            "  pure function area_circle(c) result(a)",
            "    !! The area of a circle.",
            "    type(circle), intent(in) :: c",
            "    real :: a",
            "    a = 3.14159 * c%r**2",
            "  end function area_circle",
            "",
            "  subroutine grow(self, by)",
            "    class(circle), intent(inout) :: self",
            "    real, intent(in) :: by",
            "    self%r = self%r + by",
            "  end subroutine grow",
            "end module geometry",
            "",
            "program main",
            "  use geometry",
            "  print *, area(circle(1.0))",
            "end program main",
        ]);
        let units = without_outline(Splitter::new(64 * 1024).split(Language::Fortran, "src/geometry.f90", &free));
        assert_eq!(
            summary(&units),
            [
                "module - geometry 1-28",
                "struct geometry circle 5-8",
                "interface geometry area 10-12",
                "function geometry area_circle 16-21",
                "function geometry grow 23-27",
                "module - main 30-33",
            ],
            "a unit ends at its `end` statement's line"
        );
        assert!(units[0].content.contains("contains\n\n  pure function area_circle(c) result(a)\n    ...\n  end function area_circle\n\n  subroutine grow(self, by)\n    ...\n  end subroutine grow\nend module geometry"), "{}", units[0].content);
        let sites: Vec<_> = units.iter().map(|u| u.doc_site.clone().unwrap()).collect();
        assert!(matches!(sites[0], DocSite::Documented(_)));
        assert!(matches!(sites[3], DocSite::Documented(_)), "FORD's `!!` after the statement");
        assert_eq!(sites[4], DocSite::Before { line: 23, indent: "  ".into() });

        // FORTRAN 77: comments in column 1, continuations in column 6, the doc after the statement.
        let fixed = file(&[
            "c     Fits a spline.",
            "      subroutine curfit(iopt, m, x, y,",
            "     *                  w, s)",
            "c  curfit determines a smoothing spline.",
            "      integer iopt, m",
            "      if (m .lt. 0) go to 10",
            "   10 return",
            "      end",
            "",
            "      double precision function fpback(a,",
            "c     (a comment between continued lines)",
            "     1                                 n)",
            "      fpback = a * n",
            "      end",
        ]);
        let units = without_outline(Splitter::new(64 * 1024).split(Language::Fortran, "fitpack/curfit.f", &fixed));
        assert_eq!(summary(&units), ["function - curfit 1-8", "function - fpback 10-14"]);
        assert!(units[0].content.starts_with("c     Fits a spline.\n      subroutine curfit(iopt, m, x, y,\n     *"), "as written: {}", units[0].content);
        assert!(matches!(units[0].doc_site, Some(DocSite::Documented(_))));
        assert_eq!(units[1].doc_site, Some(DocSite::Before { line: 10, indent: "      ".into() }));
        let free_reading = without_outline(Splitter::new(64 * 1024).split(Language::Fortran, "fitpack/curfit.f90", &fixed));
        assert_ne!(summary(&free_reading), summary(&units), "read as free form, its comments are code");
    }

    #[test]
    fn matlab_functions_classdefs_and_their_help_text() {
        let function = file(&[
            "function [x, info] = solve(A, b)",
            "%SOLVE Solves A*x = b.",
            "  x = A \\ b;",
            "  info = check(x);",
            "end",
            "",
            "function ok = check(x)",
            "  ok = all(isfinite(x));",
            "end",
        ]);
        let units = split(Language::Matlab, &function);
        assert_eq!(summary(&units), ["function - solve 1-5", "function - check 7-9"]);
        assert!(matches!(units[0].doc_site, Some(DocSite::Documented(_))), "the help text under the function line");
        assert_eq!(units[1].doc_site, Some(DocSite::Before { line: 8, indent: "  ".into() }), "where `help` reads it");

        // Functions without `end` run to the next one; a script's statements are code.
        // Octave's dialect: `#` comments, `endfunction`, `!=`; its help stands above.
        let octave = "## -*- texinfo -*-\n## Reads a key.\nfunction k = kbhit(n)\n  if n != 0\n    disp('# no wait');\n  endif\nendfunction\n";
        let units = split(Language::Matlab, octave);
        assert_eq!(summary(&units), ["function - kbhit 1-7"]);
        assert_eq!(units[0].content, octave.trim_end(), "as written");
        assert!(matches!(units[0].doc_site, Some(DocSite::Documented(_))));

        // Nested functions are units of their own inside their function's skeleton.
        let nested = "function gui()\n  n = 0;\n  function on_click(src, ~)\n    n = n + 1;\n  end\n  uicontrol('Callback', @on_click);\nend\n";
        let units = split(Language::Matlab, nested);
        assert_eq!(summary(&units), ["function - gui 1-7", "function gui on_click 3-5"]);
        assert_eq!(units[0].content, "function gui()\n  n = 0;\n  function on_click(src, ~)\n    ...\n  end\n  uicontrol('Callback', @on_click);\nend");

        let script = "% Plots squares.\nx = 1:10;\nplot(x, sq(x));\n\nfunction y = sq(v)\ny = v.^2;\n\nfunction y = cube(v)\ny = v.^3;\n";
        assert_eq!(summary(&split(Language::Matlab, script)), ["code - - 1-3", "function - sq 5-6", "function - cube 8-9"]);

        let classdef = file(&[
            "classdef Account < handle",
            "    % ACCOUNT A bank account.",
            "    properties",
            "        Balance = 0",
            "    end",
            "    methods",
            "        function obj = Account(balance)",
            "            obj.Balance = balance;",
            "        end",
            "        function r = get.Balance(obj)",
            "            r = obj.Balance;",
            "        end",
            "    end",
            "    methods (Static)",
            "        function a = empty()",
            "            a = Account(0);",
            "        end",
            "    end",
            "end",
        ]);
        let units = split(Language::Matlab, &classdef);
        assert_eq!(summary(&units), ["class - Account 1-19", "method Account Account 7-9", "method Account get.Balance 10-12", "method Account empty 15-17"]);
        assert!(matches!(units[0].doc_site, Some(DocSite::Documented(_))));
        assert!(units[0].content.contains("    methods\n        function obj = Account(balance)\n            ...\n        end\n"), "{}", units[0].content);
        assert_eq!(units[3].doc_site, Some(DocSite::Before { line: 16, indent: "            ".into() }));
    }

    #[test]
    fn powershell_functions_classes_and_their_help() {
        let script = file(&[
            "Set-StrictMode -Version Latest",
            "",
            "# Gets the stock level.",
            "function Get-Stock {",
            "    param([string] $Sku)",
            "    return 5",
            "}",
            "",
            "function Set-Stock([string]$Sku, [int]$Count) {",
            "    <#",
            "    .SYNOPSIS",
            "      Sets the stock level.",
            "    #>",
            "    Write-Host \"$Sku = $Count\"",
            "}",
            "",
            "filter Only-Positive { if ($_ -gt 0) { $_ } }",
            "",
            "class Account {",
            "    [int] $Balance = 0",
            "",
            "    Account([int] $balance) {",
            "        $this.Balance = $balance",
            "    }",
            "",
            "    [void] Deposit([int] $amount) {",
            "        $this.Balance += $amount",
            "    }",
            "}",
            "",
            "enum Color { Red; Green }",
            "",
            "Get-Stock -Sku \"a1\"",
        ]);
        let units = split(Language::PowerShell, &script);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-1",
                "function - Get-Stock 3-7",
                "function - Set-Stock 9-15",
                "function - Only-Positive 17-17",
                "class - Account 19-29",
                "method Account Account 22-24",
                "method Account Deposit 26-28",
                "enum - Color 31-31",
                "code - - 33-33",
            ]
        );
        let sites: Vec<_> = units.iter().map(|u| u.doc_site.clone()).collect();
        assert!(matches!(sites[1], Some(DocSite::Documented(_))), "a comment above");
        assert!(matches!(sites[2], Some(DocSite::Documented(_))), "help inside the braces");
        assert_eq!(sites[3], Some(DocSite::Before { line: 17, indent: String::new() }));
        assert!(units[4].content.contains("    [void] Deposit([int] $amount) {\n        ...\n    }"), "{}", units[4].content);
    }

    #[test]
    fn solidity_contracts_libraries_and_their_functions() {
        let sol = file(&[
            "// SPDX-License-Identifier: MIT",
            "pragma solidity ^0.8.20;",
            "",
            "/// @title A token.",
            "contract Token {",
            "    mapping(address => uint256) private balances;",
            "    event Moved(address to, uint256 amount);",
            "",
            "    modifier nonzero(uint256 amount) {",
            "        require(amount > 0);",
            "        _;",
            "    }",
            "",
            "    constructor() {}",
            "",
            "    /// @notice Moves tokens.",
            "    function transfer(address to, uint256 amount) external nonzero(amount) returns (bool) {",
            "        balances[to] += amount;",
            "        return true;",
            "    }",
            "",
            "    receive() external payable {}",
            "}",
            "",
            "library Math {",
            "    function max(uint a, uint b) internal pure returns (uint) { return a > b ? a : b; }",
            "}",
        ]);
        let units = split(Language::Solidity, &sol);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-2",
                "class - Token 4-23",
                "type Token Moved 7-7",
                "method Token nonzero 9-12",
                "method Token constructor 14-14",
                "method Token transfer 16-20",
                "method Token receive 22-22",
                "module - Math 25-27",
                "function Math max 26-26",
            ],
            "a library's functions stay functions"
        );
        assert!(units[1].content.contains("    function transfer(address to, uint256 amount) external nonzero(amount) returns (bool) { ... }"), "{}", units[1].content);
        assert!(matches!(units[5].doc_site, Some(DocSite::Documented(_))));
        assert_eq!(units[3].doc_site, Some(DocSite::Before { line: 9, indent: "    ".into() }));
    }

    #[test]
    fn cuda_kernels_and_device_functions_read_as_cpp_does() {
        let cuda = file(&[
            "#include <cuda_runtime.h>",
            "",
            "// Adds two vectors.",
            "__global__ void add(const float* a, const float* b, float* c, int n) {",
            "    int i = blockIdx.x * blockDim.x + threadIdx.x;",
            "    if (i < n) c[i] = a[i] + b[i];",
            "}",
            "",
            "template <typename T>",
            "__device__ __forceinline__ T square(T x) { return x * x; }",
            "",
            "__host__ __device__ inline int div_up(int a, int b) { return (a + b - 1) / b; }",
            "",
            "__shared__ float tile[256];",
            "",
            "struct Launcher {",
            "    __host__ void run(float* a, float* b, float* c, int n) {",
            "        add<<<div_up(n, 256), 256>>>(a, b, c, n);",
            "    }",
            "};",
        ]);
        let units = split(Language::Cuda, &cuda);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-1",
                "function - add 3-7",
                "function - square 9-10",
                "function - div_up 12-12",
                "code - - 14-14",
                "struct - Launcher 16-20",
                "method Launcher run 17-19",
            ]
        );
        assert!(units.iter().all(|u| u.kind != UnitKind::File), "the grammar reads CUDA's qualifiers and launches");
        assert_eq!(units[5].content, "struct Launcher {\n    __host__ void run(float* a, float* b, float* c, int n) { ... }\n}");
    }

    #[test]
    fn csharp_namespaces_types_and_members() {
        let src = "using System;\n\nnamespace Shop.Orders\n{\n    /// <summary>An order.</summary>\n    [Serializable]\n    public class Order : IOrder\n    {\n        public int Id { get; set; }\n        public Order(int id) { Id = id; }\n        public decimal Total() => 0m;\n    }\n    public interface IOrder { void Ship(); }\n    public enum State { New, Done }\n    public struct Money { public static Money operator +(Money a, Money b) => a; }\n    public record Point(int X, int Y);\n    public delegate void Handler(int x);\n}\n";
        let units = split(Language::CSharp, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-1",
                "module - Shop.Orders 3-18",
                "class Shop.Orders Order 5-12",
                "method Shop.Orders.Order Order 10-10",
                "method Shop.Orders.Order Total 11-11",
                "interface Shop.Orders IOrder 13-13",
                "method Shop.Orders.IOrder Ship 13-13",
                "enum Shop.Orders State 14-14",
                "struct Shop.Orders Money 15-15",
                "method Shop.Orders.Money - 15-15",
                "class Shop.Orders Point 16-16",
                "type Shop.Orders Handler 17-17",
            ]
        );
        assert!(units[2].content.starts_with("/// <summary>An order.</summary>\n    [Serializable]"));
        assert!(units[2].content.contains("public Order(int id) { ... }\n        public decimal Total() => ...;"), "{}", units[2].content);
        let file_scoped = "namespace Shop.Orders;\n\nstatic class Program {\n    static void Main(string[] args) { }\n}\n";
        assert_eq!(
            summary(&split(Language::CSharp, file_scoped)),
            ["code - - 1-1", "class Shop.Orders Program 3-5", "method Shop.Orders.Program Main 4-4"]
        );
    }

    #[test]
    fn kotlin_classes_objects_and_functions() {
        let src = "package shop\n\nimport kotlin.math.max\n\n/** An order. */\n@Serializable\ndata class Order(val id: Int) : HasId {\n    fun total(): Int = 0\n\n    companion object {\n        fun of(id: Int) = Order(id)\n    }\n}\n\ninterface HasId {\n    fun id(): Int\n}\nenum class State { NEW, DONE }\nobject Registry { fun get() = 1 }\ntypealias Id = Int\n\nfun helper(x: Int): Int {\n    return x * 2\n}\n\nval answer = 42\n";
        let units = split(Language::Kotlin, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-3",
                "class - Order 5-13",
                "method Order total 8-8",
                "class Order Companion 10-12",
                "method Order.Companion of 11-11",
                "interface - HasId 15-17",
                "method HasId id 16-16",
                "enum - State 18-18",
                "class - Registry 19-19",
                "method Registry get 19-19",
                "type - Id 20-20",
                "function - helper 22-24",
                "code - - 26-26",
            ]
        );
        assert!(units[1].content.contains("fun total(): Int = ...\n"), "{}", units[1].content);
        let extensions = "fun String.shout(): String = uppercase()\nfun <T> List<T>.second(): T = this[1]\n";
        assert_eq!(summary(&split(Language::Kotlin, extensions)), ["method String shout 1-1", "method List second 2-2"]);
        assert!(units[1].content.starts_with("/** An order. */\n@Serializable\ndata class Order"));
    }

    #[test]
    fn php_classes_traits_and_functions() {
        let src = "<?php\nnamespace App\\Shop;\n\n/** An order. */\n#[Entity]\nfinal class Order extends Base implements HasId\n{\n    private int $id;\n    public function __construct(int $id) { $this->id = $id; }\n    public static function find(int $id): self { return new self($id); }\n}\n\ninterface HasId { public function id(): int; }\ntrait Greets { function hi() { echo 'hi'; } }\nenum Suit: string { case Hearts = 'H'; }\n\nfunction helper($x) { return $x * 2; }\n\necho helper(1);\n?>\n";
        let units = split(Language::Php, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-2",
                "class App\\Shop Order 4-11",
                "method App\\Shop\\Order __construct 9-9",
                "method App\\Shop\\Order find 10-10",
                "interface App\\Shop HasId 13-13",
                "method App\\Shop\\HasId id 13-13",
                "trait App\\Shop Greets 14-14",
                "method App\\Shop\\Greets hi 14-14",
                "enum App\\Shop Suit 15-15",
                "function App\\Shop helper 17-17",
                "code - - 19-20",
            ]
        );
        let template = "<?php\nclass A {}\n?>\n<p>hi</p>\n<?php echo 1; ?>\n";
        assert_eq!(summary(&split(Language::Php, template)), ["class - A 2-2", "code - - 3-5"], "markup is code, bare tags are not");
        assert_eq!(summary(&split(Language::Php, "<?php\nclass A {}\n?>\n")), ["class - A 2-2"]);
        let nested = "<?php\nnamespace A\\B {\n  class C { function f() {} }\n}\n";
        assert_eq!(summary(&split(Language::Php, nested)), ["module - A\\B 2-4", "class A\\B C 3-3", "method A\\B\\C f 3-3"]);
    }

    #[test]
    fn ruby_modules_classes_and_methods() {
        let src = "require \"json\"\n\n# A shop.\nmodule Shop\n  # An order.\n  class Order < Base\n    attr_reader :id\n\n    def initialize(id)\n      @id = id\n    end\n\n    def self.find(id)\n      new(id)\n    end\n\n    class << self\n      def build; end\n    end\n  end\nend\n\ndef helper(x) = x * 2\n\nputs helper(1)\n";
        let units = split(Language::Ruby, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-1",
                "module - Shop 3-21",
                "class Shop Order 5-20",
                "method Shop::Order initialize 9-11",
                "method Shop::Order find 13-15",
                "method Shop::Order build 18-18",
                "function - helper 23-23",
                "code - - 25-25",
            ]
        );
        assert!(units[2].content.contains("def initialize(id)\n      ...\n    end"), "{}", units[2].content);
    }

    #[test]
    fn swift_types_extensions_and_functions() {
        let src = "import Foundation\n\n/// An order.\n@available(iOS 15, *)\npublic final class Order: HasId {\n    let id: Int\n    /// Makes one.\n    init(id: Int) { self.id = id }\n    func total() -> Int { return 0 }\n}\n\nprotocol HasId { func ident() -> Int }\nstruct Money { var cents: Int; func add(_ o: Money) -> Money { self } }\nenum State { case new, done; func next() -> State { .done } }\nextension Order { func ship() {} }\ntypealias Id = Int\n\nfunc helper(_ x: Int) -> Int {\n    return x * 2\n}\n\nprint(helper(1))\n";
        let units = split(Language::Swift, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-1",
                "class - Order 3-10",
                "method Order init 7-8",
                "method Order total 9-9",
                "interface - HasId 12-12",
                "method HasId ident 12-12",
                "struct - Money 13-13",
                "method Money add 13-13",
                "enum - State 14-14",
                "method State next 14-14",
                "impl - Order 15-15",
                "method Order ship 15-15",
                "type - Id 16-16",
                "function - helper 18-20",
                "code - - 22-22",
            ]
        );
        assert!(units[1].content.contains("init(id: Int) { ... }\n    func total() -> Int { ... }"), "{}", units[1].content);
    }

    #[test]
    fn scala_classes_objects_traits_and_defs() {
        let src = "package shop\n\nimport scala.math.max\n\n/** An order. */\ncase class Order(id: Int) extends HasId {\n  def total: Int = 0\n  def ship(): Unit = {\n    println(\"x\")\n  }\n}\n\nobject Order {\n  def of(id: Int): Order = Order(id)\n}\n\ntrait HasId { def id: Int }\nenum State { case New, Done }\ntype Id = Int\n\ndef helper(x: Int): Int = x * 2\n\nval answer = 42\n";
        let units = split(Language::Scala, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-3",
                "class - Order 5-11",
                "method Order total 7-7",
                "method Order ship 8-10",
                "class - Order 13-15",
                "method Order of 14-14",
                "trait - HasId 17-17",
                "method HasId id 17-17",
                "enum - State 18-18",
                "type - Id 19-19",
                "function - helper 21-21",
                "code - - 23-23",
            ]
        );
        assert!(units[1].content.contains("def total: Int = ...\n  def ship(): Unit = { ... }"), "{}", units[1].content);
    }

    #[test]
    fn shell_functions_and_lua_module_functions() {
        let sh = "#!/bin/sh\nset -eu\n\n# Copies one file.\ncopy_one() {\n  cp \"$1\" \"$2\"\n}\n\nfunction sync_all {\n  for f in *; do copy_one \"$f\" /tmp; done\n}\n\nsync_all\n";
        let units = split(Language::Shell, sh);
        assert_eq!(summary(&units), ["code - - 1-2", "function - copy_one 4-7", "function - sync_all 9-11", "code - - 13-13"]);
        assert!(units[1].content.starts_with("# Copies one file.\ncopy_one()"));
        let lua = "local M = {}\n\n-- Scrolls text.\nfunction M.scroll(text, width)\n  return text\nend\n\nfunction M:draw() end\n\nlocal function helper(x)\n  return x * 2\nend\n\nreturn M\n";
        assert_eq!(
            summary(&split(Language::Lua, lua)),
            ["code - - 1-1", "function M scroll 3-6", "method M draw 8-8", "function - helper 10-12", "code - - 14-14"]
        );
    }

    #[test]
    fn haskell_signatures_and_equations_are_one_function_and_classes_skeletons() {
        let src = "module Data.Queue (push) where\n\nimport qualified Data.Map as M\n-- | A FIFO queue.\ndata Queue a = Queue [a] [a]\n\n\
                   -- | Things that can be sized.\nclass Sized f where\n  -- | The size.\n  size :: f a -> Int\n  size _ = 0\n  empty :: f a\n\n\
                   instance Sized Queue where\n  size (Queue a b) = length a + length b\n\n\
                   push :: a -> Queue a -> Queue a\npush x (Queue f b) = Queue f (x : b)\n\n\
                   pop (Queue [] []) = Nothing\npop (Queue (x:f) b) =\n  Just (x, Queue f b)\nmain = print 1\n";
        let units = split(Language::Haskell, src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-3",
                "type - Queue 4-5",
                "trait - Sized 7-12",
                "method Sized size 9-11",
                "method Sized empty 12-12",
                "impl - Sized Queue 14-15",
                "method Sized Queue size 15-15",
                "function - push 17-18",
                "function - pop 20-22",
                "function - main 23-23",
            ]
        );
        // The doc comment the grammar hangs on the imports is the data type's.
        assert!(units[1].content.starts_with("-- | A FIFO queue.\ndata Queue"));
        assert_eq!(units[2].content, "-- | Things that can be sized.\nclass Sized f where\n  -- | The size.\n  size :: f a -> Int\n  ...\n  empty :: f a");
        assert_eq!(units[7].content, "push :: a -> Queue a -> Queue a\npush x (Queue f b) = Queue f (x : b)");
        let sites = doc_sites(Language::Haskell, src);
        assert_eq!(&sites[1..4], ["Queue documented", "Sized documented", "size documented"]);
        assert_eq!(&sites[7..], ["push 17+0", "pop 20+0", "main 23+0"]);
    }

    #[test]
    fn elixir_modules_clauses_protocols_and_doc_attributes() {
        let src = file(&[
            "defmodule Shop.Cart do",
            "  @moduledoc \"A cart.\"",
            "  alias Shop.Item",
            "",
            "  defstruct items: []",
            "",
            "  @doc \"Adds an item.\"",
            "  @spec add(t, Item.t()) :: t",
            "  def add(cart, item) do",
            "    %{cart | items: [item | cart.items]}",
            "  end",
            "",
            "  def count(%{items: []}), do: 0",
            "  def count(%{items: items}), do: length(items)",
            "",
            "  defp total(items) when is_list(items) do",
            "    Enum.sum(items)",
            "  end",
            "end",
            "",
            "defprotocol Size do",
            "  def size(data)",
            "end",
            "",
            "defimpl Size, for: List do",
            "  def size(list), do: length(list)",
            "end",
            "",
            "IO.puts(\"script\")",
        ]);
        let units = split(Language::Elixir, &src);
        assert_eq!(
            summary(&units),
            [
                "module - Shop.Cart 1-19",
                "struct Shop.Cart - 5-5",
                "function Shop.Cart add 7-11",
                "function Shop.Cart count 13-14",
                "function Shop.Cart total 16-18",
                "interface - Size 21-23",
                "method Size size 22-22",
                "impl - Size.List 25-27",
                "method Size.List size 26-26",
                "code - - 29-29",
            ]
        );
        assert!(units[0].content.contains("  def count(%{items: []}), ...\n\n  defp total(items) when is_list(items) ...\nend"), "{}", units[0].content);
        assert!(units[2].content.starts_with("@doc \"Adds an item.\"\n  @spec add"));
        let sites = doc_sites(Language::Elixir, &src);
        assert_eq!(
            sites,
            [
                "Shop.Cart documented",
                "struct 5+2",
                "add documented",
                "count 13+2",
                "total 16+2",
                "Size an Elixir module's doc is the @moduledoc in its body",
                "size 22+2",
                "Size.List an Elixir module's doc is the @moduledoc in its body",
                "size 26+2",
                "code -"
            ]
        );
    }

    #[test]
    fn zig_dart_and_r_definitions() {
        let zig = "const std = @import(\"std\");\n\n/// A point.\npub const Point = struct {\n    x: i32,\n\n    pub fn add(a: Point, b: Point) Point {\n        return a;\n    }\n};\n\n\
                   const Color = enum { red, green };\n\npub fn main() !void {}\n\ntest \"add\" {\n    try std.testing.expect(true);\n}\n";
        let units = split(Language::Zig, zig);
        assert_eq!(
            summary(&units),
            ["code - - 1-1", "struct - Point 3-10", "method Point add 7-9", "enum - Color 12-12", "function - main 14-14", "code - - 16-18"]
        );
        assert_eq!(units[1].content, "/// A point.\npub const Point = struct {\n    x: i32,\n\n    pub fn add(a: Point, b: Point) Point { ... }\n};");
        let dart = file(&[
            "import 'dart:math';",
            "",
            "/// A counter.",
            "class Counter {",
            "  final int value;",
            "",
            "  const Counter(this.value);",
            "",
            "  Counter.zero() : value = 0;",
            "",
            "  @override",
            "  String toString() {",
            "    return '$value';",
            "  }",
            "",
            "  int get doubled => value * 2;",
            "}",
            "",
            "mixin Loud {",
            "  void shout() {}",
            "}",
            "",
            "extension Twice on int {",
            "  int twice() => this * 2;",
            "}",
            "",
            "enum Color { red }",
            "",
            "typedef Cb = void Function(int);",
            "",
            "void main() {",
            "  print(Counter(1));",
            "}",
        ]);
        assert_eq!(
            summary(&split(Language::Dart, &dart)),
            [
                "code - - 1-1",
                "class - Counter 3-17",
                "method Counter Counter 7-7",
                "method Counter Counter.zero 9-9",
                "method Counter toString 11-14",
                "method Counter doubled 16-16",
                "class - Loud 19-21",
                "method Loud shout 20-20",
                "impl - Twice 23-25",
                "method Twice twice 24-24",
                "enum - Color 27-27",
                "type - Cb 29-29",
                "function - main 31-33",
            ]
        );
        assert_eq!(doc_sites(Language::Dart, &dart)[4], "toString 11+2", "a doc comment goes above the annotation");
        let r = "library(dplyr)\n\n#' Adds two numbers.\n#' @param a A number.\nadd <- function(a, b) {\n  a + b\n}\n\nsquare = function(x) x^2\n\"cube\" <- function(x) x^3\nx <- 5\nprint(add(1, 2))\n";
        assert_eq!(
            summary(&split(Language::R, r)),
            ["code - - 1-1", "function - add 3-7", "function - square 9-9", "function - cube 10-10", "code - - 11-12"]
        );
        assert_eq!(doc_sites(Language::R, r)[1..4], ["add documented", "square 9+0", "cube 10+0"]);
    }

    #[test]
    fn objective_c_interfaces_implementations_selectors_and_c_functions() {
        let src = file(&[
            "#import <Foundation/Foundation.h>",
            "",
            "/// A counter.",
            "@interface Counter : NSObject",
            "@property (nonatomic) NSInteger value;",
            "- (void)increment;",
            "@end",
            "",
            "@implementation Counter",
            "",
            "- (void)increment {",
            "    self.value += 1;",
            "}",
            "",
            "- (void)setValue:(NSInteger)value forKey:(NSString *)key {",
            "}",
            "",
            "@end",
            "",
            "@interface Counter (Reset) <NSCopying>",
            "+ (instancetype)counterWithValue:(NSInteger)value;",
            "@end",
            "",
            "static int helper(int x) {",
            "    return x * 2;",
            "}",
        ]);
        let units = split(Language::ObjC, &src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-1",
                "class - Counter 3-7",
                "method Counter increment 6-6",
                "impl - Counter 9-18",
                "method Counter increment 11-13",
                "method Counter setValue:forKey: 15-16",
                "class - Counter (Reset) 20-22",
                "method Counter (Reset) counterWithValue: 21-21",
                "function - helper 24-26",
            ]
        );
        assert_eq!(
            units[3].content,
            "@implementation Counter\n\n- (void)increment { ... }\n\n- (void)setValue:(NSInteger)value forKey:(NSString *)key { ... }\n\n@end"
        );
        assert_eq!(doc_sites(Language::ObjC, &src)[1..3], ["Counter documented", "increment 6+0"]);
    }

    #[test]
    fn sql_tables_views_functions_indexes_and_triggers_with_their_semicolons() {
        let src = file(&[
            "BEGIN;",
            "",
            "-- Orders placed by customers.",
            "CREATE TABLE \"shop\".\"Orders\" (",
            "    id BIGSERIAL PRIMARY KEY,",
            "    total NUMERIC(10, 2) NOT NULL",
            ");",
            "",
            "CREATE INDEX orders_total ON shop.orders (total);",
            "CREATE INDEX ON shop.orders (id);",
            "",
            "/* Big spenders. */",
            "CREATE MATERIALIZED VIEW big_orders AS SELECT * FROM shop.orders WHERE total > 100;",
            "",
            "CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$",
            "BEGIN",
            "  NEW.updated_at := now();",
            "  RETURN NEW;",
            "END;",
            "$$ LANGUAGE plpgsql;",
            "",
            "CREATE TRIGGER orders_touch BEFORE UPDATE ON shop.orders FOR EACH ROW EXECUTE FUNCTION touch();",
            "CREATE TYPE mood AS ENUM ('sad', 'happy');",
            "",
            "INSERT INTO `shop`.orders (total) VALUES (1);",
            "ALTER TABLE shop.orders ADD COLUMN note TEXT;",
            "",
            "COMMIT;",
        ]);
        let units = split(Language::Sql, &src);
        assert_eq!(
            summary(&units),
            [
                "table shop Orders 3-7",
                "index - orders_total 9-9",
                "index - - 10-10",
                "view - big_orders 12-13",
                "function - touch 15-20",
                "trigger - orders_touch 22-22",
                "type - mood 23-23",
                "code - - 25-28",
            ],
            "BEGIN alone is no unit"
        );
        assert!(units[0].content.starts_with("-- Orders placed by customers.\nCREATE TABLE"));
        assert!(units[0].content.ends_with("NOT NULL\n);"), "a statement's unit ends with its semicolon");
        assert!(units[4].content.ends_with("$$ LANGUAGE plpgsql;"));
        assert_eq!(units[7].content, "INSERT INTO `shop`.orders (total) VALUES (1);\nALTER TABLE shop.orders ADD COLUMN note TEXT;\n\nCOMMIT;");
        assert_eq!(doc_sites(Language::Sql, &src)[..5], ["Orders documented", "orders_total 9+0", "index 10+0", "big_orders documented", "touch 15+0"]);

        // T-SQL: a `GO` line ends the batch, and the statement before it.
        let tsql = "CREATE TABLE dbo.Orders (\n  Id INT NOT NULL\n)\nGO\n\nCREATE VIEW dbo.OpenOrders AS SELECT Id FROM dbo.Orders\ngo\n";
        let units = split(Language::Sql, tsql);
        assert_eq!(summary(&units), ["table dbo Orders 1-3", "view dbo OpenOrders 6-6"], "the view was inside the table's unit");
        assert_eq!(units[0].content, "CREATE TABLE dbo.Orders (\n  Id INT NOT NULL\n)");
    }

    #[test]
    fn sql_stored_routines_in_each_clients_script() {
        // SQL Server: SSMS's preamble, procedures and a function batched by GO.
        let tsql = file(&[
            "SET ANSI_NULLS ON",
            "GO",
            "-- Looks an order up.",
            "CREATE PROCEDURE [dbo].[GetOrder] @Id INT",
            "AS",
            "BEGIN",
            "    SET NOCOUNT ON;",
            "    SELECT * FROM dbo.Orders WHERE Id = @Id;",
            "END",
            "GO",
            "CREATE FUNCTION dbo.Total (@Id INT) RETURNS MONEY AS BEGIN RETURN 0; END",
            "GO",
            "CREATE VIEW dbo.Open AS SELECT Id FROM dbo.Orders",
            "GO",
        ]);
        let units = split(Language::Sql, &tsql);
        assert_eq!(summary(&units), ["code - - 1-1", "procedure dbo GetOrder 3-9", "function dbo Total 11-11", "view dbo Open 13-13"]);
        assert!(units[1].content.starts_with("-- Looks an order up.\nCREATE PROCEDURE") && units[1].content.ends_with("\nEND"), "{}", units[1].content);
        assert_eq!(doc_sites(Language::Sql, &tsql)[1..3], ["GetOrder documented", "Total 11+0"]);

        // MySQL: DELIMITER blocks; the statements in them end with their delimiter.
        let mysql = file(&[
            "CREATE TABLE orders (id INT);",
            "DELIMITER //",
            "DROP PROCEDURE IF EXISTS shop.add_order//",
            "CREATE PROCEDURE shop.add_order(IN n INT)",
            "BEGIN",
            "  INSERT INTO orders VALUES (n);",
            "END//",
            "DELIMITER ;",
            "CALL shop.add_order(1);",
            "CREATE INDEX orders_id ON orders (id);",
        ]);
        let units = split(Language::Sql, &mysql);
        assert_eq!(
            summary(&units),
            ["table - orders 1-1", "code - - 3-3", "procedure shop add_order 4-7", "code - - 9-9", "index - orders_id 10-10"],
            "the code on either side of a routine is two units, not one around it"
        );
        assert_eq!(units[1].content, "DROP PROCEDURE IF EXISTS shop.add_order//");
        assert!(units[2].content.ends_with("END//"));

        // PostgreSQL: the grammar reads functions; procedures are read beside it.
        let postgres = "CREATE FUNCTION one() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n\nCREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;\n";
        assert_eq!(summary(&split(Language::Sql, postgres)), ["function - one 1-1", "procedure - p 3-3"]);

        // What the grammar cannot read between routines is code, not lost.
        let oracle = "CREATE PROCEDURE p IS\nBEGIN\n  NULL;\nEND;\n/\nEXEC p;\n/\n";
        assert_eq!(summary(&split(Language::Sql, oracle)), ["procedure - p 1-4", "code - - 6-6"]);
    }

    #[test]
    fn perl_subs_in_their_packages_with_comments_and_pod() {
        let src = file(&[
            "#!/usr/bin/perl",
            "use strict;",
            "",
            "package Shop::Cart;",
            "",
            "# Makes an empty cart.",
            "sub new {",
            "    my ($class) = @_;",
            "    return bless { items => [] }, $class;",
            "}",
            "",
            "=head2 add",
            "",
            "Adds an item.",
            "",
            "=cut",
            "",
            "sub add {",
            "    my ($self, $item) = @_;",
            "    push @{ $self->{items} }, $item;",
            "}",
            "",
            "sub forward;",
            "",
            "package Shop::Order {",
            "    sub total { 0 }",
            "}",
            "",
            "package main;",
            "",
            "sub max($$) { $_[0] > $_[1] ? $_[0] : $_[1] }",
            "print Shop::Cart->new, \"\\n\";",
            "1;",
        ]);
        let units = split(Language::Perl, &src);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-4",
                "function Shop::Cart new 6-10",
                "function Shop::Cart add 12-21",
                "code - - 23-23",
                "module - Shop::Order 25-27",
                "function Shop::Order total 26-26",
                "code - - 29-29",
                "function main max 31-31",
                "code - - 32-33",
            ],
            "a sub only declared is no unit; a package names itself in full"
        );
        assert_eq!(units[4].content, "package Shop::Order {\n    sub total { ... }\n}");
        assert_eq!(doc_sites(Language::Perl, &src)[1..4], ["new documented", "add documented", "code -"], "POD stands apart, a blank line below it");
    }

    #[test]
    fn a_file_the_parser_could_not_read_is_one_file_unit() {
        // The root of this tree is an error: its children leave out what it skipped.
        let perl = "sub ok { 1 }\n\nfor my $method (qw(get make test install)) {\n    no strict 'refs';\n    for my $prefix (qw(pre post)) {\n        my $hookname = sprintf \"%s_%s\", $prefix, $method;\n        *$hookname = sub {\n";
        let units = split(Language::Perl, perl);
        assert_eq!(summary(&units), ["file - - 1-7"]);
        assert_eq!(units[0].content, perl);
        // No definition found, and an error: a file, not top-level code.
        assert_eq!(summary(&split(Language::Python, "print 'hello'\nx = )\n")), ["file - - 1-2"]);
        // An error beside definitions leaves them units, the error in top-level code.
        assert_eq!(summary(&split(Language::Python, "def f():\n    return 1\n\nx = )\n")), ["function - f 1-2", "code - - 4-4"]);
    }

    #[test]
    fn a_file_with_no_definitions_is_one_file_unit_documented_by_its_header() {
        let script = "#!/usr/bin/env python3\nimport sys\n\n# Upper-case each line.\nfor line in sys.stdin:\n    print(line.upper())\n";
        let units = split(Language::Python, script);
        assert_eq!(summary(&units), ["file - - 1-6"]);
        assert_eq!(units[0].content, script, "the whole file, its comments and shebang too");
        assert_eq!(units[0].doc_site, Some(DocSite::Before { line: 2, indent: String::new() }));
        // A query, a Dockerfile (no grammar), a documented script.
        assert_eq!(doc_sites(Language::Sql, "SELECT region, sum(total)\nFROM orders\nGROUP BY region;\n"), ["file 1+0"]);
        assert_eq!(doc_sites(Language::Dockerfile, "# syntax=docker/dockerfile:1\nFROM alpine\nRUN apk add curl\n"), ["file 2+0"]);
        assert_eq!(doc_sites(Language::Shell, "#!/bin/sh\n# Syncs the mirror.\nrsync -a src/ dst/\n"), ["file documented"]);
        // Definitions keep the code around them as code; comments alone are no unit.
        assert_eq!(summary(&split(Language::Python, "import sys\n\ndef f():\n    return 1\n")), ["code - - 1-1", "function - f 3-4"]);
        assert!(split(Language::Python, "# nothing yet\n").is_empty());
    }

    #[test]
    fn vue_and_svelte_components_are_containers_of_their_scripts_definitions() {
        let vue = file(&[
            "<template>",
            "  <button :class=\"{ big: count > 10 }\" @click=\"increment\">{{ count }}</button>",
            "</template>",
            "",
            "<script setup lang=\"ts\">",
            "import { ref } from 'vue'",
            "",
            "const count = ref<number>(0)",
            "",
            "/** Adds one. */",
            "function increment(): void {",
            "  count.value += 1",
            "}",
            "",
            "function reset() {",
            "  count.value = 0",
            "}",
            "</script>",
            "",
            "<style scoped>",
            "button { color: red; }",
            "</style>",
        ]);
        let units = Splitter::new(64 * 1024).split(Language::Vue, "src/components/Counter.vue", &vue);
        assert_eq!(
            summary(&units),
            ["component - Counter 1-22", "function Counter increment 10-13", "function Counter reset 15-17"],
            "the script's top-level code stays in the component, as a class's does"
        );
        let component = &units[0];
        assert!(component.elided);
        assert!(component.content.starts_with("<template>\n  <button"), "{}", component.content);
        assert!(component.content.contains("const count = ref<number>(0)\n\n/** Adds one. */\nfunction increment(): void { ... }\n\nfunction reset() { ... }\n</script>\n\n<style scoped>"));
        assert_eq!(units[1].content, "/** Adds one. */\nfunction increment(): void {\n  count.value += 1\n}");
        assert_eq!(units[0].doc_site, Some(DocSite::NoPlace("a component's doc has no place in its file")));
        assert_eq!(units[1].doc.as_deref(), Some("/** Adds one. */"));
        assert_eq!(units[2].doc_site, Some(DocSite::Before { line: 15, indent: String::new() }));

        // Svelte: two scripts, plain JavaScript; markup that is not HTML's.
        let svelte = "<script context=\"module\">\n  export function format(n) {\n    return `${n}`;\n  }\n</script>\n\n<script>\n  let count = 0;\n  function increment() {\n    count += 1;\n  }\n</script>\n\n{#if count > 0}\n  <button on:click={increment}>{format(count)}</button>\n{/if}\n";
        let units = Splitter::new(64 * 1024).split(Language::Svelte, "Counter.svelte", svelte);
        assert_eq!(summary(&units), ["component - Counter 1-16", "function Counter format 2-4", "function Counter increment 9-11"]);
        assert_eq!(units[2].doc_site, Some(DocSite::Before { line: 9, indent: "  ".into() }));

        // A component with no script is one unit, its whole text.
        let units = Splitter::new(64 * 1024).split(Language::Vue, "Badge.vue", "<template>\n  <span>new</span>\n</template>\n");
        assert_eq!(summary(&units), ["component - Badge 1-3"]);
        assert!(!units[0].elided);
    }

    #[test]
    fn a_vue_options_api_components_functions_are_its_methods() {
        let vue = file(&[
            "<template><p>{{ total }}</p></template>",
            "",
            "<script>",
            "import axios from 'axios'",
            "",
            "export default {",
            "  name: 'StockTable',",
            "  props: { items: Array },",
            "  data() {",
            "    return { sortKey: 'sku' }",
            "  },",
            "  computed: {",
            "    total: function () { return this.items.length },",
            "    sort: { get() { return this.sortKey }, set(key) { this.sortKey = key } },",
            "  },",
            "  watch: { '$route.query'(query) { this.refresh() } },",
            "  methods: {",
            "    // Loads the items again.",
            "    async refresh() {",
            "      const res = await axios.get('/api/items')",
            "      this.$emit('update', res.data)",
            "    },",
            "    pick: (item) => item.sku,",
            "  },",
            "}",
            "",
            "function helper() {}",
            "</script>",
        ]);
        let units = Splitter::new(64 * 1024).split(Language::Vue, "StockTable.vue", &vue);
        assert_eq!(
            summary(&units),
            [
                "component - StockTable 1-28",
                "method StockTable data 9-11",
                "method StockTable total 13-13",
                "method StockTable sort 14-14",
                "method StockTable $route.query 16-16",
                "method StockTable refresh 18-22",
                "method StockTable pick 23-23",
                "function StockTable helper 27-27",
            ],
            "in file order; props are no method"
        );
        let skeleton = &units[0].content;
        assert!(skeleton.contains("  data() { ... },\n  computed: {\n    total: function () { ... },\n    sort: { ... },\n  },\n  watch: { '$route.query'(query) { ... } },\n  methods: {\n    // Loads the items again.\n    async refresh() { ... },\n    pick: (item) => ...,\n  },\n}\n\nfunction helper() { ... }"), "{skeleton}");
        assert!(matches!(units[5].doc_site, Some(DocSite::Documented(_))));
        assert_eq!(units[1].doc_site, Some(DocSite::Before { line: 9, indent: "  ".into() }));

        // defineComponent({ … }) is the same options, typed.
        let typed = "<script lang=\"ts\">\nexport default defineComponent({\n  setup() {\n    return {}\n  },\n})\n</script>\n";
        let units = Splitter::new(64 * 1024).split(Language::Vue, "Typed.vue", typed);
        assert_eq!(summary(&units), ["component - Typed 1-7", "method Typed setup 3-5"]);
    }

    #[test]
    fn an_html_pages_inline_scripts_definitions_are_its_members() {
        let html = file(&[
            "<!DOCTYPE html>",
            "<html>",
            "<head>",
            "  <script src=\"/static/jquery.js\"></script>",
            "  <script type=\"application/ld+json\">{\"@type\": \"Store\"}</script>",
            "  <script type=\"text/template\" id=\"row\"><tr><td>{{ sku }}</td></tr></script>",
            "</head>",
            "<body>",
            "  <table id=\"stock\"></table>",
            "  <SCRIPT TYPE=\"text/javascript\">",
            "    const rows = [];",
            "",
            "    // Draws every row again.",
            "    function redraw(table) {",
            "      table.innerHTML = rows.join('');",
            "    }",
            "",
            "    class Poller {",
            "      start() { setInterval(redraw, 1000); }",
            "    }",
            "  </SCRIPT>",
            "  <script type=\"module\">",
            "    export function restock(sku) {",
            "      return fetch(`/api/restock/${sku}`);",
            "    }",
            "  </script>",
            "  <script>",
            "    var limit = {{ config.limit }};",
            "    function over(n) { return n > limit; }",
            "  </script>",
            "</body>",
            "</html>",
        ]);
        let units = Splitter::new(64 * 1024).split(Language::Html, "shop/templates/stock.html", &html);
        assert_eq!(
            summary(&units),
            [
                "page - stock.html 1-32",
                "function stock.html redraw 13-16",
                "class stock.html Poller 18-20",
                "method stock.html.Poller start 19-19",
                "function stock.html restock 23-25",
                "function stock.html over 29-29",
            ],
            "loaded scripts, data and templates are not code; a template's expression in a script is an error beside its functions"
        );
        let page = &units[0];
        assert!(page.elided);
        assert!(page.content.contains("    // Draws every row again.\n    function redraw(table) { ... }\n\n    class Poller { ... }\n  </SCRIPT>"), "{}", page.content);
        assert!(page.content.contains("    var limit = {{ config.limit }};\n    function over(n) { ... }\n"), "{}", page.content);
        assert_eq!(units[0].doc_site, Some(DocSite::NoPlace("a page's doc has no place in its file")));
        assert!(matches!(units[1].doc_site, Some(DocSite::Documented(_))));
        assert_eq!(units[4].doc_site, Some(DocSite::Before { line: 23, indent: "    ".into() }));

        // Vue from a CDN: the components a page constructs have their functions as methods.
        let vue = file(&[
            "<div id=\"app\">{{ count }}</div>",
            "<script src=\"https://unpkg.com/vue@3\"></script>",
            "<script>",
            "  Vue.component('stock-row', { props: ['sku'], methods: { restock() { this.$emit('restock') } } })",
            "  const app = Vue.createApp({",
            "    data() { return { count: 0 } },",
            "    methods: {",
            "      add(n) {",
            "        this.count += n",
            "      },",
            "    },",
            "  }).mount('#app')",
            "  document.addEventListener('load', () => new Vue({ methods: { hidden() {} } }))",
            "  new Vue({ methods: { mount() { Vue.component('late', { methods: { inner() {} } }) } } })",
            "</script>",
        ]);
        let units = Splitter::new(64 * 1024).split(Language::Html, "stock.html", &vue);
        assert_eq!(
            summary(&units),
            ["page - stock.html 1-15", "method stock.html restock 4-4", "method stock.html data 6-6", "method stock.html add 8-10", "method stock.html mount 14-14"],
            "a component made inside a callback or a method is left in it"
        );
        assert!(units[0].content.contains("    methods: {\n      add(n) { ... },\n    },"), "{}", units[0].content);

        // A script whose definitions a template writes stays whole in the page.
        let jinja = "<script>\n{% for item in items %}\nfunction show_{{ item.id }}() {}\n{% endfor %}\n</script>\n";
        let units = Splitter::new(64 * 1024).split(Language::Html, "loop.html", jinja);
        assert_eq!(summary(&units), ["page - loop.html 1-5"]);
        assert_eq!(units[0].content, jinja);

        // A page without scripts is one unit, its whole text.
        let units = Splitter::new(64 * 1024).split(Language::Html, "about.html", "<p>About us</p>\n");
        assert_eq!(summary(&units), ["page - about.html 1-1"]);
        assert!(!units[0].elided);
    }

    #[test]
    fn protocol_buffer_messages_enums_services_and_rpcs_in_their_package() {
        let proto = file(&[
            "syntax = \"proto3\";",
            "",
            "package shop.v1;",
            "",
            "import \"google/protobuf/timestamp.proto\";",
            "",
            "// An order a customer placed.",
            "message Order {",
            "  string id = 1;",
            "  repeated Item items = 2;",
            "",
            "  // One line of an order.",
            "  message Item {",
            "    string sku = 1;",
            "  }",
            "}",
            "",
            "enum Color { COLOR_UNSPECIFIED = 0; }",
            "",
            "service Orders {",
            "  // Places an order.",
            "  rpc Place(Order) returns (Order);",
            "  rpc Watch(stream Order) returns (stream Order) {",
            "    option deprecated = true;",
            "  }",
            "}",
        ]);
        let units = split(Language::Protobuf, &proto);
        assert_eq!(
            summary(&units),
            [
                "code - - 1-5",
                "struct shop.v1 Order 7-16",
                "struct shop.v1.Order Item 12-15",
                "enum shop.v1 Color 18-18",
                "interface shop.v1 Orders 20-26",
                "method shop.v1.Orders Place 21-22",
                "method shop.v1.Orders Watch 23-25",
            ]
        );
        assert_eq!(units[1].content, "// An order a customer placed.\nmessage Order {\n  string id = 1;\n  repeated Item items = 2;\n\n  // One line of an order.\n  message Item { ... }\n}");
        assert_eq!(doc_sites(Language::Protobuf, &proto)[1..], ["Order documented", "Item documented", "Color 18+0", "Orders 20+0", "Place documented", "Watch 23+2"]);
    }

    #[test]
    fn terraform_blocks_named_by_their_address() {
        let terraform = file(&[
            "terraform {",
            "  required_version = \">= 1.5\"",
            "}",
            "",
            "# The region everything runs in.",
            "variable \"region\" {",
            "  type = string",
            "}",
            "",
            "locals {",
            "  name = \"shop\"",
            "}",
            "",
            "resource \"aws_s3_bucket\" \"logs\" {",
            "  bucket = \"${local.name}-logs\"",
            "  lifecycle {",
            "    prevent_destroy = true",
            "  }",
            "}",
            "",
            "data \"aws_ami\" \"ubuntu\" {",
            "  most_recent = true",
            "}",
            "",
            "module \"vpc\" {",
            "  source = \"./modules/vpc\"",
            "}",
        ]);
        assert_eq!(
            summary(&split(Language::Hcl, &terraform)),
            [
                "code - - 1-3",
                "block - var.region 5-8",
                "code - - 10-12",
                "block - aws_s3_bucket.logs 14-19",
                "block - data.aws_ami.ubuntu 21-23",
                "block - module.vpc 25-27",
            ],
            "a block without labels is settings"
        );
        assert_eq!(doc_sites(Language::Hcl, &terraform)[1..4], ["var.region documented", "code -", "aws_s3_bucket.logs 14+0"]);
    }

    #[test]
    fn r6_classes_and_their_methods() {
        let r = file(&[
            "library(R6)",
            "",
            "#' A counter.",
            "Counter <- R6::R6Class(\"Counter\",",
            "  public = list(",
            "    count = 0,",
            "    #' @description Adds `n`.",
            "    add = function(n = 1) {",
            "      self$count <- self$count + n",
            "      invisible(self)",
            "    }",
            "  ),",
            "  private = list(",
            "    secret = function() 42",
            "  )",
            ")",
            "",
            "tally <- function(x) length(x)",
            "options <- list(verbose = function() TRUE)",
        ]);
        let units = split(Language::R, &r);
        assert_eq!(
            summary(&units),
            ["code - - 1-1", "class - Counter 3-16", "method Counter add 7-11", "method Counter secret 14-14", "function - tally 18-18", "code - - 19-19"],
            "a list that is no R6 class's is code"
        );
        assert_eq!(
            units[1].content,
            "#' A counter.\nCounter <- R6::R6Class(\"Counter\",\n  public = list(\n    count = 0,\n    #' @description Adds `n`.\n    add = function(n = 1) { ... }\n  ),\n  private = list(\n    secret = function() ...\n  )\n)"
        );
        assert_eq!(doc_sites(Language::R, &r)[1..4], ["Counter documented", "add documented", "secret 14+4"]);
    }

    #[test]
    fn s4_and_reference_classes_generics_and_methods() {
        let r = file(&[
            "#' A shape.",
            "setClass(\"Shape\", representation(\"VIRTUAL\"))",
            "",
            "Circle <- setClass(Class = \"Circle\", contains = \"Shape\", slots = c(r = \"numeric\"))",
            "",
            "setGeneric(\"area\", function(shape) standardGeneric(\"area\"))",
            "",
            "#' The area of a circle.",
            "setMethod(\"area\", \"Circle\", function(shape) {",
            "  pi * shape@r^2",
            "})",
            "",
            "setMethod(\"show\", signature(object = \"Circle\"), function(object) cat(\"circle\\n\"))",
            "methods::setValidity(\"Circle\", function(object) if (object@r < 0) \"negative radius\" else TRUE)",
            "setReplaceMethod(\"radius\", \"Circle\", function(x, value) { x@r <- value; x })",
            "",
            "Account <- setRefClass(\"Account\",",
            "  fields = list(balance = \"numeric\"),",
            "  methods = list(",
            "    deposit = function(x) {",
            "      balance <<- balance + x",
            "    }",
            "  )",
            ")",
            "setClassUnion(\"MaybeShape\", c(\"Shape\", \"NULL\"))",
        ]);
        let units = split(Language::R, &r);
        assert_eq!(
            summary(&units),
            [
                "class - Shape 1-2",
                "class - Circle 4-4",
                "function - area 6-6",
                "method Circle area 8-11",
                "method Circle show 13-13",
                "method Circle validity 14-14",
                "method Circle radius<- 15-15",
                "class - Account 17-24",
                "method Account deposit 20-22",
                "class - MaybeShape 25-25",
            ],
            "a class union is a (virtual) class"
        );
        assert_eq!(units[7].content, "Account <- setRefClass(\"Account\",\n  fields = list(balance = \"numeric\"),\n  methods = list(\n    deposit = function(x) { ... }\n  )\n)");
        assert_eq!(doc_sites(Language::R, &r)[..5], ["Shape documented", "Circle 4+0", "area 6+0", "area documented", "show 13+0"]);
    }

    #[test]
    fn julia_modules_functions_types_and_their_docstrings() {
        let julia = file(&[
            "\"\"\"",
            "Geometry helpers.",
            "\"\"\"",
            "module Shapes",
            "",
            "export area",
            "",
            "abstract type Shape end",
            "",
            "\"A circle of radius `r`.\"",
            "struct Circle <: Shape",
            "    r::Float64",
            "end",
            "",
            "mutable struct Counter{T}",
            "    n::T",
            "end",
            "",
            "function area(c::Circle)::Float64",
            "    return pi * c.r^2",
            "end",
            "",
            "area(s::Shape) = error(\"no area\")",
            "",
            "@inline function Base.show(io::IO, c::Circle)",
            "    print(io, c.r)",
            "end",
            "",
            "macro twice(ex)",
            "    quote $(esc(ex)); $(esc(ex)) end",
            "end",
            "",
            "scale(x::T) where {T<:Real} = 2x",
            "",
            "end",
        ]);
        let units = split(Language::Julia, &julia);
        assert_eq!(
            summary(&units),
            [
                "module - Shapes 1-35",
                "type Shapes Shape 8-8",
                "struct Shapes Circle 10-13",
                "struct Shapes Counter 15-17",
                "function Shapes area 19-21",
                "function Shapes area 23-23",
                "function Shapes Base.show 25-27",
                "macro Shapes twice 29-31",
                "function Shapes scale 33-33",
            ]
        );
        assert!(units[0].content.contains("function area(c::Circle)::Float64\n    ...\nend\n\narea(s::Shape) = ...\n"), "{}", units[0].content);
        assert!(units[0].content.contains("macro twice(ex)\n    ...\nend"), "{}", units[0].content);
        assert_eq!(
            doc_sites(Language::Julia, &julia)[..5],
            ["Shapes documented", "Shape 8+0", "Circle documented", "Counter 15+0", "area 19+0"],
            "a string just above a definition is its docstring"
        );

        // `@doc` written out: above a definition, or around one.
        let doc_macro = "@doc raw\"\"\"\n    area(r)\nThe area, in m\\$^2\\$.\n\"\"\"\nfunction area(r)\n    pi * r^2\nend\n\n@doc \"Twice.\" twice(x) = 2x\n\nhalf(x) = x / 2\n";
        let units = split(Language::Julia, doc_macro);
        assert_eq!(summary(&units), ["function - area 1-7", "function - twice 9-9", "function - half 11-11"]);
        assert_eq!(doc_sites(Language::Julia, doc_macro), ["area documented", "twice documented", "half 11+0"]);
    }

    #[test]
    fn r_markdown_and_quarto_chunks_are_read_in_their_engines_languages() {
        let src = file(&[
            "---",
            "title: Stock report",
            "---",
            "",
            "Prose with `r 1 + 1` inline and a displayed block:",
            "",
            "```r",
            "shown <- function() 'not run'",
            "```",
            "",
            "```{r setup, include=FALSE}",
            "library(dplyr)",
            "#' Stock on hand.",
            "on_hand <- function(ledger) {",
            "  sum(ledger$qty)",
            "}",
            "```",
            "",
            "```{python}",
            "",
            "#| echo: false",
            "def reorder(level):",
            "    return level < 10",
            "```",
            "",
            "```{sql, connection=con}",
            "CREATE VIEW low AS SELECT * FROM stock WHERE qty < 10;",
            "```",
            "",
            "```{ojs}",
            "viewof x = Inputs.range([0, 10])",
            "```",
            "",
            "````{r}",
            "```",
            "````",
        ]);
        let units = split(Language::RMarkdown, &src);
        assert_eq!(summary(&units), ["code - - 12-12", "function - on_hand 13-16", "function - reorder 22-23", "view - low 27-27", "code - - 35-35"]);
        let languages: Vec<_> = units.iter().map(|u| u.language.map(Language::name)).collect();
        assert_eq!(languages, [Some("r"), Some("r"), Some("python"), Some("sql"), Some("r")]);
        assert_eq!(doc_sites(Language::RMarkdown, &src)[1..3], ["on_hand documented", "reorder 23+4"], "a chunk option, after a blank line too, is no doc; a docstring goes into the body");
        assert!(split(Language::RMarkdown, "# Only prose\n").is_empty());
    }

    #[test]
    fn comment_only_files_have_no_units_and_unknown_grammars_one() {
        assert!(split(Language::Rust, "// just a comment\n/* and another */\n").is_empty());
        let units = split(Language::Markdown, "# Title\n\ntext\n");
        assert_eq!(summary(&units), ["file - - 1-3"]);
    }

    #[test]
    fn over_budget_units_split_at_lines() {
        let body: String = (0..50).map(|i| format!("    let v{i} = {i};\n")).collect();
        let src = format!("fn big() {{\n{body}}}\n");
        let units = Splitter::new(200).split(Language::Rust, "src/big.rs", &src);
        assert!(units.len() > 1);
        assert!(units.iter().all(|u| u.content.len() <= 200 && u.parts == units.len() as u32));
        assert!(units.iter().all(|u| u.content.ends_with('\n') || u.part + 1 == u.parts));
        let joined: String = units.iter().map(|u| u.content.as_str()).collect();
        assert_eq!(joined, src.trim_end());
        for unit in &units {
            assert_eq!(&src[unit.start_byte as usize..unit.end_byte as usize], unit.content);
        }
        assert_eq!(units[0].start_line, 1);
        assert_eq!(units.last().unwrap().end_line, 52);
    }

    #[test]
    fn cutting_respects_char_boundaries() {
        let text = "ééééé";
        let pieces = cut_at_lines(text, 3);
        assert!(pieces.iter().all(|p| text.is_char_boundary(p.start) && text.is_char_boundary(p.end)));
        assert_eq!(pieces.iter().map(|p| &text[p.clone()]).collect::<String>(), text);
        assert_eq!(cut_at_lines("😀", 1), [0..4]);
    }
}
