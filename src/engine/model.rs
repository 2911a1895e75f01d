//! The decoder: pre-norm transformer blocks with rotary attention and a SwiGLU MLP,
//! as in Llama, Qwen2 and Qwen3.
//!
//! One forward step takes a packed, ragged batch: the tokens of many sequences laid end
//! to end, each sequence at its own position with its own cache. Every projection runs
//! once over all packed tokens; only attention looks at sequences one by one.
//!
//! The layers may be split across devices ([`Stage`]): the hidden states then move to
//! the next device between the stages.

use candle_core::{DType, Device, Tensor};

use super::config::ModelConfig;
use super::DeviceFacts;
use super::flash;
use super::kv::{AttentionBackend, PagedKvCache};
use super::placement::{Footprint, Stage};
use super::step::SeqChunk;
use super::weights::{tensor_bytes, Linear, Stacked, Weights};
use crate::{Error, Result};

struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn load(w: &Weights, name: &str, size: usize, cfg: &ModelConfig, dtype: DType, dev: &Device) -> Result<RmsNorm> {
        let weight = w.dense(&format!("{name}.weight"), &[size], dtype, dev)?;
        Ok(RmsNorm { weight, eps: cfg.rms_norm_eps as f32 })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(xs, &self.weight, self.eps)
    }
}

struct Attention {
    /// q, k and v projections.
    qkv_proj: Stacked,
    o_proj: Linear,
    /// Qwen3's per-head norms of q and k.
    qk_norm: Option<(RmsNorm, RmsNorm)>,
}

struct Mlp {
    /// gate and up projections.
    gate_up_proj: Stacked,
    down_proj: Linear,
}

impl Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let [gate, up]: [Tensor; 2] = self.gate_up_proj.forward(xs)?.try_into().expect("two projections");
        self.down_proj.forward(&(gate.silu()? * up)?)
    }
}

