//! Pipeline files: the TOML a nightly job or a one-off run is described by.
//!
//! A file names its sources, the model, the batch limits, the output folder and the
//! tasks to run. Unknown keys are errors (a typo must not silently fall back to a
//! default), and relative paths are taken from the pipeline file's own folder, so a
//! cron job can run it from anywhere.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::{EngineOptions, ModelSource, Pooling, Precision, Requantize, SamplingParams, DEFAULT_MODEL};
use crate::job::WalkInput;
use crate::source::{DatasetColumns, Language, UnitKind, WalkConfig};
use crate::tasks::HouseStyle;
use crate::{Error, Result};

/// A pipeline as written in its file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// What to read.
    #[serde(default)]
    pub source: SourceSection,
    /// The model the generating tasks use unless a task names its own.
    #[serde(default)]
    pub model: ModelSection,
    /// Continuous-batching limits and the attention.
    #[serde(default)]
    pub engine: EngineOptions,
    /// Where rows go.
    pub output: OutputSection,
    /// Which tasks run; at least one.
    pub tasks: TasksSection,
    /// Sampling interval, thermal guard limits, warm-up, electricity price.
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetryConfig,
}

/// `[source]`: repositories and datasets, and how files are chosen and split.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// Repository roots to walk.
    #[serde(default)]
    pub repos: Vec<PathBuf>,
    /// Parquet or JSONL datasets of code.
    #[serde(default)]
    pub datasets: Vec<DatasetSection>,
    /// When not empty, only paths matching one of these globs are used.
    #[serde(default)]
    pub include: Vec<String>,
    /// Paths matching any of these globs are skipped.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Files larger than this are skipped (default 1 MiB).
    pub max_file_bytes: Option<u64>,
    /// Units larger than this are split (default 12 KiB).
    pub max_unit_bytes: Option<usize>,
    /// Follow symbolic links (default false).
    #[serde(default)]
    pub follow_links: bool,
    /// Walk hidden files too (default false).
    #[serde(default)]
    pub hidden: bool,
    /// Keep files a tool wrote, dependencies (`vendor/`, `node_modules/`, …) and what
    /// `.gitattributes` marks generated or vendored (default false).
    #[serde(default)]
    pub keep_generated: bool,
}

/// One `[[source.datasets]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSection {
    /// The dataset file.
    pub file: PathBuf,
    /// Column with the file path (default `path`).
    pub path_column: Option<String>,
    /// Column with the file content (default `content`).
    pub content_column: Option<String>,
    /// Column with the repository name (default `repo` when present).
    pub repo_column: Option<String>,
    /// Column with the language (default `language` when present, else detected).
    pub language_column: Option<String>,
}

/// `[model]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A Hugging Face directory, a GGUF file, `synthetic:<preset>`, or `smollm2` (the
    /// small model `scripts/fetch-model.sh` caches). Default `smollm2`.
    #[serde(default = "default_model")]
    pub source: String,
    /// Where workers run, one per entry: `auto` (every CUDA GPU, else the CPU),
    /// `cuda:0,cuda:1`, `cpu`, `cpu,cpu` (two CPU workers splitting the cores), or
    /// `cuda:0+cuda:1` (one worker, the model's layers split across both cards).
    /// Default `auto`.
    #[serde(default = "default_devices")]
    pub devices: String,
    /// What to do with quantized GGUF matrices (`auto`, `keep`, `q8_0`, …).
    #[serde(default = "default_requantize")]
    pub requantize: String,
    /// What activations and dense weights compute in: `auto` (f32 on the CPU; on a GPU
    /// bf16, f16 before Ampere, f32 on P40-class cards), `f32`, `bf16` or `f16`.
    /// Default `auto`. `f32` also keeps the host's KV cache in f32 (otherwise f16).
    #[serde(default = "default_dtype")]
    pub dtype: String,
}

fn default_model() -> String {
    DEFAULT_MODEL.into()
}
fn default_devices() -> String {
    "auto".into()
}
fn default_requantize() -> String {
    "auto".into()
}
fn default_dtype() -> String {
    "auto".into()
}

impl Default for ModelSection {
    fn default() -> Self {
        ModelSection { source: default_model(), devices: default_devices(), requantize: default_requantize(), dtype: default_dtype() }
    }
}

