//! What every verifier stage shares: the reward table (correct / wrong / unparseable) and the
//! loop that scores each rollout of a batch and adds the reward figures to
//! [`RolloutBatch::metrics`]. Training batches report `reward/mean`, `accuracy/train`,
//! `format/parsed_frac`, `verifier/limit_frac`, `response_length/mean` and `/max` (tokens, or
//! bytes of text when a rollout carries no tokens); evaluation batches use `eval` names and
//! add pass@k and majority-vote accuracy over each prompt's group.

use hicra_flow::{StageContext, StageResult};
use hicra_messages::{MetricsRecord, RolloutBatch};

use crate::answers::Checker;
pub use crate::answers::Score;
use crate::grading::{grade_groups, majority_vote};
use serde::Deserialize;

/// Rewards given per verdict.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Rewards {
    /// Reward of a correct answer.
    pub correct: f64,
    /// Reward of a wrong answer.
    pub wrong: f64,
    /// Reward when no answer can be found or read (a format penalty if negative).
    pub unparseable: f64,
}

impl Default for Rewards {
    fn default() -> Self {
        Self {
            correct: 1.0,
            wrong: 0.0,
            unparseable: 0.0,
        }
    }
}

impl Rewards {
    /// Errors on NaN or infinite rewards.
    pub fn validate(&self) -> Result<(), String> {
        let all = [self.correct, self.wrong, self.unparseable];
        if all.iter().all(|r| r.is_finite()) {
            Ok(())
        } else {
            Err(format!("rewards must be finite numbers, got {all:?}"))
        }
    }

    /// [`validate`](Self::validate) as per-field problems (`rewards.correct`...).
    pub fn problems(&self) -> Vec<hicra_flow::Invalid> {
        [
            ("rewards.correct", self.correct),
            ("rewards.wrong", self.wrong),
            ("rewards.unparseable", self.unparseable),
        ]
        .into_iter()
        .filter(|(_, r)| !r.is_finite())
        .map(|(field, r)| {
            hicra_flow::Invalid::new(field, format!("rewards must be finite numbers, got {r}"))
        })
        .collect()
    }

    pub fn reward(&self, score: &Score) -> f64 {
        match (score.parsed, score.correct) {
            (false, _) => self.unparseable,
            (true, true) => self.correct,
            (true, false) => self.wrong,
        }
    }
}

/// Judges every rollout with `checker`, sets `reward`, `correct` and `answer`, and adds the
/// figures; evaluation batches also get `pass@k/eval` for every reported k and `maj@K/eval`
/// (see [`crate::grading`]), K being the group size.
pub fn score_batch(batch: &mut RolloutBatch, rewards: &Rewards, checker: &dyn Checker) {
    let (mut total, mut correct, mut parsed, mut limited) = (0.0, 0usize, 0usize, 0usize);
    let (mut len_sum, mut len_max, mut count) = (0usize, 0usize, 0usize);
    let mut votes = Vec::with_capacity(batch.groups.len());
    for group in &mut batch.groups {
        for r in &mut group.rollouts {
            let score = checker.judge(&group.prompt, &r.text);
            let reward = rewards.reward(&score);
            r.reward = Some(reward);
            r.correct = Some(score.correct);
            r.answer = score.answer;
            total += reward;
            correct += usize::from(score.correct);
            parsed += usize::from(score.parsed);
            limited += usize::from(score.limited);
            let len = if r.tokens.is_empty() {
                r.text.len()
            } else {
                r.tokens.len()
            };
            len_sum += len;
            len_max = len_max.max(len);
            count += 1;
        }
        if batch.eval {
            let answers: Vec<Option<&str>> =
                group.rollouts.iter().map(|r| r.answer.as_deref()).collect();
            let vote = majority_vote(&answers, |a, b| checker.same_answer(&group.prompt, a, b));
            let correct: Vec<bool> = group
                .rollouts
                .iter()
                .map(|r| r.correct == Some(true))
                .collect();
            votes.push((correct, vote));
        }
    }
    if count == 0 {
        return;
    }
    let n = count as f64;
    let name = |train: &str, eval: &str| if batch.eval { eval } else { train }.to_string();
    let figures = [
        (name("reward/mean", "reward/eval_mean"), total / n),
        (name("accuracy/train", "accuracy/eval"), correct as f64 / n),
        (
            name("format/parsed_frac", "format/eval_parsed_frac"),
            parsed as f64 / n,
        ),
        (
            name("verifier/limit_frac", "verifier/eval_limit_frac"),
            limited as f64 / n,
        ),
        (
            name("response_length/mean", "response_length/eval_mean"),
            len_sum as f64 / n,
        ),
        (
            name("response_length/max", "response_length/eval_max"),
            len_max as f64,
        ),
    ];
    batch.metrics.extend(figures);
    if batch.eval {
        let grades = grade_groups(votes.iter().map(|(c, v)| (c.as_slice(), v)));
        for (k, p) in grades.pass_at {
            batch.metrics.insert(format!("pass@{k}/eval"), p);
        }
        batch
            .metrics
            .insert(format!("maj@{}/eval", grades.samples), grades.majority);
    }
}

/// Runs a verifier's `step` over every batch; evaluation batches also go to `metrics`.
pub fn run_verifier(
    ctx: &mut StageContext,
    mut step: impl FnMut(&mut RolloutBatch),
) -> StageResult {
    let input = ctx.input::<RolloutBatch>("rollouts");
    let out = ctx.output::<RolloutBatch>("rollouts");
    let metrics = ctx.output::<MetricsRecord>("metrics");
    while let Some(mut batch) = input.recv_owned() {
        step(&mut batch);
        if batch.eval {
            metrics.send(MetricsRecord {
                step: batch.step,
                source: ctx.id().into(),
                values: batch.metrics.clone(),
            })?;
        }
        out.send(batch)?;
    }
    Ok(())
}
