//! Language detection from a file's name, extension and shebang line.
//!
//! Detection is deliberately cheap and local (no content statistics): the name decides
//! when it can, the shebang decides for extensionless scripts, and a `.h` header is
//! called C++ only when it plainly uses C++ syntax, because the C grammar parses most C
//! headers well and mangles C++ ones.

use std::path::Path;

/// A programming (or configuration) language hearth recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
    C,
    Cpp,
    Cuda,
    CSharp,
    Ruby,
    Php,
    Shell,
    PowerShell,
    Kotlin,
    Swift,
    Scala,
    Lua,
    Perl,
    R,
    Julia,
    Fortran,
    Matlab,
    Solidity,
    Haskell,
    Zig,
    Dart,
    Elixir,
    ObjC,
    Sql,
    Protobuf,
    Hcl,
    Vue,
    Svelte,
    Html,
    Css,
    Markdown,
    /// R Markdown (`.Rmd`) and Quarto (`.qmd`): Markdown with code chunks.
    RMarkdown,
    Yaml,
    Toml,
    Json,
    Makefile,
    Dockerfile,
    CMake,
}

impl Language {
    /// Every language, for listings and tests.
    pub const ALL: &'static [Language] = &[
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::Java,
        Language::C,
        Language::Cpp,
        Language::Cuda,
        Language::CSharp,
        Language::Ruby,
        Language::Php,
        Language::Shell,
        Language::PowerShell,
        Language::Kotlin,
        Language::Swift,
        Language::Scala,
        Language::Lua,
        Language::Perl,
        Language::R,
        Language::Julia,
        Language::Fortran,
        Language::Matlab,
        Language::Solidity,
        Language::Haskell,
        Language::Zig,
        Language::Dart,
        Language::Elixir,
        Language::ObjC,
        Language::Sql,
        Language::Protobuf,
        Language::Hcl,
        Language::Vue,
        Language::Svelte,
        Language::Html,
        Language::Css,
        Language::Markdown,
        Language::RMarkdown,
        Language::Yaml,
        Language::Toml,
        Language::Json,
        Language::Makefile,
        Language::Dockerfile,
        Language::CMake,
    ];

    /// The lowercase name stored in the `language` column.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
            Language::Java => "java",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Cuda => "cuda",
            Language::CSharp => "csharp",
            Language::Ruby => "ruby",
            Language::Php => "php",
            Language::Shell => "shell",
            Language::PowerShell => "powershell",
            Language::Kotlin => "kotlin",
            Language::Swift => "swift",
            Language::Scala => "scala",
            Language::Lua => "lua",
            Language::Perl => "perl",
            Language::R => "r",
            Language::Julia => "julia",
            Language::Fortran => "fortran",
            Language::Matlab => "matlab",
            Language::Solidity => "solidity",
            Language::Haskell => "haskell",
            Language::Zig => "zig",
            Language::Dart => "dart",
            Language::Elixir => "elixir",
            Language::ObjC => "objc",
            Language::Sql => "sql",
            Language::Protobuf => "protobuf",
            Language::Hcl => "hcl",
            Language::Vue => "vue",
            Language::Svelte => "svelte",
            Language::Html => "html",
            Language::Css => "css",
            Language::Markdown => "markdown",
            Language::RMarkdown => "rmarkdown",
            Language::Yaml => "yaml",
            Language::Toml => "toml",
            Language::Json => "json",
            Language::Makefile => "makefile",
            Language::Dockerfile => "dockerfile",
            Language::CMake => "cmake",
        }
    }

    /// Parses a name as stored in the `language` column, or as public datasets spell it
    /// (`"C++"`, `"C#"`, `"JavaScript"`); case-insensitive.
    pub fn from_name(name: &str) -> Option<Language> {
        let lower = name.trim().to_ascii_lowercase();
        let aliased = match lower.as_str() {
            "c++" | "cxx" => "cpp",
            "c#" | "cs" => "csharp",
            "js" => "javascript",
            "ts" => "typescript",
            "py" => "python",
            "rs" => "rust",
            "bash" | "sh" | "zsh" => "shell",
            "pwsh" | "ps1" => "powershell",
            "golang" => "go",
            "proto" | "protocol buffer" | "protocol buffers" => "protobuf",
            "terraform" => "hcl",
            "fortran free form" => "fortran",
            "yml" => "yaml",
            "md" => "markdown",
            "rmd" | "r markdown" | "quarto" | "qmd" => "rmarkdown",
            // knitr's engine for C++ through Rcpp.
            "rcpp" => "cpp",
            "objective-c" | "objectivec" | "obj-c" | "objective-c++" => "objc",
            // Octave's Jupyter kernel names its language `octave`: MATLAB's, read in
            // Octave's dialect as every `.m` file is.
            "octave" => "matlab",
            // The Stack's names for SQL dialects.
            "plpgsql" | "plsql" | "tsql" | "mysql" | "sqlite" | "postgresql" => "sql",
            // A C++ notebook's kernel (xeus-cling) names its standard: `C++17`.
            other if other.starts_with("c++") => "cpp",
            other => other,
        };
        Language::ALL.iter().copied().find(|l| l.name() == aliased)
    }

    /// Detects the language of `path`, looking at `head` (the file's first bytes) only
    /// when the name alone cannot decide.
    pub fn detect(path: &Path, head: &[u8]) -> Option<Language> {
        let file_name = path.file_name()?.to_str()?;
        if let Some(lang) = from_file_name(file_name) {
            return Some(lang);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("h") if looks_like_objc(head) => Some(Language::ObjC),
            Some("h") => Some(if looks_like_cpp(head) { Language::Cpp } else { Language::C }),
            // MATLAB (and Octave), Mathematica and Mercury write `.m` too; MATLAB's is
            // the one a code repository holds most.
            Some("m") if looks_like_objc(head) => Some(Language::ObjC),
            Some("m") => looks_like_matlab(head).then_some(Language::Matlab),
            Some(ext) => from_extension(&ext.to_ascii_lowercase()),
            None => from_shebang(head),
        }
    }
}