/// `[output]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// The output folder: `units.parquet`, `docs/`, `reviews/`, `embeddings/`, `_SUCCESS`.
    pub dir: PathBuf,
    /// Rows per part file: what a killed run can lose at most, per task. Default 256.
    #[serde(default = "default_part_rows")]
    pub part_rows: usize,
    /// A part file is also written when this many seconds passed since the last one,
    /// so slow models lose little when killed. Default 60.
    #[serde(default = "default_part_seconds")]
    pub part_seconds: u64,
}

fn default_part_rows() -> usize {
    256
}
fn default_part_seconds() -> u64 {
    60
}

/// `[tasks]`: each present table turns its task on.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TasksSection {
    /// A documentation comment per unit.
    pub docs: Option<GenerateTask>,
    /// Review findings per unit, as JSON parsed into rows.
    pub review: Option<GenerateTask>,
    /// An embedding vector per unit.
    pub embed: Option<EmbedTask>,
}

/// `[tasks.docs]` and `[tasks.review]`: a prompt and how to sample the answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateTask {
    /// This task's model, instead of `[model].source`.
    pub model: Option<String>,
    /// The system message, instead of the task's own.
    pub system: Option<String>,
    /// The user message as a minijinja template over the unit (`repo`, `language`,
    /// `path`, `kind`, `name`, `parent`, `start_line`, `end_line`, `content`,
    /// `documented`, `stale_doc`, and `doc_style`: the doc convention, for docs with the
    /// repository's house style and why a stale doc is stale), instead of the task's own.
    pub template: Option<String>,
    /// Generated tokens at most.
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// 0 is greedy.
    #[serde(default)]
    pub temperature: f32,
    /// Sample among the k most likely tokens (0 = all).
    #[serde(default)]
    pub top_k: usize,
    /// Nucleus sampling mass (1 = all).
    #[serde(default = "one")]
    pub top_p: f32,
    /// Subtracted from the logits of the tokens the answer has produced (OpenAI's and
    /// vLLM's `presence_penalty`, −2 to 2; 0 = off), against answers that repeat a line
    /// until `max_new_tokens`.
    #[serde(default)]
    pub presence_penalty: f32,
    /// Subtracted from a produced token's logit once for each time it came (OpenAI's
    /// `frequency_penalty`, −2 to 2; 0 = off): it grows with each pass through a loop.
    #[serde(default)]
    pub frequency_penalty: f32,
    /// Divides the positive logits of the tokens the prompt holds or the answer has
    /// produced and multiplies the negative ones (Hugging Face's and vLLM's
    /// `repetition_penalty`, > 0; 1 = off). It falls on the code's own names too.
    #[serde(default = "one")]
    pub repetition_penalty: f32,
    /// Seed of each unit's random stream.
    #[serde(default)]
    pub seed: u64,
    /// When an answer does not parse (docs: no usable comment; review: no findings),
    /// ask again up to this many times, sampled at `retry_temperature` with the next
    /// seeds, and keep the first that parses, or the last (default 0: the first answer).
    #[serde(default)]
    pub retries: u32,
    /// The temperature of the retries (default 0.7): greedy decoding would write the same
    /// answer again.
    #[serde(default = "default_retry_temperature")]
    pub retry_temperature: f32,
    /// Stop strings.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Review only: sample within the findings JSON schema, so every answer parses
    /// (default true). False lets the model write freely; answers that do not parse
    /// are kept raw with the reason.
    pub constrained: Option<bool>,
    /// Unit kinds the task leaves alone (no row). Docs default to `["code"]`: top-level
    /// imports, constants and statements have no definition a comment could document;
    /// review defaults to none.
    pub skip_kinds: Option<Vec<UnitKind>>,
    /// Docs only: leave alone a unit whose doc comment the source has already (default
    /// true). Its doc is the author's; asked again, the model rewrites it, and after a
    /// `docs.patch` is applied every unit it documented would run once more. False gives
    /// every unit the model's doc.
    pub skip_documented: Option<bool>,
    /// Docs only: ask for a function's doc to name its parameters as the repository's
    /// documented functions do (a Google `Args:` section, `@param` tags, or plain prose;
    /// [`crate::tasks::house`]), default true. False asks for the language's convention
    /// alone; a table chooses the style of the languages it names.
    pub house_style: Option<HouseStyleSetting>,
    /// Docs only: begin each answer with the opening of the comment asked for (`///`,
    /// `"""`, `/**`), written after the prompt for the model to go on from, so that it
    /// writes the comment rather than the code again (default true). False leaves the
    /// whole answer to the model: for a `template` that asks for something else.
    pub open_comment: Option<bool>,
}

