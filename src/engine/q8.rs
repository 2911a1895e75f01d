//! Q8_0 weight matrices multiplied on the host, a whole batch at a time.
//!
//! candle's CPU quantized matmul handles one activation row at a time, so a step of 32
//! sequences streams every weight 32 times; dequantized to f32, gemm re-packs four times
//! the bytes on every call (benches/NOTES.md). This kernel does what llama.cpp does
//! instead: the activations are quantized to Q8_0 blocks as well, and each pair of
//! blocks is an integer dot product scaled by the two block scales.
//!
//! The weights are stored interleaved, `GROUP` rows at a time, so that one 32-byte
//! register holds `LANE` consecutive bytes of each of 8 rows. Multiplied by the
//! token's matching 4 bytes broadcast to every lane, each 32-bit lane sums one row's
//! products: a block's integer dot products for 8 rows build up in one register with
//! no horizontal sums, and each block costs one conversion and one FMA per 8 rows
//! rather than per row. Register tiles of several groups × several token rows read
//! each weight block once for the whole step; `tiles.rs` compiles them for AVX2 and
//! for VNNI, whose one instruction does what three of AVX2's do.
//!
//! Every output element is computed by the same instructions in the same order however
//! many rows the batch has, so a sequence gets bit-identical logits alone or batched.

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::avx2_fma;
#[cfg(target_arch = "x86_64")]
use super::tiles::{walk_tiles, Dot};
use super::tiles::{multiply, ByteDots, Tiled, GROUP, LANE};
use std::ops::Range;

/// Values per Q8_0 block, as in GGML.
pub const BLOCK: usize = 32;

/// A `[rows, cols]` matrix in blocks of [`BLOCK`] signed bytes with one f32 scale each.
///
/// Layout, for row `r = g·GROUP + i` and column `b·BLOCK + c·LANE + k`: the quant is at
/// `((g·blocks + b)·(BLOCK/LANE) + c)·GROUP·LANE + i·LANE + k` and the scale of block `b`
/// at `(g·blocks + b)·GROUP + i`. Rows past `rows` in the last group are zero.
#[derive(Clone, Debug)]
pub struct Q8Matrix {
    rows: usize,
    cols: usize,
    quants: Vec<i8>,
    scales: Vec<f32>,
}

/// Rows of activations quantized like the weights, row-major.
pub(super) struct Q8Rows {
    pub(super) quants: Vec<i8>,
    pub(super) scales: Vec<f32>,
    /// Each block's sum of quants.
    pub(super) sums: Vec<i32>,
}

impl Q8Matrix {
    /// Quantizes `values`, row-major `[rows, cols]`; `cols` must be whole blocks.
    pub fn quantize(values: &[f32], rows: usize, cols: usize) -> Q8Matrix {
        assert_eq!(values.len(), rows * cols, "a {rows}x{cols} matrix");
        assert_eq!(cols % BLOCK, 0, "Q8_0 rows are whole blocks of {BLOCK}");
        Q8Matrix::from_rows(rows, cols, |r, q, s| quantize_row(&values[r * cols..(r + 1) * cols], q, s))
    }

    /// The rows of `parts` one after another (they must share `cols`).
    pub fn stack(parts: &[&Q8Matrix]) -> Q8Matrix {
        let cols = parts[0].cols;
        assert!(parts.iter().all(|p| p.cols == cols), "stacked matrices share their columns");
        let owner: Vec<(&Q8Matrix, usize)> = parts.iter().flat_map(|p| (0..p.rows).map(move |r| (*p, r))).collect();
        Q8Matrix::from_rows(owner.len(), cols, |r, q, s| owner[r].0.read_row(owner[r].1, q, s))
    }

    /// Bytes a `[rows, cols]` matrix takes, its last group of rows padded whole.
    pub fn bytes_for(rows: usize, cols: usize) -> usize {
        rows.div_ceil(GROUP) * GROUP * (cols + cols / BLOCK * std::mem::size_of::<f32>())
    }

