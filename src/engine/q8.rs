//! Q8_0 weight matrices multiplied on the host, a whole batch at a time.
//!
//! candle's CPU quantized matmul handles one activation row at a time, so a step of 32
//! sequences streams every weight 32 times; dequantized to f32, gemm re-packs four times
//! the bytes on every call (benches/NOTES.md). This kernel does what llama.cpp does
//! instead: the activations are quantized to Q8_0 blocks as well, each pair of blocks
//! is an integer dot product scaled by the two block scales, and register tiles of
//! [`TILE_W`] weight rows × [`TILE_X`] token rows read each weight block once for the
//! whole step.
//!
//! Every output element is computed by the same instructions in the same order however
//! many rows the batch has, so a sequence gets bit-identical logits alone or batched.

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::avx2_fma;

/// Values per Q8_0 block, as in GGML.
pub const BLOCK: usize = 32;
/// Token rows in the tokens × weights tiles of a step; bounds the activations a task
/// keeps hot in cache.
const ROWS_PER_TASK: usize = 64;
const TILE_W: usize = 4;
const TILE_X: usize = 2;

/// A `[rows, cols]` matrix in blocks of [`BLOCK`] signed bytes with one f32 scale each.
#[derive(Clone, Debug)]
pub struct Q8Matrix {
    rows: usize,
    cols: usize,
    quants: Vec<i8>,
    scales: Vec<f32>,
}

/// Rows of activations quantized like the weights.
struct Q8Rows {
    quants: Vec<i8>,
    scales: Vec<f32>,
}

impl Q8Matrix {
    /// Quantizes `values`, row-major `[rows, cols]`; `cols` must be whole blocks.
    pub fn quantize(values: &[f32], rows: usize, cols: usize) -> Q8Matrix {
        assert_eq!(values.len(), rows * cols, "a {rows}x{cols} matrix");
        assert_eq!(cols % BLOCK, 0, "Q8_0 rows are whole blocks of {BLOCK}");
        let mut quants = vec![0i8; rows * cols];
        let mut scales = vec![0f32; rows * cols / BLOCK];
        quants
            .par_chunks_mut(cols)
            .zip(scales.par_chunks_mut(cols / BLOCK))
            .zip(values.par_chunks(cols))
            .for_each(|((q, s), v)| quantize_row(v, q, s));
        Q8Matrix { rows, cols, quants, scales }
    }