/// `[tasks.docs] house_style`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged, expecting = "true, false, or a table of language = style (`{ python = \"numpy\" }`)")]
pub enum HouseStyleSetting {
    /// Follow each repository's docs (true), or ask for the language's convention (false).
    Follow(bool),
    /// The style for each language named, whatever the docs show (a new repository with
    /// none yet, or one moving to a convention); the docs of other languages are followed.
    Chosen(BTreeMap<String, String>),
}

fn default_max_new_tokens() -> usize {
    256
}

fn default_retry_temperature() -> f32 {
    0.7
}

/// The most retries a task may ask for: past it a unit costs more than a night allows.
pub const MAX_RETRIES: u32 = 8;
fn one() -> f32 {
    1.0
}

impl GenerateTask {
    /// The sampling parameters every unit of this task gets.
    pub fn sampling(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            repetition_penalty: self.repetition_penalty,
            seed: self.seed,
            max_new_tokens: self.max_new_tokens,
            stop: self.stop.clone(),
            ignore_eos: false,
            json_schema: None,
            answer_end: None,
            answer_opening: String::new(),
        }
    }

    /// Docs: whether prompts ask for a function's doc in a house style (the default).
    pub fn follows_house_style(&self) -> bool {
        !matches!(self.house_style, Some(HouseStyleSetting::Follow(false)))
    }
}

/// `[tasks.embed]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedTask {
    /// This task's model, instead of `[model].source` (embedding models such as
    /// gte-Qwen2 or Qwen3-Embedding are decoders too).
    pub model: Option<String>,
    /// How hidden states become one vector.
    #[serde(default)]
    pub pooling: Pooling,
    /// The text embedded, as a minijinja template over the unit.
    pub template: Option<String>,
    /// How `hearth search` wraps a query before embedding it, as a minijinja template
    /// over `query` (default: the query as it is).
    pub query_template: Option<String>,
    /// Unit kinds the task leaves alone (default none).
    #[serde(default)]
    pub skip_kinds: Vec<UnitKind>,
}

impl EmbedTask {
    /// Whether the task embeds a unit of `kind`: the run and its dry run ask the same.
    pub fn runs_on(&self, kind: UnitKind) -> bool {
        !self.skip_kinds.contains(&kind)
    }
}

/// Values given on the command line, which win over the file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replace the file's sources with these repositories (and `datasets`).
    pub repos: Vec<PathBuf>,
    /// Replace the file's sources with these datasets (and `repos`).
    pub datasets: Vec<PathBuf>,
    /// Replace the output folder.
    pub out: Option<PathBuf>,
    /// Replace `[model].source`.
    pub model: Option<String>,
    /// Replace `[model].devices`.
    pub devices: Option<String>,
}

