//! The code unit: its Arrow schema (defined here and nowhere else), its identity, and
//! the builders that turn units into `RecordBatch`es.
//!
//! # Identity
//! `content_hash` is blake3 of the unit's `content`. `unit_id` is blake3 (first 128 bits,
//! hex) of the unit's *place* — repo, path, kind, parent, name, the occurrence of that
//! name in the file, the part — together with `content_hash`. So the same code in the
//! same place has the same id on every run and machine; an edit to one function changes
//! that function's id only, not its neighbours' (line numbers are not part of the id).

use std::collections::HashMap;
use std::ops::Range;
use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow_array::builder::{BooleanBuilder, ListBuilder, StringBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::language::Language;
use super::text::Skip;
use crate::Result;

/// What a unit is; named in pipelines (a task's `skip_kinds`) as in the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum UnitKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    Trait,
    Impl,
    Interface,
    Module,
    Type,
    Macro,
    /// SQL's `CREATE TABLE`.
    Table,
    /// SQL's `CREATE VIEW` and `CREATE MATERIALIZED VIEW`.
    View,
    /// SQL's `CREATE INDEX`.
    Index,
    /// SQL's `CREATE TRIGGER`.
    Trigger,
    /// A stored procedure: SQL's `CREATE PROCEDURE`.
    Procedure,
    /// A Vue or Svelte single-file component: template, scripts and style.
    Component,
    /// An HTML page: its markup, its inline scripts, its styles.
    Page,
    /// A labelled HCL block: a Terraform resource, data source, module, variable, output.
    Block,
    /// Top-level code between definitions: imports, constants, script statements.
    Code,
    /// A whole file: one with no definitions (a script, a query), one in a language
    /// hearth does not split, or one its parser could not read.
    File,
    /// The outline of a file with several definitions: its text with their bodies
    /// elided (imports, signatures, docs; a class's members by their signatures), from
    /// which docs write the file's header and by which search finds the file.
    Outline,
}

impl UnitKind {
    /// The kind a `kind` column's value names.
    pub fn from_name(name: &str) -> Option<UnitKind> {
        use serde::de::{value::Error, Deserialize, IntoDeserializer};
        UnitKind::deserialize(IntoDeserializer::<Error>::into_deserializer(name)).ok()
    }

    /// Whether a unit of this kind is documented by its file's header: a file with no
    /// definitions, or a file's outline.
    pub fn is_file_header(self) -> bool {
        matches!(self, UnitKind::File | UnitKind::Outline)
    }

    /// The value stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Function => "function",
            UnitKind::Method => "method",
            UnitKind::Class => "class",
            UnitKind::Struct => "struct",
            UnitKind::Enum => "enum",
            UnitKind::Trait => "trait",
            UnitKind::Impl => "impl",
            UnitKind::Interface => "interface",
            UnitKind::Module => "module",
            UnitKind::Type => "type",
            UnitKind::Macro => "macro",
            UnitKind::Table => "table",
            UnitKind::View => "view",
            UnitKind::Index => "index",
            UnitKind::Trigger => "trigger",
            UnitKind::Procedure => "procedure",
            UnitKind::Component => "component",
            UnitKind::Page => "page",
            UnitKind::Block => "block",
            UnitKind::Code => "code",
            UnitKind::File => "file",
            UnitKind::Outline => "outline",
        }
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One unit as the splitter produces it, before it is placed in a repo and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// What it is.
    pub kind: UnitKind,
    /// Its declared name; `None` for `code` and `file` units.
    pub name: Option<String>,
    /// The enclosing definitions, qualified in the language's notation (`Outer::Inner`).
    pub parent: Option<String>,
    /// First line, 1-based.
    pub start_line: u32,
    /// Last line, 1-based, inclusive.
    pub end_line: u32,
    /// Byte offset of the start in the decoded text (BOM stripped, LF line endings).
    pub start_byte: u64,
    /// Byte offset one past the end in the decoded text.
    pub end_byte: u64,
    /// Which part of an over-budget unit this is, 0-based.
    pub part: u32,
    /// How many parts the unit was split into (1 when it fit).
    pub parts: u32,
    /// True when member bodies were replaced by `{ ... }`: a container whose members are
    /// units of their own keeps only their signatures, so no body is sent twice.
    pub elided: bool,
    /// Its code as sliced from the file: a definition's first line starts at its
    /// keyword, past that line's indentation. Prompts show it [`at_margin`].
    pub content: String,
    /// The indentation that puts `content` at the margin as written ([`at_margin`]);
    /// `None` where that is `content` as it is (a top-level definition).
    pub indent: Option<String>,
    /// Where a doc comment for it goes in the file: set on a definition's first part,
    /// `None` for `code` and `file` units and for later parts.
    pub doc_site: Option<DocSite>,
    /// The doc comment the source has for it already, as written (for a later part:
    /// the definition's), which docs leave alone unless told otherwise.
    pub doc: Option<String>,
    /// Why `doc` no longer describes the unit: it names parameters the function does
    /// not have, or documents parameters but leaves out one it has. Docs run on such a unit as on an undocumented one, and the patch
    /// replaces the doc.
    pub stale_doc: Option<String>,
    /// A function's or method's code before its body (its name, parameters, types): what
    /// a doc's parameter names are held to, the source's ([`Unit::stale_doc`]) or a
    /// model's. `None` for other units, for declarations without a body and for C's
    /// unnamed parameters.
    pub signature: Option<String>,
    /// A function's or method's parameters, by name, as a doc names them: what a doc
    /// that documents parameters must name, one by one. `None` for other units and where
    /// they cannot all be named (a language whose docs list none, a destructured or
    /// variadic parameter), as `src/source/parameters.rs` reads them.
    pub parameters: Option<Vec<String>>,
    /// Set where the unit is in another language than its file: a notebook cell under
    /// a cell magic (`%%bash`, `%%sql`).
    pub language: Option<Language>,
}

