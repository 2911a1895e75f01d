//! `hearth search OUT QUERY`: the units of a finished run nearest a question, by the
//! vectors its embed task wrote: what embeddings of a codebase are for, answered
//! without the code or the question leaving the machine.
//!
//! The query is embedded as the units were: by the same model (checked by its content
//! hash, so a model file replaced since the run is refused rather than compared in
//! another space), loaded to the same weight format, pooled the same way, and wrapped
//! in the task's `query_template`. Every stored vector is L2-normalised, as the query's
//! is, so a dot product is the cosine. Rows are read batch by batch and only the best
//! `top` are kept, so memory does not grow with the run.
//!
//! The run's folder is held (its locks taken) only while its marker and rows are read,
//! not while the model loads: a nightly run that starts meanwhile is not turned away.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::engine::{LoadOptions, Model, ModelSource, Placement, Pooling, Precision, Requantize};
use crate::finished::rows::{self, Place};
use crate::finished::{FinishedRun, TaskModel};
use crate::run::{weights_identity, QUERY_TEMPLATE};
use crate::sink::{key_values, open_parquet};
use crate::tasks::{QueryTemplate, TaskKind};
use crate::{Error, Result};

/// What to search with and for.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// How many units to return, best first.
    pub top: usize,
    /// The model to embed the query with, instead of the one the run recorded (the same
    /// model moved elsewhere: its content hash must still match).
    pub model: Option<String>,
    /// Where the query is embedded.
    pub device: Placement,
    /// Only units of this repository.
    pub repo: Option<String>,
    /// Only units of this language.
    pub language: Option<String>,
}

/// One unit found.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Cosine similarity of the unit's vector and the query's, in [-1, 1].
    pub score: f32,
    /// The unit.
    pub place: Place,
}

/// What a search found, and what it searched.
#[derive(Debug, Clone)]
pub struct Found {
    /// The best units, best first.
    pub hits: Vec<Hit>,
    /// Units compared with the query (those the filters left and that have a vector).
    pub searched: u64,
    /// Rows without a vector (their embedding failed).
    pub without_vector: u64,
    /// The model the query was embedded with.
    pub model: String,
    /// Time spent loading it.
    pub load: Duration,
}

/// The embed task's vectors as every part file must describe them.
#[derive(Debug, Clone, PartialEq)]
struct Space {
    model_hash: String,
    pooling: Pooling,
    dim: usize,
    /// The weight format asked of the model (the rows' `hearth.requantize`).
    weights: String,
}

/// Finds the `options.top` units of the finished run in `out` nearest `query`.
pub fn search(out: &Path, query: &str, options: &SearchOptions) -> Result<Found> {
    if query.trim().is_empty() {
        return Err(Error::Config("the query is empty".into()));
    }
    let (task, space) = {
        let run = FinishedRun::hold(out)?;
        let task = run.task_model(TaskKind::Embed).cloned().ok_or_else(|| {
            Error::Config(format!("{}: its run had no embed task ([tasks.embed]), so there are no embeddings to search", out.display()))
        })?;
        let parts = run.parts(TaskKind::Embed)?;
        let first = parts.first().ok_or_else(|| Error::Config(format!("{}: its embed task wrote no rows (no units)", out.display())))?;
        (task, space_of(first, &open_parquet(first)?)?)
    };
    if task.model_hash != space.model_hash {
        return Err(Error::Config(format!(
            "{}: its marker names model {} ({}), its embeddings were made by {}: the folder is not one run's",
            out.display(),
            task.model,
            task.model_hash,
            space.model_hash
        )));
    }

    let loading = Instant::now();
    let model_name = options.model.clone().unwrap_or_else(|| task.model.clone());
    let model = load_model(&model_name, &task, &space, &options.device)?;
    let load = loading.elapsed();
    if model.decoder.config().hidden_size != space.dim {
        return Err(Error::model(&model_name, format!("it embeds in {} dimensions, the run's vectors have {}", model.decoder.config().hidden_size, space.dim)));
    }
    let template = QueryTemplate::new("the run's query_template", task.query_template.as_deref().unwrap_or(QUERY_TEMPLATE))?;
    let text = template.render(query).map_err(Error::Config)?;
    let tokens = model.tokenizer.encode(&text)?;
    let vector = model.embed(&tokens, space.pooling).map_err(|e| Error::Config(format!("the query: {e}")))?;
    drop(model);

    let run = FinishedRun::hold(out)?;
    let mut best = Best::new(options.top);
    let (mut searched, mut without_vector) = (0, 0);
    for part in &run.parts(TaskKind::Embed)? {
        let file = open_parquet(part)?;
        let here = space_of(part, &file)?;
        if here != space {
            return Err(Error::dataset(part, format!("its embeddings ({here:?}) are not those the query was embedded for ({space:?}): the folder changed during the search; search again")));
        }
        rows::for_each_batch_of(part, file, |columns| {
            let embeddings = columns.column("embedding")?.as_fixed_size_list_opt().ok_or_else(|| columns.wrong_type("embedding"))?;
            let values = embeddings.values().as_primitive_opt::<Float32Type>().ok_or_else(|| columns.wrong_type("embedding"))?.values();
            let repo = columns.string("repo")?;
            let language = columns.string("language")?;
            for row in 0..columns.num_rows() {
                let wanted = |filter: &Option<String>, column: &arrow_array::StringArray| filter.as_ref().is_none_or(|f| f == column.value(row));
                if !(wanted(&options.repo, repo) && wanted(&options.language, language)) {
                    continue;
                }
                if embeddings.is_null(row) {
                    without_vector += 1;
                    continue;
                }
                searched += 1;
                let unit = &values[row * space.dim..(row + 1) * space.dim];
                let score: f32 = unit.iter().zip(&vector).map(|(a, b)| a * b).sum();
                if best.admits(score) {
                    best.push(score, columns.place(row)?);
                }
            }
            Ok(())
        })?;
    }
    Ok(Found { hits: best.into_sorted(), searched, without_vector, model: model_name, load })
}

