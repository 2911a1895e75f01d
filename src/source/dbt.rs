//! dbt's SQL: Jinja templates over SQL, as a dbt project's `models/`, `macros/`,
//! `snapshots/` and `tests/` hold them.
//!
//! A model is a whole file: one templated `SELECT` (`from {{ ref('orders') }}`) whose
//! result dbt materializes under the file's name, as a view unless its `config` says
//! `table` or `incremental`. Macros (`{% macro cents(column) %} … {% endmacro %}`),
//! generic tests, materializations and snapshots are blocks, each named in its opening
//! tag. The statement reader in `sql.rs` sees none of these: a macro is no statement
//! (though its body may be one, `create table {{ relation }} as …`), and a model
//! creates nothing by `CREATE`.

use std::ops::Range;

use super::sql::{leading_comments, Piece};
use super::text::trimmed;
use super::unit::UnitKind;

/// Whether `text` is a Jinja template.
pub(crate) fn is_templated(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// The blocks of a template and the code between them; `None` when it defines none.
pub(crate) fn blocks_and_code(text: &str) -> Option<Vec<Piece>> {
    let blocks = blocks(text);
    if blocks.is_empty() {
        return None;
    }
    let mut pieces = Vec::new();
    let mut after = 0;
    for (kind, name, block) in blocks {
        let (start, doc) = leading_comments(text, after, block.start);
        pieces.extend(code(text, after..start));
        pieces.push(Piece { kind, owner: None, name: Some(name.to_string()), range: start..block.end, start: block.start, doc });
        after = block.end;
    }
    pieces.extend(code(text, after..text.len()));
    Some(pieces)
}

/// A model: the whole file at `path`, named by it.
pub(crate) fn model(text: &str, path: &str) -> Option<Piece> {
    let range = trimmed(text, 0..text.len());
    let start = range.start;
    if range.is_empty() {
        return None;
    }
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let name = file_name.strip_suffix(".sql").unwrap_or(file_name);
    let kind = match materialized(text) {
        Some("table" | "incremental") => UnitKind::Table,
        _ => UnitKind::View,
    };
    Some(Piece { kind, owner: None, name: (!name.is_empty()).then(|| name.to_string()), doc: opening_comment(text, start), range, start })
}

/// The comment `text` opens with at `start`, a model's doc: its `--` lines, or a `/* … */`
/// or Jinja `{# … #}` block.
fn opening_comment(text: &str, start: usize) -> Option<Range<usize>> {
    let rest = &text[start..];
    if rest.starts_with("--") {
        let lines = rest.split_inclusive('\n').take_while(|line| line.trim_start().starts_with("--"));
        return Some(trimmed(text, start..start + lines.map(str::len).sum::<usize>()));
    }
    let (_, close) = [("/*", "*/"), ("{#", "#}")].into_iter().find(|(open, _)| rest.starts_with(open))?;
    Some(start..start + rest.find(close).map_or(rest.len(), |end| end + close.len()))
}

/// `config(materialized='table')`'s value.
fn materialized(text: &str) -> Option<&str> {
    let at = text.find("materialized")? + "materialized".len();
    let value = text[at..].trim_start().strip_prefix('=')?.trim_start();
    let quote = value.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    value[1..].split(quote).next()
}

/// The blocks of `text` that define something, in order: kind, name, and their range
/// from the opening tag to the end of the closing one. An unclosed block is none.
fn blocks(text: &str) -> Vec<(UnitKind, &str, Range<usize>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(&str, UnitKind, &str, usize)> = None;
    for (range, keyword, name) in tags(text) {
        match open {
            None => {
                let kind = match keyword {
                    "macro" | "test" | "materialization" => UnitKind::Macro,
                    "snapshot" => UnitKind::Table,
                    _ => continue,
                };
                if !name.is_empty() {
                    open = Some((keyword, kind, name, range.start));
                }
            }
            Some((opened, kind, name, start)) => {
                if keyword.strip_prefix("end") == Some(opened) {
                    blocks.push((kind, name, start..range.end));
                    open = None;
                }
            }
        }
    }
    blocks
}

/// The `{% … %}` tags of `text`, outside its `{# … #}` comments (which show macros as
/// examples): where each stands, its keyword, and the name after it
/// (`{%- macro cents(column) -%}` → `macro`, `cents`).
fn tags(text: &str) -> impl Iterator<Item = (Range<usize>, &str, &str)> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = loop {
            let at = from + text[from..].find(['{'])?;
            match text.as_bytes().get(at + 1) {
                Some(b'%') => break at,
                Some(b'#') => from = text[at..].find("#}").map_or(text.len(), |close| at + close + 2),
                _ => from = at + 1,
            }
        };
        let end = start + text[start..].find("%}")? + 2;
        from = end;
        let inner = text[start + 2..end - 2].trim_matches(['-', '+']).trim_start();
        let word = |s: &str| s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
        let keyword = &inner[..word(inner)];
        let rest = inner[keyword.len()..].trim_start();
        Some((start..end, keyword, &rest[..word(rest)]))
    })
}

