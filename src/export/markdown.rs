//! Markdown for people: a page per source file with its units' documentation, a review
//! digest by severity, and an index per repository. CommonMark, as GitHub, GitLab and
//! editors render it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use super::patch::RepoPatch;
use super::{finding_lines, uri_path, HouseStyleTotals, Lines};
use crate::engine::FinishReason;
use crate::finished::rows::{DocText, Place, Row, StaleDoc};
use crate::finished::{RepoFacts, TaskModel};
use crate::source::UnitKind;
use crate::tasks::docs::{comment_prose, comment_syntax};
use crate::tasks::review::{Finding, SEVERITIES};

/// What the index says of a review.
pub struct ReviewTotals {
    /// Units reviewed.
    pub units: usize,
    /// The model's findings.
    pub findings: usize,
    /// Units whose doc no longer names its code's parameters (the walk's finding).
    pub stale_docs: usize,
}

/// What the index says of a documentation page: how many units it has, and what its
/// file is for.
pub struct PageSummary {
    /// Units on it.
    pub units: usize,
    /// Those the source documents, which the model was not asked about.
    pub in_source: usize,
    /// Those whose row holds no usable answer.
    pub missing: usize,
    /// The first sentence of the file's header (its outline's or its one unit's doc),
    /// the source's or the model's.
    pub about: Option<String>,
}

impl PageSummary {
    /// The summary of the page of a file's `rows` and units documented `in_source`.
    pub fn of(rows: &[&Row<DocText>], in_source: &[&Row<DocText>]) -> PageSummary {
        let missing = rows.iter().filter(|r| r.outcome.is_err()).count();
        let header = rows.iter().chain(in_source).find(|r| is_file_header(&r.place));
        let about = header.and_then(|row| row.outcome.as_ref().ok()).and_then(|doc| first_sentence(&doc.text, doc.cut_off.is_some()));
        PageSummary { units: rows.len() + in_source.len(), in_source: in_source.len(), missing, about }
    }
}

/// The comment the patch writes of a cut-off answer `text`: its whole paragraphs, closed
/// in the comment syntax of the unit at `place`. `None` where hearth knows no syntax.
fn kept_comment(place: &Place, text: &str) -> Option<String> {
    let syntax = comment_syntax(&place.language, &place.kind)?;
    let prose = comment_prose(text, place.name.as_deref(), true).ok()?;
    syntax.render(&prose, "", "\n").ok().map(|comment| comment.trim_end().to_string())
}

/// The first sentence of a doc, without its comment syntax; `None` when it has no prose.
fn first_sentence(doc: &str, cut_off: bool) -> Option<String> {
    let prose = comment_prose(doc, None, cut_off).ok()?;
    let paragraph = prose.iter().map(|line| line.trim()).take_while(|line| !line.is_empty()).collect::<Vec<_>>().join(" ");
    let end = paragraph.find(". ").map_or(paragraph.len(), |stop| stop + 1);
    Some(paragraph[..end].to_string())
}

/// The documentation page of one source file: its units in line order, a container
/// before its members, each unit's comment as the model wrote it (in the language's own
/// comment convention), or why it has none; a unit whose doc the source has already
/// (`in_source`, which the model was not asked about) shows that doc, and says so; a
/// unit whose doc was `stale` says why the model's replaces it.
pub fn doc_page(path: &str, rows: &[&Row<DocText>], in_source: &[&Row<DocText>], stale: &HashMap<String, StaleDoc>, model: &TaskModel) -> String {
    let mut page = format!("# {}\n\n", code(path));
    let summary = PageSummary::of(rows, in_source);
    let language = rows.iter().chain(in_source).next().map_or("", |r| r.place.language.as_str());
    let _ = write!(page, "{language} · {}", count(summary.units, "unit"));
    if summary.in_source > 0 {
        let _ = write!(page, ", {} documented in the source", summary.in_source);
    }
    if summary.missing > 0 {
        let _ = write!(page, ", {} without documentation", summary.missing);
    }
    let _ = writeln!(page, " · documented by {}\n", model.byline());
    let mut entries: Vec<(&Row<DocText>, bool)> = rows.iter().map(|&r| (r, false)).chain(in_source.iter().map(|&r| (r, true))).collect();
    entries.sort_by_key(|(row, _)| (row.place.start_line, std::cmp::Reverse(row.place.end_line)));
    for (row, from_source) in entries {
        let _ = writeln!(page, "## {}\n", title(&row.place));
        if from_source {
            page.push_str("*Documented in the source:*\n\n");
        }
        if let Some(stale) = stale.get(&row.place.unit_id) {
            let _ = writeln!(page, "*In place of the source's doc: {}.*\n", inline(&stale.why));
        }
        match &row.outcome {
            Ok(DocText { text, cut_off }) => {
                // Of an answer cut short, the whole paragraphs the patch writes.
                let kept = cut_off.and_then(|_| kept_comment(&row.place, text));
                let shown = kept.as_deref().unwrap_or(text);
                let fence = fence(shown);
                let _ = writeln!(page, "{fence}{language}\n{shown}\n{fence}\n");
                if let Some(reason) = cut_off {
                    let limit = match reason {
                        FinishReason::Context => "the end of the model's context",
                        _ => "the token limit (`max_new_tokens`)",
                    };
                    let shows = if kept.is_some() { ": its whole paragraphs, as the patch writes them" } else { "" };
                    let _ = writeln!(page, "*Cut off at {limit}{shows}.*\n");
                }
            }
            Err(why) => {
                let _ = writeln!(page, "*No documentation: {}*\n", inline(why));
            }
        }
    }
    page
}

