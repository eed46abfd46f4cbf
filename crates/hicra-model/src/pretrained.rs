//! Building the decoder from a pretrained checkpoint read by `hicra-pretrained`.
//!
//! The checkpoint's tensors arrive as host f32 in Hugging Face names and `[out, in]` order;
//! they are transposed to this crate's `[in, out]` and uploaded. Q/K rows stored in llama.cpp's
//! interleaved RoPE order (GGUF `llama`) are un-permuted to rotate-half, the only layout the
//! attention implements, so both kinds of checkpoint run through the same kernels.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use hicra_pretrained::names::{EMBED_TOKENS, FINAL_NORM, LM_HEAD, layer_tensor};
use hicra_pretrained::{HostTensor, LlamaConfig, Pretrained, RopeLayout, unpermute_rope};

use crate::config::ModelConfig;
use crate::layers::{Attention, Dense, Mlp, RmsNorm, Rope};
use crate::llama::{Block, Llama};
use crate::precision::Precision;

/// Why a checkpoint cannot become a [`Llama`].
#[derive(Debug, thiserror::Error)]
pub enum PretrainedModelError {
    #[error(transparent)]
    Load(#[from] hicra_pretrained::LoadError),
    #[error("unsupported checkpoint: {0}")]
    Unsupported(String),
    #[error("tensor `{0}` is missing")]
    Missing(String),
    #[error(transparent)]
    Rope(#[from] hicra_pretrained::RopeLayoutError),
}

/// The architecture of a checkpoint, with RoPE tables for `max_seq_len` positions (the
/// checkpoint's own context length when `None`).
pub fn model_config(
    config: &LlamaConfig,
    max_seq_len: Option<usize>,
) -> Result<ModelConfig, PretrainedModelError> {
    if config.head_dim * config.num_heads != config.hidden_size {
        return Err(PretrainedModelError::Unsupported(format!(
            "head_dim {} x {} heads != hidden size {} (only models whose heads tile the \
             residual stream are implemented)",
            config.head_dim, config.num_heads, config.hidden_size
        )));
    }
    let model = ModelConfig {
        vocab_size: config.vocab_size,
        hidden_size: config.hidden_size,
        intermediate_size: config.intermediate_size,
        num_layers: config.num_layers,
        num_heads: config.num_heads,
        num_kv_heads: config.num_kv_heads,
        rope_theta: config.rope_theta,
        rms_norm_eps: config.rms_norm_eps,
        max_seq_len: max_seq_len.unwrap_or(config.max_position_embeddings),
        tie_word_embeddings: config.tie_word_embeddings,
        attention_bias: config.attention_bias,
    };
    model
        .validate()
        .map_err(PretrainedModelError::Unsupported)?;
    Ok(model)
}

impl<B: Backend> Llama<B> {
    /// Uploads a loaded checkpoint to `device`.
    pub fn from_pretrained(
        pretrained: &Pretrained,
        max_seq_len: Option<usize>,
        device: &B::Device,
    ) -> Result<Self, PretrainedModelError> {
        let config = model_config(&pretrained.config, max_seq_len)?;
        let weights = Weights {
            pretrained,
            device,
            interleaved: pretrained.config.rope_layout == RopeLayout::Interleaved,
        };
        let blocks = (0..config.num_layers)
            .map(|layer| weights.block(layer, &config))
            .collect::<Result<Vec<_>, _>>()?;
        let head = if config.tie_word_embeddings {
            None
        } else {
            Some(weights.matrix(LM_HEAD, None)?)
        };
        Ok(Self {
            embedding: Param::from_tensor(upload(weights.get(EMBED_TOKENS)?, device)),
            blocks,
            norm: weights.norm(FINAL_NORM, config.rms_norm_eps)?,
            head,
            rope: Rope::new(
                config.head_dim(),
                config.max_seq_len,
                config.rope_theta,
                device,
            ),
            compute: Precision::F32,
        })
    }
}

struct Weights<'a, B: Backend> {
    pretrained: &'a Pretrained,
    device: &'a B::Device,
    interleaved: bool,
}

impl<B: Backend> Weights<'_, B> {
    fn get(&self, name: &str) -> Result<&HostTensor, PretrainedModelError> {
        self.pretrained
            .tensors
            .get(name)
            .ok_or_else(|| PretrainedModelError::Missing(name.to_string()))
    }

