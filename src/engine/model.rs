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
use super::flash;
use super::kv::{AttentionBackend, PagedKvCache};
use super::placement::{card_free_memory, Footprint, Stage};
use super::step::SeqChunk;
use super::swiglu::FusedSwiGlu;
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
        let activated = match &self.gate_up_proj {
            // On the host, one pass over the fused output (`swiglu`).
            Stacked::Fused { linear, widths } if xs.device().is_cpu() && xs.dtype() == DType::F32 && widths[0] == widths[1] => {
                linear.forward(xs)?.contiguous()?.apply_op1_no_bwd(&FusedSwiGlu)?
            }
            _ => {
                let [gate, up]: [Tensor; 2] = self.gate_up_proj.forward(xs)?.try_into().expect("two projections");
                (gate.silu()? * up)?
            }
        };
        self.down_proj.forward(&activated)
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

/// The attention `asked` comes to on a stage on the CPU (`on_cpu`) or on a card, in a
/// model with cards (`beside_cards`), where flash-attention cannot run for
/// `flash_unavailable`'s reason, if any ([`Decoder::attentions`]).
fn stage_attention(asked: AttentionBackend, on_cpu: bool, beside_cards: bool, flash_unavailable: Option<&str>) -> Result<AttentionBackend> {
    let flash = || match flash_unavailable {
        Some(why) => Err(Error::Config(format!("flash attention: {why}"))),
        None => Ok(AttentionBackend::Flash),
    };
    match (asked, on_cpu) {
        (AttentionBackend::Auto | AttentionBackend::Host, true) => Ok(AttentionBackend::Host),
        (AttentionBackend::Flash, true) if beside_cards => Ok(AttentionBackend::Host),
        (AttentionBackend::Host, false) => Err(Error::Config("the host attention runs on the CPU only; use gathered".into())),
        (AttentionBackend::Auto, false) => Ok(flash().unwrap_or(AttentionBackend::Gathered)),
        (AttentionBackend::Flash, _) => flash(),
        (AttentionBackend::Gathered, _) => Ok(AttentionBackend::Gathered),
    }
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
    /// The layers' devices in order: the embeddings live on the first, the final norm
    /// and the head on the last.
    stages: Vec<Stage>,
    /// Why flash-attention cannot run for this model on its devices, if it cannot:
    /// decided once, since asking the card is a driver call and every engine, KV pool
    /// and embedding step resolves its attention.
    flash_unavailable: Option<String>,
    /// What the host attention's KV pool holds ([`super::kv::host_kv_dtype`]).
    host_kv: DType,
}

impl Decoder {
    /// Builds the decoder from `weights` named as in Hugging Face checkpoints, its
    /// layers split across `devices` in order ([`Stage::plan`]; `counts` fixes a card's
    /// layers beside the host), computing in `dtype` (but for the CPU's stage beside
    /// cards, in f32), its host KV pool in `host_kv`.
    pub(crate) fn load(weights: &Weights, config: ModelConfig, dtype: DType, devices: &[Device], counts: &[Option<usize>], host_kv: DType) -> Result<Decoder> {
        let on_cpu = devices.iter().all(Device::is_cpu);
        // Beside cards, what the cards would hold decides how many layers they take.
        let footprint = Decoder::footprint(weights, &config, dtype, on_cpu)?;
        let stages = Stage::plan(&footprint, devices, counts, dtype)?;
        let ranges: Vec<_> = stages.iter().map(|s| s.layers.clone()).collect();
        let free: Vec<_> = stages.iter().map(|s| card_free_memory(&s.device)).collect();
        weights_fit(&footprint.per_stage(&ranges), &free).map_err(|m| Error::model(weights.origin(), m))?;
        Decoder::load_stages(weights, config, stages, host_kv)
    }

