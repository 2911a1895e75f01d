//! Where a model's layers live: one device, or several that split them in order.
//!
//! A 32B model in 4 bits (~19 GB) fits no 16 GB card, and the cheap used cards of home
//! rigs come in 8–24 GB. Split by layers, as llama.cpp's `--split-mode layer` does, each
//! card holds a run of consecutive blocks and its share of the KV cache, and a step's
//! hidden states cross from one card to the next once per boundary: a `[tokens, hidden]`
//! copy, small beside the weights each card reads. The cards work in turn, not at once;
//! what the split buys is the memory, not speed.
//!
//! A split may end (or begin) on the CPU, as llama.cpp's `--n-gpu-layers` does: the
//! cards hold what fits of the model and the host's memory the rest, so a model larger
//! than every card still runs on one, at the pace of its layers on the CPU.

use std::ops::Range;

use candle_core::{DType, Device};

use super::{DeviceFacts, DeviceName};
use crate::{Error, Result};

/// The bytes a decoder's weights take once loaded, by where they go: the embedding
/// table with the first layer, each layer with its stage, the final norm and the output
/// head with the last layer. The same whether counted before a load
/// (`Decoder::footprint`) or after it ([`super::Decoder::weight_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// The token embeddings.
    pub embeddings: usize,
    /// Each layer's.
    pub layers: Vec<usize>,
    /// The final norm and the output head.
    pub head: usize,
}

impl Footprint {
    /// All of it.
    pub fn total(&self) -> usize {
        self.embeddings + self.layers.iter().sum::<usize>() + self.head
    }

    /// What each of `stages` holds.
    pub fn per_stage(&self, stages: &[Range<usize>]) -> Vec<usize> {
        let last = stages.len().saturating_sub(1);
        stages
            .iter()
            .enumerate()
            .map(|(i, layers)| {
                let ends = if i == 0 { self.embeddings } else { 0 } + if i == last { self.head } else { 0 };
                ends + self.layers[layers.clone()].iter().sum::<usize>()
            })
            .collect()
    }
}

/// The devices one worker's model spans, written `cuda:0+cuda:1` (a single device is a
/// placement of one). GPUs, the CPU, or GPUs with the CPU once (`cuda:0+cpu`: the layers
/// that do not fit the card on the host). Beside the host a card may name the layers it
/// holds (`cuda:0=40+cpu`, as llama.cpp's `--n-gpu-layers 40`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placement {
    devices: Vec<DeviceName>,
    /// Each device's layer count where its entry fixes one.
    layers: Vec<Option<usize>>,
}

impl Placement {
    /// The model on one device.
    pub fn single(device: DeviceName) -> Placement {
        Placement { devices: vec![device], layers: vec![None] }
    }

    /// Its devices, in layer order.
    pub fn devices(&self) -> &[DeviceName] {
        &self.devices
    }

    /// The layers each device holds where its entry fixes them; `None` where its
    /// memory decides.
    pub fn layer_counts(&self) -> &[Option<usize>] {
        &self.layers
    }

    /// Whether it is the host's cores alone.
    pub fn is_cpu(&self) -> bool {
        self.devices.iter().all(|d| *d == DeviceName::Cpu)
    }

    /// The candle devices, in layer order.
    pub fn open(&self) -> Result<Vec<Device>> {
        self.devices.iter().map(DeviceName::open).collect()
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries: Vec<String> = self.devices.iter().zip(&self.layers).map(|(device, &layers)| entry(device, layers)).collect();
        f.write_str(&entries.join("+"))
    }
}

impl std::str::FromStr for Placement {
    type Err = Error;
    fn from_str(spec: &str) -> Result<Placement> {
        let mut devices = Vec::new();
        let mut layers = Vec::new();
        for entry in spec.split('+') {
            let (device, count) = parse_entry(entry)?;
            devices.push(device.parse::<DeviceName>()?);
            layers.push(count);
        }
        let cpus = devices.iter().filter(|d| **d == DeviceName::Cpu).count();
        if cpus > 1 && cpus < devices.len() {
            return Err(Error::Config(format!("`{spec}`: a split over GPUs takes the CPU once, for the layers the cards leave")));
        }
        if names_a_gpu_twice(&devices) {
            return Err(Error::Config(format!("`{spec}`: a GPU is named twice in one split")));
        }
        let beside_host = cpus == 1 && devices.len() > 1;
        for (device, count) in devices.iter().zip(&layers) {
            match (device, count) {
                (DeviceName::Cpu, Some(_)) => return Err(count_on_the_host(spec)),
                (_, Some(_)) if !beside_host => return Err(Error::Config(layer_count_needs_the_host(spec))),
                _ => {}
            }
        }
        Ok(Placement { devices, layers })
    }
}

