//! What counts as a code unit in each tree-sitter grammar.
//!
//! Each supported language maps node kinds to an [`Item`]: a unit kind, a name, and
//! for containers (classes, impls, traits, namespaces) the node holding their members.
//! Everything language-specific lives here so that the splitter stays one algorithm.

use std::ops::Range;

use tree_sitter::Node;

use super::header::only_directives;
use super::language::Language;
use super::unit::UnitKind;

/// The grammar for a language, when hearth splits it with tree-sitter.
pub(crate) fn grammar(language: Language) -> Option<tree_sitter::Language> {
    let grammar = match language {
        Language::Rust => tree_sitter_rust::LANGUAGE,
        Language::Python => tree_sitter_python::LANGUAGE,
        Language::JavaScript => tree_sitter_javascript::LANGUAGE,
        Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT,
        Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX,
        Language::Go => tree_sitter_go::LANGUAGE,
        Language::Java => tree_sitter_java::LANGUAGE,
        Language::C => tree_sitter_c::LANGUAGE,
        Language::Cpp => tree_sitter_cpp::LANGUAGE,
        Language::Cuda => tree_sitter_cuda::LANGUAGE,
        Language::CSharp => tree_sitter_c_sharp::LANGUAGE,
        Language::Kotlin => tree_sitter_kotlin_ng::LANGUAGE,
        Language::Php => tree_sitter_php::LANGUAGE_PHP,
        Language::Ruby => tree_sitter_ruby::LANGUAGE,
        Language::Shell => tree_sitter_bash::LANGUAGE,
        Language::PowerShell => tree_sitter_powershell::LANGUAGE,
        Language::Lua => tree_sitter_lua::LANGUAGE,
        Language::Scala => tree_sitter_scala::LANGUAGE,
        Language::Swift => tree_sitter_swift::LANGUAGE,
        Language::Haskell => tree_sitter_haskell::LANGUAGE,
        Language::Elixir => tree_sitter_elixir::LANGUAGE,
        Language::Zig => tree_sitter_zig::LANGUAGE,
        Language::Dart => tree_sitter_dart::LANGUAGE,
        Language::R => tree_sitter_r::LANGUAGE,
        Language::Julia => tree_sitter_julia::LANGUAGE,
        Language::Fortran => tree_sitter_fortran::LANGUAGE,
        Language::Matlab => tree_sitter_matlab::LANGUAGE,
        Language::Solidity => tree_sitter_solidity::LANGUAGE,
        Language::ObjC => tree_sitter_objc::LANGUAGE,
        Language::Perl => tree_sitter_perl::LANGUAGE,
        Language::Protobuf => tree_sitter_proto::LANGUAGE,
        Language::Hcl => tree_sitter_hcl::LANGUAGE,
        _ => return None,
    };
    Some(grammar.into())
}

/// A definition found in the syntax tree.
pub(crate) struct Item<'t> {
    pub kind: UnitKind,
    pub name: Option<String>,
    /// For containers: the node whose children are the members.
    pub members: Option<Node<'t>>,
    /// For functions: the body's bytes, which an enclosing container's skeleton elides.
    pub body: Option<Range<usize>>,
    /// An owner the item names itself (a Go receiver, the `Foo` of C++ `Foo::bar`).
    pub owner: Option<String>,
}

impl<'t> Item<'t> {
    fn leaf(kind: UnitKind, name: Option<String>) -> Item<'t> {
        Item { kind, name, members: None, body: None, owner: None }
    }

    fn function(kind: UnitKind, name: Option<String>, body: Option<Node<'t>>) -> Item<'t> {
        Item { kind, name, members: None, body: body.map(|b| b.byte_range()), owner: None }
    }

    fn container(kind: UnitKind, name: Option<String>, members: Option<Node<'t>>) -> Item<'t> {
        Item { kind, name, members, body: None, owner: None }
    }
}

/// Nodes whose children are read as if they stood in the node's place: preprocessor
/// conditionals (a C header's include guard wraps the whole file), `extern "C" { }`,
/// Java's enum body declarations, Ruby's `class << self` (its methods are the class's),
/// Haskell's imports and top-level declarations (the grammar hangs the doc comment of
/// the first declaration on the imports), Dart's class members and the body that
/// holds an HCL file's blocks.
pub(crate) fn is_transparent(kind: &str) -> bool {
    matches!(
        kind,
        "preproc_if"
            | "preproc_ifdef"
            | "preproc_else"
            | "preproc_elif"
            | "preproc_elifdef"
            | "linkage_specification"
            | "declaration_list"
            | "enum_body_declarations"
            | "singleton_class"
            | "body_statement"
            | "imports"
            | "declarations"
            | "member_declaration"
            | "implementation_definition"
            | "body"
            | "internal_procedures"
    )
}

/// How a language defines on a condition: the statements, their blocks and clauses,
/// and the definitions they may hold. Python's compatibility shims (`if
/// sys.version_info >= (3, 8): def …`, `try: … except ImportError: def …`), PHP's
/// guarded helpers (`if (! function_exists('app')) { function app() { … } }`, all of
/// Laravel's `helpers.php` and WordPress's pluggable functions).
fn conditional_syntax(language: Language) -> Option<(&'static [&'static str], &'static [&'static str], &'static [&'static str])> {
    match language {
        Language::Python => Some((
            &["if_statement", "try_statement", "with_statement"],
            &["block", "elif_clause", "else_clause", "except_clause", "except_group_clause", "finally_clause"],
            &["function_definition", "class_definition", "decorated_definition"],
        )),
        Language::Php => Some((
            &["if_statement", "try_statement"],
            &["compound_statement", "colon_block", "else_clause", "else_if_clause", "catch_clause", "finally_clause"],
            &["function_definition", "class_declaration", "interface_declaration", "trait_declaration", "enum_declaration"],
        )),
        _ => None,
    }
}

/// Whether `node` is a statement that defines on a condition ([`conditional_syntax`])
/// and holds a definition. Its functions would otherwise be inside a `code` unit (or a
/// file's one unit), which docs leave alone: the statement is a `code` skeleton
/// instead, its definitions units of their own.
pub(crate) fn defines_conditionally(language: Language, node: Node<'_>) -> bool {
    conditional_syntax(language).is_some_and(|(statements, _, _)| statements.contains(&node.kind())) && holds_definition(language, node)
}

/// Whether `node` is a block or clause of a statement that [`defines_conditionally`],
/// holding a definition: read as if its statements stood in its place.
pub(crate) fn is_conditional_block(language: Language, node: Node<'_>) -> bool {
    conditional_syntax(language).is_some_and(|(_, blocks, _)| blocks.contains(&node.kind())) && holds_definition(language, node)
}

/// Whether a statement, block or clause holds a definition, through the blocks and
/// clauses of the statements in it (not inside a definition).
fn holds_definition(language: Language, node: Node<'_>) -> bool {
    let Some((statements, blocks, definitions)) = conditional_syntax(language) else { return false };
    let mut cursor = node.walk();
    let found = node.named_children(&mut cursor).any(|child| {
        let kind = child.kind();
        definitions.contains(&kind) || ((statements.contains(&kind) || blocks.contains(&kind)) && holds_definition(language, child))
    });
    found
}

/// Comments and attributes directly above an item belong to it (doc comments,
/// `#[derive]`, C++ `[[nodiscard]]`, Dart's `@override`, Haskell's `{-# INLINE #-}`,
/// Elixir's `@doc` and `@spec`); not Rust's inner docs (`//!`, `/*!`), which are the
/// enclosing module's.
pub(crate) fn is_annotation(language: Language, node: Node<'_>, src: &str) -> bool {
    if language == Language::Rust && is_rust_inner_doc(node, src) {
        return false;
    }
    is_comment(node.kind())
        || is_doc(language, node, src)
        || matches!(node.kind(), "attribute_item" | "attribute_declaration" | "annotation" | "pragma")
        || elixir_attribute(node, src).is_some_and(|name| FUNCTION_ATTRIBUTES.contains(&name))
        || c_attribute_macros(language, node, src)
}

/// C's attribute macros on lines of their own above a function (zstd's `MEM_STATIC` and
/// `FORCE_INLINE_TEMPLATE`, `static INLINE_KEYWORD UNUSED_ATTR`), which the grammar
/// reads as a declaration missing its `;`: the function's, as `[[nodiscard]]` would be,
/// so the doc above them is its doc. In C++ such a declaration may hold the return type
/// too (libstdc++'s `_GLIBCXX20_CONSTEXPR\nconst_iterator\ncbegin() const`), the
/// function below it then read without one.
fn c_attribute_macros(language: Language, node: Node<'_>, src: &str) -> bool {
    let text = &src[node.byte_range()];
    if !matches!(language, Language::C | Language::Cpp | Language::Cuda | Language::ObjC) || !matches!(node.kind(), "declaration" | "field_declaration") || text.ends_with(';') {
        return false;
    }
    let mut words = text.trim_start();
    while let Some((_, rest)) = words.strip_prefix("[[").and_then(|attribute| attribute.split_once("]]")) {
        words = rest.trim_start();
    }
    let words: Vec<&str> = words.split_whitespace().collect();
    let macro_like = |word: &str| ["static", "inline", "extern"].contains(&word) || word.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let typeless_function_below = || node.next_named_sibling().is_some_and(|next| next.kind() == "function_definition" && next.child_by_field_name("type").is_none());
    !words.is_empty()
        && words.iter().all(|word| word.chars().all(|c| c.is_alphanumeric() || c == '_'))
        && (words.iter().all(|word| macro_like(word)) || typeless_function_below())
}

/// The Elixir module attributes written above the `def` they are about; the others
/// (`@moduledoc`, `@behaviour`, constants such as `@timeout 5_000`) are the module's.
const FUNCTION_ATTRIBUTES: [&str; 5] = ["doc", "spec", "impl", "deprecated", "since"];

