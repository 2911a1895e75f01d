//! What the host kernels ([`super::q8`], [`super::q4`]) share: how a step's outputs are
//! split into parallel tasks and register tiles, and the instruction a tile multiplies
//! bytes with.
//!
//! A tile's inner loop is one operation: in each 32-bit lane, four unsigned bytes times
//! four signed bytes, summed into the lane. AVX2 spells it in three instructions
//! (`maddubs` into 16-bit pairs, `madd` by ones to widen them, an add); CPUs with VNNI
//! (Intel since Ice Lake and Alder Lake, AMD since Zen 4) have it as one, `vpdpbusd`,
//! which llama.cpp uses wherever it is built for the machine. hearth's binary targets
//! baseline x86-64, since it is carried to other machines, so each kernel's tiles are
//! compiled once for each way ([`ByteDots`]) and the best the CPU has is chosen at run
//! time. The kernels keep every pair of byte products within what `maddubs`' 16-bit pairs
//! hold, so every way gives the same integer sums, and the same bits.
//!
//! Signed weights (Q8_0's) meet signed activations. AVX2 moves the token's signs onto the
//! weights (two more instructions a product); with VNNI the weights are offset by 128
//! into unsigned bytes as they load, once for all the tile's tokens, and each block's sums
//! start at 128 times the token's block sum, taken back.

use std::ops::Range;

use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Weight rows the kernels store interleaved: one 256-bit register's worth of 32-bit
/// lanes, a row's products summing in each.
pub(super) const GROUP: usize = 8;
/// Consecutive bytes of one row within an interleaved register.
pub(super) const LANE: usize = 4;
/// Token rows in the tokens × weights tiles of a step; bounds the activations a task
/// keeps hot in cache.
const ROWS_PER_TASK: usize = 64;
/// A task's row groups are a multiple of this, and every tile shape's groups divide it,
/// so that only a matrix's last range has partial tiles.
const TASK_GROUPS: usize = 4;

/// A way to multiply bytes, in the order [`ByteDots::best`] prefers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ByteDots {
    /// AVX-512 VNNI on 256-bit registers (Ice Lake, Sapphire Rapids, Zen 4). Its EVEX
    /// encoding reaches 32 registers, not 16, which hold larger tiles.
    Avx512Vnni,
    /// VEX-encoded VNNI (Alder Lake and later, which lack AVX-512).
    AvxVnni,
    /// AVX2 alone.
    Avx2,
}

impl ByteDots {
    /// The best this CPU has, or `None` without AVX2 and FMA (the portable loops then).
    pub(crate) fn best() -> Option<ByteDots> {
        static BEST: std::sync::OnceLock<Option<ByteDots>> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| ByteDots::available().first().copied())
    }

    /// Every way this CPU has, best first: the kernels' tests check that they agree.
    pub(crate) fn available() -> Vec<ByteDots> {
        let mut ways = Vec::new();
        #[cfg(target_arch = "x86_64")]
        if super::avx2_fma() {
            if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl") {
                ways.push(ByteDots::Avx512Vnni);
            }
            if is_x86_feature_detected!("avxvnni") {
                ways.push(ByteDots::AvxVnni);
            }
            ways.push(ByteDots::Avx2);
        }
        ways
    }
}

/// Byte dot products: one unit type per [`ByteDots`], whose methods are inlined into tiles
/// compiled with that way's target features. The provided methods are VNNI's; AVX2's
/// replace them.
#[cfg(target_arch = "x86_64")]
pub(super) trait Dot {
    /// The way this is.
    const WAY: ByteDots;

    /// `acc` plus, in each 32-bit lane, the sum of its four unsigned bytes of `unsigned`
    /// times the matching signed bytes of `signed`: `vpdpbusd`. Callers keep each pair of
    /// products within ±32767, what AVX2's 16-bit pairs hold.
    unsafe fn dpbusd(acc: __m256i, unsigned: __m256i, signed: __m256i) -> __m256i;

    /// Two [`Dot::dpbusd`]s. Callers keep each lane's two pairs of products within ±32767
    /// together, so that AVX2 can add them before widening.
    #[inline(always)]
    unsafe fn dot2(acc: __m256i, unsigned: [__m256i; 2], signed: [__m256i; 2]) -> __m256i {
        Self::dpbusd(Self::dpbusd(acc, unsigned[0], signed[0]), unsigned[1], signed[1])
    }

    /// What [`Dot::signed_weights`] adds to each weight: the tile takes back its product
    /// with the token's block sum.
    const WEIGHT_OFFSET: i32 = 128;

    /// Signed weight bytes as [`Dot::signed_dot`] takes them: flipping the sign bit adds
    /// 128, and the weights become unsigned.
    #[inline(always)]
    unsafe fn signed_weights(weights: __m256i) -> __m256i {
        _mm256_xor_si256(weights, _mm256_set1_epi8(i8::MIN))
    }