/// An entry of a split, `name` or `name=N` (a card or the `cpu`, and the layers it
/// fixes): its name and count. The count is 1 or more.
pub(crate) fn parse_entry(entry: &str) -> Result<(&str, Option<usize>)> {
    match entry.split_once('=') {
        Some((name, count)) => match count.trim().parse::<usize>() {
            Ok(count) if count > 0 => Ok((name.trim(), Some(count))),
            _ => Err(Error::Config(format!("`{}`: a card's layers are a count, 1 or more", entry.trim()))),
        },
        None => Ok((entry.trim(), None)),
    }
}

/// Why `spec`, which gives the host a layer count, is refused.
pub(crate) fn count_on_the_host(spec: &str) -> Error {
    Error::Config(format!("`{}`: the host takes the layers the cards leave; a count is a card's", spec.trim()))
}

/// A device as an entry of a split names it: with its layer count where it fixes one.
pub(crate) fn entry(device: impl std::fmt::Display, layers: Option<usize>) -> String {
    match layers {
        Some(n) => format!("{device}={n}"),
        None => device.to_string(),
    }
}

/// Why a card's layer count is refused in `spec`: it says how many of the model's layers
/// the card holds rather than the host, and a split over cards alone (or one card)
/// divides them by memory.
pub fn layer_count_needs_the_host(spec: &str) -> String {
    format!("`{spec}`: a card's layer count is for a split beside the host, such as `cuda:0=40+cpu`; over cards alone the layers follow each card's memory")
}

/// Whether `devices` names one CUDA card more than once (the CPU may recur: CPU workers
/// split the cores).
pub fn names_a_gpu_twice<'a>(devices: impl IntoIterator<Item = &'a DeviceName>) -> bool {
    let mut cards: Vec<usize> = devices.into_iter().filter_map(|d| if let DeviceName::Cuda(n) = d { Some(*n) } else { None }).collect();
    cards.sort_unstable();
    cards.windows(2).any(|w| w[0] == w[1])
}

/// A run of consecutive decoder layers and the device that holds them (with their KV
/// blocks). The first stage also holds the token embeddings; the last, the final norm
/// and the output head.
#[derive(Clone, Debug)]
pub struct Stage {
    /// Where the layers' weights and KV blocks live.
    pub device: Device,
    /// The layers, by index.
    pub layers: Range<usize>,
    /// What its activations and dense weights are in. The stages of a model agree, but
    /// for the CPU's beside cards: f32, which its kernels compute fastest in (hearth's
    /// Q8_0 kernel takes f32 rows, and candle's CPU kernels have no fast bf16 path).
    pub dtype: DType,
}

/// Of a card's free memory, the share a split with the CPU fills with layers. The rest
/// is the card's KV blocks and a step's activations: a card filled to the brim with
/// weights would run a handful of sequences at once, and batches are what hearth's
/// work is made of. The CPU takes the layers the cards leave.
pub const CARD_SHARE_BESIDE_HOST: f64 = 0.75;

/// The bytes of layers a card with `free` bytes holds beside the host.
pub fn layer_budget_beside_host(free: usize) -> usize {
    (free as f64 * CARD_SHARE_BESIDE_HOST) as usize
}

impl Stage {
    /// The stages of a model whose weights take `footprint` (held as on its cards, if
    /// it has any) over `devices`, computing in `dtype`: one stage on one device; over
    /// cards, the layers split by the memory each has free now; over CPU "devices",
    /// evenly (they share one memory); over cards and the CPU, each card holding the
    /// layers `counts` fixes for it (empty: none fixed), or else filled to
    /// [`CARD_SHARE_BESIDE_HOST`] of its free memory, and the rest on the host.
    pub fn plan(footprint: &Footprint, devices: &[Device], counts: &[Option<usize>], dtype: DType) -> Result<Vec<Stage>> {
        let cards: Vec<_> = devices.iter().map(card_free_memory).collect();
        let offloaded = devices.iter().any(Device::is_cpu) && !devices.iter().all(Device::is_cpu);
        let ranges = split_devices(footprint, &cards, counts, "+")?;
        let stage_dtype = |device: &Device| if offloaded && device.is_cpu() { DType::F32 } else { dtype };
        Ok(devices.iter().cloned().zip(ranges).map(|(device, layers)| Stage { dtype: stage_dtype(&device), device, layers }).collect())
    }
}

