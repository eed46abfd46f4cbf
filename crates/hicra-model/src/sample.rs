//! Generation with a KV cache: each prompt is prefilled once, its cache repeated for the G
//! samples of its group, then all G continue in one batch. Sampling happens on the host from
//! each step's logits, which also yields every token's log-probability and the entropy of the
//! distribution it was drawn from.
//!
//! Both figures are taken from the *tempered* distribution `softmax(logits / T)` over the whole
//! vocabulary (T = 1 for greedy decoding), the one the learner's scorer computes for the same
//! temperature ([`crate::score_tempered`]), so sampler and learner agree at every temperature.
//! Top-k and top-p only restrict the draw: the recorded log-probability stays that of the
//! full tempered distribution, not of the renormalised nucleus, so it is one the learner can
//! recompute exactly (verl and TRL make the same choice); a truncated draw is then slightly
//! off-policy, which `importance_correction` does not see. Sample with `top_k = 0` and
//! `top_p = 1` (the defaults) for exact on-policy training.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;

use crate::llama::{KvCache, Llama};

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

/// One generated response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub entropies: Vec<f32>,
    /// Ended on a stop token (otherwise it hit `max_new_tokens`).
    pub stopped: bool,
}

/// Draws `n` responses to `prompt` (token ids, non-empty).
pub fn sample_group<B: Backend>(
    model: &Llama<B>,
    prompt: &[u32],
    n: usize,
    params: &SamplingParams,
    rng: &mut impl Rng,
    device: &B::Device,
) -> Vec<Sample> {
    sample_batch(model, &[prompt], n, params, rng, device).remove(0)
}

/// Draws `n` responses to each of `prompts` (of any lengths, each non-empty) in one batch:
/// the prompts are left-padded and prefilled together once, every prompt's cache is repeated
/// for its `n` samples, then all `prompts.len() * n` rows decode together. Rows are drawn in
/// order (prompt 0's samples first), so a seed gives the same tokens on every run.
pub fn sample_batch<B: Backend>(
    model: &Llama<B>,
    prompts: &[&[u32]],
    n: usize,
    params: &SamplingParams,
    rng: &mut impl Rng,
    device: &B::Device,
) -> Vec<Vec<Sample>> {
    sample_batch_until(model, prompts, n, params, &|_| false, rng, device)
}

/// [`sample_batch`], also ending a response as soon as `stop(tokens so far)` says so (stop
/// strings: see [`stop_strings`]).
pub fn sample_batch_until<B: Backend>(
    model: &Llama<B>,
    prompts: &[&[u32]],
    n: usize,
    params: &SamplingParams,
    stop: &dyn Fn(&[u32]) -> bool,
    rng: &mut impl Rng,
    device: &B::Device,
) -> Vec<Vec<Sample>> {
    assert!(
        prompts.iter().all(|p| !p.is_empty()),
        "a prompt needs at least one token"
    );
    let longest = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
    assert!(
        longest < model.max_seq_len(),
        "a prompt of {longest} tokens leaves no room to generate within max_seq_len {}",
        model.max_seq_len()
    );
    if longest == 0 || n == 0 {
        return vec![Vec::new(); prompts.len()];
    }
    let max_new = params
        .max_new_tokens
        .min(model.max_seq_len().saturating_sub(longest));
    let padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let mut ids = Vec::with_capacity(prompts.len() * longest);
    for (prompt, &pad) in prompts.iter().zip(&padding) {
        ids.extend(std::iter::repeat_n(0i64, pad));
        ids.extend(prompt.iter().map(|&t| i64::from(t)));
    }
    let head = model.inference_head();
    let mut cache = KvCache::padded(model.blocks.len(), padding);
    let input =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [prompts.len(), longest]), device);
    let logits = model.forward_with_head(input, Some(&mut cache), head.clone());
    let vocab = logits.dims()[2];
    let last = logits
        .narrow(1, longest - 1, 1)
        .reshape([prompts.len(), vocab]);
    let mut rows: Vec<Vec<f32>> = host_rows(last)
        .into_iter()
        .flat_map(|row| std::iter::repeat_n(row, n))
        .collect();
    let mut cache = cache.repeat_rows(n, device);
    let total = prompts.len() * n;
    let mut samples = vec![Sample::default(); total];
    let temperature = params.logprob_temperature();
    for step in 0..max_new {
        let mut next = Vec::with_capacity(total);
        for (sample, logits) in samples.iter_mut().zip(&rows) {
            if sample.stopped {
                next.push(0);
                continue;
            }
            let (logprobs, entropy) = log_softmax_entropy(logits, temperature);
            let token = choose(logits, params, rng);
            sample.tokens.push(token);
            sample.logprobs.push(logprobs[token as usize]);
            sample.entropies.push(entropy);
            sample.stopped = params.stop_tokens.contains(&token) || stop(&sample.tokens);
            next.push(i64::from(token));
        }
        if step + 1 == max_new || samples.iter().all(|s| s.stopped) {
            break;
        }
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(next, [total, 1]), device);
        let logits = model.forward_with_head(input, Some(&mut cache), head.clone());
        rows = host_rows(logits.reshape([total, vocab]));
    }
    let mut samples = samples.into_iter();
    (0..prompts.len())
        .map(|_| samples.by_ref().take(n).collect())
        .collect()
}