    /// The rows of `parts` one after another (they must share `cols`).
    pub fn stack(parts: &[&Q8Matrix]) -> Q8Matrix {
        let cols = parts[0].cols;
        assert!(parts.iter().all(|p| p.cols == cols), "stacked matrices share their columns");
        Q8Matrix {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols,
            quants: parts.iter().flat_map(|p| p.quants.iter().copied()).collect(),
            scales: parts.iter().flat_map(|p| p.scales.iter().copied()).collect(),
        }
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `xs · selfᵀ` for `xs` row-major `[tokens, cols]`: `[tokens, rows]`.
    pub fn matmul(&self, xs: &[f32]) -> Vec<f32> {
        assert_eq!(xs.len() % self.cols, 0, "activations of {} columns", self.cols);
        let tokens = xs.len() / self.cols;
        let acts = Q8Rows::quantize(xs, self.cols);
        let mut out = vec![0f32; tokens * self.rows];
        let out_ptr = OutPtr(out.as_mut_ptr());
        let threads = rayon::current_num_threads().max(1);
        // Enough weight-row ranges for work stealing to even out, each a whole number
        // of tiles.
        let per_range = self.rows.div_ceil(threads * 4).next_multiple_of(TILE_W).max(4 * TILE_W);
        let ranges = self.rows.div_ceil(per_range);
        let token_blocks = tokens.div_ceil(ROWS_PER_TASK);
        (0..ranges * token_blocks).into_par_iter().for_each(|task| {
            let rows = (task % ranges) * per_range..((task % ranges + 1) * per_range).min(self.rows);
            let tok = (task / ranges) * ROWS_PER_TASK..((task / ranges + 1) * ROWS_PER_TASK).min(tokens);
            let out_ptr = &out_ptr;
            // SAFETY: tasks write disjoint (token, row) rectangles of `out`, which
            // outlives the parallel loop.
            unsafe { self.multiply_range(&acts, rows, tok, out_ptr.0) };
        });
        out
    }

    /// Writes `out[t, r]` for the tokens `tok` and weight rows `rows`.
    unsafe fn multiply_range(&self, acts: &Q8Rows, rows: std::ops::Range<usize>, tok: std::ops::Range<usize>, out: *mut f32) {
        #[cfg(target_arch = "x86_64")]
        if avx2_fma() {
            let mut r = rows.start;
            while r < rows.end {
                let w = (rows.end - r).min(TILE_W);
                let mut t = tok.start;
                while t < tok.end {
                    let x = if tok.end - t >= TILE_X { TILE_X } else { 1 };
                    match (w == TILE_W, x == TILE_X) {
                        (true, true) => avx2::tile::<TILE_W, TILE_X>(self, acts, r, t, out),
                        (true, false) => avx2::tile::<TILE_W, 1>(self, acts, r, t, out),
                        (false, true) => avx2::tile::<1, TILE_X>(self, acts, r, t, out),
                        (false, false) => avx2::tile::<1, 1>(self, acts, r, t, out),
                    }
                    t += x;
                }
                r += if w == TILE_W { TILE_W } else { 1 };
            }
            return;
        }
        for r in rows {
            for t in tok.clone() {
                *out.add(t * self.rows + r) = self.dot_portable(acts, r, t);
            }
        }
    }

    /// One output element without SIMD: the same integer block sums, scaled the same way.
    fn dot_portable(&self, acts: &Q8Rows, r: usize, t: usize) -> f32 {
        let blocks = self.cols / BLOCK;
        let w = &self.quants[r * self.cols..(r + 1) * self.cols];
        let x = &acts.quants[t * self.cols..(t + 1) * self.cols];
        (0..blocks)
            .map(|b| {
                let span = b * BLOCK..(b + 1) * BLOCK;
                let sum: i32 = w[span.clone()].iter().zip(&x[span]).map(|(&a, &b)| a as i32 * b as i32).sum();
                sum as f32 * (self.scales[r * blocks + b] * acts.scales[t * blocks + b])
            })
            .sum()
    }
}

impl Q8Rows {
    fn quantize(xs: &[f32], cols: usize) -> Q8Rows {
        let mut quants = vec![0i8; xs.len()];
        let mut scales = vec![0f32; xs.len() / BLOCK];
        let rows = quants.chunks_mut(cols).zip(scales.chunks_mut(cols / BLOCK)).zip(xs.chunks(cols));
        if xs.len() >= 1 << 16 {
            rows.par_bridge().for_each(|((q, s), v)| quantize_row(v, q, s));
        } else {
            rows.for_each(|((q, s), v)| quantize_row(v, q, s));
        }
        Q8Rows { quants, scales }
    }
}

/// GGML's Q8_0: per block, scale = max |v| / 127 and q = v / scale rounded to nearest
/// (ties to even, as the SIMD conversion rounds).
fn quantize_row(values: &[f32], quants: &mut [i8], scales: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        for ((v, q), s) in values.chunks_exact(BLOCK).zip(quants.chunks_exact_mut(BLOCK)).zip(scales.iter_mut()) {
            // SAFETY: both chunks hold exactly one block; the CPU has AVX2.
            *s = unsafe { avx2::quantize_block(v.as_ptr(), q.as_mut_ptr()) };
        }
        return;
    }
    for ((v, q), s) in values.chunks_exact(BLOCK).zip(quants.chunks_exact_mut(BLOCK)).zip(scales.iter_mut()) {
        let amax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = amax / 127.0;
        let inverse = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        for (q, x) in q.iter_mut().zip(v) {
            *q = (x * inverse).round_ties_even() as i8;
        }
        *s = scale;
    }
}

