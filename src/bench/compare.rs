//! A report against a baseline: each figure's old and new value and whether it got
//! worse by more than the tolerance, beyond what the machine's noise explains.
//!
//! A shared machine moves a figure by more than a tight tolerance from one run to the
//! next (on a 2-vCPU VM, the same binary's throughput by ±10–20%). A verdict that fails
//! on that teaches people to ignore it, so where both sides were repeated, a regression
//! also needs every run of this build worse than every run of the baseline. With three
//! runs a side that is the one order of six runs in twenty that chance gives (p = 0.05).

use super::{Better, Figure, Report};

/// What became of one figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the tolerance, or better.
    Ok,
    /// Worse by more than the tolerance, and every run worse than every run of the
    /// baseline.
    Regressed,
    /// The median worse by more than the tolerance, but the runs overlap the baseline's:
    /// noise this comparison cannot tell from a change. Not a failure; shown, so that a
    /// real slowdown hidden by a noisy machine is still seen (more `--repeat` runs
    /// narrow it).
    WithinNoise,
    /// Context only, not judged.
    Info,
}

/// One figure of one workload, old and new.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `suite/name`.
    pub key: String,
    /// The figure.
    pub figure: String,
    /// Its unit.
    pub unit: String,
    /// The baseline's value.
    pub old: f64,
    /// This run's value.
    pub new: f64,
    /// The verdict.
    pub verdict: Verdict,
}

impl Row {
    /// new / old.
    pub fn ratio(&self) -> f64 {
        self.new / self.old
    }
}

/// The whole comparison.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// Figures both reports have.
    pub rows: Vec<Row>,
    /// Workloads of the baseline this run did not measure.
    pub missing: Vec<String>,
    /// Differences between the two machines, builds or peers (ratios then compare
    /// those too).
    pub machine_differences: Vec<String>,
}

impl Comparison {
    /// Whether any figure regressed.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Verdict::Regressed)
    }

    /// The table `hearth bench --baseline` prints.
    pub fn table(&self, tolerance_pct: f64) -> String {
        let mut out = String::new();
        for d in &self.machine_differences {
            out.push_str(&format!("note: the baseline's setup differs ({d}); the ratios compare that as well as the code\n"));
        }
        out.push_str(&format!("{:<64} {:<22} {:>12} {:>12} {:>8}  verdict (tolerance {tolerance_pct}%)\n", "workload", "figure", "old", "new", "new/old"));
        for r in &self.rows {
            let verdict = match r.verdict {
                Verdict::Ok => "ok",
                Verdict::Regressed => "REGRESSED",
                Verdict::WithinNoise => "worse, runs overlap",
                Verdict::Info => "",
            };
            let ratio = if r.old == 0.0 { "-".to_string() } else { format!("{:.3}x", r.ratio()) };
            out.push_str(&format!("{:<64} {:<22} {:>12.2} {:>12.2} {ratio:>8}  {verdict}\n", r.key, r.figure, r.old, r.new));
        }
        for m in &self.missing {
            out.push_str(&format!("{m:<64} not measured in this run\n"));
        }
        let noisy = self.rows.iter().filter(|r| r.verdict == Verdict::WithinNoise).count();
        if noisy > 0 {
            out.push_str(&format!(
                "{noisy} figure(s) worse past the tolerance, but some of their runs no worse than the baseline's: \
                 not failed as noise; --repeat 5 on both sides tells them apart\n"
            ));
        }
        out
    }
}

/// Compares `new` with `baseline`: a figure regresses when it is worse by a factor of
/// more than 1 + `tolerance_pct`/100 — a throughput below old / (1 + t), a latency or
/// memory above old × (1 + t). (So 10 lets a throughput fall 9%, and 100 means "twice
/// as slow".) Where both figures hold their runs, every new run must also be worse than
/// every old one; otherwise the verdict is [`Verdict::WithinNoise`].
pub fn compare(baseline: &Report, new: &Report, tolerance_pct: f64) -> Comparison {
    let t = tolerance_pct / 100.0;
    let mut comparison = Comparison { machine_differences: baseline.fingerprint.machine_differences(&new.fingerprint), ..Comparison::default() };
    for old in &baseline.results {
        let Some(now) = new.results.iter().find(|r| r.key() == old.key()) else {
            comparison.missing.push(old.key());
            continue;
        };
        for (figure, before) in &old.figures {
            let Some(after) = now.figures.get(figure) else { continue };
            let verdict = match before.better {
                Better::Info => Verdict::Info,
                Better::Higher if after.value * (1.0 + t) < before.value => judged_by_runs(before, after),
                Better::Lower if after.value > before.value * (1.0 + t) => judged_by_runs(before, after),
                _ => Verdict::Ok,
            };
            comparison.rows.push(Row { key: old.key(), figure: figure.clone(), unit: before.unit.clone(), old: before.value, new: after.value, verdict });
        }
    }
    comparison
}

