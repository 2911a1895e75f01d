//! The engine against references: candle-transformers' models on the same weights,
//! llama.cpp's tokenizer ids, and a real model (SmolLM2-135M-Instruct, fetched by
//! `scripts/fetch-model.sh`); and against corrupt or crafted model files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use hearth::engine::{
    gguf, synthetic, AttentionBackend, LoadOptions, Message, Model, ModelSource, Pooling, Requantize, SamplingParams, SeqChunk,
};
use hearth::engine::PagedKvCache;

const VOCAB: usize = 300;
const HIDDEN: usize = 64;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = HIDDEN / HEADS;
const INTER: usize = 128;
const LAYERS: usize = 2;

#[derive(Clone, Copy, PartialEq)]
enum Arch {
    Llama,
    Qwen2,
    Qwen3,
}

/// Random weights with the real Hugging Face names and layouts of `arch`.
fn tiny_weights(arch: Arch, seed: u64) -> HashMap<String, Tensor> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut w = HashMap::new();
    let mut put = |name: String, shape: &[usize], norm: bool| {
        let (center, spread) = if norm { (1.0, 0.2) } else { (0.0, 0.1) };
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| center + rng.random_range(-spread..spread)).collect();
        w.insert(name, Tensor::from_vec(values, shape, &Device::Cpu).unwrap());
    };
    put("model.embed_tokens.weight".into(), &[VOCAB, HIDDEN], false);
    put("model.norm.weight".into(), &[HIDDEN], true);
    if arch == Arch::Llama {
        put("lm_head.weight".into(), &[VOCAB, HIDDEN], false);
    }
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        put(format!("{p}.input_layernorm.weight"), &[HIDDEN], true);
        put(format!("{p}.post_attention_layernorm.weight"), &[HIDDEN], true);
        put(format!("{p}.self_attn.q_proj.weight"), &[HEADS * HEAD_DIM, HIDDEN], false);
        put(format!("{p}.self_attn.k_proj.weight"), &[KV_HEADS * HEAD_DIM, HIDDEN], false);
        put(format!("{p}.self_attn.v_proj.weight"), &[KV_HEADS * HEAD_DIM, HIDDEN], false);
        put(format!("{p}.self_attn.o_proj.weight"), &[HIDDEN, HEADS * HEAD_DIM], false);
        put(format!("{p}.mlp.gate_proj.weight"), &[INTER, HIDDEN], false);
        put(format!("{p}.mlp.up_proj.weight"), &[INTER, HIDDEN], false);
        put(format!("{p}.mlp.down_proj.weight"), &[HIDDEN, INTER], false);
        if arch == Arch::Qwen3 {
            put(format!("{p}.self_attn.q_norm.weight"), &[HEAD_DIM], true);
            put(format!("{p}.self_attn.k_norm.weight"), &[HEAD_DIM], true);
        }
        if arch == Arch::Qwen2 {
            put(format!("{p}.self_attn.q_proj.bias"), &[HEADS * HEAD_DIM], false);
            put(format!("{p}.self_attn.k_proj.bias"), &[KV_HEADS * HEAD_DIM], false);
            put(format!("{p}.self_attn.v_proj.bias"), &[KV_HEADS * HEAD_DIM], false);
        }
    }
    w
}

/// A Hugging Face model directory: config.json (read by both us and candle-transformers),
/// model.safetensors, tokenizer.json, tokenizer_config.json.
fn write_tiny_hf(dir: &Path, arch: Arch) -> HashMap<String, Tensor> {
    let seed = match arch {
        Arch::Llama => 1,
        Arch::Qwen2 => 2,
        Arch::Qwen3 => 4,
    };
    let weights = tiny_weights(arch, seed);
    write_hf_dir(dir, arch, &weights, DType::F32);
    weights
}