/// A stop check that fires once the decoded text of a response contains one of `strings`
/// (only the last few tokens are decoded each time, enough to hold the longest string).
pub fn stop_strings<'a>(
    tokenizer: &'a hicra_pretrained::Tokenizer,
    strings: &'a [String],
) -> impl Fn(&[u32]) -> bool + 'a {
    let window = strings.iter().map(|s| s.len()).max().unwrap_or(0) + 1;
    move |tokens: &[u32]| {
        if strings.is_empty() {
            return false;
        }
        let tail = &tokens[tokens.len().saturating_sub(window)..];
        let text = tokenizer.decode(tail, false).unwrap_or_default();
        strings.iter().any(|s| text.contains(s.as_str()))
    }
}

fn host_rows<B: Backend>(logits: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [rows, vocab] = logits.dims();
    let flat: Vec<f32> = logits
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("float logits");
    (0..rows)
        .map(|r| flat[r * vocab..(r + 1) * vocab].to_vec())
        .collect()
}

/// Log-probabilities and entropy (nats) of `softmax(logits / temperature)`, in f64 for
/// accuracy. The division is done in f32 first, as the scorer's tensor op does, so both see
/// the same scaled logits.
pub fn log_softmax_entropy(logits: &[f32], temperature: f32) -> (Vec<f32>, f32) {
    let scaled: Vec<f32> = if temperature == 1.0 {
        logits.to_vec()
    } else {
        logits.iter().map(|&l| l / temperature).collect()
    };
    let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = scaled.iter().map(|&l| f64::from(l - max).exp()).sum();
    let log_z = f64::from(max) + sum.ln();
    let logprobs: Vec<f64> = scaled.iter().map(|&l| f64::from(l) - log_z).collect();
    let entropy = -logprobs
        .iter()
        .map(|lp| lp.exp() * lp)
        .filter(|x| x.is_finite())
        .sum::<f64>();
    (
        logprobs.into_iter().map(|x| x as f32).collect(),
        entropy as f32,
    )
}

