//! The docs task: a documentation comment per unit, in its language's own convention.

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

/// The doc-comment convention of `language` (a [`Language::name`](crate::source::Language::name)).
pub fn doc_style(language: &str) -> &'static str {
    match language {
        "rust" => "Rust `///` doc comments",
        "python" => "a Python docstring (\"\"\"...\"\"\")",
        "go" => "a Go doc comment: `//` lines starting with the name",
        "javascript" | "typescript" | "tsx" => "a JSDoc block (/** ... */)",
        "java" | "kotlin" | "scala" => "a Javadoc block (/** ... */)",
        "c" | "cpp" => "a Doxygen block (/** ... */)",
        "csharp" => "C# XML doc comments (/// <summary>)",
        "ruby" | "shell" | "perl" | "r" | "elixir" | "yaml" | "toml" | "makefile" | "dockerfile" | "cmake" => {
            "`#` comment lines"
        }
        "php" => "a PHPDoc block (/** ... */)",
        "swift" | "zig" | "dart" => "`///` doc comments",
        "haskell" => "a Haddock comment (-- |)",
        "lua" | "sql" => "`--` comment lines",
        _ => "the language's usual comment syntax",
    }
}

/// The comment out of the model's answer: without a surrounding code fence, trimmed.
/// An empty answer does not parse (the row keeps it raw, with the reason).
pub fn parse(answer: &str) -> Result<String, String> {
    let text = strip_fence(answer.trim()).trim();
    if text.is_empty() {
        return Err("the model's answer is empty".into());
    }
    Ok(text.to_string())
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
    fn answers_lose_their_fence_and_empty_ones_fail() {
        assert_eq!(parse("```rust\n/// Adds.\n```").unwrap(), "/// Adds.");
        assert_eq!(parse("  /// Adds two numbers.\n").unwrap(), "/// Adds two numbers.");
        assert_eq!(parse("```\n```").unwrap_err(), "the model's answer is empty");
        assert!(parse("   ").is_err());
    }

    #[test]
    fn each_language_gets_its_convention() {
        assert!(doc_style("python").contains("docstring"));
        assert!(doc_style("rust").contains("///"));
        assert!(doc_style("brainfuck").contains("usual"));
    }
}
