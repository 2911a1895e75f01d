//! The docs patch: each documented definition's comment written into its source file,
//! as a unified diff that `git apply` (or `patch -p1`) takes in the repository's checkout.
//! It is a plain diff, without git's `diff --git` headers: git reads the paths of such a
//! patch as relative to the folder it runs in, so the patch of a repository walked in a
//! subfolder of a larger checkout applies there, where git would skip a git-style one.
//!
//! The patch is made against the checkout as it is now, not as the run saw it. Each
//! file is split again with the run's settings, and a comment goes only to a unit
//! whose id (place and content) is still the one the model documented, at the place
//! the splitter finds for it in the syntax tree. A unit edited since, or one that has a
//! comment by now, is left alone and counted: applying the patch of an export made after
//! the next run never adds a second comment.
//!
//! A unit whose doc no longer names its code's parameters ([`Unit::stale_doc`]) was
//! answered in place of that doc, and the patch replaces it: the lines the old doc
//! holds, when it holds them alone, become the new comment.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use similar::TextDiff;

use crate::finished::rows::{DocText, Place, Row};
use super::safe_relative;
use crate::source::{decode, is_line_comment, is_notebook, only_comments, stale_doc, unit_ids, DocSite, Language, Splitter, Unit, UnitKind, BINARY_SNIFF_BYTES, NOT_PATCHED};
use crate::tasks::docs::{comment_prose, comment_syntax};

/// A repository's docs patch and what it left out.
#[derive(Debug, Default)]
pub struct RepoPatch {
    /// The unified diff; empty when no comment could be placed.
    pub diff: String,
    /// Files the diff changes.
    pub files: usize,
    /// Comments it writes, new ones and those in place of stale docs.
    pub comments: usize,
    /// Of those, the ones in place of a stale doc.
    pub replaced: usize,
    /// Why answered units got no comment → how many.
    pub left_out: BTreeMap<String, usize>,
}

impl RepoPatch {
    fn leave_out(&mut self, why: impl Into<String>, units: usize) {
        *self.left_out.entry(why.into()).or_default() += units;
    }
}

/// The patch of the checkout at `root` that adds the comments of `rows` (one repository's
/// docs rows) to the units they document. `max_unit_bytes` is the run's, so that the
/// files split into the units the run had.
pub fn repo_patch(root: &Path, rows: &[&Row<DocText>], max_unit_bytes: usize) -> RepoPatch {
    let mut patch = RepoPatch::default();
    // Only answered rows: an unanswered unit is already counted as such.
    let mut by_file: BTreeMap<&str, Vec<(&Place, &DocText)>> = BTreeMap::new();
    for row in rows {
        if let Ok(answer) = &row.outcome {
            by_file.entry(&row.place.path).or_default().push((&row.place, answer));
        }
    }
    let mut splitter = Splitter::new(max_unit_bytes);
    for (path, rows) in by_file {
        // A path the walk wrote is relative and plain; anything else did not come from it.
        if safe_relative(path) != Path::new(path) || path.contains(['"', '\\', '\t', '\n', '\r']) {
            patch.leave_out("its path is not a plain path inside the repository", rows.len());
            continue;
        }
        if is_notebook(path) {
            patch.leave_out(NOT_PATCHED, rows.len());
            continue;
        }
        let file = root.join(path);
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                patch.leave_out("its file is no longer in the checkout", rows.len());
                continue;
            }
            Err(e) => {
                patch.leave_out(format!("its file could not be read: {}", e.kind()), rows.len());
                continue;
            }
        };
        let text = match decode(bytes.clone()) {
            Ok(text) => text,
            Err(skip) => {
                patch.leave_out(format!("its file is no longer text ({})", skip.reason.as_str()), rows.len());
                continue;
            }
        };
        // The file's language as the walk found it: a row's is its unit's, which for a
        // chunk of an R Markdown document is the chunk's engine.
        let first = rows[0].0;
        let head = &text.as_bytes()[..text.len().min(BINARY_SNIFF_BYTES)];
        let Some(language) = Language::detect(Path::new(path), head).or_else(|| Language::from_name(&first.language)) else {
            patch.leave_out(format!("hearth does not know the language `{}`", first.language), rows.len());
            continue;
        };
        let edits = file_edits(&first.repo, path, language, &text, &rows, &mut splitter, &mut patch);
        if edits.is_empty() {
            continue;
        }
        // `decode` succeeded, so the bytes are UTF-8.
        let old = String::from_utf8(bytes).expect("decoded text is UTF-8");
        let new = edit_lines(&old, &edits);
        patch.comments += edits.len();
        patch.replaced += edits.iter().filter(|edit| edit.replaces > 0).count();
        patch.files += 1;
        let diff = TextDiff::from_lines(&old, &new);
        patch.diff.push_str(&diff.unified_diff().context_radius(3).header(&format!("a/{path}"), &format!("b/{path}")).to_string());
    }
    patch
}

/// A comment to write in a file: its lines go before line `line` (1-based), in place of
/// the `replaces` lines from there (a stale doc's; 0 for a new comment).
#[derive(Debug, PartialEq)]
struct Edit {
    line: u32,
    replaces: u32,
    text: String,
}

