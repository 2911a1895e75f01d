//! Where a file's header comment goes.
//!
//! A file with no definitions (a script, a query, a Dockerfile) is documented as a
//! whole, by a comment at its top. What a tool reads there must stay first: a shebang,
//! an encoding line, PHP's `<?php`, a Dockerfile's parser directives, Go's build
//! constraints, linters' directives. A license header stays above it too, since it is
//! not a description of the file; any other comment there is one, and the file counts
//! as documented, as a Python module docstring does.

use std::ops::Range;

use super::language::Language;
use super::unit::DocSite;

/// How `language` writes comments, as far as a file's top needs: its line-comment
/// markers and its block comments' openings and closings. `None` for a language with
/// no comment a header could be (Markdown, JSON) or whose files are read as markup.
pub(super) fn comments(language: Language) -> Option<(&'static [&'static str], &'static [(&'static str, &'static str)])> {
    use Language::*;
    const SLASHES: &[&str] = &["//"];
    const C_BLOCK: &[(&str, &str)] = &[("/*", "*/")];
    const HASH: &[&str] = &["#"];
    Some(match language {
        Rust | Go | JavaScript | TypeScript | Tsx | Java | C | Cpp | Cuda | CSharp | Kotlin | Swift | Scala | Solidity | Zig | Dart | ObjC
        | Protobuf => (SLASHES, C_BLOCK),
        Css => (&[], C_BLOCK),
        Php | Hcl => (&["#", "//"], C_BLOCK),
        Python | Ruby | Shell | Perl | R | Julia | Elixir | Yaml | Toml | Makefile | Dockerfile | CMake => (HASH, &[]),
        PowerShell => (HASH, &[("<#", "#>")]),
        Sql => (&["--"], C_BLOCK),
        Lua => (&["--"], &[("--[[", "]]")]),
        // `{-#` opens a pragma, which `directive` tells apart.
        Haskell => (&["--"], &[("{-", "-}")]),
        Matlab => (&["%"], &[("%{", "%}")]),
        Fortran => (&["!"], &[]),
        Vue | Svelte | Html | Markdown | RMarkdown | Json => return None,
    })
}

/// Whether `line` of a file in `language` is a line comment (`#`, `//`, `--`), which a
/// line comment right below it would run into; a shebang is not one.
pub(crate) fn is_line_comment(language: Language, line: &str) -> bool {
    let line = line.trim_start();
    comments(language).is_some_and(|(markers, _)| markers.iter().any(|marker| line.starts_with(marker))) && !line.starts_with("#!")
}

/// Whether every line of `text`, in `language`, is a comment's: a line comment, or a
/// line of a block comment that `text` opens and closes with nothing after it.
pub(crate) fn only_comments(language: Language, text: &str) -> bool {
    let Some((markers, blocks)) = comments(language) else { return false };
    let mut open_block: Option<&str> = None;
    for line in text.lines().map(str::trim) {
        let rest = match open_block {
            Some(closing) => match line.find(closing) {
                Some(at) => &line[at + closing.len()..],
                None => continue,
            },
            None => match blocks.iter().find(|(opening, _)| line.starts_with(opening)) {
                Some((opening, closing)) => match line[opening.len()..].find(closing) {
                    Some(at) => &line[opening.len() + at + closing.len()..],
                    None => {
                        open_block = Some(closing);
                        continue;
                    }
                },
                None if markers.iter().any(|marker| line.starts_with(marker)) => continue,
                None => return false,
            },
        };
        open_block = None;
        if !rest.trim().is_empty() {
            return false;
        }
    }
    open_block.is_none()
}

/// Whether a file in `language` can hold a header comment.
pub(crate) fn can_hold_header(language: Language) -> bool {
    comments(language).is_some()
}

/// The top of a file: the comments before its first line of code, each as a range of
/// its lines, and that line (`None` when there is none).
pub(crate) struct Top {
    pub comments: Vec<Range<usize>>,
    pub code: Option<usize>,
}