/// Whether an annotation documents what follows it: a comment (not one that only
/// instructs tools), Elixir's `@doc`, or a Julia docstring (a string just above a
/// definition, `raw"""…"""` too).
pub(crate) fn is_doc(language: Language, node: Node<'_>, src: &str) -> bool {
    (is_comment(node.kind()) && !only_directives(&src[node.byte_range()]))
        || elixir_attribute(node, src).is_some_and(|name| name == "doc")
        || (language == Language::Julia && (matches!(node.kind(), "string_literal" | "prefixed_string_literal") || julia_doc_macro(node, src) == Some(false)))
}

/// For an Elixir module (or protocol, or implementation), its doc: the `@moduledoc`
/// inside its body, not an annotation above it; `Some(None)` when it has none. `None`
/// for anything else.
pub(crate) fn moduledoc(language: Language, node: Node<'_>, src: &str) -> Option<Option<Range<usize>>> {
    let (keyword, _) = elixir_definition(node, src).filter(|_| language == Language::Elixir)?;
    if !matches!(keyword, "defmodule" | "defprotocol" | "defimpl") {
        return None;
    }
    let Some(body) = child_of_kind(node, &["do_block"]) else { return Some(None) };
    let mut cursor = body.walk();
    let doc = body.named_children(&mut cursor).find(|n| elixir_attribute(*n, src) == Some("moduledoc"));
    Some(doc.map(|n| n.byte_range()))
}

/// The name of an Elixir module attribute (`@doc "…"` → `doc`).
fn elixir_attribute<'s>(node: Node<'_>, src: &'s str) -> Option<&'s str> {
    if node.kind() != "unary_operator" || node.child(0)?.kind() != "@" {
        return None;
    }
    let operand = node.child_by_field_name("operand")?;
    let name = if operand.kind() == "call" { operand.child_by_field_name("target")? } else { operand };
    Some(&src[name.byte_range()])
}

/// Whether a node is only a comment (a gap of nothing but comments is not a unit).
pub(crate) fn is_comment(kind: &str) -> bool {
    matches!(
        kind,
        "comment" | "comments" | "line_comment" | "block_comment" | "multiline_comment" | "haddock" | "documentation_comment" | "marginalia" | "pod_statement"
    )
}

/// Whether `node` is a Rust inner doc comment (`//!`, `/*!`): its enclosing file's or
/// module's doc.
fn is_rust_inner_doc(node: Node<'_>, src: &str) -> bool {
    is_comment(node.kind()) && ["//!", "/*!"].iter().any(|marker| src[node.byte_range()].starts_with(marker))
}

/// Whether a doc may stand apart from what it documents, a blank line between: Perl's
/// POD (`=head2 add`, its text, `=cut`, a blank line, `sub add`), and Rust's outer doc
/// comments (`///`, `/**`), which rustdoc gives the next item wherever it is.
pub(crate) fn stands_apart(language: Language, node: Node<'_>, src: &str) -> bool {
    let text = &src[node.byte_range()];
    node.kind() == "pod_statement" || (language == Language::Rust && (text.starts_with("///") && !text.starts_with("////") || text.starts_with("/**") && !text.starts_with("/**/")))
}

/// Whether `next` is another clause of the definition `first` begins, so that both are
/// one unit: a Haskell function's equations after its type signature (`push :: …`, then
/// `push x q = …`), an Elixir function's clauses (`def count([])`, `def count([_ | t])`),
/// a TypeScript or Python function's overloads and then its implementation.
pub(crate) fn continues(language: Language, first: Node<'_>, next: Node<'_>, src: &str) -> bool {
    match language {
        // `@overload` stubs (typing's), then the implementation, which holds the docstring.
        Language::Python => {
            fn function(node: Node<'_>) -> Option<Node<'_>> {
                match node.kind() {
                    "decorated_definition" => node.child_by_field_name("definition").filter(|d| d.kind() == "function_definition"),
                    "function_definition" => Some(node),
                    _ => None,
                }
            }
            let overload = first.kind() == "decorated_definition" && {
                let mut cursor = first.walk();
                let is_overload = first.children(&mut cursor).any(|d| {
                    d.kind() == "decorator" && matches!(src[d.byte_range()].trim_start_matches('@').trim(), "overload" | "typing.overload" | "t.overload" | "typing_extensions.overload")
                });
                is_overload
            };
            let name = |n: Node<'_>| function(n).and_then(|f| field_text(f, "name", src));
            overload && name(first).is_some_and(|first| name(next).as_ref() == Some(&first))
        }
        Language::Haskell => {
            let name = |n: Node<'_>| field_text(n, "name", src);
            matches!(first.kind(), "signature" | "function" | "bind")
                && matches!(next.kind(), "function" | "bind")
                && name(first).is_some_and(|first| name(next).as_ref() == Some(&first))
        }
        Language::Elixir => {
            let (Some((keyword, name)), Some(next)) = (elixir_definition(first, src), elixir_definition(next, src)) else { return false };
            FUNCTION_KEYWORDS.contains(&keyword) && (keyword, name) == next
        }
        // A function's or method's overloads: its signatures, then its implementation or another signature.
        Language::TypeScript | Language::Tsx => {
            let (first, next) = (declared(first), declared(next));
            let name = |n: Node<'_>| field_text(n, "name", src);
            let overloads = match first.kind() {
                "function_signature" => ["function_signature", "function_declaration"],
                "method_signature" => ["method_signature", "method_definition"],
                _ => return false,
            };
            overloads.contains(&next.kind()) && name(first).is_some_and(|first| name(next).as_ref() == Some(&first))
        }
        _ => false,
    }
}

/// What a TypeScript statement declares, past `export` and `declare`.
fn declared(node: Node<'_>) -> Node<'_> {
    let inner = match node.kind() {
        "export_statement" => node.child_by_field_name("declaration"),
        "ambient_declaration" => node.named_child(0),
        _ => None,
    };
    inner.map_or(node, declared)
}

/// How Elixir defines functions and macros.
const FUNCTION_KEYWORDS: [&str; 9] = ["def", "defp", "defmacro", "defmacrop", "defguard", "defguardp", "defdelegate", "defn", "defnp"];

/// An Elixir definition's keyword and name: `def add(a, b) do` → (`def`, `add`), `defmodule
/// Shop.Cart do` → (`defmodule`, `Shop.Cart`). Everything in Elixir is a call; these
/// are the calls whose target is a `def…` keyword.
fn elixir_definition<'s>(node: Node<'_>, src: &'s str) -> Option<(&'s str, Option<String>)> {
    if node.kind() != "call" {
        return None;
    }
    let keyword = &src[node.child_by_field_name("target")?.byte_range()];
    if !keyword.starts_with("def") {
        return None;
    }
    let mut head = child_of_kind(node, &["arguments"]).and_then(|a| a.named_child(0));
    // `def name(args) when guard`
    if let Some(guarded) = head.filter(|h| h.kind() == "binary_operator") {
        head = guarded.child_by_field_name("left");
    }
    let name = head.map(|head| match head.kind() {
        "call" => head.child_by_field_name("target").map_or(head, |target| target),
        _ => head,
    });
    Some((keyword, name.map(|n| clean_name(&src[n.byte_range()]))))
}

/// Whether a node carries nothing to document: a comment, PHP's `<?php` / `?>` with
/// no markup between them (a file's closing `?>` alone is not a unit), or the `BEGIN`
/// and `COMMIT` around a migration's statements.
pub(crate) fn is_trivia(node: Node<'_>) -> bool {
    match node.kind() {
        "php_tag" | "php_end_tag" | "keyword_begin" | "keyword_commit" => true,
        "text_interpolation" => {
            let mut cursor = node.walk();
            let bare = node.named_children(&mut cursor).all(is_trivia);
            bare
        }
        kind => is_comment(kind),
    }
}

/// Separator for qualified parents, in the language's own notation.
pub(crate) fn path_separator(language: Language) -> &'static str {
    match language {
        Language::Rust | Language::Cpp | Language::Cuda | Language::Ruby | Language::Perl => "::",
        Language::Php => "\\",
        _ => ".",
    }
}

/// The namespace a statement opens for the rest of its file: C#'s file-scoped
/// `namespace Shop.Orders;`, PHP's `namespace App\Shop;`, Perl's `package Shop::Cart;`,
/// the usual forms, name the same parent as the block forms `namespace X { }` do; so
/// does a protocol buffer's `package shop.v1;`.
pub(crate) fn namespace_statement(language: Language, node: Node<'_>, src: &str) -> Option<String> {
    match (language, node.kind()) {
        (Language::CSharp, "file_scoped_namespace_declaration") => field_text(node, "name", src),
        (Language::Php, "namespace_definition") if node.child_by_field_name("body").is_none() => field_text(node, "name", src),
        (Language::Perl, "package_statement") if node.child_by_field_name("body").is_none() => kind_text(node, &["package_name"], src),
        (Language::Protobuf, "package") => kind_text(node, &["full_ident"], src),
        _ => None,
    }
}

/// Whether a package is named in full wherever it is written: Perl's `package
/// Shop::Order { }` after `package Shop;` is `Shop::Order`, not `Shop::Shop::Order`.
pub(crate) fn names_packages_in_full(language: Language) -> bool {
    language == Language::Perl
}

