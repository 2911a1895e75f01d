//! Whether a function's doc still describes it: a doc that names a parameter the
//! function no longer has, or that documents parameters but leaves out one the function
//! has (as the field's linters report it: pydocstyle's D417, numpydoc's PR01, doclint,
//! eslint-plugin-jsdoc), was written for an older version of it, and `skip_documented`
//! must not keep it. The function's parameters are read from its syntax tree
//! ([`super::parameters`]); where they cannot all be named, only the first check runs.
//!
//! Only what the conventions mark as parameters counts — `@param x` (Javadoc, JSDoc,
//! PHPDoc, Doxygen, KDoc, YARD, roxygen), `:param x:` (Sphinx), a Google-style `Args:`
//! section, a NumPy-style `Parameters` section, a Markdown `# Arguments` list (Rust,
//! Julia), C#'s `<param name="x">`, Swift's `- Parameter x:`, PowerShell's
//! `.PARAMETER x` — never a word of prose, and a name counts as gone only when no
//! word of the function's signature is that name (its types and defaults count too).
//! A word of the body does not keep it: `os.path` is no parameter `path`, and a
//! parameter that became a local variable is gone all the same.
//!
//! A function that takes what its caller passes in bulk (`**kwargs`, `...args`,
//! `arguments`) or destructures a parameter may document names its code never spells,
//! so its doc is taken as it is. A class's doc is not checked: it documents the
//! parameters of a constructor it may inherit (Bokeh's properties name `default` and
//! `help`, which their base class takes).

use std::collections::HashSet;

use super::header::comments;
use super::language::Language;
use super::parameters::is_name;

