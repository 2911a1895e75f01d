//! Flash-attention 2 straight over the paged cache (the `flash-attn` feature, Ampere
//! and later), the way vLLM's CUDA backend reads its blocks.
//!
//! The pool is the gathered attention's (device tensors, `[slots, kv_dim]` per layer),
//! seen as `[blocks, block_size, kv_heads, head_dim]`: no copy. Per step, on the host
//! once: cumulative query and context lengths and a block table, one row per chunk.
//! Per layer: the step's keys and values are written into their slots (two launches, as
//! the gathered attention does), then one kernel attends for every chunk, reading keys
//! and values through the block table. Nothing is gathered, padded or masked in memory,
//! and the scores never leave the chip, so the launches per layer are three however
//! many sequences and prefill chunks the step carries.
//!
//! The kernel's causal mask is aligned to the end of each sequence's context (query `i`
//! of a chunk of `len` rows over `past + len` keys sees keys `0..=past + i`), which is
//! exactly what a chunk after `past` cached tokens needs. Its paged path reads key tiles
//! of 32 rows, and a tile must not straddle two blocks, hence [`BLOCK_SIZE`].

use candle_core::{DType, Device};

use super::step::SeqChunk;
use super::DeviceFacts;

/// Tokens per KV block with this attention: candle's paged kernel reads keys in tiles of
/// 32 rows, which must lie inside one block.
pub(super) const BLOCK_SIZE: usize = 32;

/// Why flash-attention cannot run for a model of `head_dim` computing in `dtype` on
/// `device`, if it cannot.
pub(super) fn unavailable(device: &Device, dtype: DType, head_dim: usize) -> Option<String> {
    if !cfg!(feature = "flash-attn") {
        return Some("this hearth was built without flash-attn (HEARTH_FLASH_ATTN=1 scripts/build-cuda.sh builds it)".into());
    }
    let Some(facts) = DeviceFacts::of(device) else {
        return Some("flash-attn runs on CUDA devices only".into());
    };
    let (major, minor) = facts.compute_capability;
    if major < 8 {
        return Some(format!("flash-attn's kernels are built for compute capability 8.0 and later; this card is {major}.{minor}"));
    }
    if !matches!(dtype, DType::BF16 | DType::F16) {
        return Some(format!("flash-attn computes in bf16 or f16, not {dtype:?} (see [model] dtype)"));
    }
    if !head_dim.is_multiple_of(8) || head_dim > 512 {
        return Some(format!("flash-attn takes heads of a multiple of 8 up to 512 wide, not {head_dim}"));
    }
    None
}

/// One step's chunks as the varlen kernel takes them.
#[cfg_attr(not(feature = "flash-attn"), allow(dead_code))]
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Layout {
    /// `[chunks + 1]`: where each chunk's query rows start in the packed step, and the end.
    cu_q: Vec<u32>,
    /// `[chunks + 1]`: the running total of each chunk's context (`past + len`).
    cu_k: Vec<u32>,
    /// `[chunks, width]`: each chunk's blocks in order, padded with block 0, which the
    /// kernel never reads past a context's end.
    block_table: Vec<u32>,
    width: usize,
    max_q: usize,
    max_k: usize,
}

#[cfg_attr(not(feature = "flash-attn"), allow(dead_code))]
impl Layout {
    /// The layout of `chunks`, which tile the packed tokens in order (as
    /// [`super::Decoder::forward`] checks).
    pub(super) fn new(chunks: &[SeqChunk], block_size: usize) -> Layout {
        let context = |c: &SeqChunk| c.past + c.len;
        let width = chunks.iter().map(|c| context(c).div_ceil(block_size)).max().unwrap_or(1);
        let (mut cu_q, mut cu_k) = (vec![0u32], vec![0u32]);
        let mut block_table = Vec::with_capacity(chunks.len() * width);
        for c in chunks {
            cu_q.push((c.start + c.len) as u32);
            cu_k.push(cu_k[cu_k.len() - 1] + context(c) as u32);
            let used = &c.blocks[..context(c).div_ceil(block_size)];
            block_table.extend_from_slice(used);
            block_table.resize(block_table.len() + width - used.len(), 0);
        }
        Layout {
            cu_q,
            cu_k,
            block_table,
            width,
            max_q: chunks.iter().map(|c| c.len).max().unwrap_or(0),
            max_k: chunks.iter().map(context).max().unwrap_or(0),
        }
    }
}

#[cfg(feature = "flash-attn")]
pub(super) use kernel::{attend, Plan};