    /// `[out, in]` -> `[in, out]`; Q/K rows (`rope_heads`) un-permuted first if needed.
    fn matrix(
        &self,
        name: &str,
        rope_heads: Option<usize>,
    ) -> Result<Param<Tensor<B, 2>>, PretrainedModelError> {
        let tensor = self.rope_order(self.get(name)?, rope_heads)?;
        Ok(Param::from_tensor(upload(
            &transposed(&tensor),
            self.device,
        )))
    }

    fn rope_order(
        &self,
        tensor: &HostTensor,
        rope_heads: Option<usize>,
    ) -> Result<HostTensor, PretrainedModelError> {
        Ok(match rope_heads {
            Some(heads) if self.interleaved => unpermute_rope(tensor, heads)?,
            _ => tensor.clone(),
        })
    }

    fn dense(
        &self,
        layer: usize,
        projection: &str,
        rope_heads: Option<usize>,
        bias: bool,
    ) -> Result<Dense<B>, PretrainedModelError> {
        let weight = self.matrix(
            &layer_tensor(layer, &format!("{projection}.weight")),
            rope_heads,
        )?;
        let bias = if bias {
            let tensor = self.get(&layer_tensor(layer, &format!("{projection}.bias")))?;
            let tensor = self.rope_order(tensor, rope_heads)?;
            Some(Param::from_tensor(upload(&tensor, self.device)))
        } else {
            None
        };
        Ok(Dense { weight, bias })
    }

    fn norm(&self, name: &str, eps: f32) -> Result<RmsNorm<B>, PretrainedModelError> {
        Ok(RmsNorm {
            weight: Param::from_tensor(upload(self.get(name)?, self.device)),
            eps: f64::from(eps),
        })
    }

    fn block(&self, layer: usize, config: &ModelConfig) -> Result<Block<B>, PretrainedModelError> {
        let bias = config.attention_bias;
        let eps = config.rms_norm_eps;
        Ok(Block {
            attention_norm: self.norm(&layer_tensor(layer, "input_layernorm.weight"), eps)?,
            attention: Attention {
                q: self.dense(layer, "self_attn.q_proj", Some(config.num_heads), bias)?,
                k: self.dense(layer, "self_attn.k_proj", Some(config.num_kv_heads), bias)?,
                v: self.dense(layer, "self_attn.v_proj", None, bias)?,
                o: self.dense(layer, "self_attn.o_proj", None, false)?,
                num_heads: config.num_heads,
                num_kv_heads: config.num_kv_heads,
            },
            mlp_norm: self.norm(&layer_tensor(layer, "post_attention_layernorm.weight"), eps)?,
            mlp: Mlp {
                gate: self.dense(layer, "mlp.gate_proj", None, false)?,
                up: self.dense(layer, "mlp.up_proj", None, false)?,
                down: self.dense(layer, "mlp.down_proj", None, false)?,
            },
        })
    }
}

/// Row-major `[rows, cols]` -> `[cols, rows]` on the host.
fn transposed(tensor: &HostTensor) -> HostTensor {
    let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
    let mut data = vec![0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            data[c * rows + r] = tensor.data[r * cols + c];
        }
    }
    HostTensor {
        shape: vec![cols, rows],
        data,
        dtype: tensor.dtype.clone(),
    }
}

fn upload<B: Backend, const D: usize>(tensor: &HostTensor, device: &B::Device) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(tensor.data.clone(), tensor.shape.clone()),
        device,
    )
}
