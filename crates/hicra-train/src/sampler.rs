//! `sampler.policy`: turns prompts into groups of G rollouts with the newest policy it has.
//!
//! Training mode: for each step, take `prompts_per_step` prompts, wait until the policy is at
//! most `max_staleness` versions behind the step (0 = strictly on-policy), sample, and send one
//! [`RolloutBatch`] stamped with the policy version. Evaluation mode (`eval_every > 0`): read
//! the whole (finite) prompt set once, then evaluate every `eval_every` versions and the last
//! one, sending batches marked `eval` that nothing trains on.

use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use hicra_flow::{
    BoxError, BuildContext, Inbox, Latest, Ports, Stage, StageConfig, StageContext, StageResult,
    derive_seed,
};
use hicra_messages::{FinishReason, Group, Prompt, Rollout, RolloutBatch};
use hicra_model::{Device, DeviceSpec, Llama, RuntimeBackend, SamplingParams, sample_batch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::codec::TextCodec;
use crate::dynamic_sampling::SampleDemand;
use crate::policy::PolicyUpdate;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    /// Prompts per training step. Default: 8.
    #[serde(default = "eight")]
    pub prompts_per_step: usize,
    /// Responses sampled per prompt (G). Default: 8.
    #[serde(default = "eight")]
    pub group_size: usize,
    /// Training steps to sample for; 0 = until the prompts run out. Default: 0.
    #[serde(default)]
    pub steps: u64,
    /// Most tokens per response. Default: 32.
    #[serde(default = "thirty_two")]
    pub max_new_tokens: usize,
    /// Sampling temperature (0 = greedy). Default: 1.0.
    #[serde(default = "one")]
    pub temperature: f32,
    /// Nucleus mass (1 = off). Default: 1.0.
    #[serde(default = "one")]
    pub top_p: f32,
    /// Keep the k likeliest tokens (0 = off). Default: 0.
    #[serde(default)]
    pub top_k: usize,
    /// How many versions the policy may lag behind the step it samples for. Default: 0.
    #[serde(default)]
    pub max_staleness: u64,
    /// Evaluation mode: evaluate every this many policy versions (0 = training mode).
    /// Default: 0.
    #[serde(default)]
    pub eval_every: u64,
    /// Where sampling runs: `cpu`, `cuda:N` or `wgpu:N`; weights from a learner on another
    /// device are copied here through host memory. Default: `cpu`.
    #[serde(default)]
    pub device: DeviceSpec,
}

fn eight() -> usize {
    8
}
fn thirty_two() -> usize {
    32
}
fn one() -> f32 {
    1.0
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
"#;

    fn ports(&self) -> Ports {
        Ports::new()
            .input::<Prompt>("prompts", "prompts to answer")
            .latest::<PolicyUpdate>("weights", "the newest policy from the learner")
            .latest::<SampleDemand>(
                "demand",
                "optional: generate only the batches `filter.dynamic_sampling` asks for",
            )
            .output::<RolloutBatch>("rollouts", "one batch of groups per step")
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        if self.prompts_per_step == 0 || self.group_size == 0 || self.max_new_tokens == 0 {
            return Err("prompts_per_step, group_size and max_new_tokens must be positive".into());
        }
        if !(self.temperature >= 0.0 && self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!(
                "need temperature >= 0 and 0 < top_p <= 1, got {} and {}",
                self.temperature, self.top_p
            )
            .into());
        }
        Ok(Box::new(Sampler {
            device: self.device.open()?,
            seed: ctx.stage_seed(),
            config: self,
            policy: None,
            first_step: ctx.resume_step(),
        }))
    }
}

pub struct Sampler {
    config: SamplerConfig,
    seed: u64,
    policy: Option<(u64, Llama<RuntimeBackend>, Arc<TextCodec>)>,
    /// Where this sampler's copy of the policy lives.
    device: Device,
    /// Steps done before a resume: their prompts are skipped (sources replay them).
    first_step: u64,
}

impl Sampler {
    fn params(&self, codec: &TextCodec) -> SamplingParams {
        SamplingParams {
            temperature: self.config.temperature,
            top_p: self.config.top_p,
            top_k: self.config.top_k,
            max_new_tokens: self.config.max_new_tokens,
            stop_tokens: codec.stop_tokens(),
        }
    }