/// The findings of a repository, most severe first, then by file and line; and the
/// units whose review has no usable answer.
pub fn review_digest(repo: &str, rows: &[&Row<Vec<Finding>>], stale: &[&StaleDoc], model: &TaskModel) -> String {
    let mut by_severity: BTreeMap<usize, Vec<(&Place, &Finding)>> = BTreeMap::new();
    let mut unanswered = Vec::new();
    for row in rows {
        match &row.outcome {
            Ok(findings) => {
                for f in findings {
                    let rank = SEVERITIES.iter().rev().position(|s| *s == f.severity).unwrap_or(SEVERITIES.len());
                    by_severity.entry(rank).or_default().push((&row.place, f));
                }
            }
            Err(why) => unanswered.push((&row.place, why)),
        }
    }
    let total: usize = by_severity.values().map(Vec::len).sum();
    let counts: Vec<String> = by_severity.iter().map(|(rank, list)| format!("{} {}", list.len(), severity_name(*rank))).collect();
    let mut page = format!("# Review of {}\n\n", code(repo));
    let _ = write!(page, "{} reviewed by {}: {}", count(rows.len(), "unit"), model.byline(), count(total, "finding"));
    if !counts.is_empty() {
        let _ = write!(page, " ({})", counts.join(", "));
    }
    let _ = write!(page, "; {} without a usable answer", count(unanswered.len(), "unit"));
    if !stale.is_empty() {
        let _ = write!(page, "; {} (found by the walk, not the model)", count(stale.len(), "stale doc"));
    }
    let _ = writeln!(page, ". The same findings for tools: `review.sarif`.\n");
    for (rank, mut list) in by_severity {
        list.sort_by(|a, b| (&a.0.path, a.0.start_line, a.1.line).cmp(&(&b.0.path, b.0.start_line, b.1.line)));
        let name = severity_name(rank);
        let _ = writeln!(page, "## {}{} ({})\n", name[..1].to_uppercase(), &name[1..], list.len());
        for (place, finding) in list {
            let lines = match finding_lines(place, finding) {
                Lines::One(line) => format!("{}:{line}", place.path),
                Lines::Span(start, end) => format!("{}:{start}-{end}", place.path),
            };
            let _ = write!(page, "- **{}** {}", finding.category, code(&lines));
            if let Some(name) = &place.name {
                let _ = write!(page, " in {}", code(name));
            }
            let _ = writeln!(page, ": {}", inline(&finding.message));
        }
        page.push('\n');
    }
    if !stale.is_empty() {
        let _ = writeln!(page, "## Stale docs ({})\n", stale.len());
        for doc in stale {
            let _ = write!(page, "- {}", code(&format!("{}:{}", doc.place.path, doc.place.start_line)));
            if let Some(name) = &doc.place.name {
                let _ = write!(page, " in {}", code(name));
            }
            let _ = writeln!(page, ": {}", inline(&doc.why));
        }
        page.push('\n');
    }
    if !unanswered.is_empty() {
        let _ = writeln!(page, "## Without a usable answer ({})\n", unanswered.len());
        unanswered.sort_by_key(|(place, _)| (&place.path, place.start_line));
        for (place, why) in unanswered {
            let _ = writeln!(page, "- {} in {}: {}", title(place), code(&place.path), inline(why));
        }
        page.push('\n');
    }
    page
}

