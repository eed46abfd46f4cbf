//! [`crate::draw::pick`]'s rules on host rows: the tempered log-softmax, its entropy, and the
//! draw by inverse CDF (greedy, plain, top-k, top-p), row by row over the thread pool. On the
//! CPU the `[rows, vocab]` logits already live in host memory, and one pass per row here
//! replaces a dozen vocabulary-wide tensor ops (each a fresh buffer): at batch 64 the pick
//! took a quarter of a decode step through the tensor ops. The tests hold both to the same
//! tokens for the same uniform numbers, and to the same log-probabilities and entropies.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::draw::{Picks, SamplingParams, draws_uniforms};

/// Rows of fewer entries than this in all are picked on the calling thread.
const SERIAL_ENTRIES: usize = 1 << 18;

/// One row's pick: the token, its log-probability and the entropy of the row.
type Pick = (u32, f32, f32);

/// Picks a token for every row of `logits: [rows, vocab]` under `params`; `uniforms` holds
/// one number in `[0, 1)` per row when [`draws_uniforms`].
pub(crate) fn pick(
    logits: &[f32],
    vocab: usize,
    params: &SamplingParams,
    uniforms: &[f64],
) -> Picks {
    let rows = logits.len() / vocab;
    if draws_uniforms(params) {
        assert_eq!(uniforms.len(), rows, "one uniform number per row");
    }
    let one = |(i, row): (usize, &[f32])| pick_row(row, params, uniforms.get(i).copied());
    let picked: Vec<Pick> = if logits.len() < SERIAL_ENTRIES {
        logits.chunks_exact(vocab).enumerate().map(one).collect()
    } else {
        logits
            .par_chunks_exact(vocab)
            .enumerate()
            .map(one)
            .collect()
    };
    let mut picks = Picks::default();
    for (token, logprob, entropy) in picked {
        picks.tokens.push(token);
        picks.logprobs.push(logprob);
        picks.entropies.push(entropy);
    }
    picks
}

fn pick_row(logits: &[f32], params: &SamplingParams, u: Option<f64>) -> Pick {
    let temperature = params.logprob_temperature();
    let scaled: Cow<'_, [f32]> = if temperature == 1.0 {
        Cow::Borrowed(logits)
    } else {
        Cow::Owned(logits.iter().map(|l| l / temperature).collect())
    };
    let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // probabilities up to the normaliser `total`
    let weights: Vec<f32> = scaled.iter().map(|&s| (s - max).exp()).collect();
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let log_z = f64::from(max) + total.ln();
    let entropy = -weights
        .iter()
        .zip(scaled.iter())
        .filter(|(w, _)| **w > 0.0)
        .map(|(&w, &s)| f64::from(w) / total * (f64::from(s) - log_z))
        .sum::<f64>();
    let token = match u {
        Some(u) if draws_uniforms(params) => {
            if params.top_k == 0 && params.top_p >= 1.0 {
                inverse_cdf(&weights, u)
            } else {
                restricted(&scaled, params, u)
            }
        }
        _ => argmax(&scaled),
    };
    let logprob = (f64::from(scaled[token]) - log_z) as f32;
    (token as u32, logprob, entropy as f32)
}

/// The first largest entry.
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// The first entry of `weights` (non-negative, any total) whose running sum exceeds `u`
/// times the total; never one of weight zero.
fn inverse_cdf(weights: &[f32], u: f64) -> usize {
    let total: f32 = weights.iter().sum();
    let threshold = (total * u as f32).max(f32::MIN_POSITIVE);
    let mut running = 0.0f32;
    for (i, &w) in weights.iter().enumerate() {
        running += w;
        if running >= threshold {
            return i;
        }
    }
    weights.len() - 1
}

/// A top-k / top-p draw: rank by tempered logit (ties by id), keep the k best, then the
/// smallest prefix holding `top_p` of their mass, and draw among those.
fn restricted(scaled: &[f32], params: &SamplingParams, u: f64) -> usize {
    let mut order: Vec<usize> = (0..scaled.len()).collect();
    let by_rank = |a: &usize, b: &usize| scaled[*b].total_cmp(&scaled[*a]).then(a.cmp(b));
    let kept = if params.top_k > 0 && params.top_k < scaled.len() {
        order.select_nth_unstable_by(params.top_k - 1, by_rank);
        params.top_k
    } else {
        scaled.len()
    };
    order.truncate(kept);
    order.sort_unstable_by(by_rank);
    let max = scaled[order[0]];
    let mut weights: Vec<f32> = order.iter().map(|&i| (scaled[i] - max).exp()).collect();
    if params.top_p < 1.0 {
        let total: f32 = weights.iter().sum();
        let mut before = 0.0f32;
        for w in weights.iter_mut() {
            let this = *w;
            // a token stays while the mass before it is under top_p of the kept total
            if before >= total * params.top_p {
                *w = 0.0;
            }
            before += this;
        }
    }
    order[inverse_cdf(&weights, u)]
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::RuntimeBackend;

    #[test]
    fn host_picks_equal_the_tensor_picks() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (rows, vocab) = (40, 500);
        for (temperature, top_p, top_k) in [
            (1.0, 1.0, 0),
            (0.7, 1.0, 0),
            (0.0, 1.0, 0),
            (1.0, 1.0, 20),
            (0.8, 0.9, 0),
            (1.3, 0.5, 50),
        ] {
            let logits: Vec<f32> = (0..rows * vocab)
                .map(|_| rng.random_range(-6.0..6.0))
                .collect();
            let uniforms: Vec<f64> = (0..rows).map(|_| rng.random()).collect();
            let params = SamplingParams {
                temperature,
                top_p,
                top_k,
                max_new_tokens: 1,
                stop_tokens: vec![],
            };
            let host = pick(&logits, vocab, &params, &uniforms);
            let device = crate::cpu();
            let table = Tensor::<RuntimeBackend, 2>::from_data(
                TensorData::new(logits.clone(), [rows, vocab]),
                &device,
            );
            let tensors = crate::draw::pick(table, &params, &uniforms, &device);
            assert_eq!(
                host.tokens, tensors.tokens,
                "T={temperature} top_p={top_p} top_k={top_k}"
            );
            for (a, b) in host.logprobs.iter().zip(&tensors.logprobs) {
                assert!((a - b).abs() < 1e-5, "logprob {a} vs {b}");
            }
            for (a, b) in host.entropies.iter().zip(&tensors.entropies) {
                assert!((a - b).abs() < 1e-4, "entropy {a} vs {b}");
            }
        }
    }

    #[test]
    fn impossible_tokens_are_never_drawn() {
        let mut logits = vec![f32::NEG_INFINITY; 6];
        logits[4] = 0.0;
        let params = SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens: 1,
            stop_tokens: vec![],
        };
        for u in [0.0, 0.5, 0.999] {
            let p = pick(&logits, 6, &params, &[u]);
            assert_eq!((p.tokens[0], p.logprobs[0], p.entropies[0]), (4, 0.0, 0.0));
        }
    }
}
