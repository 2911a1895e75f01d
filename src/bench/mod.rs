//! Throughput benchmarks (`hearth bench`): fixed, seeded workloads over the engine, the
//! walk and a whole pipeline; results as JSON with the machine's fingerprint; a
//! comparison with a stored baseline that fails on a regression; and llama.cpp run on
//! the same work in the same invocation, for ratios rather than absolute numbers.
//!
//! Every figure says which way is better, so a comparison needs no list of names; the
//! informational ones (steps, hit rates) are never judged.

pub mod compare;
pub mod engine;
pub mod fingerprint;
pub mod peer;
pub mod stages;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use compare::{compare, Comparison, Verdict};
pub use engine::{EngineSettings, EngineWorkload};
pub use fingerprint::Fingerprint;

/// Which way a figure improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughputs and ratios.
    Higher,
    /// Latencies and memory.
    Lower,
    /// Context, never judged.
    Info,
}

/// One measured number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The value.
    pub value: f64,
    /// Its unit, for people.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
    /// Where the value is the median of `--repeat` runs: each run's value, in the order
    /// they ran. Their spread is the machine's noise, which a comparison weighs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<f64>,
}

/// The figures of one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// `engine`, `walk`, `pipeline`, `peer:llama.cpp` or `engine/peer`.
    pub suite: String,
    /// The workload and what it ran on, e.g. `decode-heavy @ smollm2`.
    pub name: String,
    /// Figures by name.
    pub figures: BTreeMap<String, Figure>,
}

impl BenchResult {
    /// An empty result of `suite`/`name`.
    pub fn new(suite: &str, name: impl Into<String>) -> BenchResult {
        BenchResult { suite: suite.to_string(), name: name.into(), figures: BTreeMap::new() }
    }

    /// Adds a figure.
    pub fn with(mut self, figure: &str, value: f64, unit: &str, better: Better) -> BenchResult {
        self.figures.insert(figure.to_string(), Figure { value, unit: unit.to_string(), better, runs: Vec::new() });
        self
    }

    /// `suite/name`: what a baseline is matched by.
    pub fn key(&self) -> String {
        format!("{}/{}", self.suite, self.name)
    }

    /// The value of `figure`, if measured.
    pub fn value(&self, figure: &str) -> Option<f64> {
        self.figures.get(figure).map(|f| f.value)
    }

    /// One line for people: suite, name and every figure with its unit.
    pub fn line(&self) -> String {
        let figures: Vec<String> = self
            .figures
            .iter()
            .map(|(name, f)| format!("{name} {:.2}{}", f.value, if f.unit.is_empty() { String::new() } else { format!(" {}", f.unit) }))
            .collect();
        format!("{:<16} {:<56} {}", self.suite, self.name, figures.join(", "))
    }
}

/// The median of each figure over repeated runs of one workload (so one noisy run does
/// not decide a comparison).
pub fn median(runs: &[BenchResult]) -> BenchResult {
    let first = runs.first().expect("at least one run");
    let mut out = BenchResult::new(&first.suite, first.name.clone());
    for (name, figure) in &first.figures {
        let in_order: Vec<f64> = runs.iter().filter_map(|r| r.value(name)).collect();
        let mut values = in_order.clone();
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        let value = if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 };
        let runs = if in_order.len() > 1 { in_order } else { Vec::new() };
        out.figures.insert(name.clone(), Figure { value, runs, ..figure.clone() });
    }
    out
}

/// A whole `hearth bench` invocation: where it ran and what it measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The machine and the build.
    pub fingerprint: Fingerprint,
    /// Every workload's figures.
    pub results: Vec<BenchResult>,
}

