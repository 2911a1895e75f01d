//! Where readings come from: NVML for CUDA GPUs, sysfs and RAPL for the host's CPUs, and
//! a file of readings for tests. A reading the device cannot give is `None`, never a
//! made-up number.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::DeviceName;
use crate::{Error, Result};

/// One reading of one device; `None` where the device cannot tell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reading {
    /// Degrees Celsius (a GPU's core; a CPU's package, else its hottest zone).
    pub temperature_c: Option<f64>,
    /// Watts drawn now.
    pub power_w: Option<f64>,
    /// Joules since the sensor started (the card's or RAPL's counter, else power
    /// integrated over the samples).
    pub energy_j: Option<f64>,
    /// Share of time busy, 0 to 1.
    pub utilization: Option<f64>,
    /// Core (SM) clock, MHz.
    pub sm_clock_mhz: Option<f64>,
    /// Memory clock, MHz.
    pub memory_clock_mhz: Option<f64>,
    /// Whether the device is slowed for heat or power now.
    pub throttled: Option<bool>,
    /// The reasons it gives, comma-separated.
    pub throttle_reasons: Option<String>,
    /// Device memory in use, bytes.
    pub memory_used_bytes: Option<u64>,
}

/// A source of readings for one device.
pub trait Sensor: Send {
    /// The device it reads, e.g. `cpu` or `cuda:0`.
    fn device(&self) -> String;
    /// Reads every value it can now.
    fn read(&mut self) -> Reading;
    /// What it reads from, for the report (`nvml`, `sysfs: …`, `file: …`).
    fn source(&self) -> String;
}

/// The sensor of each device: readings from `test_file` when given (tests), else NVML
/// for GPUs and sysfs for the CPU.
pub fn open(devices: &[DeviceName], test_file: Option<&Path>) -> Result<Vec<Box<dyn Sensor>>> {
    devices
        .iter()
        .map(|&device| -> Result<Box<dyn Sensor>> {
            if let Some(file) = test_file {
                return Ok(Box::new(FileSensor::open(device, file)?));
            }
            Ok(match device {
                DeviceName::Cpu => Box::new(HostSensor::new()),
                DeviceName::Cuda(ordinal) => nvml::sensor(ordinal),
            })
        })
        .collect()
}

/// Readings from a JSON-lines file, one [`Reading`] a line, one line per sample; the
/// last line repeats once the file is used up. So a test can plant a temperature ramp.
pub struct FileSensor {
    device: DeviceName,
    path: PathBuf,
    readings: Vec<Reading>,
    next: usize,
}

impl FileSensor {
    /// Reads every line of `path` now, so a bad line is an error before the run starts.
    pub fn open(device: DeviceName, path: &Path) -> Result<FileSensor> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut readings = Vec::new();
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| Error::io(path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let reading = serde_json::from_str(&line).map_err(|e| Error::dataset(path, format!("line {}: {e}", n + 1)))?;
            readings.push(reading);
        }
        if readings.is_empty() {
            return Err(Error::dataset(path, "a sensor file needs at least one reading"));
        }
        Ok(FileSensor { device, path: path.to_path_buf(), readings, next: 0 })
    }
}

impl Sensor for FileSensor {
    fn device(&self) -> String {
        self.device.to_string()
    }
    fn read(&mut self) -> Reading {
        let reading = self.readings[self.next.min(self.readings.len() - 1)].clone();
        self.next += 1;
        reading
    }
    fn source(&self) -> String {
        format!("file: {}", self.path.display())
    }
}

/// The host's CPUs through sysfs and procfs: package temperature (hwmon coretemp /
/// k10temp / zenpower, else a thermal zone), RAPL package energy, utilisation from
/// /proc/stat, clock from cpufreq, throttling from the package throttle counters.
/// Containers and VMs often expose none of the sensors; then those readings are `None`.
pub struct HostSensor {
    temperature: Option<PathBuf>,
    rapl: Vec<RaplDomain>,
    /// Joules counted since the sensor started, and when last read.
    energy: Option<(Instant, f64)>,
    stat: PathBuf,
    last_cpu: Option<(u64, u64)>,
    cpufreq: Vec<PathBuf>,
    throttle_counts: Vec<PathBuf>,
    last_throttles: Option<u64>,
}