    /// Waits for weights of at least `version`; `false` when the learner has gone.
    fn await_version(&mut self, weights: &Latest<PolicyUpdate>, version: u64) -> bool {
        if let Some(update) = weights.try_take() {
            self.adopt(&update);
        }
        while self.policy.as_ref().is_none_or(|(v, _, _)| *v < version) {
            match weights.wait() {
                Some(update) => self.adopt(&update),
                None => return false,
            }
        }
        true
    }

    fn adopt(&mut self, update: &PolicyUpdate) {
        let model = update.model().to_device(&self.device);
        self.policy = Some((update.version, model, update.codec.clone()));
    }

    /// Samples one batch (pure given the policy and the step's seed).
    pub fn sample(
        &self,
        prompts: &[Arc<Prompt>],
        step: u64,
        eval: bool,
    ) -> Result<RolloutBatch, BoxError> {
        let (version, model, codec) = self
            .policy
            .as_ref()
            .ok_or("no policy weights received yet")?;
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
            self.seed,
            &format!("{}-{step}", if eval { "eval" } else { "train" }),
        ));
        let params = self.params(codec);
        let started = Instant::now();
        let mut groups = Vec::with_capacity(prompts.len());
        let mut tokens = 0usize;
        let ids: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| codec.encode_prompt(p))
            .collect::<Result<_, _>>()?;
        let room = model.max_seq_len();
        if let Some((prompt, len)) = prompts
            .iter()
            .zip(&ids)
            .map(|(p, ids)| (p, ids.len()))
            .find(|(_, len)| *len >= room)
        {
            return Err(format!(
                "prompt `{}` is {len} tokens after the chat template, and the model's max_seq_len ({room}) leaves no room for a response: raise model.max_seq_len to at least prompt + max_new_tokens ({})",
                prompt.id,
                len + self.config.max_new_tokens
            )
            .into());
        }
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let sampled = sample_batch(
            model,
            &refs,
            self.config.group_size,
            &params,
            &mut rng,
            &self.device,
        );
        for ((prompt, ids), samples) in prompts.iter().zip(&ids).zip(sampled) {
            let mut rollouts = Vec::with_capacity(samples.len());
            for s in samples {
                tokens += s.tokens.len();
                let (text, token_spans) = codec.decode_with_spans(&s.tokens)?;
                rollouts.push(Rollout {
                    prompt_tokens: ids.clone(),
                    text,
                    token_spans,
                    finish: Some(if s.stopped {
                        FinishReason::Stop
                    } else {
                        FinishReason::Length
                    }),
                    tokens: s.tokens,
                    logprobs: s.logprobs,
                    entropies: s.entropies,
                    ..Default::default()
                });
            }
            groups.push(Group {
                prompt: prompt.clone(),
                rollouts,
            });
        }
        let secs = started.elapsed().as_secs_f64();
        if let Some(first) = groups.first().and_then(|g| g.rollouts.first()) {
            tracing::debug!(step, eval, prompt = %groups[0].prompt.question, response = %first.text, "sample");
        }
        let mut batch = RolloutBatch {
            step,
            policy_version: *version,
            groups,
            metrics: Default::default(),
            eval,
        };
        let n = batch.num_rollouts().max(1) as f64;
        let prefix = if eval { "eval/" } else { "" };
        batch
            .metrics
            .insert(format!("{prefix}response_length/mean"), tokens as f64 / n);
        let truncated = batch
            .rollouts()
            .filter(|r| r.finish == Some(FinishReason::Length))
            .count();
        batch.metrics.insert(
            format!("{prefix}response_length/truncated_frac"),
            truncated as f64 / n,
        );
        if !eval {
            batch.metrics.insert("timing/sample_secs".into(), secs);
            batch.metrics.insert(
                "tokens_per_sec/sample".into(),
                tokens as f64 / secs.max(1e-9),
            );
            batch.metrics.insert(
                "policy/staleness".into(),
                step.saturating_sub(*version) as f64,
            );
        }
        Ok(batch)
    }

    /// Batches on demand of `filter.dynamic_sampling`: batch `b` once the demand covers it,
    /// with a policy of at least the demanded version; ends when the filter does.
    fn run_on_demand(
        &mut self,
        prompts: Inbox<Prompt>,
        weights: Latest<PolicyUpdate>,
        demand: Latest<SampleDemand>,
        out: &hicra_flow::Outbox<RolloutBatch>,
    ) -> StageResult {
        let Some(first) = demand.wait() else {
            return Ok(());
        };
        let mut wanted = (*first).clone();
        self.skip_prompts(&prompts, wanted.first_batch)?;
        for b in wanted.first_batch.. {
            while wanted.batches <= b {
                match demand.wait() {
                    Some(d) => wanted = (*d).clone(),
                    None => return Ok(()),
                }
            }
            let batch: Vec<Arc<Prompt>> = (0..self.config.prompts_per_step)
                .map_while(|_| prompts.recv())
                .collect();
            if batch.len() < self.config.prompts_per_step {
                tracing::info!(batch = b, "prompts exhausted");
                return Ok(());
            }
            if !self.await_version(&weights, wanted.min_version) {
                return Ok(());
            }
            out.send(self.sample(&batch, b, false)?)?;
        }
        Ok(())
    }

    /// Discards the prompts of `batches` generation batches a resumed run already used.
    fn skip_prompts(&self, prompts: &Inbox<Prompt>, batches: u64) -> StageResult {
        let replayed = batches * self.config.prompts_per_step as u64;
        for _ in 0..replayed {
            if prompts.recv().is_none() {
                return Err(format!(
                    "resuming needs the {replayed} prompts used before the checkpoint again, \
                     but the source ended earlier (is it the same source and seed?)"
                )
                .into());
            }
        }
        Ok(())
    }

    fn run_training(
        &mut self,
        prompts: Inbox<Prompt>,
        weights: Latest<PolicyUpdate>,
        out: &hicra_flow::Outbox<RolloutBatch>,
    ) -> StageResult {
        let steps = self.config.steps;
        self.skip_prompts(&prompts, self.first_step)?;
        for step in (self.first_step..).take_while(|s| steps == 0 || *s < steps) {
            let batch: Vec<Arc<Prompt>> = (0..self.config.prompts_per_step)
                .map_while(|_| prompts.recv())
                .collect();
            if batch.len() < self.config.prompts_per_step {
                tracing::info!(step, "prompts exhausted");
                return Ok(());
            }
            if !self.await_version(&weights, step.saturating_sub(self.config.max_staleness)) {
                return Ok(());
            }
            out.send(self.sample(&batch, step, false)?)?;
        }
        Ok(())
    }

    fn run_eval(
        &mut self,
        prompts: Inbox<Prompt>,
        weights: Latest<PolicyUpdate>,
        out: &hicra_flow::Outbox<RolloutBatch>,
    ) -> StageResult {
        let all: Vec<Arc<Prompt>> = prompts.iter().collect();
        if all.is_empty() {
            return Err("evaluation mode needs a finite, non-empty prompt set".into());
        }
        let mut last_eval: Option<u64> = None;
        let mut pending = false;
        loop {
            let update = weights.wait();
            if let Some(update) = &update {
                self.adopt(update);
                pending = true;
            }
            let Some((version, _, _)) = self.policy.as_ref().map(|(v, m, t)| (*v, m, t)) else {
                return Ok(());
            };
            let due = last_eval.is_none_or(|l| version >= l + self.config.eval_every);
            if pending && (due || update.is_none()) {
                out.send(self.sample(&all, version, true)?)?;
                last_eval = Some(version);
                pending = false;
            }
            if update.is_none() {
                return Ok(());
            }
        }
    }
}

impl Stage for Sampler {
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let prompts = ctx.input::<Prompt>("prompts");
        let weights = ctx.latest::<PolicyUpdate>("weights");
        let out = ctx.output::<RolloutBatch>("rollouts");
        if !weights.is_connected() {
            return Err(
                "the `weights` input must be connected to a learner (it sends the initial policy)"
                    .into(),
            );
        }
        let demand = ctx.latest::<SampleDemand>("demand");
        if self.config.eval_every > 0 {
            self.run_eval(prompts, weights, &out)
        } else if demand.is_connected() {
            if self.config.steps > 0 {
                return Err(
                    "with a `demand` input the run length is the dynamic-sampling \
                     filter's `steps`; leave this sampler's `steps` at 0"
                        .into(),
                );
            }
            self.run_on_demand(prompts, weights, demand, &out)
        } else {
            self.run_training(prompts, weights, &out)
        }
    }
}
