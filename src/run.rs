//! The run job: a pipeline end to end, as `hearth run` runs it. Source → units →
//! each task's engine → part files → `_SUCCESS`.
//!
//! A run is resumable and incremental by construction: every output row carries a
//! `cache_key` of (task, unit id and content, model hash, prompt hash, parameters);
//! a unit whose key already has a successful row is carried, not run; the rest run and
//! land in new part files; a final compaction leaves one row per live unit. A run
//! killed anywhere is finished by the next, and a re-run over an unchanged repository
//! loads no model at all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_schema::SchemaRef;
use candle_core::DType;
use serde::Serialize;

use crate::engine::{AttentionBackend, BatchConfig, BatchEngine, ChatTemplate, LoadOptions, Message, Model, ModelSource, Placement, Pooling, Precision, PromptFormat, Request, Requantize, SamplingParams, Tokenizer};
use crate::job::{self, to_json, WalkSummary};
use crate::pipeline::{EmbedTask, GenerateTask, Pipeline};
use crate::shard::{self, Shard};
use crate::sink::{OutputLock, PartFolder};
use crate::sink::parts::KeyState;
use crate::source::{Language, UnitKind, WalkStats};
use crate::tasks::{self, docs, review, Answer, Earlier, HouseStyle, HouseStyles, RowsBuilder, TaskKind, UnitKey, UnitRow, UnitStore, UnitTemplate};
use crate::telemetry::{Telemetry, TelemetryStats};
use crate::workers::{self, pool, Backend, Event, Fault, WorkerSpec, WorkerStats};
use crate::{Error, Result};

/// Name of the file an unsharded run writes last, when every task finished.
pub const SUCCESS_FILE: &str = "_SUCCESS";

/// The completion marker of a run: `_SUCCESS`, or `_SUCCESS-<i>-of-<N>` for a shard.
pub fn success_path(out: &Path, shard: Option<Shard>) -> PathBuf {
    out.join(format!("{SUCCESS_FILE}{}", shard::tag(shard)))
}

/// How this process takes part in a run.
#[derive(Clone, Copy, Default)]
pub struct RunOptions<'a> {
    /// The shard of the units this process runs; `None` runs them all.
    pub shard: Option<Shard>,
    /// A planted worker failure (testing the requeue path).
    pub fault: Option<Fault>,
    /// Run every unit again, even those with a row (a soak's repeated load).
    pub rerun: bool,
    /// Telemetry that outlives the run (a soak's); `None` samples for this run only.
    pub telemetry: Option<&'a Telemetry>,
    /// Models that outlive the run (a soak's); `None` loads them for this run only.
    pub models: Option<&'a ModelCache>,
}

/// Models kept loaded from one run to the next in one process. A soak's passes load
/// each model once, so the devices stay under load between passes instead of idling
/// through a reload (a minute or more for a 32B model).
#[derive(Default)]
pub struct ModelCache(Mutex<Option<Models>>);

/// Units embedded per batch of embedding calls.
const EMBED_GROUP: usize = 64;

/// Units read from the walk's file at a time. Small, since what a run holds is the
/// workers' flight plus one of these; a read costs microseconds beside a step.
const UNIT_READ_ROWS: usize = 64;

/// Counters a progress display reads while a run goes.
#[derive(Debug, Default)]
pub struct RunProgress {
    /// The task running now.
    pub task: Mutex<&'static str>,
    /// Units this task has to run.
    pub units_total: AtomicU64,
    /// Units this task has finished (or failed).
    pub units_done: AtomicU64,
    /// Tokens generated (or embedded) by this task so far.
    pub tokens: AtomicU64,
}

impl RunProgress {
    fn start(&self, task: TaskKind, units: usize) {
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = task.name();
        self.units_total.store(units as u64, Ordering::Relaxed);
        self.units_done.store(0, Ordering::Relaxed);
        self.tokens.store(0, Ordering::Relaxed);
    }

    fn unit_done(&self, tokens: usize) {
        self.units_done.fetch_add(1, Ordering::Relaxed);
        self.tokens.fetch_add(tokens as u64, Ordering::Relaxed);
    }
}

/// What one task did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskSummary {
    /// docs, review or embed.
    pub task: String,
    /// Units in the source the task runs on.
    pub units: u64,
    /// Docs: units left alone because the source has their doc (`skip_documented`);
    /// absent when every unit gets the model's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documented_in_source: Option<u64>,
    /// Docs: the house styles the prompts followed, by the pipeline's choice for these
    /// languages (`python = "numpy"`) and the walk's counts for the rest; absent when
    /// they followed none (`house_style = false`). `hearth export` reads what each
    /// answer was asked from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub house_styles_chosen: Option<BTreeMap<String, String>>,
    /// Units whose row from an earlier run was kept.
    pub carried: u64,
    /// Units run through the engine this time.
    pub run: u64,
    /// Units run this time that ended in an error row.
    pub failed: u64,
    /// Docs and review: units run this time whose answer the task could not read (their
    /// rows' `parse_error` says why).
    pub unread: u64,
    /// Docs and review: units run this time asked for more than one answer (`retries`).
    pub retried: u64,
    /// Of those, the units whose later answer the task read.
    pub read_on_retry: u64,
    /// Prompt tokens of the units run.
    pub tokens_in: u64,
    /// Generated tokens of the units run.
    pub tokens_out: u64,
    /// Wall time of the task.
    pub seconds: f64,
    /// Part of it spent loading the model (0 when an earlier task or run loaded it).
    pub load_seconds: f64,
    /// Share of full prompt blocks served from the prefix cache.
    pub prefix_hit_rate: f64,
    /// The model, as given.
    pub model: String,
    /// Its content hash.
    pub model_hash: String,
    /// Hash of the system message and template.
    pub prompt_hash: String,
    /// `[model] requantize` and `dtype` as the pipeline gave them: how a reader of the
    /// rows (`hearth search`) loads the model again to give the same numbers.
    pub requantize: String,
    /// See `requantize`.
    pub dtype: String,
    /// The embed task's `query_template`: how `hearth search` wraps a query to embed it
    /// beside the units. Not part of the cache key: the units' vectors do not depend on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_template: Option<String>,
    /// Part files written.
    pub parts_written: u64,
    /// Rows the compaction removed: of units gone from the source.
    pub rows_dropped_stale: u64,
    /// Rows the compaction removed: superseded by a newer row of the same unit.
    pub rows_dropped_superseded: u64,
    /// Small part files merged into full ones.
    pub parts_merged: u64,
    /// The most units held in memory at once: the workers' flight and one read
    /// batch, not the whole walk.
    pub units_held_peak: u64,
    /// What each worker did.
    pub workers: Vec<WorkerSummary>,
}

/// What one worker (one device) did for a task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerSummary {
    /// Its device.
    pub device: String,
    /// Units it finished.
    pub units: u64,
    /// Prompt tokens of those units.
    pub tokens_in: u64,
    /// Tokens it generated (for embeddings: embedded).
    pub tokens: u64,
    /// `tokens` per second of the task's wall time.
    pub tokens_per_s: f64,
    /// Share of the task's wall time it spent in engine steps.
    pub busy_fraction: f64,
    /// Seconds it spent in engine steps.
    pub busy_s: f64,
    /// Joules attributed to its units (the `energy_j` column summed); `None` when some
    /// unit's energy was not measured.
    pub energy_j: Option<f64>,
    /// Steps that failed or panicked (their units went to other workers).
    pub failures: u32,
    /// Times it halved its batch after running out of memory.
    pub shrinks: u32,
    /// Why it stopped taking work early, if it did.
    pub retired: Option<String>,
}

