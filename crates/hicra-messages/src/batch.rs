use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::prompt::Prompt;
use crate::steps::{StepReward, TreePath};

/// Why generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A stop token or stop string was produced.
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

/// One sampled response to a prompt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// Prompt token ids (after the chat template), as fed to the model.
    pub prompt_tokens: Vec<u32>,
    /// Response token ids.
    pub tokens: Vec<u32>,
    /// The decoded response.
    pub text: String,
    /// Byte range of each response token in `text` (empty ranges for tokens that decode to
    /// nothing on their own, e.g. the first half of a multi-byte character).
    pub token_spans: Vec<(usize, usize)>,
    /// Log-probability of each response token under the sampling policy, at the temperature
    /// of [`Rollout::sampling`] (`softmax(logits / T)` over the whole vocabulary).
    pub logprobs: Vec<f32>,
    /// Entropy (nats) of that same tempered distribution at each response token.
    pub entropies: Vec<f32>,
    /// How the response was drawn; `None` (rollouts read from files): temperature 1, no
    /// truncation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Sampling>,
    pub finish: Option<FinishReason>,
    /// Scalar reward set by the verifier(s).
    pub reward: Option<f64>,
    /// Whether the verifier judged the final answer correct.
    pub correct: Option<bool>,
    /// The final answer the verifier read in `text` (`None`: none found, or not judged yet);
    /// majority voting groups responses by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Named per-token masks set by taggers (`"planning"`, `"placebo"`, `"high_entropy"`).
    pub masks: BTreeMap<String, Vec<bool>>,
    /// Per-token advantages set by the credit stage.
    pub advantages: Vec<f32>,
    /// Where the response sits in its prompt's sampling tree (set by a tree sampler; `None`
    /// for independent samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreePath>,
    /// Scores of the response's reasoning steps (set by `reward.process`; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_rewards: Vec<StepReward>,
}

/// The sampling settings a response was drawn with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Softmax temperature of the draw (0 = greedy).
    pub temperature: f32,
    /// Top-k restriction of the draw (0 = none).
    pub top_k: usize,
    /// Nucleus mass of the draw (1 = none).
    pub top_p: f32,
}

impl Rollout {
    /// The temperature `logprobs` and `entropies` were computed at (1 for greedy draws and
    /// for rollouts without sampling settings); the learner scores at the same one.
    pub fn logprob_temperature(&self) -> f32 {
        match self.sampling {
            Some(s) if s.temperature > 0.0 => s.temperature,
            _ => 1.0,
        }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The mask `name`, or all-false if no tagger set it.
    pub fn mask(&self, name: &str) -> Vec<bool> {
        self.masks
            .get(name)
            .cloned()
            .unwrap_or_else(|| vec![false; self.tokens.len()])
    }
}

/// The G rollouts of one prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub prompt: Arc<Prompt>,
    pub rollouts: Vec<Rollout>,
}

/// Everything one RL step trains on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutBatch {
    /// Training step this batch belongs to (0-based).
    pub step: u64,
    /// Version of the policy weights that sampled it.
    pub policy_version: u64,
    pub groups: Vec<Group>,
    /// Figures added by the stages the batch went through (`reward/mean`, `planning_ratio`...).
    pub metrics: Metrics,
    /// An evaluation batch (held-out prompts): measured, never trained on.
    #[serde(default)]
    pub eval: bool,
}

impl Group {
    pub fn new(prompt: impl Into<Arc<Prompt>>, rollouts: Vec<Rollout>) -> Self {
        Self {
            prompt: prompt.into(),
            rollouts,
        }
    }
}

impl RolloutBatch {
    /// A training batch of `groups` for `step`, sampled by that step's policy
    /// (`policy_version = step`), with no figures yet.
    pub fn new(step: u64, groups: Vec<Group>) -> Self {
        Self {
            step,
            policy_version: step,
            groups,
            metrics: Metrics::new(),
            eval: false,
        }
    }

    pub fn rollouts(&self) -> impl Iterator<Item = &Rollout> {
        self.groups.iter().flat_map(|g| g.rollouts.iter())
    }

    pub fn rollouts_mut(&mut self) -> impl Iterator<Item = &mut Rollout> {
        self.groups.iter_mut().flat_map(|g| g.rollouts.iter_mut())
    }

    pub fn num_rollouts(&self) -> usize {
        self.groups.iter().map(|g| g.rollouts.len()).sum()
    }
}
