//! Offline generation with continuous batching: submit many requests, get each result
//! back the step it completes.
//!
//! Each step asks the [`Scheduler`] what to run, packs those chunks into one
//! [`Decoder::forward`](super::Decoder::forward), samples a token for every sequence
//! whose chunk produced logits, and retires the sequences that are done; their blocks
//! go back to the pool and the next step admits waiting requests in their place.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::blocks::BlockAllocator;
use super::constraint::{Allowed, Constraint};
use super::kv::{AttentionBackend, PagedKvCache};
use super::sampler::{answer_cut, answer_text, apply_penalties, FinishReason, Sampler, SamplingParams, Seen};
use super::scheduler::{Schedule, ScheduledChunk, Scheduler, SchedulerConfig};
use super::step::{SeqChunk, SeqId};
use super::{DeviceFacts, Model, ModelConfig};
use crate::{Error, Result};

/// Sizes of the batch and of the KV pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Tokens one step carries at most (prefill chunks and decodes together).
    pub max_batched_tokens: usize,
    /// Sequences one step carries at most.
    pub max_seqs: usize,
    /// Tokens per KV block.
    pub block_size: usize,
    /// Bytes of KV memory; the pool gets as many blocks as fit.
    pub kv_memory: usize,
    /// Which attention reads the pool.
    pub attention: AttentionBackend,
}

impl Default for BatchConfig {
    fn default() -> Self {
        // On 2 cores the README's docs job took 6–9% longer at 64 sequences than at 32 (NOTES).
        BatchConfig { max_batched_tokens: 512, max_seqs: 32, block_size: 16, kv_memory: 1 << 30, attention: AttentionBackend::Auto }
    }
}

/// `auto` or a positive number: how a pipeline's `[engine]` limits and `hearth bench
/// --kv-memory` are given. `auto` is sized for the device ([`BatchConfig::sized`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "LimitRepr", into = "LimitRepr")]
pub enum Limit {
    /// Sized for the device.
    #[default]
    Auto,
    /// This number, on any device.
    Fixed(usize),
}

impl Limit {
    /// The number given, or `auto`'s value.
    pub fn or(self, auto: usize) -> usize {
        match self {
            Limit::Auto => auto,
            Limit::Fixed(n) => n,
        }
    }
}

impl std::str::FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Limit::Auto),
            n => match n.parse::<usize>() {
                Ok(0) | Err(_) => Err(format!("`{s}`: give `auto` or a positive whole number")),
                Ok(n) => Ok(Limit::Fixed(n)),
            },
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Auto => f.write_str("auto"),
            Limit::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// How a [`Limit`] is written in TOML and JSON: the word `auto` or a number.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum LimitRepr {
    Whole(i64),
    Fraction(f64),
    Word(String),
}

impl TryFrom<LimitRepr> for Limit {
    type Error = String;

    fn try_from(repr: LimitRepr) -> std::result::Result<Self, String> {
        match repr {
            LimitRepr::Whole(n) => n.to_string().parse(),
            LimitRepr::Fraction(x) => x.to_string().parse(),
            LimitRepr::Word(word) => word.parse(),
        }
    }
}

impl From<Limit> for LimitRepr {
    fn from(limit: Limit) -> Self {
        match limit {
            Limit::Auto => LimitRepr::Word("auto".into()),
            Limit::Fixed(n) => LimitRepr::Whole(n as i64),
        }
    }
}

/// An engine as asked for (a pipeline's `[engine]`): its limits, each a number or
/// `auto` (the default), sized for the device the model is on ([`BatchConfig::sized`]),
/// and what reads its KV cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineOptions {
    /// Sequences one step carries at most (`auto`: 256 on a GPU, fewer if its memory
    /// is short; 32 on the CPU).
    pub max_seqs: Limit,
    /// Tokens one step carries at most (`auto`: up to 8,192 on a GPU, as its memory
    /// allows; 512 on the CPU).
    pub max_batched_tokens: Limit,
    /// The KV pool in MiB (`auto`: on a GPU what the weights and a step leave of 90% of
    /// it; 1024 on the CPU).
    pub kv_memory_mib: Limit,
    /// `auto`: host on the CPU; on a GPU flash where the build, the card and the dtype
    /// allow it, gathered otherwise ([`super::Decoder::attention`]).
    pub attention: AttentionBackend,
}

