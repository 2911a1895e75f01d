//! The host's causal attention over the paged KV cache's blocks ([`super::kv`] keeps
//! the pool): rayon tasks in f32 over keys and values held in f32 or f16
//! ([`HostFloat`]).
//!
//! A decoding token attends straight over its blocks, one task per (token, key/value
//! head): no gather, no copy, no mask. Its dot products and weighted sums are AVX2/FMA
//! (F16C reading f16) where the CPU has them, plain Rust otherwise. A prefill chunk goes
//! a tile of tokens at a time: each key/value head's context is gathered once for the
//! tile's tokens and attended as two matrix products (`gemm`, candle's own), the causal
//! mask in the softmax.

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use super::step::SeqChunk;

/// Writes the step's keys and values (`k`, `v`: `[tokens, kv_dim]`) into their slots of
/// one layer's `keys` and `values`, then attends for every packed query row of `q`
/// (`[tokens, heads · head_dim]`); returns the output in `q`'s shape.
pub(super) fn attend<E: HostFloat>(keys: &mut [E], values: &mut [E], q: &[f32], k: &[f32], v: &[f32], chunks: &[SeqChunk], shape: &Shape) -> Vec<f32> {
    let &Shape { heads, kv_heads, group, kv_dim, head_dim, block_size: bs, .. } = shape;
    for c in chunks {
        for i in 0..c.len {
            let slot = c.slot(c.past + i, bs);
            let row = (c.start + i) * kv_dim..(c.start + i + 1) * kv_dim;
            E::from_f32s(&mut keys[slot * kv_dim..][..kv_dim], &k[row.clone()]);
            E::from_f32s(&mut values[slot * kv_dim..][..kv_dim], &v[row]);
        }
    }
    // The SIMD kernels read whole registers of a head.
    let simd = simd_kernels() && head_dim % 8 == 0;
    let (keys, values) = (&*keys, &*values);
    // Tasks in output order, each with its part of `out`: a prefill chunk's tokens a
    // tile at a time (all key/value heads, `[tokens, heads · head_dim]` in a row);
    // other tokens one key/value head each (the `group` query heads that share it,
    // `group · head_dim` in a row).
    let tile_tokens = (TILE_ROWS / group).clamp(1, MAX_TILE_TOKENS);
    let mut tasks = Vec::new();
    for c in chunks {
        if c.len >= MIN_TILE_TOKENS {
            tasks.extend((0..c.len).step_by(tile_tokens).map(|first| Task::Tile { chunk: c, first, len: tile_tokens.min(c.len - first) }));
        } else {
            tasks.extend((0..c.len).flat_map(|i| (0..kv_heads).map(move |kv_head| Task::Row { chunk: c, i, kv_head })));
        }
    }
    let mut out = vec![0f32; q.len()];
    let mut rest = &mut out[..];
    let parts: Vec<&mut [f32]> = tasks
        .iter()
        .map(|task| {
            let width = match task {
                Task::Tile { len, .. } => len * heads * head_dim,
                Task::Row { .. } => group * head_dim,
            };
            let (part, after) = std::mem::take(&mut rest).split_at_mut(width);
            rest = after;
            part
        })
        .collect();
    tasks.par_iter().zip(parts).for_each_init(Scratch::default, |scratch, (task, out)| match *task {
        Task::Row { chunk, i, kv_head } => {
            let token = chunk.start + i;
            let width = group * head_dim;
            let q = &q[token * heads * head_dim + kv_head * width..][..width];
            Row { q, keys, values, chunk, context: chunk.past + i + 1, kv_off: kv_head * head_dim, shape }.attend(scratch, out, simd)
        }
        Task::Tile { chunk, first, len } => {
            let q = &q[(chunk.start + first) * heads * head_dim..][..len * heads * head_dim];
            Tile { q, keys, values, chunk, first, len, shape }.attend(scratch, out, simd)
        }
    });
    out
}

