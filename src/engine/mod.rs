//! The engine: our own decoder on candle, its weights, tokenizer, chat template and
//! sampler.
//!
//! [`Decoder::forward`] is the one primitive: a packed, ragged batch of sequences, each
//! at its own position with its own blocks of the paged KV cache. [`BatchEngine`]
//! drives it with continuous batching; [`Model::generate`] is that engine with one
//! request.

pub mod batch;
pub mod blocks;
pub mod chat;
pub mod config;
pub mod constraint;
pub mod fit;
mod flash;
mod gathered;
pub mod gguf;
mod host_attention;
pub mod kv;
pub mod model;
pub mod placement;
pub mod q4;
pub mod q8;
pub mod sampler;
pub mod scheduler;
pub mod step;
mod swiglu;
pub mod synthetic;
mod tiles;
pub mod tokenizer;
mod vmath;
pub mod weights;

use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::{DType, Device};

pub use chat::{ChatTemplate, Message};
pub use config::{Family, ModelConfig};
pub use batch::{BatchConfig, BatchEngine, BatchStats, Completion, EnergyMeter, EngineOptions, Limit, Output, Request, SLOW_STEP_ENV};
pub use kv::{AttentionBackend, PagedKvCache};
pub use step::{SeqChunk, SeqId};
pub use model::{Decoder, StepOutput};
pub use placement::{Footprint, Placement, Stage};
pub use sampler::{AnswerEnd, FinishReason, Sampler, SamplingParams};
pub use tokenizer::Tokenizer;
pub use weights::Requantize;

use crate::{Error, Result};

/// Where a model comes from, as written on the command line or in a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// A Hugging Face model directory: config.json, *.safetensors, tokenizer.json.
    HfDir(PathBuf),
    /// A single GGUF file with its tokenizer inside.
    Gguf(PathBuf),
    /// `synthetic:<preset>[:layers=N]`: random weights of a preset's shapes, optionally
    /// with fewer layers so a large model's layer fits a small machine.
    Synthetic {
        /// One of [`synthetic::PRESETS`].
        preset: String,
        /// Overrides the preset's layer count.
        layers: Option<usize>,
    },
}

/// The name that stands for the small real model `scripts/fetch-model.sh` caches:
/// SmolLM2-135M-Instruct (Q4_1 GGUF), the default that works out of the box.
pub const DEFAULT_MODEL: &str = "smollm2";

/// Where [`DEFAULT_MODEL`] lives: `$HEARTH_SMOLLM2`, else
/// `${HEARTH_CACHE:-~/.cache/hearth}/SmolLM2-135M-Instruct.Q4_1.gguf` (as the script writes it).
pub fn default_model_path() -> PathBuf {
    if let Some(path) = std::env::var_os("HEARTH_SMOLLM2") {
        return PathBuf::from(path);
    }
    cache_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Whether the CPU has the AVX2 and FMA the host SIMD kernels use (Q8_0 matmul,
/// attention); the portable build targets baseline x86-64, so they are chosen at run time.
pub(crate) fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// hearth's cache of fetched things (the test model, the benchmark peer's venv):
/// `$HEARTH_CACHE`, else `~/.cache/hearth`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("HEARTH_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => home().join(".cache/hearth"),
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

impl std::str::FromStr for ModelSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<ModelSource> {
        if s == DEFAULT_MODEL {
            let path = default_model_path();
            if !path.is_file() {
                return Err(Error::model(&path, "the default model is not fetched yet: run scripts/fetch-model.sh"));
            }
            return Ok(ModelSource::Gguf(path));
        }
        if let Some(rest) = s.strip_prefix("synthetic:") {
            let (preset, layers) = match rest.split_once(":layers=") {
                Some((p, n)) => {
                    let n = n.parse().map_err(|_| Error::Config(format!("{s}: layers must be a number")))?;
                    (p, Some(n))
                }
                None => (rest, None),
            };
            synthetic::preset(preset)?;
            return Ok(ModelSource::Synthetic { preset: preset.to_string(), layers });
        }
        let path = match s.strip_prefix("~/") {
            Some(rest) => home().join(rest),
            None => PathBuf::from(s),
        };
        if path.is_dir() {
            Ok(ModelSource::HfDir(path))
        } else if path.is_file() {
            Ok(ModelSource::Gguf(path))
        } else {
            Err(Error::model(&path, "no such model file or directory"))
        }
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::HfDir(p) | ModelSource::Gguf(p) => write!(f, "{}", p.display()),
            ModelSource::Synthetic { preset, layers: None } => write!(f, "synthetic:{preset}"),
            ModelSource::Synthetic { preset, layers: Some(n) } => write!(f, "synthetic:{preset}:layers={n}"),
        }
    }
}

