//! Workers: one per device, each with its own engine over the model, all fed from one
//! shared queue ([`pool`]). A fast device takes more work; a failed worker's work goes
//! to the others.
//!
//! Several CPU workers can run side by side, the machine's threads split between them,
//! so the machinery is exercised without GPUs; they share one copy of the weights.
//!
//! A worker's model may span several GPUs (`cuda:0+cuda:1`, a [`Placement`]), its layers
//! split across them, for a model no one of them holds.

pub mod pool;

use crate::engine::{DeviceName, Placement};
use crate::{Error, Result};

pub use pool::{Backend, Event, Fault, WorkerSpec, WorkerStats};

/// The workers `--devices` asks for, one per entry: `auto` (every CUDA GPU, else the
/// CPU), or a list such as `cuda:0,cuda:1` or `cpu,cpu` (two CPU workers); an entry
/// `cuda:0+cuda:1` is one worker whose model's layers are split across both cards.
pub fn parse_devices(spec: &str) -> Result<Vec<Placement>> {
    if spec.trim() == "auto" {
        let gpus = cuda_devices();
        let devices = if gpus.is_empty() { vec![DeviceName::Cpu] } else { gpus };
        return Ok(devices.into_iter().map(Placement::single).collect());
    }
    let workers = spec.split(',').map(|d| d.trim().parse()).collect::<Result<Vec<Placement>>>()?;
    if crate::engine::placement::names_a_gpu_twice(workers.iter().flat_map(|w| w.devices())) {
        return Err(Error::Config(format!("devices `{spec}`: a GPU is named twice; one worker per GPU")));
    }
    Ok(workers)
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
pub fn thread_split(workers: &[Placement], total: usize) -> Vec<Option<usize>> {
    let cpus = workers.iter().filter(|w| w.is_cpu()).count();
    let mut k = 0;
    workers
        .iter()
        .map(|w| {
            if !w.is_cpu() || cpus < 2 {
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

    fn one(device: DeviceName) -> Placement {
        Placement::single(device)
    }

    #[test]
    fn device_lists_parse_and_a_gpu_is_not_named_twice() {
        assert_eq!(parse_devices("cpu").unwrap(), vec![one(DeviceName::Cpu)]);
        assert_eq!(parse_devices("cpu, cpu").unwrap(), vec![one(DeviceName::Cpu); 2]);
        assert_eq!(parse_devices("cuda:0,cuda:1").unwrap(), vec![one(DeviceName::Cuda(0)), one(DeviceName::Cuda(1))]);
        assert_eq!(parse_devices("cuda").unwrap(), vec![one(DeviceName::Cuda(0))]);
        assert!(parse_devices("cuda:0,cuda").is_err());
        assert!(parse_devices("tpu").unwrap_err().to_string().contains("tpu"));
        if !candle_core::utils::cuda_is_available() {
            assert_eq!(parse_devices("auto").unwrap(), vec![one(DeviceName::Cpu)]);
        }
        assert_eq!(DeviceName::Cuda(3).to_string(), "cuda:3");
        // Two workers, each over a pair of cards; a card in two workers is refused.
        let pairs = parse_devices("cuda:0+cuda:1,cuda:2+cuda:3").unwrap();
        assert_eq!(pairs.iter().map(|p| p.to_string()).collect::<Vec<_>>(), ["cuda:0+cuda:1", "cuda:2+cuda:3"]);
        assert!(parse_devices("cuda:0+cuda:1,cuda:1").unwrap_err().to_string().contains("named twice"));
        // Two workers each beside the host, one card's layers fixed; a card counted in
        // one worker is still refused in another.
        let offloaded = parse_devices("cuda:0=40+cpu, cpu+cuda:1").unwrap();
        assert_eq!(offloaded.iter().map(|p| p.to_string()).collect::<Vec<_>>(), ["cuda:0=40+cpu", "cpu+cuda:1"]);
        assert_eq!(offloaded[0].layer_counts(), &[Some(40), None]);
        assert!(parse_devices("cuda:0=40+cpu,cuda:0").unwrap_err().to_string().contains("named twice"));
    }

    #[test]
    fn cpu_workers_split_the_threads() {
        let two = [one(DeviceName::Cpu), one(DeviceName::Cpu)];
        assert_eq!(thread_split(&two, 2), vec![Some(1), Some(1)]);
        assert_eq!(thread_split(&[one(DeviceName::Cpu), one(DeviceName::Cpu), one(DeviceName::Cpu)], 8), vec![Some(3), Some(3), Some(2)]);
        assert_eq!(thread_split(&two, 1), vec![Some(1), Some(1)], "never zero threads");
        assert_eq!(thread_split(&[one(DeviceName::Cpu)], 8), vec![None]);
        assert_eq!(thread_split(&[one(DeviceName::Cuda(0)), one(DeviceName::Cpu)], 8), vec![None, None]);
        // A CPU split is one worker on the shared pool.
        assert_eq!(thread_split(&["cpu+cpu".parse().unwrap()], 8), vec![None]);
    }
}
