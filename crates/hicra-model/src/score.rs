//! Teacher-forced scoring: the log-probability of each response token, and the entropy of the
//! distribution at its position, for a batch of (prompt, response) pairs. Differentiable when
//! the backend is an autodiff one; this is what the learner trains through.

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
/// attention alone keeps padding out of every real position).
pub fn score<B: Backend>(
    model: &Llama<B>,
    pairs: &[(&[u32], &[u32])],
    device: &B::Device,
) -> Scored<B> {
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
