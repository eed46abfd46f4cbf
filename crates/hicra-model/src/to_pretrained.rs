//! The way back from [`Llama`] to `hicra-pretrained`'s host description, for export: every
//! weight in f32 under its Hugging Face name, `[out, in]`, Q/K rows in rotate-half order (the
//! layout this crate computes in), with the architecture as a [`LlamaConfig`].

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};
use hicra_pretrained::names::{EMBED_TOKENS, FINAL_NORM, LM_HEAD, layer_tensor};
use hicra_pretrained::{ChatTemplate, HostTensor, LlamaConfig, Pretrained, RopeLayout, Tokenizer};

use crate::config::ModelConfig;
use crate::layers::Dense;
use crate::llama::Llama;
use crate::source::LoadedModel;

/// The [`LlamaConfig`] of a model built from `config` (the inverse of
/// [`crate::pretrained::model_config`]); special tokens come from `tokenizer`, the context
/// length is `config.max_seq_len`.
pub fn llama_config_of(config: &ModelConfig, tokenizer: &Tokenizer) -> LlamaConfig {
    let special = tokenizer.special_tokens();
    LlamaConfig {
        vocab_size: config.vocab_size,
        hidden_size: config.hidden_size,
        intermediate_size: config.intermediate_size,
        num_layers: config.num_layers,
        num_heads: config.num_heads,
        num_kv_heads: config.num_kv_heads,
        head_dim: config.head_dim(),
        rope_theta: config.rope_theta,
        rms_norm_eps: config.rms_norm_eps,
        max_position_embeddings: config.max_seq_len,
        tie_word_embeddings: config.tie_word_embeddings,
        attention_bias: config.attention_bias,
        rope_layout: RopeLayout::HalfSplit,
        bos_token_id: special.bos,
        eos_token_ids: special.eos.clone(),
        add_bos: special.add_bos,
        architecture: if config.attention_bias {
            "qwen2"
        } else {
            "llama"
        }
        .to_string(),
    }
}

impl<B: Backend> Llama<B> {
    /// Every weight on the host in f32, by Hugging Face name (see
    /// [`hicra_pretrained::names::expected_tensors`]).
    pub fn host_tensors(&self) -> BTreeMap<String, HostTensor> {
        let mut out = BTreeMap::new();
        out.insert(EMBED_TOKENS.to_string(), host(self.embedding.val(), false));
        for (i, block) in self.blocks.iter().enumerate() {
            let mut put = |suffix: &str, t: HostTensor| {
                out.insert(layer_tensor(i, suffix), t);
            };
            put(
                "input_layernorm.weight",
                host(block.attention_norm.weight.val(), false),
            );
            let a = &block.attention;
            for (name, dense) in [
                ("q_proj", &a.q),
                ("k_proj", &a.k),
                ("v_proj", &a.v),
                ("o_proj", &a.o),
            ] {
                dense_tensors(dense, &format!("self_attn.{name}"), &mut put);
            }
            put(
                "post_attention_layernorm.weight",
                host(block.mlp_norm.weight.val(), false),
            );
            let m = &block.mlp;
            for (name, dense) in [
                ("gate_proj", &m.gate),
                ("up_proj", &m.up),
                ("down_proj", &m.down),
            ] {
                dense_tensors(dense, &format!("mlp.{name}"), &mut put);
            }
        }
        out.insert(FINAL_NORM.to_string(), host(self.norm.weight.val(), false));
        if let Some(head) = &self.head {
            out.insert(LM_HEAD.to_string(), host(head.val(), true));
        }
        out
    }

    /// The model as a loaded checkpoint would describe it.
    pub fn to_pretrained(
        &self,
        config: LlamaConfig,
        tokenizer: Tokenizer,
        chat_template: ChatTemplate,
        chat_template_jinja: Option<String>,
    ) -> Pretrained {
        Pretrained {
            config,
            tensors: self.host_tensors(),
            tokenizer,
            chat_template,
            chat_template_jinja,
        }
    }
}

impl<B: Backend> LoadedModel<B> {
    /// The loaded model with its checkpoint's description, weights read back from the device
    /// (`None` for a random model, which has no tokenizer).
    pub fn to_pretrained(&self) -> Option<Pretrained> {
        let info = self.checkpoint.as_ref()?;
        let config = LlamaConfig {
            rope_layout: RopeLayout::HalfSplit,
            ..info.config.clone()
        };
        Some(self.model.to_pretrained(
            config,
            info.tokenizer.clone(),
            info.chat_template.clone(),
            info.chat_template_jinja.clone(),
        ))
    }
}

fn dense_tensors<B: Backend>(
    dense: &Dense<B>,
    prefix: &str,
    put: &mut impl FnMut(&str, HostTensor),
) {
    put(&format!("{prefix}.weight"), host(dense.weight.val(), true));
    if let Some(bias) = &dense.bias {
        put(&format!("{prefix}.bias"), host(bias.val(), false));
    }
}

/// A tensor on the host in f32; `transpose` turns this crate's `[in, out]` into `[out, in]`.
fn host<B: Backend, const D: usize>(tensor: Tensor<B, D>, transpose: bool) -> HostTensor {
    let tensor = tensor.cast(FloatDType::F32);
    let tensor = if transpose && D == 2 {
        tensor.transpose()
    } else {
        tensor
    };
    let shape = tensor.dims().to_vec();
    let data = tensor
        .into_data()
        .to_vec::<f32>()
        .expect("an f32 tensor reads as f32");
    HostTensor::new(shape, data, "F32").expect("a tensor's data fills its shape")
}
