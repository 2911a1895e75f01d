//! The run job: a pipeline end to end, as `hearth run` runs it. Source → units →
//! each task's engine → part files → `_SUCCESS`.
//!
//! A run is resumable and incremental by construction: every output row carries a
//! `cache_key` of (task, unit id and content, model hash, prompt hash, parameters);
//! a unit whose key already has a successful row is carried, not run; the rest run and
//! land in new part files; a final compaction leaves one row per live unit. A run
//! killed anywhere is finished by the next, and a re-run over an unchanged repository
//! loads no model at all.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::{BatchEngine, LoadOptions, Message, Model, ModelSource, Pooling, Request};
use crate::job::{self, to_json};
use crate::pipeline::{GenerateTask, Pipeline};
use crate::sink::PartFolder;
use crate::sink::parts::KeyState;
use crate::source::WalkStats;
use crate::tasks::{self, docs, review, Answer, RowsBuilder, TaskKind, UnitRow, UnitTemplate};
use crate::{Error, Result};

/// Name of the file written last, when every task finished.
pub const SUCCESS_FILE: &str = "_SUCCESS";

/// Units embedded per batch of embedding calls.
const EMBED_GROUP: usize = 64;

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
    /// Units in the source.
    pub units: u64,
    /// Units whose row from an earlier run was kept.
    pub carried: u64,
    /// Units run through the engine this time.
    pub run: u64,
    /// Units run this time that ended in an error row.
    pub failed: u64,
    /// Prompt tokens of the units run.
    pub tokens_in: u64,
    /// Generated tokens of the units run.
    pub tokens_out: u64,
    /// Wall time of the task.
    pub seconds: f64,
    /// Share of full prompt blocks served from the prefix cache.
    pub prefix_hit_rate: f64,
    /// The model, as given.
    pub model: String,
    /// Its content hash.
    pub model_hash: String,
    /// Hash of the system message and template.
    pub prompt_hash: String,
    /// Part files written.
    pub parts_written: u64,
    /// Rows the compaction removed: of units gone from the source.
    pub rows_dropped_stale: u64,
    /// Rows the compaction removed: superseded by a newer row of the same unit.
    pub rows_dropped_superseded: u64,
}

/// What a run did; also the content of `OUT/_SUCCESS`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// hearth's version.
    pub hearth_version: String,
    /// Hash of the resolved pipeline.
    pub config_hash: String,
    /// Units the source produced.
    pub units: u64,
    /// Files the source skipped.
    pub skipped: u64,
    /// Seconds the walk took.
    pub walk_seconds: f64,
    /// Each task, in the order run.
    pub tasks: Vec<TaskSummary>,
    /// Seconds the whole run took.
    pub seconds: f64,
}

impl RunSummary {
    /// Units that failed, over all tasks.
    pub fn failed(&self) -> u64 {
        self.tasks.iter().map(|t| t.failed).sum()
    }
}

/// Models by source, each loaded the first time a task has work for it.
struct Models {
    options: LoadOptions,
    loaded: HashMap<String, Model>,
    hashes: HashMap<String, String>,
}

impl Models {
    fn hash(&mut self, source: &str) -> Result<String> {
        if let Some(hash) = self.hashes.get(source) {
            return Ok(hash.clone());
        }
        let hash = source.parse::<ModelSource>()?.fingerprint()?;
        self.hashes.insert(source.to_string(), hash.clone());
        Ok(hash)
    }

    fn get(&mut self, source: &str) -> Result<&Model> {
        if !self.loaded.contains_key(source) {
            let model = Model::load(&source.parse()?, &self.options)?;
            self.loaded.insert(source.to_string(), model);
        }
        Ok(&self.loaded[source])
    }
}