struct Block {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

/// What one forward step returns.
pub struct StepOutput {
    /// `[chunks wanting logits, vocab]` in f32, in the order of the step's chunks.
    pub logits: Tensor,
    /// `[tokens, hidden]` final-normed hidden states of every packed token, when asked
    /// for (embeddings pool these).
    pub hidden: Option<Tensor>,
}

/// Whether each stage's weights (`per_stage`, bytes) fit the memory its card has free
/// (`(card, free bytes)`; `None`: the CPU, whose memory the operator answers for):
/// refused before a byte is copied, naming the card and what it lacks, rather than
/// failing mid-load with the driver's out-of-memory error.
fn weights_fit(per_stage: &[usize], cards: &[Option<(String, usize)>]) -> std::result::Result<(), String> {
    let gib = |bytes: usize| bytes as f64 / (1u64 << 30) as f64;
    for (&weights, card) in per_stage.iter().zip(cards) {
        if let Some((card, free)) = card {
            if weights > *free {
                return Err(format!(
                    "its weights for {card} take {:.1} GiB and {card} has {:.1} GiB free; \
                     `hearth plan` shows what would fit (more cards, or fewer bits a weight)",
                    gib(weights),
                    gib(*free)
                ));
            }
        }
    }
    Ok(())
}

/// A loaded decoder.
pub struct Decoder {
    config: ModelConfig,
    embed_tokens: Tensor,
    layers: Vec<Block>,
    norm: RmsNorm,
    lm_head: Linear,
    /// Rotary frequencies θ^(-2i/d), one per pair of head dimensions.
    inv_freq: Vec<f64>,
    dtype: DType,
    /// The layers' devices in order: the embeddings live on the first, the final norm
    /// and the head on the last.
    stages: Vec<Stage>,
    /// Why flash-attention cannot run for this model on its devices, if it cannot:
    /// decided once, since asking the card is a driver call and every engine, KV pool
    /// and embedding step resolves its attention.
    flash_unavailable: Option<String>,
}

impl Decoder {
    /// Builds the decoder from `weights` named as in Hugging Face checkpoints, its
    /// layers split across `devices` in order ([`Stage::plan`]).
    pub(crate) fn load(weights: &Weights, config: ModelConfig, dtype: DType, devices: &[Device]) -> Result<Decoder> {
        let on_cpu = devices.iter().all(Device::is_cpu);
        let footprint = Decoder::footprint(weights, &config, dtype, on_cpu)?;
        let stages = Stage::plan(&footprint, devices)?;
        let ranges: Vec<_> = stages.iter().map(|s| s.layers.clone()).collect();
        let free: Vec<Option<(String, usize)>> = stages
            .iter()
            .map(|s| match (s.device.location(), DeviceFacts::of(&s.device)) {
                (candle_core::DeviceLocation::Cuda { gpu_id }, Some(facts)) => Some((format!("cuda:{gpu_id}"), facts.free_memory)),
                _ => None,
            })
            .collect();
        weights_fit(&footprint.per_stage(&ranges), &free).map_err(|m| Error::model(weights.origin(), m))?;
        let c = &config;
        let h = c.hidden_size;
        let (first, last) = (&stages[0].device, &stages[stages.len() - 1].device);
        let embed_tokens = weights.dense("model.embed_tokens.weight", &[c.vocab_size, h], dtype, first)?;
        let mut layers = Vec::with_capacity(c.num_layers);
        for (i, dev) in stages.iter().flat_map(|s| s.layers.clone().map(|i| (i, &s.device))) {
            let p = format!("model.layers.{i}");
            let linear = |name: &str, out: usize, inp: usize, bias: bool| {
                weights.linear(&format!("{p}.{name}"), (out, inp), bias, dtype, dev)
            };
            let qk_norm = match c.qk_norm {
                true => Some((
                    RmsNorm::load(weights, &format!("{p}.self_attn.q_norm"), c.head_dim, c, dtype, dev)?,
                    RmsNorm::load(weights, &format!("{p}.self_attn.k_norm"), c.head_dim, c, dtype, dev)?,
                )),
                false => None,
            };
            layers.push(Block {
                input_layernorm: RmsNorm::load(weights, &format!("{p}.input_layernorm"), h, c, dtype, dev)?,
                self_attn: Attention {
                    qkv_proj: Stacked::new(vec![
                        linear("self_attn.q_proj", c.q_dim(), h, c.qkv_bias)?,
                        linear("self_attn.k_proj", c.kv_dim(), h, c.qkv_bias)?,
                        linear("self_attn.v_proj", c.kv_dim(), h, c.qkv_bias)?,
                    ])?,
                    o_proj: linear("self_attn.o_proj", h, c.q_dim(), false)?,
                    qk_norm,
                },
                post_attention_layernorm: RmsNorm::load(weights, &format!("{p}.post_attention_layernorm"), h, c, dtype, dev)?,
                mlp: Mlp {
                    gate_up_proj: Stacked::new(vec![
                        linear("mlp.gate_proj", c.intermediate_size, h, false)?,
                        linear("mlp.up_proj", c.intermediate_size, h, false)?,
                    ])?,
                    down_proj: linear("mlp.down_proj", h, c.intermediate_size, false)?,
                },
            });
        }
        let norm = RmsNorm::load(weights, "model.norm", h, c, dtype, last)?;
        let lm_head = weights.linear(Decoder::head_name(c, weights), (c.vocab_size, h), false, dtype, last)?;
        let inv_freq = (0..c.head_dim / 2)
            .map(|i| 1.0 / c.rope_theta.powf(2.0 * i as f64 / c.head_dim as f64))
            .collect();
        let flash_unavailable = stages.iter().find_map(|s| flash::unavailable(&s.device, dtype, config.head_dim));
        Ok(Decoder { config, embed_tokens, layers, norm, lm_head, inv_freq, dtype, stages, flash_unavailable })
    }