/// The comments to write in one file, each answered unit found again in `text` (the
/// file as [`decode`] gives it).
fn file_edits(
    repo: &str,
    path: &str,
    language: Language,
    text: &str,
    answered: &[(&Place, &DocText)],
    splitter: &mut Splitter,
    patch: &mut RepoPatch,
) -> Vec<Edit> {
    let units = splitter.split(language, path, text);
    let by_id: HashMap<String, &Unit> = unit_ids(repo, path, &units).into_iter().map(|(id, _)| id).zip(&units).collect();
    let mut insertions = Vec::new();
    for (place, answer) in answered {
        let Some(unit) = by_id.get(&place.unit_id) else {
            patch.leave_out("its unit changed since the run", 1);
            continue;
        };
        // A unit in another language than its file (an R Markdown chunk's) is commented in its own.
        let unit_language = unit.language.unwrap_or(language);
        match comment_lines(unit_language, unit, answer, text) {
            Ok((line, replaces, mut lines)) => {
                // A header's lines would run into the comment lines of a license above it.
                let above = || (line > 1).then(|| text.lines().nth(line as usize - 2)).flatten();
                if unit.kind.is_file_header() && is_line_comment(unit_language, &lines) && above().is_some_and(|above| is_line_comment(unit_language, above)) {
                    lines.insert(0, '\n');
                }
                // An outline's header stands apart from the definition below it, whose doc it would become.
                let outline = unit.kind == UnitKind::Outline;
                if outline && text.lines().nth(line as usize - 1).is_some_and(|below| !below.trim().is_empty()) {
                    lines.push('\n');
                }
                insertions.push((!outline, Edit { line, replaces, text: lines }));
            }
            Err(why) => patch.leave_out(why, 1),
        }
    }
    // The file's header above the doc of a definition at the same line.
    insertions.sort_by_key(|(below_header, edit)| (edit.line, *below_header));
    insertions.into_iter().map(|(_, edit)| edit).collect()
}

/// Where `unit`'s comment goes in `text`, how many lines there it replaces, and its
/// lines (ending in `\n`), from the docs `answer`.
fn comment_lines(language: Language, unit: &Unit, answer: &DocText, text: &str) -> Result<(u32, u32, String), String> {
    let site = match &unit.doc_site {
        Some(site) => site,
        None if unit.part > 0 => return Err("it is a later part of a unit split for size".into()),
        None => return Err("it is top-level code, not a definition".into()),
    };
    let (line, replaces, indent) = match site {
        DocSite::Before { line, indent } => (*line, 0, indent.as_str()),
        DocSite::Documented(doc) if unit.stale_doc.is_some() => stale_doc_lines(language, text, doc.clone())?,
        DocSite::Documented(_) => return Err("it is documented already".into()),
        DocSite::NoPlace(why) => return Err((*why).to_string()),
    };
    let syntax = comment_syntax(language.name(), unit.kind.as_str()).ok_or_else(|| format!("hearth knows no doc-comment syntax for {}", language.name()))?;
    let prose = comment_prose(&answer.text, unit.name.as_deref(), answer.cut_off.is_some())?;
    // The code without the old doc, which is part of the unit's content and whose words
    // an answer may keep.
    let old_doc: HashSet<&str> = unit.doc.iter().flat_map(|doc| doc.lines()).map(str::trim).collect();
    let code: Vec<&str> = unit.content.lines().map(str::trim).filter(|line| !old_doc.contains(line)).collect();
    if repeats_code(&prose, &code) {
        return Err("the answer repeats lines of the code".into());
    }
    let comment = syntax.render(&prose, indent, "\n")?;
    // No answer may be stale from the start: not one in place of a stale doc, nor one
    // written before the docs task held answers to the signature (as the walk will).
    let code = code.join("\n");
    if stale_doc(language, &comment, unit.signature.as_deref().unwrap_or(&code), &code, unit.parameters.as_deref()).is_some() {
        return Err("the answer names parameters the code does not have, or leaves out one it has".into());
    }
    Ok((line, replaces, comment))
}