/// Where a definition's doc comment goes in its file. The splitter finds it, as it
/// holds the syntax tree; `hearth export` writes the model's comments there as a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocSite {
    /// New lines go before `line`: above the definition and its attributes, or for a
    /// Python docstring at the top of its body.
    Before {
        /// 1-based.
        line: u32,
        /// The whitespace that starts `line`, which the new lines repeat.
        indent: String,
    },
    /// It has one: a comment above it or, in Python, a docstring; its bytes in the
    /// decoded text.
    Documented(Range<usize>),
    /// It has no line of its own to put one on; why.
    NoPlace(&'static str),
}

/// Arrow schema of `units.parquet`; every stage that reads units uses this one.
///
/// | column | type | meaning |
/// |---|---|---|
/// | unit_id | utf8 | stable id: place + content (see module docs) |
/// | repo | utf8 | repository name (root folder name, or the dataset's repo column) |
/// | path | utf8 | path inside the repository, `/`-separated |
/// | language | utf8 | [`Language::name`] |
/// | kind | utf8 | [`UnitKind::as_str`] |
/// | name | utf8? | declared name |
/// | parent | utf8? | enclosing definitions |
/// | start_line, end_line | u32 | 1-based, inclusive |
/// | start_byte, end_byte | u64 | span in the decoded file |
/// | part, parts | u32 | split of an over-budget unit |
/// | elided | bool | member bodies replaced by `{ ... }` |
/// | doc | utf8? | the doc comment the source has already ([`DocSite::Documented`]) |
/// | stale_doc | utf8? | why that doc no longer describes the unit ([`Unit::stale_doc`]) |
/// | indent | utf8? | what puts content at the margin as written ([`at_margin`]) |
/// | signature | utf8? | a function's code before its body ([`Unit::signature`]) |
/// | parameters | `list<utf8>`? | a function's parameter names ([`Unit::parameters`]) |
/// | bytes | u32 | length of content |
/// | content_hash | utf8 | blake3 of content, hex |
/// | content | utf8 | the code, as sliced from the file |
pub fn unit_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("unit_id", DataType::Utf8, false),
            Field::new("repo", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("language", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("parent", DataType::Utf8, true),
            Field::new("start_line", DataType::UInt32, false),
            Field::new("end_line", DataType::UInt32, false),
            Field::new("start_byte", DataType::UInt64, false),
            Field::new("end_byte", DataType::UInt64, false),
            Field::new("part", DataType::UInt32, false),
            Field::new("parts", DataType::UInt32, false),
            Field::new("elided", DataType::Boolean, false),
            Field::new("doc", DataType::Utf8, true),
            Field::new("stale_doc", DataType::Utf8, true),
            Field::new("indent", DataType::Utf8, true),
            Field::new("signature", DataType::Utf8, true),
            Field::new("parameters", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
            Field::new("bytes", DataType::UInt32, false),
            Field::new("content_hash", DataType::Utf8, false),
            Field::new("content", DataType::Utf8, false),
        ]))
    });
    SCHEMA.clone()
}