fn from_file_name(name: &str) -> Option<Language> {
    Some(match name {
        "Makefile" | "makefile" | "GNUmakefile" => Language::Makefile,
        "Dockerfile" | "Containerfile" => Language::Dockerfile,
        "CMakeLists.txt" => Language::CMake,
        "Rakefile" | "Gemfile" => Language::Ruby,
        _ if name.starts_with("Dockerfile.") => Language::Dockerfile,
        _ => return None,
    })
}

fn from_extension(ext: &str) -> Option<Language> {
    Some(match ext {
        "rs" => Language::Rust,
        "py" | "pyi" | "pyw" => Language::Python,
        "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
        "ts" | "mts" | "cts" => Language::TypeScript,
        "tsx" => Language::Tsx,
        "go" => Language::Go,
        "java" => Language::Java,
        "c" => Language::C,
        "cc" | "cpp" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++" | "ipp" | "tpp" => Language::Cpp,
        "cu" | "cuh" => Language::Cuda,
        "jl" => Language::Julia,
        "sol" => Language::Solidity,
        // Fixed form (FORTRAN 77's columns) and free form; `.F`, `.F90` are preprocessed.
        "f" | "for" | "f77" | "ftn" | "fpp" | "f90" | "f95" | "f03" | "f08" | "f18" => Language::Fortran,
        "cs" => Language::CSharp,
        "rb" | "rake" | "gemspec" => Language::Ruby,
        "php" => Language::Php,
        "sh" | "bash" | "zsh" | "ksh" => Language::Shell,
        "ps1" | "psm1" => Language::PowerShell,
        "kt" | "kts" => Language::Kotlin,
        "swift" => Language::Swift,
        "scala" | "sc" => Language::Scala,
        "lua" => Language::Lua,
        "pl" | "pm" => Language::Perl,
        "r" => Language::R,
        "hs" | "lhs" => Language::Haskell,
        "zig" => Language::Zig,
        "dart" => Language::Dart,
        "ex" | "exs" => Language::Elixir,
        "mm" => Language::ObjC,
        "sql" => Language::Sql,
        "proto" => Language::Protobuf,
        "tf" | "tfvars" | "hcl" => Language::Hcl,
        "vue" => Language::Vue,
        "svelte" => Language::Svelte,
        "html" | "htm" => Language::Html,
        "css" | "scss" | "less" => Language::Css,
        "md" | "markdown" => Language::Markdown,
        "rmd" | "rmarkdown" | "qmd" => Language::RMarkdown,
        "yml" | "yaml" => Language::Yaml,
        "toml" => Language::Toml,
        "json" | "jsonc" => Language::Json,
        "mk" => Language::Makefile,
        "cmake" => Language::CMake,
        _ => return None,
    })
}

