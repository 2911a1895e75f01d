//! Where a model's tensors come from: a Hugging Face safetensors directory, a GGUF file
//! or a synthetic preset. The decoder asks for tensors by their Hugging Face names and
//! never learns which source answered.

use std::path::{Path, PathBuf};

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use super::config::Family;
use super::gguf::GgufFile;
use super::q4::{self, Q4Matrix};
use super::q8::{self, Q8Matrix};
use crate::{Error, Result};

/// What to do with a model's weight matrices at load time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Requantize {
    /// On CPU, run block-quantized matrices on hearth's batched kernels: Q4_0 and Q4_1
    /// as stored on the 4-bit one ([`super::q4`]), and Q4_K too where the CPU has VNNI;
    /// Q8_0 as stored and Q5_0/Q5_1 re-encoded (at most twice the bytes, at least as
    /// accurate) on the Q8_0 one ([`super::q8`]), and the other K-quants too for models up
    /// to [`AUTO_Q8_PARAMETERS`] parameters, beyond which they stay as stored, on candle's
    /// kernels, rather than double in size. Elsewhere keep what is stored.
    #[default]
    Auto,
    /// Keep every matrix as stored (candle's quantized matmul).
    Keep,
    /// Hold every matrix in this format where its rows are whole blocks of it: a GGUF's
    /// blocks re-encoded, a Hugging Face checkpoint's or a synthetic preset's floats
    /// quantized as they load (`F32`/`F16` dequantize blocks for the dense GEMM path and
    /// leave floats dense; on CPU `Q8_0` and the 4-bit formats run hearth's kernels).
    To(GgmlDType),
}

/// The model size up to which [`Requantize::Auto`] re-encodes K-quants as Q8_0 on CPU.
/// Where the crossover lies is not settled (benches/NOTES.md): re-encoded, the 135M
/// SmolLM2 in Q4_K_M runs faster at 1 and 32 sequences, the 1.5B shapes in Q4_K slower
/// at 32.
pub const AUTO_Q8_PARAMETERS: u64 = 4_000_000_000;

impl std::str::FromStr for Requantize {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" => Requantize::Auto,
            "keep" | "none" => Requantize::Keep,
            "q8_0" => Requantize::To(GgmlDType::Q8_0),
            "q4_0" => Requantize::To(GgmlDType::Q4_0),
            "q4k" | "q4_k" => Requantize::To(GgmlDType::Q4K),
            "q6k" | "q6_k" => Requantize::To(GgmlDType::Q6K),
            "f16" => Requantize::To(GgmlDType::F16),
            "f32" => Requantize::To(GgmlDType::F32),
            other => return Err(format!("unknown weight format `{other}` (auto, keep, q8_0, q4_0, q4k, q6k, f16, f32)")),
        })
    }
}

/// A weight matrix applied as `x · Wᵀ (+ b)`, dense or quantized.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Matrix,
    bias: Option<Tensor>,
}

#[derive(Clone, Debug)]
enum Matrix {
    /// Dense, or quantized on candle's kernels.
    Candle(QMatMul),
    /// Q8_0 in host memory on hearth's batched kernel.
    HostQ8(Q8Matrix),
    /// 4-bit blocks in host memory on hearth's batched kernel.
    HostQ4(Q4Matrix),
}

/// How a weight matrix is held once loaded: the one decision [`Weights::linear`] carries
/// out and [`Weights::linear_bytes`] counts, so a plan of a model's memory is the memory
/// its load takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// Q8_0 on hearth's host kernel: a byte a weight and an f32 scale a block.
    HostQ8,
    /// This 4-bit format's weights on hearth's host kernel: a nibble a weight and an f32
    /// scale and min a block.
    HostQ4(GgmlDType),
    /// Block-quantized on candle's kernels, in this format.
    Quantized(GgmlDType),
    /// In the dtype the model computes in.
    Dense,
}

