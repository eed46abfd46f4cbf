//! The policy-gradient loss (hicra.md §6): clipped surrogate with separate lower and upper
//! clip ranges (DAPO's clip-higher), optional dual clip, optional KL to a reference policy
//! (k1, k2, k3) and entropy bonus, aggregated in one of four ways.
//!
//! Aggregation is expressed as per-token weights computed over the *whole* batch, so that
//! micro-batches with gradient accumulation give exactly the full-batch gradient.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::Deserialize;

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
    pub eps_low: f64,
    pub eps_high: f64,
    /// Dual-clip constant c (> 1) bounding the loss of negative-advantage tokens; 0 = off.
    pub dual_clip: f64,
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
    pub weights: Tensor<B, 2>,
    pub entropies: Tensor<B, 2>,
    pub ref_logprobs: Option<Tensor<B, 2>>,
}

/// The weighted loss and the tensors its statistics are read from.
pub struct Surrogate<B: Backend> {
    pub loss: Tensor<B, 1>,
    /// 1 where the clipped branch was taken (masked).
    pub clipped: Tensor<B, 2>,
    pub ratio: Tensor<B, 2>,
    pub kl: Option<Tensor<B, 2>>,
}

pub fn surrogate<B: Backend>(x: SurrogateInputs<B>, o: &SurrogateOptions) -> Surrogate<B> {
    let ratio = (x.logprobs.clone() - x.old_logprobs).exp();
    let unclipped = ratio.clone() * x.advantages.clone();
    let clipped_ratio = ratio.clone().clamp(1.0 - o.eps_low, 1.0 + o.eps_high);
    let clipped = clipped_ratio * x.advantages.clone();
    let mut per_token = unclipped.clone().min_pair(clipped.clone()).neg();
    let took_clip = clipped.lower(unclipped).float() * x.mask.clone();
    if o.dual_clip > 0.0 {
        let bound = x.advantages.clone() * (-o.dual_clip);
        let negative = x.advantages.clone().lower_elem(0.0);
        let capped = per_token.clone().min_pair(bound);
        per_token = per_token.mask_where(negative, capped);
    }
    let mut kl = None;
    if let (Some(reference), true) = (x.ref_logprobs, o.kl_coef > 0.0) {
        let d = x.logprobs.clone() - reference;
        let k = match o.kl_estimator {
            KlEstimator::K1 => d,
            KlEstimator::K2 => d.powf_scalar(2.0) / 2.0,
            KlEstimator::K3 => d.clone().neg().exp() + d - 1.0,
        };
        per_token = per_token + k.clone() * o.kl_coef;
        kl = Some(k);
    }
    if o.entropy_coef > 0.0 {
        per_token = per_token - x.entropies * o.entropy_coef;
    }
    let loss = (per_token * x.weights * x.mask).sum();
    Surrogate {
        loss,
        clipped: took_clip,
        ratio,
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
            eps_low: 0.2,
            eps_high: 0.28,
            dual_clip: 0.0,
            kl_coef: 0.0,
            kl_estimator: KlEstimator::K3,
            entropy_coef: 0.0,
        }
    }

    fn per_token(ratios: &[f32], adv: &[f32], o: &SurrogateOptions) -> Vec<f32> {
        (0..ratios.len())
            .map(|i| {
                let inputs = SurrogateInputs {
                    logprobs: t(&[ratios[i].ln()]),
                    old_logprobs: t(&[0.0]),
                    advantages: t(&[adv[i]]),
                    mask: t(&[1.0]),
                    weights: t(&[1.0]),
                    entropies: t(&[0.0]),
                    ref_logprobs: None,
                };
                surrogate(inputs, o).loss.into_scalar()
            })
            .collect()
    }

    #[test]
    fn clip_higher_bounds_each_side_separately() {
        let got = per_token(
            &[1.5, 1.5, 0.5, 0.5, 1.0],
            &[1.0, -1.0, 1.0, -1.0, 2.0],
            &options(),
        );
        // -min(rA, clip(r)A): r=1.5,A=1 -> -1.28; r=1.5,A=-1 -> 1.5; r=.5,A=1 -> -.5; r=.5,A=-1 -> .8
        let want = [-1.28, 1.5, -0.5, 0.8, -2.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?}");
        }
    }

    #[test]
    fn dual_clip_caps_negative_advantage_losses() {
        let o = SurrogateOptions {
            dual_clip: 3.0,
            ..options()
        };
        let got = per_token(&[10.0, 10.0], &[-1.0, 1.0], &o);
        assert!(
            (got[0] - 3.0).abs() < 1e-5 && (got[1] + 1.28).abs() < 1e-5,
            "{got:?}"
        );
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
            let inputs = SurrogateInputs {
                logprobs: t(&[0.0]),
                old_logprobs: t(&[0.0]),
                advantages: t(&[0.0]),
                mask: t(&[1.0]),
                weights: t(&[1.0]),
                entropies: t(&[0.0]),
                ref_logprobs: Some(t(&[-0.5])),
            };
            let got = surrogate(
                inputs,
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