/// Arrow schema of `skipped.parquet`: every file that produced no units, and why.
///
/// | column | type | meaning |
/// |---|---|---|
/// | repo | utf8 | repository name |
/// | path | utf8 | path inside the repository (or `FILE:LINE` for a dataset record) |
/// | reason | utf8 | [`SkipReason::as_str`](super::SkipReason::as_str) |
/// | detail | utf8? | the I/O error, the link target, … |
/// | bytes | u64? | size on disk, when known |
pub fn skipped_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("repo", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("detail", DataType::Utf8, true),
            Field::new("bytes", DataType::UInt64, true),
        ]))
    });
    SCHEMA.clone()
}

/// A unit's code as a reader is shown it: its first line given back the `indent` it
/// has in its file (a method's slice starts at its `def`, past the line's indentation,
/// while its body keeps the file's), then the indentation all its lines share taken off,
/// so the code sits at the margin with its nesting as written. Shown as sliced, a
/// method's Python reads as an indentation error and a reviewing model says so. `None`
/// when that is the code as it is.
pub fn at_margin(indent: &str, code: &str) -> Option<String> {
    let placed = format!("{indent}{code}");
    let shared = placed.lines().filter(|line| !line.trim().is_empty()).map(|line| &line[..line.len() - line.trim_start().len()]).reduce(|a, b| {
        let same = a.char_indices().zip(b.chars()).find(|((_, x), y)| x != y).map_or(a.len().min(b.len()), |((at, _), _)| at);
        &a[..same]
    })?;
    let moved: String = placed.split_inclusive('\n').map(|line| line.strip_prefix(shared).unwrap_or(line)).collect();
    (moved != code).then_some(moved)
}

/// blake3 of `content`, hex.
pub fn content_hash(content: &str) -> String {
    blake3::hash(content.as_bytes()).to_hex().to_string()
}

/// The ids and content hashes of one file's units, in order. An id counts the units
/// before it with the same kind, parent, name and part, so the whole file is needed.
pub fn unit_ids(repo: &str, path: &str, units: &[Unit]) -> Vec<(String, String)> {
    let mut occurrences: HashMap<(UnitKind, Option<&str>, Option<&str>, u32), u32> = HashMap::new();
    units
        .iter()
        .map(|unit| {
            let key = (unit.kind, unit.parent.as_deref(), unit.name.as_deref(), unit.part);
            let occurrence = occurrences.entry(key).or_insert(0);
            let hash = content_hash(&unit.content);
            let id = unit_id(repo, path, unit, *occurrence, &hash);
            *occurrence += 1;
            (id, hash)
        })
        .collect()
}

