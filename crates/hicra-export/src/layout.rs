//! The model's tensors in the Q/K row order a format stores, and the architecture a format
//! names for the model.

use std::borrow::Cow;

use hicra_pretrained::names::layer_tensor;
use hicra_pretrained::{HostTensor, Pretrained, RopeLayout, permute_rope, unpermute_rope};

use crate::ExportError;

/// The decoder families both formats name. A model with Q/K/V biases is Qwen2 (Llama's
/// `attention_bias` would also bias the output projection, which these models lack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Llama,
    Qwen2,
}

impl Family {
    pub fn of(model: &Pretrained) -> Result<Self, ExportError> {
        let arch = model.config.architecture.as_str();
        if !matches!(
            arch,
            "llama"
                | "LlamaForCausalLM"
                | "LlamaForTokenClassification"
                | "qwen2"
                | "Qwen2ForCausalLM"
                | "Qwen2ForTokenClassification"
                | ""
        ) {
            return Err(ExportError::Unexpressible(format!(
                "architecture `{arch}` (Llama and Qwen2 decoders only)"
            )));
        }
        Ok(if model.config.attention_bias {
            Self::Qwen2
        } else {
            Self::Llama
        })
    }

    /// llama.cpp's architecture name (the prefix of its hyper-parameter keys).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
        }
    }

    /// The Q/K row order llama.cpp expects for this family.
    pub fn gguf_layout(self) -> RopeLayout {
        match self {
            Self::Llama => RopeLayout::Interleaved,
            Self::Qwen2 => RopeLayout::HalfSplit,
        }
    }
}

/// Every tensor of `model` under its Hugging Face name, in checkpoint order, with Q/K rows
/// (weights and biases) in `layout`.
pub fn tensors_in(
    model: &Pretrained,
    layout: RopeLayout,
) -> Result<Vec<(String, Cow<'_, HostTensor>)>, ExportError> {
    let config = &model.config;
    let mut rope_heads = std::collections::BTreeMap::new();
    for layer in 0..config.num_layers {
        for kind in ["weight", "bias"] {
            rope_heads.insert(
                layer_tensor(layer, &format!("self_attn.q_proj.{kind}")),
                config.num_heads,
            );
            rope_heads.insert(
                layer_tensor(layer, &format!("self_attn.k_proj.{kind}")),
                config.num_kv_heads,
            );
        }
    }
    hicra_pretrained::names::expected_tensors(config)
        .into_iter()
        .map(|(name, _)| {
            let tensor = model
                .tensors
                .get(&name)
                .ok_or_else(|| ExportError::Unexpressible(format!("tensor {name} is missing")))?;
            let tensor = match rope_heads.get(&name) {
                Some(&heads) if config.rope_layout != layout => {
                    let moved = match layout {
                        RopeLayout::Interleaved => permute_rope(tensor, heads),
                        RopeLayout::HalfSplit => unpermute_rope(tensor, heads),
                    };
                    Cow::Owned(
                        moved.map_err(|e| ExportError::Unexpressible(format!("{name}: {e}")))?,
                    )
                }
                _ => Cow::Borrowed(tensor),
            };
            Ok((name, tensor))
        })
        .collect()
}
