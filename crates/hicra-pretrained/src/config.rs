//! The shape of a Llama-family decoder as read from a checkpoint.

use serde::{Deserialize, Serialize};

use crate::LoadError;

/// How the rows of the Q and K projections are ordered within each head, which decides how
/// RoPE pairs the dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RopeLayout {
    /// Adjacent pairs `(2j, 2j+1)` rotate together: llama.cpp's layout for `llama` GGUFs,
    /// whose converter permutes the Q/K rows of the Hugging Face checkpoint.
    Interleaved,
    /// Dimension `j` rotates with `j + head_dim/2` ("rotate half"): Hugging Face checkpoints,
    /// and GGUFs of architectures stored unpermuted (qwen2).
    HalfSplit,
}

/// Hyper-parameters of a Llama-family decoder (Llama, SmolLM2, Qwen2), plus the token ids
/// the sampler needs. Filled from GGUF metadata or Hugging Face `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Rows of the embedding (and of the output head), in tokens.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention; divides `num_heads`).
    pub num_kv_heads: usize,
    /// Width of one attention head (usually `hidden_size / num_heads`).
    pub head_dim: usize,
    /// RoPE base frequency (Llama 2: 10000; SmolLM2: 100000).
    pub rope_theta: f32,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f32,
    /// Context length the model was trained for, in tokens.
    pub max_position_embeddings: usize,
    /// The output head reuses the embedding matrix (no `lm_head.weight` tensor).
    pub tie_word_embeddings: bool,
    /// The Q, K and V projections have biases (Qwen2).
    pub attention_bias: bool,
    /// Row order of the Q/K projections (see [`RopeLayout`]).
    pub rope_layout: RopeLayout,
    /// Beginning-of-sequence token, if the vocabulary has one.
    pub bos_token_id: Option<u32>,
    /// Tokens that end a generation (the model's EOS, plus end-of-turn tokens).
    pub eos_token_ids: Vec<u32>,
    /// Whether prompts should start with `bos_token_id` (from the tokenizer's metadata).
    pub add_bos: bool,
    /// Architecture name as written in the checkpoint (`llama`, `LlamaForCausalLM`, `qwen2`, ...).
    pub architecture: String,
}

impl LlamaConfig {
    /// SmolLM2-135M(-Instruct): 30 layers, width 576, 9 query / 3 KV heads of 64, SwiGLU 1536,
    /// RoPE base 1e5, tied embeddings, 49152 tokens; GGUF layout.
    pub fn smollm2_135m() -> Self {
        Self {
            vocab_size: 49152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_layers: 30,
            num_heads: 9,
            num_kv_heads: 3,
            head_dim: 64,
            rope_theta: 100_000.0,
            rms_norm_eps: 1e-5,
            max_position_embeddings: 8192,
            tie_word_embeddings: true,
            attention_bias: false,
            rope_layout: RopeLayout::Interleaved,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
            add_bos: false,
            architecture: "llama".to_string(),
        }
    }

    /// The same architecture at toy size (vocabulary 64, width 32, 2 layers, 4/2 heads), for tests.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 64,
            hidden_size: 32,
            intermediate_size: 64,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            head_dim: 8,
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-5,
            max_position_embeddings: 128,
            ..Self::smollm2_135m()
        }
    }

    /// Width of all query heads together.
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Number of scalar parameters (tied embeddings counted once).
    pub fn num_parameters(&self) -> u64 {
        crate::names::expected_tensors(self)
            .iter()
            .map(|(_, shape)| shape.iter().product::<usize>() as u64)
            .sum()
    }

    /// Checks the divisibility and non-zero constraints of the architecture.
    pub fn validate(&self) -> Result<(), LoadError> {
        let fail = |m: String| Err(LoadError::Config(m));
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            ("num_kv_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return fail(format!("{name} must be positive"));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return fail(format!(
                "num_heads {} must be a multiple of num_kv_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return fail(format!("head_dim {} must be even for RoPE", self.head_dim));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return fail(format!(
                "rope_theta {} must be a positive number",
                self.rope_theta
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps >= 0.0) {
            return fail(format!(
                "rms_norm_eps {} must be a non-negative number",
                self.rms_norm_eps
            ));
        }
        if let Some(bad) = self
            .eos_token_ids
            .iter()
            .chain(&self.bos_token_id)
            .find(|&&id| id as usize >= self.vocab_size)
        {
            return fail(format!(
                "special token id {bad} is outside the vocabulary of {}",
                self.vocab_size
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_has_its_published_parameter_count() {
        // SmolLM2-135M: 134,515,008 parameters (tied embeddings).
        assert_eq!(LlamaConfig::smollm2_135m().num_parameters(), 134_515_008);
    }

    #[test]
    fn untied_head_and_biases_add_parameters() {
        let base = LlamaConfig::tiny();
        let untied = LlamaConfig {
            tie_word_embeddings: false,
            ..base.clone()
        };
        assert_eq!(untied.num_parameters() - base.num_parameters(), 64 * 32);
        let biased = LlamaConfig {
            attention_bias: true,
            ..base.clone()
        };
        assert_eq!(
            biased.num_parameters() - base.num_parameters(),
            2 * (32 + 16 + 16)
        );
    }

    #[test]
    fn validation_rejects_bad_head_counts() {
        assert!(LlamaConfig::tiny().validate().is_ok());
        let bad = LlamaConfig {
            num_kv_heads: 3,
            ..LlamaConfig::tiny()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("multiple"));
        let odd = LlamaConfig {
            head_dim: 7,
            ..LlamaConfig::tiny()
        };
        assert!(odd.validate().is_err());
    }
}