/// The seed of every synthetic model's weights: the same preset is the same model.
const SYNTHETIC_SEED: u64 = 0x6865_6172_7468;

/// Weight files up to this size are hashed whole; larger ones are sampled.
const FULL_HASH_BYTES: u64 = 1 << 30;
/// Windows read from a larger file, evenly spaced, and their size.
const HASH_WINDOWS: u64 = 64;
const HASH_WINDOW_BYTES: usize = 1 << 20;

impl ModelSource {
    /// A short content hash of the model, part of every output row's cache key: other
    /// weights (a new quantisation, a fine-tune) mean other answers. Files up to 1 GiB
    /// are hashed whole; a larger one by its length and 64 evenly spaced 1 MiB windows,
    /// so a nightly run over a 32B model does not read 60 GB first. (A same-size edit
    /// that misses every window would go unnoticed; a re-quantised or retrained model
    /// changes bytes everywhere.)
    pub fn fingerprint(&self) -> Result<String> {
        let mut hasher = blake3::Hasher::new();
        match self {
            ModelSource::Synthetic { .. } => {
                hasher.update(format!("{self}:seed={SYNTHETIC_SEED}").as_bytes());
            }
            ModelSource::Gguf(path) => hash_file(&mut hasher, path)?,
            ModelSource::HfDir(dir) => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                    .map_err(|e| Error::io(dir, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json" || e == "safetensors"))
                    .collect();
                files.sort();
                for file in files {
                    hasher.update(file.file_name().unwrap_or_default().as_encoded_bytes());
                    hash_file(&mut hasher, &file)?;
                }
            }
        }
        Ok(hasher.finalize().to_hex()[..16].to_string())
    }
}

fn hash_file(hasher: &mut blake3::Hasher, path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    hasher.update(&len.to_le_bytes());
    if len <= FULL_HASH_BYTES {
        hasher.update_reader(&mut file).map_err(|e| Error::io(path, e))?;
        return Ok(());
    }
    let mut window = vec![0u8; HASH_WINDOW_BYTES];
    let stride = (len - HASH_WINDOW_BYTES as u64) / (HASH_WINDOWS - 1);
    for i in 0..HASH_WINDOWS {
        file.seek(SeekFrom::Start(i * stride)).map_err(|e| Error::io(path, e))?;
        file.read_exact(&mut window).map_err(|e| Error::io(path, e))?;
        hasher.update(&window);
    }
    Ok(())
}

/// A device by name: `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceName {
    /// The host's cores.
    Cpu,
    /// A CUDA GPU by ordinal.
    Cuda(usize),
}

impl std::fmt::Display for DeviceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceName::Cpu => write!(f, "cpu"),
            DeviceName::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl std::str::FromStr for DeviceName {
    type Err = Error;
    fn from_str(name: &str) -> Result<DeviceName> {
        if name == "cpu" {
            return Ok(DeviceName::Cpu);
        }
        name.strip_prefix("cuda")
            .map(|n| n.trim_start_matches(':'))
            .and_then(|n| if n.is_empty() { Some(0) } else { n.parse().ok() })
            .map(DeviceName::Cuda)
            .ok_or_else(|| Error::Config(format!("unknown device `{name}` (cpu, cuda, cuda:N)")))
    }
}

