//! Where tensors live: one backend type for the whole program (burn's `Dispatch`), and the
//! device a stage names in TOML picked at run time.
//!
//! `Dispatch` wraps every backend this binary was built with (`flex` always; `cuda` and
//! `wgpu` behind cargo features of the same names), so one build runs a sampler on a GPU and a
//! learner on another device, of the same vendor or not. Moving a module between devices of
//! different backends goes through host memory (burn does it in `to_device`).
//!
//! A [`DeviceSpec`] is the user's words (`"cpu"`, `"cuda:1"`, `"wgpu:0"`); [`DeviceSpec::open`]
//! turns it into a device after checking that the binary has the backend and that the device
//! answers (a small tensor is written and read back), so a missing GPU is an error at start
//! rather than a panic in the middle of a run.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Deserializer};

/// The backend every model runs on: a runtime choice among the backends built in.
pub type RuntimeBackend = burn::Dispatch;
/// [`RuntimeBackend`] with autodiff, for learners. Balanced checkpointing: the outputs of
/// memory-bound ops (norms, rotations, activations, masks) are recomputed in the backward pass
/// instead of kept from the forward one, so a pass holds little more than the matrix products'
/// inputs.
pub type RuntimeAutodiff = burn::backend::Autodiff<
    RuntimeBackend,
    burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing,
>;
/// A device of [`RuntimeBackend`].
pub type Device = burn::DispatchDevice;

/// The CPU device (burn's pure-Rust `flex` backend): the default everywhere.
pub fn cpu() -> Device {
    burn::DispatchDevice::Flex(burn::backend::flex::FlexDevice)
}

/// A device as written in a pipeline or on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// `cpu`: burn's `flex` backend, multi-threaded.
    #[default]
    Cpu,
    /// `cuda:N` (`cuda` = `cuda:0`): the N-th NVIDIA GPU. `cuda:local` is the GPU numbered
    /// like this process among those its launcher started on the same machine (mpirun/srun's
    /// local rank), so one pipeline file places every rank on its own GPU.
    Cuda(usize),
    /// `wgpu:N` (the N-th discrete GPU), `wgpu` (the best adapter wgpu finds), `wgpu:cpu`
    /// (a software adapter such as Mesa's lavapipe) or `wgpu:integrated:N`.
    Wgpu(WgpuAdapter),
}

/// Which WebGPU adapter a `wgpu` device means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgpuAdapter {
    /// The adapter wgpu ranks best (honours `CUBECL_WGPU_DEFAULT_DEVICE`).
    Best,
    /// The N-th discrete GPU.
    Discrete(usize),
    /// The N-th integrated GPU.
    Integrated(usize),
    /// A software rasteriser (lavapipe, WARP, SwiftShader).
    Software,
}

/// Why a device cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "unknown device `{0}`: expected `cpu`, `cuda:N`, `wgpu:N`, `wgpu`, `wgpu:cpu` or `wgpu:integrated:N`"
    )]
    Unknown(String),
    #[error(
        "device `{device}` needs the `{feature}` feature, and this hicra was built without it (rebuild with `cargo build --release --features {feature}`)"
    )]
    NotBuilt {
        device: DeviceSpec,
        feature: &'static str,
    },
    #[error("device `{device}` is not usable here: {reason}")]
    Unavailable { device: DeviceSpec, reason: String },
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Wgpu(WgpuAdapter::Best) => f.write_str("wgpu"),
            Self::Wgpu(WgpuAdapter::Discrete(n)) => write!(f, "wgpu:{n}"),
            Self::Wgpu(WgpuAdapter::Integrated(n)) => write!(f, "wgpu:integrated:{n}"),
            Self::Wgpu(WgpuAdapter::Software) => f.write_str("wgpu:cpu"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;

    fn from_str(text: &str) -> Result<Self, DeviceError> {
        let unknown = || DeviceError::Unknown(text.to_string());
        let index = |s: &str| s.parse::<usize>().map_err(|_| unknown());
        let lower = text.trim().to_ascii_lowercase();
        let parts: Vec<&str> = lower.split(':').collect();
        Ok(match parts.as_slice() {
            ["cpu"] => Self::Cpu,
            ["cuda"] => Self::Cuda(0),
            ["cuda", "local"] => Self::Cuda(local_rank()),
            ["cuda", n] => Self::Cuda(index(n)?),
            ["wgpu", "local"] => Self::Wgpu(WgpuAdapter::Discrete(local_rank())),
            ["wgpu"] => Self::Wgpu(WgpuAdapter::Best),
            ["wgpu", "cpu"] => Self::Wgpu(WgpuAdapter::Software),
            ["wgpu", "integrated", n] => Self::Wgpu(WgpuAdapter::Integrated(index(n)?)),
            ["wgpu", n] => Self::Wgpu(WgpuAdapter::Discrete(index(n)?)),
            _ => return Err(unknown()),
        })
    }
}

