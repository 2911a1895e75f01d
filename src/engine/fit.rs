//! Whether a model fits GPUs this machine does not have, and what the engine would make
//! of them: *validate cheap, deploy expensive* starts with knowing whether the 32B
//! model fits the cards at all, before they are bought or the weights fetched.
//!
//! Nothing here is a second model of the engine. The weights are counted by the
//! loader's own decisions ([`super::footprint`]), the layers are split by the split the
//! loader makes ([`split_devices`]: by memory over cards, or beside the host the cards'
//! shares and the host the rest), and the batch and KV pool are sized by the `auto`
//! sizing an engine does on a card (`BatchConfig::sized_across`), each given the card
//! as its driver would describe it. What is assumed is only what a card would tell: its
//! memory, its compute capability, and the [`CUDA_CONTEXT`] the driver takes.

use std::ops::Range;

use candle_core::DType;

use super::batch::{step_activation_bytes, BatchConfig, EngineOptions};
use super::kv::{AttentionBackend, PagedKvCache};
use super::placement::{count_on_the_host, parse_entry, split_devices, Footprint};
use super::{DeviceFacts, ModelConfig, ModelSource, Precision, Requantize};
use crate::{Error, Result};

const GIB: f64 = (1u64 << 30) as f64;

/// What the CUDA context, cuBLAS's handles and workspace and the loaded kernels take of
/// each card before any weight: about 0.5 GiB on recent drivers, more with more kernels
/// loaded; counted high, since running short is worse than a smaller pool. An
/// assumption, not a measurement: no GPU has been at hand to measure it.
pub const CUDA_CONTEXT: usize = 1 << 30;

/// Tokens per KV block: the gathered attention's (flash's 32 hold the same bytes a token).
const BLOCK_SIZE: usize = 16;

/// A GPU as a plan sees it, or the host beside the GPUs (`cpu`), which holds the layers
/// they leave.
#[derive(Clone, Debug, PartialEq)]
pub struct Card {
    /// As written: a name from [`CARDS`], a size, or `cpu`.
    pub name: String,
    /// Its memory, in bytes (the host's: 0, the operator's to judge).
    pub memory: usize,
    /// CUDA compute capability: which dtypes it computes in.
    pub compute_capability: (i32, i32),
    /// Whether it is the host.
    pub host: bool,
    /// The layers it holds beside the host where the plan fixes them (`rtx3060=40`).
    pub layers: Option<usize>,
}

/// Cards by the names their owners know them, with their nominal memory in GiB (the
/// driver reports 1–3% less, within the engine's 10% margin) and compute capability.
pub const CARDS: &[(&str, f64, (i32, i32))] = &[
    ("gtx1080ti", 11.0, (6, 1)),
    ("p40", 24.0, (6, 1)),
    ("p100", 16.0, (6, 0)),
    ("v100", 16.0, (7, 0)),
    ("v100-32", 32.0, (7, 0)),
    ("t4", 16.0, (7, 5)),
    ("rtx2080ti", 11.0, (7, 5)),
    ("titan-rtx", 24.0, (7, 5)),
    ("rtx3060", 12.0, (8, 6)),
    ("rtx3080", 10.0, (8, 6)),
    ("rtx3090", 24.0, (8, 6)),
    ("a4000", 16.0, (8, 6)),
    ("a5000", 24.0, (8, 6)),
    ("a6000", 48.0, (8, 6)),
    ("rtx4060ti", 16.0, (8, 9)),
    ("rtx4090", 24.0, (8, 9)),
    ("l4", 24.0, (8, 9)),
    ("l40s", 48.0, (8, 9)),
    ("rtx5090", 32.0, (12, 0)),
    ("a100-40", 40.0, (8, 0)),
    ("a100", 80.0, (8, 0)),
    ("h100", 80.0, (9, 0)),
    ("h200", 141.0, (9, 0)),
];