/// What a run did; also the content of `OUT/_SUCCESS` (or a shard's marker).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// hearth's version.
    pub hearth_version: String,
    /// Hash of the resolved pipeline.
    pub config_hash: String,
    /// `i/N` for a shard of a sharded run.
    pub shard: Option<String>,
    /// The devices the workers ran on.
    pub devices: Vec<String>,
    /// Units the source produced.
    pub units: u64,
    /// Repositories they came from.
    pub repositories: u64,
    /// Files the source skipped.
    pub skipped: u64,
    /// Units whose doc in the source names parameters their code does not have: docs
    /// run on them, and `hearth export`'s patch writes the new doc in place of the old.
    pub stale_docs: u64,
    /// Seconds the walk took.
    pub walk_seconds: f64,
    /// Each task, in the order run.
    pub tasks: Vec<TaskSummary>,
    /// What the hardware did (since sampling started: a soak's whole length).
    pub telemetry: TelemetryStats,
    /// Seconds the whole run took.
    pub seconds: f64,
}

impl RunSummary {
    /// Units that failed, over all tasks.
    pub fn failed(&self) -> u64 {
        self.tasks.iter().map(|t| t.failed).sum()
    }
}

/// Models by source and placement, each loaded the first time a task has work for it.
/// Workers on the same device share one copy.
struct Models {
    options: LoadOptions,
    loaded: HashMap<(String, Placement), Model>,
    /// Placements a model would not load on, and why.
    failed: HashMap<(String, Placement), String>,
    hashes: HashMap<String, String>,
}

impl Models {
    fn new(requantize: Requantize, precision: Precision) -> Models {
        let options = LoadOptions { requantize, dtype: precision.dtype(), ..LoadOptions::default() };
        Models { options, loaded: HashMap::new(), failed: HashMap::new(), hashes: HashMap::new() }
    }

    fn hash(&mut self, source: &str) -> Result<String> {
        if let Some(hash) = self.hashes.get(source) {
            return Ok(hash.clone());
        }
        let hash = source.parse::<ModelSource>()?.fingerprint()?;
        self.hashes.insert(source.to_string(), hash.clone());
        Ok(hash)
    }

    /// The model on each of `devices`, or why it would not load there, and the time
    /// spent loading it now (zero when every device had it already); the devices not
    /// tried yet load side by side. An error when it loads on none of them.
    fn on_devices(&mut self, source: &str, devices: &[Placement]) -> Result<(Vec<std::result::Result<&Model, String>>, Duration)> {
        let loading = Instant::now();
        let mut missing: Vec<Placement> = devices.to_vec();
        missing.sort_by_key(|d| d.to_string());
        missing.dedup();
        missing.retain(|d| {
            let key = (source.to_string(), d.clone());
            !self.loaded.contains_key(&key) && !self.failed.contains_key(&key)
        });
        let parsed: ModelSource = source.parse()?;
        let options = &self.options;
        let results: Vec<(Placement, Result<Model>)> = std::thread::scope(|scope| {
            let loads: Vec<_> = missing
                .iter()
                .map(|d| {
                    let parsed = &parsed;
                    scope.spawn(move || {
                        let load = LoadOptions::on(d).and_then(|on| Model::load(parsed, &LoadOptions { devices: on.devices, layers: on.layers, ..options.clone() }));
                        (d.clone(), load)
                    })
                })
                .collect();
            loads.into_iter().map(|h| h.join().expect("loading a model does not panic")).collect()
        });
        let loaded_in = if missing.is_empty() { Duration::ZERO } else { loading.elapsed() };
        let mut first_error = None;
        for (device, result) in results {
            let key = (source.to_string(), device.clone());
            match result {
                Ok(model) => {
                    self.loaded.insert(key, model);
                }
                Err(e) => {
                    tracing::warn!("{source} would not load on {device}: {e}");
                    self.failed.insert(key, e.to_string());
                    first_error.get_or_insert(e);
                }
            }
        }
        let models: Vec<std::result::Result<&Model, String>> = devices
            .iter()
            .map(|d| {
                let key = (source.to_string(), d.clone());
                self.loaded.get(&key).ok_or_else(|| self.failed[&key].clone())
            })
            .collect();
        if models.iter().all(|m| m.is_err()) {
            return Err(first_error.unwrap_or_else(|| Error::Config(format!("{source} loads on none of the devices: {}", models[0].as_ref().err().expect("all failed")))));
        }
        Ok((models, loaded_in))
    }
}

/// Runs `pipeline` (this process's shard of it), sampling the devices' sensors while it
/// goes. Per-unit failures become error rows and are counted in the summary; an `Err`
/// means the run itself could not go on (its finished parts stay).
pub fn run(pipeline: &Pipeline, options: &RunOptions, progress: &RunProgress) -> Result<RunSummary> {
    if options.telemetry.is_some() {
        return run_sampled(pipeline, options, progress);
    }
    let devices = workers::parse_devices(&pipeline.model.devices)?;
    let telemetry = Telemetry::new(&devices, pipeline.telemetry.clone());
    telemetry.while_sampling(|| run_sampled(pipeline, &RunOptions { telemetry: Some(&telemetry), ..*options }, progress))?
}

/// [`run`] with `options.telemetry` sampling.
fn run_sampled(pipeline: &Pipeline, options: &RunOptions, progress: &RunProgress) -> Result<RunSummary> {
    let telemetry = options.telemetry.expect("run starts the sampling");
    let started = Instant::now();
    let out = &pipeline.output.dir;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let _lock = OutputLock::acquire(out, options.shard)?;
    let success = success_path(out, options.shard);
    match std::fs::remove_file(&success) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&success, e)),
        _ => {}
    }

    let walk = job::walk(&pipeline.walk_inputs(), &pipeline.walk_config(), out, &WalkStats::default(), options.shard)?;
    let units_file = job::units_path(out, options.shard);
    let (unit_keys, house_styles) = tasks::read_unit_keys(&units_file, pipeline.chosen_house_styles().map_err(Error::Config)?)?;

    let devices = workers::parse_devices(&pipeline.model.devices)?;
    let (requantize, precision) = weight_format(pipeline)?;
    let own_models = ModelCache::default();
    let mut cached = options.models.unwrap_or(&own_models).0.lock().unwrap_or_else(|p| p.into_inner());
    if cached.as_ref().is_none_or(|models| (models.options.requantize, models.options.dtype) != (requantize, precision.dtype())) {
        *cached = Some(Models::new(requantize, precision));
    }
    let models = cached.as_mut().expect("made above");
    let context = RunContext {
        pipeline,
        config_hash: pipeline.config_hash(),
        out,
        progress,
        threads: workers::thread_split(&devices, rayon::current_num_threads()),
        devices: devices.clone(),
        options: *options,
        telemetry,
        units_file,
        unit_keys,
        house_styles: Arc::new(house_styles),
    };
    let mut summaries = Vec::new();
    let t = &pipeline.tasks;
    if let Some(spec) = &t.docs {
        summaries.push(context.generate(TaskKind::Docs, spec, models)?);
    }
    if let Some(spec) = &t.review {
        summaries.push(context.generate(TaskKind::Review, spec, models)?);
    }
    if let Some(spec) = &t.embed {
        summaries.push(context.embed(spec, models)?);
    }

    let provenance = [
        ("hearth.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("hearth.config_hash".to_string(), context.config_hash.clone()),
        ("hearth.telemetry".to_string(), to_json(&pipeline.telemetry)),
    ];
    telemetry.write(&out.join(format!("telemetry{}.parquet", shard::tag(options.shard))), &provenance)?;
    let summary = RunSummary {
        telemetry: telemetry.stats(),
        hearth_version: env!("CARGO_PKG_VERSION").to_string(),
        config_hash: context.config_hash,
        shard: options.shard.map(|s| s.to_string()),
        devices: devices.iter().map(|d| d.to_string()).collect(),
        units: walk.units,
        repositories: walk.repositories,
        skipped: walk.skipped,
        stale_docs: walk.stale_docs,
        walk_seconds: walk.elapsed.as_secs_f64(),
        tasks: summaries,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_atomically(&success, serde_json::to_string_pretty(&summary).expect("plain struct").as_bytes())?;
    Ok(summary)
}

/// The text the embed task embeds by default: where the unit is, then its code.
pub const EMBED_TEMPLATE: &str = "{{ language }} {{ path }}\n{{ content }}";

/// How `hearth search` wraps a query unless `[tasks.embed] query_template` says
/// otherwise: as it is, which suits models that embed queries and code alike.
/// Instruction-tuned embedders want their instruction there (the README's
/// Qwen3-Embedding example).
pub const QUERY_TEMPLATE: &str = "{{ query }}";

struct RunContext<'a> {
    pipeline: &'a Pipeline,
    config_hash: String,
    out: &'a Path,
    progress: &'a RunProgress,
    devices: Vec<Placement>,
    /// Each worker's own thread count (CPU workers side by side).
    threads: Vec<Option<usize>>,
    options: RunOptions<'a>,
    telemetry: &'a Telemetry,
    /// The walk's units file, which each task reads through a [`UnitStore`].
    units_file: PathBuf,
    /// Its units' identities, by row.
    unit_keys: Vec<UnitKey>,
    /// How its repositories' docs name parameters, which the docs prompts follow.
    house_styles: Arc<HouseStyles>,
}