fn unit_id(repo: &str, path: &str, unit: &Unit, occurrence: u32, content_hash: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    let occurrence = occurrence.to_string();
    let part = unit.part.to_string();
    let fields = [
        repo,
        path,
        unit.kind.as_str(),
        unit.parent.as_deref().unwrap_or(""),
        unit.name.as_deref().unwrap_or(""),
        &occurrence,
        &part,
        content_hash,
    ];
    for field in fields {
        // Length-prefixed so that ("ab", "c") and ("a", "bc") hash differently.
        hasher.update(&(field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.finalize().to_hex()[..32].to_string()
}

/// Accumulates the units of many files into one `RecordBatch` of [`unit_schema`].
pub struct UnitBatchBuilder {
    unit_id: StringBuilder,
    repo: StringBuilder,
    path: StringBuilder,
    language: StringBuilder,
    kind: StringBuilder,
    name: StringBuilder,
    parent: StringBuilder,
    start_line: UInt32Builder,
    end_line: UInt32Builder,
    start_byte: UInt64Builder,
    end_byte: UInt64Builder,
    part: UInt32Builder,
    parts: UInt32Builder,
    elided: BooleanBuilder,
    doc: StringBuilder,
    stale_doc: StringBuilder,
    indent: StringBuilder,
    signature: StringBuilder,
    parameters: ListBuilder<StringBuilder>,
    bytes: UInt32Builder,
    content_hash: StringBuilder,
    content: StringBuilder,
    rows: usize,
    content_bytes: usize,
}

impl Default for UnitBatchBuilder {
    fn default() -> Self {
        UnitBatchBuilder {
            unit_id: StringBuilder::new(),
            repo: StringBuilder::new(),
            path: StringBuilder::new(),
            language: StringBuilder::new(),
            kind: StringBuilder::new(),
            name: StringBuilder::new(),
            parent: StringBuilder::new(),
            start_line: UInt32Builder::new(),
            end_line: UInt32Builder::new(),
            start_byte: UInt64Builder::new(),
            end_byte: UInt64Builder::new(),
            part: UInt32Builder::new(),
            parts: UInt32Builder::new(),
            elided: BooleanBuilder::new(),
            doc: StringBuilder::new(),
            stale_doc: StringBuilder::new(),
            indent: StringBuilder::new(),
            signature: StringBuilder::new(),
            parameters: ListBuilder::new(StringBuilder::new()),
            bytes: UInt32Builder::new(),
            content_hash: StringBuilder::new(),
            content: StringBuilder::new(),
            rows: 0,
            content_bytes: 0,
        }
    }
}

impl UnitBatchBuilder {
    /// Appends all units of one file. Ids count repeated names per file, so they are
    /// given here, where the whole file is seen.
    pub fn push_file(&mut self, repo: &str, path: &str, language: Language, units: &[Unit]) {
        for (unit, (id, hash)) in units.iter().zip(unit_ids(repo, path, units)) {
            self.unit_id.append_value(id);
            self.repo.append_value(repo);
            self.path.append_value(path);
            self.language.append_value(unit.language.unwrap_or(language).name());
            self.kind.append_value(unit.kind.as_str());
            self.name.append_option(unit.name.as_deref());
            self.parent.append_option(unit.parent.as_deref());
            self.start_line.append_value(unit.start_line);
            self.end_line.append_value(unit.end_line);
            self.start_byte.append_value(unit.start_byte);
            self.end_byte.append_value(unit.end_byte);
            self.part.append_value(unit.part);
            self.parts.append_value(unit.parts);
            self.elided.append_value(unit.elided);
            self.doc.append_option(unit.doc.as_deref());
            self.stale_doc.append_option(unit.stale_doc.as_deref());
            self.indent.append_option(unit.indent.as_deref());
            self.signature.append_option(unit.signature.as_deref());
            self.parameters.append_option(unit.parameters.as_ref().map(|names| names.iter().map(Some)));
            self.bytes.append_value(u32::try_from(unit.content.len()).unwrap_or(u32::MAX));
            self.content_hash.append_value(hash);
            self.content.append_value(&unit.content);
            self.rows += 1;
            self.content_bytes += unit.content.len();
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether nothing was appended since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Content bytes appended since the last [`finish`](Self::finish).
    pub fn content_bytes(&self) -> usize {
        self.content_bytes
    }

    /// Takes the rows so far as a batch and starts afresh.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.unit_id.finish()),
            Arc::new(self.repo.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.language.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.parent.finish()),
            Arc::new(self.start_line.finish()),
            Arc::new(self.end_line.finish()),
            Arc::new(self.start_byte.finish()),
            Arc::new(self.end_byte.finish()),
            Arc::new(self.part.finish()),
            Arc::new(self.parts.finish()),
            Arc::new(self.elided.finish()),
            Arc::new(self.doc.finish()),
            Arc::new(self.stale_doc.finish()),
            Arc::new(self.indent.finish()),
            Arc::new(self.signature.finish()),
            Arc::new(self.parameters.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.content_hash.finish()),
            Arc::new(self.content.finish()),
        ];
        self.rows = 0;
        self.content_bytes = 0;
        Ok(RecordBatch::try_new(unit_schema(), columns)?)
    }
}

/// Accumulates skipped files into a `RecordBatch` of [`skipped_schema`].
#[derive(Default)]
pub struct SkippedBatchBuilder {
    repo: StringBuilder,
    path: StringBuilder,
    reason: StringBuilder,
    detail: StringBuilder,
    bytes: UInt64Builder,
    rows: usize,
}

impl SkippedBatchBuilder {
    /// Appends one skipped file.
    pub fn push(&mut self, repo: &str, path: &str, skip: &Skip, bytes: Option<u64>) {
        self.repo.append_value(repo);
        self.path.append_value(path);
        self.reason.append_value(skip.reason.as_str());
        self.detail.append_option(skip.detail.as_deref());
        self.bytes.append_option(bytes);
        self.rows += 1;
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether nothing was appended since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Takes the rows so far as a batch and starts afresh.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.repo.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.detail.finish()),
            Arc::new(self.bytes.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(skipped_schema(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_read_back_from_its_column_value() {
        for kind in [UnitKind::Function, UnitKind::Procedure, UnitKind::Code, UnitKind::File, UnitKind::Outline] {
            assert_eq!(UnitKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(UnitKind::from_name("functions"), None);
    }

    #[test]
    fn code_is_shown_at_the_margin_with_its_nesting_as_written() {
        let method = "def area(self):\n        return self.w * self.h\n";
        assert_eq!(at_margin("    ", method).as_deref(), Some("def area(self):\n    return self.w * self.h\n"));
        let rust = "pub fn new() -> Self {\n        Point { x: 0 }\n\n    }";
        assert_eq!(at_margin("    ", rust).as_deref(), Some("pub fn new() -> Self {\n    Point { x: 0 }\n\n}"), "blank lines kept");
        assert_eq!(at_margin("\t", "func f() {\n\t\treturn\n\t}\n").as_deref(), Some("func f() {\n\treturn\n}\n"));
        // Lines left of the first (a multi-line string's) keep everything as in the file.
        let sql = "def q():\n        return '''\nSELECT 1\n'''\n";
        assert_eq!(at_margin("    ", sql).as_deref(), Some("    def q():\n        return '''\nSELECT 1\n'''\n"));
        // Code at the margin already, or one line, is as it is.
        assert_eq!(at_margin("", "def f():\n    pass\n"), None);
        assert_eq!(at_margin("    ", "x = 1"), None);
        // A later part of a long unit starts at a line's start: its shared indentation goes.
        assert_eq!(at_margin("", "        a()\n        b()\n").as_deref(), Some("a()\nb()\n"));
    }

    fn unit(name: &str, content: &str) -> Unit {
        Unit {
            kind: UnitKind::Function,
            name: Some(name.into()),
            parent: None,
            start_line: 1,
            end_line: 1,
            start_byte: 0,
            end_byte: content.len() as u64,
            part: 0,
            parts: 1,
            elided: false,
            content: content.into(),
            indent: None,
            doc_site: None,
            doc: None,
            stale_doc: None,
            signature: None,
            parameters: None,
            language: None,
        }
    }

    fn ids(units: &[Unit]) -> Vec<String> {
        let mut builder = UnitBatchBuilder::default();
        builder.push_file("repo", "a.rs", Language::Rust, units);
        let batch = builder.finish().unwrap();
        let ids = batch.column(0).as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
        ids.iter().map(|id| id.unwrap().to_string()).collect()
    }

    #[test]
    fn ids_depend_on_place_and_content_only() {
        let a = ids(&[unit("f", "fn f() {}"), unit("g", "fn g() {}")]);
        let b = ids(&[unit("f", "fn f() {}"), unit("g", "fn g() { 1 }")]);
        assert_eq!(a[0], b[0], "an edit to g must not change f's id");
        assert_ne!(a[1], b[1]);
        assert_eq!(a[0].len(), 32);
    }

    #[test]
    fn repeated_names_in_one_file_get_distinct_ids() {
        let same = ids(&[unit("f", "fn f() {}"), unit("f", "fn f() {}")]);
        assert_ne!(same[0], same[1]);
    }

    #[test]
    fn builders_produce_their_schema() {
        let mut units = UnitBatchBuilder::default();
        units.push_file("r", "p", Language::Go, &[unit("f", "func f() {}")]);
        assert_eq!(units.len(), 1);
        assert_eq!(units.finish().unwrap().schema(), unit_schema());
        assert!(units.is_empty());
        let mut skipped = SkippedBatchBuilder::default();
        skipped.push("r", "p", &Skip::new(super::super::SkipReason::Binary), Some(3));
        assert_eq!(skipped.finish().unwrap().schema(), skipped_schema());
    }
}
