//! The sampler's TOML table, its defaults and documented example, and `build`: the checks on
//! the sampling parameters, the device opened and its precision checked.

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Replication, Stage, StageConfig, refuse};
use hicra_messages::{Prompt, RolloutBatch};
use hicra_model::{DeviceSpec, Precision};
use serde::Deserialize;

use super::Sampler;
use super::tree_config::TreeConfig;
use crate::dynamic_sampling::SampleDemand;
use crate::policy::PolicyUpdate;

/// `device` refused when this binary was built without its backend.
pub(crate) fn device_built(field: &str, spec: DeviceSpec) -> Option<Invalid> {
    match spec.device() {
        Err(e @ hicra_model::DeviceError::NotBuilt { .. }) => {
            Some(Invalid::new(field, e.to_string()))
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerConfig {
    /// Prompts per training step.
    pub prompts_per_step: usize,
    /// Responses sampled per prompt (G).
    pub group_size: usize,
    /// Training steps to sample for; 0 = until the prompts run out.
    pub steps: u64,
    /// Most tokens per response.
    pub max_new_tokens: usize,
    /// Sampling temperature (0 = greedy). Recorded log-probs and entropies are those of
    /// `softmax(logits / temperature)` (1 when greedy), and the learner scores at the same
    /// temperature, read from each rollout.
    pub temperature: f32,
    /// Nucleus mass (1 = off). It restricts the draw only: the recorded log-prob stays that of
    /// the full tempered distribution, so training on truncated draws is slightly off-policy.
    pub top_p: f32,
    /// Keep the k likeliest tokens (0 = off); restricts the draw only, like `top_p`.
    pub top_k: usize,
    /// How many versions the policy may lag behind the step it samples for.
    pub max_staleness: u64,
    /// Evaluation mode: evaluate policy versions 0, N, 2N, ... and the last one, each exactly
    /// (the `weights` edge becomes a queue that delivers every version; the batch's step is
    /// the version scored, and its seed derives from it, so evaluation figures are
    /// reproducible by seed). A learner more than the edge's capacity of versions ahead of a
    /// busy evaluator waits for it. 0 = training mode.
    pub eval_every: u64,
    /// Where sampling runs: `cpu`, `cuda:N` or `wgpu:N`; weights from a learner on another
    /// device are copied here through host memory.
    pub device: DeviceSpec,
    /// Floating-point type of the sampler's copy of the weights and of its forward passes:
    /// `f32`, `bf16` or `f16` (half the memory and bandwidth; logits and log-probs stay f32,
    /// and the learner's `logprob_gap/sampler_vs_learner_max` shows what the rounding costs);
    /// checked against the device at start.
    pub dtype: Precision,
    /// Tree rollouts (training only): `group_size` first responses per prompt, then branches
    /// that share their prefixes, e.g. `{ depth = 1, points = 2, children = 1, max_leaves =
    /// 16, branch_at = "entropy" }` (docs/formulas/step-credit.md#tree-rollouts); absent:
    /// independent responses.
    pub tree: Option<TreeConfig>,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            prompts_per_step: 8,
            group_size: 8,
            steps: 0,
            max_new_tokens: 32,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            max_staleness: 0,
            eval_every: 0,
            device: DeviceSpec::default(),
            dtype: Precision::default(),
            tree: None,
        }
    }
}

impl StageConfig for SamplerConfig {
    const KIND: &'static str = "sampler.policy";
    const SUMMARY: &'static str = "samples G responses per prompt with per-token logprobs and entropies, using the newest weights";
    const EXAMPLE: &'static str = r#"[stages.sampler]
kind = "sampler.policy"
inputs = { prompts = "puzzles.prompts", weights = "learner.weights" }
prompts_per_step = 8
group_size = 8
steps = 0
max_new_tokens = 32
temperature = 1.0
top_p = 1.0
top_k = 0
max_staleness = 0
eval_every = 0
device = "cpu"
dtype = "f32"
# tree = { depth = 1, points = 2, children = 1, max_leaves = 16, branch_at = "entropy", delimiter = "\n" }
"#;

    /// Training samplers replicate: each replica takes whole groups of prompts and its own
    /// steps (replica r of n samples the steps s with s mod n = r). An evaluator does not.
    fn replication(&self) -> Replication {
        if self.eval_every > 0 {
            Replication::Single
        } else {
            Replication::Share
        }
    }

    fn ports(&self) -> Ports {
        let ports = Ports::new().input::<Prompt>("prompts", "prompts to answer");
        // An evaluator reads every version in order (a queue), so that it scores exactly the
        // versions it is due to; a training sampler only ever wants the newest.
        let ports = if self.eval_every > 0 {
            ports.input::<PolicyUpdate>(
                "weights",
                "every policy version from the learner, in order (evaluation mode)",
            )
        } else {
            ports.latest::<PolicyUpdate>("weights", "the newest policy from the learner")
        };
        ports
            .latest::<SampleDemand>(
                "demand",
                "optional: generate only the batches `filter.dynamic_sampling` asks for",
            )
            .output::<RolloutBatch>("rollouts", "one batch of groups per step")
    }

    fn check(&self, ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("prompts_per_step", self.prompts_per_step),
            ("group_size", self.group_size),
            ("max_new_tokens", self.max_new_tokens),
        ] {
            if value == 0 {
                problems.push(Invalid::new(field, format!("{field} must be at least 1")));
            }
        }
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            problems.push(
                Invalid::new(
                    "temperature",
                    format!("temperature must be >= 0, got {}", self.temperature),
                )
                .help("0 samples greedily; 1 samples from the model's distribution"),
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            problems.push(
                Invalid::new(
                    "top_p",
                    format!("top_p must be in (0, 1], got {}", self.top_p),
                )
                .help("1 turns nucleus sampling off"),
            );
        }
        problems.extend(device_built("device", self.device));
        if let Some(tree) = &self.tree {
            if self.eval_every > 0 {
                problems.push(
                    Invalid::new("tree", "an evaluator samples independent responses")
                        .help("remove `tree` from the evaluator (eval_every > 0)"),
                );
            }
            problems.extend(tree.check(self.group_size, ctx));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        if self.eval_every == 0 && (self.top_k > 0 || self.top_p < 1.0) {
            tracing::warn!(
                top_k = self.top_k,
                top_p = self.top_p,
                "training on top-k/top-p draws: the recorded log-probs are of the full tempered distribution, so the update is slightly off-policy"
            );
        }
        // checked above: the lexicon loads
        let lexicon = self.tree.as_ref().and_then(|t| t.lexicon(ctx).ok());
        let device = self.device.open()?;
        self.dtype.check(self.device, &device)?;
        Ok(Box::new(Sampler {
            device,
            seed: ctx.stage_seed(),
            config: self,
            policy: None,
            first_step: ctx.resume_step(),
            lexicon,
        }))
    }
}