    /// Bytes it takes.
    pub fn bytes(&self) -> usize {
        self.quants.len() + self.scales.len() * std::mem::size_of::<f32>()
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn blocks(&self) -> usize {
        self.cols / BLOCK
    }

    /// Builds the interleaved layout from rows that `fill(r, quants, scales)` writes
    /// row-major, one block scale per [`BLOCK`] quants.
    fn from_rows(rows: usize, cols: usize, fill: impl Fn(usize, &mut [i8], &mut [f32]) + Sync) -> Q8Matrix {
        let blocks = cols / BLOCK;
        let groups = rows.div_ceil(GROUP);
        let mut quants = vec![0i8; groups * GROUP * cols];
        let mut scales = vec![0f32; groups * GROUP * blocks];
        quants.par_chunks_mut(GROUP * cols).zip(scales.par_chunks_mut(GROUP * blocks)).enumerate().for_each(
            |(g, (group_quants, group_scales))| {
                let mut row_quants = vec![0i8; cols];
                let mut row_scales = vec![0f32; blocks];
                for i in 0..GROUP.min(rows - g * GROUP) {
                    fill(g * GROUP + i, &mut row_quants, &mut row_scales);
                    for b in 0..blocks {
                        group_scales[b * GROUP + i] = row_scales[b];
                        for c in 0..BLOCK / LANE {
                            let at = (b * (BLOCK / LANE) + c) * GROUP * LANE + i * LANE;
                            let from = b * BLOCK + c * LANE;
                            group_quants[at..at + LANE].copy_from_slice(&row_quants[from..from + LANE]);
                        }
                    }
                }
            },
        );
        Q8Matrix { rows, cols, quants, scales }
    }

    /// Row `r`'s quants and block scales, row-major: the inverse of [`Q8Matrix::from_rows`].
    fn read_row(&self, r: usize, quants: &mut [i8], scales: &mut [f32]) {
        let (g, i) = (r / GROUP, r % GROUP);
        let blocks = self.blocks();
        for b in 0..blocks {
            scales[b] = self.scales[(g * blocks + b) * GROUP + i];
            for c in 0..BLOCK / LANE {
                let at = ((g * blocks + b) * (BLOCK / LANE) + c) * GROUP * LANE + i * LANE;
                quants[b * BLOCK + c * LANE..][..LANE].copy_from_slice(&self.quants[at..at + LANE]);
            }
        }
    }

    /// `xs · selfᵀ` for `xs` row-major `[tokens, cols]`: `[tokens, rows]`.
    pub fn matmul(&self, xs: &[f32]) -> Vec<f32> {
        self.matmul_by(xs, ByteDots::best())
    }

    /// [`Q8Matrix::matmul`] in tiles that multiply bytes the way `dots` says, or without
    /// SIMD for `None`.
    fn matmul_by(&self, xs: &[f32], dots: Option<ByteDots>) -> Vec<f32> {
        assert_eq!(xs.len() % self.cols, 0, "activations of {} columns", self.cols);
        multiply(self, self.rows, xs.len() / self.cols, &Q8Rows::quantize(xs, self.cols), dots)
    }
}

impl Q8Rows {
    /// Token `t` against one weight row (`w` and its block scales, row-major) without
    /// SIMD: the same integer block sums, scaled the same way.
    fn dot_portable(&self, w: &[i8], w_scales: &[f32], t: usize) -> f32 {
        let (cols, blocks) = (w.len(), w_scales.len());
        let x = &self.quants[t * cols..(t + 1) * cols];
        (0..blocks)
            .map(|b| {
                let span = b * BLOCK..(b + 1) * BLOCK;
                let sum: i32 = w[span.clone()].iter().zip(&x[span]).map(|(&a, &b)| a as i32 * b as i32).sum();
                sum as f32 * (w_scales[b] * self.scales[t * blocks + b])
            })
            .sum()
    }

