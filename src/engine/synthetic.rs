//! Synthetic models: the exact shapes of real checkpoints with seeded random weights,
//! for tests and for throughput benchmarks on machines that cannot download weights.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

use super::config::{Family, ModelConfig};
use super::tokenizer::Tokenizer;
use crate::{Error, Result};

/// Preset names `synthetic:<preset>` accepts.
pub const PRESETS: &[&str] =
    &["tiny", "tiny-llama", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-7b", "qwen2.5-coder-32b"];

/// Special tokens of the synthetic tokenizer, right after the 256 byte tokens.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

#[allow(clippy::too_many_arguments)]
fn qwen25(hidden: usize, inter: usize, layers: usize, heads: usize, kv: usize, vocab: usize, tie: bool) -> ModelConfig {
    ModelConfig {
        family: Family::Qwen2,
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: inter,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: kv,
        head_dim: hidden / heads,
        max_context: 32768,
        rms_norm_eps: 1e-6,
        rope_theta: 1_000_000.0,
        tie_word_embeddings: tie,
        qkv_bias: true,
        qk_norm: false,
    }
}

/// The configuration of a preset (Qwen2.5-Coder shapes from their `config.json`).
pub fn preset(name: &str) -> Result<ModelConfig> {
    Ok(match name {
        "tiny" => ModelConfig { max_context: 4096, ..qwen25(64, 128, 2, 4, 2, 512, true) },
        "tiny-llama" => ModelConfig {
            family: Family::Llama,
            qkv_bias: false,
            rope_theta: 10_000.0,
            max_context: 4096,
            ..qwen25(64, 160, 2, 4, 1, 512, false)
        },
        "qwen2.5-coder-0.5b" => qwen25(896, 4864, 24, 14, 2, 151_936, true),
        "qwen2.5-coder-1.5b" => qwen25(1536, 8960, 28, 12, 2, 151_936, true),
        "qwen2.5-coder-7b" => qwen25(3584, 18944, 28, 28, 4, 152_064, false),
        "qwen2.5-coder-32b" => qwen25(5120, 27648, 64, 40, 8, 152_064, false),
        other => {
            return Err(Error::model(
                format!("synthetic:{other}"),
                format!("unknown preset; known: {}", PRESETS.join(", ")),
            ))
        }
    })
}

/// A byte-level tokenizer: one token per byte (ids 0–255) and the ChatML specials.
/// Real text round-trips through it, so prompts of a given length can be built.
pub fn tokenizer() -> Result<Tokenizer> {
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    let vocab: tokenizers::models::bpe::Vocab =
        alphabet.iter().enumerate().map(|(i, c)| (c.to_string(), i as u32)).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, Vec::new())
        .build()
        .map_err(|e| Error::Config(format!("synthetic tokenizer: {e}")))?;
    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(ByteLevel::new(false, false, true)));
    inner.with_decoder(Some(ByteLevelDecoder::default()));
    inner
        .add_special_tokens(SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)))
        .map_err(|e| Error::Config(format!("synthetic tokenizer: {e}")))?;
    let eos = inner.token_to_id("<|im_end|>").into_iter().chain(inner.token_to_id("<|endoftext|>")).collect();
    Ok(Tokenizer::from_parts(inner, eos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_parameter_counts() {
        let billions = |name| preset(name).unwrap().parameter_count() as f64 / 1e9;
        // Qwen2.5-Coder model cards: 0.49B, 1.54B, 7.61B, 32.5B.
        for (name, want) in [("qwen2.5-coder-0.5b", 0.49), ("qwen2.5-coder-1.5b", 1.54), ("qwen2.5-coder-7b", 7.61), ("qwen2.5-coder-32b", 32.5)] {
            let got = billions(name);
            assert!((got - want).abs() / want < 0.02, "{name}: {got:.3}B, card says {want}B");
        }
        for name in PRESETS {
            preset(name).unwrap().validate().unwrap();
        }
        assert!(preset("nope").is_err());
    }

    #[test]
    fn synthetic_tokenizer_round_trips_text() {
        let t = tokenizer().unwrap();
        let text = "fn main() { println!(\"héllo 🦀\"); }";
        let ids = t.encode(text).unwrap();
        assert_eq!(ids.len(), text.len(), "one token per byte");
        assert_eq!(t.decode(&ids), text);
        let chat = t.encode("<|im_start|>user").unwrap();
        assert_eq!(chat[0], t.token_id("<|im_start|>").unwrap());
        assert!(t.eos_ids.contains(&t.token_id("<|im_end|>").unwrap()));
    }
}
