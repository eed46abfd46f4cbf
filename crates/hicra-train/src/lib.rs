//! # hicra-train: the stages that learn
//!
//! * `sampler.policy` holds a copy of the policy, turns prompts into groups of rollouts (token
//!   ids, per-token log-probs and entropies, finish reason), stamps them with the policy
//!   version and adopts new weights from its keep-latest `weights` input; in evaluation mode it
//!   measures a fixed prompt set every few versions.
//! * `learner.policy_gradient` owns the trainable policy: an optional supervised warm-up on
//!   worked solutions, then one AdamW step per credited batch on the clipped surrogate
//!   ([`loss`]), with global-norm clipping ([`clip`]), micro-batches with gradient
//!   accumulation, several epochs, and NaN/inf steps skipped (the run stops after N in a row).
//!   After each update it sends [`PolicyUpdate`] to every sampler.
//!
//! The loop closes through the weights edge: on-policy samplers wait for the version matching
//! their step, so sampling and learning alternate; `max_staleness` lets them run ahead.

pub mod checkpoint;
pub mod clip;
pub mod codec;
pub mod dynamic_sampling;
pub mod learner;
pub mod loss;
pub mod policy;
pub mod sampler;
pub mod schedule;
pub mod sft;

pub use codec::TextCodec;
pub use learner::LearnerConfig;
pub use policy::{PolicyModelConfig, PolicyUpdate};
pub use sampler::SamplerConfig;

/// Registers `sampler.policy` and `learner.policy_gradient`.
pub fn register(registry: &mut hicra_flow::Registry) {
    registry
        .register::<SamplerConfig>()
        .register::<LearnerConfig>()
        .register::<dynamic_sampling::DynamicSamplingConfig>();
}
