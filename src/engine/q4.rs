//! 4-bit weight matrices (GGUF's Q4_0, Q4_1 and Q4_K) multiplied on the host, a whole
//! batch at a time.
//!
//! candle has no SIMD kernel for Q4_1 (the README's model is Q4_1), and its Q4_0 kernel
//! takes one activation row at a time; re-encoded as Q8_0 for [`super::q8`]'s kernel
//! they take twice the bytes and lose a little of the file's precision. This kernel is
//! [`super::q8`]'s with weights of four bits: the same interleaved groups of rows, the
//! same activations quantized to Q8_0 blocks, the same register tiles reading each
//! weight block once a step.
//!
//! Both formats come down to blocks of 32 weights `w = scale · q − min`, `q` in 0..16:
//! Q4_0's `d·(q − 8)` has `min = 8d`, Q4_1's `d·q + m` has `min = −m`, each held in f32,
//! so the weights are exactly the file's (6 bits a weight against the file's 4.5 or 5,
//! and Q8_0's 8.5). A block's dot product with a token is `scale · s_x · Σ q·x −
//! min · s_x · Σ x`, for the token's block of quants `x` with scale `s_x`: one integer
//! dot product, and one block sum of the token's computed once a step.
//!
//! Q4_K fits the same form (`scale = d·sc`, `min = dmin·m` a block of 32, 6 bits a
//! weight against the file's 4.5). With AVX2 alone it is faster than candle's Q4_K kernel
//! for one sequence and slower at batches, whose integer sums run a whole 256-weight
//! super-block before a float operation; with VNNI it is faster at both
//! (benches/NOTES.md), so it runs here only where the CPU has VNNI ([`runs_best`]).
//!
//! Every output element is computed by the same instructions in the same order however
//! many rows the batch has, so a sequence gets bit-identical logits alone or batched.

use candle_core::quantized::GgmlDType;
use half::f16;
use rayon::prelude::*;

use super::q8::{Q8Rows, BLOCK};
#[cfg(target_arch = "x86_64")]
use super::tiles::{walk_tiles, Dot};
use super::tiles::{multiply, ByteDots, Tiled, GROUP, LANE};
use std::ops::Range;

/// Columns an interleaved 32-byte chunk holds of each of its [`GROUP`] rows: [`LANE`]
/// bytes of two nibbles.
const CHUNK: usize = 2 * LANE;

/// A `[rows, cols]` matrix of 4-bit weights in blocks of [`BLOCK`], each with an f32
/// scale and min.
///
/// Layout, for row `r = g·GROUP + i` and column `b·BLOCK + c·CHUNK + h·LANE + k`
/// (`h` 0 or 1): the quant is the low (`h = 0`) or high nibble of byte
/// `((g·blocks + b)·(BLOCK/CHUNK) + c)·GROUP·LANE + i·LANE + k`, and the block's scale
/// and min are at `(g·blocks + b)·GROUP + i`. Rows past `rows` in the last group are
/// zero.
#[derive(Clone, Debug)]
pub struct Q4Matrix {
    rows: usize,
    cols: usize,
    quants: Vec<u8>,
    scales: Vec<f32>,
    mins: Vec<f32>,
}

/// The GGUF formats [`Q4Matrix`] holds.
pub fn holds(format: GgmlDType) -> bool {
    matches!(format, GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q4K)
}

/// Whether `format` runs faster on this kernel than on candle's or re-encoded for
/// [`super::q8`]'s, on this CPU: Q4_0 and Q4_1 always; Q4_K where the CPU has VNNI. With
/// AVX2 alone candle's Q4_K kernel, whose integer sums run a whole 256-weight super-block
/// before a float operation, is faster at batches of 128 tokens (benches/NOTES.md).
pub fn runs_best(format: GgmlDType) -> bool {
    match format {
        GgmlDType::Q4_0 | GgmlDType::Q4_1 => true,
        GgmlDType::Q4K => ByteDots::best().is_some_and(|way| way != ByteDots::Avx2),
        _ => false,
    }
}

impl Q4Matrix {
    /// A matrix from GGML's blocks of `format` (one of [`holds`]), rows of `cols`
    /// row-major, as a GGUF file stores them.
    pub fn from_ggml(format: GgmlDType, bytes: &[u8], rows: usize, cols: usize) -> Q4Matrix {
        assert!(holds(format), "{format:?} is no 4-bit format of this kernel");
        let row_bytes = cols / format.block_size() * format.type_size();
        assert_eq!(bytes.len(), rows * row_bytes, "a {rows}x{cols} {format:?} matrix");
        Q4Matrix::from_rows(rows, cols, |r, q, s, m| decode_row(format, &bytes[r * row_bytes..(r + 1) * row_bytes], q, s, m))
    }

