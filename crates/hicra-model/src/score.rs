//! Teacher-forced scoring: the log-probability of each response token, and the entropy of the
//! distribution at its position, for a batch of (prompt, response) pairs. Differentiable when
//! the backend is an autodiff one; this is what the learner trains through.
//!
//! [`score_tempered`] scores under `softmax(logits / T)` with one temperature per pair, the
//! distribution a sampler at temperature `T` draws from and records (see [`crate::sample`]),
//! so that the learner's ratio compares like with like.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::llama::Llama;

/// `[batch, longest response]` tensors; `mask` is 1 on real response tokens, 0 on padding.
#[derive(Debug, Clone)]
pub struct Scored<B: Backend> {
    pub logprobs: Tensor<B, 2>,
    pub entropies: Tensor<B, 2>,
    pub mask: Tensor<B, 2>,
}

/// Scores `pairs` of (prompt ids, response ids) in one forward pass (right-padded, so causal
/// attention alone keeps padding out of every real position), under `softmax(logits)`.
pub fn score<B: Backend>(
    model: &Llama<B>,
    pairs: &[(&[u32], &[u32])],
    device: &B::Device,
) -> Scored<B> {
    score_tempered(model, pairs, &vec![1.0; pairs.len()], device)
}

/// [`score`] under `softmax(logits / temperatures[i])` for pair `i` (each temperature > 0).
pub fn score_tempered<B: Backend>(
    model: &Llama<B>,
    pairs: &[(&[u32], &[u32])],
    temperatures: &[f32],
    device: &B::Device,
) -> Scored<B> {
    assert_eq!(pairs.len(), temperatures.len(), "one temperature per pair");
    assert!(
        temperatures.iter().all(|&t| t > 0.0 && t.is_finite()),
        "scoring temperatures must be positive"
    );
    let batch = pairs.len();
    let input_len = pairs
        .iter()
        .map(|(p, r)| p.len() + r.len() - 1)
        .max()
        .unwrap_or(1)
        .max(1);
    let response_len = pairs.iter().map(|(_, r)| r.len()).max().unwrap_or(0).max(1);
    let mut inputs = vec![0i64; batch * input_len];
    let mut targets = vec![0i64; batch * input_len];
    let mut positions = vec![0i64; batch * response_len];
    let mut mask = vec![0f32; batch * response_len];
    for (b, (prompt, response)) in pairs.iter().enumerate() {
        let seq: Vec<u32> = prompt.iter().chain(response.iter()).copied().collect();
        for t in 0..seq.len() - 1 {
            inputs[b * input_len + t] = i64::from(seq[t]);
            targets[b * input_len + t] = i64::from(seq[t + 1]);
        }
        for k in 0..response.len() {
            positions[b * response_len + k] = (prompt.len() - 1 + k) as i64;
            mask[b * response_len + k] = 1.0;
        }
    }
    let ints = |data: Vec<i64>, cols: usize| {
        Tensor::<B, 2, Int>::from_data(TensorData::new(data, [batch, cols]), device)
    };
    let logits = model.forward(ints(inputs, input_len), None);
    let logits = match temperatures {
        [first, rest @ ..] if rest.iter().all(|t| t == first) => {
            if *first == 1.0 {
                logits
            } else {
                logits.div_scalar(*first)
            }
        }
        _ => {
            let per_row = TensorData::new(temperatures.to_vec(), [batch, 1, 1]);
            logits / Tensor::<B, 3>::from_data(per_row, device)
        }
    };
    let logp = log_softmax(logits, 2);
    let entropy = (logp.clone().exp() * logp.clone())
        .sum_dim(2)
        .neg()
        .reshape([batch, input_len]);
    let token_logp = logp
        .gather(2, ints(targets, input_len).unsqueeze_dim(2))
        .reshape([batch, input_len]);
    let positions = ints(positions, response_len);
    Scored {
        logprobs: token_logp.gather(1, positions.clone()),
        entropies: entropy.gather(1, positions),
        mask: Tensor::from_data(TensorData::new(mask, [batch, response_len]), device),
    }
}
