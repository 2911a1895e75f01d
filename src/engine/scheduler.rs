//! The continuous-batching scheduler: which sequences run in the next forward step, and
//! how many of their tokens. Pure bookkeeping — no tensors — so it is tested alone.
//!
//! Every step has a token budget (`max_batched_tokens`) and a sequence cap
//! (`max_seqs`). Running sequences go first, oldest first: one token each when
//! decoding, a chunk when still prefilling. What budget is left admits waiting
//! sequences, their prompts cut into chunks (chunked prefill), after reusing any full
//! blocks of their prompt that the prefix cache already holds. When the block pool runs
//! dry, the youngest running sequence is preempted: its blocks are released (hashed ones
//! stay in the prefix cache) and it waits at the head of the queue to be recomputed.
//! Oldest-first service and youngest-first preemption mean every sequence eventually
//! becomes the oldest and runs to the end: nothing starves.

use std::collections::VecDeque;

use super::blocks::{chain_hash, BlockAllocator, BlockId};
use super::step::SeqId;

/// Limits of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Tokens one forward step may carry, all sequences together.
    pub max_batched_tokens: usize,
    /// Sequences one step may carry.
    pub max_seqs: usize,
}

struct Sequence {
    id: SeqId,
    /// Prompt, then every generated token.
    tokens: Vec<u32>,
    /// Leading tokens whose keys and values are in the cache.
    computed: usize,
    blocks: Vec<BlockId>,
    /// Leading full blocks registered in the prefix cache, and the last one's hash.
    hashed: usize,
    last_hash: u64,
    arrival: u64,
}

/// One sequence's share of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledChunk {
    /// The sequence.
    pub id: SeqId,
    /// The tokens to run.
    pub tokens: Vec<u32>,
    /// Tokens already cached: the chunk's first position.
    pub past: usize,
    /// The chunk ends the known tokens, so the step must produce logits for it.
    pub wants_logits: bool,
    /// The sequence's block table, covering `past + tokens.len()` tokens.
    pub blocks: Vec<BlockId>,
}

/// What the next step runs.
#[derive(Debug, Default)]
pub struct Schedule {
    /// Chunks to pack into one forward step.
    pub chunks: Vec<ScheduledChunk>,
    /// Sequences preempted to make room; they will be recomputed.
    pub preempted: Vec<SeqId>,
}

/// Counters for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Prompt tokens served from the prefix cache instead of being computed.
    pub cached_tokens: u64,
    /// Preemptions so far.
    pub preemptions: u64,
}

/// Waiting and running sequences over one block pool.
pub struct Scheduler {
    config: SchedulerConfig,
    blocks: BlockAllocator,
    waiting: VecDeque<Sequence>,
    /// Sorted by arrival: the oldest first, the youngest (next to preempt) last.
    running: Vec<Sequence>,
    arrivals: u64,
    stats: SchedulerStats,
}

impl Scheduler {
    /// A scheduler over `blocks`.
    pub fn new(config: SchedulerConfig, blocks: BlockAllocator) -> Scheduler {
        assert!(config.max_batched_tokens > 0 && config.max_seqs > 0, "limits must be positive");
        Scheduler { config, blocks, waiting: VecDeque::new(), running: Vec::new(), arrivals: 0, stats: SchedulerStats::default() }
    }

    /// Queues a sequence that may grow to `max_len` tokens. Refused when even the whole
    /// pool could not hold it, since it could then never finish.
    pub fn add(&mut self, id: SeqId, prompt: Vec<u32>, max_len: usize) -> Result<(), String> {
        if prompt.is_empty() {
            return Err("the prompt is empty".into());
        }
        let need = self.blocks.blocks_for(max_len.max(prompt.len()));
        if need > self.blocks.capacity() {
            return Err(format!(
                "the sequence may need {need} KV blocks of {} tokens; the pool has {} (raise the KV memory)",
                self.blocks.block_size(),
                self.blocks.capacity()
            ));
        }
        self.arrivals += 1;
        let seq = Sequence { id, tokens: prompt, computed: 0, blocks: Vec::new(), hashed: 0, last_hash: 0, arrival: self.arrivals };
        self.waiting.push_back(seq);
        Ok(())
    }

