//! What a learner with LoRA holds besides its policy: the adapters and their AdamW, the frozen
//! base `W0` (which is also the KL reference), the base's identity, and one optimiser step:
//! project the merged model's gradients onto the adapters, clip them, step, merge.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer};
use hicra_messages::Metrics;
use hicra_model::{Llama, Precision, RuntimeAutodiff, RuntimeBackend};

use super::adapters::LoraAdapters;
use super::config::LoraConfig;
use super::identity::BaseIdentity;
use crate::clip::clip_global_norm;
use crate::policy::{LoraWeights, PolicyWeights, SharedBase};

/// burn's AdamW over the adapters.
pub type AdapterOptimizer = OptimizerAdaptor<AdamW, LoraAdapters<RuntimeAutodiff>, RuntimeAutodiff>;

/// An AdamW for the adapters with the learner's hyper-parameters (burn's defaults and
/// `weight_decay`).
pub fn adapter_optimizer(weight_decay: f32) -> AdapterOptimizer {
    AdamWConfig::new()
        .with_weight_decay(weight_decay)
        .init::<RuntimeAutodiff, LoraAdapters<RuntimeAutodiff>>()
}

/// The learner's LoRA state.
pub struct Lora {
    pub config: LoraConfig,
    /// `None` only while an optimiser step holds them.
    adapters: Option<LoraAdapters<RuntimeAutodiff>>,
    /// The RL phase's optimiser (the warm-up has its own).
    pub(super) optim: AdapterOptimizer,
    base: Llama<RuntimeBackend>,
    /// The base as weights updates share it (the same tensors as `base`).
    shared: Arc<SharedBase>,
    pub(super) identity: BaseIdentity,
    /// Time spent merging since the figures were last taken.
    merge_secs: f64,
}

impl Lora {
    /// LoRA on `model` (the base, as built): fresh adapters seeded by `seed`, the base kept
    /// frozen and identified by `path` (`model.checkpoint`, or `scratch` with `init_seed`)
    /// and its hash. An error when the rank does not fit a targeted layer.
    pub fn new(
        config: &LoraConfig,
        model: &Llama<RuntimeAutodiff>,
        path: &str,
        init_seed: Option<u64>,
        seed: u64,
        weight_decay: f32,
    ) -> Result<Self, String> {
        let adapters =
            LoraAdapters::init(config, model, seed).map_err(|e| format!("lora.rank: {e}"))?;
        let identity = BaseIdentity::of(&model.valid(), path, init_seed);
        let base = stored(model.valid(), config.base_dtype);
        let shared = Arc::new(SharedBase::new(base.clone(), identity.sha256.clone()));
        Ok(Self {
            config: config.clone(),
            adapters: Some(adapters),
            optim: adapter_optimizer(weight_decay),
            base,
            shared,
            identity,
            merge_secs: 0.0,
        })
    }

    /// The policy to start from: `model` (the base as built) with its weights rounded to
    /// `base_dtype`, as the frozen base holds them (unchanged for `f32`), computing in
    /// `precision`.
    pub fn start(
        &self,
        model: Llama<RuntimeAutodiff>,
        precision: Precision,
    ) -> Llama<RuntimeAutodiff> {
        match self.config.base_dtype {
            Precision::F32 => model,
            low => model
                .stored_in(low)
                .stored_in(Precision::F32)
                .computing_in(precision),
        }
    }

    pub fn adapters(&self) -> &LoraAdapters<RuntimeAutodiff> {
        self.adapters.as_ref().expect("adapters present")
    }

    /// The frozen base `W0` (the KL reference too).
    pub fn base(&self) -> &Llama<RuntimeBackend> {
        &self.base
    }

    /// The policy as a weights update carries it: the shared base and the adapters' values
    /// now (no copy of either).
    pub fn update_weights(&self) -> PolicyWeights {
        PolicyWeights::Lora(LoraWeights {
            base: self.shared.clone(),
            adapters: Mutex::new(self.adapters().valid()),
            scale: self.config.scale(),
        })
    }

    /// The base's identity, as `lora.json` records it.
    pub fn identity(&self) -> &BaseIdentity {
        &self.identity
    }