    /// Builds the decoder on `stages` as they are given: each stage's layers on its
    /// device in its dtype, the embeddings with the first, the head with the last.
    pub(crate) fn load_stages(weights: &Weights, config: ModelConfig, stages: Vec<Stage>, host_kv: DType) -> Result<Decoder> {
        let c = &config;
        let h = c.hidden_size;
        let (first, last) = (&stages[0], &stages[stages.len() - 1]);
        let embed_tokens = weights.dense("model.embed_tokens.weight", &[c.vocab_size, h], first.dtype, &first.device)?;
        let mut layers = Vec::with_capacity(c.num_layers);
        for (i, stage) in stages.iter().flat_map(|s| s.layers.clone().map(move |i| (i, s))) {
            let (dtype, dev) = (stage.dtype, &stage.device);
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
        let norm = RmsNorm::load(weights, "model.norm", h, c, last.dtype, &last.device)?;
        let lm_head = weights.linear(Decoder::head_name(c, weights), (c.vocab_size, h), false, last.dtype, &last.device)?;
        let inv_freq = (0..c.head_dim / 2)
            .map(|i| 1.0 / c.rope_theta.powf(2.0 * i as f64 / c.head_dim as f64))
            .collect();
        // Flash attention is the cards' to run; beside them the host attends on its own.
        let cards: Vec<&Stage> = stages.iter().filter(|s| !s.device.is_cpu()).collect();
        let judged = if cards.is_empty() { stages.iter().collect() } else { cards };
        let flash_unavailable = judged.iter().find_map(|s| flash::unavailable(&s.device, s.dtype, config.head_dim));
        Ok(Decoder { config, embed_tokens, layers, norm, lm_head, inv_freq, stages, flash_unavailable, host_kv })
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

    /// What the cards compute in (the host's stage beside them computes in f32); on
    /// the CPU alone, what it computes in.
    pub fn dtype(&self) -> DType {
        self.stages[self.speaking_stage()].dtype
    }

    /// The stage that answers for the model: its first on a card, else its first.
    fn speaking_stage(&self) -> usize {
        self.stages.iter().position(|s| !s.device.is_cpu()).unwrap_or(0)
    }

    /// The attention `asked` comes to on each stage, or why it cannot run there.
    /// `auto`: host on the CPU; on cards flash where this build, the cards, the dtype
    /// and the head size allow it, gathered otherwise. `host` runs on the CPU only,
    /// `gathered` anywhere; `flash` is the cards' kernel, and the host's stage beside
    /// them attends with the host's own.
    pub fn attentions(&self, asked: AttentionBackend) -> Result<Vec<AttentionBackend>> {
        let beside_cards = !self.on_cpu();
        let flash_unavailable = self.flash_unavailable.as_deref();
        self.stages.iter().map(|s| stage_attention(asked, s.device.is_cpu(), beside_cards, flash_unavailable)).collect()
    }

    /// The attention `asked` comes to on the model's cards (on the CPU alone, the
    /// CPU's), or why it cannot run on some stage ([`Decoder::attentions`]).
    pub fn attention(&self, asked: AttentionBackend) -> Result<AttentionBackend> {
        Ok(self.attentions(asked)?[self.speaking_stage()])
    }

    /// Tokens per KV block for `attention`: flash-attention's paged kernel needs whole
    /// tiles of 32; the others take 16, which wastes less of a sequence's last block.
    pub fn kv_block_size(&self, attention: AttentionBackend) -> usize {
        match self.attention(attention) {
            Ok(AttentionBackend::Flash) => flash::BLOCK_SIZE,
            _ => 16,
        }
    }

    /// What the host attention's KV pool holds keys and values in: f16, or f32 where
    /// the engine was asked to compute in f32 ([`super::kv::host_kv_dtype`]).
    pub fn host_kv_dtype(&self) -> DType {
        self.host_kv
    }

    /// A KV pool of `num_blocks` blocks for this model, each stage's layers on its
    /// device, read by the attention `attention` comes to there.
    pub fn kv_cache(&self, num_blocks: usize, block_size: usize, attention: AttentionBackend) -> Result<PagedKvCache> {
        let attentions = self.attentions(attention)?;
        PagedKvCache::staged(&self.config, num_blocks, block_size, &self.stages, &attentions, self.host_kv)
    }

    /// Bytes one KV block of this model takes on each stage with `attention` (the host
    /// attention's blocks in the host pool's float, the devices' in their stage's dtype).
    pub fn kv_bytes_per_block_by_stage(&self, block_size: usize, attention: AttentionBackend) -> Vec<usize> {
        let attentions = self.attentions(attention).unwrap_or_else(|_| vec![attention; self.stages.len()]);
        self.stages
            .iter()
            .zip(attentions)
            .map(|(stage, attention)| {
                let dtype = if attention == AttentionBackend::Host { self.host_kv } else { stage.dtype };
                PagedKvCache::bytes_per_block(&self.config, stage.layers.len(), block_size, dtype)
            })
            .collect()
    }

    /// Bytes one KV block of this model takes over all its stages with `attention`.
    pub fn kv_bytes_per_block(&self, block_size: usize, attention: AttentionBackend) -> usize {
        self.kv_bytes_per_block_by_stage(block_size, attention).iter().sum()
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
            xs = xs.to_device(&stage.device)?.to_dtype(stage.dtype)?;
            let half = self.inv_freq.len();
            let cos = Tensor::from_slice(&cos, (n, half), &stage.device)?.to_dtype(stage.dtype)?;
            let sin = Tensor::from_slice(&sin, (n, half), &stage.device)?.to_dtype(stage.dtype)?;
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
    use crate::engine::step::SeqChunk;

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

    #[test]
    fn each_stage_attends_as_its_device_can() {
        use AttentionBackend::*;
        let at = |asked, on_cpu, beside_cards, flash| stage_attention(asked, on_cpu, beside_cards, flash).map_err(|e| e.to_string());
        let no_flash = Some("built without flash-attn");
        // The CPU alone: host unless gathered is asked; no flash.
        assert_eq!(at(Auto, true, false, no_flash), Ok(Host));
        assert_eq!(at(Gathered, true, false, no_flash), Ok(Gathered));
        assert!(at(Flash, true, false, no_flash).unwrap_err().contains("built without flash-attn"));
        // A card: flash where it can run, gathered otherwise; never the host kernel.
        assert_eq!(at(Auto, false, true, None), Ok(Flash));
        assert_eq!(at(Auto, false, true, no_flash), Ok(Gathered));
        assert!(at(Host, false, true, None).unwrap_err().contains("CPU only"));
        assert!(at(Flash, false, true, no_flash).is_err());
        // The host beside cards: its own kernel under auto and flash, gathered if asked.
        assert_eq!(at(Auto, true, true, None), Ok(Host));
        assert_eq!(at(Flash, true, true, None), Ok(Host));
        assert_eq!(at(Gathered, true, true, None), Ok(Gathered));
    }

    /// Logits of a few packed steps (two prompts, then a decode beside a third prompt)
    /// through `decoder`, its KV pool read by `attentions`, one per stage.
    fn steps(decoder: &Decoder, attentions: &[AttentionBackend]) -> Vec<Vec<f32>> {
        let block = 16;
        let mut kv = PagedKvCache::staged(decoder.config(), 12, block, decoder.stages(), attentions, DType::F32).unwrap();
        let table = |id: u64| (id as u32 * 4..id as u32 * 4 + 4).collect::<Vec<_>>();
        let chunk = |id: u64, start, len, past| SeqChunk { id, start, len, past, wants_logits: true, blocks: table(id) };
        let prompt = |s: u32, n: u32| (0..n).map(|i| (i * 17 + s * 5 + 3) % 250).collect::<Vec<u32>>();
        let steps = [
            ([prompt(0, 21), prompt(1, 40)].concat(), vec![chunk(0, 0, 21, 0), chunk(1, 21, 40, 0)]),
            ([vec![7, 9], prompt(2, 37)].concat(), vec![chunk(0, 0, 1, 21), chunk(1, 1, 1, 40), chunk(2, 2, 37, 0)]),
            (vec![11, 12, 13], vec![chunk(0, 0, 1, 22), chunk(1, 1, 1, 41), chunk(2, 2, 1, 37)]),
        ];
        steps.iter().flat_map(|(tokens, chunks)| decoder.forward(tokens, chunks, &mut kv, false).unwrap().logits.to_vec2::<f32>().unwrap()).collect()
    }

    #[test]
    fn a_card_stage_beside_the_host_computes_what_one_stage_does() {
        // What a split of cards and the host adds, on CPU stand-ins: the stand-in card's
        // stage computes in its dtype with the gathered attention over device tensors,
        // the host's in f32 with the host kernel, and the hidden states change device
        // and dtype at each boundary, the host's stage first or last.
        use AttentionBackend::{Gathered, Host};
        let source: super::super::ModelSource = "synthetic:tiny:layers=4".parse().unwrap();
        let (config, weights) = super::super::open(&source, super::super::Requantize::Auto).unwrap();
        let stage = |layers, dtype| Stage { device: Device::Cpu, layers, dtype };
        let one = Decoder::load_stages(&weights, config.clone(), vec![stage(0..4, DType::F32)], DType::F32).unwrap();
        let exact = steps(&one, &[Host]);
        let scale = exact.iter().flatten().fold(0f32, |m, x| m.max(x.abs()));
        for (card_dtype, tolerance) in [(DType::F32, 1e-5), (DType::BF16, 0.02), (DType::F16, 0.005)] {
            for host_first in [false, true] {
                let (stages, attentions) = match host_first {
                    true => (vec![stage(0..1, DType::F32), stage(1..4, card_dtype)], [Host, Gathered]),
                    false => (vec![stage(0..3, card_dtype), stage(3..4, DType::F32)], [Gathered, Host]),
                };
                let split = Decoder::load_stages(&weights, config.clone(), stages, DType::F32).unwrap();
                let got = steps(&split, &attentions);
                assert_eq!(got.len(), exact.len());
                let gap = exact.iter().zip(&got).flat_map(|(x, y)| x.iter().zip(y).map(|(a, b)| (a - b).abs())).fold(0f32, f32::max) / scale;
                assert!(gap < tolerance, "{card_dtype:?}, host first {host_first}: logit gap {gap}");
                if card_dtype != DType::F32 {
                    assert!(gap > 0.0, "{card_dtype:?}: the card's stage computed in its dtype");
                }
            }
        }
    }
}
