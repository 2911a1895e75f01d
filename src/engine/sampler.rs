//! Choosing the next token from logits, and knowing when to stop.

use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How a request is sampled and when it ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingParams {
    /// 0 is greedy (argmax); higher flattens the distribution.
    pub temperature: f32,
    /// Sample among the k most likely tokens only (0 = all).
    pub top_k: usize,
    /// Sample among the most likely tokens whose probabilities sum to p (1 = all).
    pub top_p: f32,
    /// Subtracted from the logit of every token the answer has produced so far, once
    /// however often it came, as OpenAI's and vLLM's `presence_penalty` is (−2 to 2; 0
    /// is off). Greedy decoding of a small model otherwise writes the same line until
    /// `max_new_tokens`. The prompt's tokens are not penalised: a doc has to name the
    /// code's parameters. Left out of the serialised parameters when 0, so cache keys
    /// written before it existed still match; so is `frequency_penalty`.
    #[serde(skip_serializing_if = "is_zero")]
    pub presence_penalty: f32,
    /// Subtracted from a produced token's logit once for each time it came (OpenAI's
    /// `frequency_penalty`, −2 to 2; 0 is off): unlike the presence penalty, it grows
    /// with each pass through a loop until the loop breaks.
    #[serde(skip_serializing_if = "is_zero")]
    pub frequency_penalty: f32,
    /// Hugging Face's and vLLM's `repetition_penalty` (> 0; 1 is off): the logit of
    /// every token the prompt holds or the answer has produced is divided by it where
    /// positive and multiplied by it where negative, before the presence and frequency
    /// penalties are taken off (vLLM's order). Qwen's `generation_config.json` asks for
    /// 1.05. Unlike those two it falls on the prompt's tokens too, so on a docs task it
    /// also lowers the code's own names. Left out of the serialised parameters when 1.
    #[serde(skip_serializing_if = "is_one")]
    pub repetition_penalty: f32,
    /// Seed of this request's random stream: the same seed gives the same text.
    pub seed: u64,
    /// Generated tokens at most.
    pub max_new_tokens: usize,
    /// Generation ends when the text contains one of these; it is cut before it.
    pub stop: Vec<String>,
    /// Keep generating past end-of-sequence tokens (throughput benchmarks need a fixed
    /// number of tokens).
    pub ignore_eos: bool,
    /// Only JSON documents this schema allows may be generated (llguidance).
    pub json_schema: Option<serde_json::Value>,
    /// Where the task reads the answer as complete, checked as the text grows, as `stop`
    /// is: a task whose parser takes only the start of an answer ends it there rather
    /// than pay for tokens it would drop. The task's, not a setting: not serialised, so
    /// it is no part of a cache key (the parsed answer does not change).
    #[serde(skip)]
    pub answer_end: Option<AnswerEnd>,
    /// The start of the answer, written at the end of the prompt for the model to go on
    /// from (a task's way to have a comment begun rather than code): the answer's text
    /// begins with it, and its end and stop strings are looked for from it on. Not
    /// serialised: the task that writes it records it in its prompt's identity.
    #[serde(skip)]
    pub answer_opening: String,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            repetition_penalty: 1.0,
            seed: 0,
            max_new_tokens: 256,
            stop: Vec::new(),
            ignore_eos: false,
            json_schema: None,
            answer_end: None,
            answer_opening: String::new(),
        }
    }
}

fn is_zero(value: &f32) -> bool {
    *value == 0.0
}

fn is_one(value: &f32) -> bool {
    *value == 1.0
}

/// A task's reading of where an answer is complete: given the text so far, the byte to
/// cut it at, once the text shows it. Named, so parameters holding one compare and print.
#[derive(Clone, Copy)]
pub struct AnswerEnd {
    /// What it reads the answer as.
    pub name: &'static str,
    /// The cut, once known.
    pub find: fn(&str) -> Option<usize>,
}

impl PartialEq for AnswerEnd {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl std::fmt::Debug for AnswerEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnswerEnd({})", self.name)
    }
}

impl SamplingParams {
    /// Whether the tokens produced lower their own logits (a presence, frequency or
    /// repetition penalty).
    pub fn penalises_repetition(&self) -> bool {
        self.presence_penalty != 0.0 || self.frequency_penalty != 0.0 || self.repetition_penalty != 1.0
    }

    /// Rejects values that cannot be sampled with.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::Request(format!("temperature {} must be finite and ≥ 0", self.temperature)));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Request(format!("top_p {} must be in (0, 1]", self.top_p)));
        }
        for (name, penalty) in [("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)] {
            if !(-2.0..=2.0).contains(&penalty) {
                return Err(Error::Request(format!("{name} {penalty} must be from -2 to 2 (0 is off)")));
            }
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return Err(Error::Request(format!("repetition_penalty {} must be finite and > 0 (1 is off)", self.repetition_penalty)));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::Request("an empty stop string would stop at once".into()));
        }
        Ok(())
    }
}

