//! The decoder's hyper-parameters, read from a Hugging Face `config.json` or from the
//! `<arch>.*` keys of a GGUF file, so both sources build the same [`ModelConfig`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The decoder families hearth runs. They differ only in small, named ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Llama 2/3, SmolLM, CodeLlama: no biases.
    Llama,
    /// Qwen2 / Qwen2.5(-Coder): a bias on the q, k and v projections.
    Qwen2,
    /// Qwen3: RMSNorm over each head of q and k, an explicit head size.
    Qwen3,
}

impl Family {
    /// The family a `config.json`'s `architectures` or `model_type` (or a GGUF's
    /// `general.architecture`) names.
    pub fn from_name(name: &str) -> Option<Family> {
        match name {
            "LlamaForCausalLM" | "llama" | "MistralForCausalLM" | "mistral" => Some(Family::Llama),
            "Qwen2ForCausalLM" | "qwen2" => Some(Family::Qwen2),
            "Qwen3ForCausalLM" | "qwen3" => Some(Family::Qwen3),
            _ => None,
        }
    }

    /// The architecture name GGUF files use for this family.
    pub fn gguf_name(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
        }
    }
}

/// `config.json` as Hugging Face writes it; unknown keys are ignored.
#[derive(Clone, Debug, Deserialize)]
struct HfConfig {
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default)]
    num_key_value_heads: Option<usize>,
    #[serde(default)]
    head_dim: Option<usize>,
    #[serde(default = "default_context")]
    max_position_embeddings: usize,
    #[serde(default = "default_rms_norm_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    rope_theta: f64,
    #[serde(default)]
    rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    tie_word_embeddings: bool,
    #[serde(default)]
    attention_bias: Option<bool>,
}

fn default_context() -> usize {
    4096
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_rope_theta() -> f64 {
    10_000.0
}

/// Everything the decoder needs to know about its shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelConfig {
    /// Which family's small differences apply.
    pub family: Family,
    /// Rows of the embedding and of the output head.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP's inner layer.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (fewer than `num_heads` under grouped-query attention).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// The longest sequence (prompt plus generated tokens) the model was trained for.
    pub max_context: usize,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// Base of the rotary frequencies.
    pub rope_theta: f64,
    /// The output head reuses the token embedding.
    pub tie_word_embeddings: bool,
    /// q, k and v projections carry a bias (Qwen2).
    pub qkv_bias: bool,
    /// q and k are RMS-normalised per head before rotation (Qwen3).
    pub qk_norm: bool,
}

impl ModelConfig {
    /// Reads and checks a Hugging Face `config.json`.
    pub fn from_hf_json(path: &Path) -> Result<ModelConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::model(path, e))?;
        let hf: HfConfig = serde_json::from_str(&text).map_err(|e| Error::model(path, e))?;
        let names = hf.architectures.iter().chain(hf.model_type.iter());
        let family = names.clone().find_map(|n| Family::from_name(n)).ok_or_else(|| {
            let seen: Vec<_> = names.map(String::as_str).collect();
            Error::model(
                path,
                format!("unsupported architecture {seen:?}; hearth runs Llama, Qwen2 and Qwen3"),
            )
        })?;
        if let Some(scaling) = hf.rope_scaling.as_ref().filter(|v| !v.is_null()) {
            return Err(Error::model(path, format!("rope_scaling {scaling} is not supported")));
        }
        let config = ModelConfig {
            family,
            vocab_size: hf.vocab_size,
            hidden_size: hf.hidden_size,
            intermediate_size: hf.intermediate_size,
            num_layers: hf.num_hidden_layers,
            num_heads: hf.num_attention_heads,
            num_kv_heads: hf.num_key_value_heads.unwrap_or(hf.num_attention_heads),
            head_dim: hf.head_dim.unwrap_or(hf.hidden_size / hf.num_attention_heads.max(1)),
            max_context: hf.max_position_embeddings,
            rms_norm_eps: hf.rms_norm_eps,
            rope_theta: hf.rope_theta,
            tie_word_embeddings: hf.tie_word_embeddings,
            qkv_bias: hf.attention_bias.unwrap_or(family == Family::Qwen2),
            qk_norm: family == Family::Qwen3,
        };
        config.validate().map_err(|m| Error::model(path, m))?;
        Ok(config)
    }

    /// The `config.json` Hugging Face transformers builds this model from (what
    /// [`ModelConfig::from_hf_json`] reads back): how a synthetic preset is handed to a
    /// peer engine.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let (architecture, model_type) = match self.family {
            Family::Llama => ("LlamaForCausalLM", "llama"),
            Family::Qwen2 => ("Qwen2ForCausalLM", "qwen2"),
            Family::Qwen3 => ("Qwen3ForCausalLM", "qwen3"),
        };
        serde_json::json!({
            "architectures": [architecture],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_context,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.qkv_bias,
            "hidden_act": "silu",
        })
    }

    /// Checks the numbers fit together, so a bad file fails here rather than as a
    /// shape error deep in a forward pass.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("max_position_embeddings", self.max_context),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(format!(
                "{} attention heads do not divide into {} key/value heads",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(format!("head_dim {} must be even for rotary embeddings", self.head_dim));
        }
        if !(self.rope_theta > 0.0 && self.rms_norm_eps > 0.0) {
            return Err("rope_theta and rms_norm_eps must be positive".into());
        }
        // Bounds that keep a crafted config from asking for absurd allocations.
        let limits = [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("hidden_size", self.hidden_size, 1 << 16),
            ("intermediate_size", self.intermediate_size, 1 << 18),
            ("num_hidden_layers", self.num_layers, 1 << 10),
            ("num_attention_heads", self.num_heads, 1 << 10),
            ("head_dim", self.head_dim, 1 << 12),
            ("max_position_embeddings", self.max_context, 1 << 24),
        ];
        if let Some((name, v, max)) = limits.iter().find(|(_, v, max)| v > max) {
            return Err(format!("{name} {v} is larger than hearth accepts ({max})"));
        }
        Ok(())
    }

    /// Width of all query heads together.
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Parameter count, for memory estimates and reports.
    pub fn parameter_count(&self) -> u64 {
        let (h, i, v) = (self.hidden_size as u64, self.intermediate_size as u64, self.vocab_size as u64);
        let (q, kv) = (self.q_dim() as u64, self.kv_dim() as u64);
        let biases = if self.qkv_bias { q + 2 * kv } else { 0 };
        let qk_norms = if self.qk_norm { 2 * self.head_dim as u64 } else { 0 };
        let attention = h * q + 2 * h * kv + q * h + biases + qk_norms;
        let layer = attention + 3 * h * i + 2 * h;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + self.num_layers as u64 * layer + h + head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hf_config_written_reads_back_as_the_same_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        for name in crate::engine::synthetic::PRESETS {
            let mut config = crate::engine::synthetic::preset(name).unwrap();
            config.num_layers = 3;
            std::fs::write(&path, config.to_hf_json().to_string()).unwrap();
            assert_eq!(ModelConfig::from_hf_json(&path).unwrap(), config, "{name}");
        }
    }
}
