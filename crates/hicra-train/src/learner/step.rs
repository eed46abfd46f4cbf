//! One learner step on a credited batch: its rollouts checked ([`super::inputs`]: per-token
//! arrays of the right length, advantages present, else an error naming the rollout), the
//! rollouts to train on (empty ones out, truncated
//! ones too under `mask_truncated`), their `old` log-probs (the sampler's, or the learner's
//! own recomputation with importance weights under `importance_correction`, whose masked
//! tokens leave the loss as padding), then `epochs`
//! passes over the batch, each shuffled (seeded by the stage seed and the step) into
//! mini-batches of `mini_batch_size` rollouts with one optimiser step each ([`super::update`]).
//! With one epoch and the whole batch as one mini-batch this is a single step over the batch
//! in its own order. Tokens a tree leaf repeats from a leaf sampled before it
//! ([`TREE_REPEAT_MASK`]) leave the loss as padding does, so each sampled token is trained once.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use hicra_flow::{BoxError, derive_seed};
use hicra_messages::{FinishReason, Metrics, Rollout, RolloutBatch, TREE_REPEAT_MASK};
use hicra_model::{HostModel, Llama, RuntimeAutodiff};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::Learner;
use super::micro::Item;
use super::update::Totals;
use crate::importance::Weights;
use crate::micro_batch::plan_micro_batches;
use crate::pass::score_logprobs;
use crate::schedule::learning_rate;