impl DeviceName {
    /// The candle device; a CUDA one needs the `cuda` feature and a card this build's
    /// kernels run on.
    pub fn open(&self) -> Result<Device> {
        match self {
            DeviceName::Cpu => Ok(Device::Cpu),
            DeviceName::Cuda(n) => {
                let device = Device::new_cuda(*n)?;
                if let (Some(built), Some(facts)) = (built_compute_capability(), DeviceFacts::of(&device)) {
                    if let Some(why) = kernels_unrunnable(built, facts.compute_capability) {
                        return Err(Error::Config(format!("{self}: {why}")));
                    }
                }
                Ok(device)
            }
        }
    }
}

/// The compute capability this build's CUDA kernels were compiled for: the
/// `CUDA_COMPUTE_CAP` it was built with (`scripts/build-cuda.sh` always sets one), or
/// `None` when unknown.
pub fn built_compute_capability() -> Option<(i32, i32)> {
    let cap: i32 = option_env!("HEARTH_CUDA_COMPUTE_CAP")?.parse().ok()?;
    Some((cap / 10, cap % 10))
}

/// Why a card of compute capability `card` cannot run kernels compiled for `built`, if
/// it cannot. candle's GGUF matmul kernels (and flash-attn's) are machine code for one
/// architecture, which runs on cards of the same major version and at least its minor
/// one; from 9.0 on cudaforge compiles for the `a` variant (sm_90a), which runs on its
/// own version only. Without this a carried binary fails at its first kernel, with a
/// message naming neither the card nor the build.
pub fn kernels_unrunnable(built: (i32, i32), card: (i32, i32)) -> Option<String> {
    let runs = if built.0 >= 9 { card == built } else { card.0 == built.0 && card.1 >= built.1 };
    (!runs).then(|| {
        format!(
            "a compute capability {}.{} card, and this hearth's CUDA kernels are built for {}.{}; \
             build one for it with CUDA_COMPUTE_CAP={}{} scripts/build-cuda.sh",
            card.0, card.1, built.0, built.1, card.0, card.1
        )
    })
}

/// What a device says about itself, for choices made at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceFacts {
    /// CUDA compute capability (major, minor).
    pub compute_capability: (i32, i32),
    /// Device memory free now, in bytes.
    pub free_memory: usize,
    /// Device memory in all, in bytes.
    pub total_memory: usize,
}

impl DeviceFacts {
    /// A CUDA device's facts; `None` on the CPU (and in builds without `cuda`).
    pub fn of(device: &Device) -> Option<DeviceFacts> {
        #[cfg(feature = "cuda")]
        if let Ok(cuda) = device.as_cuda_device() {
            let context = cuda.cuda_stream().context().clone();
            let (free_memory, total_memory) = context.mem_get_info().ok()?;
            let compute_capability = context.compute_capability().ok()?;
            return Some(DeviceFacts { compute_capability, free_memory, total_memory });
        }
        let _ = device;
        None
    }

    /// The activation and dense-weight type a GPU computes in when none is asked for:
    /// bf16 from compute capability 8.0 (Ampere) on; f16 before it, since Volta,
    /// Turing and the P100 have no bf16 arithmetic (candle builds its bf16 kernels
    /// for sm_80 and later only). Compute capability 6.1 and 6.2 (P40, GTX 10xx) do
    /// f16 arithmetic at 1/64 of their f32 rate (CUDA's arithmetic-throughput table:
    /// 2 half results per clock per SM against 128 floats), so they compute in f32.
    pub fn default_dtype(&self) -> DType {
        match self.compute_capability {
            (8.., _) => DType::BF16,
            (6, 1..=2) => DType::F32,
            _ => DType::F16,
        }
    }

    /// What a model on `cards` (none: the CPU) computes in: `asked`, else f32 on the CPU
    /// and the oldest card's [`DeviceFacts::default_dtype`], since a split over cards of
    /// different generations computes in what the oldest can; refused when that card
    /// cannot compute in it. What a load and a plan both choose by.
    pub fn compute_dtype(cards: impl IntoIterator<Item = DeviceFacts>, asked: Option<DType>) -> std::result::Result<DType, String> {
        let oldest = cards.into_iter().min_by_key(|f| f.compute_capability);
        let dtype = asked.unwrap_or_else(|| oldest.map_or(DType::F32, |f| f.default_dtype()));
        if let Some(facts) = oldest {
            facts.computes_in(dtype)?;
        }
        Ok(dtype)
    }