    /// Whether anything is left to run.
    pub fn has_work(&self) -> bool {
        !self.waiting.is_empty() || !self.running.is_empty()
    }

    /// Sequences running and waiting.
    pub fn counts(&self) -> (usize, usize) {
        (self.running.len(), self.waiting.len())
    }

    /// Counters, plus the block pool's prefix lookups and hits.
    pub fn stats(&self) -> (SchedulerStats, (u64, u64)) {
        (self.stats, self.blocks.prefix_stats())
    }

    /// Plans the next step.
    pub fn schedule(&mut self) -> Schedule {
        let mut schedule = Schedule::default();
        let mut budget = self.config.max_batched_tokens;
        let mut i = 0;
        while i < self.running.len() && budget > 0 {
            let n = (self.running[i].tokens.len() - self.running[i].computed).min(budget);
            let need = self.blocks.blocks_for(self.running[i].computed + n) - self.running[i].blocks.len();
            while self.blocks.available() < need && self.running.len() > i + 1 {
                let victim = self.running.pop().expect("a younger sequence");
                schedule.preempted.push(victim.id);
                self.preempt(victim);
            }
            if self.blocks.available() < need {
                // Only older sequences hold blocks: this one waits its turn.
                let this = self.running.remove(i);
                schedule.preempted.push(this.id);
                self.preempt(this);
                continue;
            }
            schedule.chunks.push(self.take_chunk(i, n, need));
            budget -= n;
            i += 1;
        }
        while budget > 0 && self.running.len() < self.config.max_seqs && !self.waiting.is_empty() {
            let mut seq = self.waiting.pop_front().expect("not empty");
            if seq.blocks.is_empty() {
                self.reuse_cached_prefix(&mut seq);
            }
            let n = (seq.tokens.len() - seq.computed).min(budget);
            let need = self.blocks.blocks_for(seq.computed + n) - seq.blocks.len();
            if self.blocks.available() < need {
                self.release_blocks(&mut seq);
                self.waiting.push_front(seq);
                break;
            }
            let at = self.running.partition_point(|s| s.arrival < seq.arrival);
            self.running.insert(at, seq);
            schedule.chunks.push(self.take_chunk(at, n, need));
            budget -= n;
        }
        schedule
    }

    /// Records that the step ran: each chunk's tokens are now cached, and full blocks
    /// join the prefix cache.
    pub fn complete(&mut self, schedule: &Schedule) {
        let block_size = self.blocks.block_size();
        for chunk in &schedule.chunks {
            let Some(seq) = self.running.iter_mut().find(|s| s.id == chunk.id) else { continue };
            seq.computed += chunk.tokens.len();
            while (seq.hashed + 1) * block_size <= seq.computed {
                let range = seq.hashed * block_size..(seq.hashed + 1) * block_size;
                seq.last_hash = chain_hash(seq.last_hash, &seq.tokens[range]);
                self.blocks.register(seq.blocks[seq.hashed], seq.last_hash);
                seq.hashed += 1;
            }
        }
    }

    /// Appends a sampled token to a running sequence; the next step decodes it.
    pub fn append(&mut self, id: SeqId, token: u32) {
        if let Some(seq) = self.running.iter_mut().find(|s| s.id == id) {
            seq.tokens.push(token);
        }
    }

    /// Removes a finished sequence and frees its blocks.
    pub fn finish(&mut self, id: SeqId) {
        if let Some(at) = self.running.iter().position(|s| s.id == id) {
            let mut seq = self.running.remove(at);
            self.release_blocks(&mut seq);
        } else if let Some(at) = self.waiting.iter().position(|s| s.id == id) {
            let mut seq = self.waiting.remove(at).expect("found");
            self.release_blocks(&mut seq);
        }
    }