/// `weights` of `arch` as a Hugging Face model directory, its tensors stored in `dtype`.
fn write_hf_dir(dir: &Path, arch: Arch, weights: &HashMap<String, Tensor>, dtype: DType) {
    let architecture = match arch {
        Arch::Llama => "LlamaForCausalLM",
        Arch::Qwen2 => "Qwen2ForCausalLM",
        Arch::Qwen3 => "Qwen3ForCausalLM",
    };
    let config = serde_json::json!({
        "architectures": [architecture],
        "vocab_size": VOCAB, "hidden_size": HIDDEN, "intermediate_size": INTER,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": arch != Arch::Llama,
        "head_dim": HEAD_DIM, "attention_bias": arch == Arch::Qwen2,
        "sliding_window": 256, "max_window_layers": LAYERS, "use_sliding_window": false, "hidden_act": "silu",
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let stored: HashMap<&String, Tensor> = weights.iter().map(|(n, t)| (n, t.to_dtype(dtype).unwrap())).collect();
    candle_core::safetensors::save(&stored, dir.join("model.safetensors")).unwrap();
    synthetic::tokenizer().unwrap().save(&dir.join("tokenizer.json")).unwrap();
    let tc = serde_json::json!({ "eos_token": "<|im_end|>", "chat_template": hearth::engine::chat::CHATML });
    std::fs::write(dir.join("tokenizer_config.json"), tc.to_string()).unwrap();
}

fn load(source: ModelSource, requantize: Requantize) -> Model {
    Model::load(&source, &LoadOptions { requantize, ..Default::default() }).unwrap()
}

const BLOCK: usize = 16;
const BLOCKS_PER_SEQ: usize = 80;

/// A KV pool with room for `seqs` sequences of up to 1280 tokens.
fn kv_pool(model: &Model, seqs: usize) -> PagedKvCache {
    PagedKvCache::new(model.decoder.config(), seqs * BLOCKS_PER_SEQ, BLOCK, DType::F32).unwrap()
}

/// Sequence `s`'s block table in a [`kv_pool`]: its own blocks, deliberately not in
/// ascending order, so a kernel that ignores the table cannot pass.
fn table(s: usize) -> Vec<u32> {
    (0..BLOCKS_PER_SEQ).rev().map(|b| (s * BLOCKS_PER_SEQ + b) as u32).collect()
}

/// Last-token logits of a prefill of `tokens`, then of one decode step with `next`.
fn our_logits(model: &Model, tokens: &[u32], next: u32) -> (Vec<f32>, Vec<f32>) {
    let mut kv = kv_pool(model, 1);
    let n = tokens.len();
    let step = |toks: &[u32], past, kv: &mut PagedKvCache| {
        let chunk = [SeqChunk { id: 7, start: 0, len: toks.len(), past, wants_logits: true, blocks: table(0) }];
        let out = model.decoder.forward(toks, &chunk, kv, false).unwrap();
        out.logits.squeeze(0).unwrap().to_vec1::<f32>().unwrap()
    };
    let prefill = step(tokens, 0, &mut kv);
    let decode = step(&[next], n, &mut kv);
    (prefill, decode)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

const PROMPT: [u32; 11] = [3, 141, 59, 26, 5, 35, 89, 79, 32, 38, 46];
const NEXT: u32 = 17;

/// Writes a tiny `arch` model directory, loads it as ours and hands the directory to
/// `reference`, a candle-transformers model built on the same files; then checks both
/// give the same logits after a prefill of [`PROMPT`] and after decoding [`NEXT`].
/// `reference` returns a `forward(tokens, position)` closure.
fn assert_matches_reference<F>(arch: Arch, check_config: impl Fn(&hearth::engine::ModelConfig) -> bool, reference: impl FnOnce(&Path, candle_nn::VarBuilder<'static>) -> F)
where
    F: FnMut(&Tensor, usize) -> Tensor,
{
    let dir = tempfile::tempdir().unwrap();
    write_tiny_hf(dir.path(), arch);
    let ours = load(ModelSource::HfDir(dir.path().into()), Requantize::Keep);
    assert!(check_config(ours.decoder.config()), "{:?}", ours.decoder.config());
    // Its `eos_token` is `<|im_end|>`; the vocabulary's other turn end ends answers too.
    let ends = ["<|im_end|>", "<|endoftext|>"].map(|text| ours.tokenizer.token_id(text).unwrap());
    assert!(ends.iter().all(|id| ours.tokenizer.eos_ids.contains(id)), "{:?}", ours.tokenizer.eos_ids);
    let (prefill, decode) = our_logits(&ours, &PROMPT, NEXT);

    let files = [dir.path().join("model.safetensors")];
    let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&files, DType::F32, &Device::Cpu) }.unwrap();
    let mut forward = reference(&dir.path().join("config.json"), vb);
    let mut run = |tokens: &[u32], pos| {
        let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        forward(&input, pos).flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    let ref_prefill = run(&PROMPT, 0);
    let ref_decode = run(&[NEXT], PROMPT.len());

    let (d1, d2) = (max_abs_diff(&prefill, &ref_prefill), max_abs_diff(&decode, &ref_decode));
    assert!(d1 <= 1e-4 && d2 <= 1e-4, "max abs diff: prefill {d1}, decode {d2}");
}

fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn tiny_llama_matches_candle_transformers() {
    use candle_transformers::models::llama;
    assert_matches_reference(Arch::Llama, |c| !c.qkv_bias && !c.tie_word_embeddings, |config_path, vb| {
        let config = read_config::<llama::LlamaConfig>(config_path).into_config(false);
        let model = llama::Llama::load(vb, &config).unwrap();
        let mut cache = llama::Cache::new(true, DType::F32, &config, &Device::Cpu).unwrap();
        move |input, pos| model.forward(input, pos, &mut cache).unwrap()
    });
}

#[test]
fn tiny_qwen2_matches_candle_transformers() {
    use candle_transformers::models::qwen2;
    assert_matches_reference(Arch::Qwen2, |c| c.qkv_bias && c.tie_word_embeddings, |config_path, vb| {
        let mut model = qwen2::ModelForCausalLM::new(&read_config(config_path), vb).unwrap();
        move |input, pos| model.forward(input, pos).unwrap()
    });
}

#[test]
fn tiny_qwen3_matches_candle_transformers() {
    use candle_transformers::models::qwen3;
    assert_matches_reference(Arch::Qwen3, |c| c.qk_norm && !c.qkv_bias, |config_path, vb| {
        let mut model = qwen3::ModelForCausalLM::new(&read_config(config_path), vb).unwrap();
        move |input, pos| model.forward(input, pos).unwrap()
    });
}

/// Four sequences at different positions in one packed step (two decoding, two in
/// prefill chunks) each get the logits they get when run alone.
fn ragged_batch_equals_single_runs(model: &Model) {
    let prompts: Vec<Vec<u32>> = [13usize, 4, 9, 21]
        .iter()
        .enumerate()
        .map(|(s, &n)| (0..n as u32).map(|i| (i * 37 + s as u32 * 101 + 5) % 250).collect())
        .collect();
    // Tokens already cached before the packed step, and tokens the step carries.
    let split = [12usize, 0, 5, 20];
    let mut batch_kv = kv_pool(model, prompts.len());
    for (s, p) in prompts.iter().enumerate() {
        if split[s] > 0 {
            let chunk = [SeqChunk { id: s as u64, start: 0, len: split[s], past: 0, wants_logits: false, blocks: table(s) }];
            model.decoder.forward(&p[..split[s]], &chunk, &mut batch_kv, false).unwrap();
        }
    }
    let mut tokens = Vec::new();
    let mut chunks = Vec::new();
    for (s, p) in prompts.iter().enumerate() {
        let rest = &p[split[s]..];
        let blocks = table(s);
        chunks.push(SeqChunk { id: s as u64, start: tokens.len(), len: rest.len(), past: split[s], wants_logits: true, blocks });
        tokens.extend_from_slice(rest);
    }
    assert_eq!(chunks.iter().map(|c| c.len).collect::<Vec<_>>(), [1, 4, 4, 1]);
    let batch = model.decoder.forward(&tokens, &chunks, &mut batch_kv, false).unwrap().logits;
    for (s, p) in prompts.iter().enumerate() {
        let mut kv = kv_pool(model, 1);
        let chunk = [SeqChunk { id: 99, start: 0, len: p.len(), past: 0, wants_logits: true, blocks: table(0) }];
        let alone = model.decoder.forward(p, &chunk, &mut kv, false).unwrap().logits;
        let alone: Vec<f32> = alone.squeeze(0).unwrap().to_vec1().unwrap();
        let packed: Vec<f32> = batch.get(s).unwrap().to_vec1().unwrap();
        let diff = max_abs_diff(&alone, &packed);
        assert!(diff <= 1e-4, "sequence {s}: max abs diff {diff}");
    }
}

#[test]
fn ragged_batch_of_four_equals_each_alone() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_hf(dir.path(), Arch::Llama);
    ragged_batch_equals_single_runs(&load(ModelSource::HfDir(dir.path().into()), Requantize::Keep));
    ragged_batch_equals_single_runs(&load("synthetic:tiny".parse().unwrap(), Requantize::Keep));
    let gguf_dir = tempfile::tempdir().unwrap();
    ragged_batch_equals_single_runs(&tiny_gguf_on_host_q8(gguf_dir.path()));
}

/// llama.cpp's converter interleaves each head's q/k rows; our loader must undo it.
fn llama_cpp_permute(t: &Tensor, n_heads: usize) -> Tensor {
    let (rows, cols) = t.dims2().unwrap();
    t.reshape((n_heads, 2, rows / n_heads / 2, cols)).unwrap().transpose(1, 2).unwrap().reshape((rows, cols)).unwrap()
}

/// The seed of the tiny Llama [`write_tiny_gguf`] writes.
const GGUF_SEED: u64 = 3;

/// The tiny Llama as llama.cpp would write it to GGUF, with a byte-level tokenizer.
fn write_tiny_gguf(path: &Path, matrices: GgmlDType) {
    let weights = tiny_weights(Arch::Llama, GGUF_SEED);
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for (name, t) in &weights {
        let gguf_name = hearth::engine::weights::gguf_name(name);
        let t = match name {
            n if n.ends_with("q_proj.weight") => llama_cpp_permute(t, HEADS),
            n if n.ends_with("k_proj.weight") => llama_cpp_permute(t, KV_HEADS),
            _ => t.clone(),
        };
        let dtype = if t.rank() == 2 { matrices } else { GgmlDType::F32 };
        tensors.push((gguf_name, QTensor::quantize(&t, dtype).unwrap()));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let tokenizer = synthetic::tokenizer().unwrap();
    let tokens: Vec<Value> = (0..259).map(|i| Value::String(tokenizer.token(i).unwrap())).collect();
    let types: Vec<Value> = (0..259).map(|i| Value::I32(if i < 256 { 1 } else { 3 })).collect();
    let meta: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.context_length", Value::U32(256)),
        ("llama.embedding_length", Value::U32(HIDDEN as u32)),
        ("llama.block_count", Value::U32(LAYERS as u32)),
        ("llama.feed_forward_length", Value::U32(INTER as u32)),
        ("llama.attention.head_count", Value::U32(HEADS as u32)),
        ("llama.attention.head_count_kv", Value::U32(KV_HEADS as u32)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("llama.rope.dimension_count", Value::U32(HEAD_DIM as u32)),
        ("llama.vocab_size", Value::U32(VOCAB as u32)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        ("tokenizer.ggml.tokens", Value::Array(tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.merges", Value::Array(Vec::new())),
        ("tokenizer.ggml.eos_token_id", Value::U32(258)),
    ];
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    gguf::write(path, &meta, &refs).unwrap();
}

/// Last-token logits from candle-transformers' quantized_llama on a GGUF file.
fn quantized_llama_logits(path: &Path, steps: &[&[u32]]) -> Vec<Vec<f32>> {
    use candle_transformers::models::quantized_llama::ModelWeights;
    let mut file = std::fs::File::open(path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut model = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    let mut pos = 0;
    steps
        .iter()
        .map(|toks| {
            let input = Tensor::new(*toks, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let logits = model.forward(&input, pos).unwrap();
            pos += toks.len();
            logits.flatten_all().unwrap().to_vec1().unwrap()
        })
        .collect()
}

#[test]
fn tiny_gguf_matches_candle_quantized_llama() {
    for (dtype, tolerance) in [(GgmlDType::F32, 1e-4), (GgmlDType::Q8_0, 2e-3)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        write_tiny_gguf(&path, dtype);
        let ours = load(ModelSource::Gguf(path.clone()), Requantize::Keep);
        assert_eq!(ours.decoder.config().vocab_size, VOCAB);
        let (prefill, decode) = our_logits(&ours, &PROMPT, NEXT);
        let reference = quantized_llama_logits(&path, &[&PROMPT, &[NEXT]]);
        let (d1, d2) = (max_abs_diff(&prefill, &reference[0]), max_abs_diff(&decode, &reference[1]));
        assert!(d1 <= tolerance && d2 <= tolerance, "{dtype:?}: max abs diff prefill {d1}, decode {d2}");
    }
}

/// hearth's host kernels quantize activations to Q8_0 blocks, as candle's and
/// llama.cpp's quantized kernels do, so none matches the exact product of the stored
/// weights; each must be at least about as close to it as candle's kernel is. The Q8_0
/// one holds the file's blocks as they are or re-encoded; the 4-bit one holds Q4_0 and
/// Q4_1 as they are (what `auto` picks for them on the CPU).
#[test]
fn host_kernels_are_as_close_to_the_stored_weights_as_candles() {
    for (stored, host) in [
        (GgmlDType::Q8_0, Requantize::To(GgmlDType::Q8_0)),
        (GgmlDType::Q4_1, Requantize::To(GgmlDType::Q8_0)),
        (GgmlDType::Q4_1, Requantize::Auto),
        (GgmlDType::Q4_0, Requantize::Auto),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        write_tiny_gguf(&path, stored);
        let logits = |requantize| our_logits(&load(ModelSource::Gguf(path.clone()), requantize), &PROMPT, NEXT);
        // The stored weights dequantized, on dense f32 GEMM.
        let exact = logits(Requantize::To(GgmlDType::F32));
        let candle = logits(Requantize::Keep);
        let ours = logits(host);
        let largest = exact.0.iter().fold(0f32, |m, x| m.max(x.abs()));
        for (step, pick) in [("prefill", 0), ("decode", 1)] {
            let get = |l: &(Vec<f32>, Vec<f32>)| if pick == 0 { l.0.clone() } else { l.1.clone() };
            let (host_err, candle_err) = (max_abs_diff(&get(&ours), &get(&exact)), max_abs_diff(&get(&candle), &get(&exact)));
            assert!(
                host_err <= 1.5 * candle_err.max(0.01 * largest) && host_err <= 0.03 * largest,
                "{stored:?} as {host:?} {step}: host kernel off by {host_err}, candle's by {candle_err}, logits up to {largest}"
            );
        }
        // The 4-bit kernel holds the file's weights: more bytes than its blocks (an f32
        // scale and min for 32 weights), fewer than Q8_0 re-encoded.
        if host == Requantize::Auto {
            let bytes = |requantize| load(ModelSource::Gguf(path.clone()), requantize).decoder.weight_bytes().layers.iter().sum::<usize>();
            let (kept, four_bit, eight_bit) = (bytes(Requantize::Keep), bytes(Requantize::Auto), bytes(Requantize::To(GgmlDType::Q8_0)));
            assert!(kept < four_bit && four_bit < eight_bit, "{stored:?}: {kept} as stored, {four_bit} on the 4-bit kernel, {eight_bit} as Q8_0");
        }
    }
}

/// A Hugging Face checkpoint asked for a block format is quantized as it loads, each
/// matrix as a GGUF of the same floats requantized to it: the same blocks, on the same
/// host kernels (hearth's Q8_0 and 4-bit ones), so the same logits.
#[test]
fn a_checkpoint_quantized_as_it_loads_computes_what_the_same_gguf_does() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_tiny_gguf(&gguf, GgmlDType::F32);
    let hf = dir.path().join("hf");
    std::fs::create_dir(&hf).unwrap();
    write_hf_dir(&hf, Arch::Llama, &tiny_weights(Arch::Llama, GGUF_SEED), DType::F32);
    let dense = load(ModelSource::HfDir(hf.clone()), Requantize::Auto);
    let dense_logits = our_logits(&dense, &PROMPT, NEXT);
    for format in [GgmlDType::Q8_0, GgmlDType::Q4_0] {
        let requantize = Requantize::To(format);
        let quantized = load(ModelSource::HfDir(hf.clone()), requantize);
        // The layers' matrices in 8.5 or 6 bits a weight, not 32; the embedding table
        // stays dense.
        let layer_bytes = |m: &Model| m.decoder.weight_bytes().layers.iter().sum::<usize>();
        assert!(layer_bytes(&quantized) < layer_bytes(&dense) / 3, "{format:?}: {:?}", quantized.decoder.weight_bytes());
        let ours = our_logits(&quantized, &PROMPT, NEXT);
        let from_gguf = our_logits(&load(ModelSource::Gguf(gguf.clone()), requantize), &PROMPT, NEXT);
        for (step, got, want) in [("prefill", &ours.0, &from_gguf.0), ("decode", &ours.1, &from_gguf.1)] {
            assert!(max_abs_diff(got, want) <= 1e-5, "{format:?} {step}: {}", max_abs_diff(got, want));
        }
        let off = max_abs_diff(&ours.0, &dense_logits.0);
        assert!(off > 0.0, "{format:?}: the quantized model computed what the dense one does");
    }
}

/// A tiny GGUF loaded onto hearth's host Q8_0 kernel (`Requantize::To(Q8_0)`, what
/// `auto` picks on CPU for models up to 4B parameters).
fn tiny_gguf_on_host_q8(dir: &Path) -> Model {
    let path = dir.join("tiny.gguf");
    write_tiny_gguf(&path, GgmlDType::Q8_0);
    load(ModelSource::Gguf(path), Requantize::To(GgmlDType::Q8_0))
}

/// Loads `source` on the CPU and checks the footprint counted from its headers alone
/// against the bytes its loaded tensors hold; returns the footprint.
fn footprint_matches_the_load(source: &ModelSource, requantize: Requantize, dtype: DType) -> hearth::engine::Footprint {
    let options = LoadOptions { requantize, dtype: Some(dtype), ..Default::default() };
    let loaded = Model::load(source, &options).unwrap().decoder.weight_bytes();
    let (_, counted) = hearth::engine::footprint(source, requantize, dtype, true).unwrap();
    assert_eq!(counted, loaded, "{source} as {requantize:?} in {dtype:?}");
    counted
}

#[test]
fn the_footprint_counted_before_a_load_is_what_the_load_holds() {
    let dir = tempfile::tempdir().unwrap();
    // Dense checkpoints of each family: biases, q/k norms, a tied or an own head.
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3] {
        let hf = dir.path().join(format!("hf-{}", arch as u8));
        std::fs::create_dir(&hf).unwrap();
        write_tiny_hf(&hf, arch);
        for dtype in [DType::F32, DType::BF16] {
            footprint_matches_the_load(&ModelSource::HfDir(hf.clone()), Requantize::Auto, dtype);
        }
    }
    // Checkpoints in f32 or bf16 quantized as they load: on the host Q8_0 kernel, on the
    // host 4-bit one in Q4_0, dense where Q4_K's 256-wide rows do not divide these, f16.
    let quantized = [Requantize::Keep, Requantize::To(GgmlDType::Q8_0), Requantize::To(GgmlDType::Q4_0), Requantize::To(GgmlDType::Q4K), Requantize::To(GgmlDType::F16)];
    for stored in [DType::F32, DType::BF16] {
        let hf = dir.path().join(format!("hf-qwen2-{stored:?}"));
        std::fs::create_dir(&hf).unwrap();
        write_hf_dir(&hf, Arch::Qwen2, &tiny_weights(Arch::Qwen2, 2), stored);
        for requantize in quantized {
            footprint_matches_the_load(&ModelSource::HfDir(hf.clone()), requantize, DType::F32);
        }
    }
    // GGUF matrices held as stored, re-encoded, dequantized, or on the host Q8_0 kernel;
    // Q4_K asks for rows of 256 and these have 64, so those stay as stored.
    let formats = [Requantize::Auto, Requantize::Keep, Requantize::To(GgmlDType::Q4_0), Requantize::To(GgmlDType::Q4K), Requantize::To(GgmlDType::F16)];
    for matrices in [GgmlDType::Q8_0, GgmlDType::Q4_1, GgmlDType::F16] {
        let path = dir.path().join(format!("{matrices:?}.gguf"));
        write_tiny_gguf(&path, matrices);
        for requantize in formats {
            footprint_matches_the_load(&ModelSource::Gguf(path.clone()), requantize, DType::F32);
        }
    }
    // On a GPU `auto` keeps a GGUF's blocks as stored, as `keep` does on the CPU; on the
    // CPU the same file goes to the Q8_0 kernel, at more bytes than Q4_1's.
    let q4_1 = ModelSource::Gguf(dir.path().join("Q4_1.gguf"));
    let (_, on_gpu) = hearth::engine::footprint(&q4_1, Requantize::Auto, DType::F32, false).unwrap();
    assert_eq!(on_gpu, footprint_matches_the_load(&q4_1, Requantize::Keep, DType::F32));
    assert!(footprint_matches_the_load(&q4_1, Requantize::Auto, DType::F32).total() > on_gpu.total());
    // The real model: Q4_1 matrices with a Q8_0 embedding table, as stored on a GPU.
    let real = ModelSource::Gguf(smollm2());
    let (_, on_gpu) = hearth::engine::footprint(&real, Requantize::Auto, DType::F32, false).unwrap();
    assert_eq!(on_gpu, footprint_matches_the_load(&real, Requantize::Keep, DType::F32));
    // Synthetic presets, dense or stored in a block format.
    for preset in ["tiny", "tiny-llama"] {
        let source: ModelSource = format!("synthetic:{preset}").parse().unwrap();
        for requantize in [Requantize::Auto, Requantize::To(GgmlDType::Q8_0), Requantize::To(GgmlDType::Q4_0)] {
            footprint_matches_the_load(&source, requantize, DType::F32);
        }
    }
}

// ---- the real model ------------------------------------------------------------

/// SmolLM2-135M-Instruct, as `scripts/fetch-model.sh` caches it. Missing is a failure,
/// not a skip: `scripts/test.sh` (the README's test command, which CI runs) fetches it.
fn smollm2() -> PathBuf {
    let path = match std::env::var_os("HEARTH_SMOLLM2") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("HEARTH_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/hearth"));
            cache.join("SmolLM2-135M-Instruct.Q4_1.gguf")
        }
    };
    assert!(path.is_file(), "{} is missing: run scripts/fetch-model.sh (scripts/test.sh does)", path.display());
    path
}

#[test]
fn smollm2_tokenizer_gives_llama_cpp_ids() {
    let file = gguf::GgufFile::open(&smollm2()).unwrap();
    let tokenizer = hearth::engine::Tokenizer::from_gguf(&file).unwrap();
    let data: serde_json::Value =
        serde_json::from_str(include_str!("data/smollm2_llama_cpp_tokens.json")).unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(tokenizer.encode(text).unwrap(), want, "text {text:?}");
        if !text.contains("<|") {
            assert_eq!(tokenizer.decode(&want), text, "decode of {text:?}");
        }
    }
}

#[test]
fn smollm2_greedy_output_follows_candle_quantized_llama() {
    let path = smollm2();
    let model = load(ModelSource::Gguf(path.clone()), Requantize::Keep);
    let prompt = model
        .chat_prompt(&[Message::new("user", "Write a Python function that checks whether a number is prime.")])
        .unwrap();
    const NEW: usize = 24;
    let params = SamplingParams { max_new_tokens: NEW, ..Default::default() };
    let ours = model.generate(&prompt, params).unwrap();

    use candle_transformers::models::quantized_llama::ModelWeights;
    let mut file = std::fs::File::open(&path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut reference = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    // The reference reads our tokens (teacher forcing), so one near-tie that rounding
    // resolves differently does not shift everything after it: each of our tokens must
    // be the reference's choice, or within a rounding margin of its top logit. Both
    // engines quantize activations to 8 bits before every matmul, so a last-bit
    // difference upstream (our attention sums in another order) can move a logit by a
    // quantization step: 0.2 of 18.3 at one token of this prompt.
    let mut input = prompt.clone();
    let mut pos = 0;
    let mut same = 0;
    for (i, &ours_next) in ours.tokens.iter().enumerate() {
        let x = Tensor::new(input.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits: Vec<f32> = reference.forward(&x, pos).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        pos += input.len();
        let theirs = hearth::engine::sampler::argmax(&logits);
        same += (theirs == ours_next) as usize;
        let gap = logits[theirs as usize] - logits[ours_next as usize];
        assert!(gap <= 0.02 * logits[theirs as usize].abs(), "token {i}: ours {ours_next} is {gap} below the reference's {theirs}; ours so far: {:?}", model.tokenizer.decode(&ours.tokens[..=i]));
        input = vec![ours_next];
    }
    assert_eq!(ours.tokens.len(), NEW, "no early stop on this prompt");
    assert!(same + 2 >= NEW, "{same} of {NEW} tokens are the reference's own choice");
    assert!(ours.text.contains("def"), "a coding answer: {:?}", ours.text);
}

#[test]
fn a_tasks_answer_end_stops_generation_where_it_reads_the_answer_as_complete() {
    use hearth::engine::{AnswerEnd, FinishReason};
    let model = load(ModelSource::Gguf(smollm2()), Requantize::Auto);
    let prompt = model.chat_prompt(&[Message::new("user", "Write a Python function that checks whether a number is prime.")]).unwrap();
    let free = model.generate(&prompt, SamplingParams { max_new_tokens: 48, ..Default::default() }).unwrap();
    let first_line = free.text.find('\n').expect("a multi-line answer") + 1;
    assert!(free.tokens.len() == 48 && free.text.len() > first_line, "{:?}", free.text);

    // Ends after the first line: the same tokens up to there, and no more.
    let params = SamplingParams {
        max_new_tokens: 48,
        answer_end: Some(AnswerEnd { name: "first line", find: |text| text.find('\n').map(|at| at + 1) }),
        ..Default::default()
    };
    let ended = model.generate(&prompt, params.clone()).unwrap();
    assert_eq!(ended.text, free.text[..first_line]);
    assert_eq!(ended.finish, FinishReason::Stop);
    assert!(ended.tokens.len() < free.tokens.len() && free.tokens.starts_with(&ended.tokens), "{} tokens", ended.tokens.len());

    // An answer opened at the end of the prompt: its text begins with the opening, and
    // its end is looked for from there on.
    let messages = [Message::new("user", "Write a Python function that checks whether a number is prime.")];
    let opened = |opening: &str| {
        let prompt = model.tokenizer.encode(&(model.chat.render(&messages, true).unwrap() + opening)).unwrap();
        model.generate(&prompt, SamplingParams { answer_opening: opening.to_string(), ..params.clone() }).unwrap()
    };
    let line = opened("def is_prime");
    assert!(line.text.starts_with("def is_prime") && line.text.ends_with('\n') && line.text.matches('\n').count() == 1, "{:?}", line.text);
    assert_eq!(line.finish, FinishReason::Stop);
    let whole = opened("Sure:\n");
    assert_eq!((whole.text.as_str(), whole.tokens.len(), whole.finish), ("Sure:\n", 1, FinishReason::Stop), "the opening's own line is the answer");
}

#[test]
fn penalties_end_the_loop_a_small_model_falls_into_under_greedy_decoding() {
    use hearth::engine::FinishReason;
    // Re-encoded as Q8_0, where greedy decoding of this prompt loops; the file's exact
    // Q4_1 weights happen to end it on their own.
    let model = load(ModelSource::Gguf(smollm2()), Requantize::To(GgmlDType::Q8_0));
    let prompt = model.chat_prompt(&[Message::new("user", "Write a JSDoc comment for: function stop(id) { clearInterval(timers[id]); }")]).unwrap();
    let answer = |presence_penalty, frequency_penalty| {
        let params = SamplingParams { max_new_tokens: 96, presence_penalty, frequency_penalty, ..Default::default() };
        model.generate(&prompt, params).unwrap()
    };
    // A loop says the same run of eight words again (a sentence, or one with a name
    // changed), up to max_new_tokens or until the model ends it a few turns on: which,
    // depends on the last bits of the kernels' arithmetic.
    let loops = |text: &str| {
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut runs: Vec<&[&str]> = words.windows(8).collect();
        runs.sort_unstable();
        runs.windows(2).any(|pair| pair[0] == pair[1])
    };
    let plain = answer(0.0, 0.0);
    assert!(loops(&plain.text), "{:?}", plain.text);
    // The sample pipelines' setting: the answer ends, said once.
    let penalised = answer(1.0, 0.3);
    assert!(!loops(&penalised.text) && penalised.finish == FinishReason::Eos, "{:?}", penalised.text);
    assert!(penalised.tokens.len() < plain.tokens.len());
}

#[test]
fn a_gguf_whose_eos_is_another_token_still_ends_where_its_chat_turn_does() {
    use hearth::engine::FinishReason;
    // SmolLM2 ends its turns with `<|im_end|>`, its `eos_token_id`. A copy whose header
    // names `<|endoftext|>` instead, as some conversions of chat models do.
    let bytes = std::fs::read(smollm2()).unwrap();
    let key = b"tokenizer.ggml.eos_token_id";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    assert_eq!(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()), 4, "a u32 value");
    let mut other = bytes.clone();
    let value = at + 4;
    let im_end = u32::from_le_bytes(bytes[value..value + 4].try_into().unwrap());
    other[value..value + 4].copy_from_slice(&0u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("other-eos.gguf"), &other).unwrap();

    let answer = |path: PathBuf| {
        let model = load(ModelSource::Gguf(path), Requantize::Auto);
        assert_eq!(model.tokenizer.token(0).as_deref(), Some("<|endoftext|>"));
        assert!(model.tokenizer.eos_ids.contains(&0) && model.tokenizer.eos_ids.contains(&im_end), "{:?}", model.tokenizer.eos_ids);
        let prompt = model.chat_prompt(&[Message::new("user", "Say hello.")]).unwrap();
        model.generate(&prompt, SamplingParams { max_new_tokens: 64, ..Default::default() }).unwrap()
    };
    let (named, other) = (answer(smollm2()), answer(dir.path().join("other-eos.gguf")));
    assert_eq!(named.finish, FinishReason::Eos, "{:?}", named.text);
    assert_eq!((other.finish, &other.tokens), (FinishReason::Eos, &named.tokens), "the turn's end ends it: {:?}", other.text);
}

// ---- bad input ----------------------------------------------------------------

fn load_err(source: ModelSource) -> String {
    match Model::load(&source, &LoadOptions::default()) {
        Ok(_) => panic!("{source} loaded"),
        Err(e) => e.to_string(),
    }
}

fn truncate(path: &Path, keep: f64) {
    let len = std::fs::metadata(path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len((len as f64 * keep) as u64).unwrap();
}

#[test]
fn truncated_or_incomplete_hf_dirs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_hf(dir.path(), Arch::Qwen2);
    let weights = dir.path().join("model.safetensors");
    truncate(&weights, 0.5);
    let err = load_err(ModelSource::HfDir(dir.path().into()));
    assert!(err.contains("model.safetensors"), "{err}");

    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let err = load_err(ModelSource::HfDir(dir.path().into()));
    assert!(err.contains("config.json is missing"), "{err}");
}

#[test]
fn unknown_architecture_and_shape_mismatch_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_hf(dir.path(), Arch::Llama);
    let config_path = dir.path().join("config.json");
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();

    let mut gpt2 = config.clone();
    gpt2["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    std::fs::write(&config_path, gpt2.to_string()).unwrap();
    let err = load_err(ModelSource::HfDir(dir.path().into()));
    assert!(err.contains("config.json") && err.contains("unsupported architecture"), "{err}");

    let mut wider = config;
    wider["intermediate_size"] = serde_json::json!(INTER * 2);
    std::fs::write(&config_path, wider.to_string()).unwrap();
    let err = load_err(ModelSource::HfDir(dir.path().into()));
    assert!(err.contains("gate_proj") && err.contains("shape"), "{err}");
}

#[test]
fn truncated_gguf_and_wrong_magic_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_tiny_gguf(&path, GgmlDType::Q8_0);
    truncate(&path, 0.6);
    let err = load_err(ModelSource::Gguf(path.clone()));
    assert!(err.contains("tiny.gguf") && err.contains("truncated"), "{err}");

    let bogus = dir.path().join("bogus.gguf");
    std::fs::write(&bogus, b"NOPE\x03\x00\x00\x00 not a model at all").unwrap();
    let err = load_err(ModelSource::Gguf(bogus));
    assert!(err.contains("bogus.gguf") && err.contains("wrong magic"), "{err}");
}

/// A GGUF header: magic, version 3, the counts, then whatever `rest` holds.
fn crafted(dir: &Path, name: &str, tensors: u64, kvs: u64, rest: &[u8]) -> ModelSource {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(tensors.to_le_bytes());
    bytes.extend(kvs.to_le_bytes());
    bytes.extend(rest);
    bytes.resize(bytes.len() + 256, 0);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    ModelSource::Gguf(path)
}

fn string(s: &str) -> Vec<u8> {
    let mut b = (s.len() as u64).to_le_bytes().to_vec();
    b.extend(s.as_bytes());
    b
}

#[test]
fn crafted_gguf_headers_fail_cleanly_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Each of these would ask for exabytes if believed; reaching the assert at all shows
    // nothing was allocated from them.
    let huge_tensor_count = crafted(d, "count.gguf", u64::MAX / 2, 0, &[]);
    assert!(load_err(huge_tensor_count).contains("tensor count"));

    let mut huge_key = (1u64 << 62).to_le_bytes().to_vec();
    huge_key.extend(b"key");
    assert!(load_err(crafted(d, "key.gguf", 0, 1, &huge_key)).contains("length of a metadata key"));

    let mut huge_array = string("tokenizer.ggml.tokens");
    huge_array.extend(9u32.to_le_bytes()); // array
    huge_array.extend(8u32.to_le_bytes()); // of strings
    huge_array.extend((1u64 << 60).to_le_bytes());
    assert!(load_err(crafted(d, "array.gguf", 0, 1, &huge_array)).contains("length of array"));

    let mut zero_alignment = string("general.alignment");
    zero_alignment.extend(4u32.to_le_bytes());
    zero_alignment.extend(0u32.to_le_bytes());
    assert!(load_err(crafted(d, "align.gguf", 0, 1, &zero_alignment)).contains("alignment"));

    let mut overflowing = string("w");
    overflowing.extend(2u32.to_le_bytes());
    overflowing.extend((1u64 << 40).to_le_bytes());
    overflowing.extend((1u64 << 40).to_le_bytes());
    overflowing.extend(0u32.to_le_bytes());
    overflowing.extend(0u64.to_le_bytes());
    assert!(load_err(crafted(d, "shape.gguf", 1, 0, &overflowing)).contains("impossible shape"));

    let mut past_the_end = string("w");
    past_the_end.extend(1u32.to_le_bytes());
    past_the_end.extend(64u64.to_le_bytes());
    past_the_end.extend(0u32.to_le_bytes());
    past_the_end.extend((1u64 << 50).to_le_bytes());
    assert!(load_err(crafted(d, "offset.gguf", 1, 0, &past_the_end)).contains("truncated"));
}

#[test]
fn a_prompt_over_the_context_is_a_request_error() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_hf(dir.path(), Arch::Llama);
    let model = load(ModelSource::HfDir(dir.path().into()), Requantize::Keep);
    let prompt = vec![5u32; 300];
    let err = model.generate(&prompt, SamplingParams::default()).unwrap_err();
    assert!(matches!(err, hearth::Error::Request(_)) && err.to_string().contains("context is 256"), "{err}");
    // The model is still usable after a refused request.
    let ok = model.generate(&prompt[..10], SamplingParams { max_new_tokens: 3, ..Default::default() }).unwrap();
    assert!(!ok.tokens.is_empty() && ok.tokens.len() <= 3);
}

// ---- generation and the command line ---------------------------------------------

#[test]
fn penalties_pick_the_argmax_of_the_logits_less_what_the_tokens_produced_owe() {
    let model = load("synthetic:tiny".parse().unwrap(), Requantize::Keep);
    const NEW: usize = 24;
    let greedy = |presence_penalty, frequency_penalty, repetition_penalty| {
        let params = SamplingParams { max_new_tokens: NEW, ignore_eos: true, presence_penalty, frequency_penalty, repetition_penalty, ..Default::default() };
        model.generate(&PROMPT, params).unwrap().tokens
    };
    let plain = greedy(0.0, 0.0, 1.0);
    let distinct = |tokens: &[u32]| tokens.iter().collect::<std::collections::HashSet<_>>().len();
    assert!(distinct(&plain) < NEW, "random weights repeat themselves under greedy decoding: {plain:?}");

    // The definition, one token at a time from the model's plain logits: each token the
    // prompt holds or the answer produced is scaled toward zero by the repetition
    // penalty, once; then each token produced loses the presence penalty once and the
    // frequency penalty per time it came.
    let by_definition = |presence: f32, frequency: f32, repetition: f32| {
        let mut expected: Vec<u32> = Vec::new();
        for _ in 0..NEW {
            let tokens: Vec<u32> = PROMPT.iter().chain(&expected).copied().collect();
            let (mut logits, _) = our_logits(&model, &tokens, 0);
            for token in tokens.iter().collect::<std::collections::HashSet<_>>() {
                let logit = &mut logits[*token as usize];
                *logit = if *logit > 0.0 { *logit / repetition } else { *logit * repetition };
            }
            let mut counts: HashMap<u32, f32> = HashMap::new();
            for &token in &expected {
                *counts.entry(token).or_default() += 1.0;
            }
            for (token, count) in counts {
                logits[token as usize] -= presence + frequency * count;
            }
            expected.push(hearth::engine::sampler::argmax(&logits));
        }
        expected
    };
    for (presence, frequency, repetition) in [(1.0, 0.5, 1.0), (0.0, 0.0, 4.0), (0.5, 0.2, 2.0)] {
        let penalised = greedy(presence, frequency, repetition);
        assert_eq!(penalised, by_definition(presence, frequency, repetition), "presence {presence}, frequency {frequency}, repetition {repetition}");
        assert_ne!(penalised, plain, "the penalties were meant to change the answer");
        assert!(distinct(&penalised) > distinct(&plain), "{penalised:?} vs {plain:?}");
    }
}

#[test]
fn sampling_is_seeded_and_stops_where_asked() {
    let model = load("synthetic:tiny".parse().unwrap(), Requantize::Keep);
    let prompt = model.chat_prompt(&[Message::new("user", "hello")]).unwrap();
    let sampled = |seed| {
        let params = SamplingParams { temperature: 1.0, top_k: 50, seed, max_new_tokens: 16, ..Default::default() };
        model.generate(&prompt, params).unwrap().tokens
    };
    assert_eq!(sampled(1), sampled(1));
    assert_ne!(sampled(1), sampled(2));

    let greedy = model.generate(&prompt, SamplingParams { max_new_tokens: 12, ..Default::default() }).unwrap();
    assert_eq!(greedy.tokens.len(), 12);
    assert_eq!(greedy.finish, hearth::engine::FinishReason::Length);
    // Stop on the text of a token the greedy run is known to produce.
    let stop = model.tokenizer.decode(&greedy.tokens[5..7]);
    if !stop.is_empty() {
        let params = SamplingParams { max_new_tokens: 12, stop: vec![stop.clone()], ..Default::default() };
        let stopped = model.generate(&prompt, params).unwrap();
        assert_eq!(stopped.finish, hearth::engine::FinishReason::Stop);
        assert!(!stopped.text.contains(&stop) && stopped.tokens.len() <= 7);
    }
}

#[test]
fn embeddings_are_unit_length_and_chunking_does_not_change_them() {
    let model = load("synthetic:tiny".parse().unwrap(), Requantize::Keep);
    let long: Vec<u32> = (0..1100u32).map(|i| (i * 7) % 250).collect();
    let e = model.embed(&long, Pooling::Mean).unwrap();
    let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    // `embed` prefills in chunks of 512; one 1100-token step must pool to the same vector.
    let mut kv = kv_pool(&model, 1);
    let chunk = [SeqChunk { id: 0, start: 0, len: long.len(), past: 0, wants_logits: false, blocks: table(0) }];
    let hidden = model.decoder.forward(&long, &chunk, &mut kv, true).unwrap().hidden.unwrap();
    let mean: Vec<f32> = hidden.mean(0).unwrap().to_vec1().unwrap();
    let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
    let whole: Vec<f32> = mean.iter().map(|x| x / norm).collect();
    assert!(max_abs_diff(&e, &whole) < 1e-4);
    let other = model.embed(&long[..1000], Pooling::Mean).unwrap();
    assert!(max_abs_diff(&e, &other) > 1e-4, "different text, different embedding");
}

#[test]
fn batched_embeddings_equal_one_at_a_time_and_bad_inputs_fail_alone() {
    let model = load("synthetic:tiny".parse().unwrap(), Requantize::Keep);
    let inputs: Vec<Vec<u32>> = [5usize, 300, 40, 700, 1, 0, 90]
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n as u32).map(|t| (t * 13 + i as u32) % 250).collect())
        .collect();
    let refs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
    // Either attention that runs here reads the packed inputs' blocks alike.
    for (pooling, attention) in [(Pooling::Mean, AttentionBackend::Host), (Pooling::Last, AttentionBackend::Host), (Pooling::Mean, AttentionBackend::Gathered)] {
        let batched = model.embed_batch(&refs, pooling, attention).unwrap();
        assert!(batched[5].as_ref().unwrap_err().contains("0 tokens"), "the empty input fails alone");
        for (i, input) in inputs.iter().enumerate().filter(|(i, _)| *i != 5) {
            let alone = model.embed(input, pooling).unwrap();
            assert!(max_abs_diff(batched[i].as_ref().unwrap(), &alone) < 1e-4, "input {i}, {pooling:?}, {attention:?}");
        }
    }
    let e = model.embed_batch(&refs, Pooling::Mean, AttentionBackend::Flash).unwrap_err().to_string();
    assert!(e.contains("flash"), "{e}");
    // Last pooling is the last token's final hidden state, normalised.
    let tokens = &inputs[2];
    let mut kv = kv_pool(&model, 1);
    let chunk = [SeqChunk { id: 0, start: 0, len: tokens.len(), past: 0, wants_logits: false, blocks: table(0) }];
    let hidden = model.decoder.forward(tokens, &chunk, &mut kv, true).unwrap().hidden.unwrap();
    let last: Vec<f32> = hidden.get(tokens.len() - 1).unwrap().to_vec1().unwrap();
    let norm = last.iter().map(|x| x * x).sum::<f32>().sqrt();
    let expected: Vec<f32> = last.iter().map(|x| x / norm).collect();
    assert!(max_abs_diff(&model.embed(tokens, Pooling::Last).unwrap(), &expected) < 1e-4);
}

