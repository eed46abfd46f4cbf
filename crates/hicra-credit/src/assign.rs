//! Credit assignment over a batch: group rewards -> response advantages -> token advantages
//! -> step-level credit (trees, process rewards; optional) -> transforms in order.

use hicra_messages::RolloutBatch;
use serde::Deserialize;

use crate::error::CreditError;
use crate::estimator::{Estimator, is_zero_variance};
use crate::step_credit::{StepCredit, TreeReport};
use crate::transform::{TokenAdvantages, Transform};

/// What to do with groups whose rewards are all equal (they get zero advantage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroVariance {
    /// Train on them (they contribute nothing but dilute token-mean losses).
    Keep,
    /// Remove them from the batch (DAPO's dynamic-sampling filter).
    Drop,
}

/// The configured pipeline of estimator and transforms.
#[derive(Debug, Clone)]
pub struct CreditAssigner {
    pub estimator: Estimator,
    /// Added to the std in GRPO and REINFORCE++ normalisation.
    pub eps: f64,
    pub transforms: Vec<Transform>,
    pub zero_variance: ZeroVariance,
    /// Step-level credit from sampling trees or process rewards (`None`: the outcome alone).
    pub step_credit: Option<StepCredit>,
}

/// Counts from one assignment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AssignReport {
    pub groups: usize,
    pub zero_variance_groups: usize,
    pub dropped_groups: usize,
    /// Figures of the sampling trees (tree credit only).
    pub tree: TreeReport,
}

impl CreditAssigner {
    /// Fills `advantages` of every rollout; may drop zero-variance groups.
    pub fn assign(&self, batch: &mut RolloutBatch) -> Result<AssignReport, CreditError> {
        let rewards = rewards(batch)?;
        let zero: Vec<bool> = rewards.iter().map(|r| is_zero_variance(r)).collect();
        let mut report = AssignReport {
            groups: batch.groups.len(),
            zero_variance_groups: zero.iter().filter(|z| **z).count(),
            dropped_groups: 0,
            tree: TreeReport::default(),
        };
        let lengths: Vec<Vec<usize>> = batch
            .groups
            .iter()
            .map(|g| g.rollouts.iter().map(|r| r.len()).collect())
            .collect();
        let response = self.estimator.advantages(&rewards, &lengths, self.eps)?;
        let mut tokens: TokenAdvantages = response
            .iter()
            .zip(&lengths)
            .map(|(adv, lens)| adv.iter().zip(lens).map(|(a, n)| vec![*a; *n]).collect())
            .collect();
        if let Some(step) = &self.step_credit {
            step.apply(
                &batch.groups,
                &rewards,
                self.estimator,
                self.eps,
                &mut tokens,
                &mut report.tree,
            )?;
        }
        for t in &self.transforms {
            t.apply(&batch.groups, &mut tokens)?;
        }
        for (group, adv) in batch.groups.iter_mut().zip(tokens) {
            for (rollout, a) in group.rollouts.iter_mut().zip(adv) {
                rollout.advantages = a.into_iter().map(|x| x as f32).collect();
            }
        }
        if self.zero_variance == ZeroVariance::Drop {
            let mut keep = zero.iter().map(|z| !z);
            batch.groups.retain(|_| keep.next().unwrap_or(true));
            report.dropped_groups = report.zero_variance_groups;
        }
        Ok(report)
    }
}

/// Rewards per group; every rollout must have a finite reward.
pub fn rewards(batch: &RolloutBatch) -> Result<Vec<Vec<f64>>, CreditError> {
    batch
        .groups
        .iter()
        .map(|g| {
            g.rollouts
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    let group = || g.prompt.id.clone();
                    match r.reward {
                        None => Err(CreditError::MissingReward {
                            group: group(),
                            index,
                        }),
                        Some(x) if !x.is_finite() => Err(CreditError::NonFiniteReward {
                            group: group(),
                            index,
                            reward: x,
                        }),
                        Some(x) => Ok(x),
                    }
                })
                .collect()
        })
        .collect()
}
