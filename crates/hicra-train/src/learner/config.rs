//! The learner's TOML table, its defaults and documented example, and the set-up `build`
//! does: device and precision first, then the policy (fresh or from a checkpoint). The value
//! checks `hicra validate` reports live in [`super::checks`].

use std::sync::{Arc, OnceLock};

use burn::module::AutodiffModule;
use burn::optim::AdamWConfig;
use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Replication, Stage, StageConfig, refuse};
use hicra_messages::{MetricsRecord, Prompt, RolloutBatch};
use hicra_model::{ComputePath, DeviceSpec, Llama, Precision, RuntimeAutodiff};
use serde::Deserialize;

use super::Learner;
use crate::checkpoint;
use crate::importance::ImportanceCorrection;
use crate::lora::{Lora, LoraConfig};
use crate::loss::{KlEstimator, LossAggregation};
use crate::objective::Objective;
use crate::policy::{PolicyModelConfig, PolicyUpdate};
use crate::schedule::Schedule;
use crate::sft::SftConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnerConfig {
    /// The policy network.
    pub model: PolicyModelConfig,
    /// Where the policy trains: `cpu`, `cuda:N` or `wgpu:N` (see `hicra device list`); the
    /// sampler may use another.
    pub device: DeviceSpec,
    /// Floating-point type of the forward and backward passes: `f32`, `bf16` or `f16`. Low
    /// precisions are mixed precision: the weights and AdamW's state stay f32 and each layer
    /// computes in the low type (norms, softmax and log-probs in f32); checked against the
    /// device at start.
    pub dtype: Precision,
    /// Which implementation runs the forward and backward pass: `auto` (host kernels on the
    /// CPU in f32, burn's autodiff elsewhere: GPUs, bf16/f16), `host` or `tensor` (either
    /// forced, to compare). The reference model's and the importance correction's scoring
    /// follow it.
    pub compute_path: ComputePath,
    /// Seed of the initial weights; absent = the stage seed.
    pub init_seed: Option<u64>,
    /// Peak learning rate of the RL phase.
    pub learning_rate: f64,
    /// `constant` or `cosine`.
    pub schedule: Schedule,
    /// Linear warm-up, in learner steps (one per batch, whatever its mini-batches).
    pub warmup_steps: u64,
    /// Learner steps the cosine schedule spans.
    pub total_steps: u64,
    /// Cosine floor as a fraction of the peak.
    pub min_lr_ratio: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f32,
    /// Global gradient-norm limit (0 = off).
    pub grad_clip: f64,
    /// The policy objective: `ppo` (clipped token surrogate with clip-higher and dual clip),
    /// `gspo` (clipped sequence-level ratio) or `cispo` (clipped stop-gradient weight on every
    /// token), as a name with its defaults or a table `{ kind = "ppo", eps_low = 0.2, ... }`
    /// (see `crate::objective`).
    pub objective: Objective,
    /// Correction for a sampler that differs from the learner (another precision, stale
    /// weights): the learner recomputes the batch's log-probs before its first update and
    /// uses them as `old`, and weights each token's policy loss by `pi_old / mu`, truncated or
    /// masked at `cap`: `{ level = "token" | "sequence", mode = "truncate" | "mask", cap = 2.0 }`.
    /// Absent = off (the sampler's log-probs are `old`).
    pub importance_correction: Option<ImportanceCorrection>,
    /// DAPO's overlong filtering: responses cut at `max_new_tokens` (finish = length) leave
    /// the loss.
    pub mask_truncated: bool,
    /// `token-mean`, `seq-mean-token-mean`, `seq-mean-token-sum`, `seq-mean-token-sum-norm`;
    /// absent = the objective's own (`token-mean`; `gspo`: `seq-mean-token-mean`, the paper's
    /// sequence mean, and `gspo` refuses any other).
    pub loss_aggregation: Option<LossAggregation>,
    /// Dr. GRPO's constant length of `seq-mean-token-sum-norm`, in tokens: set it (usually to
    /// the sampler's `max_new_tokens`) with that aggregation, which refuses 0; unused by the
    /// others.
    pub norm_length: usize,
    /// KL penalty to the policy at the start of RL (0 = off).
    pub kl_coef: f64,
    /// `k1`, `k2` or `k3`.
    pub kl_estimator: KlEstimator,
    /// Entropy coefficient c: the loss gets `-c * H` (aggregated like the policy term), a
    /// bonus for c > 0, a penalty for c < 0; 0 = off (entropies are then not computed).
    pub entropy_coef: f64,
    /// Responses per forward/backward pass inside a mini-batch (gradients accumulate).
    pub micro_batch_size: usize,
    /// Most padded tokens (rows x longest prompt + response) per forward/backward pass, 0 = no
    /// limit: bounds the learner's activation memory whatever the response lengths (a longer
    /// rollout gets a pass of its own). The default keeps a SmolLM2-135M step of 32 rollouts
    /// of 128 tokens under 4 GiB in all (sampler included) and learns as fast as one pass;
    /// tiny models learn faster with larger passes.
    pub micro_batch_tokens: usize,
    /// Responses per optimiser step (0 = the whole batch): each epoch shuffles the batch
    /// (seeded) and takes ceil(N / mini_batch_size) steps, so later steps see ratios away from
    /// 1 and the clip engages.
    pub mini_batch_size: usize,
    /// Passes over each batch; `old` log-probs stay those of the batch's start.
    pub epochs: usize,
    /// Stop the run after this many consecutive steps skipped for NaN/inf.
    pub max_consecutive_skips: u32,
    /// Supervised warm-up on `sft` prompts before RL (off while `sft.steps` is 0).
    pub sft: SftConfig,
    /// Write a checkpoint (weights, optimiser, counters) every this many steps, and after the
    /// last one (0 = never).
    pub checkpoint_every: u64,
    /// Checkpoints kept in `RUN/checkpoints/` (0 = all).
    pub keep_checkpoints: usize,
    /// Data-parallel replicas (`[run.placement] learner = "0-1"`): compare a checksum of
    /// every replica's weights every this many steps and stop on a difference (0 = never).
    pub replica_checksum_every: u64,
    /// Low-rank adapters on a frozen base instead of full fine-tuning:
    /// `{ rank = 16, alpha = 32, targets = ["q", "k", "v", "o", "gate", "up", "down"] }` (see
    /// `crate::lora`); absent = every weight trains.
    pub lora: Option<LoraConfig>,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        Self {
            model: PolicyModelConfig::default(),
            device: DeviceSpec::default(),
            dtype: Precision::default(),
            compute_path: ComputePath::Auto,
            init_seed: None,
            learning_rate: 1e-3,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            total_steps: 100,
            min_lr_ratio: 0.1,
            weight_decay: 0.0,
            grad_clip: 1.0,
            objective: Objective::default(),
            importance_correction: None,
            mask_truncated: false,
            loss_aggregation: None,
            norm_length: 0,
            kl_coef: 0.0,
            kl_estimator: KlEstimator::K3,
            entropy_coef: 0.0,
            micro_batch_size: 32,
            micro_batch_tokens: 512,
            mini_batch_size: 0,
            epochs: 1,
            max_consecutive_skips: 3,
            sft: SftConfig::default(),
            checkpoint_every: 50,
            keep_checkpoints: 3,
            replica_checksum_every: 10,
            lora: None,
        }
    }
}

