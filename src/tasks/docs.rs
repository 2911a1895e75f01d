//! The docs task: a documentation comment per unit, in its language's own convention.

use crate::engine::AnswerEnd;
use crate::source::{can_hold_header, quoted, undeclared_parameters, undocumented_parameters, Language, UnitKind};
use crate::tasks::UnitRow;

/// Unit kinds the docs task leaves alone unless `[tasks.docs] skip_kinds` says
/// otherwise: top-level code (imports, constants, statements) has no definition a
/// comment could document, and the export places none there.
pub const SKIP_KINDS: &[UnitKind] = &[UnitKind::Code];

/// Whether the docs task documents a unit of `kind` in `language` (past `skip_kinds`):
/// a file no comment can be written in (Markdown, JSON) has no doc comment, and a model
/// asked for one answers with noise.
pub fn documents(kind: UnitKind, language: Language) -> bool {
    !kind.is_file_header() || can_hold_header(language)
}

/// The system message.
pub const SYSTEM: &str = "You are an expert software engineer who writes concise, accurate documentation.";

/// The user message. The instruction comes first and is the same for every unit, so the
/// prefix cache serves it; what varies (language, path, code) comes after it.
pub const TEMPLATE: &str = "Write the documentation comment for the code below. Say what it does, what it takes \
and what it returns or changes. Use the comment convention named below, and reply with the comment only, \
without the code.

Convention: {{ doc_style }}
Language: {{ language }}
File: {{ path }}{% if parent %}
Inside: {{ parent }}{% endif %}

```{{ language }}
{{ content }}
```";

/// The doc-comment convention of a `kind` of unit in `language` (a
/// [`Language::name`](crate::source::Language::name)), as the prompt names it.
pub fn doc_style(language: &str, kind: &str) -> &'static str {
    convention(language, kind).0
}

/// How a `kind` of unit in `language` is documented, for placing a comment in its
/// source; `None` for a language without a convention hearth can write.
pub fn comment_syntax(language: &str, kind: &str) -> Option<DocSyntax> {
    convention(language, kind).1
}

/// The one table of conventions: the prompt's words and the syntax they name. A `file`
/// unit (a file with no definitions) and an `outline` (a file's, with its definitions'
/// bodies elided) are documented by a header at the file's top, which is not always
/// written as a definition's doc: Rust's `//!`, not `///`; plain `#` lines in R, where
/// roxygen's `#'` would document the first object below.
fn convention(language: &str, kind: &str) -> (&'static str, Option<DocSyntax>) {
    use DocSyntax::*;
    macro_rules! header {
        ($words:literal) => {
            concat!($words, " at the top of the file, saying what the file is for")
        };
    }
    if UnitKind::from_name(kind).is_some_and(UnitKind::is_file_header) {
        return match language {
            "rust" => (header!("Rust `//!` inner doc comments"), Some(Lines("//!"))),
            "zig" => (header!("Zig `//!` top-level doc comments"), Some(Lines("//!"))),
            "python" => (header!("a Python module docstring (\"\"\"...\"\"\")"), Some(Docstring)),
            "powershell" => (header!("PowerShell comment-based help (<# .SYNOPSIS ... #>)"), Some(PowerShellHelp)),
            // Doxygen and JSDoc read a block at a file's top as the next declaration's
            // doc unless `@file` says it is the file's.
            "javascript" | "typescript" | "tsx" | "c" | "cpp" | "cuda" | "objc" | "php" => (header!("a `/** @file ... */` block"), Some(FileBlock)),
            "java" | "kotlin" | "scala" | "css" => (header!("a block comment (/** ... */)"), Some(Block)),
            "go" | "csharp" | "swift" | "dart" | "solidity" | "protobuf" => (header!("`//` comment lines"), Some(Lines("//"))),
            "ruby" | "shell" | "perl" | "r" | "julia" | "elixir" | "yaml" | "toml" | "makefile" | "dockerfile" | "cmake" | "hcl" => {
                (header!("`#` comment lines"), Some(Lines("#")))
            }
            "haskell" | "sql" => (header!("`--` comment lines"), Some(Lines("--"))),
            "lua" => (header!("LDoc `---` comment lines"), Some(Lines("---"))),
            "matlab" => (header!("`%` comment lines"), Some(Lines("%"))),
            "fortran" => (header!("`!` comment lines"), Some(Lines("!"))),
            _ => (header!("the language's usual comment syntax"), None),
        };
    }
    match language {
        "rust" => ("Rust `///` doc comments", Some(Lines("///"))),
        "python" => ("a Python docstring (\"\"\"...\"\"\")", Some(Docstring)),
        "go" => ("a Go doc comment: `//` lines starting with the name", Some(Lines("//"))),
        "javascript" | "typescript" | "tsx" | "vue" | "svelte" | "html" => ("a JSDoc block (/** ... */)", Some(Block)),
        "java" | "kotlin" | "scala" => ("a Javadoc block (/** ... */)", Some(Block)),
        "c" | "cpp" | "cuda" | "objc" => ("a Doxygen block (/** ... */)", Some(Block)),
        "csharp" => ("C# XML doc comments (/// <summary>)", Some(XmlLines)),
        "r" => ("roxygen comment lines (#')", Some(Lines("#'"))),
        "elixir" => ("an Elixir @doc heredoc (@doc \"\"\" ... \"\"\")", Some(ElixirDoc)),
        "julia" => ("a Julia docstring (\"\"\" ... \"\"\") above the definition", Some(JuliaDoc)),
        "powershell" => ("PowerShell comment-based help (<# .SYNOPSIS ... #>)", Some(PowerShellHelp)),
        "ruby" | "shell" | "perl" | "yaml" | "toml" | "makefile" | "dockerfile" | "cmake" | "hcl" => {
            ("`#` comment lines", Some(Lines("#")))
        }
        "php" => ("a PHPDoc block (/** ... */)", Some(Block)),
        "swift" | "zig" | "dart" => ("`///` doc comments", Some(Lines("///"))),
        "solidity" => ("NatSpec `///` comments (@notice, @param, @return)", Some(Lines("///"))),
        "protobuf" => ("`//` comment lines", Some(Lines("//"))),
        "fortran" => ("`!>` comment lines (Doxygen's and FORD's)", Some(Lines("!>"))),
        "matlab" => ("MATLAB help text: `%` comment lines", Some(Lines("%"))),
        "haskell" => ("a Haddock comment (-- |)", Some(Haddock)),
        // LDoc and the Lua language server read a comment as a doc when it opens with `---`.
        "lua" => ("LDoc `---` comment lines", Some(Lines("---"))),
        "sql" => ("`--` comment lines", Some(Lines("--"))),
        _ => ("the language's usual comment syntax", None),
    }
}

