//! One optimiser step on a mini-batch: its rollouts re-scored in micro-batches
//! ([`crate::micro_batch`]: bounded in rows and padded tokens) at their sampling temperature,
//! differentiably on the path `compute_path` picks ([`crate::pass`]: burn's autodiff, or the
//! host kernels over a copy of the weights made once per step), the loss of each built the
//! same way on either ([`super::micro`]) (gradients accumulate, each token weighted by the loss
//! aggregation over the mini-batch so micro-batches add up to the mini-batch gradient; tokens
//! masked by importance sampling weigh as padding), the objective's loss, global-norm
//! clipping, AdamW (with LoRA: on the adapters, their gradients projected, [`crate::lora`]). A non-finite loss or gradient skips this step (the model is left as it
//! was) and is counted; the batch's figures add up in [`Totals`]: `loss/policy` (the policy
//! term alone), `loss/kl` and `loss/entropy` (the weighted, aggregated terms, when on) and
//! `loss/total` (their sum, the loss differentiated), each a mean over the optimiser steps.

use std::time::Instant;

use burn::optim::Optimizer;
use hicra_messages::Metrics;
use hicra_model::{Llama, RuntimeAutodiff};

use super::Learner;
use super::micro::{Item, Micro, StepShared};
use super::replicas::{ShardSums, shard};
use crate::clip::clip_global_norm;
use crate::loss::{Denominators, SurrogateOptions};
use crate::micro_batch::plan_micro_batches;
use crate::pass::Pass;

/// The figures of a batch's optimiser steps, added up.
#[derive(Default)]
pub(super) struct Totals {
    /// Optimiser steps attempted and taken.
    pub updates: usize,
    pub taken: usize,
    /// Why the last skipped step was skipped (`loss` or `gradient`).
    pub skipped_for: Option<&'static str>,
    loss_sum: f64,
    policy_sum: f64,
    kl_term_sum: f64,
    entropy_term_sum: f64,
    norm_sum: f64,
    norm_max: f64,
    clipped: f64,
    kl_sum: f64,
    /// Response tokens scored with autodiff (epochs x tokens when nothing is skipped).
    pub scored_tokens: usize,
    /// Of those, the tokens in the loss (the denominators of `pg_clipfrac` and `kl`).
    loss_tokens: usize,
    pub score_secs: f64,
    /// Largest |learner - sampler| log-prob before any update of the batch.
    pub gap: f32,
}

impl Totals {
    pub fn report(&self, m: &mut Metrics, with_kl: bool, with_entropy: bool) {
        let taken = self.taken.max(1) as f64;
        let tokens = self.loss_tokens.max(1) as f64;
        m.insert("loss/policy".into(), self.policy_sum / taken);
        m.insert("loss/total".into(), self.loss_sum / taken);
        if with_kl {
            m.insert("loss/kl".into(), self.kl_term_sum / taken);
        }
        if with_entropy {
            m.insert("loss/entropy".into(), self.entropy_term_sum / taken);
        }
        m.insert("pg_clipfrac".into(), self.clipped / tokens);
        m.insert("grad_norm".into(), self.norm_sum / taken);
        m.insert("grad_norm/max".into(), self.norm_max);
        m.insert("learner/optimizer_steps".into(), self.taken as f64);
        if self.updates > self.taken {
            m.insert(
                "learner/skipped_updates".into(),
                (self.updates - self.taken) as f64,
            );
        }
        m.insert(
            "logprob_gap/sampler_vs_learner_max".into(),
            f64::from(self.gap),
        );
        if with_kl {
            m.insert("kl".into(), self.kl_sum / tokens);
        }
    }
}

