//! Telemetry: what the hardware did while hearth ran. A sampler thread reads every
//! device's sensor each interval into rows (`OUT/telemetry.parquet`), feeds the thermal
//! guard that stops a hot device's worker from admitting new sequences, and at the end
//! the rows become the run's statistics: temperature range and drift, throttling,
//! throughput stability, joules per token.

pub mod guard;
pub mod report;
pub mod sensors;
pub mod stats;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_array::builder::{BooleanBuilder, Float64Builder, StringBuilder, TimestampMillisecondBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::engine::{DeviceName, Placement};
use crate::sink::AtomicParquetWriter;
use crate::Result;

pub use guard::{Guard, GuardLimits};
pub use sensors::{Reading, Sensor};
pub use stats::TelemetryStats;

/// File name of the samples.
pub const TELEMETRY_FILE: &str = "telemetry.parquet";

/// `[telemetry]` in a pipeline.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Seconds between samples.
    pub interval_s: f64,
    /// A device at or above this stops admitting new sequences (°C). `None`: no guard.
    pub max_temp_c: Option<f64>,
    /// ... until it is back at or below this (°C); default 10 below `max_temp_c`.
    pub resume_temp_c: Option<f64>,
    /// Per-device limits over the two above, e.g. `{ "cuda:1" = { max_temp_c = 80 } }`.
    pub devices: std::collections::BTreeMap<String, GuardLimits>,
    /// Samples of the first this-many seconds are left out of drift and stability (the
    /// device warming up); at most half the run.
    pub warmup_s: f64,
    /// Seconds per throughput window for the tokens/s series and its variation.
    pub window_s: f64,
    /// Electricity price per kWh, for the cost per million tokens.
    pub price_per_kwh: f64,
    /// Read every device's readings from this JSON-lines file instead of its sensors
    /// (one reading a line, one line a sample): for tests of the guard and the gates.
    pub test_sensor: Option<std::path::PathBuf>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            interval_s: 1.0,
            max_temp_c: None,
            resume_temp_c: None,
            devices: Default::default(),
            warmup_s: 60.0,
            window_s: 10.0,
            price_per_kwh: 0.30,
            test_sensor: None,
        }
    }
}

impl TelemetryConfig {
    /// The guard limits of `device`: its own, else the pipeline-wide ones.
    pub fn limits(&self, device: &str) -> Option<GuardLimits> {
        let own = self.devices.get(device);
        let max = own.and_then(|l| l.max_temp_c).or(self.max_temp_c)?;
        let resume = own.and_then(|l| l.resume_temp_c).or(self.resume_temp_c).unwrap_or(max - 10.0);
        Some(GuardLimits { max_temp_c: Some(max), resume_temp_c: Some(resume) })
    }
}

/// One sample of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Seconds since sampling started.
    pub elapsed_s: f64,
    /// The device.
    pub device: String,
    /// What its sensor said.
    pub reading: Reading,
    /// Tokens the run had done by then (all devices).
    pub tokens: u64,
    /// Whether the guard held the device's admissions.
    pub paused: bool,
}

/// The run's telemetry while it runs: one guard per device, the token count the
/// workers add to, and the samples.
pub struct Telemetry {
    config: TelemetryConfig,
    /// The distinct devices, in first-named order; one guard and one sensor each.
    devices: Vec<DeviceName>,
    guards: Vec<Arc<Guard>>,
    /// Each device's latest power in watts (f64 bits; NaN when not measured), and how
    /// many workers share it.
    power_w: Vec<AtomicU64>,
    workers: Vec<usize>,
    tokens: AtomicU64,
    samples: Mutex<Vec<Sample>>,
    sources: Mutex<Vec<String>>,
    stop: AtomicBool,
    started: Instant,
}