/// The syntax of a language's doc comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocSyntax {
    /// Lines that each start with this marker (`///`, `//`, `#`, `--`).
    Lines(&'static str),
    /// C#'s `///` lines of XML, a `<summary>` at least.
    XmlLines,
    /// Haskell's `-- |` line, then `--` lines.
    Haddock,
    /// A `/** … */` block (JSDoc, Javadoc, Doxygen, PHPDoc).
    Block,
    /// A `/** … */` block tagged `@file`, which Doxygen and JSDoc read as the file's
    /// description.
    FileBlock,
    /// A Python docstring, the first statement of the body.
    Docstring,
    /// Elixir's `@doc """ … """` attribute above the `def`.
    ElixirDoc,
    /// Julia's `""" … """` docstring above the definition.
    JuliaDoc,
    /// PowerShell's comment-based help, `<# .SYNOPSIS … #>`, above the function.
    PowerShellHelp,
}

impl DocSyntax {
    /// How a comment of this syntax begins: what a docs answer is opened with, at the
    /// end of its prompt, so that a model goes on with the comment instead of writing
    /// the code again (which small models do for most units otherwise). C#'s `<summary>`
    /// is left to the model, which may write it on the line or below.
    pub fn opening(self) -> &'static str {
        match self {
            DocSyntax::Lines(marker) => marker,
            DocSyntax::XmlLines => "///",
            DocSyntax::Haddock => "-- |",
            DocSyntax::Block | DocSyntax::FileBlock => "/**",
            DocSyntax::Docstring | DocSyntax::JuliaDoc => HEREDOC,
            DocSyntax::ElixirDoc => "@doc \"\"\"",
            DocSyntax::PowerShellHelp => "<#",
        }
    }

    /// `prose` as a comment of this syntax, each line indented by `indent` and ended by
    /// `eol`. Refused when the prose would end the comment early (a `*/` in a block).
    pub fn render(self, prose: &[String], indent: &str, eol: &str) -> Result<String, String> {
        let lines: Vec<String> = match self {
            DocSyntax::Lines(marker) => prose.iter().map(|line| marked(marker, line)).collect(),
            DocSyntax::XmlLines if prose.iter().any(|line| line.contains("<summary")) => prose.iter().map(|line| marked("///", line)).collect(),
            DocSyntax::XmlLines => {
                let escaped = prose.iter().map(|line| line.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"));
                let summary = std::iter::once("<summary>".to_string()).chain(escaped).chain(["</summary>".to_string()]);
                summary.map(|line| marked("///", &line)).collect()
            }
            DocSyntax::Haddock => prose.iter().enumerate().map(|(i, line)| marked(if i == 0 { "-- |" } else { "--" }, line)).collect(),
            DocSyntax::Block | DocSyntax::FileBlock => {
                if prose.iter().any(|line| line.contains("*/")) {
                    return Err("the answer holds `*/`, which would end the comment early".into());
                }
                // On `@file`'s own line Doxygen would read the text as the file's name.
                let tag = (self == DocSyntax::FileBlock).then(|| " * @file".to_string());
                match (prose, tag) {
                    ([one], None) => vec![format!("/** {one} */")],
                    (_, tag) => std::iter::once("/**".to_string()).chain(tag).chain(prose.iter().map(|line| marked(" *", line))).chain([" */".to_string()]).collect(),
                }
            }
            DocSyntax::ElixirDoc => {
                if prose.iter().any(|line| line.contains(HEREDOC)) {
                    return Err("the answer holds `\"\"\"`, which would end the @doc early".into());
                }
                // In a plain heredoc `#{` interpolates and `\` escapes; `~S` takes the text as written.
                let sigil = if prose.iter().any(|line| line.contains("#{") || line.contains('\\')) { "~S" } else { "" };
                std::iter::once(format!("@doc {sigil}{HEREDOC}")).chain(prose.iter().cloned()).chain([HEREDOC.to_string()]).collect()
            }
            DocSyntax::JuliaDoc => {
                if prose.iter().any(|line| line.contains(HEREDOC)) {
                    return Err("the answer holds `\"\"\"`, which would end the docstring early".into());
                }
                // In a Julia string `$` interpolates and `\` escapes: escaped, both read as written.
                let escaped = prose.iter().map(|line| line.replace('\\', "\\\\").replace('$', "\\$"));
                std::iter::once(HEREDOC.to_string()).chain(escaped).chain([HEREDOC.to_string()]).collect()
            }
            DocSyntax::PowerShellHelp => {
                if prose.iter().any(|line| line.contains("#>")) {
                    return Err("the answer holds `#>`, which would end the help early".into());
                }
                // The first paragraph is the synopsis, the rest the description, unless
                // the answer names its own sections (`.PARAMETER Sku`).
                let synopsis = prose.iter().position(|line| line.is_empty()).unwrap_or(prose.len());
                let mut lines = vec!["<#".to_string(), ".SYNOPSIS".to_string()];
                lines.extend(prose[..synopsis].iter().cloned());
                let description: Vec<&String> = prose[synopsis..].iter().skip_while(|line| line.is_empty()).collect();
                if description.first().is_some_and(|first| !is_help_keyword(first)) {
                    lines.push(".DESCRIPTION".to_string());
                }
                lines.extend(description.into_iter().cloned());
                lines.push("#>".to_string());
                lines
            }
            DocSyntax::Docstring => {
                let quotes = ["\"\"\"", "'''"].into_iter().find(|q| !prose.iter().any(|line| line.contains(q)));
                let quotes = quotes.ok_or("the answer holds both kinds of triple quote, so no docstring can enclose it")?;
                // A backslash in a plain string starts an escape; in a raw one it is itself.
                let prefix = if prose.iter().any(|line| line.contains('\\')) { "r" } else { "" };
                match prose {
                    // `"""Says "hi"""""` does not parse: a quote at the end needs its own line.
                    [one] if !one.ends_with(&quotes[..1]) => vec![format!("{prefix}{quotes}{one}{quotes}")],
                    _ => {
                        let mut lines = vec![format!("{prefix}{quotes}{}", prose[0])];
                        lines.extend(prose[1..].iter().cloned());
                        lines.push(quotes.to_string());
                        lines
                    }
                }
            }
        };
        Ok(lines.iter().map(|line| if line.is_empty() { eol.to_string() } else { format!("{indent}{line}{eol}") }).collect())
    }
}

/// Whether `line` opens a section of PowerShell's comment-based help (`.SYNOPSIS`,
/// `.PARAMETER Sku`, `.EXAMPLE`).
fn is_help_keyword(line: &str) -> bool {
    let line = line.trim();
    line.strip_prefix('.').is_some_and(|keyword| keyword.split_whitespace().next().is_some_and(|word| word.len() > 2 && word.chars().all(|c| c.is_ascii_uppercase())))
}

/// `marker text`, or the bare marker for an empty line.
fn marked(marker: &str, text: &str) -> String {
    if text.is_empty() { marker.to_string() } else { format!("{marker} {text}") }
}