impl<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>> Learner<O> {
    /// Trains on a credited batch; returns its figures.
    pub fn train(&mut self, batch: &RolloutBatch) -> Result<Metrics, BoxError> {
        let started = Instant::now();
        let mut m = Metrics::new();
        let lr = learning_rate(
            self.config.learning_rate,
            self.config.schedule,
            self.step,
            self.config.warmup_steps,
            self.config.total_steps,
            self.config.min_lr_ratio,
        );
        m.insert("lr".into(), lr);
        super::inputs::check(batch)?;
        let scored: Vec<&Rollout> = batch.rollouts().filter(|r| !r.tokens.is_empty()).collect();
        let rollouts: Vec<&Rollout> = scored
            .iter()
            .copied()
            .filter(|r| !(self.config.mask_truncated && r.finish == Some(FinishReason::Length)))
            .collect();
        if self.config.mask_truncated {
            let dropped = (scored.len() - rollouts.len()) as f64;
            m.insert(
                "learner/truncated_masked_frac".into(),
                dropped / scored.len().max(1) as f64,
            );
        }
        if rollouts.is_empty() {
            m.insert("learner/empty_batch".into(), 1.0);
            // the version still advances, so samplers waiting for it go on
            self.step += 1;
            return Ok(m);
        }
        // checked > 0 with seq-mean-token-sum-norm, the only aggregation that reads it
        let norm_length = self.config.norm_length;
        let mut totals = Totals::default();
        let behaviour: Vec<Vec<f32>> = rollouts.iter().map(|r| r.logprobs.clone()).collect();
        let (old, importance): (_, Option<Weights>) = match self.config.importance_correction {
            None => (behaviour, None),
            Some(correction) => {
                let scoring = Instant::now();
                let old = self.recompute_logprobs(&rollouts);
                totals.score_secs += scoring.elapsed().as_secs_f64();
                totals.gap = max_gap(&old, &behaviour);
                let weights = correction.weights(&old, &behaviour);
                m.insert("importance/weight_mean".into(), weights.mean);
                m.insert("importance/clipped_frac".into(), weights.clipped_frac);
                (old, Some(weights))
            }
        };
        let kept = kept_tokens(&rollouts, importance.as_ref());
        let repeats = rollouts
            .iter()
            .filter_map(|r| r.masks.get(TREE_REPEAT_MASK))
            .flatten()
            .filter(|&&x| x)
            .count();
        if repeats > 0 {
            let tokens: usize = rollouts.iter().map(|r| r.len()).sum();
            m.insert(
                "learner/tree_repeat_frac".into(),
                repeats as f64 / tokens as f64,
            );
        }
        let n = rollouts.len();
        let size = match self.config.mini_batch_size {
            0 => n,
            m => m.min(n),
        };
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
            self.seed,
            &format!("mini-batches-{}", self.step),
        ));
        for _ in 0..self.config.epochs {
            if size < n {
                order.shuffle(&mut rng);
            }
            for chunk in order.chunks(size) {
                let items: Vec<Item> = chunk
                    .iter()
                    .map(|&i| Item {
                        rollout: rollouts[i],
                        old: &old[i],
                        importance: importance.as_ref().map(|w| w.per_token[i].as_slice()),
                        kept: kept[i].as_deref(),
                    })
                    .collect();
                let measure_gap = importance.is_none() && totals.updates == 0;
                self.update(&items, lr, norm_length, measure_gap, &mut totals);
            }
        }
        if totals.taken == 0 {
            return self.skip(m, totals.skipped_for.unwrap_or("loss"));
        }
        self.skips = 0;
        self.step += 1;
        totals.report(
            &mut m,
            self.config.kl_coef > 0.0,
            self.config.entropy_coef != 0.0,
        );
        let secs = started.elapsed().as_secs_f64();
        m.insert("timing/learn_secs".into(), secs);
        m.insert("timing/score_secs".into(), totals.score_secs);
        m.insert(
            "tokens_per_sec/learn".into(),
            totals.scored_tokens as f64 / secs.max(1e-9),
        );
        let sample_secs = batch
            .metrics
            .get("timing/sample_secs")
            .copied()
            .unwrap_or(0.0);
        let response_tokens: usize = rollouts.iter().map(|r| r.len()).sum();
        m.insert(
            "tokens_per_sec".into(),
            response_tokens as f64 / (sample_secs + secs).max(1e-9),
        );
        Ok(m)
    }

    /// The current policy's log-probs of `rollouts` (no gradient), each at its own sampling
    /// temperature, in micro-batches, on the path `compute_path` picks (the host one on a copy
    /// of the weights made here).
    fn recompute_logprobs(&self, rollouts: &[&Rollout]) -> Vec<Vec<f32>> {
        let model = self.model().valid();
        let host = HostModel::on_path(&model, self.config.compute_path);
        let mut out = Vec::with_capacity(rollouts.len());
        let lengths: Vec<usize> = rollouts
            .iter()
            .map(|r| r.prompt_tokens.len() + r.len())
            .collect();
        let plan = plan_micro_batches(
            &lengths,
            self.config.micro_batch_size,
            self.config.micro_batch_tokens,
        );
        for range in plan {
            let chunk = &rollouts[range];
            let pairs: Vec<(&[u32], &[u32])> = chunk
                .iter()
                .map(|r| (r.prompt_tokens.as_slice(), r.tokens.as_slice()))
                .collect();
            let temperatures: Vec<f32> = chunk.iter().map(|r| r.logprob_temperature()).collect();
            let scored = score_logprobs(&model, host.as_ref(), &pairs, &temperatures);
            let width = scored.shape[1];
            let flat = scored
                .convert::<f32>()
                .into_vec::<f32>()
                .expect("float log-probs");
            for (i, r) in chunk.iter().enumerate() {
                out.push(flat[i * width..i * width + r.len()].to_vec());
            }
        }
        out
    }
}

/// The largest |a - b| over matching tokens.
fn max_gap(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Which tokens of each rollout stay in the loss (`None`: all): not those masked by
/// importance sampling, nor those a tree leaf repeats from another leaf.
fn kept_tokens(rollouts: &[&Rollout], importance: Option<&Weights>) -> Vec<Option<Vec<bool>>> {
    rollouts
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let by_importance = importance.map(|w| &w.kept[i]);
            match r.masks.get(TREE_REPEAT_MASK) {
                None => by_importance.cloned(),
                Some(repeat) => Some(
                    repeat
                        .iter()
                        .enumerate()
                        .map(|(t, &rep)| !rep && by_importance.is_none_or(|k| k[t]))
                        .collect(),
                ),
            }
        })
        .collect()
}
