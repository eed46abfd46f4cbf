//! [`LlamaConfig`] from a Hugging Face `config.json` (+ `generation_config.json`).

use serde::Deserialize;

use crate::{LlamaConfig, LoadError, RopeLayout};

/// The keys of `config.json` we read; the many others are ignored.
#[derive(Debug, Deserialize)]
pub struct HfConfig {
    #[serde(default)]
    architectures: Vec<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rope_theta: Option<f64>,
    rms_norm_eps: Option<f64>,
    max_position_embeddings: usize,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    rope_scaling: Option<serde_json::Value>,
    pub bos_token_id: Option<TokenIds>,
    pub eos_token_id: Option<TokenIds>,
}

/// A token id field that may be one id or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            Self::One(id) => vec![*id],
            Self::Many(ids) => ids.clone(),
        }
    }
}

impl HfConfig {
    /// The decoder config; `extra_eos` (from `generation_config.json`) joins the EOS ids.
    pub fn to_llama(&self, extra_eos: &[u32]) -> Result<LlamaConfig, LoadError> {
        let architecture = self.architectures.first().cloned().unwrap_or_default();
        let attention_bias = match architecture.as_str() {
            "LlamaForCausalLM" | "LlamaForTokenClassification" => {
                self.attention_bias.unwrap_or(false)
            }
            "Qwen2ForCausalLM" | "Qwen2ForTokenClassification" => true,
            _ => return Err(LoadError::UnsupportedArchitecture(architecture)),
        };
        if let Some(scaling) = self.rope_scaling.as_ref().filter(|v| !v.is_null()) {
            return Err(LoadError::UnsupportedFeature(format!(
                "RoPE scaling {scaling}"
            )));
        }
        let mut eos: Vec<u32> = Vec::new();
        for id in self
            .eos_token_id
            .iter()
            .flat_map(TokenIds::to_vec)
            .chain(extra_eos.iter().copied())
        {
            if !eos.contains(&id) {
                eos.push(id);
            }
        }
        let config = LlamaConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            num_kv_heads: self.num_key_value_heads.unwrap_or(self.num_attention_heads),
            head_dim: self
                .head_dim
                .unwrap_or(self.hidden_size / self.num_attention_heads.max(1)),
            rope_theta: self.rope_theta.unwrap_or(10_000.0) as f32,
            rms_norm_eps: self.rms_norm_eps.unwrap_or(1e-6) as f32,
            max_position_embeddings: self.max_position_embeddings,
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
            attention_bias,
            rope_layout: RopeLayout::HalfSplit,
            bos_token_id: self
                .bos_token_id
                .as_ref()
                .and_then(|ids| ids.to_vec().first().copied()),
            eos_token_ids: eos,
            add_bos: false,
            architecture,
        };
        config.validate()?;
        Ok(config)
    }
}