/// A task's identity: what its cache keys and provenance are made of.
struct TaskIdentity {
    task: TaskKind,
    model: String,
    model_hash: String,
    prompt: String,
    prompt_hash: String,
    params: String,
    /// `[model] requantize` and, unless `auto`, `[model] dtype` as parsed: the format
    /// asked of the weights and the type they compute in change the numbers, so they
    /// are part of the key. (`auto` adds nothing, so keys made before `dtype` existed
    /// still match.)
    weights: String,
    /// Whether the prompts say each repository's house style ([`GenerationPlan::prompt`]).
    house_styles: bool,
    /// How many more answers the task asks for when one does not parse. No part of the
    /// key: a row the task read stands whatever they are, and one it could not runs
    /// again when they allow more answers than it was given ([`KeyState::runs_again`]).
    retries: u32,
    /// Their temperature, for the provenance.
    retry_temperature: f32,
}

impl TaskIdentity {
    fn new(task: TaskKind, model: &str, models: &mut Models, prompt: String, params: String) -> Result<TaskIdentity> {
        let prompt_hash = blake3::hash(prompt.as_bytes()).to_hex()[..16].to_string();
        let weights = weights_identity(models.options.requantize, models.options.dtype);
        Ok(TaskIdentity { task, model: model.to_string(), model_hash: models.hash(model)?, prompt, prompt_hash, params, weights, house_styles: false, retries: 0, retry_temperature: 0.0 })
    }