/// A repository's landing page: provenance, what each task ran with, the review's
/// totals and every documented file. `pages` maps each
/// source path to (its page under the repository folder, units, units undocumented).
pub fn repo_index(
    repo: &str,
    facts: &RepoFacts,
    models: &[Option<(&str, &TaskModel)>],
    review: Option<ReviewTotals>,
    pages: &BTreeMap<String, (String, PageSummary)>,
    house_style: Option<HouseStyleTotals>,
    docs_patch: Option<(&Result<RepoPatch, String>, &Path)>,
) -> String {
    let mut page = format!("# {}\n\n", code(repo));
    if let Some(root) = &facts.root {
        let _ = write!(page, "Source: {}", code(root));
        if let Some(commit) = &facts.git_commit {
            let _ = write!(page, " at commit {}", code(commit));
        }
        page.push_str(".\n\n");
    }
    for (task, model) in models.iter().flatten() {
        let _ = writeln!(page, "- {task}: {}", model.byline());
    }
    if let Some(ReviewTotals { units, findings, stale_docs }) = review {
        let _ = write!(page, "- [Review](review.md): {} in {}", count(findings, "finding"), count(units, "unit"));
        if stale_docs > 0 {
            let _ = write!(page, ", {}", count(stale_docs, "stale doc"));
        }
        let _ = writeln!(page, " (`review.sarif` for tools)");
    }
    page.push('\n');
    if !pages.is_empty() {
        let sum = |count: fn(&PageSummary) -> usize| pages.values().map(|(_, summary)| count(summary)).sum::<usize>();
        let (units, in_source, missing) = (sum(|p| p.units), sum(|p| p.in_source), sum(|p| p.missing));
        let _ = write!(page, "## Documentation\n\n{} in {}", count(units, "unit"), count(pages.len(), "file"));
        if in_source > 0 {
            let _ = write!(page, ", {in_source} documented in the source (the model was not asked about them)");
        }
        let _ = write!(page, ", {missing} without documentation.");
        if let Some(HouseStyleTotals { asked, off }) = house_style.filter(|totals| totals.asked > 0) {
            let _ = write!(page, " Of the {} asked to name parameters as this repository's docs do, {off} name them otherwise.", count(asked, "answer"));
        }
        page.push_str("\n\n");
        for (path, (target, summary)) in pages {
            let about = summary.about.as_deref().map(|about| format!(": {}", inline(about))).unwrap_or_default();
            let _ = writeln!(page, "- [{}]({}) — {}{about}", inline(path), uri_path(target), count(summary.units, "unit"));
        }
        page.push('\n');
    }
    match docs_patch {
        Some((Ok(patch), path)) => page.push_str(&patch_section(patch, path, facts.root.as_deref().unwrap_or("."))),
        Some((Err(why), _)) => {
            let _ = writeln!(page, "## Documentation patch\n\nNone: {why}.\n");
        }
        None => {}
    }
    page
}

/// What the docs patch adds, how to apply it to the checkout at `root`, and what it left
/// out and why.
fn patch_section(patch: &RepoPatch, path: &Path, root: &str) -> String {
    let mut section = String::from("## Documentation patch\n\n");
    if patch.comments > 0 {
        let _ = writeln!(
            section,
            "[`docs.patch`](docs.patch) adds {} to {} of the checkout as it is now{}. Read it, then apply it: {}\n",
            count(patch.comments, "comment"),
            count(patch.files, "file"),
            match patch.replaced {
                0 => String::new(),
                n => format!("; {} of them in place of a doc whose parameters no longer match its code's (the old doc goes)", n),
            },
            code(&format!("git -C {} apply {}", shell_word(root), shell_word(&path.display().to_string()))),
        );
    } else {
        section.push_str("No comment to add, so no `docs.patch`.\n\n");
    }
    if !patch.left_out.is_empty() {
        section.push_str("Left out:\n\n");
        for (why, units) in &patch.left_out {
            let _ = writeln!(section, "- {}: {}", count(*units, "unit"), inline(why));
        }
        section.push('\n');
    }
    section
}

/// The export's front page: one line per repository.
pub fn front_page(repos: &[(String, String)]) -> String {
    let mut page = String::from("# hearth export\n\n");
    for (repo, folder) in repos {
        let _ = writeln!(page, "- [{}]({}/index.md)", inline(repo), uri_path(folder));
    }
    page
}

fn severity_name(rank: usize) -> &'static str {
    SEVERITIES.iter().rev().nth(rank).copied().unwrap_or("unknown severity")
}

