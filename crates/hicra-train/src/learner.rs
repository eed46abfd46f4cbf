//! `learner.policy_gradient`: owns the policy, optionally warms it up with supervised
//! fine-tuning, then takes one optimiser step per credited batch and sends the new weights to
//! the samplers.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::tensor::{Tensor, TensorData};
use hicra_flow::{
    BoxError, BuildContext, Outbox, Ports, Stage, StageConfig, StageContext, StageResult,
};
use hicra_messages::{Metrics, MetricsRecord, Prompt, RolloutBatch};
use hicra_model::{DeviceSpec, Llama, RuntimeAutodiff, RuntimeBackend, score};

use crate::codec::TextCodec;
use serde::Deserialize;

use crate::checkpoint;
use crate::clip::clip_global_norm;
use crate::loss::{
    KlEstimator, LossAggregation, SurrogateInputs, SurrogateOptions, surrogate, token_weights,
};
use crate::policy::{PolicyModelConfig, PolicyUpdate};
use crate::schedule::{Schedule, learning_rate};
use crate::sft::{SftConfig, sft_warmup};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnerConfig {
    /// The policy network. Default: see `[model]` fields.
    #[serde(default)]
    pub model: PolicyModelConfig,
    /// Where the policy trains: `cpu`, `cuda:N` or `wgpu:N` (see `hicra device list`); the
    /// sampler may use another. Default: `cpu`.
    #[serde(default)]
    pub device: DeviceSpec,
    /// Seed of the initial weights. Default: the stage seed.
    #[serde(default)]
    pub init_seed: Option<u64>,
    /// Peak learning rate of the RL phase. Default: 1e-3.
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    /// `constant` or `cosine`. Default: `constant`.
    #[serde(default = "default_schedule")]
    pub schedule: Schedule,
    /// Linear warm-up, in optimiser steps. Default: 0.
    #[serde(default)]
    pub warmup_steps: u64,
    /// Optimiser steps the cosine schedule spans. Default: 100.
    #[serde(default = "default_total")]
    pub total_steps: u64,
    /// Cosine floor as a fraction of the peak. Default: 0.1.
    #[serde(default = "default_min_ratio")]
    pub min_lr_ratio: f64,
    /// AdamW decoupled weight decay. Default: 0.
    #[serde(default)]
    pub weight_decay: f32,
    /// Global gradient-norm limit (0 = off). Default: 1.0.
    #[serde(default = "default_clip")]
    pub grad_clip: f64,
    /// Lower clip range of the ratio. Default: 0.2.
    #[serde(default = "default_eps_low")]
    pub eps_low: f64,
    /// Upper clip range of the ratio (clip-higher). Default: 0.28.
    #[serde(default = "default_eps_high")]
    pub eps_high: f64,
    /// Dual-clip constant for negative advantages (0 = off, else > 1). Default: 0.
    #[serde(default)]
    pub dual_clip: f64,
    /// `token-mean`, `seq-mean-token-mean`, `seq-mean-token-sum`, `seq-mean-token-sum-norm`.
    /// Default: `token-mean`.
    #[serde(default = "default_agg")]
    pub loss_aggregation: LossAggregation,
    /// Constant length of `seq-mean-token-sum-norm`, in tokens (0 = longest response). Default: 0.
    #[serde(default)]
    pub norm_length: usize,
    /// KL penalty to the policy at the start of RL (0 = off). Default: 0.
    #[serde(default)]
    pub kl_coef: f64,
    /// `k1`, `k2` or `k3`. Default: `k3`.
    #[serde(default = "default_kl")]
    pub kl_estimator: KlEstimator,
    /// Entropy bonus (0 = off). Default: 0.
    #[serde(default)]
    pub entropy_coef: f64,
    /// Responses per forward/backward pass (gradients accumulate). Default: 32.
    #[serde(default = "default_micro")]
    pub micro_batch_size: usize,
    /// Optimisation passes over each batch. Default: 1.
    #[serde(default = "one")]
    pub epochs: usize,
    /// Stop the run after this many consecutive steps skipped for NaN/inf. Default: 3.
    #[serde(default = "three")]
    pub max_consecutive_skips: u32,
    /// Supervised warm-up on `sft` prompts before RL. Default: off.
    #[serde(default)]
    pub sft: SftConfig,
    /// Write a checkpoint (weights, optimiser, counters) every this many steps, and after the
    /// last one (0 = never). Default: 50.
    #[serde(default = "fifty")]
    pub checkpoint_every: u64,
    /// Checkpoints kept in `RUN/checkpoints/` (0 = all). Default: 3.
    #[serde(default = "three_usize")]
    pub keep_checkpoints: usize,
}

