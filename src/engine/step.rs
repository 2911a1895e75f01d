//! The layout of one packed forward step: which of its tokens belong to which sequence,
//! where each sequence's chunk starts, and the blocks that hold its past. The scheduler
//! and the batcher write it; the model and every attention backend read it.

use super::blocks::BlockId;

/// Identifies a sequence for the whole of its life in the engine.
pub type SeqId = u64;

/// One sequence's share of a packed forward step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqChunk {
    /// The sequence.
    pub id: SeqId,
    /// Index of the chunk's first token in the packed token list.
    pub start: usize,
    /// Number of tokens: a prefill chunk, or 1 for a decode step.
    pub len: usize,
    /// Tokens already cached for this sequence: the chunk's first position.
    pub past: usize,
    /// Whether the step should return logits for the chunk's last token. A prefill
    /// chunk that does not end the prompt needs none.
    pub wants_logits: bool,
    /// The sequence's block table; it must cover `past + len` tokens.
    pub blocks: Vec<BlockId>,
}

impl SeqChunk {
    /// The pool slot (block × `block_size` + offset) holding the sequence's token at `pos`.
    pub fn slot(&self, pos: usize, block_size: usize) -> usize {
        self.blocks[pos / block_size] as usize * block_size + pos % block_size
    }

    /// The first `context` tokens as runs of consecutive slots, one per block:
    /// (first position, first slot, tokens).
    pub fn slot_runs(&self, context: usize, block_size: usize) -> impl Iterator<Item = (usize, usize, usize)> + Clone + '_ {
        let blocks = &self.blocks[..context.div_ceil(block_size)];
        blocks.iter().enumerate().map(move |(b, &id)| (b * block_size, id as usize * block_size, block_size.min(context - b * block_size)))
    }
}