/// Why a sequence ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model emitted an end-of-sequence token.
    Eos,
    /// The text reached a stop string.
    Stop,
    /// `max_new_tokens` were generated.
    Length,
    /// The sequence reached the model's context.
    Context,
}

impl FinishReason {
    /// Whether the answer was stopped short, by `max_new_tokens` or by the end of the
    /// context, so it may end mid-sentence.
    pub fn cut_short(self) -> bool {
        matches!(self, FinishReason::Length | FinishReason::Context)
    }

    /// The reason [`FinishReason::as_str`] names.
    pub fn from_name(name: &str) -> Option<FinishReason> {
        [FinishReason::Eos, FinishReason::Stop, FinishReason::Length, FinishReason::Context].into_iter().find(|reason| reason.as_str() == name)
    }

    /// The name used in output files.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Eos => "eos",
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Context => "context",
        }
    }
}

/// One request's sampler: its parameters and its own seeded random stream.
pub struct Sampler {
    params: SamplingParams,
    rng: rand::rngs::StdRng,
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    /// A sampler for `params` (validated first).
    pub fn new(params: SamplingParams) -> Result<Sampler> {
        params.validate()?;
        let rng = rand::rngs::StdRng::seed_from_u64(params.seed);
        Ok(Sampler { params, rng, candidates: Vec::new() })
    }

    /// The parameters this sampler follows.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Picks the next token from one row of logits.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.params.temperature == 0.0 {
            return argmax(logits);
        }
        let c = &mut self.candidates;
        c.clear();
        c.extend(logits.iter().enumerate().map(|(i, &l)| (i as u32, l / self.params.temperature)));
        if self.params.top_k > 0 && self.params.top_k < c.len() {
            c.select_nth_unstable_by(self.params.top_k - 1, |a, b| b.1.total_cmp(&a.1));
            c.truncate(self.params.top_k);
        }
        c.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let max = c[0].1;
        let mut total = 0.0;
        for (_, l) in c.iter_mut() {
            *l = (*l - max).exp();
            total += *l;
        }
        if self.params.top_p < 1.0 {
            let mut kept = 0.0;
            let cut = c.iter().position(|(_, p)| {
                kept += p / total;
                kept >= self.params.top_p
            });
            if let Some(last) = cut {
                c.truncate(last + 1);
                total = c.iter().map(|(_, p)| p).sum();
            }
        }
        let mut draw = self.rng.random::<f32>() * total;
        for &(id, p) in c.iter() {
            if draw < p {
                return id;
            }
            draw -= p;
        }
        c.last().map(|&(id, _)| id).unwrap_or(0)
    }
}

/// The index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The tokens a sequence's penalties fall on, each once and in order, with how often
/// its answer produced it: the presence and frequency penalties fall on those produced,
/// a repetition penalty on the prompt's too (counted 0 until produced).
#[derive(Clone, Debug, Default)]
pub struct Seen(Vec<(u32, u32)>);

impl Seen {
    /// What a request with `params` and `prompt` is penalised for before it produces
    /// anything: its prompt's tokens, where a repetition penalty falls on them.
    pub fn before_answer(params: &SamplingParams, prompt: &[u32]) -> Seen {
        if params.repetition_penalty == 1.0 {
            return Seen::default();
        }
        let mut tokens = prompt.to_vec();
        tokens.sort_unstable();
        tokens.dedup();
        Seen(tokens.into_iter().map(|token| (token, 0)).collect())
    }

    /// Counts `token` once more.
    pub fn insert(&mut self, token: u32) {
        match self.0.binary_search_by_key(&token, |&(id, _)| id) {
            Ok(at) => self.0[at].1 += 1,
            Err(at) => self.0.insert(at, (token, 1)),
        }
    }

    /// Each token seen, ascending, with how often the answer produced it.
    pub fn counts(&self) -> &[(u32, u32)] {
        &self.0
    }
}

