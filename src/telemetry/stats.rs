//! The statistics of a run's samples, and the gates a soak is judged by. A statistic of
//! a reading no sample had is `None` ("not measured"), and a gate on it fails.

use serde::{Deserialize, Serialize};

use super::{Sample, TelemetryConfig};
use crate::{Error, Result};

/// Min, max, mean and 95th percentile of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
}

impl Summary {
    /// The summary of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = ((0.95 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Some(Summary {
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            p95: sorted[rank - 1],
        })
    }
}

/// One device over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceStats {
    /// The device.
    pub device: String,
    /// Temperature, °C.
    pub temperature_c: Option<Summary>,
    /// Least-squares slope of the temperature after the warm-up, °C per hour.
    pub drift_c_per_h: Option<f64>,
    /// Share of samples in which it was throttled.
    pub throttled_share: Option<f64>,
    /// Power, W.
    pub power_w: Option<Summary>,
    /// Energy over the run, J.
    pub energy_j: Option<f64>,
    /// Mean utilisation, 0 to 1.
    pub utilization: Option<f64>,
    /// Times the thermal guard paused its admissions.
    pub guard_pauses: u64,
    /// Seconds it spent paused.
    pub paused_s: f64,
}

/// What the samples say about the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryStats {
    /// Seconds from the first sample to the last.
    pub seconds: f64,
    /// Samples per device.
    pub samples: usize,
    /// Seconds left out at the start (warm-up) of drift and stability.
    pub warmup_s: f64,
    /// Where each device's readings came from.
    pub sources: Vec<String>,
    /// Each device.
    pub devices: Vec<DeviceStats>,
    /// Tokens over the run (all devices).
    pub tokens: u64,
    /// Tokens/s per window after the warm-up: (window end, seconds from the start; tok/s).
    pub tokens_per_s_series: Vec<(f64, f64)>,
    /// Tokens/s over those windows.
    pub tokens_per_s: Option<Summary>,
    /// Their coefficient of variation (standard deviation / mean).
    pub tokens_per_s_cv: Option<f64>,
    /// Energy of all devices, J; `None` unless every device measured its own.
    pub energy_j: Option<f64>,
    /// Energy per token, J.
    pub joules_per_token: Option<f64>,
    /// Electricity cost of a million tokens at `price_per_kwh`.
    pub cost_per_million_tokens: Option<f64>,
    /// The price used.
    pub price_per_kwh: f64,
}