/// `auto` limits on a GPU, before they are fitted to its memory: what keeps an
/// H100's matrix units busy at 7B–32B shapes (decode batches of 256, prompts prefilled
/// in chunks of thousands of tokens beside them).
const GPU_MAX_SEQS: usize = 256;
const GPU_MAX_BATCHED_TOKENS: usize = 8192;
/// The fewest sequences `auto` shrinks a GPU's batch to.
const GPU_MIN_SEQS: usize = 16;

impl BatchConfig {
    /// The configuration of an engine over `model` as `options` ask: fixed limits as
    /// given, `auto` ones sized for the devices the model is on.
    pub fn sized(model: &Model, options: EngineOptions) -> BatchConfig {
        let attention = options.attention;
        let base = BatchConfig { attention, block_size: model.decoder.kv_block_size(attention), ..BatchConfig::default() };
        let config = model.decoder.config();
        let shares = model.decoder.kv_bytes_per_block_by_stage(base.block_size, attention);
        let stages: Vec<_> = model.decoder.stages().iter().zip(shares).map(|(s, share)| (DeviceFacts::of(&s.device), share)).collect();
        base.sized_across(&stages, config, options)
    }

    /// [`BatchConfig::sized_for`] over a model split into stages of `(device, bytes of
    /// one KV block's layers there)`: each device holds its layers' share of every
    /// block, and the step's activations pass through all of them, so the most
    /// constrained card sets each limit. The CPU sets none: alone it has the CPU's
    /// budget for the whole pool, and beside cards it holds its share of the blocks
    /// their room allows, in host memory the operator answers for.
    pub(crate) fn sized_across(self, stages: &[(Option<DeviceFacts>, usize)], config: &ModelConfig, limits: EngineOptions) -> BatchConfig {
        let per_block: usize = stages.iter().map(|(_, share)| share).sum();
        let cards: Vec<(Option<DeviceFacts>, usize)> = stages.iter().copied().filter(|(gpu, _)| gpu.is_some()).collect();
        if let [(gpu, _)] = stages {
            return self.sized_for(*gpu, config, per_block, limits);
        }
        if cards.is_empty() {
            return self.sized_for(None, config, per_block, limits);
        }
        // Each card holds its layers' share of every block.
        let fitted: Vec<(BatchConfig, usize)> = cards.iter().map(|&(gpu, share)| (self.sized_for(gpu, config, share, limits), share)).collect();
        let least = |limit: fn(&BatchConfig) -> usize| fitted.iter().map(|(b, _)| limit(b)).min().expect("a model has a stage");
        let kv_memory = match limits.kv_memory_mib {
            Limit::Fixed(mib) => mib << 20,
            Limit::Auto => fitted.iter().map(|(b, share)| b.kv_memory / (*share).max(1)).min().expect("a model has a stage").max(1) * per_block,
        };
        BatchConfig { max_seqs: least(|b| b.max_seqs), max_batched_tokens: least(|b| b.max_batched_tokens), kv_memory, ..self }
    }

    /// [`BatchConfig::sized`]'s arithmetic, for a model of `config` whose KV blocks take
    /// `per_block` bytes, on `gpu` (`None`: the CPU).
    ///
    /// On the CPU `auto` is `self`'s value: host memory is the whole machine's, so its
    /// share is the operator's to give. On a GPU, as vLLM's `gpu_memory_utilization`:
    /// the engine may take 90% of the device less what is in use (the weights). One
    /// step's activations may take a quarter of that, so `auto` halves the step from
    /// 8,192 tokens (down to `self`'s) and then the batch from 256 sequences (down to 16)
    /// until they fit; the KV pool gets the rest. The 10% left over is the margin for
    /// what the activation estimate leaves out, such as attention's gathered blocks.
    fn sized_for(self, gpu: Option<DeviceFacts>, config: &ModelConfig, per_block: usize, limits: EngineOptions) -> BatchConfig {
        let Some(gpu) = gpu else {
            return BatchConfig {
                max_seqs: limits.max_seqs.or(self.max_seqs),
                max_batched_tokens: limits.max_batched_tokens.or(self.max_batched_tokens),
                kv_memory: limits.kv_memory_mib.or(self.kv_memory >> 20) << 20,
                ..self
            };
        };
        let in_use = gpu.total_memory.saturating_sub(gpu.free_memory);
        let room = (gpu.total_memory / 10 * 9).saturating_sub(in_use);
        let fits = |tokens, seqs| step_activation_bytes(config, tokens, seqs) <= room / 4;
        let mut tokens = limits.max_batched_tokens.or(GPU_MAX_BATCHED_TOKENS);
        let mut seqs = limits.max_seqs.or(GPU_MAX_SEQS);
        while limits.max_batched_tokens == Limit::Auto && tokens / 2 >= self.max_batched_tokens && !fits(tokens, seqs) {
            tokens /= 2;
        }
        while limits.max_seqs == Limit::Auto && seqs / 2 >= GPU_MIN_SEQS && !fits(tokens, seqs) {
            seqs /= 2;
        }
        let kv_memory = match limits.kv_memory_mib {
            Limit::Fixed(mib) => mib << 20,
            Limit::Auto => room.saturating_sub(step_activation_bytes(config, tokens, seqs)).max(per_block),
        };
        BatchConfig { max_seqs: seqs, max_batched_tokens: tokens, kv_memory, ..self }
    }
}