#[test]
fn generate_command_prints_text_and_throughput() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["generate", "--model", "synthetic:tiny", "--prompt", "hi", "--max-new-tokens", "8"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("decode") && stderr.contains("tok/s") && stderr.contains("generated 8 tokens"), "{stderr}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("/nonexistent/model.gguf"), "{stderr}");

    // The penalties on the command line change what greedy decoding gives (a negative
    // one too); one out of range is refused by name.
    let ids = |penalties: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["generate", "--model", "synthetic:tiny", "--raw", "--prompt", "hi", "--max-new-tokens", "12", "--ids"])
            .args(penalties)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).trim().to_string(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, plain, stderr) = ids(&[]);
    assert!(ok, "{stderr}");
    let (ok, penalised, stderr) = ids(&["--presence-penalty", "-1.5", "--frequency-penalty", "2"]);
    assert!(ok && penalised != plain, "{plain} / {penalised}: {stderr}");
    let (ok, _, stderr) = ids(&["--frequency-penalty", "2.5"]);
    assert!(!ok && stderr.contains("frequency_penalty 2.5 must be from -2 to 2"), "{stderr}");
    let (ok, repeated, stderr) = ids(&["--repetition-penalty", "4"]);
    assert!(ok && repeated != plain, "{plain} / {repeated}: {stderr}");
    let (ok, _, stderr) = ids(&["--repetition-penalty", "0"]);
    assert!(!ok && stderr.contains("repetition_penalty 0 must be finite and > 0"), "{stderr}");
}