    /// Gives running sequence `i` the `need` blocks its next `n` tokens lack.
    fn take_chunk(&mut self, i: usize, n: usize, need: usize) -> ScheduledChunk {
        for _ in 0..need {
            let block = self.blocks.allocate().expect("availability checked");
            self.running[i].blocks.push(block);
        }
        let seq = &self.running[i];
        ScheduledChunk {
            id: seq.id,
            tokens: seq.tokens[seq.computed..seq.computed + n].to_vec(),
            past: seq.computed,
            wants_logits: seq.computed + n == seq.tokens.len(),
            blocks: seq.blocks.clone(),
        }
    }

    /// Takes the longest run of the sequence's full blocks the cache holds, leaving at
    /// least one token to compute (its logits are needed).
    fn reuse_cached_prefix(&mut self, seq: &mut Sequence) {
        let block_size = self.blocks.block_size();
        while (seq.hashed + 1) * block_size < seq.tokens.len() {
            let range = seq.hashed * block_size..(seq.hashed + 1) * block_size;
            let hash = chain_hash(seq.last_hash, &seq.tokens[range]);
            let Some(block) = self.blocks.lookup(hash) else { break };
            seq.blocks.push(block);
            seq.last_hash = hash;
            seq.hashed += 1;
            seq.computed += block_size;
            self.stats.cached_tokens += block_size as u64;
        }
    }

    fn release_blocks(&mut self, seq: &mut Sequence) {
        for block in seq.blocks.drain(..) {
            self.blocks.release(block);
        }
        seq.computed = 0;
        seq.hashed = 0;
        seq.last_hash = 0;
    }