    /// Whether this card can compute in `dtype`: candle builds its bf16 kernels for
    /// compute capability 8.0 and later only, so bf16 on an older card would fail at its
    /// first kernel with a message naming neither the card nor the choice.
    pub fn computes_in(&self, dtype: DType) -> std::result::Result<(), String> {
        let (major, minor) = self.compute_capability;
        if dtype == DType::BF16 && major < 8 {
            return Err(format!("bf16 needs a GPU of compute capability 8.0 or later and this one is {major}.{minor}; ask for f16 or f32 (`dtype`)"));
        }
        Ok(())
    }
}

/// The type activations and dense weights are computed in, as asked for: `auto` is
/// f32 on the CPU and [`DeviceFacts::default_dtype`] on a GPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// The device's own choice.
    #[default]
    Auto,
    /// 32-bit floats: how a GPU run is checked against the CPU's.
    F32,
    /// bfloat16 (Ampere and later).
    Bf16,
    /// IEEE half precision.
    F16,
}

impl Precision {
    /// The type asked for; `None` leaves it to the device.
    pub fn dtype(self) -> Option<DType> {
        match self {
            Precision::Auto => None,
            Precision::F32 => Some(DType::F32),
            Precision::Bf16 => Some(DType::BF16),
            Precision::F16 => Some(DType::F16),
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" => Precision::Auto,
            "f32" => Precision::F32,
            "bf16" => Precision::Bf16,
            "f16" => Precision::F16,
            other => return Err(format!("unknown dtype `{other}` (auto, f32, bf16, f16)")),
        })
    }
}

/// How to load a model.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Where the weights and the computation live: one device, or several that split
    /// the layers in order ([`Stage::plan`]).
    pub devices: Vec<Device>,
    /// Activation and dense-weight type; `None` picks f32 on CPU and on a GPU
    /// [`DeviceFacts::default_dtype`] (bf16; before Ampere f16, or f32 on a P40-class card).
    /// f32 asked for also keeps the host's KV cache in f32 (otherwise f16:
    /// [`kv::host_kv_dtype`]).
    pub dtype: Option<DType>,
    /// How the weight matrices are held: a GGUF's blocks as stored or re-encoded, a
    /// checkpoint's or a synthetic preset's floats dense or quantized as they load.
    pub requantize: Requantize,
    /// The layers each of `devices` holds where a split beside the host fixes them
    /// (`cuda:0=40+cpu`); empty, or `None` for a device, where memory decides.
    pub layers: Vec<Option<usize>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { devices: vec![Device::Cpu], dtype: None, requantize: Requantize::Auto, layers: Vec::new() }
    }
}

impl LoadOptions {
    /// The model on `placement`'s devices, opened now, with the layer counts its
    /// entries fix; the weights as [`LoadOptions::default`] holds them.
    pub fn on(placement: &Placement) -> Result<LoadOptions> {
        Ok(LoadOptions { devices: placement.open()?, layers: placement.layer_counts().to_vec(), ..LoadOptions::default() })
    }
}

/// A decoder with everything needed to turn text into text.
pub struct Model {
    /// The network.
    pub decoder: Decoder,
    /// Text ↔ ids.
    pub tokenizer: Tokenizer,
    /// Conversation → prompt text.
    pub chat: ChatTemplate,
    /// Where it came from, for provenance.
    pub source: ModelSource,
    /// The constrained-sampling index of the vocabulary, built on first use.
    grammar: std::sync::OnceLock<std::result::Result<constraint::GrammarCompiler, String>>,
}

/// The result of one generation.
#[derive(Clone, Debug)]
pub struct Generation {
    /// Generated token ids (the stop string's tokens included, EOS excluded).
    pub tokens: Vec<u32>,
    /// Generated text, cut before a stop string.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Time to process the prompt and produce the first logits.
    pub prefill: Duration,
    /// Time for the rest.
    pub decode: Duration,
}

/// Prompt tokens processed per forward step when a prompt is long, bounding the memory
/// one step needs.
pub const PREFILL_CHUNK: usize = 512;