/// Query rows (tokens × the query heads sharing a key/value head) per matrix product of
/// a prefill tile: enough for the product to run at its kernel's speed.
const TILE_ROWS: usize = 96;
/// Tokens per tile at most, so a step's prefill still splits into enough tasks.
const MAX_TILE_TOKENS: usize = 32;
/// Chunks shorter than this go token by token.
const MIN_TILE_TOKENS: usize = 8;

/// One task of a step's host attention.
enum Task<'a> {
    /// The `i`th token of `chunk`, for the query heads of key/value head `kv_head`.
    Row { chunk: &'a SeqChunk, i: usize, kv_head: usize },
    /// Tokens `first..first + len` of a prefill chunk, for all heads.
    Tile { chunk: &'a SeqChunk, first: usize, len: usize },
}

/// The attention's head layout, with the pool's.
pub(super) struct Shape {
    pub(super) heads: usize,
    pub(super) kv_heads: usize,
    /// Query heads per key/value head.
    pub(super) group: usize,
    /// Values per slot: `kv_heads · head_dim`.
    pub(super) kv_dim: usize,
    pub(super) head_dim: usize,
    pub(super) block_size: usize,
    /// `1 / √head_dim`.
    pub(super) scale: f32,
}

/// A task's reusable buffers.
#[derive(Default)]
struct Scratch {
    /// `[query rows, context]` attention weights.
    scores: Vec<f32>,
    /// The context as runs of consecutive slots: (first position, first slot, tokens).
    runs: Vec<(usize, usize, usize)>,
    /// A tile's keys and values of one key/value head, `[context, head_dim]` each.
    keys: Vec<f32>,
    values: Vec<f32>,
    /// A tile's query rows of one key/value head, `[tokens · group, head_dim]`, and
    /// their outputs.
    q: Vec<f32>,
    out: Vec<f32>,
}

/// Tokens of one prefill chunk against their sequence's cached keys and values, one
/// key/value head at a time as two matrix products: the head's context is gathered once
/// for all the tile's tokens, which the token-by-token kernel reads once per token.
/// Causal: each token's row of weights ends at its own position, so the weights past it
/// (the tile's later tokens) are zero.
struct Tile<'a, E> {
    /// `[len, heads · head_dim]`: the tile's tokens' queries.
    q: &'a [f32],
    keys: &'a [E],
    values: &'a [E],
    chunk: &'a SeqChunk,
    /// The tile's first token within the chunk.
    first: usize,
    len: usize,
    shape: &'a Shape,
}

impl<E: HostFloat> Tile<'_, E> {
    /// Writes `out` (`[len, heads · head_dim]`, as `q`).
    fn attend(&self, scratch: &mut Scratch, out: &mut [f32], simd: bool) {
        let Shape { kv_heads, group, kv_dim, head_dim, block_size, scale, .. } = *self.shape;
        let (rows, width) = (self.len * group, group * head_dim);
        // The last token's context; earlier tokens see a prefix of it.
        let context = self.chunk.past + self.first + self.len;
        let Scratch { scores, runs, keys, values, q, out: rows_out } = scratch;
        runs.clear();
        runs.extend(self.chunk.slot_runs(context, block_size));
        for kv_head in 0..kv_heads {
            let off = kv_head * head_dim;
            for (cache, gathered) in [(self.keys, &mut *keys), (self.values, &mut *values)] {
                gathered.resize(context * head_dim, 0.0);
                for &(pos, slot, len) in runs.iter() {
                    for s in 0..len {
                        E::to_f32s(&cache[(slot + s) * kv_dim + off..][..head_dim], &mut gathered[(pos + s) * head_dim..][..head_dim]);
                    }
                }
            }
            q.clear();
            for t in 0..self.len {
                q.extend_from_slice(&self.q[t * kv_heads * width + kv_head * width..][..width]);
            }
            scores.resize(rows * context, 0.0);
            rows_out.resize(rows * head_dim, 0.0);
            // SAFETY: each matrix lies inside its buffer with the strides given:
            // scores `[rows, context]` = q `[rows, head_dim]` · keysᵀ `[head_dim, context]`.
            unsafe {
                gemm::gemm(
                    rows, context, head_dim,
                    scores.as_mut_ptr(), 1, context as isize, false,
                    q.as_ptr(), 1, head_dim as isize,
                    keys.as_ptr(), head_dim as isize, 1,
                    0.0, scale, false, false, false, gemm::Parallelism::None,
                );
            }
            for (r, scores) in scores.chunks_exact_mut(context).enumerate() {
                let seen = context - self.len + r / group + 1;
                let (seen, unseen) = scores.split_at_mut(seen);
                unseen.fill(0.0);
                softmax(seen, simd);
            }
            // SAFETY: out `[rows, head_dim]` = scores `[rows, context]` · values
            // `[context, head_dim]`, each inside its buffer.
            unsafe {
                gemm::gemm(
                    rows, head_dim, context,
                    rows_out.as_mut_ptr(), 1, head_dim as isize, false,
                    scores.as_ptr(), 1, context as isize,
                    values.as_ptr(), 1, head_dim as isize,
                    0.0, 1.0, false, false, false, gemm::Parallelism::None,
                );
            }
            for (t, token_rows) in rows_out.chunks_exact(width).enumerate() {
                out[t * kv_heads * width + kv_head * width..][..width].copy_from_slice(token_rows);
            }
        }
    }
}

