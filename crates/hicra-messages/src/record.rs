//! [`RolloutRecord`]: one rollout as a self-describing line of `RUN/rollouts/*.jsonl`, what
//! `sink.rollouts` writes and `hicra report` / `hicra mine` read back.
//!
//! A record carries everything needed to look at a response token by token without the
//! tokenizer: the prompt and response text, each token's string (its byte span of the text;
//! empty for a token that ends inside a character), the ids, and the per-token figures the
//! stages set (advantage, masks, entropy, log-probability). Masks are written as 0/1 arrays.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::batch::{FinishReason, Group, Rollout, RolloutBatch};
use crate::steps::{StepReward, TreePath};

/// One rollout of one step, with its prompt, as written to disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// Training step of the batch.
    pub step: u64,
    /// Policy version that sampled it.
    pub policy_version: u64,
    /// An evaluation batch (never trained on).
    #[serde(default)]
    pub eval: bool,
    /// The prompt's id and task family.
    pub prompt_id: String,
    pub task: String,
    /// The raw question and the gold answer.
    pub question: String,
    pub gold: String,
    /// Index of the rollout in its prompt's group.
    pub sample: usize,
    /// The decoded response.
    pub response: String,
    /// Each response token as text (its span of `response`).
    pub tokens: Vec<String>,
    /// Byte range of each token in `response`.
    pub token_spans: Vec<(usize, usize)>,
    /// Response token ids and prompt token ids (after the chat template).
    pub token_ids: Vec<u32>,
    pub prompt_token_ids: Vec<u32>,
    pub reward: Option<f64>,
    pub correct: Option<bool>,
    /// The final answer the verifier read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    pub finish: Option<FinishReason>,
    /// Per-token advantage (empty before the credit stage).
    pub advantages: Vec<f32>,
    /// Per-token entropy (nats) and log-probability under the sampling policy.
    pub entropies: Vec<f32>,
    pub logprobs: Vec<f32>,
    /// Named token masks (`planning`, `placebo`...) as 0/1 per token.
    pub masks: BTreeMap<String, Vec<u8>>,
    /// The response's nodes in its prompt's sampling tree (tree rollouts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreePath>,
    /// Scores of the response's steps (after a process reward stage).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_rewards: Vec<StepReward>,
}

impl RolloutRecord {
    /// The record of rollout `sample` of `group` in `batch`.
    pub fn new(batch: &RolloutBatch, group: &Group, sample: usize) -> Self {
        let r = &group.rollouts[sample];
        let tokens = r
            .token_spans
            .iter()
            .map(|&(s, e)| r.text.get(s..e).unwrap_or_default().to_string())
            .collect();
        Self {
            step: batch.step,
            policy_version: batch.policy_version,
            eval: batch.eval,
            prompt_id: group.prompt.id.clone(),
            task: group.prompt.task.clone(),
            question: group.prompt.question.clone(),
            gold: group.prompt.answer.clone(),
            sample,
            response: r.text.clone(),
            tokens,
            token_spans: r.token_spans.clone(),
            token_ids: r.tokens.clone(),
            prompt_token_ids: r.prompt_tokens.clone(),
            reward: r.reward,
            correct: r.correct,
            answer: r.answer.clone(),
            finish: r.finish,
            advantages: r.advantages.clone(),
            entropies: r.entropies.clone(),
            logprobs: r.logprobs.clone(),
            masks: r
                .masks
                .iter()
                .map(|(k, m)| (k.clone(), m.iter().map(|&b| u8::from(b)).collect()))
                .collect(),
            tree: r.tree.clone(),
            step_rewards: r.step_rewards.clone(),
        }
    }

    /// The mask `name` as booleans (all false when absent).
    pub fn mask(&self, name: &str) -> Vec<bool> {
        match self.masks.get(name) {
            Some(m) => m.iter().map(|&b| b != 0).collect(),
            None => vec![false; self.token_ids.len()],
        }
    }

    /// The rollout back (without sampling settings, which records do not keep).
    pub fn to_rollout(&self) -> Rollout {
        Rollout {
            prompt_tokens: self.prompt_token_ids.clone(),
            tokens: self.token_ids.clone(),
            text: self.response.clone(),
            token_spans: self.token_spans.clone(),
            logprobs: self.logprobs.clone(),
            entropies: self.entropies.clone(),
            sampling: None,
            finish: self.finish,
            reward: self.reward,
            correct: self.correct,
            answer: self.answer.clone(),
            masks: self
                .masks
                .keys()
                .map(|k| (k.clone(), self.mask(k)))
                .collect(),
            advantages: self.advantages.clone(),
            tree: self.tree.clone(),
            step_rewards: self.step_rewards.clone(),
        }
    }
}
