//! The engine suite: seeded workloads straight into the continuous-batching engine.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{peak_memory_mib, percentile, reset_peak_memory, BenchResult, Better};
use crate::engine::{AttentionBackend, BatchConfig, BatchEngine, EngineOptions, Limit, Model, Request, SamplingParams};
use crate::Result;

/// A fixed engine workload. Prompt and answer lengths are drawn from their ranges with
/// a seed made of the name, so a workload is the same tokens every time, everywhere.
#[derive(Clone, Debug, Serialize)]
pub struct EngineWorkload {
    /// What it is called in reports and baselines.
    pub name: String,
    /// Requests.
    pub sequences: usize,
    /// Prompt tokens shared by every request, before each one's own.
    pub shared_prefix: usize,
    /// Each request's own prompt tokens, inclusive range.
    pub prompt_tokens: (usize, usize),
    /// Generated tokens of each request (EOS ignored), inclusive range.
    pub new_tokens: (usize, usize),
    /// Sequences running at once.
    pub max_seqs: usize,
    /// Tokens one step carries at most.
    pub max_batched_tokens: usize,
}

impl EngineWorkload {
    /// The standard suite: what nightly regressions are judged on.
    pub fn standard() -> Vec<EngineWorkload> {
        let w = |name: &str, sequences, shared_prefix, prompt_tokens, new_tokens, max_seqs, max_batched_tokens| EngineWorkload {
            name: name.to_string(),
            sequences,
            shared_prefix,
            prompt_tokens,
            new_tokens,
            max_seqs,
            max_batched_tokens,
        };
        vec![
            // Long prompts, short answers: a review of big files.
            w("prefill-heavy", 8, 0, (192, 192), (4, 4), 8, 512),
            // Short prompts, long answers, a full batch decoding.
            w("decode-heavy", 16, 0, (16, 16), (32, 32), 16, 512),
            // The pipeline's shape: one instruction template, each unit's code after it.
            w("shared-prefix", 16, 128, (16, 48), (16, 16), 16, 512),
            // Lengths all over the place, more requests than places: admissions and
            // retirements every few steps.
            w("ragged", 16, 0, (8, 160), (4, 32), 8, 256),
        ]
    }

    /// `concurrency` requests of `prompt_tokens` prompt tokens and `new_tokens` answers,
    /// all running at once and all prompts in the first step (as a batched llama.cpp
    /// run does): the sweep `--concurrency 1,8,32` runs.
    pub fn uniform(concurrency: usize, prompt_tokens: usize, new_tokens: usize) -> EngineWorkload {
        EngineWorkload {
            name: format!("c{concurrency}-p{prompt_tokens}-n{new_tokens}"),
            sequences: concurrency,
            shared_prefix: 0,
            prompt_tokens: (prompt_tokens, prompt_tokens),
            new_tokens: (new_tokens, new_tokens),
            max_seqs: concurrency,
            max_batched_tokens: (concurrency * prompt_tokens).max(concurrency),
        }
    }

