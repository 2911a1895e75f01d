//! The paged key/value cache and the causal attention that reads it.
//!
//! Keys and values live in fixed-size blocks of one pool per layer; a sequence's block
//! table (kept by the scheduler, see [`super::blocks`]) says which blocks hold its
//! tokens, in order. A step writes each new token's key and value into its slot, then
//! attends. Three implementations sit behind [`PagedKvCache::attend`], one per stage of
//! a model split across devices (the host's stage beside cards attends on the host):
//!
//! - [`AttentionBackend::Host`] (CPU): the pool is host memory in anonymous mappings
//!   (pages the run never writes cost nothing), f16 or f32 ([`host_kv_dtype`]), read in
//!   place by our rayon kernel (`engine::host_attention`): decoding tokens straight over
//!   their blocks, prefill chunks a tile of tokens at a time as matrix products.
//! - [`AttentionBackend::Gathered`] (GPUs): the pool is device tensors, and each layer
//!   gathers blocks into padded batches for batched matmuls (`engine::gathered`), a
//!   bounded number of launches however many sequences the step carries.
//! - [`AttentionBackend::Flash`] (Ampere and later, with the `flash-attn` feature): the
//!   same pool, read in place through a block table by flash-attention's paged kernel
//!   (`engine::flash`): three launches per layer, no gather.

use std::ops::Range;

use candle_core::{DType, Device, Tensor};
use half::f16;

use super::config::ModelConfig;
use super::gathered::{self, Heads};
use super::host_attention::{self, HostFloat, Shape};
use super::placement::Stage;
use super::step::SeqChunk;
use crate::{Error, Result};

/// Which attention implementation reads the paged cache. In a pipeline's `[engine]`
/// and on the command line it is written as [`AttentionBackend::name`] gives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AttentionBackend {
    /// `host` on the CPU, `gathered` on a GPU.
    #[default]
    Auto,
    /// Host f16 or f32 blocks and our rayon kernel.
    Host,
    /// Device-tensor blocks, gathered into batched matmuls.
    Gathered,
    /// Device-tensor blocks, read in place by flash-attention.
    Flash,
}

impl AttentionBackend {
    const ALL: [AttentionBackend; 4] = [AttentionBackend::Auto, AttentionBackend::Host, AttentionBackend::Gathered, AttentionBackend::Flash];

    /// How it is written.
    pub fn name(self) -> &'static str {
        match self {
            AttentionBackend::Auto => "auto",
            AttentionBackend::Host => "host",
            AttentionBackend::Gathered => "gathered",
            AttentionBackend::Flash => "flash",
        }
    }
}

impl std::str::FromStr for AttentionBackend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        AttentionBackend::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("`{s}`: the attention is auto, host, gathered or flash"))
    }
}

impl TryFrom<String> for AttentionBackend {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<AttentionBackend> for String {
    fn from(attention: AttentionBackend) -> String {
        attention.name().to_string()
    }
}

/// Key and value blocks of every layer.
pub struct PagedKvCache {
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    block_size: usize,
    num_blocks: usize,
    /// One pool per stage of the model, each read by its own attention.
    pools: Vec<Pool>,
    /// Per layer: its pool, and its place among that pool's layers.
    layer_at: Vec<(usize, usize)>,
}

/// A stage's layers' keys and values, each `[num_blocks * block_size, kv_heads * head_dim]`.
enum Pool {
    Host(HostPool),
    Gathered(DevicePool<gathered::Plan>),
    #[cfg(feature = "flash-attn")]
    Flash(DevicePool<super::flash::Plan>),
}

/// Host layers' keys and values, in the float the pool was made with.
enum HostPool {
    F32(Vec<HostLayer<f32>>),
    F16(Vec<HostLayer<f16>>),
}

/// One layer's keys and values on the host.
type HostLayer<E> = (LazyZeroed<E>, LazyZeroed<E>);

/// What the host pool holds keys and values in: f32 where `asked` (the engine's dtype)
/// is f32, as a GPU run is checked against the CPU's; otherwise f16, as llama.cpp's
/// cache is by default. A decoding token reads its whole context from the pool each
/// step, and at a few hundred tokens of context those reads are most of a step's
/// attention: half the bytes, and twice the tokens in the same memory.
pub fn host_kv_dtype(asked: Option<DType>) -> DType {
    match asked {
        Some(DType::F32) => DType::F32,
        _ => DType::F16,
    }
}

/// Device tensors of one stage's layers, with the step in progress's index tensors
/// (`P`), built once for all of them.
struct DevicePool<P> {
    layers: Vec<(Tensor, Tensor)>,
    device: Device,
    plan: Option<P>,
}

impl<P> DevicePool<P> {
    fn new(config: &ModelConfig, num_blocks: usize, block_size: usize, stage: &Stage) -> Result<DevicePool<P>> {
        let shape = (num_blocks * block_size, config.kv_dim());
        let zeros = || Tensor::zeros(shape, stage.dtype, &stage.device);
        let layers = stage.layers.clone().map(|_| Ok((zeros()?, zeros()?))).collect::<Result<_>>()?;
        Ok(DevicePool { layers, device: stage.device.clone(), plan: None })
    }

