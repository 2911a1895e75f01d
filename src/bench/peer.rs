//! llama.cpp as the peer: the engine workloads run again through llama-cpp-python's
//! batched API on the same GGUF and the same prompt token ids, in the same invocation,
//! so hearth's figures can be given as ratios to a known engine on the same machine.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::engine::EngineWorkload;
use super::{BenchResult, Better};
use crate::{Error, Result};

/// The peer's script, carried inside the binary so `hearth bench` works wherever the
/// binary is copied.
const SCRIPT: &str = include_str!("../../benches/peer_llama_cpp.py");

/// Suite name of the peer's own figures.
pub const SUITE: &str = "peer:llama.cpp";

#[derive(Deserialize)]
struct PeerOutput {
    version: String,
    results: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
}

/// Runs `workloads` (their prompts over ids below `vocab`) through llama.cpp on `gguf`
/// with `python` (an interpreter that has llama-cpp-python). Results are named like
/// hearth's, `<workload> @ <model_name>`, in the suite [`SUITE`].
pub fn llama_cpp(python: &Path, gguf: &Path, model_name: &str, vocab: u32, threads: usize, workloads: &[EngineWorkload]) -> Result<(String, Vec<BenchResult>)> {
    let job = serde_json::json!({
        "model": gguf,
        "threads": threads,
        "workloads": workloads.iter().map(|w| {
            let requests = w.requests(vocab);
            serde_json::json!({
                "name": w.name,
                "prompts": requests.iter().map(|r| &r.prompt).collect::<Vec<_>>(),
                "new_tokens": requests.iter().map(|r| r.params.max_new_tokens).collect::<Vec<_>>(),
                "max_seqs": w.max_seqs,
                "max_batched_tokens": w.max_batched_tokens,
            })
        }).collect::<Vec<_>>(),
    });
    let script = std::env::temp_dir().join(format!("hearth-peer-{}.py", std::process::id()));
    std::fs::write(&script, SCRIPT).map_err(|e| Error::io(&script, e))?;
    let spawned = Command::new(python).arg(&script).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = spawned.map_err(|e| Error::Config(format!("{}: cannot start the peer's Python ({e}); scripts/bench.sh makes a venv with llama-cpp-python", python.display())))?;
    // A peer that dies before reading its job says why on stderr; the write's broken pipe does not.
    let _ = child.stdin.take().expect("piped").write_all(job.to_string().as_bytes());
    let out = child.wait_with_output().map_err(|e| Error::io(python, e));
    let _ = std::fs::remove_file(&script);
    let out = out?;
    if !out.status.success() {
        return Err(Error::Config(format!("the llama.cpp peer ({}) failed: {}", python.display(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    let parsed: PeerOutput = serde_json::from_slice(&out.stdout).map_err(|e| Error::Config(format!("the llama.cpp peer's output: {e}")))?;
    let results = workloads
        .iter()
        .map(|w| {
            let figures = parsed.results.get(&w.name).ok_or_else(|| Error::Config(format!("the llama.cpp peer did not run {}", w.name)))?;
            let mut r = BenchResult::new(SUITE, format!("{} @ {model_name}", w.name));
            for (name, &value) in figures {
                let (unit, better) = unit_of(name);
                r = r.with(name, value, unit, better);
            }
            Ok(r)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((parsed.version, results))
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
/// better than absolute numbers).
pub fn ratios(ours: &[BenchResult], theirs: &[BenchResult]) -> Vec<BenchResult> {
    ours.iter()
        .filter_map(|o| {
            let t = theirs.iter().find(|t| t.name == o.name)?;
            let mut r = BenchResult::new("engine/peer", o.name.clone());
            for figure in ["prefill_tok_s", "decode_tok_s", "total_tok_s"] {
                if let (Some(a), Some(b)) = (o.value(figure), t.value(figure)) {
                    r = r.with(&figure.replace("_tok_s", "_ratio"), a / b, "x", Better::Higher);
                }
            }
            Some(r)
        })
        .collect()
}