/// Classifies `node`; `in_container` turns functions into methods.
pub(crate) fn classify<'t>(
    language: Language,
    node: Node<'t>,
    src: &str,
    in_container: bool,
) -> Option<Item<'t>> {
    let function_kind = if in_container { UnitKind::Method } else { UnitKind::Function };
    let name = || field_text(node, "name", src);
    let body = node.child_by_field_name("body");
    match language {
        Language::Rust => match node.kind() {
            "function_item" => Some(Item::function(function_kind, name(), body)),
            "struct_item" | "union_item" => Some(Item::leaf(UnitKind::Struct, name())),
            "enum_item" => Some(Item::leaf(UnitKind::Enum, name())),
            "type_item" => Some(Item::leaf(UnitKind::Type, name())),
            "macro_definition" => Some(Item::leaf(UnitKind::Macro, name())),
            "trait_item" => Some(Item::container(UnitKind::Trait, name(), body)),
            "impl_item" => Some(Item::container(UnitKind::Impl, field_text(node, "type", src), body)),
            "mod_item" if body.is_some() => Some(Item::container(UnitKind::Module, name(), body)),
            _ => None,
        },
        Language::Python => match node.kind() {
            _ if defines_conditionally(language, node) => Some(Item::container(UnitKind::Code, None, Some(node))),
            "function_definition" => Some(Item::function(function_kind, name(), body)),
            "class_definition" => Some(Item::container(UnitKind::Class, name(), body)),
            "decorated_definition" => {
                classify(language, node.child_by_field_name("definition")?, src, in_container)
            }
            _ => None,
        },
        Language::JavaScript | Language::TypeScript | Language::Tsx => match node.kind() {
            "function_declaration" | "generator_function_declaration" => {
                Some(Item::function(function_kind, name(), body))
            }
            // A class's method, or a function of an object of functions (`{ parse(text) { … } }`).
            "method_definition" => Some(Item::function(function_kind, property_name(node, "name", src), body)),
            // A Vue component's option written `total: function () { … }` or with an
            // arrow, or a computed property's `{ get() { … }, set(v) { … } }`; or a
            // function of an object of functions.
            "pair" => {
                let value = node.child_by_field_name("value")?;
                let body = match value.kind() {
                    kind if is_function_value(kind) => value.child_by_field_name("body"),
                    "object" if is_accessor_pair(value, src) => Some(value),
                    "object" if is_inner_namespace(value, src) => return Some(Item::container(UnitKind::Module, property_name(node, "key", src), Some(value))),
                    _ => return None,
                };
                Some(Item::function(function_kind, property_name(node, "key", src), body))
            }
            "class_declaration" | "abstract_class_declaration" | "class" => {
                Some(Item::container(UnitKind::Class, name(), body))
            }
            "interface_declaration" => Some(Item::container(UnitKind::Interface, name(), body)),
            "enum_declaration" => Some(Item::leaf(UnitKind::Enum, name())),
            "type_alias_declaration" => Some(Item::leaf(UnitKind::Type, name())),
            // `declare module 'shop' { … }` names the module it declares by a string.
            "internal_module" | "module" => Some(Item::container(UnitKind::Module, property_name(node, "name", src), body)),
            // A declaration file's `declare function open(): Cart;`; in code, an overload's
            // signature, one unit with the others and the implementation (`continues`).
            "function_signature" => Some(Item::leaf(function_kind, name())),
            // An interface's or abstract class's method, documented where it is declared
            // (as Java's are); in a class, an overload's signature, one unit with the others.
            "method_signature" | "abstract_method_signature" => Some(Item::leaf(UnitKind::Method, property_name(node, "name", src))),
            // What a declaration file declares: `declare module 'shop' { … }`, `declare
            // class …`, `declare function …`, and `declare global { … }`.
            "ambient_declaration" => {
                let inner = node.named_child(0)?;
                match inner.kind() {
                    "statement_block" => Some(Item::container(UnitKind::Module, Some("global".into()), Some(inner))),
                    _ => classify(language, inner, src, in_container),
                }
            }
            "export_statement" => {
                if let Some(declaration) = node.child_by_field_name("declaration") {
                    return classify(language, declaration, src, in_container);
                }
                // `export default { async fetch(request) { … } }` (a Cloudflare Worker, a
                // Vue component or Vuex module kept in a `.js` file): the module's default
                // export, named as importers reach it.
                let value = node.child_by_field_name("value")?;
                match object_of_functions(value, src) {
                    Some(object) => Some(Item::container(UnitKind::Module, Some("default".into()), Some(object))),
                    None => classify(language, value, src, in_container),
                }
            }
            // `namespace Foo {}` parses as an expression statement around the module;
            // CommonJS and JavaScript written before classes define by assignment.
            "expression_statement" => {
                let inner = node.named_child(0)?;
                match inner.kind() {
                    "internal_module" => classify(language, inner, src, in_container),
                    "assignment_expression" if !in_container => assigned_definition(inner, src),
                    _ if !in_container => defining_callback(language, inner, src).map(|body| Item::container(UnitKind::Code, None, Some(body))),
                    _ => None,
                }
            }
            // A script's top-level block (`'use strict'; { … }`, as Django's admin scripts
            // scope theirs) that defines functions: a `code` skeleton, as an IIFE is.
            "statement_block" if !in_container && block_defines(language, node, src) => Some(Item::container(UnitKind::Code, None, Some(node))),
            // `const handler = async (req) => { … }` is how much JavaScript defines functions.
            "lexical_declaration" | "variable_declaration" => {
                let mut cursor = node.walk();
                let declarators: Vec<_> =
                    node.named_children(&mut cursor).filter(|n| n.kind() == "variable_declarator").collect();
                let [declarator] = declarators.as_slice() else { return None };
                let value = declarator.child_by_field_name("value")?;
                let declared = field_text(*declarator, "name", src);
                match value.kind() {
                    kind if is_function_value(kind) => Some(Item::function(function_kind, declared, value.child_by_field_name("body"))),
                    "class" => Some(Item::container(UnitKind::Class, declared, value.child_by_field_name("body"))),
                    // `const Button = React.forwardRef((props, ref) => { … })`: a component;
                    // `const api = { get(url) { … }, … }`, `const useCart = defineStore('cart',
                    // { actions: { … } })`: a namespace of functions.
                    _ => match wrapped_component(value, src) {
                        Some(function) => Some(Item::function(function_kind, declared, function.child_by_field_name("body"))),
                        None => object_of_functions(value, src).map(|object| Item::container(UnitKind::Module, declared, Some(object))),
                    },
                }
            }
            _ => None,
        },
        Language::Go => match node.kind() {
            "function_declaration" => Some(Item::function(UnitKind::Function, name(), body)),
            "method_declaration" => {
                let mut item = Item::function(UnitKind::Method, name(), body);
                item.owner = node.child_by_field_name("receiver").and_then(|r| go_receiver_type(r, src));
                Some(item)
            }
            "type_declaration" => {
                let spec = node.named_child(0)?;
                let kind = match spec.child_by_field_name("type").map(|t| t.kind()) {
                    Some("struct_type") => UnitKind::Struct,
                    Some("interface_type") => UnitKind::Interface,
                    _ => UnitKind::Type,
                };
                Some(Item::leaf(kind, field_text(spec, "name", src)))
            }
            _ => None,
        },
        Language::Java => match node.kind() {
            "class_declaration" | "record_declaration" => Some(Item::container(UnitKind::Class, name(), body)),
            "interface_declaration" | "annotation_type_declaration" => {
                Some(Item::container(UnitKind::Interface, name(), body))
            }
            "enum_declaration" => Some(Item::container(UnitKind::Enum, name(), body)),
            "method_declaration" | "constructor_declaration" | "compact_constructor_declaration" => {
                Some(Item::function(UnitKind::Method, name(), body))
            }
            _ => None,
        },
        // CUDA's grammar is C++'s with its qualifiers (`__global__`) and launches.
        Language::C | Language::Cpp | Language::Cuda => match node.kind() {
            "function_definition" => {
                let declarator = node.child_by_field_name("declarator")?;
                let (owner, name) = c_function_name(declarator, src);
                let kind = if in_container || owner.is_some() { UnitKind::Method } else { UnitKind::Function };
                let mut item = Item::function(kind, name, body);
                item.owner = owner;
                Some(item)
            }
            // A prototype (`int add(int a, int b);`, a member function declared in its
            // class, `virtual void draw() = 0;`): what a header documents, as Java's
            // interfaces and Objective-C's @interface are documented where declared. A
            // macro's call in a class (`Q_PROPERTY(int x READ x)`) reads as one with no
            // type, or runs into the declaration before it, which then lacks its `;`; an
            // export macro before the type (`ZSTDLIB_API size_t ZSTD_compress(…);`) is an
            // error inside a prototype, which stays one.
            "declaration" | "field_declaration" if node.child_by_field_name("type").is_some() && src[node.byte_range()].ends_with(';') => {
                let function = c_prototype(node)?;
                let (owner, name) = c_function_name(function.child_by_field_name("declarator")?, src);
                let kind = if in_container || owner.is_some() { UnitKind::Method } else { UnitKind::Function };
                Some(Item { owner, ..Item::leaf(kind, Some(name?)) })
            }
            "class_specifier" if body.is_some() => Some(Item::container(UnitKind::Class, name(), body)),
            "struct_specifier" | "union_specifier" if body.is_some() => {
                if language != Language::C {
                    Some(Item::container(UnitKind::Struct, name(), body))
                } else {
                    Some(Item::leaf(UnitKind::Struct, name()))
                }
            }
            "enum_specifier" if body.is_some() => Some(Item::leaf(UnitKind::Enum, name())),
            // Named by the name it declares: `stock_cb` of `typedef int (*stock_cb)(int);`.
            "type_definition" => Some(Item::leaf(UnitKind::Type, c_function_name(node.child_by_field_name("declarator")?, src).1)),
            "namespace_definition" => Some(Item::container(UnitKind::Module, name(), body)),
            "template_declaration" => {
                let mut cursor = node.walk();
                let inner = node.named_children(&mut cursor).filter(|n| n.kind() != "template_parameter_list").last()?;
                classify(language, inner, src, in_container)
            }
            _ => None,
        },
        Language::CSharp => match node.kind() {
            "namespace_declaration" => Some(Item::container(UnitKind::Module, name(), body)),
            "class_declaration" | "record_declaration" => Some(Item::container(UnitKind::Class, name(), body)),
            "struct_declaration" => Some(Item::container(UnitKind::Struct, name(), body)),
            "interface_declaration" => Some(Item::container(UnitKind::Interface, name(), body)),
            "enum_declaration" => Some(Item::leaf(UnitKind::Enum, name())),
            "delegate_declaration" => Some(Item::leaf(UnitKind::Type, name())),
            "method_declaration"
            | "constructor_declaration"
            | "destructor_declaration"
            | "operator_declaration"
            | "conversion_operator_declaration" => Some(Item::function(UnitKind::Method, name(), elidable(body))),
            _ => None,
        },
        Language::Kotlin => {
            let class_body = || child_of_kind(node, &["class_body", "enum_class_body"]);
            match node.kind() {
                "class_declaration" => {
                    let kind = if child_of_kind(node, &["interface"]).is_some() {
                        UnitKind::Interface
                    } else if node.child(0).is_some_and(|m| m.kind() == "modifiers" && src[m.byte_range()].split_whitespace().any(|w| w == "enum")) {
                        UnitKind::Enum
                    } else {
                        UnitKind::Class
                    };
                    Some(Item::container(kind, name(), class_body()))
                }
                "object_declaration" => Some(Item::container(UnitKind::Class, name(), class_body())),
                // An unnamed companion is named `Companion`, as Kotlin itself names it.
                "companion_object" => {
                    Some(Item::container(UnitKind::Class, name().or_else(|| Some("Companion".into())), class_body()))
                }
                "function_declaration" => {
                    let body = elidable(child_of_kind(node, &["function_body"]));
                    // `fun List<T>.second()` extends its receiver type, as a Go method does.
                    let receiver = node
                        .child_by_field_name("name")
                        .and_then(|n| n.prev_sibling())
                        .filter(|dot| dot.kind() == ".")
                        .and_then(|dot| dot.prev_named_sibling());
                    match receiver {
                        Some(receiver) => {
                            let mut item = Item::function(UnitKind::Method, name(), body);
                            let text = &src[receiver.byte_range()];
                            item.owner = Some(clean_name(text.split('<').next().unwrap_or(text)));
                            Some(item)
                        }
                        None => Some(Item::function(function_kind, name(), body)),
                    }
                }
                "secondary_constructor" => {
                    Some(Item::function(UnitKind::Method, Some("constructor".into()), child_of_kind(node, &["block"])))
                }
                "type_alias" => Some(Item::leaf(UnitKind::Type, field_text(node, "type", src))),
                _ => None,
            }
        }
        Language::Php => match node.kind() {
            _ if defines_conditionally(language, node) => Some(Item::container(UnitKind::Code, None, Some(node))),
            "namespace_definition" if body.is_some() => Some(Item::container(UnitKind::Module, name(), body)),
            "class_declaration" => Some(Item::container(UnitKind::Class, name(), body)),
            "interface_declaration" => Some(Item::container(UnitKind::Interface, name(), body)),
            "trait_declaration" => Some(Item::container(UnitKind::Trait, name(), body)),
            "enum_declaration" => Some(Item::container(UnitKind::Enum, name(), body)),
            "function_definition" => Some(Item::function(UnitKind::Function, name(), body)),
            "method_declaration" => Some(Item::function(UnitKind::Method, name(), body)),
            _ => None,
        },
        Language::Ruby => match node.kind() {
            "module" => Some(Item::container(UnitKind::Module, name(), body)),
            "class" => Some(Item::container(UnitKind::Class, name(), body)),
            "method" => Some(Item::function(function_kind, name(), body)),
            "singleton_method" => Some(Item::function(UnitKind::Method, name(), body)),
            _ => None,
        },
        Language::Swift => match node.kind() {
            // One node for every nominal type; its keyword says which.
            "class_declaration" => {
                let keyword = child_of_kind(node, &["class", "struct", "enum", "extension", "actor"]).map(|k| k.kind());
                let kind = match keyword {
                    Some("struct") => UnitKind::Struct,
                    Some("enum") => UnitKind::Enum,
                    Some("extension") => UnitKind::Impl,
                    _ => UnitKind::Class,
                };
                Some(Item::container(kind, name(), body))
            }
            "protocol_declaration" => Some(Item::container(UnitKind::Interface, name(), body)),
            "function_declaration" => Some(Item::function(function_kind, name(), body)),
            "protocol_function_declaration" => Some(Item::leaf(UnitKind::Method, name())),
            "init_declaration" => Some(Item::function(UnitKind::Method, Some("init".into()), body)),
            "deinit_declaration" => Some(Item::function(UnitKind::Method, Some("deinit".into()), body)),
            "typealias_declaration" => Some(Item::leaf(UnitKind::Type, name())),
            _ => None,
        },
        Language::Scala => match node.kind() {
            "class_definition" | "object_definition" => Some(Item::container(UnitKind::Class, name(), body)),
            "trait_definition" => Some(Item::container(UnitKind::Trait, name(), body)),
            "enum_definition" => Some(Item::container(UnitKind::Enum, name(), body)),
            "function_definition" | "function_declaration" => Some(Item::function(function_kind, name(), body)),
            "type_definition" => Some(Item::leaf(UnitKind::Type, name())),
            _ => None,
        },
        Language::Shell => match node.kind() {
            "function_definition" => Some(Item::function(UnitKind::Function, name(), body)),
            _ => None,
        },
        Language::Haskell => match node.kind() {
            // A signature begins the unit its equations continue; see `continues`.
            // (`a, b :: Int` and pattern bindings such as `(a, b) = …` name no one thing.)
            "signature" | "function" | "bind" if node.child_by_field_name("name").is_some() => {
                Some(Item::function(function_kind, name(), node.child_by_field_name("match")))
            }
            "data_type" | "newtype" | "type_synomym" | "type_family" | "data_family" => Some(Item::leaf(UnitKind::Type, name())),
            "class" => Some(Item::container(UnitKind::Trait, name(), node.child_by_field_name("declarations"))),
            // `instance Show a => Show (Queue a)` is named `Show (Queue a)`.
            "instance" => {
                let class = node.child_by_field_name("name")?;
                let end = node.child_by_field_name("patterns").map_or(class.end_byte(), |p| p.end_byte());
                Some(Item::container(UnitKind::Impl, Some(clean_name(&src[class.start_byte()..end])), node.child_by_field_name("declarations")))
            }
            _ => None,
        },
        Language::Elixir => {
            let (keyword, declared) = elixir_definition(node, src)?;
            let do_block = child_of_kind(node, &["do_block"]);
            match keyword {
                "defmodule" => Some(Item::container(UnitKind::Module, declared, do_block)),
                "defprotocol" => Some(Item::container(UnitKind::Interface, declared, do_block)),
                // Elixir names an implementation's module `Protocol.Type`.
                "defimpl" => {
                    let target = child_of_kind(child_of_kind(node, &["arguments"])?, &["keywords"]).and_then(|keywords| {
                        let mut cursor = keywords.walk();
                        let pair = keywords.named_children(&mut cursor).find(|pair| field_text(*pair, "key", src).as_deref() == Some("for:"));
                        pair.and_then(|pair| field_text(pair, "value", src))
                    });
                    let name = match (declared, target) {
                        (Some(protocol), Some(target)) => Some(format!("{protocol}.{target}")),
                        (declared, _) => declared,
                    };
                    Some(Item::container(UnitKind::Impl, name, do_block))
                }
                "defstruct" | "defexception" => Some(Item::leaf(UnitKind::Struct, None)),
                keyword if FUNCTION_KEYWORDS.contains(&keyword) => {
                    // `def hi, do: :hi` keeps its body in a keyword list.
                    let body = do_block.or_else(|| child_of_kind(child_of_kind(node, &["arguments"])?, &["keywords"]));
                    Some(Item::function(function_kind, declared, body))
                }
                _ => None,
            }
        }
        Language::Zig => match node.kind() {
            "function_declaration" => Some(Item::function(function_kind, name(), body)),
            // `const Point = struct { … };`: a type is a value bound to a name.
            "variable_declaration" => {
                let mut cursor = node.walk();
                let mut children = node.named_children(&mut cursor);
                let declared = children.find(|n| n.kind() == "identifier").map(|n| clean_name(&src[n.byte_range()]));
                let value = children.next()?;
                match value.kind() {
                    "struct_declaration" | "union_declaration" | "opaque_declaration" => Some(Item::container(UnitKind::Struct, declared, Some(value))),
                    "enum_declaration" => Some(Item::container(UnitKind::Enum, declared, Some(value))),
                    _ => None,
                }
            }
            _ => None,
        },
        Language::Dart => match node.kind() {
            "class_declaration" | "mixin_declaration" => Some(Item::container(UnitKind::Class, name(), body)),
            "extension_declaration" => Some(Item::container(UnitKind::Impl, name(), body)),
            "enum_declaration" => Some(Item::leaf(UnitKind::Enum, name())),
            "type_alias" => Some(Item::leaf(UnitKind::Type, kind_text(node, &["type_identifier"], src))),
            "function_declaration" => {
                Some(Item::function(function_kind, node.child_by_field_name("signature").and_then(|s| field_text(s, "name", src)), elidable(body)))
            }
            "method_declaration" => {
                let signature = node.child_by_field_name("signature")?;
                Some(Item::function(UnitKind::Method, dart_member_name(signature.named_child(0).unwrap_or(signature), src), elidable(body)))
            }
            // Constructors without a body (`const Counter({this.value});`, `Counter.zero() : …;`).
            "declaration" => {
                let signature = child_of_kind(node, &["constructor_signature", "constant_constructor_signature", "factory_constructor_signature", "redirecting_factory_constructor_signature"])?;
                Some(Item::leaf(UnitKind::Method, dart_member_name(signature, src)))
            }
            _ => None,
        },
        // Each definition opens with a statement that names it (`subroutine grow(self,
        // by)`, `type :: circle`) and closes with an `end` one.
        Language::Fortran => {
            let named = fortran_name(node, src);
            match node.kind() {
                "module" | "submodule" | "program" => Some(Item::container(UnitKind::Module, named, Some(node))),
                "function" | "subroutine" | "module_procedure" => Some(Item { body: fortran_body(node), ..Item::leaf(function_kind, named) }),
                "derived_type_definition" => Some(Item::leaf(UnitKind::Struct, named)),
                "interface" => Some(Item::leaf(UnitKind::Interface, named)),
                "enum" => Some(Item::leaf(UnitKind::Enum, named)),
                _ => None,
            }
        }
        Language::PowerShell => {
            let named = kind_text(node, &["function_name", "simple_name"], src);
            let body = child_of_kind(node, &["script_block"]);
            match node.kind() {
                // `function`, `filter` and `workflow` alike.
                "function_statement" => Some(Item::function(function_kind, named, body)),
                "class_method_definition" => Some(Item::function(UnitKind::Method, named, body)),
                "class_statement" => Some(Item::container(UnitKind::Class, named, Some(node))),
                "enum_statement" => Some(Item::leaf(UnitKind::Enum, named)),
                _ => None,
            }
        }
        // A contract is a class of methods; a library's functions stay functions.
        Language::Solidity => match node.kind() {
            "contract_declaration" => Some(Item::container(UnitKind::Class, name(), body)),
            "interface_declaration" => Some(Item::container(UnitKind::Interface, name(), body)),
            "library_declaration" => Some(Item::container(UnitKind::Module, name(), body)),
            "function_definition" | "modifier_definition" => Some(Item::function(function_kind, name(), body)),
            // `constructor(…)`, `receive() external payable`, `fallback()`: named by their keyword.
            "constructor_definition" | "fallback_receive_definition" => {
                let keyword = node.child(0).map(|k| src[k.byte_range()].to_string());
                Some(Item::function(function_kind, keyword, body))
            }
            "struct_declaration" => Some(Item::leaf(UnitKind::Struct, name())),
            "enum_declaration" => Some(Item::leaf(UnitKind::Enum, name())),
            "event_definition" | "error_declaration" => Some(Item::leaf(UnitKind::Type, name())),
            _ => None,
        },
        Language::Matlab => match node.kind() {
            // A function with nested functions (a GUI's callbacks, sharing its workspace)
            // is their container, as a class is its methods'.
            "function_definition" => {
                let body = child_of_kind(node, &["block"]);
                let nests = body.is_some_and(|block| child_of_kind(block, &["function_definition"]).is_some());
                let named = matlab_function_name(node, src);
                Some(if nests { Item::container(function_kind, named, body) } else { Item::function(function_kind, named, body) })
            }
            "class_definition" => Some(Item::container(UnitKind::Class, name(), Some(node))),
            _ => None,
        },
        Language::Julia => match node.kind() {
            "module_definition" => Some(Item::container(UnitKind::Module, name(), Some(node))),
            "function_definition" => Some(Item { body: julia_body(node), ..Item::leaf(function_kind, julia_signature_name(node, src)) }),
            "macro_definition" => Some(Item { body: julia_body(node), ..Item::leaf(UnitKind::Macro, julia_signature_name(node, src)) }),
            "struct_definition" => Some(Item::leaf(UnitKind::Struct, julia_type_name(node, src))),
            "abstract_definition" | "primitive_definition" => Some(Item::leaf(UnitKind::Type, julia_type_name(node, src))),
            // `area(c::Circle) = pi * c.r^2`: a function in one line.
            "assignment" => {
                let target = node.named_child(0)?;
                let name = julia_call_name(target, src)?;
                let value = node.named_children(&mut node.walk()).last()?;
                Some(Item::function(function_kind, Some(name), Some(value)))
            }
            // `@inline function f(…)`, `Base.@kwdef struct Opts`: the macro's definition.
            // `@doc "…" area(r) = …` too: its definition follows the docstring.
            "macrocall_expression" => {
                let arguments = child_of_kind(node, &["macro_argument_list"])?;
                let mut cursor = arguments.walk();
                let definition = arguments.named_children(&mut cursor).find_map(|argument| classify(language, argument, src, in_container));
                definition
            }
            _ => None,
        },
        Language::R => match node.kind() {
            // `add <- function(a, b) { … }`, and `=`, `<<-`; `Counter <- R6Class("Counter",
            // public = list(…))`, a class whose members are its lists' functions.
            "binary_operator" => {
                let value = node.child_by_field_name("rhs")?;
                let operator = node.child_by_field_name("operator").map(|o| &src[o.byte_range()]);
                if !matches!(operator, Some("<-" | "=" | "<<-")) {
                    return None;
                }
                let declared = field_text(node, "lhs", src).map(|name| name.trim_matches(['"', '\'', '`']).to_string());
                match value.kind() {
                    "function_definition" => Some(Item::function(UnitKind::Function, declared, value.child_by_field_name("body"))),
                    "call" if r_calls(value, "R6Class", src) => Some(Item::container(UnitKind::Class, declared, value.child_by_field_name("arguments"))),
                    // `Person <- setClass("Person", …)` keeps the class's generator.
                    "call" => r_s4(value, src),
                    _ => None,
                }
            }
            "call" => r_s4(node, src),
            // A method in an R6 class's `public = list(add = function(n) { … })`.
            "argument" => {
                let function = node.child_by_field_name("value").filter(|value| value.kind() == "function_definition")?;
                Some(Item::function(UnitKind::Method, field_text(node, "name", src), function.child_by_field_name("body")))
            }
            _ => None,
        },
        // The Objective-C grammar extends C's: what is not Objective-C's own is C.
        Language::ObjC => match node.kind() {
            // A class's members are the interface's or implementation's own children.
            "class_interface" => Some(Item::container(UnitKind::Class, objc_class_name(node, src), Some(node))),
            "class_implementation" => Some(Item::container(UnitKind::Impl, objc_class_name(node, src), Some(node))),
            "protocol_declaration" => Some(Item::container(UnitKind::Interface, objc_class_name(node, src), Some(node))),
            "method_declaration" => Some(Item::leaf(UnitKind::Method, objc_selector(node, src))),
            "method_definition" => Some(Item::function(UnitKind::Method, objc_selector(node, src), child_of_kind(node, &["compound_statement"]))),
            _ => classify(Language::C, node, src, in_container),
        },
        Language::Perl => match node.kind() {
            // `sub name;` only declares it.
            "function_definition" if body.is_some() => Some(Item::function(UnitKind::Function, name(), body)),
            "package_statement" if body.is_some() => Some(Item::container(UnitKind::Module, kind_text(node, &["package_name"], src), body)),
            _ => None,
        },
        Language::Protobuf => {
            let declared = |kind| kind_text(node, &[kind], src);
            match node.kind() {
                // A message's nested messages and enums are its members.
                "message" => Some(Item::container(UnitKind::Struct, declared("message_name"), child_of_kind(node, &["message_body"]))),
                "enum" => Some(Item::leaf(UnitKind::Enum, declared("enum_name"))),
                "service" => Some(Item::container(UnitKind::Interface, declared("service_name"), Some(node))),
                "rpc" => Some(Item::leaf(UnitKind::Method, declared("rpc_name"))),
                _ => None,
            }
        }
        // `resource "aws_s3_bucket" "logs" { … }` is named as Terraform addresses it,
        // `aws_s3_bucket.logs`; `variable "region"` is `var.region`, `module "vpc"`
        // `module.vpc`. A block without labels (`terraform`, `locals`) is settings.
        Language::Hcl if node.kind() == "block" => {
            let mut cursor = node.walk();
            let words: Vec<String> = node
                .named_children(&mut cursor)
                .take_while(|n| matches!(n.kind(), "identifier" | "string_lit"))
                .map(|n| clean_name(src[n.byte_range()].trim_matches('"')))
                .collect();
            let (block_type, labels) = words.split_first()?;
            if labels.is_empty() {
                return None;
            }
            let prefix = match block_type.as_str() {
                "resource" => None,
                "variable" => Some("var"),
                other => Some(other),
            };
            let address = prefix.into_iter().chain(labels.iter().map(String::as_str)).collect::<Vec<_>>().join(".");
            Some(Item::leaf(UnitKind::Block, Some(address)))
        }
        Language::Lua => match node.kind() {
            // `function M.scroll()` is the module's, `function M:draw()` the object's method.
            "function_declaration" => {
                let declared = node.child_by_field_name("name")?;
                let (kind, member) = match declared.kind() {
                    "method_index_expression" => (UnitKind::Method, "method"),
                    "dot_index_expression" => (UnitKind::Function, "field"),
                    _ => return Some(Item::function(UnitKind::Function, name(), body)),
                };
                let mut item = Item::function(kind, field_text(declared, member, src), body);
                item.owner = field_text(declared, "table", src);
                Some(item)
            }
            _ => None,
        },
        _ => None,
    }
}

