//! The shape of a Llama-family decoder (SmolLM2, Llama, Qwen2).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Vocabulary size (rows of the embedding).
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
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f32,
    /// Longest sequence (prompt + response) the RoPE tables cover.
    pub max_seq_len: usize,
    /// The output head reuses the embedding matrix.
    pub tie_word_embeddings: bool,
    /// The q/k/v projections carry biases (Qwen2).
    #[serde(default)]
    pub attention_bias: bool,
}

impl ModelConfig {
    /// SmolLM2-135M(-Instruct): 30 layers, d=576, 9 query / 3 KV heads, SwiGLU 1536, RoPE 1e5.
    pub fn smollm2_135m() -> Self {
        Self {
            vocab_size: 49152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_layers: 30,
            num_heads: 9,
            num_kv_heads: 3,
            rope_theta: 100_000.0,
            rms_norm_eps: 1e-5,
            max_seq_len: 2048,
            tie_word_embeddings: true,
            attention_bias: false,
        }
    }

    /// The same architecture at toy size, for tests.
    pub fn tiny(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            hidden_size: 32,
            intermediate_size: 64,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-5,
            max_seq_len: 128,
            tie_word_embeddings: true,
            attention_bias: false,
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Checks the divisibility constraints of the architecture.
    pub fn validate(&self) -> Result<(), String> {
        let fail = |m: String| Err(m);
        if self.num_heads == 0
            || self.num_kv_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_heads)
        {
            return fail(format!(
                "hidden_size {} must be a multiple of num_heads {}",
                self.hidden_size, self.num_heads
            ));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return fail(format!(
                "num_heads {} must be a multiple of num_kv_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return fail(format!(
                "head_dim {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if self.vocab_size == 0 || self.num_layers == 0 || self.max_seq_len == 0 {
            return fail("vocab_size, num_layers and max_seq_len must be positive".into());
        }
        Ok(())
    }

    /// Parameters, counting a tied head once.
    pub fn num_parameters(&self) -> u64 {
        let (d, f, v) = (
            self.hidden_size as u64,
            self.intermediate_size as u64,
            self.vocab_size as u64,
        );
        let kv = (self.num_kv_heads * self.head_dim()) as u64;
        let attention = d * d * 2 + d * kv * 2;
        let block = attention + 3 * d * f + 2 * d;
        let head = if self.tie_word_embeddings { 0 } else { v * d };
        v * d + self.num_layers as u64 * block + d + head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_has_about_135m_parameters() {
        let n = ModelConfig::smollm2_135m().num_parameters();
        assert!((134_000_000..136_000_000).contains(&n), "{n}");
        assert!(ModelConfig::smollm2_135m().validate().is_ok());
    }
}
