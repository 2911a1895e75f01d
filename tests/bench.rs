//! `hearth bench` through the binary: a baseline, a normal build that passes against it,
//! and a planted slowdown that the comparison catches.

use std::process::{Command, Output};
use std::sync::Mutex;

/// Held while a benchmark runs: the tests of this file run on parallel threads, and a
/// build compared with its own baseline must not share the cores with another test's
/// benchmark in one of its runs and not the other (on CI's 2 cores that doubled a p99).
static ONE_BENCHMARK_AT_A_TIME: Mutex<()> = Mutex::new(());

fn bench(args: &[&str], env: &[(&str, &str)]) -> Output {
    let _alone = ONE_BENCHMARK_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Command::new(env!("CARGO_BIN_EXE_hearth")).arg("bench").args(args).envs(env.iter().copied()).output().expect("the hearth binary runs")
}

#[test]
fn a_planted_slowdown_fails_the_baseline_comparison_and_the_normal_build_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let baseline = tmp.path().join("baseline.json");
    let common = ["engine", "--model", "synthetic:tiny", "--repeat", "3"];
    let saved = bench(&[&common[..], &["--save", baseline.to_str().unwrap()]].concat(), &[]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    assert!(report["fingerprint"]["cpu"].is_string() && report["fingerprint"]["git_commit"].is_string(), "{}", report["fingerprint"]);
    let names: Vec<&str> = report["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 4, "the four standard workloads: {names:?}");
    for r in report["results"].as_array().unwrap() {
        for figure in ["prefill_tok_s", "decode_tok_s", "total_tok_s", "token_latency_p50_ms", "token_latency_p99_ms"] {
            assert!(r["figures"][figure]["value"].as_f64().unwrap() > 0.0, "{figure} measured in {r}");
            assert_eq!(r["figures"][figure]["runs"].as_array().map(Vec::len), Some(3), "each of the 3 runs kept: {r}");
        }
    }

    // Twice as bad allowed (tolerance 100%): the same build passes, noise and all.
    let compare = ["--baseline", baseline.to_str().unwrap(), "--tolerance", "100"];
    let same = bench(&[&common[..], &compare].concat(), &[]);
    let stdout = String::from_utf8_lossy(&same.stdout);
    assert!(same.status.success(), "the same build against its own baseline: {stdout}\n{}", String::from_utf8_lossy(&same.stderr));
    assert!(stdout.contains("total_tok_s") && !stdout.contains("REGRESSED"), "{stdout}");

    // Every engine step 40 ms slower: far past twice as slow, so the comparison fails.
    let slowed = bench(&[&common[..], &compare].concat(), &[("HEARTH_SLOW_STEP_MS", "40")]);
    let stdout = String::from_utf8_lossy(&slowed.stdout);
    assert!(!slowed.status.success(), "a planted slowdown must fail: {stdout}");
    assert!(stdout.contains("REGRESSED") && String::from_utf8_lossy(&slowed.stderr).contains("regressed"), "{stdout}");
    let regressed: Vec<&str> = stdout.lines().filter(|l| l.contains("REGRESSED")).collect();
    assert!(regressed.iter().any(|l| l.contains("total_tok_s")), "throughput is what fell: {regressed:?}");

    // A baseline whose runs were all over the place (ten times as fast in two, a hundredth
    // in the other): this build's median is about a tenth of the baseline's, far past the
    // tolerance, but its runs overlap the baseline's, so the noise is shown and not failed.
    let mut noisy: serde_json::Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    // Only that figure is kept, so no other can fail this step for noise of its own.
    for r in noisy["results"].as_array_mut().unwrap() {
        let v = r["figures"]["total_tok_s"]["value"].as_f64().unwrap();
        let mut total = r["figures"]["total_tok_s"].take();
        total["value"] = (10.0 * v).into();
        total["runs"] = serde_json::json!([10.0 * v, 0.01 * v, 10.0 * v]);
        r["figures"] = serde_json::json!({ "total_tok_s": total });
    }
    std::fs::write(&baseline, noisy.to_string()).unwrap();
    let against_noise = bench(&[&common[..], &compare].concat(), &[]);
    let stdout = String::from_utf8_lossy(&against_noise.stdout);
    assert!(against_noise.status.success(), "overlapping runs do not fail: {stdout}");
    let totals: Vec<&str> = stdout.lines().filter(|l| l.starts_with("engine/") && l.contains(" total_tok_s ")).collect();
    assert!(totals.len() == 4 && totals.iter().all(|l| l.ends_with("worse, runs overlap")), "{stdout}");
    assert!(stdout.contains("4 figure(s) worse past the tolerance, but some of their runs no worse"), "{stdout}");
}

#[test]
fn a_missing_or_broken_baseline_is_a_clear_error_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.json");
    let out = bench(&["engine", "--model", "synthetic:tiny", "--baseline", missing.to_str().unwrap()], &[]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("nope.json"));
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, "{\"results\": 3}").unwrap();
    let out = bench(&["engine", "--model", "synthetic:tiny", "--baseline", broken.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("broken.json") && err.contains("not a hearth bench report"), "{err}");
}