    fn cache_key(&self, unit: &UnitKey) -> String {
        let mut hasher = blake3::Hasher::new();
        // The house style is in a docs unit's prompt when its repository has one, and so
        // is why its doc is stale when it is; a nested unit's code is shown at the margin
        // in every task's. The keys of the others are as they were before any of these.
        let house_style = unit.house_style.filter(|_| self.house_styles).map(HouseStyle::key);
        let stale = (self.task == TaskKind::Docs && unit.stale).then_some("stale");
        let at_margin = unit.at_margin.then_some("at margin");
        let noted = house_style.as_deref().into_iter().chain(stale).chain(at_margin);
        for field in [self.task.name(), &unit.unit_id, &unit.content_hash, &self.model_hash, &self.prompt_hash, &self.params, &self.weights].into_iter().chain(noted) {
            hasher.update(&(field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
        hasher.finalize().to_hex()[..32].to_string()
    }
}

/// The weight format asked of a model, as a task's identity (and its rows'
/// `hearth.requantize`) records it: `auto` dtype adds nothing, so keys made before
/// `dtype` existed still match.
pub fn weights_identity(requantize: Requantize, dtype: Option<DType>) -> String {
    match dtype {
        None => format!("{requantize:?}"),
        Some(dtype) => format!("{requantize:?} {dtype:?}"),
    }
}

/// A task's output folder while it runs: rows buffered into part files.
struct TaskOutput<'a> {
    folder: PartFolder,
    /// Each unit's cache key; `None` for a unit of a kind the task leaves alone.
    keys: Vec<Option<String>>,
    todo: Vec<usize>,
    metadata: Vec<(String, String)>,
    summary: TaskSummary,
    part_rows: usize,
    part_interval: Duration,
    last_part: Instant,
    started: Instant,
    progress: &'a RunProgress,
}

impl<'a> TaskOutput<'a> {
    /// The task's output folder, and which units it runs: those `runs_on` takes whose
    /// row under their cache key is not done.
    fn open(context: &'a RunContext, identity: &TaskIdentity, runs_on: impl Fn(&UnitKey) -> bool) -> Result<TaskOutput<'a>> {
        let started = Instant::now();
        let folder = PartFolder::open(&context.out.join(identity.task.dir_name()), context.options.shard)?;
        let existing = folder.keys()?;
        let keys: Vec<Option<String>> =
            context.unit_keys.iter().map(|u| runs_on(u).then(|| identity.cache_key(u))).collect();
        let rerun = context.options.rerun;
        let todo: Vec<usize> = (0..keys.len())
            .filter(|&i| keys[i].as_ref().is_some_and(|key| rerun || KeyState::runs_again(existing.get(key), identity.retries)))
            .collect();
        let units = keys.iter().flatten().count();
        let mut metadata = vec![
            ("hearth.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("hearth.task".to_string(), identity.task.name().to_string()),
            ("hearth.model".to_string(), identity.model.clone()),
            ("hearth.model_hash".to_string(), identity.model_hash.clone()),
            ("hearth.prompt_template".to_string(), identity.prompt.clone()),
            ("hearth.prompt_hash".to_string(), identity.prompt_hash.clone()),
            ("hearth.params".to_string(), identity.params.clone()),
            ("hearth.requantize".to_string(), identity.weights.clone()),
            ("hearth.config_hash".to_string(), context.config_hash.clone()),
        ];
        if identity.retries > 0 {
            metadata.push(("hearth.retries".to_string(), format!("{} at temperature {}", identity.retries, identity.retry_temperature)));
        }
        let summary = TaskSummary {
            task: identity.task.name().to_string(),
            units: units as u64,
            carried: (units - todo.len()) as u64,
            model: identity.model.clone(),
            model_hash: identity.model_hash.clone(),
            prompt_hash: identity.prompt_hash.clone(),
            requantize: context.pipeline.model.requantize.clone(),
            dtype: context.pipeline.model.dtype.clone(),
            ..TaskSummary::default()
        };
        context.progress.start(identity.task, todo.len());
        let output = &context.pipeline.output;
        Ok(TaskOutput {
            folder,
            keys,
            todo,
            metadata,
            summary,
            part_rows: output.part_rows,
            part_interval: Duration::from_secs(output.part_seconds),
            last_part: Instant::now(),
            started,
            progress: context.progress,
        })
    }

    /// The units the task still runs, read as its workers reach them.
    fn units(&self, context: &RunContext) -> Result<UnitStore> {
        UnitStore::open(&context.units_file, self.keys.len(), self.todo.iter().copied(), UNIT_READ_ROWS)
    }

    /// Records a finished unit, writing a part file when one is due. Returns the tokens
    /// it counts for throughput: generated, or for embeddings consumed.
    fn push(&mut self, rows: &mut RowsBuilder, unit: &UnitRow, i: usize, finished: Finished) -> Result<usize> {
        let Finished { tokens_in, energy_j, answer, earlier } = finished;
        // Progress counts the tokens the model produced (for every answer asked for), or
        // for embeddings consumed.
        let (tokens_out, progress_tokens, failed) = match &answer {
            Answer::Generation(Ok(o)) => (o.tokens.len() + earlier.tokens, o.tokens.len() + earlier.tokens, false),
            Answer::Embedding(Ok(_)) => (0, tokens_in, false),
            _ => (earlier.tokens, earlier.tokens, true),
        };
        let unread = rows.push(unit, self.keys[i].as_deref().expect("only the task's units run"), tokens_in, energy_j, answer, earlier);
        self.summary.run += 1;
        self.summary.unread += unread as u64;
        self.summary.retried += (earlier.answers > 0) as u64;
        self.summary.read_on_retry += (earlier.answers > 0 && !unread && !failed) as u64;
        self.summary.failed += failed as u64;
        self.summary.tokens_in += tokens_in as u64;
        self.summary.tokens_out += tokens_out as u64;
        self.progress.unit_done(progress_tokens);
        if rows.len() >= self.part_rows || self.last_part.elapsed() >= self.part_interval {
            self.flush(rows)?;
        }
        Ok(progress_tokens)
    }

    fn flush(&mut self, rows: &mut RowsBuilder) -> Result<()> {
        if !rows.is_empty() {
            self.folder.write(&rows.finish()?, &self.metadata)?;
            self.summary.parts_written += 1;
        }
        self.last_part = Instant::now();
        Ok(())
    }

    /// Makes the folder exact (after the last rows are flushed), with `schema`'s columns
    /// in every part where it is known and its small parts merged, and returns the
    /// summary.
    fn finish(mut self, schema: Option<&SchemaRef>) -> Result<TaskSummary> {
        let live: HashSet<String> = self.keys.iter().flatten().cloned().collect();
        let removed = self.folder.compact(&live, schema)?;
        self.summary.rows_dropped_stale = removed.stale;
        self.summary.rows_dropped_superseded = removed.superseded;
        if let Some(schema) = schema {
            self.summary.parts_merged = self.folder.merge_small(self.part_rows, schema)?;
        }
        self.summary.seconds = self.started.elapsed().as_secs_f64();
        Ok(self.summary)
    }
}

/// The weight format `[model]` asks for: `requantize` and `dtype`, parsed.
fn weight_format(pipeline: &Pipeline) -> Result<(Requantize, Precision)> {
    Ok((pipeline.model.requantize.parse().map_err(Error::Config)?, pipeline.model.dtype.parse().map_err(Error::Config)?))
}

/// The docs or review task's plan and identity: which units it runs, and what their
/// cache keys are made of.
fn generation_identity(pipeline: &Pipeline, task: TaskKind, spec: &GenerateTask, models: &mut Models, house_styles: &Arc<HouseStyles>) -> Result<(GenerationPlan, TaskIdentity)> {
    let plan = GenerationPlan::new(task, spec, house_styles)?;
    let model_source = spec.model.as_deref().unwrap_or(&pipeline.model.source);
    let mut identity = TaskIdentity::new(task, model_source, models, plan.prompt_identity(), to_json(&plan.params))?;
    identity.house_styles = plan.house_styles.is_some();
    (identity.retries, identity.retry_temperature) = (plan.retries, plan.retry_temperature);
    Ok((plan, identity))
}

/// The embed task's identity.
fn embed_identity(pipeline: &Pipeline, spec: &EmbedTask, models: &mut Models) -> Result<TaskIdentity> {
    let model_source = spec.model.as_deref().unwrap_or(&pipeline.model.source);
    let template_source = spec.template.as_deref().unwrap_or(EMBED_TEMPLATE);
    TaskIdentity::new(TaskKind::Embed, model_source, models, template_source.to_string(), to_json(&spec.pooling))
}

/// What a run would do for one task, found without running it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskPreview {
    /// docs, review or embed.
    pub task: String,
    /// Units the task runs on.
    pub units: u64,
    /// Those whose row is done under their cache key: carried.
    pub carried: u64,
    /// Those it would run.
    pub run: u64,
    /// Cache keys with rows that the run would drop: units gone from the source, or
    /// changed, or of a kind the task no longer runs on.
    pub dropped: u64,
    /// The code the units it would run hold, bytes: what the prompts are made of.
    pub run_bytes: u64,
}

/// What `run` would do, found without running it.
pub struct Preview {
    /// The walk of the sources.
    pub walk: WalkSummary,
    /// Each task's units held against the rows the output folder has.
    pub tasks: Vec<TaskPreview>,
    /// The house styles the docs prompts would follow (none where the run has no docs
    /// task or does not follow them).
    pub house_styles: Arc<HouseStyles>,
    /// What each task would give the units at the place asked for, task by task.
    pub prompts: Vec<PromptPreview>,
}

/// What a task would give one unit: the messages a generating task sends (before the
/// model's chat template wraps them) or the text the embed task embeds, or why it
/// leaves the unit alone.
#[derive(Debug, Clone, Serialize)]
pub struct PromptPreview {
    /// docs, review or embed.
    pub task: String,
    #[allow(missing_docs)]
    pub repo: String,
    #[allow(missing_docs)]
    pub path: String,
    #[allow(missing_docs)]
    pub start_line: u32,
    #[allow(missing_docs)]
    pub end_line: u32,
    #[allow(missing_docs)]
    pub kind: String,
    #[allow(missing_docs)]
    pub name: Option<String>,
    /// Why the task leaves the unit alone; then there is no text.
    pub passed_over: Option<String>,
    /// The system message (docs, review).
    pub system: Option<String>,
    /// The user message (docs, review) or the text embedded (embed).
    pub text: Option<String>,
    /// What the answer begins with, written after the messages for the model to go on
    /// from (docs: the comment's opening).
    pub answer_opening: Option<String>,
    /// The tokens the model reads: the messages through its chat template, or the text
    /// embedded.
    pub prompt_tokens: Option<usize>,
    /// The longest sequence the task's model holds (its prompt and its answer).
    pub max_context: Option<usize>,
    /// The task's `max_new_tokens` (docs, review).
    pub max_new_tokens: Option<usize>,
}

impl PromptPreview {
    /// What `task` gives `unit`: its system message, if it has one, and its text; or why
    /// it passes the unit over.
    fn of(task: TaskKind, unit: &UnitRow, given: std::result::Result<Given, PassedOver>) -> PromptPreview {
        let (passed_over, system, text, answer_opening, prompt_tokens, max_context, max_new_tokens) = match given {
            Ok(Given { system, text, opening, tokens, max_context, max_new_tokens }) => (None, system, Some(text), opening, Some(tokens), Some(max_context), max_new_tokens),
            Err(why) => (Some(why.to_string()), None, None, None, None, None, None),
        };
        PromptPreview {
            task: task.name().to_string(),
            repo: unit.repo.clone(),
            path: unit.path.clone(),
            start_line: unit.start_line,
            end_line: unit.end_line,
            kind: unit.kind.clone(),
            name: unit.name.clone(),
            passed_over,
            system,
            text,
            answer_opening,
            prompt_tokens,
            max_context,
            max_new_tokens,
        }
    }

    /// How many of the task's `max_new_tokens` the context leaves room for, when it
    /// leaves fewer: an answer that long is cut off at the end of the context.
    pub fn answer_room(&self) -> Option<usize> {
        let (tokens, context, wanted) = (self.prompt_tokens?, self.max_context?, self.max_new_tokens?);
        let room = context.saturating_sub(tokens);
        (room < wanted).then_some(room)
    }
}

/// What a task gives a unit: its system message, if it has one, its text, and the
/// tokens the model reads of them.
struct Given {
    system: Option<String>,
    text: String,
    opening: Option<String>,
    tokens: usize,
    max_context: usize,
    max_new_tokens: Option<usize>,
}

/// Units a dry run shows the prompts of: `PATH` (every unit of the file) or `PATH:LINE`
/// (the innermost unit holding the line: the method, not its class or the file's
/// outline), PATH as the file's path in its repository, or after the repository's name
/// (`repo/src/lib.rs`), or a tail of either (`lib.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPlace {
    path: String,
    line: Option<u32>,
}

impl std::str::FromStr for UnitPlace {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<UnitPlace, String> {
        let (path, line) = match text.rsplit_once(':') {
            Some((path, line)) if line.parse::<u32>().is_ok() => (path, line.parse().ok()),
            _ => (text, None),
        };
        let path = path.trim_start_matches("./").trim_end_matches('/');
        if path.is_empty() {
            return Err(format!("`{text}` names no file: PATH or PATH:LINE"));
        }
        Ok(UnitPlace { path: path.to_string(), line })
    }
}

impl std::fmt::Display for UnitPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path),
            None => f.write_str(&self.path),
        }
    }
}