/// What a skeleton elides of a function body that may be an expression (`=> x`, `= x`):
/// the expression, keeping the `=>` or `=` that says the body is one.
fn elidable(body: Option<Node<'_>>) -> Option<Node<'_>> {
    let body = body?;
    match body.kind() {
        "arrow_expression_clause" | "function_body" => body.named_child(0).or(Some(body)),
        _ => Some(body),
    }
}

/// The first child of `node` (a node or a keyword) of one of `kinds`, where the grammar
/// names no field for it.
pub(crate) fn child_of_kind<'t>(node: Node<'t>, kinds: &[&str]) -> Option<Node<'t>> {
    let mut cursor = node.walk();
    let found = node.children(&mut cursor).find(|c| kinds.contains(&c.kind()));
    found
}

fn field_text(node: Node<'_>, field: &str, src: &str) -> Option<String> {
    node.child_by_field_name(field).map(|n| clean_name(&src[n.byte_range()]))
}

/// [`field_text`] for a child the grammar names no field for: the first of `kinds`.
fn kind_text(node: Node<'_>, kinds: &[&str], src: &str) -> Option<String> {
    child_of_kind(node, kinds).map(|n| clean_name(&src[n.byte_range()]))
}

/// A JavaScript property's name, without the quotes of one written as a string
/// (`'$route.query'(to) { … }`, a Vue watcher).
fn property_name(node: Node<'_>, field: &str, src: &str) -> Option<String> {
    let name = node.child_by_field_name(field)?;
    let text = &src[name.byte_range()];
    Some(clean_name(if name.kind() == "string" { &text[1..text.len() - 1] } else { text }))
}

