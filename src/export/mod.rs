//! `hearth export OUT`: a finished run's docs and review rows in the forms people and
//! their tools read, one folder per repository:
//!
//! ```text
//! EXPORT/index.md                     the repositories
//! EXPORT/<repo>/index.md              provenance, totals, the documented files
//! EXPORT/<repo>/docs/<path>.md        a page per source file: its units' documentation
//! EXPORT/<repo>/docs.patch            the comments written into the checkout's files, for `git apply`
//! EXPORT/<repo>/review.md             the findings by severity and the stale docs, for people
//! EXPORT/<repo>/review.sarif          the same findings as SARIF 2.1.0, for tools
//! ```
//!
//! Parquet stays the record; this is a view of it. The export reads a run only when it
//! is finished (its `_SUCCESS` markers present) and holds the folder's locks while it
//! reads, so no run compacts the parts under it. It is rebuilt whole into a temporary
//! folder and swapped in: a page of a file deleted since does not linger, and a killed
//! export leaves the previous one.

mod markdown;
mod patch;
mod sarif;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::finished::rows::{self, DocText, Place, Row, StaleDoc};
use crate::finished::{FinishedRun, RepoFacts};
use crate::source::{parameter_convention, Language, UnitKind};
use crate::tasks::review::Finding;
use crate::tasks::{HouseStyle, HouseStyles, TaskKind};
use crate::{Error, Result};

/// The file that marks a folder as an export, which a later export may replace whole.
const EXPORT_MARKER: &str = ".hearth-export";

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Repositories exported.
    pub repos: usize,
    /// Documentation pages (source files).
    pub doc_pages: usize,
    /// Comments the docs patches add.
    pub doc_comments: usize,
    /// Review findings.
    pub findings: usize,
    /// Units whose doc no longer names its code's parameters, reported with the
    /// review's findings.
    pub stale_docs: usize,
    /// Units with a docs or review row that holds no usable answer.
    pub unanswered: usize,
    /// Docs answers asked to name parameters in their repository's manner (a house
    /// style) that name them in another convention, or in a list where prose was asked.
    pub off_house_style: usize,
}

