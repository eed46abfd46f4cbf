//! One decode step's choice for every row of a batch, computed on the device: the tempered
//! log-softmax, its entropy, the draw and the drawn token's log-probability. Only three
//! numbers per row come back to the host (`[rows, 3]`), never the `[rows, vocab]` logits, so
//! a GPU pays one small transfer per decoded token.
//!
//! The log-probabilities are `burn`'s `log_softmax` of `logits / T`, the same op the scorer
//! runs ([`crate::score_tempered`]). The draw is by inverse CDF: the host's seeded generator
//! supplies one uniform number `u` per row, and the token is the first whose cumulative
//! probability exceeds `u` times the total; a token of probability zero is never drawn. Top-k
//! and top-p sort each row on the device, keep the k most likely tokens, then the smallest
//! prefix whose mass reaches `top_p` of what is left, and draw among those; the recorded
//! log-probability stays that of the full tempered distribution (see [`crate::sample`]).

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

/// How responses are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature of the draw; 0 means greedy.
    pub temperature: f32,
    /// Nucleus sampling mass in (0, 1]; 1 disables it.
    pub top_p: f32,
    /// Keep only the k most likely tokens; 0 disables it.
    pub top_k: usize,
    /// Most tokens generated per response.
    pub max_new_tokens: usize,
    /// Tokens that end a response (kept as its last token).
    pub stop_tokens: Vec<u32>,
}

impl SamplingParams {
    /// The temperature the recorded log-probs and entropies are taken at: the sampling
    /// temperature, or 1 for greedy decoding.
    pub fn logprob_temperature(&self) -> f32 {
        if self.temperature > 0.0 {
            self.temperature
        } else {
            1.0
        }
    }
}

/// Each row's drawn token, its log-probability and the entropy (nats) it was drawn from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Picks {
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub entropies: Vec<f32>,
}

/// Whether a draw with `params` needs one uniform number per row (greedy decoding does not).
pub fn draws_uniforms(params: &SamplingParams) -> bool {
    params.temperature > 0.0
}

/// Picks a token for every row of `logits: [rows, vocab]` (f32) under `params`; `uniforms`
/// holds one number in `[0, 1)` per row when [`draws_uniforms`], and is ignored otherwise.
pub fn pick<B: Backend>(
    logits: Tensor<B, 2>,
    params: &SamplingParams,
    uniforms: &[f64],
    device: &B::Device,
) -> Picks {
    let [rows, _] = logits.dims();
    let temperature = params.logprob_temperature();
    let scaled = if temperature == 1.0 {
        logits
    } else {
        logits.div_scalar(temperature)
    };
    let logp = log_softmax(scaled.clone(), 1);
    let probs = logp.clone().exp();
    // p log p with log 0 taken as a finite number, so an impossible token adds 0, not NaN
    let entropy = (probs.clone() * logp.clone().clamp_min(f32::MIN))
        .sum_dim(1)
        .neg();
    let tokens = if !draws_uniforms(params) {
        scaled.argmax(1)
    } else {
        assert_eq!(uniforms.len(), rows, "one uniform number per row");
        let u = column(uniforms, device);
        if params.top_k == 0 && params.top_p >= 1.0 {
            inverse_cdf(probs, u)
        } else {
            restricted(scaled, params, u)
        }
    };
    let logprob = logp.gather(1, tokens.clone());
    let packed = Tensor::cat(vec![tokens.float(), logprob, entropy], 1);
    let host: Vec<f32> = packed
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("float picks");
    let mut picks = Picks::default();
    for row in host.chunks_exact(3) {
        picks.tokens.push(row[0] as u32);
        picks.logprobs.push(row[1]);
        picks.entropies.push(row[2]);
    }
    picks
}

/// `[rows, 1]` of host numbers.
fn column<B: Backend>(values: &[f64], device: &B::Device) -> Tensor<B, 2> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    let rows = values.len();
    Tensor::from_data(TensorData::new(values, [rows, 1]), device)
}