/// The top of `lines` from line `at` (0-based) on, for a file in `language`; `None` for
/// a language without comments.
pub(crate) fn top(language: Language, lines: &[&str], mut at: usize) -> Option<Top> {
    let (line_markers, blocks) = comments(language)?;
    let mut comments = Vec::new();
    while at < lines.len() {
        let line = lines[at].trim();
        if line.is_empty() {
            at += 1;
            continue;
        }
        let end = if let Some(&(open, close)) = blocks.iter().find(|(open, _)| line.starts_with(open)) {
            // The block runs to the line its closing is on (past its own opening).
            if line[open.len()..].contains(close) {
                at + 1
            } else {
                lines[at + 1..].iter().position(|l| l.contains(close)).map_or(lines.len(), |end| at + 2 + end)
            }
        } else if line_markers.iter().any(|marker| line.starts_with(marker)) {
            at + lines[at..].iter().take_while(|l| line_markers.iter().any(|marker| l.trim_start().starts_with(marker))).count()
        } else {
            return Some(Top { comments, code: Some(at) });
        };
        comments.push(at..end);
        at = end;
    }
    Some(Top { comments, code: None })
}

/// The line after a shebang (Rust's `#![…]` is an inner attribute, not one), or 0.
pub(crate) fn after_shebang(lines: &[&str]) -> usize {
    let first = lines.first().map_or("", |line| line.trim_start_matches('\u{feff}'));
    usize::from(first.starts_with("#!") && !first.starts_with("#!["))
}

/// Where the header of `text`, a file in `language`, goes: before its first line of
/// code, below what must stay first and a license; or that it has one. For a file with
/// definitions, `first_definition` is the 0-based line where the first one starts, with
/// the comments that lead it: those are its doc, and the header goes above them.
pub(crate) fn header_site(language: Language, text: &str, first_definition: Option<usize>) -> DocSite {
    let lines: Vec<&str> = text.lines().take(first_definition.unwrap_or(usize::MAX)).collect();
    let mut at = after_shebang(&lines);
    if language == Language::Php {
        let Some(open) = lines.iter().position(|line| line.trim_start().starts_with("<?php")) else {
            return DocSite::NoPlace("no `<?php` opens its code");
        };
        if !lines[open].trim_start()["<?php".len()..].trim().is_empty() {
            return DocSite::NoPlace("code follows `<?php` on its line");
        }
        at = open + 1;
    }
    let Some(top) = top(language, &lines, at) else {
        return DocSite::NoPlace("its language has no comment to hold a header");
    };
    let says_nothing = |comment: &Range<usize>| {
        let comment = &lines[comment.clone()];
        comment.iter().all(|line| directive(line.trim())) || comment.iter().any(|line| mentions_license(line)) || is_note(comment[0])
    };
    // The bytes of lines `range` (`lines` are slices of `text`).
    let start_of = |line: usize| lines[line].as_ptr() as usize - text.as_ptr() as usize;
    let bytes = |range: Range<usize>| start_of(range.start)..start_of(range.end - 1) + lines[range.end - 1].len();
    let described: Vec<&Range<usize>> = top.comments.iter().filter(|comment| !says_nothing(comment)).collect();
    if let (Some(first), Some(last)) = (described.first(), described.last()) {
        return DocSite::Documented(bytes(first.start..last.end));
    }
    match top.code {
        Some(code) if language == Language::Python && opens_string(lines[code].trim()) => {
            let opening = start_of(code) + lines[code].len() - lines[code].trim_start().len();
            DocSite::Documented(opening..opening + python_string_length(&text[opening..]))
        }
        Some(code) => DocSite::Before { line: code as u32 + 1, indent: String::new() },
        None => match first_definition {
            Some(definition) => DocSite::Before { line: definition as u32 + 1, indent: String::new() },
            // Nothing but comments and what must stay first: those are all it says.
            None => DocSite::Documented(top.comments.first().zip(top.comments.last()).map_or(0..0, |(first, last)| bytes(first.start..last.end))),
        },
    }
}

/// Whether a Python line opens a string (a module docstring, when it is the first
/// statement): `"""`, `'''`, a plain quote, with a prefix that keeps it a docstring.
fn opens_string(line: &str) -> bool {
    let unprefixed = line.strip_prefix(['r', 'R', 'u', 'U']).unwrap_or(line);
    unprefixed.starts_with(['"', '\''])
}