/// The query heads of one token that share a key/value head, against their sequence's
/// cached keys and values.
struct Row<'a, E> {
    /// `group` query heads, `head_dim` each, back to back.
    q: &'a [f32],
    keys: &'a [E],
    values: &'a [E],
    chunk: &'a SeqChunk,
    /// Cached tokens the row sees (causal: up to and including its own).
    context: usize,
    /// Where the key/value head starts inside a slot.
    kv_off: usize,
    shape: &'a Shape,
}

impl<E: HostFloat> Row<'_, E> {
    /// Softmax(q·Kᵀ)·V for each query head into its part of `out`; `simd` takes the
    /// AVX2/FMA/F16C kernels (the caller checked the CPU, and that heads are whole
    /// registers).
    fn attend(&self, scratch: &mut Scratch, out: &mut [f32], simd: bool) {
        let Shape { kv_dim: stride, head_dim, block_size, scale, .. } = *self.shape;
        let n = self.context;
        let Scratch { scores, runs, .. } = scratch;
        // Slots come a block at a time: no division per key.
        runs.clear();
        runs.extend(self.chunk.slot_runs(n, block_size));
        let at = |slot: usize| slot * stride + self.kv_off;
        scores.clear();
        scores.resize(self.q.len() / head_dim * n, 0.0);
        // Query heads two at a time: each key is read once for both.
        for (q, scores) in self.q.chunks(2 * head_dim).zip(scores.chunks_mut(2 * n)) {
            for &(pos, slot, len) in runs.iter() {
                let keys = &self.keys[at(slot)..at(slot + len - 1) + head_dim];
                #[cfg(target_arch = "x86_64")]
                if simd {
                    // SAFETY: the CPU has AVX2, FMA and F16C; `keys` holds `len` rows `stride` apart.
                    unsafe {
                        match (q.split_at(head_dim), scores.split_at_mut(n)) {
                            ((q0, []), (s0, _)) => avx2::dots([q0], keys, stride, scale, [&mut s0[pos..pos + len]]),
                            ((q0, q1), (s0, s1)) => avx2::dots([q0, q1], keys, stride, scale, [&mut s0[pos..pos + len], &mut s1[pos..pos + len]]),
                        }
                    }
                    continue;
                }
                for (q, scores) in q.chunks_exact(head_dim).zip(scores.chunks_exact_mut(n)) {
                    for (s, score) in scores[pos..pos + len].iter_mut().enumerate() {
                        *score = dot(q, &keys[s * stride..s * stride + head_dim]) * scale;
                    }
                }
            }
        }
        for scores in scores.chunks_exact_mut(n) {
            softmax(scores, simd);
        }
        // Two heads at a time again: each value row is read once for both.
        for (out, weights) in out.chunks_mut(2 * head_dim).zip(scores.chunks(2 * n)) {
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: the CPU has AVX2, FMA and F16C; every run's rows lie inside the pool.
                unsafe {
                    match (out.split_at_mut(head_dim), weights.split_at(n)) {
                        ((o0, []), (w0, _)) => avx2::weighted_rows([w0], runs, self.values, stride, self.kv_off, [o0]),
                        ((o0, o1), (w0, w1)) => avx2::weighted_rows([w0, w1], runs, self.values, stride, self.kv_off, [o0, o1]),
                    }
                }
                continue;
            }
            for (out, weights) in out.chunks_exact_mut(head_dim).zip(weights.chunks_exact(n)) {
                for &(pos, slot, len) in runs.iter() {
                    for s in 0..len {
                        axpy(weights[pos + s], &self.values[at(slot + s)..at(slot + s) + head_dim], out);
                    }
                }
            }
        }
    }
}