#[test]
fn plan_command_says_whether_a_model_fits_the_cards_named() {
    let plan = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth")).arg("plan").args(args).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // The real model's header: SmolLM2's blocks as stored on a 2 GB Pascal card, in f32.
    let smollm2 = smollm2();
    let (fits, stdout, stderr) = plan(&["--model", smollm2.to_str().unwrap(), "--gpu", "2GiB@6.1"]);
    assert!(fits, "{stdout}{stderr}");
    assert!(stdout.contains("Llama, 30 layers") && stdout.contains("computing in F32") && stdout.contains("verdict   fits"), "{stdout}");
    // From a pipeline: its model, its limits, its longest answer (docs: 128 new tokens).
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/docs.toml");
    let (fits, stdout, stderr) = plan(&["--pipeline", docs.to_str().unwrap(), "--gpu", "2GiB@6.1", "--max-seqs", "4"]);
    assert!(fits && stdout.contains("SmolLM2") && stdout.contains("at once   4 sequences of 640 tokens"), "{stdout}{stderr}");
    // The 32B shapes: not in bf16 on two 24 GB cards (exit 1), and in Q4_K they fit.
    let (fits, stdout, _) = plan(&["--gpu", "2xrtx3090"]);
    assert!(!fits && stdout.contains("over the engine's 90%") && stdout.contains("does NOT fit"), "{stdout}");
    let (fits, stdout, _) = plan(&["--gpu", "2xrtx3090", "--requantize", "q4k"]);
    assert!(fits && stdout.contains("cuda:1 rtx3090"), "{stdout}");
    // A card it does not know is named.
    let (fits, _, stderr) = plan(&["--gpu", "rtx9090"]);
    assert!(!fits && stderr.contains("unknown card `rtx9090`"), "{stderr}");
}