/// The text of the doc comment a docs answer holds, without the comment's syntax. The
/// answer may be a comment in any common syntax, the one asked for or not, or plain
/// prose; whatever follows the comment (models often repeat the code) is left out. The
/// prose keeps its line breaks and inner blank lines. `name` is the documented
/// definition's, which a Python answer may write out again with its docstring.
/// `cut_off`: the model was stopped short (its token limit, the context), so a comment
/// that runs to the end of the answer stops mid-paragraph: its whole paragraphs, those
/// before a blank line, are kept (the summary, when the limit fell in the details),
/// and with none it is refused.
pub fn comment_prose(answer: &str, name: Option<&str>, cut_off: bool) -> Result<Vec<String>, String> {
    let lines: Vec<&str> = answer.trim().lines().collect();
    if let Some(docstring) = name.and_then(|name| docstring_of_definition(&lines, name)) {
        return comment_prose(&docstring, None, cut_off);
    }
    let first = lines.first().map_or("", |line| line.trim_start());
    // The comment and whether something after it shows where it ends.
    let (mut body, closed): (Vec<String>, bool) = if let Some((open, close)) = block_comment(first) {
        let end = lines.iter().position(|line| line.contains(close));
        if end.is_none() && !cut_off {
            return Err(format!("the answer's `{open}` comment is not closed"));
        }
        let last = end.unwrap_or(lines.len() - 1);
        let mut inner: Vec<&str> = lines[..=last].iter().map(|line| line.trim()).collect();
        inner[0] = inner[0].trim_start_matches(open);
        if end.is_some() {
            inner[last] = inner[last].split(close).next().unwrap_or("");
        }
        let prose = if open == "/*" {
            // `/**`, and the `*` that starts each line of a JSDoc or Javadoc block.
            inner[0] = inner[0].trim_start_matches('*');
            inner.iter().map(|line| line.trim().strip_prefix('*').unwrap_or(line.trim()).trim().to_string()).collect()
        } else {
            // PowerShell's help: its own `.SYNOPSIS` and `.DESCRIPTION` headings are
            // written again by the patch; other sections are kept as the answer wrote them.
            let kept = inner.iter().map(|line| line.trim()).filter(|line| !line.eq_ignore_ascii_case(".SYNOPSIS"));
            kept.map(|line| if line.eq_ignore_ascii_case(".DESCRIPTION") { String::new() } else { line.to_string() }).collect()
        };
        (prose, end.is_some())
    } else if let Some((quotes, at)) = string_opening(first) {
        let rest = std::iter::once(&first[at..]).chain(lines[1..].iter().copied()).collect::<Vec<_>>().join("\n");
        let end = closing(&rest, quotes);
        let text = &rest[..end.unwrap_or(rest.len())];
        // `@doc "Returns \"ok\"."` means the quotes; `~S"…"` keeps its text as written.
        let escapes = quotes == "\"" && !first[..at].contains('~');
        (dedent(&if escapes { unescape(text) } else { text.to_string() }), end.is_some())
    } else if let Some(family) = line_comment(first) {
        let marked_lines: Vec<&str> = lines.iter().map(|line| line.trim_start()).take_while(|line| is_marked(line, family)).collect();
        let prose = marked_lines.iter().map(|line| {
            let text = unmarked(line, family);
            text.strip_prefix(' ').unwrap_or(text).trim_end().to_string()
        });
        (prose.collect(), marked_lines.len() < lines.len())
    } else {
        let prose: Vec<String> = lines.iter().take_while(|line| !line.trim_start().starts_with("```")).map(|line| line.trim_end().to_string()).collect();
        let closed = prose.len() < lines.len();
        (prose, closed)
    };
    if cut_off && !closed {
        // The last paragraph ran into the limit; those before a blank line are whole.
        let blank = body.iter().rposition(|line| line.trim().is_empty());
        match blank.filter(|&blank| body[..blank].iter().any(|line| !line.trim().is_empty())) {
            Some(blank) => body.truncate(blank),
            None => return Err(CUT_OFF.into()),
        }
    }
    // A file header's own tag (`@file`, JSDoc's `@fileoverview`) is the patch's to write.
    if let Some(first) = body.iter_mut().find(|line| !line.trim().is_empty()) {
        if let Some(text) = FILE_TAGS.iter().find_map(|tag| first.trim().strip_prefix(tag).filter(|rest| rest.is_empty() || rest.starts_with(' '))) {
            *first = text.trim().to_string();
        }
    }
    let start = body.iter().position(|line| !line.trim().is_empty());
    let end = body.iter().rposition(|line| !line.trim().is_empty());
    let (Some(start), Some(end)) = (start, end) else {
        return Err("the answer has no text once its comment syntax is taken away".into());
    };
    let prose = body[start..=end].to_vec();
    // C#'s summary is the line after its `<summary>` tag.
    let first_words = prose.iter().map(|line| without_xml_tags(line)).find(|line| !line.trim().is_empty()).unwrap_or_default();
    if let Some(why) = not_a_sentence(&first_words) {
        return Err(format!("the answer's first line is {why}"));
    }
    // "The documentation for the `WalkDir` function is:", and nothing after it.
    if prose.last().is_some_and(|line| line.trim_end().ends_with(':')) {
        return Err("the answer ends with a colon, before what it introduces".into());
    }
    let code_lines = prose.iter().filter(|line| looks_like_code(line)).count();
    if code_lines * 2 > prose.len() {
        return Err(format!("the answer is mostly code ({code_lines} of {} lines)", prose.len()));
    }
    Ok(prose)
}

/// The tags that say a doc block describes its file, longest first.
const FILE_TAGS: [&str; 3] = ["@fileoverview", "@overview", "@file"];

/// How a docs answer ends, as [`comment_prose`] reads it: generation stops once the
/// comment is over instead of running on through the code a model writes after it (on
/// the sample inputs, SmolLM2 ran 145 of 197 answers to `max_new_tokens` that way).
pub const ANSWER_END: AnswerEnd = AnswerEnd { name: "docs comment", find: comment_end };

/// The opening quotes of a docstring, in the order [`comment_prose`] tries them.
const DOCSTRING_OPENINGS: [&str; 4] = ["\"\"\"", "'''", "r\"\"\"", "r'''"];