/// A stand-in for the peer's Python: checks the job hearth hands the transformers peer
/// (the script, the preset's config, the device and dtype, the prompts) and answers
/// with figures of 10 tok/s, or fails as a broken peer would.
const FAKE_PEER: &str = r#"#!/usr/bin/env python3
import json, sys
script = open(sys.argv[1]).read()
job = json.load(sys.stdin)
if "FAIL" in job["config"]["model_type"] or len(job["workloads"]) != 2:
    sys.exit("no such model here")
assert "transformers" in script and "generate" in script, "the transformers peer's script"
c = job["config"]
assert (c["model_type"], c["hidden_size"], c["num_hidden_layers"], c["num_key_value_heads"]) == ("qwen2", 64, 2, 2), c
assert (job["device"], job["dtype"]) == ("cpu", "float32"), job
results = {}
for w in job["workloads"]:
    assert len(w["prompts"]) == w["max_seqs"] and all(len(p) == 12 for p in w["prompts"]), w
    assert all(n == 5 for n in w["new_tokens"]) and all(0 <= t < 512 for p in w["prompts"] for t in p), w
    results[w["name"]] = {"prefill_tok_s": 10.0, "decode_tok_s": 10.0, "total_tok_s": 10.0, "wave": w["max_seqs"]}
json.dump({"version": "fake transformers", "results": results}, sys.stdout)
"#;

#[test]
fn the_transformers_peer_gets_the_presets_shapes_and_prompts_and_its_figures_become_ratios() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let python = tmp.path().join("python");
    std::fs::write(&python, FAKE_PEER).unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let saved = tmp.path().join("report.json");
    let args = ["engine", "--model", "synthetic:tiny", "--concurrency", "1,3", "--prompt-tokens", "12", "--new-tokens", "5", "--repeat", "1"];
    let peer = ["--peer", "transformers", "--peer-python", python.to_str().unwrap(), "--save", saved.to_str().unwrap()];
    let out = bench(&[&args[..], &peer].concat(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    let find = |suite: &str, workload: &str| results.iter().find(|r| r["suite"] == suite && r["name"].as_str().unwrap().starts_with(workload)).unwrap_or_else(|| panic!("{suite} {workload}: {results:?}"));
    for workload in ["c1-p12-n5", "c3-p12-n5"] {
        let ours = find("engine", workload)["figures"]["total_tok_s"]["value"].as_f64().unwrap();
        assert_eq!(find("peer:transformers", workload)["figures"]["wave"]["value"].as_f64(), Some(if workload == "c1-p12-n5" { 1.0 } else { 3.0 }));
        let ratio = find("engine/peer", workload)["figures"]["total_ratio"]["value"].as_f64().unwrap();
        assert!((ratio - ours / 10.0).abs() < 1e-9 * ratio, "hearth/peer: {ratio} vs {ours}/10");
    }
    assert_eq!(report["fingerprint"]["peer"], "fake transformers", "the peer's own version travels with its figures");
    assert!(String::from_utf8_lossy(&out.stdout).contains("hearth / fake transformers"));

    // A peer that fails (this one, on a job of one workload) stops the benchmark with its
    // own words.
    let one = ["engine", "--model", "synthetic:tiny", "--concurrency", "1", "--prompt-tokens", "12", "--new-tokens", "5", "--repeat", "1"];
    let failed = bench(&[&one[..], &peer[..4]].concat(), &[]);
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success() && err.contains("transformers peer") && err.contains("no such model here"), "{err}");
}

#[test]
fn telemetry_is_sampled_while_the_benchmark_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("telemetry.parquet");
    let out = bench(&["engine", "--model", "synthetic:tiny", "--concurrency", "2", "--repeat", "1", "--telemetry", path.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let samples = hearth::telemetry::read_samples(&path).unwrap();
    assert!(!samples.is_empty() && samples.iter().all(|s| s.device == "cpu"), "{samples:?}");
    assert!(stdout.contains("telemetry cpu:") && stdout.contains(&format!("{} samples", samples.len())), "{stdout}");
}