/// `logits` (`[rows, vocab]`, f32) with each row's penalties taken: row `r`'s
/// `penalties[r]`, when given, is what it has seen and its parameters. It runs where the
/// logits are, one gather and one scatter for the whole step, so that greedy rows still
/// leave a GPU as their argmax alone.
pub fn apply_penalties(logits: &Tensor, penalties: &[Option<(&Seen, &SamplingParams)>]) -> candle_core::Result<Tensor> {
    let width = penalties.iter().flatten().map(|(seen, _)| seen.counts().len()).max().unwrap_or(0);
    if width == 0 {
        return Ok(logits.clone());
    }
    // Each row's tokens, padded by repeating its first: writing one value twice is
    // writing it once. A row without a penalty scales token 0 by 1, takes 0 from it and
    // puts it back.
    let mut indexes = Vec::with_capacity(penalties.len() * width);
    let mut amounts = Vec::with_capacity(penalties.len() * width);
    let mut factors = Vec::with_capacity(penalties.len() * width);
    for penalty in penalties {
        let row = indexes.len();
        match penalty {
            Some((seen, params)) if !seen.counts().is_empty() => {
                for &(token, count) in seen.counts() {
                    indexes.push(token);
                    amounts.push(if count == 0 { 0.0 } else { params.presence_penalty + params.frequency_penalty * count as f32 });
                    factors.push(params.repetition_penalty);
                }
            }
            _ => {
                indexes.push(0);
                amounts.push(0.0);
                factors.push(1.0);
            }
        }
        let (first, amount, factor) = (indexes[row], amounts[row], factors[row]);
        indexes.resize(row + width, first);
        amounts.resize(row + width, amount);
        factors.resize(row + width, factor);
    }
    let device = logits.device();
    let shape = (penalties.len(), width);
    let scaled = factors.iter().any(|&f| f != 1.0);
    let indexes = Tensor::from_vec(indexes, shape, device)?;
    let mut seen = logits.gather(&indexes, 1)?;
    if scaled {
        let factors = Tensor::from_vec(factors, shape, device)?;
        seen = seen.gt(0f32)?.where_cond(&(&seen / &factors)?, &(&seen * &factors)?)?;
    }
    let penalised = (seen - Tensor::from_vec(amounts, shape, device)?)?;
    logits.scatter(&indexes, &penalised, 1)
}

/// Where a stop string first appears in `text`, if any: the text is cut there.
pub fn find_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}

/// The answer so far: its opening, then the `generated` text (as it is, without one:
/// this runs on every step of a sequence with a stop string or an answer end).
pub fn answer_text(generated: String, params: &SamplingParams) -> String {
    match params.answer_opening.is_empty() {
        true => generated,
        false => params.answer_opening.clone() + &generated,
    }
}