    /// What [`Decoder::load`] will hold of `weights`, on the CPU (`on_cpu`) or on GPUs,
    /// computing in `dtype`: the same tensors, counted by how each will be held, read
    /// from nothing but a GGUF's header. What splits a model across cards, and what
    /// `hearth plan` counts for cards this machine does not have.
    pub(crate) fn footprint(weights: &Weights, config: &ModelConfig, dtype: DType, on_cpu: bool) -> Result<Footprint> {
        let c = config;
        let h = c.hidden_size;
        let dense = |elements: usize| elements * dtype.size_in_bytes();
        let layer = |i: usize| -> Result<usize> {
            let linear = |name: &str, out: usize, inp: usize, bias: bool| {
                weights.linear_bytes(&format!("model.layers.{i}.{name}"), (out, inp), bias, dtype, on_cpu)
            };
            let norms = dense(2 * h) + if c.qk_norm { dense(2 * c.head_dim) } else { 0 };
            Ok(norms
                + linear("self_attn.q_proj", c.q_dim(), h, c.qkv_bias)?
                + linear("self_attn.k_proj", c.kv_dim(), h, c.qkv_bias)?
                + linear("self_attn.v_proj", c.kv_dim(), h, c.qkv_bias)?
                + linear("self_attn.o_proj", h, c.q_dim(), false)?
                + linear("mlp.gate_proj", c.intermediate_size, h, false)?
                + linear("mlp.up_proj", c.intermediate_size, h, false)?
                + linear("mlp.down_proj", h, c.intermediate_size, false)?)
        };
        let head = weights.linear_bytes(Decoder::head_name(c, weights), (c.vocab_size, h), false, dtype, on_cpu)?;
        Ok(Footprint {
            embeddings: dense(c.vocab_size * h),
            layers: (0..c.num_layers).map(layer).collect::<Result<_>>()?,
            head: dense(h) + head,
        })
    }

    /// The output head's tensor: tied checkpoints have none, and some GGUF writers drop
    /// it even when untied; the embedding table serves then.
    fn head_name(config: &ModelConfig, weights: &Weights) -> &'static str {
        match config.tie_word_embeddings || !weights.contains("lm_head.weight") {
            true => "model.embed_tokens",
            false => "lm_head",
        }
    }

