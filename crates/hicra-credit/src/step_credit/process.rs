//! Process-reward credit (docs/formulas/step-credit.md#process-rewards). Each response of a
//! group carries scores `s_{i,k}` for its steps `k` (token ranges, set by `reward.process`).
//! They are normalised over all steps of the group's responses (DeepSeekMath, arXiv:2402.03300,
//! section 4.1.3):
//!
//! ```text
//! r_{i,k} = (s_{i,k} - mean(s)) / (std(s) + eps)      (normalise = "std")
//! r_{i,k} =  s_{i,k} - mean(s)                        (normalise = "mean")
//! return: P_{i,t} = sum over steps k of response i with end_k > t of r_{i,k}
//! step:   P_{i,t} = r_{i,k(t)}, the score of the step holding token t
//! A_{i,t} = [outcome] A_i + weight * P_{i,t}
//! ```
//!
//! `return` is DeepSeekMath's process supervision (a token is credited with the rewards of its
//! own and every later step, Math-Shepherd's step-level returns without discount); `step` is
//! the per-step form. `A_i` is the estimator's outcome advantage.

use hicra_messages::{Group, StepReward};
use serde::Deserialize;

use crate::error::CreditError;
use crate::estimator::{is_zero_variance, sample_std};

/// How a step's score reaches the tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessForm {
    /// The sum of the normalised scores of the token's step and all later steps.
    #[default]
    Return,
    /// The normalised score of the token's own step.
    Step,
}

/// How step scores are normalised over a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepNormalisation {
    /// Minus the mean, divided by the (Bessel) std plus eps.
    #[default]
    Std,
    /// Minus the mean.
    Mean,
}

/// How a group's process part is computed.
#[derive(Debug, Clone, Copy)]
pub struct ProcessCredit {
    pub form: ProcessForm,
    pub normalise: StepNormalisation,
    pub eps: f64,
}

impl ProcessCredit {
    /// The process part `P[leaf][token]` of one group (before `weight`).
    pub fn group(&self, group: &Group) -> Result<Vec<Vec<f64>>, CreditError> {
        for (index, r) in group.rollouts.iter().enumerate() {
            check_steps(&r.step_rewards, r.len()).map_err(|why| CreditError::StepStructure {
                group: group.prompt.id.clone(),
                index,
                why,
            })?;
        }
        let scores: Vec<f64> = group
            .rollouts
            .iter()
            .flat_map(|r| r.step_rewards.iter().map(|s| s.score))
            .collect();
        if is_zero_variance(&scores) {
            return Ok(group.rollouts.iter().map(|r| vec![0.0; r.len()]).collect());
        }
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        let scale = match self.normalise {
            StepNormalisation::Std => 1.0 / (sample_std(&scores, mean) + self.eps),
            StepNormalisation::Mean => 1.0,
        };
        Ok(group
            .rollouts
            .iter()
            .map(|r| {
                let normal: Vec<f64> = r
                    .step_rewards
                    .iter()
                    .map(|s| (s.score - mean) * scale)
                    .collect();
                let mut out = vec![0.0; r.len()];
                let mut later = 0.0;
                for (s, n) in r.step_rewards.iter().zip(&normal).rev() {
                    later += n;
                    let value = match self.form {
                        ProcessForm::Return => later,
                        ProcessForm::Step => *n,
                    };
                    out[s.start as usize..s.end as usize].fill(value);
                }
                out
            })
            .collect())
    }
}

/// Steps must be finite, non-empty unless the response is, contiguous from token 0 and end at
/// the response's length.
fn check_steps(steps: &[StepReward], len: usize) -> Result<(), String> {
    if steps.is_empty() {
        return if len == 0 {
            Ok(())
        } else {
            Err("no step rewards (process credit needs a `reward.process` stage upstream)".into())
        };
    }
    let mut at = 0u32;
    for (k, s) in steps.iter().enumerate() {
        if s.start != at || s.end <= s.start {
            return Err(format!(
                "step {k} spans tokens {}..{} where {at}.. was expected",
                s.start, s.end
            ));
        }
        if !s.score.is_finite() {
            return Err(format!("step {k} has a non-finite score ({})", s.score));
        }
        at = s.end;
    }
    if at as usize != len {
        return Err(format!("the steps cover {at} of {len} tokens"));
    }
    Ok(())
}
