//! The paged KV cache's bookkeeping: which fixed-size blocks are free, who holds each
//! one, and which full blocks hold a known token prefix (the prefix cache). Pure
//! bookkeeping: the key/value memory itself lives in [`super::kv::PagedKvCache`].

use std::collections::{HashMap, VecDeque};

/// Index of a block in the pool.
pub type BlockId = u32;

/// Identifies a full block's content *and* everything before it: hash of the parent
/// block's hash and this block's tokens. Equal hashes mean equal prefixes.
pub fn chain_hash(parent: u64, tokens: &[u32]) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&parent.to_le_bytes());
    for t in tokens {
        h.update(&t.to_le_bytes());
    }
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

/// The pool of KV blocks.
///
/// A block is *held* while some sequence's table points at it (`refs > 0`). A released
/// block that holds a full, hashed prefix is kept in the prefix index and queued for
/// reuse after plain free blocks, oldest release first, so the shared prompt template
/// survives until memory is really needed (LRU eviction).
pub struct BlockAllocator {
    block_size: usize,
    refs: Vec<u32>,
    hash_of: Vec<Option<u64>>,
    by_hash: HashMap<u64, BlockId>,
    /// Unheld blocks: plain free ones at the front, cached ones behind in release order.
    free: VecDeque<BlockId>,
    hits: u64,
    lookups: u64,
}

impl BlockAllocator {
    /// A pool of `num_blocks` blocks of `block_size` tokens.
    pub fn new(num_blocks: usize, block_size: usize) -> BlockAllocator {
        assert!(block_size > 0, "block size must be positive");
        BlockAllocator {
            block_size,
            refs: vec![0; num_blocks],
            hash_of: vec![None; num_blocks],
            by_hash: HashMap::new(),
            free: (0..num_blocks as BlockId).collect(),
            hits: 0,
            lookups: 0,
        }
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks in the pool.
    pub fn capacity(&self) -> usize {
        self.refs.len()
    }

    /// Blocks that can be handed out now (free or evictable).
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Blocks needed to hold `tokens` tokens.
    pub fn blocks_for(&self, tokens: usize) -> usize {
        tokens.div_ceil(self.block_size)
    }

    /// Takes a block, evicting the least recently released cached block if no plain
    /// free block is left.
    pub fn allocate(&mut self) -> Option<BlockId> {
        let block = self.free.pop_front()?;
        if let Some(hash) = self.hash_of[block as usize].take() {
            self.by_hash.remove(&hash);
        }
        self.refs[block as usize] = 1;
        Some(block)
    }

    /// Drops one reference; the block becomes reusable when none are left.
    pub fn release(&mut self, block: BlockId) {
        let refs = &mut self.refs[block as usize];
        assert!(*refs > 0, "block {block} released more often than held");
        *refs -= 1;
        if *refs == 0 {
            match self.hash_of[block as usize] {
                Some(_) => self.free.push_back(block),
                None => self.free.push_front(block),
            }
        }
    }

    /// The cached block holding the prefix `hash`, now held once more.
    pub fn lookup(&mut self, hash: u64) -> Option<BlockId> {
        self.lookups += 1;
        let block = *self.by_hash.get(&hash)?;
        if self.refs[block as usize] == 0 {
            let at = self.free.iter().position(|&b| b == block).expect("unheld blocks are in the free queue");
            self.free.remove(at);
        }
        self.refs[block as usize] += 1;
        self.hits += 1;
        Some(block)
    }

    /// Records that `block` (held, full) holds the prefix `hash`. If another block
    /// already holds it, the index keeps the first.
    pub fn register(&mut self, block: BlockId, hash: u64) {
        if self.hash_of[block as usize].is_none() && !self.by_hash.contains_key(&hash) {
            self.hash_of[block as usize] = Some(hash);
            self.by_hash.insert(hash, block);
        }
    }

    /// Full-block prefix lookups so far, and how many hit.
    pub fn prefix_stats(&self) -> (u64, u64) {
        (self.lookups, self.hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_cached_blocks_are_reused_last_and_oldest_first() {
        let mut pool = BlockAllocator::new(4, 2);
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        pool.register(a, 11);
        pool.register(b, 22);
        pool.release(a);
        pool.release(b);
        // Two plain blocks go first, then a (released first), then b.
        let order: Vec<_> = (0..4).map(|_| pool.allocate().unwrap()).collect();
        assert_eq!(&order[2..], &[a, b]);
        assert!(pool.allocate().is_none());
        // Evicted on reuse: the prefix is gone.
        assert!(pool.lookup(11).is_none());
    }

    #[test]
    fn a_hit_revives_an_unheld_block_and_shares_a_held_one() {
        let mut pool = BlockAllocator::new(3, 4);
        let a = pool.allocate().unwrap();
        pool.register(a, 7);
        assert_eq!(pool.lookup(7), Some(a)); // shared while held
        pool.release(a);
        pool.release(a);
        assert_eq!(pool.available(), 3);
        assert_eq!(pool.lookup(7), Some(a)); // revived from the free queue
        assert_eq!(pool.available(), 2);
        assert_eq!(pool.prefix_stats(), (2, 2));
        assert_ne!(chain_hash(0, &[1, 2]), chain_hash(0, &[2, 1]));
        assert_ne!(chain_hash(1, &[1, 2]), chain_hash(2, &[1, 2]));
    }
}
