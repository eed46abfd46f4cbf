//! The policy-gradient loss (hicra.md §6): the objective's policy term ([`crate::objective`]:
//! PPO, GSPO, CISPO), times optional importance weights, plus an optional KL to a reference
//! policy (k1, k2, k3) and entropy bonus, aggregated in one of four ways.
//!
//! Aggregation is expressed as per-token weights computed over the *whole* batch, so that
//! micro-batches with gradient accumulation give exactly the full-batch gradient.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::Deserialize;

use crate::objective::{Objective, PolicyInputs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossAggregation {
    /// Mean over every response token of the batch (DAPO's default).
    TokenMean,
    /// Mean over responses of each response's token mean (original GRPO).
    SeqMeanTokenMean,
    /// Mean over responses of each response's token sum.
    SeqMeanTokenSum,
    /// Token sum divided by responses x a constant length (Dr. GRPO).
    SeqMeanTokenSumNorm,
}

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

/// Weights `w[i][t]` with `loss = sum_i sum_t w[i][t] * loss[i][t]`, for responses of
/// `lengths`, in a batch of `rows` responses holding `tokens` tokens; `norm_length` is the
/// constant of `seq-mean-token-sum-norm`.
pub fn token_weights(
    agg: LossAggregation,
    lengths: &[usize],
    width: usize,
    rows: usize,
    tokens: usize,
    norm_length: usize,
) -> Vec<f32> {
    let mut w = vec![0f32; lengths.len() * width];
    for (i, &len) in lengths.iter().enumerate() {
        let value = match agg {
            LossAggregation::TokenMean => 1.0 / tokens.max(1) as f64,
            LossAggregation::SeqMeanTokenMean => 1.0 / (len.max(1) * rows.max(1)) as f64,
            LossAggregation::SeqMeanTokenSum => 1.0 / rows.max(1) as f64,
            LossAggregation::SeqMeanTokenSumNorm => 1.0 / (rows.max(1) * norm_length.max(1)) as f64,
        };
        w[i * width..i * width + len]
            .iter_mut()
            .for_each(|x| *x = value as f32);
    }
    w
}

#[derive(Debug, Clone, Copy)]
pub struct SurrogateOptions {
    /// The policy term (PPO, GSPO, CISPO).
    pub objective: Objective,
    pub kl_coef: f64,
    pub kl_estimator: KlEstimator,
    pub entropy_coef: f64,
}

/// The per-token inputs of one micro-batch, all `[rows, width]`.
pub struct SurrogateInputs<B: Backend> {
    pub logprobs: Tensor<B, 2>,
    pub old_logprobs: Tensor<B, 2>,
    pub advantages: Tensor<B, 2>,
    pub mask: Tensor<B, 2>,
    /// The aggregation's per-token weights ([`token_weights`]).
    pub weights: Tensor<B, 2>,
    /// Needed (differentiable) when `entropy_coef > 0`.
    pub entropies: Option<Tensor<B, 2>>,
    pub ref_logprobs: Option<Tensor<B, 2>>,
    /// Constant importance weights multiplying the policy term only ([`crate::importance`]).
    pub importance: Option<Tensor<B, 2>>,
}

/// The weighted loss and the tensors its statistics are read from.
pub struct Surrogate<B: Backend> {
    pub loss: Tensor<B, 1>,
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
    let mut per_token = match x.importance {
        Some(w) => term.per_token * w,
        None => term.per_token,
    };
    let mut kl = None;
    if let (Some(reference), true) = (x.ref_logprobs, o.kl_coef > 0.0) {
        let d = x.logprobs - reference;
        let k = match o.kl_estimator {
            KlEstimator::K1 => d,
            KlEstimator::K2 => d.powf_scalar(2.0) / 2.0,
            KlEstimator::K3 => d.clone().neg().exp() + d - 1.0,
        };
        per_token = per_token + k.clone() * o.kl_coef;
        kl = Some(k);
    }
    if o.entropy_coef > 0.0 {
        let entropies = x
            .entropies
            .expect("entropies are scored when there is an entropy bonus");
        per_token = per_token - entropies * o.entropy_coef;
    }
    let loss = (per_token * x.weights * x.mask).sum();
    Surrogate {
        loss,
        clipped: term.clipped,
        kl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use hicra_model::RuntimeBackend;

    fn t(v: &[f32]) -> Tensor<RuntimeBackend, 2> {
        Tensor::from_data(
            TensorData::new(v.to_vec(), [1, v.len()]),
            &hicra_model::cpu(),
        )
    }

    fn options() -> SurrogateOptions {
        SurrogateOptions {
            objective: Objective::default(),
            kl_coef: 0.0,
            kl_estimator: KlEstimator::K3,
            entropy_coef: 0.0,
        }
    }

    fn inputs(ratio: f32, adv: f32) -> SurrogateInputs<RuntimeBackend> {
        SurrogateInputs {
            logprobs: t(&[ratio.ln()]),
            old_logprobs: t(&[0.0]),
            advantages: t(&[adv]),
            mask: t(&[1.0]),
            weights: t(&[1.0]),
            entropies: Some(t(&[0.5])),
            ref_logprobs: None,
            importance: None,
        }
    }

    #[test]
    fn aggregation_weights_sum_as_documented() {
        let lengths = [2, 4];
        let sum = |agg| token_weights(agg, &lengths, 4, 2, 6, 8).iter().sum::<f32>();
        assert!((sum(LossAggregation::TokenMean) - 1.0).abs() < 1e-6);
        assert!((sum(LossAggregation::SeqMeanTokenMean) - 1.0).abs() < 1e-6);
        assert!((sum(LossAggregation::SeqMeanTokenSum) - 3.0).abs() < 1e-6);
        assert!((sum(LossAggregation::SeqMeanTokenSumNorm) - 6.0 / 16.0).abs() < 1e-6);
    }

    #[test]
    fn importance_weights_scale_the_policy_term_only() {
        let o = SurrogateOptions {
            entropy_coef: 0.1,
            ..options()
        };
        // r = 1, A = 2: policy -2, entropy bonus -0.05; weight 0.5 halves the policy part only
        let plain = surrogate(inputs(1.0, 2.0), &o).loss.into_scalar();
        let weighted = surrogate(
            SurrogateInputs {
                importance: Some(t(&[0.5])),
                ..inputs(1.0, 2.0)
            },
            &o,
        )
        .loss
        .into_scalar();
        assert!((plain - (-2.05)).abs() < 1e-6, "{plain}");
        assert!((weighted - (-1.05)).abs() < 1e-6, "{weighted}");
    }

    #[test]
    fn kl_estimators_by_hand() {
        let o = SurrogateOptions {
            kl_coef: 1.0,
            ..options()
        };
        for (est, want) in [
            (KlEstimator::K1, 0.5f32),
            (KlEstimator::K2, 0.125),
            (KlEstimator::K3, (-0.5f32).exp() + 0.5 - 1.0),
        ] {
            let x = SurrogateInputs {
                logprobs: t(&[0.0]),
                ref_logprobs: Some(t(&[-0.5])),
                ..inputs(1.0, 0.0)
            };
            let got = surrogate(
                x,
                &SurrogateOptions {
                    kl_estimator: est,
                    ..o
                },
            )
            .loss
            .into_scalar();
            assert!((got - want).abs() < 1e-6, "{est:?}: {got}");
        }
    }
}
