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
use super::constraint::Constraint;
use super::kv::{AttentionBackend, PagedKvCache, SeqChunk, SeqId};
use super::sampler::{find_stop, FinishReason, Sampler, SamplingParams};
use super::scheduler::{Schedule, ScheduledChunk, Scheduler, SchedulerConfig};
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
        BatchConfig { max_batched_tokens: 512, max_seqs: 64, block_size: 16, kv_memory: 1 << 30, attention: AttentionBackend::Auto }
    }
}

/// How large the KV pool is: `auto` or a size in MiB (a pipeline's `kv_memory_mib`,
/// `hearth bench --kv-memory`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "KvMemoryRepr", into = "KvMemoryRepr")]
pub enum KvMemory {
    /// On a GPU, what the weights left ([`BatchConfig::filling_device`]); on the CPU,
    /// [`BatchConfig`]'s default (host memory is the whole machine's).
    #[default]
    Auto,
    /// This many MiB, on any device.
    Mib(usize),
}

impl std::str::FromStr for KvMemory {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "auto" => Ok(KvMemory::Auto),
            n => match n.parse::<usize>() {
                Ok(0) | Err(_) => Err(format!("KV memory `{s}`: give `auto` or a positive number of MiB")),
                Ok(mib) => Ok(KvMemory::Mib(mib)),
            },
        }
    }
}

impl std::fmt::Display for KvMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvMemory::Auto => f.write_str("auto"),
            KvMemory::Mib(mib) => write!(f, "{mib}"),
        }
    }
}

/// How [`KvMemory`] is written in TOML and JSON: the word `auto` or a number.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum KvMemoryRepr {
    Mib(i64),
    Fraction(f64),
    Word(String),
}

impl TryFrom<KvMemoryRepr> for KvMemory {
    type Error = String;

    fn try_from(repr: KvMemoryRepr) -> std::result::Result<Self, String> {
        match repr {
            KvMemoryRepr::Mib(n) => n.to_string().parse(),
            KvMemoryRepr::Fraction(x) => x.to_string().parse(),
            KvMemoryRepr::Word(word) => word.parse(),
        }
    }
}

impl From<KvMemory> for KvMemoryRepr {
    fn from(kv: KvMemory) -> Self {
        match kv {
            KvMemory::Auto => KvMemoryRepr::Word("auto".into()),
            KvMemory::Mib(mib) => KvMemoryRepr::Mib(mib as i64),
        }
    }
}

impl BatchConfig {
    /// This configuration with its KV pool sized as `kv` says, for `model`.
    pub fn with_kv_memory(self, kv: KvMemory, model: &Model) -> BatchConfig {
        match kv {
            KvMemory::Auto => self.filling_device(model),
            KvMemory::Mib(mib) => BatchConfig { kv_memory: mib << 20, ..self },
        }
    }

    /// On a GPU, a KV pool as large as the device memory the weights left allows, as
    /// vLLM's `gpu_memory_utilization` does: 90% of the device, less what is in use and
    /// what one full step's activations may take (the 10% is the margin for what that
    /// estimate leaves out, such as attention's gathered blocks). On the CPU, `self`
    /// unchanged: host memory is the whole machine's, so its size is the operator's.
    fn filling_device(self, model: &Model) -> BatchConfig {
        let Some(facts) = DeviceFacts::of(model.decoder.device()) else { return self };
        let in_use = facts.total_memory.saturating_sub(facts.free_memory);
        let budget = facts.total_memory / 10 * 9;
        let step = step_activation_bytes(model.decoder.config(), self.max_batched_tokens, self.max_seqs);
        let per_block = model.decoder.kv_bytes_per_block(self.block_size, self.attention);
        BatchConfig { kv_memory: budget.saturating_sub(in_use + step).max(per_block), ..self }
    }
}

/// What one step of `tokens` tokens over `seqs` sequences may hold besides weights and
/// KV cache, counted in f32: the MLP's gate, up and product, the residual stream and
/// its norms, q/k/v, and each sequence's logits with the sampler's copies.
fn step_activation_bytes(c: &ModelConfig, tokens: usize, seqs: usize) -> usize {
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
    /// Generated text, cut before a stop string.
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
        if let Err(message) = self.scheduler.add(request.id, request.prompt, max_len) {
            return fail(message);
        }
        let energy_j = self.meter.is_some().then_some(0.0);
        let live = Live { sampler, constraint, prompt_tokens, generated: Vec::new(), submitted: Instant::now(), first_token: None, energy_j };
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
        let out = self.model.decoder.forward(&tokens, &chunks, &mut self.kv, false)?;
        if let Some(delay) = self.planted_delay {
            std::thread::sleep(delay);
        }
        self.scheduler.complete(&schedule);
        // Greedy rows with no constraint need only their argmax, taken where the logits
        // are: a GPU then copies a few bytes a step instead of every sequence's logits
        // (256 sequences × 152k vocabulary is 155 MB a step).
        let greedy = |c: &ScheduledChunk| self.live.get(&c.id).is_some_and(|l| l.constraint.is_none() && l.sampler.params().temperature == 0.0);
        let mut rows = schedule.chunks.iter().filter(|c| c.wants_logits).peekable();
        let picks = match (rows.peek().is_some(), rows.all(greedy)) {
            (false, _) => Picks::Argmax(Vec::new()),
            (true, true) => Picks::Argmax(out.logits.argmax(candle_core::D::Minus1)?.to_vec1::<u32>()?),
            (true, false) => Picks::Logits(out.logits.to_vec2::<f32>()?),
        };
        let prefill: usize = schedule.chunks.iter().filter(|c| !self.is_decode(c)).map(|c| c.tokens.len()).sum();

        let mut failed = Vec::new();
        let mut finished = Vec::new();
        let context = self.model.decoder.config().max_context;
        for (row, chunk) in schedule.chunks.iter().filter(|c| c.wants_logits).enumerate() {
            let live = self.live.get_mut(&chunk.id).expect("scheduled sequences are live");
            let picked = match &picks {
                Picks::Argmax(ids) => Ok(ids[row]),
                Picks::Logits(rows) => sample(live, &rows[row]),
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
                let params = live.sampler.params();
                if live.constraint.as_ref().is_some_and(Constraint::is_complete) {
                    // Nothing but end-of-sequence may follow: end now, not a step later.
                    Some(FinishReason::Eos)
                } else if !params.stop.is_empty() && find_stop(&self.model.tokenizer.decode(&live.generated), &params.stop).is_some() {
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
        let mut text = self.model.tokenizer.decode(&live.generated);
        if let Some(cut) = find_stop(&text, &live.sampler.params().stop) {
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

/// The next token of `live` from its logits `row`, within its constraint if it has one.
fn sample(live: &mut Live, row: &[f32]) -> std::result::Result<u32, String> {
    let Some(constraint) = &mut live.constraint else {
        return Ok(live.sampler.sample(row));
    };
    let mut row = row.to_vec();
    constraint.mask(&mut row)?;
    let next = live.sampler.sample(&row);
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
