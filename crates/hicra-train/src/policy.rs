//! What the learner owns and shares: the policy's architecture (from TOML), how prompts become
//! model input, and the weights message sent to samplers after every update.

use std::sync::{Arc, Mutex};

use hicra_model::{CharTokenizer, Device, Llama, ModelConfig, RuntimeAutodiff, RuntimeBackend};

use crate::codec::TextCodec;
use serde::{Deserialize, Serialize};

/// The policy network: a pretrained checkpoint (`checkpoint = "smollm2"`), or a small model
/// trained from scratch with a character tokenizer (the architecture fields below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyModelConfig {
    /// A pretrained model: a `.gguf` file, a Hugging Face directory, a hicra run (its newest
    /// checkpoint) or checkpoint directory, `smollm2` (the GGUF `scripts/fetch-model.sh`
    /// fetches) or `random:smollm2-135m` (that shape, random weights,
    /// no tokenizer: not usable here). When set, the architecture and alphabet come from the
    /// checkpoint and the fields below except `max_seq_len` must be left out; absent = a
    /// model trained from scratch.
    pub checkpoint: Option<String>,
    /// Characters the tokenizer knows (two special ids come first: padding, end of text);
    /// printable ASCII and newline unless given.
    pub alphabet: String,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU layer.
    pub intermediate_size: usize,
    /// Decoder blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Longest prompt + response, in tokens (also for checkpoints: the RoPE table size).
    pub max_seq_len: usize,
    /// RoPE base.
    pub rope_theta: f32,
}

fn printable_ascii() -> String {
    (32u8..127)
        .map(char::from)
        .chain(std::iter::once('\n'))
        .collect()
}

impl Default for PolicyModelConfig {
    fn default() -> Self {
        Self {
            checkpoint: None,
            alphabet: printable_ascii(),
            hidden_size: 64,
            intermediate_size: 128,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            max_seq_len: 64,
            rope_theta: 10_000.0,
        }
    }
}

impl PolicyModelConfig {
    /// The from-scratch model's architecture (vocabulary: the alphabet plus two specials).
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            vocab_size: CharTokenizer::new(&self.alphabet).vocab_size(),
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

    /// The initial policy on `device` (autodiff) and its codec: the checkpoint's weights and
    /// tokenizer, or a fresh model seeded with `seed` and the character alphabet.
    pub fn build(
        &self,
        seed: u64,
        device: &Device,
    ) -> Result<(Llama<RuntimeAutodiff>, ModelConfig, TextCodec), String> {
        let Some(checkpoint) = &self.checkpoint else {
            let codec = CharTokenizer::new(&self.alphabet);
            let config = self.model_config();
            config.validate()?;
            return Ok((
                Llama::init(&config, seed, device),
                config,
                TextCodec::Chars(codec),
            ));
        };
        let defaults = Self {
            checkpoint: self.checkpoint.clone(),
            max_seq_len: self.max_seq_len,
            ..Self::default()
        };
        if *self != defaults {
            return Err(format!(
                "model.checkpoint = {checkpoint:?} brings its own architecture and tokenizer; \
                 remove the other model fields (only max_seq_len applies)"
            ));
        }
        let loaded = crate::trained::load_policy::<RuntimeAutodiff>(
            checkpoint,
            Some(self.max_seq_len),
            device,
        )
        .map_err(|e| format!("model.checkpoint: {e}"))?;
        let info = loaded.checkpoint.ok_or_else(|| {
            format!("model.checkpoint = {checkpoint:?} has no tokenizer; a policy needs one")
        })?;
        Ok((
            loaded.model,
            loaded.config,
            TextCodec::Pretrained(Box::new(info)),
        ))
    }
}

/// New policy weights, sent by the learner on a keep-latest edge.
pub struct PolicyUpdate {
    /// 0 for the initial weights, then one more per optimiser step.
    pub version: u64,
    pub model: Mutex<Llama<RuntimeBackend>>,
    pub codec: Arc<TextCodec>,
    /// The architecture (what a process receiving these weights builds its model from).
    pub config: ModelConfig,
}

impl Clone for PolicyUpdate {
    fn clone(&self) -> Self {
        Self {
            version: self.version,
            model: Mutex::new(self.model()),
            codec: self.codec.clone(),
            config: self.config.clone(),
        }
    }
}

impl PolicyUpdate {
    pub fn model(&self) -> Llama<RuntimeBackend> {
        self.model.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