/// Runs `pipeline`. Per-unit failures become error rows and are counted in the
/// summary; an `Err` means the run itself could not go on (its finished parts stay).
pub fn run(pipeline: &Pipeline, progress: &RunProgress) -> Result<RunSummary> {
    let started = Instant::now();
    let out = &pipeline.output.dir;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let success = out.join(SUCCESS_FILE);
    match std::fs::remove_file(&success) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&success, e)),
        _ => {}
    }

    let walk = job::walk(&pipeline.walk_inputs(), &pipeline.walk_config(), out, &WalkStats::default())?;
    let mut units = tasks::read_units(&out.join(job::UNITS_FILE))?;
    // Same order every run; the prompt's shared instruction is what the prefix cache reuses.
    units.sort_by(|a, b| (&a.repo, &a.path, a.start_line, &a.unit_id).cmp(&(&b.repo, &b.path, b.start_line, &b.unit_id)));

    let device = crate::engine::parse_device(&pipeline.model.device)?;
    let requantize = pipeline.model.requantize.parse().map_err(Error::Config)?;
    let mut models = Models {
        options: LoadOptions { device, requantize, ..LoadOptions::default() },
        loaded: HashMap::new(),
        hashes: HashMap::new(),
    };
    let context = RunContext { pipeline, config_hash: pipeline.config_hash(), out, progress };
    let mut summaries = Vec::new();
    let t = &pipeline.tasks;
    if let Some(spec) = &t.docs {
        summaries.push(context.generate(TaskKind::Docs, spec, &units, &mut models)?);
    }
    if let Some(spec) = &t.review {
        summaries.push(context.generate(TaskKind::Review, spec, &units, &mut models)?);
    }
    if let Some(spec) = &t.embed {
        let model = spec.model.as_deref().unwrap_or(&pipeline.model.source);
        let template = spec.template.as_deref().unwrap_or(EMBED_TEMPLATE);
        summaries.push(context.embed(model, template, spec.pooling, &units, &mut models)?);
    }

    let summary = RunSummary {
        hearth_version: env!("CARGO_PKG_VERSION").to_string(),
        config_hash: context.config_hash,
        units: walk.units,
        skipped: walk.skipped,
        walk_seconds: walk.elapsed.as_secs_f64(),
        tasks: summaries,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_atomically(&success, serde_json::to_string_pretty(&summary).expect("plain struct").as_bytes())?;
    Ok(summary)
}

/// The text the embed task embeds by default: where the unit is, then its code.
pub const EMBED_TEMPLATE: &str = "{{ language }} {{ path }}\n{{ content }}";

struct RunContext<'a> {
    pipeline: &'a Pipeline,
    config_hash: String,
    out: &'a Path,
    progress: &'a RunProgress,
}

/// A task's identity: what its cache keys and provenance are made of.
struct TaskIdentity {
    task: TaskKind,
    model: String,
    model_hash: String,
    prompt: String,
    prompt_hash: String,
    params: String,
}

impl TaskIdentity {
    fn new(task: TaskKind, model: &str, models: &mut Models, prompt: String, params: String) -> Result<TaskIdentity> {
        let prompt_hash = blake3::hash(prompt.as_bytes()).to_hex()[..16].to_string();
        Ok(TaskIdentity { task, model: model.to_string(), model_hash: models.hash(model)?, prompt, prompt_hash, params })
    }