impl Model {
    /// Loads a model from `source`.
    pub fn load(source: &ModelSource, options: &LoadOptions) -> Result<Model> {
        let devices = &options.devices;
        let dtype = DeviceFacts::compute_dtype(devices.iter().filter_map(DeviceFacts::of), options.dtype)
            .map_err(|m| Error::model(source.to_string(), m))?;
        let (config, weights) = open(source, options.requantize)?;
        let (tokenizer, chat) = tokenizer_and_chat(source, &weights)?;
        let decoder = Decoder::load(&weights, config, dtype, devices, &options.layers, kv::host_kv_dtype(options.dtype))?;
        // What the load took, beside what `hearth plan` said it would.
        let stages = decoder.stages();
        let ranges: Vec<_> = stages.iter().map(|s| s.layers.clone()).collect();
        for (stage, bytes) in stages.iter().zip(decoder.weight_bytes().per_stage(&ranges)) {
            tracing::info!("{source}: layers {:?} on {:?}, {} MiB of weights in {:?}", stage.layers, stage.device.location(), bytes >> 20, stage.dtype);
        }
        Ok(Model { decoder, tokenizer, chat, source: source.clone(), grammar: std::sync::OnceLock::new() })
    }

    /// Compiles grammars for this model's vocabulary (built on the first call).
    pub fn grammar(&self) -> std::result::Result<&constraint::GrammarCompiler, String> {
        let built = self.grammar.get_or_init(|| {
            constraint::GrammarCompiler::new(&self.tokenizer, self.decoder.config().vocab_size)
        });
        built.as_ref().map_err(Clone::clone)
    }