/// The byte at which a docs answer's comment is over, once the text so far shows it: after
/// a block comment's `*/` or a docstring's closing quotes, at the first line after a run
/// of line comments that is not one, at a code fence after prose. A Python definition
/// written out again ends at the later of its docstring's end and the fence after it, so
/// either reading [`comment_prose`] makes of it (the docstring when the name is the
/// unit's, else prose) is whole. Nothing [`parse`] and [`comment_prose`] read lies past
/// the cut, so cutting there changes no row's comment.
fn comment_end(answer: &str) -> Option<usize> {
    // As `parse` and `comment_prose` see it: trimmed, past an opening fence.
    let mut start = answer.len() - answer.trim_start().len();
    if answer[start..].starts_with("```") {
        start += answer[start..].find('\n')? + 1;
        start = answer.len() - answer[start..].trim_start().len();
    }
    let lines = lines_at(answer, start);
    let &(_, first, first_complete) = lines.first()?;
    // The opening decides the reading: wait until it cannot still become another.
    if !first_complete && first.len() < OPENING_DECIDED {
        return None;
    }
    // Prose ends at a fence on a later line.
    let fence = lines.iter().skip(1).find(|(_, line, _)| line.trim_start().starts_with("```")).map(|&(at, ..)| at);
    if string_opening(first).is_none() && (first.starts_with('@') || is_signature(first)) {
        let Some(&(_, signature, complete)) = lines.iter().find(|(_, line, _)| !line.trim_start().starts_with('@')) else {
            return None;
        };
        if !complete && signature.trim_start().len() < OPENING_DECIDED {
            return None;
        }
        if !is_signature(signature.trim_start()) {
            return fence;
        }
        let opener = lines.iter().position(|(_, line, _)| DOCSTRING_OPENINGS.iter().any(|q| line.trim_start().starts_with(q)));
        let docstring_end = match opener {
            Some(i) if i <= 8 => {
                let (at, line, _) = lines[i];
                let opening = DOCSTRING_OPENINGS.iter().find(|q| line.trim_start().starts_with(*q)).expect("found above");
                let after = at + (line.len() - line.trim_start().len()) + opening.len();
                let quotes = opening.trim_start_matches('r');
                after + answer[after..].find(quotes)? + quotes.len()
            }
            // No docstring in the first nine lines: only the prose reading is left.
            _ if lines.iter().filter(|(.., complete)| *complete).count() >= 9 => 0,
            _ => return None,
        };
        return fence.map(|fence| fence.max(docstring_end));
    }
    if let Some((_, close)) = block_comment(first) {
        return answer[start..].find(close).map(|end| start + end + close.len());
    }
    if let Some((quotes, at)) = string_opening(first) {
        let after = start + at;
        return closing(&answer[after..], quotes).map(|end| after + end + quotes.len());
    }
    if let Some(family) = line_comment(first) {
        return lines.iter().skip(1).find_map(|&(at, line, complete)| {
            let line = line.trim_start();
            let decided = complete || line.len() > family.len() || !family.starts_with(line);
            (decided && !is_marked(line, family)).then_some(at)
        });
    }
    fence
}

/// Elixir's heredoc quotes, which an `@doc` takes.
const HEREDOC: &str = "\"\"\"";

/// Where a comment written as a string opens on `line`: a Python docstring (`"""`,
/// `r'''`) or Elixir's `@doc """`, `@doc ~S"""`, `@doc "…"`. Gives the quotes that close
/// it and the byte its text starts at.
fn string_opening(line: &str) -> Option<(&'static str, usize)> {
    if let Some(opening) = DOCSTRING_OPENINGS.into_iter().find(|q| line.starts_with(q)) {
        return Some((opening.trim_start_matches('r'), opening.len()));
    }
    let value = line.strip_prefix("@doc")?.trim_start();
    let quoted = value.strip_prefix("~S").or_else(|| value.strip_prefix("~s")).unwrap_or(value);
    let quotes = if quoted.starts_with(HEREDOC) { HEREDOC } else if quoted.starts_with('"') { "\"" } else { return None };
    Some((quotes, line.len() - quoted.len() + quotes.len()))
}

/// Where `quotes` close the string whose text is `text`: in a one-line `"…"`, a `\"`
/// is a quote in the text, not its end.
fn closing(text: &str, quotes: &str) -> Option<usize> {
    if quotes != "\"" {
        return text.find(quotes);
    }
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            '"' if !escaped => return Some(at),
            '\\' if !escaped => escaped = true,
            _ => escaped = false,
        }
    }
    None
}

/// A one-line Elixir string's text as it reads: `\"` is `"`, `\\` is `\`.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next @ ('"' | '\\'))) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// Characters of a line that decide how it opens: the longest opening told apart is
/// `async def `.
const OPENING_DECIDED: usize = "async def ".len();

/// How a Python definition's signature opens, which [`docstring_of_definition`] reads.
const SIGNATURE_OPENINGS: [&str; 3] = ["def ", "async def ", "class "];

/// Whether `line` opens a Python definition.
fn is_signature(line: &str) -> bool {
    SIGNATURE_OPENINGS.iter().any(|opening| line.starts_with(opening))
}

/// The block comments an answer may open with, and what closes each: `/* … */`
/// (JSDoc, Javadoc, Doxygen) and PowerShell's `<# … #>` help.
const BLOCK_COMMENTS: [(&str, &str); 2] = [("/*", "*/"), ("<#", "#>")];

/// The block comment `line` opens, if it opens one.
fn block_comment(line: &str) -> Option<(&'static str, &'static str)> {
    BLOCK_COMMENTS.into_iter().find(|(open, _)| line.starts_with(open))
}

/// Line-comment markers, each with the family its comment goes on in: `-- |` opens a
/// Haddock comment that goes on with `--` lines, Fortran's `!>` (Doxygen) one that goes
/// on with `!!` or more `!>`; the others go on as they open. Longest first.
const LINE_MARKERS: [(&str, &str); 12] =
    [("///", "///"), ("//!", "//!"), ("//", "//"), ("-- |", "--"), ("---", "--"), ("--", "--"), ("#'", "#'"), ("#", "#"), ("!>", "!"), ("!!", "!"), ("!", "!"), ("%", "%")];

/// The family of the line comment `line` opens.
fn line_comment(line: &str) -> Option<&'static str> {
    LINE_MARKERS.into_iter().find(|(marker, _)| is_marked(line, marker)).map(|(_, family)| family)
}

/// A line of a comment of `family` without its marker.
fn unmarked<'l>(line: &'l str, family: &str) -> &'l str {
    LINE_MARKERS.into_iter().filter(|(_, f)| *f == family).find_map(|(marker, _)| line.strip_prefix(marker)).unwrap_or(line)
}

/// The lines of `text` from byte `start`: where each starts, its text, and whether its
/// newline has come yet.
fn lines_at(text: &str, start: usize) -> Vec<(usize, &str, bool)> {
    let mut at = start;
    text[start..]
        .split_inclusive('\n')
        .map(|piece| {
            let line = (at, piece.trim_end_matches(['\n', '\r']), piece.ends_with('\n'));
            at += piece.len();
            line
        })
        .collect()
}

/// The docstring when `lines` are the Python definition of `name` written out again
/// with one (a code model's usual answer to "document this"): its signature, then the
/// string. A definition of another name is the model's own code, not this one's doc.
fn docstring_of_definition(lines: &[&str], name: &str) -> Option<String> {
    let signature = lines.iter().map(|line| line.trim_start()).find(|line| !line.starts_with('@'))?;
    let defined = SIGNATURE_OPENINGS.iter().find_map(|opening| signature.strip_prefix(opening))?;
    if !defined.strip_prefix(name).is_some_and(|rest| rest.starts_with(['(', ':'])) {
        return None;
    }
    let quoted = lines.iter().position(|line| DOCSTRING_OPENINGS.iter().any(|q| line.trim_start().starts_with(q)))?;
    let signature_ends = lines[..quoted].iter().rposition(|line| !line.trim().is_empty())?;
    // Only the signature may come before it: a string further into the body is not the docstring.
    (quoted <= 8 && lines[signature_ends].trim_end().ends_with(':')).then(|| lines[quoted..].join("\n"))
}

