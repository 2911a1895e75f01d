//! What a benchmark ran on, so a comparison can tell a slower build from another machine.

use serde::{Deserialize, Serialize};

/// The hardware and software a report was measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// hearth's version.
    pub hearth_version: String,
    /// The git commit it was built from (`unknown` outside a checkout).
    pub git_commit: String,
    /// Profile, target, compiler flags and the CPU features compiled in.
    pub build: String,
    /// The CPU model.
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Threads the engine ran with.
    pub threads: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// Each GPU: name, memory and driver, from NVML (empty without one).
    pub gpus: Vec<String>,
    /// The kernel.
    pub os: String,
    /// The peer engine that ran beside hearth and its version (`transformers 5.24.0,
    /// torch 2.15.0`): a ratio is as much the peer's as ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

impl Fingerprint {
    /// This machine and this build, now.
    pub fn here() -> Fingerprint {
        // A CUDA build names the architecture its kernels were compiled for.
        let cuda = match crate::engine::built_compute_capability() {
            Some((major, minor)) => format!("cuda sm_{major}{minor}"),
            None => "cuda".to_string(),
        };
        let features: Vec<&str> = [
            ("avx2", cfg!(target_feature = "avx2")),
            ("fma", cfg!(target_feature = "fma")),
            ("avx512f", cfg!(target_feature = "avx512f")),
            ("neon", cfg!(target_feature = "neon")),
            (cuda.as_str(), cfg!(feature = "cuda")),
            ("flash-attn", cfg!(feature = "flash-attn")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        let flags = env!("HEARTH_RUSTFLAGS");
        let build = format!(
            "{} {}{}; features: {}",
            env!("HEARTH_PROFILE"),
            env!("HEARTH_TARGET"),
            if flags.is_empty() { String::new() } else { format!(", RUSTFLAGS={flags}") },
            if features.is_empty() { "baseline".to_string() } else { features.join(" ") }
        );
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| std::env::consts::ARCH.to_string(), |(_, v)| v.trim().to_string());
        let memory_kib = super::proc_kib("/proc/meminfo", "MemTotal:").unwrap_or(0.0);
        let os = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| std::env::consts::OS.to_string(), |r| format!("Linux {}", r.trim()));
        Fingerprint {
            hearth_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: env!("HEARTH_GIT_COMMIT").to_string(),
            build,
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: rayon::current_num_threads(),
            memory_gib: (memory_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            gpus: gpus(),
            os,
            peer: None,
        }
    }

    /// How `other`'s machine differs from this one's, if it does: the hardware, the
    /// build and the peer (a new commit is what a comparison is for).
    pub fn machine_differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let mut differ = |what: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{what}: {a} vs {b}"));
            }
        };
        differ("cpu", self.cpu.clone(), other.cpu.clone());
        differ("cores", self.cores.to_string(), other.cores.to_string());
        differ("threads", self.threads.to_string(), other.threads.to_string());
        differ("gpus", self.gpus.join(", "), other.gpus.join(", "));
        differ("build", self.build.clone(), other.build.clone());
        if let (Some(a), Some(b)) = (&self.peer, &other.peer) {
            differ("peer", a.clone(), b.clone());
        }
        out
    }
}

/// The GPUs NVML sees, if it loads.
fn gpus() -> Vec<String> {
    let Ok(nvml) = nvml_wrapper::Nvml::init() else { return Vec::new() };
    let driver = nvml.sys_driver_version().unwrap_or_default();
    let count = nvml.device_count().unwrap_or(0);
    (0..count)
        .filter_map(|i| nvml.device_by_index(i).ok())
        .map(|d| {
            let memory = d.memory_info().map(|m| m.total as f64 / (1u64 << 30) as f64).unwrap_or(0.0);
            format!("{} ({memory:.0} GiB, driver {driver})", d.name().unwrap_or_default())
        })
        .collect()
}
