//! Training and evaluating a process reward model on labelled solutions.
//!
//! ## Targets
//!
//! Each step's logit is trained with binary cross-entropy against one of four targets
//! ([`PrmTarget`]):
//! - `soft`: Math-Shepherd's soft estimate, the share of completions from the step's prefix
//!   that reached the gold answer (a number in `[0, 1]`; BCE against it is minimised where the
//!   sigmoid equals it);
//! - `hard`: Math-Shepherd's hard estimate, whether any completion did (0 or 1);
//! - `truth`: the task's own verdict on each step, when the generator could judge steps (an
//!   oracle ablation: what the model learns from exact labels);
//! - `outcome`: an outcome reward model (ORM): the verifier's verdict on the whole response, at
//!   the last step only.
//!
//! Steps that end in the same token ([`Encoded::shared_ends`]) are one target, the last of
//! them (the later label wins).
//!
//! ## Loss
//!
//! `mean over labelled positions of max(x, 0) - x·y + ln(1 + e^-|x|)`, the numerically stable
//! form of `-(y ln σ(x) + (1 - y) ln(1 - σ(x)))` ([`bce_with_logits`]). Every labelled position
//! of a batch weighs the same, so a solution with many steps weighs more than a short one. A
//! loss that is NaN or infinite stops training with an error naming the step.
//!
//! ## Held-out problems
//!
//! The held-out set is whole problems (by prompt id, drawn with the seed), so the solutions of
//! one problem never straddle the split and held-out figures measure generalisation to new
//! problems, not to new samples of a seen one.
//!
//! ## Metrics ([`evaluate`])
//!
//! - `loss`: the BCE above on the chosen target;
//! - `step_auc` (with `_low`/`_high`, the 95% interval): per-step scores against the records'
//!   *hard* labels, whatever the target (the hard label is the one every labelled file has and
//!   the binary question a PRM answers: can this prefix still reach the answer?);
//! - `step_auc_truth`: against the generator's step verdicts, where records have them (the
//!   question the Monte-Carlo labels estimate);
//! - `response_auc`: whole responses ranked by their lowest step score (a solution is as good
//!   as its worst step: Lightman et al. 2023 use the product, Wang et al. 2024 the minimum)
//!   against the outcome; `response_auc_last`: ranked by the last step's score, as an ORM reads;
//! - `steps`, `responses`, `shared_ends`: what was counted.
//!
//! This module holds the targets, the configuration, the held-out split and the training loop
//! ([`train`]); the loss is in `loss.rs`, the figures in `evaluation.rs`, and a record made
//! ready for both (encoded, its labels on its step ends) in `example.rs`.

mod evaluation;
mod example;
mod loss;

pub use evaluation::evaluate;
pub use loss::bce_with_logits;

use std::collections::{BTreeMap, BTreeSet};

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::ElementConversion;
use hicra_model::RuntimeAutodiff;
use hicra_train::TextCodec;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::labels::LabelledSolution;
use crate::model::{Encoded, ProcessRewardModel, pad_batch};
use example::{Example, example};
use loss::batch_targets;

/// What each step's logit is trained to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrmTarget {
    /// The soft Monte-Carlo label (share of completions reaching the answer).
    #[default]
    Soft,
    /// The hard Monte-Carlo label (any completion reached the answer).
    Hard,
    /// The generator's own step verdicts (an oracle ablation; records must carry them).
    Truth,
    /// The outcome, at the last step only (an outcome reward model).
    Outcome,
}