    /// The prompt ids for a conversation, through the model's chat template.
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        self.tokenizer.encode(&self.chat.render(messages, true)?)
    }

    /// Generates a continuation of `prompt` alone, through the batching engine with a
    /// KV pool sized for this one request.
    pub fn generate(&self, prompt: &[u32], params: SamplingParams) -> Result<Generation> {
        self.generate_with(prompt, params, AttentionBackend::Auto)
    }

    /// [`Model::generate`] with `attention` reading the KV pool, so that two attention
    /// implementations can be held against each other on one device.
    pub fn generate_with(&self, prompt: &[u32], params: SamplingParams, attention: AttentionBackend) -> Result<Generation> {
        let config = self.decoder.config();
        let block_size = self.decoder.kv_block_size(attention);
        let tokens = (prompt.len() + params.max_new_tokens).min(config.max_context) + block_size;
        let batch = BatchConfig {
            max_batched_tokens: PREFILL_CHUNK,
            max_seqs: 1,
            block_size,
            kv_memory: tokens.div_ceil(block_size) * self.decoder.kv_bytes_per_block(block_size, attention),
            attention,
        };
        let mut engine = BatchEngine::new(self, batch)?;
        let request = Request { id: 0, prompt: prompt.to_vec(), params };
        let mut result = None;
        engine.run([request], |c| result = Some(c.result))?;
        let output = result.expect("the engine completes every request").map_err(Error::Request)?;
        let stats = engine.stats();
        Ok(Generation {
            tokens: output.tokens,
            text: output.text,
            finish: output.finish,
            prompt_tokens: output.prompt_tokens,
            prefill: stats.prefill_time,
            decode: stats.decode_time,
        })
    }

    /// A unit-length embedding of `tokens`, pooled from the final hidden states.
    pub fn embed(&self, tokens: &[u32], pooling: Pooling) -> Result<Vec<f32>> {
        let mut results = self.embed_batch(&[tokens], pooling, AttentionBackend::Auto)?;
        results.pop().expect("one result per input").map_err(Error::Request)
    }

    /// Unit-length embeddings of many inputs. Short inputs are packed together into
    /// forward steps of up to [`PREFILL_CHUNK`] tokens; a longer one runs alone, chunk
    /// by chunk. An input that cannot be embedded (empty, over the context, a token
    /// outside the vocabulary) gets its own error; the others are unaffected. `attention`
    /// reads the inputs' KV blocks, as in generation (a pipeline's `[engine] attention`).
    pub fn embed_batch(
        &self,
        inputs: &[&[u32]],
        pooling: Pooling,
        attention: AttentionBackend,
    ) -> Result<Vec<std::result::Result<Vec<f32>, String>>> {
        let config = self.decoder.config();
        let attention = self.decoder.attention(attention)?;
        let mut results: Vec<Option<std::result::Result<Vec<f32>, String>>> = vec![None; inputs.len()];
        // Valid inputs, packed in order into groups of at most PREFILL_CHUNK tokens
        // (a longer input forms a group of its own).
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_tokens = 0;
        for (i, tokens) in inputs.iter().enumerate() {
            if tokens.is_empty() || tokens.len() > config.max_context {
                results[i] = Some(Err(format!("cannot embed {} tokens (the context is {})", tokens.len(), config.max_context)));
                continue;
            }
            if let Some(bad) = tokens.iter().find(|&&t| t as usize >= config.vocab_size) {
                results[i] = Some(Err(format!("token id {bad} is outside the vocabulary")));
                continue;
            }
            match groups.last_mut() {
                Some(group) if group_tokens + tokens.len() <= PREFILL_CHUNK => group.push(i),
                _ => {
                    groups.push(vec![i]);
                    group_tokens = 0;
                }
            }
            group_tokens += tokens.len();
        }
        for group in groups {
            let members: Vec<&[u32]> = group.iter().map(|&g| inputs[g]).collect();
            for (g, vector) in group.into_iter().zip(self.embed_group(&members, pooling, attention)?) {
                results[g] = Some(Ok(vector));
            }
        }
        Ok(results.into_iter().map(|r| r.expect("every input is embedded or refused")).collect())
    }

    /// Runs valid inputs together, each with its own blocks of one KV pool.
    fn embed_group(&self, inputs: &[&[u32]], pooling: Pooling, attention: AttentionBackend) -> Result<Vec<Vec<f32>>> {
        let config = self.decoder.config();
        let block_size = self.decoder.kv_block_size(attention);
        let mut next_block = 0u32;
        let tables: Vec<Vec<u32>> = inputs
            .iter()
            .map(|t| {
                let n = t.len().div_ceil(block_size) as u32;
                next_block += n;
                (next_block - n..next_block).collect()
            })
            .collect();
        let mut kv = self.decoder.kv_cache(next_block as usize, block_size, attention)?;
        let mut pooled = vec![vec![0f32; config.hidden_size]; inputs.len()];
        let longest = inputs.iter().map(|t| t.len()).max().unwrap_or(0);
        for offset in (0..longest).step_by(PREFILL_CHUNK) {
            let mut tokens = Vec::new();
            let mut chunks = Vec::new();
            for (i, input) in inputs.iter().enumerate().filter(|(_, t)| t.len() > offset) {
                let end = (offset + PREFILL_CHUNK).min(input.len());
                chunks.push(SeqChunk {
                    id: i as SeqId,
                    start: tokens.len(),
                    len: end - offset,
                    past: offset,
                    wants_logits: false,
                    blocks: tables[i].clone(),
                });
                tokens.extend_from_slice(&input[offset..end]);
            }
            let out = self.decoder.forward(&tokens, &chunks, &mut kv, true)?;
            let hidden = out.hidden.expect("asked for hidden states").to_dtype(DType::F32)?.to_vec2::<f32>()?;
            for chunk in &chunks {
                let i = chunk.id as usize;
                let rows = &hidden[chunk.start..chunk.start + chunk.len];
                match pooling {
                    Pooling::Mean => {
                        for row in rows {
                            pooled[i].iter_mut().zip(row).for_each(|(p, x)| *p += x);
                        }
                    }
                    Pooling::Last if chunk.past + chunk.len == inputs[i].len() => {
                        pooled[i].copy_from_slice(rows.last().expect("chunks are not empty"))
                    }
                    Pooling::Last => {}
                }
            }
        }
        // The mean's division by the length disappears in the normalisation.
        for vector in &mut pooled {
            let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(pooled)
    }
}

/// How final hidden states become one embedding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean over all tokens.
    #[default]
    Mean,
    /// The last token's state: what causal embedding models (gte-Qwen2,
    /// Qwen3-Embedding) are trained to use.
    Last,
}

