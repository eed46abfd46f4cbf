//! What every verifier stage shares: the reward table (correct / wrong / unparseable), the
//! scoring of each rollout of a batch with the reward figures added to
//! [`RolloutBatch::metrics`] ([`score_batch`]), and the running stage ([`Verifier`], a
//! map-like stage that reports evaluation batches). Training batches report `reward/mean`, `accuracy/train`,
//! `format/parsed_frac`, `verifier/limit_frac`, `response_length/mean` and `/max` (tokens, or
//! bytes of text when a rollout carries no tokens); evaluation batches use `eval` names and
//! add pass@k and majority-vote accuracy over each prompt's group.

use hicra_flow::map::{self, Figures, MapLoop, Reporting};
use hicra_flow::{Ports, Stage, StageContext, StageResult};
use hicra_messages::RolloutBatch;

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

/// The running stage of every verifier: [`score_batch`] with one checker and reward table over
/// each batch; evaluation batches are also reported on `metrics` (training batches' figures
/// reach the sink through the learner).
pub struct Verifier<C> {
    pub checker: C,
    pub rewards: Rewards,
}

impl<C: Checker> Verifier<C> {
    /// Scores every rollout of the batch and adds the reward figures.
    pub fn step(&self, batch: &mut RolloutBatch) {
        score_batch(batch, &self.rewards, &self.checker);
    }
}

impl<C: Checker + 'static> Stage for Verifier<C> {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let map = MapLoop::new().reporting(Reporting::Eval);
        map.run(ctx, |batch: &mut RolloutBatch| {
            self.step(batch);
            Ok(Figures::new())
        })
    }
}

/// The ports of a verifier: responses in, the same with rewards out, evaluation figures.
pub fn verifier_ports(input: &'static str, metrics: &'static str) -> Ports {
    map::ports_with_metrics::<RolloutBatch>(input, "the responses with rewards", metrics)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hicra_flow::testing::StageHarness;
    use hicra_messages::{Group, MetricsRecord, Prompt, Rollout};

    use super::*;
    use crate::boxed::BoxedVerifierConfig;

    /// One prompt (answer 7), a right and a wrong response, one figure from upstream.
    fn batch(step: u64, eval: bool) -> RolloutBatch {
        let prompt = Prompt {
            id: "p".into(),
            task: "t".into(),
            question: "q".into(),
            answer: "7".into(),
            messages: vec![],
            meta: Default::default(),
            cursor: 0,
        };
        let rollout = |text: &str| Rollout {
            text: text.into(),
            ..Default::default()
        };
        RolloutBatch {
            step,
            policy_version: step,
            groups: vec![Group {
                prompt: Arc::new(prompt),
                rollouts: vec![rollout("\\boxed{7}"), rollout("\\boxed{8}")],
            }],
            metrics: [("timing/sample_secs".to_string(), 2.0)].into(),
            eval,
        }
    }

    #[test]
    fn a_verifier_reports_evaluation_batches_and_forwards_every_batch() {
        let mut out = StageHarness::new::<BoxedVerifierConfig>("")
            .input("rollouts", vec![batch(0, false), batch(1, true)])
            .run()
            .unwrap();
        let records = out.take::<MetricsRecord>("metrics");
        assert_eq!(
            records.len(),
            1,
            "training figures reach the sink through the learner"
        );
        let (record, values) = (&records[0], &records[0].values);
        assert_eq!((record.step, record.source.as_str()), (1, "stage"));
        assert_eq!(values["accuracy/eval"], 0.5);
        assert_eq!(values["maj@2/eval"], 1.0, "a tie goes to the first answer");
        assert_eq!(
            values["timing/sample_secs"], 2.0,
            "with what the batch carried"
        );
        let sent = out.take::<RolloutBatch>("rollouts");
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].metrics["accuracy/train"], 0.5);
        assert_eq!(sent[0].groups[0].rollouts[0].reward, Some(1.0));
        assert_eq!(
            sent[1].metrics, *values,
            "the record is the batch's figures"
        );
    }
}
