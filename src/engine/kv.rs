//! Per-sequence key/value cache and the causal attention that reads it.
//!
//! A forward step packs many sequences' tokens into one matrix; each sequence brings its
//! own cache and position. Keys and values are appended in place (amortised growth, no
//! copy of the whole cache per token), and attention runs straight over the cached rows:
//! no gather, no padding, no mask tensor. The kernel is plain Rust over `f32` rows,
//! spread over (token, head) pairs with rayon; it is the CPU implementation of the one
//! attention interface the scheduler and a future CUDA kernel share.

use std::collections::HashMap;

use rayon::prelude::*;

use super::config::ModelConfig;

/// Identifies a sequence for the whole of its life in the engine.
pub type SeqId = u64;

/// One sequence's share of a packed forward step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqChunk {
    /// The sequence, whose cache receives this chunk's keys and values.
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
}

/// Keys and values of one layer of one sequence: `[tokens, kv_heads * head_dim]` rows.
#[derive(Default)]
struct LayerKv {
    k: Vec<f32>,
    v: Vec<f32>,
}

/// The cached keys and values of every live sequence.
pub struct KvCache {
    num_layers: usize,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    seqs: HashMap<SeqId, Vec<LayerKv>>,
}

impl KvCache {
    /// An empty cache for a model of this shape.
    pub fn new(config: &ModelConfig) -> KvCache {
        KvCache {
            num_layers: config.num_layers,
            num_heads: config.num_heads,
            num_kv_heads: config.num_kv_heads,
            head_dim: config.head_dim,
            seqs: HashMap::new(),
        }
    }

    fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Tokens cached for `id` (0 for a sequence never seen).
    pub fn len(&self, id: SeqId) -> usize {
        self.seqs.get(&id).map_or(0, |layers| layers[self.num_layers - 1].k.len() / self.kv_dim())
    }

    /// Frees a sequence's cache.
    pub fn remove(&mut self, id: SeqId) {
        self.seqs.remove(&id);
    }

    /// Bytes held by all cached keys and values.
    pub fn bytes(&self) -> usize {
        let floats: usize = self.seqs.values().flatten().map(|l| l.k.len() + l.v.len()).sum();
        floats * std::mem::size_of::<f32>()
    }

    /// Appends the step's keys and values for `layer`, then computes causal attention
    /// for every packed query row.
    ///
    /// `q`: `[tokens, heads * head_dim]`; `k`, `v`: `[tokens, kv_heads * head_dim]`,
    /// all rotated already. Returns `[tokens, heads * head_dim]`.
    pub fn attend(&mut self, layer: usize, q: &[f32], k: &[f32], v: &[f32], chunks: &[SeqChunk]) -> Vec<f32> {
        let kv_dim = self.kv_dim();
        let num_layers = self.num_layers;
        for c in chunks {
            let layers = self.seqs.entry(c.id).or_insert_with(|| (0..num_layers).map(|_| LayerKv::default()).collect());
            let cache = &mut layers[layer];
            debug_assert_eq!(cache.k.len(), c.past * kv_dim, "sequence {} is at another position", c.id);
            let rows = c.start * kv_dim..(c.start + c.len) * kv_dim;
            cache.k.extend_from_slice(&k[rows.clone()]);
            cache.v.extend_from_slice(&v[rows]);
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
        let seqs = &self.seqs;
        let mut out = vec![0f32; q.len()];
        out.par_chunks_mut(head_dim).enumerate().for_each_init(Vec::new, |scores, (row, out)| {
            let (token, head) = (row / heads, row % heads);
            let (ci, i) = owner[token];
            let c = &chunks[ci];
            let cache = &seqs[&c.id][layer];
            let context = c.past + i + 1;
            let kv_off = (head / group) * head_dim;
            let q = &q[row * head_dim..(row + 1) * head_dim];
            scores.clear();
            let mut max = f32::NEG_INFINITY;
            for j in 0..context {
                let key = &cache.k[j * kv_dim + kv_off..j * kv_dim + kv_off + head_dim];
                let s = dot(q, key) * scale;
                max = max.max(s);
                scores.push(s);
            }
            let mut sum = 0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            for (j, p) in scores.iter().enumerate() {
                let value = &cache.v[j * kv_dim + kv_off..j * kv_dim + kv_off + head_dim];
                axpy(*p / sum, value, out);
            }
        });
        out
    }
}

/// Dot product with eight independent sums, which the compiler turns into SIMD lanes.
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
fn axpy(a: f32, x: &[f32], out: &mut [f32]) {
    for (o, x) in out.iter_mut().zip(x) {
        *o += a * x;
    }
}
