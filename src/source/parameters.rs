//! A function's parameters, as its syntax tree names them: what a doc that documents
//! parameters must name one by one. The field's linters report a doc that leaves one out
//! (pydocstyle's D417, numpydoc's PR01, Javadoc's doclint, eslint-plugin-jsdoc's
//! `require-param`), so a doc written before the function gained a parameter no longer
//! describes it ([`super::stale`]).
//!
//! Only languages whose doc conventions list every parameter are read: Python, JavaScript
//! and TypeScript, Java, PHP, C# and C/C++ (Doxygen), Rust (`# Arguments`), Kotlin
//! (KDoc), Scala (Scaladoc), Ruby (YARD), Lua (LDoc), R (roxygen), PowerShell
//! (`.PARAMETER`), Solidity (NatSpec) and Swift (by the parameter's name, not its
//! argument label, as Xcode writes them and DocC and swift-format check them). Anything
//! the rules below do not know — a parameter kind they have not seen, a destructured or
//! variadic parameter, an unnamed one, a Scala function of several parameter lists —
//! gives no list, and so no check: a doc is never judged on a guess.

use tree_sitter::Node;

use super::grammar;
use super::language::Language;

/// The names of the parameters of the function `definition` (a definition, or what
/// wraps one: a decorated definition, an export, a variable holding an arrow function), in
/// order, as a doc names them: PHP's without `$`, leaving out those no convention
/// documents (Python's `self` and `cls`, TypeScript's `this`, names starting with `_`,
/// and Python's `unused_` and `ignored_` ones).
/// `None` where they cannot all be named.
pub(crate) fn parameter_names(language: Language, definition: Node<'_>, src: &str) -> Option<Vec<String>> {
    use Language::*;
    let list = match language {
        C | Cpp | Cuda => grammar::c_function_declarator(language, definition)?.child_by_field_name("parameters")?,
        Python | JavaScript | TypeScript | Tsx | Java | Php | CSharp | Rust | Ruby | Lua | R => parameter_list(definition)?,
        // `def f(a: A)(implicit b: B)`: which lists a doc documents is a choice.
        Scala if definition.children_by_field_name("parameters", &mut definition.walk()).count() > 1 => return None,
        Scala => parameter_list(definition)?,
        Kotlin => grammar::child_of_kind(definition, &["function_value_parameters"])?,
        // Solidity's and Swift's parameters are the definition's own children.
        Solidity | Swift => definition,
        // `function F([string]$a)`, or `param(...)` opening its body.
        PowerShell => match grammar::child_of_kind(definition, &["function_parameter_declaration"]) {
            Some(declaration) => grammar::child_of_kind(declaration, &["parameter_list"])?,
            None => {
                let param = grammar::child_of_kind(grammar::child_of_kind(definition, &["script_block"])?, &["param_block"])?;
                grammar::child_of_kind(param, &["parameter_list"])?
            }
        },
        _ => return None,
    };
    // Kotlin's list holds each parameter's modifiers and default value beside it;
    // Solidity's and Swift's definition, everything else it is.
    let only_parameters = matches!(language, Kotlin | Solidity | Swift);
    // An arrow function's lone parameter, `x => x + 1`.
    if list.kind() == "identifier" {
        return Some(vec![src[list.byte_range()].to_string()]);
    }
    let mut names = Vec::new();
    let mut cursor = list.walk();
    let mut more = cursor.goto_first_child();
    while more {
        let (entry, field) = (cursor.node(), cursor.field_name());
        more = cursor.goto_next_sibling();
        // C#'s `params int[] rest` lays its type and name out in the list itself.
        if !entry.is_named() || entry.is_extra() || field == Some("type") || (only_parameters && entry.kind() != "parameter") {
            continue;
        }
        if let Some(name) = name(language, entry, src)? {
            names.push(name);
        }
    }
    // pylint's `ignored-argument-names` (`_.*|^ignored_|^unused_`) say which a doc need not name.
    let ignored = |name: &str| name.starts_with('_') || (language == Python && (matches!(name, "self" | "cls") || name.starts_with("unused_") || name.starts_with("ignored_")));
    if !names.iter().all(|name| is_name(language, name)) {
        return None;
    }
    names.retain(|name| !ignored(name));
    Some(names)
}