struct OutPtr(*mut f32);
// SAFETY: shared only to write disjoint elements, see `Q8Matrix::matmul`.
unsafe impl Sync for OutPtr {}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Q8Matrix, Q8Rows, BLOCK};

    /// `W` weight rows from `r` × `X` token rows from `t`, accumulated over all blocks.
    ///
    /// `maddubs` multiplies unsigned by signed bytes, so the token's magnitudes meet the
    /// weights with the token's signs moved onto them; with both sides within ±127 the
    /// pairwise 16-bit sums cannot saturate.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile<const W: usize, const X: usize>(m: &Q8Matrix, a: &Q8Rows, r: usize, t: usize, out: *mut f32) {
        let cols = m.cols;
        let blocks = cols / BLOCK;
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_ps(); X]; W];
        let w_q = m.quants.as_ptr().add(r * cols);
        let w_s = m.scales.as_ptr().add(r * blocks);
        let x_q = a.quants.as_ptr().add(t * cols);
        let x_s = a.scales.as_ptr().add(t * blocks);
        for b in 0..blocks {
            let mut w = [_mm256_setzero_si256(); W];
            for (i, w) in w.iter_mut().enumerate() {
                *w = _mm256_loadu_si256(w_q.add(i * cols + b * BLOCK) as *const __m256i);
            }
            for j in 0..X {
                let xq = _mm256_loadu_si256(x_q.add(j * cols + b * BLOCK) as *const __m256i);
                let magnitudes = _mm256_sign_epi8(xq, xq);
                let xs = _mm256_broadcast_ss(&*x_s.add(j * blocks + b));
                for i in 0..W {
                    let pairs = _mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(w[i], xq));
                    let sums = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones)), xs);
                    acc[i][j] = _mm256_fmadd_ps(sums, _mm256_broadcast_ss(&*w_s.add(i * blocks + b)), acc[i][j]);
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            for (j, acc) in acc.iter().enumerate() {
                *out.add((t + j) * m.rows + r + i) = horizontal_sum(*acc);
            }
        }
    }

    /// [`super::quantize_row`] for one block of 32 values at `v`, written to `q`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn quantize_block(v: *const f32, q: *mut i8) -> f32 {
        let sign = _mm256_set1_ps(-0.0);
        let a = [_mm256_loadu_ps(v), _mm256_loadu_ps(v.add(8)), _mm256_loadu_ps(v.add(16)), _mm256_loadu_ps(v.add(24))];
        let abs = |x| _mm256_andnot_ps(sign, x);
        let m = _mm256_max_ps(_mm256_max_ps(abs(a[0]), abs(a[1])), _mm256_max_ps(abs(a[2]), abs(a[3])));
        let m = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        let scale = amax / 127.0;
        let inverse = _mm256_set1_ps(if scale != 0.0 { 1.0 / scale } else { 0.0 });
        // The conversion rounds to nearest even under the default rounding mode.
        let i = a.map(|x| _mm256_cvtps_epi32(_mm256_mul_ps(x, inverse)));
        let packed = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
        // The packs interleave 128-bit lanes; put the 32-bit groups back in order.
        let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(q as *mut __m256i, ordered);
        scale
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn horizontal_sum(v: __m256) -> f32 {
        let half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
        _mm_cvtss_f32(_mm_add_ss(quarter, _mm_movehdup_ps(quarter)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn dequantized(m: &Q8Matrix) -> Vec<f32> {
        m.quants.iter().enumerate().map(|(i, &q)| q as f32 * m.scales[i / BLOCK]).collect()
    }

    #[test]
    fn quantizing_keeps_each_value_within_half_a_step() {
        let values = random(7 * 64, 1);
        let m = Q8Matrix::quantize(&values, 7, 64);
        for (i, (v, d)) in values.iter().zip(dequantized(&m)).enumerate() {
            assert!((v - d).abs() <= m.scales[i / BLOCK] * 0.5 + 1e-7, "value {i}: {v} became {d}");
        }
        // The SIMD path (where the CPU has it) and the portable rule give the same bytes.
        let expected: Vec<i8> = values
            .chunks(BLOCK)
            .flat_map(|v| {
                let inverse = 1.0 / (v.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0);
                v.iter().map(move |x| (x * inverse).round_ties_even() as i8)
            })
            .collect();
        assert_eq!(expected, m.quants);
        let zeros = Q8Matrix::quantize(&[0.0; 32], 1, 32);
        assert_eq!(zeros.matmul(&random(32, 2)), vec![0.0]);
    }

    #[test]
    fn matmul_matches_the_dense_product_of_the_quantized_values() {
        // Rows and tokens that leave partial tiles and several tasks.
        let (rows, cols, tokens) = (203, 96, 131);
        let m = Q8Matrix::quantize(&random(rows * cols, 3), rows, cols);
        let xs = random(tokens * cols, 4);
        let got = m.matmul(&xs);
        let w = dequantized(&m);
        for t in 0..tokens {
            for r in 0..rows {
                let exact: f32 = (0..cols).map(|c| xs[t * cols + c] * w[r * cols + c]).sum();
                let g = got[t * rows + r];
                // Activations are quantized too: each term is off by at most half a step
                // of the token's block scale (1/127 of its largest |x| ≤ 1) times |w| ≤ 1.
                assert!((g - exact).abs() <= cols as f32 * 0.5 / 127.0, "[{t},{r}]: {g} vs {exact}");
            }
        }
    }

    #[test]
    fn each_token_gets_the_same_bits_alone_as_in_a_batch() {
        let (rows, cols, tokens) = (70, 64, 9);
        let m = Q8Matrix::quantize(&random(rows * cols, 5), rows, cols);
        let xs = random(tokens * cols, 6);
        let batched = m.matmul(&xs);
        for t in 0..tokens {
            let alone = m.matmul(&xs[t * cols..(t + 1) * cols]);
            assert_eq!(alone, batched[t * rows..(t + 1) * rows], "token {t}");
        }
        // The SIMD tiles and the portable path agree up to float summation order.
        let acts = Q8Rows::quantize(&xs, cols);
        for t in 0..tokens {
            for r in 0..rows {
                let portable = m.dot_portable(&acts, r, t);
                assert!((portable - batched[t * rows + r]).abs() < 1e-4, "[{t},{r}]");
            }
        }
    }
}