    /// The rows of `parts` one after another (they must share `cols`).
    pub fn stack(parts: &[&Q4Matrix]) -> Q4Matrix {
        let cols = parts[0].cols;
        assert!(parts.iter().all(|p| p.cols == cols), "stacked matrices share their columns");
        let owner: Vec<(&Q4Matrix, usize)> = parts.iter().flat_map(|p| (0..p.rows).map(move |r| (*p, r))).collect();
        Q4Matrix::from_rows(owner.len(), cols, |r, q, s, m| owner[r].0.read_row(owner[r].1, q, s, m))
    }

    /// Bytes a `[rows, cols]` matrix takes, its last group of rows padded whole.
    pub fn bytes_for(rows: usize, cols: usize) -> usize {
        rows.div_ceil(GROUP) * GROUP * (cols / 2 + cols / BLOCK * 2 * std::mem::size_of::<f32>())
    }

    /// Bytes it takes.
    pub fn bytes(&self) -> usize {
        self.quants.len() + (self.scales.len() + self.mins.len()) * std::mem::size_of::<f32>()
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

    /// Builds the interleaved layout from rows that `fill(r, quants, scales, mins)`
    /// writes row-major: a quant (0..16) a byte, a scale and a min a block.
    fn from_rows(rows: usize, cols: usize, fill: impl Fn(usize, &mut [u8], &mut [f32], &mut [f32]) + Sync) -> Q4Matrix {
        assert_eq!(cols % BLOCK, 0, "4-bit rows are whole blocks of {BLOCK}");
        let blocks = cols / BLOCK;
        let groups = rows.div_ceil(GROUP);
        let mut quants = vec![0u8; groups * GROUP * cols / 2];
        let mut scales = vec![0f32; groups * GROUP * blocks];
        let mut mins = vec![0f32; groups * GROUP * blocks];
        quants
            .par_chunks_mut(GROUP * cols / 2)
            .zip(scales.par_chunks_mut(GROUP * blocks))
            .zip(mins.par_chunks_mut(GROUP * blocks))
            .enumerate()
            .for_each(|(g, ((group_quants, group_scales), group_mins))| {
                let (mut q, mut s, mut m) = (vec![0u8; cols], vec![0f32; blocks], vec![0f32; blocks]);
                for i in 0..GROUP.min(rows - g * GROUP) {
                    fill(g * GROUP + i, &mut q, &mut s, &mut m);
                    for b in 0..blocks {
                        group_scales[b * GROUP + i] = s[b];
                        group_mins[b * GROUP + i] = m[b];
                        for c in 0..BLOCK / CHUNK {
                            let at = (b * (BLOCK / CHUNK) + c) * GROUP * LANE + i * LANE;
                            let from = b * BLOCK + c * CHUNK;
                            for k in 0..LANE {
                                group_quants[at + k] = q[from + k] | (q[from + LANE + k] << 4);
                            }
                        }
                    }
                }
            });
        Q4Matrix { rows, cols, quants, scales, mins }
    }

    /// Row `r`'s quants (a byte each), block scales and mins, row-major: the inverse of
    /// [`Q4Matrix::from_rows`].
    fn read_row(&self, r: usize, quants: &mut [u8], scales: &mut [f32], mins: &mut [f32]) {
        let (g, i) = (r / GROUP, r % GROUP);
        let blocks = self.blocks();
        for b in 0..blocks {
            scales[b] = self.scales[(g * blocks + b) * GROUP + i];
            mins[b] = self.mins[(g * blocks + b) * GROUP + i];
            for c in 0..BLOCK / CHUNK {
                let at = ((g * blocks + b) * (BLOCK / CHUNK) + c) * GROUP * LANE + i * LANE;
                let to = b * BLOCK + c * CHUNK;
                for k in 0..LANE {
                    let byte = self.quants[at + k];
                    quants[to + k] = byte & 0x0F;
                    quants[to + LANE + k] = byte >> 4;
                }
            }
        }
    }

    /// `xs · selfᵀ` for `xs` row-major `[tokens, cols]`: `[tokens, rows]`.
    pub fn matmul(&self, xs: &[f32]) -> Vec<f32> {
        self.matmul_by(xs, ByteDots::best())
    }

    /// [`Q4Matrix::matmul`] in tiles that multiply bytes the way `dots` says, or without
    /// SIMD for `None`.
    fn matmul_by(&self, xs: &[f32], dots: Option<ByteDots>) -> Vec<f32> {
        assert_eq!(xs.len() % self.cols, 0, "activations of {} columns", self.cols);
        multiply(self, self.rows, xs.len() / self.cols, &Acts::quantize(xs, self.cols), dots)
    }
}

/// A step's activations as the tiles read them.
pub(super) struct Acts {
    /// Quantized to Q8_0.
    rows: Q8Rows,
    /// Each block's scale times the sum of its quants: what the weights' mins multiply.
    sums: Vec<f32>,
}

impl Acts {
    fn quantize(xs: &[f32], cols: usize) -> Acts {
        let rows = Q8Rows::quantize(xs, cols);
        let sums = rows.sums.iter().zip(&rows.scales).map(|(&sum, scale)| sum as f32 * scale).collect();
        Acts { rows, sums }
    }
}

impl Tiled for Q4Matrix {
    type Acts = Acts;