/// A unit's heading: its name (with what it is inside), kind and lines.
fn title(place: &Place) -> String {
    let lines = format!("{}, lines {}–{}", place.kind, place.start_line, place.end_line);
    match (&place.name, &place.parent) {
        (Some(name), Some(parent)) => format!("{} in {} · {lines}", code(name), code(parent)),
        (Some(name), None) => format!("{} · {lines}", code(name)),
        (None, _) if is_file_header(place) => format!("The file · {lines}"),
        (None, _) => lines,
    }
}

/// Whether the unit at `place` is its file's header (an outline, a file's one unit).
fn is_file_header(place: &Place) -> bool {
    UnitKind::from_name(&place.kind).is_some_and(UnitKind::is_file_header)
}

/// "1 unit", "2 units".
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `text` as an inline code span: delimited by more backticks than it holds in a row.
pub(super) fn code(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// `text` as one word for a POSIX shell: as it is when it is plain, else single-quoted.
fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The fence for a code block holding `text`: longer than any backtick run in it.
fn fence(text: &str) -> String {
    "`".repeat((longest_run(text, '`') + 1).max(3))
}

fn longest_run(text: &str, c: char) -> usize {
    text.split(|x| x != c).map(str::len).max().unwrap_or(0)
}

/// Model or error text inside a line of Markdown: one line, and no HTML, links or
/// table cells made of it.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '<' | '>' | '[' | ']' | '|' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_section_says_how_many_comments_replace_stale_docs() {
        let mut patch = RepoPatch { comments: 3, files: 2, ..RepoPatch::default() };
        let section = patch_section(&patch, Path::new("/x/docs.patch"), "/src/r");
        assert!(section.contains("adds 3 comments to 2 files of the checkout as it is now. Read it"), "{section}");
        patch.replaced = 1;
        let section = patch_section(&patch, Path::new("/x/docs.patch"), "/src/r");
        assert!(section.contains("now; 1 of them in place of a doc whose parameters no longer match its code's (the old doc goes). Read it"), "{section}");
    }

    #[test]
    fn a_page_says_what_cut_a_doc_short() {
        let model = TaskModel {
            model: "smollm2".into(),
            model_hash: "h".into(),
            hearth_version: "0".into(),
            requantize: None,
            dtype: None,
            query_template: None,
            documented_in_source: None,
            house_styles_chosen: None,
        };
        let row = |line: u32, cut_off: Option<FinishReason>| Row {
            place: Place { unit_id: format!("u{line}"), repo: "r".into(), path: "m.py".into(), language: "python".into(), kind: "function".into(), name: Some(format!("f{line}")), parent: None, start_line: line, end_line: line + 1 },
            outcome: Ok(DocText { text: "\"\"\"Adds the two numbers.\n\nArgs:\n    a: the".into(), cut_off }),
        };
        let rows = [row(1, Some(FinishReason::Length)), row(4, Some(FinishReason::Context)), row(7, None)];
        let page = doc_page("m.py", &rows.iter().collect::<Vec<_>>(), &[], &HashMap::new(), &model);
        assert_eq!(page.matches("*Cut off at the token limit (`max_new_tokens`): its whole paragraphs, as the patch writes them.*").count(), 1, "{page}");
        assert_eq!(page.matches("*Cut off at the end of the model's context: its whole paragraphs").count(), 1, "{page}");
        let context_note = page.find("end of the model's context").unwrap();
        assert!(page.find("f4").unwrap() < context_note && context_note < page.find("f7").unwrap(), "{page}");
        // A cut-off answer shows the summary it keeps, closed; a whole one as written.
        assert_eq!(page.matches("```python\n\"\"\"Adds the two numbers.\"\"\"\n```").count(), 2, "{page}");
        assert_eq!(page.matches("Args:\n    a: the\n```").count(), 1, "{page}");
    }

    #[test]
    fn code_spans_and_fences_outlast_the_backticks_inside() {
        assert_eq!(code("a::b"), "`a::b`");
        assert_eq!(code("x `y` z"), "``x `y` z``");
        assert_eq!(code("`q`"), "`` `q` ``");
        assert_eq!(fence("/// plain"), "```");
        assert_eq!(fence("/// ```rust\n/// f();\n/// ```"), "````");
        assert_eq!(inline("a <b>\n[c](d) | e"), "a \\<b\\> \\[c\\](d) \\| e");
        assert_eq!(shell_word("/src/my-repo"), "/src/my-repo");
        assert_eq!(shell_word("/src/it's here"), "'/src/it'\\''s here'");
    }
}