impl Telemetry {
    /// Telemetry over the distinct devices of `workers`.
    pub fn new(workers: &[Placement], config: TelemetryConfig) -> Telemetry {
        let distinct = first_seen(workers.iter().flat_map(|w| w.devices().iter().copied()));
        let guards = distinct.iter().map(|d| d.to_string()).map(|d| Arc::new(Guard::new(&d, config.limits(&d)))).collect();
        let power_w = distinct.iter().map(|_| AtomicU64::new(f64::NAN.to_bits())).collect();
        let sharing = distinct.iter().map(|d| workers.iter().filter(|w| w.devices().contains(d)).count()).collect();
        Telemetry {
            config,
            devices: distinct,
            guards,
            power_w,
            workers: sharing,
            tokens: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
            sources: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    /// The distinct devices, one sensor each.
    pub fn devices(&self) -> &[DeviceName] {
        &self.devices
    }

    /// Where each of `worker`'s distinct devices is in [`Telemetry::devices`].
    fn positions(&self, worker: &Placement) -> Vec<usize> {
        let distinct = first_seen(worker.devices().iter());
        distinct.into_iter().map(|d| self.devices.iter().position(|known| known == d).expect("a device of this run")).collect()
    }

    /// The guards of `worker`'s devices, which it checks before admitting work: a split
    /// model pauses while any of its cards is too hot.
    pub fn guards(&self, worker: &Placement) -> Vec<Arc<Guard>> {
        self.positions(worker).into_iter().map(|at| self.guards[at].clone()).collect()
    }

    /// The energy `worker` drew over `busy`: each of its devices' latest power, shared
    /// evenly among the workers on that device, times the time (a split model's cards
    /// all draw while it works, the idle ones too). `None` while a power is not
    /// measured (no sensor reading, or before a counter-based sensor's second sample).
    pub fn joules(&self, worker: &Placement, busy: Duration) -> Option<f64> {
        self.positions(worker)
            .into_iter()
            .map(|at| {
                let watts = f64::from_bits(self.power_w[at].load(Ordering::Relaxed));
                (!watts.is_nan()).then(|| watts / self.workers[at] as f64 * busy.as_secs_f64())
            })
            .sum()
    }

    /// Counts tokens done, for tokens/s over time and joules per token.
    pub fn add_tokens(&self, tokens: u64) {
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    /// Samples every device each interval until [`Telemetry::stop`]; run it on its own
    /// thread. The first sample is taken at once.
    pub fn sample(&self, mut sensors: Vec<Box<dyn Sensor>>) {
        *self.sources.lock().unwrap_or_else(|p| p.into_inner()) = sensors.iter().map(|s| format!("{}: {}", s.device(), s.source())).collect();
        let interval = Duration::from_secs_f64(self.config.interval_s.max(0.01));
        let mut next = Instant::now();
        loop {
            let elapsed_s = self.started.elapsed().as_secs_f64();
            let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let tokens = self.tokens.load(Ordering::Relaxed);
            let mut taken = Vec::with_capacity(sensors.len());
            for sensor in &mut sensors {
                let device = sensor.device();
                let reading = sensor.read();
                let paused = match self.devices.iter().position(|d| d.to_string() == device) {
                    Some(at) => {
                        self.power_w[at].store(reading.power_w.unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
                        self.guards[at].observe(reading.temperature_c)
                    }
                    None => false,
                };
                taken.push(Sample { timestamp_ms, elapsed_s, device, reading, tokens, paused });
            }
            self.samples.lock().unwrap_or_else(|p| p.into_inner()).extend(taken);
            next += interval;
            // Sleep in short slices so a stop is seen quickly.
            while Instant::now() < next {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep((next - Instant::now()).min(Duration::from_millis(50)));
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    /// Ends [`Telemetry::sample`].
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Runs `body` while a thread samples every device's sensor (the configured test
    /// sensor, else the real ones).
    pub fn while_sampling<R>(&self, body: impl FnOnce() -> R) -> Result<R> {
        let sensors = sensors::open(&self.devices, self.config.test_sensor.as_deref())?;
        Ok(std::thread::scope(|scope| {
            scope.spawn(|| self.sample(sensors));
            let result = body();
            self.stop();
            result
        }))
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The statistics of the samples so far.
    pub fn stats(&self) -> TelemetryStats {
        let guards: Vec<(String, u64, f64)> =
            self.guards.iter().map(|g| (g.device().to_string(), g.pauses(), g.paused_time().as_secs_f64())).collect();
        let sources = self.sources.lock().unwrap_or_else(|p| p.into_inner()).clone();
        stats::compute(&self.samples(), &self.config, &guards, sources)
    }

    /// Writes the samples to `path` (`OUT/telemetry.parquet`), atomically.
    pub fn write(&self, path: &Path, metadata: &[(String, String)]) -> Result<()> {
        write_samples(path, &self.samples(), metadata)
    }
}

/// The distinct items of `items`, in the order first seen.
pub(crate) fn first_seen<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut distinct = Vec::new();
    for item in items {
        if !distinct.contains(&item) {
            distinct.push(item);
        }
    }
    distinct
}

/// The schema of `telemetry.parquet`: one row per sample per device.
pub fn schema() -> SchemaRef {
    let f64_field = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("elapsed_s", DataType::Float64, false),
        Field::new("device", DataType::Utf8, false),
        f64_field("temperature_c"),
        f64_field("power_w"),
        f64_field("energy_j"),
        f64_field("utilization"),
        f64_field("sm_clock_mhz"),
        f64_field("memory_clock_mhz"),
        Field::new("throttled", DataType::Boolean, true),
        Field::new("throttle_reasons", DataType::Utf8, true),
        Field::new("memory_used_bytes", DataType::UInt64, true),
        Field::new("tokens", DataType::UInt64, false),
        Field::new("paused", DataType::Boolean, false),
    ]))
}

fn write_samples(path: &Path, samples: &[Sample], metadata: &[(String, String)]) -> Result<()> {
    let mut timestamp = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut elapsed = Float64Builder::new();
    let mut device = StringBuilder::new();
    let mut floats: Vec<Float64Builder> = (0..6).map(|_| Float64Builder::new()).collect();
    let mut throttled = BooleanBuilder::new();
    let mut reasons = StringBuilder::new();
    let mut memory = UInt64Builder::new();
    let mut tokens = UInt64Builder::new();
    let mut paused = BooleanBuilder::new();
    for s in samples {
        let r = &s.reading;
        timestamp.append_value(s.timestamp_ms);
        elapsed.append_value(s.elapsed_s);
        device.append_value(&s.device);
        for (b, v) in floats.iter_mut().zip([r.temperature_c, r.power_w, r.energy_j, r.utilization, r.sm_clock_mhz, r.memory_clock_mhz]) {
            b.append_option(v);
        }
        throttled.append_option(r.throttled);
        reasons.append_option(r.throttle_reasons.as_deref());
        memory.append_option(r.memory_used_bytes);
        tokens.append_value(s.tokens);
        paused.append_value(s.paused);
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(timestamp.finish()), Arc::new(elapsed.finish()), Arc::new(device.finish())];
    columns.extend(floats.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(throttled.finish()));
    columns.push(Arc::new(reasons.finish()));
    columns.push(Arc::new(memory.finish()));
    columns.push(Arc::new(tokens.finish()));
    columns.push(Arc::new(paused.finish()));
    let batch = RecordBatch::try_new(schema(), columns)?;
    let mut writer = AtomicParquetWriter::create(path, schema())?;
    writer.write(&batch)?;
    writer.finish(metadata)?;
    Ok(())
}

/// Reads `telemetry.parquet` back into samples (for `hearth report`).
pub fn read_samples(path: &Path) -> Result<Vec<Sample>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, TimestampMillisecondType, UInt64Type};
    use arrow_array::Array;
    let reader = crate::sink::open_parquet(path)?.build().map_err(|e| crate::Error::parquet(path, e))?;
    let mut samples = Vec::new();
    for batch in reader {
        let batch = batch?;
        let col = |name: &str| batch.column_by_name(name).ok_or_else(|| crate::Error::dataset(path, format!("no `{name}` column: not a hearth telemetry file")));
        let f = |name: &str| -> Result<_> { Ok(col(name)?.as_primitive::<Float64Type>().clone()) };
        let (ts, elapsed, device) = (col("timestamp")?.as_primitive::<TimestampMillisecondType>().clone(), f("elapsed_s")?, col("device")?.as_string::<i32>().clone());
        let floats = [f("temperature_c")?, f("power_w")?, f("energy_j")?, f("utilization")?, f("sm_clock_mhz")?, f("memory_clock_mhz")?];
        let (throttled, reasons) = (col("throttled")?.as_boolean().clone(), col("throttle_reasons")?.as_string::<i32>().clone());
        let (memory, tokens, paused) = (col("memory_used_bytes")?.as_primitive::<UInt64Type>().clone(), col("tokens")?.as_primitive::<UInt64Type>().clone(), col("paused")?.as_boolean().clone());
        for i in 0..batch.num_rows() {
            let opt = |a: &arrow_array::Float64Array| a.is_valid(i).then(|| a.value(i));
            samples.push(Sample {
                timestamp_ms: ts.value(i),
                elapsed_s: elapsed.value(i),
                device: device.value(i).to_string(),
                reading: Reading {
                    temperature_c: opt(&floats[0]),
                    power_w: opt(&floats[1]),
                    energy_j: opt(&floats[2]),
                    utilization: opt(&floats[3]),
                    sm_clock_mhz: opt(&floats[4]),
                    memory_clock_mhz: opt(&floats[5]),
                    throttled: throttled.is_valid(i).then(|| throttled.value(i)),
                    throttle_reasons: reasons.is_valid(i).then(|| reasons.value(i).to_string()),
                    memory_used_bytes: memory.is_valid(i).then(|| memory.value(i)),
                },
                tokens: tokens.value(i),
                paused: paused.value(i),
            });
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip_through_parquet_with_missing_readings_kept_missing() {
        let dir = tempfile::tempdir().unwrap();
        let samples = vec![
            Sample { timestamp_ms: 1_700_000_000_000, elapsed_s: 0.0, device: "cpu".into(), reading: Reading::default(), tokens: 0, paused: false },
            Sample {
                timestamp_ms: 1_700_000_001_000,
                elapsed_s: 1.0,
                device: "cuda:0".into(),
                reading: Reading { temperature_c: Some(71.5), throttled: Some(true), throttle_reasons: Some("HW_SLOWDOWN".into()), memory_used_bytes: Some(7), ..Reading::default() },
                tokens: 120,
                paused: true,
            },
        ];
        let path = dir.path().join(TELEMETRY_FILE);
        write_samples(&path, &samples, &[]).unwrap();
        assert_eq!(read_samples(&path).unwrap(), samples);
    }

    #[test]
    fn the_sampler_takes_a_sample_per_interval_and_feeds_the_guard() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("temps.jsonl");
        std::fs::write(&file, "{\"temperature_c\": 50}\n{\"temperature_c\": 90}\n{\"temperature_c\": 90}\n{\"temperature_c\": 60}\n").unwrap();
        let config = TelemetryConfig { interval_s: 0.02, max_temp_c: Some(85.0), test_sensor: Some(file.clone()), ..TelemetryConfig::default() };
        let telemetry = Telemetry::new(&[Placement::single(DeviceName::Cpu), Placement::single(DeviceName::Cpu)], config);
        let sensors = sensors::open(&[DeviceName::Cpu], Some(&file)).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| telemetry.sample(sensors));
            while telemetry.samples().len() < 6 {
                std::thread::sleep(Duration::from_millis(5));
            }
            telemetry.stop();
        });
        let paused: Vec<bool> = telemetry.samples().iter().map(|s| s.paused).take(5).collect();
        assert_eq!(paused, [false, true, true, false, false]);
        let guards = telemetry.guards(&Placement::single(DeviceName::Cpu));
        assert_eq!(guards.iter().map(|g| g.pauses()).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn a_workers_energy_is_its_share_of_its_devices_latest_power() {
        let dir = tempfile::tempdir().unwrap();
        let measured = |line: &str| {
            let file = dir.path().join("power.jsonl");
            std::fs::write(&file, line).unwrap();
            // A long interval: the first sample is taken at once, the next never.
            let config = TelemetryConfig { interval_s: 60.0, test_sensor: Some(file.clone()), ..TelemetryConfig::default() };
            let cpu = Placement::single(DeviceName::Cpu);
            let telemetry = Telemetry::new(&[cpu.clone(), cpu.clone()], config);
            assert_eq!(telemetry.joules(&cpu, Duration::from_secs(1)), None, "nothing is known before a sample");
            std::thread::scope(|s| {
                s.spawn(|| telemetry.sample(sensors::open(&[DeviceName::Cpu], Some(&file)).unwrap()));
                while telemetry.samples().is_empty() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                telemetry.stop();
            });
            let split: Placement = "cpu+cpu".parse().unwrap();
            assert_eq!(telemetry.joules(&split, Duration::from_millis(500)), telemetry.joules(&cpu, Duration::from_millis(500)), "the host's power counts once");
            telemetry.joules(&cpu, Duration::from_millis(500))
        };
        // Two workers share the CPU's 200 W: half a second of one worker is 50 J.
        assert_eq!(measured("{\"power_w\": 200}\n"), Some(50.0));
        assert_eq!(measured("{\"temperature_c\": 50}\n"), None, "no power reading, no energy");
    }
}