impl UnitPlace {
    /// Whether `unit` is in the file and holds the line.
    fn holds(&self, unit: &UnitRow) -> bool {
        let in_repo = format!("{}/{}", unit.repo, unit.path);
        let tail = format!("/{}", self.path);
        let file = unit.path == self.path || in_repo == self.path || in_repo.ends_with(&tail);
        file && self.line.is_none_or(|line| (unit.start_line..=unit.end_line).contains(&line))
    }

    /// The units of `units_file` here.
    fn units(&self, units_file: &Path) -> Result<Vec<UnitRow>> {
        let mut units = tasks::read_units_where(units_file, |unit| self.holds(unit))?;
        if self.line.is_some() {
            // Those holding the line are nested (an outline, a class, its method): the innermost.
            let innermost = units.iter().map(|unit| unit.end_line - unit.start_line).min();
            units.retain(|unit| Some(unit.end_line - unit.start_line) == innermost);
        }
        Ok(units)
    }
}

/// What `run` would do, task by task: the sources walked into a folder of their own and
/// each task's cache keys held against the rows the output folder has, with the prompts
/// each task would give the units at `place` (for which it reads each task's model's
/// tokenizer and chat template). Loads no model's weights and writes nothing to the
/// output folder (whose lock it holds while it reads, as the export does, so a run
/// going is `Busy`).
pub fn preview(pipeline: &Pipeline, shard: Option<Shard>, place: Option<&UnitPlace>) -> Result<Preview> {
    let out = &pipeline.output.dir;
    let _lock = if out.is_dir() { Some(OutputLock::acquire(out, shard)?) } else { None };
    let walked = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let walk = job::walk(&pipeline.walk_inputs(), &pipeline.walk_config(), walked.path(), &WalkStats::default(), shard)?;
    let units_file = job::units_path(walked.path(), shard);
    let (unit_keys, house_styles) = tasks::read_unit_keys(&units_file, pipeline.chosen_house_styles().map_err(Error::Config)?)?;
    let house_styles = Arc::new(house_styles);
    let shown = match place {
        Some(place) => {
            let shown = place.units(&units_file)?;
            if shown.is_empty() {
                return Err(Error::Config(format!("--prompt {place}: no unit of the {} walked is there", walk.units)));
            }
            shown
        }
        None => Vec::new(),
    };
    let (requantize, precision) = weight_format(pipeline)?;
    let mut models = Models::new(requantize, precision);
    let preview = |identity: &TaskIdentity, runs_on: &dyn Fn(&UnitKey) -> bool| -> Result<TaskPreview> {
        let keys: HashMap<String, u32> = unit_keys.iter().filter(|u| runs_on(u)).map(|u| (identity.cache_key(u), u.bytes)).collect();
        let existing = PartFolder::existing_keys(&out.join(identity.task.dir_name()), shard)?;
        let to_run: Vec<u32> = keys.iter().filter(|(key, _)| KeyState::runs_again(existing.get(*key), identity.retries)).map(|(_, &bytes)| bytes).collect();
        let dropped = existing.keys().filter(|key| !keys.contains_key(*key)).count() as u64;
        let (units, run) = (keys.len() as u64, to_run.len() as u64);
        let run_bytes = to_run.iter().map(|&bytes| u64::from(bytes)).sum();
        Ok(TaskPreview { task: identity.task.name().to_string(), units, carried: units - run, run, dropped, run_bytes })
    };
    let unit_is = |unit: &UnitRow| -> Result<(UnitKind, Language)> {
        let unknown = || Error::Dataset { path: units_file.clone(), message: format!("unit {}: unknown kind or language", unit.unit_id) };
        UnitKind::from_name(&unit.kind).zip(Language::from_name(&unit.language)).ok_or_else(unknown)
    };
    let template_error = |task: TaskKind| move |e: String| Error::Config(format!("[tasks.{}] {e}", task.name()));
    // Each task's model's tokenizer and chat template (not its weights), read once.
    let mut formats: HashMap<String, Arc<PromptFormat>> = HashMap::new();
    let mut format_of = |model: Option<&String>| -> Result<Arc<PromptFormat>> {
        let source = model.unwrap_or(&pipeline.model.source);
        if !formats.contains_key(source) {
            formats.insert(source.clone(), Arc::new(PromptFormat::of(&source.parse::<ModelSource>()?)?));
        }
        Ok(formats[source].clone())
    };
    let mut previews = Vec::new();
    let mut prompts = Vec::new();
    let mut followed = None;
    let t = &pipeline.tasks;
    for (task, spec) in [(TaskKind::Docs, &t.docs), (TaskKind::Review, &t.review)] {
        if let Some(spec) = spec {
            let (plan, identity) = generation_identity(pipeline, task, spec, &mut models, &house_styles)?;
            previews.push(preview(&identity, &|u| plan.runs_on(u.kind, u.language, u.documented))?);
            for unit in &shown {
                let format = format_of(spec.model.as_ref())?;
                let (kind, language) = unit_is(unit)?;
                let given = match plan.passes_over(kind, language, unit.documented) {
                    Some(why) => Err(why),
                    None => {
                        let [system, user] = plan.messages(unit).map_err(template_error(task))?;
                        let tokens = plan.prompt(&format.tokenizer, &format.chat, unit).map_err(Error::Request)?.len();
                        let opening = Some(plan.answer_opening(unit).to_string()).filter(|opening| !opening.is_empty());
                        Ok(Given { system: Some(system.content), text: user.content, opening, tokens, max_context: format.max_context, max_new_tokens: Some(spec.max_new_tokens) })
                    }
                };
                prompts.push(PromptPreview::of(task, unit, given));
            }
            followed = followed.or(plan.house_styles);
        }
    }
    if let Some(spec) = &t.embed {
        let identity = embed_identity(pipeline, spec, &mut models)?;
        previews.push(preview(&identity, &|u| spec.runs_on(u.kind))?);
        let template = UnitTemplate::new("[tasks.embed] template", spec.template.as_deref().unwrap_or(EMBED_TEMPLATE))?;
        for unit in &shown {
            let format = format_of(spec.model.as_ref())?;
            let given = match spec.runs_on(unit_is(unit)?.0) {
                true => {
                    let text = template.render(unit, None, false).map_err(template_error(TaskKind::Embed))?;
                    let tokens = format.tokenizer.encode(&text)?.len();
                    Ok(Given { system: None, text, opening: None, tokens, max_context: format.max_context, max_new_tokens: None })
                }
                false => Err(PassedOver::SkippedKind),
            };
            prompts.push(PromptPreview::of(TaskKind::Embed, unit, given));
        }
    }
    Ok(Preview { walk, tasks: previews, house_styles: followed.unwrap_or_default(), prompts })
}