/// Where an answer's `text` ([`answer_text`]) ends under `params`: its first stop
/// string, or where the task's [`AnswerEnd`] reads it as complete, whichever comes first.
pub fn answer_cut(text: &str, params: &SamplingParams) -> Option<usize> {
    let end = params.answer_end.and_then(|end| (end.find)(text));
    find_stop(text, &params.stop).into_iter().chain(end).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32, seed: u64) -> SamplingParams {
        SamplingParams { temperature, top_k, top_p, seed, ..Default::default() }
    }

    #[test]
    fn greedy_takes_the_argmax() {
        let mut s = Sampler::new(SamplingParams::default()).unwrap();
        assert_eq!(s.sample(&[0.1, 3.0, -1.0, 2.9]), 1);
    }

    #[test]
    fn same_seed_same_draws_other_seed_other_draws() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let draw = |seed| {
            let mut s = Sampler::new(params(1.0, 0, 1.0, seed)).unwrap();
            (0..64).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn top_k_and_top_p_restrict_the_candidates() {
        let logits = [5.0, 4.0, 0.0, -1.0, 3.0];
        let mut k2 = Sampler::new(params(1.0, 2, 1.0, 1)).unwrap();
        for _ in 0..200 {
            assert!(matches!(k2.sample(&logits), 0 | 1));
        }
        // p(0) ≈ 0.67 at temperature 1: top_p 0.5 leaves token 0 alone.
        let mut p = Sampler::new(params(1.0, 0, 0.5, 1)).unwrap();
        for _ in 0..200 {
            assert_eq!(p.sample(&logits), 0);
        }
        // With everything allowed, a low-probability token does show up.
        let mut all = Sampler::new(params(2.0, 0, 1.0, 1)).unwrap();
        assert!((0..500).any(|_| all.sample(&logits) == 3));
    }

    #[test]
    fn bad_params_are_rejected() {
        assert!(Sampler::new(params(-1.0, 0, 1.0, 0)).is_err());
        assert!(Sampler::new(params(1.0, 0, 0.0, 0)).is_err());
        let empty_stop = SamplingParams { stop: vec![String::new()], ..Default::default() };
        assert!(Sampler::new(empty_stop).is_err());
    }

    #[test]
    fn penalties_lower_the_tokens_produced_by_presence_and_count_and_only_in_their_row() {
        let rows = [[2.0f32, -1.0, 0.5, 3.0], [2.0, -1.0, 0.5, 3.0], [1.0, 1.0, 1.0, 1.0]];
        let logits = Tensor::new(&rows, &candle_core::Device::Cpu).unwrap();
        let mut produced = Seen::default();
        for token in [3, 1, 3, 0, 3] {
            produced.insert(token);
        }
        assert_eq!(produced.counts(), &[(0, 1), (1, 1), (3, 3)]);
        let mut once = Seen::default();
        once.insert(2);
        let presence = SamplingParams { presence_penalty: 1.5, ..Default::default() };
        let frequency = SamplingParams { frequency_penalty: 0.5, ..Default::default() };
        let penalised = apply_penalties(&logits, &[Some((&produced, &presence)), None, Some((&once, &frequency))]).unwrap();
        let got = penalised.to_vec2::<f32>().unwrap();
        // Token 3 came three times; a presence penalty lowers it once.
        assert_eq!(got[0], [0.5, -2.5, 0.5, 1.5]);
        assert_eq!(got[1], rows[1], "a row with no penalty is untouched");
        assert_eq!(got[2], [1.0, 1.0, 0.5, 1.0], "padding a shorter row takes nothing twice");
        // A frequency penalty lowers it by each time it came: 3 × 0.5.
        let both = SamplingParams { frequency_penalty: 0.5, ..presence.clone() };
        let penalised = apply_penalties(&logits, &[Some((&produced, &both)), None, None]).unwrap();
        assert_eq!(penalised.to_vec2::<f32>().unwrap()[0], [0.0, -3.0, 0.5, 0.0]);
        assert_eq!(argmax(&penalised.to_vec2::<f32>().unwrap()[0]), 2);
        let nothing = apply_penalties(&logits, &[None, Some((&Seen::default(), &presence)), None]).unwrap();
        assert_eq!(nothing.to_vec2::<f32>().unwrap(), rows, "nothing produced yet, nothing to lower");
    }

    #[test]
    fn a_repetition_penalty_scales_the_prompts_and_answers_tokens_toward_zero_first() {
        let rows = [[2.0f32, -1.0, 0.5, 3.0], [2.0, -1.0, 0.5, 3.0]];
        let logits = Tensor::new(&rows, &candle_core::Device::Cpu).unwrap();
        let repetition = SamplingParams { repetition_penalty: 2.0, ..Default::default() };
        // The prompt holds tokens 1 and 3 (3 twice); the answer has produced 0.
        let mut seen = Seen::before_answer(&repetition, &[3, 1, 3]);
        assert_eq!(seen.counts(), &[(1, 0), (3, 0)]);
        seen.insert(0);
        let penalised = apply_penalties(&logits, &[Some((&seen, &repetition)), None]).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(penalised[0], [1.0, -2.0, 0.5, 1.5], "positive logits halve, negative ones double, once however often seen");
        assert_eq!(penalised[1], rows[1]);
        // Scaled first, then lowered: (3 / 2) − 1 for token 3, which the prompt holds; the
        // presence penalty falls on token 0 alone, which the answer produced.
        let all = SamplingParams { presence_penalty: 1.0, ..repetition.clone() };
        let penalised = apply_penalties(&logits, &[Some((&seen, &all)), None]).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(penalised[0], [0.0, -2.0, 0.5, 1.5]);
        assert!(Seen::before_answer(&SamplingParams::default(), &[3, 1]).counts().is_empty(), "without one, the prompt is no part of it");
    }

    #[test]
    fn unset_penalties_are_no_part_of_the_serialised_parameters() {
        let plain = serde_json::to_string(&SamplingParams::default()).unwrap();
        assert!(!plain.contains("penalty"), "{plain}");
        let set = SamplingParams { presence_penalty: 1.5, frequency_penalty: -0.25, repetition_penalty: 1.05, ..Default::default() };
        let json = serde_json::to_string(&set).unwrap();
        assert!(json.contains("\"presence_penalty\":1.5") && json.contains("\"frequency_penalty\":-0.25") && json.contains("\"repetition_penalty\":1.05"), "{json}");
        assert_eq!(serde_json::from_str::<SamplingParams>(&json).unwrap(), set);
        for bad in [2.5, -3.0, f32::NAN, f32::INFINITY] {
            assert!(Sampler::new(SamplingParams { presence_penalty: bad, ..Default::default() }).is_err(), "{bad}");
            assert!(Sampler::new(SamplingParams { frequency_penalty: bad, ..Default::default() }).is_err(), "{bad}");
        }
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(Sampler::new(SamplingParams { repetition_penalty: bad, ..Default::default() }).is_err(), "{bad}");
        }
    }

    #[test]
    fn stop_strings_cut_at_the_earliest() {
        let stops = vec!["```".to_string(), "\n\n".to_string()];
        assert_eq!(find_stop("fn a() {}\n\nmore```", &stops), Some(9));
        assert_eq!(find_stop("nothing", &stops), None);
    }
}