impl LearnerConfig {
    /// The aggregation the loss uses: the one written, else the objective's own.
    pub fn aggregation(&self) -> LossAggregation {
        self.loss_aggregation
            .unwrap_or_else(|| self.objective.aggregation())
    }
}

impl StageConfig for LearnerConfig {
    const KIND: &'static str = "learner.policy_gradient";
    const SUMMARY: &'static str = "policy gradient (PPO / GSPO / CISPO objectives, epochs x mini-batches, importance correction, KL, entropy, 4 aggregations), AdamW, global clipping, SFT warm-up";
    const EXAMPLE: &'static str = r#"[stages.learner]
kind = "learner.policy_gradient"
inputs = { rollouts = "credit.rollouts", sft = "warmup.prompts" }
# init_seed = 7           # seed of the initial weights; default: the stage seed
learning_rate = 1e-3
schedule = "constant"
warmup_steps = 0
total_steps = 100
min_lr_ratio = 0.1
weight_decay = 0.0
grad_clip = 1.0
objective = { kind = "ppo", eps_low = 0.2, eps_high = 0.28, dual_clip = 0.0 }  # or "ppo", "gspo", "cispo" with defaults
# objective = { kind = "gspo", eps_low = 3e-4, eps_high = 4e-4 }   # sequence-level ratio
# objective = { kind = "cispo", eps_low = 1.0, eps_high = 4.0 }    # clipped weight, every token keeps its gradient
# importance_correction = { level = "token", mode = "truncate", cap = 2.0 }   # off by default; level "sequence", mode "mask"
mask_truncated = false
# loss_aggregation = "token-mean"   # default: the objective's own (gspo: "seq-mean-token-mean", no other)
# loss_aggregation = "seq-mean-token-sum-norm"   # Dr. GRPO: needs norm_length, e.g. the sampler's max_new_tokens
norm_length = 0               # the constant of seq-mean-token-sum-norm (required > 0 there)
kl_coef = 0.0
kl_estimator = "k3"
entropy_coef = 0.0            # > 0 entropy bonus, < 0 penalty
micro_batch_size = 32
micro_batch_tokens = 512
mini_batch_size = 0
epochs = 1
max_consecutive_skips = 3
checkpoint_every = 50
keep_checkpoints = 3
replica_checksum_every = 10   # data-parallel replicas only
# lora = { rank = 16, alpha = 32, targets = ["q", "k", "v", "o", "gate", "up", "down"] }   # adapters on a frozen base; absent = full fine-tuning
device = "cpu"
dtype = "f32"
compute_path = "auto"         # host kernels on the CPU in f32, autodiff elsewhere; "host" or "tensor" forces one
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

