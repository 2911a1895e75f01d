//! Workers: one per device, each with its own engine over the model, all fed from one
//! shared queue ([`pool`]). A fast device takes more work; a failed worker's work goes
//! to the others.
//!
//! Several CPU workers can run side by side, the machine's threads split between them,
//! so the machinery is exercised without GPUs; they share one copy of the weights.

pub mod pool;

use crate::engine::DeviceName;
use crate::{Error, Result};

pub use pool::{Backend, Event, Fault, WorkerSpec, WorkerStats};

/// The workers `--devices` asks for, one per entry: `auto` (every CUDA GPU, else the
/// CPU), or a list such as `cuda:0,cuda:1` or `cpu,cpu` (two CPU workers).
pub fn parse_devices(spec: &str) -> Result<Vec<DeviceName>> {
    if spec.trim() == "auto" {
        let gpus = cuda_devices();
        return Ok(if gpus.is_empty() { vec![DeviceName::Cpu] } else { gpus });
    }
    let devices = spec.split(',').map(|d| d.trim().parse()).collect::<Result<Vec<DeviceName>>>()?;
    let mut cuda: Vec<usize> = devices.iter().filter_map(|d| if let DeviceName::Cuda(n) = d { Some(*n) } else { None }).collect();
    cuda.sort_unstable();
    if cuda.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Config(format!("devices `{spec}`: a GPU is named twice; one worker per GPU")));
    }
    Ok(devices)
}

/// The CUDA GPUs that open, in order. Probed once: opening a device makes a CUDA
/// context, and every run (each pass of a soak) resolves `auto`.
fn cuda_devices() -> Vec<DeviceName> {
    static PROBED: std::sync::OnceLock<Vec<DeviceName>> = std::sync::OnceLock::new();
    PROBED
        .get_or_init(|| {
            if !candle_core::utils::cuda_is_available() {
                return Vec::new();
            }
            (0..).map(DeviceName::Cuda).take_while(|d| d.open().is_ok()).collect()
        })
        .clone()
}

/// Threads of each worker's own pool: the CPU workers split `total` threads between
/// them (at least one each); a single CPU worker, and GPU workers, use the global pool.
pub fn thread_split(devices: &[DeviceName], total: usize) -> Vec<Option<usize>> {
    let cpus = devices.iter().filter(|d| **d == DeviceName::Cpu).count();
    let mut k = 0;
    devices
        .iter()
        .map(|d| {
            if *d != DeviceName::Cpu || cpus < 2 {
                return None;
            }
            // Spread the remainder over the first workers.
            let share = (total / cpus + usize::from(k < total % cpus)).max(1);
            k += 1;
            Some(share)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_parse_and_a_gpu_is_not_named_twice() {
        assert_eq!(parse_devices("cpu").unwrap(), vec![DeviceName::Cpu]);
        assert_eq!(parse_devices("cpu, cpu").unwrap(), vec![DeviceName::Cpu; 2]);
        assert_eq!(parse_devices("cuda:0,cuda:1").unwrap(), vec![DeviceName::Cuda(0), DeviceName::Cuda(1)]);
        assert_eq!(parse_devices("cuda").unwrap(), vec![DeviceName::Cuda(0)]);
        assert!(parse_devices("cuda:0,cuda").is_err());
        assert!(parse_devices("tpu").unwrap_err().to_string().contains("tpu"));
        if !candle_core::utils::cuda_is_available() {
            assert_eq!(parse_devices("auto").unwrap(), vec![DeviceName::Cpu]);
        }
        assert_eq!(DeviceName::Cuda(3).to_string(), "cuda:3");
    }

    #[test]
    fn cpu_workers_split_the_threads() {
        let two = [DeviceName::Cpu, DeviceName::Cpu];
        assert_eq!(thread_split(&two, 2), vec![Some(1), Some(1)]);
        assert_eq!(thread_split(&[DeviceName::Cpu; 3], 8), vec![Some(3), Some(3), Some(2)]);
        assert_eq!(thread_split(&two, 1), vec![Some(1), Some(1)], "never zero threads");
        assert_eq!(thread_split(&[DeviceName::Cpu], 8), vec![None]);
        assert_eq!(thread_split(&[DeviceName::Cuda(0), DeviceName::Cpu], 8), vec![None, None]);
    }
}
