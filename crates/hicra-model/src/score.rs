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
    /// `None` when scored with [`Entropies::Skipped`].
    pub entropies: Option<Tensor<B, 2>>,
    pub mask: Tensor<B, 2>,
}

/// What [`score_tempered_with`] computes besides the log-probs. Each entropy is one more
/// vocabulary-wide pass per token, and a differentiable one keeps two `[tokens, vocab]`
/// tensors alive until the backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entropies {
    /// Differentiable: an entropy bonus trains through them.
    Differentiable,
    /// Values only, from detached log-probs: autodiff keeps nothing for them.
    Detached,
    /// Not computed.
    Skipped,
}

/// Scores `pairs` of (prompt ids, response ids) in one forward pass (right-padded, so causal
/// attention alone keeps padding out of every real position), under `softmax(logits)`. The
/// output head, log-softmax and entropy run on the response positions only.
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
    score_tempered_with(
        model,
        pairs,
        temperatures,
        Entropies::Differentiable,
        device,
    )
}

/// [`score_tempered`], computing the entropies only as asked.
pub fn score_tempered_with<B: Backend>(
    model: &Llama<B>,
    pairs: &[(&[u32], &[u32])],
    temperatures: &[f32],
    entropies: Entropies,
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
    let mut targets = vec![0i64; batch * response_len];
    // where each response token is predicted, as a row of the flattened `[batch * input_len]`
    // hidden states (padding points at its row's first slot and is masked out)
    let mut slots = vec![0i64; batch * response_len];
    let mut mask = vec![0f32; batch * response_len];
    for (b, (prompt, response)) in pairs.iter().enumerate() {
        let fed = prompt.len() + response.len() - 1;
        for (t, &token) in prompt.iter().chain(response.iter()).take(fed).enumerate() {
            inputs[b * input_len + t] = i64::from(token);
        }
        for k in 0..response_len {
            let at = b * response_len + k;
            slots[at] = (b * input_len) as i64;
            if let Some(&token) = response.get(k) {
                targets[at] = i64::from(token);
                slots[at] += (prompt.len() - 1 + k) as i64;
                mask[at] = 1.0;
            }
        }
    }
    let inputs =
        Tensor::<B, 2, Int>::from_data(TensorData::new(inputs, [batch, input_len]), device);
    let hidden = model.hidden(inputs, None);
    let width = hidden.dims()[2];
    let slots =
        Tensor::<B, 1, Int>::from_data(TensorData::new(slots, [batch * response_len]), device);
    // the head and the log-softmax only where a response token is predicted
    let hidden = hidden
        .reshape([batch * input_len, width])
        .select(0, slots)
        .reshape([batch, response_len, width]);
    let logits = model.project(hidden, model.head());
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
    let entropies = match entropies {
        Entropies::Skipped => None,
        Entropies::Differentiable => Some(entropy_of(logp.clone())),
        Entropies::Detached => Some(entropy_of(logp.clone().detach())),
    };
    let targets =
        Tensor::<B, 3, Int>::from_data(TensorData::new(targets, [batch, response_len, 1]), device);
    Scored {
        logprobs: logp.gather(2, targets).reshape([batch, response_len]),
        entropies,
        mask: Tensor::from_data(TensorData::new(mask, [batch, response_len]), device),
    }
}

/// `-sum_v p log p` over the vocabulary of `logp: [batch, seq, vocab]`: `[batch, seq]`.
fn entropy_of<B: Backend>(logp: Tensor<B, 3>) -> Tensor<B, 2> {
    let [batch, seq, _] = logp.dims();
    (logp.clone().exp() * logp)
        .sum_dim(2)
        .neg()
        .reshape([batch, seq])
}