impl Report {
    /// Reads a report (a `--baseline`), naming the file on any error.
    pub fn read(path: &Path) -> Result<Report> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: not a hearth bench report: {e}", path.display())))
    }

    /// The judged figures whose runs differ among themselves by more than
    /// `tolerance_pct` (worst against best), widest first, as `workload figure: runs
    /// lo–hi`: where the machine was noisier than the tolerance, which a comparison
    /// then cannot resolve.
    pub fn noisier_than(&self, tolerance_pct: f64) -> Vec<String> {
        let mut noisy = Vec::new();
        for r in &self.results {
            for (name, f) in &r.figures {
                let (lo, hi) = f.runs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                if f.better != Better::Info && lo > 0.0 && hi > lo * (1.0 + tolerance_pct / 100.0) {
                    noisy.push((hi / lo, format!("{} {name}: runs {lo:.2}–{hi:.2} {}", r.key(), f.unit)));
                }
            }
        }
        noisy.sort_by(|a, b| b.0.total_cmp(&a.0));
        noisy.into_iter().map(|(_, line)| line).collect()
    }

    /// Writes the report as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let partial = path.with_extension("partial");
        let json = serde_json::to_string_pretty(self).expect("plain data");
        std::fs::write(&partial, json).map_err(|e| Error::io(&partial, e))?;
        std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
    }
}

/// The suites `hearth bench` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// Engine workloads on each model (and the peer on the models it runs).
    Engine,
    /// The source stage over a seeded tree.
    Walk,
    /// A whole docs run against the engine alone, on the first model.
    Pipeline,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The suites, in order.
    pub suites: Vec<Suite>,
    /// Model sources the engine and pipeline suites run on.
    pub models: Vec<String>,
    /// Instead of the standard engine workloads: uniform ones at these concurrencies,
    /// with (prompt tokens, new tokens).
    pub sweep: Option<(Vec<usize>, usize, usize)>,
    /// Runs of each workload; the median of each figure is reported.
    pub repeat: usize,
    /// `cpu` or `cuda:N` (engine suite), or a `--devices` list (pipeline suite).
    pub device: String,
    /// GGUF matrices: as `--requantize`.
    pub requantize: String,
    /// The engine suite's attention and KV pool.
    pub engine: EngineSettings,
    /// Activations and dense weights; `None`: the device's default.
    pub dtype: Option<candle_core::DType>,
    /// Instead of each workload's own: tokens one step carries at most (both engines).
    pub max_batched_tokens: Option<usize>,
    /// A peer engine and the Python that runs it, for the engine workloads of the
    /// models it can run.
    pub peer: Option<(peer::Peer, std::path::PathBuf)>,
    /// Files of the walk suite's tree.
    pub walk_files: usize,
}

/// Runs the suites on the machine `fingerprint` describes, handing each result to
/// `on_result` as it is measured (the peer's and the ratios included), and returns the
/// whole report.
pub fn run(options: &BenchOptions, mut fingerprint: Fingerprint, mut on_result: impl FnMut(&BenchResult)) -> Result<Report> {
    let mut results = Vec::new();
    let mut keep = |r: BenchResult, results: &mut Vec<BenchResult>| {
        on_result(&r);
        results.push(r);
    };
    let repeat = options.repeat.max(1);
    for suite in &options.suites {
        match suite {
            Suite::Engine => {
                let mut workloads = match &options.sweep {
                    Some((concurrency, prompt, new)) => concurrency.iter().map(|&c| EngineWorkload::uniform(c, *prompt, *new)).collect(),
                    None => EngineWorkload::standard(),
                };
                for w in workloads.iter_mut() {
                    w.max_batched_tokens = options.max_batched_tokens.unwrap_or(w.max_batched_tokens);
                }
                for source in &options.models {
                    let parsed: crate::engine::ModelSource = source.parse()?;
                    let placement = options.device.parse::<crate::engine::Placement>()?;
                    let load = crate::engine::LoadOptions { requantize: options.requantize.parse().map_err(Error::Config)?, dtype: options.dtype, ..crate::engine::LoadOptions::on(&placement)? };
                    let model = crate::engine::Model::load(&parsed, &load)?;
                    // One short generation first: a GPU's one-time costs (kernel
                    // loading, cuBLAS handles) are not the first workload's. The peer
                    // warms up the same way.
                    engine::run(&model, source, &EngineWorkload::uniform(1, 8, 2), options.engine)?;
                    let peer = options.peer.as_ref().filter(|(p, _)| p.runs(&parsed));
                    let threads = rayon::current_num_threads();
                    // With a peer, the engines take turns round by round, so a slow spell
                    // on a shared machine falls on both sides of a ratio, not on one. Our
                    // model stays loaded meanwhile: the peer's memory adds to ours.
                    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                    for _ in 0..repeat {
                        ours.push(workloads.iter().map(|w| engine::run(&model, source, w, options.engine)).collect::<Result<Vec<_>>>()?);
                        if let Some((peer, python)) = peer {
                            let (version, figures) = peer.run(python, &parsed, &model, source, threads, &workloads)?;
                            fingerprint.peer = Some(version);
                            theirs.push(figures);
                        }
                    }
                    let ours = medians(&ours);
                    for r in &ours {
                        keep(r.clone(), &mut results);
                    }
                    if peer.is_some() {
                        let theirs = medians(&theirs);
                        let ratios = peer::ratios(&ours, &theirs);
                        for r in theirs.into_iter().chain(ratios) {
                            keep(r, &mut results);
                        }
                    }
                }
            }
            Suite::Walk => {
                let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
                stages::synthetic_tree(scratch.path(), options.walk_files, 8)?;
                // Once to warm the page cache: the figure is the walk's, not the disk's.
                stages::walk(scratch.path())?;
                let r = repeated(repeat, || stages::walk(scratch.path()))?;
                keep(r, &mut results);
            }
            Suite::Pipeline => {
                // The overhead is the pipeline's, not the model's: the first model is enough.
                let Some(source) = options.models.first() else { continue };
                let r = repeated(repeat, || stages::pipeline(source, &options.device, &options.requantize))?;
                keep(r, &mut results);
            }
        }
    }
    Ok(Report { fingerprint, results })
}