/// A model's shapes and its tensors' source, opened without reading a tensor (a GGUF's
/// header and a safetensors file's are read and checked).
fn open(source: &ModelSource, requantize: Requantize) -> Result<(ModelConfig, weights::Weights)> {
    match source {
        ModelSource::HfDir(dir) => {
            let config_path = dir.join("config.json");
            if !config_path.is_file() {
                return Err(Error::model(dir, "config.json is missing: not a Hugging Face model directory"));
            }
            let config = ModelConfig::from_hf_json(&config_path)?;
            Ok((config, weights::Weights::safetensors(dir, requantize)?))
        }
        ModelSource::Gguf(path) => {
            let file = gguf::GgufFile::open(path)?;
            let config = config_from_gguf(&file)?;
            let (heads, family, parameters) = ((config.num_heads, config.num_kv_heads), config.family, config.parameter_count());
            Ok((config, weights::Weights::gguf(file, requantize, family, heads, parameters)))
        }
        ModelSource::Synthetic { preset, layers } => {
            let mut config = synthetic::preset(preset)?;
            config.num_layers = layers.unwrap_or(config.num_layers);
            config.validate().map_err(|m| Error::model(source.to_string(), m))?;
            Ok((config, weights::Weights::Synthetic { seed: SYNTHETIC_SEED, requantize }))
        }
    }
}

/// What the weights of `source` will take, loaded as `requantize` asks and computing in
/// `dtype`, on the CPU (`on_cpu`) or on GPUs; read from headers and shapes alone, so a
/// 32B model is planned for in milliseconds. Equal to the loaded
/// [`Decoder::weight_bytes`].
pub fn footprint(source: &ModelSource, requantize: Requantize, dtype: DType, on_cpu: bool) -> Result<(ModelConfig, Footprint)> {
    let (config, weights) = open(source, requantize)?;
    let footprint = Decoder::footprint(&weights, &config, dtype, on_cpu)?;
    Ok((config, footprint))
}

/// How a model turns a conversation into prompt ids, and the context it holds: its
/// tokenizer and chat template without its weights, so a dry run counts a prompt's
/// tokens for a 32B model in the time its file's header takes to read.
pub struct PromptFormat {
    /// Text ↔ ids.
    pub tokenizer: Tokenizer,
    /// Conversation → prompt text.
    pub chat: ChatTemplate,
    /// The longest sequence the model was trained for.
    pub max_context: usize,
}

impl PromptFormat {
    /// The prompt format of the model at `source`.
    pub fn of(source: &ModelSource) -> Result<PromptFormat> {
        let (config, weights) = open(source, Requantize::Keep)?;
        let (tokenizer, chat) = tokenizer_and_chat(source, &weights)?;
        Ok(PromptFormat { tokenizer, chat, max_context: config.max_context })
    }
}

/// The tokenizer and chat template of the model `weights` were opened from.
fn tokenizer_and_chat(source: &ModelSource, weights: &weights::Weights) -> Result<(Tokenizer, ChatTemplate)> {
    match (source, weights) {
        (ModelSource::HfDir(dir), _) => hf_tokenizer(dir),
        (_, weights::Weights::Gguf { file, .. }) => gguf_tokenizer(file),
        _ => Ok((synthetic::tokenizer()?, ChatTemplate::new(chat::CHATML, "", "<|im_end|>")?)),
    }
}