/// Whether a JavaScript value of this kind is a function.
fn is_function_value(kind: &str) -> bool {
    matches!(kind, "function_expression" | "arrow_function" | "function" | "generator_function")
}

/// Whether a JavaScript object defines a function: `{ parse(text) { … } }`, `{ parse:
/// (text) => … }`, or holds a namespace that does.
fn defines_functions(object: Node<'_>, src: &str) -> bool {
    let mut cursor = object.walk();
    let found = object.named_children(&mut cursor).any(|member| match member.kind() {
        "method_definition" => true,
        "pair" => member.child_by_field_name("value").is_some_and(|value| is_function_value(value.kind()) || is_inner_namespace(value, src)),
        _ => false,
    });
    found
}

/// Whether an object's property holds a namespace of functions (`handlers: { onSave() {
/// … } }`, a Vuex store's `actions: { … }`); an object on one line (`A: { label:
/// 'array', check: isArray }`) is a value.
fn is_inner_namespace(value: Node<'_>, src: &str) -> bool {
    value.kind() == "object" && src[value.byte_range()].contains('\n') && defines_functions(value, src)
}

/// The object of functions a JavaScript value is, or is built from: the options a call
/// or `new` is given (`defineStore('cart', { actions: { … } })`, `new Vuex.Store({ … })`,
/// `Backbone.View.extend({ render() { … } })`), past TypeScript's `as` and `satisfies`.
fn object_of_functions<'t>(value: Node<'t>, src: &str) -> Option<Node<'t>> {
    match value.kind() {
        "object" => defines_functions(value, src).then_some(value),
        "call_expression" | "new_expression" => {
            let arguments = value.child_by_field_name("arguments")?;
            let mut cursor = arguments.walk();
            let object = arguments.named_children(&mut cursor).find(|argument| argument.kind() == "object" && defines_functions(*argument, src));
            object
        }
        "as_expression" | "satisfies_expression" | "parenthesized_expression" => object_of_functions(value.named_child(0)?, src),
        _ => None,
    }
}