impl Card {
    /// Reads a list of cards in layer order: names from [`CARDS`] or sizes (`24GiB`,
    /// `11G@7.5`: GiB, and the compute capability, 8.0 unless given), each optionally
    /// repeated (`2xrtx3090`) and, beside the host, given its layers (`rtx3060=40`),
    /// comma-separated; `cpu` once among them for the host.
    pub fn parse_list(spec: &str) -> Result<Vec<Card>> {
        let mut cards = Vec::new();
        for item in spec.split(',').map(str::trim) {
            let (count, card) = match item.split_once(['x', '×']) {
                Some((n, card)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => (n.parse::<usize>().unwrap_or(0), card),
                _ => (1, item),
            };
            if count == 0 {
                return Err(Error::Config(format!("`{item}`: a count of cards is 1 or more")));
            }
            let card: Card = card.parse()?;
            cards.extend(std::iter::repeat_n(card, count));
        }
        Ok(cards)
    }
}

impl std::str::FromStr for Card {
    type Err = Error;
    fn from_str(spec: &str) -> Result<Card> {
        let (card, layers) = parse_entry(spec)?;
        let lower = card.to_ascii_lowercase();
        if lower == "cpu" {
            if layers.is_some() {
                return Err(count_on_the_host(spec));
            }
            return Ok(Card { name: lower, memory: 0, compute_capability: (0, 0), host: true, layers });
        }
        if let Some(&(name, gib, compute_capability)) = CARDS.iter().find(|(name, ..)| *name == lower) {
            return Ok(Card { name: name.to_string(), memory: (gib * GIB) as usize, compute_capability, host: false, layers });
        }
        let unknown = || {
            let names: Vec<&str> = CARDS.iter().map(|(name, ..)| *name).collect();
            Error::Config(format!("unknown card `{card}`: a size such as 24GiB or 11GiB@7.5, or one of {}", names.join(", ")))
        };
        let (size, capability) = match lower.split_once('@') {
            Some((size, cc)) => {
                let (major, minor) = cc.split_once('.').unwrap_or((cc, "0"));
                (size, (major.parse().map_err(|_| unknown())?, minor.parse().map_err(|_| unknown())?))
            }
            None => (lower.as_str(), (8, 0)),
        };
        let number = size.trim_end_matches("gib").trim_end_matches("gb").trim_end_matches('g');
        let gib: f64 = number.parse().map_err(|_| unknown())?;
        if !(gib.is_finite() && gib > 0.0) || number.len() == size.len() {
            return Err(unknown());
        }
        Ok(Card { name: card.to_string(), memory: (gib * GIB) as usize, compute_capability: capability, host: false, layers })
    }
}

/// What one card would hold.
#[derive(Clone, Debug, PartialEq)]
pub struct CardFit {
    /// The card.
    pub card: Card,
    /// Its decoder layers.
    pub layers: Range<usize>,
    /// Its weights' bytes.
    pub weights: usize,
    /// Its share of the KV pool's bytes.
    pub kv: usize,
    /// The largest step's activations.
    pub activations: usize,
}

impl CardFit {
    /// Bytes beyond the 90% of the card the engine takes, if any (the host's memory is
    /// the operator's to judge).
    pub fn over(&self) -> Option<usize> {
        if self.card.host {
            return None;
        }
        let used = CUDA_CONTEXT + self.weights + self.kv + self.activations;
        used.checked_sub(self.card.memory / 10 * 9).filter(|&over| over > 0)
    }
}

/// A plan: the model on the cards, and the batch the engine would run there.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The model's shapes.
    pub config: ModelConfig,
    /// What it would compute in.
    pub dtype: DType,
    /// Its weights' bytes.
    pub footprint: Footprint,
    /// Each card's share, in layer order.
    pub cards: Vec<CardFit>,
    /// The limits `auto` would give (fixed ones as asked).
    pub batch: BatchConfig,
    /// Bytes of one KV block of `BLOCK_SIZE` tokens over all layers.
    pub kv_bytes_per_block: usize,
    /// What the host's share of the KV pool would hold ([`super::kv::host_kv_dtype`]).
    pub host_kv: DType,
    /// Tokens of one sequence: prompt and new tokens.
    pub sequence_tokens: usize,
}

impl Fit {
    /// Tokens the KV pool holds.
    pub fn kv_tokens(&self) -> usize {
        self.batch.kv_memory / self.kv_bytes_per_block * BLOCK_SIZE
    }

    /// Sequences of [`Fit::sequence_tokens`] that run at once: as many as the batch
    /// takes, or as the pool holds whole, if fewer.
    pub fn sequences_at_once(&self) -> usize {
        let blocks = self.batch.kv_memory / self.kv_bytes_per_block;
        (blocks / self.sequence_tokens.div_ceil(BLOCK_SIZE)).min(self.batch.max_seqs)
    }

    /// Whether the model runs there: every card within the engine's share of it, and
    /// room for one whole sequence at least.
    pub fn fits(&self) -> bool {
        self.cards.iter().all(|c| c.over().is_none()) && self.sequences_at_once() > 0 && self.sequence_tokens <= self.config.max_context
    }
}