    /// `acc` plus, in each 32-bit lane, Σ (w + [`Dot::WEIGHT_OFFSET`])·x over its four
    /// bytes, for weights `w` from [`Dot::signed_weights`] and signed bytes `x`, both
    /// within ±127.
    #[inline(always)]
    unsafe fn signed_dot(acc: __m256i, weights: __m256i, x: __m256i) -> __m256i {
        Self::dpbusd(acc, weights, x)
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) struct Maddubs;

#[cfg(target_arch = "x86_64")]
impl Dot for Maddubs {
    const WAY: ByteDots = ByteDots::Avx2;

    #[inline(always)]
    unsafe fn dpbusd(acc: __m256i, unsigned: __m256i, signed: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(unsigned, signed), _mm256_set1_epi16(1)))
    }

    #[inline(always)]
    unsafe fn dot2(acc: __m256i, unsigned: [__m256i; 2], signed: [__m256i; 2]) -> __m256i {
        let pairs = _mm256_add_epi16(_mm256_maddubs_epi16(unsigned[0], signed[0]), _mm256_maddubs_epi16(unsigned[1], signed[1]));
        _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    /// Offset weights would make pairs of products overflow 16 bits; the token's signs
    /// move onto the weights instead, at each product.
    const WEIGHT_OFFSET: i32 = 0;

    #[inline(always)]
    unsafe fn signed_weights(weights: __m256i) -> __m256i {
        weights
    }

    /// The token's magnitudes meet the weights with the token's signs moved onto them: a
    /// pair of products within ±127² fits 16 bits.
    #[inline(always)]
    unsafe fn signed_dot(acc: __m256i, weights: __m256i, x: __m256i) -> __m256i {
        Self::dpbusd(acc, _mm256_sign_epi8(x, x), _mm256_sign_epi8(weights, x))
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) struct AvxVnni;

#[cfg(target_arch = "x86_64")]
impl Dot for AvxVnni {
    const WAY: ByteDots = ByteDots::AvxVnni;

    #[inline(always)]
    unsafe fn dpbusd(acc: __m256i, unsigned: __m256i, signed: __m256i) -> __m256i {
        _mm256_dpbusd_avx_epi32(acc, unsigned, signed)
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) struct Avx512Vnni;

#[cfg(target_arch = "x86_64")]
impl Dot for Avx512Vnni {
    const WAY: ByteDots = ByteDots::Avx512Vnni;

    #[inline(always)]
    unsafe fn dpbusd(acc: __m256i, unsigned: __m256i, signed: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(acc, unsigned, signed)
    }
}

/// `[tokens, rows]` outputs, computed by `multiply(groups, tokens, out)` over disjoint
/// rectangles of row groups (of [`GROUP`] rows, multiples of [`TASK_GROUPS`] but the
/// last) and token ranges, in parallel: enough ranges of groups for work stealing to
/// even out, and tokens [`ROWS_PER_TASK`] at a time so their activations stay in cache.
/// `multiply` must write exactly its rectangle of `out` (row-major `[tokens, rows]`).
fn in_parallel_tiles(rows: usize, tokens: usize, multiply: impl Fn(Range<usize>, Range<usize>, *mut f32) + Sync) -> Vec<f32> {
    let mut out = vec![0f32; tokens * rows];
    let out_ptr = OutPtr(out.as_mut_ptr());
    let threads = rayon::current_num_threads().max(1);
    let groups = rows.div_ceil(GROUP);
    let per_range = groups.div_ceil(threads * 4).next_multiple_of(TASK_GROUPS).max(TASK_GROUPS);
    let ranges = groups.div_ceil(per_range);
    let token_blocks = tokens.div_ceil(ROWS_PER_TASK);
    (0..ranges * token_blocks).into_par_iter().for_each(|task| {
        let range = task % ranges * per_range..((task % ranges + 1) * per_range).min(groups);
        let tok = (task / ranges) * ROWS_PER_TASK..((task / ranges + 1) * ROWS_PER_TASK).min(tokens);
        let out_ptr = &out_ptr;
        // Tasks write disjoint rectangles of `out`, which outlives the parallel loop.
        multiply(range, tok, out_ptr.0);
    });
    out
}

struct OutPtr(*mut f32);
// SAFETY: shared only to write disjoint elements, see `in_parallel_tiles`.
unsafe impl Sync for OutPtr {}

/// A host kernel's weights, multiplied a register tile at a time. `walk` and `tile` are
/// `#[inline(always)]` in every implementation: they are compiled into each of
/// [`tiles`]' ways, with that way's instructions.
pub(super) trait Tiled: Sync {
    /// What the tiles read of a step's activations.
    type Acts: Sync;

    /// Writes `out[t, r]` for the tokens `tok` and the rows of the groups `groups`,
    /// without SIMD: the same integer block sums as the tiles, scaled the same way.
    unsafe fn multiply_portable(&self, acts: &Self::Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32);

    /// [`walk_tiles`] over the groups `groups` × the tokens `tok`, in the tile shape that
    /// measured best for this kernel on `D`'s way (each shape's groups divide
    /// [`TASK_GROUPS`]).
    #[cfg(target_arch = "x86_64")]
    unsafe fn walk<D: Dot>(&self, acts: &Self::Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32);

    /// Adds up the tile of `G` groups of [`GROUP`] rows from group `g` × `X` tokens from
    /// `t` over all the columns, and writes it into `out` (`[tokens, rows]`).
    #[cfg(target_arch = "x86_64")]
    unsafe fn tile<D: Dot, const G: usize, const X: usize>(&self, acts: &Self::Acts, g: usize, t: usize, out: *mut f32);
}

/// The `[tokens, rows]` product of `m`'s `rows` rows with `tokens` tokens of `acts`, in
/// parallel tasks of tiles that multiply bytes the way `dots` says, or without SIMD for
/// `None`.
pub(super) fn multiply<M: Tiled>(m: &M, rows: usize, tokens: usize, acts: &M::Acts, dots: Option<ByteDots>) -> Vec<f32> {
    // SAFETY: each writes only the (token, row) rectangle it is given.
    in_parallel_tiles(rows, tokens, |groups, tok, out| unsafe {
        match dots {
            #[cfg(target_arch = "x86_64")]
            Some(dots) => tiles(dots, m, acts, groups, tok, out),
            _ => m.multiply_portable(acts, groups, tok, out),
        }
    })
}

/// Writes `out[t, r]` for the tokens `tok` and the rows of the groups `groups`, in tiles
/// multiplied the way `dots` says.
#[cfg(target_arch = "x86_64")]
unsafe fn tiles<M: Tiled>(dots: ByteDots, m: &M, acts: &M::Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
    match dots {
        ByteDots::Avx512Vnni => tiles_avx512_vnni(m, acts, groups, tok, out),
        ByteDots::AvxVnni => tiles_avx_vnni(m, acts, groups, tok, out),
        ByteDots::Avx2 => tiles_avx2(m, acts, groups, tok, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn tiles_avx_vnni<M: Tiled>(m: &M, acts: &M::Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
    m.walk::<AvxVnni>(acts, groups, tok, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512vnni,avx512vl")]
unsafe fn tiles_avx512_vnni<M: Tiled>(m: &M, acts: &M::Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
    m.walk::<Avx512Vnni>(acts, groups, tok, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tiles_avx2<M: Tiled>(m: &M, acts: &M::Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
    m.walk::<Maddubs>(acts, groups, tok, out);
}

/// Walks the row groups `groups` × the tokens `tok` in tiles of `G` groups × `X` tokens,
/// one group or token wide at the edges.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn walk_tiles<M: Tiled, D: Dot, const G: usize, const X: usize>(m: &M, acts: &M::Acts, groups: Range<usize>, tok: Range<usize>, out: *mut f32) {
    let mut g = groups.start;
    while g < groups.end {
        let whole_g = groups.end - g >= G;
        let mut t = tok.start;
        while t < tok.end {
            let whole_x = tok.end - t >= X;
            match (whole_g, whole_x) {
                (true, true) => m.tile::<D, G, X>(acts, g, t, out),
                (true, false) => m.tile::<D, G, 1>(acts, g, t, out),
                (false, true) => m.tile::<D, 1, X>(acts, g, t, out),
                (false, false) => m.tile::<D, 1, 1>(acts, g, t, out),
            }
            t += if whole_x { X } else { 1 };
        }
        g += if whole_g { G } else { 1 };
    }
}

/// Writes a tile's sums, groups from `g` × tokens from `t`, into `out` (`[tokens, rows]`),
/// leaving out the padding rows of a last partial group. Inlined into the tile: called,
/// it spilled the tile's sums to memory (8% slower, benches/NOTES.md).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn store<const G: usize, const X: usize>(acc: &[[__m256; X]; G], rows: usize, g: usize, t: usize, out: *mut f32) {
    for (k, acc) in acc.iter().enumerate() {
        let row = (g + k) * GROUP;
        let valid = (rows - row).min(GROUP);
        for (j, acc) in acc.iter().enumerate() {
            let dst = out.add((t + j) * rows + row);
            if valid == GROUP {
                _mm256_storeu_ps(dst, *acc);
            } else {
                let mut lanes = [0f32; GROUP];
                _mm256_storeu_ps(lanes.as_mut_ptr(), *acc);
                std::ptr::copy_nonoverlapping(lanes.as_ptr(), dst, valid);
            }
        }
    }
}

/// What the kernels' tests share: random values, and GGML's blocks of them.
#[cfg(test)]
pub(super) mod checks {
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    use rand::{Rng, SeedableRng};

    /// `n` values in −1..1, the same for the same seed.
    pub(in crate::engine) fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// `values` quantized by candle (GGML's code) to `format`: the blocks and their
    /// dequantized values.
    pub(in crate::engine) fn ggml(values: &[f32], rows: usize, cols: usize, format: GgmlDType) -> (Vec<u8>, Vec<f32>) {
        let q = QTensor::quantize(&Tensor::from_slice(values, (rows, cols), &Device::Cpu).unwrap(), format).unwrap();
        let dequantized = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        (q.data().unwrap().into_owned(), dequantized)
    }
}
