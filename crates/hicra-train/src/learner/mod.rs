//! `learner.policy_gradient`: owns the policy, optionally warms it up with supervised
//! fine-tuning, then trains on each credited batch (E epochs of shuffled mini-batches, one
//! optimiser step each) and sends the new weights to the samplers.
//!
//! [`config`] holds the TOML table and the set-up, [`checks`] its value checks, [`inputs`] what
//! a credited batch must hold (an error naming the rollout otherwise), [`step`] one batch
//! (filtering, the `old` log-probs and importance weights, epochs and mini-batches),
//! [`update`] one optimiser step on a mini-batch (micro-batched scoring, the objective,
//! global-norm clipping, skips on NaN/inf), [`micro`] the loss of one micro-batch, whichever
//! path ([`crate::pass`], `compute_path`) scored it.

mod checks;
mod config;
mod inputs;
mod micro;
mod replicas;
mod step;
mod update;

use std::sync::{Arc, Mutex, OnceLock};

use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use hicra_flow::{BoxError, Outbox, Stage, StageContext, StageResult};
use hicra_messages::{Metrics, MetricsRecord, Prompt, RolloutBatch};
use hicra_model::{HostModel, Llama, RuntimeAutodiff, RuntimeBackend};

pub use config::LearnerConfig;

use crate::checkpoint;
use crate::codec::TextCodec;
use crate::policy::{PolicyUpdate, PolicyWeights};
use crate::sft::sft_warmup;

pub struct Learner<O> {
    config: LearnerConfig,
    model: Option<Llama<RuntimeAutodiff>>,
    optim: O,
    codec: Arc<TextCodec>,
    /// The policy's architecture, sent with its weights.
    model_config: hicra_model::ModelConfig,
    reference: Option<Llama<RuntimeBackend>>,
    /// The reference's host copy when `compute_path` takes the host path for it, made at its
    /// first use (the reference never changes).
    reference_host: OnceLock<Option<HostModel>>,
    /// The stage seed: mini-batch shuffles derive from it and the step.
    seed: u64,
    step: u64,
    skips: u32,
    run_dir: std::path::PathBuf,
    /// Started from a checkpoint: no warm-up, the reference came with it.
    resumed: bool,
    /// Data-parallel replicas: this one's place and their collective.
    replicas: Option<replicas::Replicas>,
    /// LoRA: the adapters that train, the frozen base (`crate::lora`).
    lora: Option<crate::lora::Lora>,
}