/// Splits a model's layers across `devices` in order, each a card's name and the
/// bytes it has for the model (`None` for the host), some with the layers `counts` fixes
/// (empty: none fixed): over cards alone, or the host alone, by [`split_layers`] (the
/// host's "devices" evenly); over cards and the host, by [`split_beside_host`], each
/// card holding its count or else filled to [`CARD_SHARE_BESIDE_HOST`] of its bytes. A
/// count anywhere but beside the host is refused, naming the devices as written, their
/// entries joined by `joiner`.
pub fn split_devices(footprint: &Footprint, devices: &[Option<(String, usize)>], counts: &[Option<usize>], joiner: &str) -> Result<Vec<Range<usize>>> {
    let count = |i: usize| counts.get(i).copied().flatten();
    let offloaded = devices.iter().any(Option::is_none) && devices.iter().any(Option::is_some);
    if offloaded {
        let holds: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(i, device)| match (device, count(i)) {
                (None, _) => Holds::Host,
                (Some((card, _)), Some(count)) => Holds::Layers { card: card.clone(), count },
                (Some((card, free)), None) => Holds::Bytes { card: card.clone(), budget: layer_budget_beside_host(*free) },
            })
            .collect();
        return split_beside_host(footprint, &holds);
    }
    if counts.iter().any(Option::is_some) {
        let name = |i: usize| devices[i].as_ref().map_or("cpu".to_string(), |(name, _)| name.clone());
        let names: Vec<String> = (0..devices.len()).map(|i| entry(name(i), count(i))).collect();
        return Err(Error::Config(layer_count_needs_the_host(&names.join(joiner))));
    }
    split_layers(footprint, &devices.iter().map(|d| d.as_ref().map_or(1, |(_, free)| *free)).collect::<Vec<_>>())
}

/// A card's name and the bytes it has free now; `None` for the CPU, whose memory the
/// operator answers for.
pub(crate) fn card_free_memory(device: &Device) -> Option<(String, usize)> {
    match (device.location(), DeviceFacts::of(device)) {
        (candle_core::DeviceLocation::Cuda { gpu_id }, Some(facts)) => Some((format!("cuda:{gpu_id}"), facts.free_memory)),
        _ => None,
    }
}

/// What one device of a split beside the host holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holds {
    /// The layers the cards leave.
    Host,
    /// As many layers as its budget holds.
    Bytes {
        /// The card, as errors name it.
        card: String,
        /// The bytes of layers it holds, the table or the head included.
        budget: usize,
    },
    /// The layers its entry fixes (`cuda:0=40`).
    Layers {
        /// The card, as errors name it.
        card: String,
        /// Its layers.
        count: usize,
    },
}

/// Splits a model's layers between cards (in layer order) and the host, which takes
/// what the cards leave: the cards before the host fill from the first layer on (the
/// first holding the embedding table), the cards after it from the last layer back
/// (the last holding the output head), each the layers its [`Holds`] gives. Every
/// device gets a layer at least; a card that cannot hold one, or whose count leaves
/// another device none, is refused by name.
pub fn split_beside_host(footprint: &Footprint, devices: &[Holds]) -> Result<Vec<Range<usize>>> {
    let (n, layers) = (devices.len(), footprint.layers.len());
    if n == 0 || n > layers {
        return Err(Error::Config(format!("{layers} layers cannot be split across {n} devices; every device holds at least one")));
    }
    // `Placement` reads the host once, but a library caller may give devices directly.
    let hosts: Vec<usize> = devices.iter().enumerate().filter(|(_, d)| **d == Holds::Host).map(|(i, _)| i).collect();
    let [host] = hosts[..] else {
        return Err(Error::Config(format!("a split beside the host takes the host once, not {} times", hosts.len())));
    };
    let mut ranges = vec![0..0; n];
    let mut start = 0;
    for (i, holds) in devices.iter().enumerate().take(host) {
        // Each device after this one keeps a layer.
        let room = layers - (n - 1 - i) - start;
        let table = if i == 0 { footprint.embeddings } else { 0 };
        let end = start + layers_held(holds, table, &footprint.layers[start..start + room], layers)?;
        ranges[i] = start..end;
        start = end;
    }
    let mut end = layers;
    for i in (host + 1..n).rev() {
        // The host and each card between it and this one keep a layer.
        let room = end - (start + (i - host));
        let head = if i == n - 1 { footprint.head } else { 0 };
        let fill_order: Vec<usize> = footprint.layers[end - room..end].iter().rev().copied().collect();
        let begin = end - layers_held(&devices[i], head, &fill_order, layers)?;
        ranges[i] = begin..end;
        end = begin;
    }
    ranges[host] = start..end;
    Ok(ranges)
}

