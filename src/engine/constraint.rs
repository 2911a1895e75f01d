//! Constrained sampling: a JSON schema decides, token by token, which tokens may come
//! next, so even a small model's answer parses. The grammar engine is llguidance (what
//! llama.cpp and vLLM use); this module adapts it to our tokenizer and sampler.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, SimpleVob, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};

use super::Tokenizer;

/// Makes per-request constraints for one tokenizer. Building it indexes every token's
/// bytes, so a model builds it once, on first use.
pub struct GrammarCompiler {
    factory: ParserFactory,
}

impl GrammarCompiler {
    /// Indexes `tokenizer`'s vocabulary for a model whose logits have `vocab_size` entries.
    pub fn new(tokenizer: &Tokenizer, vocab_size: usize) -> Result<GrammarCompiler, String> {
        let eos = *tokenizer.eos_ids.first().ok_or("the tokenizer has no end-of-sequence token")?;
        let mut words = tokenizer.token_bytes()?;
        // Logit rows padded past the tokenizer (Qwen's 152064 vs 151665) are tokens no
        // text maps to; empty words make the grammar never allow them.
        if words.len() < vocab_size {
            words.resize(vocab_size, Vec::new());
        }
        let trie = TokTrie::from(&TokRxInfo::new(words.len() as u32, eos), &words);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| format!("grammar engine: {e}"))?;
        factory.quiet();
        Ok(GrammarCompiler { factory })
    }

    /// A constraint that admits exactly the JSON documents `schema` allows.
    pub fn json_schema(&self, schema: &serde_json::Value) -> Result<Constraint, String> {
        let grammar = TopLevelGrammar::from_json_schema(schema.clone());
        let parser = self.factory.create_parser(grammar).map_err(|e| format!("JSON schema: {e}"))?;
        Ok(Constraint { matcher: Matcher::new(Ok(parser)) })
    }
}

/// One request's grammar state.
pub struct Constraint {
    matcher: Matcher,
}

impl Constraint {
    /// The tokens the grammar allows next (only end-of-sequence once the document is
    /// complete). It depends on the tokens accepted so far only, so the engine computes
    /// it while the forward pass makes the logits it applies to.
    pub fn allowed(&mut self) -> Result<Allowed, String> {
        self.matcher.compute_mask_or_eos().map(Allowed).map_err(|e| format!("grammar: {e}"))
    }

    /// Advances past a sampled token.
    pub fn accept(&mut self, token: u32) -> Result<(), String> {
        self.matcher.consume_token(token).map_err(|e| format!("grammar: {e}"))
    }

    /// Whether the document is complete (nothing but end-of-sequence may follow).
    pub fn is_complete(&self) -> bool {
        self.matcher.is_stopped()
    }
}

/// A vocabulary mask from [`Constraint::allowed`].
pub struct Allowed(SimpleVob);

impl Allowed {
    /// Sets every logit the grammar does not allow to −∞.
    pub fn apply(&self, logits: &mut [f32]) {
        for (token, logit) in logits.iter_mut().enumerate() {
            if !self.0.is_allowed(token as u32) {
                *logit = f32::NEG_INFINITY;
            }
        }
    }
}