/// Draws a token after temperature, top-k and top-p; greedy at temperature 0.
pub fn choose(logits: &[f32], params: &SamplingParams, rng: &mut impl Rng) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i as u32)
    };
    if params.temperature <= 0.0 {
        return argmax();
    }
    if params.top_k == 0 && params.top_p >= 1.0 {
        return draw_unrestricted(logits, params.temperature, rng);
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if params.top_k > 0 {
        order.truncate(params.top_k);
    }
    let scaled: Vec<f64> = order
        .iter()
        .map(|&i| f64::from(logits[i] / params.temperature))
        .collect();
    let max = scaled[0];
    let weights: Vec<f64> = scaled.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut keep = weights.len();
    if params.top_p < 1.0 {
        let mut mass = 0.0;
        for (i, w) in weights.iter().enumerate() {
            mass += w / total;
            if mass >= f64::from(params.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    let kept: f64 = weights[..keep].iter().sum();
    let mut draw = rng.random::<f64>() * kept;
    for (i, w) in weights[..keep].iter().enumerate() {
        draw -= w;
        if draw <= 0.0 {
            return order[i] as u32;
        }
    }
    order[keep - 1] as u32
}

/// A draw from `softmax(logits / temperature)` over the whole vocabulary, in index order (no
/// sort: this is the common RL setting, and sorting 49k logits per token costs more than the
/// draw).
fn draw_unrestricted(logits: &[f32], temperature: f32, rng: &mut impl Rng) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weight = |l: f32| f64::from((l - max) / temperature).exp();
    let total: f64 = logits.iter().map(|&l| weight(l)).sum();
    let mut draw = rng.random::<f64>() * total;
    let mut last_positive = 0;
    for (i, &l) in logits.iter().enumerate() {
        let w = weight(l);
        if w > 0.0 {
            last_positive = i;
        }
        draw -= w;
        if draw <= 0.0 && w > 0.0 {
            return i as u32;
        }
    }
    last_positive as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
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

    #[test]
    fn entropy_and_logprobs_by_hand() {
        let (lp, h) = log_softmax_entropy(&[0.0, 0.0], 1.0);
        assert!((lp[0] - 0.5f32.ln()).abs() < 1e-6);
        assert!((h - 2f32.ln()).abs() < 1e-6);
        // at T = 0.5 the logits [0, ln 2] become [0, 2 ln 2]: p = [1/5, 4/5]
        let (lp, h) = log_softmax_entropy(&[0.0, 2f32.ln()], 0.5);
        assert!((lp[0] - 0.2f32.ln()).abs() < 1e-6 && (lp[1] - 0.8f32.ln()).abs() < 1e-6);
        let want = -(0.2f32 * 0.2f32.ln() + 0.8 * 0.8f32.ln());
        assert!((h - want).abs() < 1e-6);
    }

    #[test]
    fn unrestricted_draws_follow_the_tempered_distribution() {
        let logits = [0.0, 1.0, f32::NEG_INFINITY, 2.0];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0usize; 4];
        let n = 20_000;
        for _ in 0..n {
            counts[choose(&logits, &params(2.0, 1.0, 0), &mut rng) as usize] += 1;
        }
        let z: f64 = [0.0f64, 0.5, 1.0].iter().map(|x| x.exp()).sum();
        for (i, x) in [(0, 0.0f64), (1, 0.5), (3, 1.0)] {
            let expected = x.exp() / z;
            let got = counts[i] as f64 / n as f64;
            assert!(
                (got - expected).abs() < 0.015,
                "token {i}: {got} vs {expected}"
            );
        }
        assert_eq!(counts[2], 0);
    }

    #[test]
    fn greedy_top_k_and_top_p_restrict_the_draw() {
        let logits = [1.0, 3.0, 2.0, -5.0];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(choose(&logits, &params(0.0, 1.0, 0), &mut rng), 1);
        for _ in 0..200 {
            assert_eq!(choose(&logits, &params(1.0, 1.0, 1), &mut rng), 1);
            assert!([1, 2].contains(&choose(&logits, &params(5.0, 1.0, 2), &mut rng)));
            // p(1) = 0.665 >= 0.6: nucleus of one token
            assert_eq!(choose(&logits, &params(1.0, 0.6, 0), &mut rng), 1);
        }
    }
}