/// How many layers a card beside the host takes of those it may (`next`: their bytes,
/// in the order it fills them), holding `fixed` bytes besides (the table or the head),
/// of a model of `total` layers.
fn layers_held(holds: &Holds, fixed: usize, next: &[usize], total: usize) -> Result<usize> {
    let gib = |bytes: usize| bytes as f64 / (1u64 << 30) as f64;
    let room = next.len();
    match holds {
        Holds::Host => unreachable!("the host is not among the cards"),
        Holds::Layers { card, count } if *count > room => Err(Error::Config(format!(
            "{card}={count}: of the model's {total} layers {card} can hold {room} at most, since every other device of the split keeps one"
        ))),
        Holds::Layers { count, .. } => Ok(*count),
        Holds::Bytes { card, budget } => {
            let mut bytes = fixed;
            let held = next.iter().take_while(|&&layer| {
                bytes += layer;
                bytes <= *budget
            });
            match held.count() {
                0 => Err(Error::Config(format!(
                    "{card} cannot hold one layer beside the host: it takes {:.2} GiB and {card} has {:.2} GiB for layers ({:.0}% of its free memory; the rest is its KV cache); `hearth plan` shows what would fit",
                    gib(fixed + next[0]),
                    gib(*budget),
                    CARD_SHARE_BESIDE_HOST * 100.0
                ))),
                held => Ok(held),
            }
        }
    }
}