/// `#!/usr/bin/env python3`, `#!/bin/bash`, `#!/usr/bin/env -S node --flag` …
fn from_shebang(head: &[u8]) -> Option<Language> {
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    let mut program = words.next()?.rsplit('/').next()?;
    if program == "env" {
        program = words.find(|w| !w.starts_with('-'))?;
    }
    // python3.12 → python, perl5 → perl
    let program = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match program {
        "python" | "pypy" => Language::Python,
        "sh" | "bash" | "zsh" | "ksh" | "dash" => Language::Shell,
        "node" | "nodejs" | "deno" | "bun" => Language::JavaScript,
        "ts-node" => Language::TypeScript,
        "ruby" => Language::Ruby,
        "perl" => Language::Perl,
        "php" => Language::Php,
        "lua" | "luajit" => Language::Lua,
        "Rscript" => Language::R,
        "elixir" => Language::Elixir,
        "pwsh" => Language::PowerShell,
        _ => return None,
    })
}

/// Objective-C's own directives; a C or C++ file has none of them.
fn looks_like_objc(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    // Not `@end` alone: Octave's texinfo help writes `@end deftypefn`.
    ["#import ", "@interface ", "@implementation ", "@protocol "].iter().any(|marker| text.contains(marker))
}

/// Neither Mercury (`:- module shop.`) nor Mathematica (`BeginPackage["Shop`"]`, `(* … *)`).
fn looks_like_matlab(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    !(text.contains(":- module") || text.contains("BeginPackage[") || text.trim_start().starts_with("(*"))
}