/// Why `doc`, the doc of a function in `language`, no longer describes it: the names it
/// documents as parameters that are not words of `signature` (the code before the
/// function's body; PowerShell's, whose `param(...)` is in the body, is all of `code`,
/// the function's code without its doc), and the function's `parameters` it leaves out
/// when it documents any. `None` when it does neither (or the function may take
/// parameters it does not spell).
pub(crate) fn stale_doc(language: Language, doc: &str, signature: &str, code: &str, parameters: Option<&[String]>) -> Option<String> {
    let gone = undeclared_parameters(language, doc, signature, code);
    let missing = parameters.map(|parameters| undocumented_parameters(language, doc, parameters)).unwrap_or_default();
    let reasons: Vec<String> = [
        (!gone.is_empty()).then(|| format!("its doc names parameters its code does not have: {}", quoted(&gone))),
        (!missing.is_empty()).then(|| format!("its doc does not name parameters its code has: {}", quoted(&missing))),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The `parameters` (a function's, in order) that `doc` does not document, when it
/// documents any: a doc that names its parameters names them all. A doc that documents
/// none, in prose, is not held to them, nor one that takes some from another doc.
pub(crate) fn undocumented_parameters(language: Language, doc: &str, parameters: &[String]) -> Vec<String> {
    let documented: HashSet<String> = documented_parameters(language, doc, Reading::Generous).iter().map(|name| folded(language, name)).collect();
    if documented.is_empty() || inherits_parameters(doc) {
        return Vec::new();
    }
    parameters.iter().filter(|name| !documented.contains(&folded(language, name))).cloned().collect()
}

/// Whether `doc` takes its parameters' documentation from another doc: roxygen's
/// `@inheritParams`, `@inherit`, and `@rdname`/`@describeIn` (which merge it into
/// another function's page), Javadoc's and JSDoc's `@inheritDoc`, C#'s `<inheritdoc/>`.
fn inherits_parameters(doc: &str) -> bool {
    ["@inheritParams", "@inherit ", "@rdname", "@describeIn", "@inheritDoc", "@inheritdoc", "<inheritdoc"].iter().any(|tag| doc.contains(tag))
}

/// A name as `language` compares names: PowerShell's in any case (`.PARAMETER path`
/// documents `$Path`).
fn folded(language: Language, name: &str) -> String {
    match language {
        Language::PowerShell => name.to_lowercase(),
        _ => name.to_string(),
    }
}

/// The names `doc` documents as parameters that are no word of `signature` (as
/// [`stale_doc`] reads them), in order; none when the function may take parameters it
/// does not spell.
pub(crate) fn undeclared_parameters(language: Language, doc: &str, signature: &str, code: &str) -> Vec<String> {
    if takes_unnamed(language, signature, code) {
        return Vec::new();
    }
    // PowerShell declares parameters in the body (`param(...)`).
    let declared = folded(language, if language == Language::PowerShell { code } else { signature });
    let words = words(language, &declared);
    let mut gone: Vec<String> = Vec::new();
    for name in documented_parameters(language, doc, Reading::Strict) {
        if !words.contains(folded(language, &name).as_str()) && !gone.contains(&name) {
            gone.push(name);
        }
    }
    gone
}

/// `names` as a list of code spans: "`a`, `b`".
pub(crate) fn quoted(names: &[String]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// Whether a function may take parameters its signature does not name one by one:
/// Python's and Ruby's `*args`/`**kwargs`, a rest parameter or C's `...`, Kotlin's
/// `vararg`, JavaScript's `arguments`, PHP's `func_get_args()`, a destructured
/// parameter of JavaScript, or Perl, whose subroutines read `@_`.
fn takes_unnamed(language: Language, signature: &str, code: &str) -> bool {
    use Language::*;
    let starred = || signature.as_bytes().windows(2).any(|pair| pair[0] == b'*' && (pair[1].is_ascii_alphabetic() || pair[1] == b'_' || pair[1] == b'*'));
    let destructures = || signature.as_bytes().windows(2).enumerate().any(|(i, pair)| matches!(pair[0], b'(' | b',') && { let rest = signature[i + 1..].trim_start(); rest.starts_with('{') || rest.starts_with('[') });
    signature.contains("...")
        || signature.contains("vararg")
        || match language {
            Python | Ruby => starred(),
            JavaScript | TypeScript | Tsx | Vue | Svelte | Html => destructures() || words(language, code).contains("arguments"),
            Php => code.contains("func_get_args"),
            Perl | Shell | Makefile => true,
            _ => false,
        }
}

/// The identifiers of `code` (PHP's `$` dropped, as [`documented_parameters`] drops it;
/// R's `na.rm` one word, as R reads it).
fn words(language: Language, code: &str) -> HashSet<&str> {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_' || (language == Language::R && c == '.'))).filter(|word| !word.is_empty()).collect()
}

/// How a doc names a function's parameters: the convention of its first documented
/// one, if it documents any.
pub(crate) fn parameter_convention(language: Language, doc: &str) -> Option<ParamConvention> {
    parameter_entries(language, doc, Reading::Strict).first().map(|(_, convention)| *convention)
}

/// A way docs mark parameters, as conventions write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamConvention {
    /// A Google-style `Args:` section.
    Google,
    /// A NumPy-style `Parameters` section over a line of dashes.
    NumPy,
    /// Sphinx's `:param x:` fields.
    Sphinx,
    /// A Markdown `# Arguments` list (Rust, Julia).
    Markdown,
    /// Swift's `- Parameter x:` lines or `- Parameters:` list.
    Swift,
    /// A tag before each parameter's name: `@param`, `\param`, `<param name="x">`, `.PARAMETER`.
    Tag(&'static str),
}

impl ParamConvention {
    /// Its name where a pipeline chooses it and a walk records it.
    pub fn name(self) -> &'static str {
        match self {
            ParamConvention::Google => "google",
            ParamConvention::NumPy => "numpy",
            ParamConvention::Sphinx => "sphinx",
            ParamConvention::Markdown => "markdown",
            ParamConvention::Swift => "swift",
            ParamConvention::Tag("<param name=\"…\">") => "<param>",
            ParamConvention::Tag(tag) => tag,
        }
    }

    /// Every convention, in the order a listing of them shows.
    pub const ALL: [ParamConvention; 11] = [
        ParamConvention::Google,
        ParamConvention::NumPy,
        ParamConvention::Sphinx,
        ParamConvention::Markdown,
        ParamConvention::Swift,
        ParamConvention::Tag("@param"),
        ParamConvention::Tag("\\param"),
        ParamConvention::Tag("@arg"),
        ParamConvention::Tag("@argument"),
        ParamConvention::Tag("<param name=\"…\">"),
        ParamConvention::Tag(".PARAMETER"),
    ];

    /// The convention [`ParamConvention::name`] names, in any case.
    pub fn from_name(name: &str) -> Option<ParamConvention> {
        ParamConvention::ALL.into_iter().find(|convention| convention.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// The names `doc` documents as parameters, in order, as the function's code would
/// spell them (`$x`, `*args`, `[x=1]` and `x.y` give `x`, `args`, `x`, `x`), read as
/// `reading` says.
fn documented_parameters(language: Language, doc: &str, reading: Reading) -> Vec<String> {
    parameter_entries(language, doc, reading).into_iter().map(|(name, _)| name).collect()
}

/// How much of a doc's layout is read as naming parameters. A name read where none is
/// makes a doc stale that is not ("its doc names parameters its code does not have");
/// a name missed where one is makes one stale the other way ("does not name parameters
/// its code has"). So the first check reads strictly and the second generously, and
/// neither finds a doc stale on a loose reading.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Sections as the conventions write them: NumPy's `x : int` under dashes, ending at
    /// two blank lines; Google's and NumPy's parameter sections only.
    Strict,
    /// Also what many write: `x: int`, a section that runs on past blank lines to the
    /// next title, titles underlined with `=`, and keyword-argument sections (`Keyword
    /// Args:`, `Other Parameters`).
    Generous,
}

/// [`documented_parameters`], each with the convention that marks it.
fn parameter_entries(language: Language, doc: &str, reading: Reading) -> Vec<(String, ParamConvention)> {
    let lines: Vec<&str> = doc.lines().map(|line| prose(language, line)).collect();
    let mut names = Vec::new();
    let mut section: Option<Section> = None;
    for (index, line) in lines.iter().enumerate() {
        let text = line.trim();
        let indent = line.len() - line.trim_start().len();
        let underlined = lines.get(index + 1).is_some_and(|next| is_underline(next, reading));
        // A line indented below a Google-style title is its entry or an entry's text.
        let in_google = matches!(section, Some(Section::Google { indent: at, .. }) if text.is_empty() || indent > at);
        if let Some(current) = &section {
            let ends = match current {
                Section::Google { .. } => !in_google,
                Section::Markdown { indent: at } => !text.is_empty() && indent <= *at && !text.starts_with(['*', '-', '+']),
                Section::NumPy { .. } if reading == Reading::Strict => underlined || (text.is_empty() && lines.get(index + 1).is_some_and(|next| next.trim().is_empty())),
                // The next title ends it, not blank lines, which may part entries.
                Section::NumPy { indent: at } => underlined || (!text.is_empty() && indent < *at),
                Section::Swift { indent: at } => !text.is_empty() && indent <= *at,
            };
            if ends || (!in_google && heading(text, reading).is_some()) {
                section = None;
            }
        }
        if let (false, Some(kind)) = (in_google, heading(text, reading)) {
            section = match kind {
                Heading::Google if !underlined => Some(Section::Google { indent, entries: None }),
                Heading::NumPy if underlined => Some(Section::NumPy { indent }),
                Heading::Markdown => Some(Section::Markdown { indent }),
                Heading::Swift => Some(Section::Swift { indent }),
                _ => None,
            };
            continue;
        }
        match &mut section {
            // Entries are at the first entry's indent; deeper lines continue one.
            Some(Section::Google { entries, .. }) => {
                if !text.is_empty() && *entries.get_or_insert(indent) == indent {
                    names.extend(google_entry(text).map(|name| (name, ParamConvention::Google)));
                }
            }
            Some(Section::NumPy { indent: at }) if indent == *at && !is_underline(line, reading) => names.extend(numpy_entry(text, reading).into_iter().map(|name| (name, ParamConvention::NumPy))),
            Some(Section::Markdown { .. }) => names.extend(markdown_entry(text).map(|name| (name, ParamConvention::Markdown))),
            Some(Section::Swift { .. }) => names.extend(text.strip_prefix("- ").and_then(|entry| entry.split_once(':')).map(|(name, _)| (name.trim().to_string(), ParamConvention::Swift))),
            _ => {}
        }
        names.extend(tagged(language, text));
    }
    names
        .into_iter()
        // A `$` marks PHP's names, `$object` among them: no type is written so.
        .map(|(name, convention)| (name.trim_start_matches(['*', '&']).starts_with('$'), name.trim_start_matches(['*', '$', '&']).to_string(), convention))
        .filter(|(variable, name, _)| is_name(language, name) && (*variable || !BUILTIN_TYPES.contains(&name.as_str())))
        .map(|(_, name, convention)| (name, convention))
        .collect()
}

/// Type names a doc may put where a name goes (`:param with_packages bool:`), which no
/// function names a parameter.
const BUILTIN_TYPES: &[&str] = &["bool", "int", "float", "str", "bytes", "dict", "list", "tuple", "set", "object", "string", "number", "boolean", "void"];

/// A section of a doc whose entries name parameters.
enum Section {
    /// `Args:`, its entries indented below it (at `entries`): `x (int): ...`.
    Google { indent: usize, entries: Option<usize> },
    /// `Parameters` over a line of dashes, its entries at its indent: `x, y : float`.
    NumPy { indent: usize },
    /// `# Arguments`, a list: `` * `x` - ... ``.
    Markdown { indent: usize },
    /// `- Parameters:`, a list below it: `- x: ...`.
    Swift { indent: usize },
}

enum Heading {
    Google,
    NumPy,
    Markdown,
    Swift,
    /// Any other Markdown heading or NumPy/Google section title: ends a section.
    Other,
}

/// What kind of section `text` (a trimmed line) opens, if it is a heading.
fn heading(text: &str, reading: Reading) -> Option<Heading> {
    // Keyword arguments are parameters the signature names too (a function that takes
    // `**kwargs` is not judged).
    const PARAMETERS: &[&str] = &["Args", "Arguments", "Parameters", "Params"];
    const GENEROUSLY: &[&str] = &["Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments", "Other Parameters"];
    let parameters = if reading == Reading::Strict { PARAMETERS } else { GENEROUSLY };
    if let Some(title) = text.strip_prefix('#') {
        let title = title.trim_start_matches('#').trim();
        return Some(if parameters.contains(&title) { Heading::Markdown } else { Heading::Other });
    }
    if text == "- Parameters:" {
        return Some(Heading::Swift);
    }
    if let Some(title) = text.strip_suffix(':') {
        if parameters.contains(&title) {
            return Some(Heading::Google);
        }
        // Google's other sections: `Returns:`, `Raises:`, `Example:`.
        let word = title.split_whitespace().count() <= 2 && title.starts_with(|c: char| c.is_ascii_uppercase()) && title.chars().all(|c| c.is_alphabetic() || c == ' ');
        return word.then_some(Heading::Other);
    }
    parameters.contains(&text).then_some(Heading::NumPy)
}

/// Whether `line` is a NumPy section title's underline: dashes, or, read generously, the
/// `=` that reStructuredText allows as well (SymPy writes `Examples` over `========`).
fn is_underline(line: &str, reading: Reading) -> bool {
    let line = line.trim();
    line.len() >= 3 && (line.bytes().all(|b| b == b'-') || (reading == Reading::Generous && line.bytes().all(|b| b == b'=')))
}

/// A Google-style entry's name: `x (int): text`, `*args: text`.
fn google_entry(text: &str) -> Option<String> {
    let (head, _) = text.split_once(':')?;
    let name = head.split_once('(').map_or(head, |(name, _)| name).trim();
    (!name.contains(' ')).then(|| name.to_string())
}

/// A NumPy-style entry's names: `x : int`, `x, y : float`, `x`, and, read generously,
/// `x: int` as many write it.
fn numpy_entry(text: &str, reading: Reading) -> Vec<String> {
    let head = match reading {
        Reading::Strict => text.split_once(" :").map_or(text, |(head, _)| head).trim_end_matches(':'),
        Reading::Generous => text.split_once(':').map_or(text, |(head, _)| head).trim(),
    };
    let names: Vec<&str> = head.split(',').map(str::trim).collect();
    if names.iter().all(|name| is_name(Language::Python, name.trim_start_matches('*'))) { names.into_iter().map(str::to_string).collect() } else { Vec::new() }
}

/// A Markdown list entry's name: `` * `x` - text ``, `` - `x::Int`: text ``, `` * `x: u32` ``.
fn markdown_entry(text: &str) -> Option<String> {
    let item = text.strip_prefix(['*', '-', '+'])?.trim_start();
    let quoted = item.strip_prefix('`')?;
    let name = &quoted[..quoted.find(['`', ':', ' '])?];
    Some(name.to_string())
}

/// The names a tagged line documents: `@param x`, `@param {T} [x=1]`, `@param T $x`,
/// `@param[in] x`, `\param x`, `:param T x:`, `<param name="x">`, `.PARAMETER x`,
/// `- Parameter x:`, `@param a,b` (roxygen), `@param [String] x` (YARD), `@tparam
/// string x` and `@param[opt] x` (LDoc). Type parameters (`@tparam` elsewhere, `<T>`)
/// and keyword arguments (`:keyword x:`) are not the function's parameters.
fn tagged(language: Language, text: &str) -> Vec<(String, ParamConvention)> {
    let mut names = Vec::new();
    if let Some(start) = text.find("<param name=\"") {
        let rest = &text[start + "<param name=\"".len()..];
        names.extend(rest.split_once('"').map(|(name, _)| (name.to_string(), ParamConvention::Tag("<param name=\"…\">"))));
        return names;
    }
    if let Some(rest) = text.strip_prefix("- Parameter ") {
        names.extend(rest.split_once(':').map(|(name, _)| (name.trim().to_string(), ParamConvention::Swift)));
        return names;
    }
    if let Some(rest) = text.strip_prefix(".PARAMETER ").or_else(|| text.strip_prefix(".Parameter ")) {
        names.extend(rest.split_whitespace().next().map(|name| (name.to_string(), ParamConvention::Tag(".PARAMETER"))));
        return names;
    }
    for sphinx in [":param ", ":parameter ", ":arg ", ":argument ", ":type "] {
        if let Some(rest) = text.strip_prefix(sphinx) {
            // `:param int x:` names x, the last word before the colon.
            names.extend(rest.split_once(':').and_then(|(head, _)| head.split_whitespace().last()).map(|name| (name.to_string(), ParamConvention::Sphinx)));
            return names;
        }
    }
    // LDoc's `@tparam` is its `@param` with the type first.
    if let Some(rest) = text.strip_prefix("@tparam ").filter(|_| language == Language::Lua) {
        names.extend(rest.split_whitespace().nth(1).map(|name| (name.to_string(), ParamConvention::Tag("@param"))));
        return names;
    }
    let Some((tag, rest)) = ["@param", "\\param", "@arg ", "@argument "].iter().find_map(|tag| Some((tag.trim_end(), text.strip_prefix(tag)?))) else {
        return names;
    };
    // `@param[in]`, `\param [in,out]`: a direction, where JSDoc's `[x=1]` is a name;
    // LDoc's modifiers, `@param[opt]`, `@param[type=string]`.
    let modifiers = || rest.strip_prefix('[').filter(|_| language == Language::Lua).and_then(|rest| Some(rest.split_once(']')?.1));
    let rest = after_direction(rest).or_else(modifiers).unwrap_or(rest);
    if !rest.starts_with(char::is_whitespace) {
        return names;
    }
    let rest = rest.trim_start();
    let mut rest = after_direction(rest).map_or(rest, str::trim_start);
    // JSDoc's `{type}`, which may hold braces of its own.
    if rest.starts_with('{') {
        let mut depth = 0;
        let end = rest.char_indices().find(|&(_, c)| {
            depth += match c { '{' => 1, '}' => -1, _ => 0 };
            depth == 0
        });
        rest = end.map_or("", |(at, _)| rest[at + 1..].trim_start());
    }
    let mut tokens = rest.split_whitespace();
    let token = match language {
        // PHPDoc: `@param Type $x`; a `@param` whose name is not a variable is read no further.
        Language::Php => tokens.find(|token| token.trim_start_matches(['&', '.']).starts_with('$')),
        // YARD's types are in brackets, before the name or after it.
        Language::Ruby => tokens.find(|token| !token.starts_with('[')),
        _ => tokens.next(),
    };
    let Some(token) = token else { return names };
    // JSDoc's optional `[x=1]` and a property `x.y` of parameter x; roxygen's `a,b`
    // (R's names may hold dots).
    let ends: &[char] = if language == Language::R { &['=', ']'] } else { &['=', ']', '.'] };
    let token = token.trim_start_matches(['[', '&']).trim_start_matches("...").split(ends).next().unwrap_or("");
    names.extend(token.split(',').filter(|name| !name.is_empty()).map(|name| (name.to_string(), ParamConvention::Tag(tag))));
    names
}

/// What follows a Doxygen parameter's direction (`[in]`, `[in,out]`) at the start of `text`.
fn after_direction(text: &str) -> Option<&str> {
    let (direction, rest) = text.strip_prefix('[')?.split_once(']')?;
    direction.split(',').all(|d| ["in", "out", "inout"].contains(&d.trim())).then_some(rest)
}

/// A doc's line without its comment marker: `///`, `#'`, a block comment's opening,
/// closing and leading `*`, a docstring's quotes.
fn prose(language: Language, line: &str) -> &str {
    let mut text = line.trim_end();
    for closing in ["*/", "\"\"\"", "'''", "#>", "-}", "]]"] {
        text = text.strip_suffix(closing).unwrap_or(text).trim_end();
    }
    let trimmed = text.trim_start();
    for quotes in ["\"\"\"", "'''", "r\"\"\"", "r'''", "u\"\"\""] {
        if let Some(rest) = trimmed.strip_prefix(quotes) {
            return rest;
        }
    }
    // A docstring's lines have no marker; a `#` there opens a Markdown heading.
    let Some((markers, blocks)) = comments(language).filter(|_| !matches!(language, Language::Python | Language::Julia)) else { return text };
    // The longest opening that fits: `/**` before `/*`, `///` before `//`.
    let openings = blocks.iter().map(|(open, _)| *open).chain(markers.iter().copied());
    let marker = openings.filter(|open| trimmed.starts_with(open)).max_by_key(|open| open.len());
    match marker {
        Some(marker) => {
            let rest = &trimmed[marker.len()..];
            // Doc comments repeat their marker's last character: `///`, `//!`, `/**`, `#'`, `-- |`.
            let rest = rest.strip_prefix(['/', '!', '*', '\'', '-']).unwrap_or(rest);
            let rest = rest.strip_prefix(" |").or_else(|| rest.strip_prefix('|')).unwrap_or(rest);
            rest.strip_prefix(' ').unwrap_or(rest)
        }
        // A block comment's inner line: ` * text`.
        None => match trimmed.strip_prefix('*') {
            Some(rest) if !rest.starts_with('*') => rest.strip_prefix(' ').unwrap_or(rest),
            _ => text,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Language::*;

    fn params(language: Language, doc: &str) -> Vec<String> {
        documented_parameters(language, doc, Reading::Strict)
    }

    #[test]
    fn each_conventions_parameters_are_read_and_nothing_else() {
        let javadoc = "/**\n * Sums the range.\n * @param from the first index, see {@link #param}\n * @param <T> the element type\n * @param to the end\n * @return the sum\n */";
        assert_eq!(params(Java, javadoc), ["from", "to"]);
        let jsdoc = "/**\n * @param {Object.<string, {a: number}>} opts - options\n * @param {string} opts.name\n * @param {number} [count=1]\n * @param {...number} rest\n */";
        assert_eq!(params(JavaScript, jsdoc), ["opts", "opts", "count", "rest"]);
        assert_eq!(params(Php, "/**\n * @param string|null $name The name.\n * @param array &$out\n * @param int ...$more\n * @param object $object\n */"), ["name", "out", "more", "object"]);
        assert_eq!(params(Cpp, "/// Copies.\n/// @param[in] src source\n/// @param[out] dst target\n/// \\param n count\n/// \\param [in, out] buf data\n/// @tparam T element"), ["src", "dst", "n", "buf"]);
        assert_eq!(params(Ruby, "# Greets.\n# @param name [String] who\n# @param [Integer] times how often\n# @return [String]"), ["name", "times"]);
        assert_eq!(params(R, "#' Adds.\n#' @param a,b Numbers.\n#' @param na.rm Drop NAs?\n#' @return A number."), ["a", "b", "na.rm"]);
        assert_eq!(params(Lua, "--- Draws.\n-- @tparam number x across\n-- @param[opt] y down\n-- @param[type=string] label text"), ["x", "y", "label"]);
        assert_eq!(params(Python, "\"\"\"Loads.\n\n:param path: the file\n:param int retries: how often\n:type path: str\n:keyword timeout: seconds\n:returns: the data\n:param fast bool: name and type swapped\n\"\"\""), ["path", "retries", "path"]);
        let google = "\"\"\"Fetches rows.\n\n    Args:\n        table (str): The table.\n            Spans lines: really.\n        *keys: Keys.\n\n    Keyword Args:\n        limit: At most.\n\n    Returns:\n        rows: the rows.\n    \"\"\"";
        assert_eq!(params(Python, google), ["table", "keys"]);
        let numpy = "\"\"\"Fits.\n\nParameters\n----------\nx, y : array_like\n    The points.\n    See x : note.\ndeg : int\n\n\nw: array_like, optional\nfull\n\nOther Parameters\n----------------\nrcond : float\n\nReturns\n-------\np : ndarray\n\"\"\"";
        assert_eq!(params(Python, numpy), ["x", "y", "deg"]);
        let rust = "/// Adds.\n///\n/// # Arguments\n///\n/// * `a` - the first\n/// * `b: u32` - the second\n///   and more\n///\n/// # Examples\n///\n/// * `c` - not a parameter";
        assert_eq!(params(Rust, rust), ["a", "b"]);
        assert_eq!(params(Julia, "\"\"\"\n    f(x)\n\n# Arguments\n- `x::Int`: a number\n\"\"\""), ["x"]);
        assert_eq!(params(CSharp, "/// <summary>Adds.</summary>\n/// <param name=\"a\">First.</param>"), ["a"]);
        assert_eq!(params(Swift, "/// Adds.\n/// - Parameter a: First.\n/// - Parameters:\n///   - b: Second.\n/// - Returns: Sum."), ["a", "b"]);
        assert_eq!(params(PowerShell, "<#\n.SYNOPSIS\nAdds.\n.PARAMETER Sku\nThe SKU.\n#>"), ["Sku"]);
        // Prose that mentions parameters names none.
        assert!(params(Python, "\"\"\"Takes a path param and returns: the data.\"\"\"").is_empty());
        assert!(params(Go, "// Param x is the input.\n// Parameters: none").is_empty());
    }

    #[test]
    fn a_generous_reading_also_takes_the_layouts_many_write() {
        let generously = |doc: &str| documented_parameters(Python, doc, Reading::Generous);
        let google = "\"\"\"Fetches rows.\n\n    Args:\n        table (str): The table.\n\n    Keyword Args:\n        limit: At most.\n\n    Returns:\n        rows: the rows.\n    \"\"\"";
        assert_eq!(generously(google), ["table", "limit"]);
        let numpy = "\"\"\"Fits.\n\nParameters\n----------\nx, y : array_like\n    The points.\n    See x : note.\ndeg : int\n\n\nw: array_like, optional\nfull\n\nOther Parameters\n----------------\nrcond : float\n\nReturns\n-------\np : ndarray\n\"\"\"";
        assert_eq!(generously(numpy), ["x", "y", "deg", "w", "full", "rcond"]);
        let sympy = "\"\"\"Hinges.\n\nParameters\n==========\n\nloc : Sympifyable\n\nReturns\n=======\n\nSymbol\n    The unknown.\n\nExamples\n========\n\"\"\"";
        assert_eq!(generously(sympy), ["loc"]);
        assert!(params(Python, sympy).is_empty(), "strictly, `=` underlines no section");
        // What a generous reading takes for a name is never held against a doc: a
        // `TODO:` below the entries is no parameter the code lacks.
        let todo = "\"\"\"Solves.\n\nParameters\n----------\nM : Matrix\n\n\nTODO: sparse matrices.\n\"\"\"";
        assert_eq!(stale_doc(Python, todo, "def solve(M):", "def solve(M):\n    pass", Some(&["M".to_string()])), None);
    }

    #[test]
    fn a_doc_naming_a_parameter_the_code_lacks_is_stale() {
        let doc = "/**\n * @param name who\n * @param greeting what to say\n */";
        let old = "function greet(name, greeting) { return greeting + name; }";
        assert_eq!(stale_doc(JavaScript, doc, "function greet(name, greeting) ", old, None), None);
        let new = "function greet(person) { return 'hi ' + person; }";
        assert_eq!(stale_doc(JavaScript, doc, "function greet(person) ", new, None).as_deref(), Some("its doc names parameters its code does not have: `name`, `greeting`"));
        let py = "\"\"\"Loads.\n\nArgs:\n    path: the file.\n\"\"\"";
        assert_eq!(stale_doc(Python, py, "def load(source):", "def load(source):\n    return open(source)", None).as_deref(), Some("its doc names parameters its code does not have: `path`"));
        // The signature decides, its annotations and defaults too; a word of the body does not.
        assert_eq!(stale_doc(Python, py, "def load(self, p: path.Path):", "def load(self, p: path.Path):\n    return open(p)", None), None);
        assert!(stale_doc(Python, py, "def load(self):", "def load(self):\n    return open(os.path.join(self.root))", None).is_some());
        let help = "<#\n.PARAMETER Sku\nThe SKU.\n#>";
        assert_eq!(stale_doc(PowerShell, help, "function Get-Stock ", "function Get-Stock {\n    param([string] $Sku)\n}", None), None);
    }

    #[test]
    fn a_doc_that_documents_parameters_but_leaves_out_one_the_code_has_is_stale() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let google = "\"\"\"Loads.\n\nArgs:\n    path: the file.\n\"\"\"";
        let signature = "def load(path, timeout=5):";
        let code = "def load(path, timeout=5):\n    return open(path)";
        assert_eq!(stale_doc(Python, google, signature, code, Some(&names(&["path", "timeout"]))).as_deref(), Some("its doc does not name parameters its code has: `timeout`"));
        assert_eq!(stale_doc(Python, google, signature, code, Some(&names(&["path"]))), None);
        // Unknown parameters: only the names the doc gives are checked.
        assert_eq!(stale_doc(Python, google, signature, code, None), None);
        // A doc in prose documents no parameter, and is held to none.
        let prose = "\"\"\"Loads the file at path, waiting up to timeout seconds.\"\"\"";
        assert_eq!(stale_doc(Python, prose, signature, code, Some(&names(&["path", "timeout"]))), None);
        // A renamed parameter: the old name is gone and the new one missing.
        let jsdoc = "/**\n * Greets.\n * @param {string} name who\n */";
        assert_eq!(
            stale_doc(JavaScript, jsdoc, "function greet(person) ", "function greet(person) { return person; }", Some(&names(&["person"]))).as_deref(),
            Some("its doc names parameters its code does not have: `name`; its doc does not name parameters its code has: `person`")
        );
        let php = "/**\n * @param string $name\n */";
        assert_eq!(undocumented_parameters(Php, php, &names(&["name", "greeting"])), ["greeting"]);
        let rust = "/// Adds.\n///\n/// # Arguments\n///\n/// * `a` - the first";
        assert_eq!(undocumented_parameters(Rust, rust, &names(&["a", "b"])), ["b"]);
        // PowerShell's names are the same in any case.
        let help = "<#\n.PARAMETER sku\nThe SKU.\n#>";
        let code = "function Get-Stock {\n    param([string] $Sku, [int] $Count)\n}";
        assert_eq!(stale_doc(PowerShell, help, "function Get-Stock ", code, Some(&names(&["Sku", "Count"]))).as_deref(), Some("its doc does not name parameters its code has: `Count`"));
        // R's names hold dots; a roxygen doc may take parameters from another's.
        let roxygen = "#' Means.\n#' @param x Numbers.\n#' @param na.rm Drop NAs?";
        assert_eq!(stale_doc(R, roxygen, "mean2 <- function(x, na.rm = FALSE, trim = 0) ", "", Some(&names(&["x", "na.rm", "trim"]))).as_deref(), Some("its doc does not name parameters its code has: `trim`"));
        assert_eq!(undocumented_parameters(R, &format!("{roxygen}\n#' @inheritParams base::mean"), &names(&["x", "na.rm", "trim"])), Vec::<String>::new());
    }

    #[test]
    fn a_function_that_may_take_unnamed_parameters_keeps_its_doc() {
        let doc = "\"\"\"Plots.\n\n:param color: the color\n\"\"\"";
        assert_eq!(stale_doc(Python, doc, "def plot(x, **kwargs):", "def plot(x, **kwargs):\n    draw(x, **kwargs)", None), None);
        assert_eq!(stale_doc(Python, doc, "def plot(x, *args):", "def plot(x, *args):\n    pass", None), None);
        assert!(stale_doc(Python, doc, "def plot(x, *, size):", "def plot(x, *, size):\n    pass", None).is_some());
        let jsdoc = "/** @param {Object} props */";
        assert_eq!(stale_doc(JavaScript, jsdoc, "function Card({ title }) ", "function Card({ title }) { return title; }", None), None);
        assert_eq!(stale_doc(JavaScript, jsdoc, "function sum() ", "function sum() { return arguments[0]; }", None), None);
        assert_eq!(stale_doc(Java, "/** @param xs values */", "int sum(int... values) ", "int sum(int... values) { return 0; }", None), None);
        // C's pointers are no Python stars.
        assert!(stale_doc(C, "/** @param len the length */", "int f(char *s) ", "int f(char *s) { return 0; }", None).is_some());
    }
}