impl Pipeline {
    /// Reads and checks `path`, resolving its relative paths against its folder, then
    /// applies `overrides` (whose paths are the caller's, relative to the working folder).
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut pipeline: Pipeline =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        pipeline.resolve_paths(base);
        pipeline.apply(overrides);
        pipeline.validate().map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Ok(pipeline)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.source.repos.iter_mut().for_each(resolve);
        self.source.datasets.iter_mut().for_each(|d| resolve(&mut d.file));
        resolve(&mut self.output.dir);
        if let Some(file) = &mut self.telemetry.test_sensor {
            resolve(file);
        }
        // Names (`synthetic:…`, the default model) and home-relative paths, which
        // ModelSource expands, are not relative to the pipeline file.
        let is_file_relative = |m: &str| {
            !m.starts_with("synthetic:") && m != DEFAULT_MODEL && !m.starts_with("~/") && Path::new(m).is_relative()
        };
        let t = &mut self.tasks;
        let own = [
            t.docs.as_mut().and_then(|d| d.model.as_mut()),
            t.review.as_mut().and_then(|r| r.model.as_mut()),
            t.embed.as_mut().and_then(|e| e.model.as_mut()),
        ];
        for m in std::iter::once(&mut self.model.source).chain(own.into_iter().flatten()) {
            if is_file_relative(m) {
                *m = base.join(&*m).display().to_string();
            }
        }
    }

    fn apply(&mut self, overrides: &Overrides) {
        if !overrides.repos.is_empty() || !overrides.datasets.is_empty() {
            self.source.repos = overrides.repos.clone();
            self.source.datasets = overrides
                .datasets
                .iter()
                .map(|file| DatasetSection {
                    file: file.clone(),
                    path_column: None,
                    content_column: None,
                    repo_column: None,
                    language_column: None,
                })
                .collect();
        }
        if let Some(out) = &overrides.out {
            self.output.dir = out.clone();
        }
        if let Some(model) = &overrides.model {
            self.model.source = model.clone();
        }
        if let Some(devices) = &overrides.devices {
            self.model.devices = devices.clone();
        }
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.source.repos.is_empty() && self.source.datasets.is_empty() {
            return Err("no source: give [source] repos or datasets (or --repo / --dataset)".into());
        }
        let tasks = &self.tasks;
        if tasks.docs.is_none() && tasks.review.is_none() && tasks.embed.is_none() {
            return Err("no task: add [tasks.docs], [tasks.review] or [tasks.embed]".into());
        }
        let t = &self.telemetry;
        if !(t.interval_s > 0.0 && t.window_s > 0.0 && t.warmup_s >= 0.0 && t.price_per_kwh >= 0.0) {
            return Err(format!("[telemetry] interval_s and window_s must be positive, warmup_s and price_per_kwh not negative: {t:?}"));
        }
        for device in t.devices.keys() {
            device.parse::<crate::engine::DeviceName>().map_err(|e| format!("[telemetry.devices] {e}"))?;
        }
        if self.output.part_rows == 0 {
            return Err("[output] part_rows must be positive".into());
        }
        self.model.requantize.parse::<Requantize>().map_err(|e| format!("[model] requantize: {e}"))?;
        self.model.dtype.parse::<Precision>().map_err(|e| format!("[model] dtype: {e}"))?;
        crate::workers::parse_devices(&self.model.devices).map_err(|e| format!("[model] devices: {e}"))?;
        for (name, task) in [("docs", &tasks.docs), ("review", &tasks.review)] {
            if let Some(task) = task {
                task.sampling().validate().map_err(|e| format!("[tasks.{name}]: {e}"))?;
                if task.retries > MAX_RETRIES {
                    return Err(format!("[tasks.{name}] retries = {}: at most {MAX_RETRIES}", task.retries));
                }
                if !(task.retry_temperature > 0.0 && task.retry_temperature.is_finite()) {
                    return Err(format!("[tasks.{name}] retry_temperature {} must be finite and > 0: at 0 a retry writes the same answer again", task.retry_temperature));
                }
                if task.max_new_tokens == 0 {
                    return Err(format!("[tasks.{name}] max_new_tokens must be positive"));
                }
                if name == "docs" && task.constrained == Some(true) {
                    return Err("[tasks.docs] constrained: docs are free text; only review has a schema".into());
                }
                if name == "review" && task.skip_documented.is_some() {
                    return Err("[tasks.review] skip_documented: only the docs task reads it".into());
                }
                if name == "review" && task.house_style.is_some() {
                    return Err("[tasks.review] house_style: only the docs task reads it".into());
                }
                if name == "review" && task.open_comment.is_some() {
                    return Err("[tasks.review] open_comment: only the docs task reads it".into());
                }
            }
        }
        self.chosen_house_styles()?;
        if let Some(query_template) = tasks.embed.as_ref().and_then(|e| e.query_template.as_deref()) {
            // Checked with the pipeline, not first by a search after the run.
            crate::tasks::QueryTemplate::new("[tasks.embed] query_template", query_template).map_err(|e| e.to_string())?;
        }
        for source in self.model_sources() {
            source.parse::<ModelSource>().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Every model source some task uses.
    fn model_sources(&self) -> Vec<&str> {
        let t = &self.tasks;
        let own = [
            t.docs.as_ref().map(|d| d.model.as_deref()),
            t.review.as_ref().map(|r| r.model.as_deref()),
            t.embed.as_ref().map(|e| e.model.as_deref()),
        ];
        own.into_iter().flatten().map(|m| m.unwrap_or(&self.model.source)).collect()
    }

    /// The walk inputs: the repositories as one input, then each dataset.
    pub fn walk_inputs(&self) -> Vec<WalkInput> {
        let mut inputs = Vec::new();
        if !self.source.repos.is_empty() {
            inputs.push(WalkInput::Repos(self.source.repos.clone()));
        }
        for d in &self.source.datasets {
            let defaults = DatasetColumns::default();
            let columns = DatasetColumns {
                path: d.path_column.clone().unwrap_or(defaults.path),
                content: d.content_column.clone().unwrap_or(defaults.content),
                repo: d.repo_column.clone(),
                language: d.language_column.clone(),
            };
            inputs.push(WalkInput::Dataset { file: d.file.clone(), columns });
        }
        inputs
    }

    /// How files are chosen and split.
    pub fn walk_config(&self) -> WalkConfig {
        let defaults = WalkConfig::default();
        WalkConfig {
            max_file_bytes: self.source.max_file_bytes.unwrap_or(defaults.max_file_bytes),
            max_unit_bytes: self.source.max_unit_bytes.unwrap_or(defaults.max_unit_bytes),
            include: self.source.include.clone(),
            exclude: self.source.exclude.clone(),
            follow_links: self.source.follow_links,
            hidden: self.source.hidden,
            keep_generated: self.source.keep_generated,
            ..defaults
        }
    }

    /// The house styles `[tasks.docs] house_style` chooses, by language (checked when the
    /// pipeline is loaded).
    pub fn chosen_house_styles(&self) -> std::result::Result<HashMap<Language, HouseStyle>, String> {
        let Some(HouseStyleSetting::Chosen(chosen)) = self.tasks.docs.as_ref().and_then(|docs| docs.house_style.as_ref()) else { return Ok(HashMap::new()) };
        HouseStyle::chosen(chosen).map_err(|e| format!("[tasks.docs] {e}"))
    }

    /// blake3 of the resolved pipeline, recorded with every output.
    pub fn config_hash(&self) -> String {
        blake3::hash(crate::job::to_json(self).as_bytes()).to_hex()[..16].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Pipeline> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        Pipeline::load(&path, &Overrides::default())
    }

    #[test]
    fn house_styles_are_followed_turned_off_or_chosen_by_language() {
        let docs = |setting: &str| load(&format!("{MINIMAL}{setting}\n"));
        for (setting, follows) in [("", true), ("house_style = true", true), ("house_style = false", false), ("house_style = { rust = \"markdown\" }", true)] {
            let pipeline = docs(setting).unwrap();
            assert_eq!(pipeline.tasks.docs.as_ref().unwrap().follows_house_style(), follows, "{setting}");
        }
        let chosen = docs("house_style = { py = \"numpy\", JavaScript = \"@param\", csharp = \"<param>\" }").unwrap().chosen_house_styles().unwrap();
        assert_eq!(chosen.len(), 3);
        assert_eq!(chosen[&Language::Python], HouseStyle::from_name("numpy").unwrap());
        assert_eq!(chosen[&Language::CSharp], HouseStyle::from_name("<param>").unwrap());
        for (setting, error) in [
            ("house_style = { python = \"numpi\" }", "[tasks.docs] house_style.python: unknown style `numpi` (one of plain, google, numpy,"),
            ("house_style = { pyton = \"numpy\" }", "[tasks.docs] house_style: unknown language `pyton`"),
            ("house_style = { py = \"numpy\", python = \"google\" }", "`python` is a language named before"),
            ("house_style = \"numpy\"", "true, false, or a table of language = style"),
        ] {
            let err = docs(setting).unwrap_err().to_string();
            assert!(err.contains(error) && err.contains("p.toml"), "{setting}: {err}");
        }
    }

    const MINIMAL: &str = "[source]\nrepos = ['repo']\n[model]\nsource = 'synthetic:tiny'\n[output]\ndir = 'out'\n[tasks.docs]\n";

    #[test]
    fn relative_paths_are_taken_from_the_pipeline_file() {
        let p = load(MINIMAL).unwrap();
        assert!(p.source.repos[0].is_absolute() && p.source.repos[0].ends_with("repo"));
        assert!(p.output.dir.is_absolute());
        assert_eq!(p.tasks.docs.unwrap().max_new_tokens, 256);
        // Model names and home-relative paths (ModelSource expands `~/`) stay as written;
        // a relative model path is taken from the pipeline's folder like the others.
        let mut p: Pipeline = toml::from_str(&MINIMAL.replace("synthetic:tiny", "~/m.gguf")).unwrap();
        p.tasks.docs.as_mut().unwrap().model = Some("models/docs.gguf".into());
        p.resolve_paths(Path::new("/etc/hearth"));
        assert_eq!(p.model.source, "~/m.gguf");
        assert_eq!(p.tasks.docs.unwrap().model.as_deref(), Some("/etc/hearth/models/docs.gguf"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_them() {
        let typo = MINIMAL.replace("[tasks.docs]\n", "[tasks.docs]\nmax_new_token = 3\n");
        let err = load(&typo).unwrap_err().to_string();
        assert!(err.contains("max_new_token") && err.contains("p.toml"), "{err}");
        let bad = MINIMAL.replace("[tasks.docs]\n", "[tasks.docs]\ntop_p = 0.0\n");
        assert!(load(&bad).unwrap_err().to_string().contains("top_p"));
        let no_task = MINIMAL.replace("[tasks.docs]\n", "[tasks]\n");
        assert!(load(&no_task).unwrap_err().to_string().contains("no task"));
        let bad_model = MINIMAL.replace("synthetic:tiny", "missing.gguf");
        assert!(load(&bad_model).unwrap_err().to_string().contains("missing.gguf"));
        let pooling = MINIMAL.replace("[tasks.docs]\n", "[tasks.embed]\npooling = 'max'\n");
        assert!(load(&pooling).unwrap_err().to_string().contains("max"));
        let query = MINIMAL.replace("[tasks.docs]\n", "[tasks.embed]\nquery_template = '{{ query '\n");
        let err = load(&query).unwrap_err().to_string();
        assert!(err.contains("[tasks.embed] query_template") && err.contains("p.toml"), "{err}");
        let dtype = MINIMAL.replace("[model]\n", "[model]\ndtype = 'f8'\n");
        let err = load(&dtype).unwrap_err().to_string();
        assert!(err.contains("[model] dtype") && err.contains("`f8`"), "{err}");
        let f16 = MINIMAL.replace("[model]\n", "[model]\ndtype = 'F16'\n");
        assert_eq!(load(&f16).unwrap().model.dtype.parse::<Precision>(), Ok(Precision::F16));
    }

    #[test]
    fn engine_limits_are_auto_or_positive_numbers() {
        use crate::engine::{AttentionBackend, BatchConfig, Limit, Model};
        let with = |engine: &str| load(&MINIMAL.replace("[output]", &format!("[engine]\n{engine}\n[output]")));
        assert_eq!(load(MINIMAL).unwrap().engine, EngineOptions::default(), "all auto");
        let given = with("max_seqs = 'auto'\nmax_batched_tokens = 256\nkv_memory_mib = 512\nattention = 'gathered'").unwrap().engine;
        let expected = EngineOptions { max_seqs: Limit::Auto, max_batched_tokens: Limit::Fixed(256), kv_memory_mib: Limit::Fixed(512), attention: AttentionBackend::Gathered };
        assert_eq!(given, expected);
        for key in ["max_seqs", "max_batched_tokens", "kv_memory_mib"] {
            for bad in ["0", "-1", "'lots'", "1.5"] {
                let err = with(&format!("{key} = {bad}")).unwrap_err().to_string();
                assert!(err.contains(key) && err.contains("give `auto` or a positive whole number"), "{bad}: {err}");
            }
        }
        let err = with("attention = 'fast'").unwrap_err().to_string();
        assert!(err.contains("attention") && err.contains("auto, host, gathered or flash"), "{err}");
        // The resolved pipeline (hashed, recorded) writes them back as they were given.
        let json = crate::job::to_json(&given);
        assert!(json.contains(r#""max_seqs":"auto""#) && json.contains(r#""kv_memory_mib":512"#) && json.contains(r#""attention":"gathered""#), "{json}");

        // On the CPU, `auto` is BatchConfig's default; a number is taken as given.
        let model = Model::load(&"synthetic:tiny".parse().unwrap(), &crate::engine::LoadOptions::default()).unwrap();
        assert_eq!(BatchConfig::sized(&model, EngineOptions::default()), BatchConfig::default());
        let b = BatchConfig::sized(&model, given);
        assert_eq!((b.max_seqs, b.max_batched_tokens, b.kv_memory, b.attention), (32, 256, 512 << 20, AttentionBackend::Gathered));
    }

    #[test]
    fn the_shipped_pipelines_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                // The default model may not be fetched here; the format is what is checked.
                let overrides = Overrides { model: Some("synthetic:tiny".into()), ..Overrides::default() };
                let p = Pipeline::load(&path, &overrides).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!p.walk_inputs().is_empty());
                seen += 1;
            }
        }
        assert!(seen >= 4, "docs, review, embed and nightly ship");
    }
}
