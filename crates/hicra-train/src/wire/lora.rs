//! The LoRA part of a weights message: the header naming the base and the adapters' shape,
//! the values an update carries, and the adapters rebuilt on the receiving side.

use std::sync::{Arc, Mutex};

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use hicra_model::{Llama, RuntimeBackend};
use serde::{Deserialize, Serialize};

use crate::flat;
use crate::lora::adapters::dense;
use crate::lora::{Adapter, BlockAdapters, LoraAdapters, Target};
use crate::policy::{LoraWeights, SharedBase};

/// A LoRA update's layout: which base it adapts, and its adapters' shape.
#[derive(Serialize, Deserialize)]
pub(super) struct LoraHeader {
    /// The base's SHA-256 ([`SharedBase`]).
    pub base_sha256: String,
    /// The base's values come first in the body.
    pub with_base: bool,
    rank: usize,
    /// Target names, in layout order; every block has each.
    targets: Vec<String>,
    /// `scale` as `f64` bits (exact, unlike JSON's decimal).
    scale_bits: u64,
}

/// The header and values of `lora`: the base's parameters (`with_base`), then the adapters'.
pub(super) fn encode(lora: &LoraWeights, with_base: bool) -> (LoraHeader, Vec<f32>) {
    let adapters = lora.adapters();
    let first: Vec<_> = adapters.entries().take_while(|(l, _, _)| *l == 0).collect();
    let header = LoraHeader {
        base_sha256: lora.base.sha256.clone(),
        with_base,
        rank: first.first().map_or(0, |(_, _, a)| a.a.dims()[0]),
        targets: first.iter().map(|(_, t, _)| t.name().into()).collect(),
        scale_bits: lora.scale.to_bits(),
    };
    let mut values = Vec::new();
    if with_base {
        values = flat::parameters(&lora.base.model());
    }
    values.extend(flat::parameters(&adapters));
    (header, values)
}

/// The weights of a LoRA message: its base (`blank`, an architecture to load it into, when
/// the message carries it; else `held`, the last one received, which must be the one
/// named) and its adapters. Returns the base too, for the receiver to keep.
pub(super) fn decode(
    header: LoraHeader,
    values: &[f32],
    blank: impl FnOnce() -> Llama<RuntimeBackend>,
    held: Option<&Arc<SharedBase>>,
) -> Result<LoraWeights, String> {
    let (base, adapter_values) = if header.with_base {
        let model = blank();
        let n = model.num_params().min(values.len());
        let model = flat::load_parameters(model, &values[..n])?;
        let base = SharedBase::new(model, header.base_sha256.clone());
        (Arc::new(base), &values[n..])
    } else {
        match held {
            Some(base) if base.sha256 == header.base_sha256 => (base.clone(), values),
            _ => {
                return Err(format!(
                    "a weights message has LoRA adapters for base sha256 {}, which this rank \
                     has not received (it holds {})",
                    header.base_sha256,
                    held.map_or("none", |b| b.sha256.as_str())
                ));
            }
        }
    };
    let targets = header
        .targets
        .iter()
        .map(|n| Target::parse(n).ok_or_else(|| format!("unknown LoRA target `{n}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let shapes = shapes(&base.model(), header.rank, &targets);
    let adapters = flat::load_parameters(shapes, adapter_values)?;
    Ok(LoraWeights {
        base,
        adapters: Mutex::new(adapters),
        scale: f64::from_bits(header.scale_bits),
    })
}

/// Zero adapters of `rank` on `targets` of every block of `base`, to load values into.
fn shapes(
    base: &Llama<RuntimeBackend>,
    rank: usize,
    targets: &[Target],
) -> LoraAdapters<RuntimeBackend> {
    let device = base.device();
    let blocks = base.blocks.iter().map(|block| {
        let one = |t: Target| {
            targets.contains(&t).then(|| {
                let [i, o] = dense(block, t).weight.dims();
                Adapter {
                    a: Param::from_tensor(Tensor::zeros([rank, i], &device)),
                    b: Param::from_tensor(Tensor::zeros([o, rank], &device)),
                }
            })
        };
        BlockAdapters {
            q: one(Target::Q),
            k: one(Target::K),
            v: one(Target::V),
            o: one(Target::O),
            gate: one(Target::Gate),
            up: one(Target::Up),
            down: one(Target::Down),
        }
    });
    LoraAdapters {
        blocks: blocks.collect(),
    }
}
