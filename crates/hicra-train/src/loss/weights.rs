//! The aggregations as per-token weights: `loss = sum_i sum_t w[i][t] * loss[i][t]`, with the
//! denominators (responses, tokens) taken over the whole mini-batch, so that micro-batches with
//! gradient accumulation (and data-parallel shards) add up to the mini-batch loss exactly.
//!
//! Only tokens *in the loss* count: a token masked by importance sampling (MIS) leaves every
//! denominator exactly as padding does, and a response with no token left leaves the response
//! count of the `seq-mean-*` forms, so a batch with masked tokens weighs the rest as the same
//! batch with those tokens removed would.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossAggregation {
    /// Mean over every response token of the batch (DAPO's default).
    TokenMean,
    /// Mean over responses of each response's token mean (original GRPO; GSPO's own).
    SeqMeanTokenMean,
    /// Mean over responses of each response's token sum.
    SeqMeanTokenSum,
    /// Token sum divided by responses x a constant length (Dr. GRPO).
    SeqMeanTokenSumNorm,
}

impl LossAggregation {
    /// The name written in TOML.
    pub fn name(self) -> &'static str {
        match self {
            LossAggregation::TokenMean => "token-mean",
            LossAggregation::SeqMeanTokenMean => "seq-mean-token-mean",
            LossAggregation::SeqMeanTokenSum => "seq-mean-token-sum",
            LossAggregation::SeqMeanTokenSumNorm => "seq-mean-token-sum-norm",
        }
    }
}

/// The denominators of a mini-batch's aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denominators {
    /// Responses with at least one token in the loss.
    pub responses: usize,
    /// Tokens in the loss (masked tokens and padding excluded).
    pub tokens: usize,
    /// The constant length of `seq-mean-token-sum-norm`.
    pub norm_length: usize,
}

impl Denominators {
    /// From the number of tokens each response of the mini-batch has in the loss.
    pub fn new(kept_per_response: &[usize], norm_length: usize) -> Self {
        Denominators {
            responses: kept_per_response.iter().filter(|&&n| n > 0).count(),
            tokens: kept_per_response.iter().sum(),
            norm_length,
        }
    }
}

/// Weights `w[i][t]` (`[kept.len(), width]`, row-major) for the rows of one micro-batch:
/// `kept[i][t]` says whether token `t` of response `i` is in the loss (its length is the
/// response's); masked tokens and padding get 0.
pub fn token_weights(
    agg: LossAggregation,
    kept: &[Vec<bool>],
    width: usize,
    d: &Denominators,
) -> Vec<f32> {
    let mut w = vec![0f32; kept.len() * width];
    for (i, row) in kept.iter().enumerate() {
        let len = row.iter().filter(|&&k| k).count();
        let value = match agg {
            LossAggregation::TokenMean => 1.0 / d.tokens.max(1) as f64,
            LossAggregation::SeqMeanTokenMean => 1.0 / (len.max(1) * d.responses.max(1)) as f64,
            LossAggregation::SeqMeanTokenSum => 1.0 / d.responses.max(1) as f64,
            LossAggregation::SeqMeanTokenSumNorm => {
                1.0 / (d.responses.max(1) * d.norm_length.max(1)) as f64
            }
        };
        for (t, _) in row.iter().enumerate().filter(|(_, k)| **k) {
            w[i * width + t] = value as f32;
        }
    }
    w
}

/// The loss mask of one micro-batch (`[kept.len(), width]`): 1 on tokens in the loss, 0 on
/// masked tokens and padding.
pub fn loss_mask(kept: &[Vec<bool>], width: usize) -> Vec<f32> {
    let mut m = vec![0f32; kept.len() * width];
    for (i, row) in kept.iter().enumerate() {
        for (t, &k) in row.iter().enumerate() {
            m[i * width + t] = f32::from(u8::from(k));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(lengths: &[usize]) -> Vec<Vec<bool>> {
        lengths.iter().map(|&n| vec![true; n]).collect()
    }

    #[test]
    fn aggregation_weights_sum_as_documented() {
        let kept = all(&[2, 4]);
        let d = Denominators::new(&[2, 4], 8);
        assert_eq!((d.responses, d.tokens), (2, 6));
        let sum = |agg| token_weights(agg, &kept, 4, &d).iter().sum::<f32>();
        assert!((sum(LossAggregation::TokenMean) - 1.0).abs() < 1e-6);
        assert!((sum(LossAggregation::SeqMeanTokenMean) - 1.0).abs() < 1e-6);
        assert!((sum(LossAggregation::SeqMeanTokenSum) - 3.0).abs() < 1e-6);
        assert!((sum(LossAggregation::SeqMeanTokenSumNorm) - 6.0 / 16.0).abs() < 1e-6);
    }

    #[test]
    fn masked_tokens_weigh_as_padding() {
        // row 0 keeps 2 of 3 tokens, row 1 none: one response, two tokens
        let kept = vec![vec![true, false, true], vec![false, false]];
        let d = Denominators::new(&[2, 0], 5);
        assert_eq!((d.responses, d.tokens), (1, 2));
        let w = token_weights(LossAggregation::SeqMeanTokenMean, &kept, 3, &d);
        assert_eq!(w, vec![0.5, 0.0, 0.5, 0.0, 0.0, 0.0]);
        let w = token_weights(LossAggregation::TokenMean, &kept, 3, &d);
        assert_eq!(w, vec![0.5, 0.0, 0.5, 0.0, 0.0, 0.0]);
        let w = token_weights(LossAggregation::SeqMeanTokenSumNorm, &kept, 3, &d);
        assert_eq!(w, vec![0.2, 0.0, 0.2, 0.0, 0.0, 0.0]);
        assert_eq!(loss_mask(&kept, 3), vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    }
}