/// For a figure whose median is past the tolerance: a regression when every run of
/// `after` is worse than every run of `before` (a figure of one run is its value).
fn judged_by_runs(before: &Figure, after: &Figure) -> Verdict {
    // Each run's badness: larger is worse, whichever way the figure improves.
    let badness = |f: &Figure| -> Vec<f64> {
        let runs = if f.runs.is_empty() { std::slice::from_ref(&f.value) } else { &f.runs[..] };
        runs.iter().map(|v| if before.better == Better::Higher { -v } else { *v }).collect()
    };
    let old_worst = badness(before).into_iter().fold(f64::NEG_INFINITY, f64::max);
    let new_best = badness(after).into_iter().fold(f64::INFINITY, f64::min);
    if new_best > old_worst {
        Verdict::Regressed
    } else {
        Verdict::WithinNoise
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BenchResult, Fingerprint};
    use super::*;

    fn report(tput: f64, latency: f64) -> Report {
        let result = BenchResult::new("engine", "w")
            .with("total_tok_s", tput, "tok/s", Better::Higher)
            .with("token_latency_p99_ms", latency, "ms", Better::Lower)
            .with("steps", tput, "", Better::Info);
        Report { fingerprint: Fingerprint::here(), results: vec![result] }
    }

    #[test]
    fn a_figure_regresses_only_past_the_tolerance_and_in_its_own_direction() {
        let base = report(100.0, 10.0);
        assert!(!compare(&base, &report(91.0, 10.9), 10.0).regressed(), "within 10%");
        assert!(compare(&base, &report(49.0, 10.0), 100.0).regressed(), "100% is twice as slow");
        assert!(!compare(&base, &report(51.0, 19.0), 100.0).regressed());
        assert!(!compare(&base, &report(150.0, 5.0), 10.0).regressed(), "better is never a regression");
        let slower = compare(&base, &report(89.0, 10.0), 10.0);
        assert!(slower.regressed());
        assert_eq!(slower.rows.iter().filter(|r| r.verdict == Verdict::Regressed).count(), 1, "{:?}", slower.rows);
        assert!(compare(&base, &report(100.0, 11.5), 10.0).regressed(), "a latency up 15%");
        let other = Report { results: vec![], ..report(1.0, 1.0) };
        let c = compare(&base, &other, 10.0);
        assert!(!c.regressed() && c.missing == ["engine/w"]);
        assert!(compare(&base, &report(89.0, 10.0), 10.0).table(10.0).contains("REGRESSED"));
    }

    /// A report of `rounds` repeated runs, each a (throughput, latency) pair.
    fn repeated(rounds: &[(f64, f64)]) -> Report {
        let runs: Vec<BenchResult> = rounds.iter().map(|&(tput, latency)| report(tput, latency).results.remove(0)).collect();
        Report { fingerprint: Fingerprint::here(), results: vec![super::super::median(&runs)] }
    }

    #[test]
    fn a_median_past_the_tolerance_fails_only_when_every_run_is_worse_than_every_baseline_run() {
        let base = repeated(&[(100.0, 10.0), (90.0, 12.0), (110.0, 9.0)]);
        let of = |c: Comparison, figure: &str| c.rows.iter().find(|r| r.figure == figure).unwrap().verdict;
        let verdict = |new: &Report, figure: &str| of(compare(&base, new, 10.0), figure);

        // One slow spell in the baseline's second run, two in this one's: the medians
        // are 100 and 80, but this build's best run beats the baseline's worst.
        let overlapping = repeated(&[(80.0, 10.0), (95.0, 11.0), (75.0, 12.0)]);
        assert_eq!(verdict(&overlapping, "total_tok_s"), Verdict::WithinNoise);
        let c = compare(&base, &overlapping, 10.0);
        assert!(!c.regressed(), "noise does not fail: {:?}", c.rows);
        assert!(c.table(10.0).contains("worse, runs overlap") && c.table(10.0).contains("--repeat 5"), "{}", c.table(10.0));

        // Every run slower than every baseline run: a regression, in each direction.
        let slower = repeated(&[(85.0, 14.0), (80.0, 13.0), (88.0, 12.5)]);
        assert_eq!((verdict(&slower, "total_tok_s"), verdict(&slower, "token_latency_p99_ms")), (Verdict::Regressed, Verdict::Regressed));
        assert!(compare(&base, &slower, 10.0).regressed());
        // A latency whose median rose past the tolerance, one run below the baseline's worst.
        assert_eq!(verdict(&repeated(&[(100.0, 14.0), (100.0, 11.5), (100.0, 14.0)]), "token_latency_p99_ms"), Verdict::WithinNoise);

        // Within the tolerance stays ok however the runs lie; one run a side is judged
        // by the tolerance alone, as before runs were kept.
        assert_eq!(verdict(&repeated(&[(95.0, 10.0), (60.0, 10.0), (99.0, 10.0)]), "total_tok_s"), Verdict::Ok);
        assert_eq!(verdict(&report(85.0, 10.0), "total_tok_s"), Verdict::Regressed, "one new run below the baseline's worst");
        let wide = repeated(&[(100.0, 10.0), (80.0, 10.0), (110.0, 10.0)]);
        assert_eq!(of(compare(&wide, &report(85.0, 10.0), 10.0), "total_tok_s"), Verdict::WithinNoise, "one new run above the baseline's worst");
        assert_eq!(of(compare(&report(100.0, 10.0), &report(89.0, 10.0), 10.0), "total_tok_s"), Verdict::Regressed);
    }

    #[test]
    fn another_peer_version_is_noted_beside_the_ratios() {
        let with_peer = |version: Option<&str>| {
            let mut r = report(100.0, 10.0);
            r.fingerprint.peer = version.map(String::from);
            r
        };
        let base = with_peer(Some("llama-cpp-python 0.3.36"));
        assert!(compare(&base, &with_peer(Some("llama-cpp-python 0.3.36")), 10.0).machine_differences.is_empty());
        assert!(compare(&base, &with_peer(None), 10.0).machine_differences.is_empty(), "a run without the peer compares its own figures");
        let table = compare(&base, &with_peer(Some("llama-cpp-python 0.3.40")), 10.0).table(10.0);
        assert!(table.contains("peer: llama-cpp-python 0.3.36 vs llama-cpp-python 0.3.40"), "{table}");
    }
}