/// The statistics of `samples`. `guards` is each device's (name, pauses, seconds paused).
pub fn compute(samples: &[Sample], config: &TelemetryConfig, guards: &[(String, u64, f64)], sources: Vec<String>) -> TelemetryStats {
    let first = samples.first().map_or(0.0, |s| s.elapsed_s);
    let seconds = samples.last().map_or(0.0, |s| s.elapsed_s) - first;
    let warmup_s = config.warmup_s.min(seconds / 2.0).max(0.0);
    let devices = super::first_seen(samples.iter().map(|s| s.device.clone()));
    let device_stats: Vec<DeviceStats> = devices
        .iter()
        .map(|device| {
            let own: Vec<&Sample> = samples.iter().filter(|s| &s.device == device).collect();
            let series = |f: fn(&Sample) -> Option<f64>| -> Vec<(f64, f64)> { own.iter().filter_map(|s| Some((s.elapsed_s - first, f(s)?))).collect() };
            let temps = series(|s| s.reading.temperature_c);
            let after_warmup: Vec<(f64, f64)> = temps.iter().copied().filter(|&(t, _)| t >= warmup_s).map(|(t, c)| (t / 3600.0, c)).collect();
            let throttle: Vec<bool> = own.iter().filter_map(|s| s.reading.throttled).collect();
            let power = series(|s| s.reading.power_w);
            let counter = series(|s| s.reading.energy_j);
            let energy_j = match (counter.first(), counter.last()) {
                (Some(a), Some(b)) if counter.len() >= 2 => Some(b.1 - a.1),
                _ if power.len() >= 2 => Some(power.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum()),
                _ => None,
            };
            let utilization: Vec<f64> = series(|s| s.reading.utilization).into_iter().map(|(_, u)| u).collect();
            let guard = guards.iter().find(|g| &g.0 == device);
            DeviceStats {
                device: device.clone(),
                temperature_c: Summary::of(&temps.iter().map(|t| t.1).collect::<Vec<_>>()),
                drift_c_per_h: slope(&after_warmup),
                throttled_share: (!throttle.is_empty()).then(|| throttle.iter().filter(|&&t| t).count() as f64 / throttle.len() as f64),
                power_w: Summary::of(&power.iter().map(|p| p.1).collect::<Vec<_>>()),
                energy_j,
                utilization: Summary::of(&utilization).map(|s| s.mean),
                guard_pauses: guard.map_or(0, |g| g.1),
                paused_s: guard.map_or(0.0, |g| g.2),
            }
        })
        .collect();

    // Tokens are counted run-wide; one device's samples carry the count.
    let counts: Vec<(f64, u64)> = samples.iter().filter(|s| Some(&s.device) == devices.first()).map(|s| (s.elapsed_s - first, s.tokens)).collect();
    let tokens = match (counts.first(), counts.last()) {
        (Some(a), Some(b)) => b.1 - a.1,
        _ => 0,
    };
    let mut series = Vec::new();
    let mut start = counts.iter().find(|c| c.0 >= warmup_s).copied();
    for &(t, n) in &counts {
        if let Some((t0, n0)) = start {
            if t - t0 >= config.window_s {
                series.push((t, (n - n0) as f64 / (t - t0)));
                start = Some((t, n));
            }
        }
    }
    let rates: Vec<f64> = series.iter().map(|s| s.1).collect();
    let tokens_per_s = Summary::of(&rates);
    let tokens_per_s_cv = tokens_per_s.filter(|s| rates.len() >= 2 && s.mean > 0.0).map(|s| {
        let var = rates.iter().map(|r| (r - s.mean).powi(2)).sum::<f64>() / (rates.len() - 1) as f64;
        var.sqrt() / s.mean
    });
    let energy_j = device_stats.iter().map(|d| d.energy_j).sum::<Option<f64>>().filter(|_| !device_stats.is_empty());
    let joules_per_token = energy_j.filter(|_| tokens > 0).map(|e| e / tokens as f64);
    TelemetryStats {
        seconds,
        samples: counts.len(),
        warmup_s,
        sources,
        devices: device_stats,
        tokens,
        tokens_per_s_series: series,
        tokens_per_s,
        tokens_per_s_cv,
        energy_j,
        joules_per_token,
        cost_per_million_tokens: joules_per_token.map(|j| j * 1e6 / 3.6e6 * config.price_per_kwh),
        price_per_kwh: config.price_per_kwh,
    }
}

/// Least-squares slope of `points` (x, y); `None` under three points or with no spread in x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// A soak's pass/fail limit on one statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// `max_temp`, `max_drift`, `max_throttle` or `max_tput_cv`.
    pub name: &'static str,
    /// The limit.
    pub limit: f64,
}

/// A gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// The gate.
    pub gate: String,
    /// Its limit.
    pub limit: f64,
    /// The measured value (the worst device's); `None`: not measured.
    pub value: Option<f64>,
    /// Whether it passed.
    pub pass: bool,
    /// Why, in words.
    pub reason: String,
}

const GATES: [(&str, &str); 4] = [
    ("max_temp", "highest temperature, °C"),
    ("max_drift", "temperature drift after warm-up, |°C/h|"),
    ("max_throttle", "share of samples throttled"),
    ("max_tput_cv", "coefficient of variation of tokens/s"),
];

/// Parses `max_temp=85,max_drift=2,...`.
pub fn parse_gates(spec: &str) -> Result<Vec<Gate>> {
    spec.split(',')
        .filter(|g| !g.trim().is_empty())
        .map(|g| {
            let bad = || Error::Config(format!("gate `{g}`: expected NAME=NUMBER with NAME one of {}", GATES.map(|g| g.0).join(", ")));
            let (name, limit) = g.split_once('=').ok_or_else(bad)?;
            let name = GATES.iter().find(|k| k.0 == name.trim()).ok_or_else(bad)?.0;
            Ok(Gate { name, limit: limit.trim().parse().map_err(|_| bad())? })
        })
        .collect()
}