impl Held {
    /// Bytes of a `[rows, cols]` matrix held this way, computing in `dtype`.
    fn bytes(self, (rows, cols): (usize, usize), dtype: DType) -> usize {
        match self {
            Held::HostQ8 => Q8Matrix::bytes_for(rows, cols),
            Held::HostQ4(_) => Q4Matrix::bytes_for(rows, cols),
            Held::Quantized(format) => rows * cols / format.block_size() * format.type_size(),
            Held::Dense => rows * cols * dtype.size_in_bytes(),
        }
    }
}

/// Bytes of a loaded tensor.
pub(crate) fn tensor_bytes(t: &Tensor) -> usize {
    t.elem_count() * t.dtype().size_in_bytes()
}

impl Linear {
    /// Bytes it holds, bias included.
    pub fn bytes(&self) -> usize {
        let weight = match &self.weight {
            Matrix::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => tensor_bytes(t),
            Matrix::Candle(QMatMul::QTensor(q)) => q.storage_size_in_bytes(),
            Matrix::HostQ8(q) => q.bytes(),
            Matrix::HostQ4(q) => q.bytes(),
        };
        weight + self.bias.as_ref().map_or(0, tensor_bytes)
    }

    fn out_features(&self) -> usize {
        match &self.weight {
            Matrix::Candle(QMatMul::Tensor(t)) => t.dim(0).unwrap_or(0),
            Matrix::Candle(QMatMul::TensorF16(t)) => t.dim(0).unwrap_or(0),
            Matrix::Candle(QMatMul::QTensor(q)) => q.shape().dims()[0],
            Matrix::HostQ8(q) => q.rows(),
            Matrix::HostQ4(q) => q.rows(),
        }
    }

    /// `xs`: `[tokens, in]` → `[tokens, out]`.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = match &self.weight {
            Matrix::Candle(w) => xs.apply(w)?,
            Matrix::HostQ8(w) => on_host(xs, w.cols(), w.rows(), |xs| w.matmul(xs))?,
            Matrix::HostQ4(w) => on_host(xs, w.cols(), w.rows(), |xs| w.matmul(xs))?,
        };
        match &self.bias {
            Some(b) => ys.broadcast_add(b),
            None => Ok(ys),
        }
    }
}

/// Projections of the same input (q/k/v, or gate/up), stacked into one matrix where
/// their formats allow, so each step reads and quantizes the input once and makes one
/// parallel call instead of several.
pub(crate) enum Stacked {
    /// One matrix; projection `i` is the next `widths[i]` columns of its output.
    Fused { linear: Linear, widths: Vec<usize> },
    /// Formats or biases that do not stack: one call each.
    Apart(Vec<Linear>),
}

impl Stacked {
    /// Stacks `parts`, or keeps them apart when their formats or biases differ.
    pub fn new(parts: Vec<Linear>) -> candle_core::Result<Stacked> {
        let biases: Option<Vec<&Tensor>> = parts.iter().map(|p| p.bias.as_ref()).collect();
        let any_bias = parts.iter().any(|p| p.bias.is_some());
        if any_bias && biases.is_none() {
            return Ok(Stacked::Apart(parts));
        }
        let bias = match biases {
            Some(b) if any_bias => Some(Tensor::cat(&b, 0)?),
            _ => None,
        };
        let host_q8: Option<Vec<&Q8Matrix>> =
            parts.iter().map(|p| if let Matrix::HostQ8(q) = &p.weight { Some(q) } else { None }).collect();
        let host_q4: Option<Vec<&Q4Matrix>> =
            parts.iter().map(|p| if let Matrix::HostQ4(q) = &p.weight { Some(q) } else { None }).collect();
        let dense: Option<Vec<&Tensor>> =
            parts.iter().map(|p| if let Matrix::Candle(QMatMul::Tensor(t)) = &p.weight { Some(t) } else { None }).collect();
        let weight = match (host_q8, host_q4, dense) {
            (Some(q8), _, _) => Matrix::HostQ8(Q8Matrix::stack(&q8)),
            (_, Some(q4), _) => Matrix::HostQ4(Q4Matrix::stack(&q4)),
            (_, _, Some(dense)) => Matrix::Candle(QMatMul::Tensor(Tensor::cat(&dense, 0)?)),
            // Quantized on candle's kernels (QTensors do not concatenate), or on two
            // host kernels (a Q4_K_M file's Q4_K q/k beside its Q6_K v).
            _ => return Ok(Stacked::Apart(parts)),
        };
        let widths = parts.iter().map(Linear::out_features).collect();
        Ok(Stacked::Fused { linear: Linear { weight, bias }, widths })
    }

