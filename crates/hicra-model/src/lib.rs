//! # hicra-model: the policy
//!
//! A Llama-family decoder on burn (RMSNorm, rotary embeddings, grouped-query attention, SwiGLU,
//! tied or separate head), generic over the backend, and the two things RL asks of it:
//!
//! * [`sample_group`] draws G responses to a prompt with a KV cache (the prompt is prefilled
//!   once and its cache repeated for the group) and returns, for every generated token, its id,
//!   its log-probability and the entropy of the distribution it came from;
//! * [`score`] recomputes those log-probabilities and entropies teacher-forced, through the same
//!   layers, differentiably on an autodiff backend: the learner's view of the same numbers.
//!
//! [`CharTokenizer`] is a character-level tokenizer for models trained from scratch (the
//! quickstart); pretrained checkpoints bring their own.

pub mod config;
pub mod inspect;
pub mod layers;
pub mod llama;
pub mod pretrained;
pub mod sample;
pub mod score;
pub mod source;
pub mod tokenizer;

pub use config::ModelConfig;
pub use inspect::{PositionLogits, PromptLogits, prompt_logits};
pub use llama::{KvCache, Llama};
pub use pretrained::{PretrainedModelError, model_config};
pub use sample::{
    Sample, SamplingParams, sample_batch, sample_batch_until, sample_group, stop_strings,
};
pub use score::{Scored, score};
pub use source::{CheckpointInfo, LoadedModel, ModelSource, load_model};
pub use tokenizer::CharTokenizer;

/// The CPU backend (burn's pure-Rust `flex`).
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend with autodiff, for learners.
pub type CpuAutodiff = burn::backend::Autodiff<CpuBackend>;
