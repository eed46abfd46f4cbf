//! Step-level credit (docs/formulas/step-credit.md): advantages that differ between the steps
//! of one response, from the two sources of step structure a rollout can carry.
//!
//! - [`tree`]: tree rollouts ([`hicra_messages::TreePath`]). A node's value is the mean
//!   outcome of the leaves below it; a node's tokens get the value change the node caused
//!   (TreeRL's local and global forms, VinePPO's Monte-Carlo values).
//! - [`process`]: process rewards ([`hicra_messages::StepReward`]) from `reward.process`,
//!   normalised over the group's steps and turned into token advantages as DeepSeekMath's
//!   process supervision does (the sum of the step rewards from a token's step on), or per
//!   step, beside the outcome advantage.
//!
//! Either is the `step_credit` option of `credit.grpo` and `credit.hicra`; the token transforms
//! (HICRA, masks) apply on top, so tree credit + HICRA is `kind = "credit.hicra"` with the same
//! `step_credit`.

pub mod process;
#[cfg(test)]
mod tests;
pub mod tree;

use serde::Deserialize;

use crate::error::CreditError;
use crate::estimator::Estimator;

pub use process::{ProcessForm, StepNormalisation};
pub use tree::{TreeAdvantage, TreeReport};

/// Where step-level credit comes from, written `step_credit = { kind = "...", ... }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepCredit {
    /// Tree rollouts: each node's tokens get its value change (replaces the outcome
    /// advantage; the estimator must be `grpo`, whose std normalisation it applies, or
    /// `drgrpo`).
    Tree {
        /// `local` (V(n) - V(parent)), `global` (V(n) - V(root)) or `local_global` (their
        /// sum, TreeRL's).
        #[serde(default)]
        advantage: TreeAdvantage,
        /// Divide each node's advantage by the square root of its leaf count (TreeRL's
        /// re-weighting of shared prefixes).
        #[serde(default)]
        scale_by_leaves: bool,
    },
    /// Process rewards set by `reward.process`, added to the outcome advantage.
    Process {
        /// `return` (a token gets the sum of the normalised scores of its step and every
        /// later step, DeepSeekMath's process supervision) or `step` (its own step's).
        #[serde(default)]
        form: ProcessForm,
        /// How step scores are normalised over the group's steps: `std` (minus the mean,
        /// divided by the std) or `mean` (minus the mean).
        #[serde(default)]
        normalise: StepNormalisation,
        /// Weight of the process part, > 0.
        #[serde(default = "StepCredit::default_weight")]
        weight: f64,
        /// Keep the estimator's outcome advantage beside the process part (false: process
        /// rewards alone).
        #[serde(default = "StepCredit::default_outcome")]
        outcome: bool,
    },
}

impl StepCredit {
    /// Default `weight` of process rewards.
    pub fn default_weight() -> f64 {
        1.0
    }

    /// By default process rewards are added to the outcome advantage.
    pub fn default_outcome() -> bool {
        true
    }

    /// Why this step credit cannot run with `estimator`, if it cannot.
    pub fn validate(&self, estimator: Estimator) -> Result<(), CreditError> {
        match self {
            StepCredit::Tree { .. } => match estimator {
                Estimator::Grpo | Estimator::Drgrpo => Ok(()),
                other => Err(CreditError::Config(format!(
                    "tree credit normalises like `grpo` or `drgrpo`, not `{other}`"
                ))),
            },
            StepCredit::Process { weight, .. } => {
                if weight.is_finite() && *weight > 0.0 {
                    Ok(())
                } else {
                    Err(CreditError::Config(format!(
                        "the process reward weight must be a finite number > 0, got {weight}"
                    )))
                }
            }
        }
    }
}

impl StepCredit {
    /// Replaces (tree) or adds to (process) the outcome token advantages `tokens[group]
    /// [rollout][token]` of `groups`, whose rewards are `rewards`; adds tree figures to
    /// `report`.
    pub fn apply(
        &self,
        groups: &[hicra_messages::Group],
        rewards: &[Vec<f64>],
        estimator: Estimator,
        eps: f64,
        tokens: &mut crate::transform::TokenAdvantages,
        report: &mut TreeReport,
    ) -> Result<(), CreditError> {
        self.validate(estimator)?;
        for ((group, r), adv) in groups.iter().zip(rewards).zip(tokens.iter_mut()) {
            match *self {
                StepCredit::Tree {
                    advantage,
                    scale_by_leaves,
                } => {
                    let tree = tree::TreeCredit {
                        advantage,
                        scale_by_leaves,
                        normalise_std: estimator == Estimator::Grpo,
                        eps,
                    };
                    *adv = tree.group(group, r, report)?;
                }
                StepCredit::Process {
                    form,
                    normalise,
                    weight,
                    outcome,
                } => {
                    let process = process::ProcessCredit {
                        form,
                        normalise,
                        eps,
                    };
                    for (a, p) in adv.iter_mut().zip(process.group(group)?) {
                        for (a, p) in a.iter_mut().zip(p) {
                            *a = if outcome { *a } else { 0.0 } + weight * p;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