/// The lines of a stale doc at `doc` in `text` as (first line, 1-based; how many; the
/// indent they start at), when they hold the doc alone: comment lines, or one block
/// comment, or a Python docstring on lines of its own.
fn stale_doc_lines(language: Language, text: &str, doc: Range<usize>) -> Result<(u32, u32, &str), String> {
    let start = text[..doc.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[doc.end..].find('\n').map_or(text.len(), |i| doc.end + i);
    // A doc that holds its line's end (Rust's) ends on the line before.
    let end = if doc.end > doc.start && text[..doc.end].ends_with('\n') { doc.end - 1 } else { end };
    let indent = &text[start..doc.start];
    if !indent.trim().is_empty() || !text[doc.end.min(end)..end].trim().is_empty() {
        return Err("its stale doc shares its lines with code".into());
    }
    if !(language == Language::Python || only_comments(language, &text[doc.start..end])) {
        return Err("its stale doc is not comment lines hearth can replace".into());
    }
    let first = text[..start].matches('\n').count() as u32 + 1;
    let lines = text[start..end].matches('\n').count() as u32 + 1;
    Ok((first, lines, indent))
}

/// Whether a line of `prose` is one of the `code` lines (trimmed; lines too short to
/// tell do not count): a model that echoes the definition is not documenting it.
fn repeats_code(prose: &[String], code: &[&str]) -> bool {
    let code: HashSet<&str> = code.iter().copied().filter(|line| line.len() >= 8).collect();
    prose.iter().any(|line| code.contains(line.trim()))
}

/// `old` with each edit's lines before its line, in place of the lines it replaces. The
/// lines take the line ending of the line they go before, so a CRLF file stays CRLF; a
/// byte-order mark stays first.
fn edit_lines(old: &str, edits: &[Edit]) -> String {
    let (bom, body) = match old.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", old),
    };
    let mut new = String::with_capacity(old.len() + edits.iter().map(|edit| edit.text.len() * 2).sum::<usize>());
    new.push_str(bom);
    let mut pending = edits.iter().peekable();
    let mut skip = 0;
    for (index, line) in body.split_inclusive('\n').enumerate() {
        let eol = if line.ends_with("\r\n") || (!line.ends_with('\n') && body.contains("\r\n")) { "\r\n" } else { "\n" };
        while let Some(edit) = pending.next_if(|edit| edit.line as usize == index + 1) {
            new.push_str(&edit.text.replace('\n', eol));
            skip = skip.max(edit.replaces);
        }
        if skip > 0 {
            skip -= 1;
        } else {
            new.push_str(line);
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const BUDGET: usize = 12 * 1024;

    /// The docs rows a run over `root` would have, with `answers` by unit name (`""` for
    /// a unit without one, a whole file) as the docs task parses them (the rest unanswered).
    fn rows(root: &Path, path: &str, language: Language, answers: &[(&str, &str)]) -> Vec<Row<DocText>> {
        let text = decode(std::fs::read(root.join(path)).unwrap()).unwrap();
        let units = Splitter::new(BUDGET).split(language, path, &text);
        let ids = unit_ids("repo", path, &units);
        let answer = |name: &Option<String>| answers.iter().find(|(n, _)| *n == name.as_deref().unwrap_or("")).map(|(_, a)| a.to_string());
        let rows = units.iter().zip(ids).map(|(unit, (unit_id, _))| Row {
            place: Place {
                unit_id,
                repo: "repo".into(),
                path: path.into(),
                // As the walk writes it: a chunk's unit is in its engine's language.
                language: unit.language.unwrap_or(language).name().into(),
                kind: unit.kind.to_string(),
                name: unit.name.clone(),
                parent: unit.parent.clone(),
                start_line: unit.start_line,
                end_line: unit.end_line,
            },
            outcome: answer(&unit.name)
                .ok_or_else(|| "the context is full".to_string())
                .and_then(|a| crate::tasks::docs::parse(&a, unit.name.as_deref(), false))
                .map(|text| DocText { text, cut_off: None }),
        });
        rows.collect()
    }

    fn git_apply(root: &Path, diff: &str) {
        std::fs::write(root.join("docs.patch"), diff).unwrap();
        let apply = Command::new("git").args(["apply", "--verbose", "docs.patch"]).current_dir(root).output().expect("git runs");
        let said = String::from_utf8_lossy(&apply.stderr);
        assert!(apply.status.success() && !said.contains("Skipped"), "{said}\n{diff}");
        std::fs::remove_file(root.join("docs.patch")).unwrap();
    }

    #[test]
    fn the_patch_applies_with_git_and_puts_each_comment_where_its_language_reads_it() {
        // The walked folder is a subfolder of a git checkout, where git skips what a patch
        // names outside the folder it runs in.
        let dir = tempfile::tempdir().unwrap();
        let init = Command::new("git").args(["init", "-q"]).current_dir(dir.path()).status().expect("git runs");
        assert!(init.success());
        let root = &dir.path().join("checkout");
        std::fs::create_dir_all(root.join("src")).unwrap();
        let rust = "use std::fmt;\n\n#[derive(Debug)]\npub struct Point {\n    x: i32,\n}\n\nimpl Point {\n    pub fn new() -> Self {\n        Point { x: 0 }\n    }\n\n    /// Has one.\n    pub fn x(&self) -> i32 {\n        self.x\n    }\n}\n";
        std::fs::write(root.join("src/point.rs"), rust).unwrap();
        // CRLF line endings and a byte-order mark, as a Windows editor leaves them.
        let python = "\u{feff}import os\r\n\r\nclass Store:\r\n    def get(self, key):\r\n        return os.environ[key]\r\n\r\n    def put(self, key, value): os.environ[key] = value\r\n";
        std::fs::write(root.join("store.py"), python).unwrap();
        let js = "function add(a, b) {\n  return a + b;\n}\n";
        std::fs::write(root.join("add.js"), js).unwrap();

        let mut all = rows(root, "src/point.rs", Language::Rust, &[
            ("Point", "/// A point on the line.\n#[derive(Debug)]\npub struct Point {"),
            ("new", "```rust\n/// Makes the point at the origin.\n```"),
            ("x", "/// The x coordinate of the point."),
        ]);
        all.extend(rows(root, "store.py", Language::Python, &[
            ("Store", "A key-value store over the environment."),
            ("get", "\"\"\"Returns the value of `key`.\n\n    Raises KeyError when it is unset.\n    \"\"\""),
            ("put", "Sets `key` to `value` in the environment."),
        ]));
        all.extend(rows(root, "add.js", Language::JavaScript, &[("add", "function add(a, b) {\n  return a + b;\n}")]));
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);

        // `Point` names the struct and its impl: both are answered, both get a comment.
        assert_eq!((patch.comments, patch.files), (5, 2), "{:?}\n{}", patch.left_out, patch.diff);
        let left_out: Vec<(&str, usize)> = patch.left_out.iter().map(|(why, n)| (why.as_str(), *n)).collect();
        assert_eq!(
            left_out,
            [
                ("it is documented already", 1),
                ("it shares its line with other code", 1),
            ],
            "unanswered units (`add`'s answer is its code, which does not parse) and top-level code are not counted as left out of the patch"
        );
        git_apply(root, &patch.diff);

        let rust = std::fs::read_to_string(root.join("src/point.rs")).unwrap();
        assert!(rust.contains("use std::fmt;\n\n/// A point on the line.\n#[derive(Debug)]\npub struct Point {"), "{rust}");
        assert!(rust.contains("/// A point on the line.\nimpl Point {\n    /// Makes the point at the origin.\n    pub fn new() -> Self {"), "{rust}");
        let python = std::fs::read(root.join("store.py")).unwrap();
        assert!(python.starts_with("\u{feff}import os\r\n".as_bytes()), "the mark stays first");
        let python = String::from_utf8(python).unwrap();
        assert!(!python.replace("\r\n", "").contains('\n'), "every line still ends in CRLF: {python:?}");
        assert!(python.contains("class Store:\r\n    \"\"\"A key-value store over the environment.\"\"\"\r\n    def get"), "{python:?}");
        assert!(python.contains("        \"\"\"Returns the value of `key`.\r\n\r\n        Raises KeyError when it is unset.\r\n        \"\"\"\r\n        return"), "{python:?}");
        assert_eq!(std::fs::read_to_string(root.join("add.js")).unwrap(), js, "an echo of the code is no comment");

        // Python itself reads the docstrings where they went.
        let check = "import ast, sys\ntree = ast.parse(open(sys.argv[1], encoding='utf-8-sig').read())\ncls = tree.body[1]\nprint(ast.get_docstring(cls)); print(ast.get_docstring(cls.body[1]))";
        let python = Command::new("python3").args(["-c", check, root.join("store.py").to_str().unwrap()]).output().expect("python3 runs");
        assert_eq!(String::from_utf8_lossy(&python.stdout), "A key-value store over the environment.\nReturns the value of `key`.\n\nRaises KeyError when it is unset.\n", "{python:?}");

        // The patched checkout has its comments: the same rows patch nothing more, as
        // their units changed; the rows of a run over it find them documented.
        let again = repo_patch(root, &refs, BUDGET);
        assert_eq!((again.comments, again.left_out["its unit changed since the run"]), (0, 5), "{:?}", again.left_out);
        assert!(again.diff.is_empty());
        let mut rerun = rows(root, "src/point.rs", Language::Rust, &[("Point", "/// A point on a line."), ("new", "/// Makes a point at zero."), ("x", "/// Its x coordinate here.")]);
        rerun.extend(rows(root, "store.py", Language::Python, &[("Store", "A store of keys."), ("get", "Gets the key."), ("put", "Puts the key.")]));
        let refs: Vec<&Row<DocText>> = rerun.iter().collect();
        let rerun = repo_patch(root, &refs, BUDGET);
        assert_eq!(rerun.comments, 0, "{}", rerun.diff);
        assert_eq!(rerun.left_out["it is documented already"], 6, "the five just added and `x`'s: {:?}", rerun.left_out);
    }

    #[test]
    fn a_files_header_goes_above_its_first_definitions_doc_and_stays_apart_from_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // `#` lines run together: the header must not become the first method's doc.
        let ruby = "# frozen_string_literal: true\n\ndef add(a, b)\n  a + b\nend\n\ndef sub(a, b)\n  a - b\nend\n";
        std::fs::write(root.join("calc.rb"), ruby).unwrap();
        let python = "import os\n\ndef home():\n    return os.environ['HOME']\n\ndef user():\n    return os.environ['USER']\n";
        std::fs::write(root.join("env.py"), python).unwrap();
        // Nor into a license's lines above it, which would make it part of the license.
        let script = "#!/bin/sh\n# Copyright 2024 Example Ltd.\n#\nset -e\nmake all\n";
        std::fs::write(root.join("build.sh"), script).unwrap();
        let mut all = rows(root, "calc.rb", Language::Ruby, &[("", "Arithmetic on two numbers."), ("add", "# Adds two numbers.")]);
        all.extend(rows(root, "env.py", Language::Python, &[("", "# Reads the user's environment."), ("home", "The home folder.")]));
        all.extend(rows(root, "build.sh", Language::Shell, &[("", "Builds the whole project with make.")]));
        assert_eq!(all[0].place.kind, "outline");
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!((patch.comments, patch.files), (5, 3), "{:?}\n{}", patch.left_out, patch.diff);
        git_apply(root, &patch.diff);

        let ruby = std::fs::read_to_string(root.join("calc.rb")).unwrap();
        assert!(ruby.starts_with("# frozen_string_literal: true\n\n# Arithmetic on two numbers.\n\n# Adds two numbers.\ndef add(a, b)\n"), "{ruby}");
        let units = Splitter::new(BUDGET).split(Language::Ruby, "calc.rb", &ruby);
        let docs: Vec<Option<&str>> = units.iter().filter(|u| u.kind != UnitKind::Code).map(|u| u.doc.as_deref()).collect();
        assert_eq!(docs, [Some("# Arithmetic on two numbers."), Some("# Adds two numbers."), None], "each comment is its own unit's doc");

        let python = std::fs::read_to_string(root.join("env.py")).unwrap();
        assert!(python.starts_with("\"\"\"Reads the user's environment.\"\"\"\n\nimport os\n"), "{python}");
        let check = "import ast, sys\ntree = ast.parse(open(sys.argv[1]).read())\nprint(ast.get_docstring(tree)); print(ast.get_docstring(tree.body[2]))";
        let read = Command::new("python3").args(["-c", check, root.join("env.py").to_str().unwrap()]).output().expect("python3 runs");
        assert_eq!(String::from_utf8_lossy(&read.stdout), "Reads the user's environment.\nThe home folder.\n", "{read:?}");

        let script = std::fs::read_to_string(root.join("build.sh")).unwrap();
        assert_eq!(script, "#!/bin/sh\n# Copyright 2024 Example Ltd.\n#\n\n# Builds the whole project with make.\nset -e\nmake all\n");
        let units = Splitter::new(BUDGET).split(Language::Shell, "build.sh", &script);
        assert_eq!(units[0].doc.as_deref(), Some("# Builds the whole project with make."), "the header is the file's, not the license's");
        assert_eq!(repo_patch(root, &refs, BUDGET).comments, 0, "applied, the outlines changed");
    }

    #[test]
    fn a_stale_doc_is_replaced_by_the_answer_and_a_current_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // `load` lost `path` to `source`; `save` still takes what its doc names.
        let python = "def load(source):\n    \"\"\"Loads a file.\n\n    Args:\n        path: The file.\n    \"\"\"\n    return open(source).read()\n\n\ndef save(data, path):\n    \"\"\"Saves.\n\n    :param data: what\n    :param path: where\n    \"\"\"\n    open(path, 'w').write(data)\n\n\ndef peek(n): \"\"\":param m: gone\"\"\"\n";
        std::fs::write(root.join("io.py"), python).unwrap();
        let rust = "/// Crops.\n///\n/// # Arguments\n///\n/// * `width` - the new width\n#[inline]\npub fn crop(w: u32) -> u32 {\n    w\n}\n\n/// Keeps.\n#[inline]\n/// @param count how many\nfn keep(n: usize) -> usize { n }\n";
        std::fs::write(root.join("img.rs"), rust).unwrap();
        let js = "/**\n * Greets.\n * @param {string} name who\n */\nexport function greet(person) {\n  return `hi ${person}`;\n}\n";
        std::fs::write(root.join("greet.js"), js).unwrap();
        let units = Splitter::new(BUDGET).split(Language::Python, "io.py", python);
        let stale: Vec<(&str, Option<&str>)> = units.iter().filter(|u| u.kind != UnitKind::Outline).map(|u| (u.name.as_deref().unwrap(), u.stale_doc.as_deref())).collect();
        let renamed = |from: &str, to: &str| format!("its doc names parameters its code does not have: `{from}`; its doc does not name parameters its code has: `{to}`");
        assert_eq!(stale, [("load", Some(renamed("path", "source").as_str())), ("save", None), ("peek", Some(renamed("m", "n").as_str()))]);

        let mut all = rows(root, "io.py", Language::Python, &[("load", "Reads the file `source` names and returns its text."), ("save", "Writes the data."), ("peek", "Peeks what it is given.")]);
        all.extend(rows(root, "img.rs", Language::Rust, &[("crop", "/// Crops the image to the width `w`."), ("keep", "/// Returns `n` as it is given.")]));
        all.extend(rows(root, "greet.js", Language::JavaScript, &[("greet", "/**\n * Says hello to `person` by name.\n * @param {string} name who\n */")]));
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!((patch.comments, patch.replaced, patch.files), (2, 2, 2), "{:?}\n{}", patch.left_out, patch.diff);
        let left_out: Vec<(&str, usize)> = patch.left_out.iter().map(|(why, n)| (why.as_str(), *n)).collect();
        assert_eq!(
            left_out,
            [
                ("it is documented already", 1),
                ("its stale doc is not comment lines hearth can replace", 1),
                ("its stale doc shares its lines with code", 1),
                ("the answer names parameters the code does not have, or leaves out one it has", 1),
            ],
            "save's doc holds; keep's holds an attribute; peek's is on its def's line; greet's answer kept the stale name"
        );
        git_apply(root, &patch.diff);

        let python = std::fs::read_to_string(root.join("io.py")).unwrap();
        assert!(python.starts_with("def load(source):\n    \"\"\"Reads the file `source` names and returns its text.\"\"\"\n    return open(source).read()\n\n\ndef save"), "{python}");
        let rust = std::fs::read_to_string(root.join("img.rs")).unwrap();
        assert!(rust.starts_with("/// Crops the image to the width `w`.\n#[inline]\npub fn crop(w: u32) -> u32 {\n"), "{rust}");
        // Walked again, the new docs hold: docs leave the units alone.
        for (language, path, text) in [(Language::Python, "io.py", &python), (Language::Rust, "img.rs", &rust)] {
            let units = Splitter::new(BUDGET).split(language, path, text);
            assert!(units.iter().all(|u| u.stale_doc.is_none() || u.name.as_deref().is_some_and(|name| ["keep", "peek"].contains(&name))), "{units:#?}");
        }
        let check = "import ast, sys\ntree = ast.parse(open(sys.argv[1]).read())\nprint(ast.get_docstring(tree.body[0]))";
        let read = Command::new("python3").args(["-c", check, root.join("io.py").to_str().unwrap()]).output().expect("python3 runs");
        assert_eq!(String::from_utf8_lossy(&read.stdout), "Reads the file `source` names and returns its text.\n", "{read:?}");
    }

    #[test]
    fn each_doc_tools_own_comments_are_written_where_it_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let elixir = "defmodule Cart do\n  def count(%{items: []}), do: 0\n  def count(%{items: items}), do: length(items)\n\n  def name(cart), do: \"#{cart.id}\"\nend\n";
        std::fs::write(root.join("cart.ex"), elixir).unwrap();
        let haskell = "module Queue where\n\npush :: a -> [a] -> [a]\npush x q = q ++ [x]\n";
        std::fs::write(root.join("Queue.hs"), haskell).unwrap();
        let r = "add <- function(a, b) {\n  a + b\n}\n";
        std::fs::write(root.join("add.R"), r).unwrap();
        let sql = "CREATE TABLE orders (\n  id INT\n);\n\nCREATE INDEX orders_id ON orders (id);\n";
        std::fs::write(root.join("schema.sql"), sql).unwrap();
        let julia = "module Geo\n\n    area(r) = pi * r^2\n\nend\n";
        std::fs::write(root.join("geo.jl"), julia).unwrap();
        let fortran = "c     FITPACK\n\n      subroutine fpback(a, n)\n      a = n\n      end\n";
        std::fs::write(root.join("fpback.f"), fortran).unwrap();
        let matlab = "function x = solve(A, b)\n  x = A \\ b;\nend\n";
        std::fs::write(root.join("solve.m"), matlab).unwrap();
        let powershell = "function Get-Stock([string]$Sku) {\n    5\n}\n";
        std::fs::write(root.join("Stock.ps1"), powershell).unwrap();
        let lua = "local M = {}\n\nfunction M.frames(text, width)\n  return { text }\nend\n\nreturn M\n";
        std::fs::write(root.join("scroll.lua"), lua).unwrap();
        let mut all = rows(root, "cart.ex", Language::Elixir, &[
            ("Cart", "A shopping cart and what it holds."),
            ("count", "@doc \"\"\"\nCounts the items in the cart.\n\"\"\""),
            ("name", "# Formats the cart's id as #{id}."),
        ]);
        all.extend(rows(root, "Queue.hs", Language::Haskell, &[("push", "-- | Puts an item at the back of the queue.")]));
        all.extend(rows(root, "add.R", Language::R, &[("add", "#' Adds two numbers.\n#' @param a A number.\n#' @param b Another.")]));
        all.extend(rows(root, "schema.sql", Language::Sql, &[("orders", "-- The orders customers placed."), ("orders_id", "Finds an order by its id.")]));
        all.extend(rows(root, "geo.jl", Language::Julia, &[("area", "\"\"\"\nThe area of a circle of radius `r`, in $ units.\n\"\"\"")]));
        all.extend(rows(root, "fpback.f", Language::Fortran, &[("fpback", "!> Solves a triangular system\n!! by back substitution.")]));
        all.extend(rows(root, "solve.m", Language::Matlab, &[("solve", "% SOLVE Solves the system A*x = b.")]));
        all.extend(rows(root, "Stock.ps1", Language::PowerShell, &[("Get-Stock", "<#\n.SYNOPSIS\n  Gets the stock level of a SKU.\n.PARAMETER Sku\n  The item.\n#>")]));
        // A model may answer in plain `--` lines; LDoc reads a doc where `---` opens it.
        all.extend(rows(root, "scroll.lua", Language::Lua, &[("frames", "-- Splits the text into frames.\n-- @param text what scrolls\n-- @param width the frame's width")]));
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!((patch.comments, patch.files), (11, 9), "{:?}\n{}", patch.left_out, patch.diff);
        assert_eq!(patch.left_out["an Elixir module's doc is the @moduledoc in its body"], 1);
        git_apply(root, &patch.diff);

        let elixir = std::fs::read_to_string(root.join("cart.ex")).unwrap();
        assert!(elixir.starts_with("defmodule Cart do\n"), "a module's doc is no @doc above it: {elixir}");
        assert!(elixir.contains("  @doc \"\"\"\n  Counts the items in the cart.\n  \"\"\"\n  def count(%{items: []}), do: 0\n  def count("), "both clauses under one @doc: {elixir}");
        assert!(elixir.contains("  @doc ~S\"\"\"\n  Formats the cart's id as #{id}.\n  \"\"\"\n  def name"), "no interpolation in a doc: {elixir}");
        let haskell = std::fs::read_to_string(root.join("Queue.hs")).unwrap();
        assert!(haskell.contains("\n\n-- | Puts an item at the back of the queue.\npush :: a"), "above the signature: {haskell}");
        let r = std::fs::read_to_string(root.join("add.R")).unwrap();
        assert_eq!(r, "#' Adds two numbers.\n#' @param a A number.\n#' @param b Another.\nadd <- function(a, b) {\n  a + b\n}\n");
        let sql = std::fs::read_to_string(root.join("schema.sql")).unwrap();
        assert_eq!(sql, "-- The orders customers placed.\nCREATE TABLE orders (\n  id INT\n);\n\n-- Finds an order by its id.\nCREATE INDEX orders_id ON orders (id);\n");
        let julia = std::fs::read_to_string(root.join("geo.jl")).unwrap();
        assert_eq!(julia, "module Geo\n\n    \"\"\"\n    The area of a circle of radius `r`, in \\$ units.\n    \"\"\"\n    area(r) = pi * r^2\n\nend\n");
        let fortran = std::fs::read_to_string(root.join("fpback.f")).unwrap();
        assert_eq!(fortran, "c     FITPACK\n\n      !> Solves a triangular system\n      !> by back substitution.\n      subroutine fpback(a, n)\n      a = n\n      end\n", "past column 6, a comment in fixed form");
        let matlab = std::fs::read_to_string(root.join("solve.m")).unwrap();
        assert_eq!(matlab, "function x = solve(A, b)\n  % SOLVE Solves the system A*x = b.\n  x = A \\ b;\nend\n", "help text under the function line");
        let powershell = std::fs::read_to_string(root.join("Stock.ps1")).unwrap();
        assert_eq!(powershell, "<#\n.SYNOPSIS\nGets the stock level of a SKU.\n.PARAMETER Sku\nThe item.\n#>\nfunction Get-Stock([string]$Sku) {\n    5\n}\n", "where Get-Help reads it");
        let lua = std::fs::read_to_string(root.join("scroll.lua")).unwrap();
        assert!(lua.contains("\n--- Splits the text into frames.\n--- @param text what scrolls\n--- @param width the frame's width\nfunction M.frames"), "{lua}");

        // A run over the patched files finds every one of them documented.
        let mut rerun = rows(root, "cart.ex", Language::Elixir, &[("count", "Counts what it is given."), ("name", "Names what it is given.")]);
        rerun.extend(rows(root, "Queue.hs", Language::Haskell, &[("push", "Pushes what it is given.")]));
        rerun.extend(rows(root, "add.R", Language::R, &[("add", "Adds what it is given.")]));
        rerun.extend(rows(root, "schema.sql", Language::Sql, &[("orders", "Orders what it is given."), ("orders_id", "Finds what it is given.")]));
        rerun.extend(rows(root, "geo.jl", Language::Julia, &[("area", "Areas what it is given.")]));
        rerun.extend(rows(root, "fpback.f", Language::Fortran, &[("fpback", "Solves what it is given.")]));
        rerun.extend(rows(root, "solve.m", Language::Matlab, &[("solve", "Solves what it is given.")]));
        rerun.extend(rows(root, "Stock.ps1", Language::PowerShell, &[("Get-Stock", "Gets what it is given.")]));
        rerun.extend(rows(root, "scroll.lua", Language::Lua, &[("frames", "Frames what it is given.")]));
        let refs: Vec<&Row<DocText>> = rerun.iter().collect();
        let rerun = repo_patch(root, &refs, BUDGET);
        assert_eq!((rerun.comments, rerun.left_out["it is documented already"]), (0, 11), "{:?}", rerun.left_out);
    }

    #[test]
    fn a_components_and_a_pages_script_definitions_get_their_comments_in_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let vue = "<template>\n  <button @click=\"increment\">{{ count }}</button>\n</template>\n\n<script setup>\nimport { ref } from 'vue'\nconst count = ref(0)\n\nfunction increment() {\n  count.value += 1\n}\n</script>\n";
        std::fs::write(root.join("Counter.vue"), vue).unwrap();
        let all = rows(root, "Counter.vue", Language::Vue, &[("Counter", "A button that counts its clicks."), ("increment", "Adds one to the count.")]);
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!((patch.comments, patch.files), (1, 1), "{:?}\n{}", patch.left_out, patch.diff);
        assert_eq!(patch.left_out["a component's doc has no place in its file"], 1);
        git_apply(root, &patch.diff);
        let patched = std::fs::read_to_string(root.join("Counter.vue")).unwrap();
        assert!(patched.contains("const count = ref(0)\n\n/** Adds one to the count. */\nfunction increment() {"), "{patched}");

        // An HTML page's inline script, the same way.
        let html = "<ul id=\"cart\"></ul>\n<script>\n  function total(items) {\n    return items.length;\n  }\n</script>\n";
        std::fs::write(root.join("cart.html"), html).unwrap();
        let all = rows(root, "cart.html", Language::Html, &[("cart.html", "The cart of items."), ("total", "Counts the items.")]);
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!(patch.left_out["a page's doc has no place in its file"], 1);
        git_apply(root, &patch.diff);
        let patched = std::fs::read_to_string(root.join("cart.html")).unwrap();
        assert_eq!(patched, "<ul id=\"cart\"></ul>\n<script>\n  /** Counts the items. */\n  function total(items) {\n    return items.length;\n  }\n</script>\n");
    }

    #[test]
    fn a_file_with_no_definitions_gets_a_header_below_what_must_stay_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = [
            ("deploy.sh", Language::Shell, "#!/bin/sh\nset -eu\nrsync -a build/ host:/srv/app\n", "Copies the build to the server."),
            ("revenue.sql", Language::Sql, "SELECT region, sum(total) AS revenue\nFROM orders\nGROUP BY region;\n", "-- Revenue per region."),
            ("env.py", Language::Python, "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\nfrom __future__ import annotations\nimport os\nprint(os.environ)\n", "Prints the environment."),
            ("lib.rs", Language::Rust, "#![forbid(unsafe_code)]\npub use std::fmt::Display;\n", "/// Re-exports `Display`."),
            ("checksum.h", Language::C, "#ifndef CHECKSUM_H\n#define CHECKSUM_H\nextern const int luhn_weights[2];\n#endif\n", "/** @file Check digits for barcodes. */"),
            ("README.md", Language::Markdown, "# App\n\nDeploys the app.\n", "Describes the app."),
        ];
        let mut all = Vec::new();
        for (path, language, text, answer) in files {
            std::fs::write(root.join(path), text).unwrap();
            all.extend(rows(root, path, language, &[("", answer)]));
        }
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!((patch.comments, patch.files), (5, 5), "{:?}\n{}", patch.left_out, patch.diff);
        assert_eq!(patch.left_out["its language has no comment to hold a header"], 1, "{:?}", patch.left_out);
        git_apply(root, &patch.diff);

        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(read("deploy.sh"), "#!/bin/sh\n# Copies the build to the server.\nset -eu\nrsync -a build/ host:/srv/app\n");
        assert_eq!(read("revenue.sql"), "-- Revenue per region.\nSELECT region, sum(total) AS revenue\nFROM orders\nGROUP BY region;\n");
        // A `///` answer is written as the crate's `//!`, which may stand above its attributes.
        assert_eq!(read("lib.rs"), "//! Re-exports `Display`.\n#![forbid(unsafe_code)]\npub use std::fmt::Display;\n");
        // Tagged `@file`, so Doxygen does not take it for the doc of the first declaration.
        assert!(read("checksum.h").starts_with("/**\n * @file\n * Check digits for barcodes.\n */\n#ifndef CHECKSUM_H\n"), "{}", read("checksum.h"));
        // Python reads the module's docstring, above the `__future__` import that must follow it.
        let check = "import ast, sys\nprint(ast.get_docstring(ast.parse(open(sys.argv[1]).read())))";
        let python = Command::new("python3").args(["-c", check, root.join("env.py").to_str().unwrap()]).output().expect("python3 runs");
        assert_eq!(String::from_utf8_lossy(&python.stdout), "Prints the environment.\n", "{python:?}\n{}", read("env.py"));

        // The files now have their headers: a run over them finds each documented.
        let mut rerun = Vec::new();
        for (path, language, _, _) in files {
            rerun.extend(rows(root, path, language, &[("", "Does the things.")]));
        }
        let refs: Vec<&Row<DocText>> = rerun.iter().collect();
        let rerun = repo_patch(root, &refs, BUDGET);
        assert_eq!((rerun.comments, rerun.left_out["it is documented already"]), (0, 5), "{:?}\n{}", rerun.left_out, rerun.diff);
    }

    #[test]
    fn an_r_markdown_chunk_is_split_as_its_document_and_commented_in_its_engine() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let rmd = "---\ntitle: Weekly\n---\n\n```{r}\ntotals <- function(x) {\n  sum(x)\n}\n```\n\n```{python}\ndef mean(xs):\n    return sum(xs) / len(xs)\n```\n";
        std::fs::write(root.join("weekly.Rmd"), rmd).unwrap();
        let all = rows(root, "weekly.Rmd", Language::RMarkdown, &[("totals", "Adds up the values of `x`."), ("mean", "The mean of the values `xs`.")]);
        assert_eq!(all[0].place.language, "r", "the first row names its chunk's language, not the file's");
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!(patch.comments, 2, "{:?}\n{}", patch.left_out, patch.diff);
        git_apply(root, &patch.diff);
        let text = std::fs::read_to_string(root.join("weekly.Rmd")).unwrap();
        assert!(text.contains("```{r}\n#' Adds up the values of `x`.\ntotals <- function(x) {"), "{text}");
        assert!(text.contains("def mean(xs):\n    \"\"\"The mean of the values `xs`.\"\"\"\n    return"), "{text}");
    }

    #[test]
    fn a_definition_inside_a_code_skeleton_is_commented_where_it_stands() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("compat.py"), "import sys\n\nif sys.version_info >= (3, 8):\n    def cached(f):\n        return f\n").unwrap();
        std::fs::write(root.join("app.js"), "(function ($) {\n  function show(el) {\n    $(el).show();\n  }\n})(jQuery);\n").unwrap();
        let mut all = rows(root, "compat.py", Language::Python, &[("cached", "Returns f unchanged, as a cache would.")]);
        all.extend(rows(root, "app.js", Language::JavaScript, &[("show", "Shows the element on the page.")]));
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!(patch.comments, 2, "{:?}\n{}", patch.left_out, patch.diff);
        git_apply(root, &patch.diff);
        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(read("compat.py"), "import sys\n\nif sys.version_info >= (3, 8):\n    def cached(f):\n        \"\"\"Returns f unchanged, as a cache would.\"\"\"\n        return f\n");
        assert_eq!(read("app.js"), "(function ($) {\n  /** Shows the element on the page. */\n  function show(el) {\n    $(el).show();\n  }\n})(jQuery);\n");
    }

    #[test]
    fn files_gone_no_longer_text_or_notebooks_are_left_out_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.go"), "package a\n\nfunc F() {}\n").unwrap();
        std::fs::write(root.join("b.go"), "package b\n\nfunc G() {}\n").unwrap();
        let mut all = rows(root, "a.go", Language::Go, &[("F", "F does nothing at all.")]);
        all.extend(rows(root, "b.go", Language::Go, &[("G", "G does nothing at all.")]));
        let mut notebook = rows(root, "b.go", Language::Go, &[("G", "G does nothing at all.")]);
        std::fs::write(root.join("g.ipynb"), "{\"cells\": []}").unwrap();
        notebook.iter_mut().for_each(|row| row.place.path = "g.ipynb".into());
        all.extend(notebook);
        std::fs::remove_file(root.join("a.go")).unwrap();
        std::fs::write(root.join("b.go"), b"package b\0\xff").unwrap();
        let refs: Vec<&Row<DocText>> = all.iter().collect();
        let patch = repo_patch(root, &refs, BUDGET);
        assert_eq!(patch.comments, 0);
        assert_eq!(patch.left_out["its file is no longer in the checkout"], 1, "{:?}", patch.left_out);
        assert_eq!(patch.left_out["its file is no longer text (binary)"], 1, "{:?}", patch.left_out);
        assert_eq!(patch.left_out[NOT_PATCHED], 1, "{:?}", patch.left_out);
    }

    #[test]
    fn inserted_lines_take_the_line_ending_of_the_line_they_precede() {
        let insert = |line, text: &str| Edit { line, replaces: 0, text: text.into() };
        assert_eq!(edit_lines("a\nb\n", &[insert(2, "// x\n")]), "a\n// x\nb\n");
        assert_eq!(edit_lines("a\r\nb", &[insert(1, "// x\n"), insert(2, "// y\n// z\n")]), "// x\r\na\r\n// y\r\n// z\r\nb");
        assert_eq!(edit_lines("\u{feff}a\n", &[insert(1, "// x\n")]), "\u{feff}// x\na\n");
        // A stale doc's lines give way to the new comment.
        assert_eq!(edit_lines("// old\r\n// doc\r\nfn a()\r\n", &[Edit { line: 1, replaces: 2, text: "// new\n".into() }]), "// new\r\nfn a()\r\n");
    }
}