/// Judges `stats` by each gate. A gate whose statistic was not measured fails: a
/// validation never passes on missing data.
pub fn judge(stats: &TelemetryStats, gates: &[Gate]) -> Vec<GateResult> {
    let worst = |f: &dyn Fn(&DeviceStats) -> Option<f64>| -> Option<f64> {
        let values: Option<Vec<f64>> = stats.devices.iter().map(f).collect();
        values.filter(|v| !v.is_empty()).map(|v| v.into_iter().fold(f64::MIN, f64::max))
    };
    gates
        .iter()
        .map(|gate| {
            let value = match gate.name {
                "max_temp" => worst(&|d| d.temperature_c.map(|t| t.max)),
                "max_drift" => worst(&|d| d.drift_c_per_h.map(f64::abs)),
                "max_throttle" => worst(&|d| d.throttled_share),
                _ => stats.tokens_per_s_cv,
            };
            let what = GATES.iter().find(|g| g.0 == gate.name).expect("parsed gates are known").1;
            let (pass, reason) = match value {
                None => (false, format!("{what}: not measured on this machine")),
                Some(v) if v <= gate.limit => (true, format!("{what}: {v:.3} <= {}", gate.limit)),
                Some(v) => (false, format!("{what}: {v:.3} > {}", gate.limit)),
            };
            GateResult { gate: gate.name.to_string(), limit: gate.limit, value, pass, reason }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Reading;

    fn ramp(seconds: usize, c_per_h: f64, tokens_per_s: u64) -> Vec<Sample> {
        (0..=seconds)
            .map(|t| Sample {
                timestamp_ms: t as i64 * 1000,
                elapsed_s: t as f64,
                device: "cuda:0".into(),
                reading: Reading {
                    temperature_c: Some(50.0 + c_per_h * t as f64 / 3600.0),
                    power_w: Some(200.0),
                    throttled: Some(t % 10 == 0),
                    ..Reading::default()
                },
                tokens: t as u64 * tokens_per_s,
                paused: false,
            })
            .collect()
    }

    #[test]
    fn drift_on_a_synthetic_ramp_is_the_ramps_slope() {
        let stats = compute(&ramp(1800, 4.0, 100), &TelemetryConfig::default(), &[], vec![]);
        let d = &stats.devices[0];
        assert!((d.drift_c_per_h.unwrap() - 4.0).abs() < 1e-6, "{d:?}");
        let t = d.temperature_c.unwrap();
        assert!((t.min - 50.0).abs() < 1e-9 && (t.max - 52.0).abs() < 1e-9);
        assert!((d.throttled_share.unwrap() - 181.0 / 1801.0).abs() < 1e-9);
        // 200 W for 1800 s; 180,000 tokens.
        assert!((d.energy_j.unwrap() - 360_000.0).abs() < 1e-6);
        assert!((stats.joules_per_token.unwrap() - 2.0).abs() < 1e-9);
        assert!((stats.cost_per_million_tokens.unwrap() - 2.0 * 1e6 / 3.6e6 * 0.30).abs() < 1e-9);
        let rate = stats.tokens_per_s.unwrap();
        assert!((rate.mean - 100.0).abs() < 1e-9 && stats.tokens_per_s_cv.unwrap() < 1e-9, "{stats:?}");
        assert!((stats.warmup_s - 60.0).abs() < 1e-9);
    }

    #[test]
    fn gates_pass_fail_and_fail_on_what_was_not_measured() {
        let stats = compute(&ramp(1800, 4.0, 100), &TelemetryConfig::default(), &[], vec![]);
        let results = judge(&stats, &parse_gates("max_temp=60,max_drift=3,max_tput_cv=0.05").unwrap());
        assert_eq!(results.iter().map(|r| r.pass).collect::<Vec<_>>(), [true, false, true]);
        assert!(results[1].reason.contains("4.000 > 3"), "{}", results[1].reason);

        let mut blind = ramp(100, 0.0, 10);
        blind.iter_mut().for_each(|s| s.reading = Reading::default());
        let stats = compute(&blind, &TelemetryConfig::default(), &[], vec![]);
        let results = judge(&stats, &parse_gates("max_temp=90,max_throttle=0.1").unwrap());
        assert!(results.iter().all(|r| !r.pass && r.value.is_none() && r.reason.contains("not measured")), "{results:?}");
        assert_eq!((stats.energy_j, stats.joules_per_token), (None, None));
        assert!(parse_gates("max_heat=3").is_err() && parse_gates("max_temp=hot").is_err());
    }
}
