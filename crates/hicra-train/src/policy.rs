//! What the learner owns and shares: the policy's architecture (from TOML), how prompts become
//! model input, and the weights message sent to samplers after every update: the whole model,
//! or with LoRA the frozen base (one `Arc` for every update) and the step's adapters, merged
//! by [`PolicyUpdate::model`] where the policy is used.

use std::sync::{Arc, Mutex};

use burn::module::Module;
use hicra_model::{CharTokenizer, Device, Llama, ModelConfig, RuntimeAutodiff, RuntimeBackend};

use crate::codec::TextCodec;
use crate::lora::LoraAdapters;
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
    /// The parameters: the whole model, or a LoRA base and adapters ([`model`](Self::model)
    /// gives the policy either way).
    pub weights: PolicyWeights,
    pub codec: Arc<TextCodec>,
    /// The architecture (what a process receiving these weights builds its model from).
    pub config: ModelConfig,
}

/// How a [`PolicyUpdate`] holds its parameters.
// one value per policy version: the whole model's handles need no box
#[allow(clippy::large_enum_variant)]
pub enum PolicyWeights {
    /// Every parameter (a learner without LoRA).
    Whole(Mutex<Llama<RuntimeBackend>>),
    /// A LoRA learner's: the frozen base, one `Arc` shared by all its updates, and this
    /// version's adapters (small); the policy is their merge.
    Lora(LoraWeights),
}

/// A LoRA policy as an update carries it: `W = W0 + scale * B A` on the adapters' layers.
pub struct LoraWeights {
    pub base: Arc<SharedBase>,
    pub adapters: Mutex<LoraAdapters<RuntimeBackend>>,
    /// `alpha / rank`.
    pub scale: f64,
}

/// A frozen LoRA base `W0`, named by the SHA-256 of its weights (`lora.json`'s `base.sha256`,
/// [`crate::lora::weights_sha256`]): the weights edge between processes sends it once and
/// then names it.
pub struct SharedBase {
    pub sha256: String,
    model: Mutex<Llama<RuntimeBackend>>,
}

impl SharedBase {
    /// `model` as the base hashing to `sha256` (not checked: the caller hashed it).
    pub fn new(model: Llama<RuntimeBackend>, sha256: String) -> Self {
        Self {
            sha256,
            model: Mutex::new(model),
        }
    }

    /// The base (a clone of its tensors' handles, not of their values).
    pub fn model(&self) -> Llama<RuntimeBackend> {
        self.model.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl LoraWeights {
    /// The adapters (handles, as [`SharedBase::model`]).
    pub fn adapters(&self) -> LoraAdapters<RuntimeBackend> {
        self.adapters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Clone for PolicyUpdate {
    fn clone(&self) -> Self {
        let weights = match &self.weights {
            PolicyWeights::Whole(_) => PolicyWeights::Whole(Mutex::new(self.model())),
            PolicyWeights::Lora(lora) => PolicyWeights::Lora(LoraWeights {
                base: lora.base.clone(),
                adapters: Mutex::new(lora.adapters()),
                scale: lora.scale,
            }),
        };
        Self {
            version: self.version,
            weights,
            codec: self.codec.clone(),
            config: self.config.clone(),
        }
    }
}

impl PolicyUpdate {
    /// An update carrying every parameter of `model`.
    pub fn whole(
        version: u64,
        model: Llama<RuntimeBackend>,
        codec: Arc<TextCodec>,
        config: ModelConfig,
    ) -> Self {
        Self {
            version,
            weights: PolicyWeights::Whole(Mutex::new(model)),
            codec,
            config,
        }
    }

    /// The policy. For LoRA weights each call merges `W0 + scale * (B A)^T` into every
    /// adapted layer of the base, on the base's device, with the learner's own operations
    /// (so the same bits as its merged model there); the other tensors are the base's.
    pub fn model(&self) -> Llama<RuntimeBackend> {
        match &self.weights {
            PolicyWeights::Whole(model) => model.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            PolicyWeights::Lora(lora) => lora.adapters().merged(&lora.base.model(), lora.scale),
        }
    }

    /// The parameter bytes (f32) this update carries between processes: the whole model, or
    /// the adapters plus, `with_base`, the base (sent once per edge).
    pub fn update_bytes(&self, with_base: bool) -> usize {
        4 * match &self.weights {
            PolicyWeights::Whole(model) => {
                model.lock().unwrap_or_else(|e| e.into_inner()).num_params()
            }
            PolicyWeights::Lora(lora) => {
                let base = if with_base {
                    lora.base.model().num_params()
                } else {
                    0
                };
                lora.adapters().num_params() + base
            }
        }
    }
}