impl PrmTarget {
    /// The `(step, label)` pairs of `record` under this target (before shared ends are
    /// resolved).
    pub fn labels(self, record: &LabelledSolution) -> Result<Vec<(usize, f64)>, String> {
        let bit = |b: bool| if b { 1.0 } else { 0.0 };
        Ok(match self {
            Self::Soft => record.soft.iter().copied().enumerate().collect(),
            Self::Hard => record.hard.iter().map(|&h| bit(h)).enumerate().collect(),
            Self::Truth => record
                .truth
                .as_ref()
                .ok_or_else(|| {
                    format!(
                        "solution to `{}` has no step verdicts (`truth`), which target \"truth\" \
                         needs: only tasks that judge steps write them",
                        record.prompt.id
                    )
                })?
                .iter()
                .map(|&t| bit(t))
                .enumerate()
                .collect(),
            Self::Outcome => match record.steps.len() {
                0 => Vec::new(),
                n => vec![(n - 1, bit(record.outcome))],
            },
        })
    }
}

impl std::fmt::Display for PrmTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Soft => "soft",
            Self::Hard => "hard",
            Self::Truth => "truth",
            Self::Outcome => "outcome",
        })
    }
}

/// How a PRM is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrmTrainConfig {
    /// Optimiser steps; when set, `epochs` must be unset.
    pub steps: Option<u64>,
    /// Passes over the training records (used when `steps` is unset; 1 by default).
    pub epochs: Option<u64>,
    /// Solutions per optimiser step.
    pub batch_size: usize,
    /// AdamW learning rate (constant).
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Seed of the head's initialisation (used by the caller that builds the model), the
    /// held-out split and the batch order.
    pub seed: u64,
    /// What each step's logit predicts.
    pub target: PrmTarget,
    /// Share of problems held out for evaluation (ignored when `holdout_problems` is set).
    pub holdout_fraction: f64,
    /// Number of problems held out, instead of a share.
    pub holdout_problems: Option<usize>,
    /// Evaluate on the held-out problems every this many steps (0: only at the end).
    pub eval_every: u64,
    /// Longest example (prompt + response tokens); a longer one is an error naming it. The
    /// policy should be loaded with RoPE tables at least this long.
    pub max_seq_len: usize,
}

impl Default for PrmTrainConfig {
    fn default() -> Self {
        Self {
            steps: None,
            epochs: None,
            batch_size: 8,
            learning_rate: 2e-5,
            weight_decay: 0.0,
            seed: 0,
            target: PrmTarget::Soft,
            holdout_fraction: 0.1,
            holdout_problems: None,
            eval_every: 50,
            max_seq_len: 1024,
        }
    }
}

impl PrmTrainConfig {
    /// Errors on values that cannot train.
    pub fn validate(&self) -> Result<(), String> {
        if self.steps.is_some() && self.epochs.is_some() {
            return Err("give `steps` or `epochs`, not both".into());
        }
        if self.steps == Some(0) || self.epochs == Some(0) {
            return Err("`steps` / `epochs` must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("`batch_size` must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "`learning_rate` must be positive, not {}",
                self.learning_rate
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!(
                "`weight_decay` must be >= 0, not {}",
                self.weight_decay
            ));
        }
        if !(0.0..1.0).contains(&self.holdout_fraction) {
            return Err(format!(
                "`holdout_fraction` must be in [0, 1), not {}",
                self.holdout_fraction
            ));
        }
        if self.max_seq_len == 0 {
            return Err("`max_seq_len` must be at least 1".into());
        }
        Ok(())
    }
}

/// Splits record indices into (train, held-out) by problem id, seeded.
fn split(records: &[LabelledSolution], config: &PrmTrainConfig) -> (Vec<usize>, Vec<usize>) {
    let mut problems: Vec<&str> = records
        .iter()
        .map(|r| r.prompt.id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    problems.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed_0ff1));
    let count = match config.holdout_problems {
        Some(n) => n,
        None => (config.holdout_fraction * problems.len() as f64).round() as usize,
    }
    .min(problems.len().saturating_sub(1));
    let held: BTreeSet<&str> = problems[..count].iter().copied().collect();
    (0..records.len()).partition(|&i| !held.contains(records[i].prompt.id.as_str()))
}

