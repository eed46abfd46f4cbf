//! One micro-batch of an optimiser step ([`Item`]s: rollouts with their `old` log-probs and the
//! tokens in the loss), whichever path scored it ([`crate::pass`]): the
//! objective's inputs built around its log-probs (the loss mask, `old`, advantages, token
//! weights, importance weights, the reference's log-probs), the loss, and its figures added
//! to the shard's sums.

use std::sync::OnceLock;

use burn::optim::Optimizer;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use hicra_messages::Rollout;
use hicra_model::{ComputePath, HostModel, Llama, RuntimeAutodiff, RuntimeBackend, Scored};

use super::Learner;
use super::replicas::ShardSums;
use crate::loss::{
    Denominators, LossAggregation, SurrogateInputs, SurrogateOptions, loss_mask, surrogate,
    token_weights,
};
use crate::pass::score_logprobs;

/// A rollout of a mini-batch with its `old` log-probs and optional importance weights.
#[derive(Clone, Copy)]
pub(super) struct Item<'a> {
    pub rollout: &'a Rollout,
    pub old: &'a [f32],
    pub importance: Option<&'a [f32]>,
    /// Which tokens stay in the loss (masked importance sampling, tree repeats); `None` = all.
    pub kept: Option<&'a [bool]>,
}

impl Item<'_> {
    /// Tokens in the loss.
    pub(super) fn kept_tokens(&self) -> usize {
        self.kept
            .map_or(self.rollout.len(), |k| k.iter().filter(|&&x| x).count())
    }

    /// Per token: in the loss or not.
    pub(super) fn kept_flags(&self) -> Vec<bool> {
        self.kept
            .map_or_else(|| vec![true; self.rollout.len()], <[bool]>::to_vec)
    }
}

/// What the micro-batches of one optimiser step share.
pub(super) struct StepShared {
    pub options: SurrogateOptions,
    pub aggregation: LossAggregation,
    pub denominators: Denominators,
    /// Compare the learner's log-probs with `old` (before the batch's first update only).
    pub measure_gap: bool,
}

/// A micro-batch: its rollouts, as (prompt, response) pairs, and their scoring temperatures.
pub(super) struct Micro<'a> {
    pub chunk: &'a [Item<'a>],
    pub pairs: Vec<(&'a [u32], &'a [u32])>,
    pub temperatures: Vec<f32>,
}

impl<'a> Micro<'a> {
    pub fn of(chunk: &'a [Item<'a>]) -> Self {
        Self {
            chunk,
            pairs: chunk
                .iter()
                .map(|i| {
                    (
                        i.rollout.prompt_tokens.as_slice(),
                        i.rollout.tokens.as_slice(),
                    )
                })
                .collect(),
            temperatures: chunk
                .iter()
                .map(|i| i.rollout.logprob_temperature())
                .collect(),
        }
    }
}

impl<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>> Learner<O> {
    /// The loss of `micro` scored as `scored`, its figures added to `sums`; `None` when it is
    /// not finite.
    pub(super) fn micro_loss(
        &self,
        micro: &Micro,
        scored: Scored<RuntimeAutodiff>,
        shared: &StepShared,
        sums: &mut ShardSums,
    ) -> Option<Tensor<RuntimeAutodiff, 1>> {
        let device = self.model().device();
        let chunk = micro.chunk;
        let width = scored.mask.dims()[1];
        let kept: Vec<Vec<bool>> = chunk.iter().map(Item::kept_flags).collect();
        let mask = Tensor::<RuntimeAutodiff, 2>::from_data(
            TensorData::new(loss_mask(&kept, width), [chunk.len(), width]),
            &device,
        );
        let rows = |get: &dyn Fn(&Item) -> Vec<f32>| -> Tensor<RuntimeAutodiff, 2> {
            let values: Vec<Vec<f32>> = chunk.iter().map(get).collect();
            let refs: Vec<&[f32]> = values.iter().map(Vec::as_slice).collect();
            padded(&refs, width, &device)
        };
        let old = rows(&|i| i.old.to_vec());
        let advantages = rows(&|i| i.rollout.advantages.clone());
        let importance = chunk[0]
            .importance
            .is_some()
            .then(|| rows(&|i| i.importance.unwrap_or_default().to_vec()));
        let weights = token_weights(shared.aggregation, &kept, width, &shared.denominators);
        let weights = Tensor::from_data(TensorData::new(weights, [chunk.len(), width]), &device);
        let ref_logprobs = self.reference.as_ref().map(|r| {
            let host = reference_host(&self.reference_host, r, self.config.compute_path);
            let data = score_logprobs(r, host, &micro.pairs, &micro.temperatures);
            Tensor::<RuntimeAutodiff, 2>::from_data(data, &device)
        });
        if shared.measure_gap {
            let diff: f32 = (scored.logprobs.clone() - old.clone())
                .abs()
                .mul(scored.mask.clone())
                .max()
                .into_scalar();
            sums.gap = sums.gap.max(diff);
        }
        let out = surrogate(
            SurrogateInputs {
                logprobs: scored.logprobs,
                old_logprobs: old,
                advantages,
                mask: mask.clone(),
                weights,
                entropies: scored.entropies,
                ref_logprobs,
                importance,
            },
            &shared.options,
        );
        sums.clipped += f64::from(out.clipped.sum().into_scalar());
        if let Some(kl) = out.kl {
            sums.kl += f64::from((kl * mask).sum().into_scalar());
        }
        let loss_value = f64::from(out.loss.clone().into_scalar());
        if !loss_value.is_finite() {
            return None;
        }
        let value =
            |t: Option<Tensor<RuntimeAutodiff, 1>>| t.map_or(0.0, |t| f64::from(t.into_scalar()));
        sums.loss += loss_value;
        sums.policy += value(Some(out.policy));
        sums.kl_term += value(out.kl_term);
        sums.entropy_term += value(out.entropy_term);
        Some(out.loss)
    }
}

/// The reference model's host copy when `path` takes the host path for it, made once (its
/// weights never change).
fn reference_host<'a>(
    cell: &'a OnceLock<Option<HostModel>>,
    reference: &Llama<RuntimeBackend>,
    path: ComputePath,
) -> Option<&'a HostModel> {
    cell.get_or_init(|| HostModel::on_path(reference, path))
        .as_ref()
}

/// A `[rows, width]` tensor of per-rollout values, zero-padded (rows checked to be at most
/// `width` long: [`super::inputs`]).
fn padded<B: Backend>(rows: &[&[f32]], width: usize, device: &B::Device) -> Tensor<B, 2> {
    let mut data = vec![0f32; rows.len() * width];
    for (i, row) in rows.iter().enumerate() {
        data[i * width..i * width + row.len()].copy_from_slice(row);
    }
    Tensor::from_data(TensorData::new(data, [rows.len(), width]), device)
}