impl<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>> Learner<O> {
    /// One optimiser step on `items` at learning rate `lr`; `measure_gap` compares the
    /// learner's log-probs with `old` (only meaningful before the batch's first update).
    pub(super) fn update(
        &mut self,
        items: &[Item],
        lr: f64,
        norm_length: usize,
        measure_gap: bool,
        totals: &mut Totals,
    ) {
        totals.updates += 1;
        let shared = StepShared {
            options: SurrogateOptions {
                objective: self.config.objective,
                kl_coef: self.config.kl_coef,
                kl_estimator: self.config.kl_estimator,
                entropy_coef: self.config.entropy_coef,
            },
            aggregation: self.config.aggregation(),
            denominators: Denominators::new(
                &items.iter().map(Item::kept_tokens).collect::<Vec<_>>(),
                norm_length,
            ),
            measure_gap,
        };
        let tokens: usize = items.iter().map(|i| i.rollout.len()).sum();
        let mut sums = ShardSums::default();
        let lengths: Vec<usize> = items
            .iter()
            .map(|i| i.rollout.prompt_tokens.len() + i.rollout.len())
            .collect();
        // data-parallel replicas score their shard only (the weights stay the mini-batch's)
        let picked: Vec<usize> = match &self.replicas {
            Some(r) => shard(&lengths, r.index, r.count),
            None => (0..items.len()).collect(),
        };
        let shard: Vec<Item> = picked.iter().map(|&i| items[i]).collect();
        let lengths: Vec<usize> = picked.iter().map(|&i| lengths[i]).collect();
        let plan = plan_micro_batches(
            &lengths,
            self.config.micro_batch_size,
            self.config.micro_batch_tokens,
        );
        // the host path copies the weights once per optimiser step
        let mut pass = Pass::new(self.model(), self.config.compute_path);
        let entropies = self.config.entropy_coef != 0.0;
        let mut non_finite = false;
        for range in plan {
            let micro = Micro::of(&shard[range]);
            let scoring = Instant::now();
            let (scored, tape) =
                pass.forward(self.model(), &micro.pairs, &micro.temperatures, entropies);
            totals.score_secs += scoring.elapsed().as_secs_f64();
            let Some(loss) = self.micro_loss(&micro, scored, &shared, &mut sums) else {
                non_finite = true;
                break;
            };
            pass.backward(self.model(), loss, tape);
        }
        let mut grads = pass.grads(self.model());
        if let Some(lora) = &self.lora {
            // the adapters' gradients, projected from the merged weights' (before any
            // all-reduce, so replicas exchange the adapters' gradients only)
            grads = lora.project(self.model(), &grads);
        }
        if let Some(mut replicas) = self.replicas.take() {
            sums.non_finite = f64::from(u8::from(non_finite));
            let (summed, reduced) = match &self.lora {
                Some(lora) => replicas.reduce(lora.adapters(), &grads, sums),
                None => replicas.reduce(self.model(), &grads, sums),
            };
            self.replicas = Some(replicas);
            grads = summed;
            sums = reduced;
            non_finite = sums.non_finite > 0.0;
        }
        if non_finite {
            self.skipped_update(totals, "loss");
            return;
        }
        let clip = self.config.grad_clip;
        let norm = match &self.lora {
            Some(lora) => lora.clip(&mut grads, clip),
            None => clip_global_norm::<RuntimeAutodiff, _>(self.model(), &mut grads, clip),
        };
        if !norm.is_finite() {
            self.skipped_update(totals, "gradient");
            return;
        }
        let model = self.model.take().expect("model present");
        self.model = Some(match &mut self.lora {
            Some(lora) => lora.step(lr, model, grads),
            None => self.optim.step(lr, model, grads),
        });
        totals.taken += 1;
        totals.loss_sum += sums.loss;
        totals.policy_sum += sums.policy;
        totals.kl_term_sum += sums.kl_term;
        totals.entropy_term_sum += sums.entropy_term;
        totals.norm_sum += norm;
        totals.norm_max = totals.norm_max.max(norm);
        totals.clipped += sums.clipped;
        totals.kl_sum += sums.kl;
        totals.scored_tokens += tokens;
        totals.loss_tokens += shared.denominators.tokens;
        totals.gap = totals.gap.max(sums.gap);
    }

    fn skipped_update(&self, totals: &mut Totals, what: &'static str) {
        tracing::warn!(
            step = self.step,
            "non-finite {what}: optimiser step skipped"
        );
        totals.skipped_for = Some(what);
    }
}