impl<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>> Learner<O> {
    /// Writes a checkpoint after `self.step` steps when one is due (or `force`d).
    fn checkpoint(&self, ctx: &StageContext, force: bool) -> Result<(), BoxError> {
        let every = self.config.checkpoint_every;
        // replicas hold the same weights: the lead writes them
        let due = every > 0
            && self.step > 0
            && (force || self.step.is_multiple_of(every))
            && ctx.is_lead();
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
                let mut files = match &self.lora {
                    Some(lora) => lora.save(dir, self.model(), counters)?,
                    None => checkpoint::save(
                        dir,
                        self.model(),
                        &self.optim,
                        self.reference.as_ref(),
                        counters,
                    )?,
                };
                crate::trained::write_policy_file(dir, &self.config.model)?;
                files.push(crate::trained::POLICY_FILE.to_string());
                Ok(files)
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

    /// Under `mpirun`: the world size, and for replicas the collectives' bytes and time; the
    /// replicas' weights are compared when a check is due.
    fn distributed_figures(&mut self, ctx: &StageContext, m: &mut Metrics) -> Result<(), BoxError> {
        let world = ctx.world();
        if world.size > 1 {
            m.insert("distributed/world_size".into(), world.size as f64);
        }
        let every = self.config.replica_checksum_every;
        let Some(mut replicas) = self.replicas.take() else {
            return Ok(());
        };
        let checked = if every > 0 && self.step.is_multiple_of(every) {
            replicas.check_identical(self.model(), self.step)
        } else {
            Ok(())
        };
        m.insert("distributed/learner_replicas".into(), replicas.count as f64);
        let (mib, secs) = replicas.since_last();
        m.insert("distributed/collective_mib".into(), mib);
        m.insert("timing/collective_secs".into(), secs);
        self.replicas = Some(replicas);
        Ok(checked?)
    }

    /// The weights now, as the samplers get them: with LoRA the shared base and the adapters.
    fn policy_update(&self) -> PolicyUpdate {
        let weights = match &self.lora {
            Some(lora) => lora.update_weights(),
            None => PolicyWeights::Whole(Mutex::new(self.model().valid())),
        };
        PolicyUpdate {
            version: self.step,
            weights,
            codec: self.codec.clone(),
            config: self.model_config.clone(),
        }
    }

    fn publish(&self, out: &Outbox<PolicyUpdate>) -> Result<(), hicra_flow::Stopped> {
        if !out.is_connected() {
            return Ok(());
        }
        out.send(self.policy_update())
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
        self.replicas = ctx.replica().and_then(|r| {
            Some(replicas::Replicas {
                index: r.index,
                count: r.count,
                collective: r.collective.clone()?,
                secs: 0.0,
                reported: (0, 0.0),
            })
        });
        if ctx.replica().is_some() && self.replicas.is_none() {
            return Err(
                "learner replicas need a collective (run under mpirun with --features mpi)".into(),
            );
        }
        // replicas take the lead's warmed-up weights below; only the lead warms up
        if self.config.sft.steps > 0 && !self.resumed && ctx.is_lead() {
            let model = self.model.take().expect("model present");
            let path = self.config.compute_path;
            let lora = self.lora.as_mut();
            let (model, figures) =
                sft_warmup(model, &self.codec, &sft, &self.config.sft, path, lora, ctx)?;
            self.model = Some(model);
            metrics.send(MetricsRecord {
                step: 0,
                source: ctx.id().into(),
                values: figures,
            })?;
        }
        drop(sft);
        if let Some(mut replicas) = self.replicas.take() {
            // every replica starts from the lead's weights (its warm-up, its checkpoint); with
            // LoRA the lead's adapters, merged into each replica's own copy of the base
            let model = self.model.take().expect("model present");
            self.model = Some(match &mut self.lora {
                Some(lora) => {
                    let adapters = replicas.adopt_lead(lora.take_adapters());
                    lora.replace(adapters, model)
                }
                None => replicas.adopt_lead(model),
            });
            self.replicas = Some(replicas);
        }
        if self.config.kl_coef > 0.0 && self.reference.is_none() {
            // with LoRA the reference is the frozen base, shared, not copied
            self.reference = Some(match &self.lora {
                Some(lora) => lora.base().clone(),
                None => self.model().valid(),
            });
        }
        self.publish(&weights)?;
        let mut last_checkpoint = self.step;
        while let Some(batch) = rollouts.recv() {
            ctx.check_cancelled()?;
            let mut values = batch.metrics.clone();
            values.extend(self.train(&batch)?);
            values.insert("policy_version".into(), batch.policy_version as f64);
            if let Some(lora) = &mut self.lora {
                lora.figures(&mut values);
            }
            // what this update carries between processes (a LoRA base goes once, before)
            let bytes = self.policy_update().update_bytes(false);
            values.insert("weights/update_bytes".into(), bytes as f64);
            self.distributed_figures(ctx, &mut values)?;
            metrics.send(MetricsRecord {
                step: batch.step,
                source: ctx.id().into(),
                values,
            })?;
            self.publish(&weights)?;
            self.checkpoint(ctx, false)?;
            if self
                .step
                .is_multiple_of(self.config.checkpoint_every.max(1))
            {
                last_checkpoint = self.step;
            }
        }
        if self.step > last_checkpoint {
            self.checkpoint(ctx, true)?;
        }
        Ok(())
    }
}