    unsafe fn multiply_portable(&self, acts: &Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
        let Acts { rows: acts, sums } = acts;
        let blocks = self.blocks();
        let (mut q, mut s, mut m) = (vec![0u8; self.cols], vec![0f32; blocks], vec![0f32; blocks]);
        for r in groups.start * GROUP..(groups.end * GROUP).min(self.rows) {
            self.read_row(r, &mut q, &mut s, &mut m);
            for t in tok.clone() {
                let x = &acts.quants[t * self.cols..(t + 1) * self.cols];
                let dot: f32 = (0..blocks)
                    .map(|b| {
                        let span = b * BLOCK..(b + 1) * BLOCK;
                        let sum: i32 = q[span.clone()].iter().zip(&x[span]).map(|(&w, &x)| w as i32 * x as i32).sum();
                        sum as f32 * (s[b] * acts.scales[t * blocks + b]) - m[b] * sums[t * blocks + b]
                    })
                    .sum();
                *out.add(t * self.rows + r) = dot;
            }
        }
    }

    /// Groups × tokens a tile spans on each way, measured best of several
    /// (benches/NOTES.md): on AVX2 more tokens than [`super::q8`]'s, since a 4-bit
    /// block's weights take more instructions to unpack, which more tokens share; with
    /// AVX-512's 32 registers, more of both.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn walk<D: Dot>(&self, acts: &Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
        match D::WAY {
            ByteDots::Avx2 | ByteDots::AvxVnni => walk_tiles::<Self, D, 2, 4>(self, acts, groups, tok, out),
            ByteDots::Avx512Vnni => walk_tiles::<Self, D, 4, 4>(self, acts, groups, tok, out),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tile<D: Dot, const G: usize, const X: usize>(&self, acts: &Acts, g: usize, t: usize, out: *mut f32) {
        avx2::tile::<D, G, X>(self, acts, g, t, out)
    }
}

/// One row of GGML blocks of `format` as quants (0..16, a byte each) and each block of
/// [`BLOCK`]'s scale and min, computed as GGML's dequantization computes them, so that
/// `scale · q − min` is the value it gives.
fn decode_row(format: GgmlDType, row: &[u8], quants: &mut [u8], scales: &mut [f32], mins: &mut [f32]) {
    let half = |bytes: &[u8]| f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
    // The first half of `quants` is in the low nibbles, the second in the high ones.
    let nibbles = |packed: &[u8], quants: &mut [u8]| {
        for (j, &byte) in packed.iter().enumerate() {
            quants[j] = byte & 0x0F;
            quants[j + packed.len()] = byte >> 4;
        }
    };
    match format {
        GgmlDType::Q4_0 => {
            for (b, block) in row.chunks_exact(18).enumerate() {
                let d = half(&block[..2]);
                // `(q − 8)·d` is exact in f32 as `q·d − 8d` is.
                (scales[b], mins[b]) = (d, 8.0 * d);
                nibbles(&block[2..], &mut quants[b * BLOCK..(b + 1) * BLOCK]);
            }
        }
        GgmlDType::Q4_1 => {
            for (b, block) in row.chunks_exact(20).enumerate() {
                (scales[b], mins[b]) = (half(&block[..2]), -half(&block[2..4]));
                nibbles(&block[4..], &mut quants[b * BLOCK..(b + 1) * BLOCK]);
            }
        }
        GgmlDType::Q4K => {
            // A super-block of 8 blocks: d and dmin, then each block's 6-bit scale and
            // min packed in 12 bytes, then the quants, two blocks to each 32 bytes.
            for (s, block) in row.chunks_exact(144).enumerate() {
                let (d, dmin, packed, qs) = (half(&block[..2]), half(&block[2..4]), &block[4..16], &block[16..]);
                for j in 0..8 {
                    // GGML's get_scale_min_k4.
                    let (sc, m) = match j {
                        0..4 => (packed[j] & 63, packed[j + 4] & 63),
                        _ => ((packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4), (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4)),
                    };
                    (scales[s * 8 + j], mins[s * 8 + j]) = (d * sc as f32, dmin * m as f32);
                }
                for (i, pair) in qs.chunks_exact(BLOCK).enumerate() {
                    let at = s * 256 + i * 2 * BLOCK;
                    nibbles(pair, &mut quants[at..at + 2 * BLOCK]);
                }
            }
        }
        other => unreachable!("{other:?} is not a 4-bit format"),
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::tiles::{store, Dot};
    use super::{Acts, Q4Matrix, BLOCK, CHUNK, GROUP, LANE};

    /// `G` groups of weight rows from group `g` × `X` token rows from `t`, accumulated
    /// over all blocks.
    ///
    /// The weights' unsigned nibbles meet the token's signed bytes: 15 × 127 four times
    /// (a lane's low and high pairs) is far from what 16 bits hold, and a block's 32-bit
    /// sums far from overflow.
    #[inline(always)]
    pub(super) unsafe fn tile<D: Dot, const G: usize, const X: usize>(m: &Q4Matrix, a: &Acts, g: usize, t: usize, out: *mut f32) {
        let Acts { rows: a, sums } = a;
        let cols = m.cols;
        let blocks = cols / BLOCK;
        let low = _mm256_set1_epi8(0x0F);
        let mut acc = [[_mm256_setzero_ps(); X]; G];
        let w_q = m.quants.as_ptr().add(g * GROUP * cols / 2);
        let w_s = m.scales.as_ptr().add(g * GROUP * blocks);
        let w_m = m.mins.as_ptr().add(g * GROUP * blocks);
        let x_q = a.quants.as_ptr().add(t * cols);
        let x_s = a.scales.as_ptr().add(t * blocks);
        let x_sum = sums.as_ptr().add(t * blocks);
        for b in 0..blocks {
            let mut dots = [[_mm256_setzero_si256(); X]; G];
            for c in 0..BLOCK / CHUNK {
                // Each row's low nibbles, then its high ones.
                let mut w = [[_mm256_setzero_si256(); 2]; G];
                for (k, w) in w.iter_mut().enumerate() {
                    let packed = _mm256_loadu_si256(w_q.add(k * GROUP * cols / 2 + (b * (BLOCK / CHUNK) + c) * GROUP * LANE) as *const __m256i);
                    *w = [_mm256_and_si256(packed, low), _mm256_and_si256(_mm256_srli_epi16(packed, 4), low)];
                }
                for j in 0..X {
                    let x = x_q.add(j * cols + b * BLOCK + c * CHUNK);
                    let x_low = _mm256_set1_epi32((x as *const i32).read_unaligned());
                    let x_high = _mm256_set1_epi32((x.add(LANE) as *const i32).read_unaligned());
                    for k in 0..G {
                        dots[k][j] = D::dot2(dots[k][j], w[k], [x_low, x_high]);
                    }
                }
            }
            for k in 0..G {
                let w_scales = _mm256_loadu_ps(w_s.add((k * blocks + b) * GROUP));
                let w_mins = _mm256_loadu_ps(w_m.add((k * blocks + b) * GROUP));
                for j in 0..X {
                    let scales = _mm256_mul_ps(w_scales, _mm256_broadcast_ss(&*x_s.add(j * blocks + b)));
                    let with_dot = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[k][j]), scales, acc[k][j]);
                    acc[k][j] = _mm256_fnmadd_ps(w_mins, _mm256_broadcast_ss(&*x_sum.add(j * blocks + b)), with_dot);
                }
            }
        }
        store(&acc, m.rows, g, t, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tiles::checks::{ggml, random};

    fn dequantized(m: &Q4Matrix) -> Vec<f32> {
        let blocks = m.blocks();
        let (mut q, mut s, mut mins) = (vec![0u8; m.cols], vec![0f32; blocks], vec![0f32; blocks]);
        let mut values = Vec::with_capacity(m.rows * m.cols);
        for r in 0..m.rows {
            m.read_row(r, &mut q, &mut s, &mut mins);
            values.extend(q.iter().enumerate().map(|(c, &q)| s[c / BLOCK] * q as f32 - mins[c / BLOCK]));
        }
        values
    }

    const FORMATS: [GgmlDType; 3] = [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q4K];

    #[test]
    fn each_format_holds_exactly_the_weights_ggml_gives() {
        // Rows that leave the last interleaved group partial; two Q4_K super-blocks.
        let (rows, cols) = (13, 512);
        let values = random(rows * cols, 1);
        for format in FORMATS {
            let (bytes, expected) = ggml(&values, rows, cols, format);
            let m = Q4Matrix::from_ggml(format, &bytes, rows, cols);
            assert_eq!(dequantized(&m), expected, "{format:?}");
            assert_eq!(m.bytes(), Q4Matrix::bytes_for(rows, cols));
        }
    }

    #[test]
    fn matmul_matches_the_dense_product_of_the_weights() {
        // Rows and tokens that leave partial tiles and several tasks.
        let (rows, cols, tokens) = (203, 256, 131);
        let xs = random(tokens * cols, 4);
        for format in FORMATS {
            let (bytes, w) = ggml(&random(rows * cols, 3), rows, cols, format);
            let got = Q4Matrix::from_ggml(format, &bytes, rows, cols).matmul(&xs);
            for t in 0..tokens {
                for r in 0..rows {
                    let exact: f32 = (0..cols).map(|c| xs[t * cols + c] * w[r * cols + c]).sum();
                    let g = got[t * rows + r];
                    // Activations are quantized: each term is off by at most half a step of
                    // the token's block scale (1/127 of its largest |x| ≤ 1) times |w| ≤ 1.1.
                    assert!((g - exact).abs() <= cols as f32 * 0.55 / 127.0, "{format:?} [{t},{r}]: {g} vs {exact}");
                }
            }
        }
    }

    #[test]
    fn each_token_gets_the_same_bits_alone_as_in_a_batch() {
        let (rows, cols, tokens) = (70, 256, 9);
        let xs = random(tokens * cols, 6);
        for format in FORMATS {
            let (bytes, _) = ggml(&random(rows * cols, 5), rows, cols, format);
            let m = Q4Matrix::from_ggml(format, &bytes, rows, cols);
            let batched = m.matmul(&xs);
            for t in 0..tokens {
                assert_eq!(m.matmul(&xs[t * cols..(t + 1) * cols]), batched[t * rows..(t + 1) * rows], "{format:?} token {t}");
            }
            // Every way of multiplying bytes the CPU has gives the same bits; the portable
            // loop agrees up to float summation order.
            for dots in ByteDots::available() {
                assert_eq!(m.matmul_by(&xs, Some(dots)), batched, "{format:?} {dots:?}");
            }
            for (i, (p, b)) in m.matmul_by(&xs, None).iter().zip(&batched).enumerate() {
                assert!((p - b).abs() < 1e-4, "{format:?} [{}, {}]: {p} vs {b}", i / rows, i % rows);
            }
        }
    }

    #[test]
    fn stacking_matches_decoding_the_rows_together() {
        let cols = 96;
        let (a, b) = (random(5 * cols, 7), random(11 * cols, 8));
        let (a_bytes, _) = ggml(&a, 5, cols, GgmlDType::Q4_1);
        let (b_bytes, _) = ggml(&b, 11, cols, GgmlDType::Q4_1);
        let stacked = Q4Matrix::stack(&[&Q4Matrix::from_ggml(GgmlDType::Q4_1, &a_bytes, 5, cols), &Q4Matrix::from_ggml(GgmlDType::Q4_1, &b_bytes, 11, cols)]);
        let together = Q4Matrix::from_ggml(GgmlDType::Q4_1, &[a_bytes, b_bytes].concat(), 16, cols);
        assert_eq!((stacked.rows(), stacked.cols()), (16, cols));
        assert_eq!(dequantized(&stacked), dequantized(&together));
        let xs = random(3 * cols, 9);
        assert_eq!(stacked.matmul(&xs), together.matmul(&xs));
    }
}
