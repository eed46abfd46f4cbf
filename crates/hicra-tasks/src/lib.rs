//! # hicra-tasks: where prompts come from and how answers are judged
//!
//! Sources (`source.*` stages) emit [`Prompt`](hicra_messages::Prompt)s: a question, its gold
//! answer, the chat messages to send, and anything a verifier needs in `meta`. Verifiers
//! (`verifier.*`) read the sampler's batches, set each rollout's reward and correctness, and add
//! reward/accuracy figures to the batch (evaluation batches also go to the metrics sink).
//!
//! - [`math`]: the math-answer checker (extract, normalise, parse, compare exactly with big
//!   rationals or numerically, all under hard limits) and the `verifier.math` stage.
//! - [`scoring`]: the reward table and batch-scoring loop every verifier shares.
//! - [`plan_puzzles`] (the quickstart's strategy task) and [`boxed`] (exact-string verifier).
//!
//! Each source is a pure function of its seed and the prompt index, so a stream can resume
//! anywhere.

pub mod boxed;
pub mod math;
pub mod plan_puzzles;
pub mod scoring;

/// Registers the task stages.
pub fn register(registry: &mut hicra_flow::Registry) {
    registry
        .register::<plan_puzzles::PlanPuzzlesConfig>()
        .register::<boxed::BoxedVerifierConfig>()
        .register::<math::stage::MathVerifierConfig>();
}
