//! How a repository's docs name a function's parameters, so that the docs hearth writes
//! into it read like the ones it has: Bokeh's docstrings list them in a Google-style
//! `Args:` section, OpenSSL's as Sphinx `:param x:` fields, Django's not at all. Asked
//! only for "a Python docstring", a model picks a convention of its own, and a patch of
//! hundreds of docs in another project's manner is one nobody merges.
//!
//! The style is read from the docs of the functions and methods the repository has
//! already documented, per language: most of those that name parameters in one
//! convention make it the house's; a repository whose documented functions almost never
//! name them writes plain prose. Too few docs, or a mix, says nothing, and the prompt
//! stays as it was. A pipeline may choose a language's style itself (a new repository
//! with no docs yet, or a team moving to one convention); its choice outranks the docs.

use std::collections::{BTreeMap, HashMap};

use crate::source::{names_parameters, DocConventions, Language, ParamConvention, Tally, UnitKind, MIN_DOCUMENTED};


/// The share of documented functions naming parameters at or above which a convention
/// is the house's: most functions are short and their docs a sentence, so a project
/// names parameters where they need explaining (Bokeh: 40%, in Google sections; dbt:
/// 14%, most in Sphinx fields; sqlfluff: 8.5%, Google; Jupyter Server: 6.5%, NumPy).
const NAMED_SHARE: f64 = 0.05;

/// The share below which a repository writes plain prose (Django: 4 of 7,346).
const PLAIN_SHARE: f64 = 0.02;

/// How a repository's docs name parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HouseStyle {
    /// In prose, without a list of parameters.
    Plain,
    /// In this convention.
    Names(ParamConvention),
}

impl HouseStyle {
    /// What the docs prompt says of it, after the convention's name.
    pub fn words(self) -> String {
        let named = match self {
            HouseStyle::Plain => return "in plain sentences without a list of parameters".to_string(),
            HouseStyle::Names(ParamConvention::Google) => "a Google-style `Args:` section".to_string(),
            HouseStyle::Names(ParamConvention::NumPy) => "a NumPy-style `Parameters` section over a line of dashes".to_string(),
            HouseStyle::Names(ParamConvention::Sphinx) => "`:param name:` fields".to_string(),
            HouseStyle::Names(ParamConvention::Markdown) => "a `# Arguments` list".to_string(),
            HouseStyle::Names(ParamConvention::Swift) => "`- Parameter name:` lines".to_string(),
            HouseStyle::Names(ParamConvention::Tag(tag)) if tag.contains('…') => format!("`{}` tags", tag.replace('…', "name")),
            HouseStyle::Names(ParamConvention::Tag(tag)) => format!("`{tag} name` tags"),
        };
        format!("with {named} where its parameters need explaining")
    }

    /// The style a pipeline names (`[tasks.docs] house_style = { python = "numpy" }`),
    /// one of [`HouseStyle::names`], in any case.
    pub fn from_name(name: &str) -> Option<HouseStyle> {
        if name.trim().eq_ignore_ascii_case("plain") {
            return Some(HouseStyle::Plain);
        }
        ParamConvention::from_name(name).map(HouseStyle::Names)
    }

    /// The styles a map of language names to style names chooses, as a pipeline's
    /// `house_style` table and a run's marker write them; an error names the entry.
    pub fn chosen(names: &BTreeMap<String, String>) -> Result<HashMap<Language, HouseStyle>, String> {
        let mut styles = HashMap::new();
        for (language, style) in names {
            let named = Language::from_name(language).ok_or_else(|| format!("house_style: unknown language `{language}`"))?;
            let style = HouseStyle::from_name(style).ok_or_else(|| format!("house_style.{language}: unknown style `{style}` (one of {})", HouseStyle::names().join(", ")))?;
            if styles.insert(named, style).is_some() {
                return Err(format!("house_style: `{language}` is a language named before"));
            }
        }
        Ok(styles)
    }

    /// Its name, as a pipeline chooses it ([`HouseStyle::from_name`]).
    pub fn name(self) -> &'static str {
        match self {
            HouseStyle::Plain => "plain",
            HouseStyle::Names(convention) => convention.name(),
        }
    }

    /// The names [`HouseStyle::from_name`] knows, for an error to list.
    pub fn names() -> Vec<&'static str> {
        std::iter::once(HouseStyle::Plain).chain(ParamConvention::ALL.map(HouseStyle::Names)).map(HouseStyle::name).collect()
    }

    /// Its name in a cache key: a docs unit's prompt says it, so a change of it runs the
    /// unit again.
    pub fn key(self) -> String {
        match self {
            HouseStyle::Plain => "plain".to_string(),
            HouseStyle::Names(convention) => format!("{convention:?}"),
        }
    }
}