    /// `xs`: `[tokens, in]` → one contiguous `[tokens, out_i]` per projection.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        match self {
            Stacked::Fused { linear, widths } => {
                let ys = linear.forward(xs)?;
                let mut offset = 0;
                widths
                    .iter()
                    .map(|&w| {
                        offset += w;
                        ys.narrow(1, offset - w, w)?.contiguous()
                    })
                    .collect()
            }
            Stacked::Apart(parts) => parts.iter().map(|p| p.forward(xs)).collect(),
        }
    }
}

/// `xs` (`[tokens, cols]`) through a host kernel's `matmul` of a `[rows, cols]`
/// matrix, which takes and gives f32 rows.
fn on_host(xs: &Tensor, cols: usize, rows: usize, matmul: impl Fn(&[f32]) -> Vec<f32>) -> candle_core::Result<Tensor> {
    let dtype = xs.dtype();
    let xs = xs.to_dtype(DType::F32)?.contiguous()?;
    let (tokens, got) = xs.dims2()?;
    if got != cols {
        candle_core::bail!("activations of {got} columns for a matrix of {cols}");
    }
    let ys = {
        let (storage, layout) = xs.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else {
            candle_core::bail!("hearth's host kernels take host tensors");
        };
        matmul(&cpu.as_slice::<f32>()?[layout.start_offset()..][..tokens * cols])
    };
    Tensor::from_vec(ys, (tokens, rows), xs.device())?.to_dtype(dtype)
}

/// A source of named tensors.
pub(crate) enum Weights {
    /// A Hugging Face checkpoint; a block format in `requantize` quantizes its dense
    /// matrices as they load.
    SafeTensors { dir: PathBuf, files: MmapedSafetensors, requantize: Requantize },
    Gguf { file: GgufFile, requantize: Requantize, family: Family, heads: (usize, usize), parameters: u64 },
    /// Random weights drawn on demand, each tensor seeded by its name so a preset is the
    /// same model every time it is built. A block format in `requantize` stores the
    /// matrices as a GGUF of that format would, so quantized throughput can be measured
    /// at any preset's shapes.
    Synthetic { seed: u64, requantize: Requantize },
}