/// The body of the function a top-level call runs, when it defines functions or
/// classes: an IIFE (`(function () { … })()`, `!function () { … }()`), a UMD module's
/// factory, jQuery's `$(function () { … })`, a `DOMContentLoaded` handler, a test
/// suite's `describe(…, () => { … })`. A browser script defines its functions there,
/// which would otherwise be inside a `code` unit; the call is a `code` skeleton instead.
fn defining_callback<'t>(language: Language, expression: Node<'t>, src: &str) -> Option<Node<'t>> {
    let call = match expression.kind() {
        "parenthesized_expression" | "unary_expression" => return defining_callback(language, expression.named_child(u32::try_from(expression.named_child_count().checked_sub(1)?).ok()?)?, src),
        "call_expression" => expression,
        _ => return None,
    };
    let callee = call.child_by_field_name("function").map(|callee| if callee.kind() == "parenthesized_expression" { callee.named_child(0).unwrap_or(callee) } else { callee });
    let mut cursor = call.walk();
    let arguments = call.child_by_field_name("arguments").map(|a| a.named_children(&mut cursor).collect::<Vec<_>>()).unwrap_or_default();
    callee.into_iter().chain(arguments).filter(|f| is_function_value(f.kind())).find_map(|function| {
        function.child_by_field_name("body").filter(|body| body.kind() == "statement_block" && block_defines(language, *body, src))
    })
}

/// Whether a JavaScript block's statements define a function or class.
fn block_defines(language: Language, block: Node<'_>, src: &str) -> bool {
    let mut cursor = block.walk();
    let defines = block.named_children(&mut cursor).any(|statement| classify(language, statement, src, false).is_some());
    defines
}

/// The function a React component wrapper holds, as component libraries define their
/// components: `forwardRef((props, ref) => …)` (every shadcn/ui component),
/// `React.memo(function Card(…) { … })`, MobX's `observer(…)`, one inside another
/// (`memo(forwardRef(…))`); `None` for any other value.
fn wrapped_component<'t>(call: Node<'t>, src: &str) -> Option<Node<'t>> {
    const WRAPPERS: [&str; 3] = ["forwardRef", "memo", "observer"];
    let callee = &src[call.child_by_field_name("function")?.byte_range()];
    if !WRAPPERS.contains(&callee.rsplit('.').next()?) {
        return None;
    }
    let argument = call.child_by_field_name("arguments")?.named_child(0)?;
    match argument.kind() {
        kind if is_function_value(kind) => Some(argument),
        "call_expression" => wrapped_component(argument, src),
        _ => None,
    }
}

/// A definition JavaScript writes as an assignment at the top of a script: CommonJS's
/// exports (`exports.parse = function (text) { … }`, `module.exports = { … }`), and
/// methods set on a constructor's prototype as code before ES2015 classes did
/// (`Parser.prototype.parse = function …`, `Parser.prototype = { … }`). A function set
/// on another object (`Parser.create = …`) is a function whose parent is that object.
fn assigned_definition<'t>(assignment: Node<'t>, src: &str) -> Option<Item<'t>> {
    let target = assignment.child_by_field_name("left").filter(|left| left.kind() == "member_expression")?;
    let value = assignment.child_by_field_name("right")?;
    let path = clean_name(&src[target.byte_range()]);
    let (object, property) = path.rsplit_once('.')?;
    let exports = path == "module.exports";
    // What the definition is set on, as its parent: none for the module's exports or the global object.
    let owner = object.strip_suffix(".prototype").unwrap_or(object);
    let owner = (!matches!(owner, "exports" | "module" | "module.exports" | "window" | "global" | "globalThis" | "self")).then(|| owner.to_string());
    let mut item = match value.kind() {
        kind if is_function_value(kind) => {
            let name = if exports { field_text(value, "name", src).or(Some(path.clone())) } else { Some(property.to_string()) };
            let kind = if object.ends_with(".prototype") { UnitKind::Method } else { UnitKind::Function };
            Item::function(kind, name, value.child_by_field_name("body"))
        }
        "class" => {
            let name = field_text(value, "name", src).or_else(|| Some(if exports { path.clone() } else { property.to_string() }));
            Item::container(UnitKind::Class, name, value.child_by_field_name("body"))
        }
        // `Parser.prototype = { … }` holds the methods of `Parser`.
        "object" if defines_functions(value, src) && property == "prototype" => return Some(Item::container(UnitKind::Class, Some(object.to_string()), Some(value))),
        _ => Item::container(UnitKind::Module, Some(if exports { path.clone() } else { property.to_string() }), Some(object_of_functions(value, src)?)),
    };
    item.owner = owner;
    Some(item)
}

/// Whether a JavaScript object is a getter and setter: `{ get() { … }, set(value) { … } }`.
fn is_accessor_pair(object: Node<'_>, src: &str) -> bool {
    let mut cursor = object.walk();
    let methods: Vec<Node<'_>> = object.named_children(&mut cursor).filter(|n| n.kind() != "comment").collect();
    !methods.is_empty()
        && methods.iter().all(|m| m.kind() == "method_definition" && m.child_by_field_name("name").is_some_and(|n| matches!(&src[n.byte_range()], "get" | "set")))
}

/// Names go into a column and into prompts: one line, bounded length.
fn clean_name(text: &str) -> String {
    const MAX_NAME_CHARS: usize = 200;
    text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(MAX_NAME_CHARS).collect()
}

/// A Dart member's name from its signature: `build`, a getter's `doubled`, a named
/// constructor's `Counter.zero`.
fn dart_member_name(signature: Node<'_>, src: &str) -> Option<String> {
    let mut cursor = signature.walk();
    let names: Vec<String> =
        signature.children_by_field_name("name", &mut cursor).filter(|n| n.is_named()).map(|n| clean_name(&src[n.byte_range()])).collect();
    (!names.is_empty()).then(|| names.join("."))
}

/// `@interface Counter (Reset)` → `Counter (Reset)`: the class, and its category if any.
fn objc_class_name(node: Node<'_>, src: &str) -> Option<String> {
    let class = kind_text(node, &["identifier"], src)?;
    Some(match field_text(node, "category", src) {
        Some(category) => format!("{class} ({category})"),
        None => class,
    })
}

/// A method's selector as Objective-C names it: `increment`, `setValue:forKey:`.
fn objc_selector(node: Node<'_>, src: &str) -> Option<String> {
    let mut cursor = node.walk();
    let mut selector = String::new();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "identifier" => selector.push_str(&src[child.byte_range()]),
            "method_parameter" => selector.push(':'),
            _ => {}
        }
    }
    (!selector.is_empty()).then(|| clean_name(&selector))
}

/// A Julia function's or macro's name, from its signature: `area`, `Base.show`, and
/// through a return type (`f(x)::Int`) or a `where` clause.
fn julia_signature_name(definition: Node<'_>, src: &str) -> Option<String> {
    let signature = child_of_kind(definition, &["signature"])?.named_child(0)?;
    match signature.kind() {
        "identifier" => Some(clean_name(&src[signature.byte_range()])),
        _ => julia_call_name(signature, src),
    }
}

/// The function a Julia call names, seen through a return type and `where` clauses.
fn julia_call_name(node: Node<'_>, src: &str) -> Option<String> {
    match node.kind() {
        "call_expression" => node.named_child(0).map(|callee| clean_name(&src[callee.byte_range()])),
        "typed_expression" | "where_expression" => julia_call_name(node.named_child(0)?, src),
        _ => None,
    }
}

