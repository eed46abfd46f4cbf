//! Floating-point precision of a stage's model: `f32` (the default), `bf16` or `f16`.
//!
//! Two ways to use a lower precision, one per role:
//!
//! * **storage** (samplers): the weights themselves are cast, so they take half the memory and
//!   every matmul reads half the bytes; [`Llama::stored_in`](crate::Llama::stored_in);
//! * **compute** (learners, mixed precision): the weights stay in f32 (the optimiser's master
//!   copy) and are cast on the fly inside each layer, so matmuls run in the low precision while
//!   gradients flow back through the casts into f32; [`Llama::computing_in`](crate::Llama::computing_in).
//!
//! Either way the numerically touchy parts stay in f32: RMSNorm's mean of squares, the
//! attention softmax, and the output logits (so log-probabilities, entropies and the loss are
//! computed in f32 from low-precision activations, as PyTorch's autocast does).
//!
//! [`Precision::check`] asks the backend whether the device computes in that type (burn's
//! `supports_dtype`: WGSL has no bf16, for one), so a pipeline that cannot run is an error at
//! start, naming the device, rather than a panic inside a kernel.

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::device::{Device, DeviceSpec, RuntimeBackend};

/// A model's floating-point type, as written in TOML (`dtype = "bf16"`) or on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// IEEE single precision: exact agreement with the CPU reference, the default.
    #[default]
    F32,
    /// bfloat16: f32's range with 8 significant bits (GPUs with tensor cores).
    Bf16,
    /// IEEE half precision: 11 significant bits, range up to 65504.
    F16,
}

/// A precision the device cannot compute in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrecisionError {
    #[error("unknown dtype `{0}`: expected `f32`, `bf16` or `f16`")]
    Unknown(String),
    #[error(
        "device `{device}` cannot compute in {precision} (its backend has no arithmetic for that type); it supports: {supported}"
    )]
    Unsupported {
        device: DeviceSpec,
        precision: Precision,
        supported: String,
    },
}

impl Precision {
    /// Every precision, highest first.
    pub const ALL: [Precision; 3] = [Self::F32, Self::Bf16, Self::F16];

    /// burn's name for it.
    pub fn dtype(self) -> FloatDType {
        match self {
            Self::F32 => FloatDType::F32,
            Self::Bf16 => FloatDType::BF16,
            Self::F16 => FloatDType::F16,
        }
    }

    /// Bytes per element.
    pub fn bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::Bf16 | Self::F16 => 2,
        }
    }

    /// Whether `device` computes in this precision.
    pub fn supported_on(self, device: &Device) -> bool {
        let dtype: DType = self.dtype().into();
        <RuntimeBackend as Backend>::supports_dtype(device, dtype)
    }

    /// The precisions `device` computes in, highest first.
    pub fn supported_by(device: &Device) -> Vec<Precision> {
        Self::ALL
            .into_iter()
            .filter(|p| p.supported_on(device))
            .collect()
    }

    /// `Ok` when `device` (named `spec` in messages) computes in this precision.
    pub fn check(self, spec: DeviceSpec, device: &Device) -> Result<(), PrecisionError> {
        if self.supported_on(device) {
            return Ok(());
        }
        let supported: Vec<String> = Self::supported_by(device)
            .iter()
            .map(ToString::to_string)
            .collect();
        Err(PrecisionError::Unsupported {
            device: spec,
            precision: self,
            supported: supported.join(", "),
        })
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

impl FromStr for Precision {
    type Err = PrecisionError;

    fn from_str(text: &str) -> Result<Self, PrecisionError> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" | "fp32" => Self::F32,
            "bf16" | "bfloat16" => Self::Bf16,
            "f16" | "float16" | "fp16" | "half" => Self::F16,
            _ => return Err(PrecisionError::Unknown(text.to_string())),
        })
    }
}

/// Written as its name (`f32`, `bf16`, `f16`), as it is read.
impl Serialize for Precision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Precision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::cpu;

    #[test]
    fn names_parse_and_print_back() {
        for p in Precision::ALL {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
        }
        assert_eq!("BFloat16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!("half".parse::<Precision>().unwrap(), Precision::F16);
        let err = "f8".parse::<Precision>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown dtype `f8`: expected `f32`, `bf16` or `f16`"
        );
    }

    #[test]
    fn the_cpu_computes_in_every_precision() {
        for p in Precision::ALL {
            p.check(DeviceSpec::Cpu, &cpu()).unwrap();
        }
    }
}