struct RaplDomain {
    energy: PathBuf,
    range_uj: u64,
    last_uj: Option<u64>,
}

impl Default for HostSensor {
    fn default() -> Self {
        Self::new()
    }
}

impl HostSensor {
    /// Finds what this host exposes, once.
    pub fn new() -> HostSensor {
        HostSensor::at(Path::new("/"))
    }

    /// As [`HostSensor::new`], with sysfs and procfs under `root` (for tests).
    pub fn at(root: &Path) -> HostSensor {
        let rapl = subdirs(&root.join("sys/class/powercap"))
            .into_iter()
            .filter(|d| read_trimmed(&d.join("name")).is_some_and(|n| n.starts_with("package")))
            .filter_map(|d| {
                let range_uj = read_trimmed(&d.join("max_energy_range_uj"))?.parse().ok()?;
                Some(RaplDomain { energy: d.join("energy_uj"), range_uj, last_uj: None })
            })
            .collect();
        let cpus = subdirs(&root.join("sys/devices/system/cpu"));
        let files = |rel: &str| -> Vec<PathBuf> { cpus.iter().map(|d| d.join(rel)).filter(|p| p.is_file()).collect() };
        HostSensor {
            temperature: cpu_temperature_file(root),
            rapl,
            energy: None,
            stat: root.join("proc/stat"),
            last_cpu: None,
            cpufreq: files("cpufreq/scaling_cur_freq"),
            throttle_counts: files("thermal_throttle/package_throttle_count"),
            last_throttles: None,
        }
    }

    /// Joules since the first read, summed over the packages; `None` without RAPL.
    fn energy(&mut self) -> Option<f64> {
        if self.rapl.is_empty() {
            return None;
        }
        let mut joules = 0.0;
        for domain in &mut self.rapl {
            let now: u64 = read_trimmed(&domain.energy)?.parse().ok()?;
            if let Some(last) = domain.last_uj {
                // The counter wraps at its range.
                let delta = if now >= last { now - last } else { now + domain.range_uj - last };
                joules += delta as f64 / 1e6;
            }
            domain.last_uj = Some(now);
        }
        let total = self.energy.map_or(0.0, |(_, e)| e) + joules;
        self.energy = Some((Instant::now(), total));
        Some(total)
    }

    /// Busy share of all CPUs since the last read.
    fn utilization(&mut self) -> Option<f64> {
        let text = std::fs::read_to_string(&self.stat).ok()?;
        let fields: Vec<u64> = text.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal: idle time is idle + iowait.
        let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
        let total: u64 = fields.iter().take(8).sum();
        let share = self.last_cpu.and_then(|(last_idle, last_total)| {
            let dt = total.checked_sub(last_total).filter(|&d| d > 0)?;
            Some(1.0 - (idle.saturating_sub(last_idle)) as f64 / dt as f64)
        });
        self.last_cpu = Some((idle, total));
        share
    }
}

impl Sensor for HostSensor {
    fn device(&self) -> String {
        DeviceName::Cpu.to_string()
    }

    fn read(&mut self) -> Reading {
        let temperature_c = self.temperature.as_ref().and_then(|p| read_trimmed(p)?.parse::<f64>().ok()).map(|m| m / 1000.0);
        let before = self.energy;
        let energy_j = self.energy();
        let power_w = match (before, self.energy) {
            (Some((t0, e0)), Some((t1, e1))) if t1 > t0 => Some((e1 - e0) / (t1 - t0).as_secs_f64()),
            _ => None,
        };
        let khz: Vec<f64> = self.cpufreq.iter().filter_map(|p| read_trimmed(p)?.parse().ok()).collect();
        let sm_clock_mhz = (!khz.is_empty()).then(|| khz.iter().sum::<f64>() / khz.len() as f64 / 1000.0);
        let throttled = if self.throttle_counts.is_empty() {
            None
        } else {
            let count: u64 = self.throttle_counts.iter().filter_map(|p| read_trimmed(p)?.parse::<u64>().ok()).sum();
            let throttled = self.last_throttles.map(|last| count > last);
            self.last_throttles = Some(count);
            throttled
        };
        Reading {
            temperature_c,
            power_w,
            energy_j,
            utilization: self.utilization(),
            sm_clock_mhz,
            throttle_reasons: throttled.filter(|&t| t).map(|_| "package_throttle_count rose".to_string()),
            throttled,
            ..Reading::default()
        }
    }

