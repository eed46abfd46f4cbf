//! Data-parallel learner replicas (`[run.placement] learner = "0-1"`): every replica reads
//! every batch and scores only its shard of each mini-batch (whole rollouts, balanced by
//! tokens, the same split on every replica). The loss weights are those of the whole
//! mini-batch, so the shards' gradients *summed* over replicas are the mini-batch gradient
//! one process would compute; after the sum every replica clips and steps identically. The
//! lead broadcasts its weights at the start, and a checksum of the weights is compared every
//! `replica_checksum_every` steps.

use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::GradientsParams;
use hicra_flow::Collective;
use hicra_model::{Llama, RuntimeAutodiff};

use crate::flat;

/// This learner's place among its replicas.
#[derive(Clone)]
pub(super) struct Replicas {
    pub index: usize,
    pub count: usize,
    pub collective: Arc<dyn Collective>,
    /// Seconds spent in collectives so far.
    pub secs: f64,
    /// Bytes and seconds already reported in an earlier step's figures.
    pub reported: (u64, f64),
}

/// The figures of a mini-batch that are added over shards, reduced with the gradients.
#[derive(Default, Clone, Copy)]
pub(super) struct ShardSums {
    /// The loss differentiated (`policy + kl_term + entropy_term`).
    pub loss: f64,
    /// Its aggregated parts.
    pub policy: f64,
    pub kl_term: f64,
    pub entropy_term: f64,
    pub clipped: f64,
    pub kl: f64,
    /// 1 when a shard's loss was not finite.
    pub non_finite: f64,
    pub gap: f32,
}

/// The positions (into `lengths`) that replica `index` of `count` scores: longest first, each
/// to the replica with the fewest tokens so far (ties to the lower replica), in their order.
pub(super) fn shard(lengths: &[usize], index: usize, count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then(a.cmp(&b)));
    let mut load = vec![0usize; count];
    let mut mine = Vec::new();
    for i in order {
        let (to, _) = load
            .iter()
            .enumerate()
            .min_by_key(|&(r, &tokens)| (tokens, r))
            .expect("at least one replica");
        load[to] += lengths[i];
        if to == index {
            mine.push(i);
        }
    }
    mine.sort_unstable();
    mine
}

impl Replicas {
    /// The collectives' MiB sent and seconds since the last call.
    pub fn since_last(&mut self) -> (f64, f64) {
        let bytes = self.collective.bytes_sent();
        let (b, s) = std::mem::replace(&mut self.reported, (bytes, self.secs));
        ((bytes - b) as f64 / (1024.0 * 1024.0), self.secs - s)
    }

    /// Sums the shards' gradients of `module` (the policy, or with LoRA its adapters) and
    /// figures over the replicas: every replica returns the same gradients and totals.
    pub fn reduce<M: AutodiffModule<RuntimeAutodiff>>(
        &mut self,
        module: &M,
        grads: &GradientsParams,
        sums: ShardSums,
    ) -> (GradientsParams, ShardSums) {
        let started = Instant::now();
        let mut values = flat::gradients(module, grads);
        let n = values.len();
        values.extend([
            sums.loss as f32,
            sums.clipped as f32,
            sums.kl as f32,
            sums.non_finite as f32,
            sums.policy as f32,
            sums.kl_term as f32,
            sums.entropy_term as f32,
        ]);
        self.collective.sum_f32(&mut values);
        let mut gap = [f64::from(sums.gap)];
        self.collective.max_f64(&mut gap);
        self.secs += started.elapsed().as_secs_f64();
        let reduced = ShardSums {
            loss: f64::from(values[n]),
            clipped: f64::from(values[n + 1]),
            kl: f64::from(values[n + 2]),
            non_finite: f64::from(values[n + 3]),
            policy: f64::from(values[n + 4]),
            kl_term: f64::from(values[n + 5]),
            entropy_term: f64::from(values[n + 6]),
            gap: gap[0] as f32,
        };
        (flat::gradients_from(module, &values[..n]), reduced)
    }

    /// Every replica takes the lead's weights (of the policy, or with LoRA of its adapters).
    pub fn adopt_lead<M: Module<RuntimeAutodiff>>(&mut self, module: M) -> M {
        let started = Instant::now();
        let mut values = flat::parameters(&module);
        self.collective.broadcast_f32(&mut values);
        self.secs += started.elapsed().as_secs_f64();
        flat::load_parameters(module, &values).expect("the same architecture on every replica")
    }

    /// Compares the replicas' weights bit for bit: an error naming the step when they differ.
    pub fn check_identical(
        &mut self,
        model: &Llama<RuntimeAutodiff>,
        step: u64,
    ) -> Result<(), String> {
        let crc = flat::checksum(&flat::parameters(model));
        let sum = f64::from(crc);
        let mut extremes = [sum, -sum];
        self.collective.max_f64(&mut extremes);
        if extremes[0] == sum && -extremes[1] == sum {
            return Ok(());
        }
        Err(format!(
            "the learner replicas' weights differ after step {step} (replica {} has checksum \
             {crc:08x}, another {:08x}): they received different batches or their devices \
             compute differently; stopping",
            self.index,
            if extremes[0] == sum {
                -extremes[1]
            } else {
                extremes[0]
            } as u32,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_rollout_once_and_balance_tokens() {
        let lengths = [9, 1, 5, 5, 3, 7, 2];
        let shards: Vec<Vec<usize>> = (0..3).map(|r| shard(&lengths, r, 3)).collect();
        let mut all: Vec<usize> = shards.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
        let tokens: Vec<usize> = shards
            .iter()
            .map(|s| s.iter().map(|&i| lengths[i]).sum())
            .collect();
        assert!(
            tokens.iter().max().unwrap() - tokens.iter().min().unwrap() <= 2,
            "{tokens:?}"
        );
        assert_eq!(
            shard(&lengths, 0, 1),
            (0..lengths.len()).collect::<Vec<_>>()
        );
        // more replicas than rollouts: some shards are empty
        assert!(shard(&[4], 1, 2).is_empty());
    }
}