/// Where a Julia function's statements are, from the first to the last: the grammar
/// gives its body no node of its own.
fn julia_body(definition: Node<'_>) -> Option<Range<usize>> {
    let mut cursor = definition.walk();
    let statements: Vec<Node<'_>> = definition.named_children(&mut cursor).filter(|n| n.kind() != "signature").collect();
    Some(statements.first()?.start_byte()..statements.last()?.end_byte())
}

/// The name a Fortran definition's opening statement gives it.
fn fortran_name(definition: Node<'_>, src: &str) -> Option<String> {
    let opening = definition.named_child(0)?;
    let name = opening.child_by_field_name("name").or_else(|| child_of_kind(opening, &["name", "type_name"]))?;
    Some(clean_name(&src[name.byte_range()]))
}

/// A Fortran procedure's statements: between its opening and `end` statements, which
/// the grammar gives no body node.
fn fortran_body(definition: Node<'_>) -> Option<Range<usize>> {
    let mut cursor = definition.walk();
    let children: Vec<Node<'_>> = definition.named_children(&mut cursor).collect();
    let inner = children.get(1..children.len().checked_sub(1)?)?;
    Some(inner.first()?.start_byte()..inner.last()?.end_byte())
}

/// A doc written inside the definition it documents, for the languages that write it
/// there: Python's docstring and MATLAB's help text open the body (and go there when
/// missing); a Fortran procedure may open with its comment, as FORTRAN 77 wrote it
/// and FORD's `!!` does (a missing one goes above, as Doxygen's `!>`), and a PowerShell
/// function with its comment-based help (a missing one goes above, where Get-Help
/// reads it too).
pub(crate) enum InnerDoc {
    /// It has one, there.
    Written(Range<usize>),
    /// Missing; it would start at byte `at`. `above_counts`: a comment just above the
    /// definition is its doc too (MATLAB's help, as Octave writes it), where in Python
    /// it is not.
    Goes { at: usize, above_counts: bool },
    /// Missing, and there is no body to hold it.
    NoBody,
}

/// `None` where the doc is only ever above the definition.
pub(crate) fn inner_doc(language: Language, definition: Node<'_>, src: &str) -> Option<InnerDoc> {
    let mut cursor = definition.walk();
    match language {
        // `@doc "…" area(r) = …` holds its definition, after the doc.
        Language::Julia => {
            let arguments = child_of_kind(definition, &["macro_argument_list"]).filter(|_| julia_doc_macro(definition, src) == Some(true))?;
            Some(InnerDoc::Written(definition.start_byte()..arguments.named_child(0)?.end_byte()))
        }
        Language::Python => {
            let definition = definition.child_by_field_name("definition").unwrap_or(definition);
            let Some(body) = definition.child_by_field_name("body") else { return Some(InnerDoc::NoBody) };
            let first = body.named_children(&mut cursor).find(|n| !is_comment(n.kind()));
            Some(match first.filter(|n| n.kind() == "expression_statement" && n.named_child(0).is_some_and(|s| s.kind() == "string")) {
                Some(docstring) => InnerDoc::Written(docstring.byte_range()),
                None => InnerDoc::Goes { at: body.start_byte(), above_counts: false },
            })
        }
        // Help text is the comment after `function … = name(…)` or `classdef Name`.
        Language::Matlab => {
            let name = definition.child_by_field_name("name");
            let signature = |n: &Node<'_>| Some(*n) == name || matches!(n.kind(), "function_output" | "function_arguments" | "attributes" | "superclasses");
            let mut inner = definition.named_children(&mut cursor).skip_while(signature).peekable();
            Some(match inner.peek() {
                Some(first) if is_comment(first.kind()) => InnerDoc::Written(comments_from(inner)?),
                Some(first) => InnerDoc::Goes { at: first.start_byte(), above_counts: true },
                None => InnerDoc::NoBody,
            })
        }
        Language::Fortran => {
            let inner = definition.named_children(&mut cursor).skip(1).skip_while(|n| matches!(n.kind(), "use_statement" | "implicit_statement"));
            comments_from(inner).map(InnerDoc::Written)
        }
        // An inline module's `//!` lines at the top of its braces are its doc.
        Language::Rust if definition.kind() == "mod_item" => {
            let body = definition.child_by_field_name("body")?;
            comments_from(body.named_children(&mut cursor).take_while(|n| is_rust_inner_doc(*n, src))).map(InnerDoc::Written)
        }
        // Comment-based help may open the function's braces (or stand above it).
        Language::PowerShell if definition.kind() == "function_statement" => {
            let inner = definition.named_children(&mut cursor).take_while(|n| n.kind() != "script_block").skip_while(|n| !is_comment(n.kind()));
            comments_from(inner).map(InnerDoc::Written)
        }
        _ => None,
    }
}

/// The bytes of the comments `nodes` start with, one after another; `None` when the
/// first is no comment.
fn comments_from<'t>(nodes: impl Iterator<Item = Node<'t>>) -> Option<Range<usize>> {
    let comments: Vec<Node<'t>> = nodes.take_while(|n| is_comment(n.kind())).collect();
    Some(comments.first()?.start_byte()..comments.last()?.end_byte())
}

/// A MATLAB function's name, a property accessor's with its `get.` or `set.`
/// (`get.Radius`), which the grammar leaves out of the name.
fn matlab_function_name(definition: Node<'_>, src: &str) -> Option<String> {
    let name = definition.child_by_field_name("name")?;
    let before = src[..name.start_byte()].trim_end();
    let accessor = ["get.", "set."].into_iter().find(|accessor| before.ends_with(accessor)).unwrap_or("");
    Some(clean_name(&format!("{accessor}{}", &src[name.byte_range()])))
}

/// For Julia's `@doc` macro (`@doc raw"""…"""` above a definition, or `@doc "…" f(x) =
/// …` around one), whether it holds the definition it documents; `None` for any other node.
fn julia_doc_macro(node: Node<'_>, src: &str) -> Option<bool> {
    if node.kind() != "macrocall_expression" {
        return None;
    }
    let name = child_of_kind(node, &["macro_identifier"])?;
    if !matches!(&src[name.byte_range()], "@doc" | "Base.@doc") {
        return None;
    }
    let arguments = child_of_kind(node, &["macro_argument_list"])?;
    Some(arguments.named_child_count() > 1)
}

/// A Julia type's name without its supertype or parameters: `Circle` of `Circle <:
/// Shape`, `Counter` of `Counter{T}`.
fn julia_type_name(definition: Node<'_>, src: &str) -> Option<String> {
    let mut head = child_of_kind(definition, &["type_head"])?.named_child(0)?;
    while head.kind() != "identifier" {
        head = head.named_child(0)?;
    }
    Some(clean_name(&src[head.byte_range()]))
}

/// The S4 (and reference class) definitions of the methods package, named by their
/// string arguments: `setClass("Circle", …)` a class, `setGeneric("area", …)` a
/// function, `setMethod("area", "Circle", function(shape) …)` a method of the class
/// its signature names first, as are `setReplaceMethod("radius", …)` (the method
/// `radius<-`) and `setValidity("Circle", …)` (named `validity`);
/// `setRefClass("Account", methods = list(…))` a class whose methods are its list's.
fn r_s4<'t>(call: Node<'t>, src: &str) -> Option<Item<'t>> {
    let called = ["setClass", "setClassUnion", "setRefClass", "setGeneric", "setMethod", "setReplaceMethod", "setValidity"].into_iter().find(|f| r_calls(call, f, src))?;
    let arguments = call.child_by_field_name("arguments")?;
    let argument = |position: usize, name: &str| r_argument(arguments, position, name, src);
    let string = |position: usize, name: &str| argument(position, name).and_then(|value| r_string(value, src));
    let function_body = |position: usize, name: &str| argument(position, name).filter(|f| f.kind() == "function_definition").and_then(|f| f.child_by_field_name("body"));
    let item = match called {
        "setClass" => Item::leaf(UnitKind::Class, Some(string(0, "Class")?)),
        // `setClassUnion("NumOrChar", c("numeric", "character"))`: a virtual class.
        "setClassUnion" => Item::leaf(UnitKind::Class, Some(string(0, "name")?)),
        "setRefClass" => Item::container(UnitKind::Class, Some(string(0, "Class")?), Some(arguments)),
        "setGeneric" => Item::function(UnitKind::Function, Some(string(0, "name")?), function_body(1, "def")),
        "setValidity" => Item { owner: Some(string(0, "Class")?), ..Item::function(UnitKind::Method, Some("validity".into()), function_body(1, "method")) },
        _ => {
            // The signature: a class, or `signature(object = "Circle")`, `c("Circle", "numeric")`.
            let signature = argument(1, "signature")?;
            let class = r_string(signature, src).or_else(|| {
                let classes = signature.child_by_field_name("arguments")?;
                let first = classes.named_children(&mut classes.walk()).find(|a| a.kind() == "argument")?;
                r_string(first.child_by_field_name("value")?, src)
            });
            // `setReplaceMethod("radius", …)` defines the method `radius<-`.
            let name = string(0, "f")? + if called == "setReplaceMethod" { "<-" } else { "" };
            Item { owner: class, ..Item::function(UnitKind::Method, Some(name), function_body(2, "definition")) }
        }
    };
    Some(item)
}

/// The value of an R call's argument named `name`, else of its `position`-th unnamed
/// one: how R matches arguments to a function's parameters.
fn r_argument<'t>(arguments: Node<'t>, position: usize, name: &str, src: &str) -> Option<Node<'t>> {
    let mut cursor = arguments.walk();
    let given: Vec<Node<'t>> = arguments.named_children(&mut cursor).filter(|a| a.kind() == "argument").collect();
    let named = given.iter().find(|a| a.child_by_field_name("name").is_some_and(|n| &src[n.byte_range()] == name));
    let argument = named.or_else(|| given.iter().filter(|a| a.child_by_field_name("name").is_none()).nth(position))?;
    argument.child_by_field_name("value")
}

