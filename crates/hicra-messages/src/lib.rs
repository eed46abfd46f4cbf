//! # hicra-messages: what travels on the edges
//!
//! Plain data, no tensors, so every stage family can depend on it. The life of one RL step:
//!
//! 1. a `source.*` stage emits [`Prompt`]s (question, gold answer, chat messages);
//! 2. the sampler turns a batch of prompts into a [`RolloutBatch`]: one [`Group`] of G
//!    [`Rollout`]s per prompt, each with its tokens, per-token log-probs and entropies, the
//!    decoded text and each token's byte span in it, stamped with the policy version;
//! 3. verifiers fill [`Rollout::reward`] (and `correct`), taggers add named token masks
//!    ([`Rollout::masks`], e.g. `"planning"`), a process reward stage may score the steps
//!    ([`Rollout::step_rewards`]), and the credit stage fills [`Rollout::advantages`] (from the
//!    outcome, the step scores, or the sampling tree a tree sampler records in
//!    [`Rollout::tree`]);
//! 4. the learner trains on the batch and sends new weights back to the sampler.
//!
//! Every stage may add scalar figures to [`RolloutBatch::metrics`]; the learner forwards them
//! with its own as one [`MetricsRecord`] per step to the metrics sink. `sink.rollouts` writes
//! chosen rollouts to disk as [`RolloutRecord`]s (one JSON line each), which reports and
//! strategic-gram mining read back. A [`RolloutBatch`] is the batch of hicra-flow's map-like
//! stages (it implements [`hicra_flow::map::Batch`]: port `rollouts`, records [`MetricsRecord`]).

mod batch;
mod flow;
mod metrics;
mod prompt;
mod record;
mod steps;

pub use batch::{FinishReason, Group, Rollout, RolloutBatch, Sampling};
pub use metrics::{Metrics, MetricsRecord};
pub use prompt::{ChatMessage, Prompt};
pub use record::RolloutRecord;
pub use steps::{StepReward, TREE_REPEAT_MASK, TreePath, TreeSegment};

/// Name of the mask set by planning-token taggers (strategic grams).
pub const PLANNING_MASK: &str = "planning";
