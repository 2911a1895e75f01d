//! Throughput benchmarks: fixed workloads whose numbers are compared side by side.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::engine::{BatchConfig, BatchEngine, Model, Request, SamplingParams};
use crate::Result;

/// The engine workload: `concurrency` requests of `prompt_tokens` random prompt tokens,
/// each generating exactly `new_tokens` greedily (EOS ignored).
#[derive(Clone, Debug, Serialize)]
pub struct EngineWorkload {
    /// Requests in flight together.
    pub concurrency: usize,
    /// Prompt length of every request.
    pub prompt_tokens: usize,
    /// Generated tokens of every request.
    pub new_tokens: usize,
}

/// One row of `hearth bench engine`.
#[derive(Clone, Debug, Serialize)]
pub struct EngineResult {
    /// What ran.
    #[serde(flatten)]
    pub workload: EngineWorkload,
    /// Prompt tokens per second over the steps that carried prefill.
    pub prefill_tok_s: f64,
    /// Generated tokens per second over the steps that only decoded.
    pub decode_tok_s: f64,
    /// Share of full prompt blocks served by the prefix cache.
    pub prefix_hit_rate: f64,
    /// Forward steps.
    pub steps: u64,
    /// Wall time of the whole run, seconds.
    pub wall_s: f64,
}

/// Runs one workload on `model` and measures it.
pub fn engine(model: &Model, workload: &EngineWorkload) -> Result<EngineResult> {
    // Ids both the model and the tokenizer know (a synthetic model's vocabulary is larger).
    let vocab = model.decoder.config().vocab_size.min(model.tokenizer.vocab_size()) as u32;
    let mut rng = rand::rngs::StdRng::seed_from_u64(workload.concurrency as u64);
    let requests: Vec<Request> = (0..workload.concurrency as u64)
        .map(|id| Request {
            id,
            // Random ids: no two prompts share a block, so prefill is measured in full.
            prompt: (0..workload.prompt_tokens).map(|_| rng.random_range(0..vocab)).collect(),
            params: SamplingParams { max_new_tokens: workload.new_tokens, ignore_eos: true, ..Default::default() },
        })
        .collect();
    let config = BatchConfig {
        // All prompts prefill together, as a batched llama.cpp run does.
        max_batched_tokens: (workload.concurrency * workload.prompt_tokens).max(1),
        max_seqs: workload.concurrency,
        ..BatchConfig::default()
    };
    let mut engine = BatchEngine::new(model, config)?;
    let started = Instant::now();
    let mut failures = Vec::new();
    engine.run(requests, |c| {
        if let Err(e) = c.result {
            failures.push(e);
        }
    })?;
    if let Some(e) = failures.first() {
        return Err(crate::Error::Request(format!("benchmark request failed: {e}")));
    }
    let stats = engine.stats();
    let rate = |tokens: u64, d: std::time::Duration| tokens as f64 / d.as_secs_f64().max(1e-9);
    Ok(EngineResult {
        workload: workload.clone(),
        prefill_tok_s: rate(stats.prefill_tokens, stats.prefill_time),
        decode_tok_s: rate(stats.decode_tokens, stats.decode_time),
        prefix_hit_rate: stats.prefix_hit_rate(),
        steps: stats.steps,
        wall_s: started.elapsed().as_secs_f64(),
    })
}
