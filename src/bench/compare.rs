//! A report against a baseline: each figure's old and new value and whether it got
//! worse by more than the tolerance.

use super::{Better, Report};

/// What became of one figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the tolerance, or better.
    Ok,
    /// Worse by more than the tolerance.
    Regressed,
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
                Verdict::Info => "",
            };
            let ratio = if r.old == 0.0 { "-".to_string() } else { format!("{:.3}x", r.ratio()) };
            out.push_str(&format!("{:<64} {:<22} {:>12.2} {:>12.2} {ratio:>8}  {verdict}\n", r.key, r.figure, r.old, r.new));
        }
        for m in &self.missing {
            out.push_str(&format!("{m:<64} not measured in this run\n"));
        }
        out
    }
}

/// Compares `new` with `baseline`: a figure regresses when it is worse by a factor of
/// more than 1 + `tolerance_pct`/100 — a throughput below old / (1 + t), a latency or
/// memory above old × (1 + t). (So 10 lets a throughput fall 9%, and 100 means "twice
/// as slow".)
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
                Better::Higher if after.value * (1.0 + t) < before.value => Verdict::Regressed,
                Better::Lower if after.value > before.value * (1.0 + t) => Verdict::Regressed,
                _ => Verdict::Ok,
            };
            comparison.rows.push(Row { key: old.key(), figure: figure.clone(), unit: before.unit.clone(), old: before.value, new: after.value, verdict });
        }
    }
    comparison
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