/// This process's index among the processes a launcher started on this machine (Open MPI,
/// MPICH, Slurm); 0 outside a launcher.
pub fn local_rank() -> usize {
    [
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "MPI_LOCALRANKID",
        "SLURM_LOCALID",
    ]
    .iter()
    .find_map(|n| std::env::var(n).ok()?.trim().parse().ok())
    .unwrap_or(0)
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl DeviceSpec {
    /// The backend device, without checking that it answers.
    pub fn device(&self) -> Result<Device, DeviceError> {
        match *self {
            Self::Cpu => Ok(cpu()),
            Self::Cuda(index) => cuda_device(*self, index),
            Self::Wgpu(adapter) => wgpu_device(*self, adapter),
        }
    }

    /// The backend device after a round trip through it (a small tensor written, added to and
    /// read back), so an absent or broken GPU is reported here, as an error.
    pub fn open(&self) -> Result<Device, DeviceError> {
        let device = self.device()?;
        if *self == Self::Cpu {
            return Ok(device);
        }
        let probe = device.clone();
        let outcome = quietly(move || {
            let t = Tensor::<RuntimeBackend, 1>::from_data(TensorData::from([1.0f32, 2.0]), &probe);
            (t + 1.0).into_data().to_vec::<f32>().ok()
        });
        match outcome {
            Ok(Some(v)) if v == [2.0, 3.0] => Ok(device),
            Ok(other) => Err(DeviceError::Unavailable {
                device: *self,
                reason: format!("a probe computation gave {other:?} instead of [2.0, 3.0]"),
            }),
            Err(reason) => Err(DeviceError::Unavailable {
                device: *self,
                reason,
            }),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(_: DeviceSpec, index: usize) -> Result<Device, DeviceError> {
    Ok(burn::DispatchDevice::Cuda(
        burn::backend::cuda::CudaDevice::new(index),
    ))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(device: DeviceSpec, _: usize) -> Result<Device, DeviceError> {
    Err(DeviceError::NotBuilt {
        device,
        feature: "cuda",
    })
}

#[cfg(feature = "wgpu")]
fn wgpu_device(_: DeviceSpec, adapter: WgpuAdapter) -> Result<Device, DeviceError> {
    use burn::backend::wgpu::WgpuDevice;
    Ok(burn::DispatchDevice::Wgpu(match adapter {
        WgpuAdapter::Best => WgpuDevice::DefaultDevice,
        WgpuAdapter::Discrete(n) => WgpuDevice::DiscreteGpu(n),
        WgpuAdapter::Integrated(n) => WgpuDevice::IntegratedGpu(n),
        WgpuAdapter::Software => WgpuDevice::Cpu,
    }))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device(device: DeviceSpec, _: WgpuAdapter) -> Result<Device, DeviceError> {
    Err(DeviceError::NotBuilt {
        device,
        feature: "wgpu",
    })
}

/// Bytes burn's memory pool holds on a GPU device (`None` on the CPU). The pools keep the pages
/// they allocate, so after a workload this is close to its peak.
pub fn gpu_memory_reserved(device: &Device) -> Option<u64> {
    match device {
        #[cfg(feature = "cuda")]
        burn::DispatchDevice::Cuda(d) => {
            use cubecl::Runtime;
            let usage = cubecl::cuda::CudaRuntime::client(d).memory_usage().ok()?;
            Some(usage.bytes_reserved)
        }
        #[cfg(feature = "wgpu")]
        burn::DispatchDevice::Wgpu(d) => {
            use cubecl::Runtime;
            let usage = cubecl::wgpu::WgpuRuntime::client(d).memory_usage().ok()?;
            Some(usage.bytes_reserved)
        }
        _ => None,
    }
}

/// Runs `probe`, turning a panic (how burn's GPU backends report a missing driver or adapter)
/// into its message; the default panic hook is silenced meanwhile so the user sees one error.
fn quietly<T>(probe: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(probe);
    std::panic::set_hook(previous);
    outcome.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend panicked while opening it".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for text in [
            "cpu",
            "cuda:0",
            "cuda:3",
            "wgpu",
            "wgpu:1",
            "wgpu:cpu",
            "wgpu:integrated:2",
        ] {
            let spec: DeviceSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!("CUDA".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        for bad in [
            "",
            "gpu",
            "cuda:x",
            "cuda:1:2",
            "wgpu:integrated",
            "metal:0",
        ] {
            assert!(
                matches!(bad.parse::<DeviceSpec>(), Err(DeviceError::Unknown(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn cpu_opens() {
        assert_eq!(DeviceSpec::Cpu.open().unwrap(), cpu());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = DeviceSpec::Cuda(1).open().unwrap_err();
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }
}