/// The first parameter list at or below `definition` outside bodies and decorators: the
/// definition's own, or that of the function a declaration or export holds.
fn parameter_list(definition: Node<'_>) -> Option<Node<'_>> {
    let mut pending = vec![definition];
    while let Some(node) = pending.pop() {
        if let Some(list) = node.child_by_field_name("parameters").or_else(|| node.child_by_field_name("parameter").filter(|_| node.kind() == "arrow_function")) {
            return Some(list);
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node
            .named_children(&mut cursor)
            .filter(|child| !matches!(child.kind(), "decorator" | "block" | "statement_block" | "compound_statement" | "class_body"))
            .collect();
        // Depth first, in order: the stack takes them last to first.
        pending.extend(children.into_iter().rev());
    }
    None
}

/// The name of one entry of a parameter list: `Some(None)` for an entry that is no
/// parameter a doc names (a `*` or `/` separator, a receiver, `this`), `None` for one
/// that cannot be named (destructured, variadic, unnamed, a kind not known here).
fn name(language: Language, parameter: Node<'_>, src: &str) -> Option<Option<String>> {
    use Language::*;
    let text = |node: Node<'_>| src[node.byte_range()].trim_start_matches(['$', '&']).to_string();
    let field = |name: &str| parameter.child_by_field_name(name);
    let named = match (language, parameter.kind()) {
        (Python, "identifier") | (JavaScript | TypeScript | Tsx, "identifier") => Some(parameter),
        (Python, "typed_parameter") => parameter.named_child(0).filter(|n| n.kind() == "identifier"),
        (Python, "default_parameter" | "typed_default_parameter") => field("name"),
        (Python, "keyword_separator" | "positional_separator") => return Some(None),
        (JavaScript | TypeScript | Tsx, "assignment_pattern") => field("left").filter(|n| n.kind() == "identifier"),
        (TypeScript | Tsx, "required_parameter" | "optional_parameter") => match field("pattern") {
            Some(pattern) if pattern.kind() == "this" => return Some(None),
            pattern => pattern.filter(|n| n.kind() == "identifier"),
        },
        (Java, "formal_parameter") => field("name"),
        (Java, "receiver_parameter") => return Some(None),
        (Php, "simple_parameter" | "property_promotion_parameter") => field("name"),
        (CSharp, "parameter") => field("name"),
        (CSharp, "identifier") => Some(parameter),
        (C | Cpp | Cuda, "parameter_declaration" | "optional_parameter_declaration") => c_declared_name(field("declarator")?),
        (Rust, "self_parameter") => return Some(None),
        // `_: T` takes a value it ignores, as `_t: T` does.
        (Rust, "parameter") => match field("pattern") {
            Some(pattern) if pattern.kind() == "_" => return Some(None),
            pattern => pattern.filter(|n| n.kind() == "identifier"),
        },
        (Kotlin, "parameter") => parameter.named_child(0).filter(|n| n.kind() == "identifier"),
        // Swift's `with x: Int` is labelled `with` and named `x` (its first `name`; the
        // type is another).
        (Scala | Solidity | Swift, "parameter") => field("name"),
        (Ruby | Lua, "identifier") => Some(parameter),
        (Ruby, "optional_parameter" | "keyword_parameter") => field("name"),
        // YARD documents the block a method takes with `@yield`, not `@param`.
        (Ruby, "block_parameter") => return Some(None),
        // roxygen may leave `...` to the function it is passed to.
        (R, "comma") => return Some(None),
        (R, "parameter") => match field("name") {
            Some(dots) if dots.kind() == "dots" => return Some(None),
            name => name.filter(|n| n.kind() == "identifier"),
        },
        (PowerShell, "script_parameter") => grammar::child_of_kind(parameter, &["variable"]),
        _ => None,
    };
    named.map(|node| Some(text(node)))
}

/// Whether `name` is a plain name in `language`, which a doc can name: R's may hold dots
/// (`na.rm`); PowerShell's `${a b}` is none.
pub(crate) fn is_name(language: Language, name: &str) -> bool {
    let inner = |c: char| c.is_alphanumeric() || c == '_' || (language == Language::R && c == '.');
    name.starts_with(|c: char| c.is_alphabetic() || c == '_' || (language == Language::R && c == '.')) && name.chars().all(inner)
}

/// The name a C/C++ parameter's declarator declares (`*name`, `&name`, `name[8]`).
fn c_declared_name(mut declarator: Node<'_>) -> Option<Node<'_>> {
    loop {
        match declarator.kind() {
            "identifier" => return Some(declarator),
            "pointer_declarator" | "array_declarator" => declarator = declarator.child_by_field_name("declarator")?,
            "reference_declarator" => declarator = declarator.named_child(0)?,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Language::*;

    /// The parameter names of the first function in `code`.
    fn names(language: Language, code: &str) -> Option<Vec<String>> {
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&grammar::grammar(language).unwrap()).unwrap();
        let tree = parser.parse(code, None).unwrap();
        let root = tree.root_node();
        // (PHP's first is its `<?php`.)
        let definition = root.named_child(if language == Php { 1 } else { 0 }).unwrap();
        parameter_names(language, definition, code)
    }

    fn some(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn each_languages_parameters_are_named_as_a_doc_names_them() {
        assert_eq!(names(Python, "def f(self, a, b: int, c=1, d: str = 'x', *, e, _unused=0, unused_id=None):\n    pass\n"), some(&["a", "b", "c", "d", "e"]));
        assert_eq!(names(Python, "@app.route('/', key=lambda k: k)\ndef g(cls, path):\n    pass\n"), some(&["path"]));
        assert_eq!(names(JavaScript, "function f(a, b = 2) { return a; }"), some(&["a", "b"]));
        assert_eq!(names(JavaScript, "const f = (a, b) => a + b;"), some(&["a", "b"]));
        assert_eq!(names(JavaScript, "export const g = x => x;"), some(&["x"]));
        assert_eq!(names(TypeScript, "function f(this: Window, a: number, b?: string, c = 1): void {}"), some(&["a", "b", "c"]));
        assert_eq!(names(Php, "<?php\nfunction f(string $name, array &$out, int $n = 1) {}\n"), some(&["name", "out", "n"]));
        assert_eq!(names(C, "int put(const char *name, size_t len, int flags[4]) { return 0; }"), some(&["name", "len", "flags"]));
        assert_eq!(names(Cpp, "void copy(const std::string& from, int to = 0) {}"), some(&["from", "to"]));
        assert_eq!(names(Go, "func f(a int) {}"), None, "Go's docs list no parameters");
    }

    #[test]
    fn parameters_that_cannot_all_be_named_give_no_list() {
        assert_eq!(names(Python, "def f(a, *args, **kwargs):\n    pass\n"), None);
        assert_eq!(names(JavaScript, "function f({ a, b }, c) {}"), None);
        assert_eq!(names(JavaScript, "function f(a, ...rest) {}"), None);
        assert_eq!(names(C, "int put(char *, size_t);"), None);
        assert_eq!(names(C, "int printf(const char *format, ...);"), None);
    }

    /// The parameter names of the first node of `kind` in `code`.
    fn names_of(language: Language, kind: &str, code: &str) -> Option<Vec<String>> {
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&grammar::grammar(language).unwrap()).unwrap();
        let tree = parser.parse(code, None).unwrap();
        parameter_names(language, first_of(tree.root_node(), kind).unwrap(), code)
    }

    #[test]
    fn the_languages_whose_docs_tag_parameters_are_read_too() {
        assert_eq!(names(Rust, "fn f(&mut self, a: u32, mut b: u8, _c: u8, _: u8) -> u8 { 0 }"), some(&["a", "b"]));
        assert_eq!(names_of(Rust, "function_signature_item", "trait T { fn g(&self, at: usize); }"), some(&["at"]));
        assert_eq!(names(Rust, "fn f((a, b): (u8, u8)) {}"), None);
        assert_eq!(names(Kotlin, "fun f(a: Int, b: String = \"x\", vararg c: Int): Int { return a }"), some(&["a", "b", "c"]));
        assert_eq!(names_of(Kotlin, "function_declaration", "class K {\n    fun Int.plus(other: Int): Int = this + other\n}\n"), some(&["other"]));
        assert_eq!(names(Scala, "def f(a: Int, b: String = \"x\"): Int = a"), some(&["a", "b"]));
        assert_eq!(names(Scala, "def f(a: Int)(implicit c: Ctx): Int = a"), None);
        assert_eq!(names(Ruby, "def f(a, b = 1, d:, e: 2, &blk)\n  a\nend"), some(&["a", "b", "d", "e"]));
        assert_eq!(names(Ruby, "def self.g(a, *rest)\nend"), None);
        assert_eq!(names(Lua, "function M.f(a, b) return a end"), some(&["a", "b"]));
        assert_eq!(names(Lua, "function M:f(a, ...) return a end"), None);
        assert_eq!(names(R, "f <- function(x, na.rm = FALSE, ...) { x }"), some(&["x", "na.rm"]));
        assert_eq!(names_of(PowerShell, "function_statement", "function Get-Stock {\n  param([string]$Sku, [int]$Count = 1)\n  $Sku\n}"), some(&["Sku", "Count"]));
        assert_eq!(names_of(PowerShell, "function_statement", "function Get-Stock([string]$Sku) { $Sku }"), some(&["Sku"]));
        assert_eq!(names_of(Solidity, "function_definition", "contract C { function f(uint a, address b) public returns (uint c) { return a; } }"), some(&["a", "b"]));
        assert_eq!(names_of(Solidity, "function_definition", "contract C { function f(uint, address b) public {} }"), None);
        assert_eq!(names_of(Swift, "function_declaration", "func f(with x: Int, _ y: Int, z: Int...) -> Int { return x }"), some(&["x", "y", "z"]));
        assert_eq!(names_of(Swift, "init_declaration", "struct S { init(from decoder: Decoder, _ map: (Int) -> Int) {} }"), some(&["decoder", "map"]));
    }

    #[test]
    fn java_and_csharp_methods_are_read_in_their_class() {
        let java = "class A { int sum(int from, final List<Integer> to) { return 0; } }";
        let csharp = "class A { int Sum(int from, params int[] rest) { return 0; } }";
        for (language, code, expected) in [(Java, java, some(&["from", "to"])), (CSharp, csharp, some(&["from", "rest"]))] {
            let mut parser = tree_sitter::Parser::new();
            parser.set_language(&grammar::grammar(language).unwrap()).unwrap();
            let tree = parser.parse(code, None).unwrap();
            let method = first_of(tree.root_node(), "method_declaration").unwrap();
            assert_eq!(parameter_names(language, method, code), expected, "{language:?}");
        }
    }

    fn first_of<'t>(node: Node<'t>, kind: &str) -> Option<Node<'t>> {
        if node.kind() == kind {
            return Some(node);
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
        children.into_iter().find_map(|child| first_of(child, kind))
    }
}