    /// What the loaded weights take, measured from their tensors.
    pub fn weight_bytes(&self) -> Footprint {
        let norm = |n: &RmsNorm| tensor_bytes(&n.weight);
        let stacked = |s: &Stacked| match s {
            Stacked::Fused { linear, .. } => linear.bytes(),
            Stacked::Apart(parts) => parts.iter().map(Linear::bytes).sum(),
        };
        let layer = |b: &Block| {
            let qk_norm = b.self_attn.qk_norm.as_ref().map_or(0, |(q, k)| norm(q) + norm(k));
            norm(&b.input_layernorm) + norm(&b.post_attention_layernorm) + qk_norm
                + stacked(&b.self_attn.qkv_proj) + b.self_attn.o_proj.bytes()
                + stacked(&b.mlp.gate_up_proj) + b.mlp.down_proj.bytes()
        };
        Footprint {
            embeddings: tensor_bytes(&self.embed_tokens),
            layers: self.layers.iter().map(layer).collect(),
            head: norm(&self.norm) + self.lm_head.bytes(),
        }
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The devices the layers live on, in order (one stage unless split).
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    fn on_cpu(&self) -> bool {
        self.stages.iter().all(|s| s.device.is_cpu())
    }

    /// What activations and dense weights compute in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The attention `asked` comes to for this model on its device, or why it cannot run
    /// here. `auto`: host on the CPU; on GPUs flash where this build, the cards, the
    /// dtype and the head size allow it, gathered otherwise.
    pub fn attention(&self, asked: AttentionBackend) -> Result<AttentionBackend> {
        match asked {
            AttentionBackend::Auto if self.on_cpu() => Ok(AttentionBackend::Host),
            AttentionBackend::Auto if self.flash_unavailable.is_none() => Ok(AttentionBackend::Flash),
            AttentionBackend::Auto => Ok(AttentionBackend::Gathered),
            AttentionBackend::Host if !self.on_cpu() => Err(Error::Config("the host attention runs on the CPU only; use gathered".into())),
            AttentionBackend::Flash => match &self.flash_unavailable {
                Some(why) => Err(Error::Config(format!("flash attention: {why}"))),
                None => Ok(AttentionBackend::Flash),
            },
            chosen => Ok(chosen),
        }
    }

    /// Tokens per KV block for `attention`: flash-attention's paged kernel needs whole
    /// tiles of 32; the others take 16, which wastes less of a sequence's last block.
    pub fn kv_block_size(&self, attention: AttentionBackend) -> usize {
        match self.attention(attention) {
            Ok(AttentionBackend::Flash) => flash::BLOCK_SIZE,
            _ => 16,
        }
    }

    /// A KV pool of `num_blocks` blocks for this model, each layer's on its device, for
    /// `attention`.
    pub fn kv_cache(&self, num_blocks: usize, block_size: usize, attention: AttentionBackend) -> Result<PagedKvCache> {
        match self.attention(attention)? {
            AttentionBackend::Host => Ok(PagedKvCache::new(&self.config, num_blocks, block_size)),
            on_device => PagedKvCache::on_device(&self.config, num_blocks, block_size, &self.stages, self.dtype, on_device),
        }
    }

    /// Bytes one KV block of this model takes with `attention`.
    pub fn kv_bytes_per_block(&self, block_size: usize, attention: AttentionBackend) -> usize {
        let dtype = match self.attention(attention) {
            Ok(AttentionBackend::Host) => DType::F32,
            _ => self.dtype,
        };
        PagedKvCache::bytes_per_block(&self.config, block_size, dtype)
    }

    /// Runs one packed step: writes every chunk's keys and values into its sequence's
    /// blocks and returns last-token logits for the chunks that want them.
    pub fn forward(&self, tokens: &[u32], chunks: &[SeqChunk], kv: &mut PagedKvCache, want_hidden: bool) -> Result<StepOutput> {
        self.check_step(tokens, chunks, kv)?;
        // The step's many parallel kernels (matmuls, attention, candle's ops) are then
        // forked from a pool thread, which works alongside the others, instead of
        // each being injected from outside and waited for.
        rayon::scope(|_| self.forward_in_pool(tokens, chunks, kv, want_hidden))
    }

    fn forward_in_pool(&self, tokens: &[u32], chunks: &[SeqChunk], kv: &mut PagedKvCache, want_hidden: bool) -> Result<StepOutput> {
        let c = &self.config;
        let n = tokens.len();
        let ids = Tensor::from_slice(tokens, n, self.embed_tokens.device())?;
        let mut xs = self.embed_tokens.index_select(&ids, 0)?;
        let (cos, sin) = self.rotary(chunks);
        kv.begin_step(chunks)?;

        for stage in &self.stages {
            xs = xs.to_device(&stage.device)?;
            let half = self.inv_freq.len();
            let cos = Tensor::from_slice(&cos, (n, half), &stage.device)?.to_dtype(self.dtype)?;
            let sin = Tensor::from_slice(&sin, (n, half), &stage.device)?.to_dtype(self.dtype)?;
            for layer in stage.layers.clone() {
                xs = self.block_forward(layer, &xs, &cos, &sin, chunks, kv)?;
            }
        }
        let hidden = self.norm.forward(&xs)?;

        let last: Vec<u32> = chunks.iter().filter(|c| c.wants_logits).map(|c| (c.start + c.len - 1) as u32).collect();
        let logits = match last.is_empty() {
            true => Tensor::zeros((0, c.vocab_size), DType::F32, hidden.device())?,
            false => {
                let rows = hidden.index_select(&Tensor::from_vec(last.clone(), last.len(), hidden.device())?, 0)?;
                self.lm_head.forward(&rows)?.to_dtype(DType::F32)?
            }
        };
        Ok(StepOutput { logits, hidden: want_hidden.then_some(hidden) })
    }

    /// One pre-norm block over the packed tokens `xs`, on the device of its stage.
    fn block_forward(&self, layer: usize, xs: &Tensor, cos: &Tensor, sin: &Tensor, chunks: &[SeqChunk], kv: &mut PagedKvCache) -> Result<Tensor> {
        let c = &self.config;
        let n = xs.dim(0)?;
        let block = &self.layers[layer];
        let h = block.input_layernorm.forward(xs)?;
        let attn = &block.self_attn;
        let [q, k, v]: [Tensor; 3] = attn.qkv_proj.forward(&h)?.try_into().expect("three projections");
        let mut q = q.reshape((1, n, c.num_heads, c.head_dim))?;
        let mut k = k.reshape((1, n, c.num_kv_heads, c.head_dim))?;
        if let Some((q_norm, k_norm)) = &attn.qk_norm {
            q = q_norm.forward(&q)?;
            k = k_norm.forward(&k)?;
        }
        let q = candle_nn::rotary_emb::rope_thd(&q.contiguous()?, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_thd(&k.contiguous()?, cos, sin)?;
        let q = q.reshape((n, c.q_dim()))?;
        let k = k.reshape((n, c.kv_dim()))?;
        let attended = kv.attend(layer, &q, &k, &v, chunks)?;
        let xs = (xs + attn.o_proj.forward(&attended)?)?;
        let h = block.post_attention_layernorm.forward(&xs)?;
        Ok((&xs + block.mlp.forward(&h)?)?)
    }

    /// Rejects a step whose chunks do not tile the tokens or whose block tables do not
    /// cover them, before any cache is touched.
    fn check_step(&self, tokens: &[u32], chunks: &[SeqChunk], kv: &PagedKvCache) -> Result<()> {
        let mut next = 0;
        let mut seen = std::collections::HashSet::new();
        for c in chunks {
            if c.start != next || c.len == 0 || !seen.insert(c.id) {
                return Err(Error::Request(format!("chunks must tile the packed tokens once each: {chunks:?}")));
            }
            next += c.len;
            let covered = c.blocks.len() * kv.block_size();
            if covered < c.past + c.len || c.blocks.iter().any(|&b| b as usize >= kv.num_blocks()) {
                return Err(Error::Request(format!(
                    "sequence {}: its block table {:?} does not cover {} tokens in a pool of {} blocks",
                    c.id,
                    c.blocks,
                    c.past + c.len,
                    kv.num_blocks()
                )));
            }
            if c.past + c.len > self.config.max_context {
                return Err(Error::Request(format!(
                    "sequence {} would reach {} tokens, over the model's context of {}",
                    c.id,
                    c.past + c.len,
                    self.config.max_context
                )));
            }
        }
        if next != tokens.len() {
            return Err(Error::Request(format!("chunks cover {next} tokens, the step has {}", tokens.len())));
        }
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= self.config.vocab_size) {
            return Err(Error::Request(format!("token id {bad} is outside the vocabulary")));
        }
        Ok(())
    }

    /// cos/sin `[tokens, head_dim / 2]`, row-major, for each packed token's own position.
    /// Angles are computed in f64: at position 30 000 an f32 angle is off by ~0.002 rad.
    fn rotary(&self, chunks: &[SeqChunk]) -> (Vec<f32>, Vec<f32>) {
        let n: usize = chunks.iter().map(|c| c.len).sum();
        let half = self.inv_freq.len();
        let (mut cos, mut sin) = (Vec::with_capacity(n * half), Vec::with_capacity(n * half));
        for c in chunks {
            for pos in c.past..c.past + c.len {
                for f in &self.inv_freq {
                    let angle = pos as f64 * f;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
        (cos, sin)
    }
}



#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_over_a_cards_free_memory_are_refused_naming_the_card() {
        const GIB: usize = 1 << 30;
        let cards = [Some(("cuda:0".to_string(), 20 * GIB)), Some(("cuda:1".to_string(), 8 * GIB))];
        assert!(weights_fit(&[19 * GIB, 8 * GIB], &cards).is_ok());
        let err = weights_fit(&[19 * GIB, 9 * GIB], &cards).unwrap_err();
        assert!(err.contains("for cuda:1 take 9.0 GiB and cuda:1 has 8.0 GiB free") && err.contains("hearth plan"), "{err}");
        // The CPU's memory is not the engine's to judge.
        assert!(weights_fit(&[1 << 40], &[None]).is_ok());
    }
}
