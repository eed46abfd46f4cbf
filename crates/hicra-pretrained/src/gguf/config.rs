//! [`LlamaConfig`] from GGUF metadata (`general.architecture` and `ARCH.*` keys).

use super::header::TensorInfo;
use super::metadata::Metadata;
use crate::{LlamaConfig, LoadError, RopeLayout, SpecialTokens};

/// The decoder's shape and special tokens as `metadata` and the tensor list describe them.
pub fn config_from_metadata(
    metadata: &Metadata,
    tensors: &[TensorInfo],
) -> Result<LlamaConfig, LoadError> {
    let arch = metadata.req_str("general.architecture")?.to_string();
    // llama.cpp's converter permutes the Q/K rows of `llama` checkpoints only; qwen2 keeps HF order.
    let rope_layout = match arch.as_str() {
        "llama" => RopeLayout::Interleaved,
        "qwen2" => RopeLayout::HalfSplit,
        _ => return Err(LoadError::UnsupportedArchitecture(arch)),
    };
    let key = |k: &str| format!("{arch}.{k}");
    if let Some(scaling) = metadata
        .opt_str(&key("rope.scaling.type"))?
        .filter(|s| *s != "none")
    {
        return Err(LoadError::UnsupportedFeature(format!(
            "RoPE scaling {scaling:?}"
        )));
    }
    let has = |name: &str| tensors.iter().any(|t| t.name == name);
    let hidden_size = metadata.req_usize(&key("embedding_length"))?;
    let num_heads = metadata.req_usize(&key("attention.head_count"))?;
    let num_kv_heads = match metadata.opt_u64(&key("attention.head_count_kv"))? {
        Some(n) => n as usize,
        None => num_heads,
    };
    let head_dim = match metadata.opt_u64(&key("attention.key_length"))? {
        Some(n) => n as usize,
        None => hidden_size / num_heads.max(1),
    };
    if let Some(rot) = metadata
        .opt_u64(&key("rope.dimension_count"))?
        .filter(|&r| r as usize != head_dim)
    {
        return Err(LoadError::UnsupportedFeature(format!(
            "partial RoPE over {rot} of {head_dim} head dimensions"
        )));
    }
    let vocab_size = match metadata.opt_u64(&key("vocab_size"))? {
        Some(n) => n as usize,
        None => metadata
            .opt_array("tokenizer.ggml.tokens")?
            .map_or(0, <[_]>::len),
    };
    let special = special_tokens(metadata)?;
    let config = LlamaConfig {
        vocab_size,
        hidden_size,
        intermediate_size: metadata.req_usize(&key("feed_forward_length"))?,
        num_layers: metadata.req_usize(&key("block_count"))?,
        num_heads,
        num_kv_heads,
        head_dim,
        rope_theta: metadata
            .opt_f64(&key("rope.freq_base"))?
            .unwrap_or(10_000.0) as f32,
        rms_norm_eps: metadata
            .opt_f64(&key("attention.layer_norm_rms_epsilon"))?
            .unwrap_or(1e-5) as f32,
        max_position_embeddings: metadata.req_usize(&key("context_length"))?,
        tie_word_embeddings: !has("output.weight"),
        attention_bias: has("blk.0.attn_q.bias"),
        rope_layout,
        bos_token_id: special.bos,
        eos_token_ids: special.eos,
        add_bos: special.add_bos,
        architecture: arch,
    };
    config.validate()?;
    Ok(config)
}

/// BOS, EOS (plus end-of-turn/end-of-message ids), padding and whether to add BOS.
pub fn special_tokens(metadata: &Metadata) -> Result<SpecialTokens, LoadError> {
    let id = |k: &str| -> Result<Option<u32>, LoadError> {
        metadata
            .opt_u64(k)?
            .map(|v| u32::try_from(v).map_err(|_| LoadError::metadata(k, "is too large")))
            .transpose()
    };
    let mut eos = Vec::new();
    for k in [
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ] {
        if let Some(v) = id(k)?.filter(|v| !eos.contains(v)) {
            eos.push(v);
        }
    }
    // llama.cpp adds BOS by default for SentencePiece vocabularies, not for byte-level BPE.
    let default_add_bos = metadata.opt_str("tokenizer.ggml.model")? == Some("llama");
    Ok(SpecialTokens {
        bos: id("tokenizer.ggml.bos_token_id")?,
        eos,
        pad: id("tokenizer.ggml.padding_token_id")?,
        add_bos: metadata
            .opt_bool("tokenizer.ggml.add_bos_token")?
            .unwrap_or(default_add_bos),
    })
}