/// `range` of `text` as code, trimmed, when it holds more than comments.
fn code(text: &str, range: Range<usize>) -> Option<Piece> {
    let mut rest = &text[range.clone()];
    let mut holds_code = false;
    while !rest.trim().is_empty() && !holds_code {
        rest = rest.trim_start();
        let skipped = [("{#", "#}"), ("/*", "*/"), ("--", "\n")].iter().find_map(|(open, close)| {
            let body = rest.strip_prefix(open)?;
            Some(body.find(close).map_or("", |at| &body[at + close.len()..]))
        });
        match skipped {
            Some(after) => rest = after,
            None => holds_code = true,
        }
    }
    let code = trimmed(text, range);
    holds_code.then_some(Piece { kind: UnitKind::Code, owner: None, name: None, start: code.start, range: code, doc: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, path: &str) -> Vec<String> {
        let line = |at: usize| text[..at].matches('\n').count() + 1;
        let pieces = blocks_and_code(text).unwrap_or_else(|| model(text, path).into_iter().collect());
        pieces
            .iter()
            .map(|p| format!("{} {} {}-{}{}", p.kind.as_str(), p.name.as_deref().unwrap_or("-"), line(p.range.start), line(p.range.end), if p.doc.is_some() { " documented" } else { "" }))
            .collect()
    }

    #[test]
    fn a_model_is_its_file_named_by_it() {
        let view = "with orders as (\n    select * from {{ ref('stg_orders') }}\n)\nselect * from orders\n";
        assert!(is_templated(view));
        assert_eq!(pieces(view, "models/marts/orders.sql"), ["view orders 1-4"]);
        let table = "-- One row per customer.\n{{ config(materialized = 'table') }}\n\nselect 1 as id\n";
        assert_eq!(pieces(table, "models/customers.sql"), ["table customers 1-4 documented"]);
        assert!(pieces("  \n", "models/empty.sql").is_empty());
    }

    #[test]
    fn macros_tests_and_snapshots_are_blocks_named_in_their_tags() {
        let text = [
            "{# Cents as dollars; {% macro example() %} … {% endmacro %} is no macro. #}",
            "{% macro cents_to_dollars(column_name, scale=2) %}",
            "    ({{ column_name }} / 100)::numeric(16, {{ scale }})",
            "{% endmacro %}",
            "",
            "{% set legacy = true %}",
            "",
            "{%- test positive(model, column_name) -%}",
            "    select * from {{ model }} where {{ column_name }} < 0",
            "{%- endtest -%}",
            "{% snapshot orders_snapshot %}",
            "    {% if legacy %} select 1 {% endif %}",
            "{% endsnapshot %}",
            "{% macro unclosed() %}",
        ]
        .join("\n");
        assert_eq!(
            pieces(&text, "macros/money.sql"),
            ["macro cents_to_dollars 1-4 documented", "code - 6-6", "macro positive 8-10", "table orders_snapshot 11-13", "code - 14-14"]
        );
    }
}
