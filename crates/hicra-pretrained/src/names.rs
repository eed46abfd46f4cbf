//! The Hugging Face tensor names a Llama-family checkpoint must hold, with their shapes.

use crate::LlamaConfig;

/// Embedding matrix, `[vocab_size, hidden_size]`.
pub const EMBED_TOKENS: &str = "model.embed_tokens.weight";
/// Final RMSNorm weight, `[hidden_size]`.
pub const FINAL_NORM: &str = "model.norm.weight";
/// Output head, `[vocab_size, hidden_size]`; absent when embeddings are tied.
pub const LM_HEAD: &str = "lm_head.weight";

/// A token classifier's scoring head (transformers' `*ForTokenClassification.score`),
/// `[num_labels, hidden_size]`.
pub const SCORE_WEIGHT: &str = "score.weight";
/// The scoring head's bias, `[num_labels]`.
pub const SCORE_BIAS: &str = "score.bias";

/// Name of a per-layer tensor: `layer_tensor(3, "self_attn.q_proj.weight")`.
pub fn layer_tensor(layer: usize, suffix: &str) -> String {
    format!("model.layers.{layer}.{suffix}")
}

/// Every tensor the config implies, in checkpoint order, with its row-major `[out, in]` shape.
pub fn expected_tensors(config: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i, v) = (
        config.hidden_size,
        config.intermediate_size,
        config.vocab_size,
    );
    let (q, kv) = (config.q_dim(), config.kv_dim());
    let mut out = vec![(EMBED_TOKENS.to_string(), vec![v, h])];
    for layer in 0..config.num_layers {
        let mut push =
            |suffix: &str, shape: Vec<usize>| out.push((layer_tensor(layer, suffix), shape));
        push("input_layernorm.weight", vec![h]);
        push("self_attn.q_proj.weight", vec![q, h]);
        push("self_attn.k_proj.weight", vec![kv, h]);
        push("self_attn.v_proj.weight", vec![kv, h]);
        if config.attention_bias {
            push("self_attn.q_proj.bias", vec![q]);
            push("self_attn.k_proj.bias", vec![kv]);
            push("self_attn.v_proj.bias", vec![kv]);
        }
        push("self_attn.o_proj.weight", vec![h, q]);
        push("post_attention_layernorm.weight", vec![h]);
        push("mlp.gate_proj.weight", vec![i, h]);
        push("mlp.up_proj.weight", vec![i, h]);
        push("mlp.down_proj.weight", vec![h, i]);
    }
    out.push((FINAL_NORM.to_string(), vec![h]));
    if !config.tie_word_embeddings {
        out.push((LM_HEAD.to_string(), vec![v, h]));
    }
    out
}
