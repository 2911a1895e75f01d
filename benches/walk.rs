//! Walk benchmark: MB/s and units/s of `hearth walk` over a large tree, warm cache.
//!
//! `cargo bench --bench walk` walks `HEARTH_BENCH_TREE` (default: the cargo registry
//! sources, `$CARGO_HOME/registry/src`), once to warm the page cache and then
//! `HEARTH_BENCH_RUNS` times (default 3) with all cores and with one thread, and prints
//! the median of each with the ratio between them, measured side by side in one run.
//! The goal for the source stage is ≥ 50 MB/s on 2 cores with a warm cache.
//!
//! Under `cargo test` (no `--bench` argument) it walks the sample repository once, so
//! the benchmark stays compiled and working without taking CI's time.

use std::path::PathBuf;
use std::time::Duration;

use hearth::job::{self, WalkInput, WalkSummary};
use hearth::source::{WalkConfig, WalkStats};

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let tree = match std::env::var_os("HEARTH_BENCH_TREE") {
        Some(tree) => PathBuf::from(tree),
        None if benchmarking => cargo_registry_sources(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/sample-repo"),
    };
    let runs: usize = std::env::var("HEARTH_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let runs = if benchmarking { runs.max(1) } else { 1 };
    let out = tempfile::tempdir().expect("a temporary directory");
    let walk = |threads: usize| -> WalkSummary {
        let config = WalkConfig { threads, ..WalkConfig::default() };
        let input = WalkInput::Repos(vec![tree.clone()]);
        job::walk(std::slice::from_ref(&input), &config, out.path(), &WalkStats::default(), None)
            .unwrap_or_else(|e| panic!("walking {}: {e}", tree.display()))
    };

    let warm = walk(0);
    println!(
        "walk benchmark over {}: {} files, {:.1} MB of code, {} units, {} skipped",
        tree.display(),
        warm.files,
        warm.bytes as f64 / 1e6,
        warm.units,
        warm.skipped
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all = median(&(0..runs).map(|_| walk(0).elapsed).collect::<Vec<_>>());
    let one = median(&(0..runs).map(|_| walk(1).elapsed).collect::<Vec<_>>());
    println!("{:<12} {:>10} {:>12} {:>12}", "threads", "seconds", "MB/s", "units/s");
    for (label, elapsed) in [(format!("{cores} (all)"), all), ("1".to_string(), one)] {
        let seconds = elapsed.as_secs_f64();
        println!(
            "{:<12} {:>10.3} {:>12.1} {:>12.0}",
            label,
            seconds,
            warm.bytes as f64 / 1e6 / seconds,
            warm.units as f64 / seconds
        );
    }
    println!("parallel speed-up: {:.2}x on {cores} cores (median of {runs} runs each)", one.as_secs_f64() / all.as_secs_f64());
}

fn cargo_registry_sources() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME is set");
    cargo_home.join("registry/src")
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}
