//! `hearth bench` through the binary: a baseline, a normal build that passes against it,
//! and a planted slowdown that the comparison catches.

use std::process::{Command, Output};

fn bench(args: &[&str], env: &[(&str, &str)]) -> Output {
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
