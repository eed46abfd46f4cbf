//! Next-token distributions of a prompt, in the JSON shape of `hicra model logits --json`:
//! `{"token_ids": [...], "positions": [{"index": i, "top": [[id, logit], ...], "logsumexp": x}]}`
//! where `index` is the prompt position whose next-token distribution is given, `top` is sorted
//! by logit (descending) and `logsumexp` runs over the whole vocabulary. Reference scripts
//! (`scripts/reference_logits.py`) print the same shape, so outputs compare line for line.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::llama::Llama;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptLogits {
    pub token_ids: Vec<u32>,
    pub positions: Vec<PositionLogits>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionLogits {
    pub index: usize,
    /// `(token id, logit)`, highest logit first.
    pub top: Vec<(u32, f64)>,
    pub logsumexp: f64,
}

impl PositionLogits {
    /// The `k` highest logits of a row (ties by lower id) and the row's log-sum-exp (in f64).
    pub fn from_row(index: usize, row: &[f32], k: usize) -> Self {
        let mut order: Vec<usize> = (0..row.len()).collect();
        let k = k.min(row.len());
        let by_logit = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
        if k > 0 && k < row.len() {
            order.select_nth_unstable_by(k - 1, by_logit);
        }
        order.truncate(k);
        order.sort_by(by_logit);
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&l| f64::from(l - max).exp()).sum();
        Self {
            index,
            top: order
                .iter()
                .map(|&i| (i as u32, f64::from(row[i])))
                .collect(),
            logsumexp: f64::from(max) + sum.ln(),
        }
    }
}

/// Logits of the last `last` positions of `ids` (one forward pass, no cache).
pub fn prompt_logits<B: Backend>(
    model: &Llama<B>,
    ids: &[u32],
    last: usize,
    top_k: usize,
    device: &B::Device,
) -> PromptLogits {
    let tokens: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [1, ids.len()]), device);
    let logits = model.forward(input, None);
    let vocab = logits.dims()[2];
    let first = ids.len().saturating_sub(last);
    let rows: Vec<f32> = logits
        .narrow(1, first, ids.len() - first)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("float logits");
    PromptLogits {
        token_ids: ids.to_vec(),
        positions: rows
            .chunks(vocab)
            .enumerate()
            .map(|(i, row)| PositionLogits::from_row(first + i, row, top_k))
            .collect(),
    }
}