/// Splits a model's layers across devices of relative `capacity`, in order, so that each
/// device's share of the bytes in `footprint` is about proportional to its capacity: the
/// first device also holds the embedding table and the last the output head, which
/// in a quantized model are worth several layers each, since the table is held dense.
/// Every device gets at least one layer.
pub fn split_layers(footprint: &Footprint, capacity: &[usize]) -> Result<Vec<Range<usize>>> {
    let (n, layers) = (capacity.len(), footprint.layers.len());
    if n == 0 || n > layers {
        return Err(Error::Config(format!("{layers} layers cannot be split across {n} devices; every device holds at least one")));
    }
    if capacity.contains(&0) {
        return Err(Error::Config(format!("device capacities must be positive: {capacity:?}")));
    }
    let total_capacity: f64 = capacity.iter().map(|&c| c as f64).sum();
    let total = footprint.total() as f64;
    // The bytes before each layer boundary: `before[k]` is the table and layers 0..k.
    let before: Vec<f64> = std::iter::once(0)
        .chain(footprint.layers.iter().scan(0, |sum, &l| {
            *sum += l;
            Some(*sum)
        }))
        .map(|b| (footprint.embeddings + b) as f64)
        .collect();
    let mut ranges = Vec::with_capacity(n);
    let (mut start, mut cumulative) = (0, 0.0);
    for (i, &c) in capacity.iter().enumerate() {
        cumulative += c as f64;
        let end = match i + 1 == n {
            true => layers,
            false => {
                // The boundary nearest where this device's share of the bytes ends.
                let share = total * cumulative / total_capacity;
                let nearest = (0..=layers).min_by(|&a, &b| (before[a] - share).abs().total_cmp(&(before[b] - share).abs()));
                nearest.unwrap_or(layers).clamp(start + 1, layers - (n - 1 - i))
            }
        };
        ranges.push(start..end);
        start = end;
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_read_devices_joined_by_plus() {
        let split: Placement = "cuda:0+cuda:1".parse().unwrap();
        assert_eq!(split.devices(), &[DeviceName::Cuda(0), DeviceName::Cuda(1)]);
        assert_eq!(split.to_string(), "cuda:0+cuda:1");
        assert!(!split.is_cpu());
        assert_eq!("cpu".parse::<Placement>().unwrap(), Placement::single(DeviceName::Cpu));
        assert!("cpu + cpu".parse::<Placement>().unwrap().is_cpu());
        let offloaded: Placement = "cuda:0+cpu".parse().unwrap();
        assert_eq!(offloaded.devices(), &[DeviceName::Cuda(0), DeviceName::Cpu]);
        assert!(!offloaded.is_cpu());
        assert!("cpu+cuda:0+cpu".parse::<Placement>().unwrap_err().to_string().contains("takes the CPU once"));
        assert!("cuda:1+cuda:1".parse::<Placement>().unwrap_err().to_string().contains("named twice"));
        assert!("cuda:0+tpu".parse::<Placement>().unwrap_err().to_string().contains("tpu"));
    }

    #[test]
    fn beside_the_host_a_card_may_fix_its_layers() {
        let fixed: Placement = "cuda:0=40 + cpu".parse().unwrap();
        assert_eq!(fixed.devices(), &[DeviceName::Cuda(0), DeviceName::Cpu]);
        assert_eq!(fixed.layer_counts(), &[Some(40), None]);
        assert_eq!(fixed.to_string(), "cuda:0=40+cpu");
        let both: Placement = "cuda:0=10+cpu+cuda:1".parse().unwrap();
        assert_eq!(both.layer_counts(), &[Some(10), None, None]);
        assert_eq!("cuda:0+cpu".parse::<Placement>().unwrap().layer_counts(), &[None, None]);
        for (spec, why) in [
            ("cuda:0=40+cuda:1", "beside the host"),
            ("cuda:0=40", "beside the host"),
            ("cpu=4+cuda:0", "the host takes the layers the cards leave"),
            ("cuda:0=0+cpu", "1 or more"),
            ("cuda:0=all+cpu", "1 or more"),
        ] {
            let err = spec.parse::<Placement>().unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(spec.split('+').next().unwrap()), "{spec}: {err}");
        }
        // Over CPU "devices" alone a count is refused at load too, not ignored.
        let stages = Stage::plan(&even(8, 1, 0), &[Device::Cpu, Device::Cpu], &[Some(3), None], DType::F32);
        assert!(stages.unwrap_err().to_string().contains("cpu=3+cpu"));
        assert_eq!(Stage::plan(&even(8, 1, 0), &[Device::Cpu, Device::Cpu], &[], DType::F32).unwrap()[1].layers, 4..8);
    }

    /// `layers` layers of `layer` bytes, with an embedding table and a head of `table`.
    fn even(layers: usize, layer: usize, table: usize) -> Footprint {
        Footprint { embeddings: table, layers: vec![layer; layers], head: table }
    }

    #[test]
    fn layers_split_by_capacity_with_the_tables_counted() {
        // Even cards, tables worth nothing: halves.
        assert_eq!(split_layers(&even(64, 1, 0), &[1, 1]).unwrap(), vec![0..32, 32..64]);
        // The 32B shapes in bf16 on two cards of the same size: the embeddings and the
        // head are ~1.5 layers each, on the two ends, so the split stays even.
        assert_eq!(split_layers(&even(64, 2, 3), &[24, 24]).unwrap(), vec![0..32, 32..64]);
        // Heavy tables move layers to the middle card.
        assert_eq!(split_layers(&even(30, 1, 5), &[1, 1, 1]).unwrap(), vec![0..8, 8..22, 22..30]);
        // A 24 GB and a 12 GB card: two thirds and a third.
        assert_eq!(split_layers(&even(64, 1, 0), &[24, 12]).unwrap(), vec![0..43, 43..64]);
        // Every device keeps a layer, however small it is.
        assert_eq!(split_layers(&even(4, 1, 0), &[100, 1, 1]).unwrap(), vec![0..2, 2..3, 3..4]);
        assert_eq!(split_layers(&even(3, 1, 0), &[1, 100, 1]).unwrap(), vec![0..1, 1..2, 2..3]);
        assert_eq!(split_layers(&even(5, 1, 0), &[1]).unwrap(), vec![0..5]);
        assert!(split_layers(&even(2, 1, 0), &[1, 1, 1]).unwrap_err().to_string().contains("2 layers cannot be split across 3 devices"));
        assert!(split_layers(&even(8, 1, 0), &[1, 0]).is_err());
    }

    #[test]
    fn beside_the_host_each_card_holds_what_its_budget_does_and_the_host_the_rest() {
        let card = |name: &str, budget: usize| Holds::Bytes { card: name.to_string(), budget };
        // A card that holds 40 of 64 layers (the table counted on it), the host the rest.
        let front = split_beside_host(&even(64, 10, 5), &[card("cuda:0", 405), Holds::Host]).unwrap();
        assert_eq!(front, vec![0..40, 40..64]);
        // The host first: it holds the table, and the card the head with the last layers.
        let back = split_beside_host(&even(64, 10, 5), &[Holds::Host, card("cuda:0", 405)]).unwrap();
        assert_eq!(back, vec![0..24, 24..64]);
        // Two cards around the host, each from its own end.
        let both = split_beside_host(&even(64, 10, 5), &[card("cuda:0", 105), Holds::Host, card("cuda:1", 205)]).unwrap();
        assert_eq!(both, vec![0..10, 10..44, 44..64]);
        // Cards that could hold everything still leave the host a layer, as asked.
        assert_eq!(split_beside_host(&even(8, 1, 0), &[card("cuda:0", 100), card("cuda:1", 100), Holds::Host]).unwrap(), vec![0..6, 6..7, 7..8]);
        // Layers of unequal size count as they are.
        let mixed = Footprint { embeddings: 0, layers: vec![3, 1, 1, 1, 3, 1], head: 0 };
        assert_eq!(split_beside_host(&mixed, &[card("cuda:0", 5), Holds::Host]).unwrap(), vec![0..3, 3..6]);
        // A card too small for one layer is named, with what the layer takes.
        let err = split_beside_host(&even(64, 10, 5), &[Holds::Host, card("cuda:1", 12)]).unwrap_err().to_string();
        assert!(err.contains("cuda:1 cannot hold one layer") && err.contains("hearth plan"), "{err}");
        assert!(split_beside_host(&even(2, 1, 0), &[card("cuda:0", 9), Holds::Host, card("cuda:1", 9)]).is_err());
        // A count fixes a card's layers whatever its budget would hold, from its own end;
        // a card beside it without one still fills by bytes.
        let layers = |name: &str, count: usize| Holds::Layers { card: name.to_string(), count };
        assert_eq!(split_beside_host(&even(64, 10, 5), &[layers("cuda:0", 50), Holds::Host]).unwrap(), vec![0..50, 50..64]);
        assert_eq!(split_beside_host(&even(64, 10, 5), &[Holds::Host, layers("cuda:0", 1)]).unwrap(), vec![0..63, 63..64]);
        let counted = split_beside_host(&even(64, 10, 5), &[card("cuda:0", 105), Holds::Host, layers("cuda:1", 30)]).unwrap();
        assert_eq!(counted, vec![0..10, 10..34, 34..64]);
        // A count that leaves the host (or a card after it) no layer is refused, naming
        // the most it could be.
        let err = split_beside_host(&even(64, 10, 5), &[layers("cuda:0", 64), Holds::Host]).unwrap_err().to_string();
        assert!(err.contains("cuda:0=64") && err.contains("63 at most"), "{err}");
        let err = split_beside_host(&even(64, 10, 5), &[layers("cuda:0", 60), Holds::Host, layers("cuda:1", 4)]).unwrap_err().to_string();
        assert!(err.contains("cuda:1=4") && err.contains("3 at most"), "{err}");
        // The host once: not twice (devices given to a load directly), not never.
        for hosts in [vec![card("cuda:0", 100), Holds::Host, Holds::Host], vec![card("cuda:0", 100)]] {
            let err = split_beside_host(&even(8, 1, 0), &hosts).unwrap_err().to_string();
            assert!(err.contains("takes the host once"), "{err}");
        }
    }

    #[test]
    fn a_quantized_model_splits_by_bytes_not_by_parameters() {
        // A 4-bit model's embedding table is held dense: six layers' worth on the first
        // card, and a head of two layers' worth on the last. By bytes the first card gets
        // fewer layers, so the two carry the same weight.
        let q4 = Footprint { embeddings: 6, layers: vec![1; 64], head: 2 };
        let ranges = split_layers(&q4, &[12, 12]).unwrap();
        assert_eq!(ranges, vec![0..30, 30..64]);
        assert_eq!(q4.per_stage(&ranges), vec![36, 36]);
        // Layers of unequal size (a K-quant mix) count as they are.
        let mixed = Footprint { embeddings: 0, layers: vec![3, 1, 1, 1, 3, 1, 1, 1], head: 0 };
        assert_eq!(split_layers(&mixed, &[1, 1]).unwrap(), vec![0..4, 4..8]);
        assert_eq!(mixed.per_stage(&[0..2, 2..8]), vec![4, 8]);
        assert_eq!(mixed.total(), 12);
    }
}