#[cfg(feature = "flash-attn")]
mod kernel {
    use candle_core::{Device, Tensor};

    use super::super::gathered::{self, Heads};
    use super::super::step::SeqChunk;
    use super::Layout;

    /// A step's index tensors, shared by every layer.
    pub(in crate::engine) struct Plan {
        write_slots: Tensor,
        cu_q: Tensor,
        cu_k: Tensor,
        block_table: Tensor,
        max_q: usize,
        max_k: usize,
    }

    impl Plan {
        pub(in crate::engine) fn new(chunks: &[SeqChunk], block_size: usize, kv_dim: usize, device: &Device) -> candle_core::Result<Plan> {
            let layout = Layout::new(chunks, block_size);
            Ok(Plan {
                write_slots: gathered::write_slots(chunks, block_size, kv_dim, device)?,
                cu_q: Tensor::new(layout.cu_q.as_slice(), device)?,
                cu_k: Tensor::new(layout.cu_k.as_slice(), device)?,
                block_table: Tensor::from_vec(layout.block_table, (chunks.len(), layout.width), device)?,
                max_q: layout.max_q,
                max_k: layout.max_k,
            })
        }
    }

    /// Writes `k`, `v` (`[tokens, kv_heads * head_dim]`) into their slots of `keys`,
    /// `values` (`[slots, kv_heads * head_dim]`, the model's dtype), then attends for
    /// every packed query row of `q` (`[tokens, heads * head_dim]`).
    pub(in crate::engine) fn attend(keys: &Tensor, values: &Tensor, q: &Tensor, k: &Tensor, v: &Tensor, plan: &Plan, h: &Heads, block_size: usize) -> candle_core::Result<Tensor> {
        gathered::store(keys, values, k, v, &plan.write_slots)?;
        let (tokens, width) = q.dims2()?;
        let paged = |pool: &Tensor| pool.reshape((pool.dim(0)? / block_size, block_size, h.kv_heads, h.head_dim));
        let q = q.to_dtype(keys.dtype())?.contiguous()?.reshape((tokens, h.heads, h.head_dim))?;
        let scale = 1.0 / (h.head_dim as f32).sqrt();
        // window (None, Some(0)) is the causal mask.
        let out = candle_flash_attn::flash_attn_varlen_paged_windowed(
            &q,
            &paged(keys)?,
            &paged(values)?,
            &plan.cu_q,
            &plan.cu_k,
            &plan.block_table,
            None,
            plan.max_q,
            plan.max_k,
            scale,
            None,
            Some(0),
            block_size,
            None,
        )?;
        out.reshape((tokens, width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::ModelConfig;
    use crate::engine::kv::PagedKvCache;
    use candle_core::Tensor;
    use rand::{Rng, SeedableRng};

    /// Attention as the varlen kernel defines it over a layout: per chunk, query row `i`
    /// of `seqlen_q` sees the first `i + 1 + seqlen_k - seqlen_q` of its `seqlen_k` keys,
    /// found through its row of the block table. `pool` is `[slots, kv_dim]` row-major.
    fn as_the_kernel_reads_it(l: &Layout, q: &[f32], keys: &[f32], values: &[f32], heads: usize, kv_heads: usize, head_dim: usize, block_size: usize) -> Vec<f32> {
        let kv_dim = kv_heads * head_dim;
        let mut out = vec![0f32; q.len()];
        for b in 0..l.cu_q.len() - 1 {
            let (q0, seqlen_q) = (l.cu_q[b] as usize, (l.cu_q[b + 1] - l.cu_q[b]) as usize);
            let seqlen_k = (l.cu_k[b + 1] - l.cu_k[b]) as usize;
            assert!(seqlen_q <= l.max_q && seqlen_k <= l.max_k);
            let slot = |j: usize| l.block_table[b * l.width + j / block_size] as usize * block_size + j % block_size;
            for i in 0..seqlen_q {
                for h in 0..heads {
                    let row = &q[((q0 + i) * heads + h) * head_dim..][..head_dim];
                    let off = h / (heads / kv_heads) * head_dim;
                    let visible = i + 1 + seqlen_k - seqlen_q;
                    let scores: Vec<f32> = (0..visible)
                        .map(|j| row.iter().zip(&keys[slot(j) * kv_dim + off..][..head_dim]).map(|(a, b)| a * b).sum::<f32>() / (head_dim as f32).sqrt())
                        .collect();
                    let top = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let weights: Vec<f32> = scores.iter().map(|s| (s - top).exp()).collect();
                    let total: f32 = weights.iter().sum();
                    let dst = &mut out[((q0 + i) * heads + h) * head_dim..][..head_dim];
                    for (j, w) in weights.iter().enumerate() {
                        for (d, x) in dst.iter_mut().zip(&values[slot(j) * kv_dim + off..][..head_dim]) {
                            *d += w / total * x;
                        }
                    }
                }
            }
        }
        out
    }

    /// Over two steps (prompts in chunks, then decodes beside a prompt's next chunk), the
    /// layout read as the kernel reads it gives the host attention's output: the query
    /// and context lengths, the causal alignment and the block table say what our
    /// attention means. Blocks are handed out of order, and contexts end mid-block.
    #[test]
    fn the_layout_read_as_the_kernel_does_is_our_attention() {
        let block_size = 4;
        let config = ModelConfig { num_heads: 6, num_kv_heads: 2, head_dim: 8, hidden_size: 48, num_layers: 1, ..crate::engine::synthetic::preset("tiny").unwrap() };
        let (heads, kv_heads, head_dim) = (config.num_heads, config.num_kv_heads, config.head_dim);
        let mut cache = PagedKvCache::new(&config, 16, block_size, DType::F32).unwrap();
        let tables: [Vec<u32>; 3] = [vec![9, 2, 14, 5], vec![0, 11, 3], vec![7, 12, 1, 15]];
        let mut pool = (vec![0f32; 16 * block_size * config.kv_dim()], vec![0f32; 16 * block_size * config.kv_dim()]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        // (sequence, past, len) per step
        let steps: [&[(usize, usize, usize)]; 2] = [&[(0, 0, 6), (1, 0, 9), (2, 0, 5)], &[(0, 6, 1), (2, 5, 8), (1, 9, 1)]];
        for step in steps {
            let mut chunks = Vec::new();
            let mut start = 0;
            for &(seq, past, len) in step {
                chunks.push(SeqChunk { id: seq as u64, start, len, past, wants_logits: true, blocks: tables[seq].clone() });
                start += len;
            }
            let mut random = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
            let (q, k, v) = (random(start * heads * head_dim), random(start * config.kv_dim()), random(start * config.kv_dim()));
            for c in &chunks {
                for i in 0..c.len {
                    let (slot, row) = (c.slot(c.past + i, block_size), (c.start + i) * config.kv_dim());
                    pool.0[slot * config.kv_dim()..][..config.kv_dim()].copy_from_slice(&k[row..][..config.kv_dim()]);
                    pool.1[slot * config.kv_dim()..][..config.kv_dim()].copy_from_slice(&v[row..][..config.kv_dim()]);
                }
            }
            let tensor = |x: &[f32], width: usize| Tensor::from_slice(x, (start, width), &Device::Cpu).unwrap();
            let host = cache.attend(0, &tensor(&q, heads * head_dim), &tensor(&k, config.kv_dim()), &tensor(&v, config.kv_dim()), &chunks).unwrap();
            let host: Vec<f32> = host.flatten_all().unwrap().to_vec1().unwrap();
            let layout = Layout::new(&chunks, block_size);
            let kernel = as_the_kernel_reads_it(&layout, &q, &pool.0, &pool.1, heads, kv_heads, head_dim, block_size);
            for (i, (a, b)) in host.iter().zip(&kernel).enumerate() {
                assert!((a - b).abs() < 1e-4, "step {step:?}, [{i}]: host {a} vs layout {b}");
            }
        }
    }

    #[test]
    fn the_layout_counts_queries_and_contexts_and_pads_the_table() {
        let chunk = |id, start, len, past, blocks: &[u32]| SeqChunk { id, start, len, past, wants_logits: true, blocks: blocks.to_vec() };
        let layout = Layout::new(&[chunk(0, 0, 3, 0, &[4]), chunk(1, 3, 1, 40, &[1, 2]), chunk(2, 4, 2, 30, &[7, 5, 9])], 32);
        assert_eq!(layout.cu_q, [0, 3, 4, 6]);
        assert_eq!(layout.cu_k, [0, 3, 44, 76]);
        assert_eq!(layout.block_table, [4, 0, 1, 2, 7, 0]);
        assert_eq!((layout.width, layout.max_q, layout.max_k), (2, 3, 41));
    }

    #[test]
    fn flash_is_refused_on_the_cpu_with_the_reason() {
        let why = unavailable(&Device::Cpu, DType::BF16, 128).expect("no flash-attn on the CPU");
        assert!(why.contains("flash-attn"), "{why}");
    }
}