/// The length of the Python string `text` opens with (its prefix and quotes included):
/// to its closing quotes, or for a one-quote string with none, to the end of its line.
fn python_string_length(text: &str) -> usize {
    let quotes_at = text.find(['"', '\'']).unwrap_or(0);
    let quoted = &text[quotes_at..];
    let delimiter = ["\"\"\"", "'''"].into_iter().find(|triple| quoted.starts_with(triple)).unwrap_or(&quoted[..quoted.len().min(1)]);
    let body = &quoted[delimiter.len()..];
    let mut escaped = false;
    let close = body.char_indices().find(|&(i, c)| {
        let closes = !escaped && body[i..].starts_with(delimiter);
        escaped = !escaped && c == '\\';
        closes || (delimiter.len() == 1 && c == '\n')
    });
    let end = match close {
        Some((i, '\n')) => i,
        Some((i, _)) => i + delimiter.len(),
        None => body.len(),
    };
    quotes_at + delimiter.len() + end
}

/// Whether `comment` is a note to the code's authors (`TODO`, `FIXME`, `XXX`, `HACK`)
/// rather than a description of the code.
pub(crate) fn is_note(comment: &str) -> bool {
    let text = comment_text(comment);
    ["TODO", "FIXME", "XXX", "HACK"].iter().any(|word| text.strip_prefix(word).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')))
}

/// What a comment says, past its marker and the blanks after it.
fn comment_text(comment: &str) -> &str {
    let comment = comment.trim_start();
    comment[comment_marker(comment).len()..].trim_start()
}

/// The marker a comment starts with (`//`, `///`, `#`, `--`, `/*`): a comment's lines
/// of one marker run on, while `///` after `//` starts another.
pub(crate) fn comment_marker(comment: &str) -> &str {
    let comment = comment.trim_start();
    let end = comment.find(|c: char| !"#/*-!%".contains(c)).unwrap_or(comment.len());
    &comment[..end]
}

/// Whether every line of `comment` instructs a tool (see [`directive`]): a comment that
/// says nothing of the code below it, so it is no doc (`// eslint-disable-next-line`,
/// `//nolint:funlen`, `//go:noinline`, `// +kubebuilder:object:root=true`).
pub(crate) fn only_directives(comment: &str) -> bool {
    comment.lines().all(|line| directive(line.trim()))
}

/// Whether a comment line is an instruction to a tool rather than prose: the
/// interpreter's encoding or an editor's modeline, a linter's or type checker's
/// switches, a Dockerfile's parser directives, Go's build constraints, Haskell's
/// pragmas, PowerShell's `#Requires`, Go's compiler directives and `+` markers
/// (`// +kubebuilder:…`, `// +genclient`), cgo's `//export`. Kept to what prose never
/// starts with: a description taken for a directive would get a second header.
fn directive(line: &str) -> bool {
    const DIRECTIVES: &[&str] = &[
        "-*-", "vim:", "vi:", "coding:", "coding=", "encoding:", "frozen_string_literal:", "typed:", "rubocop:", "shellcheck", "eslint",
        "jshint", "jslint", "@ts-", "@flow", "@jsx", "prettier-ignore", "istanbul ", "pylint:", "mypy:", "pyright:", "flake8:", "noqa",
        "ruff:", "fmt:", "isort:", "cython:", "nolint", "NOLINT", "clang-format", "go:build", "+build", "syntax=", "escape=", "check=",
        "Requires -", "sqlfluff", "noinspection",
    ];
    if line.starts_with("{-#") {
        return true;
    }
    // A bare marker (`#`, a block's `/*` or ` */`) says nothing either.
    let text = comment_text(line).trim_end();
    if text.is_empty() {
        return true;
    }
    // `//go:build` has no space after its marker; a Dockerfile's `# syntax=` one.
    let marker = text.strip_prefix('+').is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic()));
    DIRECTIVES.iter().any(|directive| text.starts_with(directive)) || marker || ["//go:", "//export ", "#region"].iter().any(|start| line.starts_with(start))
}

