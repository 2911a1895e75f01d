//! Jupyter notebooks (`.ipynb`): the code cells of a notebook, and where each of their
//! lines is written in the file.
//!
//! A notebook is JSON, its code escaped in the `source` strings of its code cells, so
//! it cannot be parsed where it stands as a component's script is. Each code cell is
//! read out and split on its own, in the kernel's language: Jupyter runs a cell as one
//! whole program, so no definition spans two cells. The units' places are then mapped
//! back to the file: their lines are the lines where their source strings are written
//! (nbformat writes one line of code per line of JSON, so a line a reviewer names in a
//! cell is the file's line), their bytes those strings' bytes. Markdown and raw cells,
//! and outputs, are not code and make no units.

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::language::Language;
use super::split::{LineIndex, Splitter};
use super::unit::{DocSite, Unit};

/// Why a notebook's units have no place for a doc comment, and its file no docs patch.
pub const NOT_PATCHED: &str = "a notebook's code is JSON strings, which the patch does not edit";

/// Whether `path` names a notebook: by its extension, as Jupyter decides.
pub fn is_notebook(path: &str) -> bool {
    path.rsplit_once('.').is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("ipynb"))
}

/// A notebook's code.
#[derive(Debug)]
pub(crate) struct Notebook {
    /// The kernel's language as the notebook's metadata names it (`python`, `R`,
    /// `julia`), when it does.
    pub kernel_language: Option<String>,
    /// Its code cells, in order.
    pub cells: Vec<CodeCell>,
}

/// One code cell.
#[derive(Debug)]
pub(crate) struct CodeCell {
    /// Its code: its source strings, unescaped and joined.
    pub source: String,
    /// Where each source string starts in `source`, and where it is in the file.
    pieces: Vec<Piece>,
}

#[derive(Debug)]
struct Piece {
    start: usize,
    /// The string's bytes in the file, quotes included.
    file: Range<usize>,
    /// The file's line (1-based) it is written on.
    line: u32,
}

impl Notebook {
    /// Reads `text`, a notebook file's; the error says why it is not one hearth reads.
    pub(crate) fn read(text: &str) -> Result<Notebook, String> {
        let file: File<'_> = serde_json::from_str(text).map_err(|e| format!("not notebook JSON: {e}"))?;
        // nbformat 4 lists the cells; 2 and 3 (IPython's, before 2015) in worksheets.
        let cells: Vec<Cell<'_>> = match (file.cells, file.worksheets) {
            (Some(cells), _) => cells,
            (None, Some(worksheets)) => worksheets.into_iter().flat_map(|w| w.cells).collect(),
            (None, None) => return Err("it has no `cells` list".into()),
        };
        let lines = LineIndex::new(text);
        let mut code_cells = Vec::new();
        let mut cell_language = None;
        for (i, cell) in cells.into_iter().enumerate() {
            if cell.cell_type != "code" {
                continue;
            }
            cell_language = cell_language.or(cell.language);
            let strings: Vec<&RawValue> = match cell.source {
                Some(source) if source.get().starts_with('[') => {
                    serde_json::from_str(source.get()).map_err(|e| format!("cell {i}: its source is not a list of strings: {e}"))?
                }
                Some(source) => vec![source],
                None => return Err(format!("cell {i} has no source")),
            };
            let mut code = CodeCell { source: String::new(), pieces: Vec::with_capacity(strings.len()) };
            for string in strings {
                let piece: String = serde_json::from_str(string.get()).map_err(|e| format!("cell {i}: its source is not a string: {e}"))?;
                // The raw value borrows from `text`, so its address is its place there.
                let start = string.get().as_ptr() as usize - text.as_ptr() as usize;
                let file = start..start + string.get().len();
                code.pieces.push(Piece { start: code.source.len(), line: lines.line_of(start), file });
                // A notebook saved on Windows may keep CRLF inside its strings; the
                // text's own line endings were normalised, so these are too.
                code.source.push_str(&piece.replace("\r\n", "\n"));
            }
            code_cells.push(code);
        }
        // Metadata is read leniently: a notebook whose kernelspec is malformed still
        // has its code. nbformat 3 names the language on each code cell.
        let metadata = file.metadata.unwrap_or_default();
        let named = |pointer: &str| metadata.pointer(pointer).and_then(|v| v.as_str()).map(str::trim).filter(|name| !name.is_empty()).map(str::to_string);
        let kernel_language = named("/kernelspec/language").or_else(|| named("/language_info/name")).or(cell_language);
        Ok(Notebook { kernel_language, cells: code_cells })
    }
}

