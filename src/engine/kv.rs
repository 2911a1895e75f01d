//! The paged key/value cache and the causal attention that reads it.
//!
//! Keys and values live in fixed-size blocks of one pool per layer; a sequence's block
//! table (kept by the scheduler, see [`super::blocks`]) says which blocks hold its
//! tokens, in order. A step writes each new token's key and value into its slot, then
//! attends. Two implementations sit behind [`PagedKvCache::attend`]:
//!
//! - [`AttentionBackend::Host`] (CPU): the pool is host `f32`, and attention runs
//!   straight over the blocks: no gather, no copy, no padding, no mask tensor. The kernel
//!   is plain Rust spread over (token, key/value head) pairs with rayon.
//! - [`AttentionBackend::Gathered`] (GPUs): the pool is device tensors, and each layer
//!   gathers blocks into padded batches for batched matmuls ([`super::gathered`]), a
//!   bounded number of launches however many sequences the step carries.

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use super::blocks::BlockId;
use super::config::ModelConfig;
use super::gathered::{self, Heads, Plan};
use crate::{Error, Result};

/// Which attention implementation reads the paged cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttentionBackend {
    /// `host` on the CPU, `gathered` on a GPU.
    #[default]
    Auto,
    /// Host `f32` blocks and our rayon kernel.
    Host,
    /// Device-tensor blocks, gathered into batched matmuls.
    Gathered,
}

impl AttentionBackend {
    /// What `Auto` means on `device`.
    pub fn resolve(self, device: &Device) -> AttentionBackend {
        match self {
            AttentionBackend::Auto if device.is_cpu() => AttentionBackend::Host,
            AttentionBackend::Auto => AttentionBackend::Gathered,
            chosen => chosen,
        }
    }
}

impl std::str::FromStr for AttentionBackend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(AttentionBackend::Auto),
            "host" => Ok(AttentionBackend::Host),
            "gathered" => Ok(AttentionBackend::Gathered),
            other => Err(format!("`{other}`: the attention is auto, host or gathered")),
        }
    }
}

/// Identifies a sequence for the whole of its life in the engine.
pub type SeqId = u64;

/// One sequence's share of a packed forward step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqChunk {
    /// The sequence.
    pub id: SeqId,
    /// Index of the chunk's first token in the packed token list.
    pub start: usize,
    /// Number of tokens: a prefill chunk, or 1 for a decode step.
    pub len: usize,
    /// Tokens already cached for this sequence: the chunk's first position.
    pub past: usize,
    /// Whether the step should return logits for the chunk's last token. A prefill
    /// chunk that does not end the prompt needs none.
    pub wants_logits: bool,
    /// The sequence's block table; it must cover `past + len` tokens.
    pub blocks: Vec<BlockId>,
}

impl SeqChunk {
    /// The pool slot (block × `block_size` + offset) holding the sequence's token at `pos`.
    pub fn slot(&self, pos: usize, block_size: usize) -> usize {
        self.blocks[pos / block_size] as usize * block_size + pos % block_size
    }
}

/// Key and value blocks of every layer.
pub struct PagedKvCache {
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    block_size: usize,
    num_blocks: usize,
    pool: Pool,
}

/// Per layer: keys and values, `[num_blocks * block_size, kv_heads * head_dim]`.
enum Pool {
    Host(Vec<(Vec<f32>, Vec<f32>)>),
    /// With the index tensors of the step in progress.
    Gathered { layers: Vec<(Tensor, Tensor)>, plan: Option<Plan> },
}

impl PagedKvCache {
    /// A host pool of `num_blocks` blocks of `block_size` tokens for a model of this
    /// shape. The memory is zeroed lazily by the OS, so an unused pool costs little.
    pub fn new(config: &ModelConfig, num_blocks: usize, block_size: usize) -> PagedKvCache {
        let floats = num_blocks * block_size * config.kv_dim();
        let pool = Pool::Host((0..config.num_layers).map(|_| (vec![0f32; floats], vec![0f32; floats])).collect());
        PagedKvCache::with_pool(config, num_blocks, block_size, pool)
    }