    /// The workload's requests over token ids below `vocab`.
    pub fn requests(&self, vocab: u32) -> Vec<Request> {
        let seed = u64::from_le_bytes(blake3::hash(self.name.as_bytes()).as_bytes()[..8].try_into().expect("8 bytes"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let prefix: Vec<u32> = (0..self.shared_prefix).map(|_| rng.random_range(0..vocab)).collect();
        (0..self.sequences as u64)
            .map(|id| {
                let own = rng.random_range(self.prompt_tokens.0..=self.prompt_tokens.1);
                let new = rng.random_range(self.new_tokens.0..=self.new_tokens.1);
                let prompt = prefix.iter().copied().chain((0..own).map(|_| rng.random_range(0..vocab))).collect();
                Request { id, prompt, params: SamplingParams { max_new_tokens: new, ignore_eos: true, ..Default::default() } }
            })
            .collect()
    }

    /// The batch limits it runs under on `model`, with `settings`.
    pub fn batch_config(&self, model: &Model, settings: EngineSettings) -> BatchConfig {
        let options = EngineOptions {
            max_seqs: Limit::Fixed(self.max_seqs),
            max_batched_tokens: Limit::Fixed(self.max_batched_tokens),
            kv_memory_mib: settings.kv_memory,
            attention: settings.attention,
        };
        BatchConfig::sized(model, options)
    }
}

/// What every engine workload runs with, besides its own limits.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineSettings {
    /// Which attention reads the pool.
    pub attention: AttentionBackend,
    /// The KV pool's size.
    pub kv_memory: Limit,
}

/// Token ids both the model and its tokenizer know (a synthetic model's vocabulary is
/// larger than its tokenizer's).
pub fn vocab(model: &Model) -> u32 {
    model.decoder.config().vocab_size.min(model.tokenizer.vocab_size()) as u32
}

/// Runs `workload` on `model` (named `model_name` in the result) with `settings`, and
/// measures it:
/// prefill tok/s (prompt tokens over the steps that carried prompt chunks), decode
/// tok/s (tokens over decode-only steps), total tok/s (every token over the wall time),
/// per-token latency (each sampled token waits its whole step), peak memory.
pub fn run(model: &Model, model_name: &str, workload: &EngineWorkload, settings: EngineSettings) -> Result<BenchResult> {
    let requests = workload.requests(vocab(model));
    let batch = workload.batch_config(model, settings);
    tracing::info!("{} @ {model_name}: {:?} attention, {batch:?}", workload.name, model.decoder.attention(settings.attention)?);
    let mut engine = BatchEngine::new(model, batch)?;
    reset_peak_memory();
    let started = Instant::now();
    for request in requests {
        if let Some(failed) = engine.submit(request) {
            return Err(crate::Error::Request(format!("benchmark request {} failed: {:?}", failed.id, failed.result.err())));
        }
    }
    let (mut prefill_tokens, mut prefill_time, mut decode_tokens, mut decode_time) = (0, Duration::ZERO, 0, Duration::ZERO);
    let mut latencies_ms = Vec::new();
    while engine.has_work() {
        let before = engine.stats();
        let step_started = Instant::now();
        for completion in engine.step()? {
            if let Err(e) = completion.result {
                return Err(crate::Error::Request(format!("benchmark request {} failed: {e}", completion.id)));
            }
        }
        let took = step_started.elapsed();
        let after = engine.stats();
        let prefilled = after.prefill_tokens - before.prefill_tokens;
        if prefilled > 0 {
            prefill_tokens += prefilled;
            prefill_time += took;
        } else {
            decode_tokens += after.decode_tokens - before.decode_tokens;
            decode_time += took;
        }
        let sampled = (after.sampled_tokens - before.sampled_tokens) as usize;
        latencies_ms.extend(std::iter::repeat_n(took.as_secs_f64() * 1e3, sampled));
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let stats = engine.stats();
    let rate = |tokens: u64, d: Duration| tokens as f64 / d.as_secs_f64().max(1e-9);
    let mut result = BenchResult::new("engine", format!("{} @ {model_name}", workload.name))
        .with("prefill_tok_s", rate(prefill_tokens, prefill_time), "tok/s", Better::Higher)
        .with("decode_tok_s", rate(decode_tokens, decode_time), "tok/s", Better::Higher)
        .with("total_tok_s", (stats.prefill_tokens + stats.decode_tokens) as f64 / wall, "tok/s", Better::Higher)
        .with("token_latency_p50_ms", percentile(&latencies_ms, 0.5), "ms", Better::Lower)
        .with("token_latency_p99_ms", percentile(&latencies_ms, 0.99), "ms", Better::Lower)
        .with("prefix_hit_rate", stats.prefix_hit_rate(), "", Better::Info)
        .with("steps", stats.steps as f64, "", Better::Info);
    if let Some(peak) = peak_memory_mib() {
        result = result.with("peak_rss_mib", peak, "MiB", Better::Lower);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_the_same_tokens_every_time_and_keep_their_shape() {
        for w in EngineWorkload::standard() {
            let (a, b) = (w.requests(1000), w.requests(1000));
            assert_eq!(a.len(), w.sequences);
            for (x, y) in a.iter().zip(&b) {
                assert_eq!((&x.prompt, x.params.max_new_tokens), (&y.prompt, y.params.max_new_tokens), "{}", w.name);
                let own = x.prompt.len() - w.shared_prefix;
                assert!((w.prompt_tokens.0..=w.prompt_tokens.1).contains(&own), "{}", w.name);
                assert!(x.prompt[..w.shared_prefix] == a[0].prompt[..w.shared_prefix]);
            }
        }
        let ragged = &EngineWorkload::standard()[3].requests(1000);
        assert!(ragged.iter().map(|r| r.prompt.len()).collect::<std::collections::HashSet<_>>().len() > 5, "ragged lengths vary");
    }
}
