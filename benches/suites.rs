//! `cargo bench --bench suites`: the same suites as `hearth bench` (engine, walk,
//! pipeline), run in-process with the library, printed as a table.
//!
//! With `--bench` (what `cargo bench` passes) it runs every suite on the test model
//! (SmolLM2, `scripts/fetch-model.sh`) and a few-layer Qwen2.5-Coder-0.5B-shaped
//! synthetic model, median of 3; `HEARTH_BENCH_MODELS` (comma-separated) replaces the
//! models. Under `cargo test` it runs each suite once on the tiny synthetic model, so
//! the benchmark stays compiled and working without taking CI's time.
//! For baselines and llama.cpp side by side use `hearth bench` (`scripts/bench.sh`).

use hearth::bench::{self, BenchOptions, Suite};

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let models = match std::env::var("HEARTH_BENCH_MODELS") {
        Ok(list) => list.split(',').map(str::to_string).collect(),
        Err(_) if benchmarking => vec!["smollm2".to_string(), "synthetic:qwen2.5-coder-0.5b:layers=4".to_string()],
        Err(_) => vec!["synthetic:tiny".to_string()],
    };
    let options = BenchOptions {
        suites: vec![Suite::Engine, Suite::Walk, Suite::Pipeline],
        models,
        sweep: None,
        repeat: if benchmarking { 3 } else { 1 },
        device: "cpu".to_string(),
        requantize: "auto".to_string(),
        engine: Default::default(),
        dtype: None,
        max_batched_tokens: None,
        peer: None,
        walk_files: if benchmarking { 2000 } else { 50 },
    };
    let report = bench::run(&options, bench::Fingerprint::here(), |r| println!("{}", r.line()))
        .unwrap_or_else(|e| panic!("benchmark failed: {e}"));
    assert!(report.results.iter().any(|r| r.suite == "pipeline"), "every suite ran");
}