/// The house styles of a walk's repositories, by repository and language, and those the
/// pipeline chooses, by language.
#[derive(Debug, Default)]
pub struct HouseStyles {
    styles: HashMap<(String, Language), HouseStyle>,
    chosen: HashMap<Language, HouseStyle>,
}

impl HouseStyles {
    /// The styles a walk's `conventions` show, under those `chosen` by the pipeline.
    pub fn new(conventions: &DocConventions, chosen: HashMap<Language, HouseStyle>) -> HouseStyles {
        let styles = conventions.tallies().filter_map(|(repo, language, tally)| Some(((repo.to_string(), language), style_of(tally)?))).collect();
        HouseStyles { styles, chosen }
    }

    /// The style of `repo`'s docs in `language`: the pipeline's choice for the language,
    /// or the one its docs show, when they show one.
    pub fn of(&self, repo: &str, language: Language) -> Option<HouseStyle> {
        self.chosen.get(&language).or_else(|| self.styles.get(&(repo.to_string(), language))).copied()
    }

    /// Every repository's style read from its docs, in each language it has one in and
    /// the pipeline chooses none for, by repository and language.
    pub fn all(&self) -> Vec<(&str, Language, HouseStyle)> {
        let read = self.styles.iter().filter(|((_, language), _)| !self.chosen.contains_key(language));
        let mut all: Vec<(&str, Language, HouseStyle)> = read.map(|((repo, language), style)| (repo.as_str(), *language, *style)).collect();
        all.sort_by(|a, b| (a.0, a.1.name()).cmp(&(b.0, b.1.name())));
        all
    }

    /// The styles the pipeline chooses, by language.
    pub fn chosen(&self) -> Vec<(Language, HouseStyle)> {
        let mut chosen: Vec<(Language, HouseStyle)> = self.chosen.iter().map(|(language, style)| (*language, *style)).collect();
        chosen.sort_by_key(|(language, _)| language.name());
        chosen
    }

    /// The style a unit's doc is asked in: its repository's, for a function or method.
    pub fn for_unit(&self, repo: &str, language: Language, kind: UnitKind) -> Option<HouseStyle> {
        self.of(repo, language).filter(|_| names_parameters(kind))
    }
}