/// Each workload's median over `runs`, which each hold every workload in the same order.
fn medians(runs: &[Vec<BenchResult>]) -> Vec<BenchResult> {
    (0..runs[0].len()).map(|i| median(&runs.iter().map(|r| r[i].clone()).collect::<Vec<_>>())).collect()
}

/// The median of `n` runs of `one`.
fn repeated(n: usize, mut one: impl FnMut() -> Result<BenchResult>) -> Result<BenchResult> {
    let runs = (0..n).map(|_| one()).collect::<Result<Vec<_>>>()?;
    Ok(median(&runs))
}

/// The percentile `q` (0..=1) of `values`, nearest rank.
pub(crate) fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

/// Starts measuring this process's peak resident memory afresh (Linux: `clear_refs`);
/// where that is not possible the peak is the process's since it started.
pub(crate) fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory in MiB since [`reset_peak_memory`] (Linux `VmHWM`).
pub(crate) fn peak_memory_mib() -> Option<f64> {
    Some(proc_kib("/proc/self/status", "VmHWM:")? / 1024.0)
}

/// The number after `key` in a `key: N kB` procfs file (`/proc/meminfo`, `/proc/self/status`).
pub(crate) fn proc_kib(path: &str, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_taken_per_figure() {
        let run = |tput: f64, lat: f64| BenchResult::new("engine", "w").with("tok_s", tput, "tok/s", Better::Higher).with("p99_ms", lat, "ms", Better::Lower);
        let m = median(&[run(10.0, 5.0), run(30.0, 1.0), run(20.0, 9.0)]);
        assert_eq!((m.value("tok_s"), m.value("p99_ms")), (Some(20.0), Some(5.0)));
        assert_eq!(m.figures["tok_s"].runs, [10.0, 30.0, 20.0], "each run, in the order they ran");
        assert!(median(&[run(10.0, 5.0)]).figures["tok_s"].runs.is_empty(), "one run is its own value");

        let report = |runs: &[BenchResult]| Report { fingerprint: Fingerprint::here(), results: vec![median(runs)] };
        let steady = report(&[run(100.0, 5.0), run(105.0, 5.2), run(98.0, 5.1)]);
        assert!(steady.noisier_than(10.0).is_empty(), "{:?}", steady.noisier_than(10.0));
        let noisy = report(&[run(100.0, 5.0), run(60.0, 5.2), run(98.0, 5.1)]).noisier_than(10.0);
        assert_eq!(noisy, ["engine/w tok_s: runs 60.00–100.00 tok/s"]);
        let widest_first = report(&[run(100.0, 5.0), run(80.0, 9.0), run(98.0, 5.1)]).noisier_than(10.0);
        assert_eq!(widest_first, ["engine/w p99_ms: runs 5.00–9.00 ms", "engine/w tok_s: runs 80.00–100.00 tok/s"]);
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0, 5.0], 0.5), 3.0);
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0, 5.0], 0.99), 5.0);
    }
}