impl Weights {
    /// Opens the safetensors files of a Hugging Face model directory (sharded or not).
    pub fn safetensors(dir: &Path, requantize: Requantize) -> Result<Weights> {
        let index = dir.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if index.exists() {
            let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::model(&index, e))?;
            let map = json
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| Error::model(&index, "no `weight_map` object"))?;
            let mut names: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names.into_iter().map(|n| dir.join(n)).collect()
        } else {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect();
            found.sort();
            found
        };
        if files.is_empty() {
            return Err(Error::model(dir, "no *.safetensors files"));
        }
        // Open each file alone first, so a corrupt shard is named in the error.
        for file in &files {
            // SAFETY: read-only map of a file hearth never writes.
            unsafe { MmapedSafetensors::new(file) }.map_err(|e| Error::model(file, e))?;
        }
        // SAFETY: as above.
        let files = unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| Error::model(dir, e))?;
        Ok(Weights::SafeTensors { dir: dir.to_path_buf(), files, requantize })
    }

    pub fn gguf(file: GgufFile, requantize: Requantize, family: Family, heads: (usize, usize), parameters: u64) -> Weights {
        Weights::Gguf { file, requantize, family, heads, parameters }
    }

    pub(crate) fn origin(&self) -> PathBuf {
        match self {
            Weights::SafeTensors { dir, .. } => dir.clone(),
            Weights::Gguf { file, .. } => file.path().to_path_buf(),
            Weights::Synthetic { .. } => PathBuf::from("synthetic"),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        match self {
            Weights::SafeTensors { files, .. } => files.get(name).is_ok(),
            Weights::Gguf { file, .. } => file.tensors.contains_key(&gguf_name(name)),
            Weights::Synthetic { .. } => true,
        }
    }

    fn check_shape(&self, name: &str, got: &[usize], want: &[usize]) -> Result<()> {
        if got != want {
            return Err(Error::model(
                self.origin(),
                format!("tensor `{name}` has shape {got:?}, the config implies {want:?}"),
            ));
        }
        Ok(())
    }

    /// A dense tensor (norms, biases, the embedding table) in `dtype` on `device`.
    pub fn dense(&self, name: &str, shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        let t = match self {
            Weights::SafeTensors { files, .. } => {
                let t = files.load(name, device).map_err(|e| Error::model(self.origin(), e))?;
                self.check_shape(name, t.dims(), shape)?;
                t
            }
            Weights::Gguf { .. } => {
                let q = self.gguf_tensor(name, shape, device)?;
                q.dequantize(device)?
            }
            Weights::Synthetic { seed, .. } => synthetic_tensor(*seed, name, shape, device)?,
        };
        Ok(t.to_dtype(dtype)?)
    }

    /// How the matrix `name` of `shape` (`[out, in]`) is held once loaded on the CPU
    /// (`on_cpu`) or on a GPU; reads nothing but a GGUF's header.
    pub fn held(&self, name: &str, shape: (usize, usize), on_cpu: bool) -> Result<Held> {
        Ok(match self {
            Weights::Gguf { file, requantize, parameters, .. } => {
                let (info, _) = file.tensor_bytes(&gguf_name(name))?;
                self.check_shape(name, &info.shape, &[shape.0, shape.1])?;
                held_as(info.dtype, shape.1, *requantize, on_cpu, *parameters)
            }
            // Floats, which `auto` never quantizes unasked: the model's size, which only
            // decides for K-quants under `auto`, does not count.
            Weights::SafeTensors { files, requantize, .. } => {
                let view = files.get(name).map_err(|e| Error::model(self.origin(), e))?;
                self.check_shape(name, view.shape(), &[shape.0, shape.1])?;
                match view.dtype() {
                    safetensors::Dtype::F32 | safetensors::Dtype::F16 | safetensors::Dtype::BF16 => {
                        held_as(GgmlDType::F32, shape.1, *requantize, on_cpu, 0)
                    }
                    // Integer or 8-bit float checkpoints are read as candle converts them.
                    _ => Held::Dense,
                }
            }
            // Drawn in f32.
            Weights::Synthetic { requantize, .. } => held_as(GgmlDType::F32, shape.1, *requantize, on_cpu, 0),
        })
    }

    /// Bytes [`Weights::linear`] will hold for the same matrix, on the CPU (`on_cpu`) or
    /// on a GPU, computing in `dtype`.
    pub fn linear_bytes(&self, name: &str, shape: (usize, usize), bias: bool, dtype: DType, on_cpu: bool) -> Result<usize> {
        let weight = self.held(&format!("{name}.weight"), shape, on_cpu)?.bytes(shape, dtype);
        Ok(weight + if bias { shape.0 * dtype.size_in_bytes() } else { 0 })
    }

    /// A weight matrix `[out, in]` with its optional bias.
    pub fn linear(
        &self,
        name: &str,
        shape: (usize, usize),
        bias: bool,
        dtype: DType,
        device: &Device,
    ) -> Result<Linear> {
        let weight_name = format!("{name}.weight");
        let held = self.held(&weight_name, shape, device.is_cpu())?;
        let weight = match held {
            Held::Quantized(format) if self.stored_format(&weight_name)? == Some(format) => {
                Matrix::Candle(QMatMul::from_qtensor(self.gguf_tensor(&weight_name, &[shape.0, shape.1], device)?)?)
            }
            Held::HostQ8 => Matrix::HostQ8(Q8Matrix::quantize(&self.values(&weight_name, shape)?, shape.0, shape.1)),
            Held::HostQ4(format) => {
                let blocks = match self.stored_format(&weight_name)? == Some(format) {
                    true => self.gguf_tensor(&weight_name, &[shape.0, shape.1], &Device::Cpu)?.data()?.into_owned(),
                    false => self.quantized(&weight_name, shape, format)?,
                };
                Matrix::HostQ4(Q4Matrix::from_ggml(format, &blocks, shape.0, shape.1))
            }
            Held::Quantized(format) => {
                let blocks = self.quantized(&weight_name, shape, format)?;
                Matrix::Candle(QMatMul::from_qtensor(qtensor_from_ggml(format, &blocks, vec![shape.0, shape.1], device)?)?)
            }
            Held::Dense => Matrix::Candle(QMatMul::Tensor(self.dense(&weight_name, &[shape.0, shape.1], dtype, device)?)),
        };
        let bias = match bias {
            true => Some(self.dense(&format!("{name}.bias"), &[shape.0], dtype, device)?),
            false => None,
        };
        Ok(Linear { weight, bias })
    }

    /// The block format a GGUF stores the tensor `name` in; `None` for other sources.
    fn stored_format(&self, name: &str) -> Result<Option<GgmlDType>> {
        match self {
            Weights::Gguf { file, .. } => Ok(Some(file.tensor_bytes(&gguf_name(name))?.0.dtype)),
            _ => Ok(None),
        }
    }

    /// The values of the matrix `name` (`[rows, cols]`, row-major) in f32 on the host,
    /// where a load quantizes them.
    fn values(&self, name: &str, (rows, cols): (usize, usize)) -> Result<Vec<f32>> {
        match self {
            Weights::Synthetic { seed, .. } => Ok(synthetic_values(*seed, name, rows * cols)),
            _ => Ok(self.dense(name, &[rows, cols], DType::F32, &Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?),
        }
    }

    /// The matrix `name` as GGML's blocks of `format`, quantized from its values.
    fn quantized(&self, name: &str, shape: (usize, usize), format: GgmlDType) -> Result<Vec<u8>> {
        let blocks = quantized_blocks(&self.values(name, shape)?, shape, format);
        blocks.map_err(|e| Error::model(self.origin(), format!("{name}: quantizing to {format:?}: {e}")))
    }

    /// Reads a GGUF tensor, undoing the row permutation llama.cpp's converter applies to
    /// Llama's q/k projections, so one rotary layout serves every source.
    fn gguf_tensor(&self, hf_name: &str, shape: &[usize], device: &Device) -> Result<QTensor> {
        let Weights::Gguf { file, family, heads, .. } = self else { unreachable!("gguf source") };
        let name = gguf_name(hf_name);
        let (info, bytes) = file.tensor_bytes(&name)?;
        self.check_shape(hf_name, &info.shape, shape)?;
        let permuted_heads = match (*family, hf_name) {
            (Family::Llama, n) if n.ends_with("q_proj.weight") => Some(heads.0),
            (Family::Llama, n) if n.ends_with("k_proj.weight") => Some(heads.1),
            _ => None,
        };
        let bytes = match permuted_heads {
            Some(n_heads) => std::borrow::Cow::Owned(unpermute_rows(bytes, info.shape[0], n_heads)),
            None => std::borrow::Cow::Borrowed(bytes),
        };
        let loaded = qtensor_from_ggml(info.dtype, &bytes, info.shape.clone(), device);
        loaded.map_err(|e| Error::model(file.path(), format!("tensor `{name}`: {e}")))
    }
}

/// How a matrix stored as `stored` (a GGUF's format; f32 for floats), with rows of
/// `cols`, of a model of `parameters` is held as `how` asks: in the format asked for, where its rows are whole
/// blocks of it (K-quants need 256), or as stored — and on the CPU, with rows of whole
/// blocks and unless asked to `Keep`, Q4_0 and Q4_1 (and Q4_K where the CPU has VNNI,
/// [`q4::runs_best`]) on the host 4-bit kernel, and Q8_0
/// asked for, or the formats [`Requantize::Auto`] re-encodes, on the host Q8_0 kernel
/// (dense f16/f32 matrices are never quantized unasked).
fn held_as(stored: GgmlDType, cols: usize, how: Requantize, on_cpu: bool, parameters: u64) -> Held {
    let format = match how {
        Requantize::To(format) if cols.is_multiple_of(format.block_size()) => format,
        _ => stored,
    };
    if on_cpu && how != Requantize::Keep && cols.is_multiple_of(q8::BLOCK) {
        if q4::runs_best(format) {
            return Held::HostQ4(format);
        }
        let k_quant = matches!(stored, GgmlDType::Q2K | GgmlDType::Q3K | GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K | GgmlDType::Q8K);
        let re_encoded = match how {
            Requantize::To(format) => format == GgmlDType::Q8_0,
            _ => !is_dense(stored) && (!k_quant || parameters <= AUTO_Q8_PARAMETERS),
        };
        if re_encoded {
            return Held::HostQ8;
        }
    }
    match is_dense(format) {
        true => Held::Dense,
        false => Held::Quantized(format),
    }
}

fn is_dense(format: GgmlDType) -> bool {
    matches!(format, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// llama.cpp stores each head's rows of Llama's q/k as interleaved pairs (row 2i and
/// 2i+1 rotate together); Hugging Face keeps halves (row i and i+d/2). Rows of a GGML
/// tensor are independent, so moving whole rows converts even a quantized matrix.
fn unpermute_rows(bytes: &[u8], rows: usize, n_heads: usize) -> Vec<u8> {
    let row_bytes = bytes.len() / rows;
    let head_dim = rows / n_heads;
    let half = head_dim / 2;
    let mut out = vec![0u8; bytes.len()];
    for h in 0..n_heads {
        for i in 0..half {
            for j in 0..2 {
                let from = h * head_dim + 2 * i + j;
                let to = h * head_dim + j * half + i;
                out[to * row_bytes..(to + 1) * row_bytes]
                    .copy_from_slice(&bytes[from * row_bytes..(from + 1) * row_bytes]);
            }
        }
    }
    out
}

/// The GGUF name of a Hugging Face tensor name.
pub fn gguf_name(hf: &str) -> String {
    if let Some(rest) = hf.strip_prefix("model.layers.") {
        let (layer, rest) = rest.split_once('.').unwrap_or((rest, ""));
        let mapped = [
            ("input_layernorm", "attn_norm"),
            ("post_attention_layernorm", "ffn_norm"),
            ("self_attn.q_proj", "attn_q"),
            ("self_attn.k_proj", "attn_k"),
            ("self_attn.v_proj", "attn_v"),
            ("self_attn.o_proj", "attn_output"),
            ("self_attn.q_norm", "attn_q_norm"),
            ("self_attn.k_norm", "attn_k_norm"),
            ("mlp.gate_proj", "ffn_gate"),
            ("mlp.up_proj", "ffn_up"),
            ("mlp.down_proj", "ffn_down"),
        ];
        for (hf_part, gguf_part) in mapped {
            if let Some(suffix) = rest.strip_prefix(hf_part) {
                return format!("blk.{layer}.{gguf_part}{suffix}");
            }
        }
        return format!("blk.{layer}.{rest}");
    }
    match hf {
        "model.embed_tokens.weight" => "token_embd.weight".into(),
        "model.norm.weight" => "output_norm.weight".into(),
        "lm_head.weight" => "output.weight".into(),
        other => other.into(),
    }
}

/// Deterministic random weights: N(0, 0.02²) like a fresh init, norms at one.
fn synthetic_tensor(seed: u64, name: &str, shape: &[usize], device: &Device) -> Result<Tensor> {
    if name.contains("norm") {
        return Ok(Tensor::ones(shape, DType::F32, device)?);
    }
    Ok(Tensor::from_vec(synthetic_values(seed, name, shape.iter().product()), shape, device)?)
}

/// `n` values of the tensor `name`, drawn in parts of their own seed so the 32B
/// preset's 32 billion take seconds on all cores, not minutes on one; the same values
/// whatever the thread count.
fn synthetic_values(seed: u64, name: &str, n: usize) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    use rayon::prelude::*;
    const PART: usize = 1 << 16;
    let tensor_seed = seed ^ u64::from_le_bytes(blake3::hash(name.as_bytes()).as_bytes()[..8].try_into().unwrap());
    // A uniform draw with the same variance as N(0, 0.02²); cheaper than Box-Muller.
    let bound = 0.02f32 * 3f32.sqrt();
    let mut values = vec![0f32; n];
    values.par_chunks_mut(PART).enumerate().for_each(|(i, part)| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(tensor_seed.wrapping_add(i as u64));
        part.iter_mut().for_each(|v| *v = rng.random_range(-bound..bound));
    });
    values
}

/// `values` (`[rows, cols]`, rows of whole blocks) as GGML's blocks of `format`, row
/// after row. candle quantizes on one thread, so parts of rows are quantized in
/// parallel here and their blocks joined.
fn quantized_blocks(values: &[f32], (_, cols): (usize, usize), format: GgmlDType) -> candle_core::Result<Vec<u8>> {
    use rayon::prelude::*;
    let rows_per_part = ((1 << 20) / cols).max(1);
    let parts = values
        .par_chunks(rows_per_part * cols)
        .map(|part| {
            let part = Tensor::from_slice(part, (part.len() / cols, cols), &Device::Cpu)?;
            Ok(QTensor::quantize(&part, format)?.data()?.into_owned())
        })
        .collect::<candle_core::Result<Vec<Vec<u8>>>>()?;
    Ok(parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::tiles::ByteDots;

    #[test]
    fn unpermute_inverts_llama_cpp_interleaving() {
        // Two heads of size 4, one byte per row: GGUF order pairs (0,2),(1,3) per head.
        let hf_rows: Vec<u8> = (0..8).collect();
        let mut gguf_rows = vec![0u8; 8];
        for h in 0..2 {
            for i in 0..2 {
                for j in 0..2 {
                    gguf_rows[h * 4 + 2 * i + j] = hf_rows[h * 4 + j * 2 + i];
                }
            }
        }
        assert_eq!(unpermute_rows(&gguf_rows, 8, 2), hf_rows);
    }

    #[test]
    fn quantizing_in_parts_gives_the_blocks_of_one_whole_quantization() {
        // 4,100 rows of 256: two parts of 4,096 rows and 4 left over.
        let (rows, cols) = (4100, 256);
        let values = synthetic_values(7, "w", rows * cols);
        for format in [GgmlDType::Q4_0, GgmlDType::Q4K] {
            let parts = quantized_blocks(&values, (rows, cols), format).unwrap();
            let whole = QTensor::quantize(&Tensor::from_slice(&values, (rows, cols), &Device::Cpu).unwrap(), format).unwrap();
            assert!(parts == whole.data().unwrap().as_ref(), "{format:?}: the same bytes");
        }
    }

    #[test]
    fn synthetic_values_do_not_depend_on_the_thread_count() {
        let n = (1 << 16) * 3 + 5;
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let alone = one.install(|| synthetic_values(3, "t", n));
        assert_eq!(alone, synthetic_values(3, "t", n));
        assert_ne!(alone[..10], synthetic_values(3, "u", n)[..10], "each tensor has its own values");
        let bound = 0.02f32 * 3f32.sqrt();
        assert!(alone.iter().all(|v| v.abs() <= bound));
        assert!(alone[..1 << 16] != alone[1 << 16..2 << 16], "each part has its own stream");
    }

    /// A Q4_K GGUF matrix loads onto the 4-bit kernel under `auto` where the CPU has VNNI,
    /// as before elsewhere, and computes the file's weights either way.
    #[test]
    fn q4_k_loads_onto_the_4_bit_kernel_where_the_cpu_has_vnni() {
        let (rows, cols) = (40, 512);
        let values = synthetic_values(11, "w", rows * cols);
        let stored = QTensor::quantize(&Tensor::from_slice(&values, (rows, cols), &Device::Cpu).unwrap(), GgmlDType::Q4K).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q4k.gguf");
        super::super::gguf::write(&path, &[], &[("blk.0.ffn_down.weight", &stored)]).unwrap();
        let name = "model.layers.0.mlp.down_proj";
        let (small, large) = (1_000_000_000, 7_000_000_000);
        let weights = |requantize, parameters| Weights::gguf(GgufFile::open(&path).unwrap(), requantize, Family::Qwen2, (1, 1), parameters);
        let held = |requantize, parameters, on_cpu| weights(requantize, parameters).held(&format!("{name}.weight"), (rows, cols), on_cpu).unwrap();
        let vnni = ByteDots::best().is_some_and(|way| way != ByteDots::Avx2);
        for parameters in [small, large] {
            let otherwise = if parameters <= AUTO_Q8_PARAMETERS { Held::HostQ8 } else { Held::Quantized(GgmlDType::Q4K) };
            assert_eq!(held(Requantize::Auto, parameters, true), if vnni { Held::HostQ4(GgmlDType::Q4K) } else { otherwise });
            assert_eq!(held(Requantize::Keep, parameters, true), Held::Quantized(GgmlDType::Q4K));
            assert_eq!(held(Requantize::Auto, parameters, false), Held::Quantized(GgmlDType::Q4K));
        }
        // The loaded matrix against the file's weights dequantized: within what quantizing
        // the activations costs, as candle's kernel is.
        let xs = Tensor::from_slice(&synthetic_values(12, "x", 3 * cols), (3, cols), &Device::Cpu).unwrap();
        let exact = xs.matmul(&stored.dequantize(&Device::Cpu).unwrap().t().unwrap()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for requantize in [Requantize::Auto, Requantize::Keep] {
            let linear = weights(requantize, large).linear(name, (rows, cols), false, DType::F32, &Device::Cpu).unwrap();
            let got = linear.forward(&xs).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let off = got.iter().zip(&exact).fold(0f32, |m, (g, e)| m.max((g - e).abs()));
            let largest = exact.iter().fold(0f32, |m, e| m.max(e.abs()));
            assert!(off <= 0.02 * largest, "{requantize:?}: off by {off}, products up to {largest}");
        }
    }

    #[test]
    fn gguf_names_follow_llama_cpp() {
        assert_eq!(gguf_name("model.layers.3.self_attn.q_proj.bias"), "blk.3.attn_q.bias");
        assert_eq!(gguf_name("model.layers.0.mlp.down_proj.weight"), "blk.0.ffn_down.weight");
        assert_eq!(gguf_name("model.embed_tokens.weight"), "token_embd.weight");
        assert_eq!(gguf_name("lm_head.weight"), "output.weight");
    }
}