/// The style a repository's docs in one language show, if they show one.
fn style_of(tally: &Tally) -> Option<HouseStyle> {
    if tally.documented < MIN_DOCUMENTED {
        return None;
    }
    let named: u32 = tally.by_convention.values().sum();
    let share = f64::from(named) / f64::from(tally.documented);
    if share < PLAIN_SHARE {
        return Some(HouseStyle::Plain);
    }
    // The convention most of the named ones use; ties go to none.
    let (&convention, &most) = tally.by_convention.iter().max_by_key(|(_, &n)| n)?;
    let tied = tally.by_convention.values().filter(|&&n| n == most).count() > 1;
    (share >= NAMED_SHARE && 2 * most > named && !tied).then_some(HouseStyle::Names(convention))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styles(docs: &[(&str, Language, UnitKind, &str)]) -> HouseStyles {
        let mut count = DocConventions::default();
        for (repo, language, kind, doc) in docs {
            count.count(repo, *language, *kind, doc);
        }
        HouseStyles::new(&count, HashMap::new())
    }

    #[test]
    fn the_convention_most_documented_functions_name_parameters_in_is_the_house_style() {
        let google = "Adds.\n\nArgs:\n    a: the first\n    b: the second\n";
        let sphinx = "Adds.\n\n:param a: the first\n";
        let plain = "Adds two numbers.";
        let function = UnitKind::Function;
        let mut docs = vec![("bokeh", Language::Python, function, google); 3];
        docs.extend([("bokeh", Language::Python, UnitKind::Method, sphinx), ("bokeh", Language::Python, function, plain)]);
        // A class's doc does not count, nor another language's or repository's.
        docs.extend([("bokeh", Language::Python, UnitKind::Class, sphinx), ("bokeh", Language::JavaScript, function, "/** @param a x */")]);
        docs.extend(vec![("django", Language::Python, function, plain); 60]);
        docs.extend(vec![("mixed", Language::Python, function, google); 2]);
        docs.extend(vec![("mixed", Language::Python, function, sphinx); 2]);
        docs.extend(vec![("mixed", Language::Python, function, plain); 2]);
        docs.extend(vec![("few", Language::Python, function, google); 4]);
        docs.extend(vec![("doxygen", Language::C, function, "/**\n * Adds.\n * \\param a first\n */"); 5]);
        let styles = styles(&docs);
        assert_eq!(styles.of("bokeh", Language::Python), Some(HouseStyle::Names(ParamConvention::Google)));
        assert_eq!(styles.of("bokeh", Language::JavaScript), None, "one doc says nothing");
        assert_eq!(styles.of("django", Language::Python), Some(HouseStyle::Plain));
        assert_eq!(styles.of("mixed", Language::Python), None, "no convention has most of them");
        assert_eq!(styles.of("few", Language::Python), None);
        assert_eq!(styles.of("doxygen", Language::C), Some(HouseStyle::Names(ParamConvention::Tag("\\param"))));
        // One in thirty naming parameters is no convention, and not yet plain either;
        // one in twenty is.
        let mut sparse = vec![("sphinx", Language::Python, function, plain); 97];
        sparse.extend(vec![("sphinx", Language::Python, function, sphinx); 3]);
        assert_eq!(super::tests::styles(&sparse).of("sphinx", Language::Python), None);
        sparse.extend(vec![("sphinx", Language::Python, function, sphinx); 3]);
        assert_eq!(super::tests::styles(&sparse).of("sphinx", Language::Python), Some(HouseStyle::Names(ParamConvention::Sphinx)));
    }

    #[test]
    fn the_prompt_names_the_convention_as_it_is_written() {
        assert_eq!(HouseStyle::Names(ParamConvention::Google).words(), "with a Google-style `Args:` section where its parameters need explaining");
        assert_eq!(HouseStyle::Names(ParamConvention::Tag("@param")).words(), "with `@param name` tags where its parameters need explaining");
        assert_eq!(HouseStyle::Names(ParamConvention::Tag("<param name=\"…\">")).words(), "with `<param name=\"name\">` tags where its parameters need explaining");
        assert_eq!(HouseStyle::Plain.words(), "in plain sentences without a list of parameters");
        assert_ne!(HouseStyle::Names(ParamConvention::Tag("@param")).key(), HouseStyle::Names(ParamConvention::Tag("\\param")).key());
    }

    #[test]
    fn a_style_the_pipeline_chooses_outranks_the_docs_in_its_language_only() {
        assert_eq!(HouseStyle::names().join(", "), "plain, google, numpy, sphinx, markdown, swift, @param, \\param, @arg, @argument, <param>, .PARAMETER");
        for name in HouseStyle::names() {
            let style = HouseStyle::from_name(name).unwrap_or_else(|| panic!("{name} is a name it lists"));
            assert_eq!(HouseStyle::from_name(&name.to_uppercase()), Some(style));
            assert_eq!(style.name(), name);
        }
        assert_eq!(HouseStyle::from_name("<param>"), Some(HouseStyle::Names(ParamConvention::Tag("<param name=\"…\">"))));
        assert_eq!(HouseStyle::from_name("doxygen"), None);
        let google = "Adds.\n\nArgs:\n    a: the first\n";
        let mut count = DocConventions::default();
        for (repo, language) in [("bokeh", Language::Python), ("bokeh", Language::TypeScript)] {
            for _ in 0..5 {
                count.count(repo, language, UnitKind::Function, google);
            }
        }
        let numpy = HouseStyle::from_name("numpy").unwrap();
        let styles = HouseStyles::new(&count, HashMap::from([(Language::Python, numpy)]));
        assert_eq!(styles.of("bokeh", Language::Python), Some(numpy));
        assert_eq!(styles.of("new", Language::Python), Some(numpy), "a repository with no docs yet");
        assert_eq!(styles.for_unit("new", Language::Python, UnitKind::Class), None);
        assert_eq!(styles.of("bokeh", Language::TypeScript), Some(HouseStyle::Names(ParamConvention::Google)));
        assert_eq!(styles.all(), vec![("bokeh", Language::TypeScript, HouseStyle::Names(ParamConvention::Google))]);
        assert_eq!(styles.chosen(), vec![(Language::Python, numpy)]);
    }
}