impl RunContext<'_> {
    /// The docs or review task: a chat prompt per unit through each worker's batching engine.
    fn generate(&self, task: TaskKind, spec: &GenerateTask, models: &mut Models) -> Result<TaskSummary> {
        let (plan, identity) = generation_identity(self.pipeline, task, spec, models, &self.house_styles)?;
        let mut output = TaskOutput::open(self, &identity, |unit| plan.runs_on(unit.kind, unit.language, unit.documented))?;
        if plan.skip_documented {
            let left = self.unit_keys.iter().filter(|u| u.documented && plan.runs_on(u.kind, u.language, false)).count();
            output.summary.documented_in_source = Some(left as u64);
        }
        output.summary.house_styles_chosen = plan.house_styles.as_ref().map(|styles| styles.chosen().into_iter().map(|(language, style)| (language.name().to_string(), style.name().to_string())).collect());
        let schema = tasks::schema(task, None);
        if output.todo.is_empty() {
            return output.finish(Some(&schema));
        }

        let units = output.units(self)?;
        let prompts = Prompts { units: &units, plan: &plan };
        let prefix = PrefixTally::default();
        let (on_devices, loaded_in) = models.on_devices(&identity.model, &self.devices)?;
        output.summary.load_seconds = loaded_in.as_secs_f64();
        self.check_attention(&on_devices)?;
        let workers = on_devices.into_iter().zip(&self.devices).map(|(model, device)| {
            let (prompts, prefix) = (&prompts, &prefix);
            move || -> Result<Generator<'_>> {
                let model = model.map_err(Error::Config)?;
                let telemetry = self.telemetry;
                let batch = BatchConfig::sized(model, self.pipeline.engine);
                let attention = model.decoder.attention(batch.attention)?;
                tracing::info!("{device}: {} sequences, {} tokens a step, {} MiB of KV, {attention:?} attention", batch.max_seqs, batch.max_batched_tokens, batch.kv_memory >> 20);
                let engine = metered_engine(model, batch, telemetry, device)?;
                Ok(Generator { model, device, batch, engine, prompt_tokens: HashMap::new(), retried: HashMap::new(), prompts, prefix, telemetry, decoded: 0 })
            }
        });
        let mut rows = RowsBuilder::new(task, schema.clone());
        output.summary.workers = self.drive(&mut output, &mut rows, &units, workers, |e| Answer::Generation(Err(e)))?;
        output.summary.prefix_hit_rate = prefix.rate();
        output.flush(&mut rows)?;
        output.finish(Some(&schema))
    }

    /// An attention the build or a device cannot run is the pipeline's mistake, said
    /// once before any unit runs, not an error row for every unit.
    fn check_attention(&self, on_devices: &[std::result::Result<&Model, String>]) -> Result<()> {
        let asked = self.pipeline.engine.attention;
        for model in on_devices.iter().flatten() {
            if let Err(Error::Config(why)) = model.decoder.attention(asked) {
                return Err(Error::Config(format!("[engine] attention = \"{}\": {why}", asked.name())));
            }
        }
        Ok(())
    }

    /// The embed task: pooled hidden states per unit, many units per forward step.
    fn embed(&self, spec: &EmbedTask, models: &mut Models) -> Result<TaskSummary> {
        let template_source = spec.template.as_deref().unwrap_or(EMBED_TEMPLATE);
        let query_template = spec.query_template.as_deref().unwrap_or(QUERY_TEMPLATE);
        let pooling = spec.pooling;
        let template = UnitTemplate::new("[tasks.embed] template", template_source)?;
        let identity = embed_identity(self.pipeline, spec, models)?;
        let mut output = TaskOutput::open(self, &identity, |unit| spec.runs_on(unit.kind))?;
        output.summary.query_template = Some(query_template.to_string());
        if output.todo.is_empty() {
            // The embedding's width is the model's, not loaded for a run with nothing to
            // do; the next run that embeds brings older parts up to date.
            return output.finish(None);
        }
        let (on_devices, loaded_in) = models.on_devices(&identity.model, &self.devices)?;
        output.summary.load_seconds = loaded_in.as_secs_f64();
        self.check_attention(&on_devices)?;
        let dim = on_devices.iter().flatten().next().expect("loaded on some device").decoder.config().hidden_size;
        let field_metadata = HashMap::from([
            ("hearth.model".to_string(), identity.model.clone()),
            ("hearth.model_hash".to_string(), identity.model_hash.clone()),
            ("hearth.dim".to_string(), dim.to_string()),
            ("hearth.pooling".to_string(), to_json(&pooling).trim_matches('"').to_string()),
        ]);
        output.metadata.extend(field_metadata.iter().map(|(k, v)| (k.replace("hearth.", "hearth.embedding_"), v.clone())));
        let template = &template;
        let telemetry = self.telemetry;
        let attention = self.pipeline.engine.attention;
        let units = output.units(self)?;
        let units = &units;
        let workers = on_devices.into_iter().zip(&self.devices).map(|(model, device)| {
            move || -> Result<Embedder<'_>> {
                let model = model.map_err(Error::Config)?;
                Ok(Embedder { model, device, units, template, pooling, attention, telemetry, pending: Vec::new() })
            }
        });
        let schema = tasks::schema(TaskKind::Embed, Some((dim, field_metadata)));
        let mut rows = RowsBuilder::new(TaskKind::Embed, schema.clone());
        output.summary.workers = self.drive(&mut output, &mut rows, units, workers, |e| Answer::Embedding(Err(e)))?;
        output.flush(&mut rows)?;
        output.finish(Some(&schema))
    }

    /// Runs the task's units on one worker per device, writing each result as it comes
    /// (on this thread: the sink); `failure` makes the row of a unit no worker finished.
    fn drive<B, F>(
        &self,
        output: &mut TaskOutput,
        rows: &mut RowsBuilder,
        units: &UnitStore,
        starts: impl Iterator<Item = F>,
        failure: fn(String) -> Answer,
    ) -> Result<Vec<WorkerSummary>>
    where
        B: Backend<Output = Finished>,
        F: FnOnce() -> Result<B> + Send,
    {
        let specs: Vec<WorkerSpec<F>> = starts
            .zip(&self.devices)
            .zip(&self.threads)
            .map(|((start, device), &threads)| WorkerSpec {
                device: device.to_string(),
                threads,
                start,
                guards: self.telemetry.guards(device),
            })
            .collect();
        let mut summaries: Vec<WorkerSummary> = vec![WorkerSummary { energy_j: Some(0.0), ..WorkerSummary::default() }; specs.len()];
        let started = Instant::now();
        let todo = std::mem::take(&mut output.todo);
        let stats = pool::run(todo, specs, self.options.fault, |event| {
            match event {
                Event::Done { job, worker, output: finished } => {
                    let embedded = matches!(finished.answer, Answer::Embedding(Ok(_)));
                    let (tokens_in, energy_j) = (finished.tokens_in, finished.energy_j);
                    let tokens = output.push(rows, &*units.release(job)?, job, finished)?;
                    if embedded {
                        // Generated tokens are told step by step, by the generator.
                        self.telemetry.add_tokens(tokens as u64);
                    }
                    let w = &mut summaries[worker];
                    w.units += 1;
                    w.tokens_in += tokens_in as u64;
                    w.tokens += tokens as u64;
                    w.energy_j = w.energy_j.zip(energy_j).map(|(sum, j)| sum + j);
                }
                Event::Failed { job, message } => {
                    output.push(rows, &*units.release(job)?, job, Finished::alone(0, None, failure(message)))?;
                }
            }
            Ok(())
        })?;
        output.summary.units_held_peak = units.peak_held() as u64;
        let wall = started.elapsed().as_secs_f64().max(1e-9);
        Ok(summaries
            .into_iter()
            .zip(stats)
            .map(|(w, s): (WorkerSummary, WorkerStats)| WorkerSummary {
                device: s.device,
                tokens_per_s: w.tokens as f64 / wall,
                busy_fraction: s.busy.as_secs_f64() / wall,
                busy_s: s.busy.as_secs_f64(),
                failures: s.failures,
                shrinks: s.shrinks,
                retired: s.retired,
                ..w
            })
            .collect())
    }
}

/// What every generating worker builds its prompts from.
struct Prompts<'a> {
    units: &'a UnitStore,
    plan: &'a GenerationPlan,
}

/// What a docs or review task asks of every unit: its system message, its unit
/// template and its sampling, from the pipeline's task section and the task's defaults.
pub struct GenerationPlan {
    task: TaskKind,
    /// The system message.
    pub system: String,
    /// The unit template's source.
    pub template_source: String,
    template: UnitTemplate,
    /// Sampling (with the review's JSON schema when constrained).
    pub params: SamplingParams,
    /// Unit kinds the task leaves alone.
    pub skip_kinds: Vec<UnitKind>,
    /// Docs: units the source documents already are left alone.
    pub skip_documented: bool,
    /// Docs: how each repository's docs name parameters, which its prompts follow.
    house_styles: Option<Arc<HouseStyles>>,
    /// Docs: each answer begins with the opening of the comment asked for.
    open_comment: bool,
    /// How many more answers to ask for when one does not parse.
    pub retries: u32,
    /// Their temperature.
    retry_temperature: f32,
}