    fn cache_key(&self, unit: &UnitRow) -> String {
        let mut hasher = blake3::Hasher::new();
        for field in [self.task.name(), &unit.unit_id, &unit.content_hash, &self.model_hash, &self.prompt_hash, &self.params] {
            hasher.update(&(field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
        hasher.finalize().to_hex()[..32].to_string()
    }
}

/// A task's output folder while it runs: rows buffered into part files.
struct TaskOutput<'a> {
    folder: PartFolder,
    keys: Vec<String>,
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
    fn open(context: &'a RunContext, identity: &TaskIdentity, units: &[UnitRow]) -> Result<TaskOutput<'a>> {
        let started = Instant::now();
        let folder = PartFolder::open(&context.out.join(identity.task.dir_name()))?;
        let existing = folder.keys()?;
        let keys: Vec<String> = units.iter().map(|u| identity.cache_key(u)).collect();
        let todo: Vec<usize> = (0..units.len()).filter(|&i| existing.get(&keys[i]) != Some(&KeyState::Done)).collect();
        let metadata = vec![
            ("hearth.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("hearth.task".to_string(), identity.task.name().to_string()),
            ("hearth.model".to_string(), identity.model.clone()),
            ("hearth.model_hash".to_string(), identity.model_hash.clone()),
            ("hearth.prompt_template".to_string(), identity.prompt.clone()),
            ("hearth.prompt_hash".to_string(), identity.prompt_hash.clone()),
            ("hearth.params".to_string(), identity.params.clone()),
            ("hearth.config_hash".to_string(), context.config_hash.clone()),
        ];
        let summary = TaskSummary {
            task: identity.task.name().to_string(),
            units: units.len() as u64,
            carried: (units.len() - todo.len()) as u64,
            model: identity.model.clone(),
            model_hash: identity.model_hash.clone(),
            prompt_hash: identity.prompt_hash.clone(),
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

    /// Records a finished unit, writing a part file when one is due.
    fn push(&mut self, rows: &mut RowsBuilder, unit: &UnitRow, i: usize, tokens_in: usize, answer: Answer) -> Result<()> {
        // Progress counts the tokens the model produced, or for embeddings consumed.
        let (tokens_out, progress_tokens, failed) = match &answer {
            Answer::Generation(Ok(o)) => (o.tokens.len(), o.tokens.len(), false),
            Answer::Embedding(Ok(_)) => (0, tokens_in, false),
            _ => (0, 0, true),
        };
        rows.push(unit, &self.keys[i], tokens_in, answer);
        self.summary.run += 1;
        self.summary.failed += failed as u64;
        self.summary.tokens_in += tokens_in as u64;
        self.summary.tokens_out += tokens_out as u64;
        self.progress.unit_done(progress_tokens);
        if rows.len() >= self.part_rows || self.last_part.elapsed() >= self.part_interval {
            self.flush(rows)?;
        }
        Ok(())
    }

    fn flush(&mut self, rows: &mut RowsBuilder) -> Result<()> {
        if !rows.is_empty() {
            self.folder.write(&rows.finish()?, &self.metadata)?;
            self.summary.parts_written += 1;
        }
        self.last_part = Instant::now();
        Ok(())
    }

    /// Makes the folder exact (after the last rows are flushed) and returns the summary.
    fn finish(mut self) -> Result<TaskSummary> {
        let live: HashSet<String> = self.keys.iter().cloned().collect();
        let removed = self.folder.compact(&live)?;
        self.summary.rows_dropped_stale = removed.stale;
        self.summary.rows_dropped_superseded = removed.superseded;
        self.summary.seconds = self.started.elapsed().as_secs_f64();
        Ok(self.summary)
    }
}

impl RunContext<'_> {
    /// The docs or review task: a chat prompt per unit through the batching engine.
    fn generate(&self, task: TaskKind, spec: &GenerateTask, units: &[UnitRow], models: &mut Models) -> Result<TaskSummary> {
        let (default_system, default_template) = match task {
            TaskKind::Docs => (docs::SYSTEM, docs::TEMPLATE),
            _ => (review::SYSTEM, review::TEMPLATE),
        };
        let system = spec.system.as_deref().unwrap_or(default_system);
        let template_source = spec.template.as_deref().unwrap_or(default_template);
        let template = UnitTemplate::new(&format!("[tasks.{}] template", task.name()), template_source)?;
        let mut params = spec.sampling();
        if task == TaskKind::Review && spec.constrained.unwrap_or(true) {
            params.json_schema = Some(review::schema());
        }
        let model_source = spec.model.as_deref().unwrap_or(&self.pipeline.model.source);
        let identity = TaskIdentity::new(task, model_source, models, format!("{system}\n\n{template_source}"), to_json(&params))?;
        let mut output = TaskOutput::open(self, &identity, units)?;
        if output.todo.is_empty() {
            return output.finish();
        }

        let model = models.get(model_source)?;
        let batch = self.pipeline.engine.batch_config();
        let mut engine = BatchEngine::new(model, batch)?;
        let mut rows = RowsBuilder::new(task, tasks::schema(task, None));
        // Requests in the engine at once: enough to refill every retiring sequence's
        // place at the next step, few enough that results stream out steadily.
        let window = batch.max_seqs * 2;
        let todo = std::mem::take(&mut output.todo);
        let mut queue = todo.iter().copied();
        let mut in_flight: HashMap<u64, usize> = HashMap::new();
        loop {
            while in_flight.len() < window {
                let Some(i) = queue.next() else { break };
                let unit = &units[i];
                match prompt(model, system, &template, unit) {
                    Err(e) => output.push(&mut rows, unit, i, 0, Answer::Generation(Err(e)))?,
                    Ok(tokens) => {
                        let n = tokens.len();
                        let request = Request { id: i as u64, prompt: tokens, params: params.clone() };
                        match engine.submit(request) {
                            Some(failed) => output.push(&mut rows, unit, i, n, Answer::Generation(failed.result))?,
                            None => {
                                in_flight.insert(i as u64, n);
                            }
                        }
                    }
                }
            }
            if !engine.has_work() {
                break;
            }
            for completion in engine.step()? {
                let n = in_flight.remove(&completion.id).expect("completions are of submitted requests");
                let i = completion.id as usize;
                output.push(&mut rows, &units[i], i, n, Answer::Generation(completion.result))?;
            }
        }
        output.summary.prefix_hit_rate = engine.stats().prefix_hit_rate();
        output.flush(&mut rows)?;
        output.finish()
    }

    /// The embed task: pooled hidden states per unit, many units per forward step.
    fn embed(&self, model_source: &str, template_source: &str, pooling: Pooling, units: &[UnitRow], models: &mut Models) -> Result<TaskSummary> {
        let template = UnitTemplate::new("[tasks.embed] template", template_source)?;
        let identity = TaskIdentity::new(TaskKind::Embed, model_source, models, template_source.to_string(), to_json(&pooling))?;
        let mut output = TaskOutput::open(self, &identity, units)?;
        if output.todo.is_empty() {
            return output.finish();
        }
        let model = models.get(model_source)?;
        let dim = model.decoder.config().hidden_size;
        let field_metadata = HashMap::from([
            ("hearth.model".to_string(), identity.model.clone()),
            ("hearth.model_hash".to_string(), identity.model_hash.clone()),
            ("hearth.dim".to_string(), dim.to_string()),
            ("hearth.pooling".to_string(), to_json(&pooling).trim_matches('"').to_string()),
        ]);
        output.metadata.extend(field_metadata.iter().map(|(k, v)| (k.replace("hearth.", "hearth.embedding_"), v.clone())));
        let mut rows = RowsBuilder::new(TaskKind::Embed, tasks::schema(TaskKind::Embed, Some((dim, field_metadata))));
        let todo = std::mem::take(&mut output.todo);
        for group in todo.chunks(EMBED_GROUP) {
            let inputs: Vec<std::result::Result<Vec<u32>, String>> = group
                .iter()
                .map(|&i| template.render(&units[i]).and_then(|text| model.tokenizer.encode(&text).map_err(|e| e.to_string())))
                .collect();
            let valid: Vec<&[u32]> = inputs.iter().filter_map(|r| r.as_deref().ok()).collect();
            let mut vectors = model.embed_batch(&valid, pooling)?.into_iter();
            for (&i, input) in group.iter().zip(&inputs) {
                let (tokens, answer) = match input {
                    Ok(tokens) => (tokens.len(), vectors.next().expect("one vector per valid input")),
                    Err(e) => (0, Err(e.clone())),
                };
                output.push(&mut rows, &units[i], i, tokens, Answer::Embedding(answer))?;
            }
        }
        output.flush(&mut rows)?;
        output.finish()
    }
}

/// The chat prompt's token ids for `unit`.
fn prompt(model: &Model, system: &str, template: &UnitTemplate, unit: &UnitRow) -> std::result::Result<Vec<u32>, String> {
    let user = template.render(unit)?;
    let messages = [Message::new("system", system), Message::new("user", user)];
    model.chat_prompt(&messages).map_err(|e| e.to_string())
}

/// Writes `bytes` to `path` through a temporary name, so readers see all or nothing.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
}