    fn source(&self) -> String {
        let mut parts = vec![format!("temperature: {}", self.temperature.as_ref().map_or("none".into(), |p| p.display().to_string()))];
        parts.push(format!("RAPL packages: {}", self.rapl.len()));
        parts.push(format!("throttle counters: {}", self.throttle_counts.len()));
        format!("sysfs ({})", parts.join(", "))
    }
}

/// The CPU package's temperature file: a CPU hwmon's first input, else the thermal zone
/// of the package (or the SoC).
fn cpu_temperature_file(root: &Path) -> Option<PathBuf> {
    for hwmon in subdirs(&root.join("sys/class/hwmon")) {
        let name = read_trimmed(&hwmon.join("name")).unwrap_or_default();
        if ["coretemp", "k10temp", "zenpower", "cpu_thermal"].contains(&name.as_str()) && hwmon.join("temp1_input").is_file() {
            return Some(hwmon.join("temp1_input"));
        }
    }
    subdirs(&root.join("sys/class/thermal"))
        .into_iter()
        .filter(|z| {
            let kind = read_trimmed(&z.join("type")).unwrap_or_default();
            ["x86_pkg_temp", "cpu-thermal", "cpu_thermal", "soc_thermal"].contains(&kind.as_str())
        })
        .map(|z| z.join("temp"))
        .find(|t| t.is_file())
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// NVML, loaded at run time: a build without a GPU, or a machine without the driver,
/// has a sensor that reads nothing (and says why).
mod nvml {
    use std::sync::OnceLock;

    use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
    use nvml_wrapper::bitmasks::device::ThrottleReasons;
    use nvml_wrapper::Nvml;

    use super::{Reading, Sensor};

    fn library() -> Result<&'static Nvml, String> {
        static NVML: OnceLock<Result<Nvml, String>> = OnceLock::new();
        NVML.get_or_init(|| Nvml::init().map_err(|e| e.to_string())).as_ref().map_err(Clone::clone)
    }

    pub(super) fn sensor(ordinal: usize) -> Box<dyn Sensor> {
        Box::new(GpuSensor { ordinal, energy: None, why_not: library().err() })
    }

    struct GpuSensor {
        ordinal: usize,
        /// The card's first energy reading, and the integrated energy when it has no counter.
        energy: Option<(std::time::Instant, f64, Option<f64>)>,
        why_not: Option<String>,
    }

    /// Reasons that mean the card is held back, not merely idle or set so.
    fn slowdowns() -> ThrottleReasons {
        ThrottleReasons::SW_POWER_CAP
            | ThrottleReasons::HW_SLOWDOWN
            | ThrottleReasons::SW_THERMAL_SLOWDOWN
            | ThrottleReasons::HW_THERMAL_SLOWDOWN
            | ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN
    }

    impl Sensor for GpuSensor {
        fn device(&self) -> String {
            format!("cuda:{}", self.ordinal)
        }

        fn read(&mut self) -> Reading {
            let Ok(nvml) = library() else { return Reading::default() };
            let Ok(device) = nvml.device_by_index(self.ordinal as u32) else { return Reading::default() };
            let power_w = device.power_usage().ok().map(|mw| mw as f64 / 1000.0);
            let now = std::time::Instant::now();
            let counter = device.total_energy_consumption().ok().map(|mj| mj as f64 / 1000.0);
            let energy_j = match (&mut self.energy, counter) {
                (None, _) => {
                    self.energy = Some((now, counter.unwrap_or(0.0), counter.is_none().then_some(0.0)));
                    Some(0.0).filter(|_| counter.is_some() || power_w.is_some())
                }
                (Some((_, first, None)), Some(c)) => Some(c - *first),
                (Some((last, _, Some(integrated))), _) => power_w.map(|p| {
                    *integrated += p * now.duration_since(*last).as_secs_f64();
                    *last = now;
                    *integrated
                }),
                (Some(_), None) => None,
            };
            let reasons = device.current_throttle_reasons().ok();
            Reading {
                temperature_c: device.temperature(TemperatureSensor::Gpu).ok().map(f64::from),
                power_w,
                energy_j,
                utilization: device.utilization_rates().ok().map(|u| u.gpu as f64 / 100.0),
                sm_clock_mhz: device.clock_info(Clock::SM).ok().map(f64::from),
                memory_clock_mhz: device.clock_info(Clock::Memory).ok().map(f64::from),
                throttled: reasons.map(|r| r.intersects(slowdowns())),
                throttle_reasons: reasons.filter(|r| r.intersects(slowdowns())).map(|r| format!("{:?}", r & slowdowns())),
                memory_used_bytes: device.memory_info().ok().map(|m| m.used),
            }
        }

        fn source(&self) -> String {
            match &self.why_not {
                None => "nvml".into(),
                Some(why) => format!("nvml unavailable: {why}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_host_sensor_reads_hwmon_rapl_stat_and_throttle_counters() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("sys/class/hwmon/hwmon0/name"), "acpitz\n");
        write(&r.join("sys/class/hwmon/hwmon1/name"), "coretemp\n");
        write(&r.join("sys/class/hwmon/hwmon1/temp1_input"), "61000\n");
        write(&r.join("sys/class/powercap/intel-rapl:0/name"), "package-0\n");
        write(&r.join("sys/class/powercap/intel-rapl:0/max_energy_range_uj"), "1000000000\n");
        write(&r.join("sys/class/powercap/intel-rapl:0/energy_uj"), "999000000\n");
        write(&r.join("sys/devices/system/cpu/cpu0/thermal_throttle/package_throttle_count"), "5\n");
        write(&r.join("proc/stat"), "cpu  100 0 100 800 0 0 0 0 0 0\n");
        let mut sensor = HostSensor::at(r);
        let first = sensor.read();
        assert_eq!(first.temperature_c, Some(61.0));
        assert_eq!((first.energy_j, first.utilization, first.throttled), (Some(0.0), None, None), "deltas need two reads");

        // 3 J later, across the counter's wrap; 300 of 400 jiffies busy; one throttle event.
        write(&r.join("sys/class/powercap/intel-rapl:0/energy_uj"), "2000000\n");
        write(&r.join("proc/stat"), "cpu  400 0 100 900 0 0 0 0 0 0\n");
        write(&r.join("sys/devices/system/cpu/cpu0/thermal_throttle/package_throttle_count"), "6\n");
        let second = sensor.read();
        assert!((second.energy_j.unwrap() - 3.0).abs() < 1e-9, "{second:?}");
        assert!((second.utilization.unwrap() - 0.75).abs() < 1e-9, "{second:?}");
        assert_eq!(second.throttled, Some(true));
        assert!(second.power_w.unwrap() > 0.0);
        assert_eq!(sensor.read().throttled, Some(false));
    }

    #[test]
    fn a_host_without_sensors_reads_none_rather_than_zero() {
        let root = tempfile::tempdir().unwrap();
        let reading = HostSensor::at(root.path()).read();
        assert_eq!(reading, Reading::default());
    }

    #[test]
    fn a_file_sensor_plays_its_readings_and_repeats_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("temps.jsonl");
        std::fs::write(&file, "{\"temperature_c\": 40}\n{\"temperature_c\": 50, \"throttled\": true}\n").unwrap();
        let mut sensor = FileSensor::open(DeviceName::Cpu, &file).unwrap();
        let temps: Vec<Option<f64>> = (0..4).map(|_| sensor.read().temperature_c).collect();
        assert_eq!(temps, [Some(40.0), Some(50.0), Some(50.0), Some(50.0)]);
        std::fs::write(&file, "{\"temprature_c\": 40}\n").unwrap();
        let err = FileSensor::open(DeviceName::Cpu, &file).err().unwrap().to_string();
        assert!(err.contains("temps.jsonl") && err.contains("line 1"), "{err}");
    }
}
