//! # hicra-credit: who gets the credit
//!
//! The heart of HICRA, in plain Rust over slices (no tensors). A verified batch arrives with a
//! reward per response; this crate decides how much each *token* is pushed up or down.
//!
//! 1. **Taggers** mark token masks. `tagger.strategic_grams` finds the paper's planning phrases
//!    ("but wait", "let's try a different angle"...) in each response with aho-corasick and
//!    maps their byte spans to tokens through [`Rollout::token_spans`]; `tagger.entropy` and
//!    `tagger.placebo` give the paper's controls.
//! 2. An **estimator** ([`Estimator`]: GRPO, Dr. GRPO, RLOO, REINFORCE++, MaxRL) turns the
//!    rewards of each prompt's group into one advantage per response, copied to each of its
//!    tokens. A group whose rewards are all equal gets zero everywhere and is counted (and
//!    dropped with `zero_variance = "drop"`).
//! 3. **Transforms** ([`Transform`]) reshape token advantages in order: HICRA's
//!    `A + alpha * |A|` on planning tokens, the authors'-code variant, the "80/20" entropy
//!    mask, the placebo.
//! 4. **Metrics** ([`metrics`]) of every batch: planning-token ratio, semantic entropy, token
//!    entropy and perplexity of planning vs execution tokens, advantage mass, zero-variance
//!    groups.
//!
//! 5. **Mining** ([`mining`]): the paper's recipe for finding strategic grams in correct
//!    responses (n-grams embedded, clustered, ranked by cluster document frequency), behind
//!    `tagger.mined_grams` (hicra-train, which embeds with the policy) and `hicra mine`.
//!
//! `credit.grpo` and `credit.hicra` wrap steps 2-4 as stages with the same ports (input and
//! output `rollouts: RolloutBatch`, output `metrics: MetricsRecord`); the estimator is an
//! option of both (`estimator = "rloo"`), so a pipeline switches GRPO <-> HICRA by `kind`
//! alone and estimator by one line. A stage marked `shadow = true` computes and reports on the
//! same samples (metric names prefixed with its stage id) without feeding the learner, so one
//! run compares assigners side by side.
//!
//! Bad input (a missing or non-finite reward, a mask nobody set, per-token arrays of the wrong
//! length) is a [`CreditError`] naming the prompt group and rollout, never a panic.
//!
//! [`Rollout::token_spans`]: hicra_messages::Rollout::token_spans

pub mod access;
pub mod assign;
pub mod credit_stage;
pub mod error;
pub mod estimator;
pub mod lexicon;
pub mod metrics;
pub mod mining;
pub mod step_credit;
pub mod taggers;
pub mod transform;

pub use assign::{AssignReport, CreditAssigner, ZeroVariance};
pub use credit_stage::{GrpoConfig, HicraConfig};
pub use error::CreditError;
pub use estimator::Estimator;
pub use lexicon::{GramMatch, Lexicon};
pub use step_credit::StepCredit;
pub use transform::Transform;

/// Registers the credit and tagger stages.
pub fn register(registry: &mut hicra_flow::Registry) {
    registry
        .register::<GrpoConfig>()
        .register::<HicraConfig>()
        .register::<taggers::StrategicGramsConfig>()
        .register::<taggers::EntropyTaggerConfig>()
        .register::<taggers::PlaceboConfig>();
}
