//! The [`Labeller`]: labels the steps of one sampled solution, rolling out the prefixes that
//! the settings' [`Strategy`] asks for (every step but the last, or those a binary search for
//! the first bad step visits) and filling in the rest.

use hicra_flow::derive_seed;
use hicra_messages::Prompt;
use hicra_tasks::answers::Checker;

use super::rollout::{Prefix, roll_out};
use super::step_cut::{Cut, cut};
use super::{AnnotateSettings, Completer, Cost, StepTruth, Strategy};
use crate::labels::LabelledSolution;

/// What labels solutions: the completer that rolls out prefixes, the checker that judges
/// completions, the task's own step verdicts if any, and the run's settings.
pub(super) struct Labeller<'a> {
    pub(super) completer: &'a dyn Completer,
    pub(super) checker: &'a dyn Checker,
    pub(super) truth: Option<StepTruth>,
    pub(super) settings: &'a AnnotateSettings,
}

/// The labels of one solution's steps as they are filled in.
struct StepLabels {
    soft: Vec<Option<f64>>,
    hard: Vec<Option<bool>>,
    rollouts: Vec<usize>,
}

impl Labeller<'_> {
    /// Labels solution `j` to `prompt` (its tokens without the stop token).
    pub(super) fn label(
        &self,
        prompt: &Prompt,
        j: usize,
        tokens: Vec<u32>,
        cost: &mut Cost,
    ) -> Result<LabelledSolution, String> {
        let codec = self.completer.codec();
        let cut = cut(&tokens, codec, &self.settings.segmentation)?;
        let outcome = self.checker.judge(prompt, &cut.text).correct;
        let n = cut.steps.len();
        let mut labels = StepLabels {
            soft: vec![None; n],
            hard: vec![None; n],
            rollouts: vec![0; n],
        };
        if n > 0 {
            labels.soft[n - 1] = Some(f64::from(u8::from(outcome)));
            labels.hard[n - 1] = Some(outcome);
        }
        let prompt_ids = codec.encode_prompt(prompt)?;
        let roll = |steps: &[usize], labels: &mut StepLabels, cost: &mut Cost| {
            self.roll_out(
                prompt,
                (&prompt_ids, &tokens),
                (j, steps),
                &cut,
                labels,
                cost,
            )
        };
        match self.settings.strategy {
            Strategy::Full => {
                let steps: Vec<usize> = (0..n.saturating_sub(1)).collect();
                roll(&steps, &mut labels, cost)?;
            }
            Strategy::BinarySearch if outcome => {
                labels.hard.iter_mut().for_each(|h| *h = Some(true));
            }
            Strategy::BinarySearch => {
                // steps < good are known good; step bad is known bad (the last, at first)
                let (mut good, mut bad) = (0usize, n.saturating_sub(1));
                while good < bad {
                    let mid = good + (bad - good) / 2;
                    roll(&[mid], &mut labels, cost)?;
                    if labels.hard[mid] == Some(true) {
                        good = mid + 1;
                    } else {
                        bad = mid;
                    }
                }
                for i in 0..n {
                    labels.hard[i].get_or_insert(i < bad);
                }
            }
        }
        let hard: Vec<bool> = labels.hard.iter().map(|h| h.unwrap_or(false)).collect();
        let soft: Vec<f64> = labels
            .soft
            .iter()
            .zip(&hard)
            .map(|(s, &h)| s.unwrap_or(f64::from(u8::from(h))))
            .collect();
        let step_refs: Vec<&str> = cut.steps.iter().map(String::as_str).collect();
        let truth = self.truth.and_then(|t| t(prompt, &step_refs));
        cost.solutions += 1;
        cost.steps += n;
        let record = LabelledSolution {
            prompt: prompt.clone(),
            response: cut.text,
            segmentation: self.settings.segmentation.clone(),
            steps: cut.steps,
            soft,
            hard,
            rollouts: labels.rollouts,
            truth,
            outcome,
        };
        record.check()?;
        Ok(record)
    }

    /// Rolls out the prefixes ending with `steps` of solution `j` (one batched draw) and fills
    /// in their labels.
    fn roll_out(
        &self,
        prompt: &Prompt,
        (prompt_ids, tokens): (&[u32], &[u32]),
        (j, steps): (usize, &[usize]),
        cut: &Cut,
        labels: &mut StepLabels,
        cost: &mut Cost,
    ) -> Result<(), String> {
        let s = self.settings;
        let prefixes: Vec<Prefix<'_>> = steps
            .iter()
            .map(|&i| Prefix {
                prompt,
                prompt_ids,
                tokens,
                used: cut.token_ends[i],
                seed: derive_seed(s.seed, &format!("complete/{}/{j}/{i}", prompt.id)),
            })
            .collect();
        let rolled = roll_out(self.completer, self.checker, &prefixes, s, cost)?;
        for (&i, r) in steps.iter().zip(rolled) {
            labels.soft[i] = Some(r.correct as f64 / r.drawn.max(1) as f64);
            labels.hard[i] = Some(r.correct > 0);
            labels.rollouts[i] = r.drawn;
        }
        Ok(())
    }
}