/// Softmax in place; `simd` takes [`avx2::softmax`] (the caller checked the CPU).
fn softmax(scores: &mut [f32], simd: bool) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { avx2::softmax(scores) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = simd;
    portable_softmax(scores)
}

/// [`softmax`] without SIMD.
fn portable_softmax(scores: &mut [f32]) {
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let mut sum = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    scores.iter_mut().for_each(|s| *s /= sum);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::vmath::avx2::exp;
    use super::HostFloat;

    /// `scores[h][j] = scale · q[h] · keys[j·stride..][..head_dim]` for each of the `H`
    /// heads, four keys at a time: each key is loaded once for all the heads, and 4·H
    /// sums are in flight. `head_dim`, each query's length, is a multiple of 8.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dots<const H: usize, E: HostFloat>(q: [&[f32]; H], keys: &[E], stride: usize, scale: f32, mut scores: [&mut [f32]; H]) {
        let (head_dim, n) = (q[0].len(), scores[0].len());
        assert!(head_dim.is_multiple_of(8) && keys.len() >= (n - 1) * stride + head_dim);
        assert!(q.iter().all(|q| q.len() == head_dim) && scores.iter().all(|s| s.len() == n));
        let k = keys.as_ptr();
        let mut j = 0;
        while j + 4 <= n {
            let mut acc = [[_mm256_setzero_ps(); 4]; H];
            for d in (0..head_dim).step_by(8) {
                let kd: [__m256; 4] = std::array::from_fn(|i| E::load8(k.add((j + i) * stride + d)));
                for (q, acc) in q.iter().zip(acc.iter_mut()) {
                    let qd = _mm256_loadu_ps(q.as_ptr().add(d));
                    for (kd, acc) in kd.iter().zip(acc.iter_mut()) {
                        *acc = _mm256_fmadd_ps(qd, *kd, *acc);
                    }
                }
            }
            for (acc, scores) in acc.iter().zip(scores.iter_mut()) {
                // Pairwise sums leave key i's total in lane i of each 128-bit half.
                let sums = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
                let four = _mm_add_ps(_mm256_castps256_ps128(sums), _mm256_extractf128_ps(sums, 1));
                _mm_storeu_ps(scores.as_mut_ptr().add(j), _mm_mul_ps(four, _mm_set1_ps(scale)));
            }
            j += 4;
        }
        for j in j..n {
            for (q, scores) in q.iter().zip(scores.iter_mut()) {
                let mut acc = _mm256_setzero_ps();
                for d in (0..head_dim).step_by(8) {
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(q.as_ptr().add(d)), E::load8(k.add(j * stride + d)), acc);
                }
                let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
                let sums = _mm_hadd_ps(half, half);
                scores[j] = _mm_cvtss_f32(_mm_hadd_ps(sums, sums)) * scale;
            }
        }
    }

    /// [`super::portable_softmax`], eight scores at a time: `exp` is [`exp`], not libm's `expf`
    /// one value at a time, which took a tenth of a review run's time (prompts of ~400
    /// tokens, benches/NOTES.md).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn softmax(scores: &mut [f32]) {
        let n = scores.len();
        let p = scores.as_mut_ptr();
        let whole = n - n % 8;
        let mut maxes = _mm256_set1_ps(f32::NEG_INFINITY);
        for i in (0..whole).step_by(8) {
            maxes = _mm256_max_ps(maxes, _mm256_loadu_ps(p.add(i)));
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), maxes);
        let max = scores[whole..].iter().chain(&lanes).fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let max_v = _mm256_set1_ps(max);
        let mut sums = _mm256_setzero_ps();
        for i in (0..whole).step_by(8) {
            let e = exp(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), max_v));
            _mm256_storeu_ps(p.add(i), e);
            sums = _mm256_add_ps(sums, e);
        }
        // The tail through the same `exp`: its lanes past the end hold the max (e = 1),
        // left out of the sum.
        let mut tail = [max; 8];
        tail[..n - whole].copy_from_slice(&scores[whole..]);
        _mm256_storeu_ps(tail.as_mut_ptr(), exp(_mm256_sub_ps(_mm256_loadu_ps(tail.as_ptr()), max_v)));
        scores[whole..].copy_from_slice(&tail[..n - whole]);
        _mm256_storeu_ps(lanes.as_mut_ptr(), sums);
        let sum: f32 = lanes.iter().chain(&tail[..n - whole]).sum();
        let inverse = _mm256_set1_ps(1.0 / sum);
        for i in (0..whole).step_by(8) {
            _mm256_storeu_ps(p.add(i), _mm256_mul_ps(_mm256_loadu_ps(p.add(i)), inverse));
        }
        scores[whole..].iter_mut().for_each(|s| *s /= sum);
    }

    /// `out[h] = Σ weights[h][pos] · values[slot·stride + off..][..head_dim]` over the
    /// runs' (position, slot) pairs for each of the `H` heads, 64 dimensions at a time
    /// for one head and 32 for two, so the sums stay in registers over the whole context
    /// and each value row is loaded once for all the heads; `head_dim`, each output's
    /// length, is a multiple of 8.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn weighted_rows<const H: usize, E: HostFloat>(weights: [&[f32]; H], runs: &[(usize, usize, usize)], values: &[E], stride: usize, off: usize, mut out: [&mut [f32]; H]) {
        let head_dim = out[0].len();
        assert!(out.iter().all(|out| out.len() == head_dim) && weights.iter().all(|w| w.len() == weights[0].len()));
        for &(pos, slot, len) in runs {
            assert!(pos + len <= weights[0].len() && (slot + len - 1) * stride + off + head_dim <= values.len());
        }
        let out = out.each_mut().map(|out| out.as_mut_ptr());
        let wide = 64 / H;
        let mut d = 0;
        while d < head_dim {
            let at = out.map(|out| out.add(d));
            if head_dim - d >= wide {
                match H {
                    1 => sum_lanes::<H, 8, E>(weights, runs, values, stride, off + d, at),
                    _ => sum_lanes::<H, 4, E>(weights, runs, values, stride, off + d, at),
                }
                d += wide;
            } else {
                sum_lanes::<H, 1, E>(weights, runs, values, stride, off + d, at);
                d += 8;
            }
        }
    }

    /// [`weighted_rows`] for `R` registers of dimensions from `off`, for each of `H`
    /// heads.
    #[inline(always)]
    unsafe fn sum_lanes<const H: usize, const R: usize, E: HostFloat>(weights: [&[f32]; H], runs: &[(usize, usize, usize)], values: &[E], stride: usize, off: usize, out: [*mut f32; H]) {
        let mut acc = [[_mm256_setzero_ps(); R]; H];
        for &(pos, slot, len) in runs {
            for s in 0..len {
                let row = values.as_ptr().add((slot + s) * stride + off);
                let v: [__m256; R] = std::array::from_fn(|r| E::load8(row.add(r * 8)));
                for (weights, acc) in weights.iter().zip(acc.iter_mut()) {
                    let w = _mm256_set1_ps(*weights.get_unchecked(pos + s));
                    for (v, acc) in v.iter().zip(acc.iter_mut()) {
                        *acc = _mm256_fmadd_ps(w, *v, *acc);
                    }
                }
            }
        }
        for (acc, out) in acc.iter().zip(out) {
            for (r, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.add(r * 8), *acc);
            }
        }
    }
}

