//! A run's output folder once the run finished: held against runs while it is read, its
//! markers' account of what each task ran with, and its rows as plain structs. What
//! reads a run after the fact (`hearth export`, `hearth search`) starts here, so none
//! of them reads a folder a run is compacting.

pub mod rows;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::run::{success_path, SUCCESS_FILE};
use crate::shard::Shard;
use crate::sink::{key_values, open_parquet, OutputLock, PartFolder};
use crate::source::{DocConventions, SourceInfo};
use crate::tasks::TaskKind;
use crate::{Error, Result};

/// What a task ran with, from its run's marker.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskModel {
    /// The model as the pipeline gave it.
    pub model: String,
    /// Its content hash.
    pub model_hash: String,
    /// The hearth that ran it (the marker's, not this one's).
    #[serde(skip)]
    pub hearth_version: String,
    /// `[model] requantize` as the pipeline gave it (markers before it was recorded: none).
    #[serde(default)]
    pub requantize: Option<String>,
    /// `[model] dtype` as the pipeline gave it.
    #[serde(default)]
    pub dtype: Option<String>,
    /// The embed task's query template.
    #[serde(default)]
    pub query_template: Option<String>,
    /// Docs: how many units were left to the doc the source has (`skip_documented`);
    /// none when every unit got the model's (and in markers before it was recorded).
    #[serde(default)]
    pub documented_in_source: Option<u64>,
    /// Docs: the house styles the pipeline chose, by language, when the prompts followed
    /// house styles (markers before they were recorded: none, and no answer is checked).
    #[serde(default)]
    pub house_styles_chosen: Option<BTreeMap<String, String>>,
}

impl TaskModel {
    /// "hearth 0.1.0 with `model`".
    pub fn byline(&self) -> String {
        format!("hearth {} with `{}`", self.hearth_version, self.model.replace('`', "'"))
    }
}

/// An output folder whose run finished, held against runs for as long as this lives.
pub struct FinishedRun {
    out: PathBuf,
    shards: Vec<Option<Shard>>,
    /// Task name → the model it ran with.
    tasks: HashMap<String, TaskModel>,
    _locks: Vec<OutputLock>,
}

#[derive(Deserialize)]
struct Marker {
    hearth_version: String,
    tasks: Vec<MarkerTask>,
}

#[derive(Deserialize)]
struct MarkerTask {
    task: String,
    #[serde(flatten)]
    model: TaskModel,
}

impl FinishedRun {
    /// Takes the locks of `out`'s run (each shard's, for a sharded one), then checks
    /// every marker is there: a run that started in between removed its marker first.
    pub fn hold(out: &Path) -> Result<FinishedRun> {
        let shards = marker_shards(out)?;
        let locks = shards.iter().map(|&shard| OutputLock::acquire(out, shard)).collect::<Result<Vec<_>>>()?;
        let mut tasks = HashMap::new();
        for &shard in &shards {
            let path = success_path(out, shard);
            let text = fs::read_to_string(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => unfinished(out),
                _ => Error::io(&path, e),
            })?;
            let marker: Marker = serde_json::from_str(&text).map_err(|e| Error::dataset(&path, format!("not a hearth run's marker: {e}")))?;
            let version = marker.hearth_version;
            tasks.extend(marker.tasks.into_iter().map(|t| (t.task, TaskModel { hearth_version: version.clone(), ..t.model })));
        }
        Ok(FinishedRun { out: out.to_path_buf(), shards, tasks, _locks: locks })
    }

    /// What `task` ran with, if the run had it.
    pub fn task_model(&self, task: TaskKind) -> Option<&TaskModel> {
        self.tasks.get(task.name())
    }

    /// Every shard's part files of `task`.
    pub fn parts(&self, task: TaskKind) -> Result<Vec<PathBuf>> {
        let dir = self.out.join(task.dir_name());
        let mut parts = Vec::new();
        for &shard in &self.shards {
            parts.extend(PartFolder::open(&dir, shard)?.parts()?);
        }
        Ok(parts)
    }

    /// How the walk's repositories document parameters, as it recorded it (every shard's
    /// walk counts them all, so the first shard's footer says it).
    pub fn doc_conventions(&self) -> Result<DocConventions> {
        match self.units_files().first() {
            Some(units) => crate::tasks::read_doc_conventions(units),
            None => Ok(DocConventions::default()),
        }
    }

    /// Every shard's `units.parquet`: the walk the run's tasks read.
    pub fn units_files(&self) -> Vec<PathBuf> {
        self.shards.iter().map(|&shard| crate::job::units_path(&self.out, shard)).collect()
    }

    /// Each repository's root and commit, from the units files' provenance.
    pub fn repo_facts(&self) -> Result<HashMap<String, RepoFacts>> {
        let mut facts = HashMap::new();
        for units in self.units_files() {
            let metadata: HashMap<String, String> = key_values(&open_parquet(&units)?).into_iter().collect();
            let sources: Vec<SourceInfo> = metadata.get("hearth.sources").and_then(|value| serde_json::from_str(value).ok()).unwrap_or_default();
            let max_unit_bytes = metadata
                .get("hearth.walk_config")
                .and_then(|value| serde_json::from_str::<serde_json::Value>(value).ok())
                .and_then(|config| config["max_unit_bytes"].as_u64())
                .map(|bytes| bytes as usize);
            for source in sources {
                facts.insert(source.repo, RepoFacts { root: Some(source.root), git_commit: source.git_commit, max_unit_bytes });
            }
        }
        Ok(facts)
    }
}

/// The shards whose markers are in `out`: the unsharded run's, or all N of a sharded
/// one's. Anything else is a run still going or never finished.
pub(crate) fn marker_shards(out: &Path) -> Result<Vec<Option<Shard>>> {
    let entries = fs::read_dir(out).map_err(|e| Error::io(out, e))?;
    let mut shards = Vec::new();
    for entry in entries {
        let name = entry.map_err(|e| Error::io(out, e))?.file_name().to_string_lossy().into_owned();
        if name == SUCCESS_FILE {
            return Ok(vec![None]);
        }
        if let Some(shard) = name.strip_prefix(SUCCESS_FILE).and_then(Shard::from_tag) {
            shards.push(shard);
        }
    }
    let Some(count) = shards.iter().map(|s| s.count).max() else { return Err(unfinished(out)) };
    let missing: Vec<String> = (0..count).filter(|&i| !shards.iter().any(|s| (s.index, s.count) == (i, count))).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "{}: shards {} have not finished (no _SUCCESS-i-of-{count}); read it once every shard's run has",
            out.display(),
            missing.join(", ")
        )));
    }
    Ok((0..count).map(|index| Some(Shard { index, count })).collect())
}

fn unfinished(out: &Path) -> Error {
    Error::Config(format!(
        "{}: no finished run (no {SUCCESS_FILE}): a run into it is going, was stopped, or never ran; `hearth run` finishes it",
        out.display()
    ))
}

/// Where a repository's units came from, from the walk's provenance metadata.
#[derive(Debug, Clone, Default)]
pub struct RepoFacts {
    /// The root the run walked (absolute since provenance records it so).
    pub root: Option<String>,
    /// The commit the checkout was at.
    pub git_commit: Option<String>,
    /// The run's unit budget, which a re-split of the checkout must use to find its units.
    pub max_unit_bytes: Option<usize>,
}