/// Index (`[rows, 1]`) of the first entry of each row of `probs` (non-negative, any total)
/// whose running sum exceeds `u` times the row's total.
fn inverse_cdf<B: Backend>(probs: Tensor<B, 2>, u: Tensor<B, 2>) -> Tensor<B, 2, Int> {
    let [_, width] = probs.dims();
    let cdf = probs.cumsum(1);
    let total = cdf.clone().narrow(1, width - 1, 1);
    // above zero, so a leading run of impossible entries is always skipped
    let threshold = (total * u).clamp_min(f32::MIN_POSITIVE);
    (cdf - threshold)
        .lower_elem(0.0)
        .int()
        .sum_dim(1)
        .clamp_max(width as i64 - 1)
}

/// A top-k / top-p draw: sort, cut, renormalise implicitly (the inverse CDF scales by the
/// kept total), and map the rank back to a token id.
fn restricted<B: Backend>(
    scaled: Tensor<B, 2>,
    params: &SamplingParams,
    u: Tensor<B, 2>,
) -> Tensor<B, 2, Int> {
    let [_, vocab] = scaled.dims();
    let (sorted, mut order) = scaled.sort_descending_with_indices(1);
    let mut probs = softmax(sorted, 1);
    if params.top_k > 0 && params.top_k < vocab {
        probs = probs.narrow(1, 0, params.top_k);
        order = order.narrow(1, 0, params.top_k);
    }
    if params.top_p < 1.0 {
        let [_, kept] = probs.dims();
        let cdf = probs.clone().cumsum(1);
        let total = cdf.clone().narrow(1, kept - 1, 1);
        // a token stays while the mass before it is under top_p of the kept total
        let before = cdf - probs.clone();
        let dropped = (before - total * f64::from(params.top_p)).greater_equal_elem(0.0);
        probs = probs.mask_fill(dropped, 0.0);
    }
    order.gather(1, inverse_cdf(probs, u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeBackend as B;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn params(temperature: f32, top_p: f32, top_k: usize) -> SamplingParams {
        SamplingParams {
            temperature,
            top_p,
            top_k,
            max_new_tokens: 4,
            stop_tokens: vec![],
        }
    }

    fn logits(rows: &[&[f32]]) -> Tensor<B, 2> {
        let width = rows[0].len();
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), width]), &crate::cpu())
    }

    /// The host computation the sampler used before (f64 log-softmax and entropy).
    fn host_logprobs_entropy(logits: &[f32], temperature: f32) -> (Vec<f64>, f64) {
        let scaled: Vec<f32> = logits.iter().map(|&l| l / temperature).collect();
        let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = scaled.iter().map(|&l| f64::from(l - max).exp()).sum();
        let log_z = f64::from(max) + sum.ln();
        let lp: Vec<f64> = scaled.iter().map(|&l| f64::from(l) - log_z).collect();
        let h = -lp
            .iter()
            .map(|x| x.exp() * x)
            .filter(|x| x.is_finite())
            .sum::<f64>();
        (lp, h)
    }

    #[test]
    fn logprobs_and_entropies_match_the_host_computation() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rows: Vec<Vec<f32>> = (0..5)
            .map(|_| (0..300).map(|_| rng.random_range(-8.0..8.0)).collect())
            .collect();
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        for temperature in [1.0, 0.7, 1.5] {
            let uniforms: Vec<f64> = (0..5).map(|_| rng.random()).collect();
            let picks = pick(
                logits(&refs),
                &params(temperature, 1.0, 0),
                &uniforms,
                &crate::cpu(),
            );
            for (r, row) in rows.iter().enumerate() {
                let (lp, h) = host_logprobs_entropy(row, temperature);
                let token = picks.tokens[r] as usize;
                assert!((f64::from(picks.logprobs[r]) - lp[token]).abs() < 1e-5);
                assert!((f64::from(picks.entropies[r]) - h).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn by_hand() {
        // T = 0.5 turns [0, ln 2] into [0, 2 ln 2]: p = [1/5, 4/5]
        let l = logits(&[&[0.0, 2f32.ln()]]);
        let greedy = pick(l.clone(), &params(0.0, 1.0, 0), &[], &crate::cpu());
        assert_eq!(greedy.tokens, vec![1]);
        assert!(
            (greedy.entropies[0] - 0.6365142).abs() < 1e-5,
            "T = 1 when greedy"
        );
        let p = params(0.5, 1.0, 0);
        assert_eq!(pick(l.clone(), &p, &[0.1], &crate::cpu()).tokens, vec![0]);
        let second = pick(l, &p, &[0.3], &crate::cpu());
        assert_eq!(second.tokens, vec![1]);
        assert!((second.logprobs[0] - 0.8f32.ln()).abs() < 1e-6);
        let want = -(0.2f32 * 0.2f32.ln() + 0.8 * 0.8f32.ln());
        assert!((second.entropies[0] - want).abs() < 1e-6);
    }

    #[test]
    fn impossible_tokens_are_never_drawn_and_add_no_entropy() {
        let l = logits(&[&[
            f32::NEG_INFINITY,
            0.0,
            f32::NEG_INFINITY,
            0.0,
            f32::NEG_INFINITY,
        ]]);
        for u in [0.0, 0.25, 0.5, 0.75, 0.999_999_9] {
            let picks = pick(l.clone(), &params(1.0, 1.0, 0), &[u], &crate::cpu());
            assert!([1, 3].contains(&picks.tokens[0]), "u = {u}");
            assert!((picks.entropies[0] - 2f32.ln()).abs() < 1e-6);
        }
    }

    /// Frequencies of `n` draws of one row.
    fn frequencies(row: &[f32], p: &SamplingParams, n: usize) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let refs: Vec<&[f32]> = vec![row; n];
        let uniforms: Vec<f64> = (0..n).map(|_| rng.random()).collect();
        let picks = pick(logits(&refs), p, &uniforms, &crate::cpu());
        let mut counts = vec![0usize; row.len()];
        for t in picks.tokens {
            counts[t as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    #[test]
    fn unrestricted_draws_follow_the_tempered_distribution() {
        let counts = frequencies(
            &[0.0, 1.0, f32::NEG_INFINITY, 2.0],
            &params(2.0, 1.0, 0),
            20_000,
        );
        let z: f64 = [0.0f64, 0.5, 1.0].iter().map(|x| x.exp()).sum();
        for (i, x) in [(0, 0.0f64), (1, 0.5), (3, 1.0)] {
            let expected = x.exp() / z;
            assert!(
                (counts[i] - expected).abs() < 0.015,
                "token {i}: {} vs {expected}",
                counts[i]
            );
        }
        assert_eq!(counts[2], 0.0);
    }

    #[test]
    fn top_k_and_top_p_restrict_the_draw_and_renormalise() {
        let row = [1.0, 3.0, 2.0, -5.0];
        assert!(frequencies(&row, &params(1.0, 1.0, 1), 200)[1] == 1.0);
        let two = frequencies(&row, &params(5.0, 1.0, 2), 4000);
        assert!(two[0] == 0.0 && two[3] == 0.0);
        // renormalised over {3, 2} at T = 5: p(1) = 1 / (1 + e^-0.2)
        assert!((two[1] - 1.0 / (1.0 + (-0.2f64).exp())).abs() < 0.03);
        // p(1) = 0.665 >= 0.6 at T = 1: a nucleus of one token
        assert!(frequencies(&row, &params(1.0, 0.6, 0), 200)[1] == 1.0);
        // 0.665 < 0.9 <= 0.665 + 0.245: a nucleus of two tokens
        let nucleus = frequencies(&row, &params(1.0, 0.9, 0), 4000);
        assert!(nucleus[0] == 0.0 && nucleus[3] == 0.0 && nucleus[2] > 0.2);
    }

    #[test]
    fn the_recorded_logprob_is_the_full_distributions_under_top_k() {
        let l = logits(&[&[1.0, 3.0, 2.0, -5.0]]);
        let picks = pick(l, &params(1.0, 1.0, 1), &[0.5], &crate::cpu());
        let (lp, _) = host_logprobs_entropy(&[1.0, 3.0, 2.0, -5.0], 1.0);
        assert_eq!(picks.tokens, vec![1]);
        assert!((f64::from(picks.logprobs[0]) - lp[1]).abs() < 1e-6);
    }
}