/// A float a host pool holds keys and values in, read into `f32` to compute.
pub(super) trait HostFloat: Copy + Default + Send + Sync + 'static {
    /// `dst` = `src`, rounded to this float.
    fn from_f32s(dst: &mut [Self], src: &[f32]);
    /// `dst` = `src` as `f32`s.
    fn to_f32s(src: &[Self], dst: &mut [f32]);
    fn to_f32(self) -> f32;
    /// Eight values from `at` as `f32` lanes (inlined into the AVX2/FMA/F16C kernels).
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(at: *const Self) -> std::arch::x86_64::__m256;
}

impl HostFloat for f32 {
    fn from_f32s(dst: &mut [f32], src: &[f32]) {
        dst.copy_from_slice(src);
    }

    fn to_f32s(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }

    fn to_f32(self) -> f32 {
        self
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(at: *const f32) -> std::arch::x86_64::__m256 {
        std::arch::x86_64::_mm256_loadu_ps(at)
    }
}

impl HostFloat for f16 {
    fn from_f32s(dst: &mut [f16], src: &[f32]) {
        dst.convert_from_f32_slice(src);
    }

    fn to_f32s(src: &[f16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }

    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(at: *const f16) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        _mm256_cvtph_ps(_mm_loadu_si128(at.cast()))
    }
}

/// Whether the host attention's SIMD kernels run here: AVX2 and FMA, and F16C to read
/// an f16 pool (every AVX2 CPU has it; a VM may still hide it).
fn simd_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    return super::avx2_fma() && std::is_x86_feature_detected!("f16c");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Dot product with eight independent sums, which the compiler turns into SIMD lanes.
#[inline(always)]
fn dot<E: HostFloat>(a: &[f32], b: &[E]) -> f32 {
    let mut acc = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y.to_f32()).sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            acc[l] += x[l] * y[l].to_f32();
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out += a * x`.
#[inline(always)]
fn axpy<E: HostFloat>(a: f32, x: &[E], out: &mut [f32]) {
    for (o, x) in out.iter_mut().zip(x) {
        *o += a * x.to_f32();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::blocks::BlockId;
    use rand::{Rng, SeedableRng};

    #[test]
    fn simd_softmax_matches_the_portable_one() {
        if !crate::engine::avx2_fma() {
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        // Lengths with and without a tail; spreads from a few units to past where e^x
        // leaves f32's normal range.
        for n in [1, 5, 8, 13, 64, 403] {
            for spread in [1.0f32, 20.0, 200.0] {
                let scores: Vec<f32> = (0..n).map(|_| rng.random_range(-spread..spread)).collect();
                let (mut simd, mut portable) = (scores.clone(), scores.clone());
                unsafe { avx2::softmax(&mut simd) };
                portable_softmax(&mut portable);
                for (i, (a, b)) in simd.iter().zip(&portable).enumerate() {
                    assert!((a - b).abs() <= 4.0 * f32::EPSILON * b.max(1e-30) + 1e-37, "n {n}, spread {spread}, [{i}]: {a} vs {b}");
                }
                assert!((simd.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }

    /// The SIMD kernels against the portable loops, over contexts that end mid-block and
    /// mid-register-group, head sizes that take the 64-wide and the 8-wide value sums, and
    /// blocks out of order in the pool.
    #[test]
    fn simd_attention_matches_the_portable_loops() {
        if simd_kernels() {
            simd_attention_matches_the_portable_loops_in::<f32>();
            simd_attention_matches_the_portable_loops_in::<f16>();
        }
    }

    fn simd_attention_matches_the_portable_loops_in<E: HostFloat>() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for (head_dim, kv_heads, group, block_size) in [(64, 2, 3, 4), (72, 1, 2, 5), (8, 3, 1, 16)] {
            let kv_dim = kv_heads * head_dim;
            let shape = Shape { heads: kv_heads * group, kv_heads, group, kv_dim, head_dim, block_size, scale: 0.125 };
            let blocks: Vec<BlockId> = vec![6, 2, 9, 0, 4, 7];
            let pool_slots = 10 * block_size;
            let mut random = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>();
            let (keys, values, q) = (pooled::<E>(&random(pool_slots * kv_dim)), pooled::<E>(&random(pool_slots * kv_dim)), random(group * head_dim));
            let chunk = SeqChunk { id: 0, start: 0, len: 1, past: 0, wants_logits: true, blocks: blocks.clone() };
            for context in [1, 3, block_size, 2 * block_size + 3, 6 * block_size] {
                let row = Row { q: &q, keys: &keys, values: &values, chunk: &chunk, context, kv_off: (kv_heads - 1) * head_dim, shape: &shape };
                let (mut simd, mut portable) = (vec![0f32; q.len()], vec![0f32; q.len()]);
                row.attend(&mut Scratch::default(), &mut simd, true);
                row.attend(&mut Scratch::default(), &mut portable, false);
                for (i, (a, b)) in simd.iter().zip(&portable).enumerate() {
                    assert!((a - b).abs() < 1e-5, "head_dim {head_dim}, context {context}, [{i}]: {a} vs {b}");
                }
                assert!(simd.iter().any(|&x| x != 0.0));
            }
        }
    }

    /// A prefill tile against the token-by-token loops, over tiles that start at the
    /// chunk's first token and later, after a cached past and without one, with contexts
    /// that end mid-block, out-of-order blocks and groups of 1 to 7 heads.
    #[test]
    fn a_prefill_tile_matches_its_tokens_one_by_one() {
        a_prefill_tile_matches_its_tokens_one_by_one_in::<f32>();
        a_prefill_tile_matches_its_tokens_one_by_one_in::<f16>();
    }

    fn a_prefill_tile_matches_its_tokens_one_by_one_in<E: HostFloat>() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for (head_dim, kv_heads, group, block_size) in [(64, 2, 3, 4), (72, 1, 7, 5), (8, 3, 1, 16)] {
            let (heads, kv_dim) = (kv_heads * group, kv_heads * head_dim);
            let shape = Shape { heads, kv_heads, group, kv_dim, head_dim, block_size, scale: 0.125 };
            let blocks: Vec<BlockId> = vec![6, 2, 9, 0, 4, 7, 1, 3];
            let pool_slots = 10 * block_size;
            let mut random = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>();
            let (keys, values) = (pooled::<E>(&random(pool_slots * kv_dim)), pooled::<E>(&random(pool_slots * kv_dim)));
            for (past, first, len) in [(0, 0, 9), (0, 5, 11), (3, 0, 8), (2 * block_size + 1, 4, 13)] {
                let chunk = SeqChunk { id: 0, start: 0, len: first + len, past, wants_logits: true, blocks: blocks.clone() };
                let q = random(len * heads * head_dim);
                for simd in [false, simd_kernels() && head_dim % 8 == 0] {
                    let mut tiled = vec![0f32; q.len()];
                    Tile { q: &q, keys: &keys, values: &values, chunk: &chunk, first, len, shape: &shape }.attend(&mut Scratch::default(), &mut tiled, simd);
                    let width = group * head_dim;
                    for (row, (q, tiled)) in q.chunks_exact(width).zip(tiled.chunks_exact(width)).enumerate() {
                        let (t, kv_head) = (row / kv_heads, row % kv_heads);
                        let one = Row { q, keys: &keys, values: &values, chunk: &chunk, context: past + first + t + 1, kv_off: kv_head * head_dim, shape: &shape };
                        let mut alone = vec![0f32; width];
                        one.attend(&mut Scratch::default(), &mut alone, false);
                        for (i, (a, b)) in tiled.iter().zip(&alone).enumerate() {
                            assert!((a - b).abs() < 1e-5, "head_dim {head_dim}, group {group}, past {past}, first {first}, token {t}, kv head {kv_head}, [{i}]: {a} vs {b}");
                        }
                    }
                    assert!(tiled.iter().any(|&x| x != 0.0));
                }
            }
        }
    }

    /// `values` rounded to a pool's float.
    fn pooled<E: HostFloat>(values: &[f32]) -> Vec<E> {
        let mut pool = vec![E::default(); values.len()];
        E::from_f32s(&mut pool, values);
        pool
    }
}