fn looks_like_cpp(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    ["namespace ", "template<", "template <", "class ", "public:", "private:", "std::"]
        .iter()
        .any(|marker| text.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(name: &str, head: &str) -> Option<&'static str> {
        Language::detect(Path::new(name), head.as_bytes()).map(Language::name)
    }

    #[test]
    fn extensions_and_names() {
        assert_eq!(detect("src/main.rs", ""), Some("rust"));
        assert_eq!(detect("a/b.TSX", ""), Some("tsx"));
        assert_eq!(detect("Makefile", ""), Some("makefile"));
        assert_eq!(detect("Dockerfile.dev", ""), Some("dockerfile"));
        assert_eq!(detect("notes.txt", ""), None);
        assert_eq!(detect("LICENSE", "Permission is hereby granted"), None);
    }

    #[test]
    fn shebangs() {
        assert_eq!(detect("run", "#!/usr/bin/env python3.12\nprint()"), Some("python"));
        assert_eq!(detect("run", "#!/bin/bash -eu\n"), Some("shell"));
        assert_eq!(detect("run", "#!/usr/bin/env -S node --no-warnings\n"), Some("javascript"));
        assert_eq!(detect("run", "#!/usr/bin/perl5\n"), Some("perl"));
        assert_eq!(detect("run", "#!/opt/unknown\n"), None);
    }

    #[test]
    fn headers_pick_c_or_cpp() {
        assert_eq!(detect("x.h", "int f(void);\n"), Some("c"));
        assert_eq!(detect("x.h", "namespace a { class B; }"), Some("cpp"));
        assert_eq!(detect("kernels/add.cu", ""), Some("cuda"));
        assert_eq!(detect("src/Shapes.jl", ""), Some("julia"));
        assert_eq!(detect("fitpack/curfit.f", ""), Some("fortran"));
        assert_eq!(detect("build/Deploy.ps1", ""), Some("powershell"));
        assert_eq!(detect("contracts/Token.sol", ""), Some("solidity"));
        assert_eq!(detect("Shop/Shop.psm1", ""), Some("powershell"));
        assert_eq!(detect("src/solver.F90", ""), Some("fortran"));
        assert_eq!(Language::from_name("Fortran Free Form"), Some(Language::Fortran), "GitHub's name for .f90");
        assert_eq!(detect("x.h", "#import <Foundation/Foundation.h>\n@interface A : NSObject\n@end\n"), Some("objc"));
    }

    #[test]
    fn dot_m_is_objective_c_when_it_reads_as_such_else_matlab() {
        assert_eq!(detect("Counter.m", "// Counter\n#import \"Counter.h\"\n"), Some("objc"));
        assert_eq!(detect("View.mm", ""), Some("objc"));
        assert_eq!(detect("solve.m", "function x = solve(A, b)\n  x = A \\ b;\nend\n"), Some("matlab"));
        assert_eq!(detect("shop.m", "% Shop, in Mercury.\n:- module shop.\n:- interface.\n"), None, "Mercury");
        assert_eq!(detect("kbhit.m", "## @deftypefn {} kbhit ()\n## @end deftypefn\nfunction kbhit(n)\n"), Some("matlab"), "Octave's texinfo");
        assert_eq!(detect("Shop.m", "(* Mathematica *)\nBeginPackage[\"Shop`\"]\n"), None, "Mathematica");
        assert_eq!(Language::from_name("Objective-C"), Some(Language::ObjC));
    }

    #[test]
    fn components_protocol_buffers_and_terraform_by_their_extension() {
        assert_eq!(detect("src/components/Counter.vue", "<template>"), Some("vue"));
        assert_eq!(detect("src/routes/+page.svelte", "<script>"), Some("svelte"));
        assert_eq!(detect("api/shop/v1/orders.proto", "syntax = \"proto3\";"), Some("protobuf"));
        assert_eq!(Language::from_name("Protocol Buffer"), Some(Language::Protobuf));
        assert_eq!(detect("infra/main.tf", "resource"), Some("hcl"));
        assert_eq!(Language::from_name("Terraform"), Some(Language::Hcl));
    }

    #[test]
    fn octave_is_read_as_matlab() {
        assert_eq!(Language::from_name("Octave"), Some(Language::Matlab));
        assert_eq!(Language::from_name("MATLAB"), Some(Language::Matlab));
    }

    #[test]
    fn sql_dialects_are_sql() {
        assert_eq!(detect("migrations/001_init.sql", ""), Some("sql"));
        for dialect in ["SQL", "PLpgSQL", "TSQL", "PLSQL"] {
            assert_eq!(Language::from_name(dialect), Some(Language::Sql), "{dialect}");
        }
    }

    #[test]
    fn names_round_trip_and_dataset_spellings() {
        assert!(Language::ALL.len() >= 15);
        for lang in Language::ALL {
            assert_eq!(Language::from_name(lang.name()), Some(*lang));
        }
        assert_eq!(Language::from_name("C++"), Some(Language::Cpp));
        assert_eq!(Language::from_name("C++17"), Some(Language::Cpp), "a xeus-cling kernel");
        assert_eq!(Language::from_name("JavaScript"), Some(Language::JavaScript));
        assert_eq!(Language::from_name("klingon"), None);
    }
}