impl GenerationPlan {
    /// The plan of `task` as `spec` configures it, for units whose repositories' docs
    /// are written in `house_styles`.
    pub fn new(task: TaskKind, spec: &GenerateTask, house_styles: &Arc<HouseStyles>) -> Result<GenerationPlan> {
        let (default_system, default_template) = match task {
            TaskKind::Docs => (docs::SYSTEM, docs::TEMPLATE),
            _ => (review::SYSTEM, review::TEMPLATE),
        };
        let template_source = spec.template.as_deref().unwrap_or(default_template).to_string();
        let template = UnitTemplate::new(&format!("[tasks.{}] template", task.name()), &template_source)?;
        let mut params = spec.sampling();
        if task == TaskKind::Review && spec.constrained.unwrap_or(true) {
            params.json_schema = Some(review::schema());
        }
        if task == TaskKind::Docs {
            params.answer_end = Some(docs::ANSWER_END);
        }
        let default_skip = match task {
            TaskKind::Docs => docs::SKIP_KINDS,
            _ => review::SKIP_KINDS,
        };
        let skip_kinds = spec.skip_kinds.clone().unwrap_or_else(|| default_skip.to_vec());
        let skip_documented = task == TaskKind::Docs && spec.skip_documented.unwrap_or(true);
        let system = spec.system.as_deref().unwrap_or(default_system).to_string();
        let house_styles = (task == TaskKind::Docs && spec.follows_house_style()).then(|| house_styles.clone());
        let open_comment = task == TaskKind::Docs && spec.open_comment.unwrap_or(true);
        let (retries, retry_temperature) = (spec.retries, spec.retry_temperature);
        Ok(GenerationPlan { task, system, template_source, template, params, skip_kinds, skip_documented, house_styles, open_comment, retries, retry_temperature })
    }

    /// What of the prompts the task's identity holds: the system message and the
    /// template, and whether answers are opened for the model.
    fn prompt_identity(&self) -> String {
        let opened = if self.open_comment { "\n\n(each answer opens with its comment's opening)" } else { "" };
        format!("{}\n\n{}{opened}", self.system, self.template_source)
    }

    /// Whether the task runs on a unit of `kind` in `language`, `documented` or not in
    /// the source.
    pub fn runs_on(&self, kind: UnitKind, language: Language, documented: bool) -> bool {
        self.passes_over(kind, language, documented).is_none()
    }

    /// Why the task leaves a unit alone, if it does: a kind it skips, and for docs a unit
    /// no comment can be written in or, unless told otherwise, one with a doc.
    pub fn passes_over(&self, kind: UnitKind, language: Language, documented: bool) -> Option<PassedOver> {
        if self.skip_kinds.contains(&kind) {
            Some(PassedOver::SkippedKind)
        } else if self.task == TaskKind::Docs && !docs::documents(kind, language) {
            Some(PassedOver::NoComment)
        } else if self.skip_documented && documented {
            Some(PassedOver::Documented)
        } else {
            None
        }
    }

    /// The system and user messages for `unit`, before the model's chat template.
    pub fn messages(&self, unit: &UnitRow) -> std::result::Result<[Message; 2], String> {
        let house_style = self.house_styles.as_ref().and_then(|styles| {
            styles.for_unit(&unit.repo, Language::from_name(&unit.language)?, UnitKind::from_name(&unit.kind)?)
        });
        let user = self.template.render(unit, house_style, self.task == TaskKind::Docs)?;
        Ok([Message::new("system", &self.system), Message::new("user", user)])
    }

    /// What `unit`'s answer begins with, written after its prompt: the opening of the
    /// comment asked for (docs, unless `open_comment = false`), else nothing.
    pub fn answer_opening(&self, unit: &UnitRow) -> &'static str {
        match self.open_comment {
            true => docs::comment_syntax(&unit.language, &unit.kind).map_or("", docs::DocSyntax::opening),
            false => "",
        }
    }

    /// The prompt's token ids for `unit`: its messages through `chat`, then its
    /// answer's opening.
    pub fn prompt(&self, tokenizer: &Tokenizer, chat: &ChatTemplate, unit: &UnitRow) -> std::result::Result<Vec<u32>, String> {
        let text = chat.render(&self.messages(unit)?, true).map_err(|e| e.to_string())? + self.answer_opening(unit);
        tokenizer.encode(&text).map_err(|e| e.to_string())
    }

    /// The engine request `id` for `unit` to `model`: its first answer (`attempt` 0),
    /// or a retry, sampled at the retries' temperature with the seed after the last.
    pub fn request(&self, id: u64, model: &Model, unit: &UnitRow, attempt: u32) -> std::result::Result<Request, String> {
        let prompt = self.prompt(&model.tokenizer, &model.chat, unit)?;
        let mut params = SamplingParams { answer_opening: self.answer_opening(unit).to_string(), ..self.params.clone() };
        if attempt > 0 {
            params.temperature = self.retry_temperature;
            params.seed = params.seed.wrapping_add(attempt as u64);
        }
        Ok(Request { id, prompt, params })
    }
}

/// Why a task leaves a unit alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassedOver {
    /// Its kind is in the task's `skip_kinds`.
    SkippedKind,
    /// Docs: its file cannot hold a comment (Markdown, JSON).
    NoComment,
    /// Docs: the source documents it already (`skip_documented`).
    Documented,
}

impl std::fmt::Display for PassedOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PassedOver::SkippedKind => "its kind is in skip_kinds",
            PassedOver::NoComment => "its file cannot hold a comment",
            PassedOver::Documented => "the source documents it already (skip_documented)",
        })
    }
}

/// Prefix-cache lookups and hits, summed over every engine a task ran.
#[derive(Default)]
struct PrefixTally {
    lookups: AtomicU64,
    hits: AtomicU64,
}

impl PrefixTally {
    fn add(&self, engine: &BatchEngine) {
        let stats = engine.stats();
        self.lookups.fetch_add(stats.prefix_lookups, Ordering::Relaxed);
        self.hits.fetch_add(stats.prefix_hits, Ordering::Relaxed);
    }

    fn rate(&self) -> f64 {
        self.hits.load(Ordering::Relaxed) as f64 / self.lookups.load(Ordering::Relaxed).max(1) as f64
    }
}

/// A unit's result as a worker hands it over.
struct Finished {
    /// Prompt tokens.
    tokens_in: usize,
    /// Its share of the energy of the steps it was in (of every answer asked for).
    energy_j: Option<f64>,
    answer: Answer,
    /// The answers asked for before this one, which did not parse.
    earlier: Earlier,
}

impl Finished {
    /// A unit's first answer, or why it has none.
    fn alone(tokens_in: usize, energy_j: Option<f64>, answer: Answer) -> Finished {
        Finished { tokens_in, energy_j, answer, earlier: Earlier::NONE }
    }
}

/// A generating worker: its own continuous-batching engine over its device's model.
struct Generator<'a> {
    model: &'a Model,
    device: &'a Placement,
    batch: BatchConfig,
    engine: BatchEngine<'a>,
    /// Prompt length of each request in flight.
    prompt_tokens: HashMap<u64, usize>,
    /// What the requests in flight that are retries were asked before, with the energy
    /// those answers drew.
    retried: HashMap<u64, (Earlier, Option<f64>)>,
    prompts: &'a Prompts<'a>,
    prefix: &'a PrefixTally,
    /// Told the tokens of every step, so throughput over time is not lumped at completions.
    telemetry: &'a Telemetry,
    /// Decoded tokens of this engine already told.
    decoded: u64,
}