/// What a part file (`file`, opened from `part`) says of its embedding column and the
/// weights that made it.
fn space_of(part: &Path, file: &ParquetRecordBatchReaderBuilder<File>) -> Result<Space> {
    let schema = file.schema().clone();
    let metadata: HashMap<String, String> = key_values(file).into_iter().collect();
    let field = schema.field_with_name("embedding").map_err(|_| Error::dataset(part, "an embed part file has an `embedding` column"))?;
    let field_key = |key: &str| field.metadata().get(key).cloned().ok_or_else(|| Error::dataset(part, format!("its embedding column does not record `{key}`")));
    let pooling = field_key("hearth.pooling")?;
    Ok(Space {
        model_hash: field_key("hearth.model_hash")?,
        pooling: serde_json::from_value(serde_json::Value::String(pooling.clone()))
            .map_err(|_| Error::dataset(part, format!("unknown pooling `{pooling}`")))?,
        dim: field_key("hearth.dim")?.parse().map_err(|_| Error::dataset(part, "its embedding dimension is not a number"))?,
        weights: metadata.get("hearth.requantize").cloned().unwrap_or_default(),
    })
}

/// The model that made the run's vectors, loaded as the run loaded it, on `device`.
fn load_model(name: &str, task: &TaskModel, space: &Space, device: &Placement) -> Result<Model> {
    let source: ModelSource = name.parse()?;
    let hash = source.fingerprint()?;
    if hash != space.model_hash {
        return Err(Error::model(
            &name,
            format!(
                "its content hash is {hash}, the run's embeddings were made by {} ({}): vectors of another model do not compare; run the pipeline again, or pass --model with the one that made them",
                task.model, space.model_hash
            ),
        ));
    }
    // Markers from before these were recorded: the defaults, which the rows' own record
    // of the weights then confirms or refuses.
    let requantize_name = task.requantize.as_deref().unwrap_or("auto");
    let dtype_name = task.dtype.as_deref().unwrap_or("auto");
    let requantize: Requantize = requantize_name.parse().map_err(Error::Config)?;
    let precision: Precision = dtype_name.parse().map_err(Error::Config)?;
    let weights = weights_identity(requantize, precision.dtype());
    if weights != space.weights {
        return Err(Error::Config(format!(
            "the run's embeddings were made with weights `{}`, and its marker does not say how to load them so (it says requantize `{requantize_name}`, dtype `{dtype_name}`); run the pipeline again with this hearth",
            space.weights
        )));
    }
    let options = LoadOptions { requantize, dtype: precision.dtype(), ..LoadOptions::on(&device)? };
    Model::load(&source, &options)
}

/// The `capacity` highest scores seen, with their units: a min-heap whose root is the
/// score a newcomer must beat.
struct Best {
    capacity: usize,
    heap: BinaryHeap<Ranked>,
}

/// A hit ordered by score, lowest first (so the heap's root is the weakest kept); ties
/// by unit id, so equal scores come out in one order on every run.
struct Ranked(Hit);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.score.total_cmp(&self.0.score).then_with(|| self.0.place.unit_id.cmp(&other.0.place.unit_id))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl Best {
    fn new(capacity: usize) -> Best {
        Best { capacity, heap: BinaryHeap::with_capacity(capacity + 1) }
    }

    /// Whether `score` could be kept: cheaper to ask than building the unit's place.
    fn admits(&self, score: f32) -> bool {
        self.capacity > 0 && (self.heap.len() < self.capacity || self.heap.peek().is_some_and(|weakest| score >= weakest.0.score))
    }

    fn push(&mut self, score: f32, place: Place) {
        self.heap.push(Ranked(Hit { score, place }));
        if self.heap.len() > self.capacity {
            self.heap.pop();
        }
    }

    /// The kept hits, best first.
    fn into_sorted(self) -> Vec<Hit> {
        // Ascending in `Ranked`'s order is descending by score.
        self.heap.into_sorted_vec().into_iter().map(|r| r.0).collect()
    }
}

/// Where a hit is, for a person: `repo/path:start-end`.
pub fn location(place: &Place) -> String {
    format!("{}/{}:{}-{}", place.repo, place.path, place.start_line, place.end_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str) -> Place {
        Place {
            unit_id: id.into(),
            repo: "r".into(),
            path: "a.rs".into(),
            language: "rust".into(),
            kind: "function".into(),
            name: None,
            parent: None,
            start_line: 1,
            end_line: 2,
        }
    }

    #[test]
    fn the_best_keeps_the_highest_scores_best_first_ties_by_unit_id() {
        let mut best = Best::new(3);
        for (score, id) in [(0.1, "a"), (0.9, "b"), (-0.5, "c"), (0.9, "a2"), (0.3, "d"), (0.2, "e")] {
            if best.admits(score) {
                best.push(score, place(id));
            }
        }
        assert!(!best.admits(0.25), "0.3 is the weakest kept");
        let hits: Vec<(f32, String)> = best.into_sorted().into_iter().map(|h| (h.score, h.place.unit_id)).collect();
        assert_eq!(hits, vec![(0.9, "a2".to_string()), (0.9, "b".to_string()), (0.3, "d".to_string())]);
        assert!(!Best::new(0).admits(1.0));
    }
}