// ---- continuous batching -------------------------------------------------------

#[test]
fn thirty_two_sequences_batched_produce_what_each_produces_alone() {
    let gguf_dir = tempfile::tempdir().unwrap();
    // Dense f32 weights on candle's GEMM, with the host's KV cache in f16 and in f32,
    // and Q8_0 on hearth's batched host kernel.
    let tiny = "synthetic:tiny-llama".parse().unwrap();
    let in_f32 = Model::load(&tiny, &LoadOptions { requantize: Requantize::Keep, dtype: Some(DType::F32), ..Default::default() }).unwrap();
    for model in [load(tiny.clone(), Requantize::Keep), in_f32, tiny_gguf_on_host_q8(gguf_dir.path())] {
        thirty_two_sequences_each_as_alone(&model);
    }
}

fn thirty_two_sequences_each_as_alone(model: &Model) {
    use hearth::engine::{AttentionBackend, BatchConfig, BatchEngine, Request};
    // A shared template (the pipeline's case) plus a tail of a different length each.
    let template: Vec<u32> = (0..40u32).map(|i| (i * 13 + 1) % 250).collect();
    let requests: Vec<Request> = (0..32u64)
        .map(|id| {
            let tail = (0..(3 + id as u32 * 5 % 37)).map(|i| (i * 31 + id as u32 * 7) % 250);
            let prompt = template.iter().copied().chain(tail).collect();
            // Every third request has a presence penalty and every fourth a repetition
            // penalty (over its prompt too): each must stay with its own row, and with its
            // sequence through preemption.
            let presence_penalty = if id % 3 == 0 { 1.5 } else { 0.0 };
            let repetition_penalty = if id % 4 == 1 { 2.0 } else { 1.0 };
            let params = SamplingParams { max_new_tokens: 6 + (id as usize % 5) * 3, ignore_eos: true, presence_penalty, repetition_penalty, ..Default::default() };
            Request { id, prompt, params }
        })
        .collect();

    let alone: HashMap<u64, Vec<u32>> = requests.iter().map(|r| (r.id, model.generate(&r.prompt, r.params.clone()).unwrap().tokens)).collect();
    // Both attention implementations: the host kernel, and the gathered batched-matmul
    // path GPUs use, run here on candle's CPU kernels. The gathered pool holds the
    // model's dtype, f32 here: it gives the tokens of a run alone where the host pool is
    // f32 too.
    let attentions = match model.decoder.host_kv_dtype() {
        DType::F32 => vec![AttentionBackend::Host, AttentionBackend::Gathered],
        _ => vec![AttentionBackend::Host],
    };
    for attention in attentions {
        // 8 running at most, 48-token steps (so prompts are chunked and admissions
        // staggered), and a pool of 22 blocks: too small for 8 such sequences at once.
        let kv_memory = 22 * model.decoder.kv_bytes_per_block(8, attention);
        let batch = BatchConfig { max_batched_tokens: 48, max_seqs: 8, block_size: 8, kv_memory, attention };
        // A meter that says every step drew 1 J: the sequences' shares must add up to the steps.
        let mut engine = BatchEngine::new(model, batch).unwrap().with_energy_meter(Box::new(|_| Some(1.0)));
        let mut batched = HashMap::new();
        let mut energy = 0.0;
        engine
            .run(requests.clone(), |c| {
                let output = c.result.unwrap();
                energy += output.energy_j.expect("metered");
                batched.insert(c.id, output.tokens);
            })
            .unwrap();
        let stats = engine.stats();
        assert!((energy - stats.steps as f64).abs() < 1e-9, "every step's energy is split among its sequences: {energy} J over {} steps", stats.steps);
        assert!(stats.preemptions > 0, "the pool was meant to force preemption: {stats:?}");
        assert!(stats.prefix_hits > 0 && stats.cached_tokens > 0, "the shared template was meant to hit: {stats:?}");
        for r in &requests {
            assert_eq!(batched[&r.id], alone[&r.id], "{attention:?}: request {}", r.id);
            assert_eq!(alone[&r.id].len(), r.params.max_new_tokens, "EOS is ignored");
        }
    }
}

