//! `sampler.policy`: turns prompts into groups of G rollouts with the newest policy it has.
//!
//! Training mode: for each step, take `prompts_per_step` prompts, wait until the policy is at
//! most `max_staleness` versions behind the step (0 = strictly on-policy), sample, and send one
//! [`RolloutBatch`] stamped with the policy version. Evaluation mode (`eval_every > 0`): read
//! the whole (finite) prompt set once, then evaluate every `eval_every` versions and the last
//! one, sending batches marked `eval` that nothing trains on.
//!
//! Tree mode (`tree = { ... }`, [`tree`]): each prompt's responses share prefixes and branch
//! where the rule of [`TreeConfig`] says; every leaf is a rollout recording its nodes.
//!
//! [`config`] holds the TOML table and the set-up, [`batch`] the sampling of one batch.

mod batch;
mod config;
#[cfg(test)]
mod tests;
mod tree;
mod tree_config;
#[cfg(test)]
mod tree_tests;

use std::sync::Arc;

use burn::module::Module;
use hicra_flow::{Inbox, Latest, Stage, StageContext, StageResult};
use hicra_messages::{Prompt, RolloutBatch};
use hicra_model::{Device, Generator, Llama, RuntimeBackend};

pub use config::SamplerConfig;
pub(crate) use config::device_built;
pub use tree_config::{BranchRule, TreeConfig};

use crate::codec::TextCodec;
use crate::dynamic_sampling::SampleDemand;
use crate::policy::PolicyUpdate;

pub struct Sampler {
    config: SamplerConfig,
    seed: u64,
    /// The policy's version, its weights (held for generation: on the CPU their host copy is
    /// made once per version) and its codec.
    policy: Option<(u64, Generator<RuntimeBackend>, Arc<TextCodec>)>,
    /// Where this sampler's copy of the policy lives.
    device: Device,
    /// Steps done before a resume: their prompts are skipped (sources replay them).
    first_step: u64,
    /// The planning phrases of tree rollouts (`None` without `tree`).
    lexicon: Option<hicra_credit::Lexicon>,
}

impl Sampler {
    /// A sampler holding one fixed policy, for sampling outside a pipeline (`hicra eval`).
    /// `seed` plays the stage seed: `sample(prompts, version, true)` then returns the batch an
    /// evaluator stage with that seed returns for that version.
    pub fn for_policy(
        config: SamplerConfig,
        seed: u64,
        version: u64,
        model: Llama<RuntimeBackend>,
        codec: Arc<TextCodec>,
        device: Device,
    ) -> Self {
        let model = model.to_device(&device).stored_in(config.dtype);
        Self {
            config,
            seed,
            policy: Some((version, Generator::new(model), codec)),
            device,
            first_step: 0,
            lexicon: None,
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
        let model = update
            .model()
            .to_device(&self.device)
            .stored_in(self.config.dtype);
        self.policy = Some((update.version, Generator::new(model), update.codec.clone()));
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
        if batches == 0 {
            return Ok(());
        }
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

    /// Samples steps `first_step..steps`; replica `r` of `n` takes those with `s % n == r`
    /// (the replicas share one prompt stream, whole groups each).
    fn run_training(
        &mut self,
        prompts: Inbox<Prompt>,
        weights: Latest<PolicyUpdate>,
        out: &hicra_flow::Outbox<RolloutBatch>,
        (replica, replicas): (u64, u64),
    ) -> StageResult {
        let steps = self.config.steps;
        let mine = move |s: &u64| s % replicas == replica;
        let replayed = (0..self.first_step).filter(mine).count() as u64;
        self.skip_prompts(&prompts, replayed)?;
        let todo = (self.first_step..)
            .take_while(|s| steps == 0 || *s < steps)
            .filter(mine);
        for step in todo {
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
        weights: Inbox<PolicyUpdate>,
        out: &hicra_flow::Outbox<RolloutBatch>,
    ) -> StageResult {
        let all: Vec<Arc<Prompt>> = prompts.iter().collect();
        if all.is_empty() {
            return Err("evaluation mode needs a finite, non-empty prompt set".into());
        }
        let every = self.config.eval_every;
        let mut unscored: Option<Arc<PolicyUpdate>> = None;
        while let Some(update) = weights.recv() {
            if update.version % every == 0 {
                self.evaluate(&all, &update, out)?;
                unscored = None;
            } else {
                unscored = Some(update);
            }
        }
        match unscored {
            Some(last) => self.evaluate(&all, &last, out),
            None => Ok(()),
        }
    }

    fn evaluate(
        &mut self,
        prompts: &[Arc<Prompt>],
        update: &PolicyUpdate,
        out: &hicra_flow::Outbox<RolloutBatch>,
    ) -> StageResult {
        self.adopt(update);
        out.send(self.sample(prompts, update.version, true)?)?;
        Ok(())
    }
}

impl Stage for Sampler {
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let prompts = ctx.input::<Prompt>("prompts");
        let out = ctx.output::<RolloutBatch>("rollouts");
        if self.config.eval_every > 0 {
            return self.run_eval(prompts, ctx.input::<PolicyUpdate>("weights"), &out);
        }
        let weights = ctx.latest::<PolicyUpdate>("weights");
        if !weights.is_connected() {
            return Err(
                "the `weights` input must be connected to a learner (it sends the initial policy)"
                    .into(),
            );
        }
        let demand = ctx.latest::<SampleDemand>("demand");
        let replica = ctx
            .replica()
            .map_or((0, 1), |r| (r.index as u64, r.count as u64));
        if demand.is_connected() && replica.1 > 1 {
            return Err(
                "sampler replicas do not take a dynamic-sampling `demand` input yet; \
                        place this sampler on one rank"
                    .into(),
            );
        }
        if demand.is_connected() {
            if self.config.steps > 0 {
                return Err(
                    "with a `demand` input the run length is the dynamic-sampling \
                     filter's `steps`; leave this sampler's `steps` at 0"
                        .into(),
                );
            }
            self.run_on_demand(prompts, weights, demand, &out)
        } else {
            self.run_training(prompts, weights, &out, replica)
        }
    }
}