/// Exports the finished run in `out` into `to` (replacing an earlier export there).
pub fn export(out: &Path, to: &Path) -> Result<ExportSummary> {
    let run = FinishedRun::hold(out)?;
    let docs = run.task_model(TaskKind::Docs).map(|model| Ok::<_, Error>((model, rows::read_docs(&run.parts(TaskKind::Docs)?, &run.units_files())?))).transpose()?;
    let reviews = run.task_model(TaskKind::Review).map(|model| Ok::<_, Error>((model, rows::read_reviews(&run.parts(TaskKind::Review)?)?))).transpose()?;
    if docs.is_none() && reviews.is_none() {
        return Err(Error::Config(format!(
            "{}: its run had no docs or review task, so there is nothing to export (embeddings stay in Parquet)",
            out.display()
        )));
    }
    let facts = run.repo_facts()?;
    // What each docs answer was asked: the walk's counts and the pipeline's choices.
    let house_styles = match docs.as_ref().and_then(|(model, _)| model.house_styles_chosen.as_ref()) {
        Some(chosen) => {
            let chosen = HouseStyle::chosen(chosen).map_err(|e| Error::dataset(out.join(crate::run::SUCCESS_FILE), e))?;
            Some(HouseStyles::new(&run.doc_conventions()?, chosen))
        }
        None => None,
    };
    let staging = Staging::begin(to)?;
    let to_absolute = std::path::absolute(to).map_err(|e| Error::io(to, e))?;
    let mut summary = ExportSummary::default();

    // Units the docs task left to the doc the source has are on their file's page too,
    // and a unit it ran on in place of a stale doc says so; the review reports each
    // stale doc beside the model's findings.
    let source_docs = rows::read_source_docs(&run.units_files())?;
    let in_source = match &docs {
        Some((model, _)) if model.documented_in_source.is_some() => source_docs.documented,
        _ => Vec::new(),
    };
    let mut repos: BTreeMap<&str, RepoRows> = BTreeMap::new();
    for row in docs.iter().flat_map(|(_, rows)| rows) {
        repos.entry(&row.place.repo).or_default().docs.push(row);
    }
    for row in &in_source {
        repos.entry(&row.place.repo).or_default().in_source.push(row);
    }
    for row in reviews.iter().flat_map(|(_, rows)| rows) {
        repos.entry(&row.place.repo).or_default().reviews.push(row);
    }
    if reviews.is_some() {
        for stale in source_docs.stale.values() {
            repos.entry(&stale.place.repo).or_default().stale.push(stale);
        }
    }
    let no_facts = RepoFacts::default();
    let mut folders = Vec::new();
    for (repo, RepoRows { docs: doc_rows, in_source, reviews: review_rows, mut stale }) in repos {
        let folder = safe_relative(repo);
        let facts = facts.get(repo).unwrap_or(&no_facts);
        let mut pages = BTreeMap::new();
        let mut docs_patch = None;
        let mut house_style = None;
        if let Some((model, _)) = &docs {
            let mut by_file: BTreeMap<&str, (Vec<&Row<DocText>>, Vec<&Row<DocText>>)> = BTreeMap::new();
            for &row in &doc_rows {
                by_file.entry(&row.place.path).or_default().0.push(row);
            }
            for &row in &in_source {
                by_file.entry(&row.place.path).or_default().1.push(row);
            }
            for (path, (rows, in_source)) in by_file {
                let page = Path::new("docs").join(format!("{}.md", safe_relative(path).display()));
                staging.write(&folder.join(&page), &markdown::doc_page(path, &rows, &in_source, &source_docs.stale, model))?;
                let page_summary = markdown::PageSummary::of(&rows, &in_source);
                summary.unanswered += page_summary.missing;
                pages.insert(path.to_string(), (page.display().to_string(), page_summary));
            }
            summary.doc_pages += pages.len();
            house_style = house_styles.as_ref().map(|styles| HouseStyleTotals::of(styles, &doc_rows));
            summary.off_house_style += house_style.map_or(0, |totals| totals.off);
            docs_patch = Some(match (&facts.root, facts.max_unit_bytes) {
                (Some(root), Some(max_unit_bytes)) if Path::new(root).is_dir() => {
                    let patch = patch::repo_patch(Path::new(root), &doc_rows, max_unit_bytes);
                    if !patch.diff.is_empty() {
                        staging.write(&folder.join("docs.patch"), &patch.diff)?;
                    }
                    summary.doc_comments += patch.comments;
                    Ok(patch)
                }
                (Some(root), Some(_)) => Err(format!("its units came from {}, not from a checkout", markdown::code(root))),
                (Some(_), None) => Err("the run did not record its unit budget, which finding its units again needs".to_string()),
                // Walked repositories all have a root; a dataset's rows name their own repositories.
                (None, _) => Err("its units came from a dataset's rows, not from a checkout".to_string()),
            });
        }
        let mut review = None;
        if let Some((model, _)) = &reviews {
            let findings: usize = review_rows.iter().filter_map(|r| r.outcome.as_ref().ok()).map(Vec::len).sum();
            summary.findings += findings;
            summary.unanswered += review_rows.iter().filter(|r| r.outcome.is_err()).count();
            stale.sort_by(|a, b| (&a.place.path, a.place.start_line).cmp(&(&b.place.path, b.place.start_line)));
            summary.stale_docs += stale.len();
            staging.write(&folder.join("review.md"), &markdown::review_digest(repo, &review_rows, &stale, model))?;
            let log = serde_json::to_string_pretty(&sarif::log(repo, &review_rows, &stale, model, facts)).expect("a JSON tree serialises");
            staging.write(&folder.join("review.sarif"), &log)?;
            review = Some(markdown::ReviewTotals { units: review_rows.len(), findings, stale_docs: stale.len() });
        }
        let models = [docs.as_ref().map(|(m, _)| ("Documentation", *m)), reviews.as_ref().map(|(m, _)| ("Review", *m))];
        let patch_path = to_absolute.join(&folder).join("docs.patch");
        let docs_patch = docs_patch.as_ref().map(|patch| (patch, patch_path.as_path()));
        staging.write(&folder.join("index.md"), &markdown::repo_index(repo, facts, &models, review, &pages, house_style, docs_patch))?;
        folders.push((repo.to_string(), folder.display().to_string()));
    }
    summary.repos = folders.len();
    staging.write(Path::new("index.md"), &markdown::front_page(&folders))?;
    staging.finish()?;
    Ok(summary)
}

/// How a repository's docs answers kept to the house style they were asked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HouseStyleTotals {
    /// Answers whose prompt asked for one.
    pub asked: usize,
    /// Those that name parameters otherwise.
    pub off: usize,
}

impl HouseStyleTotals {
    fn of(styles: &HouseStyles, rows: &[&Row<DocText>]) -> HouseStyleTotals {
        let mut totals = HouseStyleTotals { asked: 0, off: 0 };
        for row in rows {
            let (Some(language), Some(kind)) = (Language::from_name(&row.place.language), UnitKind::from_name(&row.place.kind)) else { continue };
            let (Some(asked), Ok(answer)) = (styles.for_unit(&row.place.repo, language, kind), &row.outcome) else { continue };
            totals.asked += 1;
            // An answer that names no parameter keeps to any style.
            if parameter_convention(language, &answer.text).is_some_and(|named| asked != HouseStyle::Names(named)) {
                totals.off += 1;
            }
        }
        totals
    }
}