    fn preempt(&mut self, mut seq: Sequence) {
        self.release_blocks(&mut seq);
        self.stats.preemptions += 1;
        // Preempted sequences are older than anything still waiting: they go first.
        let at = self.waiting.partition_point(|s| s.arrival < seq.arrival);
        self.waiting.insert(at, seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Drives the scheduler as the engine would, with a fake model that always samples
    /// token 1, until every sequence has `new_tokens` generated tokens.
    fn run(sched: &mut Scheduler, prompts: &[(SeqId, usize)], new_tokens: usize) -> Vec<Schedule> {
        let mut generated: HashMap<SeqId, usize> = HashMap::new();
        let mut steps = Vec::new();
        for &(id, len) in prompts {
            sched.add(id, vec![7; len], len + new_tokens).unwrap();
        }
        let mut guard = 0;
        while sched.has_work() {
            guard += 1;
            assert!(guard < 10_000, "no progress: livelock");
            let s = sched.schedule();
            assert!(!s.chunks.is_empty() || !sched.has_work(), "a step with nothing to run");
            sched.complete(&s);
            for c in &s.chunks {
                if c.wants_logits {
                    let n = generated.entry(c.id).or_default();
                    *n += 1;
                    if *n == new_tokens {
                        sched.finish(c.id);
                    } else {
                        sched.append(c.id, 1);
                    }
                }
            }
            steps.push(s);
        }
        steps
    }

    fn config(tokens: usize, seqs: usize) -> SchedulerConfig {
        SchedulerConfig { max_batched_tokens: tokens, max_seqs: seqs }
    }

    #[test]
    fn every_step_respects_the_token_budget_and_sequence_cap() {
        let mut s = Scheduler::new(config(32, 3), BlockAllocator::new(64, 4));
        let prompts: Vec<_> = (0..8).map(|i| (i, 5 + 7 * i as usize)).collect();
        let steps = run(&mut s, &prompts, 5);
        for step in &steps {
            let tokens: usize = step.chunks.iter().map(|c| c.tokens.len()).sum();
            assert!(tokens <= 32 && step.chunks.len() <= 3, "{tokens} tokens, {} seqs", step.chunks.len());
            for c in &step.chunks {
                assert!(c.blocks.len() * 4 >= c.past + c.tokens.len(), "blocks cover the chunk");
            }
        }
        // Long prompts were split: some chunk is a non-final prefill chunk.
        assert!(steps.iter().flat_map(|s| &s.chunks).any(|c| !c.wants_logits));
        // Decodes and prefills share steps (continuous batching).
        assert!(steps.iter().any(|s| s.chunks.iter().any(|c| c.tokens.len() == 1 && c.past > 0)
            && s.chunks.iter().any(|c| c.tokens.len() > 1)));
    }

    #[test]
    fn a_pool_too_small_for_all_completes_everything_by_preemption() {
        // 12 blocks of 4 = 48 tokens; six sequences each reach 20 tokens (5 blocks).
        let mut s = Scheduler::new(config(64, 8), BlockAllocator::new(12, 4));
        let prompts: Vec<_> = (0..6).map(|i| (i, 12)).collect();
        run(&mut s, &prompts, 8);
        let (stats, _) = s.stats();
        assert!(stats.preemptions > 0, "the pool cannot hold all: someone was preempted");
        assert_eq!(s.blocks.available(), 12, "every block came back");
    }

    #[test]
    fn no_sequence_starves() {
        // A stream of short requests must not keep the long one from finishing.
        let mut s = Scheduler::new(config(16, 4), BlockAllocator::new(10, 4));
        s.add(100, vec![3; 20], 30).unwrap();
        let mut finished_long_at = None;
        let mut next_id = 0;
        for step in 0..500 {
            if step % 2 == 0 {
                s.add(next_id, vec![5; 6], 8).unwrap();
                next_id += 1;
            }
            let sch = s.schedule();
            s.complete(&sch);
            for c in sch.chunks.iter().filter(|c| c.wants_logits) {
                let len = c.past + c.tokens.len();
                let limit = if c.id == 100 { 30 } else { 8 };
                if len >= limit {
                    s.finish(c.id);
                    if c.id == 100 {
                        finished_long_at = Some(step);
                    }
                } else {
                    s.append(c.id, 1);
                }
            }
            if finished_long_at.is_some() {
                break;
            }
        }
        assert!(finished_long_at.is_some(), "the long request starved");
    }

    #[test]
    fn shared_prefixes_hit_the_cache() {
        let mut s = Scheduler::new(config(256, 8), BlockAllocator::new(64, 4));
        let template: Vec<u32> = (0..16).collect();
        let prompt = |tail: u32| template.iter().copied().chain([100 + tail, 200 + tail]).collect::<Vec<_>>();
        s.add(1, prompt(1), 20).unwrap();
        let first = s.schedule();
        s.complete(&first);
        assert_eq!(first.chunks[0].tokens.len(), 18, "nothing cached yet");
        s.add(2, prompt(2), 20).unwrap();
        let second = s.schedule();
        let chunk = second.chunks.iter().find(|c| c.id == 2).unwrap();
        assert_eq!((chunk.past, chunk.tokens.len()), (16, 2), "four template blocks reused");
        assert_eq!(&chunk.blocks[..4], &first.chunks[0].blocks[..4], "the same physical blocks");
        let (stats, (lookups, hits)) = s.stats();
        assert_eq!((stats.cached_tokens, hits), (16, 4));
        assert!(lookups >= 4);
    }

    #[test]
    fn a_sequence_that_can_never_fit_is_refused() {
        let mut s = Scheduler::new(config(16, 4), BlockAllocator::new(4, 4));
        assert!(s.add(1, vec![1; 10], 17).unwrap_err().contains("KV blocks"));
        assert!(s.add(2, vec![], 4).is_err());
        assert!(s.add(3, vec![1; 10], 16).is_ok());
    }
}