/// What one step of `tokens` tokens over `seqs` sequences may hold besides weights and
/// KV cache, counted in f32: the MLP's gate, up and product, the residual stream and
/// its norms, q/k/v, and each sequence's logits with the sampler's copies.
pub(crate) fn step_activation_bytes(c: &ModelConfig, tokens: usize, seqs: usize) -> usize {
    let per_token = 3 * c.intermediate_size + 6 * c.hidden_size + (c.num_heads + 2 * c.num_kv_heads) * c.head_dim;
    4 * (tokens * per_token + 3 * seqs * c.vocab_size)
}

/// One generation request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The caller's id, echoed in the completion.
    pub id: u64,
    /// Prompt token ids (already through the chat template).
    pub prompt: Vec<u32>,
    /// Sampling and stopping.
    pub params: SamplingParams,
}

/// A finished request.
#[derive(Clone, Debug)]
pub struct Output {
    /// Generated token ids (EOS excluded).
    pub tokens: Vec<u32>,
    /// The answer's text: its opening (`SamplingParams::answer_opening`), then the
    /// generated text, cut before a stop string.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// From submission to the first sampled token.
    pub time_to_first_token: Duration,
    /// From submission to completion.
    pub total_time: Duration,
    /// Joules of the steps it took part in, each step's energy split by the tokens each
    /// sequence carried; `None` without an [`EnergyMeter`] or when a step's was unknown.
    pub energy_j: Option<f64>,
}

/// Tells the energy a step of the given length drew (the device's power times the time,
/// shared among the engines on the device), or `None` when the device's power is unknown.
pub type EnergyMeter<'m> = Box<dyn Fn(Duration) -> Option<f64> + Send + 'm>;

/// What a request ended with: its output, or the reason it alone failed.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The request's id.
    pub id: u64,
    /// The generation, or why this request could not be served.
    pub result: std::result::Result<Output, String>,
}

/// Running totals, for throughput reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchStats {
    /// Forward steps run.
    pub steps: u64,
    /// Prompt (and recomputed) tokens run through the model.
    pub prefill_tokens: u64,
    /// Generated tokens run through the model.
    pub decode_tokens: u64,
    /// Tokens sampled (one per sequence per step that ended its chunk, EOS included).
    pub sampled_tokens: u64,
    /// Time in steps that carried any prefill chunk.
    pub prefill_time: Duration,
    /// Time in steps that only decoded.
    pub decode_time: Duration,
    /// Prompt tokens taken from the prefix cache.
    pub cached_tokens: u64,
    /// Full-block prefix lookups, and hits.
    pub prefix_lookups: u64,
    /// Prefix lookups that hit.
    pub prefix_hits: u64,
    /// Sequences preempted and recomputed.
    pub preemptions: u64,
}

impl BatchStats {
    /// Share of full prompt blocks served from the prefix cache.
    pub fn prefix_hit_rate(&self) -> f64 {
        self.prefix_hits as f64 / self.prefix_lookups.max(1) as f64
    }
}

struct Live {
    sampler: Sampler,
    constraint: Option<Constraint>,
    prompt_tokens: usize,
    generated: Vec<u32>,
    /// What its presence, frequency and repetition penalties fall on, when it has one.
    seen: Option<Seen>,
    submitted: Instant,
    first_token: Option<Duration>,
    /// Joules so far; `None` once any step's energy was unknown.
    energy_j: Option<f64>,
}

/// The continuous-batching engine over one model.
pub struct BatchEngine<'m> {
    model: &'m Model,
    scheduler: Scheduler,
    kv: PagedKvCache,
    live: HashMap<SeqId, Live>,
    stats: BatchStats,
    meter: Option<EnergyMeter<'m>>,
    /// A planted slowdown per step (`HEARTH_SLOW_STEP_MS`), so a test can show that the
    /// benchmark comparison catches a slower build.
    planted_delay: Option<Duration>,
}