impl Backend for Generator<'_> {
    type Output = Finished;

    /// Enough requests to refill every retiring sequence's place at the next step, few
    /// enough that results stream out steadily.
    fn capacity(&self) -> usize {
        self.batch.max_seqs * 2
    }

    fn submit(&mut self, job: usize) -> Option<Finished> {
        let p = self.prompts;
        let request = match p.units.get(job).map_err(|e| e.to_string()).and_then(|unit| p.plan.request(job as u64, self.model, &unit, 0)) {
            Ok(request) => request,
            Err(e) => return Some(Finished::alone(0, None, Answer::Generation(Err(e)))),
        };
        let n = request.prompt.len();
        match self.engine.submit(request) {
            Some(failed) => Some(Finished::alone(n, None, Answer::Generation(failed.result))),
            None => {
                self.prompt_tokens.insert(job as u64, n);
                None
            }
        }
    }

    fn step(&mut self) -> Result<Vec<(usize, Finished)>> {
        let completions = self.engine.step()?;
        let decoded = self.engine.stats().decode_tokens;
        self.telemetry.add_tokens(decoded - self.decoded);
        self.decoded = decoded;
        let mut finished = Vec::with_capacity(completions.len());
        for c in completions {
            let (earlier, earlier_j) = self.retried.remove(&c.id).unwrap_or((Earlier::NONE, Some(0.0)));
            let energy_j = c.result.as_ref().ok().and_then(|o| o.energy_j).zip(earlier_j).map(|(now, before)| now + before);
            if let Ok(output) = &c.result {
                if self.retry(c.id, output, earlier, energy_j)? {
                    continue;
                }
            }
            let tokens_in = self.prompt_tokens.remove(&c.id).expect("completions are of submitted requests");
            finished.push((c.id as usize, Finished { tokens_in, energy_j, answer: Answer::Generation(c.result), earlier }));
        }
        Ok(finished)
    }

    fn reset(&mut self, shrink: bool) -> Result<()> {
        if shrink {
            let b = &mut self.batch;
            b.max_seqs = (b.max_seqs / 2).max(1);
            b.max_batched_tokens = (b.max_batched_tokens / 2).max(b.block_size);
            b.kv_memory /= 2;
        }
        self.prefix.add(&self.engine);
        self.engine = metered_engine(self.model, self.batch, self.telemetry, self.device)?;
        self.decoded = 0;
        self.prompt_tokens.clear();
        self.retried.clear();
        Ok(())
    }
}

impl Generator<'_> {
    /// Asks again for the answer of request `id` when `output`, the answer after
    /// `earlier` ones, does not parse and the task's `retries` allow another: whether
    /// it did. A retry the engine refuses leaves the answer as it is.
    fn retry(&mut self, id: u64, output: &crate::engine::Output, earlier: Earlier, energy_j: Option<f64>) -> Result<bool> {
        let p = self.prompts;
        if earlier.answers >= p.plan.retries {
            return Ok(false);
        }
        let unit = p.units.get(id as usize)?;
        if tasks::parse(p.plan.task, &unit, output).is_ok() {
            return Ok(false);
        }
        let Ok(request) = p.plan.request(id, self.model, &unit, earlier.answers + 1) else { return Ok(false) };
        if self.engine.submit(request).is_some() {
            return Ok(false);
        }
        let asked = Earlier { answers: earlier.answers + 1, tokens: earlier.tokens + output.tokens.len() };
        self.retried.insert(id, (asked, energy_j));
        Ok(true)
    }
}

impl Drop for Generator<'_> {
    fn drop(&mut self) {
        self.prefix.add(&self.engine);
    }
}

/// A batching engine whose steps' energy comes from `device`'s power in `telemetry`.
fn metered_engine<'a>(model: &'a Model, batch: BatchConfig, telemetry: &'a Telemetry, device: &'a Placement) -> Result<BatchEngine<'a>> {
    Ok(BatchEngine::new(model, batch)?.with_energy_meter(Box::new(move |busy| telemetry.joules(device, busy))))
}

/// An embedding worker: gathers units, embeds them together in one call.
struct Embedder<'a> {
    model: &'a Model,
    device: &'a Placement,
    units: &'a UnitStore,
    template: &'a UnitTemplate,
    pooling: Pooling,
    attention: AttentionBackend,
    telemetry: &'a Telemetry,
    pending: Vec<(usize, Vec<u32>)>,
}

impl Backend for Embedder<'_> {
    type Output = Finished;

    fn capacity(&self) -> usize {
        EMBED_GROUP
    }

    fn submit(&mut self, job: usize) -> Option<Finished> {
        let encoded = self.units.get(job).map_err(|e| e.to_string()).and_then(|unit| self.template.render(&unit, None, false)).and_then(|text| self.model.tokenizer.encode(&text).map_err(|e| e.to_string()));
        match encoded {
            Ok(tokens) => {
                self.pending.push((job, tokens));
                None
            }
            Err(e) => Some(Finished::alone(0, None, Answer::Embedding(Err(e)))),
        }
    }

    fn step(&mut self) -> Result<Vec<(usize, Finished)>> {
        let started = Instant::now();
        let inputs: Vec<&[u32]> = self.pending.iter().map(|(_, t)| t.as_slice()).collect();
        let vectors = self.model.embed_batch(&inputs, self.pooling, self.attention)?;
        // The step's energy, split by the tokens each unit brought to it.
        let joules = self.telemetry.joules(self.device, started.elapsed());
        let total: usize = self.pending.iter().map(|(_, t)| t.len()).sum();
        let pending = std::mem::take(&mut self.pending);
        Ok(pending
            .into_iter()
            .zip(vectors)
            .map(|((job, tokens), v)| {
                let energy_j = joules.map(|j| j * tokens.len() as f64 / total.max(1) as f64);
                (job, Finished::alone(tokens.len(), energy_j, Answer::Embedding(v)))
            })
            .collect())
    }

    fn reset(&mut self, _shrink: bool) -> Result<()> {
        // Each step embeds what is pending in groups that fit; there is no batch to shrink.
        self.pending.clear();
        Ok(())
    }
}


/// Writes `bytes` to `path` through a temporary name, so readers see all or nothing.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_units_key_changes_with_what_its_prompt_says_beyond_the_template_and_nothing_else() {
        let identity = |task, house_styles| TaskIdentity {
            task,
            model: "m".into(),
            model_hash: "h".into(),
            prompt: "p".into(),
            prompt_hash: "ph".into(),
            params: "{}".into(),
            weights: "Auto".into(),
            house_styles,
            retries: 0,
            retry_temperature: 0.0,
        };
        let unit = UnitKey { unit_id: "u".into(), content_hash: "c".into(), kind: UnitKind::Function, language: Language::Python, documented: false, stale: false, bytes: 1, at_margin: false, house_style: None };
        let styled = UnitKey { house_style: Some(HouseStyle::Plain), ..unit.clone() };
        let stale = UnitKey { stale: true, ..unit.clone() };
        let at_margin = UnitKey { at_margin: true, ..unit.clone() };
        let docs = identity(TaskKind::Docs, true);
        assert_ne!(docs.cache_key(&styled), docs.cache_key(&unit), "the house style is in the prompt");
        assert_ne!(docs.cache_key(&stale), docs.cache_key(&unit), "so is why the doc is stale");
        assert_ne!(docs.cache_key(&stale), docs.cache_key(&styled));
        let unstyled = identity(TaskKind::Docs, false);
        assert_eq!(unstyled.cache_key(&styled), unstyled.cache_key(&unit), "house_style = false");
        let review = identity(TaskKind::Review, false);
        assert_eq!(review.cache_key(&stale), review.cache_key(&unit), "a review's prompt says neither");
        assert_eq!(review.cache_key(&styled), review.cache_key(&unit));
        for task in [docs, review, identity(TaskKind::Embed, false)] {
            assert_ne!(task.cache_key(&at_margin), task.cache_key(&unit), "every task shows the code at the margin");
        }
    }
}
