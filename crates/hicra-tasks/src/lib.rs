//! # hicra-tasks: where prompts come from and how answers are judged
//!
//! Sources (`source.*` stages) emit [`Prompt`](hicra_messages::Prompt)s: a question, its gold
//! answer, the chat messages to send, and anything a verifier needs in `meta`. Verifiers
//! (`verifier.*`) read the sampler's batches, set each rollout's reward and correctness, and add
//! reward/accuracy figures to the batch (evaluation batches also go to the metrics sink).
//!
//! - [`dataset`] (`source.dataset`): JSONL and Parquet files, with GSM8K and MATH-500 presets,
//!   seeded train/eval splits, per-epoch shuffles, repeats and line-numbered reports of bad
//!   rows; [`format`]: the system prompt and instruction template every text source uses.
//! - [`arithmetic`] (`source.arithmetic`): multi-step integer arithmetic with difficulty knobs.
//! - [`chains`] (`source.chains`): a start number and a few operations applied in order, a
//!   testbed where every step's correctness is known exactly ([`chains::step_truth`]).
//! - [`countdown`]: Countdown puzzles (`source.countdown`) and their exact checker
//!   (`verifier.countdown`).
//! - [`math`]: the math-answer checker (extract, normalise, parse, compare exactly with big
//!   rationals or numerically, all under hard limits) and the `verifier.math` stage.
//! - [`shaping`] (`reward.shaping`): DAPO's soft overlong penalty, a format reward, length
//!   statistics.
//! - [`scoring`]: the reward table and batch-scoring loop every verifier shares;
//!   [`answers`]: the [`Checker`](answers::Checker) behind each verifier (judge a response,
//!   tell two answers apart), built from a verifier's table by [`checkers`]; [`grading`]: pass@k and majority voting over a group.
//! - [`plan_puzzles`] (the quickstart's strategy task) and [`boxed`] (exact-string verifier).
//! - [`steps`]: how responses are cut into steps (newline, blank line, `Step k`, token count),
//!   shared by step labels, process reward models and step-level search.
//! - [`generator`]: the seeded stream and run loop of the prompt generators.
//!
//! Each source is a pure function of its seed and the prompt index, so a stream can resume
//! anywhere.

pub mod answers;
pub mod arithmetic;
pub mod boxed;
pub mod chains;
pub mod checkers;
pub mod countdown;
pub mod dataset;
pub mod format;
pub mod generator;
pub mod grading;
pub mod math;
pub mod plan_puzzles;
pub mod scoring;
pub mod shaping;
pub mod steps;

/// Registers the task stages.
pub fn register(registry: &mut hicra_flow::Registry) {
    registry
        .register::<plan_puzzles::PlanPuzzlesConfig>()
        .register::<dataset::DatasetConfig>()
        .register::<countdown::CountdownConfig>()
        .register::<arithmetic::ArithmeticConfig>()
        .register::<chains::ChainsConfig>()
        .register::<shaping::ShapingConfig>()
        .register::<countdown::CountdownVerifierConfig>()
        .register::<boxed::BoxedVerifierConfig>()
        .register::<math::stage::MathVerifierConfig>();
}