    /// Builds the step's plan on the pool's device.
    fn plan(&mut self, build: impl Fn(&Device) -> candle_core::Result<P>) -> candle_core::Result<()> {
        self.plan = Some(build(&self.device)?);
        Ok(())
    }

    /// The `at`th layer's keys, values and the plan for the step in progress.
    fn layer(&self, at: usize) -> Result<(&Tensor, &Tensor, &P)> {
        let plan = self.plan.as_ref().ok_or_else(|| Error::Request("attend before begin_step".into()))?;
        let (keys, values) = &self.layers[at];
        Ok((keys, values, plan))
    }
}

impl PagedKvCache {
    /// A host pool of `num_blocks` blocks of `block_size` tokens for a model of this
    /// shape, in `host` ([`host_kv_dtype`]). The memory is zeroed lazily by the OS, so an
    /// unused pool costs little.
    pub fn new(config: &ModelConfig, num_blocks: usize, block_size: usize, host: DType) -> Result<PagedKvCache> {
        let pool = host_pool(config, config.num_layers, num_blocks, block_size, host)?;
        Ok(PagedKvCache::with_pools(config, num_blocks, block_size, vec![(0..config.num_layers, pool)]))
    }

    /// A pool per stage, each of the attention its stage runs (`attentions`, in stage
    /// order): host memory in `host` ([`host_kv_dtype`]), or device tensors of the
    /// stage's dtype.
    pub fn staged(config: &ModelConfig, num_blocks: usize, block_size: usize, stages: &[Stage], attentions: &[AttentionBackend], host: DType) -> Result<PagedKvCache> {
        let pools = stages
            .iter()
            .zip(attentions)
            .map(|(stage, &attention)| {
                let pool = match attention {
                    AttentionBackend::Host if stage.device.is_cpu() => host_pool(config, stage.layers.len(), num_blocks, block_size, host)?,
                    AttentionBackend::Gathered => Pool::Gathered(DevicePool::new(config, num_blocks, block_size, stage)?),
                    #[cfg(feature = "flash-attn")]
                    AttentionBackend::Flash if block_size % super::flash::BLOCK_SIZE == 0 => Pool::Flash(DevicePool::new(config, num_blocks, block_size, stage)?),
                    other => return Err(Error::Config(format!("no pool for {other:?} attention on {:?} with blocks of {block_size} tokens", stage.device.location()))),
                };
                Ok((stage.layers.clone(), pool))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PagedKvCache::with_pools(config, num_blocks, block_size, pools))
    }

    fn with_pools(config: &ModelConfig, num_blocks: usize, block_size: usize, stages: Vec<(Range<usize>, Pool)>) -> PagedKvCache {
        let layer_at = stages.iter().enumerate().flat_map(|(pool, (layers, _))| (0..layers.len()).map(move |at| (pool, at))).collect();
        let pools = stages.into_iter().map(|(_, pool)| pool).collect();
        PagedKvCache { num_heads: config.num_heads, num_kv_heads: config.num_kv_heads, head_dim: config.head_dim, block_size, num_blocks, pools, layer_at }
    }

    /// Bytes one block takes over `layers` layers, keys and values, in elements of `dtype`.
    pub fn bytes_per_block(config: &ModelConfig, layers: usize, block_size: usize, dtype: DType) -> usize {
        2 * layers * block_size * config.kv_dim() * dtype.size_in_bytes()
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks in the pool.
    pub fn num_blocks(&self) -> usize {
        self.num_blocks
    }

    fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Readies a step over `chunks` (the device attentions build their index tensors
    /// here, once per device for all its layers).
    pub fn begin_step(&mut self, chunks: &[SeqChunk]) -> Result<()> {
        let (block_size, kv_dim) = (self.block_size, self.kv_dim());
        for pool in &mut self.pools {
            match pool {
                Pool::Gathered(pool) => pool.plan(|d| gathered::Plan::new(chunks, block_size, kv_dim, d))?,
                #[cfg(feature = "flash-attn")]
                Pool::Flash(pool) => pool.plan(|d| super::flash::Plan::new(chunks, block_size, kv_dim, d))?,
                Pool::Host(_) => {}
            }
        }
        Ok(())
    }

    /// Writes the step's keys and values for `layer` into their slots, then computes
    /// causal attention for every packed query row.
    ///
    /// `q`: `[tokens, heads * head_dim]`; `k`, `v`: `[tokens, kv_heads * head_dim]`,
    /// all rotated already. Returns `[tokens, heads * head_dim]` in `q`'s dtype, on its
    /// device.
    pub fn attend(&mut self, layer: usize, q: &Tensor, k: &Tensor, v: &Tensor, chunks: &[SeqChunk]) -> Result<Tensor> {
        let heads = Heads { heads: self.num_heads, kv_heads: self.num_kv_heads, head_dim: self.head_dim };
        let (pool, at) = self.layer_at[layer];
        match &mut self.pools[pool] {
            Pool::Gathered(pool) => {
                let (keys, values, plan) = pool.layer(at)?;
                Ok(gathered::attend(keys, values, q, k, v, plan, &heads)?)
            }
            #[cfg(feature = "flash-attn")]
            Pool::Flash(pool) => {
                let (keys, values, plan) = pool.layer(at)?;
                Ok(super::flash::attend(keys, values, q, k, v, plan, &heads, self.block_size)?)
            }
            Pool::Host(_) => {
                let out = self.attend_host(layer, &host_f32(q)?, &host_f32(k)?, &host_f32(v)?, chunks);
                Ok(Tensor::from_vec(out, q.dims2()?, q.device())?.to_dtype(q.dtype())?)
            }
        }
    }

    fn attend_host(&mut self, layer: usize, q: &[f32], k: &[f32], v: &[f32], chunks: &[SeqChunk]) -> Vec<f32> {
        let (pool, at) = self.layer_at[layer];
        let shape = Shape {
            heads: self.num_heads,
            kv_heads: self.num_kv_heads,
            group: self.num_heads / self.num_kv_heads,
            kv_dim: self.kv_dim(),
            head_dim: self.head_dim,
            block_size: self.block_size,
            scale: 1.0 / (self.head_dim as f32).sqrt(),
        };
        match &mut self.pools[pool] {
            Pool::Host(HostPool::F32(layers)) => {
                let (keys, values) = &mut layers[at];
                host_attention::attend(keys, values, q, k, v, chunks, &shape)
            }
            Pool::Host(HostPool::F16(layers)) => {
                let (keys, values) = &mut layers[at];
                host_attention::attend(keys, values, q, k, v, chunks, &shape)
            }
            _ => unreachable!("the host kernel reads a host pool"),
        }
    }
}

/// Host keys and values for `layers` layers, in `dtype` (f32 or f16).
fn host_pool(config: &ModelConfig, layers: usize, num_blocks: usize, block_size: usize, dtype: DType) -> Result<Pool> {
    fn layers_of<E: HostFloat>(layers: usize, values: usize) -> Result<Vec<HostLayer<E>>> {
        (0..layers).map(|_| Ok((LazyZeroed::new(values)?, LazyZeroed::new(values)?))).collect()
    }
    let values = num_blocks * block_size * config.kv_dim();
    Ok(Pool::Host(match dtype {
        DType::F32 => HostPool::F32(layers_of(layers, values)?),
        DType::F16 => HostPool::F16(layers_of(layers, values)?),
        other => return Err(Error::Config(format!("the host KV cache holds f32 or f16, not {other:?}"))),
    }))
}

/// Zeros of `E` in an anonymous mapping of their own, whose pages the OS zeroes when
/// first written: a pool sized for the worst case holds only what the run has written
/// so far. `vec![0f32; n]` would not: it is `calloc`, and glibc's per-thread arenas
/// (the engine runs on a worker thread) write every zero themselves, which put the
/// whole gigabyte of the CPU's default pool into a short run's resident memory.
struct LazyZeroed<E> {
    map: memmap2::MmapMut,
    len: usize,
    of: std::marker::PhantomData<E>,
}

impl<E: HostFloat> LazyZeroed<E> {
    fn new(len: usize) -> Result<LazyZeroed<E>> {
        let bytes = len * size_of::<E>();
        let map = memmap2::MmapMut::map_anon(bytes)
            .map_err(|e| Error::Config(format!("the host KV cache could not reserve {} MiB ({e}); give a smaller kv_memory_mib", bytes >> 20)))?;
        Ok(LazyZeroed { map, len, of: std::marker::PhantomData })
    }
}

impl<E: HostFloat> std::ops::Deref for LazyZeroed<E> {
    type Target = [E];

    fn deref(&self) -> &[E] {
        // SAFETY: the mapping is page-aligned and `len` values long, and all-zero bits
        // and every other bit pattern are values of both floats.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast(), self.len) }
    }
}

impl<E: HostFloat> std::ops::DerefMut for LazyZeroed<E> {
    fn deref_mut(&mut self) -> &mut [E] {
        // SAFETY: as for `deref`, and the mapping is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast(), self.len) }
    }
}

/// A tensor's values as a host `f32` vector, row-major.
fn host_f32(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool holds only the pages written: the engine's thread, having loaded weights,
    /// would otherwise get its layers' zeros written by `calloc` in its arena (chunks
    /// under glibc's mmap threshold, which freeing a large buffer raises to its size, up
    /// to 32 MiB).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_host_pool_holds_only_the_pages_written() {
        std::thread::spawn(|| {
            drop(std::hint::black_box(vec![1u8; 30 << 20]));
            let config = ModelConfig { num_kv_heads: 4, head_dim: 64, num_layers: 8, ..crate::engine::synthetic::preset("tiny").unwrap() };
            // 8 MiB per layer's keys, as many for its values: 128 MiB in all.
            let mut cache = PagedKvCache::new(&config, 1024, 16, DType::F16).unwrap();
            let Pool::Host(HostPool::F16(layers)) = &mut cache.pools[0] else { panic!("an f16 host pool") };
            layers[3].0[1000] = f16::ONE;
            let resident: usize = layers.iter().flat_map(|(k, v)| [resident_kib(k.as_ptr().cast()), resident_kib(v.as_ptr().cast())]).sum();
            assert!(resident <= 64, "{resident} KiB resident");
            assert!(layers.iter().all(|(k, v)| k.len() == 1024 * 16 * 256 && v.len() == k.len()));
            assert_eq!((layers[3].0[1000], layers[3].0[999], layers[7].1[4095]), (f16::ONE, f16::ZERO, f16::ZERO));
        })
        .join()
        .unwrap();
    }

    /// Resident KiB of the mapping holding `at`, from `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    fn resident_kib(at: *const u8) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let at = at as usize;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_once(' ').and_then(|(range, _)| range.split_once('-'));
            match range.map(|(start, end)| (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))) {
                Some((Ok(start), Ok(end))) => inside = (start..end).contains(&at),
                _ => match line.strip_prefix("Rss:") {
                    Some(kib) if inside => return kib.trim().trim_end_matches("kB").trim().parse().unwrap(),
                    _ => {}
                },
            }
        }
        panic!("no mapping holds {at:#x}")
    }
}