impl CodeCell {
    /// The language of this cell's code: the kernel's, or under one of IPython's cell
    /// magics that runs another language, that one (`%%bash`, `%%sql`, `%%R`,
    /// `%%script perl`, `%%writefile util.js`). `None` for a cell of markup (`%%latex`,
    /// `%%markdown`, `%%svg`), which holds no code.
    pub(crate) fn language(&self, kernel: Language) -> Option<Language> {
        let magic = self.source.trim_start().strip_prefix("%%").filter(|_| kernel == Language::Python);
        let Some(magic) = magic else { return Some(kernel) };
        let mut words = magic.lines().next().unwrap_or("").split_whitespace();
        let language = match words.next().unwrap_or("") {
            "latex" | "markdown" | "svg" => return None,
            "js" => Some(Language::JavaScript),
            "script" => words.next().and_then(Language::from_name),
            "writefile" | "file" => words.find(|word| !word.starts_with('-')).and_then(|file| Language::detect(Path::new(file), b"")),
            // `%%time`, `%%capture` and the like run the cell as Python.
            name => Language::from_name(name),
        };
        Some(language.unwrap_or(kernel))
    }

    /// The text the parser reads for this cell in `language` (see
    /// [`CodeCell::language`]), of the same length as its source: where the kernel is
    /// IPython, each magic (`%matplotlib inline`, `%%time`) and shell escape (`!pip
    /// install …`) turned into a comment, as they are not Python, and in a cell that a
    /// magic gives another language (`%%bash`), the magic's line blanked.
    /// Units still hold the source as written. As in IPython, only a line that starts a
    /// statement is a magic: not a `% x` continuing an expression in brackets (counted
    /// roughly, brackets in strings too) or after a backslash.
    fn parse_text(&self, kernel: Language, language: Language) -> Cow<'_, str> {
        if language != kernel {
            let magic = self.source.find('\n').unwrap_or(self.source.len());
            return Cow::Owned(" ".repeat(magic) + &self.source[magic..]);
        }
        let starts_magic = |line: &str| line.trim_start().starts_with(['%', '!']);
        if language != Language::Python || !self.source.split('\n').any(starts_magic) {
            return Cow::Borrowed(&self.source);
        }
        let (mut open_brackets, mut continued) = (0i32, false);
        let mut masked = Vec::new();
        for line in self.source.split('\n') {
            if open_brackets == 0 && !continued && starts_magic(line) {
                masked.push(line.replacen(['%', '!'], "#", 1));
                continue;
            }
            let code = line.split('#').next().unwrap_or(line);
            for c in code.chars() {
                match c {
                    '(' | '[' | '{' => open_brackets += 1,
                    ')' | ']' | '}' => open_brackets = (open_brackets - 1).max(0),
                    _ => {}
                }
            }
            continued = code.trim_end().ends_with('\\');
            masked.push(line.to_string());
        }
        Cow::Owned(masked.join("\n"))
    }

    /// The cell's units, in its language (see [`CodeCell::language`]), placed in the file.
    pub(crate) fn units(&self, splitter: &mut Splitter, kernel: Language) -> Vec<Unit> {
        let Some(language) = self.language(kernel) else { return Vec::new() };
        let mut units = splitter.split_cell(language, &self.source, &self.parse_text(kernel, language));
        for unit in &mut units {
            self.place(unit);
            unit.language = (language != kernel).then_some(language);
        }
        units
    }

    /// Moves `unit`, split from this cell's source, to its place in the file, where its
    /// doc has no place ([`NOT_PATCHED`]).
    fn place(&self, unit: &mut Unit) {
        let first = self.piece_at(unit.start_byte as usize);
        let last = self.piece_at((unit.end_byte as usize).saturating_sub(1).max(unit.start_byte as usize));
        // Lines of a cell are consecutive lines of the file when each has its own
        // string, as nbformat writes them; a cell written as one string is one line.
        (unit.start_line, unit.end_line) = (first.line, last.line);
        (unit.start_byte, unit.end_byte) = (first.file.start as u64, last.file.end as u64);
        if unit.doc_site.is_some() {
            unit.doc_site = Some(DocSite::NoPlace(NOT_PATCHED));
        }
    }

    /// The source string that holds byte `at` of the source.
    fn piece_at(&self, at: usize) -> &Piece {
        // The last string starting at or before `at`; an empty one never holds a byte.
        let after = self.pieces.partition_point(|p| p.start <= at);
        &self.pieces[after.saturating_sub(1)]
    }
}