/// `line` without its XML tags (`<summary>`, `<see cref="T"/>`).
fn without_xml_tags(line: &str) -> String {
    let mut text = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else { break };
        let tag = &rest[open + 1..open + close];
        // `a < b`, `Vec<T>`: only what reads as a tag is one.
        if !tag.trim_start_matches('/').starts_with(|c: char| c.is_ascii_lowercase()) || tag.contains(['<', '(']) {
            text.push_str(&rest[..open + 1]);
            rest = &rest[open + 1..];
            continue;
        }
        text.push_str(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    text
}

/// Why a comment's summary line is no sentence, when it is not one: it must be three
/// words or more, and not code. Small models often answer a docs prompt with code (a
/// `#define`, the class again), and a comment made of that documents nothing.
fn not_a_sentence(line: &str) -> Option<&'static str> {
    let words = line.split(|c: char| !c.is_alphabetic()).filter(|word| word.chars().count() >= 2).count();
    if looks_like_code(line) {
        Some("code, not a sentence")
    } else if words < 3 {
        Some("not a sentence (under three words)")
    } else {
        None
    }
}

const CUT_OFF: &str = "the answer was cut off (by max_new_tokens or the end of the context) before its comment ended";

/// Whether a line looks like code rather than prose: it opens with a declaration or
/// preprocessor keyword, or ends the way statements and blocks end.
fn looks_like_code(line: &str) -> bool {
    const OPENINGS: [&str; 24] = [
        "#include", "#define", "#if", "#!", "#[", "import ", "from ", "package ", "using ", "def ", "fn ", "func ", "function ",
        "class ", "public ", "private ", "protected ", "static ", "const ", "let ", "var ", "return ", "struct ", "impl ",
    ];
    let line = line.trim();
    OPENINGS.iter().any(|opening| line.starts_with(opening)) || line.ends_with(['{', '}', ';', '\\'])
}

/// Whether `line` starts with the comment `marker`; a `#` only when a space, another
/// `#` or nothing follows it (`#[derive]`, `#include` are code).
fn is_marked(line: &str, marker: &str) -> bool {
    match line.strip_prefix(marker) {
        Some(rest) if marker == "#" => rest.is_empty() || rest.starts_with([' ', '#']),
        Some(_) => true,
        None => false,
    }
}

/// A docstring's lines, the continuation lines' common indent removed (PEP 257).
fn dedent(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = lines.iter().skip(1).filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    let dedented = lines.iter().enumerate().map(|(i, line)| if i == 0 { line.trim() } else { line.get(indent..).unwrap_or(line.trim_start()).trim_end() });
    dedented.map(str::to_string).collect()
}

/// The comment out of the model's answer to the unit `name` (its definition's name):
/// without a surrounding code fence, trimmed. An answer that holds no comment the
/// patch could write, as [`comment_prose`] reads it (empty, code, cut off mid-comment
/// when `cut_off`), does not parse: the row keeps it raw, with the reason, and no text
/// that reads as documentation when it is not.
pub fn parse(answer: &str, name: Option<&str>, cut_off: bool) -> Result<String, String> {
    parse_with_prose(answer, name, cut_off).map(|(text, _)| text)
}

/// [`parse`], with the comment's prose as [`comment_prose`] reads it: what the patch
/// writes of the answer.
fn parse_with_prose(answer: &str, name: Option<&str>, cut_off: bool) -> Result<(String, Vec<String>), String> {
    let text = strip_fence(answer.trim()).trim();
    if text.is_empty() {
        return Err("the model's answer is empty".into());
    }
    let prose = comment_prose(text, name, cut_off)?;
    Ok((text.to_string(), prose))
}

/// The comment out of the model's answer about `unit`, as [`parse`] reads it, unless it
/// documents parameters that are no word of the unit's signature, or documents
/// parameters but leaves out one of the unit's: a doc wrong from the start, which the
/// walk would find stale once the patch put it in the source. `cut_off` as for [`parse`].
pub fn parse_about(answer: &str, unit: &UnitRow, cut_off: bool) -> Result<String, String> {
    let (text, prose) = parse_with_prose(answer, unit.name.as_deref(), cut_off)?;
    let Some(language) = Language::from_name(&unit.language) else { return Ok(text) };
    // A unit without a signature (a class, a declaration) is held to all its code.
    let signature = unit.signature.as_deref().unwrap_or(&unit.content);
    let made_up = undeclared_parameters(language, &text, signature, &unit.content);
    if !made_up.is_empty() {
        return Err(format!("the answer names parameters the code does not have: {}", quoted(&made_up)));
    }
    // What the patch writes: of a cut-off answer, its whole paragraphs.
    let written = prose.join("\n");
    let left_out = unit.parameters.as_deref().map(|parameters| undocumented_parameters(language, &written, parameters)).unwrap_or_default();
    match left_out.is_empty() {
        true => Ok(text),
        false => Err(format!("the answer documents parameters but leaves out some the code has: {}", quoted(&left_out))),
    }
}

