//! Vector math the host kernels share.

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::*;

    /// `eˣ` in each lane, within 2 ulp of `expf` from −87 to 88: `x = k·ln 2 + r` with
    /// `|r| ≤ ln 2 / 2`, Cephes' degree-6 polynomial for `eʳ`, and `2ᵏ` built in the
    /// exponent bits. At or below −87 it is 0 (`expf` gives at most 1.6e−38 there), and
    /// above 88 it is e⁸⁸, not infinity: what a softmax (a score less the max) and a
    /// sigmoid need.
    #[inline(always)]
    pub(in crate::engine) unsafe fn exp(x: __m256) -> __m256 {
        let low = _mm256_set1_ps(-87.0);
        let x = _mm256_min_ps(_mm256_max_ps(x, low), _mm256_set1_ps(88.0));
        let k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        // ln 2 in two parts, so that k·ln 2 is exact to well below an ulp of r.
        let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.987_569_1e-4);
        for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let e_r = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
        let two_k = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23));
        let e = _mm256_mul_ps(e_r, two_k);
        // Where x was clamped below, 2ᵏ is the smallest normal; the true value is below it.
        _mm256_andnot_ps(_mm256_cmp_ps(x, low, _CMP_LE_OQ), e)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn exp_is_within_two_ulp_of_expf() {
        if !super::super::avx2_fma() {
            return;
        }
        use std::arch::x86_64::*;
        let xs: Vec<f32> = (-8800..=8800).map(|i| i as f32 / 100.0).chain([-87.0, -86.99, 87.99, 88.0]).collect();
        for x in xs {
            let mut got = [0f32; 8];
            // SAFETY: the CPU has AVX2 and FMA.
            unsafe { _mm256_storeu_ps(got.as_mut_ptr(), super::avx2::exp(_mm256_set1_ps(x))) };
            let want = x.exp();
            let ulp = |v: f32| (f32::from_bits(v.to_bits() + 1) - v).abs();
            match x {
                x if x <= -87.0 => assert_eq!(got[0], 0.0, "e^{x}"),
                _ => assert!((got[0] - want).abs() <= 2.0 * ulp(want), "e^{x}: {} vs {want}", got[0]),
            }
        }
    }
}