/// Plans `source` (weights held as `requantize` asks, computing in `precision`) on
/// `cards`, split in their order, for sequences of `sequence_tokens` under `options`.
pub fn fit(source: &ModelSource, requantize: Requantize, precision: Precision, cards: &[Card], options: EngineOptions, sequence_tokens: usize) -> Result<Fit> {
    if cards.is_empty() {
        return Err(Error::Config("a plan needs one card at least".into()));
    }
    let facts = |card: &Card, in_use: usize| DeviceFacts {
        compute_capability: card.compute_capability,
        total_memory: card.memory,
        free_memory: card.memory.saturating_sub(in_use),
    };
    let gpus = || cards.iter().filter(|c| !c.host);
    if gpus().count() == 0 || cards.len() - gpus().count() > 1 {
        return Err(Error::Config("a plan is for cards, with the host (`cpu`) beside them once at most".into()));
    }
    let dtype = DeviceFacts::compute_dtype(gpus().map(|c| facts(c, 0)), precision.dtype())
        .map_err(|m| Error::model(source.to_string(), m))?;

    // As the cards would hold it, which decides their layers; the host holds its own
    // layers its own way, in f32.
    let (config, footprint) = super::footprint(source, requantize, dtype, false)?;
    let idle = |c: &Card| c.memory.saturating_sub(CUDA_CONTEXT).max(1);
    let offloaded = gpus().count() < cards.len();
    let devices: Vec<_> = cards.iter().map(|c| (!c.host).then(|| (c.name.clone(), idle(c)))).collect();
    let counts: Vec<_> = cards.iter().map(|c| c.layers).collect();
    let ranges = split_devices(&footprint, &devices, &counts, ",")?;
    let held = footprint.per_stage(&ranges);
    let weights: Vec<usize> = match offloaded {
        true => {
            let (_, on_host) = super::footprint(source, requantize, DType::F32, true)?;
            let on_host = on_host.per_stage(&ranges);
            cards.iter().enumerate().map(|(i, c)| if c.host { on_host[i] } else { held[i] }).collect()
        }
        false => held,
    };
    let host_kv = super::kv::host_kv_dtype(precision.dtype());
    let kv_dtype = |c: &Card| if c.host { host_kv } else { dtype };
    let shares: Vec<usize> = cards.iter().zip(&ranges).map(|(c, layers)| PagedKvCache::bytes_per_block(&config, layers.len(), BLOCK_SIZE, kv_dtype(c))).collect();
    let stages: Vec<(Option<DeviceFacts>, usize)> =
        cards.iter().zip(&weights).zip(&shares).map(|((card, &w), &share)| ((!card.host).then(|| facts(card, CUDA_CONTEXT + w)), share)).collect();
    let kv_bytes_per_block = shares.iter().sum();
    let base = BatchConfig { block_size: BLOCK_SIZE, attention: AttentionBackend::Gathered, ..BatchConfig::default() };
    let batch = base.sized_across(&stages, &config, options);
    let activations = step_activation_bytes(&config, batch.max_batched_tokens, batch.max_seqs);
    let blocks = batch.kv_memory / kv_bytes_per_block;
    let cards = cards
        .iter()
        .zip(ranges)
        .zip(weights)
        .zip(shares)
        .map(|(((card, layers), weights), share)| CardFit { card: card.clone(), layers, weights, kv: blocks * share, activations })
        .collect();
    Ok(Fit { config, dtype, footprint, cards, batch, kv_bytes_per_block, host_kv, sequence_tokens })
}