    /// Data-parallel: each replica scores a shard of every mini-batch, gradients are summed.
    fn replication(&self) -> Replication {
        Replication::Mirror
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = super::checks::problems(self);
        // the model file is checked as data files are: by `validate`, not first by `run`
        if let Some(spec) = &self.model.checkpoint {
            let missing = crate::trained::check_source(spec).err();
            problems.extend(missing.map(|p| p.invalid("model.checkpoint")));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let seed = self.init_seed.unwrap_or_else(|| ctx.stage_seed());
        let device = self.device.open()?;
        self.dtype.check(self.device, &device)?;
        if let Some(lora) = &self.lora {
            lora.base_dtype.check(self.device, &device)?;
        }
        let (model, model_config, codec) = self.model.build(seed, &device)?;
        let model = model.computing_in(self.dtype);
        let codec = Arc::new(codec);
        let lora = match &self.lora {
            Some(c) => Some(Lora::new(
                c,
                &model,
                self.model.checkpoint.as_deref().unwrap_or("scratch"),
                self.model.checkpoint.is_none().then_some(seed),
                c.init_seed.unwrap_or_else(|| ctx.stage_seed()),
                self.weight_decay,
            )?),
            None => None,
        };
        let optim = AdamWConfig::new()
            .with_weight_decay(self.weight_decay)
            .init::<RuntimeAutodiff, Llama<RuntimeAutodiff>>();
        let mut learner = Learner {
            config: self,
            model: None,
            optim,
            codec,
            model_config,
            reference: None,
            reference_host: OnceLock::new(),
            seed: ctx.stage_seed(),
            step: 0,
            skips: 0,
            run_dir: ctx.run.out_dir.clone(),
            resumed: false,
            replicas: None,
            lora,
        };
        // with a base stored low, the policy starts from the rounded base
        let model = match &learner.lora {
            Some(lora) => lora.start(model, learner.config.dtype),
            None => model,
        };
        match &ctx.run.resume {
            None => learner.model = Some(model),
            Some(point) => {
                let reference = (learner.config.kl_coef > 0.0).then(|| model.valid());
                let restored = match learner.lora.as_mut() {
                    Some(lora) => lora.resume(&point.dir, model, learner.optim)?,
                    None => checkpoint::load(&point.dir, model, learner.optim, reference)?,
                };
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