#[test]
fn gathered_attention_gives_the_host_kernels_logits_on_a_mixed_step() {
    // Four query heads on one key/value head, and on two; both pools in f32.
    for source in ["synthetic:tiny-llama", "synthetic:tiny"] {
        let options = LoadOptions { requantize: Requantize::Keep, dtype: Some(DType::F32), ..Default::default() };
        gathered_equals_host_on_a_mixed_step(&Model::load(&source.parse().unwrap(), &options).unwrap());
    }
}

/// The host's KV cache in f16 (its default) against f32, on the README's model, whose
/// keys and values are a real model's: f16's rounding of them, carried through 30
/// layers, moves the logits of a mixed step (prefill tiles and decoding rows) by about 2%
/// of their range (measured), and the next tokens stay the same.
#[test]
fn the_hosts_f16_kv_cache_gives_the_logits_of_its_f32_one_to_its_rounding() {
    use hearth::engine::AttentionBackend;
    let at = |dtype| Model::load(&ModelSource::Gguf(smollm2()), &LoadOptions { dtype, ..Default::default() }).unwrap();
    let (half, full) = (at(None), at(Some(DType::F32)));
    assert_eq!((half.decoder.host_kv_dtype(), full.decoder.host_kv_dtype()), (DType::F16, DType::F32));
    let (half, full) = (mixed_steps(&half, AttentionBackend::Host), mixed_steps(&full, AttentionBackend::Host));
    for (h, f) in half.iter().zip(&full) {
        let scale = f.iter().fold(0f32, |m, x| m.max(x.abs()));
        let argmax = |l: &[f32]| l.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        let moved = max_abs_diff(h, f);
        assert!(moved > 0.0 && moved < 0.05 * scale, "f16 and f32 pools differ by {moved} (logits up to {scale})");
        assert_eq!(argmax(h), argmax(f));
    }
}

