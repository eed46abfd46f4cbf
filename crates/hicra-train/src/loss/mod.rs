//! The policy-gradient loss (docs/formulas/objectives.md#the-loss): the objective's policy term
//! ([`crate::objective`]:
//! PPO, GSPO, CISPO), times optional importance weights, plus an optional KL to a reference
//! policy (k1, k2, k3) and entropy term, aggregated in one of four ways.
//!
//! Aggregation is expressed as per-token weights computed over the *whole* mini-batch
//! ([`weights`]), so that micro-batches with gradient accumulation give exactly the
//! mini-batch gradient. Tokens masked by importance sampling are treated as padding: out of
//! every term and every denominator. The entropy term is `-entropy_coef * H`: a bonus when the
//! coefficient is positive, a penalty when it is negative. The three parts are returned apart
//! as well as summed, so the learner reports the policy term alone (`loss/policy`) beside
//! `loss/kl`, `loss/entropy` and `loss/total`.

pub mod weights;

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::Deserialize;

use crate::objective::{Objective, PolicyInputs};

pub use weights::{Denominators, LossAggregation, loss_mask, token_weights};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlEstimator {
    /// `x`
    K1,
    /// `x^2 / 2`
    K2,
    /// `exp(-x) + x - 1`
    K3,
}

#[derive(Debug, Clone, Copy)]
pub struct SurrogateOptions {
    /// The policy term (PPO, GSPO, CISPO).
    pub objective: Objective,
    pub kl_coef: f64,
    pub kl_estimator: KlEstimator,
    /// `> 0` rewards entropy (bonus), `< 0` penalises it, `0` leaves it out.
    pub entropy_coef: f64,
}

/// The per-token inputs of one micro-batch, all `[rows, width]`.
pub struct SurrogateInputs<B: Backend> {
    pub logprobs: Tensor<B, 2>,
    pub old_logprobs: Tensor<B, 2>,
    pub advantages: Tensor<B, 2>,
    /// 1 on tokens in the loss, 0 on padding and on tokens masked by importance sampling
    /// ([`loss_mask`]).
    pub mask: Tensor<B, 2>,
    /// The aggregation's per-token weights ([`token_weights`]).
    pub weights: Tensor<B, 2>,
    /// Needed (differentiable) when `entropy_coef != 0`.
    pub entropies: Option<Tensor<B, 2>>,
    pub ref_logprobs: Option<Tensor<B, 2>>,
    /// Constant importance weights multiplying the policy term only ([`crate::importance`]).
    pub importance: Option<Tensor<B, 2>>,
}

/// The weighted loss, its parts, and the tensors its statistics are read from.
pub struct Surrogate<B: Backend> {
    /// `policy + kl_term + entropy_term`, the tensor to differentiate.
    pub loss: Tensor<B, 1>,
    /// The aggregated policy term (importance weights included).
    pub policy: Tensor<B, 1>,
    /// The aggregated `kl_coef * KL` (when the KL is on).
    pub kl_term: Option<Tensor<B, 1>>,
    /// The aggregated `-entropy_coef * H` (when `entropy_coef != 0`).
    pub entropy_term: Option<Tensor<B, 1>>,
    /// 1 where the objective clipped the token (masked).
    pub clipped: Tensor<B, 2>,
    pub kl: Option<Tensor<B, 2>>,
}

/// `sum_t w_t * mask_t * (iw_t * policy_t + kl_coef * kl_t - entropy_coef * H_t)`.
pub fn surrogate<B: Backend>(x: SurrogateInputs<B>, o: &SurrogateOptions) -> Surrogate<B> {
    let term = o.objective.policy_term(PolicyInputs {
        logprobs: x.logprobs.clone(),
        old_logprobs: x.old_logprobs,
        advantages: x.advantages,
        mask: x.mask.clone(),
    });
    let scale = x.weights * x.mask;
    let per_token = match x.importance {
        Some(w) => term.per_token * w,
        None => term.per_token,
    };
    let policy = (per_token * scale.clone()).sum();
    let mut loss = policy.clone();
    let (mut kl, mut kl_term) = (None, None);
    if let (Some(reference), true) = (x.ref_logprobs, o.kl_coef > 0.0) {
        let d = x.logprobs - reference;
        let k = match o.kl_estimator {
            KlEstimator::K1 => d,
            KlEstimator::K2 => d.powf_scalar(2.0) / 2.0,
            KlEstimator::K3 => d.clone().neg().exp() + d - 1.0,
        };
        let part = (k.clone() * scale.clone()).sum() * o.kl_coef;
        loss = loss + part.clone();
        kl_term = Some(part);
        kl = Some(k);
    }
    let mut entropy_term = None;
    if o.entropy_coef != 0.0 {
        let entropies = x
            .entropies
            .expect("entropies are scored when there is an entropy term");
        let part = (entropies * scale).sum() * (-o.entropy_coef);
        loss = loss + part.clone();
        entropy_term = Some(part);
    }
    Surrogate {
        loss,
        policy,
        kl_term,
        entropy_term,
        clipped: term.clipped,
        kl,
    }
}