/// Whether a comment line is a license header's: what only a license says, so that a
/// description that mentions licenses ("Checks the license headers") stays one.
fn mentions_license(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    const LICENSE_WORDS: &[&str] = &[
        "copyright", "spdx-license-identifier", "licensed under", "licensed to", "under the terms of", "all rights reserved",
        "without warranty", "permission is hereby granted", "(c) ", "©",
    ];
    LICENSE_WORDS.iter().any(|words| lower.contains(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(language: Language, text: &str) -> String {
        match header_site(language, text, None) {
            DocSite::Before { line, indent } => format!("before {line}{}", if indent.is_empty() { "" } else { " indented" }),
            DocSite::Documented(_) => "documented".into(),
            DocSite::NoPlace(why) => why.into(),
        }
    }

    #[test]
    fn only_comment_lines_or_whole_block_comments_are_only_comments() {
        assert!(only_comments(Language::Rust, "/// Adds.\n///\n/// # Arguments"));
        assert!(only_comments(Language::Cuda, "// Kernel.\n/**\n * @param n count\n */"));
        assert!(only_comments(Language::Lua, "--[[ Adds.\n  @param a ]]\n-- more"));
        assert!(!only_comments(Language::Rust, "/// Adds.\n#[inline]\n/// More."), "an attribute between");
        assert!(!only_comments(Language::C, "/* Adds. */ int x;"), "code after the block");
        assert!(!only_comments(Language::C, "/* Adds.\n * still open"), "a block left open");
    }

    #[test]
    fn the_header_goes_above_the_first_code_below_what_must_stay_first() {
        assert_eq!(site(Language::Shell, "#!/bin/sh\nset -e\n"), "before 2");
        assert_eq!(site(Language::Python, "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n\nimport os\n"), "before 4");
        assert_eq!(site(Language::Dockerfile, "# syntax=docker/dockerfile:1\n# escape=`\nFROM alpine\n"), "before 3");
        assert_eq!(site(Language::Go, "//go:build linux\n\npackage main\n"), "before 3");
        assert_eq!(site(Language::Php, "<?php\n\ndeclare(strict_types=1);\n"), "before 3");
        assert_eq!(site(Language::Ruby, "# frozen_string_literal: true\n\nputs 1\n"), "before 3");
        assert_eq!(site(Language::Haskell, "{-# LANGUAGE OverloadedStrings #-}\nmodule Main where\n"), "before 2");
        assert_eq!(site(Language::JavaScript, "/* eslint-disable no-console */\n'use strict';\n"), "before 2");
        assert_eq!(site(Language::Sql, "\n\nSELECT 1;\n"), "before 3");
        // Rust's inner attributes are code; `//!` may stand above them.
        assert_eq!(site(Language::Rust, "#![allow(dead_code)]\nmod a;\n"), "before 1");
    }

    #[test]
    fn a_license_is_not_a_description_but_any_other_comment_is() {
        assert_eq!(site(Language::Shell, "#!/bin/bash\n# Copyright 2024 Example Ltd.\n# SPDX-License-Identifier: MIT\n\nmake all\n"), "before 5");
        assert_eq!(site(Language::C, "/*\n * Licensed under the Apache License 2.0.\n */\n#include <stdio.h>\n"), "before 4");
        assert_eq!(site(Language::Shell, "#!/bin/sh\n# Checks that each file has its license header.\nfind . -name '*.rs'\n"), "documented");
        assert_eq!(site(Language::Shell, "#!/bin/sh\n# Pulls the CSV.\nset -e\n"), "documented");
        assert_eq!(site(Language::Sql, "/* Monthly revenue\n   by region. */\nSELECT 1;\n"), "documented");
        assert_eq!(site(Language::Lua, "--[[\nLoads the config.\n]]\nlocal x = 1\n"), "documented");
        // A license, then the description.
        assert_eq!(site(Language::Python, "# (c) 2023 Example\n\n\"\"\"Loads rows.\"\"\"\nimport csv\n"), "documented");
        assert_eq!(site(Language::Python, "r'''Raw docstring.'''\nx = 1\n"), "documented");
        // A linter's directives alone say nothing of the file; beside prose they are part of its doc.
        assert_eq!(site(Language::Shell, "# shellcheck disable=SC2034\nx=1\n"), "before 2");
        assert_eq!(site(Language::Shell, "# shellcheck disable=SC2034\n# Sets x.\nx=1\n"), "documented");
        assert_eq!(site(Language::Python, "# -*- coding: utf-8 -*-\n#\nimport os\n"), "before 3");
        assert_eq!(site(Language::JavaScript, "/* global window */\nwindow.x = 1;\n"), "documented", "what might be prose is taken for a doc");
    }

    #[test]
    fn languages_without_comments_and_unreadable_php_have_no_place() {
        assert_eq!(site(Language::Markdown, "# Title\n"), "its language has no comment to hold a header");
        assert_eq!(site(Language::Json, "{}\n"), "its language has no comment to hold a header");
        assert_eq!(site(Language::Php, "<?php echo 1;\n"), "code follows `<?php` on its line");
        assert_eq!(site(Language::Php, "<html><?= $x ?></html>\n"), "no `<?php` opens its code");
    }
}
