//! Attention over the paged cache with tensor operations, for devices where a loop over
//! sequences would cost a kernel launch each (GPUs).
//!
//! Per step, on the host once: every chunk's cache slots and query rows become index
//! tensors, padded to the longest in its group, with an additive mask. Per layer: one
//! `scatter_set` writes the step's keys and values into their slots; then each group
//! gathers its keys and values with `index_select` into `[batch, heads, context, dim]`
//! and runs masked `softmax(QKᵀ/√d)·V` as two batched matmuls; one `index_select` puts
//! the rows back in packed order. All decodes form one group and each prefill chunk its
//! own (so padding never multiplies a long prompt by the batch), so the launches per
//! layer are a constant plus a few per prefill chunk in the step — never one per
//! sequence. On CPU the same code runs on candle's CPU kernels, which is how it is
//! tested against the host kernel and how the two are compared (`--attention`).

use candle_core::{DType, Device, Tensor};

use super::step::SeqChunk;

/// One batched attention call: chunks padded to the same query and context lengths.
pub(super) struct Group {
    batch: usize,
    queries: usize,
    context: usize,
    /// `[batch * queries]` packed query rows (padding repeats the group's first row).
    query_rows: Tensor,
    /// `[batch * context]` cache slots (padding repeats slot 0).
    slots: Tensor,
    /// `[batch, 1, queries, context]` f32: 0 where a query may look, -inf elsewhere.
    mask: Tensor,
}

/// Index tensors of one step, shared by every layer.
pub(super) struct Plan {
    /// `[tokens, kv_dim]`: each packed token's slot, repeated across the row.
    write_slots: Tensor,
    groups: Vec<Group>,
    /// `[tokens]`: where each packed row sits in the groups' concatenated output.
    unpack: Tensor,
}

/// `[tokens, kv_dim]`: each packed token's cache slot, repeated across the row, which is
/// how `scatter_set` takes the step's keys and values into the pool.
pub(super) fn write_slots(chunks: &[SeqChunk], block_size: usize, kv_dim: usize, device: &Device) -> candle_core::Result<Tensor> {
    let tokens: usize = chunks.iter().map(|c| c.len).sum();
    let mut write = Vec::with_capacity(tokens * kv_dim);
    for c in chunks {
        for pos in c.past..c.past + c.len {
            write.extend(std::iter::repeat_n(c.slot(pos, block_size) as u32, kv_dim));
        }
    }
    Tensor::from_vec(write, (tokens, kv_dim), device)
}

/// Writes `k`, `v` (`[tokens, kv_dim]`) into their slots of `keys`, `values`: two launches.
pub(super) fn store(keys: &Tensor, values: &Tensor, k: &Tensor, v: &Tensor, write_slots: &Tensor) -> candle_core::Result<()> {
    keys.scatter_set(write_slots, &k.to_dtype(keys.dtype())?.contiguous()?, 0)?;
    values.scatter_set(write_slots, &v.to_dtype(values.dtype())?.contiguous()?, 0)
}

