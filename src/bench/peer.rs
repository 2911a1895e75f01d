//! Peer engines: the engine workloads run again through another engine, with the same
//! prompt token ids, in the same invocation, so hearth's figures can be given as ratios
//! to a known engine on the same machine. llama.cpp (llama-cpp-python's batched API)
//! runs the same GGUF; Hugging Face transformers (batched `generate`) runs a model of
//! the same shapes, which is the peer on GPUs.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::engine::EngineWorkload;
use super::{BenchResult, Better};
use crate::engine::{Model, ModelSource};
use crate::{Error, Result};

/// Which engine to compare with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// llama.cpp on the same GGUF.
    LlamaCpp,
    /// Hugging Face transformers on a model of the same shapes (synthetic presets,
    /// Hugging Face directories), on the same device, in the same dtype.
    Transformers,
}

impl std::str::FromStr for Peer {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Peer, String> {
        match s {
            "llama.cpp" => Ok(Peer::LlamaCpp),
            "transformers" => Ok(Peer::Transformers),
            other => Err(format!("unknown peer `{other}` (llama.cpp, transformers)")),
        }
    }
}

impl Peer {
    /// How it is named in reports.
    pub fn name(self) -> &'static str {
        match self {
            Peer::LlamaCpp => "llama.cpp",
            Peer::Transformers => "transformers",
        }
    }

    /// The suite of the peer's own figures.
    pub fn suite(self) -> String {
        format!("peer:{}", self.name())
    }

    /// The peer's script, carried inside the binary so `hearth bench` works wherever
    /// the binary is copied.
    fn script(self) -> &'static str {
        match self {
            Peer::LlamaCpp => include_str!("../../benches/peer_llama_cpp.py"),
            Peer::Transformers => include_str!("../../benches/peer_transformers.py"),
        }
    }

    /// What the Python needs installed, for the error when it is missing.
    fn needs(self) -> &'static str {
        match self {
            Peer::LlamaCpp => "llama-cpp-python (scripts/bench.sh makes a venv with it)",
            Peer::Transformers => "torch and transformers",
        }
    }

    /// The peer's job for `model`, loaded from `source` (one the peer [`Peer::runs`]):
    /// the GGUF file, the Hugging Face directory, or a synthetic preset's config.
    fn job(self, source: &ModelSource, model: &Model, threads: usize) -> serde_json::Value {
        let mut job = match source {
            ModelSource::Gguf(gguf) => serde_json::json!({ "model": gguf }),
            ModelSource::HfDir(dir) => serde_json::json!({ "model_dir": dir }),
            ModelSource::Synthetic { .. } => serde_json::json!({ "config": model.decoder.config().to_hf_json() }),
        };
        job["threads"] = threads.into();
        if self == Peer::Transformers {
            let dtype = match model.decoder.dtype() {
                candle_core::DType::BF16 => "bfloat16",
                candle_core::DType::F16 => "float16",
                _ => "float32",
            };
            job["dtype"] = dtype.into();
            job["device"] = match model.decoder.stages()[0].device.location() {
                candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
                _ => "cpu".to_string(),
            }
            .into();
        }
        job
    }

    /// Whether this peer can run the model from `source`.
    pub fn runs(self, source: &ModelSource) -> bool {
        matches!((self, source), (Peer::LlamaCpp, ModelSource::Gguf(_)) | (Peer::Transformers, ModelSource::HfDir(_) | ModelSource::Synthetic { .. }))
    }

    /// Runs `workloads` (their prompts over the ids `model` and its tokenizer share)
    /// through the peer with `python`, on what `model` was loaded from. Results are named like hearth's,
    /// `<workload> @ <model_name>`, in the suite [`Peer::suite`]; with the peer's
    /// version.
    pub fn run(self, python: &Path, source: &ModelSource, model: &Model, model_name: &str, threads: usize, workloads: &[EngineWorkload]) -> Result<(String, Vec<BenchResult>)> {
        let name = self.name();
        if !self.runs(source) {
            return Err(Error::Config(format!("the {name} peer cannot run {source}")));
        }
        let mut job = self.job(source, model, threads);
        let vocab = super::engine::vocab(model);
        job["workloads"] = workloads
            .iter()
            .map(|w| {
                let requests = w.requests(vocab);
                serde_json::json!({
                    "name": w.name,
                    "prompts": requests.iter().map(|r| &r.prompt).collect::<Vec<_>>(),
                    "new_tokens": requests.iter().map(|r| r.params.max_new_tokens).collect::<Vec<_>>(),
                    "max_seqs": w.max_seqs,
                    "max_batched_tokens": w.max_batched_tokens,
                })
            })
            .collect::<Vec<_>>()
            .into();
        let script = std::env::temp_dir().join(format!("hearth-peer-{}-{name}.py", std::process::id()));
        std::fs::write(&script, self.script()).map_err(|e| Error::io(&script, e))?;
        let spawned = Command::new(python).arg(&script).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        let mut child = spawned.map_err(|e| Error::Config(format!("{}: cannot start the peer's Python ({e}); it needs {}", python.display(), self.needs())))?;
        // A peer that dies before reading its job says why on stderr; the write's broken pipe does not.
        let _ = child.stdin.take().expect("piped").write_all(job.to_string().as_bytes());
        let out = child.wait_with_output().map_err(|e| Error::io(python, e));
        let _ = std::fs::remove_file(&script);
        let out = out?;
        if !out.status.success() {
            return Err(Error::Config(format!("the {name} peer ({}) failed: {}", python.display(), String::from_utf8_lossy(&out.stderr).trim())));
        }
        let parsed: PeerOutput = serde_json::from_slice(&out.stdout).map_err(|e| Error::Config(format!("the {name} peer's output: {e}")))?;
        let results = workloads
            .iter()
            .map(|w| {
                let figures = parsed.results.get(&w.name).ok_or_else(|| Error::Config(format!("the {name} peer did not run {}", w.name)))?;
                let mut r = BenchResult::new(&self.suite(), format!("{} @ {model_name}", w.name));
                for (figure, &value) in figures {
                    let (unit, better) = unit_of(figure);
                    r = r.with(figure, value, unit, better);
                }
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((parsed.version, results))
    }
}

#[derive(Deserialize)]
struct PeerOutput {
    version: String,
    results: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
}

fn unit_of(figure: &str) -> (&'static str, Better) {
    match figure {
        f if f.ends_with("_tok_s") => ("tok/s", Better::Higher),
        f if f.ends_with("_ms") => ("ms", Better::Lower),
        f if f.ends_with("_mib") => ("MiB", Better::Lower),
        _ => ("", Better::Info),
    }
}

/// hearth / peer for each throughput both measured, as results of the suite
/// `engine/peer` (so a baseline holds the ratios too, which travel across machines
/// better than absolute numbers): the ratio of the medians, and each round's own ratio
/// as its runs (the engines take turns round by round, so a round's two figures are
/// the nearest in time).
pub fn ratios(ours: &[BenchResult], theirs: &[BenchResult]) -> Vec<BenchResult> {
    ours.iter()
        .filter_map(|o| {
            let t = theirs.iter().find(|t| t.name == o.name)?;
            let mut r = BenchResult::new("engine/peer", o.name.clone());
            for figure in ["prefill_tok_s", "decode_tok_s", "total_tok_s"] {
                let (Some(a), Some(b)) = (o.figures.get(figure), t.figures.get(figure)) else { continue };
                let name = figure.replace("_tok_s", "_ratio");
                r = r.with(&name, a.value / b.value, "x", Better::Higher);
                if a.runs.len() == b.runs.len() {
                    r.figures.get_mut(&name).expect("just added").runs = a.runs.iter().zip(&b.runs).map(|(a, b)| a / b).collect();
                }
            }
            Some(r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::median;
    use super::*;

    #[test]
    fn a_ratio_is_of_the_medians_and_its_runs_are_each_rounds_own() {
        let run = |tok_s: f64| BenchResult::new("engine", "w").with("total_tok_s", tok_s, "tok/s", Better::Higher);
        // The second round ran in a slow spell that fell on both engines.
        let ours = median(&[run(100.0), run(50.0), run(110.0)]);
        let theirs = median(&[run(50.0), run(25.0), run(50.0)]);
        let r = &ratios(&[ours], &[theirs])[0];
        assert_eq!(r.key(), "engine/peer/w");
        let total = &r.figures["total_ratio"];
        assert_eq!((total.value, &total.runs[..]), (2.0, &[2.0, 2.0, 2.2][..]));
        let one = ratios(&[run(30.0)], &[run(10.0)]);
        assert_eq!((one[0].value("total_ratio"), one[0].figures["total_ratio"].runs.len()), (Some(3.0), 0));
    }
}
