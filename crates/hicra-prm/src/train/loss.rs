//! The training loss: binary cross-entropy with logits over a batch's labelled positions
//! ([`bce_with_logits`], on tensors), the same for one logit on the host ([`bce`]), and the
//! flat positions and labels of a batch ([`batch_targets`]).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::example::Example;

/// Mean binary cross-entropy with logits over the labelled positions: `logits` `[batch, seq]`,
/// `positions` flat indices `row * seq + column`, `labels` in `[0, 1]` (one per position).
/// Returns a `[1]` tensor; errors when nothing is labelled or the lengths differ.
pub fn bce_with_logits<B: Backend>(
    logits: Tensor<B, 2>,
    positions: &[usize],
    labels: &[f32],
) -> Result<Tensor<B, 1>, String> {
    if positions.is_empty() || positions.len() != labels.len() {
        return Err(format!(
            "{} labelled positions and {} labels: a loss needs one label per position, and one \
             at least",
            positions.len(),
            labels.len()
        ));
    }
    let [batch, seq] = logits.dims();
    if let Some(p) = positions.iter().find(|&&p| p >= batch * seq) {
        return Err(format!(
            "labelled position {p} is outside the [{batch}, {seq}] logits"
        ));
    }
    let device = logits.device();
    let index: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [positions.len()]), &device);
    let x = logits.reshape([batch * seq]).select(0, index);
    let y = Tensor::<B, 1>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), &device);
    let loss = x.clone().clamp_min(0.0) - x.clone() * y + x.abs().neg().exp().log1p();
    Ok(loss.mean())
}

/// The flat positions and labels of `examples` laid out in a batch of width `width`.
pub(super) fn batch_targets(examples: &[&Example], width: usize) -> (Vec<usize>, Vec<f32>) {
    let mut positions = Vec::new();
    let mut labels = Vec::new();
    for (row, e) in examples.iter().enumerate() {
        for &(p, y) in &e.targets {
            positions.push(row * width + p);
            labels.push(y);
        }
    }
    (positions, labels)
}

/// Stable BCE of one logit against one label, in f64.
pub(super) fn bce(x: f64, y: f64) -> f64 {
    x.max(0.0) - x * y + (-x.abs()).exp().ln_1p()
}
