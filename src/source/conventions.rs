//! How a walk's documented functions name their parameters, per repository and
//! language: the counts the docs prompts read a house style from (`tasks::house`).
//!
//! Counted over every unit the walk splits, before a shard keeps its own: one shard of
//! eight holds an eighth of a repository's docs, too few to show its manner, and its
//! prompts (and their cache keys) would differ from the unsharded run's and from the
//! other shards'. Recorded in `units.parquet`'s footer, so every reader of a walk sees
//! the whole repositories' counts.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{parameter_convention, Language, ParamConvention, UnitKind};

/// Documented functions a repository needs, in a language, before its docs show a
/// manner. Fewer are not recorded: a dataset of a million small repositories would
/// otherwise fill the footer with counts that say nothing.
pub const MIN_DOCUMENTED: u32 = 5;

/// The key of the counts in `units.parquet`'s footer.
pub const DOC_CONVENTIONS_KEY: &str = "hearth.doc_conventions";

/// Whether the docs of units of `kind` say how they name parameters: functions' and
/// methods' (a class's doc documents its constructor's, or none).
pub fn names_parameters(kind: UnitKind) -> bool {
    matches!(kind, UnitKind::Function | UnitKind::Method)
}

/// The documented functions and methods of each repository in each language, and the
/// conventions their docs name parameters in.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DocConventions {
    tallies: HashMap<(String, Language), Tally>,
}

/// One repository's documented functions in one language.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// How many there are.
    pub documented: u32,
    /// How many name parameters, by the convention they do it in.
    pub by_convention: HashMap<ParamConvention, u32>,
}

/// A tally as the footer holds it.
#[derive(Serialize, Deserialize)]
struct Recorded {
    repo: String,
    language: String,
    documented: u32,
    named: BTreeMap<String, u32>,
}

impl DocConventions {
    /// Counts the doc a unit has, if it is a function's or method's.
    pub fn count(&mut self, repo: &str, language: Language, kind: UnitKind, doc: &str) {
        if !names_parameters(kind) {
            return;
        }
        let tally = self.tallies.entry((repo.to_string(), language)).or_default();
        tally.documented += 1;
        if let Some(convention) = parameter_convention(language, doc) {
            *tally.by_convention.entry(convention).or_default() += 1;
        }
    }

    /// Each repository's tally in each language it has documented functions in.
    pub fn tallies(&self) -> impl Iterator<Item = (&str, Language, &Tally)> {
        self.tallies.iter().map(|((repo, language), tally)| (repo.as_str(), *language, tally))
    }

    /// The counts as the footer holds them: JSON, by repository and language, of those
    /// with [`MIN_DOCUMENTED`] documented functions or more.
    pub fn to_json(&self) -> String {
        let mut recorded: Vec<Recorded> = self
            .tallies()
            .filter(|(_, _, tally)| tally.documented >= MIN_DOCUMENTED)
            .map(|(repo, language, tally)| Recorded {
                repo: repo.to_string(),
                language: language.name().to_string(),
                documented: tally.documented,
                named: tally.by_convention.iter().map(|(convention, n)| (convention.name().to_string(), *n)).collect(),
            })
            .collect();
        recorded.sort_by(|a, b| (&a.repo, &a.language).cmp(&(&b.repo, &b.language)));
        serde_json::to_string(&recorded).expect("plain structs with string keys always serialise")
    }

    /// Counts [`DocConventions::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<DocConventions, String> {
        let recorded: Vec<Recorded> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut tallies = HashMap::new();
        for Recorded { repo, language, documented, named } in recorded {
            let language = Language::from_name(&language).ok_or_else(|| format!("unknown language `{language}`"))?;
            let by_convention = named
                .into_iter()
                .map(|(name, n)| Ok((ParamConvention::from_name(&name).ok_or_else(|| format!("unknown convention `{name}`"))?, n)))
                .collect::<Result<_, String>>()?;
            tallies.insert((repo, language), Tally { documented, by_convention });
        }
        Ok(DocConventions { tallies })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally_in(conventions: &DocConventions, repo: &str, language: Language) -> Tally {
        conventions.tallies().find(|(r, l, _)| *r == repo && *l == language).map(|(_, _, tally)| tally.clone()).unwrap()
    }

    #[test]
    fn functions_docs_are_counted_by_convention_and_read_back_as_written() {
        let mut conventions = DocConventions::default();
        let google = "Adds.\n\nArgs:\n    a: the first\n";
        conventions.count("bokeh", Language::Python, UnitKind::Function, google);
        conventions.count("bokeh", Language::Python, UnitKind::Method, "Adds two numbers.");
        conventions.count("bokeh", Language::Python, UnitKind::Class, google);
        conventions.count("bokeh", Language::JavaScript, UnitKind::Function, "/** @param a x */");
        conventions.count("csharp", Language::CSharp, UnitKind::Method, "/// <param name=\"a\">x</param>");
        let tally = |repo: &str, language| tally_in(&conventions, repo, language);
        assert_eq!(tally("bokeh", Language::Python), Tally { documented: 2, by_convention: HashMap::from([(ParamConvention::Google, 1)]) }, "a class's doc does not count");
        assert_eq!(tally("bokeh", Language::JavaScript).by_convention, HashMap::from([(ParamConvention::Tag("@param"), 1)]));
        assert_eq!(DocConventions::from_json(&conventions.to_json()), Ok(DocConventions::default()), "too few docs to record");
        for _ in 0..4 {
            conventions.count("bokeh", Language::JavaScript, UnitKind::Function, "/** @param a x */");
            conventions.count("bokeh", Language::Python, UnitKind::Function, "Adds.");
        }
        let json = conventions.to_json();
        assert!(json.starts_with(r#"[{"repo":"bokeh","language":"javascript","documented":5,"named":{"@param":5}},{"repo":"bokeh","language":"python","documented":6,"#), "{json}");
        let read = DocConventions::from_json(&json).unwrap();
        assert_eq!(read.tallies().count(), 2, "the C# repository's one doc is not recorded");
        assert_eq!(tally_in(&read, "bokeh", Language::Python), tally_in(&conventions, "bokeh", Language::Python));
        assert!(DocConventions::from_json(r#"[{"repo":"r","language":"python","documented":1,"named":{"doxygen":1}}]"#).unwrap_err().contains("doxygen"));
    }
}