fn gathered_equals_host_on_a_mixed_step(model: &Model) {
    use hearth::engine::AttentionBackend;
    let host = mixed_steps(model, AttentionBackend::Host);
    let gathered = mixed_steps(model, AttentionBackend::Gathered);
    for (x, y) in host.iter().zip(&gathered) {
        assert!(max_abs_diff(x, y) < 1e-4, "host and gathered attention differ by {}", max_abs_diff(x, y));
    }
}

/// The logits of two steps through `attention` over a fresh pool. Step 1: two prompts
/// of different lengths. Step 2: both decode while a third sequence's 37-token prompt
/// prefills in the same step (across block boundaries).
fn mixed_steps(model: &Model, attention: hearth::engine::AttentionBackend) -> Vec<Vec<f32>> {
    let decoder = &model.decoder;
    let mut kv = decoder.kv_cache(3 * BLOCKS_PER_SEQ, BLOCK, attention).unwrap();
    let prompt = |s: u32, n: u32| (0..n).map(|i| (i * 17 + s * 5 + 3) % 250).collect::<Vec<u32>>();
    let chunk = |id: u64, start, len, past| SeqChunk { id, start, len, past, wants_logits: true, blocks: table(id as usize) };
    let (a, b, c) = (prompt(0, 21), prompt(1, 40), prompt(2, 37));
    let steps: Vec<(Vec<u32>, Vec<SeqChunk>)> = vec![
        ([a.clone(), b.clone()].concat(), vec![chunk(0, 0, 21, 0), chunk(1, 21, 40, 0)]),
        ([vec![7, 9], c.clone()].concat(), vec![chunk(0, 0, 1, 21), chunk(1, 1, 1, 40), chunk(2, 2, 37, 0)]),
    ];
    let mut rows = Vec::new();
    for (tokens, chunks) in &steps {
        let logits = decoder.forward(tokens, chunks, &mut kv, false).unwrap().logits.to_vec2::<f32>().unwrap();
        assert_eq!(logits.len(), chunks.len());
        rows.extend(logits);
    }
    rows
}

#[test]
fn each_attention_is_what_the_device_allows_and_the_rest_is_refused_with_why() {
    use hearth::engine::{AttentionBackend, BatchConfig, BatchEngine};
    let model = load("synthetic:tiny".parse().unwrap(), Requantize::Keep);
    let decoder = &model.decoder;
    assert_eq!(decoder.attention(AttentionBackend::Auto).unwrap(), AttentionBackend::Host);
    assert_eq!(decoder.attention(AttentionBackend::Gathered).unwrap(), AttentionBackend::Gathered);
    assert_eq!(decoder.kv_block_size(AttentionBackend::Auto), 16);
    // No flash-attention on the CPU (nor in a build without the feature): refused at
    // engine creation, saying what is missing, not at the first step.
    let why = decoder.attention(AttentionBackend::Flash).unwrap_err().to_string();
    assert!(why.contains("flash"), "{why}");
    let batch = BatchConfig { attention: AttentionBackend::Flash, ..BatchConfig::default() };
    let err = BatchEngine::new(&model, batch).err().expect("no flash engine on the CPU").to_string();
    assert_eq!(err, why);
    assert!("flashy".parse::<AttentionBackend>().unwrap_err().contains("auto, host, gathered or flash"));
}

#[test]
fn half_precision_runs_both_attentions_near_f32() {
    // What a GPU computes in (bf16 from Ampere on, f16 before), checked here on the CPU
    // so a dtype slip shows before a GPU is lent: both attentions' logits stay near the
    // f32 run's, and the batching engine generates through it.
    use hearth::engine::AttentionBackend;
    let source: ModelSource = "synthetic:tiny".parse().unwrap();
    let at = |dtype| Model::load(&source, &LoadOptions { dtype: Some(dtype), ..Default::default() }).unwrap();
    let exact = mixed_steps(&at(DType::F32), AttentionBackend::Host);
    let scale = exact.iter().flatten().fold(0f32, |m, x| m.max(x.abs()));
    for (dtype, tolerance) in [(DType::BF16, 0.02), (DType::F16, 0.005)] {
        let model = at(dtype);
        assert_eq!(model.decoder.dtype(), dtype);
        for attention in [AttentionBackend::Host, AttentionBackend::Gathered] {
            let half = mixed_steps(&model, attention);
            let gap = exact.iter().zip(&half).map(|(x, y)| max_abs_diff(x, y)).fold(0f32, f32::max) / scale;
            eprintln!("{dtype:?} {attention:?}: logit gap over the largest logit {gap:.4}");
            assert!(gap > 0.0 && gap < tolerance, "{dtype:?} {attention:?}: {gap}");
        }
        let batch = hearth::engine::BatchConfig { attention: AttentionBackend::Gathered, ..Default::default() };
        let mut engine = hearth::engine::BatchEngine::new(&model, batch).unwrap();
        let request = |id: u64| hearth::engine::Request { id, prompt: vec![5, 6, 7 + id as u32], params: SamplingParams { max_new_tokens: 6, ignore_eos: true, ..Default::default() } };
        let mut generated = Vec::new();
        engine.run((0..4).map(request), |c| generated.push(c.result.unwrap().tokens.len())).unwrap();
        assert_eq!(generated, [6; 4], "{dtype:?}");
    }
}