/// Trains `model` on `records` (split into training and held-out problems by `config`),
/// reporting `train/loss` (mean since the last report) and `heldout/*` ([`evaluate`]'s figures)
/// every `eval_every` steps and at the end through `on_metrics`. Returns the trained model and
/// the last figures.
pub fn train(
    config: &PrmTrainConfig,
    mut model: ProcessRewardModel<RuntimeAutodiff>,
    codec: &TextCodec,
    records: &[LabelledSolution],
    on_metrics: &mut dyn FnMut(u64, &BTreeMap<String, f64>),
) -> Result<(ProcessRewardModel<RuntimeAutodiff>, BTreeMap<String, f64>), String> {
    config.validate()?;
    if records.is_empty() {
        return Err("no labelled solutions to train on".into());
    }
    if let Some(other) = records
        .iter()
        .find(|r| r.segmentation != records[0].segmentation)
    {
        return Err(format!(
            "the records mix step segmentations (`{}` and `{}`, at problem `{}`): a PRM reads \
             steps cut one way",
            records[0].segmentation, other.segmentation, other.prompt.id
        ));
    }
    let (train_idx, held_idx) = split(records, config);
    let held: Vec<LabelledSolution> = held_idx.iter().map(|&i| records[i].clone()).collect();
    let room = config.max_seq_len.min(model.max_seq_len());
    let check = |e: &Encoded, id: &str| model.check_fits(e, id);
    let mut examples = Vec::with_capacity(train_idx.len());
    for &i in &train_idx {
        examples.push(example(room, codec, &records[i], config.target, &check)?);
    }
    let unlabelled = examples.iter().filter(|e| e.targets.is_empty()).count();
    examples.retain(|e| !e.targets.is_empty());
    if examples.is_empty() {
        return Err(format!(
            "none of the {} training solutions has a labelled step",
            train_idx.len()
        ));
    }
    let per_epoch = examples.len().div_ceil(config.batch_size) as u64;
    let total = config
        .steps
        .unwrap_or(per_epoch * config.epochs.unwrap_or(1));
    tracing::info!(
        train = examples.len(),
        held_out = held.len(),
        unlabelled,
        steps = total,
        target = %config.target,
        "training a process reward model"
    );
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .init::<RuntimeAutodiff, ProcessRewardModel<RuntimeAutodiff>>();
    let device = model.backbone.device();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = Vec::new();
    let (mut since, mut since_n) = (0.0, 0usize);
    let mut last = BTreeMap::new();
    for step in 1..=total {
        if order.is_empty() {
            // a new epoch; its last batch may be short
            order = (0..examples.len()).collect();
            order.shuffle(&mut rng);
        }
        let take = config.batch_size.min(order.len());
        let batch: Vec<&Example> = order.drain(..take).map(|i| &examples[i]).collect();
        let rows: Vec<&[u32]> = batch.iter().map(|e| e.encoded.ids.as_slice()).collect();
        let tokens = pad_batch::<RuntimeAutodiff>(&rows, &device);
        let width = tokens.dims()[1];
        let (positions, labels) = batch_targets(&batch, width);
        let loss = bce_with_logits(model.logits(tokens), &positions, &labels)?;
        let value: f64 = loss.clone().into_scalar().elem();
        if !value.is_finite() {
            return Err(format!(
                "the PRM loss is {value} at step {step}: lower learning_rate (it is {})",
                config.learning_rate
            ));
        }
        since += value;
        since_n += 1;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(config.learning_rate, model, grads);
        let report = step == total || (config.eval_every > 0 && step % config.eval_every == 0);
        if report {
            let mut m = BTreeMap::new();
            m.insert("train/loss".to_string(), since / since_n as f64);
            m.insert("train/examples".to_string(), examples.len() as f64);
            m.insert("train/step".to_string(), step as f64);
            if !held.is_empty() {
                let figures = evaluate(&model.valid(), codec, &held, config.target)?;
                for (k, v) in figures {
                    m.insert(format!("heldout/{k}"), v);
                }
            }
            (since, since_n) = (0.0, 0);
            on_metrics(step, &m);
            last = m;
        }
    }
    Ok((model, last))
}

#[cfg(test)]
mod tests;
