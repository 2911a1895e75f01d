//! The thermal guard: a device at or above its limit stops admitting new sequences
//! (those in flight finish) until it has cooled to its resume temperature. The gap
//! between the two keeps it from flapping at the limit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A device's limits, °C.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GuardLimits {
    /// Stop admitting at or above this.
    pub max_temp_c: Option<f64>,
    /// Admit again at or below this.
    pub resume_temp_c: Option<f64>,
}

/// One device's guard, set by the sampler and read by the device's workers.
#[derive(Debug)]
pub struct Guard {
    device: String,
    limits: Option<(f64, f64)>,
    paused: AtomicBool,
    pauses: AtomicU64,
    paused_since: Mutex<Option<Instant>>,
    paused_total: Mutex<Duration>,
}

impl Guard {
    /// A guard for `device`; without limits it never pauses.
    pub fn new(device: &str, limits: Option<GuardLimits>) -> Guard {
        let limits = limits.and_then(|l| Some((l.max_temp_c?, l.resume_temp_c?)));
        Guard {
            device: device.to_string(),
            limits,
            paused: AtomicBool::new(false),
            pauses: AtomicU64::new(0),
            paused_since: Mutex::new(None),
            paused_total: Mutex::new(Duration::ZERO),
        }
    }

    /// The device it guards.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Whether the device's workers may admit new work now.
    pub fn admitting(&self) -> bool {
        !self.paused.load(Ordering::Relaxed)
    }

    /// Takes a temperature reading; returns whether admission is paused after it. An
    /// unreadable temperature changes nothing.
    pub fn observe(&self, temperature_c: Option<f64>) -> bool {
        let (Some((max, resume)), Some(t)) = (self.limits, temperature_c) else {
            return self.paused.load(Ordering::Relaxed);
        };
        let paused = self.paused.load(Ordering::Relaxed);
        if !paused && t >= max {
            self.paused.store(true, Ordering::Relaxed);
            self.pauses.fetch_add(1, Ordering::Relaxed);
            *self.paused_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            tracing::warn!("{} at {t:.1} °C (limit {max}): admitting no new sequences until it is at {resume} °C", self.device);
            return true;
        }
        if paused && t <= resume {
            self.paused.store(false, Ordering::Relaxed);
            if let Some(since) = self.paused_since.lock().unwrap_or_else(|p| p.into_inner()).take() {
                *self.paused_total.lock().unwrap_or_else(|p| p.into_inner()) += since.elapsed();
            }
            tracing::warn!("{} cooled to {t:.1} °C: admitting again", self.device);
            return false;
        }
        paused
    }

    /// Times admission was paused.
    pub fn pauses(&self) -> u64 {
        self.pauses.load(Ordering::Relaxed)
    }

    /// Time spent paused, including a pause still going on.
    pub fn paused_time(&self) -> Duration {
        let ongoing = self.paused_since.lock().unwrap_or_else(|p| p.into_inner()).map_or(Duration::ZERO, |s| s.elapsed());
        *self.paused_total.lock().unwrap_or_else(|p| p.into_inner()) + ongoing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_temperature_pauses_admission_and_only_the_resume_temperature_ends_it() {
        let guard = Guard::new("cuda:0", Some(GuardLimits { max_temp_c: Some(85.0), resume_temp_c: Some(75.0) }));
        let ramp = [60.0, 70.0, 84.9, 85.0, 90.0, 80.0, 76.0, 75.0, 70.0, 86.0];
        let paused: Vec<bool> = ramp.iter().map(|&t| guard.observe(Some(t))).collect();
        assert_eq!(paused, [false, false, false, true, true, true, true, false, false, true]);
        assert_eq!(guard.pauses(), 2);
        assert!(!guard.admitting());
        assert!(guard.observe(None), "an unreadable temperature keeps the pause");
    }

    #[test]
    fn without_limits_the_guard_never_pauses() {
        let guard = Guard::new("cpu", None);
        assert!(!guard.observe(Some(120.0)) && guard.admitting() && guard.pauses() == 0);
    }
}
