//! SwiGLU on the host in one pass: `silu(gate) · up` straight from the fused gate/up
//! projection's output.
//!
//! Through candle's ops the MLP's activation takes four passes over `[tokens,
//! intermediate]`: a copy each of the gate and up halves out of the fused output, the
//! SiLU (libm's `expf` one value at a time), and the product. Here it is one pass that
//! reads both halves of each row where they are and writes the product, eight values at
//! a time with [`super::vmath`]'s `exp`.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use rayon::prelude::*;

/// Values a parallel task takes at least: fewer cost more to hand out than to compute.
const MIN_VALUES_PER_TASK: usize = 16 * 1024;

/// `[tokens, 2·n]` (gate then up, each `n` wide) → `[tokens, n]` of `silu(gate) · up`.
pub(super) struct FusedSwiGlu;

impl CustomOp1 for FusedSwiGlu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(values) = storage else {
            candle_core::bail!("fused-swiglu takes f32, not {:?}", storage.dtype());
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("fused-swiglu takes a contiguous gate/up output");
        };
        let (tokens, width) = layout.shape().dims2()?;
        if width % 2 != 0 {
            candle_core::bail!("fused-swiglu takes gate and up side by side, not {width} columns");
        }
        let n = width / 2;
        let mut out = vec![0f32; tokens * n];
        if n == 0 {
            return Ok((CpuStorage::F32(out), Shape::from((tokens, n))));
        }
        let rows = values[start..end].par_chunks_exact(width).zip(out.par_chunks_exact_mut(n));
        // Rows in parallel, as candle's own element-wise ops run, a few at a time.
        rows.with_min_len(MIN_VALUES_PER_TASK.div_ceil(n).max(1)).for_each(|(row, out)| swiglu(&row[..n], &row[n..], out));
        Ok((CpuStorage::F32(out), Shape::from((tokens, n))))
    }
}

/// `out = silu(gate) · up`, with `silu(g) = g / (1 + e⁻ᵍ)` as candle computes it.
fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if super::avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA.
        done = unsafe { avx2::swiglu(gate, up, out) };
    }
    for ((o, &g), &u) in out[done..].iter_mut().zip(&gate[done..]).zip(&up[done..]) {
        *o = g / (1.0 + (-g).exp()) * u;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::vmath::avx2::exp;

    /// [`super::swiglu`] over the whole registers of `out`: how many values it wrote.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) -> usize {
        let whole = out.len() - out.len() % 8;
        assert!(gate.len() >= whole && up.len() >= whole);
        let one = _mm256_set1_ps(1.0);
        for i in (0..whole).step_by(8) {
            let g = _mm256_loadu_ps(gate.as_ptr().add(i));
            let silu = _mm256_div_ps(g, _mm256_add_ps(one, exp(_mm256_sub_ps(_mm256_setzero_ps(), g))));
            _mm256_storeu_ps(out.as_mut_ptr().add(i), _mm256_mul_ps(silu, _mm256_loadu_ps(up.as_ptr().add(i))));
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn it_is_candles_silu_times_up() {
        // Widths with and without a tail; gates far past where e⁻ᵍ leaves f32's range.
        for n in [8, 13, 40] {
            let tokens = 3;
            let values: Vec<f32> = (0..tokens * 2 * n).map(|i| ((i * 7919) % 401) as f32 / 2.0 - 100.0).collect();
            let fused = Tensor::from_vec(values, (tokens, 2 * n), &Device::Cpu).unwrap();
            let got: Vec<f32> = fused.apply_op1_no_bwd(&FusedSwiGlu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let (gate, up) = (fused.narrow(1, 0, n).unwrap(), fused.narrow(1, n, n).unwrap());
            let want: Vec<f32> = (gate.silu().unwrap() * up).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 4.0 * f32::EPSILON * w.abs() + 1e-30, "n {n}, [{i}]: {g} vs {w}");
            }
        }
        // A non-f32 output is refused, not misread.
        let half = Tensor::zeros((1, 16), candle_core::DType::F16, &Device::Cpu).unwrap();
        assert!(half.apply_op1_no_bwd(&FusedSwiGlu).is_err());
    }
}