fn default_lr() -> f64 {
    1e-3
}
fn default_schedule() -> Schedule {
    Schedule::Constant
}
fn default_total() -> u64 {
    100
}
fn default_min_ratio() -> f64 {
    0.1
}
fn default_clip() -> f64 {
    1.0
}
fn default_eps_low() -> f64 {
    0.2
}
fn default_eps_high() -> f64 {
    0.28
}
fn default_agg() -> LossAggregation {
    LossAggregation::TokenMean
}
fn default_kl() -> KlEstimator {
    KlEstimator::K3
}
fn default_micro() -> usize {
    32
}
fn one() -> usize {
    1
}
fn three() -> u32 {
    3
}
fn three_usize() -> usize {
    3
}
fn fifty() -> u64 {
    50
}

impl StageConfig for LearnerConfig {
    const KIND: &'static str = "learner.policy_gradient";
    const SUMMARY: &'static str = "clipped policy gradient (clip-higher, KL, entropy, 4 aggregations), AdamW, global clipping, SFT warm-up";
    const EXAMPLE: &'static str = r#"[stages.learner]
kind = "learner.policy_gradient"
inputs = { rollouts = "credit.rollouts", sft = "warmup.prompts" }
learning_rate = 1e-3
schedule = "constant"
warmup_steps = 0
total_steps = 100
min_lr_ratio = 0.1
weight_decay = 0.0
grad_clip = 1.0
eps_low = 0.2
eps_high = 0.28
dual_clip = 0.0
loss_aggregation = "token-mean"
norm_length = 0
kl_coef = 0.0
kl_estimator = "k3"
entropy_coef = 0.0
micro_batch_size = 32
epochs = 1
max_consecutive_skips = 3
checkpoint_every = 50
keep_checkpoints = 3
device = "cpu"
model = { hidden_size = 64, intermediate_size = 128, num_layers = 2, num_heads = 4, num_kv_heads = 2, max_seq_len = 64, rope_theta = 10000.0 }
sft = { steps = 0, batch_size = 32, learning_rate = 3e-3 }
"#;

    fn ports(&self) -> Ports {
        Ports::new()
            .input::<RolloutBatch>("rollouts", "credited batches to train on")
            .optional_input::<Prompt>(
                "sft",
                "warm-up prompts with a worked solution in meta.solution",
            )
            .output::<PolicyUpdate>(
                "weights",
                "the policy after each update (version 0 = initial)",
            )
            .output::<MetricsRecord>("metrics", "per-step training figures with the batch's own")
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        let checks = [
            (
                self.learning_rate > 0.0 && self.learning_rate.is_finite(),
                "learning_rate must be positive",
            ),
            (
                self.eps_low >= 0.0 && self.eps_low < 1.0 && self.eps_high >= 0.0,
                "need 0 <= eps_low < 1 and eps_high >= 0",
            ),
            (
                self.dual_clip == 0.0 || self.dual_clip > 1.0,
                "dual_clip must be 0 (off) or > 1",
            ),
            (
                self.micro_batch_size > 0 && self.epochs > 0,
                "micro_batch_size and epochs must be positive",
            ),
        ];
        if let Some((_, message)) = checks.iter().find(|(ok, _)| !ok) {
            return Err((*message).into());
        }
        let seed = self.init_seed.unwrap_or_else(|| ctx.stage_seed());
        let device = self.device.open()?;
        let (model, _, codec) = self.model.build(seed, &device)?;
        let codec = Arc::new(codec);
        let optim = AdamWConfig::new()
            .with_weight_decay(self.weight_decay)
            .init::<RuntimeAutodiff, Llama<RuntimeAutodiff>>();
        let mut learner = Learner {
            config: self,
            model: None,
            optim,
            codec,
            reference: None,
            step: 0,
            skips: 0,
            run_dir: ctx.run.out_dir.clone(),
            resumed: false,
        };
        match &ctx.run.resume {
            None => learner.model = Some(model),
            Some(point) => {
                let reference = (learner.config.kl_coef > 0.0).then(|| model.valid());
                let restored = checkpoint::load(&point.dir, model, learner.optim, reference)?;
                learner.model = Some(restored.model);
                learner.optim = restored.optim;
                learner.reference = restored.reference;
                learner.step = restored.counters.step;
                learner.skips = restored.counters.skips;
                learner.resumed = true;
            }
        }
        Ok(Box::new(learner))
    }
}