impl std::fmt::Display for Fit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gib = |bytes: usize| match bytes as f64 / GIB {
            g if g >= 1.0 => format!("{g:.1} GiB"),
            g => format!("{:.0} MiB", g * 1024.0),
        };
        let c = &self.config;
        let params = match c.parameter_count() as f64 {
            p if p >= 1e9 => format!("{:.1}B", p / 1e9),
            p => format!("{:.0}M", p / 1e6),
        };
        writeln!(f, "model     {:?}, {} layers, {params} parameters; weights {}, computing in {:?}", c.family, c.num_layers, gib(self.footprint.total()), self.dtype)?;
        writeln!(f, "          embeddings {}, a layer {}, head {}", gib(self.footprint.embeddings), gib(self.footprint.layers.iter().max().copied().unwrap_or(0)), gib(self.footprint.head))?;
        writeln!(f)?;
        writeln!(f, "{:<6} {:<14} {:>9} {:>8} {:>10} {:>10} {:>10} {:>10}  verdict", "card", "", "memory", "layers", "context", "weights", "KV pool", "step")?;
        let mut ordinal = 0;
        for card in &self.cards {
            let (device, memory, context, verdict) = match (card.card.host, card.over()) {
                (true, _) => ("cpu".to_string(), "host".to_string(), "—".to_string(), format!("in host memory, f32, KV {}", self.host_kv.as_str())),
                (false, over) => {
                    ordinal += 1;
                    let verdict = over.map_or("fits".to_string(), |over| format!("over the engine's 90% by {}", gib(over)));
                    (format!("cuda:{}", ordinal - 1), gib(card.card.memory), gib(CUDA_CONTEXT), verdict)
                }
            };
            writeln!(
                f,
                "{device:<6} {:<14} {memory:>9} {:>8} {context:>10} {:>10} {:>10} {:>10}  {verdict}",
                card.card.name,
                format!("{}..{}", card.layers.start, card.layers.end),
                gib(card.weights),
                gib(card.kv),
                gib(card.activations),
            )?;
        }
        writeln!(f)?;
        let b = &self.batch;
        writeln!(f, "batch     up to {} sequences and {} tokens a step", b.max_seqs, b.max_batched_tokens)?;
        writeln!(f, "KV pool   {} tokens ({} KiB a token)", self.kv_tokens(), self.kv_bytes_per_block / BLOCK_SIZE / 1024)?;
        let at_once = self.sequences_at_once();
        let bound = if at_once < b.max_seqs { "; the KV pool, not the batch, is the bound" } else { "" };
        writeln!(f, "at once   {at_once} sequences of {} tokens{bound}", self.sequence_tokens)?;
        if self.sequence_tokens > c.max_context {
            writeln!(f, "context   {} tokens are over the model's context of {}", self.sequence_tokens, c.max_context)?;
        }
        let verdict = match self.fits() {
            true => "fits",
            false => "does NOT fit: more cards, bigger ones, fewer bits a weight (`--requantize q4k`), or the host's memory beside the cards (`cpu` among them)",
        };
        write!(f, "verdict   {verdict}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::placement::layer_budget_beside_host;
    use crate::engine::Limit;
    use candle_core::quantized::GgmlDType;

    fn plan(preset: &str, requantize: Requantize, cards: &str) -> Fit {
        let source: ModelSource = format!("synthetic:{preset}").parse().unwrap();
        fit(&source, requantize, Precision::Auto, &Card::parse_list(cards).unwrap(), EngineOptions::default(), 768).unwrap()
    }

    #[test]
    fn cards_read_by_name_or_size_and_repeat() {
        let cards = Card::parse_list("2xrtx3090, P40,11GiB@7.5, 16g").unwrap();
        let memory: Vec<usize> = cards.iter().map(|c| c.memory >> 30).collect();
        assert_eq!(memory, vec![24, 24, 24, 11, 16]);
        let capability: Vec<(i32, i32)> = cards.iter().map(|c| c.compute_capability).collect();
        assert_eq!(capability, vec![(8, 6), (8, 6), (6, 1), (7, 5), (8, 0)]);
        assert_eq!(cards[2].name, "p40");
        assert_eq!(Card::parse_list("23.5GB").unwrap()[0].memory, (23.5 * GIB) as usize);
        for bad in ["rtx9999", "24", "0GiB", "-3GiB", "24GiB@x", "0xh100", "x"] {
            let err = Card::parse_list(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
    }

    #[test]
    fn the_32b_shapes_in_bf16_fit_one_h100_with_a_pool_for_tens_of_sequences() {
        let h100 = plan("qwen2.5-coder-32b", Requantize::Auto, "h100");
        assert_eq!(h100.dtype, DType::BF16);
        // 32.8B parameters at two bytes each.
        assert_eq!(h100.footprint.total(), h100.config.parameter_count() as usize * 2);
        assert!(h100.fits(), "{h100}");
        // The weights leave room for far fewer than 256 sequences of 768 tokens.
        let at_once = h100.sequences_at_once();
        assert!((20..100).contains(&at_once), "{at_once}");
        assert!(at_once * 768 <= h100.kv_tokens());
        // The card holds all of it within the engine's 90%.
        let card = &h100.cards[0];
        assert!(CUDA_CONTEXT + card.weights + card.kv + card.activations <= card.card.memory / 10 * 9);
        // An H200 has room for the whole batch.
        assert_eq!(plan("qwen2.5-coder-32b", Requantize::Auto, "h200").sequences_at_once(), 256);
    }

    #[test]
    fn cheap_cards_take_the_32b_shapes_in_four_bits_split_by_bytes() {
        // In bf16 two 24 GB cards hold 48 GB of a 65 GB model: over, by the card.
        let bf16 = plan("qwen2.5-coder-32b", Requantize::Auto, "2xrtx3090");
        assert!(!bf16.fits());
        assert!(bf16.cards.iter().all(|c| c.over().is_some()));
        assert!(bf16.to_string().contains("does NOT fit"), "{bf16}");

        // In Q4_K both fit; the dense embedding table weighs on the first card, so it
        // takes fewer layers and the two carry about the same bytes.
        let q4k = plan("qwen2.5-coder-32b", Requantize::To(GgmlDType::Q4K), "2xrtx3090");
        assert!(q4k.fits(), "{q4k}");
        let (first, second) = (&q4k.cards[0], &q4k.cards[1]);
        assert!(first.layers.len() < second.layers.len(), "{q4k}");
        assert_eq!(first.layers.end, second.layers.start);
        assert!(first.weights.abs_diff(second.weights) < q4k.footprint.layers[0] * 2);
        assert_eq!(first.weights + second.weights, q4k.footprint.total());
        assert!(q4k.sequences_at_once() > plan("qwen2.5-coder-32b", Requantize::To(GgmlDType::Q4K), "rtx3090").sequences_at_once());
        // A bigger card takes more of the layers.
        let mixed = plan("qwen2.5-coder-32b", Requantize::To(GgmlDType::Q4K), "rtx3060,rtx3090");
        assert!(mixed.cards[0].layers.len() < mixed.cards[1].layers.len());
    }

    #[test]
    fn beside_the_host_a_card_holds_three_quarters_of_its_memory_in_layers_and_the_host_the_rest() {
        // The 32B shapes in Q4_K fit no 12 GB card alone; beside the host they run.
        let q4k = Requantize::To(GgmlDType::Q4K);
        assert!(!plan("qwen2.5-coder-32b", q4k, "rtx3060").fits());
        let offloaded = plan("qwen2.5-coder-32b", q4k, "rtx3060,cpu");
        assert!(offloaded.fits(), "{offloaded}");
        let (card, host) = (&offloaded.cards[0], &offloaded.cards[1]);
        assert!(host.card.host && host.over().is_none());
        assert_eq!((card.layers.start, card.layers.end, host.layers.end), (0, host.layers.start, 64));
        // The card's layers and table within its budget, one more layer over it.
        let budget = layer_budget_beside_host(card.card.memory - CUDA_CONTEXT);
        assert!(card.weights <= budget && card.weights + offloaded.footprint.layers[card.layers.end] > budget, "{offloaded}");
        assert!((20..40).contains(&card.layers.len()), "{offloaded}");
        // The host holds its layers as the loader would on the CPU: its norms and biases
        // (two norms and the q/k/v biases a layer, the final norm) in f32 rather than
        // bf16, and the same Q4_K blocks, on the 4-bit kernel where the CPU has VNNI (an
        // f32 scale and min a block of 32: 0.75 bytes a weight, not 0.5625), as is the
        // output head it holds as the last stage; its KV blocks are f16, as many bytes
        // a layer as the card's bf16 ones.
        let c = &offloaded.config;
        let dense_bf16 = host.layers.len() * (2 * c.hidden_size + c.q_dim() + 2 * c.kv_dim()) * 2 + c.hidden_size * 2;
        let layer_weights = c.hidden_size * (2 * c.q_dim() + 2 * c.kv_dim()) + 3 * c.hidden_size * c.intermediate_size;
        let matrix_weights = host.layers.len() * layer_weights + c.vocab_size * c.hidden_size;
        let on_host_kernel = if crate::engine::q4::runs_best(GgmlDType::Q4K) { matrix_weights * 3 / 16 } else { 0 };
        assert_eq!(host.weights - offloaded.footprint.per_stage(&[0..host.layers.start, host.layers.clone()])[1], dense_bf16 + on_host_kernel);
        assert_eq!(host.kv / host.layers.len(), card.kv / card.layers.len());
        // The card sizes the batch, not the CPU's defaults.
        assert!(offloaded.batch.max_seqs > 32 && offloaded.sequences_at_once() > 0);
        let shown = offloaded.to_string();
        assert!(shown.contains("cuda:0 rtx3060") && shown.contains("cpu    cpu") && shown.contains("in host memory, f32, KV f16"), "{shown}");

        // The host first: it holds the table, the card the head.
        let host_first = plan("qwen2.5-coder-32b", q4k, "cpu,rtx3060");
        assert_eq!(host_first.cards[1].layers.end, 64);
        assert!(host_first.cards[1].layers.len() >= card.layers.len(), "no table on the card: {host_first}");

        // A card given its layers holds that many, whatever its budget: fewer than the
        // budget leave its KV more room (more sequences at once); more than it holds
        // put it over the engine's share.
        let fewer = plan("qwen2.5-coder-32b", q4k, &format!("rtx3060={},cpu", card.layers.len() - 6));
        assert_eq!(fewer.cards[0].layers, 0..card.layers.len() - 6);
        assert!(fewer.fits() && fewer.sequences_at_once() > offloaded.sequences_at_once(), "{fewer}");
        let all_but_one = plan("qwen2.5-coder-32b", q4k, "rtx3060=63,cpu");
        assert!(all_but_one.cards[0].over().is_some() && !all_but_one.fits(), "{all_but_one}");
        assert!(Card::parse_list("cpu=3,rtx3060").unwrap_err().to_string().contains("a count is a card's"));
        let source: ModelSource = "synthetic:tiny".parse().unwrap();
        let counted = Card::parse_list("rtx3060=3,rtx3090").unwrap();
        let err = fit(&source, q4k, Precision::Auto, &counted, EngineOptions::default(), 64).unwrap_err().to_string();
        assert!(err.contains("rtx3060=3,rtx3090") && err.contains("beside the host"), "{err}");

        // The CPU alone, or twice, is no plan of cards.
        for bad in ["cpu", "cpu,rtx3060,cpu"] {
            let err = fit(&source, q4k, Precision::Auto, &Card::parse_list(bad).unwrap(), EngineOptions::default(), 64).unwrap_err().to_string();
            assert!(err.contains("beside them once"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_cards_generation_picks_the_dtype_and_refuses_what_it_cannot_compute() {
        // Pascal's P40 computes in f32: twice the dense bytes, twice the KV.
        let p40 = plan("qwen2.5-coder-7b", Requantize::To(GgmlDType::Q4_0), "p40");
        let a5000 = plan("qwen2.5-coder-7b", Requantize::To(GgmlDType::Q4_0), "a5000");
        assert_eq!((p40.dtype, a5000.dtype), (DType::F32, DType::BF16));
        assert_eq!(p40.footprint.embeddings, 2 * a5000.footprint.embeddings);
        assert_eq!(p40.kv_bytes_per_block, 2 * a5000.kv_bytes_per_block);
        // A split computes in what its oldest card can.
        assert_eq!(plan("qwen2.5-coder-7b", Requantize::Auto, "rtx3090,t4").dtype, DType::F16);
        let source: ModelSource = "synthetic:tiny".parse().unwrap();
        let v100 = Card::parse_list("v100").unwrap();
        let err = fit(&source, Requantize::Auto, Precision::Bf16, &v100, EngineOptions::default(), 64).unwrap_err().to_string();
        assert!(err.contains("compute capability 8.0") && err.contains("7.0"), "{err}");
    }

    #[test]
    fn fixed_limits_are_kept_and_a_sequence_over_the_context_does_not_fit() {
        let source: ModelSource = "synthetic:qwen2.5-coder-7b".parse().unwrap();
        let h100 = Card::parse_list("h100").unwrap();
        let options = EngineOptions { max_seqs: Limit::Fixed(8), kv_memory_mib: Limit::Fixed(1024), ..EngineOptions::default() };
        let fixed = fit(&source, Requantize::Auto, Precision::Auto, &h100, options, 768).unwrap();
        assert_eq!((fixed.batch.max_seqs, fixed.batch.kv_memory), (8, 1 << 30));
        assert_eq!(fixed.sequences_at_once(), 8);
        let long = fit(&source, Requantize::Auto, Precision::Auto, &h100, EngineOptions::default(), 40_000).unwrap();
        assert!(!long.fits() && long.to_string().contains("over the model's context of 32768"), "{long}");
    }
}
