//! One optimiser step of the learner on a credited batch: every rollout re-scored with
//! autodiff in micro-batches (gradients accumulate, each token weighted by the loss
//! aggregation so micro-batches add up to the full-batch gradient), the clipped surrogate,
//! global-norm clipping, AdamW; a non-finite loss or gradient skips the step.

use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams, Optimizer};
use burn::tensor::{Tensor, TensorData};
use hicra_flow::BoxError;
use hicra_messages::{Metrics, RolloutBatch};
use hicra_model::{Llama, RuntimeAutodiff, score};

use super::Learner;
use crate::clip::clip_global_norm;
use crate::loss::{SurrogateInputs, SurrogateOptions, surrogate, token_weights};
use crate::schedule::learning_rate;

impl<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>> Learner<O> {
    /// One optimiser step on a credited batch; returns its figures.
    pub fn train(&mut self, batch: &RolloutBatch) -> Result<Metrics, BoxError> {
        let started = Instant::now();
        let mut score_secs = 0.0;
        let rollouts: Vec<_> = batch.rollouts().filter(|r| !r.tokens.is_empty()).collect();
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
        if rollouts.is_empty() {
            m.insert("learner/empty_batch".into(), 1.0);
            return Ok(m);
        }
        let tokens: usize = rollouts.iter().map(|r| r.len()).sum();
        let norm_length = if self.config.norm_length > 0 {
            self.config.norm_length
        } else {
            rollouts.iter().map(|r| r.len()).max().unwrap_or(1)
        };
        let options = SurrogateOptions {
            eps_low: self.config.eps_low,
            eps_high: self.config.eps_high,
            dual_clip: self.config.dual_clip,
            kl_coef: self.config.kl_coef,
            kl_estimator: self.config.kl_estimator,
            entropy_coef: self.config.entropy_coef,
        };
        let device = self.model().device();
        let (mut loss_sum, mut clipped, mut kl_sum, mut gap) = (0f64, 0f64, 0f64, 0f32);
        let mut accumulator = GradientsAccumulator::<Llama<RuntimeAutodiff>>::new();
        for _ in 0..self.config.epochs {
            for chunk in rollouts.chunks(self.config.micro_batch_size) {
                let pairs: Vec<(&[u32], &[u32])> = chunk
                    .iter()
                    .map(|r| (r.prompt_tokens.as_slice(), r.tokens.as_slice()))
                    .collect();
                let scoring = Instant::now();
                let scored = score(self.model(), &pairs, &device);
                score_secs += scoring.elapsed().as_secs_f64();
                let width = scored.mask.dims()[1];
                let lengths: Vec<usize> = chunk.iter().map(|r| r.len()).collect();
                let pad = |get: &dyn Fn(usize) -> Vec<f32>| -> Tensor<RuntimeAutodiff, 2> {
                    let mut data = vec![0f32; chunk.len() * width];
                    for (i, len) in lengths.iter().enumerate() {
                        data[i * width..i * width + len].copy_from_slice(&get(i));
                    }
                    Tensor::from_data(TensorData::new(data, [chunk.len(), width]), &device)
                };
                let old = pad(&|i| chunk[i].logprobs.clone());
                let advantages = pad(&|i| chunk[i].advantages.clone());
                let weights = token_weights(
                    self.config.loss_aggregation,
                    &lengths,
                    width,
                    rollouts.len(),
                    tokens,
                    norm_length,
                );
                let weights =
                    Tensor::from_data(TensorData::new(weights, [chunk.len(), width]), &device);
                let ref_logprobs = self.reference.as_ref().map(|r| {
                    let s = score(r, &pairs, &device);
                    Tensor::<RuntimeAutodiff, 2>::from_data(s.logprobs.into_data(), &device)
                });
                let diff: f32 = (scored.logprobs.clone() - old.clone())
                    .abs()
                    .mul(scored.mask.clone())
                    .max()
                    .into_scalar();
                gap = gap.max(diff);
                let out = surrogate(
                    SurrogateInputs {
                        logprobs: scored.logprobs,
                        old_logprobs: old,
                        advantages,
                        mask: scored.mask.clone(),
                        weights,
                        entropies: scored.entropies,
                        ref_logprobs,
                    },
                    &options,
                );
                clipped += f64::from(out.clipped.sum().into_scalar());
                if let Some(kl) = out.kl {
                    kl_sum += f64::from((kl * scored.mask).sum().into_scalar());
                }
                let loss_value = f64::from(out.loss.clone().into_scalar());
                loss_sum += loss_value;
                if !loss_value.is_finite() {
                    return self.skip(m, "loss");
                }
                let grads = GradientsParams::from_grads(out.loss.backward(), self.model());
                accumulator.accumulate(self.model(), grads);
            }
        }
        let mut grads = accumulator.grads();
        let norm =
            clip_global_norm::<RuntimeAutodiff, _>(self.model(), &mut grads, self.config.grad_clip);
        if !norm.is_finite() {
            return self.skip(m, "gradient");
        }
        let model = self.model.take().expect("model present");
        self.model = Some(self.optim.step(lr, model, grads));
        self.skips = 0;
        self.step += 1;
        let passes = (self.config.epochs * tokens) as f64;
        m.insert("loss/policy".into(), loss_sum / self.config.epochs as f64);
        m.insert("pg_clipfrac".into(), clipped / passes);
        m.insert("grad_norm".into(), norm);
        m.insert("logprob_gap/sampler_vs_learner_max".into(), f64::from(gap));
        if self.config.kl_coef > 0.0 {
            m.insert("kl".into(), kl_sum / passes);
        }
        let secs = started.elapsed().as_secs_f64();
        m.insert("timing/learn_secs".into(), secs);
        m.insert("timing/score_secs".into(), score_secs);
        m.insert("tokens_per_sec/learn".into(), passes / secs.max(1e-9));
        let sample_secs = batch
            .metrics
            .get("timing/sample_secs")
            .copied()
            .unwrap_or(0.0);
        let response_tokens = tokens as f64;
        m.insert(
            "tokens_per_sec".into(),
            response_tokens / (sample_secs + secs).max(1e-9),
        );
        Ok(m)
    }
}
