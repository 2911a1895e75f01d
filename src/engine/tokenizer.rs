//! Text ↔ token ids, with Hugging Face `tokenizers` doing the work.
//!
//! A model directory brings its `tokenizer.json`. A GGUF file brings only the vocabulary,
//! the merges and the *name* of its pre-tokenizer (`tokenizer.ggml.pre`), so the
//! tokenizer is assembled here: byte-level BPE behind the split regexes llama.cpp uses
//! for that name. Getting the regexes right is what makes our ids equal llama.cpp's
//! (candle's GGUF tokenizer ignores them and gives SmolLM2 a stray leading space).

use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use super::gguf::GgufFile;
use crate::{Error, Result};

/// GPT-2's split: contractions, letters, digits, punctuation, whitespace.
const GPT2_SPLIT: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's split: case-insensitive contractions, numbers in runs of up to three.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split: as Llama 3's, but every digit alone.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split regexes, applied in order, for a `tokenizer.ggml.pre` name.
fn pre_split_regexes(pre: &str) -> Option<&'static [&'static str]> {
    Some(match pre {
        "default" | "gpt2" | "gpt-2" | "mpt" | "olmo" => &[GPT2_SPLIT],
        "smollm" | "starcoder" | "refact" | "codeshell" => &[r"\p{N}", GPT2_SPLIT],
        "llama3" | "llama-bpe" | "llama-v3" | "smaug-bpe" => &[LLAMA3_SPLIT],
        "qwen2" | "stablelm2" | "deepseek-r1-qwen" => &[QWEN2_SPLIT],
        _ => return None,
    })
}

/// A tokenizer plus the special ids generation needs.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Tokens that end generation.
    pub eos_ids: Vec<u32>,
    /// The beginning-of-sequence token, if the model has one.
    pub bos: Option<String>,
    /// Whether a raw (untemplated) prompt starts with `bos`.
    pub add_bos: bool,
}

impl Tokenizer {
    /// Loads `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| Error::model(path, e))?;
        Ok(Tokenizer { inner, eos_ids: Vec::new(), bos: None, add_bos: false })
    }

    /// Assembles the tokenizer a GGUF file describes.
    pub fn from_gguf(file: &GgufFile) -> Result<Tokenizer> {
        let path = file.path();
        let kind = file.string("tokenizer.ggml.model")?;
        if kind != "gpt2" {
            return Err(Error::model(path, format!("tokenizer model `{kind}` is not supported (byte-level BPE, `gpt2`, is)")));
        }
        let pre = file.string("tokenizer.ggml.pre").unwrap_or("default");
        let regexes = pre_split_regexes(pre)
            .ok_or_else(|| Error::model(path, format!("pre-tokenizer `{pre}` is not supported")))?;
        let strings = |key: &str| -> Result<Vec<&str>> {
            file.array(key)?
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.as_str()),
                    _ => Err(Error::model(path, format!("`{key}` holds a non-string"))),
                })
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| Error::model(path, format!("merge `{m}` is not two tokens")))
            })
            .collect::<Result<_>>()?;
        let types: Vec<i64> = match file.array("tokenizer.ggml.token_type") {
            Ok(values) => values.iter().map(|v| v.to_i32().map(i64::from).unwrap_or(1)).collect(),
            Err(_) => vec![1; tokens.len()],
        };
        let vocab: tokenizers::models::bpe::Vocab =
            tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(regexes == [LLAMA3_SPLIT])
            .build()
            .map_err(|e| Error::model(path, format!("BPE: {e}")))?;

        let mut splits: Vec<PreTokenizerWrapper> = Vec::new();
        for regex in regexes {
            let split = Split::new(SplitPattern::Regex(regex.to_string()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| Error::model(path, format!("pre-tokenizer regex: {e}")))?;
            splits.push(split.into());
        }
        splits.push(ByteLevel::new(false, false, false).into());
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(Sequence::new(splits)));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        // Control (3) and user-defined (4) tokens are matched whole in the text, as
        // llama.cpp does when it parses special tokens.
        let added: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, &ty)| ty == 3 || ty == 4)
            .map(|(t, &ty)| AddedToken::from(t.to_string(), ty == 3))
            .collect();
        inner.add_special_tokens(added).map_err(|e| Error::model(path, format!("special tokens: {e}")))?;

        let id = |key: &str| file.integer(key).ok().map(|v| v as u32);
        let bos = id("tokenizer.ggml.bos_token_id").and_then(|i| tokens.get(i as usize)).map(|t| t.to_string());
        let add_bos = matches!(file.value("tokenizer.ggml.add_bos_token"), Ok(Value::Bool(true)));
        let eos_ids = id("tokenizer.ggml.eos_token_id").into_iter().collect();
        Ok(Tokenizer { inner, eos_ids, bos, add_bos })
    }

    /// Wraps an assembled tokenizer (synthetic models build theirs in code).
    pub(crate) fn from_parts(inner: tokenizers::Tokenizer, eos_ids: Vec<u32>) -> Tokenizer {
        Tokenizer { inner, eos_ids, bos: None, add_bos: false }
    }

    /// Writes the tokenizer as a `tokenizer.json`, e.g. to pair a GGUF's vocabulary
    /// with tools that read Hugging Face tokenizers.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner.save(path, false).map_err(|e| Error::model(path, e))
    }

    /// Token ids of `text`. Special tokens written in the text (`<|im_start|>`) become
    /// their ids; nothing is added around the text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode_fast(text, false).map_err(|e| Error::Request(format!("tokenize: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Every token id's bytes as they appear in text, special tokens marked the way
    /// llguidance expects: what constrained sampling matches the grammar against.
    pub fn token_bytes(&self) -> std::result::Result<Vec<Vec<u8>>, String> {
        let json = self.inner.to_string(false).map_err(|e| format!("tokenizer: {e}"))?;
        let json: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("tokenizer: {e}"))?;
        llguidance::token_bytes_from_tokenizer_json(&json).map_err(|e| format!("tokenizer: {e}"))
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> String {
        // Ids past the tokenizer's vocabulary (synthetic models) decode to nothing.
        let size = self.inner.get_vocab_size(true) as u32;
        let known: Vec<u32> = ids.iter().copied().filter(|&i| i < size).collect();
        self.inner.decode(&known, true).unwrap_or_default()
    }

    /// Ids in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Adds to [`Tokenizer::eos_ids`] the tokens of the vocabulary that end a chat turn,
    /// as llama.cpp marks them end-of-generation by their text: a GGUF whose
    /// `eos_token_id` names another (a Qwen conversion's `<|endoftext|>`, where its chat
    /// turns end with `<|im_end|>`; a Llama 3 one's `<|end_of_text|>` beside
    /// `<|eot_id|>`) would otherwise write past the end of its answer to
    /// `max_new_tokens`.
    pub(crate) fn end_at_turn_ends(&mut self) {
        const TURN_ENDS: [&str; 8] = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>"];
        let ends: Vec<u32> = TURN_ENDS.iter().filter_map(|text| self.token_id(text)).collect();
        self.eos_ids.extend(ends);
        self.eos_ids.sort_unstable();
        self.eos_ids.dedup();
    }

    /// The id of a token written out, e.g. `<|im_end|>`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The text of one id, e.g. for `eos_token` in a chat template.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
}