/// Milliseconds every engine step sleeps, for testing regression gates; unset in real use.
pub const SLOW_STEP_ENV: &str = "HEARTH_SLOW_STEP_MS";

impl<'m> BatchEngine<'m> {
    /// An engine whose KV pool fills `config.kv_memory`.
    pub fn new(model: &'m Model, config: BatchConfig) -> Result<BatchEngine<'m>> {
        let per_block = model.decoder.kv_bytes_per_block(config.block_size, config.attention);
        let num_blocks = config.kv_memory / per_block;
        if num_blocks == 0 || config.max_batched_tokens == 0 || config.max_seqs == 0 {
            return Err(Error::Config(format!(
                "batch limits must be positive and the KV memory must hold a block ({per_block} bytes): {config:?}"
            )));
        }
        let limits = SchedulerConfig { max_batched_tokens: config.max_batched_tokens, max_seqs: config.max_seqs };
        Ok(BatchEngine {
            model,
            scheduler: Scheduler::new(limits, BlockAllocator::new(num_blocks, config.block_size)),
            kv: model.decoder.kv_cache(num_blocks, config.block_size, config.attention)?,
            live: HashMap::new(),
            stats: BatchStats::default(),
            meter: None,
            planted_delay: std::env::var(SLOW_STEP_ENV).ok().and_then(|ms| ms.parse().ok()).map(Duration::from_millis),
        })
    }

    /// Attributes each step's energy, as `meter` tells it, to the sequences in the step.
    pub fn with_energy_meter(mut self, meter: EnergyMeter<'m>) -> BatchEngine<'m> {
        self.meter = Some(meter);
        self
    }

    /// Queues a request. A request that can never be served (empty, over the context,
    /// bad parameters, larger than the KV pool) comes straight back as a failed
    /// completion; the others are unaffected.
    pub fn submit(&mut self, request: Request) -> Option<Completion> {
        let fail = |message: String| Some(Completion { id: request.id, result: Err(message) });
        if self.live.contains_key(&request.id) {
            return fail(format!("request id {} is already in flight", request.id));
        }
        let context = self.model.decoder.config().max_context;
        if request.prompt.len() >= context {
            return fail(format!("the prompt has {} tokens; the model's context is {context}", request.prompt.len()));
        }
        if let Some(bad) = request.prompt.iter().find(|&&t| t as usize >= self.model.decoder.config().vocab_size) {
            return fail(format!("token id {bad} is outside the vocabulary"));
        }
        let sampler = match Sampler::new(request.params.clone()) {
            Ok(s) => s,
            Err(e) => return fail(e.to_string()),
        };
        let constraint = match &request.params.json_schema {
            Some(schema) => match self.model.grammar().and_then(|g| g.json_schema(schema)) {
                Ok(c) => Some(c),
                Err(e) => return fail(e),
            },
            None => None,
        };
        let max_len = (request.prompt.len() + request.params.max_new_tokens).min(context);
        let prompt_tokens = request.prompt.len();
        let seen = request.params.penalises_repetition().then(|| Seen::before_answer(&request.params, &request.prompt));
        if let Err(message) = self.scheduler.add(request.id, request.prompt, max_len) {
            return fail(message);
        }
        let energy_j = self.meter.is_some().then_some(0.0);
        let live = Live { sampler, constraint, prompt_tokens, generated: Vec::new(), seen, submitted: Instant::now(), first_token: None, energy_j };
        self.live.insert(request.id, live);
        None
    }

    /// Whether any submitted request is unfinished.
    pub fn has_work(&self) -> bool {
        self.scheduler.has_work()
    }

    /// Totals so far.
    pub fn stats(&self) -> BatchStats {
        let (sched, (lookups, hits)) = self.scheduler.stats();
        BatchStats {
            cached_tokens: sched.cached_tokens,
            preemptions: sched.preemptions,
            prefix_lookups: lookups,
            prefix_hits: hits,
            ..self.stats
        }
    }

    /// Runs one forward step; returns the requests it completed.
    pub fn step(&mut self) -> Result<Vec<Completion>> {
        let schedule = self.scheduler.schedule();
        if schedule.chunks.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let (tokens, chunks) = pack(&schedule);
        // Grammar masks depend only on the tokens accepted so far, so they are computed
        // on a thread of their own while the forward pass runs (as vLLM and llama.cpp
        // overlap them), instead of one after another once the logits are in.
        let constrained: Vec<SeqId> = schedule
            .chunks
            .iter()
            .filter(|c| c.wants_logits && self.live.get(&c.id).is_some_and(|l| l.constraint.is_some()))
            .map(|c| c.id)
            .collect();
        let (model, kv, live) = (self.model, &mut self.kv, &mut self.live);
        let (out, mut masks) = std::thread::scope(|scope| {
            let masks = (!constrained.is_empty()).then(|| {
                scope.spawn(move || {
                    constrained
                        .into_iter()
                        .map(|id| {
                            let constraint = live.get_mut(&id).and_then(|l| l.constraint.as_mut()).expect("filtered above");
                            (id, constraint.allowed())
                        })
                        .collect::<HashMap<SeqId, std::result::Result<Allowed, String>>>()
                })
            });
            let out = model.decoder.forward(&tokens, &chunks, kv, false);
            (out, masks.map(|m| m.join().expect("computing a grammar mask does not panic")).unwrap_or_default())
        });
        let out = out?;
        if let Some(delay) = self.planted_delay {
            std::thread::sleep(delay);
        }
        self.scheduler.complete(&schedule);
        // Penalties are taken where the logits are, before a row's argmax or its sampler
        // reads them.
        let penalties: Vec<_> = schedule
            .chunks
            .iter()
            .filter(|c| c.wants_logits)
            .map(|c| {
                let live = &self.live[&c.id];
                live.seen.as_ref().map(|seen| (seen, live.sampler.params()))
            })
            .collect();
        let logits = apply_penalties(&out.logits, &penalties)?;
        // Greedy rows with no constraint need only their argmax, taken where the logits
        // are: a GPU then copies a few bytes a step instead of every sequence's logits
        // (256 sequences × 152k vocabulary is 155 MB a step).
        let greedy = |c: &ScheduledChunk| self.live.get(&c.id).is_some_and(|l| l.constraint.is_none() && l.sampler.params().temperature == 0.0);
        let mut rows = schedule.chunks.iter().filter(|c| c.wants_logits).peekable();
        let mut picks = match (rows.peek().is_some(), rows.all(greedy)) {
            (false, _) => Picks::Argmax(Vec::new()),
            (true, true) => Picks::Argmax(logits.argmax(candle_core::D::Minus1)?.to_vec1::<u32>()?),
            (true, false) => Picks::Logits(logits.to_vec2::<f32>()?),
        };
        let prefill: usize = schedule.chunks.iter().filter(|c| !self.is_decode(c)).map(|c| c.tokens.len()).sum();

        let mut failed = Vec::new();
        let mut finished = Vec::new();
        let context = self.model.decoder.config().max_context;
        for (row, chunk) in schedule.chunks.iter().filter(|c| c.wants_logits).enumerate() {
            let live = self.live.get_mut(&chunk.id).expect("scheduled sequences are live");
            let picked = match &mut picks {
                Picks::Argmax(ids) => Ok(ids[row]),
                Picks::Logits(rows) => sample(live, &mut rows[row], masks.remove(&chunk.id)),
            };
            let next = match picked {
                Ok(next) => next,
                Err(message) => {
                    self.scheduler.finish(chunk.id);
                    self.live.remove(&chunk.id);
                    failed.push(Completion { id: chunk.id, result: Err(message) });
                    continue;
                }
            };
            live.first_token.get_or_insert_with(|| live.submitted.elapsed());
            let finish = if self.model.tokenizer.eos_ids.contains(&next) && !live.sampler.params().ignore_eos {
                Some(FinishReason::Eos)
            } else {
                live.generated.push(next);
                if let Some(seen) = &mut live.seen {
                    seen.insert(next);
                }
                let params = live.sampler.params();
                if live.constraint.as_ref().is_some_and(Constraint::is_complete) {
                    // Nothing but end-of-sequence may follow: end now, not a step later.
                    Some(FinishReason::Eos)
                } else if (!params.stop.is_empty() || params.answer_end.is_some())
                    && answer_cut(&answer_text(self.model.tokenizer.decode(&live.generated), params), params).is_some()
                {
                    Some(FinishReason::Stop)
                } else if live.generated.len() >= params.max_new_tokens {
                    Some(FinishReason::Length)
                } else if live.prompt_tokens + live.generated.len() >= context {
                    Some(FinishReason::Context)
                } else {
                    None
                }
            };
            match finish {
                None => self.scheduler.append(chunk.id, next),
                Some(reason) => {
                    self.scheduler.finish(chunk.id);
                    finished.push((chunk.id, self.live.remove(&chunk.id).expect("live"), reason));
                }
            }
        }

        let elapsed = started.elapsed();
        if let Some(meter) = &self.meter {
            // Each sequence's share of the step is its share of the step's tokens, whether
            // it is still running or finished in this step.
            let joules = meter(elapsed);
            let mut shares: HashMap<SeqId, f64> = HashMap::new();
            for c in &schedule.chunks {
                *shares.entry(c.id).or_default() += c.tokens.len() as f64 / tokens.len() as f64;
            }
            for (id, share) in shares {
                let live = match self.live.get_mut(&id) {
                    Some(live) => Some(live),
                    None => finished.iter_mut().find(|(f, ..)| *f == id).map(|(_, live, _)| live),
                };
                // (A sequence whose sampling failed this step is gone, its share with it.)
                if let Some(live) = live {
                    live.energy_j = live.energy_j.zip(joules).map(|(sum, j)| sum + j * share);
                }
            }
        }
        self.stats.sampled_tokens += schedule.chunks.iter().filter(|c| c.wants_logits).count() as u64 - failed.len() as u64;
        let mut done = failed;
        done.extend(finished.into_iter().map(|(id, live, reason)| self.completion(id, live, reason)));
        self.stats.steps += 1;
        self.stats.prefill_tokens += prefill as u64;
        self.stats.decode_tokens += (tokens.len() - prefill) as u64;
        match prefill > 0 {
            true => self.stats.prefill_time += elapsed,
            false => self.stats.decode_time += elapsed,
        }
        Ok(done)
    }

    /// A decode runs one generated token; anything else (prompt chunks, recomputation
    /// after preemption) is prefill work.
    fn is_decode(&self, chunk: &super::scheduler::ScheduledChunk) -> bool {
        chunk.tokens.len() == 1 && self.live.get(&chunk.id).is_some_and(|l| chunk.past >= l.prompt_tokens)
    }

    fn completion(&self, id: SeqId, live: Live, finish: FinishReason) -> Completion {
        let mut text = answer_text(self.model.tokenizer.decode(&live.generated), live.sampler.params());
        if let Some(cut) = answer_cut(&text, live.sampler.params()) {
            text.truncate(cut);
        }
        let total_time = live.submitted.elapsed();
        let output = Output {
            tokens: live.generated,
            text,
            finish,
            prompt_tokens: live.prompt_tokens,
            time_to_first_token: live.first_token.unwrap_or(total_time),
            total_time,
            energy_j: live.energy_j,
        };
        Completion { id, result: Ok(output) }
    }

    /// Submits every request and steps until all are done, handing each completion to
    /// `on_done` as it happens.
    pub fn run(&mut self, requests: impl IntoIterator<Item = Request>, mut on_done: impl FnMut(Completion)) -> Result<()> {
        for request in requests {
            if let Some(failed) = self.submit(request) {
                on_done(failed);
            }
        }
        while self.has_work() {
            for completion in self.step()? {
                on_done(completion);
            }
        }
        Ok(())
    }
}

/// What a step's logits become on the host.
enum Picks {
    /// Each row's argmax: every row is greedy and unconstrained.
    Argmax(Vec<u32>),
    /// Every row, for the samplers.
    Logits(Vec<Vec<f32>>),
}

/// The next token of `live` from its logits `row`, within its constraint if it has one
/// (`allowed`: the constraint's mask, computed during the forward pass).
fn sample(live: &mut Live, row: &mut [f32], allowed: Option<std::result::Result<Allowed, String>>) -> std::result::Result<u32, String> {
    let Some(constraint) = &mut live.constraint else {
        return Ok(live.sampler.sample(row));
    };
    allowed.expect("a constrained row's mask is computed with its step")?.apply(row);
    let next = live.sampler.sample(row);
    constraint.accept(next)?;
    Ok(next)
}

/// Lays the scheduled chunks end to end.
fn pack(schedule: &Schedule) -> (Vec<u32>, Vec<SeqChunk>) {
    let mut tokens = Vec::new();
    let mut chunks = Vec::with_capacity(schedule.chunks.len());
    for c in &schedule.chunks {
        chunks.push(SeqChunk {
            id: c.id,
            start: tokens.len(),
            len: c.tokens.len(),
            past: c.past,
            wants_logits: c.wants_logits,
            blocks: c.blocks.clone(),
        });
        tokens.extend_from_slice(&c.tokens);
    }
    (tokens, chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::synthetic::preset;

    const GIB: usize = 1 << 30;

    /// A card of `total_gib` with `weights_gib` in use, as the driver reports it.
    fn card(major: i32, total_gib: f64, weights_gib: f64) -> Option<DeviceFacts> {
        let total = (total_gib * GIB as f64) as usize;
        Some(DeviceFacts { compute_capability: (major, 0), total_memory: total, free_memory: total - (weights_gib * GIB as f64) as usize })
    }

    /// The bf16 KV bytes of one block of `config`.
    fn per_block(config: &ModelConfig, block_size: usize) -> usize {
        PagedKvCache::bytes_per_block(config, config.num_layers, block_size, candle_core::DType::BF16)
    }

    /// What `limits` give for `model` on `gpu`, checked against the device's memory.
    fn sized(gpu: Option<DeviceFacts>, model: &str, limits: EngineOptions) -> BatchConfig {
        let config = preset(model).unwrap();
        let b = BatchConfig::default().sized_for(gpu, &config, per_block(&config, 16), limits);
        if let (Some(gpu), Limit::Auto) = (gpu, limits.kv_memory_mib) {
            let used = gpu.total_memory - gpu.free_memory + step_activation_bytes(&config, b.max_batched_tokens, b.max_seqs) + b.kv_memory;
            assert!(used <= gpu.total_memory / 10 * 9 || b.kv_memory == per_block(&config, 16), "{model}: {b:?} over 90% of the card");
        }
        b
    }

    #[test]
    fn auto_limits_on_the_cpu_are_the_defaults_and_fixed_ones_are_kept() {
        assert_eq!(sized(None, "tiny", EngineOptions::default()), BatchConfig::default());
        let fixed = EngineOptions { max_seqs: Limit::Fixed(8), max_batched_tokens: Limit::Fixed(100), kv_memory_mib: Limit::Fixed(3), ..EngineOptions::default() };
        let b = sized(None, "tiny", fixed);
        assert_eq!((b.max_seqs, b.max_batched_tokens, b.kv_memory), (8, 100, 3 << 20));
        // Fixed limits hold on a GPU too.
        let b = sized(card(9, 80.0, 65.0), "qwen2.5-coder-32b", fixed);
        assert_eq!((b.max_seqs, b.max_batched_tokens, b.kv_memory), (8, 100, 3 << 20));
    }

    #[test]
    fn auto_limits_fit_the_memory_a_gpus_weights_leave() {
        let config = preset("qwen2.5-coder-32b").unwrap();
        let kv_tokens = |b: BatchConfig| b.kv_memory / per_block(&config, 16) * 16;

        // As NVML reports them: an H100 has 79.6 GiB, an H200 139.8 GiB; the 32B shapes
        // in bf16 take 61 GiB, and the CUDA context some more.
        let weights = 61.5;
        // H200: the full step, and 256 sequences of 768 tokens in the pool.
        let h200 = sized(card(9, 139.8, weights), "qwen2.5-coder-32b", EngineOptions::default());
        assert_eq!((h200.max_seqs, h200.max_batched_tokens), (256, 8192));
        assert!(kv_tokens(h200) >= 256 * 768, "{}", kv_tokens(h200));

        // H100: the step halves to fit beside the weights; the pool holds ~50 such sequences.
        let h100 = sized(card(9, 79.6, weights), "qwen2.5-coder-32b", EngineOptions::default());
        assert_eq!((h100.max_seqs, h100.max_batched_tokens), (256, 4096));
        assert!((30 * 768..100 * 768).contains(&kv_tokens(h100)), "{}", kv_tokens(h100));

        // An 8 GB Volta/Turing card with the 7B shapes in Q4_0 (4.7 GiB in f16, as
        // `hearth plan` counts them): the smallest step, and a pool for ~45 sequences
        // of 768 tokens.
        let small = sized(card(7, 8.0, 4.7), "qwen2.5-coder-7b", EngineOptions::default());
        assert_eq!((small.max_seqs, small.max_batched_tokens), (256, 512));
        assert!(small.kv_memory > GIB * 3 / 2, "{}", small.kv_memory);
        // With 5.5 GiB in use, the batch halves too.
        let smaller = sized(card(7, 8.0, 5.5), "qwen2.5-coder-7b", EngineOptions::default());
        assert_eq!((smaller.max_seqs, smaller.max_batched_tokens), (128, 512));

        // Weights that leave nothing: the floor, one block, and the engine's own
        // out-of-memory halving takes it from there.
        let full = sized(card(8, 24.0, 23.0), "qwen2.5-coder-32b", EngineOptions::default());
        assert_eq!((full.max_seqs, full.max_batched_tokens, full.kv_memory), (GPU_MIN_SEQS, 512, per_block(&config, 16)));

        // A fixed step with an `auto` pool: the pool is what the step leaves.
        let fixed_step = EngineOptions { max_batched_tokens: Limit::Fixed(8192), ..EngineOptions::default() };
        let b = sized(card(9, 79.6, weights), "qwen2.5-coder-32b", fixed_step);
        assert_eq!(b.max_batched_tokens, 8192);
        assert!(b.kv_memory < h100.kv_memory);
    }

    #[test]
    fn a_split_model_is_sized_by_its_most_constrained_card() {
        let config = preset("qwen2.5-coder-32b").unwrap();
        let whole = per_block(&config, 16);
        // Stages of so many of the 64 layers, each holding its layers' share of a block.
        let stages = |cards: &[(Option<DeviceFacts>, usize)]| cards.iter().map(|&(gpu, layers)| (gpu, whole / 64 * layers)).collect::<Vec<_>>();
        let split = |cards: &[(Option<DeviceFacts>, usize)]| BatchConfig::default().sized_across(&stages(cards), &config, EngineOptions::default());
        // The 32B shapes in 4 bits (19 GiB) on two 16 GB cards, 32 layers and 9.5 GiB each:
        // each card keeps its half of every block, so the pool holds what either card's
        // room holds in half-blocks.
        let half = card(8, 16.0, 9.5);
        let two = split(&[(half, 32), (half, 32)]);
        let one_card = BatchConfig::default().sized_for(half, &config, whole / 2, EngineOptions::default());
        assert_eq!((two.max_seqs, two.max_batched_tokens), (one_card.max_seqs, one_card.max_batched_tokens));
        assert_eq!(two.kv_memory / whole, one_card.kv_memory / (whole / 2));
        assert_eq!(two.kv_memory % whole, 0, "whole blocks");

        // A fuller second card sets the pool: its share of a block is what runs out.
        let fuller = split(&[(half, 32), (card(8, 16.0, 12.0), 32)]);
        assert!(fuller.kv_memory < two.kv_memory, "{fuller:?} vs {two:?}");
        // More layers on a card mean a bigger share of each block there.
        let lopsided = split(&[(half, 16), (half, 48)]);
        assert!(lopsided.kv_memory < two.kv_memory);

        // CPU stages share one memory: the CPU's budget for the whole pool.
        assert_eq!(split(&[(None, 32), (None, 32)]), BatchConfig::default());
        // Fixed limits are kept as given.
        let fixed = EngineOptions { max_seqs: Limit::Fixed(8), kv_memory_mib: Limit::Fixed(3), ..EngineOptions::default() };
        let b = BatchConfig::default().sized_across(&stages(&[(half, 32), (half, 32)]), &config, fixed);
        assert_eq!((b.max_seqs, b.kv_memory), (8, 3 << 20));

        // Beside the host, the card sets every limit, and the host holds its share of
        // each block the card's room allows: 40 layers on a 24 GB card, 24 on the CPU
        // (whose blocks, f32 where the engine computes in f32, are twice the card's bf16
        // a layer).
        let card_40 = card(8, 24.0, 12.0);
        let offloaded = BatchConfig::default().sized_across(&[(card_40, whole / 64 * 40), (None, 2 * whole / 64 * 24)], &config, EngineOptions::default());
        let card_alone = BatchConfig::default().sized_for(card_40, &config, whole / 64 * 40, EngineOptions::default());
        assert_eq!((offloaded.max_seqs, offloaded.max_batched_tokens), (card_alone.max_seqs, card_alone.max_batched_tokens));
        let per_block = whole / 64 * (40 + 2 * 24);
        assert_eq!(offloaded.kv_memory, card_alone.kv_memory / (whole / 64 * 40) * per_block);
        assert!(offloaded.max_seqs > BatchConfig::default().max_seqs, "a card's batch, not the CPU's: {offloaded:?}");
    }

    #[test]
    fn limits_read_auto_or_a_positive_number() {
        assert_eq!("auto".parse::<Limit>(), Ok(Limit::Auto));
        assert_eq!(" 256 ".parse::<Limit>(), Ok(Limit::Fixed(256)));
        for bad in ["0", "-3", "1.5", "lots", ""] {
            assert!(bad.parse::<Limit>().unwrap_err().contains("give `auto` or a positive whole number"), "{bad}");
        }
        assert_eq!(Limit::Fixed(7).to_string(), "7");
        assert_eq!(Limit::Auto.or(5), 5);
    }
}