impl Plan {
    pub(super) fn new(chunks: &[SeqChunk], block_size: usize, kv_dim: usize, device: &Device) -> candle_core::Result<Plan> {
        let slot = |c: &SeqChunk, pos: usize| c.slot(pos, block_size) as u32;
        let tokens: usize = chunks.iter().map(|c| c.len).sum();
        let (decodes, prefills): (Vec<&SeqChunk>, Vec<&SeqChunk>) = chunks.iter().partition(|c| c.len == 1);
        let mut members: Vec<Vec<&SeqChunk>> = prefills.into_iter().map(|c| vec![c]).collect();
        if !decodes.is_empty() {
            members.push(decodes);
        }
        let mut unpack = vec![0u32; tokens];
        let mut offset = 0usize;
        let mut groups = Vec::with_capacity(members.len());
        for group in members {
            let queries = group.iter().map(|c| c.len).max().unwrap_or(1);
            let context = group.iter().map(|c| c.past + c.len).max().unwrap_or(1);
            let (mut rows, mut slots, mut mask) = (Vec::new(), Vec::new(), Vec::new());
            for (b, c) in group.iter().enumerate() {
                for i in 0..queries {
                    rows.push((c.start + i.min(c.len - 1)) as u32);
                    if i < c.len {
                        unpack[c.start + i] = (offset + b * queries + i) as u32;
                    }
                    // Causal within the sequence; a padding row looks at its last real
                    // row's keys, so its softmax is defined (and then dropped).
                    let visible = c.past + i.min(c.len - 1) + 1;
                    mask.extend((0..context).map(|j| if j < visible { 0f32 } else { f32::NEG_INFINITY }));
                }
                slots.extend((0..context).map(|j| if j < c.past + c.len { slot(c, j) } else { 0 }));
            }
            let batch = group.len();
            groups.push(Group {
                batch,
                queries,
                context,
                query_rows: Tensor::from_vec(rows, batch * queries, device)?,
                slots: Tensor::from_vec(slots, batch * context, device)?,
                mask: Tensor::from_vec(mask, (batch, 1, queries, context), device)?,
            });
            offset += batch * queries;
        }
        Ok(Plan {
            write_slots: write_slots(chunks, block_size, kv_dim, device)?,
            groups,
            unpack: Tensor::from_vec(unpack, tokens, device)?,
        })
    }
}

/// Shapes the attention needs.
pub(super) struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Writes `k`, `v` (`[tokens, kv_heads * head_dim]`) into their slots of `keys`, `values`
/// (`[slots, kv_heads * head_dim]`), then attends for every packed query row of `q`
/// (`[tokens, heads * head_dim]`). Returns `[tokens, heads * head_dim]` in `q`'s dtype.
pub(super) fn attend(keys: &Tensor, values: &Tensor, q: &Tensor, k: &Tensor, v: &Tensor, plan: &Plan, h: &Heads) -> candle_core::Result<Tensor> {
    store(keys, values, k, v, &plan.write_slots)?;
    let scale = 1.0 / (h.head_dim as f64).sqrt();
    let group_size = h.heads / h.kv_heads;
    let mut outputs = Vec::with_capacity(plan.groups.len());
    for g in &plan.groups {
        // Grouped-query attention without a copy of the keys per query head: the query
        // heads sharing a key/value head become more query rows of it, so the gathered
        // keys and values are `group_size` times smaller than the heads' count implies
        // (5× for the 32B shapes, 7× for the 7B).
        let rows = g.batch * g.queries;
        let q = q
            .index_select(&g.query_rows, 0)?
            .reshape((g.batch, g.queries, h.kv_heads, group_size, h.head_dim))?
            .permute((0, 2, 3, 1, 4))?
            .contiguous()?
            .reshape((g.batch, h.kv_heads, group_size * g.queries, h.head_dim))?;
        let gather = |pool: &Tensor| -> candle_core::Result<Tensor> {
            let t = pool.index_select(&g.slots, 0)?.reshape((g.batch, g.context, h.kv_heads, h.head_dim))?;
            t.transpose(1, 2)?.to_dtype(q.dtype())?.contiguous()
        };
        let (k, v) = (gather(keys)?, gather(values)?);
        let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
        let scores = scores.reshape((g.batch, h.kv_heads, group_size, g.queries, g.context))?;
        let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&g.mask.unsqueeze(1)?)?)?;
        let probs = probs.to_dtype(v.dtype())?.reshape((g.batch, h.kv_heads, group_size * g.queries, g.context))?;
        let out = probs.matmul(&v)?.reshape((g.batch, h.kv_heads, group_size, g.queries, h.head_dim))?;
        outputs.push(out.permute((0, 3, 1, 2, 4))?.reshape((rows, h.heads * h.head_dim))?);
    }
    let all = Tensor::cat(&outputs, 0)?;
    all.index_select(&plan.unpack, 0)
}