/// The inside of a ```lang … ``` fence when the whole text is one.
fn strip_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else { return text };
    let body = rest.split_once('\n').map_or("", |(_, body)| body);
    body.trim_end().strip_suffix("```").unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_lose_their_fence_and_those_without_a_comment_fail() {
        assert_eq!(parse("```rust\n/// Adds two numbers.\n```", None, false).unwrap(), "/// Adds two numbers.");
        assert_eq!(parse("  /// Adds two numbers.\n", None, false).unwrap(), "/// Adds two numbers.");
        assert_eq!(parse("```\n```", None, false).unwrap_err(), "the model's answer is empty");
        assert!(parse("   ", None, false).is_err());
        // The unit's code echoed back, a comment cut off inside, one with no words.
        let echo = "```rust\npub fn device_num(path: P) -> u64 {\n    0\n}\n```";
        assert_eq!(parse(echo, Some("device_num"), false).unwrap_err(), "the answer's first line is code, not a sentence");
        assert_eq!(parse("/// Reads the counts from", Some("read"), true).unwrap_err(), CUT_OFF);
        assert_eq!(parse("/// Reads the counts from", Some("read"), false).unwrap(), "/// Reads the counts from");
        assert_eq!(parse("///\n///", None, false).unwrap_err(), "the answer has no text once its comment syntax is taken away");
        // A Python definition written out again is kept whole; the patch takes its docstring.
        let rewritten = "def read(self):\n    \"\"\"Reads the counts.\"\"\"\n    return 1";
        assert_eq!(parse(rewritten, Some("read"), false).unwrap(), rewritten);
    }

    fn prose(answer: &str) -> Result<Vec<String>, String> {
        comment_prose(answer, Some("read"), false)
    }

    #[test]
    fn a_comment_in_any_common_syntax_gives_its_prose_and_what_follows_it_is_dropped() {
        let lines = |text: &[&str]| text.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let two = Ok(vec!["Adds two numbers.".to_string(), "Returns their sum.".to_string()]);
        assert_eq!(prose("/// Adds two numbers.\n/// Returns their sum.\nfn add(a: i32, b: i32) -> i32 { a + b }"), two);
        assert_eq!(prose("/**\n * Adds two numbers.\n * Returns their sum.\n */\nfunction add(a, b) {}"), two);
        assert_eq!(prose("/** Adds two numbers.\n    Returns their sum. */"), two);
        assert_eq!(prose("\"\"\"Adds two numbers.\n    Returns their sum.\n    \"\"\"\ndef add(a, b): ..."), two);
        assert_eq!(prose("# Adds two numbers.\n# Returns their sum.\n"), two);
        assert_eq!(prose("-- | Adds two numbers.\n-- Returns their sum."), two);
        assert_eq!(prose("#' Adds two numbers.\n#' Returns their sum.\nadd <- function(a, b) a + b"), two);
        assert_eq!(prose("!> Adds two numbers.\n!! Returns their sum.\nsubroutine add(a, b)"), two, "Doxygen's Fortran");
        assert_eq!(prose("! Adds two numbers.\n! Returns their sum."), two);
        assert_eq!(prose("% Adds two numbers.\n% Returns their sum.\nfunction c = add(a, b)"), two, "MATLAB's help text");
        let help = "<#\n.SYNOPSIS\n    Adds two numbers.\n.DESCRIPTION\n    Returns their sum.\n.PARAMETER A\n    The first.\n#>\nfunction Add($A, $B) { $A + $B }";
        assert_eq!(prose(help), Ok(lines(&["Adds two numbers.", "", "Returns their sum.", ".PARAMETER A", "The first."])), "PowerShell's help");
        assert_eq!(prose("<# Adds two numbers, then returns them. #>"), Ok(lines(&["Adds two numbers, then returns them."])));
        assert_eq!(prose("@doc \"\"\"\n  Adds two numbers.\n  Returns their sum.\n  \"\"\"\n  def add(a, b), do: a + b"), two);
        assert_eq!(prose("@doc ~S\"\"\"\nAdds two numbers.\nReturns their sum.\n\"\"\""), two);
        assert_eq!(prose("@doc \"Adds two numbers.\"\ndef add(a, b), do: a + b"), Ok(vec!["Adds two numbers.".to_string()]));
        assert_eq!(prose("@doc \"Returns \\\"ok\\\" or a path like C:\\\\tmp.\"\ndef f"), Ok(vec!["Returns \"ok\" or a path like C:\\tmp.".to_string()]));
        assert_eq!(prose("@doc ~S\"Matches one or more digits, \\d+.\"\ndef f"), Ok(vec!["Matches one or more digits, \\d+.".to_string()]));
        assert!(prose("@doc false").is_err());
        assert_eq!(prose("Adds two numbers.\nReturns their sum.\n```rust\nfn add() {}\n```"), two);
        assert_eq!(prose("// Adds the two numbers.\n//\n// Both are ints."), Ok(vec!["Adds the two numbers.".into(), String::new(), "Both are ints.".into()]));
        let rewritten = "def read(self, stream):\n    \"\"\"Reads the counts in a CSV stream.\"\"\"\n    return list(csv.reader(stream))";
        assert_eq!(prose(rewritten), Ok(vec!["Reads the counts in a CSV stream.".to_string()]), "a Python definition written out with its docstring");
        assert!(prose("@cached\nasync def read(self) -> list:\n    '''Reads the counts in a CSV stream.'''").is_ok());
        assert!(prose("def import_csv(path):\n    \"\"\"Imports a CSV file from disk.\"\"\"").is_err(), "the model's own function documents nothing here");
        assert!(prose("def read(self):\n    x = 1\n    y = 2\n    z = 3\n    '''A string far into the body is not the docstring.'''").is_err());
        // `#[` is an attribute, not a `#` comment: the answer is code.
        assert!(prose("#[inline]\nfn add() {}").is_err());
    }

    /// What the docs task keeps of an answer: the parsed text's comment, for a unit of
    /// `name` (a rewritten Python definition is read only when the name is the unit's).
    fn reading(answer: &str, name: Option<&str>) -> Result<Vec<String>, String> {
        parse(answer, name, false).and_then(|text| comment_prose(&text, name, false))
    }

    /// Streams `answer` a character at a time, as generation grows it, and returns the
    /// text the engine would keep: cut where [`comment_end`] first finds the end.
    fn streamed(answer: &str) -> &str {
        let ends = answer.char_indices().map(|(i, _)| i).skip(1).chain([answer.len()]);
        ends.into_iter().find_map(|end| comment_end(&answer[..end]).map(|cut| &answer[..cut])).unwrap_or(answer)
    }

    #[test]
    fn generation_ends_with_the_comment_and_the_kept_text_reads_as_the_whole_answer() {
        let answers = [
            "/// Adds two numbers.\n/// Returns their sum.\nfn add(a: i32, b: i32) -> i32 { a + b }",
            "/**\n * Adds two numbers.\n * Returns their sum.\n */\nfunction add(a, b) {}",
            "/** Adds two numbers.\n    Returns their sum. */ int add(int a, int b);",
            "\"\"\"Adds two numbers.\n    Returns their sum.\n    \"\"\"\ndef add(a, b): ...",
            "r'''Splits at \\n and returns the parts.'''\ndef split(text): ...",
            "# Adds two numbers.\n# Returns their sum.\ndef add(a, b):\n    return a + b\n",
            "#[inline]\nfn add() {}\n",
            "-- | Adds two numbers.\n-- Returns their sum.\nadd :: Int -> Int -> Int",
            "Adds two numbers.\nReturns their sum.\n```rust\nfn add() {}\n```\nThis documents it.",
            "// Adds the two numbers.\n//\n// Both are ints.\n\nint add(int a, int b);",
            "```rust\n/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n```\n\nThe code is written in Rust.",
            "```\n\n  # Reads the ledger.\n  def read(self):\n```",
            "def read(self, stream):\n    \"\"\"Reads the counts in a CSV stream.\"\"\"\n    return list(csv.reader(stream))\n```\nMore words here.",
            "@cached\nasync def read(self) -> list:\n    '''Reads the counts in a CSV stream.'''\n    return []\n```\nDone.",
            "@app.route('/users/<id>')\ndef read(self):\n    return db.get(id)\n```\nand more",
            "def read(self):\n    x = 1\n    y = 2\n    z = 3\n    a = 4\n    b = 5\n    c = 6\n    d = 7\n    e = 8\n    '''Too far.'''\n```\n",
            "class Reader:\n    \"\"\"Reads the counts of a file.\n    ```\n    Reader().counts\n    ```\n    \"\"\"\n```\nafter",
            "Here is the documentation:\n```rust\n/// Adds.\n```\nIt adds.",
            "/// Ok\nfn ok() {}",
            "/* never closed, runs on and on",
            "   \n\n  /// Leading blank lines first.\n  /// Then more.\n  let x = 1;",
            "#' Adds two numbers.\n#' @param a A number.\nadd <- function(a, b) a + b",
            "@doc \"\"\"\nAdds two numbers.\n\nReturns their sum.\n\"\"\"\ndef add(a, b), do: a + b",
            "@doc ~S\"\"\"\nSplits at \\n.\n\"\"\"\n@spec split(String.t()) :: [String.t()]",
            "@doc \"Adds two numbers.\"\n@spec add(integer, integer) :: integer",
            "@doc false\ndef add(a, b), do: a + b",
            "@doc \"Returns \\\"ok\\\".\"\ndef f, do: :ok",
            "<#\n.SYNOPSIS\nAdds two numbers.\n#>\nfunction Add($A, $B) { $A + $B }",
            "!> Adds two numbers.\n!! Returns their sum.\nfunction add(a, b)",
            "% Adds two numbers.\n% Returns their sum.\nfunction c = add(a, b)",
        ];
        for answer in answers {
            let kept = streamed(answer);
            for name in [Some("read"), Some("Reader"), None] {
                assert_eq!(reading(kept, name), reading(answer, name), "{answer:?} kept as {kept:?}");
            }
        }
        // Where it ends: right after the comment, not at the end of the answer.
        assert_eq!(streamed(answers[0]), "/// Adds two numbers.\n/// Returns their sum.\n");
        assert_eq!(streamed(answers[2]), "/** Adds two numbers.\n    Returns their sum. */");
        assert_eq!(streamed(answers[3]), "\"\"\"Adds two numbers.\n    Returns their sum.\n    \"\"\"");
        assert_eq!(streamed(answers[8]), "Adds two numbers.\nReturns their sum.\n");
        assert_eq!(streamed(answers[10]), "```rust\n/// Adds two numbers.\n");
        assert_eq!(streamed(answers[22]), "@doc \"\"\"\nAdds two numbers.\n\nReturns their sum.\n\"\"\"");
        assert_eq!(streamed(answers[24]), "@doc \"Adds two numbers.\"");
        assert_eq!(streamed(answers[26]), "@doc \"Returns \\\"ok\\\".\"", "an escaped quote does not end it");
        assert_eq!(streamed(answers[27]), "<#\n.SYNOPSIS\nAdds two numbers.\n#>");
        assert_eq!(streamed(answers[28]), "!> Adds two numbers.\n!! Returns their sum.\n");
        assert_eq!(streamed(answers[29]), "% Adds two numbers.\n% Returns their sum.\n");
        assert_eq!(streamed(answers[12]), "def read(self, stream):\n    \"\"\"Reads the counts in a CSV stream.\"\"\"\n    return list(csv.reader(stream))\n");
        // A `/` could still become `//`, a `#` a `#[`: undecided lines wait.
        assert_eq!(comment_end("/// Adds two numbers.\n/"), None);
        assert_eq!(comment_end("# Adds two numbers.\n#"), None);
        assert_eq!(comment_end("# Adds two numbers.\n#["), Some(20));
        assert_eq!(comment_end("/*"), None);
    }

    #[test]
    fn a_comment_cut_off_by_the_token_limit_keeps_its_whole_paragraphs_or_is_refused() {
        let cut = |answer: &str| comment_prose(answer, Some("read"), true);
        for unfinished in ["/// Reads the counts from", "/** Reads the counts\n * from", "\"\"\"Reads the counts", "Reads the counts from the", "/**\n * Reads the counts.\n * Then it"] {
            assert_eq!(cut(unfinished), Err(CUT_OFF.to_string()), "{unfinished}");
        }
        // The limit fell in the details: the summary before them is whole.
        let summary = Ok(vec!["Reads the counts of a file.".to_string()]);
        for details_cut in [
            "/// Reads the counts of a file.\n///\n/// Then it",
            "/**\n * Reads the counts of a file.\n *\n * @param path the",
            "\"\"\"Reads the counts of a file.\n\n    Args:\n        path: the",
            "/// Reads the counts of a file.\n///\n",
        ] {
            assert_eq!(cut(details_cut), summary, "{details_cut}");
        }
        assert_eq!(
            cut("/**\n * Reads the counts.\n * One a line.\n *\n * Then sums\n * them all.\n *\n * @param"),
            Ok(["Reads the counts.", "One a line.", "", "Then sums", "them all."].map(String::from).to_vec())
        );
        assert!(comment_prose("/**\n * Reads the counts.\n *\n * Then", None, false).is_err(), "not cut off: an unclosed block is an error");
        for finished in ["/// Reads the counts.\nfn read(", "/** Reads the counts. */ fn", "\"\"\"Reads the counts.\"\"\"\n    return", "Reads the counts.\n```py\ndef"] {
            assert_eq!(cut(finished), Ok(vec!["Reads the counts.".to_string()]), "{finished}");
        }
    }

    #[test]
    fn an_answer_that_is_code_or_empty_is_no_comment() {
        let reason = |answer: &str| prose(answer).unwrap_err();
        assert!(reason("/** #define CONST_A_B_C */").contains("first line is code"), "{}", reason("/** #define CONST_A_B_C */"));
        assert!(reason("/**\n * public class InventoryClient {\n *   int x;\n * }\n */").contains("first line is code"));
        assert_eq!(reason("/// Ok"), "the answer's first line is not a sentence (under three words)");
        assert!(reason("/// Sets the flag on the device.\n/// x = 1;\n/// y = 2;\n/// }").contains("mostly code (3 of 4 lines)"));
        assert!(reason("/**\n *\n */").contains("no text"));
        assert!(prose("/// <summary>\n/// Adds two numbers, <see cref=\"int\"/> each.\n/// </summary>").is_ok(), "C#'s summary is under its tag");
        assert!(reason("/// <summary>\n/// </summary>").contains("not a sentence"));
        assert_eq!(reason("/// The documentation for the `WalkDir` function is:\nimpl DirEntry {"), "the answer ends with a colon, before what it introduces");
        assert_eq!(reason("\"\"\"Loads the file.\n\n    Returns:\n    \"\"\""), "the answer ends with a colon, before what it introduces");
        assert!(reason("/* Adds the numbers, never closed").contains("not closed"));
        assert!(prose("/// Sets the flag on the device.\n/// Call it once:\n/// `set(true);`").is_ok(), "a code line among prose is fine");
    }

    #[test]
    fn prose_renders_in_each_syntax_at_the_indent_and_line_ending_given() {
        let lines = |text: &[&str]| text.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let one = lines(&["Adds two numbers."]);
        let two = lines(&["Adds two numbers.", "", "Returns their sum."]);
        let render = |syntax: DocSyntax, prose: &[String]| syntax.render(prose, "  ", "\n").unwrap();
        assert_eq!(render(DocSyntax::Lines("///"), &two), "  /// Adds two numbers.\n  ///\n  /// Returns their sum.\n");
        assert_eq!(render(DocSyntax::Block, &one), "  /** Adds two numbers. */\n");
        assert_eq!(render(DocSyntax::Block, &two), "  /**\n   * Adds two numbers.\n   *\n   * Returns their sum.\n   */\n");
        assert_eq!(render(DocSyntax::FileBlock, &one), "  /**\n   * @file\n   * Adds two numbers.\n   */\n");
        assert_eq!(render(DocSyntax::Docstring, &one), "  \"\"\"Adds two numbers.\"\"\"\n");
        assert_eq!(render(DocSyntax::Docstring, &two), "  \"\"\"Adds two numbers.\n\n  Returns their sum.\n  \"\"\"\n");
        assert_eq!(render(DocSyntax::Docstring, &lines(&["Says \"hi\""])), "  \"\"\"Says \"hi\"\n  \"\"\"\n");
        assert_eq!(render(DocSyntax::Docstring, &lines(&["Splits at \\n."])), "  r\"\"\"Splits at \\n.\"\"\"\n");
        assert_eq!(render(DocSyntax::Docstring, &lines(&["Quotes \"\"\" in text."])), "  '''Quotes \"\"\" in text.'''\n");
        assert_eq!(render(DocSyntax::Haddock, &lines(&["Adds.", "Sums."])), "  -- | Adds.\n  -- Sums.\n");
        assert_eq!(render(DocSyntax::XmlLines, &lines(&["Is a < b?"])), "  /// <summary>\n  /// Is a &lt; b?\n  /// </summary>\n");
        assert_eq!(render(DocSyntax::XmlLines, &lines(&["<summary>Adds.</summary>"])), "  /// <summary>Adds.</summary>\n");
        assert_eq!(DocSyntax::Lines("#").render(&one, "", "\r\n").unwrap(), "# Adds two numbers.\r\n");
        assert_eq!(render(DocSyntax::Lines("#'"), &one), "  #' Adds two numbers.\n");
        assert_eq!(render(DocSyntax::ElixirDoc, &two), "  @doc \"\"\"\n  Adds two numbers.\n\n  Returns their sum.\n  \"\"\"\n");
        assert_eq!(render(DocSyntax::ElixirDoc, &lines(&["Formats as #{name}."])), "  @doc ~S\"\"\"\n  Formats as #{name}.\n  \"\"\"\n");
        assert!(DocSyntax::ElixirDoc.render(&lines(&["Quotes \"\"\" in text."]), "", "\n").is_err());
        assert_eq!(render(DocSyntax::JuliaDoc, &two), "  \"\"\"\n  Adds two numbers.\n\n  Returns their sum.\n  \"\"\"\n");
        assert_eq!(render(DocSyntax::JuliaDoc, &lines(&["Costs $5, \\n excluded."])), "  \"\"\"\n  Costs \\$5, \\\\n excluded.\n  \"\"\"\n");
        assert!(DocSyntax::JuliaDoc.render(&lines(&["Quotes \"\"\" in text."]), "", "\n").is_err());
        assert_eq!(render(DocSyntax::PowerShellHelp, &two), "  <#\n  .SYNOPSIS\n  Adds two numbers.\n  .DESCRIPTION\n  Returns their sum.\n  #>\n");
        let sections = lines(&["Adds two numbers.", "", ".PARAMETER A", "The first."]);
        assert_eq!(render(DocSyntax::PowerShellHelp, &sections), "  <#\n  .SYNOPSIS\n  Adds two numbers.\n  .PARAMETER A\n  The first.\n  #>\n", "its own sections");
        assert!(DocSyntax::PowerShellHelp.render(&lines(&["Ends #> early."]), "", "\n").is_err());
        assert!(DocSyntax::Block.render(&lines(&["Ends */ early."]), "", "\n").unwrap_err().contains("*/"));
        assert!(DocSyntax::Docstring.render(&lines(&["Both \"\"\" and '''."]), "", "\n").is_err());
    }

    #[test]
    fn each_language_gets_its_convention() {
        assert!(doc_style("python", "function").contains("docstring"));
        assert!(doc_style("rust", "struct").contains("///"));
        assert!(doc_style("brainfuck", "function").contains("usual"));
        assert_eq!(comment_syntax("python", "class"), Some(DocSyntax::Docstring));
        assert_eq!(comment_syntax("go", "function"), Some(DocSyntax::Lines("//")));
        assert_eq!(comment_syntax("brainfuck", "function"), None);
        assert_eq!(comment_syntax("r", "function"), Some(DocSyntax::Lines("#'")));
        assert_eq!(comment_syntax("elixir", "function"), Some(DocSyntax::ElixirDoc));
        assert!(doc_style("elixir", "function").contains("@doc"));
        assert_eq!(comment_syntax("julia", "function"), Some(DocSyntax::JuliaDoc));
    }

    #[test]
    fn docs_leave_alone_a_file_no_comment_can_be_written_in() {
        assert!(!documents(UnitKind::File, Language::Markdown));
        assert!(!documents(UnitKind::File, Language::Json));
        assert!(documents(UnitKind::File, Language::Yaml));
        assert!(documents(UnitKind::Function, Language::Python));
    }

    #[test]
    fn a_file_is_documented_by_a_header_where_its_language_can_hold_one() {
        assert_eq!(comment_syntax("rust", "file"), Some(DocSyntax::Lines("//!")));
        assert_eq!(comment_syntax("r", "file"), Some(DocSyntax::Lines("#")), "roxygen's #' would document the object below");
        assert_eq!(comment_syntax("python", "file"), Some(DocSyntax::Docstring));
        assert!(doc_style("sql", "file").contains("top of the file"));
        assert!(doc_style("python", "file").contains("module docstring"));
        assert_eq!(comment_syntax("c", "file"), Some(DocSyntax::FileBlock));
        // The answer's own tag is not written twice.
        assert_eq!(comment_prose("/**\n * @file\n * Checksums for barcodes.\n */", None, false).unwrap(), ["Checksums for barcodes."]);
        assert_eq!(comment_prose("/** @fileoverview Loads the page. */", None, false).unwrap(), ["Loads the page."]);
        // The patch writes a header wherever the walk found a place for one.
        for &language in Language::ALL {
            let place = can_hold_header(language);
            assert_eq!(comment_syntax(language.name(), "file").is_some(), place, "{}", language.name());
            // A file's outline is documented by the same header.
            assert_eq!(comment_syntax(language.name(), "outline"), comment_syntax(language.name(), "file"));
            assert_eq!(doc_style(language.name(), "outline"), doc_style(language.name(), "file"));
            assert_eq!(documents(UnitKind::Outline, language), place);
        }
    }
}
