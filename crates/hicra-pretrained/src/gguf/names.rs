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
    let hf_part = match part {
        "attn_norm" => "input_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return Err(unknown()),
    };
    if !matches!(kind, "weight" | "bias") {
        return Err(unknown());
    }
    Ok(crate::names::layer_tensor(
        layer,
        &format!("{hf_part}.{kind}"),
    ))
}

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