    /// The adapters' gradients, projected from `grads` of `model` (the merged policy).
    pub fn project(
        &self,
        model: &Llama<RuntimeAutodiff>,
        grads: &GradientsParams,
    ) -> GradientsParams {
        self.adapters()
            .project_grads(model, grads, self.config.scale())
    }

    /// Clips the adapters' `grads` to global norm `max_norm` (0 = no limit); returns their
    /// norm before clipping.
    pub fn clip(&self, grads: &mut GradientsParams, max_norm: f64) -> f64 {
        clip_global_norm::<RuntimeAutodiff, _>(self.adapters(), grads, max_norm)
    }

    /// Replaces `grads` (of `model`, the merged policy) by the adapters' projected gradients,
    /// clipped to global norm `max_norm` (0 = no limit) over the adapters only; returns their
    /// norm before clipping.
    pub fn project_and_clip(
        &self,
        model: &Llama<RuntimeAutodiff>,
        grads: &mut GradientsParams,
        max_norm: f64,
    ) -> f64 {
        *grads = self.project(model, grads);
        self.clip(grads, max_norm)
    }

    /// Replaces the adapters by `adapters` (another replica's) and merges them into `model`.
    pub fn replace(
        &mut self,
        adapters: LoraAdapters<RuntimeAutodiff>,
        model: Llama<RuntimeAutodiff>,
    ) -> Llama<RuntimeAutodiff> {
        self.adopt(adapters, model)
    }

    /// The adapters, taken out (to be given back with [`replace`](Self::replace)).
    pub fn take_adapters(&mut self) -> LoraAdapters<RuntimeAutodiff> {
        self.adapters.take().expect("adapters present")
    }

    /// One step of the RL optimiser on the adapters with their `grads` (from
    /// [`project_and_clip`](Self::project_and_clip)), then the merge into `model`.
    pub fn step(
        &mut self,
        lr: f64,
        model: Llama<RuntimeAutodiff>,
        grads: GradientsParams,
    ) -> Llama<RuntimeAutodiff> {
        let adapters = self.adapters.take().expect("adapters present");
        let adapters = self.optim.step(lr, adapters, grads);
        self.adopt(adapters, model)
    }

    /// [`step`](Self::step) with another optimiser (the warm-up's).
    pub fn step_with(
        &mut self,
        optim: &mut AdapterOptimizer,
        lr: f64,
        model: Llama<RuntimeAutodiff>,
        grads: GradientsParams,
    ) -> Llama<RuntimeAutodiff> {
        let adapters = self.adapters.take().expect("adapters present");
        let adapters = optim.step(lr, adapters, grads);
        self.adopt(adapters, model)
    }

    /// Keeps `adapters` and merges them into `model`.
    pub(super) fn adopt(
        &mut self,
        adapters: LoraAdapters<RuntimeAutodiff>,
        model: Llama<RuntimeAutodiff>,
    ) -> Llama<RuntimeAutodiff> {
        let started = Instant::now();
        let model = adapters.merge_into(&self.base, model, self.config.scale());
        self.merge_secs += started.elapsed().as_secs_f64();
        self.adapters = Some(adapters);
        model
    }

    /// Trainable parameters (the adapters').
    pub fn trainable_params(&self) -> usize {
        self.adapters().num_params()
    }

    /// `lora/trainable_params`, `lora/adapter_bytes` (the adapters in f32: what an
    /// adapter-only weights update would carry) and `timing/merge_secs` (since the last call).
    pub fn figures(&mut self, m: &mut Metrics) {
        let params = self.trainable_params();
        m.insert("lora/trainable_params".into(), params as f64);
        m.insert("lora/adapter_bytes".into(), (params * 4) as f64);
        m.insert("timing/merge_secs".into(), self.merge_secs);
        self.merge_secs = 0.0;
    }
}

/// `base` stored in `dtype`, computing in f32 (the KL reference's scoring, the merge).
fn stored(base: Llama<RuntimeBackend>, dtype: Precision) -> Llama<RuntimeBackend> {
    match dtype {
        Precision::F32 => base,
        low => base.stored_in(low).computing_in(Precision::F32),
    }
}