#[test]
fn a_bad_request_fails_alone() {
    use hearth::engine::{BatchConfig, BatchEngine, Request};
    let model = load("synthetic:tiny".parse().unwrap(), Requantize::Keep);
    let mut engine = BatchEngine::new(&model, BatchConfig::default()).unwrap();
    let good = |id| Request { id, prompt: vec![5, 6, 7], params: SamplingParams { max_new_tokens: 4, ..Default::default() } };
    let too_long = Request { id: 2, prompt: vec![5; 5000], params: SamplingParams::default() };
    let bad_params = Request { id: 3, prompt: vec![5], params: SamplingParams { top_p: 0.0, ..Default::default() } };
    let mut results = HashMap::new();
    engine.run([good(1), too_long, bad_params, good(4)], |c| { results.insert(c.id, c.result); }).unwrap();
    assert_eq!(results[&1].as_ref().unwrap().tokens.len(), 4);
    assert_eq!(results[&1].as_ref().unwrap().energy_j, None, "no meter, no energy");
    assert_eq!(results[&4].as_ref().unwrap().tokens.len(), 4);
    assert!(results[&2].as_ref().unwrap_err().contains("context"));
    assert!(results[&3].as_ref().unwrap_err().contains("top_p"));
}

#[test]
fn synthetic_presets_take_a_block_format_like_a_gguf_of_it() {
    let source: ModelSource = "synthetic:tiny".parse().unwrap();
    let prompt: Vec<u32> = (0..40u32).map(|i| (i * 13) % 250).collect();
    let dense = our_logits(&load(source.clone(), Requantize::Keep), &prompt, 9);
    let scale = dense.0.iter().chain(&dense.1).fold(0f32, |m, x| m.max(x.abs()));
    let gap = |format: &str| {
        let q = our_logits(&load(source.clone(), format.parse().unwrap()), &prompt, 9);
        max_abs_diff(&dense.0, &q.0).max(max_abs_diff(&dense.1, &q.1)) / scale
    };
    let (q8, q4) = (gap("q8_0"), gap("q4_0"));
    eprintln!("logit gap over the largest logit: q8_0 {q8:.4}, q4_0 {q4:.4}");
    assert!(q8 > 0.0 && q8 < q4, "the matrices are quantized, 8 bits closer than 4");
    assert!(q4 < 0.1, "4-bit weights are the same model, roughly");
}

#[test]
fn gpus_before_ampere_compute_in_f16_slow_half_pascals_in_f32_and_the_cpu_has_no_device_facts() {
    use candle_core::DType;
    use hearth::engine::DeviceFacts;
    let card = |major, minor| DeviceFacts { compute_capability: (major, minor), free_memory: 0, total_memory: 0 }.default_dtype();
    // P40 and GTX 1080 (6.1), Jetson TX2 (6.2): half arithmetic at 1/64 rate.
    assert_eq!([card(6, 1), card(6, 2)], [DType::F32; 2]);
    // P100 (6.0), V100, RTX 2080 (Turing); A100, RTX 3090, RTX 4090, H100.
    assert_eq!([card(6, 0), card(7, 0), card(7, 5)], [DType::F16; 3]);
    assert_eq!([card(8, 0), card(8, 6), card(8, 9), card(9, 0)], [DType::BF16; 4]);
    assert_eq!(DeviceFacts::of(&candle_core::Device::Cpu), None);
    // Each card computes in its own default; bf16 asked of a card without it is refused by name.
    for (major, minor) in [(6, 1), (7, 5), (8, 0), (9, 0)] {
        let facts = DeviceFacts { compute_capability: (major, minor), free_memory: 0, total_memory: 0 };
        assert_eq!(facts.computes_in(facts.default_dtype()), Ok(()));
        assert_eq!(facts.computes_in(DType::F32), Ok(()));
    }
    let turing = DeviceFacts { compute_capability: (7, 5), free_memory: 0, total_memory: 0 };
    let refused = turing.computes_in(DType::BF16).unwrap_err();
    assert!(refused.contains("bf16") && refused.contains("7.5"), "{refused}");
}

#[test]
fn a_binary_refuses_cards_its_kernels_were_not_built_for_and_says_how_to_build_for_them() {
    use hearth::engine::{built_compute_capability, kernels_unrunnable};
    // Machine code for 8.0 runs on 8.6 (RTX 3090) and 8.9 (RTX 4090), not on 9.0;
    // Pascal's 6.1 on 6.2, not on the P100's 6.0; Turing's 7.5 on nothing newer.
    for (built, card) in [((8, 0), (8, 0)), ((8, 0), (8, 6)), ((8, 0), (8, 9)), ((6, 1), (6, 2)), ((7, 5), (7, 5)), ((9, 0), (9, 0))] {
        assert_eq!(kernels_unrunnable(built, card), None, "{built:?} on {card:?}");
    }
    for (built, card) in [((8, 0), (9, 0)), ((6, 1), (6, 0)), ((7, 5), (8, 6)), ((8, 6), (8, 0)), ((9, 0), (8, 6)), ((9, 0), (10, 0))] {
        let why = kernels_unrunnable(built, card).unwrap_or_else(|| panic!("{built:?} on {card:?} must be refused"));
        let asked = format!("CUDA_COMPUTE_CAP={}{}", card.0, card.1);
        assert!(why.contains(&format!("built for {}.{}", built.0, built.1)) && why.contains(&asked), "{why}");
    }
    // A CPU build was built for no card.
    if !cfg!(feature = "cuda") {
        assert_eq!(built_compute_capability(), None);
    }
}

#[test]
fn a_model_split_across_devices_computes_what_it_computes_on_one() {
    // CPU "devices" stand in for cards: the layers are split into stages, each with its
    // own KV layers and, for the gathered attention, its own step plan; hidden states
    // pass between them. What a real split adds on GPUs is the copy between cards.
    let dir = tempfile::tempdir().unwrap();
    write_tiny_hf(dir.path(), Arch::Qwen3);
    let sources: Vec<ModelSource> = vec![ModelSource::HfDir(dir.path().to_path_buf()), "synthetic:tiny:layers=5".parse().unwrap()];
    for source in sources {
        let one = Model::load(&source, &LoadOptions::default()).unwrap();
        let layers = one.decoder.config().num_layers;
        let split = Model::load(&source, &LoadOptions { devices: vec![Device::Cpu; layers], ..Default::default() }).unwrap();
        let stages: Vec<_> = split.decoder.stages().iter().map(|s| s.layers.clone()).collect();
        assert_eq!(stages, (0..layers).map(|l| l..l + 1).collect::<Vec<_>>(), "{source}: a layer a device");
        assert_eq!(split.decoder.attention(AttentionBackend::Auto).unwrap(), AttentionBackend::Host);

        for attention in [AttentionBackend::Host, AttentionBackend::Gathered] {
            let (whole, parts) = (mixed_steps(&one, attention), mixed_steps(&split, attention));
            for (x, y) in whole.iter().zip(&parts) {
                assert!(max_abs_diff(x, y) < 1e-6, "{source}, {attention:?}: split and whole differ by {}", max_abs_diff(x, y));
            }
            let params = SamplingParams { max_new_tokens: 12, ignore_eos: true, ..Default::default() };
            let tokens = |m: &Model| m.generate_with(&PROMPT, params.clone(), attention).unwrap().tokens;
            assert_eq!(tokens(&split), tokens(&one), "{source}, {attention:?}: greedy tokens");
            let inputs: [&[u32]; 2] = [&PROMPT, &PROMPT[..4]];
            let (a, b) = (one.embed_batch(&inputs, Pooling::Mean, attention).unwrap(), split.embed_batch(&inputs, Pooling::Mean, attention).unwrap());
            for (x, y) in a.iter().zip(&b) {
                assert!(max_abs_diff(x.as_ref().unwrap(), y.as_ref().unwrap()) < 1e-6, "{source}, {attention:?}: embeddings");
            }
        }
    }
    // Each device holds a layer at least: more devices than layers is refused.
    let err = Model::load(&"synthetic:tiny".parse().unwrap(), &LoadOptions { devices: vec![Device::Cpu; 3], ..Default::default() }).err().unwrap().to_string();
    assert!(err.contains("2 layers cannot be split across 3 devices"), "{err}");
}
