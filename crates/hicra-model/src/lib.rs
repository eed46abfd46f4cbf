//! # hicra-model: the policy
//!
//! A Llama-family decoder on burn (RMSNorm, rotary embeddings, grouped-query attention, SwiGLU,
//! optional q/k/v biases, tied or separate head), generic over the backend, and the two things
//! RL asks of it:
//!
//! * [`sample_batch`] draws `n` responses to each of several prompts of any lengths with a KV
//!   cache: the prompts are left-padded and prefilled together once (padding slots hidden by
//!   the attention mask, real tokens numbered from position 0), each prompt's cache is repeated
//!   for its `n` samples (the key/value cache grows in two parts, so a step never copies the
//!   history: [`kv_cache`]), and every generated token comes back with its log-probability and
//!   the entropy of the distribution it was drawn from, all computed on the device
//!   ([`draw`]); stop tokens and stop strings end a row, and finished rows leave the batch.
//!   Each response draws from its own random stream, keyed by its prompt's seed and its
//!   sample index ([`streams`]), so it is the same in any batch and on either path.
//!   On the CPU in f32 the same function runs on host vectors instead ([`native`]: packed
//!   weights, SIMD kernels, a cache per row written in place), 1.6-1.9x llama.cpp's speed on
//!   SmolLM2; a [`Generator`] holds its copy of the weights across calls;
//! * [`Generator::sample_kept`] and [`Generator::branch`] continue sampled responses from any
//!   of their positions (tree rollouts): `n` children per branch point, each what plain
//!   sampling from that prefix draws, continuing the parent's KV cache on both paths
//!   ([`branch`]; on the tensor path the caches are kept in chunks and re-padded per round);
//! * [`score()`] recomputes those log-probabilities and entropies teacher-forced, through the same
//!   layers, differentiably on an autodiff backend: the learner's view of the same numbers
//!   (on SmolLM2 the two agree to 1e-5). On the CPU in f32 the learner takes a host path
//!   instead ([`HostModel`], `native::train`): the same forward pass on host vectors, every
//!   layer's backward written out, products on `gemm`'s kernels, the gradients handed to burn's
//!   optimiser; [`ComputePath`] chooses, and the tests hold its gradients to burn's autodiff.
//!
//! Weights come from a seeded host-side initialisation (the same model on every backend) or
//! from a pretrained checkpoint ([`load_model`]: GGUF or Hugging Face via `hicra-pretrained`;
//! llama.cpp's interleaved Q/K rows are un-permuted so one RoPE kernel serves both). On
//! SmolLM2-135M-Instruct the logits match transformers' float32 forward pass to 4e-5.
//! [`prompt_logits`] gives the next-token distributions `hicra model logits` prints;
//! [`next_token_logprobs`] the log-probabilities of chosen next tokens after many prompts at
//! once (generative judges).
//!
//! Every model runs on [`RuntimeBackend`] (burn's `Dispatch`): the CPU always, CUDA and
//! WebGPU when built with the `cuda` / `wgpu` features, chosen per stage by a [`DeviceSpec`],
//! in f32, or in bf16/f16 where the device supports them ([`Precision`]: weights stored low for
//! sampling, or cast per layer over f32 master weights for training).
//!
//! [`CharTokenizer`] is a character-level tokenizer for models trained from scratch (the
//! quickstart); pretrained checkpoints bring their own.

pub mod branch;
pub mod check;
pub mod config;
pub mod device;
pub mod draw;
pub mod generator;
pub mod inspect;
pub mod kv_cache;
pub mod layers;
pub mod llama;
pub mod native;
pub mod next_token;
pub mod precision;
pub mod pretrained;
pub mod sample;
pub mod score;
pub mod source;
pub mod streams;
mod tensor_decode;
mod tensor_rows;
pub mod to_pretrained;
pub mod tokenizer;

pub use branch::{Branch, KeptRows, branch_on_tensors, sample_kept_on_tensors};
pub use check::{CheckOutcome, check_device, max_abs_diff};
pub use config::ModelConfig;
pub use device::{
    Device, DeviceError, DeviceSpec, RuntimeAutodiff, RuntimeBackend, WgpuAdapter, cpu,
    gpu_memory_reserved,
};
pub use draw::{Picks, pick};
pub use generator::{Generator, sample_batch, sample_group};
pub use inspect::{PositionLogits, PromptLogits, prompt_logits};
pub use kv_cache::KvCache;
pub use llama::Llama;
pub use native::NativeLlama;
pub use native::train::{ComputePath, HostGrads, HostModel, HostScores, HostTape};
pub use next_token::next_token_logprobs;
pub use precision::{Precision, PrecisionError};
pub use pretrained::{PretrainedModelError, model_config};
pub use sample::{Sample, SampleRequest, SamplingParams, stop_strings};
pub use score::{Entropies, Scored, score, score_tempered, score_tempered_with};
pub use source::{CheckpointInfo, LoadedModel, ModelSource, load_model};
pub use streams::response_rng;
pub use tensor_decode::sample_on_tensors;
pub use to_pretrained::llama_config_of;
pub use tokenizer::CharTokenizer;