pub struct Learner<O> {
    config: LearnerConfig,
    model: Option<Llama<RuntimeAutodiff>>,
    optim: O,
    codec: Arc<TextCodec>,
    reference: Option<Llama<RuntimeBackend>>,
    step: u64,
    skips: u32,
    run_dir: std::path::PathBuf,
    /// Started from a checkpoint: no warm-up, the reference came with it.
    resumed: bool,
}

impl<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>> Learner<O> {
    /// Writes a checkpoint after `self.step` steps when one is due (or `force`d).
    fn checkpoint(&self, ctx: &StageContext, force: bool) -> Result<(), BoxError> {
        let every = self.config.checkpoint_every;
        let due = every > 0 && self.step > 0 && (force || self.step % every == 0);
        if !due {
            return Ok(());
        }
        let counters = checkpoint::Counters {
            step: self.step,
            skips: self.skips,
        };
        let dir = hicra_flow::checkpoint::save(
            &self.run_dir,
            self.step,
            ctx.id(),
            self.config.keep_checkpoints,
            |dir| {
                checkpoint::save(
                    dir,
                    self.model(),
                    &self.optim,
                    self.reference.as_ref(),
                    counters,
                )
            },
        )?;
        tracing::info!(step = self.step, dir = %dir.display(), "checkpoint written");
        Ok(())
    }

    fn model(&self) -> &Llama<RuntimeAutodiff> {
        self.model
            .as_ref()
            .expect("the model is only taken during an update")
    }

    fn publish(&self, out: &Outbox<PolicyUpdate>) -> Result<(), hicra_flow::Stopped> {
        let update = PolicyUpdate {
            version: self.step,
            model: Mutex::new(self.model().valid()),
            codec: self.codec.clone(),
        };
        out.send(update)
    }

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

    fn skip(&mut self, mut m: Metrics, what: &str) -> Result<Metrics, BoxError> {
        self.skips += 1;
        tracing::warn!(
            step = self.step,
            consecutive = self.skips,
            "non-finite {what}: step skipped"
        );
        if self.skips >= self.config.max_consecutive_skips {
            return Err(format!(
                "{} consecutive steps had a non-finite {what}; stopping",
                self.skips
            )
            .into());
        }
        m.insert("learner/skipped".into(), 1.0);
        // A skipped batch still advances the version, so samplers waiting for it go on.
        self.step += 1;
        Ok(m)
    }
}

impl<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff> + 'static> Stage for Learner<O> {
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let rollouts = ctx.input::<RolloutBatch>("rollouts");
        let sft = ctx.input::<Prompt>("sft");
        let weights = ctx.output::<PolicyUpdate>("weights");
        let metrics = ctx.output::<MetricsRecord>("metrics");
        if self.config.sft.steps > 0 && !self.resumed {
            let model = self.model.take().expect("model present");
            let (model, figures) = sft_warmup(model, &self.codec, &sft, &self.config.sft, ctx)?;
            self.model = Some(model);
            metrics.send(MetricsRecord {
                step: 0,
                source: ctx.id().into(),
                values: figures,
            })?;
        }
        drop(sft);
        if self.config.kl_coef > 0.0 && self.reference.is_none() {
            self.reference = Some(self.model().valid());
        }
        self.publish(&weights)?;
        let mut last_checkpoint = self.step;
        while let Some(batch) = rollouts.recv() {
            ctx.check_cancelled()?;
            let mut values = batch.metrics.clone();
            values.extend(self.train(&batch)?);
            values.insert("policy_version".into(), batch.policy_version as f64);
            metrics.send(MetricsRecord {
                step: batch.step,
                source: ctx.id().into(),
                values,
            })?;
            self.publish(&weights)?;
            self.checkpoint(ctx, false)?;
            if self.step % self.config.checkpoint_every.max(1) == 0 {
                last_checkpoint = self.step;
            }
        }
        if self.step > last_checkpoint {
            self.checkpoint(ctx, true)?;
        }
        Ok(())
    }
}