    /// `xs`, row-major rows of `cols`, quantized block by block.
    pub(super) fn quantize(xs: &[f32], cols: usize) -> Q8Rows {
        let mut quants = vec![0i8; xs.len()];
        let mut scales = vec![0f32; xs.len() / BLOCK];
        let rows = quants.chunks_mut(cols).zip(scales.chunks_mut(cols / BLOCK)).zip(xs.chunks(cols));
        if xs.len() >= 1 << 16 {
            rows.par_bridge().for_each(|((q, s), v)| quantize_row(v, q, s));
        } else {
            rows.for_each(|((q, s), v)| quantize_row(v, q, s));
        }
        let sums = quants.chunks(BLOCK).map(|q| q.iter().map(|&q| q as i32).sum()).collect();
        Q8Rows { quants, scales, sums }
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

impl Tiled for Q8Matrix {
    type Acts = Q8Rows;

    unsafe fn multiply_portable(&self, acts: &Q8Rows, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
        // Each row is read out of the interleaved layout once, for all the tokens.
        let (mut w, mut w_scales) = (vec![0i8; self.cols], vec![0f32; self.blocks()]);
        for r in groups.start * GROUP..(groups.end * GROUP).min(self.rows) {
            self.read_row(r, &mut w, &mut w_scales);
            for t in tok.clone() {
                *out.add(t * self.rows + r) = acts.dot_portable(&w, &w_scales, t);
            }
        }
    }

    /// Groups × tokens a tile spans on each way, measured best of several
    /// (benches/NOTES.md): VNNI's one instruction a product leaves registers for more
    /// tokens than AVX2's sign moves do, and AVX-512's 32 registers for more of both.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn walk<D: Dot>(&self, acts: &Q8Rows, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
        match D::WAY {
            ByteDots::Avx2 => walk_tiles::<Self, D, 4, 2>(self, acts, groups, tok, out),
            ByteDots::AvxVnni => walk_tiles::<Self, D, 2, 4>(self, acts, groups, tok, out),
            ByteDots::Avx512Vnni => walk_tiles::<Self, D, 4, 4>(self, acts, groups, tok, out),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tile<D: Dot, const G: usize, const X: usize>(&self, acts: &Q8Rows, g: usize, t: usize, out: *mut f32) {
        avx2::tile::<D, G, X>(self, acts, g, t, out)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::tiles::{store, Dot};
    use super::{Q8Matrix, Q8Rows, BLOCK, GROUP, LANE};

    /// `G` groups of weight rows from group `g` × `X` token rows from `t`, accumulated
    /// over all blocks.
    ///
    /// Both sides are signed, within ±127: [`Dot::signed_dot`] multiplies them, and each
    /// block's sums start at what its weight offset adds, taken back. A block's 32-bit
    /// sums stay far below overflow.
    #[inline(always)]
    pub(super) unsafe fn tile<D: Dot, const G: usize, const X: usize>(m: &Q8Matrix, a: &Q8Rows, g: usize, t: usize, out: *mut f32) {
        let cols = m.cols;
        let blocks = cols / BLOCK;
        let mut acc = [[_mm256_setzero_ps(); X]; G];
        let w_q = m.quants.as_ptr().add(g * GROUP * cols);
        let w_s = m.scales.as_ptr().add(g * GROUP * blocks);
        let x_q = a.quants.as_ptr().add(t * cols);
        let x_s = a.scales.as_ptr().add(t * blocks);
        let x_sum = a.sums.as_ptr().add(t * blocks);
        for b in 0..blocks {
            let mut sums = [[_mm256_setzero_si256(); X]; G];
            if D::WEIGHT_OFFSET != 0 {
                for j in 0..X {
                    let offset = _mm256_set1_epi32(-D::WEIGHT_OFFSET * *x_sum.add(j * blocks + b));
                    for sums in sums.iter_mut() {
                        sums[j] = offset;
                    }
                }
            }
            for c in 0..BLOCK / LANE {
                let mut w = [_mm256_setzero_si256(); G];
                for (k, w) in w.iter_mut().enumerate() {
                    *w = D::signed_weights(_mm256_loadu_si256(w_q.add(k * GROUP * cols + (b * (BLOCK / LANE) + c) * GROUP * LANE) as *const __m256i));
                }
                for j in 0..X {
                    let x = _mm256_set1_epi32((x_q.add(j * cols + b * BLOCK + c * LANE) as *const i32).read_unaligned());
                    for k in 0..G {
                        sums[k][j] = D::signed_dot(sums[k][j], w[k], x);
                    }
                }
            }
            for k in 0..G {
                let w_scales = _mm256_loadu_ps(w_s.add((k * blocks + b) * GROUP));
                for j in 0..X {
                    let scales = _mm256_mul_ps(w_scales, _mm256_broadcast_ss(&*x_s.add(j * blocks + b)));
                    acc[k][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[k][j]), scales, acc[k][j]);
                }
            }
        }
        store(&acc, m.rows, g, t, out);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tiles::checks::random;

    /// The quants and block scales of every row, row-major.
    fn row_major(m: &Q8Matrix) -> (Vec<i8>, Vec<f32>) {
        let mut quants = vec![0i8; m.rows * m.cols];
        let mut scales = vec![0f32; m.rows * m.blocks()];
        for r in 0..m.rows {
            m.read_row(r, &mut quants[r * m.cols..(r + 1) * m.cols], &mut scales[r * m.blocks()..(r + 1) * m.blocks()]);
        }
        (quants, scales)
    }

    fn dequantized(m: &Q8Matrix) -> Vec<f32> {
        let (quants, scales) = row_major(m);
        quants.iter().enumerate().map(|(i, &q)| q as f32 * scales[i / BLOCK]).collect()
    }

    #[test]
    fn quantizing_keeps_each_value_within_half_a_step() {
        let values = random(7 * 64, 1);
        let m = Q8Matrix::quantize(&values, 7, 64);
        let (quants, scales) = row_major(&m);
        for (i, (v, d)) in values.iter().zip(dequantized(&m)).enumerate() {
            assert!((v - d).abs() <= scales[i / BLOCK] * 0.5 + 1e-7, "value {i}: {v} became {d}");
        }
        // The SIMD path (where the CPU has it) and the portable rule give the same bytes.
        let expected: Vec<i8> = values
            .chunks(BLOCK)
            .flat_map(|v| {
                let inverse = 1.0 / (v.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0);
                v.iter().map(move |x| (x * inverse).round_ties_even() as i8)
            })
            .collect();
        assert_eq!(expected, quants);
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
        // Every way of multiplying bytes the CPU has gives the same bits; the portable
        // loop agrees up to float summation order.
        for dots in ByteDots::available() {
            assert_eq!(m.matmul_by(&xs, Some(dots)), batched, "{dots:?}");
        }
        for (i, (p, b)) in m.matmul_by(&xs, None).iter().zip(&batched).enumerate() {
            assert!((p - b).abs() < 1e-4, "[{}, {}]: {p} vs {b}", i / rows, i % rows);
        }
    }

    #[test]
    fn stacking_matches_quantizing_the_rows_together() {
        // Row counts that leave the interleaved groups partial.
        let (a, b, cols) = (random(5 * 64, 7), random(11 * 64, 8), 64);
        let stacked = Q8Matrix::stack(&[&Q8Matrix::quantize(&a, 5, cols), &Q8Matrix::quantize(&b, 11, cols)]);
        let together = Q8Matrix::quantize(&[a, b].concat(), 16, cols);
        assert_eq!((stacked.rows(), stacked.cols()), (16, cols));
        assert_eq!(row_major(&stacked), row_major(&together));
        let xs = random(3 * cols, 9);
        assert_eq!(stacked.matmul(&xs), together.matmul(&xs));
    }
}
