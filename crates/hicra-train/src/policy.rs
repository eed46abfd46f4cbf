//! What the learner owns and shares: the policy's architecture (from TOML), how prompts become
//! model input, and the weights message sent to samplers after every update.

use std::sync::{Arc, Mutex};

use hicra_messages::Prompt;
use hicra_model::{CharTokenizer, CpuBackend, Llama, ModelConfig};
use serde::Deserialize;

/// The policy network, trained from scratch with a character tokenizer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyModelConfig {
    /// Characters the tokenizer knows (two special ids come first: padding, end of text).
    /// Default: printable ASCII and newline.
    #[serde(default = "printable_ascii")]
    pub alphabet: String,
    /// Width of the residual stream. Default: 64.
    #[serde(default = "d64")]
    pub hidden_size: usize,
    /// Width of the SwiGLU layer. Default: 128.
    #[serde(default = "d128")]
    pub intermediate_size: usize,
    /// Decoder blocks. Default: 2.
    #[serde(default = "two")]
    pub num_layers: usize,
    /// Query heads. Default: 4.
    #[serde(default = "four")]
    pub num_heads: usize,
    /// Key/value heads. Default: 2.
    #[serde(default = "two")]
    pub num_kv_heads: usize,
    /// Longest prompt + response, in tokens. Default: 64.
    #[serde(default = "d64")]
    pub max_seq_len: usize,
    /// RoPE base. Default: 10000.
    #[serde(default = "rope_base")]
    pub rope_theta: f32,
}

fn printable_ascii() -> String {
    (32u8..127)
        .map(char::from)
        .chain(std::iter::once('\n'))
        .collect()
}
fn d64() -> usize {
    64
}
fn d128() -> usize {
    128
}
fn two() -> usize {
    2
}
fn four() -> usize {
    4
}
fn rope_base() -> f32 {
    10_000.0
}

impl Default for PolicyModelConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl PolicyModelConfig {
    pub fn tokenizer(&self) -> CharTokenizer {
        CharTokenizer::new(&self.alphabet)
    }

    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            vocab_size: self.tokenizer().vocab_size(),
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_layers,
            num_heads: self.num_heads,
            num_kv_heads: self.num_kv_heads,
            rope_theta: self.rope_theta,
            rms_norm_eps: 1e-5,
            max_seq_len: self.max_seq_len,
            tie_word_embeddings: true,
            attention_bias: false,
        }
    }
}

/// New policy weights, sent by the learner on a keep-latest edge.
pub struct PolicyUpdate {
    /// 0 for the initial weights, then one more per optimiser step.
    pub version: u64,
    pub model: Mutex<Llama<CpuBackend>>,
    pub tokenizer: Arc<CharTokenizer>,
}

impl Clone for PolicyUpdate {
    fn clone(&self) -> Self {
        Self {
            version: self.version,
            model: Mutex::new(self.model()),
            tokenizer: self.tokenizer.clone(),
        }
    }
}

impl PolicyUpdate {
    pub fn model(&self) -> Llama<CpuBackend> {
        self.model.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The text a model sees for a prompt: its messages' contents, one per line, then a newline
/// (the character-level models here use no chat template).
pub fn prompt_text(prompt: &Prompt) -> String {
    let mut text: String = prompt
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text
}

/// Token ids of a prompt, with a clear error for characters outside the alphabet.
pub fn encode_prompt(tokenizer: &CharTokenizer, prompt: &Prompt) -> Result<Vec<u32>, String> {
    tokenizer
        .encode(&prompt_text(prompt))
        .map_err(|e| format!("prompt `{}`: {e}", prompt.id))
}