/// A repository's rows in a finished run.
#[derive(Default)]
struct RepoRows<'a> {
    docs: Vec<&'a Row<DocText>>,
    /// Units the docs task left to the doc the source has, with that doc.
    in_source: Vec<&'a Row<DocText>>,
    reviews: Vec<&'a Row<Vec<Finding>>>,
    /// Units whose doc is stale, in file and line order once collected.
    stale: Vec<&'a StaleDoc>,
}

/// The lines a finding points at: its line when that falls inside its unit, else the
/// unit's whole span. The prompt shows the unit's line range but not numbered lines, so
/// a line outside it is a model's miscount, not a place to send a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    One(u32),
    Span(u32, u32),
}

fn finding_lines(place: &Place, finding: &Finding) -> Lines {
    match finding.line {
        Some(line) if (place.start_line..=place.end_line).contains(&line) => Lines::One(line),
        _ => Lines::Span(place.start_line, place.end_line),
    }
}

/// The export being built beside its destination, swapped in when complete.
struct Staging {
    to: PathBuf,
    dir: PathBuf,
}

impl Staging {
    /// Starts over a fresh staging folder for `to`. `to` must be new, empty, or an
    /// earlier export: the swap replaces it whole, so any other folder is refused.
    fn begin(to: &Path) -> Result<Staging> {
        if to.exists() && !to.join(EXPORT_MARKER).exists() && fs::read_dir(to).map_err(|e| Error::io(to, e))?.next().is_some() {
            return Err(Error::Config(format!(
                "{}: not an earlier hearth export and not empty; the export replaces its folder whole, so give a new one",
                to.display()
            )));
        }
        let name = to.file_name().ok_or_else(|| Error::Config(format!("{}: not a folder to export into", to.display())))?;
        let dir = to.with_file_name(format!(".{}.partial", name.to_string_lossy()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging { to: to.to_path_buf(), dir })
    }

    fn write(&self, relative: &Path, text: &str) -> Result<()> {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }

    fn finish(self) -> Result<()> {
        self.write(Path::new(EXPORT_MARKER), "written by hearth export; the next export replaces this folder whole\n")?;
        if self.to.exists() {
            fs::remove_dir_all(&self.to).map_err(|e| Error::io(&self.to, e))?;
        }
        fs::rename(&self.dir, &self.to).map_err(|e| Error::io(&self.to, e))
    }
}

/// `path` from the data (a dataset's path column may hold anything) as a relative path
/// that stays inside the folder it is joined to: root and `.` parts dropped, `..` kept
/// as a name (`%2E%2E`) rather than climbing.
fn safe_relative(path: &str) -> PathBuf {
    let mut safe = PathBuf::new();
    for component in Path::new(&path.replace('\0', "%00")).components() {
        match component {
            Component::Normal(part) => safe.push(part),
            Component::ParentDir => safe.push("%2E%2E"),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if safe.as_os_str().is_empty() {
        safe.push("%2E");
    }
    safe
}

/// A `/`-separated path percent-encoded for a URI or a Markdown link: RFC 3986's
/// unreserved characters and `/` as they are, every other byte as `%XX`.
fn uri_path(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => uri.push(byte as char),
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finished::marker_shards;
    use crate::run::SUCCESS_FILE;
    use crate::shard::Shard;
    use crate::sink::OutputLock;

    #[test]
    fn answers_naming_parameters_otherwise_than_their_house_style_are_counted() {
        let mut conventions = crate::source::DocConventions::default();
        for _ in 0..6 {
            conventions.count("bokeh", Language::Python, UnitKind::Function, "Adds.\n\nArgs:\n    a: the first\n");
            conventions.count("django", Language::Python, UnitKind::Function, "Adds two numbers.");
        }
        let styles = HouseStyles::new(&conventions, std::collections::HashMap::new());
        let row = |repo: &str, kind: &str, answer: &str| Row {
            place: Place { unit_id: "u".into(), repo: repo.into(), path: "m.py".into(), language: "python".into(), kind: kind.into(), name: None, parent: None, start_line: 1, end_line: 2 },
            outcome: Ok(DocText { text: answer.into(), cut_off: None }),
        };
        let rows = [
            row("bokeh", "function", "\"\"\"Adds.\n\nArgs:\n    a: the first\n\"\"\""),
            row("bokeh", "method", "\"\"\"Adds.\n\n:param a: the first\n\"\"\""),
            row("bokeh", "function", "\"\"\"Adds two numbers.\"\"\""),
            row("bokeh", "class", "\"\"\"A box.\n\n:param a: the first\n\"\"\""),
            row("django", "function", "\"\"\"Adds.\n\nArgs:\n    a: the first\n\"\"\""),
            row("django", "function", "\"\"\"Adds two numbers.\"\"\""),
            row("new", "function", "\"\"\"Adds.\n\n:param a: the first\n\"\"\""),
        ];
        let refs: Vec<&Row<DocText>> = rows.iter().collect();
        // Sphinx fields where Google sections were asked, and a list where prose was; a
        // class's doc and a repository with no style are asked none.
        assert_eq!(HouseStyleTotals::of(&styles, &refs), HouseStyleTotals { asked: 5, off: 2 });
    }

    #[test]
    fn paths_from_the_data_stay_inside_the_export() {
        assert_eq!(safe_relative("src/lib.rs"), PathBuf::from("src/lib.rs"));
        assert_eq!(safe_relative("/etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(safe_relative("../../x/./y"), PathBuf::from("%2E%2E/%2E%2E/x/y"));
        assert_eq!(safe_relative(".."), PathBuf::from("%2E%2E"));
        assert_eq!(safe_relative("/"), PathBuf::from("%2E"));
        assert_eq!(uri_path("src/a b/ü.rs"), "src/a%20b/%C3%BC.rs");
        assert_eq!(uri_path("data.jsonl:12"), "data.jsonl%3A12");
    }

    #[test]
    fn only_a_finished_run_is_exported_and_never_under_a_running_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let export = || super::export(out, &out.join("export")).unwrap_err().to_string();
        assert!(export().contains("no finished run"), "{}", export());
        // Two of three shards finished.
        for i in [0, 2] {
            fs::write(out.join(format!("_SUCCESS-{i}-of-3")), r#"{"hearth_version": "0.1.0", "tasks": []}"#).unwrap();
        }
        assert!(export().contains("shards 1/3 have not finished"), "{}", export());
        fs::write(out.join("_SUCCESS-1-of-3"), r#"{"hearth_version": "0.1.0", "tasks": []}"#).unwrap();
        assert_eq!(marker_shards(out).unwrap(), (0..3).map(|index| Some(Shard { index, count: 3 })).collect::<Vec<_>>());
        // A shard's run going (its lock held) stops the export at once.
        let running = OutputLock::acquire(out, Some(Shard { index: 1, count: 3 })).unwrap();
        assert!(matches!(super::export(out, &out.join("export")), Err(Error::Busy { .. })));
        drop(running);
        assert!(export().contains("no docs or review task"), "{}", export());
        fs::write(out.join(SUCCESS_FILE), "not json").unwrap();
        assert_eq!(marker_shards(out).unwrap(), vec![None]);
        assert!(export().contains("not a hearth run's marker"), "{}", export());
    }

    #[test]
    fn an_export_replaces_only_an_earlier_export() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("site");
        fs::create_dir(&to).unwrap();
        fs::write(to.join("notes.txt"), "mine").unwrap();
        let err = Staging::begin(&to).err().unwrap().to_string();
        assert!(err.contains("not an earlier hearth export"), "{err}");
        assert_eq!(fs::read_to_string(to.join("notes.txt")).unwrap(), "mine", "a folder that is not an export is left alone");

        let to = dir.path().join("export");
        for page in ["old.md", "new.md"] {
            let staging = Staging::begin(&to).unwrap();
            staging.write(Path::new(page), page).unwrap();
            staging.finish().unwrap();
        }
        assert!(to.join("new.md").exists() && !to.join("old.md").exists(), "the second export replaced the first whole");
        // A killed export's staging folder is cleared by the next.
        let staging = Staging::begin(&to).unwrap();
        staging.write(Path::new("torn.md"), "").unwrap();
        drop(staging);
        Staging::begin(&to).unwrap().finish().unwrap();
        assert!(!to.join("torn.md").exists() && to.join(EXPORT_MARKER).exists());
    }

    #[test]
    fn a_finding_points_at_its_line_only_when_that_is_inside_its_unit() {
        let place = Place {
            unit_id: "u".into(),
            repo: "r".into(),
            path: "a.rs".into(),
            language: "rust".into(),
            kind: "function".into(),
            name: Some("f".into()),
            parent: None,
            start_line: 10,
            end_line: 20,
        };
        let at = |line| finding_lines(&place, &Finding { severity: "low".into(), line, category: "bug".into(), message: "m".into() });
        assert_eq!(at(Some(10)), Lines::One(10));
        assert_eq!(at(Some(20)), Lines::One(20));
        assert_eq!(at(Some(3)), Lines::Span(10, 20), "a line counted from the unit's start is not trusted");
        assert_eq!(at(Some(21)), Lines::Span(10, 20));
        assert_eq!(at(None), Lines::Span(10, 20));
    }
}
