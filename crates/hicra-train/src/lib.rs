//! # hicra-train: the stages that learn
//!
//! * `sampler.policy` holds a copy of the policy, turns prompts into groups of rollouts (token
//!   ids, per-token log-probs and entropies, finish reason), stamps them with the policy
//!   version and adopts new weights from its keep-latest `weights` input; in evaluation mode it
//!   measures a fixed prompt set every few versions.
//! * `learner.policy_gradient` owns the trainable policy: an optional supervised warm-up on
//!   worked solutions, then for each credited batch E epochs of shuffled mini-batches, one
//!   AdamW step each, on the chosen objective ([`objective`]: PPO, GSPO, CISPO) inside the
//!   shared loss ([`loss`]: aggregation, KL, entropy), optionally corrected for a sampler that
//!   differs from the learner ([`importance`]), with global-norm clipping ([`clip`]),
//!   micro-batches with gradient accumulation, and NaN/inf steps skipped (the run stops after
//!   N batches in a row). After each batch it sends [`PolicyUpdate`] to every sampler. Its
//!   forward and backward passes run on burn's autodiff or on host kernels ([`pass`]). With
//!   `lora` it trains low-rank adapters on a frozen base instead ([`lora`]).
//!
//! * `tagger.mined_grams` ([`mined_grams`]) tags planning tokens with strategic grams mined
//!   from the run's own correct responses, embedded with the policy's hidden states.
//!
//! Sampler and learner work on one distribution: the sampler records log-probs and entropies
//! of `softmax(logits / T)` and stamps each rollout with its sampling settings; the learner
//! scores every rollout at that temperature, so at equal weights the ratio is 1.
//!
//! The loop closes through the weights edge: on-policy samplers wait for the version matching
//! their step, so sampling and learning alternate; `max_staleness` lets them run ahead.

pub mod checkpoint;
pub mod clip;
pub mod codec;
pub mod dynamic_sampling;
pub mod flat;
pub mod importance;
pub mod learner;
pub mod lora;
pub mod loss;
pub mod micro_batch;
pub mod mined_grams;
pub mod objective;
pub mod pass;
pub mod policy;
pub mod sampler;
pub mod schedule;
pub mod sft;
pub mod trained;
pub mod wire;

pub use codec::TextCodec;
pub use learner::LearnerConfig;
pub use lora::LoraConfig;
pub use micro_batch::plan_micro_batches;
pub use policy::{PolicyModelConfig, PolicyUpdate};
pub use sampler::SamplerConfig;

/// Registers `sampler.policy`, `learner.policy_gradient`, `filter.dynamic_sampling` and
/// `tagger.mined_grams`.
pub fn register(registry: &mut hicra_flow::Registry) {
    registry
        .register::<SamplerConfig>()
        .register::<LearnerConfig>()
        .register::<dynamic_sampling::DynamicSamplingConfig>()
        .register::<mined_grams::MinedGramsConfig>();
}