    /// A pool of device tensors of `dtype` on `device`, read by the gathered attention.
    pub fn gathered(config: &ModelConfig, num_blocks: usize, block_size: usize, device: &Device, dtype: DType) -> Result<PagedKvCache> {
        let shape = (num_blocks * block_size, config.kv_dim());
        let layers = (0..config.num_layers)
            .map(|_| Ok((Tensor::zeros(shape, dtype, device)?, Tensor::zeros(shape, dtype, device)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(PagedKvCache::with_pool(config, num_blocks, block_size, Pool::Gathered { layers, plan: None }))
    }

    fn with_pool(config: &ModelConfig, num_blocks: usize, block_size: usize, pool: Pool) -> PagedKvCache {
        PagedKvCache { num_heads: config.num_heads, num_kv_heads: config.num_kv_heads, head_dim: config.head_dim, block_size, num_blocks, pool }
    }

    /// Bytes one block takes over all layers, keys and values, in elements of `dtype`.
    pub fn bytes_per_block(config: &ModelConfig, block_size: usize, dtype: DType) -> usize {
        2 * config.num_layers * block_size * config.kv_dim() * dtype.size_in_bytes()
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks in the pool.
    pub fn num_blocks(&self) -> usize {
        self.num_blocks
    }

    fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Readies a step over `chunks` (the gathered attention builds its index tensors
    /// once here, for every layer).
    pub fn begin_step(&mut self, chunks: &[SeqChunk], device: &Device) -> Result<()> {
        let (block_size, kv_dim) = (self.block_size, self.kv_dim());
        if let Pool::Gathered { plan, .. } = &mut self.pool {
            *plan = Some(Plan::new(chunks, block_size, kv_dim, device)?);
        }
        Ok(())
    }

    /// Writes the step's keys and values for `layer` into their slots, then computes
    /// causal attention for every packed query row.
    ///
    /// `q`: `[tokens, heads * head_dim]`; `k`, `v`: `[tokens, kv_heads * head_dim]`,
    /// all rotated already. Returns `[tokens, heads * head_dim]` in `q`'s dtype, on its
    /// device.
    pub fn attend(&mut self, layer: usize, q: &Tensor, k: &Tensor, v: &Tensor, chunks: &[SeqChunk]) -> Result<Tensor> {
        let heads = Heads { heads: self.num_heads, kv_heads: self.num_kv_heads, head_dim: self.head_dim };
        match &mut self.pool {
            Pool::Gathered { layers, plan } => {
                let plan = plan.as_ref().ok_or_else(|| Error::Request("attend before begin_step".into()))?;
                let (keys, values) = &layers[layer];
                Ok(gathered::attend(keys, values, q, k, v, plan, &heads)?)
            }
            Pool::Host(_) => {
                let out = self.attend_host(layer, &host_f32(q)?, &host_f32(k)?, &host_f32(v)?, chunks);
                Ok(Tensor::from_vec(out, q.dims2()?, q.device())?.to_dtype(q.dtype())?)
            }
        }
    }

    fn attend_host(&mut self, layer: usize, q: &[f32], k: &[f32], v: &[f32], chunks: &[SeqChunk]) -> Vec<f32> {
        let (kv_dim, bs) = (self.kv_dim(), self.block_size);
        let Pool::Host(layers) = &mut self.pool else { unreachable!("the host kernel reads a host pool") };
        let (keys, values) = &mut layers[layer];
        for c in chunks {
            for i in 0..c.len {
                let pos = c.past + i;
                let slot = c.slot(pos, bs);
                let row = (c.start + i) * kv_dim..(c.start + i + 1) * kv_dim;
                keys[slot * kv_dim..(slot + 1) * kv_dim].copy_from_slice(&k[row.clone()]);
                values[slot * kv_dim..(slot + 1) * kv_dim].copy_from_slice(&v[row]);
            }
        }

        let (heads, head_dim) = (self.num_heads, self.head_dim);
        let group = heads / self.num_kv_heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        // token index → (its chunk, its position inside the chunk)
        let mut owner = vec![(0usize, 0usize); q.len() / (heads * head_dim)];
        for (ci, c) in chunks.iter().enumerate() {
            for i in 0..c.len {
                owner[c.start + i] = (ci, i);
            }
        }
        let (keys, values) = (&*keys, &*values);
        let mut out = vec![0f32; q.len()];
        let simd = super::avx2_fma();
        // One task per (token, key/value head): the `group` query heads that share a
        // key/value head read its keys and values once, together.
        let width = group * head_dim;
        out.par_chunks_mut(width).enumerate().for_each_init(Vec::new, |scores, (row, out)| {
            let (token, kv_head) = (row / self.num_kv_heads, row % self.num_kv_heads);
            let (ci, i) = owner[token];
            let c = &chunks[ci];
            let job = Row {
                q: &q[row * width..(row + 1) * width],
                keys,
                values,
                chunk: c,
                context: c.past + i + 1,
                kv_off: kv_head * head_dim,
                kv_dim,
                head_dim,
                block_size: bs,
                scale,
            };
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: `avx2_fma` checked the CPU for AVX2 and FMA.
                return unsafe { job.attend_avx2(scores, out) };
            }
            job.attend(scores, out)
        });
        out
    }
}

/// The query heads of one token that share a key/value head, against their sequence's
/// cached keys and values.
struct Row<'a> {
    /// `group` query heads, `head_dim` each, back to back.
    q: &'a [f32],
    keys: &'a [f32],
    values: &'a [f32],
    chunk: &'a SeqChunk,
    /// Cached tokens the row sees (causal: up to and including its own).
    context: usize,
    /// Where the key/value head starts inside a slot.
    kv_off: usize,
    kv_dim: usize,
    head_dim: usize,
    block_size: usize,
    scale: f32,
}

impl Row<'_> {
    /// Softmax(q·Kᵀ)·V for each query head into its part of `out`, with `scores`
    /// (`[group, context]`) as scratch.
    #[inline(always)]
    fn attend(&self, scores: &mut Vec<f32>, out: &mut [f32]) {
        let (bs, head_dim, n) = (self.block_size, self.head_dim, self.context);
        let group = self.q.len() / head_dim;
        let slots = (0..n).map(|j| self.chunk.slot(j, bs));
        let at = |slot: usize| slot * self.kv_dim + self.kv_off..slot * self.kv_dim + self.kv_off + head_dim;
        scores.clear();
        scores.resize(group * n, 0.0);
        for (j, slot) in slots.clone().enumerate() {
            let key = &self.keys[at(slot)];
            for (g, q) in self.q.chunks_exact(head_dim).enumerate() {
                scores[g * n + j] = dot(q, key) * self.scale;
            }
        }
        for row in scores.chunks_exact_mut(n) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
            let mut sum = 0f32;
            for s in row.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            row.iter_mut().for_each(|s| *s /= sum);
        }
        for (j, slot) in slots.enumerate() {
            let value = &self.values[at(slot)];
            for (g, out) in out.chunks_exact_mut(head_dim).enumerate() {
                axpy(scores[g * n + j], value, out);
            }
        }
    }

    /// [`Row::attend`] compiled for AVX2: the portable build targets baseline x86-64,
    /// whose 128-bit lanes halve the dot products' width.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn attend_avx2(&self, scores: &mut Vec<f32>, out: &mut [f32]) {
        self.attend(scores, out)
    }
}

/// A tensor's values as a host `f32` vector, row-major.
fn host_f32(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// Dot product with eight independent sums, which the compiler turns into SIMD lanes.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out += a * x`.
#[inline(always)]
fn axpy(a: f32, x: &[f32], out: &mut [f32]) {
    for (o, x) in out.iter_mut().zip(x) {
        *o += a * x;
    }
}