/// The parts of a notebook hearth reads; everything else (outputs, cell metadata) is
/// left unread.
#[derive(Deserialize)]
struct File<'a> {
    #[serde(borrow)]
    cells: Option<Vec<Cell<'a>>>,
    #[serde(borrow)]
    worksheets: Option<Vec<Worksheet<'a>>>,
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Worksheet<'a> {
    #[serde(borrow, default)]
    cells: Vec<Cell<'a>>,
}

#[derive(Deserialize)]
struct Cell<'a> {
    cell_type: String,
    /// nbformat 3 calls a code cell's source its `input`.
    #[serde(borrow, alias = "input")]
    source: Option<&'a RawValue>,
    /// nbformat 3's language of a code cell.
    language: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::UnitKind;

    /// A notebook file as Jupyter writes it (one line of code per JSON string, indented
    /// JSON), with `cells` as (cell type, source) and the kernel's language.
    fn notebook(cells: &[(&str, &str)], language: &str) -> String {
        let cells: Vec<serde_json::Value> = cells
            .iter()
            .map(|(kind, source)| {
                let lines: Vec<&str> = source.split_inclusive('\n').collect();
                serde_json::json!({ "cell_type": kind, "metadata": {}, "outputs": [], "source": lines })
            })
            .collect();
        let metadata = serde_json::json!({ "kernelspec": { "language": language, "name": "k" } });
        serde_json::to_string_pretty(&serde_json::json!({ "cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5 })).unwrap()
    }

    /// The units of `text`'s code cells, placed in the file, as emit.rs makes them.
    fn units(text: &str, language: Language) -> Vec<Unit> {
        let mut splitter = crate::source::Splitter::new(4096);
        let notebook = Notebook::read(text).unwrap();
        let mut units = Vec::new();
        for cell in &notebook.cells {
            units.extend(cell.units(&mut splitter, language));
        }
        units
    }

    fn line_of(text: &str, needle: &str) -> u32 {
        text[..text.find(needle).unwrap()].matches('\n').count() as u32 + 1
    }

    #[test]
    fn an_octave_kernels_cells_are_read_in_octaves_dialect() {
        let text = notebook(&[("code", "# Twice x.\nfunction y = twice(x)\n  y = 2 * x;\nendfunction\n")], "octave");
        let kernel = Notebook::read(&text).unwrap().kernel_language.unwrap();
        let language = Language::from_name(&kernel).expect("Octave's kernel is MATLAB's language");
        let units = units(&text, language);
        let summary: Vec<(UnitKind, Option<&str>)> = units.iter().map(|u| (u.kind, u.name.as_deref())).collect();
        assert_eq!(summary, [(UnitKind::Function, Some("twice"))]);
        assert!(units[0].content.starts_with("# Twice x.\nfunction"));
    }

    #[test]
    fn code_cells_split_in_the_kernels_language_with_the_files_lines() {
        let text = notebook(
            &[
                ("markdown", "# Title\n\nProse, not code.\n"),
                ("code", "%matplotlib inline\nimport math\n"),
                ("code", "def area(r):\n    return math.pi * r * r\n"),
                ("raw", "def not_code(): pass\n"),
                ("code", "class Circle:\n    %config Circle.precise = True\n    def __init__(self, r):\n        self.r = r\n\n    def area(self):\n        return area(self.r)\n"),
                ("code", "!pip install numpy\n"),
            ],
            "python",
        );
        let notebook = Notebook::read(&text).unwrap();
        assert_eq!(notebook.kernel_language.as_deref(), Some("python"));
        assert_eq!(notebook.cells.len(), 4, "code cells only");
        let units = units(&text, Language::Python);
        let summary: Vec<(UnitKind, Option<&str>, Option<&str>)> = units.iter().map(|u| (u.kind, u.name.as_deref(), u.parent.as_deref())).collect();
        assert_eq!(
            summary,
            [
                (UnitKind::Code, None, None),
                (UnitKind::Function, Some("area"), None),
                (UnitKind::Class, Some("Circle"), None),
                (UnitKind::Method, Some("__init__"), Some("Circle")),
                (UnitKind::Method, Some("area"), Some("Circle")),
            ],
            "a cell of nothing but a shell escape is no unit"
        );
        assert_eq!(units[0].content, "%matplotlib inline\nimport math", "the magic as written");
        assert_eq!(units[2].content, "class Circle:\n    %config Circle.precise = True\n    def __init__(self, r):\n        ...\n\n    def area(self):\n        ...", "a skeleton too");
        let area = &units[1];
        assert_eq!((area.start_line, area.end_line), (line_of(&text, "def area(r)"), line_of(&text, "return math.pi")));
        let method = &units[4];
        assert_eq!((method.start_line, method.end_line), (line_of(&text, "    def area(self)"), line_of(&text, "return area(self.r)")));
        // The bytes are the source strings', quotes included.
        assert!(text[area.start_byte as usize..area.end_byte as usize].starts_with("\"def area(r):\\n\""));
        assert!(text[area.start_byte as usize..area.end_byte as usize].ends_with("\"    return math.pi * r * r\\n\""));
        assert!(units.iter().filter(|u| u.doc_site.is_some()).all(|u| matches!(u.doc_site, Some(DocSite::NoPlace(_)))));
    }

    #[test]
    fn a_cell_written_as_one_string_is_one_line() {
        let text = r#"{"cells": [{"cell_type": "code", "source": "x = 1\r\n\r\ndef f():\r\n    return x\r\n"}], "metadata": {}, "nbformat": 4}"#;
        let notebook = Notebook::read(text).unwrap();
        assert_eq!(notebook.kernel_language, None);
        assert_eq!(notebook.cells[0].source, "x = 1\n\ndef f():\n    return x\n", "CRLF in strings normalised");
        let units = units(text, Language::Python);
        assert_eq!(units.len(), 2);
        assert!(units.iter().all(|u| (u.start_line, u.end_line) == (1, 1)), "{units:?}");
        assert_eq!(units[1].content, "def f():\n    return x");
    }

    #[test]
    fn magics_are_comments_to_the_parser_only_in_ipython() {
        let source = "%%time\n  !ls\nx = (1\n     % 2)\ny = 1 \\\n    % 2\n%who\n";
        let cell = CodeCell { source: source.into(), pieces: Vec::new() };
        let parse = cell.parse_text(Language::Python, Language::Python);
        assert_eq!(parse, "#%time\n  #ls\nx = (1\n     % 2)\ny = 1 \\\n    % 2\n#who\n", "an operator continuing an expression stays");
        assert_eq!(parse.len(), cell.source.len());
        assert_eq!(cell.parse_text(Language::R, Language::R), cell.source, "R has no magics");
    }

    #[test]
    fn a_cell_magic_that_runs_another_language_gives_units_in_it() {
        let text = notebook(
            &[
                ("code", "%%bash\nbackup() {\n  cp -r data data.bak\n}\nbackup\n"),
                ("code", "%%sql mssql://shop\nCREATE TABLE orders (id INT)\nGO\nCREATE VIEW open_orders AS SELECT id FROM orders\n"),
                ("code", "%%writefile helpers.js\nfunction total(items) {\n  return items.length;\n}\n"),
                ("code", "%%time\ndef slow():\n    return 1\n"),
                ("code", "%%latex\n\\frac{a}{b}\n"),
            ],
            "python",
        );
        let units = units(&text, Language::Python);
        let summary: Vec<(UnitKind, Option<&str>, Option<Language>)> = units.iter().map(|u| (u.kind, u.name.as_deref(), u.language)).collect();
        assert_eq!(
            summary,
            [
                (UnitKind::Function, Some("backup"), Some(Language::Shell)),
                (UnitKind::Code, None, Some(Language::Shell)),
                (UnitKind::Table, Some("orders"), Some(Language::Sql)),
                (UnitKind::View, Some("open_orders"), Some(Language::Sql)),
                (UnitKind::Function, Some("total"), Some(Language::JavaScript)),
                (UnitKind::Function, Some("slow"), None),
            ],
            "a Python magic's cell is Python; markup is no code; a cell's SQL is read as a file's (its `GO`)"
        );
        assert_eq!(units[0].content, "backup() {\n  cp -r data data.bak\n}");
        assert_eq!(units[0].start_line, line_of(&text, "backup() {"));
    }

    #[test]
    fn other_kernels_are_read_from_their_metadata() {
        let text = notebook(&[("code", "area <- function(r) pi * r^2\n")], "R");
        assert_eq!(Notebook::read(&text).unwrap().kernel_language.as_deref(), Some("R"));
        let units = units(&text, Language::R);
        assert_eq!(units[0].name.as_deref(), Some("area"));
        let info = r#"{"cells": [], "metadata": {"kernelspec": {"language": ""}, "language_info": {"name": "julia"}}, "nbformat": 4}"#;
        assert_eq!(Notebook::read(info).unwrap().kernel_language.as_deref(), Some("julia"), "an empty name names nothing");
        let malformed = r#"{"cells": [], "metadata": {"kernelspec": "BAD: should be a dict"}, "nbformat": 4}"#;
        assert_eq!(Notebook::read(malformed).unwrap().kernel_language, None, "a malformed kernelspec is no language, and no reason to lose the code");
    }

    #[test]
    fn nbformat_3_keeps_its_cells_in_worksheets() {
        let text = "{\n \"metadata\": {\"name\": \"\"},\n \"nbformat\": 3,\n \"worksheets\": [\n  {\n   \"cells\": [\n    {\n     \"cell_type\": \"heading\",\n     \"source\": [\"Title\"]\n    },\n    {\n     \"cell_type\": \"code\",\n     \"input\": [\n      \"def f():\\n\",\n      \"    return 1\"\n     ],\n     \"language\": \"python\"\n    }\n   ]\n  }\n ]\n}\n";
        let notebook = Notebook::read(text).unwrap();
        assert_eq!(notebook.kernel_language.as_deref(), Some("python"));
        let units = units(text, Language::Python);
        assert_eq!(units.len(), 1);
        assert_eq!((units[0].name.as_deref(), units[0].start_line, units[0].end_line), (Some("f"), line_of(text, "def f"), line_of(text, "return 1")));
    }

    #[test]
    fn what_is_not_a_notebook_says_why() {
        let err = |text: &str| Notebook::read(text).unwrap_err();
        assert!(err("{\"cells\": [").starts_with("not notebook JSON: EOF while parsing a list at line 1"), "{}", err("{\"cells\": ["));
        assert_eq!(err(r#"{"nbformat": 4}"#), "it has no `cells` list");
        assert!(err(r#"{"cells": [{"cell_type": "code", "source": [1]}]}"#).starts_with("cell 0: its source is not a string"));
        assert_eq!(err(r#"{"cells": [{"cell_type": "code"}]}"#), "cell 0 has no source");
    }

    #[test]
    fn notebooks_are_named_by_their_extension() {
        assert!(is_notebook("a/b.ipynb") && is_notebook("B.IPYNB"));
        assert!(!is_notebook("ipynb") && !is_notebook("a.ipynb.py"));
    }
}
