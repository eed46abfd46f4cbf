//! GGUF tensor names -> Hugging Face names.

use crate::LoadError;

/// The Hugging Face name of GGUF tensor `name` (`blk.3.attn_q.weight` ->
/// `model.layers.3.self_attn.q_proj.weight`).
pub fn hf_name(name: &str) -> Result<String, LoadError> {
    let fixed = match name {
        "token_embd.weight" => Some(crate::names::EMBED_TOKENS),
        "output_norm.weight" => Some(crate::names::FINAL_NORM),
        "output.weight" => Some(crate::names::LM_HEAD),
        _ => None,
    };
    if let Some(hf) = fixed {
        return Ok(hf.to_string());
    }
    let unknown = || LoadError::tensor(name, "is not a tensor of a Llama-family decoder");
    let rest = name.strip_prefix("blk.").ok_or_else(unknown)?;
    let (layer, rest) = rest.split_once('.').ok_or_else(unknown)?;
    let layer: usize = layer.parse().map_err(|_| unknown())?;
    let (part, kind) = rest.rsplit_once('.').ok_or_else(unknown)?;
    let hf_part = PARTS
        .iter()
        .find(|(gguf, _)| *gguf == part)
        .ok_or_else(unknown)?
        .1;
    if !matches!(kind, "weight" | "bias") {
        return Err(unknown());
    }
    Ok(crate::names::layer_tensor(
        layer,
        &format!("{hf_part}.{kind}"),
    ))
}

/// The GGUF name of Hugging Face tensor `name`, the inverse of [`hf_name`]
/// (`model.layers.3.self_attn.q_proj.weight` -> `blk.3.attn_q.weight`).
pub fn gguf_name(name: &str) -> Option<String> {
    let fixed = match name {
        crate::names::EMBED_TOKENS => Some("token_embd.weight"),
        crate::names::FINAL_NORM => Some("output_norm.weight"),
        crate::names::LM_HEAD => Some("output.weight"),
        _ => None,
    };
    if let Some(gguf) = fixed {
        return Some(gguf.to_string());
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, kind) = rest.rsplit_once('.')?;
    let gguf_part = PARTS.iter().find(|(_, hf)| *hf == part)?.0;
    matches!(kind, "weight" | "bias").then(|| format!("blk.{layer}.{gguf_part}.{kind}"))
}

/// Per-layer tensors: (llama.cpp's name, Hugging Face's).
const PARTS: [(&str, &str); 9] = [
    ("attn_norm", "input_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_norm", "post_attention_layernorm"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_llama_cpp_names() {
        assert_eq!(
            hf_name("token_embd.weight").unwrap(),
            "model.embed_tokens.weight"
        );
        assert_eq!(
            hf_name("blk.12.ffn_down.weight").unwrap(),
            "model.layers.12.mlp.down_proj.weight"
        );
        assert_eq!(
            hf_name("blk.0.attn_k.bias").unwrap(),
            "model.layers.0.self_attn.k_proj.bias"
        );
        assert_eq!(
            hf_name("blk.1.attn_norm.weight").unwrap(),
            "model.layers.1.input_layernorm.weight"
        );
    }

    #[test]
    fn gguf_names_invert_hf_names() {
        let config = crate::LlamaConfig {
            attention_bias: true,
            tie_word_embeddings: false,
            ..crate::LlamaConfig::tiny()
        };
        for (hf, _) in crate::names::expected_tensors(&config) {
            let gguf = gguf_name(&hf).unwrap();
            assert_eq!(hf_name(&gguf).unwrap(), hf);
        }
        assert_eq!(gguf_name("model.layers.0.rotary_emb.inv_freq"), None);
    }

    #[test]
    fn rejects_unknown_names() {
        for bad in [
            "rope_freqs.weight",
            "blk.x.attn_q.weight",
            "blk.0.attn_qkv.weight",
            "blk.0.attn_q.scale",
            "blk.0",
        ] {
            assert!(hf_name(bad).is_err(), "{bad}");
        }
    }
}