/// An R string's text, when `node` is a string.
fn r_string(node: Node<'_>, src: &str) -> Option<String> {
    (node.kind() == "string").then(|| node.child_by_field_name("content").map_or(String::new(), |c| clean_name(&src[c.byte_range()])))
}

/// Whether an R call calls `function`, plainly or through its package (`R6::R6Class`).
fn r_calls(call: Node<'_>, function: &str, src: &str) -> bool {
    let Some(called) = call.child_by_field_name("function") else { return false };
    let called = if called.kind() == "namespace_operator" { called.child_by_field_name("rhs") } else { Some(called) };
    called.is_some_and(|name| &src[name.byte_range()] == function)
}

/// The node whose children stand in for `node` among its siblings: an R6 class's
/// `public = list(…)`, `private = list(…)` and `active = list(…)` hold its members, a
/// reference class's `methods = list(…)` its methods, as a Vue component's `methods: {
/// … }`, `computed` and `watch` options hold its methods.
pub(crate) fn member_list<'t>(language: Language, node: Node<'t>, src: &str) -> Option<Node<'t>> {
    match (language, node.kind()) {
        (Language::R, "argument") => {
            let section = node.child_by_field_name("name")?;
            if !matches!(&src[section.byte_range()], "public" | "private" | "active" | "methods") {
                return None;
            }
            let list = node.child_by_field_name("value").filter(|value| value.kind() == "call" && r_calls(*value, "list", src))?;
            list.child_by_field_name("arguments")
        }
        (Language::JavaScript | Language::TypeScript | Language::Tsx, "pair") => {
            let option = node.child_by_field_name("key")?;
            if !matches!(&src[option.byte_range()], "methods" | "computed" | "watch") {
                return None;
            }
            node.child_by_field_name("value").filter(|value| value.kind() == "object")
        }
        // A classdef's `methods … end` blocks hold its methods.
        (Language::Matlab, "methods") => Some(node),
        // A PowerShell script's statements, functions and classes among them.
        (Language::PowerShell, "statement_list") => Some(node),
        _ => None,
    }
}

/// The options objects of the Vue components a script defines in the Options API: its
/// `export default { data() { … }, methods: { … } }` (or the same passed to
/// `defineComponent(…)` or `Vue.extend(…)`), and, as a page that loads Vue from a CDN
/// writes them, `new Vue({ … })`, `Vue.createApp({ … }).mount(…)` and
/// `Vue.component('name', { … })`. Their functions are the components' methods.
pub(crate) fn component_options<'t>(script: Node<'t>, src: &str) -> Vec<Node<'t>> {
    let mut options = Vec::new();
    let mut cursor = script.walk();
    for statement in script.named_children(&mut cursor) {
        if statement.kind() == "export_statement" && statement.child_by_field_name("declaration").is_none() {
            let Some(value) = statement.child_by_field_name("value") else { continue };
            options.extend(match value.kind() {
                "object" => Some(value),
                "call_expression" => value.child_by_field_name("arguments").and_then(|a| a.named_child(0)).filter(|argument| argument.kind() == "object"),
                _ => None,
            });
        } else if matches!(statement.kind(), "expression_statement" | "lexical_declaration" | "variable_declaration") {
            vue_constructions(statement, src, &mut options);
        }
    }
    options
}

/// The options objects given to Vue's constructors in `node`, outside any function.
fn vue_constructions<'t>(node: Node<'t>, src: &str, options: &mut Vec<Node<'t>>) {
    let callee = match node.kind() {
        "new_expression" => node.child_by_field_name("constructor"),
        "call_expression" => node.child_by_field_name("function"),
        "function_expression" | "arrow_function" | "function_declaration" | "generator_function" | "generator_function_declaration" | "method_definition" | "class" => return,
        _ => None,
    };
    let arguments = node.child_by_field_name("arguments");
    if let (Some(callee), Some(arguments)) = (callee, arguments) {
        let position = match &src[callee.byte_range()] {
            "Vue" | "Vue.createApp" | "createApp" | "Vue.extend" | "defineComponent" | "Vue.defineComponent" => Some(0),
            name if name.ends_with(".component") => Some(1),
            _ => None,
        };
        options.extend(position.and_then(|at| arguments.named_child(at)).filter(|argument| argument.kind() == "object"));
    }
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        vue_constructions(child, src, options);
    }
}

/// Where a unit of `node` ends: after the `;` that ends a Perl statement, which the
/// grammar leaves outside it; before the line breaks that end a Fortran statement or a
/// MATLAB function, which those grammars put inside them.
pub(crate) fn end_of(language: Language, node: Node<'_>, src: &str) -> usize {
    if matches!(language, Language::Fortran | Language::Matlab) {
        return node.start_byte() + src[node.byte_range()].trim_end().len();
    }
    match node.next_sibling() {
        Some(next) if language == Language::Perl && next.kind() == ";" => next.end_byte(),
        _ => node.end_byte(),
    }
}

/// `func (s *Server[T]) Handle()` → `Server`.
fn go_receiver_type(receiver: Node<'_>, src: &str) -> Option<String> {
    let parameter = receiver.named_child(0)?;
    let ty = parameter.child_by_field_name("type")?;
    let text = &src[ty.byte_range()];
    let text = text.trim_start_matches('*');
    Some(clean_name(text.split('[').next().unwrap_or(text)))
}

/// The function declarator of a C/C++ declaration that declares a function: through a
/// returned pointer or reference (`char *dup(const char *s);`), not a pointer to a
/// function (`int (*handler)(int);`, a variable).
fn c_prototype(declaration: Node<'_>) -> Option<Node<'_>> {
    let mut declarator = declaration.child_by_field_name("declarator")?;
    loop {
        match declarator.kind() {
            "function_declarator" => {
                let name = declarator.child_by_field_name("declarator")?;
                return (name.kind() != "parenthesized_declarator").then_some(declarator);
            }
            "pointer_declarator" => declarator = declarator.child_by_field_name("declarator")?,
            "reference_declarator" => declarator = declarator.named_child(0)?,
            _ => return None,
        }
    }
}

/// The function declarator of a C/C++ function definition or prototype (through a
/// template, an `extern "C"`, a returned pointer or reference); `None` for anything else.
pub(crate) fn c_function_declarator(language: Language, definition: Node<'_>) -> Option<Node<'_>> {
    if !matches!(language, Language::C | Language::Cpp | Language::Cuda | Language::ObjC) {
        return None;
    }
    let mut node = definition;
    // A template's function, an `extern "C"` one.
    while let Some(inner) = node.named_child(node.named_child_count().saturating_sub(1) as u32).filter(|_| matches!(node.kind(), "template_declaration" | "linkage_specification")) {
        node = inner;
    }
    match node.kind() {
        "function_definition" => {
            let mut declarator = node.child_by_field_name("declarator");
            while let Some(d) = declarator.filter(|d| d.kind() != "function_declarator") {
                declarator = if d.kind() == "reference_declarator" { d.named_child(0) } else { d.child_by_field_name("declarator") };
            }
            declarator
        }
        _ => c_prototype(node),
    }
}

/// A C/C++ function's parameter list as written, its whitespace collapsed: what tells a
/// forward declaration of a function from another overload of its name.
pub(crate) fn c_parameters(language: Language, definition: Node<'_>, src: &str) -> Option<String> {
    let parameters = c_function_declarator(language, definition)?.child_by_field_name("parameters")?;
    Some(src[parameters.byte_range()].split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Whether a C/C++ function leaves a parameter unnamed (`int put(char *, size_t);`) or,
/// in C, its parameters unsaid (`int get();`): its doc's names cannot be checked.
pub(crate) fn c_unnamed_parameters(language: Language, definition: Node<'_>) -> bool {
    let Some(parameters) = c_function_declarator(language, definition).and_then(|f| f.child_by_field_name("parameters")) else { return false };
    let mut cursor = parameters.walk();
    let mut list = parameters.named_children(&mut cursor).filter(|p| !p.is_extra());
    // `char *` declares an abstract pointer, no name.
    let unnamed = list.any(|p| p.kind() == "parameter_declaration" && p.child_by_field_name("declarator").is_none_or(|d| d.kind().starts_with("abstract_")));
    unnamed || (language == Language::C && parameters.named_child_count() == 0)
}

/// Finds the declared name inside a C/C++ declarator (`*foo(int)`, `Foo::bar() const`),
/// splitting a qualified name into its owner and the name.
fn c_function_name(mut declarator: Node<'_>, src: &str) -> (Option<String>, Option<String>) {
    loop {
        match declarator.kind() {
            "qualified_identifier" => {
                let owner = declarator.child_by_field_name("scope").map(|s| clean_name(&src[s.byte_range()]));
                let name = declarator.child_by_field_name("name").map(|n| clean_name(&src[n.byte_range()]));
                return (owner, name);
            }
            // An explicit specialization, `template<> void run<half, 128>(…)`, is named
            // with its arguments, as C++ tells specializations apart.
            "identifier" | "field_identifier" | "destructor_name" | "operator_name" | "type_identifier" | "template_function" | "template_method" => {
                return (None, Some(clean_name(&src[declarator.byte_range()])));
            }
            // `operator bool() const`: named by the type it converts to.
            "operator_cast" => {
                let target = declarator.child_by_field_name("type").map_or("", |t| &src[t.byte_range()]);
                return (None, Some(clean_name(&format!("operator {target}"))));
            }
            // A reference declarator (`T& sum()`) and a parenthesized one (`(*cb)`) hold
            // their declarator in no field.
            "reference_declarator" | "parenthesized_declarator" => match declarator.named_child(0) {
                Some(inner) => declarator = inner,
                None => return (None, None),
            },
            _ => match declarator.child_by_field_name("declarator") {
                Some(inner) => declarator = inner,
                None => return (None, None),
            },
        }
    }
}
