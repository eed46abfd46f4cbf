//! # hicra-tasks: where prompts come from and how answers are judged
//!
//! Sources (`source.*` stages) emit [`Prompt`](hicra_messages::Prompt)s: a question, its gold
//! answer, the chat messages to send, and anything a verifier needs in `meta`. Verifiers
//! (`verifier.*`) read the sampler's batches, set each rollout's reward and correctness, and add
//! reward/accuracy figures to the batch (evaluation batches also go to the metrics sink).
//!
//! Today: [`plan_puzzles`], the quickstart's strategy task, and [`boxed`], an exact-answer
//! verifier. Each source is a pure function of its seed and the prompt index, so a stream can
//! resume anywhere.

pub mod boxed;
pub mod plan_puzzles;

/// Registers the task stages.
pub fn register(registry: &mut hicra_flow::Registry) {
    registry
        .register::<plan_puzzles::PlanPuzzlesConfig>()
        .register::<boxed::BoxedVerifierConfig>();
}