/// The tokenizer and chat template of a Hugging Face model directory.
fn hf_tokenizer(dir: &Path) -> Result<(Tokenizer, ChatTemplate)> {
    let tokenizer_path = dir.join("tokenizer.json");
    if !tokenizer_path.is_file() {
        return Err(Error::model(dir, "tokenizer.json is missing"));
    }
    let mut tokenizer = Tokenizer::from_file(&tokenizer_path)?;

    // tokenizer_config.json: chat template and special tokens (strings or {content}).
    let tc_path = dir.join("tokenizer_config.json");
    let tc: serde_json::Value = match std::fs::read_to_string(&tc_path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| Error::model(&tc_path, e))?,
        Err(_) => serde_json::Value::Null,
    };
    let token_text = |key: &str| match &tc[key] {
        serde_json::Value::String(s) => Some(s.clone()),
        v => v["content"].as_str().map(str::to_string),
    };
    let template = match &tc["chat_template"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(list) => list
            .iter()
            .find(|t| t["name"] == "default")
            .and_then(|t| t["template"].as_str())
            .unwrap_or(chat::CHATML)
            .to_string(),
        _ => chat::CHATML.to_string(),
    };
    let bos = token_text("bos_token");
    let eos = token_text("eos_token");
    tokenizer.add_bos = tc["add_bos_token"].as_bool().unwrap_or(false);
    tokenizer.bos = bos.clone();
    let mut eos_ids: Vec<u32> = eos.iter().filter_map(|t| tokenizer.token_id(t)).collect();
    for file in ["config.json", "generation_config.json"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        match &json["eos_token_id"] {
            serde_json::Value::Number(n) => eos_ids.extend(n.as_u64().map(|n| n as u32)),
            serde_json::Value::Array(ids) => eos_ids.extend(ids.iter().filter_map(|n| n.as_u64()).map(|n| n as u32)),
            _ => {}
        }
    }
    tokenizer.eos_ids = eos_ids;
    tokenizer.end_at_turn_ends();
    let chat = ChatTemplate::new(&template, bos.as_deref().unwrap_or(""), eos.as_deref().unwrap_or(""))?;

    Ok((tokenizer, chat))
}

/// The tokenizer and chat template inside a GGUF.
fn gguf_tokenizer(file: &gguf::GgufFile) -> Result<(Tokenizer, ChatTemplate)> {
    let mut tokenizer = Tokenizer::from_gguf(file)?;
    if let Ok(eot) = file.integer("tokenizer.ggml.eot_token_id") {
        tokenizer.eos_ids.push(eot as u32);
    }
    tokenizer.end_at_turn_ends();
    let template = file.string("tokenizer.chat_template").unwrap_or(chat::CHATML);
    let eos = tokenizer.eos_ids.first().and_then(|&i| tokenizer.token(i)).unwrap_or_default();
    let chat = ChatTemplate::new(template, tokenizer.bos.as_deref().unwrap_or(""), &eos)?;
    Ok((tokenizer, chat))
}

/// Reads the `<arch>.*` hyper-parameters llama.cpp writes.
fn config_from_gguf(file: &gguf::GgufFile) -> Result<ModelConfig> {
    let arch = file.string("general.architecture")?;
    let family = Family::from_name(arch).ok_or_else(|| {
        Error::model(file.path(), format!("unsupported architecture `{arch}`; hearth runs llama, qwen2 and qwen3"))
    })?;
    let int = |key: &str| file.integer(&format!("{arch}.{key}")).map(|v| v as usize);
    if let Ok(kind) = file.string(&format!("{arch}.rope.scaling.type")) {
        if kind != "none" {
            return Err(Error::model(file.path(), format!("rope scaling `{kind}` is not supported")));
        }
    }
    let hidden_size = int("embedding_length")?;
    let num_heads = int("attention.head_count")?;
    let vocab_size = match int("vocab_size") {
        Ok(v) => v,
        Err(_) => file.array("tokenizer.ggml.tokens")?.len(),
    };
    let config = ModelConfig {
        family,
        vocab_size,
        hidden_size,
        intermediate_size: int("feed_forward_length")?,
        num_layers: int("block_count")?,
        num_heads,
        num_kv_heads: int("attention.head_count_kv").unwrap_or(num_heads),
        head_dim: int("attention.key_length").unwrap_or(hidden_size / num_heads.max(1)),
        max_context: int("context_length")?,
        rms_norm_eps: file.float(&format!("{arch}.attention.layer_norm_rms_epsilon"))?,
        rope_theta: file.float(&format!("{arch}.rope.freq_base")).unwrap_or(10_000.0),
        tie_word_embeddings: !file.tensors.contains_key("output.weight"),
        qkv_bias: file.tensors.contains_key("blk.0.attn_q.bias"),
        qk_norm: family == Family::Qwen3,
    };
    config.validate().map_err(|m| Error::model(file.path(), m))?;
    Ok(config)
}
